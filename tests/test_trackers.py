"""The tutorial's MLflow and W&B snippets (../shared/seed/level2_integrator.md),
verbatim, with the real mlflow (sqlite backend) and wandb (offline) packages."""

from __future__ import annotations

import base64
import glob
import hashlib
import json
import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# A model trained on the German Credit data: the snippets' X_test, model, ...
PREAMBLE = """\
import os
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

credit = pd.read_csv(os.environ["VL_CREDIT_CSV"])
# Attribute2: duration (months), Attribute5: credit amount; class 1 = good credit.
X = credit[["Attribute2", "Attribute5", "age"]].assign(gender=credit["gender"])
y = (credit["class"] == 1).astype(int)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)

class Model(LogisticRegression):
    # The protected attribute is kept for the audit, not used to predict.
    def fit(self, X, y):
        return super().fit(X.drop(columns="gender"), y)

    def predict(self, X):
        return super().predict(X.drop(columns="gender"))

model = Model(max_iter=1000).fit(X_train, y_train)
"""

MY_POLICY = """\
- id: gender-disparate-impact
  description: Approval rates across genders (four-fifths rule)
  metric_key: disparate_impact
  operator: ">"
  threshold: 0.5
  input.dimension: gender
  input.target: target
"""

MLFLOW_SNIPPET = """\
import mlflow
import venturalitica as vl

mlflow.set_tracking_uri("sqlite:///mlflow.db")
mlflow.set_experiment("loan-credit-scoring")

with mlflow.start_run():
    # ... training code ...
    # model = train(X_train, y_train)

    # Run Audit on PREDICTIONS
    results = vl.enforce(
        data=X_test.assign(prediction=model.predict(X_test)),
        target="prediction",  # 🧠 MAPPING SHIFT: Now checking the Model, not just Data
        gender="gender",
        policy="my_policy.yaml"
    )

    # Log Compliance as Metrics
    mlflow.log_dict(results.to_dict(), "compliance_trace.json")
    mlflow.log_metric("compliance_score", 1.0 if results.passed else 0.0)

    if not results.passed:
        print("❌ Model is Biased. Do not deploy.")
"""

MONITOR_SNIPPET = """\
# 1. Start the Monitor (Green AI)
with vl.monitor("training_run_v1"):
    model.fit(X_train, y_train)
# Automatically logs CO2, RAM, and GPU usage.
"""

WANDB_SNIPPET = """\
import wandb
import venturalitica as vl

wandb.init(project="loan-credit-scoring")

# ... training code ...

# Run Audit
audit = vl.scan(project_root=".")

# Log Compliance as Artifacts
artifact = wandb.Artifact('compliance-trace', type='compliance')
artifact.add_file(".venturalitica/trace_latest.json")
wandb.log_artifact(artifact)

wandb.log({"compliance_score": 1.0 if audit.passed else 0.0})
"""


def run_script(root: Path, name: str, text: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Writes ``text`` to ``root/name`` and runs it there with this Python;
    it must exit 0."""
    script = root / name
    script.write_text(text)
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, **(env or {})},
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


@pytest.fixture
def tutorial(tmp_path):
    if not os.environ.get("VL_CREDIT_CSV"):
        pytest.fail("VL_CREDIT_CSV is not set; run the tests through scripts/test.sh, which fetches the data")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'loan-credit-scoring'\n")
    (tmp_path / "my_policy.yaml").write_text(MY_POLICY)

    def run(*parts: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return run_script(tmp_path, "tutorial.py", "\n".join(parts), env)

    run.root = tmp_path
    return run


def test_the_mlflow_snippet_verbatim(tutorial):
    tutorial(PREAMBLE, MLFLOW_SNIPPET, MONITOR_SNIPPET)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tutorial.root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("loan-credit-scoring")
    (run,) = client.search_runs([experiment.experiment_id])
    local = client.download_artifacts(run.info.run_id, "compliance_trace.json", str(tutorial.root / "dl"))
    trace = json.loads(Path(local).read_text())
    assert trace["schema_version"] == 1
    assert trace["data"]["mapping"] == {"gender": "gender", "target": "prediction"}
    (control,) = trace["controls"]
    assert control["id"] == "gender-disparate-impact" and control["status"] in ("pass", "fail")
    assert run.data.metrics["compliance_score"] == (1.0 if trace["passed"] else 0.0)

    # The same evaluation, and the monitor window, are in the evidence trail.
    lines = (tutorial.root / ".venturalitica" / "trace.jsonl").read_text().splitlines()
    events = [json.loads(line)["event"] for line in lines]
    assert [e["kind"] for e in events] == ["enforce", "monitor"]
    assert events[0]["payload"]["results"]["data"]["fingerprint"] == trace["data"]["fingerprint"]
    assert events[1]["payload"]["name"] == "training_run_v1" and events[1]["payload"]["energy"]["total_j"] > 0


def _wandb_records(path: Path) -> list:
    """The records of an offline run file: a 7-byte W&B header, then the
    LevelDB log format (32 KiB blocks; chunks of crc32, u16 length, type)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data, pos, pending, records = path.read_bytes(), 7, b"", []
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:
            pos += 32768 - pos % 32768  # block trailer padding
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        pending += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # FULL or LAST
            record = pb.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def test_the_wandb_snippet_verbatim_offline(tutorial):
    # Something to scan: a recorded evaluation of the model.
    audit = "vl.enforce(data=X_test.assign(prediction=model.predict(X_test)), target='prediction', "
    audit += "gender='gender', policy='my_policy.yaml')\n"
    tutorial(
        PREAMBLE,
        "import venturalitica as vl",
        audit,
        WANDB_SNIPPET,
        textwrap.dedent("""
        wandb.finish()
        print(audit.passed)
        """),
        env={"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DIR": str(tutorial.root)},
    )
    latest = tutorial.root / ".venturalitica" / "trace_latest.json"
    snapshot = json.loads(latest.read_text())
    assert snapshot["kind"] == "scan"
    (run_file,) = glob.glob(str(tutorial.root / "wandb" / "offline-run-*" / "run-*.wandb"))
    records = _wandb_records(Path(run_file))
    (artifact,) = [r.artifact for r in records if r.WhichOneof("record_type") == "artifact"]
    assert artifact.name == "compliance-trace" and artifact.type == "compliance"
    (entry,) = artifact.manifest.contents
    assert entry.path == "trace_latest.json"
    assert entry.digest == base64.b64encode(hashlib.md5(latest.read_bytes()).digest()).decode()
    logged = {
        (item.key or "/".join(item.nested_key)): json.loads(item.value_json)
        for r in records
        if r.WhichOneof("record_type") == "history"
        for item in r.history.item
    }
    assert logged["compliance_score"] == (1.0 if snapshot["passed"] else 0.0)
