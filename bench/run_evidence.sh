#!/usr/bin/env bash
# Evidence benchmark (not part of the tests): signing cost per cell event and
# `verify` time at 100,000 events, signed beside unsigned, in one run:
#   bash bench/run_evidence.sh [EVENTS]
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"
(cd "$REPO" && cargo run --locked --quiet -p venturalitica-evidence --example bench_evidence -- "$@")
