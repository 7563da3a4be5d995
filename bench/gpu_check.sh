#!/usr/bin/env bash
# GPU energy check (docs/energy.md, "Checked on a GPU"): our figures against
# NVML's energy counter read directly, for `monitor` and for cells through a
# proxied kernel. The GPU machine reaches no package registry, so:
#
#   bash bench/gpu_check.sh prepare   # here: a stripped agent binary and the
#                                     # wheels a kernel needs, in bench/.gpu/
#   bash bench/gpu_check.sh run       # there (device tool, carry bench/.gpu):
#                                     # figures on stdout and in $OUT
#   bash bench/gpu_check.sh cpu       # here: the same plumbing, numpy, no GPU
#
# The machine has PyTorch and nvidia-ml-py; ipykernel and jupyter_client come
# from the wheels, installed into a venv that sees the system's packages.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GPU_DIR=$HERE/.gpu

prepare() {
  source "$HERE/../scripts/common.sh"
  build_agent
  mkdir -p "$GPU_DIR/wheels"
  # Stripped and xz-compressed, to fit what a device run may carry (64 MiB);
  # the GPU machine unpacks it with Python's lzma.
  strip --strip-all -o "$GPU_DIR/venturalitica" "$VL_BIN"
  xz -6 -T2 -f "$GPU_DIR/venturalitica"
  # Wheels for the Pythons a GPU image is likely to have.
  for version in 3.10 3.11 3.12; do
    python3 -m pip download --quiet --only-binary=:all: --platform manylinux2014_x86_64 \
      --platform manylinux_2_28_x86_64 --python-version "$version" \
      --dest "$GPU_DIR/wheels" ipykernel jupyter_client
  done
  du -sh "$GPU_DIR"
}

venv() {
  local venv=$1
  python3 -m venv --system-site-packages "$venv"
  "$venv/bin/pip" install --quiet --no-index --find-links "$GPU_DIR/wheels" ipykernel jupyter_client
}

case "${1:-}" in
  prepare) prepare ;;
  run)
    [[ -f $GPU_DIR/venturalitica.xz ]] || { echo "run 'bash bench/gpu_check.sh prepare' first" >&2; exit 2; }
    nvidia-smi --query-gpu=name,driver_version,power.draw --format=csv || true
    work=$(mktemp -d)
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
      "$GPU_DIR/venturalitica.xz" "$work/venturalitica"
    chmod +x "$work/venturalitica"
    venv "$work/venv"
    out=${OUT:-$work}
    "$work/venv/bin/python" "$HERE/gpu_check.py" --bin "$work/venturalitica" \
      --seconds "${GPU_CHECK_SECONDS:-10}" --out "$out/gpu_check.json"
    ;;
  cpu)
    source "$HERE/../scripts/common.sh"
    ensure_venv
    build_agent
    "$VENV/bin/python" "$HERE/gpu_check.py" --bin "$VL_BIN" --cpu --seconds 2 "${@:2}"
    ;;
  *)
    echo "usage: bash bench/gpu_check.sh prepare|run|cpu" >&2
    exit 2
    ;;
esac
