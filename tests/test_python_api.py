"""The Python package: vl.enforce / monitor / scan, in this process and in a
plain script, against the real agent binary the package installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
import venturalitica as vl
from fairlearn.metrics import demographic_parity_ratio, equalized_odds_difference
from policies import DI_POLICY

TWO_CONTROLS = """\
- id: gender-di
  metric_key: disparate_impact
  operator: ">="
  threshold: 0.8
  input.dimension: gender
- id: gender-eqodds
  metric_key: equalized_odds_diff
  operator: "<="
  threshold: 0.2
  input.dimension: gender
  input.target: label
  input.prediction: prediction
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project directory as the working directory (evidence lands here)."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'api-tests'\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def events(root, kind=None):
    trace = root / ".venturalitica" / "trace.jsonl"
    if not trace.exists():
        return []
    bodies = [json.loads(line)["event"] for line in trace.read_text().splitlines() if line]
    return [b for b in bodies if kind is None or b["kind"] == kind]


def biased_frame(n=4000, seed=3):
    rng = np.random.default_rng(seed)
    gender = rng.choice(["female", "male"], n)
    label = rng.integers(0, 2, n)
    prediction = np.where(gender == "female", rng.random(n) < 0.35, rng.random(n) < 0.55).astype(int)
    return pd.DataFrame({"gender": gender, "label": label, "prediction": prediction, "income": rng.random(n)})


def test_pandas_polars_and_pyarrow_give_identical_results_matching_fairlearn(project):
    (project / "policy.yaml").write_text(TWO_CONTROLS)
    df = biased_frame()
    frames = {"pandas": df, "polars": pl.from_pandas(df), "pyarrow": pa.Table.from_pandas(df, preserve_index=False)}
    outs = {
        name: vl.enforce(data=f, policy="policy.yaml", target="prediction", strict=False) for name, f in frames.items()
    }
    pick = lambda r: [(c.control_id, c.status, c.actual_value, c.ci_low, c.ci_high) for c in r]  # noqa: E731
    assert pick(outs["pandas"]) == pick(outs["polars"]) == pick(outs["pyarrow"])
    fps = {r.data["fingerprint"] for r in outs.values()}
    assert len(fps) == 1
    # Only the columns the policy reads were used (income never sent).
    assert outs["pandas"].data["columns_used"] == ["gender", "label", "prediction"]

    r = outs["pandas"]
    di = demographic_parity_ratio(df.label, df.prediction, sensitive_features=df.gender)
    eo = equalized_odds_difference(df.label, df.prediction, sensitive_features=df.gender)
    assert r["gender-di"].actual_value == pytest.approx(di, abs=1e-12)
    assert r["gender-eqodds"].actual_value == pytest.approx(eo, abs=1e-12)
    assert r.passed is False and r["gender-di"].status == "fail"
    assert [c.control_id for c in r] == ["gender-di", "gender-eqodds"] and len(r) == 2
    assert r.to_dict()["controls"][0]["groups"][0]["group"] == "female"


def test_a_lazy_frame_a_dict_and_non_string_labels_work(project):
    (project / "p.yaml").write_text(DI_POLICY.format(mode="monitor"))
    data = {"g": ["a", "a", "b", "b", "b", "a"], "y": [1, 0, 1, 1, 0, 1]}
    expected = vl.enforce(data=pd.DataFrame(data), policy="p.yaml").to_dict()["controls"][0]["actual_value"]
    assert vl.enforce(data=data, policy="p.yaml")["gender-di"].actual_value == expected
    assert vl.enforce(data=pl.DataFrame(data).lazy(), policy="p.yaml")["gender-di"].actual_value == expected
    numbered = pd.DataFrame({0: data["g"], 1: data["y"]})
    assert vl.enforce(data=numbered, policy="p.yaml", g="0", y="1")["gender-di"].actual_value == expected


