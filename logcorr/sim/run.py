"""Drive the rule engine over an ordered load and count what it decided.

The load is any SQL query returning the engine's columns (`pos, ts_ms, system, level, trace_id,
fingerprint, suppressed, dup`) in event-time order; DuckDB sorts and spills, the engine streams. A tiled load
(`run_tiled`) has its copies that the engine decides alike counted without deciding them again (`sim.steady`), and
what it may cost is the events it decides, not the events it counts (`TooMuchWork`).
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
from logcorr.sim import load, steady

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
    _tally(res, counts)
    return res


def _tally(res: SimResult, counts: Counter[tuple[int, str, str | None]]) -> None:
    """The counts by (day, system, rule) into `res`'s offered, accepted, dropped and daily counts."""
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


@dataclass(frozen=True)
class Tiling:
    """A load `load.tiled` makes: `copies` copies of `sim_base` (its events from `base_start`, `base_events` of
    them), one every `period_ms` from `start_ms`, at `scale`, cut at `end_ms`."""

    start_ms: int
    base_start: int
    period_ms: int
    copies: int
    scale: float
    end_ms: int
    base_events: int

    @property
    def copy_events(self) -> float:
        """About how many events a copy holds (`scale` times the base's)."""
        return self.base_events * self.scale

    def parts(self, first_copy: int = 0) -> list[str]:
        """The load from copy `first_copy` on, in parts (`load.tiled_in_parts`)."""
        t = self
        return load.tiled_in_parts(
            t.start_ms, t.base_start, t.period_ms, t.copies, t.scale, t.end_ms, t.base_events, first_copy
        )


# copies decided between two checks for copies alike at most, while they keep failing (a check decides a copy on
# its own and compares the engine's state at its ends)
MAX_GAP = 64
# …and events: copies of a million events each are checked one by one. Each check lets go of the trace records of
# the copies before it (`steady.forget_copies`): 64 copies of the bundled sample at 10,000× held 1.9M of them, 2.6 GB
GAP_EVENTS = 1_000_000


class TooMuchWork(Exception):
    """A tiled load the engine would decide more than `limit` events of: refused before deciding any (`copy` None;
    `at_least` the events it would decide at least), or stopped in copy `copy` (of `copies`) with `decided` events
    decided and `counted` counted, those decided included. `why`: why every copy is decided (`steady.why_not`),
    None when copies alike are counted."""

    def __init__(self, limit: int, tiling: Tiling, *, at_least: float = 0, copy: int | None = None,
                 decided: int = 0, counted: int = 0, why: str | None = None) -> None:  # fmt: skip
        super().__init__(f"more than {limit:,} events to decide")
        self.limit, self.tiling, self.at_least, self.copy = limit, tiling, at_least, copy
        self.decided, self.counted, self.why = decided, counted, why


def run_tiled(
    con: Any,
    tiling: Tiling,
    policy: Policy,
    *,
    batch_rows: int = 131_072,
    progress: Callable[[int, int, int], None] | None = None,
    skip: bool = True,
    max_decided: int | None = None,
) -> SimResult:
    """`run` over a tiled load; where its copies repeat for the engine (`steady.repeats`) and `skip`, the copies
    it would decide as the one before are counted without deciding them (the same result: `sim.steady`).
    `progress(events, copies done, copies)`, then, after each check. `max_decided`: the most events the engine may
    decide: a load that would decide more is refused before any is decided, when that is certain (every copy
    decided, or the first two copies, which always are), else stopped before the batch that would pass it
    (`TooMuchWork`)."""
    why = steady.why_not(con, policy, tiling.period_ms, tiling.scale) if skip else "every copy asked for"
    most = tiling.copies if why is not None else min(tiling.copies, 2)
    if max_decided is not None and tiling.copy_events * most > max_decided:
        raise TooMuchWork(max_decided, tiling, at_least=tiling.copy_events * most, why=why)
    if why is not None:
        return run(
            con, tiling.parts(), policy, start_ms=tiling.start_ms, batch_rows=batch_rows, progress=progress
        )
    stepper = _Stepper(Engine(policy), tiling, progress, max_decided)
    first: int | None = 0
    with gc_paused():
        while first is not None:
            first = stepper.decide(con, first, batch_rows)
    return stepper.result()


