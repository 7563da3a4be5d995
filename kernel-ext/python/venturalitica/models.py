"""``venturalitica.models``, as the Venturalitica SDK names it: the result of
one control (:class:`ComplianceResult`) and a policy as loaded
(:class:`InternalPolicy`, :class:`InternalControl`)."""

from .loader import InternalControl, InternalPolicy
from .results import ComplianceResult

__all__ = ["ComplianceResult", "InternalControl", "InternalPolicy"]
