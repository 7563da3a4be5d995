"""``venturalitica.models``, as the Venturalitica SDK names it: the result of
one control (:class:`ComplianceResult`)."""

from .results import ComplianceResult

__all__ = ["ComplianceResult"]
