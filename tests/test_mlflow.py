"""`venturalitica export mlflow` against a real `mlflow server` (sqlite, artifacts served)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path

import mlflow_proxy
import pytest
from conftest import free_port
from kernel_env import run_cell
from mlflow.tracking import MlflowClient
from policies import DI_POLICY


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


def _traces(uri: str, experiment: str, run_id: str | None = None, filter_string: str | None = None) -> list:
    # A client, not `mlflow.set_tracking_uri`, which sets MLFLOW_TRACKING_URI
    # in this process's environment: every kernel started after it would
    # export itself at shutdown.
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    return list(client.search_traces(locations=[exp.experiment_id], run_id=run_id, filter_string=filter_string))


def _attr(span, key: str):
    return span.attributes.get(key)


def test_a_session_is_a_trace_with_a_span_per_cell_and_per_control(kernel_env, mlflow_server):
    with kernel_env.kernel() as (_, kc):
        for code in ["x = 1", "sum(range(10**6))", "1 / 0"]:
            run_cell(kc, code)
    _enforce(kernel_env.vl_bin, kernel_env.project, "a,1\na,1\nb,0\nb,1\n")
    out = _export(kernel_env.vl_bin, kernel_env.project, mlflow_server, "traces")
    events = _trail_lines(kernel_env.project)
    cells = [e for e in events if e["event"]["kind"] == "cell"]
    (enforce,) = [e for e in events if e["event"]["kind"] == "enforce"]

    client = MlflowClient(tracking_uri=mlflow_server)
    exp = client.get_experiment_by_name("traces")
    runs = {r.data.tags["venturalitica.pid"]: r for r in client.search_runs([exp.experiment_id])}
    session_run = runs[str(cells[0]["event"]["pid"])]
    (trace,) = _traces(mlflow_server, "traces", run_id=session_run.info.run_id)
    assert trace.info.trace_id == session_run.data.tags["venturalitica.trace_id"]
    assert f"trace {trace.info.trace_id}" in out.stdout
    assert trace.info.state.value == "OK"
    root = next(s for s in trace.data.spans if s.parent_id is None)
    assert root.span_type == "WORKFLOW" and _attr(root, "venturalitica.cells") == 3
    spans = sorted((s for s in trace.data.spans if s.parent_id == root.span_id), key=lambda s: s.start_time_ns)
    assert len(spans) == len(cells) == 3
    for span, line in zip(spans, cells, strict=True):
        p = line["event"]["payload"]
        assert span.name == f"cell [{p['execution_count']}]" and span.span_type == "TASK"
        assert _attr(span, "venturalitica.seq") == line["seq"]
        assert _attr(span, "venturalitica.hash") == line["hash"]
        assert _attr(span, "cell.code_sha256") == p["code_sha256"]
        assert _attr(span, "cell.execution_count") == p["execution_count"]
        for component in ("cpu", "ram"):
            assert _attr(span, f"energy.{component}_j") == p["energy"][component]["joules"]
            assert _attr(span, f"energy.{component}_method") == p["energy"][component]["method"]
        assert _attr(span, "energy.total_j") == p["energy"]["total_j"]
        assert _attr(span, "energy.co2e_g") == p["energy"]["co2e_g"]
        assert span.outputs["energy"]["total_high_j"] == p["energy"]["total_high_j"]
        assert root.start_time_ns <= span.start_time_ns <= span.end_time_ns <= root.end_time_ns
    assert [s.status.status_code.value for s in spans] == ["OK", "OK", "ERROR"]
    assert spans[2].status.description == "ZeroDivisionError"

    # The CLI run's trace: the evaluation, and a span per control with its verdict.
    cli_run = runs[str(enforce["event"]["pid"])]
    (cli_trace,) = _traces(mlflow_server, "traces", run_id=cli_run.info.run_id)
    results = enforce["event"]["payload"]["results"]
    (guard,) = [s for s in cli_trace.data.spans if s.span_type == "GUARDRAIL"]
    assert _attr(guard, "policy.sha256") == results["policy"]["sha256"]
    assert _attr(guard, "data.fingerprint") == results["data"]["fingerprint"]
    controls = [s for s in cli_trace.data.spans if s.parent_id == guard.span_id]
    assert [s.name for s in controls] == [c["id"] for c in results["controls"]]
    for span, c in zip(controls, results["controls"], strict=True):
        assert _attr(span, "control.value") == c["actual_value"]
        assert (_attr(span, "control.operator"), _attr(span, "control.threshold")) == (c["operator"], c["threshold"])
        assert _attr(span, "control.status") == c["status"]
        assert span.status.status_code.value == ("OK" if c["status"] == "pass" else "ERROR")

    # Searchable by what an auditor asks: the failing controls.
    failing = _traces(mlflow_server, "traces", filter_string="span.status = 'ERROR'")
    assert {t.info.trace_id for t in failing} == {trace.info.trace_id, cli_trace.info.trace_id}

    # A second export adds nothing: same traces, same spans; the runs are
    # left as they are, their events not even read.
    again = _export(kernel_env.vl_bin, kernel_env.project, mlflow_server, "traces")
    assert "(0 runs; 2 up to date, left as they are)" in again.stdout, again.stdout
    after = _traces(mlflow_server, "traces")
    assert sorted(len(t.data.spans) for t in after) == sorted([len(trace.data.spans), len(cli_trace.data.spans)])


def _trail_lines(project: Path) -> list[dict]:
    return [json.loads(line) for line in (project / ".venturalitica" / "trace.jsonl").read_text().splitlines()]


def test_a_second_export_sends_only_what_is_new(kernel_env, mlflow_server):
    _enforce(kernel_env.vl_bin, kernel_env.project, "a,1\na,1\nb,0\nb,1\n")
    _export(kernel_env.vl_bin, kernel_env.project, mlflow_server, "twice")
    again = _export(kernel_env.vl_bin, kernel_env.project, mlflow_server, "twice")
    assert "(0 runs; 1 up to date, left as they are)" in again.stdout, again.stdout
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


def test_two_exports_at_once_keep_each_others_state(kernel_env, mlflow_server):
    with kernel_env.kernel() as (_, kc):
        for _ in range(200):
            run_cell(kc, "pass")
    cmd = [str(kernel_env.vl_bin), "export", "mlflow", "--tracking-uri", mlflow_server]
    cmd += ["--root", str(kernel_env.project)]
    both = [subprocess.Popen([*cmd, "--experiment", f"at-once-{i}"], stdout=subprocess.PIPE) for i in range(2)]
    assert [p.wait(timeout=120) for p in both] == [0, 0]
    for i in range(2):
        again = _export(kernel_env.vl_bin, kernel_env.project, mlflow_server, f"at-once-{i}")
        assert "(0 runs; 1 up to date, left as they are)" in again.stdout, again.stdout
        exp = MlflowClient(tracking_uri=mlflow_server).get_experiment_by_name(f"at-once-{i}")
        assert len(MlflowClient(tracking_uri=mlflow_server).search_runs([exp.experiment_id])) == 1


class _Flaky:
    """A proxy to MLflow that plays a server dying mid-export: the
    `cut_at`-th request to `path` whose body holds `marker` reaches the
    server but its reply is lost (the connection closes), and every request
    after it fails with 503, until `heal()` (the server is back, at the same
    address, so the export's state for it applies). With `refuse`, every
    request to `path` gets that status instead (a server without it)."""

    def __init__(self, upstream: str, path: str, marker: bytes, cut_at: int, refuse: int | None = None) -> None:
        self.seen = 0
        self.healed = False

        def before(handler, body) -> bool:
            if refuse and handler.path.endswith(path):  # a server that has no such endpoint
                detail = {"detail": "REST OTLP span logging is not supported by FileStore"}
                mlflow_proxy.answer(handler, refuse, json.dumps(detail).encode())
                return True
            if not self.healed and self.seen >= cut_at:
                mlflow_proxy.answer(handler, 503)
                return True
            return False

        def after(handler, body, headers, data) -> bool:
            if not self.healed and handler.path.endswith(path) and body and marker in body:
                self.seen += 1
                if self.seen == cut_at:
                    handler.close_connection = True
                    handler.connection.shutdown(socket.SHUT_RDWR)
                    return True
            return False

        self.server = mlflow_proxy.start(upstream, before, after)
        self.uri = f"http://127.0.0.1:{self.server.server_port}"

    def heal(self) -> None:
        self.healed = True


def _cut_then_resume(kernel_env, flaky: _Flaky, experiment: str) -> None:
    try:
        cut = _export(kernel_env.vl_bin, kernel_env.project, flaky.uri, experiment, check=False)
        assert cut.returncode == 2 and "run the export again to resume" in cut.stderr, cut.stderr
        assert flaky.seen >= 1, "the export never reached the request to cut"
        flaky.heal()
        _export(kernel_env.vl_bin, kernel_env.project, flaky.uri, experiment)
    finally:
        flaky.server.shutdown()


def test_an_export_cut_short_resumes_without_duplicates(kernel_env, mlflow_server):
    with kernel_env.kernel() as (_, kc):
        for _ in range(300):  # 300 cells x 8 metrics: three batches of <= 1000
            run_cell(kc, "pass")
    _cut_then_resume(kernel_env, _Flaky(mlflow_server, "/runs/log-batch", b'"metrics":[{', 2), "resume")

    cells = [e for e in _events(kernel_env.project) if e["kind"] == "cell"]
    client = MlflowClient(tracking_uri=mlflow_server)
    exp = client.get_experiment_by_name("resume")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1, [(r.info.run_name, r.data.tags) for r in runs]
    (run,) = runs
    assert run.info.status == "FINISHED"
    for key in ["cell.duration_s", "energy.total_j"]:
        history = client.get_metric_history(run.info.run_id, key)
        steps = Counter(m.step for m in history)
        assert len(history) == len(cells) == 300, key
        assert max(steps.values()) == 1, f"{key}: duplicated steps"
    trail = json.loads(Path(client.download_artifacts(run.info.run_id, "compliance_trace.json")).read_text())
    assert len(trail) == 300

    # Cut in the spans: the first OTLP request is stored, its reply lost.
    _cut_then_resume(kernel_env, _Flaky(mlflow_server, "/v1/traces", b"resourceSpans", 1), "resume-trace")
    exp = client.get_experiment_by_name("resume-trace")
    (run,) = client.search_runs([exp.experiment_id])
    (trace,) = _traces(mlflow_server, "resume-trace")
    assert trace.info.state.value == "OK"
    assert trace.info.trace_id == run.data.tags["venturalitica.trace_id"]
    seqs = Counter(s.attributes.get("venturalitica.seq") for s in trace.data.spans if s.parent_id is not None)
    assert sorted(seqs) == sorted(e["seq"] for e in _trail_lines(kernel_env.project) if e["event"]["kind"] == "cell")
    assert max(seqs.values()) == 1, "a cell has two spans"
    assert len(trace.data.spans) == 301


def test_a_server_that_cannot_store_traces_still_gets_the_run(kernel_env, mlflow_server):
    _enforce(kernel_env.vl_bin, kernel_env.project, "a,1\na,1\nb,0\nb,1\n")
    client = MlflowClient(tracking_uri=mlflow_server)
    for status in (404, 501):  # no OTLP endpoint; a store that cannot take spans
        proxy = _Flaky(mlflow_server, "/v1/traces", b"", cut_at=10**9, refuse=status)
        try:
            out = _export(kernel_env.vl_bin, kernel_env.project, proxy.uri, f"no-traces-{status}")
        finally:
            proxy.server.shutdown()
        assert "trace not exported:" in out.stdout
        assert ("not supported by FileStore" in out.stdout) == (status == 501)
        exp = client.get_experiment_by_name(f"no-traces-{status}")
        (run,) = client.search_runs([exp.experiment_id])
        assert run.info.status == "FINISHED" and run.data.metrics["compliance_score"] == 0.0
        assert "venturalitica.trace_id" in run.data.tags
        assert _traces(mlflow_server, f"no-traces-{status}") == []


def test_an_unreachable_server_is_a_clear_error(kernel_env):
    _enforce(kernel_env.vl_bin, kernel_env.project, "a,1\nb,1\n")
    out = _export(kernel_env.vl_bin, kernel_env.project, f"http://127.0.0.1:{free_port()}", "x", check=False)
    assert out.returncode == 2
    assert "no answer after retries" in out.stderr


def test_a_local_store_uri_says_the_export_needs_a_server(kernel_env, tmp_path):
    _enforce(kernel_env.vl_bin, kernel_env.project, "a,1\nb,1\n")
    for uri in (f"file://{tmp_path}/mlruns", f"sqlite:///{tmp_path}/mlflow.db"):
        out = _export(kernel_env.vl_bin, kernel_env.project, uri, "x", check=False)
        assert out.returncode == 2, out.stderr
        assert "needs a tracking server" in out.stderr and "resume" not in out.stderr


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


def test_the_session_trace_in_mlflows_trace_view_in_chromium(kernel_env, mlflow_server, tmp_path):
    from test_ui_browser import CHROMIUM, FLAGS, require_chromium, run_notebook

    require_chromium()
    run_notebook(kernel_env.project)
    _export(kernel_env.vl_bin, kernel_env.project, mlflow_server, "trace-view")
    (trace,) = [t for t in _traces(mlflow_server, "trace-view") if any(s.name.startswith("cell") for s in t.data.spans)]
    exp = MlflowClient(tracking_uri=mlflow_server).get_experiment_by_name("trace-view")
    tid = trace.info.trace_id
    url = f"{mlflow_server}/#/experiments/{exp.experiment_id}/traces?selectedEvaluationId={tid}&traceId={tid}"
    # MLflow's UI is a large single-page app: give its scripts more virtual time.
    flags = [f for f in FLAGS if not f.startswith("--virtual-time-budget")] + ["--virtual-time-budget=20000"]
    profile = tmp_path / ".chromium"
    page = subprocess.run(
        [CHROMIUM, *flags, f"--user-data-dir={profile}", "--dump-dom", url],
        check=True,
        capture_output=True,
        text=True,
        timeout=180,
    ).stdout
    # What a cell ran (`%vl_enforce`, `%%vl_monitor`) is a child of that cell's span.
    by_id = {span.span_id: span for span in trace.data.spans}
    inner = [span for span in trace.data.spans if span.span_type == "GUARDRAIL" or span.name.startswith("monitor")]
    assert len(inner) == 3
    assert all(by_id[span.parent_id].name.startswith("cell [") for span in inner)
    # The span tree: every cell, the evaluations with their controls, the monitor window.
    for span in trace.data.spans:
        assert span.name in page, f"span {span.name!r} not in the trace view"
    assert "gender-di" in page and "monitor training_run_v1" in page

    shots = Path(os.environ.get("VL_SCREENSHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    shot = shots / "mlflow-trace.png"
    subprocess.run(
        [CHROMIUM, *flags, f"--user-data-dir={profile}", "--window-size=1600,1000", f"--screenshot={shot}", url],
        check=True,
        capture_output=True,
        timeout=180,
    )
    assert shot.stat().st_size > 10_000
