"""The Venturalitica SDK's public modules, result type and defaults, as its
docs and samples use them: `from venturalitica.quickstart import
load_sample`, `results[0].passed`, non-strict unless CI says otherwise,
`vl.monitor(label=..., inputs=..., outputs=...)`, `.venturalitica/results.json`.

Facts carried over from the SDK (field order, defaults, environment
variables); the test code is ours.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest
import venturalitica as vl

DI_POLICY = """\
- id: gender-di
  description: Approval rates across genders follow the four-fifths rule
  metric_key: disparate_impact
  operator: ">="
  threshold: 0.8
  severity: high
  input:dimension: g
  input:target: y
- id: balance
  metric_key: class_imbalance
  operator: ">"
  threshold: 0.2
  input:target: y
"""
DF = pd.DataFrame({"g": list("aaaabbbb"), "y": [1, 1, 1, 0, 1, 1, 0, 0]})


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'sdk-surface'\n")
    (tmp_path / "p.yaml").write_text(DI_POLICY)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def events(root: Path, kind: str) -> list[dict]:
    lines = (root / ".venturalitica" / "trace.jsonl").read_text().splitlines()
    return [e for e in (json.loads(line)["event"] for line in lines) if e["kind"] == kind]


def test_the_sdk_modules_re_export_ours():
    from venturalitica.models import ComplianceResult
    from venturalitica.policy import POLICY_SCHEMA, PolicyManager
    from venturalitica.quickstart import list_scenarios, load_sample, quickstart, show_code
    from venturalitica.wrappers import AssuranceWrapper, wrap

    assert ComplianceResult is vl.ComplianceResult is vl.ControlResult
    assert (load_sample, quickstart, wrap, AssuranceWrapper, PolicyManager) == (
        vl.load_sample,
        vl.quickstart,
        vl.wrap,
        vl.AssuranceWrapper,
        vl.PolicyManager,
    )
    assert list_scenarios() == {"loan": vl.sample.SAMPLES["loan"]}
    assert PolicyManager.get_schema() is POLICY_SCHEMA and POLICY_SCHEMA["required"] == ["title", "controls"]
    assert callable(show_code)
    # Importing the module `venturalitica.quickstart` leaves the package's
    # `quickstart` the function, in a fresh interpreter too.
    code = (
        "import sys, venturalitica as vl, venturalitica.quickstart; "
        "print(callable(vl.quickstart), sys.modules['venturalitica.quickstart'].load_sample is vl.load_sample)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "True"]


def test_show_code_names_the_sdk_sample_and_our_policy(capsys):
    from venturalitica.quickstart import show_code

    show_code("loan")
    out = capsys.readouterr().out
    assert "00_minimal.py" in out and "loan_quickstart.yaml" in out
    with pytest.raises(ValueError, match="no scenario 'vision'"):
        show_code("vision")


def test_compliance_result_has_the_sdk_fields_in_the_sdk_order():
    names = [f.name for f in dataclasses.fields(vl.ComplianceResult)]
    assert names[:9] == [
        "control_id",
        "description",
        "metric_key",
        "threshold",
        "actual_value",
        "operator",
        "passed",
        "severity",
        "metadata",
    ]
    # Built positionally, as SDK code does: the status follows `passed`.
    made = vl.ComplianceResult("c1", "accuracy floor", "accuracy_score", 0.8, 0.75, ">=", False, "high")
    assert (made.status, made.metadata, made.reason) == ("fail", {}, None)
    assert vl.ComplianceResult("c2", "", "accuracy_score", 0.8, 0.9, ">=", True).severity == "low"


def test_enforce_returns_a_list_indexable_by_position_and_by_id(project):
    results = vl.enforce(data=DF, policy="p.yaml")
    assert isinstance(results, list) and isinstance(results, vl.ComplianceResults)
    assert [type(r) for r in results] == [vl.ComplianceResult, vl.ComplianceResult]
    first = results[0]
    assert first is results["gender-di"] and results[-1] is results["balance"]
    assert [r.control_id for r in results[:1]] == ["gender-di"]
    # The values: rates 3/4 and 2/4, so DI = 0.5/0.75; minority 4/8.
    assert first.actual_value == pytest.approx(2 / 3, rel=1e-12) and not first.passed
    assert first.description == "Approval rates across genders follow the four-fifths rule"
    assert (first.severity, results["balance"].severity) == ("high", "low")
    assert first.metadata == {"status": "fail", "enforcement_mode": "block", "reason": first.reason}
    assert results[1].passed and results[1].actual_value == pytest.approx(3 / 5, rel=1e-12)
    assert results.passed is False and len(results) == 2 and bool(results)
    assert results.to_dict()["summary"] == {"total": 2, "passed": 1, "failed": 1, "errors": 0}
    with pytest.raises(KeyError, match="nope"):
        results["nope"]
    with pytest.raises(IndexError):
        results[2]
    # Several policies: one flat list; an id in two of them must be indexed.
    both = vl.enforce(data=DF, policy=["p.yaml", "p.yaml"])
    assert isinstance(both, list) and [r.control_id for r in both] == ["gender-di", "balance"] * 2
    assert both[2].actual_value == first.actual_value
    with pytest.raises(KeyError, match="is in 2 results"):
        both["balance"]


def test_not_strict_by_default_an_unevaluable_control_is_an_error_result_and_a_warning(project):
    """German Credit codes its target 1/2: without positive_label the
    outcome-rate metric cannot know which label is the good one. Not strict,
    the control is an error result (never a pass), said as a warning and
    recorded; the script goes on and its verdict is FAIL."""
    credit = vl.load_sample("loan", verbose=False)
    (project / "credit.yaml").write_text(
        "- id: credit-di\n  metric_key: disparate_impact\n  operator: '>='\n  threshold: 0.8\n"
        "  input:dimension: Attribute9\n  input:target: class\n"
    )
    with pytest.warns(vl.VenturaliticaWarning, match="credit-di .*could not be evaluated: .*positive_label"):
        results = vl.enforce(data=credit, policy="credit.yaml")
    (error,) = results
    assert (error.status, error.passed, error.actual_value) == ("error", False, None)
    assert "positive_label" in error.reason and not results.passed
    (event,) = events(project, "enforce")
    assert event["payload"]["results"]["controls"][0]["status"] == "error"
    # The same data with the label named evaluates.
    (project / "credit.yaml").write_text((project / "credit.yaml").read_text() + "  positive_label: 1\n")
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        assert vl.enforce(data=credit, policy="credit.yaml")[0].status in ("pass", "fail")
    assert not [w for w in said if issubclass(w.category, vl.VenturaliticaWarning)]


@pytest.mark.parametrize(
    ("env", "strict", "raises"),
    [
        ({}, None, False),
        ({"CI": "true"}, None, True),
        ({"VENTURALITICA_STRICT": "true"}, None, True),
        ({"CI": "false"}, None, False),
        ({}, True, True),
        # An explicit argument wins over the environment.
        ({"CI": "true"}, False, False),
    ],
)
def test_strict_comes_from_the_argument_else_ci_or_venturalitica_strict(project, monkeypatch, env, strict, raises):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    missing = DF.rename(columns={"y": "outcome"})
    keywords = {} if strict is None else {"strict": strict}
    if raises:
        with pytest.raises(vl.DataError, match='variable "y" matches no column'):
            vl.enforce(data=missing, policy="p.yaml", **keywords)
    else:
        with pytest.warns(vl.VenturaliticaWarning):
            results = vl.enforce(data=missing, policy="p.yaml", **keywords)
        assert [r.status for r in results] == ["error", "error"] and not results.passed


def test_results_json_is_the_last_evaluation_in_the_sdk_shape(project):
    vl.enforce(data=DF, policy="p.yaml")
    results = vl.enforce(data=DF[DF.g == "a"].assign(g=["a", "a", "b", "b"]), policy="p.yaml")
    copy = json.loads((project / ".venturalitica" / "results.json").read_text())
    assert [c["control_id"] for c in copy] == ["gender-di", "balance"]
    assert len(copy) == len(results)
    for written, ours in zip(copy, results):  # noqa: B905 - runs on Python 3.9; lengths asserted
        for name in ("description", "metric_key", "threshold", "actual_value", "operator", "passed", "severity"):
            assert written[name] == getattr(ours, name), name
        assert written["metadata"]["status"] == ours.status
    # It points at the event it copies (the second evaluation), which is the evidence.
    second = events(project, "enforce")[1]
    assert copy[0]["metadata"]["evidence_seq"] == len(events(project, "enforce")) == 2
    assert second["payload"]["results"]["controls"][0]["actual_value"] == copy[0]["actual_value"]
    assert not list((project / ".venturalitica").glob(".tmp-*"))


def test_monitor_takes_the_sdk_signature_and_fingerprints_inputs_and_outputs(project):
    (project / "train.csv").write_bytes(b"a,b\n1,2\n")
    with vl.monitor() as default:
        pass
    assert default.name == "Training Task"
    with vl.monitor("fit", label="baseline", inputs=["train.csv"], outputs=["model.bin", "missing.txt"]) as m:
        # Written inside the block: outputs are fingerprinted when it ends.
        (project / "model.bin").write_bytes(b"weights")
    assert m.error is None, m.error
    expected_in = {"path": str(project / "train.csv"), "sha256": hashlib.sha256(b"a,b\n1,2\n").hexdigest(), "bytes": 8}
    model, missing = m.artifacts["outputs"]
    assert m.artifacts["inputs"] == [expected_in]
    assert model == {"path": str(project / "model.bin"), "sha256": hashlib.sha256(b"weights").hexdigest(), "bytes": 7}
    assert missing["path"] == str(project / "missing.txt") and "No such file" in missing["error"]
    assert "artifacts" not in m.report and m.to_dict()["label"] == "baseline"
    first, second = events(project, "monitor")
    assert first["payload"]["name"] == "Training Task" and "label" not in first["payload"]
    assert second["payload"]["label"] == "baseline"
    assert second["payload"]["artifacts"] == m.artifacts
    with pytest.raises(TypeError, match="list of file paths"):
        vl.monitor("x", inputs="train.csv")


def test_errors_are_value_errors_where_the_sdk_raises_value_error(project):
    (project / "typo.yaml").write_text(DI_POLICY.replace("class_imbalance", "class_imbalanse"))
    with pytest.raises(ValueError, match="unknown metric_key"):
        vl.enforce(data=DF, policy="typo.yaml", strict=True)
    with pytest.raises(ValueError, match="No such file"):
        vl.enforce(data=DF, policy="missing.yaml", strict=True)
    assert issubclass(vl.DataError, ValueError) and not issubclass(vl.AgentError, ValueError)


def test_a_policy_file_that_cannot_be_loaded_is_a_recorded_error_result_unless_strict(project):
    """The SDK returns an empty list for a missing file; not strict, ours
    returns an error result naming the file (line and column for a
    malformed one), warns, records it, and the verdict is FAIL."""
    (project / "broken.yaml").write_text("controls: [\n  - id: x\n")
    with pytest.warns(vl.VenturaliticaWarning) as said:
        results = vl.enforce(data=DF, policy=["p.yaml", "missing.yaml", "broken.yaml"])
    assert len(results) == 4 and not results.passed
    assert [r.status for r in results][:2] == ["fail", "pass"]  # p.yaml's own verdicts
    missing, broken = results[2], results[3]
    assert (missing.status, missing.passed) == ("error", False) and "No such file" in missing.reason
    assert "broken.yaml:2:" in broken.reason
    assert any("missing.yaml" in str(w.message) for w in said)
    recorded = [e["payload"]["results"] for e in events(project, "enforce")]
    unloadable = [r for r in recorded if r["policy"]["shape"] == "unloadable"]
    assert [Path(r["policy"]["path"]).name for r in unloadable] == ["missing.yaml", "broken.yaml"]
    assert all(r["controls"][0]["status"] == "error" and not r["passed"] for r in unloadable)
    # The evidence keeps the bytes that were read, and still verifies.
    copy = project / ".venturalitica" / "policies" / f"{unloadable[1]['policy']['sha256']}.yaml"
    assert copy.read_text() == (project / "broken.yaml").read_text()
    assert vl.verify().ok
    # metrics= takes the same path.
    with pytest.warns(vl.VenturaliticaWarning):
        given = vl.enforce(metrics={"a": 1.0}, policy="missing.yaml")
    assert given[0].status == "error"


def test_every_sdk_registry_key_loads_and_checks_a_given_value(project):
    """The SDK's score and segmentation keys: a policy naming them loads,
    `metrics=` checks a value computed elsewhere, and on data each is
    computed over the per-case score (or an error result naming the
    missing column, never a pass)."""
    keys = ["mean_score", "score_gap", "worst_group_score", "es_dice", "mean_hd95", "max_excess_components"]
    (project / "scores.yaml").write_text(
        "".join(
            f"- id: c-{k}\n  metric_key: {k}\n  operator: '>='\n  threshold: 0.0\n  input:dimension: g\n" for k in keys
        )
    )
    given = vl.enforce(metrics={f"c-{k}": 0.9 for k in keys}, policy="scores.yaml")
    assert [r.status for r in given] == ["pass"] * len(keys) and given.passed
    with pytest.warns(vl.VenturaliticaWarning):
        no_score = vl.enforce(data=DF, policy="scores.yaml")
    assert [r.status for r in no_score] == ["error"] * len(keys)
    assert 'variable "score" matches no column' in no_score["c-mean_score"].reason
    scored = DF.assign(score=[0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])
    on_data = vl.enforce(data=scored, policy="scores.yaml")
    assert [r.status for r in on_data] == ["pass"] * len(keys)
    assert on_data["c-mean_score"].actual_value == pytest.approx(0.55)
    assert on_data["c-score_gap"].actual_value == pytest.approx(0.4)
    assert on_data["c-worst_group_score"].actual_value == pytest.approx(0.35)


def test_an_unknown_metric_is_an_error_result_unless_strict(project):
    """Not strict, one unknown control does not refuse the policy: it is an
    error result naming the file, line and key; the others are evaluated.
    Strict, the policy is refused with that message (a ValueError)."""
    (project / "mixed.yaml").write_text(
        DI_POLICY + "- id: miss-1\n  metric_key: nonexistent_metric\n  operator: gt\n  threshold: 0.5\n"
    )
    with pytest.warns(vl.VenturaliticaWarning, match="miss-1 .*unknown metric_key"):
        results = vl.enforce(data=DF, policy="mixed.yaml")
    assert [r.status for r in results] == ["fail", "pass", "error"]
    unknown = results["miss-1"]
    assert unknown.metric_key == "nonexistent_metric" and (unknown.operator, unknown.threshold) == (">", 0.5)
    line = DI_POLICY.count("\n") + 2  # the metric_key of the appended control
    assert unknown.reason.startswith(f"{project / 'mixed.yaml'}:{line}:") and "closest known" in unknown.reason
    assert results[0].actual_value == pytest.approx(2 / 3, rel=1e-12)
    with pytest.warns(vl.VenturaliticaWarning):
        given = vl.enforce(metrics={"gender-di": 0.9, "balance": 0.5, "miss-1": 0.9}, policy="mixed.yaml")
    assert [r.status for r in given] == ["pass", "pass", "error"]
    with pytest.raises(ValueError, match='unknown metric_key "nonexistent_metric"'):
        vl.enforce(data=DF, policy="mixed.yaml", strict=True)


def test_an_input_prop_that_names_no_variable_is_a_parameter(project):
    """The SDK samples write metric parameters as `input:` props."""
    (project / "multi.yaml").write_text(
        "- id: dp\n  metric_key: multiclass_demographic_parity\n  operator: '<'\n  threshold: 0.9\n"
        "  input:target: y\n  input:prediction: p\n  input:dimension: g\n  input:aggregation: macro\n"
    )
    frame = pd.DataFrame({"y": list("abcabcab"), "p": list("abcaacbb"), "g": list("xxxxyyyy")})
    results = vl.enforce(data=frame, policy="multi.yaml", strict=True)
    (dp,) = results
    assert dp.status in ("pass", "fail") and dp.inputs == {"target": "y", "prediction": "p", "dimension": "g"}
    assert results.to_dict()["controls"][0]["params"] == {"aggregation": "macro"}
    assert not dp.warnings, dp.warnings  # used by the metric, so not reported as unused


def test_a_wrapper_made_without_init_does_not_recurse():
    """copy.copy, and code that builds the wrapper with __new__, reach
    __getattr__ before the model is set: an AttributeError, not a
    RecursionError."""
    import copy

    from sklearn.linear_model import LogisticRegression

    bare = vl.AssuranceWrapper.__new__(vl.AssuranceWrapper)
    with pytest.raises(AttributeError, match="coef_"):
        bare.coef_  # noqa: B018 - the attribute access is the test
    wrapped = vl.wrap(LogisticRegression(C=0.5))
    twin = copy.copy(wrapped)
    assert twin.C == 0.5 and twin._venturalitica_model is wrapped._venturalitica_model


def test_a_pickled_or_copied_wrapper_predicts_the_same_and_still_audits(project):
    """joblib and pickle are how models are saved; a loaded wrapper is the
    same model and audits with its own, recorded like the original's."""
    import copy
    import pickle

    from sklearn.linear_model import LogisticRegression

    (project / "p.yaml").write_text(
        "- id: di\n  metric_key: disparate_impact\n  operator: '>='\n  threshold: 0.0\n"
        "  input.dimension: g\n  input.target: y\n"
    )
    frame = pd.DataFrame({"x": [0.1, 0.9, 0.2, 0.8, 0.3, 0.7, 0.15, 0.85], "g": list("abababab")})
    frame["y"] = (frame["x"] > 0.5).astype(int)
    wrapped = vl.wrap(LogisticRegression(), policy="p.yaml")
    wrapped.fit(frame[["x"]], frame["y"], audit_data=frame)
    before = wrapped.predict(frame[["x"]], audit_data=frame)
    loaded = pickle.loads(pickle.dumps(wrapped))
    twin = copy.deepcopy(wrapped)
    for other in (loaded, twin):
        assert other._venturalitica_model is not wrapped._venturalitica_model
        assert list(other.predict(frame[["x"]], audit_data=frame)) == list(before)
        # The audit ran on the copy, with the copy's model, and was recorded.
        assert other.last_audit_results is not wrapped.last_audit_results
        assert [c.status for c in other.last_audit_results] == ["pass"]
        assert other.predict.__wrapped__.__self__ is other._venturalitica_model
    assert len(events(project, "enforce")) == 4


