"""MLflow export benchmark: `venturalitica export mlflow` against the Python
MLflow client logging the same metrics one call at a time.

It runs N empty cells through the proxied kernel (N cell events, 7 metrics
each), starts a real `mlflow server` (sqlite), and times:

- ours: `venturalitica export mlflow` of the whole store (target <= 5 s for
  10,000 cell events);
- the Python client: `MlflowClient.log_metric` once per metric point for the
  first M events (one call each, as a notebook logging per cell would), and
  that rate extrapolated to N (logging all N one at a time takes many
  minutes here).

Usage: python bench/mlflow_bench.py [--cells 10000] [--python-events 300]
(bench/run_mlflow.sh builds the agent and runs this in the test venv).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from kernel_env import PROXIED, KernelEnv  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402
from proxy_bench import RawClient  # noqa: E402


def start_server(root: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
        + ["--backend-store-uri", f"sqlite:///{root}/mlflow.db", "--artifacts-destination", str(root / "artifacts")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    uri = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2):
                return proc, uri
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("mlflow server did not start")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=10_000)
    ap.add_argument("--python-events", type=int, default=300)
    args = ap.parse_args()
    vl_bin = Path(os.environ["VL_BIN"])
    with tempfile.TemporaryDirectory() as tmp:
        env = KernelEnv(Path(tmp), vl_bin).setup()
        env.install()
        t0 = time.perf_counter()
        with env.kernel(PROXIED, {"VENTURALITICA_ENERGY": "on"}) as (km, _):
            client = RawClient(km)
            for _ in range(args.cells):
                client.run("pass")
            client.close()
        print(f"{args.cells} cells through the proxy in {time.perf_counter() - t0:.1f} s")
        cells = [e for e in env.events("cell")]
        server, uri = start_server(Path(tmp))
        try:
            t0 = time.perf_counter()
            out = subprocess.run(
                [str(vl_bin), "export", "mlflow", "--tracking-uri", uri, "--experiment", "bench"]
                + ["--root", str(env.project)],
                capture_output=True,
                text=True,
                check=True,
            )
            ours = time.perf_counter() - t0
            points = sum(
                int(line.split(", ")[1].split()[0]) for line in out.stdout.splitlines() if "metric points" in line
            )
            print(f"ours: {len(cells)} events, {points} metric points in {ours:.2f} s (target <= 5 s)")

            mlc = MlflowClient(tracking_uri=uri)
            exp = mlc.create_experiment("python-client")
            run = mlc.create_run(exp).info.run_id
            sample = cells[: args.python_events]
            t0 = time.perf_counter()
            calls = 0
            for e in sample:
                p = e["payload"]
                en = p.get("energy", {})
                values = {
                    "cell.duration_s": p["duration_s"],
                    "energy.total_j": en.get("total_j"),
                    "energy.cpu_j": en.get("cpu", {}).get("joules"),
                    "energy.ram_j": en.get("ram", {}).get("joules"),
                    "energy.co2e_g": en.get("co2e_g"),
                    "energy.peak_rss_mb": (en.get("peak_rss_bytes") or 0) / 1e6,
                }
                for key, value in values.items():
                    if value is not None:
                        mlc.log_metric(run, key, value, step=p["execution_count"])
                        calls += 1
            theirs = time.perf_counter() - t0
            per_event = theirs / len(sample)
            print(
                f"python MlflowClient.log_metric: {len(sample)} events ({calls} calls) in {theirs:.2f} s; "
                f"extrapolated to {len(cells)} events: {per_event * len(cells):.1f} s"
            )
            print(f"ratio (python extrapolated / ours): {per_event * len(cells) / ours:.0f}x")
            print(json.dumps({"events": len(cells), "ours_s": ours, "python_per_event_s": per_event}))
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
