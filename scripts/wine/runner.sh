#!/usr/bin/env bash
# Cargo's runner for x86_64-pc-windows-gnu: runs a Windows executable under
# wine (Debian's wine64 8.0) in a prefix of our own, with the
# bcryptprimitives.dll shim that wine 8 lacks (see bcryptprimitives.c).
# CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER points here (scripts/cross.sh).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VL_CACHE=${VL_CACHE:-$HOME/.cache/venturalitica}
export WINEPREFIX=${WINEPREFIX:-$VL_CACHE/wine}
# Tests that need what wine lacks (file ACLs) say so and stop.
export VL_WINE=1
export WINEDEBUG=${WINEDEBUG:--all}
export WINEDLLOVERRIDES="bcryptprimitives=n;${WINEDLLOVERRIDES:-}"
shim=$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll
if [[ ! -f $shim || $HERE/bcryptprimitives.c -nt $shim ]]; then
  mkdir -p "$WINEPREFIX"
  wineboot --init >/dev/null 2>&1 || true
  x86_64-w64-mingw32-gcc -shared -O2 -o "$shim.tmp" "$HERE/bcryptprimitives.c" \
    "$HERE/bcryptprimitives.def" -ladvapi32
  mv "$shim.tmp" "$shim"
fi
exec wine "$@"
