#!/usr/bin/env bash
# The Python API benchmark (not part of the tests): vl.enforce on a 1M-row
# pandas frame end to end, against the engine alone (the CLI on the same
# data as an Arrow file) and against the Venturalitica SDK's own enforce
# (PyPI venturalitica 0.8.x, in a separate venv used for this only).
#   bash bench/run_python.sh [--rows 1000000] [--repeat 5]
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"
ensure_venv
build_agent
install_package
SDK_VENV=$VL_CACHE/sdk-venv-0.8
if [[ ! -f $SDK_VENV/.complete ]]; then
  step "The Venturalitica SDK 0.8.x for comparison ($SDK_VENV)"
  rm -rf "$SDK_VENV"
  python3 -m venv "$SDK_VENV"
  "$SDK_VENV/bin/pip" install --quiet 'venturalitica==0.8.*' pyarrow
  touch "$SDK_VENV/.complete"
fi
"$PY" "$REPO/bench/python_bench.py" --sdk-python "$SDK_VENV/bin/python" "$@"
