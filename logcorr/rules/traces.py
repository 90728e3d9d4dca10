"""Trace-aware decisions under pressure: which events are critical or essential, the refusal of a
trace in every system, and the reason of a refused trace's later events.

A trace is *admitted* once any system stored one of its events; events of an admitted trace from
another system may use a per-window grace allowance above the rate limit (`rules/rate.py`). A trace
is *refused* when its first event to meet pressure (rate limit or budget) is dropped before any of
its events was stored: for `refuse_ms` its later events are dropped in every system, so no fragment
of it is stored, except essential and critical events, which are never refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from logcorr.rules.clock import iso, json_str
from logcorr.rules.policy import Policy
from logcorr.rules.state import TRACE_REFUSAL, TRACE_REFUSED_UNTIL, Decision


@dataclass(frozen=True, slots=True)
class TraceConfig:
    enabled: bool
    refuse_ms: int
    idle_ms: int
    patterns: tuple[str, ...]  # critical trace-id substrings
    critical_levels: frozenset[str]
    essential_levels: frozenset[str]

    @classmethod
    def from_policy(cls, policy: Policy) -> TraceConfig:
        ta = policy.trace_aware
        return cls(
            enabled=ta.enabled,
            refuse_ms=ta.refuse_ms,
            idle_ms=ta.idle_ms,
            patterns=tuple(policy.critical.trace_id_patterns),
            critical_levels=frozenset(policy.critical.levels),
            essential_levels=frozenset(policy.budget.essential_levels),
        )

    def critical_trace(self, trace_id: str | None) -> bool:
        """The trace id matches a critical pattern (a substring, as the live `includes`)."""
        if trace_id is not None:
            for p in self.patterns:
                if p in trace_id:
                    return True
        return False

    def critical_trace_test(self) -> Callable[[str | None], bool]:
        """`critical_trace` as the cheapest function for the patterns (the engine calls it per event
        under pressure): no method call and no loop for the usual single pattern."""
        if not self.patterns:
            return lambda trace_id: False
        if len(self.patterns) == 1:
            pattern = self.patterns[0]
            return lambda trace_id: trace_id is not None and pattern in trace_id
        return self.critical_trace

    def critical(self, level: str, trace_id: str | None) -> bool:
        """Bypasses the per-window rate limit."""
        return level in self.critical_levels or self.critical_trace(trace_id)

    def essential(self, level: str, trace_id: str | None) -> bool:
        """Passes the budget's essential-only gate."""
        return level in self.essential_levels or self.critical_trace(trace_id)


def refusal(trace_id: str, system: str, rule: str, at: int, until: int) -> tuple[str, str, int, Decision]:
    """The refusal record kept in the trace's state: (system, rule, at, decision). The decision (rule
    `trace`, reason, snapshot) is the one every later event of the trace is dropped with, in any system
    (the ledger row names the event's system), so it is built once, here."""
    at_iso, until_iso = iso(at), iso(until)
    reason = (
        f"trace {trace_id} was refused by the {system} {rule} rule at {at_iso}; "
        f"a refused trace is refused in every system until {until_iso}"
    )
    state = (
        f'{{"trace_id":{json_str(trace_id)},"refused_by":{json_str(system)},"refused_rule":"{rule}",'
        f'"refused_at":"{at_iso}","refused_until":"{until_iso}"}}'
    )
    return system, rule, at, ("trace", reason, state)


def refuse(
    traces: dict[str, list[Any]], trace_id: str, system: str, rule: str, t: int, cfg: TraceConfig
) -> None:
    """Mark `trace_id` refused everywhere for `refuse_ms` from `t` (it has nothing stored)."""
    if cfg.refuse_ms <= 0:
        return
    until = t + cfg.refuse_ms
    rec = traces.get(trace_id)
    if rec is not None and rec[TRACE_REFUSED_UNTIL] > until:
        return  # a later refusal stands (a system behind the others refused the trace at an earlier time)
    if rec is None:
        traces[trace_id] = [0, t, until, refusal(trace_id, system, rule, t, until)]
    else:
        rec[TRACE_REFUSED_UNTIL] = until
        rec[TRACE_REFUSAL] = refusal(trace_id, system, rule, t, until)
