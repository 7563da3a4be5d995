"""The release's fresh-venv check, run by scripts/release.sh with the Python of
a new venv that holds only jupyterlab, ipykernel, pandas (from PyPI) and the
built wheel: what a user has after `pip install venturalitica`.

Usage: VENV/bin/python scripts/release_check.py WORKDIR

1. `venturalitica kernel install --user` into a temporary Jupyter data dir;
2. nbclient runs a notebook on that kernel with `%vl_enforce` and a
   `%%vl_monitor` cell;
3. the trail holds a `cell` event per cell, the evaluation and the monitor
   window, and `venturalitica verify` passes;
4. `jupyter labextension list` shows the extension enabled;
5. the installed Python package is this checkout's (not a stale build);
6. one version: the wheel's, `venturalitica --version`, `vl --version`,
   `vl.__version__` and the kernelspec's.

Prints what it checked and exits non-zero on the first failure.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import nbformat
from nbclient import NotebookClient

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent
KERNEL = "venturalitica-python3"
POLICY = """\
- id: approval-disparity
  metric_key: disparate_impact
  operator: ">="
  threshold: 0.8
  input:dimension: group
  input:target: approved
"""
CELLS = [
    "%load_ext venturalitica",
    "import pandas as pd\ndf = pd.DataFrame({'group': list('aaaabbbb'), 'approved': [1, 1, 1, 0, 1, 1, 0, 1]})",
    "%vl_enforce df policy=policy.yaml",
    "%%vl_monitor training\nsum(i * i for i in range(200_000))",
]


def check(condition: bool, what: str) -> None:
    if not condition:
        sys.exit(f"release check FAILED: {what}")
    print(f"ok: {what}")


def _digests(root: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.glob("*.py"))}


def installed_sources() -> dict[str, str]:
    import venturalitica

    return _digests(Path(venturalitica.__file__).parent)


def checkout_sources() -> dict[str, str]:
    """What the artefact must hold: a stale build (a cached wheel of an
    earlier sdist with the same version) differs here."""
    return _digests(REPO / "kernel-ext" / "python" / "venturalitica")


def run(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300, check=False)
    if done.returncode != 0:
        sys.exit(f"release check FAILED: {' '.join(args)} exited {done.returncode}\n{done.stdout}{done.stderr}")
    return done.stdout + done.stderr


def main() -> None:
    work = Path(sys.argv[1]).resolve()
    project = work / "project"
    project.mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'release-check'\n")
    (project / "policy.yaml").write_text(POLICY)
    # An activated venv, a private Jupyter data dir, no settings of ours.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VENTURALITICA", "JUPYTER", "VL_"))}
    env |= {
        "PATH": f"{BIN}{os.pathsep}{env['PATH']}",
        "VIRTUAL_ENV": str(BIN.parent),
        "JUPYTER_DATA_DIR": str(work / "jupyter-data"),
        "JUPYTER_RUNTIME_DIR": str(work / "jupyter-runtime"),
    }
    os.environ.clear()
    os.environ.update(env)

    wheel_version = version("venturalitica")
    print(f"venturalitica {wheel_version} installed in {BIN.parent}")
    check(installed_sources() == checkout_sources(), "the installed package is this checkout's Python package")
    out = run(str(BIN / "venturalitica"), "kernel", "install", "--user", env=env)
    check(KERNEL in out, f"kernel install --user: {out.strip()}")
    spec = json.loads((work / "jupyter-data" / "kernels" / KERNEL / "kernel.json").read_text())
    # The venv's own Python (`python3` or `python` beside the agent) runs the launcher.
    launcher = spec["argv"][:3]
    pythons = [str(BIN / "python3"), str(BIN / "python")]
    check(launcher[0] in pythons and launcher[1:] == ["-m", "venturalitica.kernel"], f"kernelspec argv {launcher}")

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    replies = []
    NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=120,
        resources={"metadata": {"path": str(project)}},
        on_cell_executed=lambda cell, cell_index, execute_reply: replies.append(execute_reply),
    ).execute()
    check(
        all("venturalitica" in r["metadata"] for r in replies),
        f"{len(replies)} cells ran through the proxy (metadata.venturalitica on every reply)",
    )
    badge = json.dumps(nb.cells[2].outputs)
    check("approval-disparity" in badge, "%vl_enforce showed the control's result")

    # The agent this package starts in a plain process answers it (a stale
    # binary beside a newer package would not know the loader's op).
    from venturalitica.loader import OSCALPolicyLoader

    os.chdir(project)
    loaded = OSCALPolicyLoader(project / "policy.yaml").load()
    check([c.id for c in loaded.controls] == ["approval-disparity"], "the package's own agent loads the policy")

    trace = project / ".venturalitica" / "trace.jsonl"
    events = [json.loads(line)["event"] for line in trace.read_text().splitlines() if line]
    kinds = [e["kind"] for e in events]
    check(kinds.count("cell") == len(CELLS), f"{kinds.count('cell')} cell events in {trace}")
    check(kinds.count("enforce") == 1 and kinds.count("monitor") == 1, "the evaluation and the monitor window")
    out = run(str(BIN / "venturalitica"), "verify", "--root", str(project), env=env)
    check("intact" in out, f"venturalitica verify: {out.strip().splitlines()[-1]}")

    listing = re.sub(r"\x1b\[\d+m", "", run(str(BIN / "jupyter"), "labextension", "list", env=env))
    line = next((ln for ln in listing.splitlines() if "venturalitica-jupyterlab" in ln), "")
    check(
        re.search(rf"v{re.escape(wheel_version)} .*enabled.*OK", line) is not None,
        f"jupyter labextension list: {line.strip()}",
    )

    versions = {
        "wheel": wheel_version,
        "venturalitica --version": run(str(BIN / "venturalitica"), "--version", env=env).split()[1],
        "vl --version": run(str(BIN / "vl"), "--version", env=env).split()[1],
        "vl.__version__": run(
            str(BIN / "python"), "-c", "import venturalitica as v; print(v.__version__)", env=env
        ).strip(),
        "kernelspec": spec["metadata"]["venturalitica"]["version"],
    }
    check(len(set(versions.values())) == 1, f"one version everywhere: {versions}")
    print("release check passed")


if __name__ == "__main__":
    main()
