"""``venturalitica.policy``, as the Venturalitica SDK names it: a project's
policy file (:class:`PolicyManager`)."""

from .sample import PolicyManager

__all__ = ["PolicyManager"]
