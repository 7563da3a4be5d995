"""Every metric, computed by `venturalitica enforce`, against fairlearn and
scikit-learn on the same data (tolerance 1e-9), for 2, 3 and 8 groups."""

from __future__ import annotations

import math

import fairlearn.metrics as flm
import numpy as np
import pandas as pd
import pytest
import scipy.stats
import sklearn.metrics as skm
import yaml

TOL = 1e-9


def make_data(n_groups: int, n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed + n_groups)
    group = rng.integers(0, n_groups, n)
    # Group-dependent base rates and error rates, so metrics differ by group.
    p_true = 0.3 + 0.4 * group / max(n_groups - 1, 1)
    y = (rng.random(n) < p_true).astype(np.int64)
    flip = rng.random(n) < (0.1 + 0.05 * group / max(n_groups - 1, 1))
    y_pred = np.where(flip, 1 - y, y).astype(np.int64)
    return pd.DataFrame(
        {
            "group": pd.Series([f"g{g}" for g in group]),
            "target": y,
            "prediction": y_pred,
            "age": rng.integers(18, 80, n),
            "zip": rng.choice(["1000", "2000", "3000"], n),
            "diagnosis": rng.choice(["flu", "cold", "none", "asthma"], n, p=[0.2, 0.3, 0.4, 0.1]),
            "income": np.where(rng.random(n) < 0.05, np.nan, rng.normal(3000, 500, n)),
            "email": [f"u{i}@x.org" for i in range(n)],
            # A per-case score (a Dice), lower in higher groups; drawn last
            # so the other columns stay as they were.
            "dice": np.clip(0.9 - 0.04 * group + rng.normal(0, 0.05, n), 0, 1),
        }
    )


def control(cid, metric, **props):
    props = {"operator": ">=", "threshold": "-1000", **props}
    return {
        "control-id": cid,
        "props": [{"name": "metric_key", "value": metric}]
        + [{"name": k.replace("__", "."), "value": str(v)} for k, v in props.items()],
    }


def policy_doc() -> dict:
    fair = {"input__dimension": "group"}
    model = {"input__dimension": "group", "input__prediction": "prediction"}
    controls = [
        control("di-label", "disparate_impact", **fair),
        control("di-model", "disparate_impact", **model),
        control("dpd-model", "demographic_parity_diff", **model),
        control("sel", "selection_rate", **model),
        control("gmpr", "group_min_positive_rate", **fair),
        control("eop", "equal_opportunity_diff", **model),
        control("eod", "equalized_odds_diff", **model),
        control("eor", "equalized_odds_ratio", **model),
        control("pp", "predictive_parity", **model),
        control("ped", "predictive_equality_diff", **model),
        control("acc", "accuracy_score", input__prediction="prediction"),
        control("prec", "precision_score", input__prediction="prediction"),
        control("rec", "recall_score", input__prediction="prediction"),
        control("f1", "f1_score", input__prediction="prediction"),
        control("imb", "class_imbalance"),
        control("complete", "data_completeness"),
        control("k", "k_anonymity", input__quasi_identifiers="age, zip"),
        control("l", "l_diversity", input__quasi_identifiers="zip", input__sensitive="diagnosis"),
        control("t", "t_closeness", input__quasi_identifiers="zip", input__sensitive="diagnosis"),
        control("min", "data_minimization"),
        control("prec-macro", "precision_score", input__prediction="prediction", average="macro"),
        control("rec-weighted", "recall_score", input__prediction="prediction", average="weighted"),
        control("f1-micro", "f1_score", input__prediction="prediction", average="micro"),
        control("s-mean", "mean_score", input__score="dice"),
        control("s-max", "max_score", input__score="dice"),
        control("s-col", "column_mean", input__target="age"),
        control("s-min-group", "min_group_score", input__score="dice", **fair),
        control("s-gap", "score_gap", input__score="dice", **fair),
        control("s-ratio", "score_ratio", input__score="dice", **fair),
        control("s-std", "score_std", input__score="dice", **fair),
        control("s-cv", "score_cv", input__score="dice", **fair),
        control("s-skew", "subgroup_disparity", input__score="dice", measure="skew", **fair),
        control("s-essp", "es_dice", input__score="dice", **fair),
        control("s-essp-std", "essp_stdev", input__score="dice", **fair),
        control("s-cell", "worst_cell_score", input__score="dice", dimensions="group, zip"),
    ]
    return {
        "component-definition": {
            "uuid": "crosscheck",
            "metadata": {"title": "Cross-check", "version": "1"},
            "components": [
                {
                    "uuid": "c",
                    "control-implementations": [{"uuid": "i", "implemented-requirements": controls}],
                }
            ],
        }
    }


