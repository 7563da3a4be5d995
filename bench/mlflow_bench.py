"""MLflow export benchmark: `venturalitica export mlflow` against the
server's own floor, measured side by side.

It runs N empty cells through the proxied kernel (N cell events: 9 metric
points and one span each), then, each on a fresh `mlflow server` (sqlite,
one worker, as `mlflow server` starts by default):

- ours: `venturalitica export mlflow` of the whole store, timed;
- the floor: the very requests our export sent (recorded through a
  forwarding proxy on a third server, not timed), replayed from Python with
  no work between them: the set-up calls in order, then every `log-batch`,
  OTLP and artifact request from a thread pool at the best of several
  concurrencies. What the server needs to store these points and spans,
  whoever sends them;
- the Python client, for reference: `MlflowClient.log_metric` once per
  point for the first M events (as a notebook logging per cell would),
  extrapolated to N.

Target: <= 5 s for 10,000 cell events, or within 1.5x of the floor where the
server is the bottleneck.

Usage: python bench/mlflow_bench.py [--cells 10000] [--python-events 100]
(bench/run_mlflow.sh builds the agent and runs this in the test venv).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

import mlflow_proxy  # noqa: E402
from kernel_env import PROXIED, KernelEnv  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402
from proxy_bench import RawClient  # noqa: E402

# Requests whose order among themselves does not matter: the bulk.
BULK = ("/api/2.0/mlflow/runs/log-batch", "/v1/traces", "/api/2.0/mlflow-artifacts/")


def start_server(root: Path) -> tuple[subprocess.Popen, str]:
    root.mkdir(parents=True, exist_ok=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
        + ["--backend-store-uri", f"sqlite:///{root}/mlflow.db", "--artifacts-destination", str(root / "artifacts")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
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


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None
    answer: bytes


def recording_proxy(upstream: str) -> tuple[http.server.ThreadingHTTPServer, list[Recorded]]:
    """A forwarding proxy that keeps every request and its answer."""
    log: list[Recorded] = []
    lock = threading.Lock()

    def record(handler, body, headers, data) -> bool:
        with lock:
            log.append(Recorded(handler.command, handler.path, headers, body, data))
        return False

    return mlflow_proxy.start(upstream, after=record), log


def kind(r: Recorded) -> str:
    return next((k for k in ("log-batch", "/v1/traces", "artifacts") if k in r.path), "set-up")


def replay(uri: str, log: list[Recorded], workers: int, spent: dict[str, float]) -> float:
    """Sends the recorded requests again; the bulk from `workers` threads.
    Adds each request's time to `spent`, by kind."""

    def send(r: Recorded, ids: dict[str, str]) -> bytes:
        def swap(text: str) -> str:
            for old, new in ids.items():
                text = text.replace(old, new)
            return text

        body = swap(r.body.decode()).encode() if r.body is not None else None
        headers = {k: swap(v) for k, v in r.headers.items()}
        req = urllib.request.Request(uri + swap(r.path), data=body, method=r.method, headers=headers)
        t = time.perf_counter()
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                return resp.read()
        except urllib.error.HTTPError as e:  # the export's own 404s (an experiment not there yet)
            return e.read()
        finally:
            spent[kind(r)] = spent.get(kind(r), 0.0) + time.perf_counter() - t

    t0 = time.perf_counter()
    ids: dict[str, str] = {}
    bulk = [r for r in log if r.path.startswith(BULK)]
    setup = [r for r in log if not r.path.startswith(BULK) and not r.path.endswith("/runs/update")]
    finish = [r for r in log if r.path.endswith("/runs/update")]
    for r in setup:
        answer = send(r, ids)
        if r.path.endswith("/experiments/create"):
            # Fresh servers number experiments alike; the ids in the bodies stay valid.
            assert json.loads(answer)["experiment_id"] == json.loads(r.answer)["experiment_id"]
        if r.path.endswith("/runs/create"):
            old = json.loads(r.answer)["run"]["info"]["run_id"]
            ids[old] = json.loads(answer)["run"]["info"]["run_id"]
    with cf.ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda r: send(r, ids), bulk))
    for r in finish:
        send(r, ids)
    return time.perf_counter() - t0


