"""Marked dataframes: frames re-evaluated whenever a cell changes them.

``vl.mark(df, policy=...)`` (or ``%vl_mark df policy=...``) registers a frame.
After every cell, each marked frame whose fingerprint changed (the frame
was rebound, or its used columns changed) is evaluated again and its new
badge is displayed under that cell.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import _frames


@dataclass
class Mark:
    """One marked frame and how to evaluate it."""

    name: str
    policy: str
    keywords: dict = field(default_factory=dict)
    #: The frame itself, for marks made outside IPython (no namespace to look in).
    obj: Any = None
    fingerprint: str | None = None
    columns: list[str] | None = None
    last: Any = None


def fingerprint(data: Any, columns: list[str] | None) -> str:
    """A cheap digest of the columns a policy reads: a vectorised row hash
    for pandas and polars; pyarrow tables are immutable, so their identity
    and shape suffice."""
    kind = _frames.kind_of(data)
    h = hashlib.sha256(f"{kind}:{id(data)}".encode())
    names = _frames.column_names(data) if kind != "polars-lazy" else []
    cols = [c for c in (columns if columns is not None else names) if c in names]
    h.update(repr(names).encode())
    if kind == "pandas":
        import pandas as pd

        by_name = {str(c): c for c in data.columns}
        frame = data[[by_name[c] for c in cols]]
        h.update(repr(frame.shape).encode())
        h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    elif kind == "polars":
        h.update(repr(data.shape).encode())
        if cols:
            h.update(data.select(cols).hash_rows(seed=7).to_numpy().tobytes())
    elif kind == "pyarrow":
        h.update(f"{data.num_rows}x{data.num_columns}".encode())
    return h.hexdigest()


class Marks:
    """The marks of one IPython session (or script)."""

    def __init__(self, evaluate: Callable[..., Any], show: Callable[[Any], None]):
        self._marks: dict[str, Mark] = {}
        self._evaluate = evaluate
        self._show = show

    def add(self, name: str, policy: str, obj: Any = None, **keywords: Any) -> Mark:
        mark = Mark(name=name, policy=policy, keywords=keywords, obj=obj)
        self._marks[name] = mark
        return mark

    def remove(self, name: str) -> bool:
        return self._marks.pop(name, None) is not None

    def __iter__(self):
        return iter(list(self._marks.values()))

    def __len__(self) -> int:
        return len(self._marks)

    def check(self, namespace: dict | None) -> list[Any]:
        """Evaluates every mark whose frame changed; returns the new results."""
        shown = []
        for mark in self:
            frame = namespace.get(mark.name, mark.obj) if namespace is not None else mark.obj
            if frame is None:
                continue  # the variable was deleted; keep the mark until it returns
            digest = fingerprint(frame, mark.columns)
            if digest == mark.fingerprint:
                continue
            mark.fingerprint = digest
            try:
                mark.last = self._evaluate(frame, policy=mark.policy, **mark.keywords)
            except Exception as e:  # noqa: BLE001 - shown, and the cell's own work stands
                mark.last = e
                self._show(_MarkError(mark.name, e))
                continue
            mark.columns = mark.last.data.get("columns_used")
            mark.fingerprint = fingerprint(frame, mark.columns)
            self._show(mark.last)
            shown.append(mark.last)
        return shown


class _MarkError:
    def __init__(self, name: str, error: Exception):
        self.name, self.error = name, error

    def __repr__(self) -> str:
        what = f"{type(self.error).__name__}: {self.error}"
        return f"venturalitica: marked frame {self.name!r} could not be evaluated: {what}"

    def _repr_html_(self) -> str:
        from html import escape

        return f'<div style="color:#c62828;font-family:sans-serif">{escape(repr(self))}</div>'
