"""`venturalitica export mlflow` against a real `mlflow server` (sqlite, artifacts served)."""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from kernel_env import run_cell
from mlflow.tracking import MlflowClient
from policies import DI_POLICY


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A real MLflow tracking server on a free loopback port."""
    root = tmp_path_factory.mktemp("mlflow")
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{root}/mlflow.db",
            "--artifacts-destination",
            str(root / "artifacts"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(root / "server.log", "w"),  # noqa: SIM115
    )
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2) as r:
                if r.status == 200:
                    break
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"mlflow server did not start:\n{(root / 'server.log').read_text()[-3000:]}")
        time.sleep(0.5)
    yield uri
    proc.terminate()
    proc.wait(timeout=30)


def _events(project: Path) -> list[dict]:
    lines = (project / ".venturalitica" / "trace.jsonl").read_text().splitlines()
    return [json.loads(line)["event"] for line in lines]


def _export(vl_bin, project: Path, uri: str, experiment: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(vl_bin), "export", "mlflow", "--tracking-uri", uri, "--experiment", experiment, "--root", str(project)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def _enforce(vl_bin, project: Path, rows: str) -> None:
    (project / "data.csv").write_text("g,y\n" + rows)
    (project / "policy.yaml").write_text(DI_POLICY.format(mode="block"))
    subprocess.run(
        [str(vl_bin), "enforce", "--data", "data.csv", "--policy", "policy.yaml"],
        cwd=project,
        capture_output=True,
        check=False,
    )


def test_a_notebook_session_and_a_cli_run_land_in_mlflow(kernel_env, mlflow_server):
    with kernel_env.kernel() as (_, kc):
        for code in ["x = 1", "sum(range(10**6))", "x + 1"]:
            run_cell(kc, code)
    _enforce(kernel_env.vl_bin, kernel_env.project, "a,1\na,1\nb,0\nb,1\n")
    out = _export(kernel_env.vl_bin, kernel_env.project, mlflow_server, "notebooks")
    assert "2 runs" in out.stdout

    client = MlflowClient(tracking_uri=mlflow_server)
    exp = client.get_experiment_by_name("notebooks")
    runs = {r.data.tags["venturalitica.pid"]: r for r in client.search_runs([exp.experiment_id])}
    events = _events(kernel_env.project)
    cells = [e for e in events if e["kind"] == "cell"]
    (enforce,) = [e for e in events if e["kind"] == "enforce"]

    session = runs[str(cells[0]["pid"])]
    assert session.info.status == "FINISHED"
    # MLflow's storage round trip can move a double by one ulp: compare to 1e-12.
    history = client.get_metric_history(session.info.run_id, "cell.duration_s")
    assert [m.step for m in history] == [c["payload"]["execution_count"] for c in cells]
    assert [m.value for m in history] == pytest.approx([c["payload"]["duration_s"] for c in cells], rel=1e-12)
    energy = client.get_metric_history(session.info.run_id, "energy.total_j")
    assert [m.value for m in energy] == pytest.approx([c["payload"]["energy"]["total_j"] for c in cells], rel=1e-12)
    for end in ("low", "high"):
        band = client.get_metric_history(session.info.run_id, f"energy.total_{end}_j")
        expected = [c["payload"]["energy"][f"total_{end}_j"] for c in cells]
        assert [m.value for m in band] == pytest.approx(expected, rel=1e-12)
    artifacts = {a.path for a in client.list_artifacts(session.info.run_id)}
    assert "compliance_trace.json" in artifacts

    cli = runs[str(enforce["pid"])]
    control = enforce["payload"]["results"]["controls"][0]
    assert cli.data.metrics["compliance.gender-di.value"] == control["actual_value"] == 0.5
    assert cli.data.metrics["compliance_score"] == 0.0
    sha = enforce["payload"]["results"]["policy"]["sha256"]
    assert cli.data.tags["venturalitica.policy_sha256"] == sha
    policy_files = {a.path for a in client.list_artifacts(cli.info.run_id, "policies")}
    assert f"policies/{sha}.yaml" in policy_files
    trace_path = client.download_artifacts(cli.info.run_id, "compliance_trace.json")
    assert json.loads(Path(trace_path).read_text())[0]["kind"] == "enforce"

    # Each run carries the trail's head as exported: an anchor outside the
    # project that `verify --head` checks the trail against.
    last = _trail_lines(kernel_env.project)[-1]
    for run in (session, cli):
        assert run.data.tags["venturalitica.head"] == f"{last['seq']}:{last['hash']}"
        assert run.data.tags["venturalitica.head_signer"].startswith("ed25519:")
    anchor = cli.data.tags["venturalitica.head"]
    assert kernel_env.vl("verify", "--root", kernel_env.project, "--head", anchor).returncode == 0
    # An edit before the anchor, even re-hashed and re-signed, breaks it.
    trace = kernel_env.project / ".venturalitica" / "trace.jsonl"
    lines = trace.read_text().splitlines(keepends=True)
    trace.write_text("".join(lines[:-1]))
    cut = kernel_env.vl("verify", "--root", kernel_env.project, "--head", anchor, check=False)
    assert cut.returncode == 1 and f"anchor {anchor} is past the last event" in cut.stdout


def _trail_lines(project: Path) -> list[dict]:
    return [json.loads(line) for line in (project / ".venturalitica" / "trace.jsonl").read_text().splitlines()]


def test_a_second_export_sends_only_what_is_new(kernel_env, mlflow_server):
    _enforce(kernel_env.vl_bin, kernel_env.project, "a,1\na,1\nb,0\nb,1\n")
    _export(kernel_env.vl_bin, kernel_env.project, mlflow_server, "twice")
    again = _export(kernel_env.vl_bin, kernel_env.project, mlflow_server, "twice")
    assert "0 new events, 0 metric points" in again.stdout
    _enforce(kernel_env.vl_bin, kernel_env.project, "a,1\na,0\nb,1\nb,0\n")
    _export(kernel_env.vl_bin, kernel_env.project, mlflow_server, "twice")
    client = MlflowClient(tracking_uri=mlflow_server)
    exp = client.get_experiment_by_name("twice")
    points = [
        m.value
        for r in client.search_runs([exp.experiment_id])
        for m in client.get_metric_history(r.info.run_id, "compliance.gender-di.value")
    ]
    assert sorted(points) == [0.5, 1.0]  # one point per evaluation, none twice


class _DropsTheSecondBatchReply(http.server.BaseHTTPRequestHandler):
    """Forwards to MLflow; the second log-batch reaches the server but its
    reply is lost (the connection closes), and everything after it fails."""

    upstream = ""
    batches = 0

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        cls = type(self)
        if cls.batches >= 2:
            self.send_response(503)
            self.end_headers()
            return
        req = urllib.request.Request(cls.upstream + self.path, data=body, method=self.command)
        for k in ("Content-Type",):
            if self.headers.get(k):
                req.add_header(k, self.headers[k])
        with urllib.request.urlopen(req, timeout=30) as r:
            data = r.read()
            status = r.status
        if self.path.endswith("/runs/log-batch") and body and b'"metrics":[{' in body:
            cls.batches += 1
            if cls.batches == 2:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = _forward

    def log_message(self, *args) -> None:
        pass


def test_an_export_cut_short_resumes_without_duplicates(kernel_env, mlflow_server):
    with kernel_env.kernel() as (_, kc):
        for _ in range(300):  # 300 cells x 7 metrics: three batches of <= 1000
            run_cell(kc, "pass")
    _DropsTheSecondBatchReply.upstream = mlflow_server
    flaky = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _DropsTheSecondBatchReply)
    threading.Thread(target=flaky.serve_forever, daemon=True).start()
    try:
        cut = _export(
            kernel_env.vl_bin, kernel_env.project, f"http://127.0.0.1:{flaky.server_port}", "resume", check=False
        )
    finally:
        flaky.shutdown()
    assert cut.returncode == 2 and "run the export again to resume" in cut.stderr
    _export(kernel_env.vl_bin, kernel_env.project, mlflow_server, "resume")

    cells = [e for e in _events(kernel_env.project) if e["kind"] == "cell"]
    client = MlflowClient(tracking_uri=mlflow_server)
    exp = client.get_experiment_by_name("resume")
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.status == "FINISHED"
    for key in ["cell.duration_s", "energy.total_j"]:
        history = client.get_metric_history(run.info.run_id, key)
        steps = Counter(m.step for m in history)
        assert len(history) == len(cells) == 300, key
        assert max(steps.values()) == 1, f"{key}: duplicated steps"


def test_an_unreachable_server_is_a_clear_error(kernel_env):
    _enforce(kernel_env.vl_bin, kernel_env.project, "a,1\nb,1\n")
    out = _export(kernel_env.vl_bin, kernel_env.project, f"http://127.0.0.1:{_free_port()}", "x", check=False)
    assert out.returncode == 2
    assert "no answer after retries" in out.stderr


def test_export_needs_a_tracking_uri(vl_bin, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    out = subprocess.run(
        [str(vl_bin), "export", "mlflow", "--root", str(tmp_path)], env=env, capture_output=True, text=True, check=False
    )
    assert out.returncode == 2 and "MLFLOW_TRACKING_URI" in out.stderr


def _session_shutdown_seconds(kernel_env, env: dict[str, str]) -> float:
    """Runs one cell in a proxied kernel, then times its shutdown."""
    km = kernel_env.manager()
    km.start_kernel(cwd=str(kernel_env.project), env={**os.environ, **env})
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        run_cell(kc, "sum(range(10**5))")
    finally:
        kc.stop_channels()
    t0 = time.monotonic()
    km.shutdown_kernel(now=False)
    return time.monotonic() - t0


def test_the_export_at_kernel_shutdown_never_holds_the_kernel(kernel_env, mlflow_server):
    # A server that accepts connections and never answers: an export run in
    # the proxy's exit would wait on it, and jupyter_client kills a kernel
    # that takes more than 5 s to stop.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    try:
        off = min(_session_shutdown_seconds(kernel_env, {}) for _ in range(2))
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        on = min(_session_shutdown_seconds(kernel_env, {"MLFLOW_TRACKING_URI": uri}) for _ in range(2))
    finally:
        silent.close()
    assert on < off + 1.0, f"shutdown {on:.2f} s with the export on, {off:.2f} s off"

    # With a real server, the session arrives once the kernel has gone.
    env = {"MLFLOW_TRACKING_URI": mlflow_server, "MLFLOW_EXPERIMENT_NAME": "at-shutdown"}
    _session_shutdown_seconds(kernel_env, env)
    client = MlflowClient(tracking_uri=mlflow_server)
    deadline = time.monotonic() + 60
    runs = []
    while time.monotonic() < deadline:
        exp = client.get_experiment_by_name("at-shutdown")
        runs = [r for r in client.search_runs([exp.experiment_id])] if exp else []
        if runs and "energy.total_j" in runs[0].data.metrics:
            break
        time.sleep(0.5)
    assert runs, "the detached export never reached the server"
    (run,) = runs
    assert run.data.tags["venturalitica.pid"] and "energy.total_j" in run.data.metrics