def export(vl_bin: Path, uri: str, project: Path) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(
        [str(vl_bin), "export", "mlflow", "--tracking-uri", uri, "--experiment", "bench", "--root", str(project)],
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - t0, out.stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=10_000)
    ap.add_argument("--python-events", type=int, default=100)
    args = ap.parse_args()
    vl_bin = Path(os.environ["VL_BIN"])
    with tempfile.TemporaryDirectory() as tmp:
        env = KernelEnv(Path(tmp), vl_bin).setup()
        env.install()
        t0 = time.perf_counter()
        with env.kernel(PROXIED, {"VENTURALITICA_ENERGY": "on"}) as (km, kc):
            # The ready-check client must stop subscribing: nobody reads its
            # IOPub, and an unread subscriber stalls the proxy (docs/kernel.md).
            kc.stop_channels()
            client = RawClient(km)
            for _ in range(args.cells):
                client.run("pass")
            client.close()
        print(f"{args.cells} cells through the proxy in {time.perf_counter() - t0:.1f} s")
        cells = list(env.events("cell"))
        state = env.project / ".venturalitica" / "exports" / "mlflow.json"

        servers = []
        try:
            # Ours, on a fresh server.
            server, uri = start_server(Path(tmp) / "ours")
            servers.append(server)
            ours, stdout = export(vl_bin, uri, env.project)
            summary = [line for line in stdout.splitlines() if "metric points" in line]
            print(f"ours: {len(cells)} events in {ours:.2f} s ({'; '.join(summary)})")

            # What ours sent, recorded on a second server.
            state.unlink()
            server, uri = start_server(Path(tmp) / "recorded")
            servers.append(server)
            proxy, log = recording_proxy(uri)
            export(vl_bin, f"http://127.0.0.1:{proxy.server_port}", env.project)
            proxy.shutdown()
            bulk = sum(r.path.startswith(BULK) for r in log)
            print(f"recorded {len(log)} requests ({bulk} log-batch, OTLP and artifact uploads)")

            # The floor: the same requests replayed on fresh servers.
            floors = {}
            for workers in (1, 4, 8):
                server, uri = start_server(Path(tmp) / f"floor{workers}")
                servers.append(server)
                spent: dict[str, float] = {}
                floors[workers] = replay(uri, log, workers, spent)
                by_kind = ", ".join(f"{k} {v:.1f} s" for k, v in sorted(spent.items()))
                print(f"floor, {workers:2d} in flight: {floors[workers]:.2f} s (request time by kind: {by_kind})")
            best = min(floors.values())
            print(f"ours / best floor: {ours / best:.2f}x (target <= 1.5x, or <= 5 s)")

            mlc = MlflowClient(tracking_uri=uri)
            run = mlc.create_run(mlc.create_experiment("python-client")).info.run_id
            sample = cells[: args.python_events]
            t0 = time.perf_counter()
            for e in sample:
                p = e["payload"]
                en = p.get("energy", {})
                values = {
                    "cell.duration_s": p["duration_s"],
                    "energy.total_j": en.get("total_j"),
                    "energy.total_low_j": en.get("total_low_j"),
                    "energy.total_high_j": en.get("total_high_j"),
                    "energy.cpu_j": en.get("cpu", {}).get("joules"),
                    "energy.ram_j": en.get("ram", {}).get("joules"),
                    "energy.co2e_g": en.get("co2e_g"),
                    "energy.peak_rss_mb": (en.get("peak_rss_bytes") or 0) / 1e6,
                }
                for key, value in values.items():
                    if value is not None:
                        mlc.log_metric(run, key, value, step=p["execution_count"])
            per_event = (time.perf_counter() - t0) / len(sample)
            print(
                f"python MlflowClient.log_metric (metrics only, no spans): {per_event * 1e3:.1f} ms per event; "
                f"extrapolated to {len(cells)} events: {per_event * len(cells):.0f} s "
                f"({per_event * len(cells) / ours:.0f}x ours)"
            )
            figures = {"events": len(cells), "ours_s": ours, "floor_s": floors, "python_per_event_s": per_event}
            print(json.dumps(figures))
        finally:
            for s in servers:
                s.terminate()
                s.wait(timeout=30)


if __name__ == "__main__":
    main()
