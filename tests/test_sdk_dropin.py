"""The Venturalitica SDK's names and policy shapes, with oracles.

SDK users swap its package for ours (same import name); these check that
what they call and load works unchanged, and that the numbers are exact.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import fairlearn.metrics as flm
import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm
import venturalitica as vl
from kernel_env import run_cell
from sklearn.linear_model import LogisticRegression

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "policies"
SCRIPT = REPO / "examples" / "sdk_style" / "train_loan.py"


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'sdk-dropin'\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


def events(root: Path, kind: str) -> list[dict]:
    lines = (root / ".venturalitica" / "trace.jsonl").read_text().splitlines()
    return [e for e in (json.loads(line)["event"] for line in lines) if e["kind"] == kind]


def test_load_sample_ships_german_credit_with_its_attribution():
    df = vl.load_sample("loan", verbose=False)
    assert df.shape == (1000, 21)
    assert list(df.columns) == [f"Attribute{i}" for i in range(1, 21)] + ["class"]
    assert df["class"].value_counts().to_dict() == {1: 700, 2: 300}
    assert df["Attribute13"].between(19, 75).all() and df["Attribute9"].str.match(r"^A9[1-5]$").all()
    licence = Path(vl.__file__).parent / "data" / "GERMAN_CREDIT_LICENSE.txt"
    assert "CC BY 4.0" in licence.read_text() and "10.24432/C5NC77" in licence.read_text()
    with pytest.raises(ValueError, match="no sample 'iris'; available: loan"):
        vl.load_sample("iris")


def test_quickstart_gives_the_three_checks_exactly(project, capsys):
    results = vl.quickstart("loan")
    assert "PASSED" in capsys.readouterr().out
    df = vl.load_sample("loan", verbose=False)
    good = (df["class"] == 1).astype(int)
    under_25 = np.where(df["Attribute13"] < 25, "<25", ">=25")
    expected = {
        "credit-data-imbalance": 300 / 700,
        "credit-data-bias": flm.demographic_parity_ratio(good, good, sensitive_features=df["Attribute9"]),
        "credit-age-disparate": flm.demographic_parity_ratio(good, good, sensitive_features=under_25),
    }
    assert {c.control_id: c.actual_value for c in results} == pytest.approx(expected, rel=1e-12)
    (window,) = events(project, "monitor")
    assert window["payload"]["name"] == "quickstart_loan"
    with pytest.raises(ValueError, match="no quickstart"):
        vl.quickstart("vision")


def test_enforce_takes_a_dict_and_a_list_of_policies(project):
    df = vl.load_sample("loan", verbose=False)
    balance = {
        "component-definition": {
            "uuid": "inline",
            "metadata": {"title": "Inline", "version": "1"},
            "components": [
                {
                    "uuid": "c",
                    "control-implementations": [
                        {
                            "uuid": "i",
                            "implemented-requirements": [
                                {
                                    "control-id": "balance",
                                    "props": [
                                        {"name": "metric_key", "value": "class_imbalance"},
                                        {"name": "operator", "value": ">"},
                                        {"name": "threshold", "value": "0.5"},
                                    ],
                                }
                            ],
                        }
                    ],
                }
            ],
        }
    }
    # From a subdirectory of the project: the evidence goes to the project's
    # trail, and the dict's file does not start a new project there.
    (project / "notebooks").mkdir()
    os.chdir(project / "notebooks")
    one = vl.enforce(data=df, policy=balance, target="class", strict=False)
    os.chdir(project)
    assert [c.status for c in one] == ["fail"]
    inline = Path(one.policy["path"])
    assert inline.parent == project / "cache" / "venturalitica" / "inline-policies"
    # Named by its whole SHA-256, the hash the evidence keeps it under.
    assert inline.name == f"policy-{one.policy['sha256']}.json"
    assert json.loads(inline.read_text()) == balance
    assert not (project / "notebooks" / ".venturalitica").exists()
    assert len(events(project, "enforce")) == 1

    both = vl.enforce(
        data=df.assign(prediction=df["class"]),
        policy=[balance, FIXTURES / "duplicate_keys.yaml"],
        target="class",
        gender="Attribute9",
        strict=False,
    )
    assert isinstance(both, vl.PolicyResults) and not both.passed
    assert [c.control_id for c in both] == ["balance", "dup-di"]
    assert len(both.results) == 2 and len(events(project, "enforce")) == 3
    # The duplicated key: the last value (0.8) is used, with a warning.
    dup = both.results[1]
    assert dup["dup-di"].threshold == 0.8
    (warning,) = dup.policy["warnings"]
    assert "duplicate_keys.yaml:22:19" in warning and "first at line 21" in warning
    with pytest.raises(TypeError, match="empty list"):
        vl.enforce(data=df, policy=[])


def test_a_catalog_with_inventory_items_evaluates_with_fairlearn_values(project):
    df = vl.load_sample("loan", verbose=False)
    rng = np.random.default_rng(7)
    df["label"] = (df["class"] == 1).astype(int)  # good credit
    df["prediction"] = np.where(rng.random(len(df)) < 0.7, df["label"], 1 - df["label"])
    df["gender"] = np.where(df["Attribute9"].isin(["A92", "A95"]), "female", "male")
    df["age_group"] = np.where(df["Attribute13"] < 25, "young", "older")
    results = vl.enforce(data=df, policy=FIXTURES / "catalog_inventory.yaml", target="label", strict=False)
    by_id = {c.control_id: c for c in results}
    y, p = df["label"], df["prediction"]
    fpr = flm.MetricFrame(metrics=flm.false_positive_rate, y_true=y, y_pred=p, sensitive_features=df["age_group"])
    assert by_id["gov-fpr-age"].actual_value == pytest.approx(fpr.difference(), rel=1e-12)
    assert by_id["gov-fair-gender"].actual_value == pytest.approx(
        flm.demographic_parity_ratio(y, p, sensitive_features=df["gender"]), rel=1e-12
    )
    assert by_id["gov-fpr-age"].severity == "high"
    assert results.to_dict()["manual_controls"] == ["gov-doc"]


def test_wrap_audits_fit_and_predict_and_delegates_the_rest(project):
    df = vl.load_sample("loan", verbose=False)
    df["age_group"] = np.where(df["Attribute13"] < 25, "young", "older")
    features = ["Attribute2", "Attribute5", "Attribute13"]
    # Disparate impact and FPR parity of the prediction (positive_label 1).
    policy = SCRIPT.parent / "model_policy.yaml"
    model = vl.wrap(LogisticRegression(max_iter=500), policy=policy)
    fitted = model.fit(df[features], df["class"], audit_data=df, target="class", gender="Attribute9")
    assert fitted is model._venturalitica_model, "fit's own return value (sklearn: the estimator) comes back"
    fit_results = model.last_audit_results
    # Before there is a model there is no prediction column: errors, not passes.
    assert [c.status for c in fit_results] == ["error", "error", "error"]
    assert hasattr(model, "coef_") and model.get_params()["max_iter"] == 500  # delegated

    predicted = model.predict(df[features], audit_data=df, target="class", gender="Attribute9")
    assert isinstance(predicted, np.ndarray) and len(predicted) == 1000
    di, fpr, _parity = model.last_audit_results
    y, p = (df["class"] == 1).astype(int), (predicted == 1).astype(int)
    assert di.actual_value == pytest.approx(
        flm.demographic_parity_ratio(y, p, sensitive_features=df["Attribute9"]), rel=1e-12
    )
    frame = flm.MetricFrame(metrics=flm.false_positive_rate, y_true=y, y_pred=p, sensitive_features=df["age_group"])
    assert fpr.actual_value == pytest.approx(frame.difference(), rel=1e-12)
    # predict_proba: the positive class's column is the score.
    after_predict = model.last_audit_results
    model.predict_proba(df[features], audit_data=df, target="class", gender="Attribute9")
    assert model.last_audit_results is not after_predict, "predict_proba audits again"
    assert [c.control_id for c in model.last_audit_results] == [c.control_id for c in after_predict]
    # A probability is not a class: the multi-class control says so (its
    # table would have a million cells per group) instead of grinding.
    parity = model.last_audit_results["model-gender-parity"]
    assert parity.status == "error" and "distinct values together" in parity.reason
    assert vl.retain(model.last_audit_results) is model.last_audit_results
    with pytest.raises(TypeError):
        vl.retain("everything")


def test_policy_manager_round_trips_and_validates_with_the_engine(project):
    pm = vl.PolicyManager(str(project / "governance"))
    assert pm.load() == {"title": "New Policy", "controls": []}
    good = {
        "title": "Model policy",
        "controls": [{"id": "acc", "metric_key": "accuracy_score", "operator": ">", "threshold": 0.7}],
    }
    assert pm.validate(good) == []
    assert pm.save(good) and pm.load() == good
    assert (project / "governance" / "model_policy.oscal.yaml").exists()
    bad = {"title": "x", "controls": [{"id": "a", "metric_key": "acuracy", "operator": ">", "threshold": 1}]}
    (problem,) = pm.validate(bad)
    assert 'unknown metric_key "acuracy"' in problem and "accuracy" in problem
    with pytest.raises(ValueError, match="not valid"):
        pm.save(bad)
    assert pm.get_schema()["required"] == ["title", "controls"]


def _script_output(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


def test_an_sdk_style_script_runs_unchanged_in_python_and_through_the_proxied_kernel(kernel_env, tmp_path):
    plain = subprocess.run(
        [sys.executable, str(SCRIPT)], cwd=tmp_path, capture_output=True, text=True, check=False, env=os.environ
    )
    assert plain.returncode == 0, plain.stderr
    out = _script_output(plain.stdout)
    assert out["passed"]
    assert set(out["all"]) == {"data-balance", "model-gender-di", "model-age-fpr", "model-gender-parity"}
    # accuracy_score over 1/2 labels: the engine's positive class is 1, and
    # accuracy does not depend on which class is positive.
    assert out["calc_accuracy"] == pytest.approx(out["accuracy"], abs=1e-12)
    assert out["fit"] == {"data-balance": pytest.approx(300 / 700, rel=1e-12)}
    assert out["predict"] == {k: v[1] for k, v in out["all"].items() if k != "data-balance"}
    # The SDK's idioms: results[0], and the 1/2-coded target as an error
    # result (said on stderr) while the script goes on.
    assert out["first"] == ["data-balance", out["all"]["data-balance"][0] == "pass"]
    assert out["unlabelled"] == ["error", False, False]
    assert "credit-gender-di (disparate_impact) could not be evaluated" in plain.stderr
    model = tmp_path / "model.pkl"
    assert out["model_sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()

    with kernel_env.kernel() as (_, kc):
        reply, outputs = run_cell(kc, f"exec(open({str(SCRIPT)!r}).read(), {{'__file__': {str(SCRIPT)!r}}})")
    assert reply["content"]["status"] == "ok", reply["content"]
    streams = [o["content"] for o in outputs if o["msg_type"] == "stream"]
    stdout = "".join(s["text"] for s in streams if s["name"] == "stdout")
    kernel_out = _script_output(stdout)
    # Same data, same split, same numbers (the pickled model's bytes may differ).
    assert {k: v for k, v in kernel_out.items() if k != "model_sha256"} == {
        k: v for k, v in out.items() if k != "model_sha256"
    }
    assert any("could not be evaluated" in s["text"] for s in streams if s["name"] == "stderr")
    kinds = [e["kind"] for e in kernel_env.events()]
    assert kinds.count("enforce") == 5
    (window,) = kernel_env.events("monitor")
    assert window["payload"]["label"] == "logistic-regression"
    (output,) = window["payload"]["artifacts"]["outputs"]
    assert output["sha256"] == kernel_out["model_sha256"] and output["path"].endswith("model.pkl")


def _control(cid: str, metric: str, **props: str) -> dict:
    return {
        "control-id": cid,
        "props": [{"name": "metric_key", "value": metric}, {"name": "operator", "value": ">="}]
        + [{"name": "threshold", "value": "-1"}]
        + [{"name": k.replace("__", "."), "value": v} for k, v in props.items()],
    }


def _policy(*controls: dict) -> dict:
    return {
        "component-definition": {
            "uuid": "multiclass",
            "metadata": {"title": "Multi-class", "version": "1"},
            "components": [
                {"uuid": "c", "control-implementations": [{"uuid": "i", "implemented-requirements": list(controls)}]}
            ],
        }
    }


def _multiclass_frame(seed: int, groups: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 4000
    y = rng.choice(["low", "mid", "high"], n, p=[0.5, 0.3, 0.2])
    noise = rng.choice(["low", "mid", "high"], n)
    g = rng.choice([f"g{i}" for i in range(groups)], n)
    # Each group is right at its own rate, so every disparity is non-zero.
    right = rng.random(n) < np.array([0.5 + 0.1 * int(x[1:]) for x in g])
    return pd.DataFrame({"y": y, "p": np.where(right, y, noise), "g": g})


@pytest.mark.parametrize("groups", [2, 3, 8])
def test_multiclass_fairness_matches_fairlearn_one_vs_rest(project, groups):
    df = _multiclass_frame(groups, groups)
    io = {"input__dimension": "group", "input__prediction": "prediction"}
    keys = {
        "dp-max": ("multiclass_demographic_parity", {}),
        "dp-macro": ("multiclass_demographic_parity", {"aggregation": "macro"}),
        "dp-weighted": ("weighted_demographic_parity_multiclass", {}),
        "eo-max": ("multiclass_equal_opportunity", {}),
        "eo-macro": ("macro_equal_opportunity_multiclass", {}),
        "eo-weighted": ("multiclass_equal_opportunity", {"aggregation": "weighted"}),
        "eo-micro": ("multiclass_equal_opportunity", {"aggregation": "micro"}),
        "odds-micro": ("micro_equalized_odds_multiclass", {}),
        "pp-max": ("predictive_parity_multiclass", {}),
        "pp-macro": ("predictive_parity_multiclass", {"aggregation": "macro"}),
        "confusion": ("multiclass_confusion_metrics", {}),
    }
    policy = _policy(*(_control(cid, key, **io, **params) for cid, (key, params) in keys.items()))
    results = vl.enforce(data=df, policy=policy, target="y", prediction="p", group="g")
    got = {c.control_id: c.actual_value for c in results}

    classes = sorted(set(df["y"]) | set(df["p"]))

    def per_class(metric) -> list[float]:
        return [
            flm.MetricFrame(
                metrics=metric, y_true=df["y"] == c, y_pred=df["p"] == c, sensitive_features=df["g"]
            ).difference()
            for c in classes
        ]

    sel, tpr, ppv = per_class(flm.selection_rate), per_class(skm.recall_score), per_class(skm.precision_score)
    by_pred = np.array([(df["p"] == c).sum() for c in classes])
    by_true = np.array([(df["y"] == c).sum() for c in classes])
    accuracy = flm.MetricFrame(metrics=skm.accuracy_score, y_true=df["y"], y_pred=df["p"], sensitive_features=df["g"])
    errors = (df["y"] != df["p"]).groupby(df["g"]).mean() / (len(classes) - 1)  # pooled FPR per group
    expected = {
        "dp-max": max(sel),
        "dp-macro": np.mean(sel),
        "dp-weighted": np.average(sel, weights=by_pred),
        "eo-max": max(tpr),
        "eo-macro": np.mean(tpr),
        "eo-weighted": np.average(tpr, weights=by_true),
        "eo-micro": accuracy.difference(),
        "odds-micro": max(accuracy.difference(), errors.max() - errors.min()),
        "pp-max": max(ppv),
        "pp-macro": np.mean(ppv),
        "confusion": skm.accuracy_score(df["y"], df["p"]),
    }
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)
    # Bootstrap intervals, as for binary metrics: the value lies inside.
    for c in results:
        assert c.ci_low <= c.actual_value <= c.ci_high, (c.control_id, c.ci)
    # The breakdown: one row per group and class, one accuracy row per group.
    assert len(results["confusion"].groups) == groups * (len(classes) + 1)


def test_multiclass_errors_are_specific(project):
    df = _multiclass_frame(1, 2)
    io = {"input__dimension": "group", "input__prediction": "prediction"}
    bad_agg = _policy(_control("dp", "multiclass_demographic_parity", aggregation="micro", **io))
    (r,) = vl.enforce(data=df, policy=bad_agg, target="y", prediction="p", group="g", strict=False)
    assert r.status == "error" and "aggregates with max, macro, weighted" in r.reason
    missing = df.assign(p=df["p"].where(df.index % 50 != 0))
    (r,) = vl.enforce(
        data=missing,
        policy=_policy(_control("eo", "multiclass_equal_opportunity", **io)),
        target="y",
        prediction="p",
        group="g",
        strict=False,
    )
    assert r.status == "error" and "80 missing value(s)" in r.reason


def test_age_buckets_are_pandas_qcut_and_external_metrics_say_why(project):
    df = vl.load_sample("loan", verbose=False)
    df["good"] = (df["class"] == 1).astype(int)
    age = {"input__dimension": "age", "input__target": "target"}
    policy = _policy(
        _control("q3", "disparate_impact", age_bucket_method="quantiles", age_buckets="3", **age),
        _control("q4", "demographic_parity_diff", age_bucket_method="quantiles", age_buckets="4", **age),
        _control("no-method", "disparate_impact", age_buckets="3", **age),
        _control("causal", "counterfactual_fairness"),
    )
    results = vl.enforce(data=df, policy=policy, target="good", age="Attribute13", strict=False)
    by_id = {c.control_id: c for c in results}
    for cid, q, metric in [("q3", 3, flm.demographic_parity_ratio), ("q4", 4, flm.demographic_parity_difference)]:
        buckets = pd.qcut(df["Attribute13"], q=q, duplicates="drop")
        assert by_id[cid].actual_value == pytest.approx(
            metric(df["good"], df["good"], sensitive_features=buckets.astype(str)), rel=1e-12
        )
        assert {g["n"] for g in by_id[cid].groups} == set(buckets.value_counts())
    # Without the method the SDK does not bucket either; the result says so.
    assert any("age_buckets" in w for w in by_id["no-method"].warnings)
    causal = by_id["causal"]
    assert causal.status == "error" and "causal model" in causal.reason and "enforce(metrics=" in causal.reason
    checked = vl.enforce(policy=_policy(_control("causal", "counterfactual_fairness")), metrics={"causal": 0.02})
    assert checked.passed


WRAP_POLICY = """\
- id: di
  metric_key: disparate_impact
  operator: ">="
  threshold: 0.5
  input.dimension: gender
  input.target: target
