"""The kernel proxy, exercised with a real ipykernel through jupyter_client."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime

import pytest
import zmq
from jupyter_client.session import Session
from kernel_env import PROXIED, run_cell


def _meta(reply) -> dict:
    return reply["metadata"]["venturalitica"]


def test_install_writes_a_spec_around_python3(kernel_env):
    spec_dir = kernel_env.jupyter_path / "kernels" / PROXIED
    spec = json.loads((spec_dir / "kernel.json").read_text())
    # VS Code's shape for a Python kernel: [<python>, "-m", <module>, ...].
    assert spec["argv"][:3] == [sys.executable, "-m", "venturalitica.kernel"]
    assert spec["argv"][3:8] == ["--agent", str(kernel_env.vl_bin.resolve()), "-f", "{connection_file}", "--"]
    assert "ipykernel_launcher" in spec["argv"]
    assert spec["display_name"].endswith("(Venturalitica)")
    assert spec["language"] == "python"
    assert spec["metadata"]["venturalitica"]["wraps"] == "python3"
    # ipykernel's logos travel with the spec.
    assert (spec_dir / "logo-64x64.png").exists()

    listed = json.loads(kernel_env.vl("kernel", "list", "--json").stdout)
    assert {"name": PROXIED, "wraps": "python3"}.items() <= next(s for s in listed if s["name"] == PROXIED).items()
    # Wrapping a proxied spec again is refused.
    again = kernel_env.vl("kernel", "install", "--wrap", PROXIED, "--prefix", kernel_env.prefix, check=False)
    assert again.returncode == 2 and "already runs through venturalitica" in again.stderr
    missing = kernel_env.vl("kernel", "install", "--wrap", "nope", check=False)
    assert missing.returncode == 2 and 'no kernelspec named "nope"' in missing.stderr

    kernel_env.vl("kernel", "uninstall", PROXIED)
    assert not spec_dir.exists()


def test_install_finds_the_python_beside_the_agent_and_says_when_it_falls_back(kernel_env, tmp_path):
    """The discovery users get (no VENTURALITICA_PYTHON): the `python3` in the
    agent's own directory (a venv's bin/), else the agent's own command line
    with a warning. No python3 is on PATH here, so neither can come from it."""
    bindir = tmp_path / "venv" / "bin"
    bindir.mkdir(parents=True)
    agent = bindir / "venturalitica"
    try:
        os.link(kernel_env.vl_bin.resolve(), agent)  # the agent resolves its own path: no symlink
    except OSError:
        shutil.copy2(kernel_env.vl_bin.resolve(), agent)
    python = bindir / "python3"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    specs = tmp_path / "jupyter"
    (specs / "kernels" / "plain").mkdir(parents=True)
    plain = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"], "language": "python"}
    (specs / "kernels" / "plain" / "kernel.json").write_text(json.dumps({**plain, "display_name": "Plain"}))
    env = {k: v for k, v in os.environ.items() if k != "VENTURALITICA_PYTHON"}
    env.update(PATH="/nonexistent", JUPYTER_PATH=str(specs), NO_COLOR="1")

    def install(name: str) -> tuple[subprocess.CompletedProcess, list[str]]:
        done = subprocess.run(
            [str(agent), "kernel", "install", "--wrap", "plain", "--name", name, "--prefix", str(tmp_path / "prefix")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        spec = tmp_path / "prefix" / "share" / "jupyter" / "kernels" / name / "kernel.json"
        return done, json.loads(spec.read_text())["argv"]

    found, argv = install("beside")
    assert argv[:3] == [sys.executable, "-m", "venturalitica.kernel"], argv
    assert argv[3:5] == ["--agent", str(agent)] and "warning" not in found.stderr

    python.unlink()
    fell_back, argv = install("fallback")
    assert argv[:3] == [str(agent), "kernel", "proxy"], argv
    assert "warning: no Python with the venturalitica package was found (set VENTURALITICA_PYTHON)" in fell_back.stderr


def test_execute_annotates_replies_and_records_cells(kernel_env):
    with kernel_env.kernel() as (_, kc):
        reply, outputs = run_cell(kc, "print('hello'); 6 * 7")
        meta = _meta(reply)
        assert reply["content"]["status"] == "ok"
        assert meta["status"] == "ok"
        assert meta["execution_count"] == reply["content"]["execution_count"] == 1
        assert meta["code_sha256"] == hashlib.sha256(b"print('hello'); 6 * 7").hexdigest()
        assert meta["start"] <= meta["end"]
        start, end = (datetime.fromisoformat(meta[k].replace("Z", "+00:00")) for k in ("start", "end"))
        # The duration is the reply's own interval, not any non-negative number.
        assert meta["duration_s"] == pytest.approx((end - start).total_seconds(), abs=2e-3)
        kinds = [m["msg_type"] for m in outputs]
        assert "stream" in kinds and "execute_result" in kinds
        assert next(m for m in outputs if m["msg_type"] == "execute_result")["content"]["data"]["text/plain"] == "42"

        reply, outputs = run_cell(kc, "1/0")
        assert _meta(reply)["status"] == "error"
        assert _meta(reply)["ename"] == "ZeroDivisionError"
        assert any(m["msg_type"] == "error" for m in outputs)

        reply, outputs = run_cell(kc, "from IPython.display import HTML, display; display(HTML('<b>x</b>'))")
        data = next(m for m in outputs if m["msg_type"] == "display_data")["content"]["data"]
        assert data["text/html"] == "<b>x</b>"

        # JupyterLab sends the cell id in the request's metadata.
        request = kc.session.msg("execute_request", {"code": "3", "silent": False}, metadata={"cellId": "cell-abc"})
        kc.shell_channel.send(request)
        reply = kc.get_shell_msg(timeout=30)
        assert _meta(reply)["cell_id"] == "cell-abc"

    cells = kernel_env.events("cell")
    assert [c["payload"]["status"] for c in cells] == ["ok", "error", "ok", "ok"]
    assert [c["payload"]["execution_count"] for c in cells] == [1, 2, 3, 4]
    assert cells[3]["payload"]["cell_id"] == "cell-abc"
    assert all(c["payload"]["mode"] == "proxy" for c in cells)
    assert kernel_env.vl("verify", "--root", kernel_env.project).returncode == 0


def test_input_goes_through_stdin(kernel_env):
    with kernel_env.kernel() as (_, kc):
        msg_id = kc.execute("name = input('who? ')", allow_stdin=True)
        request = kc.get_stdin_msg(timeout=30)
        assert request["msg_type"] == "input_request"
        assert request["content"]["prompt"] == "who? "
        kc.input("Ada")
        reply = kc.get_shell_msg(timeout=30)
        assert reply["parent_header"]["msg_id"] == msg_id
        assert _meta(reply)["status"] == "ok"
        reply, outputs = run_cell(kc, "name")
        assert next(m for m in outputs if m["msg_type"] == "execute_result")["content"]["data"]["text/plain"] == "'Ada'"


def test_interrupt_stops_a_sleeping_cell_and_the_kernel_lives_on(kernel_env):
    with kernel_env.kernel() as (km, kc):
        # stop_on_error=False: otherwise ipykernel aborts requests that reach
        # it shortly after the interrupt's error, and on a loaded machine the
        # next cell below can be one of them ("aborted").
        msg_id = kc.execute("import time; time.sleep(60)", stop_on_error=False)
        # Wait until the cell is running before interrupting it.
        while True:
            msg = kc.get_iopub_msg(timeout=30)
            if msg["msg_type"] == "execute_input":
                break
        time.sleep(0.3)
        km.interrupt_kernel()
        reply = kc.get_shell_msg(timeout=50)
        # The 60 s sleep ended by the interrupt, not by running out (no clock
        # guess: the reply says which).
        assert reply["parent_header"]["msg_id"] == msg_id
        assert reply["content"]["ename"] == "KeyboardInterrupt"
        assert _meta(reply)["status"] == "error"
        reply, _ = run_cell(kc, "2 + 2")
        assert reply["content"]["status"] == "ok"


def test_restart_gives_a_fresh_kernel(kernel_env):
    with kernel_env.kernel() as (km, kc):
        run_cell(kc, "x = 1")
        old_pid = _kernel_pid(kc)
        km.restart_kernel(now=False)
        kc.wait_for_ready(timeout=60)
        reply, outputs = run_cell(kc, "'x' in globals()")
        assert next(m for m in outputs if m["msg_type"] == "execute_result")["content"]["data"]["text/plain"] == "False"
        assert _meta(reply)["execution_count"] == 1
        assert _kernel_pid(kc) != old_pid
        assert not _alive(old_pid)


def test_shutdown_ends_the_proxy_and_the_kernel(kernel_env):
    km = kernel_env.manager()
    km.start_kernel(cwd=str(kernel_env.project))
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    kernel_pid = _kernel_pid(kc)
    proxy = km.provisioner.process
    kc.stop_channels()
    km.shutdown_kernel(now=False)
    assert proxy.wait(timeout=10) == 0
    _wait_dead(kernel_pid)


def test_a_killed_server_does_not_leave_the_proxy_and_kernel_behind(kernel_env, tmp_path):
    """A Jupyter server killed with SIGKILL cannot shut its kernels down. The
    proxy is the kernel's parent, so ipykernel's own parent check cannot
    notice; the proxy watches its parent and stops the kernel itself."""
    from jupyter_client import BlockingKernelClient
    from jupyter_client.connect import write_connection_file

    conn, _ = write_connection_file(str(tmp_path / "kernel.json"), ip="127.0.0.1")
    spec = json.loads((kernel_env.jupyter_path / "kernels" / PROXIED / "kernel.json").read_text())
    argv = [a.replace("{connection_file}", conn) for a in spec["argv"]]
    # Stands in for the server: starts the proxy and is then killed.
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys; p = subprocess.Popen(sys.argv[1:]); print(p.pid, flush=True); p.wait()",
            *argv,
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=kernel_env.project,
    )
    proxy_pid = int(server.stdout.readline())
    kc = BlockingKernelClient(connection_file=conn)
    kc.load_connection_file()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        kernel_pid = _kernel_pid(kc)
    finally:
        kc.stop_channels()
    server.kill()
    server.wait()
    _wait_dead(proxy_pid)
    _wait_dead(kernel_pid)


def test_os_exit_in_a_cell_ends_the_proxy_with_its_status(kernel_env):
    km = kernel_env.manager()
    km.start_kernel(cwd=str(kernel_env.project))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        kc.execute("import os; os._exit(3)")
        assert km.provisioner.process.wait(timeout=15) == 3
        assert not km.is_alive()
    finally:
        kc.stop_channels()
        km.cleanup_resources()
    died = kernel_env.events("cell")
    assert [c["payload"]["status"] for c in died] == ["died"]


def test_comms_with_binary_buffers_both_ways(kernel_env):
    with kernel_env.kernel() as (_, kc):
        run_cell(
            kc,
            "def _open(comm, msg):\n"
            "    @comm.on_msg\n"
            "    def _echo(m):\n"
            "        comm.send({'n': len(m['buffers'])}, buffers=[bytes(b)[::-1] for b in m['buffers']])\n"
            "get_ipython().kernel.comm_manager.register_target('echo', _open)\n",
        )
        comm_id = uuid.uuid4().hex
        payload = bytes(range(256)) * 64
        for msg_type, content, buffers in [
            ("comm_open", {"comm_id": comm_id, "target_name": "echo", "data": {}}, []),
            ("comm_msg", {"comm_id": comm_id, "data": {"go": 1}}, [payload, b"\x00\xff"]),
        ]:
            msg = kc.session.msg(msg_type, content)
            msg["buffers"] = buffers
            kc.shell_channel.send(msg)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            msg = kc.get_iopub_msg(timeout=30)
            if msg["msg_type"] == "comm_msg" and msg["content"]["comm_id"] == comm_id:
                assert msg["content"]["data"] == {"n": 2}
                assert [bytes(b) for b in msg["buffers"]] == [payload[::-1], b"\xff\x00"]
                break
        else:
            pytest.fail("no comm_msg echo from the kernel")


def test_ten_thousand_outputs_arrive_complete_and_in_order(kernel_env):
    with kernel_env.kernel() as (_, kc):
        reply, outputs = run_cell(
            kc, "from IPython.display import display\nfor i in range(10000):\n    display(i)", timeout=300
        )
        shown = [int(m["content"]["data"]["text/plain"]) for m in outputs if m["msg_type"] == "display_data"]
        assert shown == list(range(10000))
        assert _meta(reply)["status"] == "ok"


def test_bad_frames_are_dropped_and_the_proxy_lives_on(kernel_env):
    with kernel_env.kernel() as (km, kc):
        info = km.get_connection_info()
        ctx = zmq.Context.instance()
        sock = ctx.socket(zmq.DEALER)
        sock.connect(f"tcp://127.0.0.1:{info['shell_port']}")
        forger = Session(key=b"not-the-key")
        unsigned = Session(key=b"")
        forged = forger.serialize(forger.msg("execute_request", {"code": "open('pwned','w')", "silent": False}))
        plain = unsigned.serialize(unsigned.msg("execute_request", {"code": "open('pwned','w')", "silent": False}))
        for frames in [
            forged,
            plain,
            forged[:3],  # truncated
            [b"garbage"],
            [b"<IDS|MSG>", b"zz", b"{", b"}", b"{}", b"{}"],
        ]:
            sock.send_multipart(frames)
        # linger, not 0: a DEALER whose connect is still in flight would otherwise
        # discard the queued frames and the proxy would never see them.
        sock.close(linger=5000)
        time.sleep(0.5)
        reply, _ = run_cell(kc, "import os; os.path.exists('pwned')")
        assert reply["content"]["status"] == "ok"
        assert not (kernel_env.project / "pwned").exists()
    assert kernel_env.logs().count("dropped a message") >= 5


def _own_client(km):
    """A client with its own Session. `km.client()` shares the manager's
    Session, and jupyter_client uses the session id as the shell socket's
    ZMQ identity: two such clients are one peer to a ROUTER (libzmq refuses
    the second; zmq.rs, like ROUTER_HANDOVER, hands the identity over)."""
    session = Session(key=km.session.key, signature_scheme=km.session.signature_scheme)
    return km.client(session=session)


def test_two_frontends_and_a_reconnect(kernel_env):
    with kernel_env.kernel() as (km, kc):
        second = _own_client(km)
        second.start_channels()
        second.wait_for_ready(timeout=30)
        a, _ = run_cell(kc, "a = 1")
        b, _ = run_cell(second, "a + 1")
        assert a["content"]["status"] == b["content"]["status"] == "ok"
        assert _meta(b)["execution_count"] == 2
        second.stop_channels()
        third = _own_client(km)
        third.start_channels()
        third.wait_for_ready(timeout=30)
        c, outputs = run_cell(third, "a + 2")
        assert next(m for m in outputs if m["msg_type"] == "execute_result")["content"]["data"]["text/plain"] == "3"
        assert third.hb_channel.is_beating()
        third.stop_channels()


def test_agent_endpoint_answers_signed_requests_only(kernel_env):
    code = r"""
