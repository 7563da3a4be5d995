"""The README and docs, checked against the product as a newcomer would
meet them: the quick start replayed in a scratch project with its shown
output compared line by line, every command and option of the README's
table against the binary's ``--help``, every ``VENTURALITICA_*`` variable the
docs name against the code that reads it, and every relative link and
section anchor against the files. Each checker also runs on a deliberately
wrong example, so a checker that stopped checking fails too."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "kernel-ext" / "README.md"]
SOURCES = [REPO / "agent", REPO / "kernel-ext" / "python", REPO / "scripts", REPO / "bench"]


def fenced(text: str, after: str) -> list[tuple[str, str]]:
    """The fenced blocks (language, body) of the section that starts at the
    heading ``after``, up to the next heading of the same level."""
    start = text.index(after)
    level = len(after) - len(after.lstrip("#"))
    rest = text[start + len(after) :]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.M)
    section = rest[: end.start()] if end else rest
    return re.findall(r"^```(\w*)\n(.*?)^```", section, re.S | re.M)


def console_steps(body: str) -> list[tuple[str, list[str]]]:
    """A console block's commands (``$ cmd``) and the lines shown after each."""
    steps: list[tuple[str, list[str]]] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif steps:
            steps[-1][1].append(line)
    return steps


def normalised(line: str, project: Path) -> str:
    """What differs between machines and runs: the key, hashes, the path."""
    line = line.replace(str(project), "/home/me/loan")
    line = re.sub(r"ed25519:[0-9a-f]{16}", "ed25519:<key>", line)
    return re.sub(r"head (\d+):[0-9a-f]+…?", r"head \1:<hash>", line)


def replay(readme: str, project: Path, vl_dir: Path) -> list[str]:
    """Runs the quick start in ``project``; the differences from the shown output."""
    blocks = fenced(readme, "## Quick start: the CLI")
    prepare = next(body for lang, body in blocks if lang == "bash")
    shown = next(body for lang, body in blocks if lang == "console")
    env = {**os.environ, "PATH": f"{vl_dir}{os.pathsep}{os.environ['PATH']}", "NO_COLOR": "1"}
    env.pop("CI", None)
    env.pop("VENTURALITICA_STRICT", None)
    for line in prepare.strip().splitlines():
        command = re.sub(r"^python ", f"{sys.executable} ", line)
        subprocess.run(command, shell=True, cwd=project, env=env, check=True, timeout=120)
    differences = []
    status = 0
    for command, expected in console_steps(shown):
        if command == "echo $?":
            got = [str(status)]
        else:
            proc = subprocess.run(
                command, shell=True, cwd=project, env=env, capture_output=True, text=True, timeout=120, check=False
            )
            status = proc.returncode
            got = (proc.stdout + proc.stderr).rstrip("\n").splitlines()
        want = [normalised(line, project) for line in expected]
        have = [normalised(line, project) for line in got]
        if want != have:
            differences.append(f"$ {command}\n  shown: {want}\n  got:   {have}")
    return differences


@pytest.fixture
def quick_start_project(tmp_path):
    """An empty project: the quick start needs only the installed package."""
    project = tmp_path / "loan"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname = 'loan'\n")
    return project


def test_the_shipped_tutorial_policy_is_the_tutorials():
    import venturalitica as vl

    assert vl.sample_policy("loan").read_bytes() == (REPO / "notebooks" / "data_policy.yaml").read_bytes()


def test_the_quick_start_runs_as_shown(quick_start_project, vl_bin):
    differences = replay((REPO / "README.md").read_text(), quick_start_project, vl_bin.parent)
    assert not differences, "\n".join(differences)


def test_the_quick_start_check_fails_on_a_wrong_figure(quick_start_project, vl_bin):
    wrong = (REPO / "README.md").read_text().replace("0.4286 ┆ [0.3755", "0.4287 ┆ [0.3755", 1)
    assert "0.4287" in wrong
    differences = replay(wrong, quick_start_project, vl_bin.parent)
    assert len(differences) == 1 and "enforce" in differences[0]


