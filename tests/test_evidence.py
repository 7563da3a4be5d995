"""The evidence trail under concurrent writers, killed writers and a hostile
editor, through the real binary and a real proxied kernel (docs/evidence.md).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import venturalitica as vl
from kernel_env import run_cell
from policies import DI_POLICY

DATA = "g,y\n" + "a,1\na,0\na,1\na,1\nb,1\nb,0\nb,1\nb,1\n" * 12


def _project(root: Path) -> Path:
    (root / "p.yaml").write_text(DI_POLICY.format(mode="block"))
    (root / "d.csv").write_text(DATA)
    return root


def _verify(vl_bin: Path, root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(vl_bin), "verify", "--root", str(root), "--json", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


def _lines(root: Path) -> list[dict]:
    text = (root / ".venturalitica" / "trace.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def _enforce_loop(vl_bin: Path, root: Path, stop: threading.Event, done: list[int], failed: list[str]) -> None:
    """Evaluates until told to stop. A failure is kept for the test's own
    thread to assert on (an assert here would only warn, and the test would
    pass on the other writers)."""
    while not stop.is_set():
        proc = subprocess.run(
            [str(vl_bin), "enforce", "--data", "d.csv", "--policy", "p.yaml", "--root", str(root)],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if proc.returncode != 0:
            failed.append(f"exit {proc.returncode}: {proc.stderr}")
            return
        done.append(1)


def test_verify_never_cries_wolf_while_cli_writers_and_a_kernel_append(kernel_env):
    """Three CLI writers and a proxied kernel append while `verify` runs in
    a loop, renewing a checkpoint every few events and reading from it,
    until each has done its share (counts, not a time window: a slow host
    takes longer, it does not fail): no false alarm, no event lost, intact
    at the end."""
    root = _project(kernel_env.project)
    stop = threading.Event()
    done: list[int] = []
    failed: list[str] = []
    writers = [
        threading.Thread(target=_enforce_loop, args=(kernel_env.vl_bin, root, stop, done, failed)) for _ in range(3)
    ]
    cells = 0
    verifies, alarms, checkpoints = 0, [], 0
    with kernel_env.kernel() as (_, kc):
        for w in writers:
            w.start()
        # Only a bound against a hang; the loop ends on its counts.
        give_up = time.monotonic() + 600
        # Until each did its share, and verify read from a checkpoint ten
        # times (a reader that silently fell back to the whole trail would
        # never get there).
        while (verifies < 10 or cells < 10 or len(done) < 10 or checkpoints < 10) and not failed:
            assert time.monotonic() < give_up, (verifies, cells, len(done), checkpoints)
            reply, _ = run_cell(kc, f"sum(range({random.randint(1, 50_000)}))")
            assert reply["content"]["status"] == "ok"
            cells += 1
            report = _verify(kernel_env.vl_bin, root, env={"VENTURALITICA_CHECKPOINT": "5"})
            verifies += 1
            checkpoints += '"checkpoint": {' in report.stdout
            if report.returncode != 0:
                alarms.append(report.stdout + report.stderr)
        stop.set()
        for w in writers:
            w.join()
    print(f"stress: {verifies} verifies, {cells} cells, {len(done)} CLI evaluations, {len(alarms)} false alarms")
    assert not failed, f"a CLI writer failed: {failed[0]}"
    assert not alarms, f"{len(alarms)} of {verifies} verifies cried wolf; first:\n{alarms[0]}"

    final = json.loads(_verify(kernel_env.vl_bin, root, "--full").stdout)
    assert final["findings"] == [] and final["notes"] == [], final
    from_checkpoint = json.loads(_verify(kernel_env.vl_bin, root, env={"VENTURALITICA_CHECKPOINT": "5"}).stdout)
    assert from_checkpoint["checkpoint"] is not None and from_checkpoint["findings"] == []
    assert from_checkpoint["events"] == final["events"] and from_checkpoint["signers"] == final["signers"]
    bodies = [line["event"] for line in _lines(root)]
    assert sum(b["kind"] == "enforce" for b in bodies) == len(done)
    assert sum(b["kind"] == "cell" for b in bodies) == cells
    assert [line["seq"] for line in _lines(root)] == list(range(1, len(bodies) + 1))
    # One key signed everything: the same user's CLI and kernel.
    assert len(final["signers"]) == 1 and final["signers"][0]["events"] == len(bodies)


def test_writers_killed_at_random_lose_nothing_written_before(vl_bin, tmp_path):
    root = _project(tmp_path)
    (root / "pyproject.toml").write_text("")
    rng = random.Random(15)
    before: list[dict] = []
    for round_ in range(12):
        procs = [
            subprocess.Popen(
                [str(vl_bin), "enforce", "--data", "d.csv", "--policy", "p.yaml", "--root", str(root)],
                cwd=root,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(3)
        ]
        time.sleep(rng.uniform(0.0, 0.15))
        for p in procs:
            if rng.random() < 0.7:
                p.send_signal(signal.SIGKILL)
        for p in procs:
            p.wait(timeout=60)
        trace = root / ".venturalitica" / "trace.jsonl"
        now = _lines(root) if trace.exists() and trace.read_text().endswith("\n") else None
        if now is not None:
            # Every event seen before is still there, unchanged, in place.
            assert now[: len(before)] == before, f"round {round_}: earlier events changed"
            before = now
        report = _verify(vl_bin, root)
        assert report.returncode == 0, report.stdout
    # A last clean writer: the trail goes on from where the killed ones left it.
    subprocess.run(
        [str(vl_bin), "enforce", "--data", "d.csv", "--policy", "p.yaml", "--root", str(root)],
        cwd=root,
        capture_output=True,
        check=True,
    )
    final = json.loads(_verify(vl_bin, root).stdout)
    assert final["findings"] == [], final
    assert len(_lines(root)) >= len(before) + 1


def test_a_writer_killed_in_the_middle_of_its_line_loses_nothing_before_it(vl_bin, tmp_path):
    """Kills that land mid-write, for certain: a file-size limit (RLIMIT_FSIZE)
    half-way into the next line makes the kernel write the line's first half
    and kill the writer (SIGXFSZ) inside its write. The next writer sets the
    torn half aside and goes on; nothing before it changes."""
    import resource

    root = _project(tmp_path)
    (root / "pyproject.toml").write_text("")
    trace = root / ".venturalitica" / "trace.jsonl"
    enforce = [str(vl_bin), "enforce", "--data", "d.csv", "--policy", "p.yaml", "--root", str(root)]
    subprocess.run(enforce, cwd=root, capture_output=True, check=False)
    for round_ in range(3):
        before = trace.read_bytes()
        line = len(before.splitlines(keepends=True)[-1])
        limit = len(before) + line // 2

        def limited(limit: int = limit) -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        killed = subprocess.run(enforce, cwd=root, capture_output=True, preexec_fn=limited, check=False)  # noqa: PLW1509
        assert killed.returncode == -signal.SIGXFSZ, (round_, killed.returncode, killed.stderr)
        torn = trace.read_bytes()
        # Killed inside the line: its first half is on disk, without its end.
        assert len(torn) == limit and torn.startswith(before) and not torn.endswith(b"\n"), round_
        assert _verify(vl_bin, root).returncode == 0
        subprocess.run(enforce, cwd=root, capture_output=True, check=False)
        after = trace.read_bytes()
        assert after.startswith(before) and after.endswith(b"\n"), round_
        aside = b"".join(p.read_bytes() for p in sorted(trace.parent.glob("trace.torn-*.jsonl")))
        assert torn[len(before) :] in aside, round_
    final = json.loads(_verify(vl_bin, root, "--full").stdout)
    assert final["findings"] == [] and final["events"] == 4, final


def _check_line_with_cryptography(raw: str, public) -> None:
    """One signed line checked as docs/evidence.md defines it, by hashlib and
    `cryptography`, not by our code."""
    import hashlib

    line = json.loads(raw)
    body = raw[raw.index('"event":') + len('"event":') : -1]
    digest = hashlib.sha256(
        f"venturalitica-event-v2\n{line['seq']}\n{line['prev']}\n{line['key']}\n{body}".encode()
    ).hexdigest()
    assert digest == line["hash"]
    public.verify(bytes.fromhex(line["sig"]), b"venturalitica-event-sig-v1\n" + digest.encode())


def test_signing_keys_in_the_documented_formats_interoperate_with_openssl_and_cryptography(vl_bin, tmp_path):
    """docs/evidence.md: the key made on first use is PKCS#8 PEM; a key from
    `openssl genpkey -algorithm ed25519` signs; `openssl pkey -pubout`'s
    output is a trusted key; every line verifies by the documented formula."""
    import shutil

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if shutil.which("openssl") is None:
        pytest.fail("openssl is not on PATH")
    (tmp_path / "p").mkdir()
    root = _project(tmp_path / "p")
    (root / "pyproject.toml").write_text("")
    config = tmp_path / "config"
    env = {**os.environ, "VENTURALITICA_CONFIG_DIR": str(config)}
    env.pop("VENTURALITICA_SIGNING_KEY", None)
    env.pop("VENTURALITICA_SIGNING_KEY_FILE", None)
    enforce = [str(vl_bin), "enforce", "--data", "d.csv", "--policy", "p.yaml", "--root", str(root)]
    subprocess.run(enforce, cwd=root, env=env, capture_output=True, check=False)

    # The key made on first use: PKCS#8 PEM, owner-only, its public half beside it.
    made = serialization.load_pem_private_key((config / "signing-key.pem").read_bytes(), password=None)
    assert isinstance(made, Ed25519PrivateKey)
    assert (config / "signing-key.pem").stat().st_mode & 0o777 == 0o600
    raw = serialization.Encoding.Raw
    made_public = made.public_key().public_bytes(raw, serialization.PublicFormat.Raw)
    assert (
        serialization.load_pem_public_key((config / "signing-key.pub.pem").read_bytes()).public_bytes(
            raw, serialization.PublicFormat.Raw
        )
        == made_public
    )
    first = (root / ".venturalitica" / "trace.jsonl").read_text().splitlines()[0]
    assert json.loads(first)["key"] == made_public.hex()
    _check_line_with_cryptography(first, made.public_key())

    # A key from openssl signs the next event; openssl's public PEM is trusted.
    key, pub = tmp_path / "ci.pem", tmp_path / "ci.pub.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(key)], check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout", "-out", str(pub)], check=True, capture_output=True)
    ci = serialization.load_pem_private_key(key.read_bytes(), password=None)
    subprocess.run(
        enforce, cwd=root, env={**env, "VENTURALITICA_SIGNING_KEY_FILE": str(key)}, capture_output=True, check=False
    )
    second = (root / ".venturalitica" / "trace.jsonl").read_text().splitlines()[1]
    assert json.loads(second)["key"] == ci.public_key().public_bytes(raw, serialization.PublicFormat.Raw).hex()
    _check_line_with_cryptography(second, ci.public_key())
    # The same key as PEM text in VENTURALITICA_SIGNING_KEY.
    subprocess.run(
        enforce, cwd=root, env={**env, "VENTURALITICA_SIGNING_KEY": key.read_text()}, capture_output=True, check=False
    )
    third = (root / ".venturalitica" / "trace.jsonl").read_text().splitlines()[2]
    assert json.loads(third)["key"] == json.loads(second)["key"]

    trusted = _verify(vl_bin, root, "--trusted-key", str(pub), "--trusted-key", str(config / "signing-key.pub.pem"))
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    report = json.loads(trusted.stdout)
    assert report["findings"] == [] and len(report["signers"]) == 2, report
    only_openssl = _verify(vl_bin, root, "--trusted-key", str(pub))
    assert only_openssl.returncode == 1, "an event signed by a key not given as trusted is a finding"


def _rewrite(root: Path, lines: list[dict]) -> None:
    """Writes lines back in the store's exact layout (what an editor would)."""
    out = []
    for e in lines:
        head = f'{{"seq":{e["seq"]},"prev":"{e["prev"]}","hash":"{e["hash"]}",'
        seal = f'"key":"{e["key"]}","sig":"{e["sig"]}",' if "key" in e else ""
        out.append(head + seal + '"event":' + json.dumps(e["event"], separators=(",", ":")) + "}\n")
    (root / ".venturalitica" / "trace.jsonl").write_text("".join(out))


