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
    """One engine's dialect of SQL expressions, and how it runs a group-by."""

    name = ""
    text_type = ""
    quantile = ""
    digest_method = ""

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

    def quote(self, name: str) -> str:
        raise NotImplementedError

    def row_hash(self, columns: list[str]) -> str:
        """An unsigned 64-bit hash of a row of ``columns`` (docs/engines.md)."""
        raise NotImplementedError

    def shift_right(self, expr: str, bits: int) -> str:
        return f"({expr} >> {bits})"

    def kinds(self) -> dict[str, str]:
        return {n: t.split(":")[0] for n, t in self.columns()}

    def literal(self, value: Any) -> str:
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            return f"CAST({value!r} AS DOUBLE)"
        return self.text(str(value))

    def text(self, value: str) -> str:
        return "'" + value.replace("'", "''") + "'"

    def as_text(self, expr: str) -> str:
        return f"CAST({expr} AS {self.text_type})"

    def term(self, term: dict) -> str:
        column = self.quote(term["column"])
        value = term["equals"]
        left = self.as_text(column) if isinstance(value, str) else column
        test = f"({left} = {self.literal(value)})"
        return test if term["holds"] else f"(NOT {test})"

    def count_where(self, condition: str) -> str:
        return f"CAST(COALESCE(SUM(CASE WHEN {condition} THEN 1 ELSE 0 END), 0) AS BIGINT)"

    def group_key(self, group: dict) -> str:
        column = self.quote(group["column"])
        bins = group.get("bins")
        if not bins:
            return column
        past = ">" if group.get("right_closed") else ">="
        index = " + ".join(f"(CASE WHEN {column} {past} {self.literal(float(e))} THEN 1 ELSE 0 END)" for e in bins)
        return f"CASE WHEN {column} IS NULL THEN NULL ELSE CAST({index} AS INT) END"

    def nulls(self, column: str) -> str:
        return f"CAST(COUNT(*) - COUNT({self.quote(column)}) AS BIGINT)"

    def answer_all(self, requests: list[dict]) -> list[pa.Table]:
        """The answers to one round's requests, in as few jobs as they allow:
        every request over all rows in one aggregation, and the counts of
        each grouping in one group-by (each engine job reads the data again)."""
        out: list[pa.Table | None] = [None] * len(requests)
        jobs: dict[str, tuple[list, list, list]] = {}
        for i, request in enumerate(requests):
            groups, aggs = self.query(request)
            if groups and request["kind"] != "counts":
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

    def query(self, request: dict) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """One of the agent's requests (``Request`` in agent/engine/src/counts.rs)
        as group keys and aggregations, each ``(name, SQL expression)``."""
        kind = request["kind"]
        q = self.quote
        groups: list[tuple[str, str]] = []
        aggs: list[tuple[str, str]] = []
        if kind == "rows":
            aggs = [("rows", "COUNT(*)")]
        elif kind == "stats":
            c = q(request["column"])
            aggs = [("nulls", self.nulls(request["column"]))]
            if request["range"]:
                aggs += [("min", f"CAST(MIN({c}) AS DOUBLE)"), ("max", f"CAST(MAX({c}) AS DOUBLE)")]
            if request["other"]:
                aggs.append(("other", self.count_where(f"{c} <> 0 AND {c} <> 1")))
        elif kind == "counts":
            if request["group"] is not None:
                groups = [("group", self.group_key(request["group"]))]
            aggs = [("n", "COUNT(*)")]
            for i, terms in enumerate(request["sums"]):
                aggs.append((f"s{i}", self.count_where(" AND ".join(self.term(t) for t in terms) or "TRUE")))
        elif kind == "classes":
            groups = [("group", q(request["column"]))]
            aggs = [("n", "COUNT(*)")]
        elif kind == "nulls":
            aggs = [(f"c{i}", self.nulls(c)) for i, c in enumerate(request["columns"])]
            aggs.append(("rows", "COUNT(*)"))
        elif kind == "equivalence":
            groups = [(f"q{i}", q(c)) for i, c in enumerate(request["quasi_identifiers"])]
            if request["sensitive"] is not None:
                groups.append(("sensitive", q(request["sensitive"])))
            aggs = [("n", "COUNT(*)")]
        elif kind == "confusion":
            groups = [
                ("group", self.group_key(request["group"])),
                ("y", self.as_text(q(request["target"]))),
                ("p", self.as_text(q(request["prediction"]))),
            ]
            aggs = [("n", "COUNT(*)")]
        elif kind == "scores":
            groups = [(f"g{i}", self.group_key(g)) for i, g in enumerate(request["groups"])]
            c = f"CAST({q(request['score'])} AS DOUBLE)"
            aggs = [
                ("n", "COUNT(*)"),
                ("nulls", self.nulls(request["score"])),
                ("sum", f"SUM({c})"),
                ("min", f"MIN({c})"),
                ("max", f"MAX({c})"),
            ]
        elif kind == "quantiles":
            c = f"CAST({q(request['column'])} AS DOUBLE)"
            aggs = [("min", f"MIN({c})"), ("max", f"MAX({c})")]
            aggs += [
                (f"e{i}", f"{self.quantile}({c}, {self.literal(float(level))})")
                for i, level in enumerate(request["levels"])
            ]
        elif kind == "digest":
            # A 64-bit hash per row, summed as four 16-bit slices: exact in a
            # BIGINT for 10^14 rows, and the sums do not depend on row order.
            row_hash = self.row_hash(request["columns"])
            slices = [f"({self.shift_right(row_hash, shift)} & 65535)" for shift in (48, 32, 16, 0)]
            aggs = [("rows", "COUNT(*)"), ("method", self.text(self.digest_method))]
            aggs += [(f"p{i}", f"CAST(COALESCE(SUM({e}), 0) AS BIGINT)") for i, e in enumerate(slices)]
        else:
            raise AgentError(f"the agent asked for a count table this package does not know: {kind!r}")
        return groups, aggs


