#!/usr/bin/env bash
# Short-cell energy benchmark (not part of the tests): do sixty 8 ms cells
# add up to one 480 ms cell?   bash bench/run_energy.sh [--cells 60] [--ms 8]
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"
ensure_venv
build_agent
"$PY" "$REPO/bench/energy_linearity.py" "$@"
