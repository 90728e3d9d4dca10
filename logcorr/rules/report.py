"""What the rules did, for the ingest summary: quota use per system this month, the budget's threshold
moments, trace-aware counters and trace integrity (the share of multi-system traces cut by rules)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from logcorr.model import PRESSURE_RULES
from logcorr.rules.budget import BudgetConfig
from logcorr.rules.state import Moment, RuleState, system_key


@dataclass(frozen=True)
class QuotaUse:
    """One system's writes this month against its share."""

    system: str
    used: int
    quota: int
    borrowed: int
    lent: int

    @property
    def pct(self) -> float:
        return 100.0 * self.used / self.quota if self.quota else 0.0


@dataclass(frozen=True)
class QuotaReport:
    """The month the rules' clock is in, its writes, and the moments thresholds were reached."""

    month: str
    used: int
    quota: int
    systems: list[QuotaUse]
    moments: list[Moment]

    @property
    def pct(self) -> float:
        return 100.0 * self.used / self.quota if self.quota else 0.0


@dataclass(frozen=True)
class TraceIntegrity:
    """Multi-system traces in this ingest (events of ≥ 2 systems once noise rules are applied): how many
    pressure rules (trace, rate_limit, budget) cut — dropped some events but stored others — and how
    many they refused whole (stored none)."""

    multi_system: int
    cut: int
    refused_whole: int
    stats: dict[str, int] = field(default_factory=dict)  # engine counters: grace, refusals, bypasses

    @property
    def pct_cut(self) -> float:
        return 100.0 * self.cut / self.multi_system if self.multi_system else 0.0


def quota_report(state: RuleState, cfg: BudgetConfig) -> QuotaReport | None:
    """Quota use at the end of the run (None before any event was decided)."""
    if not state.month:
        return None
    names = sorted(set(cfg.quotas) | set(state.systems), key=system_key)
    systems = []
    for name in names:
        ss = state.systems.get(name)
        quota = cfg.quotas.get(name, 0)
        if ss is None:
            systems.append(QuotaUse(name, 0, quota, 0, 0))
        else:
            systems.append(QuotaUse(name, ss.used, quota, ss.borrowed, ss.lent))
    # this month's, and every month's this run reached (an ingest across a month's end: August's 80 %, 95 %
    # and 100 % are news too, though the quota shown is September's)
    moments = sorted(
        (m for m in state.moments if m.month == state.month or m.run_id is None),
        key=lambda m: (m.ts_ms, m.scope, m.pct),
    )
    return QuotaReport(state.month, state.total, cfg.monthly, systems, moments)


def trace_integrity(con: Any, stats: Counter[str]) -> TraceIntegrity:
    """Integrity of this ingest's traces, from the TEMP table `fate` (each event's trace, system and rule). Counted
    per (trace, system) first: plain grouped counts spill under a small memory limit, where one
    count(DISTINCT system) per trace ran out of memory."""
    pressure = ", ".join(f"'{r}'" for r in PRESSURE_RULES)
    row = con.execute(
        f"""
        WITH ev AS (
            SELECT trace_id, system, rule FROM fate
            WHERE trace_id IS NOT NULL AND (rule IS NULL OR rule IN ({pressure}))
        ), ts AS (
            SELECT trace_id, system,
                   count(*) FILTER (WHERE rule IS NOT NULL) AS cut, count(*) FILTER (WHERE rule IS NULL) AS kept
            FROM ev GROUP BY trace_id, system
        ), t AS (
            SELECT trace_id, count(system) AS systems, sum(cut) AS cut, sum(kept) AS kept
            FROM ts GROUP BY trace_id
        )
        SELECT count(*) FILTER (WHERE systems > 1),
               count(*) FILTER (WHERE systems > 1 AND cut > 0 AND kept > 0),
               count(*) FILTER (WHERE systems > 1 AND kept = 0)
        FROM t
        """
    ).fetchone()
    multi, cut, whole = (int(x or 0) for x in row)
    return TraceIntegrity(multi, cut, whole, dict(sorted(stats.items())))