def test_the_loader_gives_the_policy_as_the_engine_reads_it(project):
    from venturalitica.loader import OSCALPolicyLoader
    from venturalitica.models import InternalControl, InternalPolicy

    (project / "mixed.yaml").write_text(
        DI_POLICY + "- id: miss-1\n  metric_key: nonexistent_metric\n  operator: gt\n  threshold: 0.5\n"
        "- id: k-anon\n  metric_key: k_anonymity\n  operator: '>='\n  threshold: 5\n"
        "  input:quasi_identifiers: age, zip\n  risk_id: R1\n"
    )
    policy = OSCALPolicyLoader(project / "mixed.yaml").load()
    assert isinstance(policy, InternalPolicy) and policy.title == "mixed.yaml"  # a plain list has no title
    di, balance, miss, kanon = policy.controls
    assert isinstance(di, InternalControl)
    assert (di.id, di.metric_key, di.operator, di.threshold, di.severity) == (
        "gender-di",
        "disparate_impact",
        ">=",
        0.8,
        "high",
    )
    assert di.input_mapping == {"target": "y", "dimension": "g"} and balance.severity == "low"
    assert miss.metric_key == "nonexistent_metric" and "unknown metric_key" in miss.metadata["unknown_metric"]
    assert kanon.input_mapping == {"quasi_identifiers": ["age", "zip"]} and kanon.metadata["risk_id"] == "R1"
    with pytest.raises(FileNotFoundError):
        OSCALPolicyLoader(project / "nope.yaml").load()
    (project / "odd.yaml").write_text("unknown: root\n")
    with pytest.raises(ValueError, match="unknown policy shape"):
        OSCALPolicyLoader(project / "odd.yaml").load()


