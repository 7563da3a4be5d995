"""Policies on data where it lives: a real local SparkSession (`local[2]`)
and DuckDB answer the agent's count-table requests; every metric family
must give the pandas path's values (to 1e-12), intervals and errors, for 2,
3 and 8 groups, and the rows must never come into the Python process."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import jsonschema
import pyarrow as pa
import pytest
import venturalitica as vl
import yaml
from test_crosscheck import control, make_data, policy_doc

TOL = 1e-12
SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "schemas" / "results.schema.json").read_text())


def _need_java() -> None:
    if shutil.which("java") is None:
        (pytest.fail if os.environ.get("VL_CI") else pytest.skip)("Spark needs Java 17 (java on PATH)")


@pytest.fixture(scope="module")
def spark():
    _need_java()
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("venturalitica-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


# The Spark case of a test over both engines: deselected with the others
# that need pyspark and Java by `-m "not spark"` (the Python 3.9 floor run).
SPARK = pytest.param("spark", marks=pytest.mark.spark)


def spark_for(request, kind: str):
    """The module's SparkSession for a Spark case, else None (never started
    for DuckDB alone)."""
    return request.getfixturevalue("spark") if kind.startswith("spark") else None


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'engines'\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def engine_policy() -> dict:
    """The cross-check's every metric, plus multi-class, binned and quantile groupings."""
    doc = policy_doc()
    extra = [
        control("mc-dp", "multiclass_demographic_parity", input__dimension="group", input__prediction="prediction"),
        control("mc-eo", "multiclass_equal_opportunity", input__dimension="group", input__prediction="prediction"),
        control("bins", "disparate_impact", input__dimension="age", bins="30, 50, 65"),
        control(
            "quant", "demographic_parity_diff", input__dimension="age", age_bucket_method="quantiles", age_buckets="4"
        ),
    ]
    component = doc["component-definition"]["components"][0]
    component["control-implementations"][0]["implemented-requirements"] += extra
    return doc


def frames(kind: str, table: pa.Table, spark_session=None):
    """The same Arrow table as a frame of `kind` (nulls stay nulls)."""
    if kind == "duckdb":
        # On the default connection: a relation of a connection that goes
        # out of scope is closed with it (DuckDB before 1.2).
        return duckdb.from_arrow(table)
    return spark_session.createDataFrame(table)


def pick(results) -> list[tuple]:
    return [(c["id"], c["status"], c["actual_value"], c["ci"], c.get("reason")) for c in results.to_dict()["controls"]]


def same(a: list[tuple], b: list[tuple]) -> None:
    assert [x[:2] for x in a] == [x[:2] for x in b]
    assert len(a) == len(b)
    for x, y in zip(a, b):  # noqa: B905 - zip(strict=) is Python 3.10+; the floor run is 3.9
        if x[2] is None:
            assert y[2] is None, (x, y)
        else:
            assert math.isclose(x[2], y[2], rel_tol=0, abs_tol=TOL), (x, y)
        assert x[3] == y[3] or (
            x[3] and y[3] and all(math.isclose(x[3][k], y[3][k], abs_tol=TOL) for k in ("lower", "upper"))
        ), (x, y)
        assert x[4] == y[4], (x, y)


@pytest.mark.parametrize("kind", ["duckdb", SPARK])
@pytest.mark.parametrize("groups", [2, 3, 8])
def test_every_metric_family_matches_the_pandas_path(project, request, kind, groups):
    session = spark_for(request, kind)
    df = make_data(groups)
    table = pa.Table.from_pandas(df, preserve_index=False)
    (project / "policy.yaml").write_text(yaml.safe_dump(engine_policy(), sort_keys=False))
    rows = vl.enforce(table, policy="policy.yaml", strict=False, record=False)
    counted = vl.enforce(frames(kind, table, session), policy="policy.yaml", strict=False, record=False)
    statuses = {c["id"]: c["status"] for c in rows.to_dict()["controls"]}
    assert all(s == "pass" for s in statuses.values()), statuses
    same(pick(rows), pick(counted))
    data = counted.to_dict()["data"]
    jsonschema.validate(counted.to_dict(), SCHEMA, format_checker=jsonschema.FormatChecker())
    assert data["counted_by"] == kind and data["rows"] == len(df)
    method = {"spark": "rowset-xxhash64-v1", "duckdb": "rowset-md5-v1"}[kind]
    assert data["fingerprint_method"] == method and len(data["fingerprint"]) == 64
    assert data["columns_used"] == rows.to_dict()["data"]["columns_used"]


