"""Decisions on the interval (docs/metrics.md): a control whose interval
straddles its threshold is `inconclusive`, with the rows that would settle
it; doubling the data settles it as that number predicts; SDK-shaped
policies keep their statuses; and every reader shows the new status."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pandas as pd
import pytest
import venturalitica as vl
from test_ui import dashboard, get

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "schemas" / "results.schema.json").read_text())

POLICY = """\
- id: di
  metric_key: disparate_impact
  operator: ">="
  threshold: 0.8
  input.dimension: g
  input.target: y
  enforcement_mode: {mode}
{decision}"""


def frame(n_a: int, rate_a: float, n_b: int, rate_b: float) -> pd.DataFrame:
    """Two groups with exactly these rates of y = 1."""
    pos_a, pos_b = round(n_a * rate_a), round(n_b * rate_b)
    y = [1] * pos_a + [0] * (n_a - pos_a) + [1] * pos_b + [0] * (n_b - pos_b)
    return pd.DataFrame({"g": ["a"] * n_a + ["b"] * n_b, "y": y})


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'decisions'\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def policy(project: Path, mode: str = "warn", decision: str | None = "interval") -> str:
    path = project / f"{mode}-{decision}.yaml"
    path.write_text(POLICY.format(mode=mode, decision=f"  decision: {decision}\n" if decision else ""))
    return str(path)


def decide(df: pd.DataFrame, path: str, **kw) -> vl.ComplianceResult:
    (control,) = vl.enforce(df, policy=path, record=False, strict=False, **kw)
    return control


def test_rows_needed_predicts_what_more_data_settles(project):
    """DI 0.7167 on 1000 rows, [0.637, 0.809] against >= 0.8: inconclusive,
    about 1200 rows needed, so twice the data (same rates) settles it; DI
    0.75 needs about 3500, so twice stays inconclusive and four times settles."""
    path = policy(project)
    near = frame(500, 0.6, 500, 0.43)
    c = decide(near, path)
    assert (c.status, c.passed, c.decision) == ("inconclusive", False, "interval")
    assert c.ci["lower"] < 0.8 <= c.ci["upper"]
    assert 1000 < c.rows_needed < 2000, c.rows_needed
    assert f"about {c.rows_needed} rows" in c.reason and "1000 evaluated" in c.reason
    assert decide(pd.concat([near, near]), path).status == "fail"

    far = frame(500, 0.6, 500, 0.45)
    c = decide(far, path)
    assert c.status == "inconclusive" and 2000 < c.rows_needed < 4000, c.rows_needed
    doubled = decide(pd.concat([far, far]), path)
    assert doubled.status == "inconclusive"
    # The same rates: the doubled data asks for about as many rows.
    assert doubled.rows_needed == pytest.approx(c.rows_needed, rel=0.2)
    assert decide(pd.concat([far] * 4), path).status == "fail"

    # Above the threshold the same rule settles it the other way.
    high = frame(500, 0.6, 500, 0.53)
    c = decide(high, path)
    assert c.status == "inconclusive" and c.actual_value > 0.8
    settled = decide(pd.concat([high] * (c.rows_needed // 1000 + 1)), path)
    assert settled.status == "pass"


def test_sdk_shaped_policies_keep_the_point_rule_unless_asked(project):
    data = frame(500, 0.6, 500, 0.43)
    plain = policy(project, decision=None)
    c = decide(data, plain)
    assert (c.status, c.decision, c.rows_needed) == ("fail", "point", None)
    raw = vl.enforce(data, policy=plain, record=False, strict=False).to_dict()
    # Nothing new in an SDK-shaped document.
    assert "decision" not in raw["controls"][0] and "rows_needed" not in raw["controls"][0]
    assert "inconclusive" not in raw["summary"]
    # The argument turns the interval on for every control, and off again.
    assert decide(data, plain, decision="interval").status == "inconclusive"
    assert decide(data, policy(project), decision="point").status == "fail"
    with pytest.raises(ValueError, match="expected 'point' or 'interval'"):
        decide(data, plain, decision="intervals")


def test_a_metric_without_an_interval_is_decided_on_its_value_and_says_so(project):
    path = project / "k.yaml"
    path.write_text(
        "- id: k\n  metric_key: k_anonymity\n  operator: '>='\n  threshold: 2\n"
        "  input.quasi_identifiers: g\n  decision: interval\n"
    )
    c = decide(frame(50, 0.5, 50, 0.5), str(path))
    assert (c.status, c.decision) == ("pass", "point")
    assert any("has no interval here" in w for w in c.warnings), c.warnings


def test_a_bad_decision_prop_is_an_error_naming_the_control(project):
    path = project / "bad.yaml"
    path.write_text(POLICY.format(mode="warn", decision="  decision: intervals\n"))
    with pytest.raises(vl.PolicyError, match=r'control "di": unknown decision "intervals"'):
        vl.enforce(frame(10, 0.5, 10, 0.5), policy=str(path), record=False, strict=True)


def test_block_gates_an_inconclusive_control_and_warn_records_it(project):
    data = frame(500, 0.6, 500, 0.43)
    with pytest.raises(vl.ComplianceBlockError, match="di: inconclusive: disparate_impact"):
        vl.enforce(data, policy=policy(project, mode="block"), record=False, strict=False)
    results = vl.enforce(data, policy=policy(project, mode="warn"), record=False, strict=False)
    # Recorded, shown, and the run goes on.
    assert results.passed and results[0].status == "inconclusive" and not results[0].passed


def _cli(vl_bin: Path, root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(vl_bin), *args], cwd=root, capture_output=True, text=True, timeout=120, check=False)


def test_every_reader_shows_inconclusive(vl_bin, project):
    frame(500, 0.6, 500, 0.43).to_csv(project / "d.csv", index=False)
    plain = policy(project, mode="block", decision=None)
    enforce = ("enforce", "--data", "d.csv", "--policy", plain, "--target", "y")

    # JSON, against the schema; the exit code of a blocking control.
    out = _cli(vl_bin, project, *enforce, "--decision", "interval", "--format", "json", "--junit", "j.xml")
    assert out.returncode == 1, out.stderr
    doc = json.loads(out.stdout)
    jsonschema.validate(doc, SCHEMA, format_checker=jsonschema.FormatChecker())
    (control,) = doc["controls"]
    assert (control["status"], control["decision"]) == ("inconclusive", "interval")
    assert doc["summary"]["inconclusive"] == 1 and doc["passed"] is False
    # The schema refuses an inconclusive control without its interval.
    broken = json.loads(out.stdout)
    broken["controls"][0]["ci"] = None
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)

    # JUnit: a failure, typed.
    (failure,) = ET.parse(project / "j.xml").getroot().iter("failure")
    assert failure.get("type") == "inconclusive (block)" and "rows" in (failure.text or "")
    assert ET.parse(project / "j.xml").getroot().get("failures") == "1"

    # The table, with the reason below it; a warn control does not fail the run.
    table = _cli(vl_bin, project, *enforce, "--decision", "interval")
    assert "INCONCLUSIVE" in table.stdout and "inconclusive di: disparate_impact" in table.stdout, table.stdout
    warn = _cli(vl_bin, project, "enforce", "--data", "d.csv", "--policy", policy(project), "--target", "y")
    assert warn.returncode == 0 and "INCONCLUSIVE (warn)" in warn.stdout, warn.stdout

    # The scan's verdict, table and OSCAL assessment results (the latest is the warn one: record a block one last).
    _cli(vl_bin, project, *enforce, "--decision", "interval")
    scan = _cli(vl_bin, project, "scan", "--format", "json")
    assert scan.returncode == 1, scan.stderr
    (latest,) = [c for c in json.loads(scan.stdout)["controls"] if c["policy"].endswith("block-None.yaml")]
    assert latest["status"] == "inconclusive"
    assessment = json.loads((project / ".venturalitica" / "assessment-results.json").read_text())
    statuses = [f["target"]["status"] for r in assessment["assessment-results"]["results"] for f in r["findings"]]
    assert {"state": "not-satisfied", "reason": "other"}.items() <= statuses[0].items(), statuses
    assert statuses[0]["remarks"].startswith("inconclusive: ")

    # The Annex IV and the dashboard.
    annex = _cli(vl_bin, project, "report", "annex-iv").stdout
    assert "is INCONCLUSIVE in its latest evaluation" in annex and "rows at the observed rates" in annex, annex
    with dashboard(vl_bin, project) as url:
        status, page, _ = get(url.rstrip("/") + "/policies")
    assert status == 200 and '<span class="pill inconclusive">INCONCLUSIVE</span>' in page

    # The notebook's badge and the evidence chart.
    results = vl.enforce(pd.read_csv(project / "d.csv"), policy=policy(project), record=False, strict=False)
    bundle = results._repr_mimebundle_()
    assert "INCONCLUSIVE" in bundle["text/html"] and "#ef6c00" in bundle["text/html"]
    assert "INCONCLUSIVE" in bundle["image/svg+xml"] and "rows would settle it" in bundle["image/svg+xml"]
    assert "INCONCLUSIVE" in bundle["text/plain"]
