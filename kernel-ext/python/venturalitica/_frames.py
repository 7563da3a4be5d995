"""Turning the user's frame into the Arrow IPC file the agent reads.

pandas, polars (eager or lazy) and pyarrow are converted directly; any other
object that speaks the Arrow PyCapsule stream interface or the dataframe
interchange protocol goes through pyarrow. Only the columns the policy reads
are converted and sent. Spark DataFrames and DuckDB relations are never
converted: their count tables are computed where they live (``_engines``).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from . import _engines
from .errors import DataError


def kind_of(data: Any) -> str:
    """``pandas``, ``polars``, ``polars-lazy``, ``pyarrow``, ``spark``, ``duckdb`` or ``other``."""
    module = type(data).__module__.split(".")[0]
    name = type(data).__name__
    engine = _engines.engine_for(data)
    if engine is not None:
        return engine.name
    if module == "pandas" and name == "DataFrame":
        return "pandas"
    if module == "polars":
        return "polars-lazy" if name == "LazyFrame" else "polars"
    if module == "pyarrow" and name in ("Table", "RecordBatch"):
        return "pyarrow"
    return "other"


def column_names(data: Any) -> list[str]:
    """The frame's column names, as strings (the policy binds by name)."""
    kind = kind_of(data)
    engine = _engines.engine_for(data)
    if engine is not None:
        names = [n for n, _ in engine.columns()]
    elif kind == "pandas":
        names = [str(c) for c in data.columns]
    elif kind == "polars-lazy":
        names = list(data.collect_schema().names())
    elif kind in ("polars", "pyarrow"):
        names = list(data.schema.names) if kind == "pyarrow" else list(data.columns)
    else:
        names = list(_as_table(data).schema.names)
    return unique(names)


def unique(names: list[str]) -> list[str]:
    """``names``, refused when one is there twice (a policy binds by name)."""
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataError(f"the frame has duplicate column names: {', '.join(dupes)}")
    return names


def describe(data: Any) -> str:
    """A short description of the frame for the evidence trail."""
    engine = _engines.engine_for(data)
    if engine is not None:
        return engine.describe()
    kind = kind_of(data)
    shape = getattr(data, "shape", None)
    if kind == "pyarrow":
        shape = (data.num_rows, data.num_columns)
    if shape and kind != "polars-lazy":
        return f"{type(data).__module__.split('.')[0]}.{type(data).__name__} ({shape[0]} rows x {shape[1]} columns)"
    return f"{type(data).__module__.split('.')[0]}.{type(data).__name__}"


def to_ipc(data: Any, columns: list[str], names: list[str]) -> bytes:
    """The ``columns`` of ``data`` as an Arrow IPC file.

    Every other column of ``names`` travels as an Arrow null column, which
    has no buffers: the agent binds the policy against the frame's real
    column list (and names it in errors) without the data being copied.
    """
    table = _select(data, columns)
    # The frame's own column order, which errors list the columns in.
    if table.column_names != names:
        chosen = set(columns)
        arrays = [
            table.column(n) if n in chosen else pa.nulls(table.num_rows if columns else _rows(data), pa.null())
            for n in names
        ]
        table = pa.table(arrays, names=names)
    return ipc_file(table)


def ipc_file(table: pa.Table) -> bytes:
    """``table`` as an Arrow IPC file."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _rows(data: Any) -> int:
    kind = kind_of(data)
    if kind == "polars-lazy":
        return data.select(data.collect_schema().names()[:1]).collect().height
    if kind == "pyarrow":
        return data.num_rows
    if kind in ("pandas", "polars"):
        return len(data)
    return _as_table(data).num_rows


def _select(data: Any, columns: list[str]) -> pa.Table:
    kind = kind_of(data)
    try:
        if kind == "pandas":
            by_name = {str(c): c for c in data.columns}
            frame = data[[by_name[c] for c in columns]]
            frame.columns = columns
            return pa.Table.from_pandas(_labelled(frame), preserve_index=False)
        if kind == "polars":
            return data.select(columns).to_arrow()
        if kind == "polars-lazy":
            return data.select(columns).collect().to_arrow()
        if kind == "pyarrow":
            table = data if isinstance(data, pa.Table) else pa.Table.from_batches([data])
            return table.select(columns)
        return _as_table(data).select(columns)
    except (pa.ArrowException, TypeError, ValueError) as e:
        raise DataError(f"cannot convert the frame's columns {columns} to Arrow: {e}") from e


def _labelled(frame: Any) -> Any:
    """``frame`` with its interval and period columns (``pd.cut`` bins,
    also as categories) as their labels, ``(18.9, 30.2]``: Arrow carries them
    as pandas extension types, which the engine cannot read, and a group is
    named by its label anyway."""
    import pandas as pd

    def labelled(dtype: Any) -> bool:
        if isinstance(dtype, pd.CategoricalDtype):
            dtype = dtype.categories.dtype
        return isinstance(dtype, (pd.IntervalDtype, pd.PeriodDtype))

    names = [c for c in frame.columns if labelled(frame[c].dtype)]
    if not names:
        return frame
    frame = frame.copy()
    for c in names:
        column = frame[c]
        # Missing values stay missing, not the string "nan".
        frame[c] = column.astype("string").where(column.notna(), None)
    return frame


def _as_table(data: Any) -> pa.Table:
    if isinstance(data, dict):
        return pa.table(data)
    if hasattr(data, "__arrow_c_stream__"):
        return pa.table(data)
    if hasattr(data, "__dataframe__"):
        from pyarrow.interchange import from_dataframe

        return from_dataframe(data)
    raise DataError(
        f"cannot read a {type(data).__module__}.{type(data).__name__}: pass a pandas, polars or "
        "pyarrow frame, a dict of columns, or an object with __arrow_c_stream__ or __dataframe__"
    )