ERRORS = """\
- id: nulls
  metric_key: disparate_impact
  operator: ">="
  threshold: 0.8
  input.dimension: g
  input.target: with_nulls
- id: not-binary
  metric_key: disparate_impact
  operator: ">="
  threshold: 0.8
  input.dimension: g
  input.target: three_values
- id: text-target
  metric_key: disparate_impact
  operator: ">="
  threshold: 0.8
  input.dimension: g
  input.target: word
- id: one-group
  metric_key: disparate_impact
  operator: ">="
  threshold: 0.8
  input.dimension: constant
- id: missing-column
  metric_key: disparate_impact
  operator: ">="
  threshold: 0.8
  input.dimension: nowhere
- id: labelled
  metric_key: disparate_impact
  operator: ">="
  threshold: 0.0
  input.dimension: g
  input.target: word
  positive_label: yes
"""


def error_table(n: int) -> pa.Table:
    return pa.table(
        {
            "g": pa.array([["a", "b"][i % 2] for i in range(n)], pa.string()),
            "target": pa.array([int(i % 3 == 0) for i in range(n)], pa.int64()),
            "with_nulls": pa.array([None if i % 7 == 0 else i % 2 for i in range(n)], pa.int64()),
            "three_values": pa.array([i % 3 for i in range(n)], pa.int64()),
            "word": pa.array([["yes", "no", "maybe"][i % 3] for i in range(n)], pa.string()),
            "constant": pa.array(["only"] * n, pa.string()),
        }
    )


@pytest.mark.parametrize("kind", ["duckdb", SPARK])
@pytest.mark.parametrize("n", [40, 0], ids=["rows", "empty"])
def test_the_same_errors_as_the_pandas_path(project, request, kind, n):
    spark = spark_for(request, kind)
    (project / "errors.yaml").write_text(ERRORS)
    table = error_table(n)
    rows = vl.enforce(table, policy="errors.yaml", strict=False, record=False)
    counted = vl.enforce(frames(kind, table, spark), policy="errors.yaml", strict=False, record=False)
    statuses = [c["status"] for c in rows.to_dict()["controls"]]
    # Never a silent pass: everything but the labelled control is an error (all of them on no rows).
    assert statuses == ["error"] * 5 + ["error" if n == 0 else "pass"], pick(rows)
    same(pick(rows), pick(counted))
    # strict=True raises on the same data, as for rows.
    with pytest.raises(vl.DataError):
        vl.enforce(frames(kind, table, spark), policy="errors.yaml", record=False, strict=True)


AWKWARD = 'we`ird"'


def awkward_table() -> pa.Table:
    """Names and values that SQL must quote: a backtick and a double quote in
    the column name, quotes and a backslash in the values and the label."""
    groups = ["it's \\ yes"] * 60 + ["Women's"] * 40
    outcome = ["it's"] * 30 + ["no"] * 30 + ["it's"] * 12 + ["no"] * 28
    return pa.table({AWKWARD: groups, "out": outcome, "score": [i % 2 for i in range(100)]})


AWKWARD_POLICY = [
    {
        "id": "grouped",
        "metric_key": "disparate_impact",
        "operator": ">=",
        "threshold": 0.0,
        "input.dimension": AWKWARD,
        "input.target": "score",
    },
    {
        "id": "labelled",
        "metric_key": "disparate_impact",
        "operator": ">=",
        "threshold": 0.0,
        "input.dimension": AWKWARD,
        "input.target": "out",
        "positive_label": "it's",
    },
    {
        "id": "backslash-label",
        "metric_key": "disparate_impact",
        "operator": ">=",
        "threshold": 0.0,
        "input.dimension": "out",
        "input.target": AWKWARD,
        "positive_label": "it's \\ yes",
    },
]


