"""``venturalitica.loader``, as the Venturalitica SDK names it:
``OSCALPolicyLoader(path).load()`` gives a policy's controls.

The agent's policy loader reads the file (one implementation: the same
one ``enforce`` uses, every OSCAL shape, errors with file, line and column);
this module only shapes its answer into the SDK's ``InternalPolicy`` and
``InternalControl``. As the SDK loads any policy, the load is lenient: a
control whose ``metric_key`` the engine does not know is kept, and its
``metadata["unknown_metric"]`` says why (``enforce`` reports it as an
``error`` result).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._bridge import agent


@dataclass
class InternalControl:
    """One control as loaded, with the SDK's fields."""

    id: str
    description: str
    severity: str
    metric_key: str
    threshold: float
    operator: str
    metadata: dict[str, Any] = field(default_factory=dict)
    #: Input slot (``target``, ``dimension``, …) to the policy variable it
    #: names; several variables (``quasi_identifiers``) as a list.
    input_mapping: dict[str, Any] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class InternalPolicy:
    """A policy's title and its evaluable controls."""

    title: str
    controls: list[InternalControl] = field(default_factory=list)


class OSCALPolicyLoader:
    """Loads a policy file (YAML or JSON, any OSCAL shape ``enforce`` reads),
    or a policy document given as a dict (as ``enforce`` takes one)."""

    def __init__(self, policy_path: str | os.PathLike | Mapping[str, Any]):
        if isinstance(policy_path, Mapping):
            from .api import policy_file

            policy_path = policy_file(policy_path)
        self.policy_path = Path(os.fspath(policy_path))

    def load(self) -> InternalPolicy:
        """The policy; ``FileNotFoundError`` when there is no such file,
        :class:`~venturalitica.PolicyError` (a ``ValueError``) when it
        cannot be read as a policy."""
        if not self.policy_path.is_file():
            raise FileNotFoundError(f"no policy file at {self.policy_path}")
        view = agent().request("policy", policy=str(self.policy_path.resolve()), strict=False)
        return InternalPolicy(
            title=view["title"] or self.policy_path.name,
            controls=[_control(c) for c in view["controls"]],
        )


def _control(c: dict[str, Any]) -> InternalControl:
    metadata = {"enforcement_mode": c["enforcement_mode"], "metric_as_written": c["metric_as_written"], **c["risk"]}
    if c["unknown_metric"]:
        metadata["unknown_metric"] = c["unknown_metric"]
    return InternalControl(
        id=c["id"],
        description=c["description"] or "",
        severity=c["severity"] or "low",
        metric_key=c["metric_key"],
        threshold=c["threshold"],
        operator=c["operator"],
        metadata=metadata,
        input_mapping={slot: names[0] if len(names) == 1 else list(names) for slot, names in c["inputs"].items()},
        params=dict(c["params"]),
    )


__all__ = ["InternalControl", "InternalPolicy", "OSCALPolicyLoader"]
