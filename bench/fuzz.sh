#!/usr/bin/env bash
# Bounded fuzzing of everything that reads untrusted files (not part of the
# tests; the crashes it finds are):
#   bash bench/fuzz.sh [SECONDS_PER_TARGET]      (default 60)
#
# Targets: policy (agent/policy/fuzz: the YAML/JSON policy loader), csv,
# parquet, ipc (agent/engine/fuzz: the data readers, opened and evaluated as
# `enforce` does; these build polars with coverage, a long first build),
# wire and zmtp (agent/kernel/fuzz: Jupyter frames, and the proxy's
# transport, ZMTP and CurveZMQ, seeded from real libzmq sessions in
# tests/fixtures/zmtp/; scripts/test.sh runs these two for a bounded time).
# cargo-fuzz needs nightly's -Z flags; RUSTC_BOOTSTRAP=1 lets the stable
# toolchain take them. Corpora and the build are cached under VL_CACHE. A
# crash is copied to tests/fixtures/malformed/<target>/, where the CLI tests
# replay it through `venturalitica enforce` (exit 2 or an error result, never
# a panic).
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"
SECONDS_PER_TARGET=${1:-60}   # VL_FUZZ_TARGETS="policy csv" picks targets
FUZZ_CACHE=$VL_CACHE/fuzz
export CARGO_TARGET_DIR=$FUZZ_CACHE/target
export RUSTC_BOOTSTRAP=1
export PATH=$FUZZ_CACHE/bin:$PATH

if ! command -v cargo-fuzz >/dev/null; then
  step "cargo-fuzz (into $FUZZ_CACHE/bin)"
  cargo install --quiet --locked --root "$FUZZ_CACHE" cargo-fuzz
fi

MALFORMED=$REPO/tests/fixtures/malformed
TARGETS=${VL_FUZZ_TARGETS:-policy csv parquet ipc wire zmtp}
failed=
for target in $TARGETS; do
  corpus=$FUZZ_CACHE/corpus/$target
  mkdir -p "$corpus"
  # Seeds: the project's own policies and data, and every kept crash.
  case $target in
    policy) seeds=("$REPO"/tests/fixtures/policies/*.yaml "$REPO"/notebooks/*.yaml "$MALFORMED"/policy/*) ;;
    zmtp) seeds=("$REPO"/tests/fixtures/zmtp/* "$MALFORMED"/zmtp/*) ;;
    *) seeds=("$MALFORMED"/"$target"/*) ;;
  esac
  for s in "${seeds[@]}"; do [[ -f $s ]] && cp "$s" "$corpus/" ; done
  step "fuzz $target for ${SECONDS_PER_TARGET}s"
  artifacts=$FUZZ_CACHE/artifacts/$target
  mkdir -p "$artifacts"
  log=$FUZZ_CACHE/$target.log
  case $target in
    policy) crate=policy ;;
    wire | zmtp) crate=kernel ;;
    *) crate=engine ;;
  esac
  rm -f "$artifacts"/crash-*
  status=0
  (cd "$REPO/agent/$crate" && cargo fuzz run --sanitizer none "$target" "$corpus" -- \
    -max_total_time="$SECONDS_PER_TARGET" -artifact_prefix="$artifacts/" -print_final_stats=1 \
    -close_fd_mask=3) >"$log" 2>&1 || status=$?
  [[ $status == 0 ]] || failed="$failed $target"
  grep -E "stat::number_of_executed_units|stat::average_exec_per_sec|SUMMARY|panicked at" "$log" || tail -5 "$log"
  for crash in "$artifacts"/crash-*; do
    [[ -f $crash ]] || continue
    found=1
    mkdir -p "$MALFORMED/$target"
    ext=$target
    case $target in policy) ext=yaml ;; wire | zmtp) ext=bin ;; esac
    cp "$crash" "$MALFORMED/$target/$(basename "$crash").$ext"
    echo "kept $MALFORMED/$target/$(basename "$crash").$ext"
  done
done
# A crash, or a target that did not build, fails the run where asked
# (scripts/test.sh sets VL_FUZZ_STRICT=1).
if [[ -n ${failed:-} && ${VL_FUZZ_STRICT:-0} == 1 ]]; then
  echo "fuzzing failed for:$failed (logs in $FUZZ_CACHE, crashes kept in $MALFORMED)" >&2
  exit 1
fi
