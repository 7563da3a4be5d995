"""Results in the tracker runs the user already has.

Inside an active MLflow run (``mlflow.start_run()``) or W&B run
(``wandb.init()``), ``enforce`` logs what the Venturalitica SDK's
``auto_log`` logs, under the same names, so SDK users' dashboards keep
working: a metric ``assurance.<control id>.score`` (1.0 passed, 0.0 not)
per control, tags (W&B: summary keys) ``assurance.<control id>`` (``PASS``,
``FAIL``, or ``ERROR`` for a control that could not be evaluated) and
``assurance.overall``, and the report ``assurance_report.md`` (W&B: an
artifact ``gov-report-<run id>``). Beside them, what only this tool has:
the policy's SHA-256 and the evaluation's place in the signed trail
(``venturalitica.policy_sha256``, ``venturalitica.evidence``, ``SEQ:HASH``:
``venturalitica verify --head`` checks the run against the trail) and the
evidence chart, ``assurance_chart.svg``.

Only a tracker the user has imported is looked at (no import here), and
only its active run. ``trackers=False`` or ``VENTURALITICA_TRACKERS=off``
turns it off. A tracker that fails never fails the evaluation: the first
failure of each is said once, as a :class:`VenturaliticaWarning`.
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

from .errors import VenturaliticaWarning

ENV = "VENTURALITICA_TRACKERS"
OFF = ("off", "0", "false", "no")
_warned: set[str] = set()


def enabled(trackers: bool | str | None) -> bool:
    """``trackers`` when given (``%vl_enforce ... trackers=off`` gives a
    string), else on unless ``VENTURALITICA_TRACKERS`` is off."""
    if isinstance(trackers, str):
        return trackers.strip().lower() not in OFF
    if trackers is not None:
        return bool(trackers)
    return os.environ.get(ENV, "").strip().lower() not in OFF


def _verdict(control: Any) -> str:
    if control.status in ("error", "inconclusive"):
        return control.status.upper()
    return "PASS" if control.passed else "FAIL"


def report(results: Any) -> str:
    """The Markdown report the SDK logs, with each control's value and verdict."""
    lines = ["# Assurance Compliance Report", ""]
    for c in results:
        value = "n/a" if c.actual_value is None else f"{c.actual_value:.4f}"
        lines += [
            f"### {'✅' if c.passed else '❌'} Control {_md(c.control_id)}: {_md(c.description or '')}",
            f"- **Metric**: `{c.metric_key}`",
            f"- **Threshold**: `{value} {c.operator} {c.threshold}`",
            f"- **Status**: {_verdict(c)}",
        ]
        if c.status in ("error", "inconclusive") and c.reason:
            lines.append(f"- **Why**: {_md(c.reason)}")
        lines.append("")
    return "\n".join(lines)


def _md(text: str) -> str:
    """User text in Markdown, its markup characters escaped."""
    return "".join(f"\\{ch}" if ch in "\\`*_{}[]<>()#+-.!|" else ch for ch in str(text))


def _fields(results: Any) -> tuple[dict[str, float], dict[str, str]]:
    scores = {f"assurance.{c.control_id}.score": 1.0 if c.passed else 0.0 for c in results}
    tags = {f"assurance.{c.control_id}": _verdict(c) for c in results}
    tags["assurance.overall"] = "PASS" if results.passed else "FAIL"
    tags["venturalitica.policy_sha256"] = results.policy.get("sha256") or ""
    if results.evidence:
        tags["venturalitica.evidence"] = results.evidence["anchor"]
    return scores, tags


def _failed(tracker: str, error: BaseException) -> None:
    if tracker not in _warned:
        _warned.add(tracker)
        warnings.warn(
            f"the results were not logged to the active {tracker} run ({type(error).__name__}: {error}); "
            f"the evaluation itself stands (set {ENV}=off to stop trying)",
            VenturaliticaWarning,
            stacklevel=4,
        )


def active_runs() -> dict[str, Any]:
    """The active run of each tracker the user imported: ``{"mlflow": run, "wandb": run}``."""
    runs = {}
    mlflow = sys.modules.get("mlflow")
    if mlflow is not None and hasattr(mlflow, "active_run"):
        try:
            run = mlflow.active_run()
        except Exception:  # noqa: BLE001 - a broken tracker must not break enforce
            run = None
        if run is not None:
            runs["mlflow"] = run
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        runs["wandb"] = wandb.run
    return runs


