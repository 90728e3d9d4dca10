"""A tiled load's copies that the engine decides alike, counted without deciding them again.

`budget simulate` repeats an observation every period over the month (`load.tiled`): a minute of 92 events is
44,640 copies, 4.1M events at 1×, and `--scale 100x` 410M, which took 558 s. Each copy is the same events
shifted by a period, with trace ids of their own (`<id>~k.j`). So where the engine's state at the start of a
copy is the state it had at the start of the one before (moved by a period), and the month's counters decide
nothing otherwise across the next copies, those copies are decided as that one was, event for event: their
counts are that copy's, and the state after them is that copy's end moved on.

What of the state decides a later copy's events (see docs/rules.md and `Engine._process_py`):

- the clocks, each system's rate window (its index, counts, tier, calm windows) and the loop windows, relative
  to the copy's start (`carried`);
- not the cross-system copies nor the trace records: they are keyed by trace id, and no later copy's event
  carries an earlier copy's ids (unless the observation's own ids hold a `~`, or a critical-trace pattern
  could match the copy's suffix: `repeats` refuses those);
- the month's counters (writes per system, borrowed and lent, the total) only through comparisons with fixed
  numbers: the essential gate, the cap, each share, the next threshold moment (`_marks`). While none of those
  comparisons changes, the counters grow by the same amount each copy. Borrowing is not repeated (which
  lender pays depends on their counters); a share that refuses writes under prorated lending is, for as long
  as no system has anything to lend (what a lender may lend grows with time: `_nothing_to_lend`).

A copy is checked against the one before it: equal states at both starts, the same comparisons from its start to
where the skipped copies would end. The days the skipped copies fall on are counted: a copy lies in one day
when the period divides a day, and starts a day when it is whole days.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from logcorr.rules.budget import BudgetConfig
from logcorr.rules.engine import Engine
from logcorr.rules.policy import Policy
from logcorr.rules.state import RuleState
from logcorr.sim import load

DAY_MS = 86_400_000

# `why_not`'s reason when the scale's fraction is all that keeps the copies from repeating
FRACTIONAL = "a fractional scale keeps another share of each copy"

# a critical-trace pattern that could match a copy's `~k.j` suffix: one with a `~`, or of digits and dots alone
_SUFFIX_LIKE = re.compile(r"~|^[0-9.]*$")


def repeats(con: Any, policy: Policy, period_ms: int, scale: float) -> bool:
    """Whether the copies of `sim_base` tiled every `period_ms` at `scale` repeat one another for the engine (see
    the module docstring and `why_not`)."""
    return why_not(con, policy, period_ms, scale) is None


def why_not(con: Any, policy: Policy, period_ms: int, scale: float) -> str | None:
    """Why the copies of `sim_base` tiled every `period_ms` at `scale` may not repeat one another for the engine,
    so that each is decided (a phrase), or None when they may: whole clones (a fractional scale keeps a different
    share of each copy), whole rate windows a period, whole days or a whole number of periods a day, no `~` in
    the observed trace ids and no critical-trace pattern the copies' suffixes could match. The fractional scale
    is said last: when it is the reason, a whole scale's copies may repeat."""
    clones, _, fraction = load.clones_of(scale)
    window = policy.rate_limit.window_ms
    if clones == 0:
        return "no event is kept at this scale"
    if period_ms % window:
        return "the rate limit's window does not divide the period the events are repeated every"
    if DAY_MS % period_ms and period_ms % DAY_MS:
        return "the period the events are repeated every neither divides a day nor is whole days"
    if any(_SUFFIX_LIKE.search(p) for p in policy.critical.trace_id_patterns):
        return "a critical-trace pattern could match a copy's trace ids (`<id>~k.j`)"
    if con.execute("SELECT count(*) FROM sim_base WHERE contains(trace_id, '~')").fetchall()[0][0]:
        return "observed trace ids hold a `~`, as a copy's do (`<id>~k.j`)"
    if fraction:
        return FRACTIONAL
    return None


def carried(st: RuleState, at: int, loop_window_ms: int, rate_window_ms: int) -> tuple[Any, ...]:
    """What of the state decides events from `at` on of a copy with trace ids of its own, with times relative to
    `at` (so two copies' starts compare equal). Loop windows' copies at or before `at − window` count for no
    later event."""

    def rel(x: int) -> int | None:
        return x - at if x >= 0 else None

    systems = frozenset(
        (
            name,
            rel(s.clock),
            s.window - at // rate_window_ms if s.window >= 0 else None,
            rel(s.window_end),
            s.tier,
            s.limit,
            s.grace_limit,
            s.count,
            s.offered,
            s.grace,
            s.calm,
            s.quota,
        )
        for name, s in st.systems.items()
    )
    cut = at - loop_window_ms
    loops = frozenset(
        (key, tuple(t - at for t in stored if t > cut))
        for key, stored in st.loop.items()
        if stored and stored[-1] > cut
    )
    return rel(st.clock), systems, loops


@dataclass
class Counters:
    """The month's counters at one moment: the total and each system's own, borrowed and lent writes."""

    total: int
    systems: dict[str, tuple[int, int, int]]

    @classmethod
    def of(cls, st: RuleState) -> Counters:
        return cls(st.total, {n: (s.own, s.borrowed, s.lent) for n, s in st.systems.items()})