def table_commands(readme: str) -> list[tuple[list[str], set[str]]]:
    """The README's command table: each row's subcommand words and options."""
    rows = []
    for line in readme.splitlines():
        m = re.match(r"\| `venturalitica ([^`]*)`", line)
        if not m:
            continue
        usage = m.group(1)
        words = []
        for token in usage.split():
            if not re.fullmatch(r"[a-z][a-z0-9-]*", token):
                break
            words.append(token)
        rows.append((words, set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-[a-z])\b", usage))))
    return rows


def undocumented_in_help(readme: str, vl_bin: Path) -> list[str]:
    missing = []
    for words, options in table_commands(readme):
        proc = subprocess.run([str(vl_bin), *words, "--help"], capture_output=True, text=True, timeout=30, check=False)
        if proc.returncode != 0:
            missing.append(f"venturalitica {' '.join(words)}: no such command ({proc.stderr.strip()[:200]})")
            continue
        for option in sorted(options - {"--"}):
            if not re.search(rf"(?<![\w-]){re.escape(option)}\b", proc.stdout):
                missing.append(f"venturalitica {' '.join(words)} {option}: not in --help")
    return missing


def test_every_command_and_option_of_the_readme_table_exists(vl_bin):
    readme = (REPO / "README.md").read_text()
    assert len(table_commands(readme)) >= 12, "the README's command table was not found"
    missing = undocumented_in_help(readme, vl_bin)
    assert not missing, "\n".join(missing)
    # A wrong row is caught.
    wrong = readme.replace("[--no-record]", "[--no-recording]", 1)
    assert undocumented_in_help(wrong, vl_bin) == ["venturalitica enforce --no-recording: not in --help"]


def env_vars_without_a_reader(texts: dict[str, str]) -> list[str]:
    code = "\n".join(
        p.read_text(errors="replace")
        for root in SOURCES
        for p in root.rglob("*")
        if p.suffix in {".rs", ".py", ".sh"} and "target" not in p.parts and "fuzz" not in p.parts
    )
    named = {(name, var) for name, text in texts.items() for var in re.findall(r"VENTURALITICA_[A-Z0-9_]+", text)}
    return sorted(f"{name}: {var}" for name, var in named if var not in code)


def test_every_environment_variable_the_docs_name_is_read_somewhere():
    texts = {p.name: p.read_text() for p in DOCS}
    assert not env_vars_without_a_reader(texts)
    assert env_vars_without_a_reader({"wrong.md": "set VENTURALITICA_NO_SUCH_THING=1"}) == [
        "wrong.md: VENTURALITICA_NO_SUCH_THING"
    ]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[`*_]|<[^>]+>", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def broken_links(files: list[Path]) -> list[str]:
    broken = []
    for doc in files:
        name = doc.relative_to(REPO) if doc.is_relative_to(REPO) else doc.name
        for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text()):
            if re.match(r"[a-z]+:", target):
                continue  # http:, mailto:
            path, _, anchor = target.partition("#")
            dest = (doc.parent / path).resolve() if path else doc
            if not dest.exists():
                broken.append(f"{name}: {target}: no such file")
                continue
            if anchor and dest.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", dest.read_text(), re.M)
                if anchor not in {slug(h) for h in headings}:
                    broken.append(f"{name}: {target}: no such section")
    return broken


def test_every_relative_link_and_anchor_resolves(tmp_path):
    assert not broken_links(DOCS), "\n".join(broken_links(DOCS))
    wrong = tmp_path / "wrong.md"
    (tmp_path / "other.md").write_text("# A title\n\n## The section\n")
    wrong.write_text("[ok](other.md#the-section) [bad](other.md#missing) [gone](nowhere.md)\n")
    assert broken_links([wrong]) == [
        "wrong.md: other.md#missing: no such section",
        "wrong.md: nowhere.md: no such file",
    ]


# The docs' Python examples, run as written. Each ```python block of the
# README and docs runs, in order per page, in a scratch project holding the
# names and files the examples assume a reader has (``example_world``); a
# line ``EXPR  # LITERAL`` must give that literal. A block that cannot run
# here says why in a comment before it, ``<!-- example: not run: WHY -->``;
# ``<!-- example setup: CODE -->`` runs CODE first. A failing example, a
# wrong shown value or a skip without a reason fails the test.

NOT_RUN = re.compile(r"<!-- example: not run:(.*?)-->\s*$")
SETUP = re.compile(r"<!-- example setup: (.*?) -->\s*$")
# Every page of DOCS that has a Python example (found again at each collection).
EXAMPLE_PAGES = [p for p in DOCS if "```python" in p.read_text()]


def _control(cid: str, key: str, operator: str, threshold: float, **props: str) -> dict:
    """A policy control as the examples' policies write it (``input__x`` for ``input.x``)."""
    control = {"id": cid, "metric_key": key, "operator": operator, "threshold": threshold}
    return {**control, **{k.replace("__", "."): v for k, v in props.items()}}


GENDER_DI = _control("gender-di", "disparate_impact", ">=", 0.8, input__dimension="gender")
WORLD_POLICIES = {
    "my_policy.yaml": [{**GENDER_DI, "positive_label": "1"}],
    "fairness.yaml": [GENDER_DI],
    "data.yaml": [
        _control("balance", "class_imbalance", ">", 0.2),
        {**GENDER_DI, "positive_label": "1"},
    ],
    "drift.yaml": [
        _control("income-psi", "psi", "<", 0.1, input__feature="income", input__reference="train"),
        _control("region-chi2", "chi2_p_value", ">=", 0.05, input__feature="region", input__reference="train"),
    ],
}


def example_world(project: Path) -> dict:
    """The names the examples use, as a reader's project has them: German
    Credit split for a model (``X_train``, ``X_test`` with ``gender``,
    ``y_train``, a fitted ``model``), two samples for drift (``train_df``,
    ``current_df``), the policies they name, ``data/train.csv`` and a
    ``scores/`` Parquet directory."""
    import numpy as np
    import pandas as pd
    import venturalitica as vl
    import yaml
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    for name, controls in WORLD_POLICIES.items():
        (project / name).write_text(yaml.safe_dump(controls, sort_keys=False))
    path = os.environ.get("VL_CREDIT_CSV")
    if not path:
        pytest.fail("VL_CREDIT_CSV is not set; run the tests through scripts/test.sh, which fetches the data")
    credit = pd.read_csv(path)
    numeric = ["Attribute2", "Attribute5", "Attribute8", "age"]
    x, y = credit[[*numeric, "gender"]], credit["class"]
    model = make_pipeline(ColumnTransformer([("n", "passthrough", numeric)]), LogisticRegression(max_iter=1000))
    model.fit(x.iloc[:800], y.iloc[:800])
    (project / "data").mkdir()
    credit.iloc[:800].to_csv(project / "data" / "train.csv", index=False)
    rng = np.random.default_rng(3)
    (project / "scores").mkdir()
    pd.DataFrame(
        {
            "gender": rng.choice(["f", "m"], 400),
            "approved": rng.integers(0, 2, 400),
            "region": rng.choice(["EU", "US"], 400),
        }
    ).to_parquet(project / "scores" / "part-0.parquet")

    def sample(n: int, shift: float) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "income": rng.lognormal(10, 0.5, n) * (1 + shift),
                "age": rng.integers(18, 70, n),
                "region": rng.choice(["north", "south"], n, p=[0.6 - shift, 0.4 + shift]),
                "owner": rng.random(n) < 0.4,
            }
        )

    return {
        "vl": vl,
        "pd": pd,
        "np": np,
        "X_train": x.iloc[:800],
        "X_test": x.iloc[800:],
        "y_train": y.iloc[:800],
        "model": model,
        "train_df": sample(3000, 0.0),
        "current_df": sample(2000, 0.1),
    }