"""


def test_wrap_routes_a_pipelines_keywords_as_the_sdk_reads_them(project):
    """The samples' 04 script: ``Pipeline.fit`` takes ``**params`` and
    refuses what is not ``step__param``. The policy's variables and string
    keywords (column names) stay with the audit; a step's own parameter
    still reaches the step."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    (project / "wrap.yaml").write_text(WRAP_POLICY)
    df = vl.load_sample("loan", verbose=False)
    df["target"] = (df["class"] == 1).astype(int)
    features = ["Attribute2", "Attribute5", "Attribute13"]
    weights = np.where(df["Attribute9"] == "A92", 3.0, 1.0)

    def pipeline():
        return Pipeline([("s", StandardScaler()), ("m", LogisticRegression(max_iter=500))])

    wrapped = vl.wrap(pipeline(), policy=project / "wrap.yaml")
    wrapped.fit(
        df[features],
        df["target"],
        audit_data=df,
        gender="Attribute9",  # the policy's variable
        age_group="age_group",  # not the policy's, not a column: the audit's, as in the SDK
        m__sample_weight=weights,  # the step's own
    )
    plain = pipeline().fit(df[features], df["target"], m__sample_weight=weights)
    np.testing.assert_allclose(wrapped.named_steps["m"].coef_, plain.named_steps["m"].coef_)
    (di,) = wrapped.last_audit_results
    expected = flm.demographic_parity_ratio(df["target"], df["target"], sensitive_features=df["Attribute9"])
    assert di.actual_value == pytest.approx(expected, rel=1e-12)