# The SDK 0.8.2 `METRIC_REGISTRY` keys (a fact of its public API).
SDK_REGISTRY_KEYS = """
accuracy_score precision_score recall_score f1_score demographic_parity_diff equal_opportunity_diff
equalized_odds_ratio predictive_parity multiclass_demographic_parity multiclass_equal_opportunity
multiclass_confusion_metrics weighted_demographic_parity_multiclass macro_equal_opportunity_multiclass
micro_equalized_odds_multiclass predictive_parity_multiclass disparate_impact class_imbalance
group_min_positive_rate data_completeness k_anonymity l_diversity t_closeness data_minimization
path_decomposition counterfactual_fairness fairness_through_awareness causal_fairness_diagnostic bias_score
stereotype_preference_rate category_bias_score classification_distribution report_coverage
provenance_completeness chunk_diversity subtitle_diversity mean_score min_group_score worst_cell_score
group_score_gap max_score essp es_dice es_iou essp_stdev subgroup_disparity score_gap score_ratio score_std
score_cv score_skew worst_group_score mean_nsd mean_hd95 max_hd95 max_excess_components mean_excess_components
""".split()

METRICS_DF = pd.DataFrame(
    {
        "target": [1, 0, 1, 1, 0, 0, 1, 0],
        "prediction": [1, 0, 0, 1, 1, 0, 1, 0],
        "sensitive": list("AAAABBBB"),
        "dice": [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2],
    }
)


