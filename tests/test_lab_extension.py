"""The JupyterLab extension (labextension/) in a real JupyterLab and Notebook 7
in headless Debian Chromium, driven by Galata/Playwright, with notebooks run
through the proxied kernel. Afterwards the saved notebook's per-cell records
are checked against the evidence trail the proxy wrote.

scripts/test.sh builds the extension (npm ci, tsc, jupyter-builder) and
installs it with the package before pytest runs. Screenshots go to
$VL_SCREENSHOTS (the README's come from `VL_SCREENSHOTS=docs/img`).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from test_ui import dashboard

REPO = Path(__file__).resolve().parent.parent
LABEXT = REPO / "labextension"

POLICY = """\
- id: class-balance
  metric_key: class_imbalance
  operator: ">"
  threshold: 0.2
- id: gender-di
  description: Approval rates by gender within the four-fifths rule
  metric_key: disparate_impact
  operator: ">="
  threshold: 0.8
  input.dimension: gender
"""

CELLS = [
    "%load_ext venturalitica\nimport pandas as pd",
    "import time\nstart = time.process_time()\nwhile time.process_time() - start < 1.0:\n    pass",
    "%%vl_monitor training\nsum(i * i for i in range(2_000_000))",
    "df = pd.read_csv('applicants.csv')\n%vl_enforce df policy=policy.yaml strict=false",
]


def applicants_csv() -> str:
    """200 women approved at 40 %, 200 men at 80 %: disparate impact 0.5."""
    rows = ["gender,target"]
    for gender, approved in (("female", 80), ("male", 160)):
        rows += [f"{gender},{int(i < approved)}" for i in range(200)]
    return "\n".join(rows) + "\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def need(condition: bool, why: str) -> None:
    if not condition:
        # In CI a missing part is a failure, not a quiet skip.
        (pytest.fail if os.environ.get("VL_CI") else pytest.skip)(why)


def test_the_extension_in_jupyterlab_and_notebook7(kernel_env, vl_bin, tmp_path):
    need(shutil.which("chromium") is not None, "needs Debian chromium (scripts/test.sh installs it)")
    need((LABEXT / "node_modules" / "@jupyterlab" / "galata").is_dir(), "needs `npm ci` in labextension/")
    labext = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "venturalitica-jupyterlab"
    need((labext / "package.json").is_file(), f"the built extension is not installed at {labext}")

    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    (fixtures / "policy.yaml").write_text(POLICY)
    (fixtures / "applicants.csv").write_text(applicants_csv())
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    nb.metadata["kernelspec"] = {
        "name": "venturalitica-python3",
        "display_name": "Python 3 (Venturalitica)",
        "language": "python",
    }
    nbformat.write(nb, fixtures / "lab_demo.ipynb")

    # The dashboard the status-bar item opens needs an evidence store.
    enforced = subprocess.run(
        [str(vl_bin), "enforce", "--data", fixtures / "applicants.csv", "--policy", fixtures / "policy.yaml"],
        cwd=kernel_env.project,
        capture_output=True,
        check=False,
    )
    assert enforced.returncode == 1, enforced.stderr
    with dashboard(vl_bin, kernel_env.project) as url:
        proc = run_galata(kernel_env, fixtures, tmp_path, url)
    assert proc.returncode == 0, f"Galata tests failed:\n{proc.stdout[-8000:]}\n{proc.stderr[-4000:]}"
    assert "7 passed" in proc.stdout, proc.stdout[-4000:]
    check_saved_notebook(kernel_env, vl_bin)


def run_galata(kernel_env, fixtures: Path, tmp_path: Path, dashboard_url: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "VL_LAB_PORT": str(free_port()),
        "VL_LAB_ROOT": str(kernel_env.project),
        "VL_LAB_FIXTURES": str(fixtures),
        "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1",
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
        "VL_DASHBOARD_URL": dashboard_url,
    }
    if os.environ.get("VL_SCREENSHOTS"):
        env["VL_SCREENSHOTS"] = str(Path(os.environ["VL_SCREENSHOTS"]).resolve())
    return subprocess.run(
        ["npx", "playwright", "test"],
        cwd=LABEXT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def check_saved_notebook(kernel_env, vl_bin: Path) -> None:
    # The saved notebook holds every executed cell's record, the same one the
    # proxy appended to the trail for that cell's execute_request.
    saved = next(kernel_env.project.rglob("lab_demo.ipynb"))
    nb = nbformat.read(saved, as_version=4)
    events = [
        json.loads(line)["event"]
        for line in (kernel_env.project / ".venturalitica" / "trace.jsonl").read_text().splitlines()
    ]
    cell_events = {e["payload"]["msg_id"]: e["payload"] for e in events if e["kind"] == "cell"}
    for cell in nb.cells:
        record = cell.metadata.get("venturalitica")
        assert record is not None, f"cell {cell.id} has no record"
        assert record["cell_id"] == cell.id
        assert cell_events[record["msg_id"]]["code_sha256"] == record["code_sha256"]
        assert record["energy"]["total_j"] == cell_events[record["msg_id"]]["energy"]["total_j"]
    assert nb.cells[1].metadata["venturalitica"]["energy"]["cpu_s"] >= 0.9
    verify = subprocess.run(
        [str(vl_bin), "verify", "--root", str(kernel_env.project)], capture_output=True, text=True, check=False
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
