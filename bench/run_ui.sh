#!/usr/bin/env bash
# The dashboard benchmark (not part of the tests): page render times on a
# generated store, and the cost of growth.
#   bash bench/run_ui.sh [--events 100000] [--bin-before OLD_BINARY]
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"
ensure_venv
build_agent
"$PY" "$REPO/bench/ui_bench.py" --bin "$VL_BIN" "$@"
