"""Results in the tracker run the user already has, as the SDK's
``auto_log`` logs them: a real ``mlflow server`` (read back with
``MlflowClient``) and W&B in offline mode (read back from its run file),
from a script, from a notebook cell through the proxied kernel, and from
``wrap``; with the switch off, nothing."""

from __future__ import annotations

import json
import subprocess
import textwrap
import warnings
from pathlib import Path

from kernel_env import run_cell
from mlflow.tracking import MlflowClient
from test_trackers import _wandb_records, run_script

FRAME = """\
import pandas as pd
df = pd.DataFrame({
    "target": [1, 0, 1, 1, 0, 1, 0, 0, 1, 1],
    "sex": ["f", "f", "f", "f", "f", "m", "m", "m", "m", "m"],
})
"""

CONTROL = "di-gender"
POLICY = f"""\
- id: {CONTROL}
  description: Approval rates across genders
  metric_key: disparate_impact
  operator: ">="
  threshold: 0.5
  input.dimension: gender
  input.target: target
"""


def _script(root: Path, body: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    (root / "policy.yaml").write_text(POLICY)
    (root / "pyproject.toml").write_text("[project]\nname = 'runs'\n")
    return run_script(root, "run.py", FRAME + textwrap.dedent(body), env)


def _trail(root: Path) -> list[dict]:
    lines = (root / ".venturalitica" / "trace.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


MLFLOW_RUN = """
import mlflow, os
import venturalitica as vl
mlflow.set_tracking_uri(os.environ["TRACKING_URI"])
mlflow.set_experiment(os.environ["EXPERIMENT"])
with mlflow.start_run() as run:
    results = vl.enforce(df, policy="policy.yaml", gender="sex")
    print(run.info.run_id)
"""


def _run(client: MlflowClient, experiment: str):
    (run,) = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    return run


def test_enforce_in_an_active_mlflow_run_logs_what_the_sdk_logs_and_the_trail_anchor(mlflow_server, tmp_path, vl_bin):
    _script(tmp_path, MLFLOW_RUN, {"TRACKING_URI": mlflow_server, "EXPERIMENT": "active-run"})
    client = MlflowClient(tracking_uri=mlflow_server)
    run = _run(client, "active-run")
    event = _trail(tmp_path)[-1]
    results = event["event"]["payload"]["results"]
    (control,) = results["controls"]
    verdict = "PASS" if control["passed"] else "FAIL"
    assert run.data.metrics[f"assurance.{CONTROL}.score"] == (1.0 if control["passed"] else 0.0)
    assert run.data.tags[f"assurance.{CONTROL}"] == verdict
    assert run.data.tags["assurance.overall"] == ("PASS" if results["passed"] else "FAIL")
    # What only we log: the policy's hash and the evaluation's place in the trail.
    assert run.data.tags["venturalitica.policy_sha256"] == results["policy"]["sha256"]
    assert run.data.tags["venturalitica.evidence"] == f"{event['seq']}:{event['hash']}"
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"assurance_report.md", "assurance_chart.svg"} <= names
    report = Path(client.download_artifacts(run.info.run_id, "assurance_report.md", str(tmp_path / "dl"))).read_text()
    assert f"Control {CONTROL.replace('-', chr(92) + '-')}" in report and verdict in report
    svg = Path(client.download_artifacts(run.info.run_id, "assurance_chart.svg", str(tmp_path / "dl"))).read_text()
    assert svg.startswith("<svg")

    # The event names the run; `export mlflow` writes the session's own run
    # (no assurance.* metrics: nothing counted twice) and links it to this one.
    assert event["event"]["payload"]["tracker_runs"] == [
        {"tracker": "mlflow", "run_id": run.info.run_id, "tracking_uri": mlflow_server}
    ]
    export = subprocess.run(
        [str(vl_bin), "export", "mlflow", "--tracking-uri", mlflow_server, "--experiment", "sessions"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert export.returncode == 0, export.stderr
    session = _run(client, "sessions")
    assert session.data.tags["venturalitica.user_runs"] == run.info.run_id
    assert not [k for k in session.data.metrics if k.startswith("assurance.")]


def test_with_the_switch_off_the_run_gets_nothing(mlflow_server, tmp_path):
    _script(
        tmp_path,
        MLFLOW_RUN,
        {"TRACKING_URI": mlflow_server, "EXPERIMENT": "switched-off", "VENTURALITICA_TRACKERS": "off"},
    )
    client = MlflowClient(tracking_uri=mlflow_server)
    run = _run(client, "switched-off")
    assert not [k for k in run.data.metrics if k.startswith("assurance.")]
    assert not [k for k in run.data.tags if k.startswith(("assurance.", "venturalitica."))]
    assert not client.list_artifacts(run.info.run_id)
    # The evaluation itself was recorded as always.
    assert _trail(tmp_path)[-1]["event"]["kind"] == "enforce"
    # And the argument turns it off too.
    _script(
        tmp_path,
        MLFLOW_RUN.replace('gender="sex")', 'gender="sex", trackers=False)'),
        {"TRACKING_URI": mlflow_server, "EXPERIMENT": "argument-off"},
    )
    assert not client.list_artifacts(_run(client, "argument-off").info.run_id)


def test_a_notebook_cell_in_an_active_run_logs_to_it_through_the_proxied_kernel(kernel_env, mlflow_server):
    (kernel_env.project / "policy.yaml").write_text(POLICY)
    with kernel_env.kernel() as (_, kc):
        for code in (
            FRAME,
            f"import mlflow\nmlflow.set_tracking_uri({mlflow_server!r})\nmlflow.set_experiment('notebook-run')",
            "%load_ext venturalitica\nrun = mlflow.start_run()",
            "%vl_enforce df policy=policy.yaml gender=sex",
            "mlflow.end_run()",
        ):
            reply, _ = run_cell(kc, code)
            assert reply["content"]["status"] == "ok", reply["content"]
    client = MlflowClient(tracking_uri=mlflow_server)
    run = _run(client, "notebook-run")
    assert f"assurance.{CONTROL}.score" in run.data.metrics
    (enforce,) = kernel_env.events("enforce")
    assert run.data.tags["venturalitica.policy_sha256"] == enforce["payload"]["results"]["policy"]["sha256"]


def test_wrap_keeps_the_policys_variables_from_a_pipeline_and_logs_the_policy_snapshot(mlflow_server, tmp_path):
    """The samples' 04 script: ``Pipeline.fit(X, y, audit_data=..., gender=...)``.
    scikit-learn's Pipeline takes ``**params`` and refuses ``gender``; the
    wrapper keeps the policy's variables for the audit."""
    _script(
        tmp_path,
        """
        import mlflow, os
        import venturalitica as vl
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler
        df["x"] = range(len(df))
        mlflow.set_tracking_uri(os.environ["TRACKING_URI"])
        mlflow.set_experiment("wrapped")
        pipeline = vl.wrap(Pipeline([("s", StandardScaler()), ("m", LogisticRegression())]), policy="policy.yaml")
        with mlflow.start_run():
            pipeline.fit(df[["x"]], df["target"], audit_data=df, gender="sex")
            pipeline.predict(df[["x"]], audit_data=df, gender="sex")
        assert len(pipeline.last_audit_results) == 1
        """,
        {"TRACKING_URI": mlflow_server},
    )
    client = MlflowClient(tracking_uri=mlflow_server)
    run = _run(client, "wrapped")
    assert [a.path for a in client.list_artifacts(run.info.run_id, "policy_snapshot")] == [
        "policy_snapshot/policy.yaml"
    ]
    assert f"assurance.{CONTROL}.score" in run.data.metrics
    # fit and predict: two audits, two evaluations in the trail.
    assert [e["event"]["kind"] for e in _trail(tmp_path)] == ["enforce", "enforce"]


def test_wandb_offline_run_gets_the_sdk_metrics_summary_and_report(tmp_path):
    _script(
        tmp_path,
        """
        import wandb
        import venturalitica as vl
        run = wandb.init(project="runs")
        vl.enforce(df, policy="policy.yaml", gender="sex")
        print(run.id)
        wandb.finish()
        """,
        {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DIR": str(tmp_path)},
    )
    (run_file,) = (tmp_path / "wandb").glob("offline-run-*/run-*.wandb")
    run_id = run_file.stem.removeprefix("run-")
    records = _wandb_records(run_file)
    history = {
        (item.key or "/".join(item.nested_key)): json.loads(item.value_json)
        for r in records
        if r.WhichOneof("record_type") == "history"
        for item in r.history.item
    }
    summary = {
        (item.key or "/".join(item.nested_key)): json.loads(item.value_json)
        for r in records
        if r.WhichOneof("record_type") == "summary"
        for item in r.summary.update
    }
    event = _trail(tmp_path)[-1]
    (control,) = event["event"]["payload"]["results"]["controls"]
    assert history[f"assurance.{CONTROL}.score"] == (1.0 if control["passed"] else 0.0)
    assert summary[f"assurance.{CONTROL}"] == ("PASS" if control["passed"] else "FAIL")
    assert summary["venturalitica.evidence"] == f"{event['seq']}:{event['hash']}"
    (artifact,) = [r.artifact for r in records if r.WhichOneof("record_type") == "artifact"]
    assert artifact.name == f"gov-report-{run_id}" and artifact.type == "assurance_report"
    assert {e.path for e in artifact.manifest.contents} == {"assurance_report.md", "assurance_chart.svg"}


def test_a_tracker_that_fails_is_said_once_and_never_fails_the_evaluation(tmp_path, monkeypatch):
    """A control id MLflow refuses as a metric name: the evaluation stands,
    and the failure is one warning however often it happens."""
    import mlflow
    import venturalitica as vl
    from venturalitica import _trackers

    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'failing'\n")
    monkeypatch.setattr(_trackers, "_warned", set())
    policy = POLICY.replace(CONTROL, "di gender!?")
    (tmp_path / "policy.yaml").write_text(policy)
    namespace: dict = {}
    exec(FRAME, namespace)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    with mlflow.start_run(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = vl.enforce(namespace["df"], policy="policy.yaml", gender="sex")
        second = vl.enforce(namespace["df"], policy="policy.yaml", gender="sex")
    assert len(first) == len(second) == 1
    said = [w for w in caught if "not logged to the active MLflow run" in str(w.message)]
    assert len(said) == 1, [str(w.message) for w in caught]


def test_metric_metadata_has_the_sdks_name_and_shape():
    from venturalitica.metrics import METRIC_METADATA, METRIC_REGISTRY

    assert set(METRIC_REGISTRY) <= set(METRIC_METADATA)
    dp = METRIC_METADATA["demographic_parity_diff"]
    assert dp["category"] == "fairness" and dp["ideal_value"] == 0.0 and dp["scale"] == (0.0, 1.0)
    assert {"name", "description", "category", "required_roles", "ideal_value", "scale"} <= set(dp)
    assert METRIC_METADATA["accuracy_score"]["ideal_value"] == 1.0
