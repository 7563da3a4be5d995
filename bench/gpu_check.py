"""GPU energy check: our figures against the device's own energy counter.

Runs a fixed PyTorch workload (8192 × 8192 float32 matrix products)

1. under ``venturalitica monitor --json``, and
2. cell by cell through a proxied ipykernel (a long cell, a short one, a cell
   that only sleeps while holding GPU memory, and a cell that launches work
   without waiting for it, once with the opt-in idle wait and once without),

and reads NVML's total-energy counter directly (pynvml) around each run and
each request. Our window lies inside the direct one, so our device energy
should be a little below it; the JSON and the table give both and the
ratio. ``--cpu`` runs the same plumbing with numpy where there is no GPU
(nothing to compare): that is how it is checked on machines without one.

Usage: python bench/gpu_check.py --bin PATH [--seconds 10] [--out FILE] [--cpu]
(bench/gpu_check.sh prepares what it needs and runs it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GPU_SETUP = """
import time, torch
a = torch.randn(8192, 8192, device="cuda")
b = torch.randn(8192, 8192, device="cuda")
torch.cuda.synchronize()
def work(seconds):
    t0 = time.time()
    while time.time() - t0 < seconds:
        c = a @ b
        torch.cuda.synchronize()
def launch(n):
    for _ in range(n):
        c = a @ b
"""

CPU_SETUP = """
import time, numpy as np
a = np.random.rand(512, 512)
b = np.random.rand(512, 512)
def work(seconds):
    t0 = time.time()
    while time.time() - t0 < seconds:
        c = a @ b
def launch(n):
    for _ in range(n):
        c = a @ b
"""

CELLS = [
    ("long (synchronised)", "work({seconds})"),
    ("short (~0.1 s)", "work(0.1)"),
    ("holds memory, sleeps 2 s", "time.sleep(2)"),
    ("launches 100 products, no wait", "launch(100)"),
    ("synchronize", "torch.cuda.synchronize()"),
]


class DeviceCounter:
    """NVML's total-energy counters, read directly: the reference."""

    def __init__(self, enabled: bool):
        self.handles = []
        if enabled:
            try:
                import pynvml

                pynvml.nvmlInit()
            except Exception as e:  # no nvidia-ml-py, no driver, no GPU
                raise SystemExit(f"no NVML here ({e}): run with --cpu to check the plumbing only") from e
            self.nvml = pynvml
            self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]

    def joules(self) -> float | None:
        if not self.handles:
            return None
        return sum(self.nvml.nvmlDeviceGetTotalEnergyConsumption(h) for h in self.handles) / 1000.0


def last_json(text: str) -> dict:
    """The pretty-printed report `monitor --json` writes last on stderr."""
    start = text.rfind("\n{\n")
    return json.loads(text[start + 1 :] if start >= 0 else text[text.index("{") :])


def ratio(ours: float | None, direct: float | None) -> float | None:
    return None if ours is None or not direct else ours / direct


def check_monitor(args, counter: DeviceCounter, setup: str) -> dict:
    script = Path(tempfile.mkdtemp()) / "workload.py"
    script.write_text(setup + f"\nwork({args.seconds})\n")
    before = counter.joules()
    run = subprocess.run(
        [args.bin, "monitor", "--json", "--no-record", "--", sys.executable, str(script)],
        capture_output=True,
        text=True,
        check=False,
    )
    after = counter.joules()
    if run.returncode != 0:
        raise SystemExit(f"monitor failed ({run.returncode}):\n{run.stderr}")
    report = last_json(run.stderr)
    devices = report.get("gpu_devices", [])
    ours = sum(d["device_joules"] for d in devices) if devices else None
    direct = None if before is None else after - before
    return {
        "what": "venturalitica monitor",
        "wall_s": report["wall_s"],
        "total_j": report["total_j"],
        "ours_device_j": ours,
        "ours_kernel_j": (report.get("gpu") or {}).get("joules"),
        "band_j": [(report.get("gpu") or {}).get("low_j"), (report.get("gpu") or {}).get("high_j")],
        "share_basis": [d["share_basis"] for d in devices],
        "activity": (report.get("gpu") or {}).get("activity"),
        "direct_device_j": direct,
        "ratio": ratio(ours, direct),
        "notes": report.get("notes", []),
    }


