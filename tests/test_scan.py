"""`venturalitica scan`: the CycloneDX BOM, latest results, OSCAL export, exit codes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from policies import DI_POLICY
from trestle.oscal.assessment_results import AssessmentResults


def _project(root: Path, *, biased: bool, mode: str = "block") -> None:
    (root / "pyproject.toml").write_text(
        '[project]\nname = "loan-scoring"\nversion = "0.3.0"\n'
        'dependencies = ["pandas>=2.2", "scikit-learn==1.5.2"]\n'
        '[project.optional-dependencies]\ndev = ["pytest"]\n'
    )
    (root / "requirements.txt").write_text("numpy==1.26.4\n# a comment\n-r other.txt\nxgboost\n")
    (root / "uv.lock").write_text(
        'version = 1\n[[package]]\nname = "pandas"\nversion = "2.2.3"\n'
        'source = { registry = "https://pypi.org/simple" }\n'
        '[[package]]\nname = "loan-scoring"\nversion = "0.3.0"\nsource = { editable = "." }\n'
    )
    (root / "Cargo.lock").write_text(
        'version = 4\n[[package]]\nname = "serde"\nversion = "1.0.219"\n'
        'source = "registry+https://github.com/rust-lang/crates.io-index"\n'
        '[[package]]\nname = "loan-cli"\nversion = "0.1.0"\n'
    )
    (root / "notebooks").mkdir()
    nb = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": "pd.read_csv('not/code.csv')"},
            {
                "cell_type": "code",
                "metadata": {},
                "outputs": [],
                "execution_count": None,
                "source": ["import pandas as pd\n", "df = pd.read_csv('data/credit.csv')\n"],
            },
            {
                "cell_type": "code",
                "metadata": {},
                "outputs": [],
                "execution_count": None,
                "source": "import joblib\nmodel = joblib.load('models/clf.joblib')\n",
            },
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (root / "notebooks" / "train.ipynb").write_text(json.dumps(nb))
    (root / "train.py").write_text(
        "from transformers import AutoModel\nm = AutoModel.from_pretrained('bert-base-uncased')\n"
    )
    (root / "data").mkdir()
    rows = "a,1\na,1\nb,0\nb,1\n" if biased else "a,1\na,0\nb,1\nb,0\n"
    (root / "data" / "credit.csv").write_text("g,y\n" + rows)
    (root / "policy.yaml").write_text(DI_POLICY.format(mode=mode))


def _components(root: Path) -> dict[str, dict]:
    bom = json.loads((root / ".venturalitica" / "bom.json").read_text())
    return {c["bom-ref"]: c for c in bom["components"]}


def test_failing_project_exits_1_with_bom_junit_and_oscal(vl, tmp_path):
    _project(tmp_path, biased=True)
    assert vl("enforce", "--data", "data/credit.csv", "--policy", "policy.yaml").code == 1
    run = vl("scan", "--junit", "junit.xml")
    assert run.code == 1, run.stderr
    assert "FAILED: 1 controls, 1 blocking" in run.stdout

    refs = _components(tmp_path)
    assert set(refs) >= {
        "pkg:pypi/pandas@2.2.3",  # the lock file's exact version wins over >=2.2
        "pkg:pypi/scikit-learn@1.5.2",
        "pkg:pypi/numpy@1.26.4",
        "pkg:pypi/xgboost",
        "pkg:pypi/pytest",
        "pkg:cargo/serde@1.0.219",
        "notebook:notebooks/train.ipynb",
        "dataset:data/credit.csv",
        "model:models/clf.joblib",
        "model:bert-base-uncased",
    }
    assert not any("loan-scoring" in r or "loan-cli" in r for r in refs)  # the project itself
    assert not any("not/code.csv" in r for r in refs)  # markdown is not code
    dataset = refs["dataset:data/credit.csv"]
    assert dataset["type"] == "data" and dataset["hashes"][0]["alg"] == "SHA-256"
    assert {"name": "venturalitica:loaded-in", "value": "notebooks/train.ipynb#cell1:2"} in dataset["properties"]
    assert refs["model:models/clf.joblib"]["type"] == "machine-learning-model"
    assert any(c["type"] == "file" and c["bom-ref"].startswith("policy:") for c in refs.values())

    suite = ET.parse(tmp_path / "junit.xml").getroot()
    (case,) = suite.iter("testcase")
    assert case.get("name") == "gender-di"
    assert "disparate_impact = 0.5" in case.find("failure").get("message")

    latest = json.loads((tmp_path / ".venturalitica" / "trace_latest.json").read_text())
    assert latest["kind"] == "scan" and latest["passed"] is False and latest["compliance_score"] == 0.0
    assert [c["control_id"] for c in latest["controls"]] == ["gender-di"]
    assert vl("verify").code == 0


def test_bom_validates_against_cyclonedx_1_6(vl, tmp_path):
    _project(tmp_path, biased=False)
    vl("enforce", "--data", "data/credit.csv", "--policy", "policy.yaml")
    assert vl("scan").code == 0
    text = (tmp_path / ".venturalitica" / "bom.json").read_text()
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, error
    assert json.loads(text)["specVersion"] == "1.6"


def test_assessment_results_validate_against_the_oscal_model(vl, tmp_path):
    _project(tmp_path, biased=True)
    vl("enforce", "--data", "data/credit.csv", "--policy", "policy.yaml")
    vl("scan")
    doc = json.loads((tmp_path / ".venturalitica" / "assessment-results.json").read_text())
    model = AssessmentResults.model_validate(doc["assessment-results"])
    (result,) = model.results
    (finding,) = result.findings
    assert finding.target.target_id == "gender-di"
    assert finding.target.status.state.value == "not-satisfied"
    (observation,) = result.observations
    props = {p.name: p.value for p in observation.props}
    assert props["metric-key"] == "disparate_impact" and props["actual-value"] == "0.5"


def test_latest_result_wins_and_non_blocking_failures_pass(vl, tmp_path):
    _project(tmp_path, biased=True, mode="monitor")
    vl("enforce", "--data", "data/credit.csv", "--policy", "policy.yaml")
    run = vl("scan")
    assert run.code == 0, run.stdout
    assert "FAIL (monitor)" in run.stdout
    # The same policy, now blocking and on fair data: the latest result counts.
    (tmp_path / "policy.yaml").write_text(DI_POLICY.format(mode="block"))
    (tmp_path / "data" / "credit.csv").write_text("g,y\na,1\na,0\nb,1\nb,0\n")
    vl("enforce", "--data", "data/credit.csv", "--policy", "policy.yaml")
    as_json = vl("scan", "--format", "json")
    assert as_json.code == 0
    (control,) = as_json.json()["controls"]
    assert (control["status"], control["actual_value"]) == ("pass", 1.0)


def test_a_project_with_nothing_evaluated_passes_and_says_so(vl):
    run = vl("scan")
    assert run.code == 0
    assert "No control has been evaluated" in run.stdout


def test_a_broken_lock_file_is_an_error_naming_it(vl, tmp_path):
    (tmp_path / "uv.lock").write_text("[[package]\nname=")
    run = vl("scan")
    assert run.code == 2
    assert "uv.lock" in run.stderr


def test_a_risk_register_reaches_results_dashboard_fields_and_oscal(vl, tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "risks"\n')
    rows = ["target,gender"] + [f"{i % 2},{'f' if i % 3 else 'm'}" for i in range(60)]
    (tmp_path / "credit.csv").write_text("\n".join(rows) + "\n")
    policy = Path(__file__).parent / "fixtures" / "policies" / "ssp_risks.yaml"
    run = vl("enforce", "--data", "credit.csv", "--policy", str(policy), "--format", "json")
    results = json.loads(run.stdout)
    by_id = {c["id"]: c for c in results["controls"]}
    assert by_id["treat-exclusion"]["risk"]["risk_title"] == "Unfair exclusion from credit"
    assert by_id["treat-feedback"]["risk"]["risk_uuid"] == "3f1a2b4c-0000-4000-8000-00000000f00d"
    (warning,) = results["policy"]["warnings"]
    assert "R-NONE" in warning
    vl("scan")
    doc = json.loads((tmp_path / ".venturalitica" / "assessment-results.json").read_text())
    (result,) = AssessmentResults.model_validate(doc["assessment-results"]).results
    titles = {r.title: r for r in result.risks}
    assert set(titles) == {"Unfair exclusion from credit", "Feedback loops in retraining"}
    exclusion = titles["Unfair exclusion from credit"]
    raw = {r["title"]: r for r in doc["assessment-results"]["results"][0]["risks"]}
    assert raw[exclusion.title]["status"] == "open"  # the register's "active", kept as a prop
    assert {p.name: p.value for p in exclusion.props}["register-status"] == "active"
    related = {f.target.target_id: f.related_risks for f in result.findings}
    assert related["treat-exclusion"][0].risk_uuid == exclusion.uuid
    assert not related["treat-unknown"]
