"""The dashboard in headless Debian Chromium, on a store written by a real
notebook run through the proxied kernel. Screenshots go to
$VL_SCREENSHOTS (the README's come from `VL_SCREENSHOTS=docs/img`)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
from kernel_env import PROXIED
from nbclient import NotebookClient
from test_ui import dashboard

CHROMIUM = shutil.which("chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--virtual-time-budget=4000",
]

POLICY = """\
- id: gender-di
  description: Approval rates by gender within the four-fifths rule
  metric_key: disparate_impact
  operator: ">="
  threshold: 0.8
  input.dimension: gender
  risk_id: RISK-GENDER-01
  treatment_id: TREAT-07
  threshold_justification: Four-fifths rule (EEOC); adjusted after review
- id: age-di
  metric_key: disparate_impact
  operator: ">="
  threshold: 0.8
  input.dimension: age_group
- id: accuracy
  metric_key: accuracy_score
  operator: ">="
  threshold: 0.7
  input.prediction: prediction
"""

CELLS = [
    "%load_ext venturalitica\nimport numpy as np, pandas as pd",
    "rng = np.random.default_rng(5)\n"
    "df = pd.DataFrame({'gender': rng.choice(['female', 'male'], 3000), 'age_group': rng.choice(['<25', '25+'], 3000),"
    " 'target': rng.integers(0, 2, 3000)})\n"
    "df['prediction'] = np.where(rng.random(3000) < 0.8, df.target, 1 - df.target)",
    "%vl_enforce df policy=policy.yaml",
    "%%vl_monitor training_run_v1\nsum(i * i for i in range(3_000_000))",
    "df.loc[df.gender == 'female', 'target'] = (rng.random((df.gender == 'female').sum()) < 0.3).astype(int)",
    "%vl_enforce df policy=policy.yaml strict=false",
    "import venturalitica as vl\naudit = vl.scan(project_root='.')",
]


def require_chromium() -> None:
    """Skips without Chromium; in CI a missing browser is a failure, not a quiet skip."""
    if CHROMIUM is None:
        (pytest.fail if os.environ.get("VL_CI") else pytest.skip)("needs Debian chromium (scripts/test.sh installs it)")


def run_notebook(project: Path) -> nbformat.NotebookNode:
    """CELLS, with POLICY, run through the proxied kernel in `project`."""
    (project / "policy.yaml").write_text(POLICY)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    NotebookClient(nb, kernel_name=PROXIED, resources={"metadata": {"path": str(project)}}, timeout=180).execute()
    return nb


def screenshot(url: str, out: Path, profile: Path, size: str = "1280,1000") -> None:
    subprocess.run(
        [
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={size}",
            f"--screenshot={out}",
            url,
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert out.stat().st_size > 10_000, f"{out} looks empty"


def dom(url: str, profile: Path) -> str:
    """The DOM after the page's scripts ran."""
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout


def test_the_dashboard_in_chromium_after_a_real_notebook_run(kernel_env, vl_bin, tmp_path):
    require_chromium()
    nb = run_notebook(kernel_env.project)
    shots = Path(os.environ.get("VL_SCREENSHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)

    # The compliance badge as a notebook shows it without the Lab extension.
    badge = next(o["data"]["text/html"] for o in nb.cells[5].outputs if "text/html" in o.get("data", {}))
    page = tmp_path / "badge.html"
    page.write_text(f"<!doctype html><meta charset=utf-8><body style='margin:12px'>{badge}</body>")
    profile = tmp_path / ".chromium"
    screenshot(page.as_uri(), shots / "badge.png", profile, "900,620")

    with dashboard(vl_bin, kernel_env.project) as url:
        base = url.rstrip("/")
        overview = dom(base + "/", profile)
        assert re.search(r"intact: \d+ events", overview)
        assert "Latest results" in overview and "gender-di" in overview
        graph = dom(base + "/graph", profile)
        nodes = re.findall(r'href="(/graph\?eval=\d+)#details"', graph)
        assert len(nodes) == 2 and "notebook · pid" in graph
        # An opened node links its controls to the evaluation's groups.
        opened = dom(base + nodes[0], profile)
        event = dom(base + re.search(r'href="(/event/\d+)#control-gender-di">groups', opened).group(1), profile)
        assert "groups (n, rates)" in event
        policies = dom(base + "/policies", profile)
        for text in ["RISK-GENDER-01", "TREAT-07", "adjusted after review", "2 evaluation(s)"]:
            assert text in policies, text
        energy = dom(base + "/energy", profile)
        assert "Energy per cell" in energy and "training_run_v1" in energy
        report = dom(base + "/report", profile)
        assert "Sign-off" in report and "Evidence integrity" in report
        for name, path in [
            ("dashboard_overview", "/"),
            ("policy_status", "/policies"),
            ("energy", "/energy"),
            ("report", "/report"),
        ]:
            screenshot(base + path, shots / f"{name}.png", profile)
