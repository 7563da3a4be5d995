#!/usr/bin/env bash
# Every command on a year's evidence (not part of the tests): grows a store to
# 1,000,000 signed events from the tutorial's real cells and evaluations, then
# times enforce, verify, verify --full, scan, report annex-iv and the dashboard
# with checkpoints, beside the same commands with checkpoints off:
#   bash bench/run_evidence_scale.sh [--events N] [--no-baseline]
# The grown store is kept in $VL_SCALE_DIR (default ~/.cache/venturalitica/scale,
# 2.3 GB at 1M events) and reused; the template project is the main job's
# output (scripts/demo.sh), made once.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"
ensure_venv
TEMPLATE=${VL_SCALE_TEMPLATE:-$HOME/.cache/venturalitica/scale-template}
WORK=${VL_SCALE_DIR:-$HOME/.cache/venturalitica/scale}
if [[ ! -f $TEMPLATE/.venturalitica/trace.jsonl ]]; then
  VL_DEMO_UI=0 VL_DEMO_DIR=$TEMPLATE bash "$REPO/scripts/demo.sh"
fi
(cd "$REPO" && cargo build --locked --release -p venturalitica --bin venturalitica \
   && cargo build --locked --release -p venturalitica-evidence --example grow_trail)
BASELINE=--baseline
ARGS=()
for a in "$@"; do [[ $a == --no-baseline ]] && BASELINE= || ARGS+=("$a"); done
"$PY" "$REPO/bench/evidence_scale.py" --bin "$CARGO_TARGET_DIR/release/venturalitica" \
  --grower "$CARGO_TARGET_DIR/release/examples/grow_trail" --template "$TEMPLATE" --work "$WORK" \
  $BASELINE "${ARGS[@]}"
