"""Drift against a recorded reference (docs/metrics.md, "Drift").

Each statistic is cross-checked on the same binning against its oracle:
scipy's ``ks_2samp``, ``kstwobign``, ``wasserstein_distance``,
``jensenshannon`` and ``chi2_contingency``, and Evidently's own PSI; the
raw samples' KS statistic and Wasserstein distance must lie within the
bounds the result states. The same controls give equal values on pandas,
polars, pyarrow, DuckDB and Spark; a reference altered after it was
recorded is refused by enforce and found by verify."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import jsonschema
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
import venturalitica as vl
import yaml
from scipy import stats
from scipy.spatial.distance import jensenshannon
from test_engines import SPARK, SPARK_COUNTING, spark, spark_for  # noqa: F401 (the fixture)

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "schemas" / "results.schema.json").read_text())
NUMERIC = ["income", "age"]
CATEGORICAL = ["region", "owner"]
# The drift statistics are sums over at most a hundred bins.
TOL = 1e-9


def frames(seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A reference and a current sample that moved: income up 8 %, ages
    older, one region rarer and one never seen before."""
    rng = np.random.default_rng(seed)

    def sample(n: int, shift: float, regions: list[float], names: list[str]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "income": rng.lognormal(10.0, 0.6, n) * (1 + shift),
                "age": rng.integers(18, 70, n) + int(shift * 40),
                "region": rng.choice(names, n, p=regions),
                "owner": rng.random(n) < 0.4 + shift,
            }
        )

    reference = sample(5000, 0.0, [0.4, 0.3, 0.2, 0.1], ["north", "south", "east", "it's \\ odd"])
    current = sample(4000, 0.08, [0.5, 0.3, 0.05, 0.1, 0.05], ["north", "south", "east", "it's \\ odd", "west"])
    return reference, current


def drift_policy(reference: str | None = "train") -> list[dict]:
    def c(cid: str, key: str, op: str, threshold: float, features: str, **params: str) -> dict:
        out = {"id": cid, "metric_key": key, "operator": op, "threshold": threshold, "input.feature": features}
        if reference is not None:
            out["input.reference"] = reference
        out.update(params)
        return out

    return [
        c("psi-income", "psi", "<", 0.1, "income"),
        c("psi-region", "psi", "<", 0.1, "region"),
        c("js-income", "jensen_shannon_distance", "<", 0.1, "income", drift_bins="20"),
        c("js-region", "jensen_shannon_distance", "<", 0.1, "region"),
        c("ks-income", "ks_statistic", "<", 0.05, "income"),
        c("ksp-age", "ks_p_value", ">=", 0.05, "age"),
        c("w-income", "wasserstein_distance", "<", 500.0, "income"),
        c("chi2-region", "chi2_p_value", ">=", 0.05, "region"),
        c("chi2-income", "chi2_p_value", ">=", 0.05, "income"),
        c("share", "drifted_share", "<=", 0.25, "income, age, region, owner", alpha="0.01"),
    ]


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'drift'\n")
    monkeypatch.chdir(tmp_path)
    policy = tmp_path / "drift.yaml"
    policy.write_text(yaml.safe_dump(drift_policy(), sort_keys=False))
    return tmp_path


def snapshot(project: Path, sha: str) -> dict:
    return json.loads((project / ".venturalitica" / "references" / f"{sha}.json").read_text())


def bins_of(edges: list[float], x: np.ndarray) -> np.ndarray:
    """Right-closed bin index: the number of interior edges below x."""
    return np.searchsorted(np.asarray(edges), x, side="left")


def evidently_psi(reference: np.ndarray, current: np.ndarray) -> float:
    """Evidently's PSI on the samples as categories (its path for features
    with few values), here the bin of each value: the same binning.

    Evidently 0.7.23 does not import under pandas 3 (``ImportError:
    infer_dtype_from_object``), so this is its ``_psi`` and
    ``get_binned_data`` (``evidently/legacy/calculations/stattests/psi.py``,
    ``utils.py``) line for line; ``bench/drift_bench.py`` runs Evidently
    itself in a venv of its own."""
    reference_data, current_data = pd.Series(reference), pd.Series(current)
    keys = list(set(reference_data.dropna().unique()) | set(current_data.dropna().unique()))
    ref_feature_dict = {**dict.fromkeys(keys, 0), **dict(reference_data.value_counts())}
    current_feature_dict = {**dict.fromkeys(keys, 0), **dict(current_data.value_counts())}
    reference_percents = np.array([ref_feature_dict[key] / len(reference_data) for key in keys])
    current_percents = np.array([current_feature_dict[key] / len(current_data) for key in keys])
    for percents in (reference_percents, current_percents):
        smallest = min(percents[percents != 0])
        np.place(percents, percents == 0, smallest / 10**6 if smallest <= 0.0001 else 0.0001)
    psi_values = (reference_percents - current_percents) * np.log(reference_percents / current_percents)
    return float(np.sum(psi_values))


