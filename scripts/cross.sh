#!/usr/bin/env bash
# The macOS and Windows builds, checked from this Linux machine:
#
#   lint   cargo clippy -D warnings, whole workspace and all targets, for
#          x86_64-pc-windows-gnu, aarch64-apple-darwin and x86_64-apple-darwin
#          (C dependencies of the darwin builds compiled by zig's clang:
#          scripts/cross/zig-cc);
#   test   cargo test for x86_64-pc-windows-gnu, run under wine (Debian's
#          wine64 8.0, with the bcryptprimitives.dll shim in scripts/wine/):
#          the platform services (venturalitica-os), the energy readers, the
#          policy, metrics, engine, evidence and scan crates, and the CLI's
#          tests (enforce, verify, scan, monitor, ui, concurrent writers);
#          then `enforce` on German Credit by both builds, compared control
#          by control, and each build's trail verified by the other.
#
#   bash scripts/cross.sh [lint|test|all|targets]     (default: all;
#   `targets` only installs the rustup targets and wine)
#
# Installs what it needs where it can (rustup targets; as root, Debian's
# wine64 and mingw-w64; ziglang in the release tools' venv). Uses VL_CACHE's
# cargo target dir like the other scripts. A macOS build cannot be linked or
# run here: docs/platforms.md says what only the release workflow's runners
# check.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

WHAT=${1:-all}
WINDOWS=x86_64-pc-windows-gnu
DARWIN=(aarch64-apple-darwin x86_64-apple-darwin)
# The crates whose tests run under wine: all but the kernel proxy (its tests
# start ipykernel, and no Windows CPython can be had here), the exporter and
# the dashboard crates (their servers' own tests need Python tools too).
WINE_CRATES=(venturalitica-os venturalitica-energy venturalitica-policy venturalitica-metrics
  venturalitica-vocab venturalitica-engine venturalitica-evidence venturalitica-scan
  venturalitica-chart venturalitica)

