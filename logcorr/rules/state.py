"""The rule engine's state: plain containers keyed compactly and pruned by event time, with no policy
and no I/O. `rules/persist.py` saves it at the end of an ingest and loads it at the start of the next,
so a later ingest continues the same minute, the same month and the same loop/trace windows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

# fixed bits for the known systems (trace masks); other labels get the next free bits as they appear
SYSTEM_BITS: dict[str, int] = {"browser": 1, "worker": 2, "backend": 4}
SYSTEM_ORDER: tuple[str, ...] = ("browser", "worker", "backend")

LoopKey = tuple[str, str, str]  # (system, level, fingerprint)
CrossKey = tuple[str, str]  # (trace_id, fingerprint)

# what a rule decided for a dropped event: (rule, reason, rule state as JSON). Drops of one flood, loop
# or refused trace share one such tuple (the same object), which is what makes their bookkeeping cheap
Decision = tuple[str, str, str | None]

# a trace's record: [systems mask that stored events, last event time, refused until (ms, 0 = not),
#                    refusal (system, rule, at_ms, decision of its later events) or None]
TRACE_MASK, TRACE_LAST, TRACE_REFUSED_UNTIL, TRACE_REFUSAL = 0, 1, 2, 3


@dataclass(slots=True)
class SystemState:
    """Per-system counters: the current rate-limit window and this month's writes."""

    name: str
    bit: int
    clock: int = -1  # newest event time of this system decided; its later events never move it back
    # rule 6, the current window of event time
    window: int = -1  # window index (ts // window_ms); -1 before the first event
    window_end: int = -1  # first ms after the window, so the first event rolls it
    tier: int = 0
    limit: int = 0
    grace_limit: int = 0
    count: int = 0  # events stored in the window (critical and grace ones included)
    offered: int = 0  # events that reached the rate rule in the window (stored or not)
    grace: int = 0  # events stored through the trace-aware grace in the window
    calm: int = 0  # consecutive calm windows so far
    # rule 7, this month
    quota: int = 0  # this system's share of the monthly writes
    own: int = 0  # writes charged to its own share
    borrowed: int = 0  # writes charged to other systems' shares
    lent: int = 0  # writes of other systems charged to this share
    next_threshold: int = 1 << 62  # writes (used) at which the next per-system moment is recorded
    # the current rate-limit drop's decision ("rate_limit", reason, snapshot): a cache
    drop_info: tuple[str, str, str] | None = None
    grace_drop_info: tuple[str, str, str] | None = None  # the same for drops whose trace grace is used up

    @property
    def used(self) -> int:
        """Writes stored by this system this month."""
        return self.own + self.borrowed


class Moment(NamedTuple):
    """A budget threshold reached: scope is `total` or a system; pct of its quota."""

    month: str
    scope: str
    pct: float
    ts_ms: int
    used: int
    quota: int
    run_id: int | None  # None: reached in the run being decided


@dataclass(slots=True)
class RuleState:
    """Everything the rules remember between events, batches and ingests."""

    clock: int = -1  # newest event time decided; later events never move it back
    systems: dict[str, SystemState] = field(default_factory=dict)
    month: str = ""
    month_start: int = 0
    month_end: int = -1  # so the first event rolls the month
    total: int = 0  # writes stored this month, all systems
    next_total_threshold: int = 1 << 62  # writes at which the next total moment is recorded
    moments: list[Moment] = field(default_factory=list)
    loop: dict[LoopKey, list[int]] = field(default_factory=dict)  # stored timestamps in the window
    cross: dict[CrossKey, tuple[str, int]] = field(default_factory=dict)  # last stored (system, ts)
    traces: dict[str, list[Any]] = field(default_factory=dict)

    def system(self, name: str) -> SystemState:
        """The state of `name`, created on first sight with a stable bit."""
        st = self.systems.get(name)
        if st is None:
            bit = SYSTEM_BITS.get(name)
            if bit is None:
                used = 0
                for s in self.systems.values():
                    used |= s.bit
                bit = 8
                while bit & used:
                    bit <<= 1
            st = SystemState(name, bit)
            self.systems[name] = st
        return st

    def names_of(self, mask: int) -> list[str]:
        """System names whose bits are in `mask`, in the known order then by name."""
        return [
            s.name for s in sorted(self.systems.values(), key=lambda s: system_key(s.name)) if s.bit & mask
        ]


def system_key(name: str) -> tuple[int, str]:
    """Sort key of a system name: browser, worker, backend, then any other by name."""
    return (SYSTEM_ORDER.index(name) if name in SYSTEM_ORDER else len(SYSTEM_ORDER), name)


def loop_cutoffs(st: RuleState, window_ms: int) -> dict[str, int]:
    """Per system, the time at or before which its stored copies have left its loop window. A loop window is
    its system's own: a system whose clock is behind the others keeps its own last window."""
    return {s.name: (s.clock if s.clock >= 0 else st.clock) - window_ms for s in st.systems.values()}


def sweep_loop(
    seen: dict[LoopKey, list[int]], cutoffs: dict[str, int], cutoff: int
) -> dict[LoopKey, list[int]]:
    """The loop keys whose newest stored copy is after their system's cutoff (`loop_cutoffs`, else
    `cutoff`): inside its window. A new dict, since rebuilding is cheaper than deleting most entries one
    by one."""
    return {k: v for k, v in seen.items() if v[-1] > cutoffs.get(k[0], cutoff)}


def sweep_cross(seen: dict[CrossKey, tuple[str, int]], cutoff: int) -> dict[CrossKey, tuple[str, int]]:
    """The fingerprints last stored at or after `cutoff`: a copy exactly the window before an event is
    still a copy of it (the window is inclusive)."""
    return {k: v for k, v in seen.items() if v[1] >= cutoff}


def sweep_traces(
    traces: dict[str, list[Any]], cutoff: int, now: int, ordered: bool = False
) -> dict[str, list[Any]]:
    """The traces seen after `cutoff`, or whose refusal lasts beyond `now`. `ordered` (no later event is older
    than `now`): a trace nothing was stored of only while its refusal lasts, since once it has ended the
    record decides nothing an absent one would not (see `Engine`). A trace is idle for far longer than the
    sweeps are apart, so most records stay: the others are deleted from `traces` itself, which is returned
    (finding them costs 40 % of rebuilding the dict; 1.2M traced lines: 33 sweeps, 2.7M records visited,
    510k gone). Where most go, a new dict, so that the old one's size is freed."""
    if ordered:
        gone = [
            k
            for k, v in traces.items()
            if not (v[TRACE_REFUSED_UNTIL] > now or (v[TRACE_MASK] and v[TRACE_LAST] > cutoff))
        ]
    else:
        gone = [k for k, v in traces.items() if not (v[TRACE_LAST] > cutoff or v[TRACE_REFUSED_UNTIL] > now)]
    if 2 * len(gone) > len(traces):
        dead = set(gone)
        return {k: v for k, v in traces.items() if k not in dead}
    for k in gone:
        del traces[k]
    return traces
