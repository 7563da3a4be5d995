"""The dashboard on a large store: server render time per page (the
Server-Timing header) and wall time, on a generated trail of N events
(cells with energy, evaluations, monitor windows), then the cost of growth:
one cell appended at a time, as a running notebook appends, each followed
by a request (the server reads the new line, checks its link in the chain,
and renders). Target: pages under a second at 1,000,000 events, growth
O(new events). `--bin-before` runs the same on another binary, side by
side. Run through bench/run_ui.sh."""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

GENESIS = "0" * 64


def body(kind: str, seq: int, payload: dict) -> str:
    return json.dumps(
        {
            "kind": kind,
            "ts": f"2026-11-26T10:{seq // 60 % 60:02}:{seq % 60:02}.000Z",
            "pid": 1000 + seq // 20000,
            "tool": "venturalitica 0.9.0",
            "payload": payload,
        },
        separators=(",", ":"),
    )


def energy(rng: random.Random) -> dict:
    cpu = rng.uniform(0.1, 30)
    ram = cpu / 300
    return {
        "wall_s": cpu / 40,
        "cpu_s": cpu / 40,
        "cpu": {"joules": cpu, "method": "tdp-model"},
        "ram": {"joules": ram, "method": "ram-model"},
        "total_j": cpu + ram,
        "kwh": (cpu + ram) / 3.6e6,
        "co2e_g": (cpu + ram) / 3.6e6 * 480.6,
        "peak_rss_bytes": 150_000_000,
        "mean_rss_bytes": 120_000_000,
    }


def results(rng: random.Random, policy_sha: str) -> dict:
    controls = []
    for cid in ("gender-di", "age-di", "accuracy"):
        v = rng.uniform(0.6, 1.0)
        controls.append(
            {
                "id": cid,
                "description": None,
                "metric_key": "disparate_impact",
                "operator": ">=",
                "threshold": 0.8,
                "actual_value": v,
                "status": "pass" if v >= 0.8 else "fail",
                "passed": v >= 0.8,
                "severity": None,
                "enforcement_mode": "block",
                "enforcement_declared": False,
                "inputs": {"dimension": "gender"},
                "params": {},
                "groups": [
                    {"group": "f", "n": 500, "rates": {"positive_rate": v * 0.6}},
                    {"group": "m", "n": 500, "rates": {"positive_rate": 0.6}},
                ],
                "ci": {"lower": v - 0.05, "upper": v + 0.05},
                "risk": {"risk_id": "RISK-01"},
                "reason": None,
                "warnings": [],
            }
        )
    passed = sum(c["passed"] for c in controls)
    return {
        "schema_version": 1,
        "passed": passed == 3,
        "summary": {"total": 3, "passed": passed, "failed": 3 - passed, "errors": 0},
        "policy": {
            "path": "policy.yaml",
            "title": "Loan policy",
            "version": "1.0",
            "uuid": "loan",
            "shape": "control-list",
            "sha256": policy_sha,
            "imports": [],
        },
        "data": {
            "source": "frame",
            "fingerprint": hashlib.sha256(str(rng.random()).encode()).hexdigest(),
            "rows": 1000,
            "columns_used": ["gender", "y"],
            "mapping": {},
        },
        "controls": controls,
        "manual_controls": [],
    }


def cell_body(rng: random.Random, seq: int) -> str:
    payload = {
        "execution_count": seq % 20000,
        "status": "ok",
        "duration_s": 0.1,
        "energy": energy(rng),
        "mode": "proxy",
    }
    return body("cell", seq, payload)


def line(seq: int, prev: str, b: str) -> tuple[str, str]:
    digest = hashlib.sha256(f"venturalitica-event-v1\n{seq}\n{prev}\n{b}".encode()).hexdigest()
    return f'{{"seq":{seq},"prev":"{prev}","hash":"{digest}","event":{b}}}\n', digest


def generate(root: Path, n: int) -> str:
    rng = random.Random(7)
    store = root / ".venturalitica"
    store.mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'bench'\n")
    policy_sha = hashlib.sha256(b"policy").hexdigest()
    prev, lines = GENESIS, []
    for seq in range(1, n + 1):
        if seq % 100 == 0:
            b = body("enforce", seq, {"origin": "kernel", "results": results(rng, policy_sha)})
        elif seq % 250 == 1:
            b = body("monitor", seq, {"name": f"train-{seq}", "origin": "python", "energy": energy(rng)})
        else:
            b = cell_body(rng, seq)
        text, prev = line(seq, prev, b)
        lines.append(text)
    (store / "trace.jsonl").write_text("".join(lines))
    (store / "policies").mkdir()
    (store / "chain_head").write_text(f"{n} {prev}\n")
    return prev


def serve(binary: str, root: Path, events: int, repeat: int, prev: str, grow: int) -> str:
    started = time.perf_counter()
    proc = subprocess.Popen([binary, "ui", "--port", "0", "--root", str(root)], stdout=subprocess.PIPE, text=True)
    try:
        url = re.search(r"(http://\S+)", proc.stdout.readline()).group(1).rstrip("/")
        print(f"  start-up (read, chain-check and verify the trail): {time.perf_counter() - started:.2f} s")
        print(f"  {'page':12} {'server ms (median)':>19} {'wall ms (median)':>17} {'first server ms':>16}")
        for page in ["/", "/graph", "/policies", "/energy", "/report", f"/event/{events // 2}"]:
            server, wall = [], []
            for _ in range(repeat):
                t = time.perf_counter()
                with urllib.request.urlopen(url + page, timeout=600) as r:
                    r.read()
                    timing = r.headers["server-timing"]
                wall.append((time.perf_counter() - t) * 1000)
                server.append(float(timing.split("dur=")[1]))
            print(f"  {page:12} {statistics.median(server):19.1f} {statistics.median(wall):17.1f} {server[0]:16.1f}")
        # Growth: append one cell, then ask for it (a tiny page: the time is
        # the reading of what was appended).
        rng = random.Random(11)
        trace = root / ".venturalitica" / "trace.jsonl"
        seq, took = events, []
        with trace.open("a") as f:
            for _ in range(grow):
                seq += 1
                text, prev = line(seq, prev, cell_body(rng, seq))
                f.write(text)
                f.flush()
                with urllib.request.urlopen(f"{url}/event/{seq}", timeout=600) as r:
                    r.read()
                    took.append(float(r.headers["server-timing"].split("dur=")[1]))
        print(
            f"  growth: {grow} cells appended one at a time, server ms per request: median "
            f"{statistics.median(took):.2f}, max {max(took):.2f}"
        )
        return prev
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--grow", type=int, default=20)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--bin-before", help="another binary (an earlier build) to run beside")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="vl-ui-bench-"))
    prev = generate(root, args.events)
    size = (root / ".venturalitica" / "trace.jsonl").stat().st_size
    print(f"store: {args.events:,} events, {size / 2**20:.1f} MiB")
    events = args.events
    for name, binary in [("before", args.bin_before), ("this build", args.bin)]:
        if binary:
            print(f"{name}: {binary}")
            prev = serve(binary, root, events, args.repeat, prev, args.grow)
            events += args.grow


if __name__ == "__main__":
    main()