def python_examples(page: str) -> list[tuple[int, str, str | None, str | None]]:
    """Each ```python block: its line, its code, its setup, why it is not run."""
    out = []
    for m in re.finditer(r"^```python\n(.*?)^```", page, re.S | re.M):
        before = page[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        line = page[: m.start()].count("\n") + 2
        not_run, setup = NOT_RUN.search(before), SETUP.search(before)
        out.append((line, m.group(1), setup.group(1) if setup else None, not_run.group(1).strip() if not_run else None))
    return out


def run_examples(name: str, page: str, namespace: dict) -> list[str]:
    """Runs a page's examples in order in ``namespace``; what went wrong."""
    import ast
    import warnings

    import venturalitica as vl

    problems = []
    for line, code, setup, not_run in python_examples(page):
        where = f"{name}:{line}"
        if not_run is not None:
            if not not_run:
                problems.append(f"{where}: 'not run' without a reason")
            continue
        try:
            with warnings.catch_warnings():
                # An example that only "works" with error results does not work.
                warnings.simplefilter("error", vl.VenturaliticaWarning)
                if setup:
                    exec(setup, namespace)
                tree = ast.parse(code)
                lines = code.splitlines()
                for statement in tree.body:
                    source = ast.get_source_segment(code, statement)
                    shown = re.search(r"#\s*(.+?)\s*$", lines[statement.end_lineno - 1])
                    literal = None
                    if isinstance(statement, ast.Expr) and shown:
                        try:
                            literal = ast.literal_eval(shown.group(1))
                        except (ValueError, SyntaxError):
                            literal = None
                    if literal is None:
                        exec(compile(ast.Module([statement], []), where, "exec"), namespace)
                        continue
                    got = eval(compile(ast.Expression(statement.value), where, "eval"), namespace)
                    if got != literal:
                        problems.append(f"{where}: {source} gives {got!r}, the page shows {literal!r}")
        except Exception as e:  # noqa: BLE001 (each example's failure is reported, with the page's line)
            problems.append(f"{where}: {type(e).__name__}: {e}")
    return problems


@pytest.mark.parametrize("page", EXAMPLE_PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_python_example_of_the_docs_runs_as_written(page, tmp_path, monkeypatch):
    text = page.read_text()
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'examples'\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("VENTURALITICA_STRICT", raising=False)
    problems = run_examples(str(page.relative_to(REPO)), text, example_world(tmp_path))
    assert not problems, "\n".join(problems)


def test_the_example_check_fails_on_wrong_examples(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    page = "\n".join(
        [
            "```python",
            "undefined_frame.head()",
            "```",
            "```python",
            "1 + 1  # 3",
            "```",
            "<!-- example: not run: -->",
            "```python",
            "raise SystemExit",
            "```",
            "<!-- example: not run: it needs a cluster -->",
            "```python",
            "raise SystemExit",
            "```",
            "<!-- example setup: x = 2 -->",
            "```python",
            "x * 3  # 6",
            "```",
        ]
    )
    problems = run_examples("wrong.md", page, {})
    assert len(problems) == 3, problems
    assert "wrong.md:2: NameError" in problems[0]
    assert "wrong.md:5: 1 + 1 gives 2, the page shows 3" in problems[1]
    assert "wrong.md:9: 'not run' without a reason" in problems[2]


# A figure the README states (a size, a time, a ratio) must be one
# docs/performance.md states, in the section the paragraph links, and that
# section must name the command that gives it. Code blocks and tables (the
# shown output, the platform facts) are not prose; a figure after "at most"
# is a limit, not a measurement.
FIGURE = re.compile(r"(?<![\w.])(\d[\d,]*(?:\.\d+)?(?:–\d[\d,]*(?:\.\d+)?)?)\s?(×|MiB|KiB|GiB|MB|ms|s)(?!\w)")
PERF_LINK = re.compile(r"docs/performance\.md(#[\w-]+)?")


def untraced_figures(readme: str, performance: str) -> list[str]:
    prose = re.sub(r"^```.*?^```", "", readme, flags=re.S | re.M)
    sections = {}
    for m in re.finditer(r"^(#+) (.+)$", performance, re.M):
        anchor = re.sub(r"[^\w\- ]", "", m.group(2).lower()).replace(" ", "-")
        rest = performance[m.end() :]
        end = re.search(rf"^#{{1,{len(m.group(1))}}} ", rest, re.M)
        sections[anchor] = rest[: end.start()] if end else rest
    problems = []
    for paragraph in re.split(r"\n\s*\n", prose):
        text = " ".join(line for line in paragraph.splitlines() if not line.lstrip().startswith("|"))
        links = PERF_LINK.findall(text)
        # A link's text may name the page; its target names the section.
        links = [a for a in links if a] or links
        for m in FIGURE.finditer(text):
            figure = m.group(0)
            if re.search(r"(at most|≤)\s*$", text[: m.start()]):
                continue
            if not links:
                problems.append(f"{figure!r} ({text[:60]}…) links no section of docs/performance.md")
                continue
            where = [sections.get(a.lstrip("#"), "") if a else performance for a in links]
            if not any(figure.replace(" ", "") in w.replace(" ", "") for w in where):
                problems.append(f"{figure!r} is not in docs/performance.md{links[0]}")
            elif not any(re.search(r"bash (bench|scripts)/|scripts/\w+\.py|`venturalitica ", w) for w in where):
                problems.append(f"docs/performance.md{links[0]} names no command that gives {figure!r}")
    return problems


def test_every_figure_of_the_readme_is_one_the_performance_page_traces():
    problems = untraced_figures((REPO / "README.md").read_text(), (REPO / "docs" / "performance.md").read_text())
    assert not problems, "\n".join(problems)


def test_the_figure_check_fails_on_an_untraced_figure():
    readme = (REPO / "README.md").read_text()
    performance = (REPO / "docs" / "performance.md").read_text()
    wrong = readme.replace("77.8 s and 79.3 s", "77.9 s and 79.3 s", 1)
    assert wrong != readme
    assert untraced_figures(wrong, performance) == ["'77.9 s' is not in docs/performance.md#mlflow-export"]
    unlinked = readme + "\n\nIt is 3.2× faster than anything.\n"
    assert untraced_figures(unlinked, performance) == [
        "'3.2×' (It is 3.2× faster than anything.…) links no section of docs/performance.md"
    ]
