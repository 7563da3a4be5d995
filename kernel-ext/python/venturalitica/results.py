"""Results of ``vl.enforce``: the engine's JSON with attribute access and
rich display (custom MIME, the agent's SVG chart, HTML and plain text)."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from . import _display

MIME_COMPLIANCE = "application/vnd.venturalitica.compliance+json"


@dataclass(frozen=True)
class ControlResult:
    """One control's outcome (see schemas/results.schema.json)."""

    control_id: str
    metric_key: str
    actual_value: float | None
    threshold: float
    operator: str
    passed: bool
    status: str
    enforcement_mode: str
    description: str | None = None
    severity: str | None = None
    reason: str | None = None
    groups: list[dict] = field(default_factory=list)
    ci: dict | None = None
    inputs: dict = field(default_factory=dict)
    risk: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, c: dict) -> ControlResult:
        return cls(
            control_id=c["id"],
            metric_key=c["metric_key"],
            actual_value=c.get("actual_value"),
            threshold=c["threshold"],
            operator=c["operator"],
            passed=c["passed"],
            status=c["status"],
            enforcement_mode=c.get("enforcement_mode", "block"),
            description=c.get("description"),
            severity=c.get("severity"),
            reason=c.get("reason"),
            groups=c.get("groups") or [],
            ci=c.get("ci"),
            inputs=c.get("inputs") or {},
            risk=c.get("risk") or {},
            warnings=c.get("warnings") or [],
        )

    @property
    def ci_low(self) -> float | None:
        return self.ci["lower"] if self.ci else None

    @property
    def ci_high(self) -> float | None:
        return self.ci["upper"] if self.ci else None


class ComplianceResults:
    """The outcome of one policy on one dataset.

    ``passed`` is true when every blocking control passed; iterate for the
    per-control results; ``to_dict()`` gives the engine's JSON (the shape
    ``venturalitica enforce --format json`` prints), ready for
    ``mlflow.log_dict`` or a W&B artifact.
    """

    def __init__(self, data: dict, chart: Any = None):
        self._data = data
        self._controls = [ControlResult.from_dict(c) for c in data.get("controls", [])]
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
    def controls(self) -> list[ControlResult]:
        return list(self._controls)

    @property
    def compliance_score(self) -> float:
        """Passed controls over evaluated controls (0 when there are none)."""
        total = self._data["summary"]["total"]
        return self._data["summary"]["passed"] / total if total else 0.0

    def to_dict(self) -> dict:
        return copy.deepcopy(self._data)

    def __iter__(self) -> Iterator[ControlResult]:
        return iter(self._controls)

    def __len__(self) -> int:
        return len(self._controls)

    def __getitem__(self, control_id: str) -> ControlResult:
        for c in self._controls:
            if c.control_id == control_id:
                return c
        raise KeyError(control_id)

    def __bool__(self) -> bool:
        # `if results:` must not read as "passed": a results object is
        # always truthy; ask `.passed`.
        return True

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


class PolicyResults:
    """The outcome of several policies on one dataset (``enforce(policy=[...])``).

    Iterating gives every policy's control results in order, as the SDK's
    flat list does; ``passed`` is true when every policy passed;
    ``results`` holds one :class:`ComplianceResults` per policy.
    """

    def __init__(self, results: list[ComplianceResults]):
        self.results = list(results)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def controls(self) -> list[ControlResult]:
        return [c for r in self.results for c in r]

    def to_dict(self) -> list[dict]:
        return [r.to_dict() for r in self.results]

    def __iter__(self) -> Iterator[ControlResult]:
        return iter(self.controls)

    def __len__(self) -> int:
        return len(self.controls)

    def __getitem__(self, index: int) -> ControlResult:
        return self.controls[index]

    def __bool__(self) -> bool:
        return True

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
