"""One wheel: maturin builds kernel-ext into a wheel that carries the agent
binary once (`vl` is a small alias that execs it); pip and uv install it into
fresh environments, where `venturalitica` and `vl` are on PATH, `import
venturalitica` finds its own binary, and every part says the workspace's
version. (scripts/release.sh checks the manylinux2014 release wheel.)"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
VERSION = tomllib.loads((REPO / "Cargo.toml").read_text())["workspace"]["package"]["version"]

CHECK = """\
import sys, pandas as pd, venturalitica as vl
from venturalitica import _binary
print(_binary.find_agent_binary())
open("p.yaml", "w").write("- id: di\\n  metric_key: disparate_impact\\n  operator: '>='\\n  threshold: 0.8\\n"
                          "  input.dimension: g\\n  input.target: y\\n  enforcement_mode: monitor\\n")
r = vl.enforce(data=pd.DataFrame({"g": list("aabb"), "y": [1, 0, 1, 1]}), policy="p.yaml")
print(r["di"].actual_value, vl.__version__)
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheels")
    # The dev profile reuses the tests' cargo target (CARGO_TARGET_DIR);
    # releases build with the default, --release.
    subprocess.run(
        [str(BIN / "maturin"), "build", "--profile", "dev", "--locked", "--out", str(out)],
        cwd=REPO / "kernel-ext",
        check=True,
        capture_output=True,
        timeout=1800,
        env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"},
    )
    (path,) = out.glob("venturalitica-*.whl")
    return path


def test_the_wheel_carries_the_package_and_one_agent(wheel):
    """`vl` is an alias that execs `venturalitica`, not a second copy of the
    agent: the wheel holds one large executable."""
    archive = zipfile.ZipFile(wheel)
    names = archive.namelist()
    scripts = {Path(i.filename).name: i.file_size for i in archive.infolist() if ".data/scripts/" in i.filename}
    assert sorted(scripts) == ["venturalitica", "vl"]
    assert scripts["vl"] < 2 * 2**20 < scripts["venturalitica"], scripts
    elves = [n for n in names if archive.read(n)[:4] == b"\x7fELF"]
    assert len(elves) == 2, elves
    assert f"-{VERSION}-" in wheel.name
    for module in ("__init__.py", "_bridge.py", "magics.py", "results.py", "sample.py"):
        assert f"venturalitica/{module}" in names
    # load_sample("loan") reads the data from the wheel, with its attribution.
    for data in ("german.data", "GERMAN_CREDIT_LICENSE.txt", "loan_quickstart.yaml", "loan_data_policy.yaml"):
        assert f"venturalitica/data/{data}" in names
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "Requires-Dist: pyzmq" in metadata and "Requires-Dist: pyarrow" in metadata


def test_the_wheel_carries_the_prebuilt_lab_extension(wheel):
    """Users get the JupyterLab extension without Node.js: the built assets
    sit in the wheel's data directory, bound for share/jupyter/labextensions."""
    names = zipfile.ZipFile(wheel).namelist()
    prefix = ".data/data/share/jupyter/labextensions/venturalitica-jupyterlab/"
    ours = [n.split(prefix, 1)[1] for n in names if prefix in n]
    assert "package.json" in ours and "install.json" in ours
    assert "schemas/venturalitica-jupyterlab/plugin.json" in ours
    assert any(n.startswith("static/remoteEntry.") and n.endswith(".js") for n in ours), ours


def _fresh_env(root: Path) -> Path:
    """A new venv that borrows this one's third-party packages (pyzmq,
    pyarrow, pandas) through a .pth file, so the install needs no index."""
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(root), "platbase": str(root)}))
    ours = Path(sysconfig.get_path("purelib"))
    (site / "borrowed.pth").write_text(f"{ours}\n")
    return root


