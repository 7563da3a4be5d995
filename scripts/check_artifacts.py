"""Checks the release artefacts scripts/release.sh built.

Usage: python scripts/check_artifacts.py WHEEL SDIST MAX_WHEEL_BYTES < auditwheel-show-output
       python scripts/check_artifacts.py --cross WHEEL MAX_WHEEL_BYTES

The first form checks the Linux wheel and the sdist, the second a macOS or
Windows wheel built from this machine (maturin --zig):

- auditwheel says the Linux wheel is manylinux 2.17 (manylinux2014) and
  needs no library outside the manylinux policy (nothing to vendor);
- the wheel holds one agent binary (`vl` is the small alias), and both are
  executables of the wheel's platform: ELF on Linux, Mach-O for the wheel's
  CPU (arm64 or x86_64) on macOS, PE for x86-64 on Windows (`.exe`);
- the wheel is within MAX_WHEEL_BYTES, compressed;
- the wheel and the sdist carry the prebuilt Lab extension;
- the wheel, the sdist and the Lab extension have the workspace's version.

Prints the sizes and exits non-zero naming the first thing that is wrong.
"""

from __future__ import annotations

import email.parser
import json
import re
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TAGS = ("manylinux_2_17_x86_64", "manylinux2014_x86_64")
# Mach-O 64-bit magic (little-endian) and the CPU types of its header.
MACHO_64 = b"\xcf\xfa\xed\xfe"
MACHO_CPU = {"arm64": 0x0100000C, "x86_64": 0x01000007}
PE_AMD64 = 0x8664
LAB = "share/jupyter/labextensions/venturalitica-jupyterlab/"
# `vl` links only the standard library; the agent links polars.
MAX_ALIAS_BYTES = 2 * 1024 * 1024


def fail(message: str) -> None:
    sys.exit(f"release artefacts: {message}")


def mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def check_auditwheel(show: str) -> None:
    text = " ".join(show.split())
    tag = re.search(r'consistent with the following platform tag: "([^"]+)"', text)
    if not tag or tag.group(1) not in TAGS:
        fail(f"auditwheel: not manylinux 2.17: {text}")
    if "external shared libraries" in text:
        fail(f"auditwheel: the wheel needs libraries outside the manylinux policy: {text}")
    print(f"ok: auditwheel: {tag.group(1)}, no library to vendor")


def platform_of(wheel: Path) -> str:
    """`linux`, `macos-arm64`, `macos-x86_64` or `windows`, from the tag."""
    tag = wheel.name.removesuffix(".whl").rsplit("-", 1)[-1]
    if any(t in tag.split(".") for t in TAGS):
        return "linux"
    if tag.startswith("macosx_") and tag.endswith(("_arm64", "_x86_64")):
        return "macos-" + ("arm64" if tag.endswith("_arm64") else "x86_64")
    if tag == "win_amd64":
        return "windows"
    fail(f"{wheel.name}: a platform tag this project does not build ({tag})")
    raise AssertionError


def executable_of(head: bytes, platform: str) -> bool:
    """Whether a file starting with `head` runs on `platform`."""
    if platform == "linux":
        return head[:4] == b"\x7fELF"
    if platform.startswith("macos-"):
        cpu = MACHO_CPU[platform.removeprefix("macos-")]
        return head[:4] == MACHO_64 and int.from_bytes(head[4:8], "little") == cpu
    # PE: "MZ", the PE header's offset at 0x3c, then "PE\0\0" and the machine.
    if head[:2] != b"MZ" or len(head) < 0x40:
        return False
    at = int.from_bytes(head[0x3C:0x40], "little")
    return head[at : at + 4] == b"PE\0\0" and int.from_bytes(head[at + 4 : at + 6], "little") == PE_AMD64


def check_wheel(wheel: Path, version: str, max_bytes: int) -> None:
    platform = platform_of(wheel)
    exe = ".exe" if platform == "windows" else ""
    size = wheel.stat().st_size
    if size > max_bytes:
        fail(f"{wheel.name} is {mib(size)}, over the {mib(max_bytes)} budget")
    with zipfile.ZipFile(wheel) as z:
        infos = z.infolist()
        scripts = {Path(i.filename).name: i for i in infos if ".data/scripts/" in i.filename}
        if sorted(scripts) != [f"venturalitica{exe}", f"vl{exe}"]:
            fail(f"the wheel's scripts are {sorted(scripts)}, not venturalitica{exe} and vl{exe}")
        agent, alias = scripts[f"venturalitica{exe}"], scripts[f"vl{exe}"]
        if alias.file_size > MAX_ALIAS_BYTES:
            fail(f"vl is {mib(alias.file_size)}: a second copy of the agent, not the alias")
        # Every executable of any of the platforms, so a stray one is seen.
        found = {
            i.filename: p
            for i in infos
            for head in [z.open(i).read(4096)]
            for p in ("linux", "macos-arm64", "macos-x86_64", "windows")
            if executable_of(head, p)
        }
        if sorted(found) != sorted([agent.filename, alias.filename]) or set(found.values()) != {platform}:
            fail(f"the wheel's executables are {found}, not the two agent binaries for {platform}")
        metadata = email.parser.Parser().parsestr(
            z.read(next(i.filename for i in infos if i.filename.endswith(".dist-info/METADATA"))).decode()
        )
        lab = json.loads(z.read(next(i.filename for i in infos if i.filename.endswith(LAB + "package.json"))))
        if not any(LAB + "static/remoteEntry." in i.filename for i in infos):
            fail("the wheel lacks the Lab extension's remoteEntry")
    if metadata["Version"] != version or lab["version"] != version:
        fail(f"versions differ: workspace {version}, wheel {metadata['Version']}, Lab extension {lab['version']}")
    print(
        f"ok: {wheel.name} ({platform}): {mib(size)} compressed; agent {mib(agent.file_size)} "
        f"({mib(agent.compress_size)} compressed), vl {alias.file_size // 1024} KiB; "
        f"version {version}, Lab extension inside"
    )


def check_sdist(sdist: Path, version: str) -> None:
    root = f"venturalitica-{version}/"
    with tarfile.open(sdist) as tar:
        names = tar.getnames()
        pkg_info = email.parser.Parser().parsestr(tar.extractfile(root + "PKG-INFO").read().decode())
    data = root + "venturalitica.data/data/" + LAB
    for needed in (data + "package.json", data + "install.json", root + "Cargo.lock", root + "pyproject.toml"):
        if needed not in names:
            fail(f"the sdist lacks {needed}")
    if not any(n.startswith(data + "static/remoteEntry.") for n in names):
        fail("the sdist lacks the prebuilt Lab extension's remoteEntry")
    if pkg_info["Version"] != version:
        fail(f"the sdist's version is {pkg_info['Version']}, the workspace's {version}")
    print(f"ok: {sdist.name}: {mib(sdist.stat().st_size)}, {len(names)} files, Lab extension prebuilt inside")


def main() -> None:
    version = tomllib.loads((REPO / "Cargo.toml").read_text())["workspace"]["package"]["version"]
    if sys.argv[1] == "--cross":
        check_wheel(Path(sys.argv[2]), version, int(sys.argv[3]))
        return
    wheel, sdist, max_bytes = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    if platform_of(wheel) != "linux":
        fail(f"{wheel.name} is not tagged manylinux2014")
    check_auditwheel(sys.stdin.read())
    check_wheel(wheel, version, max_bytes)
    check_sdist(sdist, version)


if __name__ == "__main__":
    main()
