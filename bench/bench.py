"""Engine benchmark: Venturalitica against fairlearn and a bare polars group-by.

For 1M and 10M rows (binary target and prediction; 2 and 8 groups) it times,
in the same run:

- engine:   our engine on an in-memory frame (3-control fairness policy,
            bootstrap CIs included), median of 5 runs;
- cli:      `venturalitica enforce` end to end on Parquet (process start,
            read, evaluate, JSON out), median of 3 runs;
- fairlearn: MetricFrame(selection rate, TPR, FPR) + demographic_parity_ratio
            + equalized_odds_difference, once (it is slow);
- floor:    a bare polars group-by of the same counts, median of 5 runs;

and prints the ratios. Usage: python bench/bench.py [--rows 1000000,10000000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import fairlearn.metrics as flm
import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent

POLICY = """\
- id: di
  metric_key: disparate_impact
  operator: ">="
  threshold: 0.8
  input.dimension: group
  input.prediction: prediction
- id: eod
  metric_key: equalized_odds_diff
  operator: "<"
  threshold: 0.1
  input.dimension: group
  input.prediction: prediction
- id: eop
  metric_key: equal_opportunity_diff
  operator: "<"
  threshold: 0.1
  input.dimension: group
  input.prediction: prediction
"""


def make(rows: int, groups: int, path: Path) -> pd.DataFrame:
    rng = np.random.default_rng(42)
    g = rng.integers(0, groups, rows)
    y = (rng.random(rows) < 0.3 + 0.4 * g / max(groups - 1, 1)).astype(np.int64)
    pred = np.where(rng.random(rows) < 0.15, 1 - y, y).astype(np.int64)
    df = pd.DataFrame({"group": g.astype(np.int64), "target": y, "prediction": pred})
    df.to_parquet(path)
    return df


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="1000000,10000000")
    ap.add_argument("--groups", default="2,8")
    ap.add_argument("--out", type=Path, default=HERE / "out")
    args = ap.parse_args()
    vl_bin = os.environ["VL_BIN"]
    engine_bin = os.environ["VL_BENCH_ENGINE"]
    args.out.mkdir(parents=True, exist_ok=True)
    policy = args.out / "policy.yaml"
    policy.write_text(POLICY)

    header = ["rows", "groups", "engine s", "cli s", "fairlearn s", "floor s", "fairlearn/engine", "engine/floor"]
    widths = [10, 6, 9, 7, 11, 8, 16, 12]
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, widths, strict=True)))
    rows_out = []
    for rows in map(int, args.rows.split(",")):
        for groups in map(int, args.groups.split(",")):
            data = args.out / f"data_{rows}_{groups}.parquet"
            df = make(rows, groups, data)
            res = json.loads(subprocess.check_output([engine_bin, str(data), str(policy), "5"], text=True))
            cli_runs = []
            for _ in range(3):
                cmd = [
                    vl_bin,
                    "enforce",
                    "--data",
                    str(data),
                    "--policy",
                    str(policy),
                    "--format",
                    "json",
                    "--no-record",
                ]
                cli_runs.append(timed(lambda cmd=cmd: subprocess.run(cmd, capture_output=True, check=False)))
            cli = sorted(cli_runs)[1]

            def fairlearn_run(df=df):
                y, p, s = df["target"], df["prediction"], df["group"]
                flm.MetricFrame(
                    metrics={"sel": flm.selection_rate, "tpr": flm.true_positive_rate, "fpr": flm.false_positive_rate},
                    y_true=y,
                    y_pred=p,
                    sensitive_features=s,
                )
                flm.demographic_parity_ratio(y, p, sensitive_features=s)
                flm.equalized_odds_difference(y, p, sensitive_features=s)

            fair = timed(fairlearn_run)
            e, f = res["engine_s"], res["floor_s"]
            print(
                f"{rows:>10} {groups:>6} {e:>9.4f} {cli:>7.3f} {fair:>11.2f} {f:>8.4f}"
                f" {fair / e:>15.0f}x {e / f:>11.2f}x"
            )
            rows_out.append(
                {"rows": rows, "groups": groups, "engine_s": e, "cli_s": cli, "fairlearn_s": fair, "floor_s": f}
            )
            data.unlink()
    (args.out / "results.json").write_text(json.dumps(rows_out, indent=2))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
