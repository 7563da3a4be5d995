#!/usr/bin/env bash
# Spark and DuckDB: the count path against collecting the rows (not part of the tests):
#   bash bench/run_engines.sh [--rows 10000000]
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"
ensure_venv
build_agent
install_package
"$PY" "$REPO/bench/engines_bench.py" "$@"
