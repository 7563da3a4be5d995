"""``venturalitica.wrappers``, as the Venturalitica SDK names it: a model
whose ``fit`` and ``predict`` also evaluate a policy."""

from .sample import AssuranceWrapper, wrap

__all__ = ["AssuranceWrapper", "wrap"]
