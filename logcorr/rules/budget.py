"""Rule 7, the monthly write budget: a quota per calendar month (UTC, event time) split into per-system
shares, borrowing of other systems' lendable quota, a warning moment at 80 %, essential-only from 95 %,
and a hard cap the stored writes never exceed. See docs/rules.md.

The engine inlines the common case (below the essential gate and inside the system's own share);
this module owns the month roll-over, borrowing, the gates' reasons and the threshold moments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from logcorr.rules.clock import month_of
from logcorr.rules.policy import Policy
from logcorr.rules.state import Moment, RuleState, SystemState, system_key

NEVER = 1 << 62


def split_quota(total: int, shares: dict[str, float]) -> dict[str, int]:
    """Per-system quotas adding up to exactly `total` (largest remainder; ties in system order)."""
    names = sorted(shares, key=system_key)
    exact = {n: total * shares[n] for n in names}
    out = {n: math.floor(exact[n] + 1e-9) for n in names}
    rest = total - sum(out.values())
    for n in sorted(names, key=lambda n: -(exact[n] - out[n]))[: max(rest, 0)]:
        out[n] += 1
    return out


def at_pct(quota: int, pct: float) -> int:
    """The smallest write count that is at least `pct` % of `quota`."""
    return max(math.ceil(quota * pct / 100 - 1e-9), 0)


@dataclass(frozen=True, slots=True)
class BudgetConfig:
    enabled: bool
    monthly: int
    quotas: dict[str, int]
    shares: dict[str, float]
    borrowing: bool
    prorated: bool
    essential_at: int  # writes (all systems) from which only essential events pass
    total_thresholds: tuple[tuple[int, float], ...]  # (writes, pct): warn, essential, cap
    system_pcts: tuple[float, ...]  # per-system moments: warn and 100 % of the share
    essential_levels: frozenset[str]

    @classmethod
    def from_policy(cls, policy: Policy) -> BudgetConfig:
        b = policy.budget
        pcts = sorted({b.warn_pct, b.essential_pct, 100.0})
        return cls(
            enabled=b.enabled,
            monthly=b.monthly_writes,
            quotas=split_quota(b.monthly_writes, b.shares),
            shares=dict(b.shares),
            borrowing=b.borrowing,
            prorated=b.lending == "prorated",
            essential_at=at_pct(b.monthly_writes, b.essential_pct) if b.enabled else NEVER,
            total_thresholds=tuple((max(at_pct(b.monthly_writes, p), 1), p) for p in pcts),
            system_pcts=tuple(sorted({b.warn_pct, 100.0})),
            essential_levels=frozenset(b.essential_levels),
        )

    def fast_gate(self) -> int:
        """Below this many writes this month, the engine may charge own shares inline."""
        return self.essential_at if self.enabled else NEVER


def _pending(state: RuleState, scope: str, thresholds: tuple[tuple[int, float], ...]) -> tuple[int, float]:
    """The first threshold of `scope` not yet recorded this month: (writes, pct), or (NEVER, 0)."""
    done = {m.pct for m in state.moments if m.scope == scope and m.month == state.month}
    for count, pct in thresholds:
        if pct not in done:
            return count, pct
    return NEVER, 0.0


def system_thresholds(ss: SystemState, cfg: BudgetConfig) -> tuple[tuple[int, float], ...]:
    if ss.quota <= 0:
        return ()
    return tuple((max(at_pct(ss.quota, p), 1), p) for p in cfg.system_pcts)


def rearm_system(state: RuleState, ss: SystemState, cfg: BudgetConfig) -> None:
    """Recompute the writes at which `ss`'s next threshold moment is recorded."""
    ss.next_threshold = _pending(state, ss.name, system_thresholds(ss, cfg))[0]


def rearm(state: RuleState, cfg: BudgetConfig) -> None:
    """Recompute the next threshold of the total and of every system (after a roll-over or a load)."""
    state.next_total_threshold = _pending(state, "total", cfg.total_thresholds)[0]
    for ss in state.systems.values():
        rearm_system(state, ss, cfg)


def roll_month(state: RuleState, t: int, cfg: BudgetConfig) -> None:
    """Start the calendar month holding `t`: counters to zero, the previous month's moments forgotten."""
    state.month, state.month_start, state.month_end = month_of(t)
    state.total = 0
    state.moments = [m for m in state.moments if m.month == state.month or m.run_id is None]  # unsaved stay
    for ss in state.systems.values():
        ss.own = ss.borrowed = ss.lent = 0
    rearm(state, cfg)


def lendable(
    lender: SystemState, state: RuleState, t: int, cfg: BudgetConfig, essential: bool = False
) -> int:
    """Writes `lender` can lend at `t`: its share (prorated: the part allotted to the elapsed month)
    minus what it wrote and what it lent already. Essential events (errors, critical traces) borrow
    from the whole unused share: proration protects the lender's later ordinary logs, and must not
    refuse the errors that essential-only mode exists to keep (the monthly cap still holds)."""
    if cfg.prorated and not essential:
        span = state.month_end - state.month_start
        allotted = lender.quota * (t - state.month_start) // span
    else:
        allotted = lender.quota
    return allotted - lender.own - lender.lent


