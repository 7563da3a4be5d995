#!/usr/bin/env bash
# The MLflow export benchmark (not part of the tests):
#   bash bench/run_mlflow.sh [--cells 10000] [--python-events 300]
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"
ensure_venv
build_agent
"$PY" "$REPO/bench/mlflow_bench.py" "$@"
