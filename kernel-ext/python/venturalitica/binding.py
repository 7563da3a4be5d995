"""``venturalitica.binding``, as the Venturalitica SDK names it: the column
synonyms the engine tries when a policy variable names no column of the
data, and the SDK's two helpers that apply them by hand.

The engine binds a variable to the column the user mapped, else a column of
the same name, else the first synonym present, and records a synonym
binding as a warning on the control's result (in the evidence), so an
auditor can confirm the guess. :data:`COLUMN_SYNONYMS` is that list (the
variable first); it is shorter than the SDK's on purpose: a wrong guess is
worse than a clear error (docs/migrating-from-the-sdk.md).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from . import _catalog, _frames

# COLUMN_SYNONYMS is built on first use (`__getattr__`).
__all__ = ["discover_column", "resolve_col_names"]

# What `discover_column` answers when nothing matches, as in the SDK.
MISSING = "MISSING"


@functools.lru_cache(maxsize=1)
def _synonyms() -> dict[str, list[str]]:
    return {var: [var, *names] for var, names in _catalog.catalog()["synonyms"].items()}


def _find(item: str, columns: Sequence[str], synonyms: Mapping[str, Sequence[str]]) -> str | None:
    """``item`` if it is a column; else the first present name of the first
    synonym group that holds it (or is named after it)."""
    if item in columns:
        return item
    for key, names in synonyms.items():
        if item == key or item in names:
            found = next((n for n in names if n in columns), None)
            if found is not None:
                return found
    return None


def resolve_col_names(
    val: str | Sequence[str] | None,
    data: Any,
    synonyms: Mapping[str, Sequence[str]] | None = None,
) -> list[str] | Any:
    """Each name of ``val`` (a comma-separated string, a list or a tuple) as
    a column of ``data``: itself, a synonym, or its lower-case form; a name
    that matches nothing is kept as given (the engine then reports it).
    Any other ``val`` comes back unchanged."""
    if isinstance(val, str):
        names = [v.strip() for v in val.split(",") if v.strip()]
    elif isinstance(val, (list, tuple)):
        names = list(val)
    else:
        return val
    columns = _frames.column_names(data)
    groups = _synonyms() if synonyms is None else synonyms
    out = []
    for name in names:
        found = _find(name, columns, groups)
        if found is None and name.lower() in columns:
            found = name.lower()
        out.append(found if found is not None else name)
    return out


def discover_column(
    requested: str,
    context_mapping: Mapping[str, str],
    data: Any,
    synonyms: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """The column for the variable ``requested``: the user's mapping first
    (as given, even if the data lacks it), then the name itself, a synonym,
    or its lower-case form; ``"MISSING"`` when nothing matches."""
    if requested in context_mapping:
        return context_mapping[requested]
    columns = _frames.column_names(data)
    found = _find(requested, columns, _synonyms() if synonyms is None else synonyms)
    if found is None and requested.lower() in columns:
        found = requested.lower()
    return found if found is not None else MISSING


def __getattr__(name: str) -> Any:
    # From the agent's catalogue on first use, not at import.
    if name == "COLUMN_SYNONYMS":
        return _synonyms()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
