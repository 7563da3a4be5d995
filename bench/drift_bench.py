"""Drift on 20 columns (15 numeric, 5 categorical) against Evidently's
DataDriftPreset on the same data, at 1M and 10M rows (reference and current
of that size each), measured in the same run.

Each side runs in a fresh process, from Parquet files to its verdict:
ours is `venturalitica reference` then `venturalitica enforce` (one
`drifted_share` control over the 20 columns and one `wasserstein_distance`
per numeric column, Evidently's own test for numeric columns of more than
1,000 rows); Evidently reads both files with pandas and runs the preset
(Wasserstein for numeric columns, Jensen-Shannon for categorical ones, the
share of drifted columns). Evidently runs from a venv of its own
(pandas < 3, which it needs), with its telemetry off. Wall time and peak
RSS of the process tree (`ru_maxrss` of the children) are printed with the
ratio.

    bash bench/run_drift.sh [--rows 1000000 10000000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NUMERIC = [f"x{i}" for i in range(15)]
CATEGORICAL = [f"c{i}" for i in range(5)]

EVIDENTLY = """
import json, sys, time
t0 = time.perf_counter()
import pandas as pd
ref = pd.read_parquet(sys.argv[1]); cur = pd.read_parquet(sys.argv[2])
try:
    from evidently import Dataset, DataDefinition, Report
    from evidently.presets import DataDriftPreset
    definition = DataDefinition(numerical_columns=%(num)r, categorical_columns=%(cat)r)
    report = Report([DataDriftPreset()])
    snap = report.run(Dataset.from_pandas(cur, data_definition=definition),
                      Dataset.from_pandas(ref, data_definition=definition))
    result = snap.dict()
    share = next((m["value"] for m in result["metrics"] if "DriftedColumnsCount" in m.get("metric_name", "")), None)
    api = "evidently.Report(DataDriftPreset)"
except ImportError:
    from evidently.legacy.metric_preset import DataDriftPreset
    from evidently.legacy.report import Report
    report = Report(metrics=[DataDriftPreset()])
    report.run(reference_data=ref, current_data=cur)
    share = report.as_dict()["metrics"][0]["result"]["share_of_drifted_columns"]
    api = "evidently.legacy Report(DataDriftPreset)"
print(json.dumps({"seconds": time.perf_counter() - t0, "share": share, "api": api}, default=str))
"""


def policy() -> str:
    lines = [
        "- id: share",
        "  metric_key: drifted_share",
        "  operator: '<='",
        "  threshold: 0.5",
        f"  input.features: {', '.join(NUMERIC + CATEGORICAL)}",
        "  input.reference: train",
    ]
    for name in NUMERIC:
        lines += [
            f"- id: w-{name}",
            "  metric_key: wasserstein_distance",
            "  operator: '<'",
            "  threshold: 0.1",
            f"  input.feature: {name}",
            "  input.reference: train",
        ]
    return "\n".join(lines) + "\n"


def make(path: Path, rows: int, shift: float, seed: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    columns = {}
    for i, name in enumerate(NUMERIC):
        # Every third column moves.
        columns[name] = rng.normal(shift if i % 3 == 0 else 0.0, 1.0, rows)
    names = np.array(["a", "b", "c", "d", "e", "f"])
    for i, name in enumerate(CATEGORICAL):
        p = np.array([0.3, 0.25, 0.2, 0.1, 0.1, 0.05])
        if i % 2 == 0 and shift:
            p = p[::-1]
        columns[name] = pa.array(names[rng.choice(6, rows, p=p / p.sum())]).dictionary_encode()
    pq.write_table(pa.table(columns), path)


# Runs a command and says its process tree's peak RSS (KiB) on stderr's last line.
PEAK = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(r.returncode)"
)


def timed(argv: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB) of the command's process tree, stdout."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", PEAK, *argv], capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - start
    if out.returncode not in (0, 1):
        raise SystemExit(f"{argv[0]} failed ({out.returncode}): {out.stderr[-2000:]}")
    peak = int(out.stderr.strip().splitlines()[-1]) / 1024
    return wall, peak, out.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--agent", default="venturalitica")
    parser.add_argument("--evidently-python", help="the Python that has Evidently; without it, ours only")
    args = parser.parse_args()
    env = {**os.environ, "EVIDENTLY_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1"}
    print(f"drift, 20 columns (15 numeric, 5 categorical); {os.cpu_count()} CPUs")
    print("| rows | ours (reference + enforce) | Evidently DataDriftPreset | ratio | ours peak RSS | Evidently's |")
    print("|---|---|---|---|---|---|")
    for rows in args.rows:
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            (d / "pyproject.toml").write_text("[project]\nname = 'bench'\n")
            make(d / "ref.parquet", rows, 0.0, 1)
            make(d / "cur.parquet", rows, 0.05, 2)
            (d / "drift.yaml").write_text(policy())
            (d / "evidently_run.py").write_text(EVIDENTLY % {"num": NUMERIC, "cat": CATEGORICAL})
            # Ours: its own process tree, from the files to the verdict.
            ref_s, ref_mb, _ = timed(
                [args.agent, "reference", "--data", str(d / "ref.parquet"), "--name", "train", "--root", tmp]
            )
            enf_s, enf_mb, out = timed(
                [
                    args.agent,
                    "enforce",
                    "--data",
                    str(d / "cur.parquet"),
                    "--policy",
                    str(d / "drift.yaml"),
                    "--root",
                    tmp,
                    "--format",
                    "json",
                ]
            )
            ours = json.loads(out)
            share = next(c for c in ours["controls"] if c["id"] == "share")
            total = ref_s + enf_s
            if not args.evidently_python:
                print(
                    f"| {rows:,} | {total:.2f} s ({ref_s:.2f} + {enf_s:.2f}) | not run | "
                    f"| {max(ref_mb, enf_mb):.0f} MiB | |"
                )
                continue
            ev_s, ev_mb, ev_out = timed(
                [args.evidently_python, str(d / "evidently_run.py"), str(d / "ref.parquet"), str(d / "cur.parquet")],
                env,
            )
            evidently = json.loads(ev_out.strip().splitlines()[-1])
            print(
                f"| {rows:,} | {total:.2f} s ({ref_s:.2f} + {enf_s:.2f}) | {ev_s:.2f} s | {ev_s / total:.1f}x | "
                f"{max(ref_mb, enf_mb):.0f} MiB | {ev_mb:.0f} MiB |"
            )
            print(
                f"  drifted: ours {share['drift']['drifted']} (share {share['actual_value']}); "
                f"Evidently ({evidently['api']}): {evidently['share']}",
                file=sys.stderr,
            )


if __name__ == "__main__":
    main()