def _marks(st: RuleState, cfg: BudgetConfig, c: Counters) -> list[tuple[int, int]]:
    """(value, limit) of every comparison of the month's counters the engine decides by, at counters `c`: the
    total against the essential gate, the cap and the next total moment; each system's own and lent writes
    against its share, and its used writes against its next moment."""
    out = [(c.total, cfg.essential_at), (c.total, cfg.monthly), (c.total, st.next_total_threshold)]
    for name, (own, borrowed, lent) in sorted(c.systems.items()):
        s = st.systems[name]
        out += [(own + lent, s.quota), (own + borrowed, s.next_threshold)]
    return out


def copies_alike(
    engine: Engine,
    before: Counters,
    after: Counters,
    budget_drops: int,
    at_most: int,
    at: int,
    period_ms: int,
) -> int:
    """How many more copies decide as the one that ended at `at` and took the counters from `before` to `after`
    did (the engine's state at its end being the one at its start, moved by a period: the caller checks
    `carried`), at most `at_most`: every comparison of `_marks` the same from that copy's start to the end of the
    last of them, and a share that refused writes (`budget_drops`) under prorated lending still without a lender
    (`_nothing_to_lend`)."""
    st, cfg = engine.state, engine.budget
    if at_most <= 0 or set(before.systems) != set(after.systems):
        return 0
    step = Counters(after.total - before.total, {})
    for name, (own, borrowed, lent) in after.systems.items():
        b_own, b_borrowed, b_lent = before.systems[name]
        if borrowed != b_borrowed or lent != b_lent:
            return 0  # borrowing: which lender pays depends on the lenders' counters
        step.systems[name] = (own - b_own, 0, 0)
    n = at_most
    if budget_drops and cfg.borrowing and cfg.prorated and after.total < cfg.essential_at:
        # a share refused writes: what prorated lenders may lend grows with time
        n = _nothing_to_lend(st, after, step, at, period_ms, n)
    start, end, delta = _marks(st, cfg, before), _marks(st, cfg, after), _marks(st, cfg, step)
    for (v0, limit), (v1, _), (dv, _) in zip(start, end, delta, strict=True):
        if (v0 < limit) != (v1 < limit):
            return 0  # the copy itself crossed it
        if v1 < limit and dv > 0:
            n = min(n, (limit - 1 - v1) // dv)  # v1 + n·dv stays below the limit
    return max(n, 0)


def _nothing_to_lend(
    st: RuleState, after: Counters, step: Counters, at: int, period_ms: int, at_most: int
) -> int:
    """How many copies from `at` (at most `at_most`) no system can lend a write in under prorated lending
    (`budget.lendable`: its share's part of the month elapsed, minus what it wrote and lent), its writes growing
    by `step` each copy: copy i (from 1) ends before at + i·period, and its lender has written at least what it
    had at its start. Without the floor of the share's part, C + D·i ≤ 0 over the copies (times the month's
    length): a copy fewer at most."""
    span = st.month_end - st.month_start
    n = at_most
    for name, s in st.systems.items():
        if s.quota <= 0:
            continue
        own, _, lent = after.systems[name]
        d = step.systems[name][0]
        c = s.quota * (at - st.month_start) - span * (own + lent - d)
        slope = s.quota * period_ms - span * d
        if c + slope > 0:
            return 0  # the next copy may find it lending
        if slope > 0:
            n = min(n, -c // slope)
    return n


def forget_copies(st: RuleState) -> None:
    """At a copy's start, let go of the cross-system copies and trace records the copies before it left: no event
    of it or a later copy has their trace ids (`repeats`), so they decide nothing; kept, a trace's record stays an
    hour after its last event (`trace_aware.idle_ms`), 60 copies of a minute."""
    st.cross = {}
    st.traces = {}


def advance(engine: Engine, at: int, copies: int, period_ms: int, before: Counters, after: Counters,
            stats: Counter[str]) -> None:  # fmt: skip
    """Move the engine's state from `at`, the end of a copy decided from counters `before` to `after`, past
    `copies` more copies decided alike (`copies_alike`): its times a period later each, its counters grown as
    much each, its statistics (`stats`: that copy's) as many times more. The cross-system copies and trace
    records are let go: no later copy's event has their trace ids."""
    st, pol = engine.state, engine.policy
    shift = copies * period_ms
    window = pol.rate_limit.window_ms
    if st.clock >= 0:
        st.clock += shift
    for name, s in st.systems.items():
        if s.clock >= 0:
            s.clock += shift
        if s.window >= 0:
            s.window += shift // window
            s.window_end += shift
        s.own += copies * (after.systems[name][0] - before.systems[name][0])
    st.total += copies * (after.total - before.total)
    cut = at - pol.loop.window_ms
    st.loop = {
        key: [t + shift for t in stored if t > cut]
        for key, stored in st.loop.items()
        if stored and stored[-1] > cut
    }
    forget_copies(st)
    for key, n in stats.items():
        engine.stats[key] += copies * n
    engine.state_moved()