def run_refs(trackers: bool | str | None = None) -> list[dict[str, str]]:
    """The active runs, as the agent records them in the ``enforce`` event
    (``tracker_runs``): the MLflow export links its run to them."""
    if not enabled(trackers):
        return []
    refs = []
    for name, run in active_runs().items():
        try:
            if name == "mlflow":
                uri = sys.modules["mlflow"].get_tracking_uri()
                refs.append({"tracker": "mlflow", "run_id": run.info.run_id, "tracking_uri": str(uri)})
            else:
                refs.append({"tracker": "wandb", "run_id": str(run.id)})
        except Exception:  # noqa: BLE001 - a run we cannot name is not linked
            continue
    return refs


def log_results(results: Any, trackers: bool | None = None) -> list[str]:
    """Logs ``results`` (one policy's :class:`ComplianceResults`) to the
    active runs; returns the trackers it logged to."""
    if not enabled(trackers) or not len(results):
        return []
    runs = active_runs()
    if not runs:
        return []
    scores, tags = _fields(results)
    text = report(results)
    svg = results.svg()
    done = []
    if "mlflow" in runs:
        try:
            mlflow = sys.modules["mlflow"]
            mlflow.log_metrics(scores)
            mlflow.set_tags(tags)
            mlflow.log_text(text, "assurance_report.md")
            if svg:
                mlflow.log_text(svg, "assurance_chart.svg")
            done.append("mlflow")
        except Exception as e:  # noqa: BLE001
            _failed("MLflow", e)
    if "wandb" in runs:
        try:
            wandb = sys.modules["wandb"]
            run = runs["wandb"]
            run.log(scores)
            for key, value in tags.items():
                run.summary[key] = value
            with tempfile.TemporaryDirectory(prefix="vl-wandb-") as tmp:
                (Path(tmp) / "assurance_report.md").write_text(text, encoding="utf-8")
                artifact = wandb.Artifact(name=f"gov-report-{run.id}", type="assurance_report")
                artifact.add_file(str(Path(tmp) / "assurance_report.md"), name="assurance_report.md")
                if svg:
                    (Path(tmp) / "assurance_chart.svg").write_text(svg, encoding="utf-8")
                    artifact.add_file(str(Path(tmp) / "assurance_chart.svg"), name="assurance_chart.svg")
                run.log_artifact(artifact)
            done.append("wandb")
        except Exception as e:  # noqa: BLE001
            _failed("W&B", e)
    return done


def log_policies(paths: list[str], trackers: bool | None = None) -> None:
    """Logs the policy files into the active runs as ``policy_snapshot``
    artifacts, as the SDK's ``wrap`` does."""
    if not enabled(trackers):
        return
    runs = active_runs()
    files = [p for p in paths if Path(p).is_file()]
    if not runs or not files:
        return
    if "mlflow" in runs:
        try:
            for path in files:
                sys.modules["mlflow"].log_artifact(path, artifact_path="policy_snapshot")
        except Exception as e:  # noqa: BLE001
            _failed("MLflow", e)
    if "wandb" in runs:
        try:
            artifact = sys.modules["wandb"].Artifact("policy_snapshot", type="assurance")
            for path in files:
                artifact.add_file(path)
            runs["wandb"].log_artifact(artifact)
        except Exception as e:  # noqa: BLE001
            _failed("W&B", e)


def log_monitor(name: str, figures: dict[str, float | None], trackers: bool | None = None) -> None:
    """Logs a ``monitor`` window's figures as metrics ``monitor.<name>.<figure>``."""
    if not enabled(trackers):
        return
    metrics = {f"monitor.{name}.{k}": float(v) for k, v in figures.items() if v is not None}
    runs = active_runs()
    if not metrics or not runs:
        return
    if "mlflow" in runs:
        try:
            sys.modules["mlflow"].log_metrics(metrics)
        except Exception as e:  # noqa: BLE001
            _failed("MLflow", e)
    if "wandb" in runs:
        try:
            runs["wandb"].log(metrics)
        except Exception as e:  # noqa: BLE001
            _failed("W&B", e)