@pytest.mark.parametrize(
    "kind",
    [
        "duckdb",
        SPARK,
        pytest.param("spark-escaped-literals", marks=pytest.mark.spark, id="spark-escapedStringLiterals"),
    ],
)
def test_quotes_and_backslashes_in_names_and_literals_read_the_same_on_every_engine(project, request, kind):
    """Spark reads a backslash in a literal as an escape unless
    `spark.sql.parser.escapedStringLiterals` is on (a setting users turn on):
    the SQL we write must mean the same under both, and on DuckDB."""
    (project / "awkward.yaml").write_text(yaml.safe_dump(AWKWARD_POLICY, sort_keys=False))
    table = awkward_table()
    spark = spark_for(request, kind)
    rows = vl.enforce(table, policy="awkward.yaml", strict=True, record=False)
    by_id = {c["id"]: c for c in rows.to_dict()["controls"]}
    # The oracle by hand: 12/40 of Women's, 30/60 of the other group have the label `it's`.
    assert by_id["labelled"]["actual_value"] == pytest.approx(0.3 / 0.5, abs=TOL)
    # 30 of the 58 `no` rows and 30 of the 42 `it's` rows are in the group `it's \ yes`.
    assert by_id["backslash-label"]["actual_value"] == pytest.approx((30 / 58) / (30 / 42), abs=TOL)
    escaped = kind == "spark-escaped-literals"
    if kind.startswith("spark"):
        spark.conf.set("spark.sql.parser.escapedStringLiterals", str(escaped).lower())
    try:
        counted = vl.enforce(frames(kind.split("-")[0], table, spark), policy="awkward.yaml", strict=True, record=False)
    finally:
        if kind.startswith("spark"):
            spark.conf.unset("spark.sql.parser.escapedStringLiterals")
    assert [c["status"] for c in counted.to_dict()["controls"]] == ["pass"] * 3, pick(counted)
    same(pick(rows), pick(counted))


@pytest.mark.spark
def test_the_fingerprint_ignores_order_and_partitioning_and_sees_every_change(project, spark):
    (project / "p.yaml").write_text(
        "- id: di\n  metric_key: disparate_impact\n  operator: '>='\n  threshold: 0\n  input.dimension: group\n"
    )
    df = make_data(3)[["group", "target", "zip"]]
    table = pa.Table.from_pandas(df, preserve_index=False)
    fp = lambda frame: vl.enforce(frame, policy="p.yaml", record=False).data["fingerprint"]  # noqa: E731
    sdf = spark.createDataFrame(table)
    con = duckdb.connect()
    con.register("data", table)
    prints = {
        "spark": fp(sdf),
        "spark, 7 partitions": fp(sdf.repartition(7)),
        "spark, 1 partition, sorted": fp(sdf.orderBy("zip", "group").coalesce(1)),
        "duckdb": fp(con.table("data")),
        "duckdb, shuffled": fp(con.sql("SELECT * FROM data ORDER BY random()")),
    }
    spark_prints = {v for k, v in prints.items() if k.startswith("spark")}
    duckdb_prints = {v for k, v in prints.items() if k.startswith("duckdb")}
    assert len(spark_prints) == 1 and len(duckdb_prints) == 1, prints
    # Each engine its own row hash, named in the results: never mistaken for the other's.
    assert spark_prints != duckdb_prints
    # One value changed, or one row dropped: another fingerprint.
    changed = df.copy()
    changed.loc[17, "target"] = 1 - changed.loc[17, "target"]
    assert fp(spark.createDataFrame(changed)) != prints["spark"]
    con.register("changed", changed)
    assert fp(con.table("changed")) != prints["duckdb"]
    assert fp(con.sql("SELECT * FROM data LIMIT 2999")) != prints["duckdb"]
    assert fp(sdf.limit(2999)) != prints["spark"]
    # A null moved to another column of the same row is another row.
    moved = pa.table({"group": ["a", None, "b", "a"], "zip": [None, "a", "b", "b"], "target": [0, 1, 1, 0]})
    swapped = pa.table({"group": [None, "a", "b", "a"], "zip": ["a", None, "b", "b"], "target": [0, 1, 1, 0]})
    (project / "q.yaml").write_text(
        "- id: k\n  metric_key: k_anonymity\n  operator: '>='\n  threshold: 0\n"
        "  input.quasi_identifiers: 'group, zip'\n"
        "- id: balance\n  metric_key: class_imbalance\n  operator: '>='\n  threshold: 0\n"
    )
    fq = lambda frame: vl.enforce(frame, policy="q.yaml", record=False).data["fingerprint"]  # noqa: E731
    assert fq(spark.createDataFrame(moved)) != fq(spark.createDataFrame(swapped))
    con.register("moved", moved)
    con.register("swapped", swapped)
    assert fq(con.table("moved")) != fq(con.table("swapped"))


