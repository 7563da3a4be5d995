"""Policies on data in Spark (local[2]) and DuckDB: the count path (the
engine computes the count tables; only they travel) against the peer,
collecting the rows (`toPandas()` / `.df()`) and evaluating them with the
row path. Each measurement runs in a fresh Python process; wall time is
from the frame to the results, peak memory is the Python process's own
(`ru_maxrss`, the JVM not included), above its baseline after start-up.

    bash bench/run_engines.sh [--rows 10000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import duckdb

POLICY = """\
- id: gender-di
  metric_key: disparate_impact
  operator: ">="
  threshold: 0.8
  input.dimension: gender
- id: gender-eo
  metric_key: equalized_odds_diff
  operator: "<="
  threshold: 0.2
  input.dimension: gender
  input.prediction: prediction
- id: accuracy
  metric_key: accuracy_score
  operator: ">="
  threshold: 0.7
  input.prediction: prediction
"""

MEASURE = textwrap.dedent(
    """
    import json, resource, sys, time
    engine, path, how = sys.argv[1:4]
    import venturalitica as vl
    if engine == "spark":
        from pyspark.sql import SparkSession
        spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
                 .config("spark.driver.bindAddress", "127.0.0.1").config("spark.driver.host", "127.0.0.1")
                 .config("spark.driver.memory", "8g")
                 .config("spark.sql.execution.arrow.pyspark.enabled", "true").getOrCreate())
        spark.sparkContext.setLogLevel("ERROR")
        frame = spark.read.parquet(path)
        frame.limit(1).collect()  # session and JIT warm
        to_rows = lambda f: f.toPandas()
    else:
        import duckdb
        frame = duckdb.sql(f"SELECT * FROM read_parquet('{path}')")
        to_rows = lambda f: f.df()
    vl.enforce(frame.limit(10), policy="policy.yaml", strict=False, record=False)  # agent up
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    data = frame if how == "counts" else to_rows(frame)
    result = vl.enforce(data, policy="policy.yaml", strict=False, record=False)
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    values = [c["actual_value"] for c in result.to_dict()["controls"]]
    print(json.dumps({"wall_s": wall, "grew_mib": (peak - base) / 1024, "values": values,
                      "rows": result.data["rows"]}))
    """
)


def measure(workdir: Path, engine: str, path: Path, how: str) -> dict:
    run = subprocess.run(
        [sys.executable, "measure.py", engine, str(path), how],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode != 0:
        raise SystemExit(f"{engine}/{how} failed:\n{run.stderr[-4000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "policy.yaml").write_text(POLICY)
        (work / "measure.py").write_text(MEASURE)
        data = work / "scores.parquet"
        duckdb.sql(
            f"""COPY (SELECT CASE WHEN hash(i) % 2 = 0 THEN 'female' ELSE 'male' END AS gender,
                             CAST(hash(i * 3) % 2 AS INTEGER) AS target,
                             CAST(CASE WHEN hash(i * 7) % 5 = 0 THEN 1 - hash(i * 3) % 2
                                       ELSE hash(i * 3) % 2 END AS INTEGER) AS prediction,
                             hash(i * 11) % 100000 AS income
                      FROM range({args.rows}) t(i)) TO '{data}' (FORMAT parquet)"""
        )
        print(f"{args.rows:,} rows, 4 columns (3 used), Parquet {data.stat().st_size / 2**20:.0f} MiB")
        print(f"{'engine':<8} {'path':<26} {'wall s':>8} {'Python grew MiB':>16}")
        for engine in ["duckdb", "spark"]:
            counts = measure(work, engine, data, "counts")
            rows = measure(work, engine, data, "rows")
            assert counts["rows"] == rows["rows"] == args.rows
            assert all(abs(a - b) < 1e-12 for a, b in zip(counts["values"], rows["values"], strict=True))
            peer = "toPandas() + rows" if engine == "spark" else ".df() + rows"
            for name, r in [("count path", counts), (peer, rows)]:
                print(f"{engine:<8} {name:<26} {r['wall_s']:>8.2f} {r['grew_mib']:>16.1f}")
            print(
                f"{engine:<8} {'ratio (peer / counts)':<26} {rows['wall_s'] / counts['wall_s']:>8.2f}"
                f" {rows['grew_mib'] / max(counts['grew_mib'], 0.1):>16.1f}"
            )


if __name__ == "__main__":
    main()