def test_the_metric_functions_are_the_engine_with_the_sdk_values():
    import fairlearn.metrics as flm
    import sklearn.metrics as skm
    from venturalitica import metrics

    roles = {"target": "target", "prediction": "prediction"}
    y, p, g = METRICS_DF["target"], METRICS_DF["prediction"], METRICS_DF["sensitive"]
    assert len(SDK_REGISTRY_KEYS) == 56
    assert set(SDK_REGISTRY_KEYS) <= set(metrics.METRIC_REGISTRY)
    assert metrics.METRIC_REGISTRY["worst_group_score"] is metrics.calc_min_group_score
    assert metrics.calc_accuracy(METRICS_DF, **roles) == skm.accuracy_score(y, p) == 0.75
    for average in ("binary", "macro", "weighted", "micro"):
        assert metrics.calc_precision(METRICS_DF, **roles, average=average) == pytest.approx(
            skm.precision_score(y, p, average=average), abs=1e-12
        )
    dp = metrics.calc_demographic_parity(METRICS_DF, **roles, dimension="sensitive")
    assert dp == pytest.approx(flm.demographic_parity_difference(y, p, sensitive_features=g), abs=1e-12)
    eo = metrics.calc_equal_opportunity(METRICS_DF, **roles, dimension="sensitive")
    assert eo == pytest.approx(1 / 3)
    # Group score statistics return (value, metadata), as the SDK's do.
    value, meta = metrics.calc_min_group_score(METRICS_DF, score="dice", dimension="sensitive")
    assert value == pytest.approx(0.35) and meta == {"groups": pytest.approx({"A": 0.75, "B": 0.35})}
    assert metrics.calc_mean(METRICS_DF, target="dice") == pytest.approx(0.55)
    essp, _ = metrics.calc_essp(METRICS_DF, score="dice", dimension="sensitive")
    assert essp == pytest.approx(0.55 / 1.4)


