"""`venturalitica report annex-iv`: the EU AI Act's technical documentation
from a real trail (CLI enforce, monitor and scan), as Markdown, HTML, PDF and
the dashboard's Report page."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from policies import DI_POLICY
from test_ui import dashboard, get

SECTIONS = [
    "General description of the AI system",
    "Elements of the AI system and the process of its development",
    "Monitoring, functioning and control of the AI system",
    "Appropriateness of the performance metrics",
    "Risk management system (Article 9)",
    "Changes through the lifecycle",
    "Harmonised standards and specifications applied",
    "EU declaration of conformity (Article 47)",
    "Post-market monitoring (Article 72)",
]

RISK = """\
  risk_id: RISK-BIAS-01
  treatment_id: TREAT-3
  threshold_justification: four-fifths rule
"""

FACTS = """\
[tool.venturalitica.annex-iv]
system-name = "Loan scoring <v2>"
provider = "Example Bank"
intended-purpose = "Rank consumer loan applications for human review"
human-oversight = "Every rejection is reviewed by a loan officer"
standards = ["ISO/IEC 42001:2023"]
"""


def _project(vl_bin: Path, root: Path, risk: bool) -> list[dict]:
    """Two evaluations (the data changes between them), a monitored run, a scan."""
    (root / ".venturalitica").mkdir(parents=True, exist_ok=True)  # the project root, whatever is above it
    (root / "policy.yaml").write_text(DI_POLICY.format(mode="warn") + (RISK if risk else ""))
    for rows in ("a,1\na,1\nb,0\nb,1\n", "a,1\na,0\nb,1\nb,1\n"):
        (root / "data.csv").write_text("g,y\n" + rows)
        subprocess.run(
            [str(vl_bin), "enforce", "--data", "data.csv", "--policy", "policy.yaml"],
            cwd=root,
            check=True,
            capture_output=True,
        )
    subprocess.run(
        [str(vl_bin), "monitor", "--name", "train", "--", "python3", "-c", "sum(range(10**6))"],
        cwd=root,
        check=True,
        capture_output=True,
    )
    subprocess.run([str(vl_bin), "scan"], cwd=root, check=False, capture_output=True)
    lines = (root / ".venturalitica" / "trace.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _report(vl_bin: Path, root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run(
        [str(vl_bin), "report", "annex-iv", "--root", str(root), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check:
        assert out.returncode == 0, out.stderr
    return out


def _sections(markdown: str) -> dict[str, str]:
    parts = re.split(r"^## (?:\d\. )?(.+)$", markdown, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_section_is_there_and_every_link_leads_to_its_event(vl_bin, tmp_path):
    trail = _project(vl_bin, tmp_path / "p", risk=True)
    by_seq = {line["seq"]: line["hash"] for line in trail}
    md = _report(vl_bin, tmp_path / "p").stdout
    sections = _sections(md)
    assert list(sections) == ["Evidence integrity", *SECTIONS, "Sign-off"]

    refs = re.findall(r"\[#(\d+) sha256:([0-9a-f]{64})\]", md)
    assert len(refs) >= 10
    for seq, digest in refs:
        assert by_seq[int(seq)] == digest, f"#{seq} does not carry the hash of event {seq}"
    kinds = {trail[int(seq) - 1]["event"]["kind"] for seq, _ in refs}
    assert kinds == {"enforce", "monitor", "scan"}

    # Facts from the evidence, each where the annex asks for it.
    enforce = [line for line in trail if line["event"]["kind"] == "enforce"]
    fingerprints = [e["event"]["payload"]["results"]["data"]["fingerprint"] for e in enforce]
    assert all(fp in sections[SECTIONS[1]] for fp in fingerprints)
    assert f"{fingerprints[0]} → {fingerprints[1]}" in sections[SECTIONS[5]]
    assert "Measured run `train`" in sections[SECTIONS[1]]
    assert "RISK-BIAS-01" in sections[SECTIONS[4]] and "Missing" not in sections[SECTIONS[4]]
    control = enforce[-1]["event"]["payload"]["results"]["controls"][0]
    assert "threshold chosen because: four-fifths rule" in sections[SECTIONS[3]]
    assert control["actual_value"] == 0.5
    rule = r"disparate_impact = 0\.5000, 95% CI \[[0-9.]+, [0-9.]+\]; rule >= 0\.8000; FAIL"
    assert re.search(rule, sections[SECTIONS[3]])

    # Nothing a person must write is invented: it is listed as missing.
    assert "Intended purpose (`intended-purpose`" in sections[SECTIONS[0]]
    assert "EU declaration of conformity (`declaration-of-conformity`" in sections[SECTIONS[7]]
    assert "*(declared)*" not in md


def test_a_project_without_a_risk_register_lists_risk_management_as_missing(vl_bin, tmp_path):
    _project(vl_bin, tmp_path / "p", risk=False)
    risk = _sections(_report(vl_bin, tmp_path / "p").stdout)[SECTIONS[4]]
    assert "**Missing:**" in risk and "a risk management system: no policy names a risk" in risk
    assert "Risk treated by" not in risk


def test_declared_facts_come_from_pyproject_and_unknown_keys_are_an_error(vl_bin, tmp_path):
    root = tmp_path / "p"
    _project(vl_bin, root, risk=True)
    (root / "pyproject.toml").write_text(FACTS)
    md = _report(vl_bin, root).stdout
    sections = _sections(md)
    assert md.startswith("# Technical documentation (EU AI Act, Annex IV): Loan scoring \\<v2\\>")
    assert "- Provider: Example Bank *(declared)*" in sections[SECTIONS[0]]
    assert "Intended purpose (`intended-purpose`" not in sections[SECTIONS[0]]
    assert "Applied: ISO/IEC 42001:2023 *(declared)*" in sections[SECTIONS[6]]

    (root / "pyproject.toml").write_text(FACTS + 'intended-porpose = "typo"\n')
    bad = _report(vl_bin, root, check=False)
    assert bad.returncode == 2
    assert "pyproject.toml" in bad.stderr and "intended-porpose" in bad.stderr


MARKUP = {
    "system-name": "Loan scoring <v2>",
    "provider": "Bank *A* & [partners](http://x.example)",
    "intended-purpose": "Rank `loan` applications <b>for</b> review; __not__ ~~automated~~ | #1 \\ back_slash",
}


def _rendered_text(markdown: str) -> tuple[str, set[str]]:
    """The text a CommonMark renderer shows, and the kinds of markup it made."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parse(markdown)
    text, kinds = [], set()
    for token in tokens:
        for child in token.children or []:
            kinds.add(child.type)
            if child.type in ("text", "code_inline"):
                text.append(child.content)
            elif child.type == "softbreak":
                text.append("\n")
    return "".join(text), kinds


