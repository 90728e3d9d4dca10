"""Drive the rule engine over an ordered load and count what it decided.

The load is any SQL query returning the engine's columns (`pos, ts_ms, system, level, trace_id,
fingerprint, suppressed, dup`) in event-time order; DuckDB sorts and spills, the engine streams.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pyarrow.compute as pc

from logcorr.rules.engine import Engine, hot_flags_sql
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


def run(con: Any, query: str, policy: Policy, *, start_ms: int, batch_rows: int = 131_072) -> SimResult:
    """Run `query`'s rows through a fresh engine; days count from `start_ms`."""
    engine = Engine(policy)
    res = SimResult(start_ms=start_ms, engine=engine)
    # the same skip flags ingest computes: identical decisions, less bookkeeping for lone events
    query = f"SELECT *, {hot_flags_sql(policy)} FROM ({query}) ORDER BY pos"
    offered_daily: Counter[tuple[int, str]] = Counter()
    dropped_daily: Counter[tuple[int, str]] = Counter()
    for batch in con.sql(query).to_arrow_reader(batch_rows):
        cols = batch.to_pydict()
        drops = engine.decide(cols)
        P, SY = cols["pos"], cols["system"]
        if not P:
            continue
        res.events += len(P)
        # integer division; loads start at start_ms, so the difference is never negative
        days = pc.divide(pc.subtract(batch.column("ts_ms"), start_ms), DAY_MS).to_pylist()
        # every event is counted by C-level Counter passes; Python only visits the drops
        offered_daily.update(zip(days, SY, strict=True))
        res.offered.update(SY)
        first = P[0]
        for pos, (rule, _reason, _state) in drops:
            i = pos - first
            res.dropped[(rule, SY[i])] += 1
            dropped_daily[(days[i], SY[i])] += 1
    for key, n in offered_daily.items():
        res.daily[key] = [n, n - dropped_daily[key]]
    for system, n in res.offered.items():
        res.accepted[system] = n - sum(d for (_rule, s), d in res.dropped.items() if s == system)
    return res
