"""Kernel-proxy benchmark: the same ipykernel, direct and through the proxy.

In one run, on one machine, it measures:

- latency: 1,000 empty cells (`pass`), request sent → reply and idle
  received on raw pyzmq sockets, direct vs proxied, the two kernels running
  side by side with cells alternating; prints median and p99 of each and the
  added latency (targets: ≤ 0.5 ms median, ≤ 2 ms p99);
- throughput: one cell printing 100,000 lines, wall time direct vs proxied,
  median of 5 (target: proxied ≥ 95 % of direct);
- the proxy process's RSS after all that (target ≤ 30 MB) and its CPU use
  (all threads, from /proc schedstat) over 10 idle seconds (target: under
  0.1 % of a core).

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
from contextlib import ExitStack
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import zmq  # noqa: E402
from jupyter_client.session import Session  # noqa: E402
from kernel_env import PROXIED, KernelEnv  # noqa: E402

KERNELS = [("direct", "python3"), ("proxied", PROXIED)]


class RawClient:
    """A minimal frontend on raw pyzmq sockets, so the client adds no polling delay."""

    def __init__(self, km):
        info = km.get_connection_info()
        self.session = Session(key=km.session.key, signature_scheme=km.session.signature_scheme)
        ctx = zmq.Context.instance()
        self.shell = ctx.socket(zmq.DEALER)
        self.shell.connect(f"tcp://127.0.0.1:{info['shell_port']}")
        self.iopub = ctx.socket(zmq.SUB)
        self.iopub.setsockopt(zmq.SUBSCRIBE, b"")
        self.iopub.connect(f"tcp://127.0.0.1:{info['iopub_port']}")
        time.sleep(0.5)  # let the subscription settle

    def run(self, code: str) -> float:
        """Seconds from sending `code` to having its reply and its idle."""
        t0 = time.perf_counter()
        msg = self.session.send(self.shell, "execute_request", {"code": code, "silent": False})
        msg_id = msg["header"]["msg_id"]
        _, reply = self.session.recv(self.shell, mode=0)
        assert reply["parent_header"]["msg_id"] == msg_id
        while True:
            _, out = self.session.recv(self.iopub, mode=0)
            if (
                out["parent_header"].get("msg_id") == msg_id
                and out["msg_type"] == "status"
                and out["content"]["execution_state"] == "idle"
            ):
                return time.perf_counter() - t0

    def close(self) -> None:
        self.shell.close(linger=0)
        self.iopub.close(linger=0)


def p99(xs: list[float]) -> float:
    return sorted(xs)[max(0, int(len(xs) * 0.99) - 1)]


def cpu_seconds(pid: int) -> float:
    """CPU time of all of `pid`'s threads, in seconds (ns resolution)."""
    return sum(int(p.read_text().split()[0]) for p in Path(f"/proc/{pid}/task").glob("*/schedstat")) / 1e9


def rss_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) * 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=1000)
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--idle", type=float, default=10.0)
    ap.add_argument("--repeat", type=int, default=5, help="throughput runs per kernel (median)")
    args = ap.parse_args()
    vl_bin = Path(os.environ["VL_BIN"])

    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        env = KernelEnv(Path(tmp), vl_bin).setup()
        env.install()
        # Both kernels run at once and the cells alternate between them, so
        # both see the same machine load.
        kms = {label: stack.enter_context(env.kernel(name))[0] for label, name in KERNELS}
        clients = {label: RawClient(km) for label, km in kms.items()}
        lat = {label: [] for label in clients}
        for i in range(50 + args.cells):
            for label, client in clients.items():
                t = client.run("pass")
                if i >= 50:  # after the warm-up
                    lat[label].append(t)
        tput = {label: [] for label in clients}
        for _ in range(args.repeat):
            for label, client in clients.items():
                tput[label].append(client.run(f"for i in range({args.lines}): print(i)"))
        proxy_pid = kms["proxied"].provisioner.process.pid
        rss = rss_bytes(proxy_pid)
        for client in clients.values():
            client.close()
        cpu0 = cpu_seconds(proxy_pid)
        time.sleep(args.idle)
        idle_cpu = (cpu_seconds(proxy_pid) - cpu0) / args.idle
        results = {label: {"lat": lat[label], "tput": statistics.median(tput[label])} for label in clients}
        results["proxied"].update(rss=rss, idle_cpu=idle_cpu)

    d, p = results["direct"], results["proxied"]
    med_d, med_p = statistics.median(d["lat"]) * 1e3, statistics.median(p["lat"]) * 1e3
    p99_d, p99_p = p99(d["lat"]) * 1e3, p99(p["lat"]) * 1e3
    print(f"empty cells: {args.cells}")
    print(f"  direct   median {med_d:.3f} ms   p99 {p99_d:.3f} ms")
    print(f"  proxied  median {med_p:.3f} ms   p99 {p99_p:.3f} ms")
    print(f"  added    median {med_p - med_d:+.3f} ms (target <= 0.5)   p99 {p99_p - p99_d:+.3f} ms (target <= 2)")
    ratio = d["tput"] / p["tput"]
    print(f"{args.lines} printed lines (median of {args.repeat}): direct {d['tput']:.3f} s, proxied {p['tput']:.3f} s")
    print(f"  proxied throughput = {ratio * 100:.1f} % of direct (target >= 95 %)")
    print(f"proxy RSS {p['rss'] / 2**20:.1f} MiB (target <= 30)")
    print(f"proxy idle CPU {p['idle_cpu'] * 100:.4f} % of a core over {args.idle:.0f} s (target < 0.1 %)")


if __name__ == "__main__":
    main()