@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_installed_with_pip_or_uv_the_commands_and_the_api_work(wheel, tmp_path, installer):
    env_dir = _fresh_env(tmp_path / "env")
    python = env_dir / "bin" / "python"
    if installer == "pip":
        cmd = [str(python), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)]
    else:
        cmd = [str(BIN / "uv"), "pip", "install", "--python", str(python), "--no-deps", "--offline", str(wheel)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    for command in ("venturalitica", "vl"):
        version = subprocess.run(
            [str(env_dir / "bin" / command), "--version"], capture_output=True, text=True, check=True
        )
        assert version.stdout == f"venturalitica {VERSION}\n"
        # Arguments and the exit status pass through the alias; usage names
        # the command that was typed.
        bad = subprocess.run(
            [str(env_dir / "bin" / command), "verify", "--no-such-flag"], capture_output=True, text=True, check=False
        )
        assert bad.returncode == 2 and f"Usage: {command} verify" in bad.stderr, bad.stderr
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VENTURALITICA")}
    run = subprocess.run(
        [str(python), "-c", CHECK], cwd=project, capture_output=True, text=True, check=False, env=clean
    )
    assert run.returncode == 0, run.stderr
    found, value, version = run.stdout.split()
    assert Path(found) == env_dir / "bin" / "venturalitica"
    assert float(value) == 0.5
    assert version == VERSION
    # JupyterLab (borrowed from this venv) sees the extension the wheel installed.
    listing = subprocess.run(
        [str(python), "-m", "jupyterlab.labextensions", "list"], capture_output=True, text=True, env=clean, check=True
    )
    line = next(ln for ln in (listing.stdout + listing.stderr).splitlines() if "venturalitica-jupyterlab" in ln)
    plain = re.sub(r"\x1b\[\d+m", "", line)
    assert re.search(rf"v{re.escape(VERSION)} .*enabled.*OK.*\(python, venturalitica\)", plain), line
    assert str(env_dir / "share" / "jupyter" / "labextensions") in listing.stdout + listing.stderr


def test_the_package_parses_on_the_oldest_python_it_declares():
    """pyproject says requires-python >= 3.9: no 3.10+ syntax, and no
    `zip(strict=...)` (3.10+), which ruff's py311 target does not flag."""
    declared = re.search(r'requires-python = ">=3\.(\d+)"', (REPO / "kernel-ext" / "pyproject.toml").read_text())
    assert declared, "requires-python not found"
    oldest = (3, int(declared.group(1)))
    sources = sorted((REPO / "kernel-ext" / "python" / "venturalitica").rglob("*.py"))
    assert sources
    for path in sources:
        tree = ast.parse(path.read_text(), filename=str(path), feature_version=oldest)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "zip":
                assert not any(k.arg == "strict" for k in node.keywords), f"{path}:{node.lineno}: zip(strict=) is 3.10+"


OLDEST_CHECK = """\
import sys, warnings
import pandas as pd
import venturalitica as vl
from venturalitica.metrics import calc_essp, calc_precision
df = pd.DataFrame({"g": list("aabb"), "y": [1, 0, 1, 1], "p": [1, 0, 0, 1], "dice": [0.9, 0.7, 0.5, 0.3]})
policy = [{"id": "gap", "metric_key": "score_gap", "operator": "<", "threshold": 0.5,
           "input:score": "dice", "input:dimension": "g"}]
with vl.monitor("oldest", label=sys.version.split()[0]) as m:
    results = vl.enforce(data=df, policy={"title": "t", "controls": policy})
with warnings.catch_warnings(record=True):
    missing = vl.enforce(data=df, policy="missing.yaml")
essp, meta = calc_essp(df, score="dice", dimension="g")
print(results[0].status, round(results[0].actual_value, 12), missing[0].status,
      round(calc_precision(df, target="y", prediction="p", average="macro"), 12),
      round(essp, 12), m.energy_j > 0, vl.verify().ok)
"""


def _python(minor: int) -> str | None:
    """A Python 3.<minor> that runs: on PATH, else one pyenv installed (its
    shim refuses a version that is not selected)."""
    candidates = [shutil.which(f"python3.{minor}")]
    candidates += sorted(str(p) for p in Path.home().glob(f".pyenv/versions/3.{minor}.*/bin/python3.{minor}"))
    for candidate in filter(None, candidates):
        if subprocess.run([candidate, "-c", ""], capture_output=True, check=False).returncode == 0:
            return candidate
    return None


def test_the_api_runs_on_the_oldest_python_it_declares(vl_bin, tmp_path):
    """Not only parses: the package, imported by the oldest Python its
    pyproject accepts, evaluates, measures and verifies (pandas, pyarrow
    and pyzmq from PyPI, through pip's cache)."""
    declared = re.search(r'requires-python = ">=3\.(\d+)"', (REPO / "kernel-ext" / "pyproject.toml").read_text())
    assert declared, "requires-python not found"
    interpreter = _python(int(declared.group(1)))
    if interpreter is None:
        (pytest.fail if os.environ.get("VL_CI") else pytest.skip)(f"no python3.{declared.group(1)} on PATH")
    env_dir = tmp_path / "oldest"
    subprocess.run([interpreter, "-m", "venv", str(env_dir)], check=True, capture_output=True, timeout=120)
    python = env_dir / "bin" / "python"
    install = [str(python), "-m", "pip", "install", "--quiet", "pandas", "pyarrow>=14", "pyzmq>=25"]
    subprocess.run(install, check=True, capture_output=True, timeout=600)
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname = 'oldest'\n")
    env = {**os.environ, "PYTHONPATH": str(REPO / "kernel-ext" / "python"), "VENTURALITICA_BIN": str(vl_bin)}
    run = subprocess.run(
        [str(python), "-c", OLDEST_CHECK],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    status, gap, missing, precision, essp, measured, intact = run.stdout.split()
    assert (status, float(gap), missing) == ("pass", 0.4, "error")
    # Macro precision: class 1 is 2/2, class 0 is 1/2; ESSP = 0.6 / (1 + 0.2 + 0.2).
    assert float(precision) == 0.75 and float(essp) == round(0.6 / 1.4, 12)
    assert measured == intact == "True"


def test_one_version_in_every_manifest():
    """The workspace's Cargo.toml is the one version: the wheel and the sdist
    take it through maturin (`dynamic = ["version"]`), the binary and the
    kernelspec through CARGO_PKG_VERSION, `vl.__version__` from the installed
    metadata. The Lab extension's package.json must repeat it (npm needs a
    literal), and CHANGELOG.md's newest entry names it."""
    pyproject = tomllib.loads((REPO / "kernel-ext" / "pyproject.toml").read_text())
    assert pyproject["project"]["dynamic"] == ["version"] and "version" not in pyproject["project"]
    lab = json.loads((REPO / "labextension" / "package.json").read_text())
    assert lab["version"] == VERSION
    for crate in sorted((REPO / "agent").glob("*/Cargo.toml")):
        package = tomllib.loads(crate.read_text())["package"]
        assert package["version"] == {"workspace": True}, crate
    newest = re.search(r"^## \[?([^\]\s]+)", (REPO / "CHANGELOG.md").read_text(), re.MULTILINE)
    assert newest and newest.group(1) == VERSION