def _rehash(lines: list[dict], start: int) -> None:
    """Recomputes every hash from line `start` on, as anyone can (the formula
    is public); the signatures cannot be recomputed without the key."""
    import hashlib

    for i in range(start, len(lines)):
        e = lines[i]
        e["prev"] = lines[i - 1]["hash"] if i else "0" * 64
        body = json.dumps(e["event"], separators=(",", ":"))
        material = f"venturalitica-event-v2\n{e['seq']}\n{e['prev']}\n{e['key']}\n{body}"
        e["hash"] = hashlib.sha256(material.encode()).hexdigest()


def test_tampering_is_detected_and_named(vl, vl_bin, tmp_path):
    _project(tmp_path)
    for _ in range(4):
        assert vl("enforce", "--data", "d.csv", "--policy", "p.yaml").code == 0
    store = tmp_path / ".venturalitica"
    pristine = (store / "trace.jsonl").read_text()
    head = (store / "chain_head").read_text()
    assert _verify(vl_bin, tmp_path).returncode == 0

    def findings() -> list[str]:
        report = _verify(vl_bin, tmp_path)
        assert report.returncode == 1, report.stdout
        return [f["message"] for f in json.loads(report.stdout)["findings"]]

    def restore() -> None:
        (store / "trace.jsonl").write_text(pristine)
        (store / "chain_head").write_text(head)

    lines = _lines(tmp_path)
    # An edit.
    lines[1]["event"]["payload"]["results"]["passed"] = False
    _rewrite(tmp_path, lines)
    assert any("event 2 was altered" in f for f in findings())
    # An edit re-hashed end to end, head fixed: only the signatures tell.
    _rehash(lines, 1)
    _rewrite(tmp_path, lines)
    (store / "chain_head").write_text(f"4 {lines[3]['hash']}\n")
    found = findings()
    assert any("event 2's signature does not verify" in f for f in found), found
    assert not any("was altered" in f for f in found)
    restore()
    # A deletion, a reorder, a truncation.
    lines = _lines(tmp_path)
    _rewrite(tmp_path, [lines[0], lines[2], lines[3]])
    assert any("event 3 found where event 2 was expected" in f for f in findings())
    _rewrite(tmp_path, [lines[0], lines[2], lines[1], lines[3]])
    assert findings()
    _rewrite(tmp_path, lines[:3])
    assert any("events deleted from the end" in f for f in findings())
    restore()
    # A policy copy changed.
    (copy,) = (store / "policies").iterdir()
    original = copy.read_text()
    copy.write_text(original.replace("0.8", "0.1"))
    assert any("was altered" in f and copy.name in f for f in findings())
    copy.write_text(original)
    assert _verify(vl_bin, tmp_path).returncode == 0


