"""The proxy's own ZMTP held to libzmq's bounds, attacked from a local
process over a raw socket (no libzmq on the attacking side, so nothing
smooths what it sends), with the proxy's RSS watched from /proc.

Each test fails on a proxy without the bound it names: PONGs echoed whole
and queued without limit, duplicate subscriptions each welcomed, a PING
between two frames losing the message.
"""

from __future__ import annotations

import socket
import struct
import time
from pathlib import Path

import pytest
from jupyter_client.session import Session
from kernel_env import run_cell

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc")


def rss(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) * 1024


def frame(body: bytes, more: bool = False, command: bool = False) -> bytes:
    flags = (1 if more else 0) | (4 if command else 0)
    if len(body) > 255:
        return bytes([flags | 2]) + struct.pack(">Q", len(body)) + body
    return bytes([flags, len(body)]) + body


def command(name: bytes, data: bytes) -> bytes:
    return frame(bytes([len(name)]) + name + data, command=True)


class RawPeer:
    """A ZMTP 3.0 NULL peer on a plain TCP socket."""

    def __init__(self, port: int, socket_type: bytes):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        greeting = b"\xff" + b"\0" * 8 + b"\x7f\x03\x00" + b"NULL".ljust(20, b"\0") + b"\0" * 32
        self.sock.sendall(greeting)
        self.exactly(64)
        prop = b"\x0bSocket-Type" + struct.pack(">I", len(socket_type)) + socket_type
        self.sock.sendall(command(b"READY", prop))
        more, is_command, body = self.frame()
        assert is_command and body[1:6] == b"READY", body

    def exactly(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("the proxy closed the connection")
            out += chunk
        return out

    def frame(self) -> tuple[bool, bool, bytes]:
        flags = self.exactly(1)[0]
        size = struct.unpack(">Q", self.exactly(8))[0] if flags & 2 else self.exactly(1)[0]
        return bool(flags & 1), bool(flags & 4), self.exactly(size)

    def message(self) -> list[bytes] | tuple[str, bytes]:
        """The next message, or ("command", body) for a command."""
        parts = []
        while True:
            more, is_command, body = self.frame()
            if is_command:
                return ("command", body)
            parts.append(body)
            if not more:
                return parts

    def close(self) -> None:
        self.sock.close()


def _proxy_pid(km) -> int:
    return km.provisioner.process.pid


def test_pings_from_a_peer_that_never_reads_cost_the_proxy_nothing(kernel_env):
    """48 MiB of PINGs with 64 KiB contexts, never reading a PONG: the proxy
    echoes at most 16 octets and owes one PONG, so its RSS stays put (it
    grew by ~46 MiB when every PONG was queued whole)."""
    with kernel_env.kernel() as (km, kc):
        pid = _proxy_pid(km)
        info = km.get_connection_info()
        run_cell(kc, "pass")
        before = rss(pid)
        peers = [RawPeer(info["shell_port"], b"DEALER"), RawPeer(info["iopub_port"], b"SUB")]
        ping = command(b"PING", b"\x00\x0a" + b"c" * (64 << 10))
        for peer in peers:
            peer.sock.sendall(ping * 384)  # 24 MiB each
        time.sleep(1.0)
        grown = rss(pid) - before
        print(f"proxy RSS {before / 2**20:.1f} MiB before 48 MiB of PINGs, {(before + grown) / 2**20:.1f} MiB after")
        reply, _ = run_cell(kc, "1 + 1")
        assert reply["content"]["status"] == "ok", "the kernel still answers"
        assert grown < 8 << 20, f"the proxy grew by {grown / 2**20:.1f} MiB"
        # What it does send back is a PONG with 16 octets of context.
        peer = RawPeer(info["shell_port"], b"DEALER")
        peer.sock.sendall(ping)
        kind, body = peer.message()
        assert kind == "command" and body == b"\x04PONG" + b"c" * 16, body[:40]
        for p in [*peers, peer]:
            p.close()


def test_a_topic_subscribed_twenty_thousand_times_is_one_subscription_and_one_welcome(kernel_env):
    with kernel_env.kernel() as (km, kc):
        pid = _proxy_pid(km)
        info = km.get_connection_info()
        run_cell(kc, "pass")
        peer = RawPeer(info["iopub_port"], b"SUB")
        # ZMTP 3.0 subscriptions: a message `\x01topic`.
        peer.sock.sendall(frame(b"\x01") * 20_000)
        before = rss(pid)
        run_cell(kc, "print('seen')")
        welcomes, streams = 0, 0
        deadline = time.monotonic() + 30
        while streams == 0:
            assert time.monotonic() < deadline, "the subscriber never got the cell's output"
            parts = peer.message()
            assert parts[0] != "command", parts
            msg = Session(key=km.session.key).deserialize(parts[parts.index(b"<IDS|MSG>") + 1 :])
            welcomes += msg["msg_type"] == "iopub_welcome"
            streams += msg["msg_type"] == "stream"
        assert welcomes == 1, f"{welcomes} welcomes for one topic"
        assert rss(pid) - before < 8 << 20
        peer.close()


def test_a_ping_between_two_frames_keeps_the_message(kernel_env):
    """libzmq's heartbeat may send a PING between the frames of a message:
    the message still arrives whole, and the PING is answered."""
    with kernel_env.kernel() as (km, kc):
        info = km.get_connection_info()
        session = Session(key=km.session.key)
        msg = session.msg("kernel_info_request", {})
        frames = session.serialize(msg)
        peer = RawPeer(info["shell_port"], b"DEALER")
        wire = b"".join(frame(f, more=True) for f in frames[:3])
        wire += command(b"PING", b"\x00\x0actx")
        wire += b"".join(frame(f, more=i < len(frames) - 4) for i, f in enumerate(frames[3:]))
        peer.sock.sendall(wire)
        assert peer.message() == ("command", b"\x04PONGctx")
        parts = peer.message()
        reply = session.deserialize(parts[parts.index(b"<IDS|MSG>") + 1 :])
        assert reply["msg_type"] == "kernel_info_reply"
        assert reply["parent_header"]["msg_id"] == msg["header"]["msg_id"]
        peer.close()


def test_connections_past_the_handshake_cap_are_closed_and_real_clients_still_connect(kernel_env):
    """64 connections that greet and then say nothing hold every handshake
    slot; the next is closed at once, and once they go a client connects."""
    with kernel_env.kernel() as (km, kc):
        info = km.get_connection_info()
        stalled = [socket.create_connection(("127.0.0.1", info["control_port"])) for _ in range(64)]
        time.sleep(0.5)
        extra = socket.create_connection(("127.0.0.1", info["control_port"]), timeout=5)
        assert extra.recv(64) == b"", "closed without a greeting"
        for s in stalled:
            s.close()
        time.sleep(0.5)
        peer = RawPeer(info["control_port"], b"DEALER")
        peer.close()
        reply, _ = run_cell(kc, "2 + 2")
        assert reply["content"]["status"] == "ok"


def _stream_texts(peer: RawPeer, key: bytes, until: str, limit: float = 30) -> list[str]:
    """The `stream` texts a raw SUB reads until one holds `until`."""
    texts: list[str] = []
    deadline = time.monotonic() + limit
    while not any(until in t for t in texts):
        assert time.monotonic() < deadline, f"no {until!r} in {texts}"
        parts = peer.message()
        if parts[0] == "command":
            continue
        msg = Session(key=key).deserialize(parts[parts.index(b"<IDS|MSG>") + 1 :])
        if msg["msg_type"] == "stream":
            texts.append(msg["content"]["text"])
    return texts


def test_zmtp_3_1_subscribe_and_cancel_commands_are_honoured(kernel_env):
    """ZMTP 3.1 peers subscribe with a SUBSCRIBE command and end with CANCEL:
    output flows after the first and stops after the second."""
    with kernel_env.kernel() as (km, kc):
        info = km.get_connection_info()
        peer = RawPeer(info["iopub_port"], b"SUB")
        peer.sock.sendall(command(b"SUBSCRIBE", b""))
        time.sleep(0.3)
        run_cell(kc, "print('while subscribed')")
        assert _stream_texts(peer, km.session.key, "while subscribed")
        peer.sock.sendall(command(b"CANCEL", b"") + command(b"SUBSCRIBE", b"nothing-matches"))
        time.sleep(0.3)
        run_cell(kc, "print('after cancel')")
        peer.sock.settimeout(2)
        with pytest.raises(TimeoutError):
            _stream_texts(peer, km.session.key, "after cancel", limit=2)
        peer.close()