SCORE_KEYS = {"mean_score", "max_score", "column_mean", "min_group_score", "score_gap", "score_ratio", "score_std"}
SCORE_KEYS |= {"score_cv", "subgroup_disparity", "es_dice", "essp_stdev", "worst_cell_score"}


def expected(df: pd.DataFrame) -> dict[str, float]:
    y, p, g = df["target"], df["prediction"], df["group"]
    mf_prec = flm.MetricFrame(metrics=skm.precision_score, y_true=y, y_pred=p, sensitive_features=g)
    mf_rate = flm.MetricFrame(metrics=flm.selection_rate, y_true=y, y_pred=y, sensitive_features=g)
    overall = df["diagnosis"].value_counts(normalize=True)
    tcl = max(
        0.5 * (sub["diagnosis"].value_counts(normalize=True).reindex(overall.index, fill_value=0) - overall).abs().sum()
        for _, sub in df.groupby("zip")
    )
    counts = y.value_counts()
    # The score family, by its definitions (docs/metrics.md), in pandas.
    dice = df["dice"]
    means = dice.groupby(g).mean()
    overall, spread = dice.mean(), means.std(ddof=0)
    return {
        "prec-macro": skm.precision_score(y, p, average="macro"),
        "rec-weighted": skm.recall_score(y, p, average="weighted"),
        "f1-micro": skm.f1_score(y, p, average="micro"),
        "s-mean": overall,
        "s-max": dice.max(),
        "s-col": df["age"].mean(),
        "s-min-group": means.min(),
        "s-gap": means.max() - means.min(),
        "s-ratio": means.min() / means.max(),
        "s-std": spread,
        "s-cv": spread / means.mean(),
        "s-skew": scipy.stats.skew(means.to_numpy(), bias=True),
        "s-essp": overall / (1 + (overall - means).abs().sum()),
        "s-essp-std": overall / (1 + spread),
        "s-cell": dice.groupby([g, df["zip"]]).mean().min(),
        "di-label": flm.demographic_parity_ratio(y, y, sensitive_features=g),
        "di-model": flm.demographic_parity_ratio(y, p, sensitive_features=g),
        "dpd-model": flm.demographic_parity_difference(y, p, sensitive_features=g),
        "sel": flm.selection_rate(y, p),
        "gmpr": mf_rate.group_min(),
        "eop": flm.equal_opportunity_difference(y, p, sensitive_features=g),
        "eod": flm.equalized_odds_difference(y, p, sensitive_features=g),
        "eor": flm.equalized_odds_ratio(y, p, sensitive_features=g),
        "pp": mf_prec.difference(),
        "ped": flm.MetricFrame(metrics=flm.false_positive_rate, y_true=y, y_pred=p, sensitive_features=g).difference(),
        "acc": skm.accuracy_score(y, p),
        "prec": skm.precision_score(y, p),
        "rec": skm.recall_score(y, p),
        "f1": skm.f1_score(y, p),
        "imb": counts.min() / counts.max(),
        "complete": 1 - df.isna().sum().sum() / df.size,
        "k": df.groupby(["age", "zip"]).size().min(),
        "l": df.groupby("zip")["diagnosis"].nunique().min(),
        "t": tcl,
        "min": 1 - 1 / df.shape[1],  # only `email` is in the default sensitive list
    }


@pytest.fixture(params=[2, 3, 8], ids=lambda k: f"{k}groups")
def dataset(request, tmp_path):
    df = make_data(request.param)
    data = tmp_path / "data.parquet"
    df.to_parquet(data)
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump(policy_doc(), sort_keys=False))
    return df, data, policy


