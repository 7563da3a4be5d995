"""Shared fixtures: the agent binary under test and a helper to run it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "spark: needs pyspark and Java (deselected on the Python 3.9 floor run)")


REPO = Path(__file__).resolve().parent.parent

# Evidence is signed with a key kept in the user's config directory, made on
# first use: the tests (and every agent, kernel and server they start) use a
# directory of their own instead of the real one.
# A signing key given to this shell (a CI secret) would make every writer
# sign with one key, so the tests that compare keys would not test anything.
os.environ.setdefault("VENTURALITICA_CONFIG_DIR", tempfile.mkdtemp(prefix="vl-config-"))
for _var in ("VENTURALITICA_SIGNING_KEY", "VENTURALITICA_SIGNING_KEY_FILE"):
    os.environ.pop(_var, None)
# Energy sources are pinned, so the figures the tests assert (the TDP model,
# no GPU section) hold on any host, with readable RAPL or an NVIDIA GPU:
# an empty powercap root and NVML off. The RAPL and NVML readers are tested
# against fake trees and a fake NVML in agent/energy/tests.
os.environ["VENTURALITICA_POWERCAP_ROOT"] = tempfile.mkdtemp(prefix="vl-no-powercap-")
os.environ["VENTURALITICA_GPU"] = "off"
# CI=true (as .ci/run sets it) and VENTURALITICA_STRICT make enforce strict
# by default, as in the SDK: the tests set the mode they check themselves.
# Whether this is CI is kept as VL_CI, where a missing browser or
# Java fails a test instead of skipping it.
if os.environ.pop("CI", "").strip().lower() not in ("", "0", "false"):
    os.environ["VL_CI"] = "1"
os.environ.pop("VENTURALITICA_STRICT", None)
for _var in ("VENTURALITICA_CPU_TDP_W", "VENTURALITICA_COUNTRY", "VENTURALITICA_REGION", "VENTURALITICA_PUE"):
    os.environ.pop(_var, None)


def _binary() -> Path:
    explicit = os.environ.get("VL_BIN")
    if explicit:
        return Path(explicit)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "debug" / "venturalitica"


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Caches the code under test writes (inline policies given as dicts,
    W&B's files) go to a directory of this run's, never the user's
    ~/.cache; subprocesses (kernels, scripts) inherit it."""
    cache = tmp_path_factory.mktemp("xdg-cache")
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(cache)
    yield cache
    if before is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = before


@pytest.fixture(scope="session")
def vl_bin() -> Path:
    path = _binary()
    if not path.exists():
        pytest.fail(f"agent binary not found at {path}; build it with `cargo build` or set VL_BIN")
    return path


@pytest.fixture
def vl(vl_bin, tmp_path):
    """Runs `venturalitica ARGS...` in a fresh project directory."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'fixture'\n")

    def run(*args: str | os.PathLike, cwd: Path | None = None, env: dict[str, str] | None = None) -> Run:
        proc = subprocess.run(
            [str(vl_bin), *map(str, args)],
            check=False,
            cwd=cwd or tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "NO_COLOR": "1", **(env or {})},
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture
def kernel_env(vl_bin, tmp_path, monkeypatch):
    """A private Jupyter environment with the proxied python3 kernelspec installed."""
    from kernel_env import KernelEnv

    env = KernelEnv(tmp_path, vl_bin).setup(monkeypatch.setenv)
    env.install()
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A real MLflow tracking server on a free loopback port, shared by the
    tests that export to it and those that log to it from a user's run."""
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
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