def test_interval_bins_are_groups_named_by_their_labels(project):
    """``pd.cut`` bins (an interval categorical, an Arrow extension type the
    engine cannot read) are grouped by their labels, with pandas' counts."""
    df = vl.load_sample("loan", verbose=False)
    df["age_bin"] = pd.cut(df["Attribute13"], bins=5)
    df.loc[df.index[:3], "age_bin"] = np.nan
    from venturalitica.metrics import calc_k_anonymity

    k = calc_k_anonymity(df[["age_bin", "Attribute9"]], quasi_identifiers=["age_bin", "Attribute9"])
    # A missing bin is a group of its own, as the engine counts nulls.
    sizes = df[["age_bin", "Attribute9"]].astype("string").fillna("<null>").value_counts()
    assert k == sizes.min()
    (project / "wrap.yaml").write_text(WRAP_POLICY)
    scored = df.dropna(subset=["age_bin"]).assign(target=lambda d: (d["class"] == 1).astype(int))
    (di,) = vl.enforce(scored, policy=project / "wrap.yaml", gender="age_bin")
    assert [g["group"] for g in di.groups] == [str(i) for i in df["age_bin"].cat.categories]
    expected = flm.demographic_parity_ratio(
        scored["target"], scored["target"], sensitive_features=scored["age_bin"].astype(str)
    )
    assert di.actual_value == pytest.approx(expected, rel=1e-12)
