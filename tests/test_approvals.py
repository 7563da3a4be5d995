"""Approvals signed with people's SSH keys (`venturalitica approve`): the
stored signature verifies with `ssh-keygen -Y verify` itself, `verify
--allowed-signers` says who approved what and refuses what does not hold,
and the Annex IV lists the approvals."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from policies import DI_POLICY

NAMESPACE = "venturalitica-approval"


def _need_ssh() -> None:
    for tool in ("ssh-keygen", "ssh-agent", "ssh-add"):
        if shutil.which(tool) is None:
            (pytest.fail if os.environ.get("VL_CI") else pytest.skip)(f"{tool} is not on PATH (Debian: openssh-client)")


@pytest.fixture
def project(vl_bin, tmp_path):
    _need_ssh()
    root = tmp_path / "p"
    root.mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'approvals'\n")
    (root / "p.yaml").write_text(DI_POLICY.format(mode="warn"))
    (root / "d.csv").write_text("g,y\n" + "a,1\na,0\nb,1\nb,1\n" * 5)
    run(vl_bin, root, "enforce", "--data", "d.csv", "--policy", "p.yaml")
    return root


def run(vl_bin: Path, root: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(vl_bin), *args], cwd=root, capture_output=True, text=True, timeout=60, check=False, env=env
    )


def keygen(path: Path, comment: str, passphrase: str = "") -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path


def approvals(root: Path) -> list[dict]:
    lines = [json.loads(line) for line in (root / ".venturalitica" / "trace.jsonl").read_text().splitlines()]
    return [line | {"payload": line["event"]["payload"]} for line in lines if line["event"]["kind"] == "approval"]


def ssh_verify(tmp_path: Path, allowed: Path, principal: str, statement: str, signature: str):
    sig = tmp_path / "approval.sig"
    sig.write_text(signature)
    return subprocess.run(
        ["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", principal, "-n", NAMESPACE, "-s", str(sig)],
        input=statement,
        capture_output=True,
        text=True,
        check=False,
    )


def test_an_approval_verifies_with_ssh_keygen_and_with_verify(vl_bin, project, tmp_path):
    key = keygen(tmp_path / "alice", "alice@example.com")
    done = run(vl_bin, project, "approve", "--key", str(key), "--role", "model owner", "--message", "release 1.2")
    assert done.returncode == 0, done.stderr
    (approval,) = approvals(project)
    p = approval["payload"]
    head = json.loads((project / ".venturalitica" / "trace.jsonl").read_text().splitlines()[0])
    assert p["head"] == f"{head['seq']}:{head['hash']}" and p["principal"] == "alice@example.com"
    assert p["statement"].splitlines() == [
        "venturalitica approval v1",
        f"head: {p['head']}",
        "principal: alice@example.com",
        "role: model owner",
        f"date: {p['date']}",
        "message: release 1.2",
    ]
    assert p["signature"].startswith("-----BEGIN SSH SIGNATURE-----")

    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"alice@example.com {(tmp_path / 'alice.pub').read_text()}")
    # OpenSSH itself, without our tool.
    ok = ssh_verify(tmp_path, allowed, "alice@example.com", p["statement"], p["signature"])
    assert ok.returncode == 0 and "Good" in ok.stdout + ok.stderr, ok.stderr
    assert p["key"] in ok.stdout + ok.stderr
    edited = p["statement"].replace("release 1.2", "release 1.3")
    assert ssh_verify(tmp_path, allowed, "alice@example.com", edited, p["signature"]).returncode != 0

    checked = run(vl_bin, project, "verify", "--allowed-signers", str(allowed))
    assert checked.returncode == 0, checked.stdout
    assert f"approval #{approval['seq']}: alice@example.com (model owner) approved the trail up to {p['head']}" in (
        checked.stdout
    )
    report = json.loads(run(vl_bin, project, "verify", "--json", "--allowed-signers", str(allowed)).stdout)
    assert [(a["principal"], a["holds"]) for a in report["approvals"]] == [("alice@example.com", True)]

    # The Annex IV lists it, in section 2 and in the sign-off.
    annex = run(vl_bin, project, "report", "annex-iv").stdout
    assert "Approved by alice@example.com (model owner) on " in annex
    assert f"| model owner | alice@example.com | {p['date']} | SSH {p['key']}" in annex


def test_verify_refuses_a_principal_not_allowed_and_a_key_not_theirs(vl_bin, project, tmp_path):
    keygen(tmp_path / "mallory", "alice@example.com")  # claims to be alice
    keygen(tmp_path / "alice", "alice@example.com")
    assert run(vl_bin, project, "approve", "--key", str(tmp_path / "mallory")).returncode == 0
    only_bob = tmp_path / "bob_only"
    only_bob.write_text(f"bob@example.com {(tmp_path / 'mallory.pub').read_text()}")
    refused = run(vl_bin, project, "verify", "--allowed-signers", str(only_bob))
    assert refused.returncode == 1 and "alice@example.com is not in allowed_signers" in refused.stdout
    real_alice = tmp_path / "real_alice"
    real_alice.write_text(f"alice@example.com {(tmp_path / 'alice.pub').read_text()}")
    refused = run(vl_bin, project, "verify", "--allowed-signers", str(real_alice))
    assert refused.returncode == 1 and "is not in allowed_signers with the key SHA256:" in refused.stdout
    (p,) = [a["payload"] for a in approvals(project)]
    assert ssh_verify(tmp_path, real_alice, "alice@example.com", p["statement"], p["signature"]).returncode != 0


def test_an_approval_of_a_head_not_on_the_trail_or_of_an_altered_trail_is_refused(vl_bin, project, tmp_path):
    key = keygen(tmp_path / "alice", "alice@example.com")
    missing = run(vl_bin, project, "approve", "--key", str(key), "--head", f"99:{'0' * 64}")
    assert missing.returncode == 2 and "this trail has no event 99" in missing.stderr
    other = run(vl_bin, project, "approve", "--key", str(key), "--head", f"1:{'0' * 64}")
    assert other.returncode == 2 and "another hash" in other.stderr
    trace = project / ".venturalitica" / "trace.jsonl"
    trace.write_text(trace.read_text().replace('"passed":', '"passed" :', 1))
    altered = run(vl_bin, project, "approve", "--key", str(key))
    assert altered.returncode == 2 and "does not verify, so it cannot be approved" in altered.stderr
    assert approvals(project) == []


def test_an_encrypted_key_signs_through_ssh_agent(vl_bin, project, tmp_path):
    key = keygen(tmp_path / "bob", "bob@example.com", passphrase="correct horse")
    alone = run(vl_bin, project, "approve", "--key", str(key))
    assert alone.returncode == 2 and "encrypted with a passphrase" in alone.stderr
    agent = subprocess.run(["ssh-agent", "-s"], capture_output=True, text=True, check=True).stdout
    env = dict(os.environ)
    for part in agent.split(";"):
        name, eq, value = part.strip().partition("=")
        if eq and name in ("SSH_AUTH_SOCK", "SSH_AGENT_PID"):
            env[name] = value
    try:
        plain = tmp_path / "bob_plain"
        shutil.copy(key, plain)
        subprocess.run(
            ["ssh-keygen", "-q", "-p", "-P", "correct horse", "-N", "", "-f", str(plain)],
            check=True,
            capture_output=True,
        )
        plain.chmod(0o600)
        subprocess.run(["ssh-add", "-q", str(plain)], env=env, check=True, capture_output=True)
        signed = run(vl_bin, project, "approve", "--key", str(key), "--role", "reviewer", env=env)
        assert signed.returncode == 0, signed.stderr
    finally:
        subprocess.run(["kill", env["SSH_AGENT_PID"]], check=False)
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"bob@example.com {(tmp_path / 'bob.pub').read_text()}")
    (p,) = [a["payload"] for a in approvals(project)]
    assert ssh_verify(tmp_path, allowed, "bob@example.com", p["statement"], p["signature"]).returncode == 0
    assert run(vl_bin, project, "verify", "--allowed-signers", str(allowed)).returncode == 0


def test_ecdsa_keys_sign_and_rsa_keys_are_refused_saying_so(vl_bin, project, tmp_path):
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-C", "carol@example.com", "-f", str(tmp_path / "carol")],
        check=True,
        capture_output=True,
    )
    assert run(vl_bin, project, "approve", "--key", str(tmp_path / "carol")).returncode == 0
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"carol@example.com {(tmp_path / 'carol.pub').read_text()}")
    (p,) = [a["payload"] for a in approvals(project)]
    assert ssh_verify(tmp_path, allowed, "carol@example.com", p["statement"], p["signature"]).returncode == 0
    assert run(vl_bin, project, "verify", "--allowed-signers", str(allowed)).returncode == 0
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", str(tmp_path / "dave")],
        check=True,
        capture_output=True,
    )
    refused = run(vl_bin, project, "approve", "--key", str(tmp_path / "dave"), "--principal", "dave")
    assert refused.returncode == 2 and "an RSA key; approvals are signed with Ed25519 or ECDSA keys" in refused.stderr