def test_trusted_keys_and_anchors(vl, vl_bin, tmp_path):
    _project(tmp_path)
    assert vl("enforce", "--data", "d.csv", "--policy", "p.yaml").code == 0
    mine = tmp_path / "mine.pem"
    mine.write_text(vl("key", "show", "--pem").stdout)
    assert "BEGIN PUBLIC KEY" in mine.read_text()
    assert _verify(vl_bin, tmp_path, "--trusted-key", str(mine)).returncode == 0

    # Another user (another config dir, another key) appends to the trail.
    other_config = tmp_path / "other-config"
    other = vl("enforce", "--data", "d.csv", "--policy", "p.yaml", env={"VENTURALITICA_CONFIG_DIR": str(other_config)})
    assert other.code == 0
    report = _verify(vl_bin, tmp_path)
    assert report.returncode == 0, "both signatures hold"
    signers = json.loads(report.stdout)["signers"]
    assert [s["events"] for s in signers] == [1, 1] and signers[0]["key_id"] != signers[1]["key_id"]
    untrusted = _verify(vl_bin, tmp_path, "--trusted-key", str(mine))
    assert untrusted.returncode == 1
    messages = [f["message"] for f in json.loads(untrusted.stdout)["findings"]]
    assert any(f"signed by {signers[1]['key_id']}, which is not a trusted key" in m for m in messages), messages
    theirs = other_config / "signing-key.pub.pem"
    assert _verify(vl_bin, tmp_path, "--trusted-key", str(mine), "--trusted-key", str(theirs)).returncode == 0
    # The key file is private to its owner.
    assert (other_config / "signing-key.pem").stat().st_mode & 0o777 == 0o600

    # A CI secret signs instead of the config dir's key.
    ci_key = (other_config / "signing-key.pem").read_text()
    assert vl("enforce", "--data", "d.csv", "--policy", "p.yaml", env={"VENTURALITICA_SIGNING_KEY": ci_key}).code == 0
    assert json.loads(_verify(vl_bin, tmp_path).stdout)["signers"][1]["events"] == 2

    # scan's anchor, in trace_latest.json, proves the trail up to it.
    assert vl("scan").code == 0
    latest = json.loads((tmp_path / ".venturalitica" / "trace_latest.json").read_text())
    anchor = latest["evidence"]["anchor"]
    assert anchor == f"{latest['evidence']['seq']}:{latest['evidence']['hash']}"
    assert _verify(vl_bin, tmp_path, "--head", anchor).returncode == 0
    bad = anchor[:-4] + ("0000" if not anchor.endswith("0000") else "1111")
    broken = _verify(vl_bin, tmp_path, "--head", bad)
    assert broken.returncode == 1 and json.loads(broken.stdout)["anchors"][0]["matched"] is False
    assert vl("verify", "--head", "12-abc").code == 2
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("hello")
    refused = vl("verify", "--trusted-key", str(garbage))
    assert refused.code == 2 and "garbage.pem" in refused.stderr

    # The Python API says the same.
    report = vl_verify(tmp_path, trusted=[mine, theirs], heads=[anchor])
    assert report.ok and report.head.startswith(f"{latest['evidence']['seq']}:")
    assert len(report.signers) == 2
    assert not vl_verify(tmp_path, trusted=[mine]).ok


