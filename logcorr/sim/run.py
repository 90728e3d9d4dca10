"""Drive the rule engine over an ordered load and count what it decided.

The load is any SQL query returning the engine's columns (`pos, ts_ms, system, level, trace_id,
fingerprint, suppressed, dup`) in event-time order; DuckDB sorts and spills, the engine streams.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from logcorr.rules.engine import Engine, hot_flags_sql
from logcorr.rules.policy import Policy

DAY_MS = 86_400_000
MINUTE_MS = 60_000


@dataclass
class SimResult:
    """What the engine decided over a load."""

    start_ms: int
    events: int = 0
    offered: Counter[str] = field(default_factory=Counter)  # system → events (suppressed included)
    accepted: Counter[str] = field(default_factory=Counter)
    dropped: Counter[tuple[str, str]] = field(default_factory=Counter)  # (rule, system) → n
    daily: dict[tuple[int, str], list[int]] = field(
        default_factory=dict
    )  # (day, system) → [offered, accepted]
    minutes: dict[tuple[int, str], list[int]] = field(
        default_factory=dict
    )  # (minute, system) → [offered, accepted]
    minute_drops: Counter[tuple[int, str, str]] = field(default_factory=Counter)  # (minute, system, rule)
    engine: Engine | None = None


def run(
    con: Any,
    query: str,
    policy: Policy,
    *,
    start_ms: int,
    params: list[Any] | None = None,
    per_minute: bool = False,
    batch_rows: int = 131_072,
    on_batch: Callable[[int], None] | None = None,
) -> SimResult:
    """Run `query`'s rows through a fresh engine; days and minutes count from `start_ms`."""
    engine = Engine(policy)
    res = SimResult(start_ms=start_ms, engine=engine)
    # the same skip flags ingest computes: identical decisions, less bookkeeping for lone events
    query = f"SELECT *, {hot_flags_sql(policy)} FROM ({query}) ORDER BY pos"
    offered, accepted, dropped, daily = res.offered, res.accepted, res.dropped, res.daily
    minutes, minute_drops = res.minutes, res.minute_drops
    reader = (
        con.execute(query, params or []).to_arrow_reader(batch_rows)
        if params
        else con.sql(query).to_arrow_reader(batch_rows)
    )
    for batch in reader:
        cols = batch.to_pydict()
        drops = engine.process(cols)
        P, TS, SY = cols["pos"], cols["ts_ms"], cols["system"]
        n = len(P)
        res.events += n
        first = P[0] if n else 0
        gone: dict[int, str] = {pos - first: rule for pos, rule, _reason, _state in drops}
        for i in range(n):
            system = SY[i]
            day = (TS[i] - start_ms) // DAY_MS
            rule = gone.get(i)
            d = daily.get((day, system))
            if d is None:
                d = daily[(day, system)] = [0, 0]
            d[0] += 1
            offered[system] += 1
            if rule is None:
                d[1] += 1
                accepted[system] += 1
            else:
                dropped[(rule, system)] += 1
            if per_minute:
                minute = (TS[i] - start_ms) // MINUTE_MS
                m = minutes.get((minute, system))
                if m is None:
                    m = minutes[(minute, system)] = [0, 0]
                m[0] += 1
                if rule is None:
                    m[1] += 1
                else:
                    minute_drops[(minute, system, rule)] += 1
        if on_batch is not None:
            on_batch(res.events)
    return res
