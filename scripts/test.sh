#!/usr/bin/env bash
# Runs every check and test: formatting, lints, Rust tests, the Lab
# extension's unit tests, Python cross-checks against fairlearn/scikit-learn,
# CLI, evidence, kernel and browser tests (JupyterLab in Chromium via Galata),
# then the release artefacts (scripts/release.sh) where their build is warm.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ensure_venv
ensure_credit_data
ensure_chromium
ensure_openssh

step "cargo fmt --check"
(cd "$REPO" && cargo fmt --all -- --check)

step "cargo clippy -D warnings"
(cd "$REPO" && cargo clippy --locked --workspace --all-targets -- -D warnings)

step "ruff"
PY_SOURCES=("$REPO/tests" "$REPO/bench" "$REPO/examples" "$REPO/scripts" "$REPO/kernel-ext/python" "$REPO/labextension/ui-tests")
"$VENV/bin/ruff" check "${PY_SOURCES[@]}"
"$VENV/bin/ruff" format --check "${PY_SOURCES[@]}"

step "Rust tests"
(cd "$REPO" && cargo test --locked --workspace)

# The macOS and Windows builds (scripts/cross.sh): clippy for three more
# targets and the Windows build's tests under wine. Cold, that is three more
# builds of polars (~35 minutes on 2 cores), which CI's budget cannot add to
# a cold run: it runs once it has succeeded on this machine (the targets are
# then warm), or when VL_CROSS=1; VL_CROSS=0 skips it.
step "macOS and Windows builds (scripts/cross.sh)"
if [[ ${VL_CROSS:-} == 1 || (${VL_CROSS:-} != 0 && -f $VL_CACHE/cross-warm) ]]; then
  bash "$REPO/scripts/cross.sh"
else
  echo "skipped: no warm cross build in $VL_CACHE (the first takes ~35 min); run bash scripts/cross.sh, or VL_CROSS=1"
fi

# The proxy's transport and frame parser against arbitrary bytes (cargo-fuzz,
# bounded: ~6 minutes cold for cargo-fuzz and the instrumented build, then
# 20 s a target). A crash fails the run and is kept under
# tests/fixtures/malformed/. VL_FUZZ=0 skips it.
step "Fuzzing the proxy's transport (bench/fuzz.sh: wire, zmtp)"
if [[ ${VL_FUZZ:-} != 0 ]]; then
  VL_FUZZ_TARGETS="wire zmtp" VL_FUZZ_STRICT=1 bash "$REPO/bench/fuzz.sh" "${VL_FUZZ_SECONDS:-20}"
else
  echo "skipped: VL_FUZZ=0"
fi

step "JupyterLab extension: eslint, prettier, unit tests (vitest)"
build_labextension
(cd "$REPO/labextension" && npm run --silent lint && npm test --silent)

build_agent
install_package

step "Python tests (real agent binary, fairlearn and scikit-learn as oracles)"
# An assert failing in a thread is an error, not a warning beside a pass.
(cd "$REPO" && "$PY" -m pytest -q -W error::pytest.PytestUnhandledThreadExceptionWarning tests)

# The package's Python code on the oldest Python it declares, against the
# same agent: the Python API, the SDK's surface and wrap, the metric
# cross-checks, DuckDB relations, and an ipykernel of that Python through the
# proxy, started by the launcher (`python -m venturalitica.kernel`, VS Code's
# shape) with the magics in a notebook. Spark stays on the main run.
step "Python tests on Python $FLOOR_VERSION (the oldest the package declares)"
FLOOR_PY=$(floor_python || true)
if [[ -n $FLOOR_PY ]]; then
  FLOOR_VENV=$VL_CACHE/venv-py$FLOOR_VERSION-$(sha256sum <"$REPO/tests/requirements-floor.txt" | cut -c1-12)
  ensure_venv_at "$FLOOR_VENV" "$REPO/tests/requirements-floor.txt" "$FLOOR_PY"
  (cd "$REPO" && PYTHONPATH="$REPO/kernel-ext/python" VENTURALITICA_BIN="$VL_BIN" \
    "$FLOOR_VENV/bin/python" -m pytest -q -p no:cacheprovider -m "not spark" \
    -W error::pytest.PytestUnhandledThreadExceptionWarning tests/test_python_api.py \
    tests/test_sdk_surface.py tests/test_crosscheck.py tests/test_never_pass_silently.py \
    tests/test_engines.py tests/test_python_notebook.py tests/test_drift.py \
    tests/test_kernel_proxy.py::test_install_writes_a_spec_around_python3 \
    tests/test_kernel_proxy.py::test_install_finds_the_python_beside_the_agent_and_says_when_it_falls_back \
    tests/test_kernel_proxy.py::test_execute_annotates_replies_and_records_cells)
else
  echo "skipped: no python$FLOOR_VERSION on PATH or in pyenv on this machine"
fi

# The release build (polars with LTO for glibc 2.17, twice: the zig wheel and
# the sdist) takes about 40 minutes cold on 2 cores, which CI's budget cannot
# add to a cold test run. It runs once a release build has succeeded on this
# machine (the cargo target is then warm), or when VL_RELEASE=1; VL_RELEASE=0
# skips it.
step "Release artefacts (scripts/release.sh)"
if [[ ${VL_RELEASE:-} == 1 || (${VL_RELEASE:-} != 0 && -f $VL_CACHE/release-warm) ]]; then
  bash "$REPO/scripts/release.sh"
else
  echo "skipped: no warm release build in $VL_CACHE (the first one takes ~40 min); run bash scripts/release.sh, or VL_RELEASE=1"
fi
