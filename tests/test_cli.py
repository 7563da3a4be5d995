"""The CLI around the engine: formats, JUnit, the schema, the evidence trail."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parent.parent
POLICIES = REPO / "tests" / "fixtures" / "policies"
SCHEMA = json.loads((REPO / "schemas" / "results.schema.json").read_text())


@pytest.fixture
def credit(tmp_path):
    """A small credit dataset where women are approved less often."""
    n = 400
    df = pd.DataFrame(
        {
            "Attribute9": ["female" if i % 4 == 0 else "male" for i in range(n)],
            "class": [int(i % 4 != 0 or i % 8 == 0) for i in range(n)],
            "age": [20 + i % 50 for i in range(n)],
        }
    )
    path = tmp_path / "credit.parquet"
    df.to_parquet(path)
    return path


def credit_args(credit, *extra):
    """`enforce` of the gender/class-balance policy on the credit fixture."""
    policy = POLICIES / "component_definition.yaml"
    return ("enforce", "--data", credit, "--policy", policy, "--target", "class", "gender=Attribute9", *extra)


def test_json_output_validates_against_the_schema(vl, credit):
    run = vl(*credit_args(credit, "--format", "json"))
    results = run.json()
    jsonschema.validate(results, SCHEMA, format_checker=jsonschema.FormatChecker())
    assert results["policy"]["shape"] == "component-definition"
    assert results["data"]["mapping"] == {"gender": "Attribute9", "target": "class"}
    di = results["controls"][0]
    assert di["risk"]["threshold_justification"] == "Four-fifths rule (EEOC)"
    # female: 50 of 100 approved (0.5); male: 300 of 300 (1.0).
    assert di["actual_value"] == pytest.approx(0.5)
    assert di["status"] == "fail" and run.code == 1


def test_error_results_validate_too(vl, credit):
    run = vl("enforce", "--data", credit, "--policy", POLICIES / "catalog.yaml", "--format", "json")
    results = run.json()
    jsonschema.validate(results, SCHEMA)
    assert {c["status"] for c in results["controls"]} == {"error"}
    assert results["manual_controls"] == ["doc-1"]


def test_table_output_and_exit_code(vl, credit):
    run = vl("enforce", "--data", credit, "--policy", POLICIES / "assessment_plan.yaml", "--target", "class")
    assert run.code == 0, run.stdout
    assert "age-check" in run.stdout and "disparate_impact" in run.stdout
    assert run.stdout.splitlines()[-1].startswith("PASSED: 1 passed, 0 failed, 0 errors (400 rows")
    run = vl(*credit_args(credit))
    assert run.code == 1
    assert run.stdout.splitlines()[-1].startswith("FAILED: 0 passed, 2 failed, 0 errors")


def test_junit_names_the_failing_control(vl, credit, tmp_path):
    report = tmp_path / "junit.xml"
    run = vl(*credit_args(credit, "--junit", report))
    assert run.code == 1
    root = ET.parse(report).getroot()
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert set(cases) == {"credit-gender-di", "credit-class-balance"}
    failure = cases["credit-gender-di"].find("failure")
    assert failure is not None and "disparate_impact = 0.5" in failure.get("message")


def test_evidence_trail_is_written_and_verifies(vl, credit, tmp_path):
    args = credit_args(credit)
    vl(*args)
    vl(*args)
    store = tmp_path / ".venturalitica"
    lines = (store / "trace.jsonl").read_text().splitlines()
    assert len(lines) == 2
    events = [json.loads(line) for line in lines]
    assert [e["seq"] for e in events] == [1, 2]
    assert events[1]["prev"] == events[0]["hash"]
    sha = events[0]["event"]["payload"]["results"]["policy"]["sha256"]
    assert (store / "policies" / f"{sha}.yaml").read_bytes() == (POLICIES / "component_definition.yaml").read_bytes()
    latest = json.loads((store / "trace_latest.json").read_text())
    assert latest["evidence"]["seq"] == 2 and latest["passed"] is False
    # The same score `scan`'s snapshot and the MLflow export give.
    assert latest["compliance_score"] == 0.0

    ok = vl("verify")
    assert ok.code == 0, ok.stdout
    assert "intact: 2 events" in ok.stdout

    (store / "trace.jsonl").write_text(
        lines[0].replace('"actual_value":0.5', '"actual_value":0.9') + "\n" + lines[1] + "\n"
    )
    bad = vl("verify")
    assert bad.code == 1
    assert "trace.jsonl:1: event 1 was altered" in bad.stdout


def test_concurrent_writers_keep_the_chain(vl_bin, credit, tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    args = [
        str(vl_bin),
        "enforce",
        "--data",
        str(credit),
        "--policy",
        str(POLICIES / "assessment_plan.yaml"),
        "--target",
        "class",
    ]
    procs = [subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.DEVNULL) for _ in range(6)]
    for p in procs:
        p.wait(timeout=120)
    verify = subprocess.run(
        [str(vl_bin), "verify", "--json"], check=False, cwd=tmp_path, capture_output=True, text=True
    )
    report = json.loads(verify.stdout)
    assert report["events"] == 6 and report["findings"] == [], report


def test_every_shape_loads_through_the_cli(vl, credit):
    for name in [
        "component_definition.yaml",
        "assessment_plan.yaml",
        "catalog.yaml",
        "profile.yaml",
        "ssp.json",
        "list.yaml",
    ]:
        run = vl("enforce", "--data", credit, "--policy", POLICIES / name, "--format", "json", "--no-record")
        assert run.code in (0, 1), (name, run.stderr)
        jsonschema.validate(run.json(), SCHEMA)


def test_help_and_version(vl):
    run = vl("--help")
    assert run.code == 0 and "enforce" in run.stdout and "verify" in run.stdout
    run = vl("enforce", "--help")
    assert "VAR=COLUMN" in run.stdout and "--junit <FILE>" in run.stdout
    assert vl("--version").stdout.startswith("venturalitica ")
    assert vl("enforce").code == 2


def test_unwritable_store_still_prints_results_then_exits_2(vl, credit, tmp_path):
    store = tmp_path / ".venturalitica"
    store.write_text("a file where the store directory should be")
    run = vl("enforce", "--data", credit, "--policy", POLICIES / "assessment_plan.yaml", "--target", "class")
    assert run.code == 2
    assert "age-check" in run.stdout
    assert "cannot record the evaluation in the evidence trail" in run.stderr
