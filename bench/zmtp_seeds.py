"""Records what real libzmq peers send, as seeds for the `zmtp` fuzz target
(agent/kernel/fuzz/fuzz_targets/zmtp.rs): a DEALER sending Jupyter
messages and a SUB subscribing (NULL), and a CURVE DEALER's greeting and
HELLO for the fuzz target's fixed server key.

    python bench/zmtp_seeds.py tests/fixtures/zmtp

Each file is the target's mode byte, then the bytes the peer sent.
"""

from __future__ import annotations

import socket
import struct
import sys
import threading
import time
from pathlib import Path

import zmq
from jupyter_client.session import Session

# The fuzz target's server keys (a pair made for it, used nowhere else).
SERVER_PUBLIC = b"[44bTCPu-Y:kHF769BkC?Ie3g1Kf)Rl#!oXcMhF^"


def greeting(mechanism: bytes, as_server: bool) -> bytes:
    return b"\xff" + b"\0" * 8 + b"\x7f\x03\x00" + mechanism.ljust(20, b"\0") + bytes([as_server]) + b"\0" * 31


def ready(socket_type: bytes) -> bytes:
    body = b"\x05READY\x0bSocket-Type" + struct.pack(">I", len(socket_type)) + socket_type
    return bytes([0x04, len(body)]) + body


def record(server_says: bytes, client, seconds: float = 0.5) -> bytes:
    """Listens on a free port, answers with `server_says`, lets `client`
    connect and talk, and returns every byte it sent."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    got = bytearray()

    def serve():
        conn, _ = listener.accept()
        conn.sendall(server_says)
        conn.settimeout(seconds)
        try:
            while chunk := conn.recv(65536):
                got.extend(chunk)
        except TimeoutError:
            pass
        conn.close()

    t = threading.Thread(target=serve)
    t.start()
    client(f"tcp://127.0.0.1:{port}")
    t.join()
    listener.close()
    return bytes(got)


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    ctx = zmq.Context.instance()
    session = Session(key=b"fuzz")

    def dealer(url: str) -> None:
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.IDENTITY, b"frontend-1")
        s.setsockopt(zmq.LINGER, 1000)
        s.connect(url)
        session.send(s, "kernel_info_request", {})
        session.send(s, "execute_request", {"code": "print(1)", "silent": False}, buffers=[b"\x00" * 300])
        time.sleep(0.2)
        s.close()

    def sub(url: str) -> None:
        s = ctx.socket(zmq.SUB)
        s.setsockopt(zmq.LINGER, 1000)
        s.connect(url)
        s.setsockopt(zmq.SUBSCRIBE, b"")
        s.setsockopt(zmq.SUBSCRIBE, b"kernel.1.")
        s.setsockopt(zmq.UNSUBSCRIBE, b"kernel.1.")
        time.sleep(0.2)
        s.close()

    def curve(url: str) -> None:
        s = ctx.socket(zmq.DEALER)
        s.curve_publickey, s.curve_secretkey = zmq.curve_keypair()
        s.curve_serverkey = SERVER_PUBLIC
        s.setsockopt(zmq.LINGER, 0)
        s.connect(url)
        time.sleep(0.3)
        s.close()

    seeds = {
        "null-dealer.bin": b"\x00" + record(greeting(b"NULL", False) + ready(b"ROUTER"), dealer),
        "null-sub.bin": b"\x01" + record(greeting(b"NULL", False) + ready(b"XPUB"), sub),
        "curve-hello.bin": b"\x02" + record(greeting(b"CURVE", True), curve),
        "session.bin": b"\x03\x00" + b"\xff".join([b"kernel_info_request", b"", b"x" * 300]),
    }
    for name, data in seeds.items():
        assert len(data) > 1, f"{name}: the peer sent nothing"
        (out / name).write_bytes(data)
        print(f"{out / name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