def test_missing_column_bad_policy_empty_frame_and_bad_input_raise_clear_errors(project):
    (project / "p.yaml").write_text(DI_POLICY.format(mode="block"))
    df = pd.DataFrame({"g": ["a", "b"], "outcome": [1, 0]})
    with pytest.raises(vl.DataError) as e:
        vl.enforce(data=df, policy="p.yaml", strict=True)
    assert 'variable "y" matches no column' in str(e.value) and "columns: g, outcome" in str(e.value)

    (project / "bad.yaml").write_text("- id: x\n  metric_key: disparate_impact\n  operator: '>='\n  threshold: [\n")
    # Strict, a policy that cannot be loaded raises (not strict, it is an
    # error result: tests/test_sdk_surface.py).
    with pytest.raises(vl.PolicyError) as e:
        vl.enforce(data=df, policy="bad.yaml", strict=True)
    assert "bad.yaml:" in str(e.value)
    (project / "typo.yaml").write_text(DI_POLICY.format(mode="block").replace("disparate_impact", "disparate_impakt"))
    # Strict, an unknown metric refuses the policy (not strict, it is that
    # control's error result: tests/test_sdk_surface.py).
    with pytest.raises(vl.PolicyError, match=r"typo.yaml:2:\d+: .*unknown metric_key"):
        vl.enforce(data=df, policy="typo.yaml", strict=True)
    # SDK scripts catch these as ValueError.
    with pytest.raises(ValueError, match="unknown metric_key"):
        vl.enforce(data=df, policy="typo.yaml", strict=True)
    with pytest.raises(ValueError, match="matches no column"):
        vl.enforce(data=df, policy="p.yaml", strict=True)
    with pytest.raises(vl.PolicyError, match="No such file"):
        vl.enforce(data=df, policy="missing.yaml", strict=True)

    with pytest.raises(vl.DataError, match="no rows to evaluate"):
        vl.enforce(data=df.iloc[:0], policy="p.yaml", y="outcome", strict=True)
    with pytest.raises(vl.DataError, match="one group"):
        vl.enforce(data=df[df.g == "a"], policy="p.yaml", y="outcome", strict=True)
    with pytest.raises(vl.DataError, match="duplicate column names: g"):
        vl.enforce(data=pd.concat([df, df[["g"]]], axis=1), policy="p.yaml", y="outcome")
    with pytest.raises(vl.DataError, match="cannot read a builtins.list"):
        vl.enforce(data=[1, 2, 3], policy="p.yaml")
    with pytest.raises(TypeError, match="policy="):
        vl.enforce(data=df)
    with pytest.raises(TypeError, match="as strings"):
        vl.enforce(data=df, policy="p.yaml", y=3)

    # strict=False: the control is an error result, which never passes; a
    # declared block that cannot be evaluated blocks.
    with pytest.raises(vl.ComplianceBlockError, match='could not be evaluated: variable "y"'):
        vl.enforce(data=df, policy="p.yaml", strict=False)
    (project / "p.yaml").write_text(DI_POLICY.format(mode="monitor"))
    r = vl.enforce(data=df, policy="p.yaml", strict=False)
    assert r["gender-di"].status == "error" and not r["gender-di"].passed and r.passed  # monitor mode
    assert r.summary == {"total": 1, "passed": 0, "failed": 0, "errors": 1}


def test_a_declared_block_raises_and_the_default_mode_returns(project):
    df = pd.DataFrame({"g": list("aaaabbbb"), "y": [1, 0, 0, 0, 1, 1, 1, 0]})
    (project / "block.yaml").write_text(DI_POLICY.format(mode="block"))
    with pytest.raises(vl.ComplianceBlockError) as e:
        vl.enforce(data=df, policy="block.yaml")
    assert "gender-di: disparate_impact = 0.333" in str(e.value)
    assert e.value.results.passed is False and e.value.results["gender-di"].status == "fail"

    undeclared = DI_POLICY.replace("  enforcement_mode: {mode}\n", "")
    (project / "default.yaml").write_text(undeclared)
    r = vl.enforce(data=df, policy="default.yaml")
    assert r.passed is False and r["gender-di"].enforcement_mode == "block"
    (project / "warn.yaml").write_text(DI_POLICY.format(mode="warn"))
    r = vl.enforce(data=df, policy="warn.yaml")
    assert r.passed is True and r["gender-di"].status == "fail"


def test_metrics_computed_elsewhere(project):
    (project / "p.yaml").write_text(DI_POLICY.format(mode="monitor"))
    assert vl.enforce(metrics={"gender-di": 0.91}, policy="p.yaml").passed
    r = vl.enforce(metrics={"disparate_impact": 0.5}, policy="p.yaml")
    assert r["gender-di"].status == "fail" and r["gender-di"].actual_value == 0.5
    with pytest.raises(vl.DataError, match="not a finite number"):
        vl.enforce(metrics={"gender-di": float("nan")}, policy="p.yaml", strict=True)
    with pytest.raises(vl.DataError, match="no value given"):
        vl.enforce(metrics={"other": 1.0}, policy="p.yaml", strict=True)
    with pytest.raises(vl.DataError, match="is not a number"):
        vl.enforce(metrics={"gender-di": "high"}, policy="p.yaml")


