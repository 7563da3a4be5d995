"""Checks the release artefacts scripts/release.sh built.

Usage: python scripts/check_artifacts.py WHEEL SDIST MAX_WHEEL_BYTES < auditwheel-show-output

- auditwheel says the wheel is manylinux 2.17 (manylinux2014) and needs no
  library outside the manylinux policy (nothing to vendor);
- the wheel holds one agent binary: `vl` is the small exec alias;
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


def check_wheel(wheel: Path, version: str, max_bytes: int) -> None:
    if not any(f"-{tag}" in wheel.name or f".{tag}" in wheel.name for tag in TAGS):
        fail(f"{wheel.name} is not tagged manylinux2014")
    size = wheel.stat().st_size
    if size > max_bytes:
        fail(f"{wheel.name} is {mib(size)}, over the {mib(max_bytes)} budget")
    with zipfile.ZipFile(wheel) as z:
        infos = z.infolist()
        scripts = {Path(i.filename).name: i for i in infos if ".data/scripts/" in i.filename}
        if sorted(scripts) != ["venturalitica", "vl"]:
            fail(f"the wheel's scripts are {sorted(scripts)}, not venturalitica and vl")
        agent, alias = scripts["venturalitica"], scripts["vl"]
        if alias.file_size > MAX_ALIAS_BYTES:
            fail(f"vl is {mib(alias.file_size)}: a second copy of the agent, not the exec alias")
        elves = [i.filename for i in infos if z.read(i.filename)[:4] == b"\x7fELF"]
        if len(elves) != 2:
            fail(f"the wheel holds {len(elves)} executables: {elves}")
        metadata = email.parser.Parser().parsestr(
            z.read(next(i.filename for i in infos if i.filename.endswith(".dist-info/METADATA"))).decode()
        )
        lab = json.loads(z.read(next(i.filename for i in infos if i.filename.endswith(LAB + "package.json"))))
        if not any(LAB + "static/remoteEntry." in i.filename for i in infos):
            fail("the wheel lacks the Lab extension's remoteEntry")
    if metadata["Version"] != version or lab["version"] != version:
        fail(f"versions differ: workspace {version}, wheel {metadata['Version']}, Lab extension {lab['version']}")
    print(
        f"ok: {wheel.name}: {mib(size)} compressed; agent {mib(agent.file_size)} "
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
    wheel, sdist, max_bytes = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    version = tomllib.loads((REPO / "Cargo.toml").read_text())["workspace"]["package"]["version"]
    check_auditwheel(sys.stdin.read())
    check_wheel(wheel, version, max_bytes)
    check_sdist(sdist, version)


if __name__ == "__main__":
    main()
