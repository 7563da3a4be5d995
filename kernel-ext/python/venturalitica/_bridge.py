"""The bridge to the agent: signed requests over a ZeroMQ DEALER socket.

Inside a proxied kernel the proxy names its endpoint in
``VENTURALITICA_AGENT`` / ``VENTURALITICA_AGENT_KEY``. Anywhere else (a
script, a plain kernel) the package starts the bundled binary as
``venturalitica agent`` and talks to it the same way; that agent exits when
this process closes its standard input (or dies). docs/agent-protocol.md
describes the frames.
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import itertools
import json
import os
import subprocess
import tempfile
import threading
import time
from typing import Any

import zmq

from ._binary import find_agent_binary
from .errors import AgentError, DataError, PolicyError

ENV_ENDPOINT = "VENTURALITICA_AGENT"
ENV_KEY = "VENTURALITICA_AGENT_KEY"
ENV_TIMEOUT = "VENTURALITICA_AGENT_TIMEOUT"
#: How long a request may take before the agent counts as gone (seconds).
DEFAULT_TIMEOUT_S = 600.0

_ERRORS = {"policy": PolicyError, "data": DataError}


class Agent:
    """One connection to an agent endpoint."""

    def __init__(self, endpoint: str, key: str, process: subprocess.Popen | None = None, stderr=None):
        self.endpoint = endpoint
        self._key = key.encode()
        self._process = process
        self._stderr = stderr
        self._pid = os.getpid()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._socket = zmq.Context.instance().socket(zmq.DEALER)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.connect(endpoint)

    @property
    def spawned(self) -> bool:
        """True when this package started the agent (no proxy around us)."""
        return self._process is not None

    def usable(self) -> bool:
        # A forked child must not share its parent's socket.
        return self._pid == os.getpid() and (self._process is None or self._process.poll() is None)

    def request(self, op: str, payload: tuple[bytes, ...] = (), **fields: Any) -> Any:
        """Sends ``op`` with ``fields`` and waits for the result; raises the
        exception matching the agent's error kind."""
        with self._lock:
            rid = f"{os.getpid()}-{next(self._ids)}"
            # `cwd`: a script's own agent records in the caller's project.
            fields = {"id": rid, "op": op, "cwd": os.getcwd(), **fields}
            header = json.dumps(fields, allow_nan=False).encode()
            frames = [header, *payload]
            self._socket.send_multipart([self._sign(frames), *frames], copy=False)
            reply = self._receive(rid, op)
        if reply.get("ok"):
            return reply.get("result")
        kind = reply.get("kind", "internal")
        raise _ERRORS.get(kind, AgentError)(reply.get("error", f"the agent failed on {op}"))

    def _receive(self, rid: str, op: str) -> dict:
        deadline = time.monotonic() + float(os.environ.get(ENV_TIMEOUT, DEFAULT_TIMEOUT_S))
        while time.monotonic() < deadline:
            if not self._socket.poll(500):
                if self._process is not None and self._process.poll() is not None:
                    raise AgentError(
                        f"the agent exited with status {self._process.returncode} during {op}{self._errors()}"
                    )
                continue
            frames = self._socket.recv_multipart()
            if len(frames) < 2:
                raise AgentError("the agent's reply is malformed")
            sig, header = frames[0], frames[1]
            if not hmac.compare_digest(sig, self._sign([header])):
                raise AgentError("the agent's reply has a bad signature")
            reply = json.loads(header)
            if reply.get("id") == rid:
                return reply
            # A reply to an earlier request that timed out: skip it.
        raise AgentError(f"no answer from the agent at {self.endpoint} to {op} within the timeout ({ENV_TIMEOUT})")

    def _sign(self, frames: list[bytes]) -> bytes:
        mac = hmac.new(self._key, digestmod=hashlib.sha256)
        for f in frames:
            mac.update(f)
        return mac.hexdigest().encode()

    def _errors(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        text = self._stderr.read().decode(errors="replace").strip()
        return f": {text}" if text else ""

    def close(self) -> None:
        self._socket.close(linger=0)
        if self._process is not None and self._process.poll() is None:
            if self._process.stdin:
                self._process.stdin.close()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()


class _Current:
    """The process's agent connection, made on first use."""

    def __init__(self) -> None:
        self.agent: Agent | None = None
        self.lock = threading.Lock()


_current = _Current()


def agent() -> Agent:
    """The agent of this process: the proxy's, else one started on demand."""
    with _current.lock:
        if _current.agent is None or not _current.agent.usable():
            _current.agent = _connect()
        return _current.agent


def _connect() -> Agent:
    endpoint, key = os.environ.get(ENV_ENDPOINT), os.environ.get(ENV_KEY)
    if endpoint and key:
        return Agent(endpoint, key)
    return _spawn()


def _spawn() -> Agent:
    binary = find_agent_binary()
    stderr = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [str(binary), "agent"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        cwd=os.getcwd(),
        # Ctrl-C in a terminal must reach the script, not kill its agent.
        start_new_session=True,
    )
    line = process.stdout.readline() if process.stdout else b""
    try:
        ready = json.loads(line)
        endpoint, key = ready["endpoint"], ready["key"]
    except (ValueError, KeyError, TypeError):
        process.kill()
        process.wait()
        stderr.seek(0)
        detail = stderr.read().decode(errors="replace").strip() or line.decode(errors="replace")
        raise AgentError(f"cannot start the agent ({binary} agent): {detail}") from None
    started = Agent(endpoint, key, process, stderr)
    atexit.register(started.close)
    return started