@pytest.mark.spark
def test_the_evidence_says_which_engine_counted(project, spark, vl_bin):
    (project / "p.yaml").write_text(
        "- id: di\n  metric_key: disparate_impact\n  operator: '>='\n  threshold: 0.5\n  input.dimension: group\n"
    )
    table = pa.Table.from_pandas(make_data(2), preserve_index=False)
    result = vl.enforce(frames("spark", table, spark), policy="p.yaml")
    trace = project / ".venturalitica" / "trace.jsonl"
    event = json.loads(trace.read_text().splitlines()[-1])["event"]
    data = event["payload"]["results"]["data"]
    assert event["kind"] == "enforce" and data["counted_by"] == "spark"
    assert data["fingerprint"] == result.data["fingerprint"] and data["source"].startswith("pyspark DataFrame")
    verify = subprocess.run([str(vl_bin), "verify"], cwd=project, capture_output=True, text=True, check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr


# A Spark probe's start: a local SparkSession, and the rows of every table
# Spark hands back to Python counted in `returned`.
SPARK_COUNTING = textwrap.dedent(
    """
    import json, resource, sys
    from pyspark.sql import SparkSession
    import venturalitica as vl
    from venturalitica import _engines

    spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
             .config("spark.driver.bindAddress", "127.0.0.1").config("spark.driver.host", "127.0.0.1").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    returned = []
    answer = _engines.SparkEngine.aggregate
    def counting(self, groups, aggs):
        table = answer(self, groups, aggs)
        returned.append(table.num_rows)
        return table
    _engines.SparkEngine.aggregate = counting
    """
)

NO_COLLECT = SPARK_COUNTING + textwrap.dedent(
    """
    rows = int(sys.argv[1])
    df = spark.range(rows).selectExpr(
        "CASE WHEN id % 3 = 0 THEN 'a' ELSE 'b' END AS g",
        "CAST((id * 7) % 10 < 4 AS INT) AS target",
        "CAST((id * 13) % 10 < 5 AS INT) AS prediction",
    )
    # Warm up: the first Spark job and the agent cost memory that is not the data's.
    vl.enforce(spark.range(10).selectExpr("'a' AS g", "1 AS target"), policy="p.yaml", strict=False, record=False)
    returned.clear()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = vl.enforce(df, policy="p.yaml", record=False)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    oracle = df.groupBy("g").agg({"target": "avg"}).toPandas().set_index("g")["avg(target)"]
    value = result.to_dict()["controls"][0]["actual_value"]
    print(json.dumps({"grew_kib": after - before, "returned": returned, "value": value,
                      "oracle": float(oracle.min() / oracle.max()), "rows": result.data["rows"]}))
    """
)


@pytest.mark.spark
def test_a_spark_frame_larger_than_the_python_process_is_never_collected(project):
    _need_java()
    rows = 40_000_000
    (project / "p.yaml").write_text(
        "- id: di\n  metric_key: disparate_impact\n  operator: '>='\n  threshold: 0.5\n  input.dimension: g\n"
    )
    (project / "probe.py").write_text(NO_COLLECT)
    run = subprocess.run(
        [sys.executable, "probe.py", str(rows)], cwd=project, capture_output=True, text=True, timeout=600, check=False
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    # The used columns as Arrow would be 40M x (1 + 8) bytes plus offsets: over 500 MB.
    assert out["grew_kib"] < 64 * 1024, out
    # Only count tables came back: a row per group at most.
    assert out["returned"] and max(out["returned"]) <= 2, out
    assert out["rows"] == rows and math.isclose(out["value"], out["oracle"], rel_tol=0, abs_tol=TOL), out


def test_the_rows_path_is_untouched_for_in_memory_frames(project):
    """pandas frames still go through the row path (counted by polars, ordered fingerprint)."""
    (project / "p.yaml").write_text(
        "- id: di\n  metric_key: disparate_impact\n  operator: '>='\n  threshold: 0\n  input.dimension: group\n"
    )
    data = vl.enforce(make_data(2), policy="p.yaml", record=False).data
    assert data["counted_by"] == "polars" and data["fingerprint_method"] == "columns-sha256-v1"


def test_a_duckdb_relation_over_a_parquet_file(project, tmp_path):
    """DuckDB reads the file itself; Python only sees the counts."""
    df = make_data(3)
    df.to_parquet(tmp_path / "big.parquet")
    (project / "p.yaml").write_text(yaml.safe_dump(policy_doc(), sort_keys=False))
    rel = duckdb.sql(f"SELECT * FROM read_parquet('{tmp_path / 'big.parquet'}')")
    same(
        pick(vl.enforce(df, policy="p.yaml", strict=False, record=False)),
        pick(vl.enforce(rel, policy="p.yaml", strict=False, record=False)),
    )


@pytest.mark.spark
def test_magics_on_duckdb_and_spark_frames_in_a_notebook_through_the_proxy(kernel_env):
    """%vl_enforce and %vl_mark take the engines' frames in a real proxied kernel."""
    import nbformat
    from kernel_env import PROXIED
    from nbclient import NotebookClient

    _need_java()
    (kernel_env.project / "policy.yaml").write_text(
        "- id: di\n  metric_key: disparate_impact\n  operator: '>='\n  threshold: 0.8\n  input.dimension: g\n"
    )
    cells = [
        "%load_ext venturalitica\nimport duckdb\ncon = duckdb.connect()\n"
        "con.sql(\"CREATE TABLE t AS SELECT CASE WHEN i % 2 = 0 THEN 'a' ELSE 'b' END AS g,"
        ' CAST(i % 3 = 0 AS INTEGER) AS target FROM range(600) r(i)")',
        "rel = con.table('t')",
        "%vl_enforce rel policy=policy.yaml strict=false",
        "%vl_mark rel policy=policy.yaml strict=false",
        "rel = con.sql(\"SELECT * FROM t WHERE NOT (g = 'a' AND target = 1)\")  # rebound: re-evaluated",
        "from pyspark.sql import SparkSession\n"
        "spark = (SparkSession.builder.master('local[2]').config('spark.ui.enabled', 'false')"
        ".config('spark.driver.bindAddress', '127.0.0.1').config('spark.driver.host', '127.0.0.1').getOrCreate())\n"
        "sdf = spark.createDataFrame(con.table('t').to_arrow_table())",
        "%vl_enforce sdf policy=policy.yaml strict=false",
        "spark.stop()",
    ]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    NotebookClient(
        nb, kernel_name=PROXIED, resources={"metadata": {"path": str(kernel_env.project)}}, timeout=300
    ).execute()
    mime = "application/vnd.venturalitica.compliance+json"

    def shown(cell):
        return [o["data"][mime] for o in cell.outputs if mime in o.get("data", {})]

    (duck,) = shown(nb.cells[2])
    assert duck["data"]["counted_by"] == "duckdb" and duck["controls"][0]["status"] == "pass"
    assert len(shown(nb.cells[3])) == 1
    (rebound,) = shown(nb.cells[4])
    assert rebound["controls"][0]["status"] == "fail" and rebound["data"]["rows"] == 500
    (spark_result,) = shown(nb.cells[6])
    assert spark_result["data"]["counted_by"] == "spark"
    assert spark_result["controls"][0]["actual_value"] == duck["controls"][0]["actual_value"]
    origins = [
        (e["payload"]["origin"], e["payload"]["results"]["data"]["counted_by"]) for e in kernel_env.events("enforce")
    ]
    assert origins == [("kernel", "duckdb")] * 3 + [("kernel", "spark")]
