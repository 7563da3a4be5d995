"""The engine's metric catalogue, asked of the agent once per process: every
metric key with what it reads and what its number means, and the column
synonyms the engine's binding tries (``agent/metrics/src/catalog.rs``)."""

from __future__ import annotations

import functools

from ._bridge import agent


@functools.lru_cache(maxsize=1)
def catalog() -> dict:
    return agent().request("catalog")


def metrics() -> dict[str, dict]:
    """Metric entries by canonical key."""
    return {m["key"]: m for m in catalog()["metrics"]}


def canonical(name: str) -> str | None:
    """The canonical key of a metric name or alias (case-insensitive)."""
    lower = name.strip().lower()
    for m in catalog()["metrics"]:
        if lower == m["key"] or lower in m["aliases"]:
            return m["key"]
    return None
