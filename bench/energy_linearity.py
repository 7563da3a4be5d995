"""Per-cell energy of short cells: do the parts add up to the whole?

Through the proxied kernel, in one run: 60 cells that call ``burn(0)`` (the
kernel's own per-cell work), 60 cells that burn 8 ms of CPU, and one cell
that burns 480 ms; beside each request, the kernel's threads' run time read
independently from /proc/<pid>/task/*/schedstat. Prints the sums, how many
distinct values the 60 short cells took, and the parts-minus-overhead
against the whole. Energy sources are pinned to the TDP model (no RAPL, no
GPU) so the joules are TDP × CPU seconds / CPUs on any machine.

Usage: python bench/energy_linearity.py [--cells 60] [--ms 8]
(bench/run_energy.sh builds the agent and runs this in the test venv).
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from kernel_env import KernelEnv, run_cell  # noqa: E402

BURN = """
import time
def burn(cpu_seconds):
    t0 = time.process_time()
    while time.process_time() - t0 < cpu_seconds:
        pass
"""


def threads_cpu_s(pid: int) -> float:
    return sum(int(Path(p).read_text().split()[0]) for p in glob.glob(f"/proc/{pid}/task/*/schedstat")) / 1e9


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=60)
    ap.add_argument("--ms", type=float, default=8.0)
    args = ap.parse_args()
    os.environ["VENTURALITICA_GPU"] = "off"
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["VENTURALITICA_POWERCAP_ROOT"] = tmp
        env = KernelEnv(Path(tmp), Path(os.environ["VL_BIN"])).setup()
        env.install()
        with env.kernel() as (km, kc):
            proxy = km.provisioner.process.pid
            kernel = int(" ".join(Path(p).read_text() for p in glob.glob(f"/proc/{proxy}/task/*/children")).split()[0])
            run_cell(kc, BURN)

            def measure(code: str) -> tuple[dict, float]:
                before = threads_cpu_s(kernel)
                reply, _ = run_cell(kc, code)
                return reply["metadata"]["venturalitica"]["energy"], threads_cpu_s(kernel) - before

            base = [measure("burn(0)") for _ in range(args.cells)]
            parts = [measure(f"burn({args.ms / 1000})") for _ in range(args.cells)]
            whole, whole_oracle = measure(f"burn({args.cells * args.ms / 1000})")

    def total(rows, key):
        return sum(r[0][key] for r in rows) if key != "cpu_j" else sum(r[0]["cpu"]["joules"] for r in rows)

    overhead = total(base, "cpu_s") / args.cells
    j_per_s = whole["cpu"]["joules"] / whole["cpu_s"]
    print(f"{args.cells} cells × burn({args.ms:g} ms) vs one cell × burn({args.cells * args.ms:g} ms), TDP model")
    print(f"  burn(0) cells: {overhead * 1e3:.2f} ms CPU each (ipykernel's per-cell work)")
    print(
        f"  short cells:   {total(parts, 'cpu_s'):.4f} CPU-s, {total(parts, 'cpu_j'):.2f} J in sum; "
        f"{len({round(r[0]['cpu_s'], 6) for r in parts})} distinct values; "
        f"min {min(r[0]['cpu_s'] for r in parts) * 1e3:.2f} ms"
    )
    print(f"  whole cell:    {whole['cpu_s']:.4f} CPU-s, {whole['cpu']['joules']:.2f} J")
    parts_work = total(parts, "cpu_s") - args.cells * overhead
    whole_work = whole["cpu_s"] - overhead
    print(
        f"  work above the per-cell overhead: parts {parts_work:.4f} CPU-s ({parts_work * j_per_s:.2f} J), "
        f"whole {whole_work:.4f} CPU-s ({whole_work * j_per_s:.2f} J), ratio {parts_work / whole_work:.3f}"
    )
    oracle = sum(o for _, o in parts)
    print(
        f"  schedstat around each short request: {oracle:.4f} CPU-s; ours {total(parts, 'cpu_s'):.4f} "
        f"({total(parts, 'cpu_s') / oracle * 100:.1f} %: our window is inside the request's); "
        f"whole {whole_oracle:.4f} vs ours {whole['cpu_s']:.4f}"
    )
    band = (sum(r[0]["total_low_j"] for r in parts), sum(r[0]["total_high_j"] for r in parts))
    print(f"  band of the short cells' total (added linearly): {band[0]:.2f}–{band[1]:.2f} J")


if __name__ == "__main__":
    main()
