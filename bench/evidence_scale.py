"""Every command on a year's evidence: a real store grown to N signed events
(default 1,000,000) through the store's own append path, from the cells and
evaluations of the tutorial notebooks run through the proxy (an evaluation
every 300 cells, a new kernel session every 20,000 events), then each
command that reads the trail timed: `enforce` (one more event), `verify`
(from the checkpoint), `verify --full`, `scan`, `report annex-iv`, the
dashboard's first page after start and each page.

`--baseline` times the same commands with checkpoints off
(VENTURALITICA_CHECKPOINT=off: every reader reads the whole trail, as before
checkpoints), in the same run, and checks that both give the same outputs.
The issue's figures (measured before checkpoints) are printed beside them.
Run through bench/run_evidence_scale.sh."""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

# Issue 28's figures at 1,000,000 signed events, before checkpoints.
BEFORE = {
    "enforce (one more event)": 0.07,
    "verify": 33.6,
    "scan": 14.1,
    "report annex-iv --format md": 88.5,
    "ui: start until the first page": 74.1,
}
TARGETS = {
    "enforce (one more event)": 0.1,
    "verify": 0.5,
    "verify --full": 10.0,
    "scan": 1.0,
    "report annex-iv --format md": 2.0,
    "ui: start until the first page": 2.0,
}
PAGE_TARGET = 1.0
PAGES = ["/", "/graph", "/policies", "/energy", "/report", "/api/head", "/api/events?after={near_end}"]


def run(cmd: list[str], root: Path, env: dict[str, str], check: bool = True) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if check and done.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr[-2000:]}")
    return elapsed, done.stdout


def events_in(trace: Path) -> int:
    """The last event's seq, read from the end of the trail."""
    with trace.open("rb") as f:
        f.seek(max(0, trace.stat().st_size - 200_000))
        last = f.read().rstrip(b"\n").rsplit(b"\n", 1)[-1]
    return int(re.match(rb'\{"seq":(\d+)', last).group(1))


def grow(grower: str, template: Path, root: Path, events: int, session: int) -> None:
    trace = root / ".venturalitica" / "trace.jsonl"
    have = events_in(trace) if trace.exists() else 0
    if have >= events:
        print(f"reusing {root}: {have:,} events")
        return
    started = time.perf_counter()
    while have < events:
        n = min(session, events - have)
        subprocess.run([grower, str(template), str(root), str(n)], check=True)
        have = events_in(trace)
        print(f"\r  grown to {have:,} events ({time.perf_counter() - started:.0f} s)", end="", flush=True)
    print()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[float, bytes]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as r:
        body = r.read()
    return time.perf_counter() - started, body