class _Stepper:
    """`run_tiled`'s loop: the load's batches through the engine, cut where a checked copy starts and ends."""

    def __init__(
        self,
        engine: Engine,
        tiling: Tiling,
        progress: Callable[[int, int, int], None] | None,
        limit: int | None = None,
    ) -> None:
        self.engine, self.tiling, self.progress, self.limit = engine, tiling, progress, limit
        self.encode = engine.compiled
        self.res = SimResult(start_ms=tiling.start_ms, engine=engine)
        self.counts: Counter[tuple[int, str, str | None]] = Counter()
        # copies the end does not cut: only those are checked or counted alike
        self.full = (tiling.end_ms - tiling.start_ms) // tiling.period_ms
        self.gap = 1
        self.most_gap = max(1, min(MAX_GAP, int(GAP_EVENTS // max(1.0, tiling.copy_events))))
        self.template: int | None = 0  # the copy checked next
        self.inside = False  # deciding it
        self.copy_counts: Counter[tuple[int, str, str | None]] = Counter()
        self.sig: tuple[Any, ...] = ()
        self.before = steady.Counters(0, {})
        self.stats: Counter[str] = Counter()
        self.events = 0
        self.decided = 0  # events the engine decided (`res.events` counts those counted alike too)

    def decide(self, con: Any, first: int, batch_rows: int) -> int | None:
        """Decide the load from copy `first` on; returns the copy to go on from after copies counted alike, or
        None at the load's end."""
        for query in self.tiling.parts(first):
            reader = con.sql(query).to_arrow_reader(batch_rows)
            try:
                for batch in reader:
                    goon = self._feed(batch)
                    if goon is not None:
                        return goon
            finally:
                reader.close()
        return None

    def _feed(self, batch: pa.RecordBatch) -> int | None:
        t = self.tiling
        while batch.num_rows:
            if self.template is None:
                self._decide(batch, self.counts)
                return None
            edge = self.template + self.inside  # the copy whose start is looked at next
            at = t.start_ms + edge * t.period_ms
            before = pc.sum(pc.less(batch.column("ts_ms"), at)).as_py() or 0  # rows in time order
            if before:
                self._decide(batch.slice(0, before), self.copy_counts if self.inside else self.counts)
            if before == batch.num_rows:
                return None
            batch = batch.slice(before)
            goon = self._edge(edge, at)
            if goon is not None:
                return goon
        return None

    def _decide(self, batch: pa.RecordBatch, into: Counter[tuple[int, str, str | None]]) -> None:
        """`batch` through the engine, counted into `into`; `TooMuchWork` instead when it would take the events
        decided beyond the limit."""
        t = self.tiling
        if self.limit is not None and self.decided + batch.num_rows > self.limit:
            copy = (batch.column("ts_ms")[0].as_py() - t.start_ms) // t.period_ms
            raise TooMuchWork(self.limit, t, copy=copy, decided=self.decided, counted=self.res.events)
        _count(self.engine, batch, self.encode, self.res, into, t.start_ms)
        self.decided += batch.num_rows

    def _edge(self, edge: int, at: int) -> int | None:
        """Copy `edge` starts at `at`: the checked copy starts, or it ended and the copies after it alike are
        counted (returns the copy to go on from)."""
        engine, st, pol = self.engine, self.engine.state, self.engine.policy
        steady.forget_copies(st)
        sig = steady.carried(st, at, pol.loop.window_ms, pol.rate_limit.window_ms)
        now = steady.Counters.of(st)
        if self.progress is not None:
            self.progress(self.res.events, edge, self.tiling.copies)
        if not self.inside:
            self._check_from(sig, now)
            return None
        self.counts.update(self.copy_counts)
        alike = 0
        if sig == self.sig:
            budget_drops = sum(n for (_, _, rule), n in self.copy_counts.items() if rule == "budget")
            alike = steady.copies_alike(
                engine, self.before, now, budget_drops, self.full - edge, at, self.tiling.period_ms
            )
        if alike:
            self._count_alike(edge, alike)
            steady.advance(
                engine, at, alike, self.tiling.period_ms, self.before, now, engine.stats - self.stats
            )
            self.gap = 1
            self._next_check(edge + alike)
            return edge + alike
        self.gap = min(2 * self.gap, self.most_gap)
        self._next_check(edge + self.gap - 1)
        return None

    def _next_check(self, copy: int) -> None:
        self.inside = False
        self.template = copy if copy < self.full else None

    def _check_from(self, sig: tuple[Any, ...], now: steady.Counters) -> None:
        self.inside = True
        self.sig, self.before, self.stats = sig, now, Counter(self.engine.stats)
        self.copy_counts = Counter()
        self.events = self.res.events

    def _count_alike(self, edge: int, alike: int) -> None:
        """Copies `edge` … `edge + alike − 1` counted as the checked copy, `edge − 1`, was: its counts on the day
        each of them starts plus its own day's offset (a copy lies in one day, or starts one)."""
        period = self.tiling.period_ms
        own_day = (edge - 1) * period // DAY_MS
        days = Counter(c * period // DAY_MS for c in range(edge, edge + alike))
        for (day, system, rule), n in self.copy_counts.items():
            for d, k in days.items():
                self.counts[(d + day - own_day, system, rule)] += k * n
        self.res.events += alike * (self.res.events - self.events)

    def result(self) -> SimResult:
        if self.inside:
            self.counts.update(self.copy_counts)
            self.inside = False
        _tally(self.res, self.counts)
        return self.res


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