def test_the_metric_functions_never_return_a_number_they_did_not_compute():
    from venturalitica import metrics

    with pytest.raises(ValueError, match="Required column"):
        metrics.calc_accuracy(METRICS_DF, target="MISSING", prediction="prediction")
    with pytest.raises(ValueError, match="Missing.*columns"):
        metrics.calc_demographic_parity(METRICS_DF, dimension="MISSING")
    with pytest.raises(KeyError) as absent:
        metrics.calc_accuracy(METRICS_DF, target="no_col", prediction="prediction")
    assert isinstance(absent.value, vl.DataError) and "no_col" in str(absent.value)
    # The SDK answers 1.0 and 0.0 here; ours says why there is no value.
    with pytest.raises(KeyError):
        metrics.calc_disparate_impact(METRICS_DF, target="MISSING_COLUMN", dimension="sensitive")
    with pytest.raises(ValueError, match="single class"):
        metrics.calc_class_imbalance(pd.DataFrame({"t": [1, 1, 1]}), target="t")
    with pytest.raises(ValueError, match="not used"):
        metrics.calc_accuracy(METRICS_DF, target="target", prediction="prediction", average="macro")
    with pytest.raises(ValueError, match="causal model"):
        metrics.calc_counterfactual_fairness(METRICS_DF)
    # Nothing of it is evidence.
    assert not Path(".venturalitica").exists() or not (Path(".venturalitica") / "trace.jsonl").exists()


