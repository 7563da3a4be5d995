"""Policies on data that lives in Spark or DuckDB: the count tables the
agent asks for are computed inside that engine, and only they travel.

The agent evaluates the policy over the answers given so far and replies
with what it still needs (``{"need": [...]}``), round by round, until it
has every table; the rows never come into this process. What each request
means, and the order-independent fingerprint, are in docs/engines.md.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from . import _frames
from .errors import AgentError

#: Rounds before giving up: type checks, quantile edges, then tables.
MAX_ROUNDS = 8


class _Engine:
    """An engine that runs the agent's SQL: its schema, and one group-by.

    The SQL itself (group keys and aggregations, in this engine's dialect)
    comes with each request from the agent (``agent/engine/src/sql.rs``)."""

    name = ""

    def __init__(self, data: Any):
        self.data = data

    def columns(self) -> list[tuple[str, str]]:
        """The frame's columns with their kinds for the agent (``int:bigint``), read once."""
        if not hasattr(self, "_columns"):
            self._columns = self.schema()
        return self._columns

    # Each engine: its columns with their types, and one aggregation.
    def schema(self) -> list[tuple[str, str]]:
        raise NotImplementedError

    def aggregate(self, groups: list[tuple[str, str]], aggs: list[tuple[str, str]]) -> pa.Table:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def answer_all(self, queries: list[dict]) -> list[pa.Table]:
        """The answers to one round's queries, in as few jobs as they allow:
        the queries that may share a pass (every one over all rows, the
        counts of one grouping) in one group-by (each engine job reads the
        data again), the others alone."""
        out: list[pa.Table | None] = [None] * len(queries)
        jobs: dict[str, tuple[list, list, list]] = {}
        for i, query in enumerate(queries):
            groups = [tuple(g) for g in query["groups"]]
            aggs = [tuple(a) for a in query["aggs"]]
            if not query["shares_a_pass"]:
                out[i] = self.aggregate(groups, aggs)
                continue
            job = jobs.setdefault(repr(groups), (groups, [], []))
            job[1].extend((f"r{i}_{name}", expr) for name, expr in aggs)
            job[2].append((i, [name for name, _ in aggs]))
        for groups, aggs, parts in jobs.values():
            table = self.aggregate(groups, aggs)
            for i, names in parts:
                columns = {name: table.column(name) for name, _ in groups}
                columns.update({name: table.column(f"r{i}_{name}") for name in names})
                out[i] = pa.table(columns)
        return out


class SparkEngine(_Engine):
    name = "spark"

    def schema(self) -> list[tuple[str, str]]:
        return [(n, _kind(t, _SPARK_KINDS)) for n, t in self.data.dtypes]

    def aggregate(self, groups, aggs) -> pa.Table:
        from pyspark.sql import functions as F

        keys = [F.expr(e).alias(a) for a, e in groups]
        values = [F.expr(e).alias(a) for a, e in aggs]
        return self.data.groupBy(*keys).agg(*values).toArrow()

    def describe(self) -> str:
        return f"pyspark DataFrame ({len(self.data.columns)} columns)"


class DuckDBEngine(_Engine):
    name = "duckdb"

    def schema(self) -> list[tuple[str, str]]:
        return [(n, _kind(str(t), _DUCKDB_KINDS)) for n, t in _pairs(self.data.columns, self.data.types)]

    def aggregate(self, groups, aggs) -> pa.Table:
        select = ", ".join(f"{e} AS {_duckdb_name(a)}" for a, e in groups + aggs)
        relation = self.data.aggregate(select, ", ".join(e for _, e in groups))
        return relation.to_arrow_table() if hasattr(relation, "to_arrow_table") else relation.arrow()

    def describe(self) -> str:
        return f"duckdb relation ({len(self.data.columns)} columns)"


def _duckdb_name(name: str) -> str:
    """An output column's name (the agent's: ``r0_n``, ``group``) as a DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'


# Engine type name (lower case, before any "(") -> kind the agent knows.
_SPARK_KINDS = {
    "boolean": "bool",
    **dict.fromkeys(["tinyint", "smallint", "int", "bigint"], "int"),
    **dict.fromkeys(["float", "double"], "float"),
    **dict.fromkeys(["string", "varchar", "char"], "text"),
}
_DUCKDB_KINDS = {
    "boolean": "bool",
    **dict.fromkeys(
        ["tinyint", "smallint", "integer", "bigint", "hugeint", "utinyint", "usmallint", "uinteger", "ubigint"],
        "int",
    ),
    **dict.fromkeys(["float", "double"], "float"),
    "varchar": "text",
}


def _pairs(a, b) -> list[tuple]:
    """`zip(a, b, strict=True)`, which needs Python 3.10; the package supports 3.9."""
    a, b = list(a), list(b)
    if len(a) != len(b):
        raise AgentError(f"internal: {len(a)} items against {len(b)}")
    return list(zip(a, b))


def _kind(type_name: str, kinds: dict[str, str]) -> str:
    """``kind:engine type`` for the agent (``int:bigint``); unknown kinds are ``other``."""
    base = type_name.lower().split("(")[0].strip()
    return f"{kinds.get(base, 'other')}:{type_name}"


def engine_for(data: Any) -> _Engine | None:
    """The engine a frame lives in, if it is one that counts where the data is."""
    module = type(data).__module__
    name = type(data).__name__
    if module.startswith("pyspark.sql") and name == "DataFrame":
        return SparkEngine(data)
    if module.split(".")[0] in ("duckdb", "_duckdb") and name == "DuckDBPyRelation":
        return DuckDBEngine(data)
    return None


def rounds(bridge: Any, op: str, engine: _Engine, **fields: Any) -> dict:
    """Asks ``op`` of the agent with the answers so far, answering what it
    still needs in ``engine``, until it replies with a document."""
    columns = engine.columns()
    _frames.unique([n for n, _ in columns])
    frames: list[bytes] = []
    answers: list[dict] = []
    for _ in range(MAX_ROUNDS):
        reply = bridge.request(
            op,
            tuple(frames),
            columns=[{"name": n, "type": t} for n, t in columns],
            engine=engine.name,
            source=engine.describe(),
            answers=answers,
            **fields,
        )
        if "need" not in reply:
            return reply
        need = reply["need"]
        for item, table in _pairs(need, engine.answer_all([n["sql"] for n in need])):
            frames.append(_frames.ipc_file(table))
            answers.append({"key": item["key"], "frame": len(frames) - 1})
    raise AgentError(f"the agent still needed count tables after {MAX_ROUNDS} rounds")