ensure_targets() {
  local installed missing=()
  installed=$(rustup target list --installed)
  for t in "$WINDOWS" "${DARWIN[@]}"; do
    grep -qx "$t" <<<"$installed" || missing+=("$t")
  done
  if ((${#missing[@]})); then
    step "rustup target add ${missing[*]}"
    rustup target add "${missing[@]}"
  fi
}

ensure_wine() {
  if ! command -v wine >/dev/null || ! command -v x86_64-w64-mingw32-gcc >/dev/null; then
    step "Debian wine64 and mingw-w64 (Windows builds and their tests)"
    [[ $(id -u) == 0 ]] || {
      echo "wine64 and gcc-mingw-w64-x86-64 are needed, and this is not root: install them" >&2
      exit 1
    }
    apt-get update -q >/dev/null && apt-get install -y -q wine64 gcc-mingw-w64-x86-64 >/dev/null
  fi
}

lint() {
  step "cargo clippy -D warnings --target $WINDOWS"
  (cd "$REPO" && cargo clippy --locked --workspace --all-targets --target "$WINDOWS" -- -D warnings)
  ensure_release_tools
  for target in "${DARWIN[@]}"; do
    step "cargo clippy -D warnings --target $target (C by zig cc)"
    (cd "$REPO" && with_darwin_cc "$target" \
      cargo clippy --locked --workspace --all-targets --target "$target" -- -D warnings)
  done
}

windows_tests() {
  ensure_venv
  ensure_credit_data # the CLI's German Credit test
  step "cargo test --target $WINDOWS under wine (${#WINE_CRATES[@]} crates)"
  local packages=()
  for c in "${WINE_CRATES[@]}"; do packages+=(-p "$c"); done
  # One wineserver for every test binary: without it each binary starts
  # its own as the last one's shuts down, and one binary once exited 1
  # without running (no output at all); it is stopped however this ends.
  local prefix=${WINEPREFIX:-$VL_CACHE/wine} server
  server=$(command -v wineserver || echo /usr/lib/wine/wineserver)
  mkdir -p "$prefix"
  WINEPREFIX=$prefix "$server" -p
  trap 'WINEPREFIX="'"$prefix"'" "'"$server"'" -k 2>/dev/null || true' RETURN
  # insta asks cargo for the workspace root, which a Windows process under
  # wine cannot run: it is given.
  (cd "$REPO" && CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER="$REPO/scripts/wine/runner.sh" \
    INSTA_WORKSPACE_ROOT="$REPO" cargo test --locked --no-fail-fast --target "$WINDOWS" "${packages[@]}")
}

# The loan tutorial's policy on German Credit, by the Linux build and by the
# Windows build under wine: every control's result must be the same.
compare_enforce() {
  step "enforce on German Credit: the Linux and Windows builds agree"
  (cd "$REPO" && cargo build --locked -q -p venturalitica --bin venturalitica)
  local work args
  work=$(mktemp -d "${TMPDIR:-/tmp}/vl-cross-XXXXXX")
  args=(enforce --format json --no-record --target class --data "$VL_CREDIT_CSV"
    --policy "$REPO/notebooks/data_policy.yaml")
  # Exit 1: the age control fails, as the tutorial says.
  (cd "$work" && "$CARGO_TARGET_DIR/debug/venturalitica" "${args[@]}" >linux.json) || true
  (cd "$work" && "$REPO/scripts/wine/runner.sh" \
    "$CARGO_TARGET_DIR/$WINDOWS/debug/venturalitica.exe" "${args[@]}" >windows.json) || true
  python3 - "$work/linux.json" "$work/windows.json" <<'PY'
import json, sys
linux, windows = (json.load(open(p))["controls"] for p in sys.argv[1:3])
if not linux or linux != windows:
    sys.exit(f"the Windows build's controls differ from Linux's:\n{linux}\n{windows}")
print(f"ok: {len(linux)} controls, identical (values, intervals, groups, statuses)")
PY
  rm -rf "$work"
}

# A trail written by the Windows build verifies with the Linux build, and the
# other way round (line endings, paths, policy copies, signatures).
cross_verify() {
  step "A trail written on Windows verifies on Linux, and the other way round"
  local work linux windows
  work=$(mktemp -d "${TMPDIR:-/tmp}/vl-trail-XXXXXX")
  linux=$CARGO_TARGET_DIR/debug/venturalitica
  windows=$CARGO_TARGET_DIR/$WINDOWS/debug/venturalitica.exe
  mkdir -p "$work/by-linux" "$work/by-windows"
  for dir in by-linux by-windows; do
    touch "$work/$dir/pyproject.toml"
    cp "$REPO/notebooks/data_policy.yaml" "$work/$dir/"
  done
  local args=(enforce --target class --data "$VL_CREDIT_CSV" --policy data_policy.yaml)
  (cd "$work/by-linux" && VENTURALITICA_CONFIG_DIR=$work/key-linux "$linux" "${args[@]}" >/dev/null) || true
  (cd "$work/by-windows" && VENTURALITICA_CONFIG_DIR=$work/key-windows \
    "$REPO/scripts/wine/runner.sh" "$windows" "${args[@]}" >/dev/null) || true
  "$linux" verify --root "$work/by-windows"
  "$REPO/scripts/wine/runner.sh" "$windows" verify --root "$work/by-linux"
  rm -rf "$work"
}

ensure_targets
ensure_wine
case $WHAT in
  lint) lint ;;
  test)
    windows_tests
    compare_enforce
    cross_verify
    ;;
  all)
    lint
    windows_tests
    compare_enforce
    cross_verify
    # scripts/test.sh runs this script only once it has passed here.
    touch "$VL_CACHE/cross-warm"
    ;;
  targets) ;;
  *)
    echo "usage: $0 [lint|test|all|targets]" >&2
    exit 2
    ;;
esac
