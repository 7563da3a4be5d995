#!/usr/bin/env bash
# Drift against Evidently's DataDriftPreset (not part of the tests):
#   bash bench/run_drift.sh [--rows 1000000 10000000]
# Evidently needs pandas < 3, so it gets a venv of its own in the cache.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"
ensure_venv
build_agent
install_package
EVIDENTLY_VENV="$VL_CACHE/bench-evidently"
if [[ ! -x $EVIDENTLY_VENV/bin/python ]] || ! "$EVIDENTLY_VENV/bin/python" -c "import evidently" 2>/dev/null; then
  step "Evidently in its own venv (bench only)"
  python3 -m venv "$EVIDENTLY_VENV"
  "$EVIDENTLY_VENV/bin/pip" install --quiet "evidently==0.7.*" "pandas<3" pyarrow
fi
"$PY" "$REPO/bench/drift_bench.py" --agent "$VENV/bin/venturalitica" --evidently-python "$EVIDENTLY_VENV/bin/python" "$@"
