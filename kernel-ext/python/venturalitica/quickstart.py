"""``venturalitica.quickstart``, as the Venturalitica SDK names it (its docs
teach ``from venturalitica.quickstart import load_sample``)."""

from .sample import list_scenarios, load_sample, quickstart, show_code

__all__ = ["list_scenarios", "load_sample", "quickstart", "show_code"]