class SparkEngine(_Engine):
    name = "spark"
    text_type = "STRING"
    quantile = "percentile"  # exact, linear interpolation
    digest_method = "xxhash64"

    def schema(self) -> list[tuple[str, str]]:
        return [(n, _kind(t, _SPARK_KINDS)) for n, t in self.data.dtypes]

    def aggregate(self, groups, aggs) -> pa.Table:
        from pyspark.sql import functions as F

        keys = [F.expr(e).alias(a) for a, e in groups]
        values = [F.expr(e).alias(a) for a, e in aggs]
        return self.data.groupBy(*keys).agg(*values).toArrow()

    def describe(self) -> str:
        return f"pyspark DataFrame ({len(self.data.columns)} columns)"

    def quote(self, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    def text(self, value: str) -> str:
        # Spark reads backslash escapes in string literals.
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    def shift_right(self, expr: str, bits: int) -> str:
        # Arithmetic on a signed BIGINT; the mask after it keeps the slice's bits.
        return f"shiftright({expr}, {bits})"

    def row_hash(self, columns: list[str]) -> str:
        # Spark's own xxhash64 (seed 42) over each value, widened so the
        # type's width does not count, and whether it is null (xxhash64
        # skips nulls, so (NULL, 'a') and ('a', NULL) would collide).
        widen = {"int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN"}
        kinds = self.kinds()
        parts = []
        for c in columns:
            column = self.quote(c)
            parts += [f"CAST({column} AS {widen.get(kinds.get(c), 'STRING')})", f"isnull({column})"]
        return f"xxhash64({', '.join(parts)})"


class DuckDBEngine(_Engine):
    name = "duckdb"
    text_type = "VARCHAR"
    quantile = "quantile_cont"  # exact, linear interpolation
    digest_method = "md5"

    def schema(self) -> list[tuple[str, str]]:
        return [(n, _kind(str(t), _DUCKDB_KINDS)) for n, t in _pairs(self.data.columns, self.data.types)]

    def aggregate(self, groups, aggs) -> pa.Table:
        select = ", ".join(f"{e} AS {self.quote(a)}" for a, e in groups + aggs)
        relation = self.data.aggregate(select, ", ".join(e for _, e in groups))
        return relation.to_arrow_table() if hasattr(relation, "to_arrow_table") else relation.arrow()

    def describe(self) -> str:
        return f"duckdb relation ({len(self.data.columns)} columns)"

    def quote(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def row_hash(self, columns: list[str]) -> str:
        # The first 64 bits of the MD5 of the row as text: each value cast
        # to text, NUL for null, joined by U+001F.
        parts = ", ".join(f"COALESCE(CAST({self.quote(c)} AS VARCHAR), chr(0))" for c in columns)
        return f"CAST(('0x' || substr(md5(concat_ws(chr(31), {parts})), 1, 16)) AS UBIGINT)"


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


def enforce(bridge: Any, engine: _Engine, policy: str, mapping: dict, record: bool, strict: bool) -> dict:
    """Runs the agent's rounds: answers what it needs, until it has results.
    Not ``strict``, a control with an unknown metric is an error result."""
    columns = engine.columns()
    _frames.unique([n for n, _ in columns])
    frames: list[bytes] = []
    answers: list[dict] = []
    for _ in range(MAX_ROUNDS):
        reply = bridge.request(
            "enforce_counts",
            tuple(frames),
            policy=policy,
            mapping=mapping,
            columns=[{"name": n, "type": t} for n, t in columns],
            engine=engine.name,
            source=engine.describe(),
            record=record,
            strict=strict,
            answers=answers,
        )
        if "need" not in reply:
            return reply
        need = reply["need"]
        for item, table in _pairs(need, engine.answer_all([n["request"] for n in need])):
            frames.append(_frames.ipc_file(table))
            answers.append({"key": item["key"], "frame": len(frames) - 1})
    raise AgentError(f"the agent still needed count tables after {MAX_ROUNDS} rounds")