def test_evaluations_are_recorded_with_their_chart_unless_told_not_to(project):
    (project / "p.yaml").write_text(DI_POLICY.format(mode="monitor"))
    df = pd.DataFrame({"g": list("aabb"), "y": [1, 0, 1, 1]})
    vl.enforce(data=df, policy="p.yaml")
    vl.enforce(data=df, policy="p.yaml", record=False)
    recorded = events(project, "enforce")
    assert len(recorded) == 1
    assert recorded[0]["payload"]["origin"] == "python"
    assert recorded[0]["payload"]["results"]["data"]["source"] == "pandas.DataFrame (4 rows x 2 columns)"
    charts = list((project / ".venturalitica" / "charts").glob("*.svg"))
    assert len(charts) == 1
    ET.fromstring(charts[0].read_text())  # well-formed
    latest = json.loads((project / ".venturalitica" / "trace_latest.json").read_text())
    assert latest["evidence"]["chart"] == str(charts[0])
    verify = subprocess.run(
        [str(vl._binary.find_agent_binary()), "verify"], capture_output=True, text=True, check=False
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_rich_display_carries_mime_svg_and_escaped_html(project):
    policy = DI_POLICY.format(mode="monitor").replace("gender-di", "<b>di</b>")
    (project / "p.yaml").write_text(policy)
    df = pd.DataFrame({"g": ["<script>x</script>", "a", "a", "<script>x</script>"], "y": [1, 0, 1, 1]})
    r = vl.enforce(data=df, policy="p.yaml")
    bundle = r._repr_mimebundle_()
    assert set(bundle) == {
        "application/vnd.venturalitica.compliance+json",
        "image/svg+xml",
        "text/html",
        "text/plain",
    }
    assert bundle["application/vnd.venturalitica.compliance+json"] == r.to_dict()
    svg = ET.fromstring(bundle["image/svg+xml"])
    texts = " ".join(t.text.strip() for t in svg.iter("{http://www.w3.org/2000/svg}text") if t.text)
    assert "<script>x</script>" in texts  # drawn as text, not markup
    assert "<script>" not in bundle["image/svg+xml"] and "<script>" not in bundle["text/html"]
    assert "&lt;b&gt;di&lt;/b&gt;" in bundle["text/html"]
    # DI = 0.5 fails its control, which only monitors: the run passes.
    lines = bundle["text/plain"].splitlines()
    assert lines[0] == f"PASSED: {project / 'p.yaml'} (0/1 passed)"
    assert lines[1].startswith("  FAIL  <b>di</b>: disparate_impact = 0.5 (needs >= 0.8")


def test_monitor_measures_a_block_and_records_it(project):
    before = time.process_time()
    with vl.monitor("training_run_v1") as m:
        sum(i * i for i in range(3_000_000))
    burned = time.process_time() - before
    assert m.error is None
    assert m.duration_s > 0 and m.energy_j > 0 and m.cpu_j > 0 and m.ram_j > 0
    # With the sources pinned (conftest), the documented models, exactly.
    r, basis = m.report, m.report["basis"]
    assert m.cpu_j == pytest.approx(basis["cpu_tdp"]["watts"] * r["cpu_s"] / basis["logical_cpus"], rel=1e-12)
    # Against oracles outside the agent: this process's CPU clock around the
    # block (the monitor's own start and finish inside it; the measured tree
    # also holds the agent child serving them: milliseconds, 50 ms allowed for
    # a slow or busy host) and Python's CPU count.
    assert basis["logical_cpus"] == os.cpu_count()
    assert burned - 0.1 <= r["cpu_s"] <= burned + 0.05, (burned, r["cpu_s"])
    watts_per_cpu = basis["cpu_tdp"]["watts"] / os.cpu_count()
    assert watts_per_cpu * (burned - 0.1) <= m.cpu_j <= watts_per_cpu * (burned + 0.05)
    ram = basis["ram_w_per_gb"]["value"] * r["mean_rss_bytes"] / 1e9 * r["wall_s"]
    assert m.ram_j == pytest.approx(ram, rel=1e-7)  # the report rounds the mean RSS to whole bytes
    assert m.energy_j == pytest.approx(m.cpu_j + m.ram_j + (m.gpu_j or 0.0), rel=1e-12)
    assert m.co2e_g == pytest.approx(m.energy_j / 3.6e6 * basis["grid"]["g_per_kwh"] * basis["pue"]["value"])
    assert m.co2e_g > 0 and m.peak_rss_mb > 10
    assert m.gpu_j is None  # no GPU here: absent, not an error
    assert m.report["cpu"]["method"] == "tdp-model"  # sources pinned in conftest
    low, high = m.energy_band_j
    assert low < m.energy_j < high
    # The kernel's own CPU clock: nanoseconds, no tick band (nothing reaped).
    assert m.report["basis"]["cpu_time"]["quantum_s"] == 0.0
    assert m.report["cpu"]["low_j"] == pytest.approx(m.cpu_j * 0.5)
    (recorded,) = events(project, "monitor")
    assert recorded["payload"]["name"] == "training_run_v1"
    assert recorded["payload"]["energy"]["total_j"] == m.energy_j

    calls = []

    @vl.monitor("step")
    def step(n):
        calls.append(n)
        return sum(range(n))

    assert step(10) == 45 and step(20) == 190
    assert [e["payload"]["name"] for e in events(project, "monitor")] == ["training_run_v1", "step", "step"]


def test_monitor_runs_the_block_when_energy_cannot_be_measured(project):
    (project / "pyproject.toml").write_text("[project]\nname = 'x'\n[tool.venturalitica]\npue = 'high'\n")
    # The script's own agent reads the energy settings when it starts.
    script = project / "run.py"
    script.write_text(
        textwrap.dedent("""
        import venturalitica as vl
        with vl.monitor("fit") as m:
            total = sum(range(1000))
        print(total, m.energy_j, m.error)
        """)
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=False, cwd=project)
    assert out.returncode == 0, out.stderr
    total, energy, error = out.stdout.split(" ", 2)
    assert total == "499500" and energy == "None" and "pue" in error


def test_scan_writes_trace_latest_and_reports_passed(project):
    (project / "p.yaml").write_text(DI_POLICY.format(mode="block"))
    vl.enforce(data=pd.DataFrame({"g": list("aabb"), "y": [1, 1, 1, 1]}), policy="p.yaml")
    audit = vl.scan(project_root=".")
    assert audit.passed is True
    assert audit.trace_latest == project / ".venturalitica" / "trace_latest.json"
    assert audit.trace_latest.exists() and audit.bom.exists()
    assert [c["control_id"] for c in audit.controls] == ["gender-di"]
    with pytest.raises(vl.ComplianceBlockError):
        vl.enforce(data=pd.DataFrame({"g": list("aabb"), "y": [0, 0, 1, 1]}), policy="p.yaml")
    assert vl.scan(project_root=str(project)).passed is False


def test_a_plain_script_starts_its_own_agent_and_leaves_none_behind(project):
    # No enforcement_mode: block by default, which fails without raising.
    (project / "p.yaml").write_text(DI_POLICY.replace("  enforcement_mode: {mode}\n", ""))
    script = project / "train.py"
    script.write_text(
        textwrap.dedent("""
        import json, pandas as pd
        import venturalitica as vl
        from venturalitica import _bridge
        df = pd.DataFrame({"g": list("aabb"), "y": [1, 0, 1, 1]})
        results = vl.enforce(data=df, policy="p.yaml")
        with vl.monitor("training_run_v1"):
            sum(range(10**6))
        audit = vl.scan(project_root=".")
        agent = _bridge.agent()
        print(json.dumps({"passed": results.passed, "audit": audit.passed, "spawned": agent.spawned,
                          "agent_pid": agent._process.pid}))
        """)
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENTURALITICA_AGENT")}
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=False, cwd=project, env=env
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["passed"] is False and report["audit"] is False and report["spawned"] is True
    assert [e["kind"] for e in events(project)] == ["enforce", "monitor", "scan"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and os.path.exists(f"/proc/{report['agent_pid']}"):
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{report['agent_pid']}"), "the script's agent outlived it"


def test_the_agent_dies_with_a_killed_script(project):
    script = project / "hang.py"
    script.write_text(
        "import time, venturalitica as vl\nfrom venturalitica import _bridge\n"
        "print(_bridge.agent()._process.pid, flush=True)\ntime.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=project)
    try:
        agent_pid = int(proc.stdout.readline())
        assert os.path.exists(f"/proc/{agent_pid}")
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and os.path.exists(f"/proc/{agent_pid}"):
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{agent_pid}")


def test_a_forged_reply_is_refused(project):
    from venturalitica import _bridge

    real = _bridge.agent()
    forged = _bridge.Agent(real.endpoint, "not-the-key")
    try:
        with pytest.raises(vl.AgentError, match="no answer|bad signature"):
            os.environ["VENTURALITICA_AGENT_TIMEOUT"] = "2"
            forged.request("ping")
    finally:
        os.environ.pop("VENTURALITICA_AGENT_TIMEOUT", None)
        forged._process = None
        forged.close()
    assert real.request("ping")["agent"].startswith("venturalitica ")


def test_verify_reports_an_intact_and_an_edited_trail(project):
    (project / "p.yaml").write_text(DI_POLICY.format(mode="monitor"))
    vl.enforce(data=pd.DataFrame({"g": list("aabb"), "y": [1, 0, 1, 1]}), policy="p.yaml")
    report = vl.verify(project_root=".")
    assert report.ok and report.events == 1 and repr(report).startswith("intact: 1 events")
    trace = project / ".venturalitica" / "trace.jsonl"
    trace.write_text(trace.read_text().replace('"actual_value":0.5', '"actual_value":0.9'))
    report = vl.verify(project_root=str(project))
    assert not report.ok and report.findings and repr(report).startswith("ALTERED")
    full = vl.verify(project_root=str(project), full=True)
    assert full.findings == report.findings and full.checkpoint is None
