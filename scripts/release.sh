#!/usr/bin/env bash
# Builds and checks the release artefacts the way a maintainer publishes them:
#
#   dist/venturalitica-<v>-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
#   dist/venturalitica-<v>.tar.gz   (the sdist, with the Lab extension prebuilt)
#
# 1. the Lab extension (npm ci, tsc, jupyter-builder) into kernel-ext/;
# 2. the wheel: `maturin build --release --zig --compatibility manylinux2014`
#    (zig links against glibc 2.17, so no manylinux container is needed);
# 3. the sdist: `maturin sdist`;
# 4. the artefacts checked: auditwheel's tag is manylinux 2.17 with no
#    unvendored library, one agent binary (`vl` is the small exec alias), the
#    wheel within 30 MB, the sdist carries the prebuilt extension, and the
#    version is the workspace's;
# 5. the fresh-venv check (scripts/release_check.py) in a new venv with only
#    jupyterlab, ipykernel and pandas from PyPI plus the wheel, and again
#    with the sdist installed by pip (a release build with cargo, no Node.js).
#
# With VL_RELEASE_CROSS=1 it also cross-builds, with `maturin --zig`, the
# Windows (win_amd64) wheel and, where SDKROOT names a macOS SDK, the macOS
# (arm64, x86_64) ones, and checks each holds its platform's two executables
# (scripts/check_artifacts.py --cross); they cannot be installed or run here
# (docs/platforms.md). The agent links Apple frameworks (Security and
# CoreFoundation come through polars' object_store, reqwest and
# rustls-native-certs; IOKit too), whose stubs only the SDK has: without one
# the macOS wheels are left to the release workflow's macOS runners, and
# this says so. Each
# is a release build of polars for another target: about 15 minutes cold.
#
# VL_RELEASE_SDIST_CHECK=0 skips installing the sdist (a second release build).
# Uses VL_CACHE like the other scripts: the cargo target, the toolchain venv
# and pip's cache live there, outside the clone.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DIST=${VL_DIST:-$REPO/dist}
export PIP_CACHE_DIR=$VL_CACHE/pip
# The wheel may be at most this large, compressed (issue 30's target).
MAX_WHEEL_BYTES=$((30 * 1024 * 1024))
VERSION=$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["workspace"]["package"]["version"])' "$REPO/Cargo.toml")

elapsed() { echo "($((SECONDS - $1)) s)"; }

ensure_release_tools

build_labextension "$TOOLS"

rm -rf "$DIST"
mkdir -p "$DIST"
step "Wheel: maturin build --release --zig --compatibility manylinux2014"
start=$SECONDS
(cd "$REPO/kernel-ext" && PATH="$TOOLS/bin:$PATH" maturin build --release --locked --zig \
  --compatibility manylinux2014 --out "$DIST")
echo "wheel built $(elapsed $start)"

step "sdist: maturin sdist"
(cd "$REPO/kernel-ext" && PATH="$TOOLS/bin:$PATH" maturin sdist --out "$DIST")

step "Checking the artefacts"
shopt -s nullglob
wheels=("$DIST"/venturalitica-"$VERSION"-*.whl)
sdists=("$DIST"/venturalitica-"$VERSION".tar.gz)
[[ ${#wheels[@]} == 1 && ${#sdists[@]} == 1 ]] || {
  echo "expected one wheel and one sdist of version $VERSION in $DIST, found: $(ls "$DIST")" >&2
  exit 1
}
WHEEL=${wheels[0]} SDIST=${sdists[0]}
show=$("$TOOLS/bin/auditwheel" show "$WHEEL" 2>&1)
echo "$show"
"$TOOLS/bin/python" "$REPO/scripts/check_artifacts.py" "$WHEEL" "$SDIST" "$MAX_WHEEL_BYTES" <<<"$show"

fresh_venv_check() {
  local what=$1 artefact=$2 dir
  dir=$(mktemp -d "${TMPDIR:-/tmp}/vl-release-XXXXXX")
  step "Fresh-venv check: jupyterlab, ipykernel, pandas from PyPI and the $what"
  start=$SECONDS
  python3 -m venv "$dir/venv"
  "$dir/venv/bin/pip" install --quiet --upgrade pip
  "$dir/venv/bin/pip" install --quiet jupyterlab ipykernel pandas
  # Without pip's cache: it would reuse a wheel built from an earlier sdist
  # of the same version. The sdist builds with cargo in pip's isolated
  # environment; the shared target dir keeps the dependencies built before.
  "$dir/venv/bin/pip" install --quiet --no-cache-dir "$artefact"
  echo "installed $(elapsed $start)"
  "$dir/venv/bin/python" "$REPO/scripts/release_check.py" "$dir/work"
  rm -rf "$dir"
}

fresh_venv_check wheel "$WHEEL"
if [[ ${VL_RELEASE_SDIST_CHECK:-1} != 0 ]]; then
  # Every file of a maturin sdist carries the same fixed 2006 mtime, so cargo
  # would take the workspace crates built from an earlier sdist as fresh and
  # install a stale agent: clean them first (the dependencies stay built).
  packages=$(cd "$REPO" && cargo metadata --no-deps --format-version 1 |
    python3 -c 'import json, sys; print(" ".join("-p " + p["name"] for p in json.load(sys.stdin)["packages"]))')
  # shellcheck disable=SC2086 # one word per -p flag and package
  (cd "$REPO" && cargo clean --release --quiet $packages)
  fresh_venv_check sdist "$SDIST"
else
  echo "skipped: the sdist install check (VL_RELEASE_SDIST_CHECK=0)"
fi

if [[ ${VL_RELEASE_CROSS:-0} == 1 ]]; then
  bash "$REPO/scripts/cross.sh" targets
  targets=(x86_64-pc-windows-gnu)
  if [[ -d ${SDKROOT:-} ]]; then
    targets+=(aarch64-apple-darwin x86_64-apple-darwin)
  else
    echo "skipped: the macOS wheels (the agent links Apple frameworks: set SDKROOT to a MacOSX.sdk)"
  fi
  for target in "${targets[@]}"; do
    step "Wheel for $target: maturin build --release --zig --target $target"
    start=$SECONDS
    build=(maturin build --release --locked --zig --target "$target" --out "$DIST")
    if [[ $target == *-apple-darwin ]]; then
      (cd "$REPO/kernel-ext" && PATH="$TOOLS/bin:$PATH" with_darwin_cc "$target" "${build[@]}")
    else
      (cd "$REPO/kernel-ext" && PATH="$TOOLS/bin:$PATH" "${build[@]}")
    fi
    echo "built $(elapsed $start)"
  done
  step "Checking the cross-built wheels"
  shopt -s nullglob
  for wheel in "$DIST"/venturalitica-"$VERSION"-*-{macosx_*,win_amd64}.whl; do
    "$TOOLS/bin/python" "$REPO/scripts/check_artifacts.py" --cross "$wheel" "$MAX_WHEEL_BYTES"
  done
fi

# scripts/test.sh runs this script only once the release build is warm.
touch "$VL_CACHE/release-warm"
step "Release artefacts in $DIST"
ls -l "$DIST"
