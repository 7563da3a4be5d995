#!/usr/bin/env bash
# The kernel-proxy benchmark (not part of the tests):
#   bash bench/run_proxy.sh [--cells 1000] [--lines 100000]
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"
ensure_venv
build_agent
"$PY" "$REPO/bench/proxy_bench.py" "$@"