def test_user_strings_in_the_markdown_render_as_written(vl_bin, tmp_path):
    """A Markdown renderer (markdown-it-py, CommonMark) shows the user's
    strings as written: no tag dropped, no emphasis, link or code made of them."""
    root = tmp_path / "p"
    (root / ".venturalitica").mkdir(parents=True)
    (root / "policy.yaml").write_text(DI_POLICY.format(mode="warn"))
    (root / "data.csv").write_text("g,y\n<b>a</b>,1\n<b>a</b>,0\n*b*,1\n*b*,1\n")
    subprocess.run(
        [str(vl_bin), "enforce", "--data", "data.csv", "--policy", "policy.yaml"],
        cwd=root,
        check=True,
        capture_output=True,
    )
    name = "fit <model> *v2* `x`"
    subprocess.run(
        [str(vl_bin), "monitor", "--name", name, "--", "python3", "-c", "pass"],
        cwd=root,
        check=True,
        capture_output=True,
    )
    facts = "".join(f"{k} = {json.dumps(v)}\n" for k, v in MARKUP.items())
    (root / "pyproject.toml").write_text("[tool.venturalitica.annex-iv]\n" + facts)
    md = _report(vl_bin, root).stdout
    shown, kinds = _rendered_text(md)
    # Our own markup only: code spans, emphasis for "declared", bold for "Missing".
    assert "html_inline" not in kinds and "link_open" not in kinds and "s_open" not in kinds, kinds
    for value in [*MARKUP.values(), "<b>a</b> (n = 2", "*b* (n = 2", f"Measured run {name}:"]:
        assert value in shown, (value, shown)
    # Emphasis only around "(declared)", never made of a user's asterisks or underscores.
    from markdown_it import MarkdownIt

    emphasised = [
        t.children[i + 1].content
        for t in MarkdownIt("commonmark").parse(md)
        for i, c in enumerate(t.children or [])
        if c.type in ("em_open", "strong_open")
    ]
    assert set(emphasised) <= {"declared", "(declared)", "Missing:"}, emphasised


def test_html_the_dashboard_report_and_the_pdf_are_the_same_document(vl_bin, tmp_path):
    root = tmp_path / "p"
    _project(vl_bin, root, risk=True)
    (root / "pyproject.toml").write_text(FACTS)
    page = _report(vl_bin, root, "--format", "html").stdout
    # User strings are escaped: the system name holds markup.
    assert "Loan scoring &lt;v2&gt;" in page and "<v2>" not in page
    refs = re.findall(r'data-seq="(\d+)" data-hash="([0-9a-f]{64})"', page)
    md_refs = re.findall(r"\[#(\d+) sha256:([0-9a-f]{64})\]", _report(vl_bin, root).stdout)
    assert refs == md_refs
    for title in SECTIONS:
        assert html.escape(title, quote=False) in page

    with dashboard(vl_bin, root) as url:
        status, served, _ = get(url.rstrip("/") + "/report")
    assert status == 200
    assert re.findall(r'data-seq="(\d+)" data-hash="([0-9a-f]{64})"', served) == refs
    assert "Sign-off" in served and "Evidence integrity" in served

    if shutil.which("chromium") is None or shutil.which("pdftoppm") is None:
        (pytest.fail if os.environ.get("VL_CI") else pytest.skip)("needs chromium and poppler-utils (scripts/test.sh)")
    pdf = tmp_path / "annex.pdf"
    out = _report(vl_bin, root, "--format", "pdf", "--output", str(pdf))
    assert f"wrote {pdf}" in out.stderr
    assert pdf.read_bytes().startswith(b"%PDF")
    subprocess.run(["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")], check=True)
    assert (tmp_path / "page-1.png").stat().st_size > 2_000
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    flat = " ".join(text.split())
    for n, title in enumerate(SECTIONS, start=1):
        assert f"{n}. {title}" in flat, title
