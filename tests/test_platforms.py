"""What the macOS and Windows builds rest on that Linux can check: the
release check's reading of executables, and the kernel launcher's Windows
path (spawn, wait, pass the exit code on)."""

from __future__ import annotations

import importlib.util
import struct
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check = _load("check_artifacts", REPO / "scripts" / "check_artifacts.py")


def macho(cpu: int) -> bytes:
    return b"\xcf\xfa\xed\xfe" + struct.pack("<I", cpu) + bytes(64)


def pe(machine: int) -> bytes:
    head = bytearray(b"MZ" + bytes(0x3E))
    head[0x3C:0x40] = struct.pack("<I", 0x40)
    return bytes(head) + b"PE\0\0" + struct.pack("<H", machine) + bytes(32)


ELF = b"\x7fELF" + bytes(60)


@pytest.mark.parametrize(
    ("head", "platform"),
    [
        (ELF, "linux"),
        (macho(0x0100000C), "macos-arm64"),
        (macho(0x01000007), "macos-x86_64"),
        (pe(0x8664), "windows"),
    ],
)
def test_each_binary_is_recognised_for_its_platform_only(head, platform):
    for other in ("linux", "macos-arm64", "macos-x86_64", "windows"):
        assert check.executable_of(head, other) == (other == platform), other
    # A 32-bit or ARM Windows binary is not a win_amd64 one.
    assert not check.executable_of(pe(0x14C), "windows")


@pytest.mark.parametrize(
    ("name", "platform"),
    [
        ("venturalitica-0.9.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", "linux"),
        ("venturalitica-0.9.0-py3-none-macosx_11_0_arm64.whl", "macos-arm64"),
        ("venturalitica-0.9.0-py3-none-macosx_10_12_x86_64.whl", "macos-x86_64"),
        ("venturalitica-0.9.0-py3-none-win_amd64.whl", "windows"),
    ],
)
def test_the_platform_comes_from_the_wheel_tag(name, platform):
    assert check.platform_of(Path(name)) == platform


def test_a_wheel_with_the_wrong_binary_is_refused(tmp_path):
    """A win_amd64 wheel holding a Linux agent (a mixed-up build) fails."""
    wheel = tmp_path / "venturalitica-0.1.0-py3-none-win_amd64.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("venturalitica-0.1.0.data/scripts/venturalitica.exe", ELF)
        z.writestr("venturalitica-0.1.0.data/scripts/vl.exe", pe(0x8664))
    with pytest.raises(SystemExit, match="not the two agent binaries for windows"):
        check.check_wheel(wheel, "0.1.0", 10**9)


def test_the_launchers_windows_path_passes_the_exit_code_on():
    """`python -m venturalitica.kernel` on Windows starts the agent as a
    child and exits with its code (exec is what Unix does instead)."""
    from venturalitica import kernel

    assert kernel._spawn_and_wait([sys.executable, "-c", "import sys; sys.exit(7)"]) == 7
    assert kernel._spawn_and_wait([sys.executable, "-c", "pass"]) == 0


def _wheel(tmp_path: Path, tag: str, binary: bytes, version: str = "0.9.0", lab_version: str | None = None, extra=()):
    """A wheel with the release's shape: the two scripts, the metadata, the
    Lab extension's package.json and remoteEntry; ``extra`` adds files."""
    exe = ".exe" if "win" in tag else ""
    wheel = tmp_path / f"venturalitica-{version}-py3-none-{tag}.whl"
    data = f"venturalitica-{version}.data/"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(f"{data}scripts/venturalitica{exe}", binary)
        z.writestr(f"{data}scripts/vl{exe}", binary)
        z.writestr(f"venturalitica-{version}.dist-info/METADATA", f"Metadata-Version: 2.1\nVersion: {version}\n")
        z.writestr(f"{data}data/{check.LAB}package.json", f'{{"version": "{lab_version or version}"}}')
        z.writestr(f"{data}data/{check.LAB}static/remoteEntry.abc.js", "")
        for name, content in extra:
            z.writestr(name, content)
    return wheel


LINUX_TAG = "manylinux_2_17_x86_64.manylinux2014_x86_64"


def test_a_release_shaped_wheel_passes_the_check(tmp_path, capsys):
    check.check_wheel(_wheel(tmp_path, LINUX_TAG, ELF), "0.9.0", 10**9)
    assert "ok: venturalitica-0.9.0" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("why", "make", "refusal"),
    [
        (
            "a second agent binary",
            lambda p: _wheel(p, LINUX_TAG, ELF, extra=[("venturalitica/bin/agent", ELF)]),
            "the wheel's executables",
        ),
        ("a Linux tag on Windows binaries", lambda p: _wheel(p, LINUX_TAG, pe(0x8664)), "the wheel's executables"),
        (
            "another version than the workspace's",
            lambda p: _wheel(p, LINUX_TAG, ELF, version="0.8.2"),
            "versions differ",
        ),
        (
            "a Lab extension of another version",
            lambda p: _wheel(p, LINUX_TAG, ELF, lab_version="0.1.0"),
            "versions differ",
        ),
    ],
)
def test_the_release_check_refuses_a_wrong_wheel(tmp_path, why, make, refusal):
    with pytest.raises(SystemExit, match=refusal):
        check.check_wheel(make(tmp_path), "0.9.0", 10**9)
