"""Executes a notebook with nbclient on a named kernel and prints, per cell,
what the kernel proxy recorded (`metadata.venturalitica` of its reply).

Usage: python scripts/run_notebook.py NOTEBOOK KERNEL_NAME WORKDIR

The executed notebook is written back to NOTEBOOK, each cell's record in
its metadata as the JupyterLab extension keeps it, so the badges show when
the notebook is opened in JupyterLab.
"""

from __future__ import annotations

import sys

import nbformat
from nbclient import NotebookClient


def main() -> None:
    path, kernel, workdir = sys.argv[1:4]
    nb = nbformat.read(path, as_version=4)
    rows = []

    def on_cell_executed(cell, cell_index, execute_reply):
        meta = execute_reply["metadata"].get("venturalitica")
        if meta is None:
            raise SystemExit(f"cell {cell_index}: the reply carries no metadata.venturalitica (not proxied?)")
        cell.metadata["venturalitica"] = meta
        energy = meta.get("energy") or {}
        rows.append((cell_index, meta["status"], meta["duration_s"], energy.get("total_j"), energy.get("co2e_g")))

    NotebookClient(
        nb, kernel_name=kernel, resources={"metadata": {"path": workdir}}, on_cell_executed=on_cell_executed
    ).execute()
    nbformat.write(nb, path)
    print(f"{'cell':>4}  {'status':6}  {'seconds':>8}  {'joules':>8}  {'gCO2e':>9}")
    for index, status, seconds, joules, co2 in rows:
        print(f"{index:>4}  {status:6}  {seconds:8.3f}  {joules or 0:8.3f}  {co2 or 0:9.6f}")


if __name__ == "__main__":
    main()
