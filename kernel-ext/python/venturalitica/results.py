"""Results of ``vl.enforce``: the engine's JSON with attribute access and
rich display (custom MIME, the agent's SVG chart, HTML and plain text)."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

from . import _display

MIME_COMPLIANCE = "application/vnd.venturalitica.compliance+json"


@dataclass(frozen=True)
class ComplianceResult:
    """One control's outcome (see schemas/results.schema.json).

    The first nine fields are the Venturalitica SDK's ``ComplianceResult``,
    in its order (``venturalitica.models.ComplianceResult`` is this class);
    the rest are ours: ``status`` (``pass``, ``fail``, ``error``: a control
    that could not be evaluated, or ``inconclusive``: decided on an interval
    that straddles the threshold; ``passed`` false but for ``pass``),
    ``decision`` (``point`` or ``interval``), ``rows_needed`` (for an
    inconclusive control, the rows that would settle it), ``reason``
    (why it failed or errored), the per-group values, the confidence
    interval, the variable bindings and the risk-treatment props.
    ``severity`` is ``"low"`` where the policy sets none, as in the SDK.
    """

    control_id: str
    description: str
    metric_key: str
    threshold: float
    actual_value: float | None
    operator: str
    passed: bool
    severity: str = "low"
    metadata: dict = field(default_factory=dict)
    status: str = ""
    enforcement_mode: str = "block"
    reason: str | None = None
    groups: list[dict] = field(default_factory=list)
    ci: dict | None = None
    inputs: dict = field(default_factory=dict)
    risk: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    decision: str = "point"
    rows_needed: int | None = None

    def __post_init__(self) -> None:
        if not self.status:  # built by hand, as SDK code does
            object.__setattr__(self, "status", "pass" if self.passed else "fail")

    @classmethod
    def from_dict(cls, c: dict) -> ComplianceResult:
        """One entry of a results document's ``controls``."""
        return cls(
            control_id=c["id"],
            description=c.get("description") or "",
            metric_key=c["metric_key"],
            threshold=c["threshold"],
            actual_value=c.get("actual_value"),
            operator=c["operator"],
            passed=c["passed"],
            severity=c.get("severity") or "low",
            metadata={k: c[k] for k in ("status", "enforcement_mode", "reason") if c.get(k) is not None},
            status=c["status"],
            enforcement_mode=c.get("enforcement_mode", "block"),
            reason=c.get("reason"),
            groups=c.get("groups") or [],
            ci=c.get("ci"),
            inputs=c.get("inputs") or {},
            risk=c.get("risk") or {},
            warnings=c.get("warnings") or [],
            decision=c.get("decision", "point"),
            rows_needed=c.get("rows_needed"),
        )

    @property
    def ci_low(self) -> float | None:
        return self.ci["lower"] if self.ci else None

    @property
    def ci_high(self) -> float | None:
        return self.ci["upper"] if self.ci else None


# The name this package used before it took the SDK's.
ControlResult = ComplianceResult


def _lookup(results: list[ComplianceResult], key: Any, original: Any) -> Any:
    """``results["id"]`` finds a control by id; an int or a slice indexes
    the list, as in the SDK (``results[0].passed``)."""
    if not isinstance(key, str):
        return original(key)
    found = [c for c in results if c.control_id == key]
    if len(found) == 1:
        return found[0]
    if not found:
        raise KeyError(key)
    raise KeyError(f"control id {key!r} is in {len(found)} results: index them, or use .results[i][{key!r}]")


class ComplianceResults(list):
    """The outcome of one policy on one dataset: a ``list`` of
    :class:`ComplianceResult`, one per control, as the SDK's ``enforce``
    returns (``results[0].passed``), that also looks a control up by id
    (``results["credit-age-disparity"]``).

    ``passed`` is true when every blocking control passed (an empty list is
    falsy, as any list: ask ``.passed`` for the verdict); ``to_dict()`` gives
    the engine's JSON (the shape ``venturalitica enforce --format json``
    prints), ready for ``mlflow.log_dict`` or a W&B artifact.
    """

    def __init__(self, data: dict, chart: Any = None):
        super().__init__(ComplianceResult.from_dict(c) for c in data.get("controls", []))
        # Where the agent recorded it: beside the results, not part of them.
        data = dict(data)
        self._evidence: dict | None = data.pop("evidence", None)
        self._data = data
        # Called with the results dict to draw the SVG, once, on first display.
        self._chart_source = chart
        self._svg: str | None = None

    @property
    def passed(self) -> bool:
        return bool(self._data["passed"])

    @property
    def summary(self) -> dict:
        return dict(self._data["summary"])

    @property
    def policy(self) -> dict:
        return dict(self._data["policy"])

    @property
    def data(self) -> dict:
        return dict(self._data["data"])

    @property
    def evidence(self) -> dict | None:
        """Where this evaluation sits in the evidence trail: ``seq``,
        ``hash`` and ``anchor`` (``SEQ:HASH``, what ``verify --head`` takes),
        or None when it was not recorded (``record=False``)."""
        return dict(self._evidence) if self._evidence else None

    @property
    def controls(self) -> list[ComplianceResult]:
        return list(self)

    @property
    def compliance_score(self) -> float:
        """1.0 when the evaluation passes, else 0.0: the one meaning the
        MLflow export, ``scan`` and the tutorial's ``log_metric`` give it
        (docs/ci.md). The share of passing controls is :attr:`pass_rate`."""
        return 1.0 if self.passed else 0.0

    @property
    def pass_rate(self) -> float:
        """Passed controls over evaluated controls (0 when there are none)."""
        total = self._data["summary"]["total"]
        return self._data["summary"]["passed"] / total if total else 0.0

    def to_dict(self) -> dict:
        return copy.deepcopy(self._data)

    def __getitem__(self, key):
        return _lookup(self, key, super().__getitem__)

    def svg(self) -> str | None:
        """The agent's evidence chart (per-group rates, value and interval
        against the threshold), or None when it cannot be drawn."""
        if self._svg is None and self._chart_source is not None:
            try:
                self._svg = self._chart_source(self._data)
            except Exception:  # noqa: BLE001 - display must never raise
                self._chart_source = None
        return self._svg

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        bundle = {
            MIME_COMPLIANCE: self.to_dict(),
            "text/html": _display.compliance_html(self._data, self.svg()),
            "text/plain": repr(self),
        }
        svg = self.svg()
        if svg:
            bundle["image/svg+xml"] = svg
        return bundle

    def __repr__(self) -> str:
        return _display.compliance_text(self._data)


class PolicyResults(list):
    """The outcome of several policies on one dataset (``enforce(policy=[...])``):
    a ``list`` of every policy's control results in order, as the SDK's flat
    list; ``passed`` is true when every policy passed; ``results`` holds one
    :class:`ComplianceResults` per policy.
    """

    def __init__(self, results: list[ComplianceResults]):
        self.results = list(results)
        super().__init__(c for r in self.results for c in r)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def controls(self) -> list[ComplianceResult]:
        return list(self)

    def to_dict(self) -> list[dict]:
        return [r.to_dict() for r in self.results]

    def __getitem__(self, key):
        return _lookup(self, key, super().__getitem__)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {
            "text/html": "".join(_display.compliance_html(r.to_dict(), r.svg()) for r in self.results),
            "text/plain": repr(self),
        }

    def __repr__(self) -> str:
        return "\n\n".join(repr(r) for r in self.results)


def finite_or_none(value: Any) -> Any:
    """NaN and infinities cannot travel as JSON numbers: they become None,
    which the engine reports as an `error` result."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