def merged(counts: np.ndarray, k: int) -> np.ndarray:
    f = len(counts)
    return np.array([counts[j * f // k : (j + 1) * f // k].sum() for j in range(k)])


def test_each_statistic_equals_its_oracle_on_the_same_binning(project):
    reference, current = frames()
    recorded = vl.reference(reference, name="train")
    assert recorded["rows"] == 5000 and recorded["columns"] == {
        "age": "numeric",
        "income": "numeric",
        "owner": "categorical",
        "region": "categorical",
    }
    snap = snapshot(project, recorded["reference_sha256"])
    # No row is kept: only bin edges and counts, whatever the rows.
    assert set(snap["columns"]["income"]) == {"kind", "nulls", "edges", "bins"}
    levels = np.arange(1, 100) / 100
    for name in NUMERIC:
        np.testing.assert_allclose(
            snap["columns"][name]["edges"], np.quantile(reference[name], levels), rtol=0, atol=1e-9
        )
    results = vl.enforce(current, "drift.yaml", strict=True)
    doc = results.to_dict()
    jsonschema.validate(doc, SCHEMA)
    by_id = {c["id"]: c for c in doc["controls"]}
    value = {cid: c["actual_value"] for cid, c in by_id.items()}
    assert all(c["status"] in ("pass", "fail") for c in by_id.values()), [c["reason"] for c in by_id.values()]

    edges = {n: snap["columns"][n]["edges"] for n in NUMERIC}
    rb = {n: bins_of(edges[n], reference[n].to_numpy()) for n in NUMERIC}
    cb = {n: bins_of(edges[n], current[n].to_numpy()) for n in NUMERIC}
    counts = {n: (np.bincount(rb[n], minlength=100), np.bincount(cb[n], minlength=100)) for n in NUMERIC}

    # PSI: Evidently's own function over the deciles (100 bins merged by 10), and over the categories.
    deciles = {n: (rb[n] * 10 // 100, cb[n] * 10 // 100) for n in NUMERIC}
    assert abs(value["psi-income"] - evidently_psi(*deciles["income"])) < TOL
    assert abs(value["psi-region"] - evidently_psi(reference["region"].to_numpy(), current["region"].to_numpy())) < TOL

    # Jensen-Shannon: scipy over 20 merged bins, and over the categories (union, the unseen one included).
    r20, c20 = merged(counts["income"][0], 20), merged(counts["income"][1], 20)
    assert abs(value["js-income"] - jensenshannon(r20 / r20.sum(), c20 / c20.sum())) < TOL
    cats = sorted(set(reference["region"]) | set(current["region"]))
    rc = reference["region"].value_counts().reindex(cats, fill_value=0).to_numpy()
    cc = current["region"].value_counts().reindex(cats, fill_value=0).to_numpy()
    assert abs(value["js-region"] - jensenshannon(rc / rc.sum(), cc / cc.sum())) < TOL

    # KS: scipy's statistic on the bins; the raw samples' within the stated bounds.
    binned = stats.ks_2samp(rb["income"], cb["income"]).statistic
    assert abs(value["ks-income"] - binned) < TOL
    lower, upper = by_id["ks-income"]["drift"]["raw_bounds"]
    raw = stats.ks_2samp(reference["income"], current["income"]).statistic
    assert lower - TOL <= raw <= upper + TOL, (lower, raw, upper)
    # Its p-value: the Kolmogorov distribution at sqrt(nm/(n+m)) D.
    d_age = stats.ks_2samp(rb["age"], cb["age"]).statistic
    en = 5000 * 4000 / 9000
    assert abs(value["ksp-age"] - stats.kstwobign.sf(math.sqrt(en) * d_age)) < TOL

    # Wasserstein: scipy on the bins' means weighted by their rows; the raw distance within the slack.
    def means(x: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keep = np.bincount(b, minlength=100) > 0
        sums = np.bincount(b, weights=x, minlength=100)
        n = np.bincount(b, minlength=100)
        return (sums[keep] / n[keep]), n[keep]

    mr, wr = means(reference["income"].to_numpy(), rb["income"])
    mc, wc = means(current["income"].to_numpy(), cb["income"])
    assert abs(value["w-income"] - stats.wasserstein_distance(mr, mc, wr, wc)) < 1e-6
    lower, upper = by_id["w-income"]["drift"]["raw_bounds"]
    assert lower <= stats.wasserstein_distance(reference["income"], current["income"]) <= upper

    # Chi-squared: scipy's test of homogeneity, no continuity correction, on the categories and the deciles.
    assert abs(value["chi2-region"] - stats.chi2_contingency([rc, cc], correction=False).pvalue) < TOL
    rd, cd = merged(counts["income"][0], 10), merged(counts["income"][1], 10)
    keep = (rd + cd) > 0
    assert abs(value["chi2-income"] - stats.chi2_contingency([rd[keep], cd[keep]], correction=False).pvalue) < TOL

    # The share: each feature's own test (KS on the bins, chi-squared on categories) at alpha 0.01.
    ps = {
        "income": stats.kstwobign.sf(math.sqrt(en) * stats.ks_2samp(rb["income"], cb["income"]).statistic),
        "age": stats.kstwobign.sf(math.sqrt(en) * d_age),
    }
    for name in CATEGORICAL:
        cats = sorted(set(reference[name].astype(str).str.lower()) | set(current[name].astype(str).str.lower()))
        r = reference[name].astype(str).str.lower().value_counts().reindex(cats, fill_value=0)
        c = current[name].astype(str).str.lower().value_counts().reindex(cats, fill_value=0)
        ps[name] = stats.chi2_contingency([r.to_numpy(), c.to_numpy()], correction=False).pvalue
    drifted = sorted(n for n, p in ps.items() if p < 0.01)
    assert value["share"] == len(drifted) / 4
    assert sorted(by_id["share"]["drift"]["drifted"]) == drifted
    groups = {g["group"]: g["rates"] for g in by_id["share"]["groups"]}
    for name, p in ps.items():
        assert abs(groups[name]["p_value"] - p) < TOL
        assert groups[name]["drifted"] == (1.0 if name in drifted else 0.0)
    # Every drift result names the snapshot it compared with.
    assert {c["drift"]["reference_sha256"] for c in by_id.values()} == {recorded["reference_sha256"]}


def test_the_data_did_move_and_identical_data_does_not(project):
    reference, current = frames()
    vl.reference(reference, name="train")
    moved = vl.enforce(current, "drift.yaml", strict=True)
    assert moved["ks-income"].status == "fail" and moved["psi-region"].status == "fail"
    # The badge says which features moved, and the chart draws each feature's flag.
    bundle = moved._repr_mimebundle_()
    assert "moved: region" in bundle["text/html"] and "moved: income, age, region, owner" in bundle["text/html"]
    labels = set(re.findall(r">\s*([^<>]+?)\s*<", bundle["image/svg+xml"]))
    assert {"drifted", "income", "age", "region", "owner"} <= labels, labels
    same = vl.enforce(reference, "drift.yaml", strict=True)
    assert same["psi-income"].actual_value < 1e-12
    assert same["ks-income"].actual_value == 0
    assert same["ksp-age"].actual_value == 1
    assert same["share"].actual_value == 0 and same.passed


ENGINES = ["polars", "pyarrow", "duckdb", SPARK]


@pytest.mark.parametrize("kind", ENGINES)
def test_every_engine_gives_the_pandas_values(project, kind, request):
    reference, current = frames()
    vl.reference(reference, name="train")
    want = vl.enforce(current, "drift.yaml", strict=True, record=False).to_dict()["controls"]
    if kind == "polars":
        data = pl.from_pandas(current)
    elif kind == "pyarrow":
        data = pa.Table.from_pandas(current)
    elif kind == "duckdb":
        con = duckdb.connect()
        data = con.from_df(current)
    else:
        data = spark_for(request, kind).createDataFrame(current)
    got = vl.enforce(data, "drift.yaml", strict=True, record=False).to_dict()["controls"]
    assert [g["id"] for g in got] == [w["id"] for w in want]
    for w, g in zip(want, got):  # noqa: B905 (Python 3.9 has no strict=)
        assert g["status"] == w["status"], (g["id"], g["reason"])
        assert abs(g["actual_value"] - w["actual_value"]) < 1e-12, g["id"]
        bounds = (g["drift"].pop("raw_bounds", None), w["drift"].pop("raw_bounds", None))
        assert g["drift"] == w["drift"], g["id"]
        if bounds[1] is not None:
            assert bounds[0] == pytest.approx(bounds[1], rel=1e-12), g["id"]
    # A reference recorded where the data lives is the same snapshot.
    if kind in ("duckdb", "spark"):
        ref = con.from_df(reference) if kind == "duckdb" else spark_for(request, kind).createDataFrame(reference)
        again = vl.reference(ref, name="train-engine")
        first = snapshot(project, vl.reference(reference, name="train-pandas")["reference_sha256"])
        second = snapshot(project, again["reference_sha256"])
        for name in CATEGORICAL:
            assert second["columns"][name] == first["columns"][name], name
        for name in NUMERIC:
            one, two = first["columns"][name], second["columns"][name]
            assert two["edges"] == pytest.approx(one["edges"], rel=1e-12), name
            assert [b["n"] for b in two["bins"]] == [b["n"] for b in one["bins"]], name
            for key in ("sum", "min", "max"):
                got = [b[key] for b in two["bins"] if b["n"]]
                assert got == pytest.approx([b[key] for b in one["bins"] if b["n"]], rel=1e-12), (name, key)


def test_what_cannot_be_compared_is_an_error_naming_why(project):
    reference, current = frames()
    vl.reference(reference[["income", "region"]], name="train")
    current = current.assign(empty=np.nan)

    def c(cid: str, feature: str, reference: str | None = "train", key: str = "psi") -> dict:
        out = {"id": cid, "metric_key": key, "operator": "<", "threshold": 0.1, "input.feature": feature}
        return {**out, "input.reference": reference} if reference else out

    policy = [
        c("unknown", "income", "prod"),
        c("none", "income", None),
        c("not-in-ref", "age"),
        c("ks-cat", "region", key="ks_statistic"),
        c("no-column", "salary"),
    ]
    with pytest.warns(vl.VenturaliticaWarning):
        results = vl.enforce(current, {"controls": policy}, strict=False)
    reasons = {c.control_id: c.reason for c in results}
    assert all(c.status == "error" for c in results)
    assert 'no reference named "prod"' in reasons["unknown"] and "recorded: train" in reasons["unknown"]
    assert "needs a reference" in reasons["none"]
    assert 'reference "train" has no column "age"' in reasons["not-in-ref"]
    assert "use psi, jensen_shannon_distance or chi2_p_value" in reasons["ks-cat"]
    assert "salary" in reasons["no-column"]
    # An all-missing current column has nothing to compare.
    vl.reference(reference.assign(empty=1.5), name="with-empty")
    with pytest.warns(vl.VenturaliticaWarning, match="no non-missing values"):
        empty = vl.enforce(
            current,
            {"controls": [c("e", "empty", None)]},
            reference="with-empty",
            strict=False,
            record=False,
        )
    assert empty["e"].status == "error" and "current data has no non-missing values" in empty["e"].reason
    # reference= gives the name a control leaves out.
    named = vl.enforce(current, {"controls": [policy[1]]}, reference="train", strict=True, record=False)
    assert named["none"].status in ("pass", "fail")


def test_an_altered_reference_is_refused_and_verify_names_it(project, vl_bin):
    reference, current = frames()
    sha = vl.reference(reference, name="train")["reference_sha256"]
    vl.enforce(current, "drift.yaml", record=True)
    path = project / ".venturalitica" / "references" / f"{sha}.json"
    text = path.read_text()
    path.write_text(text.replace('"rows": 5000', '"rows": 5001'))
    report = vl.verify()
    assert not report.ok
    messages = [f["message"] for f in report.findings]
    assert any("reference snapshot" in m and f"{sha}.json was altered" in m for m in messages), messages
    with pytest.raises(vl.DataError, match="altered"):
        vl.enforce(current, "drift.yaml", strict=True)
    # The CLI says the same, with exit 1.
    out = subprocess.run([str(vl_bin), "verify"], capture_output=True, text=True, cwd=project, timeout=120, check=False)
    assert out.returncode == 1 and "reference snapshot" in out.stdout + out.stderr
    assert "1 policy copies, 1 reference snapshot(s) checked" in out.stdout, out.stdout


def test_the_latest_reference_of_a_name_is_used(project):
    reference, current = frames()
    first = vl.reference(reference, name="train")["reference_sha256"]
    second = vl.reference(current, name="train")["reference_sha256"]
    assert first != second
    results = vl.enforce(current, "drift.yaml", strict=True, record=False)
    assert results["ks-income"].actual_value == 0
    assert results.to_dict()["controls"][0]["drift"]["reference_sha256"] == second


def test_the_dashboard_draws_each_drift_control_over_time_with_its_features(project, vl_bin):
    from test_ui import dashboard, get

    reference, current = frames()
    vl.reference(reference, name="train")
    vl.enforce(reference, "drift.yaml", record=True)
    vl.enforce(current, "drift.yaml", record=True)
    with dashboard(vl_bin, project) as url:
        status, page, _ = get(url.rstrip("/") + "/policies")
    assert status == 200
    row = page[page.index('id="control-share"') :]
    row = row[: row.index("</tr>")]
    # The threshold, one line per feature and the share's own, over the two evaluations.
    assert row.count("<polyline") == 1 + 4 + 1, row
    assert "a line per feature: income, age, region, owner" in row
    assert "moved: income, age, region, owner" in row
    assert "against train" in row


SPARK_PROBE = (
    SPARK_COUNTING
    + """
def frame(rows, shift):
    return spark.range(rows).selectExpr(
        f"CAST((id * 7919) % 1000003 AS DOUBLE) / 1000003.0 + {shift} AS x",
        "CASE WHEN id % 5 = 0 THEN 'a' WHEN id % 5 < 3 THEN 'b' ELSE 'c' END AS g",
    )

vl.reference(frame(100_000, 0.0), name="train")
# Warm up: the first jobs and the agent cost memory that is not the data's.
vl.enforce(frame(1000, 0.0), policy="p.yaml", record=False)
returned.clear()
rows = int(sys.argv[1])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = vl.enforce(frame(rows, 0.01), policy="p.yaml", record=False)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"grew_kib": after - before, "returned": returned, "rows": result.data["rows"],
                  "statuses": [c.status for c in result]}))
"""
)


@pytest.mark.spark
def test_drift_on_a_20m_row_spark_frame_grows_python_by_at_most_10_mib(project):
    from test_engines import _need_java

    _need_java()
    rows = 20_000_000
    (project / "p.yaml").write_text(
        yaml.safe_dump(
            [
                {
                    "id": "ks",
                    "metric_key": "ks_statistic",
                    "operator": "<",
                    "threshold": 0.05,
                    "input.feature": "x",
                    "input.reference": "train",
                },
                {
                    "id": "psi",
                    "metric_key": "psi",
                    "operator": "<",
                    "threshold": 0.1,
                    "input.feature": "g",
                    "input.reference": "train",
                },
            ]
        )
    )
    (project / "probe.py").write_text(SPARK_PROBE)
    run = subprocess.run(
        [sys.executable, "probe.py", str(rows)], cwd=project, capture_output=True, text=True, timeout=600, check=False
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["rows"] == rows and set(out["statuses"]) <= {"pass", "fail"}, out
    assert out["grew_kib"] <= 10 * 1024, out
    # Only histograms came back: a row per bin (and one for nulls) at most.
    assert out["returned"] and max(out["returned"]) <= 101, out


def test_the_annex_iv_names_the_reference_and_what_drifted(project, vl_bin):
    reference, current = frames()
    sha = vl.reference(reference, name="train")["reference_sha256"]
    vl.enforce(current, "drift.yaml", record=True)
    out = subprocess.run(
        [str(vl_bin), "report", "annex-iv", "--root", str(project)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    section = out.stdout[out.stdout.index("Post-market monitoring") :]
    assert "Reference train recorded from pandas" in section and sha in section, section
    assert "Drift control share (drifted_share \\<= 0.25) against reference train" in section, section
    assert "moved: income, age, region, owner" in section


def test_a_snapshot_of_every_column_leaves_out_and_names_what_has_no_distribution(project):
    reference, _ = frames()
    reference = reference.assign(when=pd.Timestamp("2026-01-01"), id=[f"c{i}" for i in range(5000)])
    recorded = vl.reference(reference.assign(), name="train")
    assert set(recorded["columns"]) == {"income", "age", "region", "owner", "id"}
    assert "neither numeric nor categorical" in recorded["skipped"]["when"]
    # Named, it is an error, not a skip.
    with pytest.raises(vl.DataError, match='column "when": type datetime'):
        vl.reference(reference, name="train", columns=["income", "when"])
    many = pd.DataFrame({"id": [f"c{i}" for i in range(10_001)]})
    assert "an identifier" in vl.reference(many, name="ids")["skipped"]["id"]
    with pytest.raises(vl.DataError, match="10001 distinct values"):
        vl.reference(many, name="ids", columns=["id"])