def vl_verify(root: Path, trusted: list[Path], heads: tuple[str, ...] = ()) -> vl.VerifyReport:
    return vl.verify(project_root=root, trusted_keys=trusted, heads=heads)


def test_old_unsigned_trails_still_verify(vl, vl_bin, tmp_path):
    """A trail written before signing existed (v1 lines) verifies, reported as
    unsigned; appending signs from then on, and `--trusted-key` refuses the
    unsigned part."""
    import hashlib

    store = tmp_path / ".venturalitica"
    store.mkdir()
    prev, out = "0" * 64, []
    for seq in (1, 2):
        body = json.dumps({"kind": "cell", "ts": "2026-01-01T00:00:00.000Z", "pid": 1, "payload": {"n": seq}})
        h = hashlib.sha256(f"venturalitica-event-v1\n{seq}\n{prev}\n{body}".encode()).hexdigest()
        out.append(f'{{"seq":{seq},"prev":"{prev}","hash":"{h}","event":{body}}}\n')
        prev = h
    (store / "trace.jsonl").write_text("".join(out))
    (store / "chain_head").write_text(f"2 {prev}\n")
    report = json.loads(_verify(vl_bin, tmp_path).stdout)
    assert report["findings"] == [] and report["unsigned_events"] == 2
    assert any("unsigned" in n for n in report["notes"])
    _project(tmp_path)
    assert vl("enforce", "--data", "d.csv", "--policy", "p.yaml").code == 0
    report = json.loads(_verify(vl_bin, tmp_path).stdout)
    assert report["findings"] == [] and report["signers"][0]["first_seq"] == 3
    mine = tmp_path / "mine.pem"
    mine.write_text(vl("key", "show", "--pem").stdout)
    refused = json.loads(_verify(vl_bin, tmp_path, "--trusted-key", str(mine)).stdout)
    assert any("2 event(s) are unsigned" in f["message"] for f in refused["findings"])