def test_every_metric_matches_fairlearn_and_sklearn(vl, dataset):
    df, data, policy = dataset
    run = vl("enforce", "--data", data, "--policy", policy, "--format", "json", "--no-record")
    assert run.code == 0, run.stderr + run.stdout
    results = {c["id"]: c for c in run.json()["controls"]}
    for cid, want in expected(df).items():
        got = results[cid]
        assert got["status"] == "pass", (cid, got)
        assert math.isclose(got["actual_value"], float(want), rel_tol=0, abs_tol=TOL), (cid, got["actual_value"], want)


def test_per_group_rates_match_metricframe(vl, dataset):
    df, data, policy = dataset
    controls = {
        c["id"]: c
        for c in vl("enforce", "--data", data, "--policy", policy, "--format", "json", "--no-record").json()["controls"]
    }
    y, p, g = df["target"], df["prediction"], df["group"]
    mf = flm.MetricFrame(
        metrics={"tpr": flm.true_positive_rate, "fpr": flm.false_positive_rate, "sel": flm.selection_rate},
        y_true=y,
        y_pred=p,
        sensitive_features=g,
    )
    groups = {row["group"]: row for row in controls["eod"]["groups"]}
    assert set(groups) == set(mf.by_group.index)
    for name, row in mf.by_group.iterrows():
        assert math.isclose(groups[name]["rates"]["true_positive_rate"], row["tpr"], abs_tol=TOL)
        assert math.isclose(groups[name]["rates"]["false_positive_rate"], row["fpr"], abs_tol=TOL)
        assert math.isclose(groups[name]["rates"]["selection_rate"], row["sel"], abs_tol=TOL)
        assert groups[name]["n"] == int((g == name).sum())


def test_confidence_intervals_bracket_the_value_and_are_seeded(vl, dataset):
    _, data, policy = dataset
    args = ("enforce", "--data", data, "--policy", policy, "--format", "json", "--no-record")
    first = {c["id"]: c for c in vl(*args).json()["controls"]}
    second = {c["id"]: c for c in vl(*args).json()["controls"]}
    for cid in ["di-model", "eod", "acc", "imb"]:
        ci = first[cid]["ci"]
        assert ci["resamples"] == 1000 and ci["seed"] == 42 and ci["level"] == 0.95
        assert ci["lower"] <= first[cid]["actual_value"] <= ci["upper"], (cid, ci)
        assert ci == second[cid]["ci"], "same seed, same interval"
    assert first["k"]["ci"] is None, "k-anonymity is not a sampling statistic"


def test_design_hand_check_vector(vl, tmp_path):
    df = pd.DataFrame(
        {
            "sex": [1, 1, 1, 1, 1, 0, 0, 0, 0, 0],
            "y": [1, 1, 0, 0, 1, 1, 0, 0, 0, 1],
            "yhat": [1, 1, 1, 0, 1, 0, 0, 1, 0, 1],
        }
    )
    df.to_csv(tmp_path / "v.csv", index=False)
    model = {"input__dimension": "sex", "input__prediction": "prediction"}
    doc = [
        {"id": c["control-id"], "props": c["props"]}
        for c in [
            control("dpd", "demographic_parity_diff", **model),
            control("dpr", "disparate_impact", **model),
            control("eod", "equalized_odds_diff", **model),
            control("eop", "equal_opportunity_diff", **model),
        ]
    ]
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(doc))
    run = vl(
        "enforce", "--data", "v.csv", "--policy", "p.yaml", "--target", "y", "--prediction", "yhat", "--format", "json"
    )
    got = {c["id"]: c["actual_value"] for c in run.json()["controls"]}
    assert got == pytest.approx({"dpd": 0.4, "dpr": 0.5, "eod": 0.5, "eop": 0.5}, abs=1e-12)


