"""Drive the rule engine over an ordered load and count what it decided.

The load is any SQL query returning the engine's columns (`pos, ts_ms, system, level, trace_id,
fingerprint, suppressed, dup`) in event-time order; DuckDB sorts and spills, the engine streams.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from logcorr.gcpause import gc_paused
from logcorr.rules.columns import drop_numbers, engine_columns
from logcorr.rules.engine import Engine
from logcorr.rules.policy import Policy

DAY_MS = 86_400_000


@dataclass
class SimResult:
    """What the engine decided over a load."""

    start_ms: int
    engine: Engine
    events: int = 0
    offered: Counter[str] = field(default_factory=Counter)  # system → events (suppressed included)
    accepted: Counter[str] = field(default_factory=Counter)
    dropped: Counter[tuple[str, str]] = field(default_factory=Counter)  # (rule, system) → n
    daily: dict[tuple[int, str], list[int]] = field(
        default_factory=dict
    )  # (day, system) → [offered, accepted]


def run(
    con: Any,
    queries: str | Iterable[str],
    policy: Policy,
    *,
    start_ms: int,
    batch_rows: int = 131_072,
    progress: Callable[[int, int, int], None] | None = None,
) -> SimResult:
    """Run the rows of `queries` (one after another: one load in parts, see `load.tiled_in_parts`) through
    a fresh engine; days count from `start_ms`. As ingest's rule phase: the compiled loop takes the text
    columns dictionary-encoded and numbers its drops (no tuple per drop: a projected month is mostly
    drops), and the cyclic collector stays off while the state grows. The skip flags ingest gives the
    Python loop are left out (they need the whole load; the decisions are the same without them).
    `progress(events, queries done, queries)` is called after each query."""
    engine = Engine(policy)
    encode = engine.compiled
    res = SimResult(start_ms=start_ms, engine=engine)
    counts: Counter[tuple[int, str, str | None]] = Counter()  # (day, system, rule or None) → events
    parts = [queries] if isinstance(queries, str) else list(queries)
    with gc_paused():
        for done, query in enumerate(parts, start=1):
            for batch in con.sql(query).to_arrow_reader(batch_rows):
                _count(engine, batch, encode, res, counts, start_ms)
            if progress is not None:
                progress(res.events, done, len(parts))
    daily: Counter[tuple[int, str]] = Counter()
    kept: Counter[tuple[int, str]] = Counter()
    for (day, system, rule), k in counts.items():
        daily[(day, system)] += k
        res.offered[system] += k
        if rule is None:
            kept[(day, system)] += k
            res.accepted[system] += k
        else:
            res.dropped[(rule, system)] += k
    for key, k in daily.items():
        res.daily[key] = [k, kept[key]]
    return res


def _count(
    engine: Engine,
    batch: pa.RecordBatch,
    encode: bool,
    res: SimResult,
    counts: Counter[tuple[int, str, str | None]],
    start_ms: int,
) -> None:
    """One batch through the engine, its events counted by (day, system, rule) in `counts`."""
    n = batch.num_rows
    if not n:
        return
    drops = engine.decide_numbered(engine_columns(batch, encode))
    res.events += n
    if new := drops[2]:
        rule = pc.take(pa.array([d[0] for d in new], pa.string()), drop_numbers(drops, n))
    else:
        rule = pa.nulls(n, pa.string())
    # integer division; loads start at start_ms, so the difference is never negative
    day = pc.divide(pc.subtract(batch.column("ts_ms"), start_ms), DAY_MS)
    grouped = pa.table({"day": day, "system": batch.column("system"), "rule": rule}).group_by(
        ["day", "system", "rule"], use_threads=False
    )
    # a few rows a batch (days × systems × rules): Python visits only those
    table = grouped.aggregate([([], "count_all")])
    keys = zip(*(table.column(c).to_pylist() for c in ("day", "system", "rule")), strict=True)
    counts.update(dict(zip(keys, table.column("count_all").to_pylist(), strict=True)))
