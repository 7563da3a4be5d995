"""Kernel-proxy benchmark: the same ipykernel, direct and through the proxy.

In one run, on one machine, it measures:

- latency: 1,000 empty cells (`pass`), request sent → reply and idle
  received on raw pyzmq sockets, direct vs proxied, the two kernels running
  side by side with cells alternating; prints median and p99 of each and the
  added latency (targets: ≤ 0.25 ms median, ≤ 2 ms p99), and the proxy's CPU
  time per 1,000 cells;
- throughput: one cell printing 100,000 lines, wall time direct vs proxied,
  median of 5 (target: proxied ≥ 95 % of direct);
- the proxy process's RSS after all that (target ≤ 30 MB) and its CPU use
  (all threads, from /proc schedstat) over 10 idle seconds (target: under
  0.1 % of a core);
- a flood: one cell writing 20,000 outputs of 10 kB while a second IOPub
  subscriber (RCVHWM 10) never reads and a jupyter_client reads; the cell's
  wall time direct vs proxied (target: proxied ≤ 2x direct) and how many
  outputs the reading client got (target through the proxy: all of them).

Usage: python bench/proxy_bench.py [--cells 1000] [--lines 100000] [--flood 20000]
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

DIRECT = ("direct", "python3", {})
PROXIED_ON = ("proxied", PROXIED, {})
PROXIED_OFF = ("proxied, energy off", PROXIED, {"VENTURALITICA_ENERGY": "off"})


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


def cpu_seconds_with_exited_threads(pid: int) -> float:
    """utime + stime from /proc/<pid>/stat: includes threads that have exited
    (each cell's sampler thread), at clock-tick resolution."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) * 1024


def alternate(env: KernelEnv, kernels, cells: int, lines: int, repeat: int, idle: float) -> dict:
    """Runs two kernels side by side, cells alternating between them, so both
    see the same machine load; only these two kernels run meanwhile."""
    out = {}
    with ExitStack() as stack:
        kms = {label: stack.enter_context(env.kernel(name, extra))[0] for label, name, extra in kernels}
        clients = {label: RawClient(km) for label, km in kms.items()}
        proxies = {label: km.provisioner.process.pid for label, km in kms.items() if label != "direct"}
        lat = {label: [] for label in clients}
        for _ in range(50):  # warm-up
            for client in clients.values():
                client.run("pass")
        cpu0 = {label: cpu_seconds_with_exited_threads(pid) for label, pid in proxies.items()}
        for _ in range(cells):
            for label, client in clients.items():
                lat[label].append(client.run("pass"))
        for label, pid in proxies.items():
            out.setdefault(label, {})["cpu_per_1000_cells"] = (
                (cpu_seconds_with_exited_threads(pid) - cpu0[label]) / cells * 1000
            )
        tput = {label: [] for label in clients}
        for _ in range(repeat):
            for label, client in clients.items():
                tput[label].append(client.run(f"for i in range({lines}): print(i)"))
        for label in clients:
            out.setdefault(label, {}).update(lat=lat[label], tput=statistics.median(tput[label]))
        for label, pid in proxies.items():
            out[label]["rss"] = rss_bytes(pid)
        for client in clients.values():
            client.close()
        if idle and proxies:
            cpu_idle0 = {label: cpu_seconds(pid) for label, pid in proxies.items()}
            time.sleep(idle)
            for label, pid in proxies.items():
                out[label]["idle_cpu"] = (cpu_seconds(pid) - cpu_idle0[label]) / idle
    return out


FLOOD_LINE = 10_000


def flood(env: KernelEnv, kernel_name: str, outputs: int) -> tuple[float, int]:
    """Seconds for the flood cell to reply and go idle, and the outputs a
    reading jupyter_client got, while another subscriber never reads."""
    code = (
        f"import sys\n_l = 'x' * {FLOOD_LINE}\n"
        f"for _i in range({outputs}):\n    sys.stdout.write(_l + '\\n'); sys.stdout.flush()\n"
    )
    ctx = zmq.Context()
    with env.kernel(kernel_name) as (km, kc):
        stalled = ctx.socket(zmq.SUB)
        stalled.rcvhwm = 10
        stalled.setsockopt(zmq.SUBSCRIBE, b"")
        stalled.connect(f"tcp://127.0.0.1:{km.iopub_port}")
        stalled.poll(10_000)  # subscribed: its welcome (or first message) is in; never read
        t0 = time.perf_counter()
        msg_id = kc.execute(code)
        got = 0
        while True:
            msg = kc.get_iopub_msg(timeout=600)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                got += msg["content"]["text"].count("\n")
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        seconds = time.perf_counter() - t0
        stalled.close(linger=0)
    ctx.term()
    return seconds, got


def ms(xs: list[float]) -> str:
    return f"median {statistics.median(xs) * 1e3:.3f} ms   p99 {p99(xs) * 1e3:.3f} ms"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=1000)
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--idle", type=float, default=10.0)
    ap.add_argument("--repeat", type=int, default=5, help="throughput runs per kernel (median)")
    ap.add_argument("--flood", type=int, default=20_000, help="outputs of 10 kB in the flood cell (0: skip)")
    args = ap.parse_args()
    vl_bin = Path(os.environ["VL_BIN"])

    with tempfile.TemporaryDirectory() as tmp:
        env = KernelEnv(Path(tmp), vl_bin).setup()
        env.install()
        a = alternate(env, [DIRECT, PROXIED_ON], args.cells, args.lines, args.repeat, args.idle)
        b = alternate(env, [PROXIED_ON, PROXIED_OFF], args.cells, args.lines, 1, 0)
        floods = {label: flood(env, name, args.flood) for label, name, _ in (DIRECT, PROXIED_ON)} if args.flood else {}

    d, p = a["direct"], a["proxied"]
    print(f"A. direct vs proxied (energy on), {args.cells} empty cells each")
    print(f"  direct   {ms(d['lat'])}")
    print(f"  proxied  {ms(p['lat'])}")
    added_med = (statistics.median(p["lat"]) - statistics.median(d["lat"])) * 1e3
    added_p99 = (p99(p["lat"]) - p99(d["lat"])) * 1e3
    print(f"  added    median {added_med:+.3f} ms (target <= 0.25)   p99 {added_p99:+.3f} ms (target <= 2)")
    share = added_med / (statistics.median(d["lat"]) * 1e3) * 100
    print(f"  share    {share:.1f} % of the plain kernel's empty cell (target <= 5 %)")
    print(f"  proxy CPU {p['cpu_per_1000_cells']:.3f} s per 1,000 cells")
    ratio = d["tput"] / p["tput"]
    print(
        f"  {args.lines} printed lines (median of {args.repeat}): direct {d['tput']:.3f} s, proxied {p['tput']:.3f} s"
    )
    print(f"  proxied throughput = {ratio * 100:.1f} % of direct (target >= 95 %)")
    print(f"  proxy RSS {p['rss'] / 2**20:.1f} MiB (target <= 30)")
    print(f"  proxy idle CPU {p['idle_cpu'] * 100:.4f} % of a core over {args.idle:.0f} s (target < 0.1 %)")
    on, off = b["proxied"], b["proxied, energy off"]
    print(f"B. proxied, energy on vs off, {args.cells} empty cells each")
    print(f"  energy on   {ms(on['lat'])}   proxy CPU {on['cpu_per_1000_cells']:.3f} s per 1,000 cells")
    print(f"  energy off  {ms(off['lat'])}   proxy CPU {off['cpu_per_1000_cells']:.3f} s per 1,000 cells")
    if floods:
        (dt, dgot), (pt, pgot) = floods["direct"], floods["proxied"]
        print(f"C. flood: {args.flood} outputs of {FLOOD_LINE // 1000} kB, one subscriber never reading (RCVHWM 10)")
        print(f"  direct   {dt:.2f} s, the reading client got {dgot} of {args.flood}")
        print(f"  proxied  {pt:.2f} s, the reading client got {pgot} of {args.flood}")
        print(f"  proxied time = {pt / dt:.2f}x direct (target <= 2x)")
        print(f"  lost through the proxy: {args.flood - pgot} (target 0)")


if __name__ == "__main__":
    main()
