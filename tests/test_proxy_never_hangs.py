"""The proxy never freezes a notebook: frontends that stop reading, CurveZMQ
transports (jupyter_client's `transport_encryption`), and every client here
starting the kernelspec in VS Code's shape."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import pytest
import zmq
import zmq.utils.monitor
from conftest import free_port
from jupyter_client.session import Session
from kernel_env import PROXIED, run_cell
from nbclient import NotebookClient

OUTPUTS = 20_000
LINE = 10_000
FLOOD = f"""
import sys
_line = "x" * {LINE}
for _i in range({OUTPUTS}):
    sys.stdout.write(f"{{_i:05d}}{{_line}}\\n")
    sys.stdout.flush()
"""


def _iopub_url(km) -> str:
    return f"{km.transport}://{km.ip}:{km.iopub_port}"


def _lines(outputs) -> list[str]:
    text = "".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream")
    return text.splitlines()


def _expected_lines() -> list[str]:
    return [f"{i:05d}" + "x" * LINE for i in range(OUTPUTS)]


def _stalled_subscriber(km, ctx: zmq.Context) -> zmq.Socket:
    """A real SUB socket that reads its welcome, then never reads again."""
    sub = ctx.socket(zmq.SUB)
    sub.rcvhwm = 10
    sub.linger = 0
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(_iopub_url(km))
    assert sub.poll(10_000), "no iopub_welcome for the new subscriber"
    welcome = Session(key=km.session.key).deserialize(sub.recv_multipart()[1:])
    assert welcome["msg_type"] == "iopub_welcome"
    return sub


def test_a_subscriber_that_never_reads_slows_neither_the_kernel_nor_a_reader(kernel_env):
    ctx = zmq.Context()
    with kernel_env.kernel() as (km, kc):
        stalled = _stalled_subscriber(km, ctx)
        reply, outputs = run_cell(kc, FLOOD, timeout=240)
        assert reply["content"]["status"] == "ok"
        # libzmq's PUB loses output for a slow reader under this flood; the
        # proxy's per-subscriber queues do not.
        assert _lines(outputs) == _expected_lines()
        # The kernel and the reader go on while the stalled socket is connected.
        reply, outputs = run_cell(kc, "print('after the flood')")
        assert _lines(outputs) == ["after the flood"]
        stalled.close()
    ctx.term()


READER = textwrap.dedent(
    """
    import os, signal, sys
    from jupyter_client import BlockingKernelClient
    kc = BlockingKernelClient(connection_file=sys.argv[1])
    kc.load_connection_file()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    print("ready", flush=True)
    lines, stop_at, total = 0, int(sys.argv[2]), int(sys.argv[3])
    while lines < total:
        msg = kc.get_iopub_msg(timeout=120)
        if msg["msg_type"] == "stream":
            lines += msg["content"]["text"].count("\\n")
        if stop_at and lines >= stop_at:
            stop_at = 0
            os.kill(os.getpid(), signal.SIGSTOP)  # a client suspended mid-flood (Ctrl-Z)
    print("lines", lines, flush=True)
    """
)


def _stopped(pid: int) -> bool:
    """Whether `pid` is stopped by a signal (state T in /proc)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"


