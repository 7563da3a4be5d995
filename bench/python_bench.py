"""vl.enforce on a large pandas frame: end to end vs the engine alone (<= 2x
is the target) and vs the Venturalitica SDK 0.8.x on the same data and
policy. Run through bench/run_python.sh."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import venturalitica as vl
from venturalitica._binary import find_agent_binary

# OSCAL component-definition, the shape both tools read.
POLICY = """\
component-definition:
  uuid: 3f1c6a52-8d1e-4c59-9a51-1c0f2f5a9b10
  metadata:
    title: Loan model fairness (benchmark)
    version: "1.0"
  components:
    - uuid: 7d2b9c1e-3a4f-4e8b-b1d2-5c6e7f8a9b0c
      type: software
      title: Credit model
      description: The loan model
      control-implementations:
        - uuid: 9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d
          source: "#"
          description: Fairness
          implemented-requirements:
            - uuid: 1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d
              control-id: gender-di
              description: Four-fifths rule
              props:
                - {name: metric_key, value: disparate_impact}
                - {name: operator, value: ">="}
                - {name: threshold, value: "0.8"}
                - {name: "input:dimension", value: gender}
                - {name: "input:target", value: target}
                - {name: "input:prediction", value: prediction}
            - uuid: 2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e
              control-id: gender-eqodds
              description: Equalized odds
              props:
                - {name: metric_key, value: equalized_odds_ratio}
                - {name: operator, value: ">="}
                - {name: threshold, value: "0.8"}
                - {name: "input:dimension", value: gender}
                - {name: "input:target", value: target}
                - {name: "input:prediction", value: prediction}
"""

SDK_SCRIPT = """\
import json, sys, time, statistics, io, contextlib
import pandas as pd
import venturalitica as vl
df = pd.read_feather(sys.argv[1])
times, results = [], None
for _ in range(int(sys.argv[3])):
    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        # The SDK binds the policy's dimension through `dimension=`; with the
        # tutorial's `gender="gender"` it returns 1.0 with no groups (a pass).
        results = vl.enforce(data=df, policy=sys.argv[2], target="target", prediction="prediction",
                             dimension="gender")
    times.append(time.perf_counter() - t)
values = {r.control_id: float(r.actual_value) for r in results}
print(json.dumps({"median_s": statistics.median(times), "values": values}))
"""


def frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    gender = rng.choice(["female", "male", "nonbinary"], rows, p=[0.45, 0.5, 0.05])
    target = rng.integers(0, 2, rows)
    noise = rng.random(rows)
    prediction = np.where(noise < 0.8, target, 1 - target)
    prediction = np.where((gender == "female") & (noise > 0.9), 0, prediction)
    extra = {f"feature_{i}": rng.random(rows) for i in range(6)}
    return pd.DataFrame({"gender": gender, "target": target, "prediction": prediction, **extra})


def timed(fn, repeat: int) -> tuple[float, object]:
    fn()  # warm-up: the agent starts, caches fill
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--sdk-python", help="python of a venv with the SDK (venturalitica 0.8.x)")
    ap.add_argument("--sdk-repeat", type=int, default=1, help="SDK runs (each takes minutes on 1M rows)")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="vl-python-bench-"))
    (work / "pyproject.toml").write_text("[project]\nname = 'bench'\n")
    os.chdir(work)
    policy = work / "policy.yaml"
    policy.write_text(POLICY)
    df = frame(args.rows)
    arrow = work / "frame.arrow"
    feather.write_feather(pa.Table.from_pandas(df, preserve_index=False), arrow, compression="uncompressed")

    ours_s, ours = timed(
        lambda: vl.enforce(data=df, policy=policy, target="target", prediction="prediction", record=False),
        args.repeat,
    )
    cli = [str(find_agent_binary()), "enforce", "--data", str(arrow), "--policy", str(policy)]
    cli += ["--target", "target", "--prediction", "prediction", "--no-record", "--format", "json"]
    engine_s, engine_out = timed(lambda: subprocess.run(cli, capture_output=True, check=False), args.repeat)
    engine = json.loads(engine_out.stdout)
    ours_values = {c.control_id: c.actual_value for c in ours}
    assert ours_values == {c["id"]: c["actual_value"] for c in engine["controls"]}, "engine and API disagree"

    print(f"rows: {args.rows:,}; columns: {df.shape[1]} (the policy reads 3); median of {args.repeat}")
    print(f"  vl.enforce (pandas, end to end)     {ours_s * 1000:9.1f} ms")
    print(f"  engine alone (CLI on an Arrow file) {engine_s * 1000:9.1f} ms")
    print(f"  ratio end to end / engine            {ours_s / engine_s:8.2f}x  (target <= 2x)")
    if args.sdk_python:
        feather_path = work / "frame.feather"
        feather.write_feather(df, feather_path)
        env = {**os.environ, "VENTURALITICA_NO_ANALYTICS": "1", "DO_NOT_TRACK": "1"}
        for key in ("VENTURALITICA_AGENT", "VENTURALITICA_AGENT_KEY", "VENTURALITICA_BIN"):
            env.pop(key, None)
        run = subprocess.run(
            [args.sdk_python, "-c", SDK_SCRIPT, str(feather_path), str(policy), str(args.sdk_repeat)],
            capture_output=True,
            text=True,
            check=False,
            env=env,
            cwd=work,
        )
        if run.returncode != 0:
            print(f"  SDK failed: {run.stderr[-2000:]}", file=sys.stderr)
            sys.exit(1)
        sdk = json.loads(run.stdout.strip().splitlines()[-1])
        print(f"  Venturalitica SDK 0.8.x enforce     {sdk['median_s'] * 1000:9.1f} ms (median of {args.sdk_repeat})")
        print(f"  speed-up over the SDK                {sdk['median_s'] / ours_s:8.1f}x")
        print(f"  values, ours: {ours_values}")
        print(f"  values, SDK:  {sdk['values']}")


if __name__ == "__main__":
    main()
