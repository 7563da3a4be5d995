"""The dashboard on a large store: server render time per page (the
Server-Timing header) and wall time, on a generated trail of N events
(cells with energy, evaluations, monitor windows). Target: the first page
under 300 ms server time at 100,000 events. Run through bench/run_ui.sh."""

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
            "tool": "venturalitica 0.1.0",
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


def generate(root: Path, n: int) -> None:
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
            b = body(
                "cell",
                seq,
                {
                    "execution_count": seq % 20000,
                    "status": "ok",
                    "duration_s": 0.1,
                    "energy": energy(rng),
                    "mode": "proxy",
                },
            )
        digest = hashlib.sha256(f"venturalitica-event-v1\n{seq}\n{prev}\n{b}".encode()).hexdigest()
        lines.append(f'{{"seq":{seq},"prev":"{prev}","hash":"{digest}","event":{b}}}\n')
        prev = digest
    (store / "trace.jsonl").write_text("".join(lines))
    (store / "policies").mkdir()
    (store / "chain_head").write_text(f"{n} {prev}\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--bin", required=True)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="vl-ui-bench-"))
    generate(root, args.events)
    size = (root / ".venturalitica" / "trace.jsonl").stat().st_size
    print(f"store: {args.events:,} events, {size / 2**20:.1f} MiB")
    started = time.perf_counter()
    proc = subprocess.Popen([args.bin, "ui", "--port", "0", "--root", str(root)], stdout=subprocess.PIPE, text=True)
    try:
        url = re.search(r"(http://\S+)", proc.stdout.readline()).group(1).rstrip("/")
        print(f"start-up (read, chain-check and verify the trail): {time.perf_counter() - started:.2f} s")
        print(f"{'page':12} {'server ms (median)':>19} {'wall ms (median)':>17} {'first server ms':>16}")
        for page in ["/", "/graph", "/policies", "/energy", "/report", f"/event/{args.events // 2}"]:
            server, wall = [], []
            for _ in range(args.repeat):
                t = time.perf_counter()
                with urllib.request.urlopen(url + page, timeout=120) as r:
                    r.read()
                    timing = r.headers["server-timing"]
                wall.append((time.perf_counter() - t) * 1000)
                server.append(float(timing.split("dur=")[1]))
            print(f"{page:12} {statistics.median(server):19.1f} {statistics.median(wall):17.1f} {server[0]:16.1f}")
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