def test_an_unwritable_key_dir_still_records_and_says_so(vl, vl_bin, tmp_path):
    """Evidence is never dropped for want of a key: written unsigned, logged,
    and reported by verify once signed events came before."""
    _project(tmp_path)
    assert vl("enforce", "--data", "d.csv", "--policy", "p.yaml").code == 0
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    run = vl("enforce", "--data", "d.csv", "--policy", "p.yaml", env={"VENTURALITICA_CONFIG_DIR": str(blocked / "x")})
    assert run.code == 0 and "unsigned" in run.stderr
    assert len(_lines(tmp_path)) == 2
    report = json.loads(_verify(vl_bin, tmp_path).stdout)
    assert any("event 2 is unsigned but follows signed events" in f["message"] for f in report["findings"])


def test_two_evaluations_at_once_in_one_agent_keep_their_files(tmp_path, monkeypatch):
    """One agent serving two `vl.enforce` calls at once: every temporary file
    is its own, so neither renames the other's half-written file."""
    import pandas as pd

    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("")
    _project(tmp_path)
    frame = pd.read_csv(tmp_path / "d.csv")
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                assert vl.enforce(data=frame, target="y", policy="p.yaml").passed
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(_lines(tmp_path)) == 20
    assert not [p for p in (tmp_path / ".venturalitica").rglob(".tmp-*")]
    assert vl.verify(tmp_path).ok
    assert os.path.exists(tmp_path / ".venturalitica" / "trace_latest.json")
