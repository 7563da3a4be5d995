"""Exceptions raised by the Python API; each carries the agent's message."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .results import ComplianceResults


class VenturaliticaError(Exception):
    """Base class of every error the package raises."""


class VenturaliticaWarning(UserWarning):
    """A control that could not be evaluated, outside strict mode: its
    ``error`` result is in the returned list and in the evidence."""


class PolicyError(VenturaliticaError, ValueError):
    """The policy cannot be used; the message names its file, line and column.

    A ``ValueError`` too, as in the Venturalitica SDK (an unknown metric, a
    malformed policy), so ``except ValueError`` in SDK scripts still works."""


class DataError(VenturaliticaError, ValueError):
    """The data cannot be used: a missing column, an empty frame, an
    unsupported type, or a control that could not be evaluated on it.

    A ``ValueError`` too, as the SDK raises for the same cases."""


class MissingColumnError(DataError, KeyError):
    """A column a metric was told to read is not in the data.

    A ``KeyError`` too, as the SDK's metric functions raise for a column
    that is not in the frame."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class AgentError(VenturaliticaError):
    """The agent could not be reached, or failed while answering."""


class ComplianceBlockError(VenturaliticaError):
    """A control the policy declares ``enforcement_mode: block`` failed.

    ``results`` holds the whole evaluation (it is also in the evidence trail).
    """

    def __init__(self, message: str, results: ComplianceResults):
        super().__init__(message)
        self.results = results
