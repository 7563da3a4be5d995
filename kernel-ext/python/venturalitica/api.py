"""The Python API: ``enforce``, ``monitor`` and ``scan``."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _display, _engines, _frames, _trackers
from ._bridge import agent
from .errors import ComplianceBlockError, DataError, VenturaliticaError, VenturaliticaWarning
from .results import ComplianceResults, PolicyResults, finite_or_none

MIME_ENERGY = "application/vnd.venturalitica.energy+json"


if TYPE_CHECKING:
    PolicySpec = str | os.PathLike | Mapping[str, Any]


def enforce(
    data: Any = None,
    policy: PolicySpec | Sequence[PolicySpec] | None = None,
    target: str | None = "target",
    prediction: str | None = None,
    metrics: Mapping[str, float] | None = None,
    strict: bool | None = None,
    record: bool = True,
    trackers: bool | None = None,
    decision: str | None = None,
    reference: str | None = None,
    **mapping: str,
) -> ComplianceResults | PolicyResults:
    """Evaluates ``policy`` on ``data`` (or on ``metrics`` computed elsewhere).

    ``data``: a pandas, polars or pyarrow frame (or anything with the Arrow
    stream or dataframe interchange protocol); only the columns the policy
    reads are sent to the agent. A PySpark DataFrame or a DuckDB relation
    stays where it is: the count tables are computed in Spark or DuckDB and
    only they are sent (docs/engines.md). ``target`` / ``prediction``: the columns
    bound to the policy's ``target`` / ``prediction`` variables; every other
    keyword maps a policy variable to a column (``gender="Attribute9"``).
    ``metrics``: values keyed by control id or metric key, checked against
    the thresholds instead of data. ``policy``: a file (YAML or JSON), a
    policy document as a dict (written once per content to the user's cache
    directory; the evidence keeps its text), or a list of either, which gives a
    :class:`PolicyResults` over all of them.

    The result is a list of :class:`ComplianceResult`, one per control, as in
    the Venturalitica SDK, that also looks controls up by id and knows its
    verdict (``.passed``).

    ``strict``: by default off, as in the SDK, unless the environment says
    ``CI=true`` or ``VENTURALITICA_STRICT=true`` (an explicit argument wins).
    Not strict, a control that cannot be evaluated (a missing column, one
    group only, an empty frame) is an ``error`` result in the list, never a
    pass, and is printed as a :class:`VenturaliticaWarning`; strict, it
    raises :class:`DataError`. A failed control whose policy declares
    ``enforcement_mode: block`` raises :class:`ComplianceBlockError`. ``record=False`` keeps the evaluation
    out of the evidence trail. Every evaluation is otherwise recorded in
    ``.venturalitica/`` with the policy text and the data fingerprint.

    ``trackers``: inside an active MLflow or W&B run the results are logged
    to it as the SDK logs them (``assurance.<control>.score`` and the rest,
    plus the policy's SHA-256 and the evaluation's ``SEQ:HASH`` in the
    trail; docs/mlflow.md). ``False`` (or ``VENTURALITICA_TRACKERS=off``)
    turns that off; a tracker that fails is warned about once, never raised.

    ``decision``: ``"interval"`` decides every control on its confidence
    interval (pass when all of it satisfies the rule, fail when none of it
    does, else the status ``inconclusive`` with ``rows_needed``, the rows
    that would settle it; docs/metrics.md); ``"point"`` on its value; by
    default as each control's ``decision`` prop says (``point`` when absent,
    the SDK's rule). An inconclusive control never passes: ``block`` raises
    for it, ``warn`` and ``monitor`` record it.

    ``reference``: the name of a reference recorded with :func:`reference`
    (or ``venturalitica reference``) that drift controls compare with when
    they name no ``input.reference`` (docs/metrics.md, "Drift").
    """
    if policy is None:
        raise TypeError("enforce() needs policy=, the path of a policy file (YAML or JSON)")
    strict = strict_mode(strict)
    if decision not in (None, "point", "interval"):
        raise ValueError(f"decision={decision!r}: expected 'point' or 'interval'")
    if isinstance(policy, (list, tuple)):
        if not policy:
            raise TypeError("enforce() got an empty list of policies")
        keywords = dict(
            target=target,
            prediction=prediction,
            metrics=metrics,
            strict=strict,
            record=record,
            trackers=trackers,
            decision=decision,
            reference=reference,
        )
        return PolicyResults([enforce(data, p, **keywords, **mapping) for p in policy])
    policy_path = policy_file(policy)
    columns = {"target": target, "prediction": prediction, **mapping}
    bad = {k: v for k, v in columns.items() if v is not None and not isinstance(v, str)}
    if bad:
        raise TypeError(f"variable mappings must name columns as strings: {bad}")
    columns = {k: v for k, v in columns.items() if v is not None}
    bridge = agent()
    runs = _trackers.run_refs(trackers)
    # What every enforce request carries, whatever the data.
    common = dict(
        policy=policy_path, record=record, strict=strict, decision=decision, reference=reference, tracker_runs=runs
    )
    if metrics is not None:
        if data is not None:
            raise TypeError("enforce() takes data= or metrics=, not both")
        values = {str(k): finite_or_none(_number(k, v)) for k, v in metrics.items()}
        raw = bridge.request("enforce", metrics=values, **common)
    elif data is None:
        raise TypeError("enforce() needs data= (a dataframe) or metrics= (a dict of values)")
    elif (engine := _engines.engine_for(data)) is not None:
        raw = _engines.rounds(bridge, "enforce_counts", engine, mapping=columns, **common)
    else:
        names = _frames.column_names(data)
        needed = bridge.request("columns", policy=policy_path, mapping=columns, columns=names, strict=strict)["columns"]
        payload = _frames.to_ipc(data, needed, names)
        raw = bridge.request("enforce", (payload,), mapping=columns, source=_frames.describe(data), **common)
    results = ComplianceResults(raw, chart=_chart)
    # Logged before a block raises: the run shows what failed.
    _trackers.log_results(results, trackers)
    _raise_for(results, strict)
    return results


def reference(
    data: Any,
    name: str,
    columns: Sequence[str] | None = None,
    bins: int | None = None,
) -> dict:
    """Records ``data`` as the reference named ``name`` that drift controls
    compare with (``input.reference: NAME``, or ``enforce(reference=NAME)``).

    Per column, only counts are kept: a numeric column's quantile bins
    (``bins``, 100 by default) with each bin's rows, sum, minimum and
    maximum; a categorical column's category counts. No row leaves the
    data: a Spark DataFrame or DuckDB relation is counted where it lives.
    The snapshot is kept under its SHA-256 in ``.venturalitica/references/``
    with a ``reference`` event in the trail, which ``verify`` checks.
    ``columns``: the columns to keep (all by default: then a column with
    no distribution, a date or an identifier with more than 10,000 values,
    is left out and listed in ``skipped`` with why; a column named here is
    never left out). Returns the name, the snapshot's SHA-256, its rows,
    each column's kind and what was skipped.
    """
    if not isinstance(name, str) or not name.strip():
        raise TypeError("reference() needs name=, the name drift controls give as input.reference")
    summarise = [str(c) for c in columns] if columns is not None else []
    if bins is not None and (isinstance(bins, bool) or not isinstance(bins, int)):
        raise TypeError(f"bins= takes a whole number, not {bins!r}")
    bridge = agent()
    fields = dict(name=name.strip(), summarise=summarise, bins=bins)
    if (engine := _engines.engine_for(data)) is not None:
        return _engines.rounds(bridge, "reference_counts", engine, **fields)
    names = _frames.column_names(data)
    missing = [c for c in summarise if c not in names]
    if missing:
        raise DataError(f"reference(): no column {missing[0]!r}; columns: {', '.join(names)}")
    payload = _frames.to_ipc(data, summarise or names, names)
    return bridge.request("reference", (payload,), source=_frames.describe(data), **fields)


STRICT_ENV = ("CI", "VENTURALITICA_STRICT")


def strict_mode(strict: bool | None) -> bool:
    """``strict`` when given; else on when ``CI`` or ``VENTURALITICA_STRICT``
    is ``true`` (as the SDK reads them), off otherwise."""
    if strict is not None:
        return bool(strict)
    return any(os.environ.get(name, "").strip().lower() == "true" for name in STRICT_ENV)


def policy_file(policy: PolicySpec) -> str:
    """The path of a policy; a dict is written, once per content, to
    ``$XDG_CACHE_HOME/venturalitica/inline-policies/`` (JSON is YAML, so
    every reader takes it). Not under the working directory: a new
    ``.venturalitica/`` there would move the project root of a notebook
    that runs in a subdirectory."""
    if isinstance(policy, Mapping):
        text = json.dumps(policy, indent=2, sort_keys=False, default=str) + "\n"
        digest = hashlib.sha256(text.encode()).hexdigest()
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        path = cache / "venturalitica" / "inline-policies" / f"policy-{digest}.json"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(text)
            os.replace(tmp, path)
        return str(path)
    if not isinstance(policy, (str, os.PathLike)):
        raise TypeError(f"policy= takes a path, a dict or a list of them, not {type(policy).__name__}")
    return os.path.abspath(os.fspath(policy))


def _number(key: Any, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise DataError(f"metric {key!r}: {value!r} is not a number") from None


def _chart(results: dict) -> str:
    return agent().request("chart", results=results)["svg"]


def _raise_for(results: ComplianceResults, strict: bool) -> None:
    errors = [c for c in results if c.status == "error"]
    if strict and errors:
        lines = "\n".join(f"  {c.control_id} ({c.metric_key}): {c.reason}" for c in errors)
        raise DataError(
            f"{len(errors)} control(s) could not be evaluated (strict=False returns them as error results):\n{lines}"
        )
    for c in errors:
        # Not strict is never silent: the error result is in the list and
        # in the evidence, and said here.
        warnings.warn(
            f"control {c.control_id} ({c.metric_key}) could not be evaluated: {c.reason}",
            VenturaliticaWarning,
            stacklevel=3,
        )
    declared = {c["id"] for c in results.to_dict()["controls"] if c.get("enforcement_declared")}
    blocked = [c for c in results if c.enforcement_mode == "block" and c.control_id in declared and not c.passed]
    if blocked:
        lines = "\n".join(
            f"  {c.control_id}: {c.metric_key} = {c.actual_value} (needs {c.operator} {c.threshold})"
            if c.status == "fail"
            else f"  {c.control_id}: inconclusive: {c.reason}"
            if c.status == "inconclusive"
            else f"  {c.control_id}: could not be evaluated: {c.reason}"
            for c in blocked
        )
        raise ComplianceBlockError(f"blocking control(s) failed:\n{lines}", results)


class monitor(contextlib.ContextDecorator):
    """Measures a block's energy (CPU, RAM, GPU), CO2e, peak memory and
    duration, and records a ``monitor`` event in the evidence trail.

    >>> with vl.monitor("training_run_v1", label="baseline",
    ...                 inputs=["data/train.csv"], outputs=["model.pkl"]) as m:
    ...     model.fit(X, y)
    >>> m.energy_j, m.co2e_g, m.peak_rss_mb, m.artifacts

    The Venturalitica SDK's signature: ``name`` (default ``"Training
    Task"``), ``label``, and ``inputs`` / ``outputs``, file paths whose
    SHA-256 and size are recorded in the event (inputs when the block
    starts, outputs when it ends; a file that cannot be read is recorded
    with the reason). Also a decorator (``@vl.monitor("train")``): each call
    is one window. If energy cannot be measured the block still runs;
    ``error`` says why and the figures are None.
    """

    def __init__(
        self,
        name: str = "Training Task",
        label: str | None = None,
        inputs: Sequence[str | os.PathLike] | None = None,
        outputs: Sequence[str | os.PathLike] | None = None,
        record: bool = True,
        display: bool = False,
    ):
        self.name = name
        self.label = label
        # Absolute now: the agent runs elsewhere, and the block may chdir.
        self.inputs = _artifact_paths("inputs", inputs)
        self.outputs = _artifact_paths("outputs", outputs)
        self.record = record
        self.display = display
        self.report: dict | None = None
        self.artifacts: dict | None = None
        self.error: str | None = None
        self._token: str | None = None
        self._started = 0.0

    def _recreate_cm(self):
        return monitor(self.name, self.label, self.inputs, self.outputs, self.record, self.display)

    def __enter__(self) -> monitor:
        self.report, self.artifacts, self.error, self._token = None, None, None, None
        self._started = time.perf_counter()
        try:
            self._token = agent().request(
                "monitor_start",
                name=self.name,
                pid=os.getpid(),
                label=self.label,
                inputs=self.inputs,
                outputs=self.outputs,
            )["token"]
        except VenturaliticaError as e:
            # Measurement is never worth the user's work: run unmeasured.
            self.error = str(e)
        return self

    def __exit__(self, *exc) -> bool:
        elapsed = time.perf_counter() - self._started
        if self._token is not None:
            try:
                self.report = agent().request("monitor_stop", token=self._token, record=self.record)
                self.artifacts = self.report.pop("artifacts", None)
            except VenturaliticaError as e:
                self.error = str(e)
        if self.report is None:
            self._elapsed = elapsed
        _trackers.log_monitor(
            self.name,
            {"duration_s": self.duration_s, "energy_j": self.energy_j, "co2e_g": self.co2e_g},
        )
        if self.display:
            from IPython.display import display

            display(self)
        return False

    def _part(self, name: str) -> float | None:
        part = (self.report or {}).get(name)
        return part["joules"] if part else None

    @property
    def duration_s(self) -> float | None:
        return self.report["wall_s"] if self.report else getattr(self, "_elapsed", None)

    @property
    def energy_j(self) -> float | None:
        return self.report["total_j"] if self.report else None

    @property
    def cpu_j(self) -> float | None:
        return self._part("cpu")

    @property
    def ram_j(self) -> float | None:
        return self._part("ram")

    @property
    def gpu_j(self) -> float | None:
        return self._part("gpu")

    @property
    def energy_band_j(self) -> tuple[float, float] | None:
        """The total's error band, ``(low, high)`` joules (docs/energy.md)."""
        return (self.report["total_low_j"], self.report["total_high_j"]) if self.report else None

    @property
    def co2e_g(self) -> float | None:
        return self.report["co2e_g"] if self.report else None

    @property
    def kwh(self) -> float | None:
        return self.report["kwh"] if self.report else None

    @property
    def peak_rss_mb(self) -> float | None:
        return self.report["peak_rss_bytes"] / 2**20 if self.report else None

    def to_dict(self) -> dict:
        return {"name": self.name, "label": self.label, "error": self.error, "energy": self.report}

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        if self.report is None:
            text = f"{self.name}: not measured ({self.error or 'the block has not run'})"
            return {"text/plain": text}
        return {
            MIME_ENERGY: self.to_dict(),
            "text/html": _display.energy_html(self.name, self.report),
            "text/plain": _display.energy_text(self.name, self.report),
        }

    def __repr__(self) -> str:
        return self._repr_mimebundle_()["text/plain"]


