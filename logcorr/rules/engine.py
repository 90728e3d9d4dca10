"""The one rule engine. It sees events in event-time order, in column batches, and returns only the
drops: (position, rule, reason, rule state as JSON). It never reads the wall clock: its clock is the
newest event time it has decided, so the same input, policy and prior state give the same decisions.

Redaction (rule 1) and the stateless inputs of rules 2–3 (suppression match, duplicate flag) are
computed before the engine runs. The per-event loop applies rules 2–7 in the documented order, so the
first rule that rejects is the one named. It runs on plain values: the common path of every rule is
inlined here, and the rule modules (`loop`, `cross_system`, `traces`, `rate`, `budget`) own the
rare paths (window roll-over, borrowing, reasons, snapshots) and the semantics, written in
docs/rules.md.
"""

from __future__ import annotations

from array import array
from collections import Counter
from operator import itemgetter
from typing import Any

from logcorr import native
from logcorr.gcpause import gc_paused
from logcorr.rules import budget, cross_system, duplicate, loop, rate, suppress, traces
from logcorr.rules.budget import BudgetConfig
from logcorr.rules.policy import Policy
from logcorr.rules.rate import RateConfig
from logcorr.rules.state import (
    Decision,
    RuleState,
    SystemState,
    loop_cutoffs,
    sweep_cross,
    sweep_loop,
    sweep_traces,
)
from logcorr.rules.traces import TraceConfig

Drop = tuple[int, str, str, str | None]
# a batch's drops numbered (see `Engine.decide_numbered`): the dropped rows (a bitmap), each row's decision
# number, the distinct decisions
Numbered = tuple[bytes, bytes, list[Decision]]


_SWEEP_MS = 300_000  # prune the windows' containers every 5 minutes of event time…
_SWEEP_MIN = 4096  # …when they hold more entries than this (below it memory does not matter)

# the order rules are applied in; the first that rejects is recorded
RULES: tuple[str, ...] = ("suppress", "duplicate", "loop", "cross_system", "trace", "rate_limit", "budget")

# the columns `process` reads. Optional: `loop_hot` / `cross_hot` (see `hot_flags_sql`): without them every event is checked, with them the same decisions
# come faster; `cross_prior`: per event None, or (system, ts ms) of a copy an earlier ingest stored (rule 5
# compares it as it compares the state's kept copy: ingest's `decide` finds them).
COLUMNS: tuple[str, ...] = ("pos", "ts_ms", "system", "level", "trace_id", "fingerprint", "suppressed", "dup")


def _hot(policy: Policy, kind: str) -> tuple[str, str, str, int, str | None]:
    """One hot flag's definition: (partition, neighbour comparison, newest-window comparison, window ms,
    row condition)."""
    if kind == "loop":
        return "system, level, fingerprint", "<", ">", int(policy.loop.window_ms), None
    return "trace_id, fingerprint", "<=", ">=", int(policy.cross_system.window_ms), "trace_id IS NOT NULL"


def hot_flags_sql(policy: Policy, ts: str = "ts_ms", order: str = "pos") -> str:
    """SQL select-list items computing `loop_hot` and `cross_hot` over a relation of events.

    An event can only meet the loop rule (either way: be dropped, or count for a later copy) if an
    identical message (system, level, fingerprint) lies within the loop window before or after it;
    likewise the cross-system rule needs a copy of the same (trace, fingerprint) within its window.
    Events without such a neighbour skip those rules' bookkeeping, which does not change any decision.
    The last window of the input is hot, so its events are remembered for the next ingest (the engine
    treats the first window after a loaded state's clock as hot itself).
    """
    items = []
    for kind in ("loop", "cross"):
        part, near, recent, w, only = _hot(policy, kind)
        over = f"PARTITION BY {part} ORDER BY {order}"
        cond = (
            f"coalesce({ts} - lag({ts}) OVER ({over}) {near} {w}, false)"
            f" OR coalesce(lead({ts}) OVER ({over}) - {ts} {near} {w}, false)"
            f" OR {ts} {recent} max({ts}) OVER () - {w}"
        )
        items.append(f"{only} AND ({cond}) AS {kind}_hot" if only else f"{cond} AS {kind}_hot")
    return ", ".join(items)


