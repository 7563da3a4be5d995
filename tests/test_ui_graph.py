"""The Evidence Graph at the size of a real project, in headless Debian
Chromium driven over the DevTools protocol: several hundred evaluations
(a notebook session through the proxied kernel, then CLI runs over three
policy versions and three datasets). Labels are measured as drawn; zoom,
pan, filters and opening a node are done with real mouse events; every
path from a control back to its policy text, data, cell and energy is
followed. Screenshots go to $VL_SCREENSHOTS (the README's)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.parse
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
from cdp import Browser
from test_ui import dashboard, get
from test_ui_browser import POLICY, require_chromium, run_notebook

LANE_LIMIT = 60  # graph::LANE_LIMIT
CLI_RUNS = 100  # per policy version


def _trail(project: Path) -> list[dict]:
    """Every evaluation: seq, time, pid, origin, policy sha, fingerprint, verdict."""
    out = []
    for line in (project / ".venturalitica" / "trace.jsonl").read_text().splitlines():
        record = json.loads(line)
        event = record["event"]
        if event["kind"] != "enforce":
            continue
        results = event["payload"]["results"]
        out.append(
            {
                "seq": record["seq"],
                "ts": event["ts"],
                "pid": event.get("pid"),
                "origin": event["payload"].get("origin"),
                "sha": results["policy"]["sha256"],
                "fp": results["data"]["fingerprint"],
                "passed": results["passed"],
            }
        )
    return out


def _event(project: Path, seq: int) -> dict:
    line = (project / ".venturalitica" / "trace.jsonl").read_text().splitlines()[seq - 1]
    record = json.loads(line)
    assert record["seq"] == seq
    return record["event"]


def _drawn(evals: list[dict]) -> set[int]:
    """What the graph must draw for these (filtered) evaluations: per lane,
    the newest LANE_LIMIT."""
    lanes: dict[str, list[int]] = defaultdict(list)
    for e in sorted(evals, key=lambda e: -e["seq"]):
        lanes[e["sha"]].append(e["seq"])
    return {seq for seqs in lanes.values() for seq in seqs[:LANE_LIMIT]}


def _build_project(kernel_env, vl_bin: Path) -> list[dict]:
    project = kernel_env.project
    run_notebook(project)
    rng = np.random.default_rng(11)
    for k in range(3):
        n = 1500 + k
        df = pd.DataFrame(
            {
                "gender": rng.choice(["female", "male"], n),
                "age_group": rng.choice(["<25", "25+"], n),
                "target": rng.integers(0, 2, n),
            }
        )
        df["prediction"] = np.where(rng.random(n) < 0.85 - 0.1 * k, df.target, 1 - df.target)
        df.to_csv(project / f"data{k}.csv", index=False)
    (project / "policy_v2.yaml").write_text(POLICY.replace("threshold: 0.7", "threshold: 0.75"))
    (project / "quality.yaml").write_text(
        "- id: accuracy\n  metric_key: accuracy_score\n  operator: '>='\n  threshold: 0.7\n"
        "  input.prediction: prediction\n"
    )
    for i in range(CLI_RUNS):
        for policy in ["policy.yaml", "policy_v2.yaml", "quality.yaml"]:
            subprocess.run(
                [str(vl_bin), "enforce", "--data", f"data{i % 3}.csv", "--policy", policy],
                cwd=project,
                check=False,  # a failing control exits 1; the evaluation is recorded
                capture_output=True,
            )
    evals = _trail(project)
    assert len(evals) == 2 + 3 * CLI_RUNS, len(evals)
    return evals


def _seqs(b: Browser) -> set[int]:
    return set(b.js("[...document.querySelectorAll('.node')].map(n => +n.dataset.seq)"))


def _label_heights(b: Browser) -> list[float]:
    return b.js("[...document.querySelectorAll('.graph-view svg text')].map(t => t.getBoundingClientRect().height)")


def _scale(b: Browser) -> float:
    return float(b.js("document.querySelector('.graph-view').dataset.scale"))


def _rect(b: Browser, selector: str) -> dict:
    return b.js(
        f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
        " return {x: r.x, y: r.y, w: r.width, h: r.height}; })()"
    )


def _follow(b: Browser, selector: str) -> None:
    """Clicks the link `selector` as a person would, and waits for the page."""
    b.js(f"document.querySelector({json.dumps(selector)}).scrollIntoView({{block: 'center'}})")
    x, y = b.centre(selector)
    b.loaded_after(lambda: b.click(x, y))


def test_the_evidence_graph_reads_at_any_size(kernel_env, vl_bin, tmp_path):
    require_chromium()
    evals = _build_project(kernel_env, vl_bin)
    kernel = [e for e in evals if e["origin"] == "kernel"]
    assert len(kernel) == 2 and kernel[0]["pid"] == kernel[1]["pid"]
    shots = Path(os.environ.get("VL_SCREENSHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)

    with dashboard(vl_bin, kernel_env.project) as url:
        base = url.rstrip("/")
        _, _, headers = get(base + "/graph")
        assert "script-src 'self'" in headers["content-security-policy"]
        b = Browser(tmp_path / ".chromium")
        try:
            b.goto(base + "/graph")
            # Nothing runs but the binary's own script.
            assert b.js("[...document.scripts].map(s => s.src)") == [base + "/static/app.js"]

            # One lane per policy version, newest first, at most LANE_LIMIT each.
            lanes = b.js("[...document.querySelectorAll('.lane')].map(l => l.dataset.policy)")
            newest = {e["sha"]: e["seq"] for e in evals}  # the last evaluation of each version
            newest_first = sorted(newest, key=lambda sha: -newest[sha])
            assert lanes == newest_first
            assert _seqs(b) == _drawn(evals)
            assert b.js("document.querySelectorAll('.more').length") == 3

            # Legible at the default zoom: every label at least 11 px tall.
            assert _scale(b) == 1.0
            heights = _label_heights(b)
            assert len(heights) >= 4 * len(_drawn(evals)) and min(heights) >= 11, min(heights)
            b.screenshot(shots / "evidence_graph.png")

            # Zoom: the wheel over the graph, then the buttons.
            cx, cy = b.centre(".graph-view")
            first = "(document.querySelector('.node text').getBoundingClientRect().height)"
            h1 = b.js(first)
            b.wheel(cx, cy, -120)
            assert abs(_scale(b) - 1.2) < 1e-9
            assert abs(b.js(first) / h1 - 1.2) < 0.05
            b.click(*b.centre("[data-zoom=out]"))
            assert abs(_scale(b) - 0.96) < 1e-9
            b.click(*b.centre("[data-zoom=fit]"))
            assert _scale(b) < 0.5  # hundreds of nodes fit in one view
            b.click(*b.centre("[data-zoom=reset]"))
            assert _scale(b) == 1.0 and min(_label_heights(b)) >= 11

            # Pan: a drag moves the lanes, the lane heads stay, and a drag
            # that starts on a node does not open it.
            page = b.url()
            node = _rect(b, ".node")
            head = _rect(b, ".head .box")
            b.drag(node["x"] + node["w"] / 2, node["y"] + node["h"] / 2, -400, -30)
            moved = _rect(b, ".node")
            assert abs(moved["x"] - (node["x"] - 400)) < 2 and abs(moved["y"] - (node["y"] - 30)) < 2
            assert abs(_rect(b, ".head .box")["x"] - head["x"]) < 2
            assert b.url() == page

            # The policy filter, through the form (its action is allowed by the CSP).
            v2 = lanes[1]
            b.js(f"document.querySelector('select[name=policy]').value = {json.dumps(v2)}")
            _follow(b, ".filters button[type=submit]")
            assert urllib.parse.parse_qs(urllib.parse.urlparse(b.url()).query)["policy"] == [v2]
            assert _seqs(b) == _drawn([e for e in evals if e["sha"] == v2])
            # Its "older" node, at the lane's far end (fit the graph to reach it), pages the lane.
            b.click(*b.centre("[data-zoom=fit]"))
            _follow(b, ".more")
            before = int(urllib.parse.parse_qs(urllib.parse.urlparse(b.url()).query)["before"][0])
            older = [e for e in evals if e["sha"] == v2 and e["seq"] < before]
            assert _seqs(b) == _drawn(older) and len(older) == CLI_RUNS - LANE_LIMIT

            # Data, time and verdict filters give exactly the evaluations the trail says.
            fp = evals[-1]["fp"]
            middle = sorted(evals, key=lambda e: e["seq"])[150]
            cases = {
                f"data={fp[:10]}": [e for e in evals if e["fp"] == fp],
                f"from={middle['ts'][:19]}": [e for e in evals if e["ts"][:19] >= middle["ts"][:19]],
                f"to={middle['ts'][:19]}": [e for e in evals if e["ts"][:19] <= middle["ts"][:19]],
                "failed=1": [e for e in evals if not e["passed"]],
            }
            for query, expected in cases.items():
                b.goto(f"{base}/graph?{query}")
                assert expected and _seqs(b) == _drawn(expected), query
                assert f" of {len(expected)} matching" in b.js("document.querySelector('.graph-tools').textContent")

            # The notebook session, and a node opened with a click.
            pid = kernel[0]["pid"]
            b.goto(f"{base}/graph?session={pid}")
            assert _seqs(b) == {e["seq"] for e in kernel}
            seq = kernel[-1]["seq"]
            _follow(b, f".node[data-seq='{seq}']")
            query = urllib.parse.parse_qs(urllib.parse.urlparse(b.url()).query)
            assert query == {"session": [str(pid)], "eval": [str(seq)]}
            assert b.js("document.querySelector('#details').dataset.seq") == str(seq)
            controls = b.js("[...document.querySelectorAll('#details tr.control')].map(r => r.id)")
            assert controls == ["control-gender-di", "control-age-di", "control-accuracy"]
            b.screenshot(shots / "evidence_graph_open.png")
            opened = b.url()

            # One click each: the control's policy text (its line), ...
            _follow(b, "#control-gender-di a.to-policy")
            assert urllib.parse.urlparse(b.url()).path == f"/policy/{kernel[-1]['sha']}"
            assert b.js("document.getElementById('control-gender-di').textContent").endswith("- id: gender-di")
            assert "its hash matches" in b.js("document.body.textContent")
            # ... the data: every evaluation of that fingerprint, ...
            b.goto(opened)
            _follow(b, "#control-gender-di .to-data a")
            assert _seqs(b) == _drawn([e for e in evals if e["fp"] == kernel[-1]["fp"]])
            # ... the cell that ran it, ...
            b.goto(opened)
            _follow(b, "#control-gender-di .to-cell a")
            assert re.search(r"Event #\d+ · cell", b.js("document.querySelector('h1').textContent"))
            cell_seq = int(urllib.parse.urlparse(b.url()).path.rsplit("/", 1)[1])
            cell = _event(kernel_env.project, cell_seq)
            assert cell["kind"] == "cell" and cell["pid"] == pid and cell_seq > seq
            # ... and its energy.
            b.goto(opened)
            _follow(b, "#control-gender-di .to-energy a")
            assert urllib.parse.urlparse(b.url()).path == f"/event/{cell_seq}"
            shown = b.js("document.getElementById('energy').nextElementSibling.textContent")
            assert cell["payload"]["energy"]["cpu"]["method"] in shown
        finally:
            b.close()