def kernelspec(root: Path, binary: str) -> None:
    spec = root / "kernels" / "vl-gpu-check"
    spec.mkdir(parents=True)
    argv = [binary, "kernel", "proxy", "-f", "{connection_file}", "--"]
    argv += [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "gpu check", "language": "python"}))


def check_kernel(args, counter: DeviceCounter, setup: str, wait_ms: int) -> list[dict]:
    from jupyter_client.manager import KernelManager

    root = Path(tempfile.mkdtemp())
    kernelspec(root, args.bin)
    os.environ["JUPYTER_PATH"] = str(root)
    env = {**os.environ, "VENTURALITICA_GPU_WAIT_MS": str(wait_ms)}
    km = KernelManager(kernel_name="vl-gpu-check")
    km.start_kernel(cwd=str(root), env=env)
    kc = km.client()
    kc.start_channels()
    rows = []
    try:
        kc.wait_for_ready(timeout=120)
        cells = [(name, code.format(seconds=args.seconds)) for name, code in CELLS]
        if args.cpu:
            cells = [(n, c) for n, c in cells if "torch" not in c]
        if wait_ms:  # the point of the second kernel: the asynchronous cell
            cells = [c for c in cells if c[0].startswith(("launches", "synchronize"))]
        kc.execute_interactive(setup, timeout=300)
        time.sleep(1)
        for name, code in cells:
            before = counter.joules()
            reply = kc.execute_interactive(code, timeout=300)
            after = counter.joules()
            energy = reply["metadata"].get("venturalitica", {}).get("energy", {})
            devices = energy.get("gpu_devices", [])
            ours = sum(d["device_joules"] for d in devices) if devices else None
            direct = None if before is None else after - before
            gpu = energy.get("gpu") or {}
            rows.append(
                {
                    "what": f"cell: {name}" + (f" (idle wait {wait_ms} ms)" if wait_ms else ""),
                    "wall_s": energy.get("wall_s"),
                    "total_j": energy.get("total_j"),
                    "ours_device_j": ours,
                    "ours_kernel_j": gpu.get("joules"),
                    "band_j": [gpu.get("low_j"), gpu.get("high_j")],
                    "share_basis": [d["share_basis"] for d in devices],
                    "activity": gpu.get("activity"),
                    "direct_device_j": direct,
                    "ratio": ratio(ours, direct),
                    "notes": energy.get("notes", []),
                    "error": energy.get("error"),
                }
            )
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return rows


def table(rows: list[dict]) -> str:
    def f(x):
        return "—" if x is None else f"{x:.3f}" if isinstance(x, float) else str(x)

    head = (
        f"{'run':48} {'wall s':>8} {'ours dev J':>11} {'direct J':>10} {'ratio':>6} {'kernel J':>9} "
        f"{'total J':>8}  share / activity"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['what'][:48]:48} {f(r['wall_s']):>8} {f(r['ours_device_j']):>11} {f(r['direct_device_j']):>10} "
            f"{f(r['ratio']):>6} {f(r['ours_kernel_j']):>9} {f(r['total_j']):>8}  "
            f"{','.join(r['share_basis'])} / {r['activity']}"
        )
        lines += [f"    note: {n}" for n in r.get("notes") or []]
        if r.get("error"):
            lines.append(f"    error: {r['error']}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", required=True, help="the venturalitica binary")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the long workload")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    parser.add_argument("--cpu", action="store_true", help="no GPU: check the plumbing with numpy")
    args = parser.parse_args()
    counter = DeviceCounter(enabled=not args.cpu)
    setup = CPU_SETUP if args.cpu else GPU_SETUP
    device = "cpu (numpy)" if args.cpu else counter.nvml.nvmlDeviceGetName(counter.handles[0])
    rows = [check_monitor(args, counter, setup)]
    rows += check_kernel(args, counter, setup, wait_ms=0)
    if not args.cpu:
        rows += check_kernel(args, counter, setup, wait_ms=3000)
    print(f"device: {device}\n{table(rows)}")
    if args.out:
        args.out.write_text(json.dumps({"device": str(device), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
