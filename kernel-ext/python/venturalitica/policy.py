"""``venturalitica.policy``, as the Venturalitica SDK names it: a project's
policy file (:class:`PolicyManager`) and the schema of its simple form."""

from .sample import POLICY_SCHEMA, PolicyManager

__all__ = ["POLICY_SCHEMA", "PolicyManager"]
