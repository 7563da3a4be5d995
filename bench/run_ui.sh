#!/usr/bin/env bash
# The dashboard benchmark (not part of the tests): page render times on a
# generated 100,000-event store.   bash bench/run_ui.sh [--events 100000]
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"
ensure_venv
build_agent
"$PY" "$REPO/bench/ui_bench.py" --bin "$VL_BIN" "$@"