def hot_events_sql(
    policy: Policy,
    kind: str,
    relation: str,
    newest: int,
    key: str = "seq",
    by_system: dict[str, int] | None = None,
) -> str:
    """The `{kind}_hot` flag of `hot_flags_sql` (kind: loop or cross) as a query listing the `key` of the
    hot events of `relation` (ordered by ts_ms, then `key`; `newest`: its largest ts_ms; `by_system`: each
    system's, for the loop flag, whose saved windows are per system). One window per statement over narrow
    columns: DuckDB runs that several times faster than all windows in one SELECT."""
    part, near, recent, w, only = _hot(policy, kind)
    last = str(newest)
    if kind == "loop" and by_system:
        whens = " ".join(
            f"WHEN '{name.replace(chr(39), chr(39) * 2)}' THEN {n}" for name, n in by_system.items()
        )
        last = f"CASE system {whens} ELSE {newest} END"
    return f"""
        SELECT {key} FROM (
            SELECT {key}, ts_ms, {last} AS last, lag(ts_ms) OVER w AS prev, lead(ts_ms) OVER w AS next
            FROM {relation} {f"WHERE {only}" if only else ""}
            WINDOW w AS (PARTITION BY {part} ORDER BY ts_ms, {key})
        ) WHERE ts_ms - prev {near} {w} OR next - ts_ms {near} {w} OR ts_ms {recent} last - {w}
    """


def compiled_loop() -> Any:
    """The compiled engine loop (`logcorr/_fastrules.c`), or None when it is not built or turned off."""
    ext = native.module("_fastrules")
    if ext is None:
        return None
    ext.bind(SystemState, RuleState)
    return ext.decide