def test_metric_meta_and_the_orientation_check_come_from_the_catalogue(project):
    from venturalitica.metrics import METRIC_META, check_threshold_orientation

    assert METRIC_META["mean_hd95"].lower_is_better and METRIC_META["mean_hd95"].unit == "mm"
    assert METRIC_META["mean_hd95"].bounds is None
    assert METRIC_META["max_excess_components"].bounds == (0.0, float("inf"))
    assert METRIC_META["disparate_impact"].bounds == (0.0, 1.0) and not METRIC_META["disparate_impact"].lower_is_better
    assert "mean_score" not in METRIC_META, "its sense depends on the score"
    assert "wrong way" in check_threshold_orientation("mean_hd95", "gte", 2.0)
    assert check_threshold_orientation("mean_hd95", "<=", 2.0) is None
    assert "lies in [0, 1]" in check_threshold_orientation("disparate_impact", ">=", 80)
    assert check_threshold_orientation("no_such_metric", ">", 1) is None
    # The loader says the same of a policy, as a warning with the line.
    (project / "inverted.yaml").write_text(
        "- id: inv\n  metric_key: demographic_parity_diff\n  operator: '>='\n  threshold: 0.1\n  input:dimension: g\n"
    )
    results = vl.enforce(data=DF, policy="inverted.yaml")
    (warning,) = results.policy["warnings"]
    assert "inverted.yaml:1:7: control inv: lower is better for demographic_parity_diff" in warning