def test_a_client_stopped_mid_flood_holds_nothing_up_and_reads_again(kernel_env, tmp_path):
    script = tmp_path / "reader.py"
    script.write_text(READER)
    resume = tmp_path / "resume"
    pause_at = OUTPUTS // 10
    # The cell pauses after a tenth of its output until the other client is
    # stopped, so the rest (180 MB, far more than socket buffers hold) is
    # written while that client reads nothing, whatever the host's speed.
    flood = FLOOD.replace(
        "for _i in range",
        "import os, time\nfor _i in range",
    ).replace(
        '    sys.stdout.write(f"',
        f"    while _i == {pause_at} and not os.path.exists({str(resume)!r}):\n        time.sleep(0.01)\n"
        '    sys.stdout.write(f"',
    )
    with kernel_env.kernel() as (km, kc):
        reader = subprocess.Popen(
            [sys.executable, str(script), km.connection_file, str(pause_at), str(OUTPUTS)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert reader.stdout.readline().strip() == "ready"
            msg_id = kc.execute(flood)
            deadline = time.monotonic() + 120
            while not _stopped(reader.pid):
                assert reader.poll() is None and time.monotonic() < deadline, "the reader never stopped itself"
                time.sleep(0.05)
            resume.touch()
            while True:
                msg = kc.get_iopub_msg(timeout=120)
                if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status":
                    if msg["content"]["execution_state"] == "idle":
                        break
            reply = kc.get_shell_msg(timeout=60)
            assert reply["parent_header"]["msg_id"] == msg_id
            assert reply["content"]["status"] == "ok"
            # The kernel finished all of it while the other client was stopped.
            assert _stopped(reader.pid)
            reader.send_signal(signal.SIGCONT)
            out, _ = reader.communicate(timeout=120)
            assert out.split() == ["lines", str(OUTPUTS)], "it reads again and lost nothing"
        finally:
            reader.kill()
            reader.wait()


def _encrypted_manager(kernel_env, policy: str, kernel_name: str = PROXIED):
    km = kernel_env.manager(kernel_name)
    km.transport_encryption = policy
    return km


def _null_greeting() -> bytes:
    """A ZMTP 3.0 client greeting offering the NULL mechanism (RFC 23)."""
    return b"\xff" + bytes(8) + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\0") + b"\x00" + bytes(31)


def _refused_in_log(kernel_env, peer: str) -> bool:
    """Whether the proxy's log names a refusal of the connection from `peer`."""
    return any("connection refused" in line and f"peer={peer}" in line for line in kernel_env.logs().splitlines())


def test_required_encryption_runs_cells_and_refuses_clients_without_the_keys(kernel_env):
    km = _encrypted_manager(kernel_env, "required")
    # Debug: every refusal is logged with the peer's address, not only the 1st, 10th, ...
    km.start_kernel(cwd=str(kernel_env.project), env=dict(os.environ, VENTURALITICA_LOG_LEVEL="debug"))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        info = json.loads(Path(km.connection_file).read_text())
        assert info["curve_publickey"] and info["curve_secretkey"]
        reply, outputs = run_cell(kc, "print(6 * 7)")
        assert reply["content"]["status"] == "ok"
        assert reply["metadata"]["venturalitica"]["status"] == "ok"
        assert _lines(outputs) == ["42"]

        # The hop to the kernel is ipc in a directory only this user can enter.
        inner_file = Path(km.connection_file).with_name(Path(km.connection_file).stem + "-vl-inner.json")
        inner = json.loads(inner_file.read_text())
        assert inner["transport"] == "ipc" and "curve_secretkey" not in inner
        private = Path(inner["ip"]).parent
        assert stat.S_IMODE(private.stat().st_mode) == 0o700

        # A client without the server's key gets nothing, signed or not; one
        # with its own keypair and the server's public key is served.
        session = Session(key=km.session.key)
        ctx = zmq.Context()

        def dealer(server_key: bytes | None) -> zmq.Socket:
            sock = ctx.socket(zmq.DEALER)
            sock.linger = 0
            if server_key is not None:
                sock.curve_publickey, sock.curve_secretkey = zmq.curve_keypair()
                sock.curve_serverkey = server_key
            sock.connect(f"tcp://{km.ip}:{km.shell_port}")
            session.send(sock, "kernel_info_request", {})
            return sock

        # A NULL client on a raw socket: the live port greets it offering
        # CURVE, then closes the connection, and the log names this client.
        with socket.create_connection((km.ip, km.shell_port), timeout=10) as raw:
            raw.sendall(_null_greeting())
            received = b""
            while chunk := raw.recv(4096):
                received += chunk
            assert received[:1] == b"\xff" and received[10:11] == b"\x03", received[:64]
            assert received[12:32] == b"CURVE".ljust(20, b"\0"), received[:64]
            assert len(received) == 64, "closed after its greeting, nothing served"
            host, local_port = raw.getsockname()
            null_peer = f"{host}:{local_port}"
        # A CURVE client with a wrong server key, from a port of our choosing:
        # its connection is made (the port is live) and its handshake never
        # succeeds; the log names that port.
        port = free_port()
        wrong = ctx.socket(zmq.DEALER)
        wrong.linger = 0
        wrong.curve_publickey, wrong.curve_secretkey = zmq.curve_keypair()
        wrong.curve_serverkey = zmq.curve_keypair()[0]
        monitor = wrong.get_monitor_socket()
        wrong.connect(f"tcp://127.0.0.1:{port};{km.ip}:{km.shell_port}")
        session.send(wrong, "kernel_info_request", {})
        assert not wrong.poll(2000), "a client without the server's key got an answer"
        seen = set()
        while monitor.poll(100):
            seen.add(zmq.utils.monitor.recv_monitor_message(monitor)["event"])
        assert zmq.EVENT_CONNECTED in seen, seen
        assert zmq.EVENT_HANDSHAKE_SUCCEEDED not in seen, seen
        wrong.disable_monitor()
        monitor.close()
        wrong.close()
        deadline = time.monotonic() + 10
        while not (_refused_in_log(kernel_env, null_peer) and _refused_in_log(kernel_env, f"127.0.0.1:{port}")):
            assert time.monotonic() < deadline, kernel_env.logs()[-3000:]
            time.sleep(0.1)
        own = dealer(info["curve_publickey"].encode())
        assert own.poll(10_000), "a client with the server's key is served"
        assert session.deserialize(session.feed_identities(own.recv_multipart())[1])["msg_type"] == "kernel_info_reply"
        own.close()
        ctx.term()
        # The kernel is unharmed.
        reply, _ = run_cell(kc, "1 + 1")
        assert reply["content"]["status"] == "ok"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
    assert "connection refused" in kernel_env.logs()
    cells = [e["payload"] for e in kernel_env.events("cell")]
    assert [c["status"] for c in cells] == ["ok", "ok"]


def test_without_ipc_the_kernel_hop_is_loopback_tcp_under_curve(kernel_env):
    """Windows' path, run here: with no ipc, the proxy reaches its kernel over
    loopback TCP under CURVE, with keys made for that kernel, as a CURVE
    client of its own (VENTURALITICA_INNER_TRANSPORT=tcp forces the path)."""
    km = _encrypted_manager(kernel_env, "required")
    km.start_kernel(cwd=str(kernel_env.project), env=dict(os.environ, VENTURALITICA_INNER_TRANSPORT="tcp"))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        reply, outputs = run_cell(kc, "for i in range(3): print(i)")
        assert reply["content"]["status"] == "ok"
        assert reply["metadata"]["venturalitica"]["status"] == "ok"
        assert _lines(outputs) == ["0", "1", "2"]

        outer = json.loads(Path(km.connection_file).read_text())
        inner_file = Path(km.connection_file).with_name(Path(km.connection_file).stem + "-vl-inner.json")
        inner = json.loads(inner_file.read_text())
        assert inner["transport"] == "tcp" and inner["ip"] == "127.0.0.1"
        assert inner["curve_publickey"] and inner["curve_publickey"] != outer["curve_publickey"]
        assert stat.S_IMODE(inner_file.stat().st_mode) == 0o600

        # The kernel's own port serves CURVE only: a plain client, even one
        # that signs with the session key, gets nothing from it.
        session = Session(key=km.session.key)
        ctx = zmq.Context()
        plain = ctx.socket(zmq.DEALER)
        plain.linger = 0
        plain.connect(f"tcp://127.0.0.1:{inner['shell_port']}")
        session.send(plain, "kernel_info_request", {})
        assert not plain.poll(2000), "the kernel answered a client without its keys"
        plain.close()
        ctx.term()

        # input() crosses the encrypted hop too (shell and stdin, one identity).
        msg_id = kc.execute("x = input('?')", allow_stdin=True)
        request = kc.get_stdin_msg(timeout=60)
        assert request["msg_type"] == "input_request"
        kc.input("typed")
        while kc.get_shell_msg(timeout=60)["parent_header"].get("msg_id") != msg_id:
            pass
        reply, outputs = run_cell(kc, "print(x)")
        assert _lines(outputs) == ["typed"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
    cells = [e["payload"] for e in kernel_env.events("cell")]
    assert [c["status"] for c in cells] == ["ok", "ok", "ok"]


def test_nbclient_runs_a_notebook_with_auto_encryption(kernel_env):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 20"), nbformat.v4.new_code_cell("x + 22")]
    km = _encrypted_manager(kernel_env, "auto")
    client = NotebookClient(nb, km=km, resources={"metadata": {"path": str(kernel_env.project)}}, timeout=60)
    client.execute()
    assert km.curve_publickey, "auto provisions keys: the proxied spec declares curve"
    assert nb.cells[1].outputs[0]["data"]["text/plain"] == "42"


def test_required_fails_at_start_for_a_spec_that_cannot_encrypt(kernel_env):
    subprocess.run(
        [sys.executable, "-m", "bash_kernel.install", "--prefix", str(kernel_env.prefix)],
        check=True,
        capture_output=True,
    )
    name = kernel_env.install(wrap="bash")
    km = _encrypted_manager(kernel_env, "required", name)
    with pytest.raises(RuntimeError, match="supported_encryption"):
        km.start_kernel()
    # Refused before anything was started, so nothing is left to wait on.
    assert not km.has_kernel


def test_unusable_keys_stop_the_proxy_at_start_with_the_reason(kernel_env, tmp_path):
    pub, _ = zmq.curve_keypair()
    _, other_secret = zmq.curve_keypair()
    conn = tmp_path / "kernel-bad.json"
    conn.write_text(
        json.dumps(
            {
                "ip": "127.0.0.1",
                "transport": "tcp",
                "shell_port": 0,
                "iopub_port": 0,
                "stdin_port": 0,
                "control_port": 0,
                "hb_port": 0,
                "key": "k",
                "signature_scheme": "hmac-sha256",
                "curve_publickey": pub.decode(),
                "curve_secretkey": other_secret.decode(),
            }
        )
    )
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    proc = kernel_env.vl("kernel", "proxy", "-f", conn, "--", *argv, check=False)
    assert proc.returncode != 0
    assert "curve_publickey is not the public key of curve_secretkey" in proc.stderr


def test_papermill_and_jupyter_console_start_the_vs_code_shaped_spec(kernel_env, tmp_path):
    spec = json.loads((kernel_env.jupyter_path / "kernels" / PROXIED / "kernel.json").read_text())
    assert spec["argv"][1:3] == ["-m", "venturalitica.kernel"] and Path(spec["argv"][0]).is_absolute()

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print('from papermill')")]
    src, out = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, src)
    subprocess.run(
        [sys.executable, "-m", "papermill", str(src), str(out), "-k", PROXIED, "--cwd", str(kernel_env.project)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    ran = nbformat.read(out, as_version=4)
    assert ran.cells[0].outputs[0]["text"] == "from papermill\n"

    import pexpect

    console = pexpect.spawn(
        sys.executable,
        ["-m", "jupyter_console", "--kernel", PROXIED, "--simple-prompt"],
        cwd=str(kernel_env.project),
        env={**os.environ, "TERM": "dumb"},
        encoding="utf-8",
        timeout=60,
    )
    try:
        console.expect(r"In \[1\]: ")
        console.sendline("print(6 * 7)")
        console.expect("42")
        console.expect(r"In \[2\]: ")
        console.sendline("exit")
        console.expect(pexpect.EOF)
    finally:
        console.close(force=True)
    # Both runs are in the trail: the proxy ran under each client.
    statuses = [e["payload"]["status"] for e in kernel_env.events("cell")]
    assert statuses.count("ok") >= 2


def test_jupyter_server_runs_an_encrypted_proxied_kernel(kernel_env, tmp_path):
    """What JupyterLab talks to: Jupyter Server's kernel manager with
    `transport_encryption="required"`, a cell over its websocket."""
    import socket
    import urllib.request
    import uuid

    import websocket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = uuid.uuid4().hex
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter_server",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            f"--IdentityProvider.token={token}",
            "--ServerApp.open_browser=False",
            "--ServerApp.allow_root=True",
            f"--ServerApp.root_dir={kernel_env.project}",
            "--KernelManager.transport_encryption=required",
        ],
        env={**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config")},
        cwd=kernel_env.project,  # the kernels' cwd: evidence lands there, not in the repository
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"token {token}"}

    def api(path: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(base + path, data=data, headers=headers, method="POST" if data else "GET")
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())

    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                api("/api/status")
                break
            except OSError:
                assert server.poll() is None, f"jupyter server exited: {server.stderr.read()}"
                assert time.monotonic() < deadline, "jupyter server did not start in 120 s"
                time.sleep(0.2)
        kernel = api("/api/kernels", {"name": PROXIED})
        ws = websocket.create_connection(
            f"ws://127.0.0.1:{port}/api/kernels/{kernel['id']}/channels", header=headers, timeout=60
        )
        msg_id = uuid.uuid4().hex
        header = {"msg_id": msg_id, "msg_type": "execute_request", "session": uuid.uuid4().hex, "username": "t"}
        header["version"] = "5.4"
        ws.send(
            json.dumps(
                {
                    "header": header,
                    "parent_header": {},
                    "metadata": {},
                    "content": {"code": "print(6 * 7)", "silent": False},
                    "channel": "shell",
                }
            )
        )
        printed, reply, idle = [], None, False
        while reply is None or not idle:  # the reply and IOPub come in either order
            msg = json.loads(ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                printed.append(msg["content"]["text"])
            if msg["msg_type"] == "execute_reply":
                reply = msg
            idle = idle or (msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle")
        ws.close()
        assert reply["content"]["status"] == "ok"
        assert reply["metadata"]["venturalitica"]["status"] == "ok"
        assert "".join(printed) == "42\n"
        connection = json.loads((kernel_env.runtime / f"kernel-{kernel['id']}.json").read_text())
        assert connection["curve_publickey"], "the server provisioned CurveZMQ keys"
        # The proxy's writer thread appends it just after the reply.
        deadline = time.monotonic() + 30
        while not kernel_env.events("cell") and time.monotonic() < deadline:
            time.sleep(0.1)
        cells = [e["payload"] for e in kernel_env.events("cell")]
        assert [c["status"] for c in cells] == ["ok"], "the cell is in the project's trail"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_spec_written_by_an_older_version_runs_and_install_upgrades_it(kernel_env):
    spec_path = kernel_env.jupyter_path / "kernels" / PROXIED / "kernel.json"
    spec = json.loads(spec_path.read_text())
    inner = spec["argv"][spec["argv"].index("--") + 1 :]
    # What `kernel install` wrote before the launcher module existed.
    spec["argv"] = [str(kernel_env.vl_bin), "kernel", "proxy", "-f", "{connection_file}", "--", *inner]
    spec_path.write_text(json.dumps(spec))
    with kernel_env.kernel() as (_, kc):
        reply, outputs = run_cell(kc, "print('old spec')")
        assert reply["metadata"]["venturalitica"]["status"] == "ok"
        assert _lines(outputs) == ["old spec"]
    kernel_env.install()
    upgraded = json.loads(spec_path.read_text())["argv"]
    assert upgraded[1:3] == ["-m", "venturalitica.kernel"] and upgraded[upgraded.index("--") + 1 :] == inner