class Engine:
    """Applies the policy's rules to batches of events and keeps the state between batches."""

    def __init__(
        self, policy: Policy, state: RuleState | None = None, compiled: bool = True, *, ordered: bool = False
    ) -> None:
        """`compiled=False` keeps the Python loop even when the compiled one is built (for comparisons).
        `ordered`: the caller promises that no event is older than one decided before it (a fresh state and
        one stream in event-time order, as a replay's). A trace refused before anything of it was stored is
        then forgotten at the first sweep after its refusal ended, not an hour after its last event: its record
        decides nothing an absent one would not. An ingest cannot promise it (an earlier ingest's state, a
        system whose exports lag), and keeps them."""
        self.policy = policy
        self._ordered = ordered
        self.state = state if state is not None else RuleState()
        self.rate = RateConfig.from_policy(policy)
        self.budget = BudgetConfig.from_policy(policy)
        self.traces = TraceConfig.from_policy(policy)
        self.stats: Counter[str] = Counter()  # critical bypasses, grace admissions, refusals, late events
        for ss in self.state.systems.values():  # a loaded state meets this policy
            rate.set_tier(ss, ss.tier, self.rate)
            ss.quota = self.budget.quotas.get(ss.name, 0)
        for name in self.budget.quotas:  # lenders exist before they log anything
            if name not in self.state.systems:
                self._system(name)
        if self.state.month:
            budget.rearm(self.state, self.budget)
        self._sweep_at = self._sweep_traces_at = -1
        self._loop_drops: dict[Any, Any] = {}  # loop key → (stored list, its length, decision)
        self._suppress_drops: dict[str, Decision] = {}  # pattern → decision
        # events this close after the loaded state's clock may meet copies an earlier ingest stored. A loop
        # copy is its own system's, decided at or before that system's clock: a system whose export comes
        # after another's later one meets none past its own window (a system with copies and no clock, which
        # no saved state holds, gets the newest clock's)
        clock = self.state.clock
        w = policy.loop.window_ms
        self._fresh_loop = {name: ss.clock + w for name, ss in self.state.systems.items() if ss.clock >= 0}
        for system, *_ in self.state.loop:
            self._fresh_loop.setdefault(system, clock + w)
        self._fresh_cross = clock + policy.cross_system.window_ms if clock >= 0 else -1
        self._budget_drops = budget.DropCache(self.budget)
        self._compiled = compiled_loop() if compiled else None

    @property
    def compiled(self) -> bool:
        """Whether the compiled loop decides (`logcorr/_fastrules.c`)."""
        return self._compiled is not None

    def _system(self, name: str) -> SystemState:
        ss = self.state.system(name)
        ss.quota = self.budget.quotas.get(name, 0)
        budget.rearm_system(self.state, ss, self.budget)
        return ss

    def _boundary(self, clock: int, raw: int) -> tuple[int, int]:
        """Month roll-over due at `clock` (the newest time an event was decided at) and pruning due at `raw`
        (the event's own time); returns when each is next due. Pruning runs every few minutes of event time,
        only on containers big enough to matter, and replaces them (the caller re-reads `state.loop`,
        `.cross`, `.traces`).

        Its cutoffs count back from `raw`: events come in event-time order, and one is decided at its own
        time or, when late, at its system's later clock, so no later event is decided before `raw`, and what
        is pruned could not have matched one (each rule checks its window itself; pruning only frees
        memory). Counted from `clock` they never moved while a system's export ingested after another's
        was behind that clock: the cross-system and trace containers held every event of such an ingest
        (1.2M browser lines after their backend's export: 824 MB)."""
        st = self.state
        if clock >= st.month_end:
            budget.roll_month(st, clock, self.budget)
        if raw >= self._sweep_at:
            pol = self.policy
            self._loop_drops.clear()
            if len(st.loop) > _SWEEP_MIN:
                w = pol.loop.window_ms
                st.loop = sweep_loop(st.loop, loop_cutoffs(st, w), raw - w)
            if len(st.cross) > _SWEEP_MIN:
                st.cross = sweep_cross(st.cross, raw - pol.cross_system.window_ms)
            if len(st.traces) > _SWEEP_MIN and raw >= self._sweep_traces_at:
                st.traces = sweep_traces(st.traces, raw - self.traces.idle_ms, raw, self._ordered)
                # ordered, the refused traces go a few minutes after their refusal, not after an hour idle: a
                # `replay --multiply 20` of a million events held 280,000 of them, 1 KB each (their reasons)
                self._sweep_traces_at = raw + (_SWEEP_MS if self._ordered else self.traces.idle_ms // 4)
            self._sweep_at = raw + _SWEEP_MS
        return st.month_end, self._sweep_at

    def state_moved(self) -> None:
        """A caller moved the state in time (`logcorr.sim.steady`): the decisions cached for its loops and
        rate windows name times no longer theirs, and the sweeps are due at the next event (a sweep only frees
        memory, so an early one decides nothing otherwise)."""
        self._loop_drops.clear()
        for ss in self.state.systems.values():
            ss.drop_info = ss.grace_drop_info = None
        self._sweep_at = self._sweep_traces_at = -1

    def process(self, cols: dict[str, list[Any]]) -> list[Drop]:
        """Decide one batch; `cols` holds equal-length lists (see COLUMNS), rows in event-time order
        (ties in input order). Returns the drops, in order."""
        return [(pos, *d) for pos, d in self.decide(cols)]

    def decide(self, cols: dict[str, list[Any]]) -> list[tuple[int, Decision]]:
        """`process` as (position, decision) pairs: consecutive drops for one reason share the decision
        tuple object, which their bookkeeping can count on."""
        with gc_paused():
            if self._compiled is not None:
                out: list[tuple[int, Decision]] = self._compiled(self._context(), cols)
                return out
            return self._process_py(cols)

    def decide_numbered(self, cols: dict[str, list[Any]]) -> Numbered:
        """`decide` as Arrow buffers, without a tuple per drop: which rows are dropped (a bitmap, bit i of
        byte i // 8 set for row i, Arrow's validity layout), each row's number among the batch's distinct
        decision objects (int32 in native byte order, numbered in order of first use; 0 for a stored row),
        and those distinct decisions. What ingest's drop sink writes. The compiled loop needs no `pos`
        column here: rows are numbered by their place in the batch."""
        with gc_paused():
            if self._compiled is not None:
                numbered: Numbered = self._compiled(self._context(), cols, True)
                return numbered
            pairs = self._process_py(cols)
        # numbered by identity in C-level passes (map, dict); only the distinct decisions are visited in
        # Python. `pairs` keeps every decision alive, so no two share an id() meanwhile
        decisions = list(map(itemgetter(1), pairs))
        ids = list(map(id, decisions))
        first = dict(zip(ids, decisions, strict=True))  # in order of first use
        number = {k: n for n, k in enumerate(first)}
        row = {p: i for i, p in enumerate(cols["pos"])}
        n = len(cols["pos"])
        numbers, valid = array("i", bytes(4 * n)), bytearray((n + 7) // 8)
        for (pos, _), k in zip(pairs, ids, strict=True):
            i = row[pos]
            numbers[i] = number[k]
            valid[i >> 3] |= 1 << (i & 7)
        return bytes(valid), numbers.tobytes(), list(first.values())

    def _context(self) -> tuple[Any, ...]:
        """What the compiled loop reads: `_process_py`'s locals, in the order `_fastrules.c` parses them."""
        pol, st = self.policy, self.state
        tcfg = self.traces
        return (
            self, st,
            pol.suppression.enabled, pol.duplicates.enabled, pol.loop.enabled, pol.cross_system.enabled,
            tcfg.enabled, self.rate.enabled,
            pol.loop.max_identical, pol.loop.window_ms, pol.cross_system.window_ms,
            self.budget.fast_gate(), self.budget.essential_at, self._fresh_loop, self._fresh_cross, tcfg.idle_ms,
            tcfg.refuse_ms,
            tcfg.critical_levels, tcfg.critical_levels | tcfg.essential_levels, tcfg.essential_levels,
            tcfg.patterns,
            self._loop_drops, self._suppress_drops,
            suppress.drop, duplicate.decision, loop.prune, loop.drop, cross_system.drop, traces.refuse,
            rate.roll, rate.drop, budget.charge, budget.record, self._budget_drops.get,
            self._boundary, self._system, self.rate, self.budget, tcfg, self.stats,
        )  # fmt: skip

    def _process_py(self, cols: dict[str, list[Any]]) -> list[tuple[int, Decision]]:
        """The engine loop in Python: the reference the compiled loop (`logcorr/_fastrules.c`) follows."""
        drops: list[tuple[int, Decision]] = []
        add = drops.append
        pol = self.policy
        st = self.state
        systems = st.systems
        loop_seen = st.loop
        cross_seen = st.cross
        trace_recs = st.traces
        rcfg, bcfg, tcfg = self.rate, self.budget, self.traces
        sup_on = pol.suppression.enabled
        dup_on = pol.duplicates.enabled
        loop_on = pol.loop.enabled
        loop_max, loop_w = pol.loop.max_identical, pol.loop.window_ms
        cross_on = pol.cross_system.enabled
        cross_w = pol.cross_system.window_ms
        trace_on = tcfg.enabled
        idle = tcfg.idle_ms
        refuse_ms = tcfg.refuse_ms
        rate_on = rcfg.enabled
        gate = bcfg.fast_gate()
        stats = self.stats
        loop_cache = self._loop_drops
        sup_cache = self._suppress_drops
        crit_levels = tcfg.critical_levels
        crit_trace = tcfg.critical_trace_test()
        exempt_levels = tcfg.critical_levels | tcfg.essential_levels
        budget_drop = self._budget_drops.get

        n = len(cols["pos"])
        clock = st.clock
        boundary = sweep_due = -1  # check month and sweeps at the batch's first event
        late = 0

        fresh_loop, fresh_cross = self._fresh_loop, self._fresh_cross
        everything = [True] * n  # without the flags every event is checked
        nothing = [None] * n if not cols.get("cross_prior") else cols["cross_prior"]

        for pos, t, system, level, tid, fp, sup, dup, loop_hot, cross_hot, prior in zip(
            cols["pos"], cols["ts_ms"], cols["system"], cols["level"], cols["trace_id"], cols["fingerprint"],
            cols["suppressed"], cols["dup"], cols.get("loop_hot") or everything, cols.get("cross_hot") or everything,
            nothing, strict=True,
        ):  # fmt: skip
            # rules 2-3: decided before the engine ran
            if sup is not None and sup_on:
                decided = sup_cache.get(sup)
                if decided is None:
                    decided = sup_cache[sup] = ("suppress", *suppress.drop(sup))
                add((pos, decided))
                continue
            if dup and dup_on:
                add((pos, duplicate.decision(int(dup))))
                continue
            ss = systems.get(system)
            if ss is None:
                ss = self._system(system)
            raw = t  # its own time: what no later event is before (the sweeps' cutoffs, see `_boundary`)
            # older than what its own system's rules decided in an earlier ingest: decided at that system's
            # clock. Another system's later clock does not matter (exports of one system after another's)
            if t < ss.clock:
                t = ss.clock
                late += 1
            else:
                ss.clock = t
            if t > clock:
                clock = t
            if clock >= boundary or raw >= sweep_due:
                st.clock = clock
                boundary, sweep_due = self._boundary(clock, raw)  # may replace the containers below
                loop_seen, cross_seen, trace_recs = st.loop, st.cross, st.traces
            if t >= ss.window_end:
                rate.roll(ss, t, rcfg)

            # rule 4: loop (skipped for a message with no identical one within the window either side)
            loop_check = loop_on and (loop_hot or (fresh_loop and t < fresh_loop.get(system, -1)))
            stored = None
            if loop_check:
                lk = (system, level, fp)
                stored = loop_seen.get(lk)
                if stored is not None:
                    if stored[0] <= t - loop_w:
                        stored = loop.prune(stored, t - loop_w)
                        if stored:
                            loop_seen[lk] = stored
                        else:
                            del loop_seen[lk]
                            stored = None
                    if stored is not None and len(stored) >= loop_max:
                        # a loop's later copies share one reason while its stored copies do not change
                        hit = loop_cache.get(lk)
                        if hit is None or hit[0] is not stored or hit[1] != len(stored):
                            hit = (stored, len(stored), ("loop", *loop.drop(lk, stored, loop_max, loop_w)))
                            loop_cache[lk] = hit
                        add((pos, hit[2]))
                        continue

            # rule 5: cross-system duplicate, then the trace's refusal
            rec = None
            if tid is not None:
                if cross_on and (cross_hot or t <= fresh_cross or prior is not None):
                    kept = cross_seen.get((tid, fp))
                    # either side: another system's clock may be ahead of this one's
                    if not (kept is not None and kept[0] != system and -cross_w <= t - kept[1] <= cross_w):
                        # a copy an earlier ingest stored (`cross_prior`), which the saved state may not hold:
                        # exports ingested one system at a time
                        kept = prior
                    if kept is not None and kept[0] != system and -cross_w <= t - kept[1] <= cross_w:
                        add((pos, ("cross_system", *cross_system.drop(tid, fp, kept, system, t, cross_w))))
                        continue
                rec = trace_recs.get(tid)
                if rec is not None and rec[1] <= t - idle and rec[2] <= t:
                    # idle past its time and not refused: forgotten, as a saved state forgets it (the sweep
                    # only thins a large container now and then)
                    del trace_recs[tid]
                    rec = None
                if rec is not None:
                    if t > rec[1]:
                        rec[1] = t
                    # refused from its start until it ends, unless an exempt event of the trace was stored
                    # since: the trace is then admitted, and cutting it elsewhere is what refusal avoids
                    if (
                        rec[2] > t >= rec[2] - refuse_ms
                        and not rec[0]
                        and trace_on
                        and not (level in exempt_levels or crit_trace(tid))
                    ):
                        # load the system had to drop, as the rate rule counts it (rule 6): a flood inside a
                        # refused trace must not make its minutes calm
                        ss.offered += 1
                        add((pos, rec[3][3]))  # the refusal's decision, shared by all its later events
                        continue

            # rule 6: rate limit
            ss.offered += 1
            via_grace = False
            if rate_on and ss.count >= ss.limit:
                if level in crit_levels or crit_trace(tid):
                    stats["critical_bypass"] += 1
                    ss.offered -= 1  # not load: the limit does not apply to it
                else:
                    elsewhere = rec is not None and bool(rec[0] & ~ss.bit)
                    if elsewhere and ss.grace < ss.grace_limit:
                        via_grace = True
                    else:
                        # a flood's drops share one reason until the window's counters change
                        if elsewhere:
                            info = ss.grace_drop_info
                            if info is None:
                                info = ss.grace_drop_info = ("rate_limit", *rate.drop(ss, rcfg, True))
                        else:
                            info = ss.drop_info
                            if info is None:
                                info = ss.drop_info = ("rate_limit", *rate.drop(ss, rcfg, False))
                        add((pos, info))
                        if (
                            tid is not None
                            and trace_on
                            and (rec is None or not rec[0])
                            and not (level in exempt_levels or crit_trace(tid))
                        ):
                            traces.refuse(trace_recs, tid, system, "rate_limit", t, tcfg)
                            stats["trace_refused"] += 1
                        continue

            # rule 7: monthly budget
            if st.total < gate and ss.own + ss.lent < ss.quota:
                ss.own += 1
            else:
                essential = st.total >= bcfg.essential_at and tcfg.essential(level, tid)
                refused = budget.charge(st, ss, t, essential, bcfg)
                if refused is not None:
                    add((pos, budget_drop(st, ss, refused)))
                    if (
                        tid is not None
                        and trace_on
                        and (rec is None or not rec[0])
                        and not (level in exempt_levels or crit_trace(tid))
                    ):
                        traces.refuse(trace_recs, tid, system, "budget", t, tcfg)
                        stats["trace_refused"] += 1
                    continue

            # stored: every rule remembers it
            st.total += 1
            if st.total >= st.next_total_threshold or ss.own + ss.borrowed >= ss.next_threshold:
                budget.record(st, ss, t, bcfg)
            ss.count += 1
            ss.drop_info = ss.grace_drop_info = None
            if via_grace:
                ss.grace += 1
                stats["trace_grace"] += 1
            if loop_check:
                if stored is None:
                    loop_seen[lk] = [t]
                else:
                    stored.append(t)
            if tid is not None:
                if cross_on and (cross_hot or t <= fresh_cross):
                    # the newest copy is kept (a system behind the others may store an older one)
                    ck = (tid, fp)
                    kept = cross_seen.get(ck)
                    if kept is None or t >= kept[1]:
                        cross_seen[ck] = (system, t)
                if rec is None:
                    trace_recs[tid] = [ss.bit, t, 0, None]
                else:
                    rec[0] |= ss.bit

        st.clock = clock
        if late:
            stats["late"] += late
        return drops