import hashlib, hmac, json, os, zmq
addr, key = os.environ["VENTURALITICA_AGENT"], os.environ["VENTURALITICA_AGENT_KEY"].encode()
def ask(header, payload=(), key=key):
    s = zmq.Context.instance().socket(zmq.DEALER)
    s.connect(addr)
    frames = [json.dumps(header).encode(), *payload]
    sig = hmac.new(key, b"".join(frames), hashlib.sha256).hexdigest().encode()
    s.send_multipart([sig, *frames])
    ok = s.poll(3000)
    out = json.loads(s.recv_multipart()[1]) if ok else None
    s.close(linger=0)
    return out
answers = [ask({"id": 1, "op": "ping"}), ask({"id": 2, "op": "ping"}, key=b"wrong"), ask({"id": 3, "op": "nope"})]
print(json.dumps(answers))
"""
    with kernel_env.kernel() as (_, kc):
        reply, outputs = run_cell(kc, code)
        assert reply["content"]["status"] == "ok", outputs
        answers = json.loads("".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream"))
    ping, forged, unknown = answers
    assert ping["ok"] and ping["id"] == 1 and ping["result"]["agent"].startswith("venturalitica ")
    assert forged is None  # dropped, not answered
    assert unknown["ok"] is False and "unknown op" in unknown["error"]


def test_log_never_contains_the_key(kernel_env):
    with kernel_env.kernel() as (km, kc):
        run_cell(kc, "1")
        key = km.session.key.decode()
    log = kernel_env.logs()
    assert "kernel started" in log
    assert key and key not in log


def test_attach_times_a_kernel_it_did_not_start(kernel_env):
    with kernel_env.kernel("python3") as (km, kc):
        watcher = subprocess.Popen(
            [str(kernel_env.vl_bin), "kernel", "attach", km.connection_file, "--root", str(kernel_env.project)],
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.0)  # let the subscription settle
        run_cell(kc, "x = 1")
        run_cell(kc, "raise ValueError('no')")
        time.sleep(0.5)
        watcher.send_signal(signal.SIGINT)
        _, err = watcher.communicate(timeout=15)
        assert watcher.returncode == 0, err
        assert "Recorded 2 execution(s)" in err
        reply, _ = run_cell(kc, "1")
        assert "venturalitica" not in reply["metadata"]
    cells = kernel_env.events("cell")
    assert [(c["payload"]["mode"], c["payload"]["status"]) for c in cells] == [
        ("attached", "ok"),
        ("attached", "error"),
    ]
    assert cells[1]["payload"]["ename"] == "ValueError"


def test_a_bash_kernel_works_through_the_proxy(kernel_env):
    subprocess.run(
        [os.sys.executable, "-m", "bash_kernel.install", "--prefix", str(kernel_env.prefix)],
        check=True,
        capture_output=True,
    )
    name = kernel_env.install(wrap="bash")
    with kernel_env.kernel(name) as (_, kc):
        reply, outputs = run_cell(kc, "echo hello-from-bash")
        assert reply["content"]["status"] == "ok"
        assert "hello-from-bash" in "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")
        assert _meta(reply)["status"] == "ok"
    assert kernel_env.events("cell")


def _kernel_pid(kc) -> int:
    _, outputs = run_cell(kc, "import os; os.getpid()")
    return int(next(m for m in outputs if m["msg_type"] == "execute_result")["content"]["data"]["text/plain"])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0): count it as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def _wait_dead(pid: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        assert time.monotonic() < deadline, f"kernel {pid} outlived its proxy"
        time.sleep(0.1)


ENFORCE_POLICY = """\
- id: gender-di
  metric_key: disparate_impact
  operator: ">="
  threshold: 0.8
  input.dimension: gender
  input.target: target
