"""`venturalitica ui`: the dashboard's routes over HTTP against the real
binary: pages, live updates, the token, path traversal, escaping."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from policies import DI_POLICY

EVIL = "<script>alert(1)</script>"


@contextmanager
def dashboard(vl_bin: Path, root: Path, *args: str):
    """Runs `venturalitica ui --port 0` and yields its printed URL."""
    proc = subprocess.Popen(
        [str(vl_bin), "ui", "--port", "0", "--root", str(root), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        match = re.search(r"(http://\S+)", line)
        assert match, f"no URL in {line!r}; stderr: {proc.stderr.read() if proc.poll() is not None else ''}"
        yield match.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def get(url: str, headers: dict | None = None) -> tuple[int, str, dict]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


@pytest.fixture
def project(vl, tmp_path):
    """A store with an evaluation whose group and column names are hostile,
    a monitor window and a scan."""
    (tmp_path / "p.yaml").write_text(
        DI_POLICY.format(mode="block")
        .replace("gender-di", "di-<b>x</b>")
        .replace("input.dimension: g", f"input.dimension: '{EVIL}'")
    )
    (tmp_path / "d.csv").write_text(f'"{EVIL}",y\n' + "a,1\na,0\nb,1\nb,1\n" + '"<img src=x onerror=alert(2)>",1\n')
    vl("enforce", "--data", "d.csv", "--policy", "p.yaml")
    vl("monitor", "--name", "train <b>", "--", "true")
    vl("scan")
    return tmp_path


def test_every_page_renders_and_user_strings_are_inert(vl_bin, project):
    with dashboard(vl_bin, project) as url:
        assert url.startswith("http://127.0.0.1:")
        base = url.rstrip("/")
        for path, marker in [
            ("/", "intact: 3 events"),
            ("/graph", "<svg"),
            ("/policies", "Policy versions"),
            ("/energy", "train &lt;b&gt;"),
            ("/report", "Sign-off"),
            ("/event/1", "Payload"),
        ]:
            status, body, headers = get(base + path)
            assert status == 200, (path, body[:300])
            assert marker in body, (path, marker)
            assert "<script>alert" not in body and "<img src=x" not in body, path
            assert "script-src 'self'" in headers["content-security-policy"]
            assert "render;dur=" in headers["server-timing"]
        _, graph, _ = get(base + "/graph")
        assert 'href="/graph?eval=1#details"' in graph
        sha = re.search(r'href="/policy/([0-9a-f]{64})"', graph).group(1)
        # The opened evaluation links its control to the line in the stored policy text.
        _, opened, _ = get(base + "/graph?eval=1")
        assert f'href="/policy/{sha}#control-di-&lt;b&gt;x&lt;/b&gt;"' in opened
        status, text, _ = get(base + f"/policy/{sha}")
        assert status == 200 and 'id="control-di-&lt;b&gt;x&lt;/b&gt;"' in text and "its hash matches" in text
        assert "<script>alert" not in text and "<b>x</b>" not in text
        # A stored copy that no longer matches its name is not shown as the policy.
        copy = project / ".venturalitica" / "policies" / f"{sha}.yaml"
        copy.write_text(copy.read_text().replace("0.8", "0.1"))
        _, text, _ = get(base + f"/policy/{sha}")
        assert "threshold: 0.1" not in text and "not the one the evaluations recorded" in text
        # A filter that cannot be read says so instead of filtering nothing quietly.
        status, bad, _ = get(base + "/graph?data=zz")
        assert status == 200 and "is not a fingerprint" in bad
        _, policies, _ = get(base + "/policies")
        assert "di-&lt;b&gt;x&lt;/b&gt;" in policies
        _, event, _ = get(base + "/event/1")
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in event
        assert '<img alt="evidence chart" src="/charts/1.svg">' in event
        status, svg, headers = get(base + "/charts/1.svg")
        assert status == 200 and headers["content-type"] == "image/svg+xml" and "<script>" not in svg
        status, script, _ = get(base + "/static/app.js")
        assert status == 200 and "/api/head" in script


def test_no_path_leaves_the_store(vl_bin, project):
    (project / "secret.txt").write_text("do not serve")
    with dashboard(vl_bin, project) as url:
        base = url.rstrip("/")
        for path in [
            "/charts/../trace.jsonl",
            "/charts/..%2Ftrace.jsonl",
            "/charts/..%2F..%2Fsecret.txt",
            "/charts/1.svg%00.txt",
            "/charts/%2e%2e/%2e%2e/secret.txt",
            "/charts/-1.svg",
            "/event/..%2F1",
            "/policy/..%2Ftrace.jsonl",
            "/policy/..%2F..%2Fsecret.txt",
            "/policy/" + "0" * 64,
            "/static/../secret.txt",
            "/../secret.txt",
        ]:
            status, body, _ = get(base + path)
            assert status == 404, (path, status)
            assert "do not serve" not in body and '"seq"' not in body


def test_pages_follow_the_trail_as_it_grows(vl_bin, vl, project):
    with dashboard(vl_bin, project) as url:
        base = url.rstrip("/")
        head = json.loads(get(base + "/api/head")[1])
        assert head == {"seq": 3, "events": 3, "chain_ok": True}
        vl("monitor", "--name", "second", "--", "true")
        head = json.loads(get(base + "/api/head")[1])
        assert head["seq"] == 4
        _, energy, _ = get(base + "/energy")
        assert "second" in energy
        # Each total shows its error band under it.
        assert 'title="error band, J"' in energy
        events = json.loads(get(base + "/api/events?after=3")[1])
        assert [e["kind"] for e in events["events"]] == ["monitor"]


def test_an_edited_trail_shows_as_altered(vl_bin, project):
    trace = project / ".venturalitica" / "trace.jsonl"
    trace.write_text(trace.read_text().replace('"train <b>"', '"edited"'))
    with dashboard(vl_bin, project) as url:
        _, body, _ = get(url)
        assert "altered" in body and "PASS" not in body.split("altered")[0][-200:]
        assert json.loads(get(url.rstrip("/") + "/api/head")[1])["chain_ok"] is False


def test_other_hosts_need_the_printed_token(vl_bin, project):
    with dashboard(vl_bin, project, "--host", "0.0.0.0") as url:
        token = re.search(r"token=([0-9a-f]{64})", url).group(1)
        base = re.sub(r"/\?token=.*", "", url).replace("0.0.0.0", "127.0.0.1")
        for path in ["/", "/api/head", "/charts/1.svg", "/static/app.js", "/nope"]:
            assert get(base + path)[0] == 401, path
        assert get(base + "/?token=wrong")[0] == 401
        status, _, headers = get(f"{base}/?token={token}")
        assert status == 200
        assert headers["set-cookie"].startswith(f"vl_token={token};") and "HttpOnly" in headers["set-cookie"]
        assert get(base + "/api/head", {"Cookie": f"vl_token={token}"})[0] == 200
        assert get(base + "/policies", {"Authorization": f"Bearer {token}"})[0] == 200


def test_a_foreign_host_is_refused_on_loopback(vl_bin, project):
    """DNS rebinding: a page on evil.example that resolves its name to
    127.0.0.1 sends `Host: evil.example`; only loopback names are answered."""
    with dashboard(vl_bin, project) as url:
        base = url.rstrip("/")
        port = base.rsplit(":", 1)[1]
        for host in ["evil.example", f"evil.example:{port}", f"127.0.0.1.evil.example:{port}", "10.1.2.3"]:
            for path in ["/", "/api/events", "/api/head", "/charts/1.svg"]:
                status, body, _ = get(base + path, {"Host": host})
                assert status == 403, (host, path, status)
                assert "trail" not in body and "seq" not in body
        for host in [f"localhost:{port}", f"127.0.0.1:{port}", "LOCALHOST"]:
            status, body, _ = get(base + "/api/events", {"Host": host})
            assert status == 200 and json.loads(body)["events"], host
    with dashboard(vl_bin, project, "--allow-host", "dash.internal") as url:
        assert get(url.rstrip("/") + "/api/head", {"Host": "dash.internal:443"})[0] == 200
        assert get(url.rstrip("/") + "/api/head", {"Host": "evil.example"})[0] == 403


def test_the_overview_names_the_signing_key(vl_bin, vl, project):
    key = json.loads(vl("verify", "--json").stdout)["signers"][0]["key_id"]
    with dashboard(vl_bin, project) as url:
        _, body, _ = get(url)
        assert "intact" in body and f"signed by {key}" in body


def test_no_store_is_a_clear_error(vl_bin, tmp_path):
    proc = subprocess.run(
        [str(vl_bin), "ui", "--port", "0", "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2 and "no evidence store" in proc.stderr
