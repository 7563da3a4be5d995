#!/usr/bin/env bash
# One command for the engine benchmark (not part of the tests):
#   bash bench/run.sh [--rows 1000000,10000000] [--groups 2,8]
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"
ensure_venv
build_agent
(cd "$REPO" && cargo build --locked -p venturalitica-engine --example bench_engine)
export VL_BENCH_ENGINE=$CARGO_TARGET_DIR/debug/examples/bench_engine
"$PY" "$REPO/bench/bench.py" "$@"