def _artifact_paths(what: str, paths: Sequence[str | os.PathLike] | None) -> list[str]:
    if paths is None:
        return []
    if isinstance(paths, (str, os.PathLike)):
        raise TypeError(f"monitor({what}=...) takes a list of file paths, not one path: [{os.fspath(paths)!r}]")
    return [os.path.abspath(os.fspath(p)) for p in paths]


class ScanResults:
    """What ``vl.scan`` found: ``passed``, the latest result of every
    control, and the paths of the files it wrote."""

    def __init__(self, data: dict):
        self._data = data

    @property
    def passed(self) -> bool:
        return bool(self._data["passed"])

    @property
    def controls(self) -> list[dict]:
        return [dict(c) for c in self._data["controls"]]

    @property
    def trace_latest(self) -> Path:
        return Path(self._data["trace_latest"])

    @property
    def bom(self) -> Path:
        return Path(self._data["bom"])

    def to_dict(self) -> dict:
        return copy.deepcopy(self._data)

    def __repr__(self) -> str:
        failing = [c["control_id"] for c in self._data["controls"] if c["status"] != "pass"]
        verdict = "PASSED" if self.passed else "FAILED"
        detail = f"; not passing: {', '.join(failing)}" if failing else ""
        return f"{verdict}: {len(self._data['controls'])} control(s){detail} ({self.trace_latest})"