def charge(state: RuleState, ss: SystemState, t: int, essential: bool, cfg: BudgetConfig) -> str | None:
    """Charge one write of `ss` at `t`, or refuse it: None when charged, else the gate that refused it
    (`cap`, `essential` or `share`; see `reason`). The slow path: the essential gate is reached or the
    system's own share is used up."""
    if not cfg.enabled:
        ss.own += 1
        return None
    if state.total >= cfg.monthly:
        return "cap"
    if state.total >= cfg.essential_at and not essential:
        return "essential"
    if ss.own + ss.lent < ss.quota:
        ss.own += 1
        return None
    if cfg.borrowing:
        best: SystemState | None = None
        best_n = 0
        for name in _lender_order(state):
            lender = state.systems[name]
            if lender is ss or lender.quota <= 0:
                continue
            n = lendable(lender, state, t, cfg, essential)
            if n > best_n:
                best, best_n = lender, n
        if best is not None:
            best.lent += 1
            ss.borrowed += 1
            return None
    return "share"


def _lender_order(state: RuleState) -> tuple[str, ...]:
    return _order_of(tuple(state.systems))


@lru_cache(maxsize=64)  # asked on every borrowed write: the same few systems each time
def _order_of(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(names, key=system_key))


def snapshot(state: RuleState, ss: SystemState, gate: str, cfg: BudgetConfig) -> dict[str, object]:
    return {
        "gate": gate,
        "month": state.month,
        "total": state.total,
        "monthly_quota": cfg.monthly,
        "essential_at": cfg.essential_at,
        "system": ss.name,
        "used": ss.used,
        "share": ss.quota,
        "borrowed": ss.borrowed,
        "lent": ss.lent,
    }


def reason(state: RuleState, ss: SystemState, gate: str, cfg: BudgetConfig) -> str:
    """Why `gate` refused a write of `ss`, naming the numbers."""
    if gate == "cap":
        return f"monthly quota used up: {state.total:,} of {cfg.monthly:,} writes in {state.month}"
    if gate == "essential":
        pct = 100 * cfg.essential_at / cfg.monthly
        levels = "/".join(sorted(cfg.essential_levels)) or "no"
        return (
            f"essential-only: {state.total:,} of {cfg.monthly:,} writes used in {state.month} "
            f"(≥ {pct:g} %); only {levels} events and critical traces pass"
        )
    share = f"{100 * cfg.shares.get(ss.name, 0.0):g} %"
    if not cfg.borrowing:
        how = "borrowing is off"
    elif cfg.prorated:
        how = "no other system has lendable quota (prorated lending)"
    else:
        how = "no other system has unused quota"
    # a share lent away is used too, but not by this system's writes: say how it went
    lent = f" ({ss.own:,} written, {ss.lent:,} lent to other systems)" if ss.lent else ""
    return f"{ss.name} used its {ss.quota:,}-write share ({share}) of {state.month}{lent} and {how}"


class DropCache:
    """Budget reasons: the numbers they name change only when a write is stored, so in a flood past a
    gate the text is built once per (gate, system, counters)."""

    def __init__(self, cfg: BudgetConfig) -> None:
        self.cfg = cfg
        self._cache: dict[str, tuple[tuple[Any, ...], tuple[str, str, str]]] = {}

    def get(self, state: RuleState, ss: SystemState, gate: str) -> tuple[str, str, str]:
        """The decision ("budget", reason, snapshot) for a write `gate` refuses (the same tuple while the
        counters stay)."""
        key = (gate, state.month, state.total, ss.own, ss.borrowed, ss.lent)
        hit = self._cache.get(ss.name)
        if hit is None or hit[0] != key:
            out = (
                "budget",
                reason(state, ss, gate, self.cfg),
                orjson.dumps(snapshot(state, ss, gate, self.cfg)).decode(),
            )
            hit = (key, out)
            self._cache[ss.name] = hit
        return hit[1]


def record(state: RuleState, ss: SystemState, t: int, cfg: BudgetConfig) -> None:
    """After a write: record every threshold the total or `ss` has just reached."""
    while state.total >= state.next_total_threshold:
        _, pct = _pending(state, "total", cfg.total_thresholds)
        state.moments.append(Moment(state.month, "total", pct, t, state.total, cfg.monthly, None))
        state.next_total_threshold = _pending(state, "total", cfg.total_thresholds)[0]
    own = system_thresholds(ss, cfg)
    while ss.used >= ss.next_threshold:
        _, pct = _pending(state, ss.name, own)
        state.moments.append(Moment(state.month, ss.name, pct, t, ss.used, ss.quota, None))
        ss.next_threshold = _pending(state, ss.name, own)[0]
