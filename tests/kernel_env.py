"""A private Jupyter environment for the kernel-proxy tests.

Each `KernelEnv` has its own JUPYTER_PATH (where `venturalitica kernel
install --prefix` writes), runtime dir (connection files and proxy logs) and
project dir (with a pyproject.toml, so evidence lands there).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

PROXIED = "venturalitica-python3"


@dataclass
class KernelEnv:
    root: Path
    vl_bin: Path

    @property
    def prefix(self) -> Path:
        return self.root / "prefix"

    @property
    def jupyter_path(self) -> Path:
        return self.prefix / "share" / "jupyter"

    @property
    def runtime(self) -> Path:
        return self.root / "runtime"

    @property
    def project(self) -> Path:
        return self.root / "project"

    def setup(self, setenv=os.environ.__setitem__) -> KernelEnv:
        """Creates the directories and points Jupyter at them (via `setenv`)."""
        self.runtime.mkdir(parents=True, exist_ok=True)
        self.project.mkdir(parents=True, exist_ok=True)
        (self.project / "pyproject.toml").write_text("[project]\nname = 'kernel-tests'\n")
        setenv("JUPYTER_PATH", str(self.jupyter_path))
        setenv("JUPYTER_RUNTIME_DIR", str(self.runtime))
        setenv("VENTURALITICA_PYTHON", sys.executable)
        return self

    def vl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [str(self.vl_bin), *map(str, args)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "NO_COLOR": "1"},
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"venturalitica {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
        return proc

    def install(self, wrap: str = "python3", name: str | None = None, *extra: str) -> str:
        args = ["kernel", "install", "--wrap", wrap, "--prefix", str(self.prefix), *extra]
        if name:
            args += ["--name", name]
        self.vl(*args)
        return name or f"venturalitica-{wrap}"

    def manager(self, kernel_name: str = PROXIED) -> KernelManager:
        ksm = KernelSpecManager()
        ksm.kernel_dirs = [str(self.jupyter_path / "kernels"), *ksm.kernel_dirs]
        return KernelManager(kernel_name=kernel_name, kernel_spec_manager=ksm)

    @contextmanager
    def kernel(self, kernel_name: str = PROXIED, env: dict[str, str] | None = None):
        """A started kernel and a ready client; `env` adds variables."""
        km = self.manager(kernel_name)
        km.start_kernel(cwd=str(self.project), env={**os.environ, **(env or {})})
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=60)
            yield km, kc
        finally:
            kc.stop_channels()
            if km.has_kernel:
                km.shutdown_kernel(now=False)

    def events(self, kind: str | None = None) -> list[dict]:
        trace = self.project / ".venturalitica" / "trace.jsonl"
        if not trace.exists():
            return []
        bodies = [json.loads(line)["event"] for line in trace.read_text().splitlines() if line]
        return [b for b in bodies if kind is None or b["kind"] == kind]

    def logs(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.runtime.glob("venturalitica-*.log")))


def run_cell(kc, code: str, timeout: float = 60, **kwargs):
    """Executes `code`; returns (reply, iopub messages for it, in order)."""
    outputs = []
    reply = kc.execute_interactive(code, timeout=timeout, output_hook=outputs.append, store_history=True, **kwargs)
    return reply, outputs