def scan(project_root: str | os.PathLike = ".") -> ScanResults:
    """Writes the project's bill of materials, the latest result of every
    control and OSCAL assessment results to ``.venturalitica/`` (with
    ``trace_latest.json``), like ``venturalitica scan``."""
    return ScanResults(agent().request("scan", root=_root(project_root)))


class VerifyReport:
    """What ``vl.verify`` found: ``ok`` when no event was edited, deleted,
    reordered or re-signed, every signature holds (by a trusted key, when
    ``trusted_keys`` were given), every anchor matches and every policy copy
    matches its hash. ``signers`` says which key signed which events."""

    def __init__(self, data: dict):
        self._data = data

    @property
    def ok(self) -> bool:
        return not self._data["findings"]

    @property
    def events(self) -> int:
        return int(self._data["events"])

    @property
    def findings(self) -> list[dict]:
        return [dict(f) for f in self._data["findings"]]

    @property
    def notes(self) -> list[str]:
        return list(self._data["notes"])

    @property
    def signers(self) -> list[dict]:
        return [dict(s) for s in self._data["signers"]]

    @property
    def head(self) -> str | None:
        """The last event as ``SEQ:HASH``: record it elsewhere as an anchor."""
        head = self._data.get("head")
        return f"{head['seq']}:{head['hash']}" if head else None

    @property
    def checkpoint(self) -> str | None:
        """The checkpoint the check started from as ``SEQ:HASH``; ``None`` when
        every event was checked from the first (``full=True``, or no trusted
        checkpoint yet)."""
        cp = self._data.get("checkpoint")
        return f"{cp['seq']}:{cp['hash']}" if cp else None

    def to_dict(self) -> dict:
        return copy.deepcopy(self._data)

    def __repr__(self) -> str:
        if self.ok:
            keys = ", ".join(f"{s['key_id']} ({s['events']})" for s in self._data["signers"])
            checked = f"intact: {self.events} events, {self._data['policies_checked']} policy copies checked"
            return f"{checked}; signed by {keys}" if keys else f"{checked}; unsigned"
        first = self._data["findings"][0]["message"]
        return f"ALTERED: {len(self._data['findings'])} problem(s); first: {first}"


def verify(
    project_root: str | os.PathLike = ".",
    *,
    trusted_keys: list[str | os.PathLike] | tuple[str | os.PathLike, ...] = (),
    heads: list[str] | tuple[str, ...] = (),
    full: bool = False,
) -> VerifyReport:
    """Checks the evidence trail like ``venturalitica verify``: safe while
    notebooks record. ``trusted_keys`` are public key files every event must be
    signed by; ``heads`` are ``SEQ:HASH`` anchors recorded earlier (an MLflow
    run's ``venturalitica.head`` tag, a CI artifact's ``evidence.anchor``).
    By default the events after the last trusted checkpoint are checked;
    ``full=True`` checks every event from the first (``verify --full``)."""
    keys = [os.path.abspath(os.fspath(key)) for key in trusted_keys]
    return VerifyReport(
        agent().request("verify", root=_root(project_root), trusted_keys=keys, heads=list(heads), full=bool(full))
    )


def _root(project_root: str | os.PathLike) -> str:
    """The project's root, absolute: the agent may run in another directory."""
    return os.path.abspath(os.fspath(project_root))
