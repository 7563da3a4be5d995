"""Kernel-proxy benchmark: the same ipykernel, direct and through the proxy.

In one run, on one machine, it measures:

- latency: 1,000 empty cells (`pass`), request sent → reply and idle
  received, direct vs proxied; prints median and p99 of each and the added
  latency (targets: ≤ 0.5 ms median, ≤ 2 ms p99);
- throughput: one cell printing 100,000 lines, wall time direct vs proxied
  (target: proxied ≥ 95 % of direct);
- the proxy process's RSS after all that (target ≤ 30 MB) and its CPU use
  over 10 idle seconds (target: under 0.1 % of a core).

Usage: python bench/proxy_bench.py [--cells 1000] [--lines 100000]
(bench/run_proxy.sh builds the agent and runs this in the test venv).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from kernel_env import PROXIED, KernelEnv  # noqa: E402


def cell_latencies(kc, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        kc.execute_interactive("pass", timeout=30, output_hook=lambda m: None)
        out.append(time.perf_counter() - t0)
    return out


def print_lines(kc, lines: int) -> float:
    t0 = time.perf_counter()
    kc.execute_interactive(f"for i in range({lines}): print(i)", timeout=600, output_hook=lambda m: None)
    return time.perf_counter() - t0


def p99(xs: list[float]) -> float:
    return sorted(xs)[max(0, int(len(xs) * 0.99) - 1)]


def proc_stat(pid: int) -> tuple[float, int]:
    """(CPU seconds used, RSS in bytes) of `pid`, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    rss_kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))
    return cpu, rss_kb * 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=1000)
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--idle", type=float, default=10.0)
    args = ap.parse_args()
    vl_bin = Path(os.environ["VL_BIN"])

    with tempfile.TemporaryDirectory() as tmp:
        env = KernelEnv(Path(tmp), vl_bin).setup()
        env.install()
        results = {}
        for label, name in [("direct", "python3"), ("proxied", PROXIED)]:
            with env.kernel(name) as (km, kc):
                cell_latencies(kc, 50)  # warm-up
                lat = cell_latencies(kc, args.cells)
                tput = print_lines(kc, args.lines)
                results[label] = {"lat": lat, "tput": tput}
                if label == "proxied":
                    pid = km.provisioner.process.pid
                    cpu0, rss = proc_stat(pid)
                    time.sleep(args.idle)
                    cpu1, _ = proc_stat(pid)
                    results[label]["rss"] = rss
                    results[label]["idle_cpu"] = (cpu1 - cpu0) / args.idle

    d, p = results["direct"], results["proxied"]
    med_d, med_p = statistics.median(d["lat"]) * 1e3, statistics.median(p["lat"]) * 1e3
    p99_d, p99_p = p99(d["lat"]) * 1e3, p99(p["lat"]) * 1e3
    print(f"empty cells: {args.cells}")
    print(f"  direct   median {med_d:.3f} ms   p99 {p99_d:.3f} ms")
    print(f"  proxied  median {med_p:.3f} ms   p99 {p99_p:.3f} ms")
    print(f"  added    median {med_p - med_d:+.3f} ms (target <= 0.5)   p99 {p99_p - p99_d:+.3f} ms (target <= 2)")
    ratio = d["tput"] / p["tput"]
    print(f"{args.lines} printed lines: direct {d['tput']:.3f} s, proxied {p['tput']:.3f} s")
    print(f"  proxied throughput = {ratio * 100:.1f} % of direct (target >= 95 %)")
    print(f"proxy RSS {p['rss'] / 2**20:.1f} MiB (target <= 30)")
    print(f"proxy idle CPU {p['idle_cpu'] * 100:.3f} % of a core over {args.idle:.0f} s (target < 0.1 %)")


if __name__ == "__main__":
    main()