def time_ui(vl: str, root: Path, env: dict[str, str], near_end: int) -> tuple[float, dict[str, float], bytes]:
    port = free_port()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [vl, "ui", "--root", str(root), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                get(f"http://127.0.0.1:{port}/api/head")
                break
            except OSError:
                if proc.poll() is not None:
                    sys.exit("venturalitica ui exited")
                time.sleep(0.02)
        _, first = get(f"http://127.0.0.1:{port}/")
        first_page = time.perf_counter() - started
        pages = {}
        for page in PAGES:
            path = page.format(near_end=near_end)
            pages[path], _ = get(f"http://127.0.0.1:{port}{path}")
        # An event page: the last evaluation's, and a cell's (read from its line).
        for seq in (near_end, near_end // 2):
            pages[f"/event/{seq}"], _ = get(f"http://127.0.0.1:{port}/event/{seq}")
        return first_page, pages, first
    finally:
        proc.terminate()
        proc.wait()


def measure(vl: str, root: Path, data: Path, policy: Path, env: dict[str, str]) -> tuple[dict[str, float], dict]:
    times: dict[str, float] = {}
    outputs: dict = {}
    times["enforce (one more event)"], _ = run(
        [vl, "enforce", "--data", str(data), "--policy", str(policy), "--target", "class", "gender=gender", "age=age"],
        root,
        env,
    )
    times["verify"], out = run([vl, "verify"], root, env)
    outputs["verify"] = out
    times["verify --full"], out = run([vl, "verify", "--full"], root, env)
    outputs["verify --full"] = out
    times["scan"], out = run([vl, "scan", "--format", "json"], root, env)
    outputs["scan"] = out
    times["report annex-iv --format md"], out = run([vl, "report", "annex-iv", "--format", "md"], root, env)
    outputs["report"] = out
    near_end = events_in(root / ".venturalitica" / "trace.jsonl")
    first, pages, body = time_ui(vl, root, env, near_end)
    times["ui: start until the first page"] = first
    outputs["ui /"] = body
    for page, t in pages.items():
        times[f"ui: {page}"] = t
    return times, outputs


def comparable(text: str | bytes) -> str:
    """An output without what differs from run to run (times, durations)."""
    text = text.decode() if isinstance(text, bytes) else text
    text = re.sub(r"\d{4}-\d\d-\d\dT[0-9:.]+Z?", "<time>", text)
    text = re.sub(r"in [0-9.]+ s \([0-9]+ events/s\)", "in <t>", text)
    return re.sub(r"(?m)^note: checked from the checkpoint.*\n|^note: every event checked from the first.*\n", "", text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--session", type=int, default=20_000, help="events per kernel session (process)")
    ap.add_argument("--bin", required=True, help="the venturalitica binary")
    ap.add_argument("--grower", required=True, help="the grow_trail example binary")
    ap.add_argument("--template", type=Path, required=True, help="a project whose trail has real cells and evaluations")
    ap.add_argument("--work", type=Path, required=True, help="where the grown project is kept (reused when grown)")
    ap.add_argument("--baseline", action="store_true", help="also time every command with checkpoints off")
    args = ap.parse_args()

    args.work.mkdir(parents=True, exist_ok=True)
    (args.work / "pyproject.toml").write_text((args.template / "pyproject.toml").read_text())
    grow(args.grower, args.template, args.work, args.events, args.session)
    store = args.work / ".venturalitica"
    trail_bytes = (store / "trace.jsonl").stat().st_size
    n = events_in(store / "trace.jsonl")
    print(f"trail: {n:,} events, {trail_bytes / 1e9:.2f} GB ({trail_bytes / n:.0f} bytes per event)")

    data = args.template / "data" / "german_credit.csv"
    policy = args.template / "data_policy.yaml"
    env = dict(os.environ)
    results: dict[str, dict[str, float]] = {}
    outputs = {}
    if args.baseline:
        off = dict(env, VENTURALITICA_CHECKPOINT="off")
        print("timing with checkpoints off (every reader reads the whole trail) ...", flush=True)
        results["off"], outputs["off"] = measure(args.bin, args.work, data, policy, off)
    checkpoint = store / "checkpoint.bin"
    if checkpoint.exists():
        checkpoint.unlink()
    elapsed, _ = run([args.bin, "verify"], args.work, env)
    size = checkpoint.stat().st_size / 1e6
    print(f"first read without a checkpoint (verify, which writes it): {elapsed:.2f} s; checkpoint.bin {size:.1f} MB")
    print("timing with checkpoints ...", flush=True)
    results["on"], outputs["on"] = measure(args.bin, args.work, data, policy, env)

    print()
    print(f"| command at {n:,} signed events | before (issue) | checkpoints off | checkpoints on | target |")
    print("|---|---:|---:|---:|---:|")
    for name, on in results["on"].items():
        target = TARGETS.get(name, PAGE_TARGET if name.startswith("ui: /") else None)
        off = results.get("off", {}).get(name)
        before = BEFORE.get(name)
        cells = [
            f"{before:.2f} s" if before is not None else "",
            f"{off:.2f} s" if off is not None else "",
            f"{on:.2f} s" + (f" ({off / on:.0f}×)" if off else ""),
            f"≤ {target:g} s" + ("" if on <= target else " MISSED") if target else "",
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")
    full_out = outputs["on"]["verify --full"]
    rate = re.search(r"\(([0-9]+) events/s\)", full_out)
    if rate:
        print(f"\nverify --full: {int(rate.group(1)):,} events/s")
    if args.baseline:
        # On the same trail, nothing appended between: the Annex IV and the
        # full check must read the same with and without the checkpoint.
        report = [args.bin, "report", "annex-iv", "--format", "md"]
        same = {
            "report annex-iv": comparable(run(report, args.work, env)[1])
            == comparable(run(report, args.work, dict(env, VENTURALITICA_CHECKPOINT="off"))[1]),
        }
        print(f"same outputs with and without checkpoints: {json.dumps(same)}")


if __name__ == "__main__":
    main()