def test_binding_offers_the_engines_synonyms_by_hand():
    from venturalitica.binding import COLUMN_SYNONYMS, discover_column, resolve_col_names

    assert COLUMN_SYNONYMS["target"][0] == "target" and {"class", "label", "y"} <= set(COLUMN_SYNONYMS["target"])
    df = pd.DataFrame({"target": [0, 1], "gender": ["M", "F"], "Age": [30, 40]})
    assert resolve_col_names("class, gender", df) == ["target", "gender"]
    assert resolve_col_names(["sex", "nowhere"], df) == ["gender", "nowhere"]
    assert resolve_col_names(None, df) is None
    assert discover_column("label", {}, df) == "target"
    assert discover_column("target", {"target": "y_true"}, df) == "y_true"
    assert discover_column("nowhere", {}, df) == "MISSING"
    assert resolve_col_names("output", pd.DataFrame({"label": [1]}), synonyms={"target": ["label", "output"]}) == [
        "label"
    ]


def test_a_synonym_binding_is_recorded_on_the_result(project):
    """The engine binds `target` to `class` by synonym only with a warning on
    the control's result, which the evidence keeps."""
    (project / "syn.yaml").write_text(
        "- id: bal\n  metric_key: class_imbalance\n  operator: '>'\n  threshold: 0.1\n  input:target: target\n"
    )
    results = vl.enforce(data=pd.DataFrame({"class": [0, 1, 1, 0]}), policy="syn.yaml", target=None)
    assert results[0].status == "pass"
    assert any('bound to column "class" by synonym' in w for w in results[0].warnings)
    (event,) = events(project, "enforce")
    assert event["payload"]["results"]["controls"][0]["warnings"] == results[0].warnings