- id: balance
  metric_key: class_imbalance
  operator: ">"
  threshold: 0.2
  input.target: target
"""


def test_agent_enforce_on_an_arrow_frame_matches_the_cli(kernel_env, vl_bin):
    policy = kernel_env.project / "policy.yaml"
    policy.write_text(ENFORCE_POLICY)
    code = f"""
import hashlib, hmac, io, json, os, zmq
import numpy as np, pandas as pd, pyarrow as pa
rng = np.random.default_rng(7)
df = pd.DataFrame({{"gender": rng.choice(["f", "m"], 5000), "target": rng.integers(0, 2, 5000)}})
df.loc[df.gender == "f", "target"] &= rng.integers(0, 2, (df.gender == "f").sum())
df.to_csv("frame.csv", index=False)
sink = io.BytesIO()
table = pa.Table.from_pandas(df, preserve_index=False)
with pa.ipc.new_file(sink, table.schema) as w:
    w.write_table(table)
header = {{"id": "e1", "op": "enforce", "policy": {str(policy)!r}, "mapping": {{}}, "source": "df"}}
frames = [json.dumps(header).encode(), sink.getvalue()]
key = os.environ["VENTURALITICA_AGENT_KEY"].encode()
s = zmq.Context.instance().socket(zmq.DEALER)
s.connect(os.environ["VENTURALITICA_AGENT"])
s.send_multipart([hmac.new(key, b"".join(frames), hashlib.sha256).hexdigest().encode(), *frames])
assert s.poll(30000)
sig, reply = s.recv_multipart()
assert hmac.compare_digest(sig, hmac.new(key, reply, hashlib.sha256).hexdigest().encode())
print(reply.decode())
"""
    with kernel_env.kernel() as (_, kc):
        reply, outputs = run_cell(kc, code)
        assert reply["content"]["status"] == "ok", [m["content"] for m in outputs if m["msg_type"] == "error"]
        answer = json.loads("".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream"))
    assert answer["ok"] and answer["id"] == "e1", answer
    from_kernel = answer["result"]
    cli = subprocess.run(
        [str(vl_bin), "enforce", "--data", "frame.csv", "--policy", str(policy), "--format", "json", "--no-record"],
        cwd=kernel_env.project,
        capture_output=True,
        text=True,
        check=False,
    )
    from_cli = json.loads(cli.stdout)
    pick = lambda r: [(c["id"], c["status"], c["actual_value"]) for c in r["controls"]]  # noqa: E731
    assert pick(from_kernel) == pick(from_cli)
    assert from_kernel["passed"] is False  # the generated data is biased against "f"
    enforce = kernel_env.events("enforce")
    assert len(enforce) == 1 and enforce[0]["payload"]["origin"] == "kernel"


def test_message_mode_interrupts_go_over_control(kernel_env):
    """A kernelspec with interrupt_mode "message": the frontend sends
    interrupt_request on control, and the proxy forwards it."""
    spec_dir = kernel_env.jupyter_path / "kernels" / "py-msg"
    spec_dir.mkdir(parents=True)
    spec_dir.joinpath("kernel.json").write_text(
        json.dumps(
            {
                "argv": [os.sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python (message interrupts)",
                "language": "python",
                "interrupt_mode": "message",
            }
        )
    )
    name = kernel_env.install(wrap="py-msg")
    spec = json.loads((kernel_env.jupyter_path / "kernels" / name / "kernel.json").read_text())
    assert spec["interrupt_mode"] == "message"
    with kernel_env.kernel(name) as (km, kc):
        msg_id = kc.execute("import time; time.sleep(60)")
        while kc.get_iopub_msg(timeout=30)["msg_type"] != "execute_input":
            pass
        time.sleep(0.3)
        km.interrupt_kernel()  # message mode: interrupt_request on control
        reply = kc.get_shell_msg(timeout=20)
        # wait_for_ready resends kernel_info_request when the first answer is
        # slow (a loaded machine); a late kernel_info_reply can come first.
        while reply["msg_type"] == "kernel_info_reply":
            reply = kc.get_shell_msg(timeout=20)
        assert reply["parent_header"]["msg_id"] == msg_id
        assert reply["content"]["ename"] == "KeyboardInterrupt"
    assert "forwarding signal" not in kernel_env.logs().split("kernel exited")[0]


def test_new_iopub_subscribers_get_a_signed_welcome(kernel_env):
    with kernel_env.kernel() as (km, _):
        info = km.get_connection_info()
        sub = zmq.Context.instance().socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(f"tcp://127.0.0.1:{info['iopub_port']}")
        try:
            assert sub.poll(5000), "no iopub_welcome"
            frames = sub.recv_multipart()
        finally:
            sub.close(linger=0)
        _, msg = km.session.feed_identities(frames)
        welcome = km.session.deserialize(msg)  # checks the signature
        assert welcome["msg_type"] == "iopub_welcome"
        assert welcome["content"] == {"subscription": ""}


def test_monitor_windows_through_the_agent_endpoint(kernel_env):
    code = r"""