def test_streaming_gives_the_same_results_as_in_memory(vl, dataset):
    _, data, policy = dataset
    args = ("enforce", "--data", data, "--policy", policy, "--format", "json", "--no-record")
    memory, streamed = vl(*args).json(), vl(*args, "--streaming").json()
    for key in ["evaluated_at"]:
        memory.pop(key), streamed.pop(key)
    # Counts are exact either way; a sum of float scores depends on the
    # order it is added in, so the score family agrees to the tolerance.
    # (Lengths checked, not zip(strict=): these tests run on Python 3.9 too.)
    assert len(memory["controls"]) == len(streamed["controls"])
    for a, b in zip(memory["controls"], streamed["controls"]):  # noqa: B905 - lengths asserted
        if a["metric_key"] in SCORE_KEYS:
            assert math.isclose(a.pop("actual_value"), b.pop("actual_value"), rel_tol=0, abs_tol=TOL), a["id"]
            groups_a, groups_b = a.pop("groups"), b.pop("groups")
            assert len(groups_a) == len(groups_b)
            for ga, gb in zip(groups_a, groups_b):  # noqa: B905 - lengths asserted
                assert ga["n"] == gb["n"] and ga["rates"] == pytest.approx(gb["rates"], abs=TOL)
    assert streamed == memory


DI_CI = """\
- id: di
  metric_key: disparate_impact
  operator: ">="
  threshold: 0.0
  input.dimension: g
  input.target: y
  bootstrap_resamples: {resamples}
"""


def _two_groups(n_a: int, n_b: int, rng: np.random.Generator | None = None) -> pd.DataFrame:
    """Group a with rate 0.6, b with rate 0.45 (exactly, or drawn from `rng`)."""
    if rng is None:
        y = [1] * (n_a * 3 // 5) + [0] * (n_a - n_a * 3 // 5) + [1] * (n_b * 9 // 20) + [0] * (n_b - n_b * 9 // 20)
    else:
        y = list((rng.random(n_a) < 0.6).astype(int)) + list((rng.random(n_b) < 0.45).astype(int))
    return pd.DataFrame({"g": ["a"] * n_a + ["b"] * n_b, "y": y})


def _di(g: np.ndarray, y: np.ndarray) -> float:
    rates = [y[g == k].mean() if (g == k).any() else math.nan for k in ("a", "b")]
    return min(rates) / max(rates)


def test_intervals_agree_with_scipys_bootstrap(tmp_path, monkeypatch):
    """The same percentile interval as scipy.stats.bootstrap resampling rows
    (ours draws the count table's multinomial instead): equal up to the two
    Monte Carlo errors, 4000 resamples each (about 0.005 per end)."""
    import venturalitica as vl

    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text(DI_CI.format(resamples=4000))
    df = _two_groups(300, 200)
    ours = vl.enforce(df, policy="p.yaml", record=False).to_dict()["controls"][0]
    assert ours["actual_value"] == pytest.approx(0.75, abs=TOL)
    theirs = scipy.stats.bootstrap(
        (df["g"].to_numpy(), df["y"].to_numpy()),
        _di,
        paired=True,
        vectorized=False,
        n_resamples=4000,
        confidence_level=0.95,
        method="percentile",
        random_state=np.random.default_rng(0),
    ).confidence_interval
    assert ours["ci"]["lower"] == pytest.approx(theirs.low, abs=0.02), (ours["ci"], theirs)
    assert ours["ci"]["upper"] == pytest.approx(theirs.high, abs=0.02), (ours["ci"], theirs)


def test_intervals_cover_the_true_value_about_as_often_as_they_say(tmp_path, monkeypatch):
    """300 samples of a population whose disparate impact is 0.75: the 95 %
    intervals hold it in 88–99 % of them (a binomial spread of ±1.3 % around
    the percentile bootstrap's own coverage). Seeded: the same every run."""
    import venturalitica as vl

    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text(DI_CI.format(resamples=1000))
    rng = np.random.default_rng(7)
    covered = 0
    for _ in range(300):
        ci = vl.enforce(_two_groups(150, 100, rng), policy="p.yaml", record=False).to_dict()["controls"][0]["ci"]
        covered += ci["lower"] <= 0.75 <= ci["upper"]
    assert 0.88 <= covered / 300 <= 0.99, covered