import hashlib, hmac, json, os, time, zmq
def ask(header):
    key = os.environ["VENTURALITICA_AGENT_KEY"].encode()
    s = zmq.Context.instance().socket(zmq.DEALER)
    s.connect(os.environ["VENTURALITICA_AGENT"])
    frame = json.dumps(header).encode()
    s.send_multipart([hmac.new(key, frame, hashlib.sha256).hexdigest().encode(), frame])
    assert s.poll(10000)
    reply = json.loads(s.recv_multipart()[1])
    s.close(linger=0)
    return reply
token = ask({"id": 1, "op": "monitor_start", "name": "training_run_v1", "pid": os.getpid()})["result"]["token"]
t0 = time.process_time()
while time.process_time() - t0 < 0.6:
    pass
print(json.dumps(ask({"id": 2, "op": "monitor_stop", "token": token})))
"""
    with kernel_env.kernel() as (_, kc):
        reply, outputs = run_cell(kc, code)
        assert reply["content"]["status"] == "ok", outputs
        stop = json.loads("".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream"))
    assert stop["ok"], stop
    report = stop["result"]
    assert report["cpu"]["method"] == "tdp-model"
    assert 0.55 < report["cpu_s"] < 0.9
    (event,) = kernel_env.events("monitor")
    assert event["payload"]["name"] == "training_run_v1"
    assert event["payload"]["energy"]["cpu_s"] == report["cpu_s"]


def test_an_unwritable_evidence_store_does_not_stop_the_kernel(kernel_env):
    # As root, permissions cannot make the store unwritable: a file where the
    # .venturalitica directory should be does.
    (kernel_env.project / ".venturalitica").write_text("not a directory")
    with kernel_env.kernel() as (_, kc):
        reply, _ = run_cell(kc, "21 * 2")
        assert reply["content"]["status"] == "ok"
        assert _meta(reply)["status"] == "ok"  # still annotated
    assert "cells will not be recorded" in kernel_env.logs()
