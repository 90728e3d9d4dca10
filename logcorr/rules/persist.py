"""Saving and loading the rule engine's state (`RuleState`) in the ingest's transaction, so the next
ingest continues the same rate-limit window, month, loop and cross-system windows and trace decisions.

Tables (migration 2): `rate_limit_state` (one row per system), `message_fingerprints` (stored copies
still inside the loop / cross-system windows), `trace_state` (admitted and refused traces not yet
idle) — each replaced as a whole — and `budget_thresholds` (moments, appended once per month).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from logcorr.rules.clock import month_bounds
from logcorr.rules.policy import Policy
from logcorr.rules.state import (
    TRACE_LAST,
    TRACE_REFUSAL,
    TRACE_REFUSED_UNTIL,
    Moment,
    RuleState,
    loop_cutoffs,
)
from logcorr.rules.traces import refusal

_TS = pa.timestamp("ms")


def load_state(con: Any, policy: Policy) -> RuleState:
    """The state the last ingest saved (an empty state for a new database)."""
    st = RuleState()
    rows = con.execute(
        """
        SELECT system, epoch_ms(clock), epoch_ms(window_start), tier, window_count, window_offered, window_grace,
               calm_windows, month, month_own, month_borrowed, month_lent
        FROM rate_limit_state ORDER BY system
        """
    ).fetchall()
    if not rows:
        return st
    window_ms = policy.rate_limit.window_ms
    for name, clock, start, tier, count, offered, grace, calm, month, own, borrowed, lent in rows:
        ss = st.system(name)
        st.clock = max(st.clock, int(clock))
        st.month = month
        if start is not None:
            ss.window = int(start) // window_ms
            ss.window_end = (ss.window + 1) * window_ms
            # the system's own clock (a database from before it was saved per system holds the newest of all)
            ss.clock = int(clock)
        ss.tier, ss.count, ss.offered, ss.grace, ss.calm = (
            int(tier),
            int(count),
            int(offered),
            int(grace),
            int(calm),
        )
        ss.own, ss.borrowed, ss.lent = int(own), int(borrowed), int(lent)
    st.month_start, st.month_end = month_bounds(st.month)
    st.total = sum(s.own + s.borrowed for s in st.systems.values())

    for rule, system, level, trace_id, fp, ts in con.execute(
        """
        SELECT rule, system, level, trace_id, fingerprint, epoch_ms(ts) FROM message_fingerprints
        ORDER BY ts, rule, system, level, trace_id, fingerprint
        """
    ).fetchall():
        if rule == "loop":
            st.loop.setdefault((system, level, fp), []).append(int(ts))
        else:
            st.cross[(trace_id, fp)] = (system, int(ts))

    for trace_id, systems, last, until, by, rule, at in con.execute(
        """
        SELECT trace_id, systems, epoch_ms(last_seen), epoch_ms(refused_until), refused_by, refused_rule,
               epoch_ms(refused_at)
        FROM trace_state ORDER BY trace_id
        """
    ).fetchall():
        mask = 0
        for name in systems:
            mask |= st.system(name).bit
        refused = None
        if until is not None and by is not None and rule is not None and at is not None:
            refused = refusal(trace_id, by, rule, int(at), int(until))
        st.traces[trace_id] = [mask, int(last), int(until) if until is not None else 0, refused]

    for month, scope, pct, at, used, quota, run_id in con.execute(
        """
        SELECT month, scope, pct, epoch_ms(reached_at), used, quota, run_id FROM budget_thresholds
        WHERE month = ? ORDER BY reached_at, scope, pct
        """,
        [st.month],
    ).fetchall():
        st.moments.append(Moment(month, scope, float(pct), int(at), int(used), int(quota), int(run_id)))
    return st


def save_state(con: Any, st: RuleState, policy: Policy, run_id: int) -> None:
    """Replace the saved state with `st` (what is still inside a window at its clock) and append the
    threshold moments reached in this run."""
    for table in ("rate_limit_state", "message_fingerprints", "trace_state"):
        con.execute(f"DELETE FROM {table}")
    if st.clock < 0:
        return
    window_ms = policy.rate_limit.window_ms
    systems = sorted(st.systems.values(), key=lambda s: s.name)
    _insert(
        con,
        "rate_limit_state",
        {
            "system": pa.array([s.name for s in systems], pa.string()),
            # each system's own clock; one that decided nothing yet has the newest of all (the column is NOT NULL,
            # and a load reads it only where the system has a window)
            "clock": pa.array([s.clock if s.clock >= 0 else st.clock for s in systems], _TS),
            "window_start": pa.array([s.window * window_ms if s.window >= 0 else None for s in systems], _TS),
            "tier": pa.array([s.tier for s in systems], pa.int32()),
            "tier_limit": pa.array(
                [
                    s.limit or policy.rate_limit.tiers[min(s.tier, len(policy.rate_limit.tiers) - 1)]
                    for s in systems
                ],
                pa.int32(),
            ),
            "window_count": pa.array([s.count for s in systems], pa.int32()),
            "window_offered": pa.array([s.offered for s in systems], pa.int32()),
            "window_grace": pa.array([s.grace for s in systems], pa.int32()),
            "calm_windows": pa.array([s.calm for s in systems], pa.int32()),
            "month": pa.array([st.month] * len(systems), pa.string()),
            "month_quota": pa.array([s.quota for s in systems], pa.int64()),
            "month_own": pa.array([s.own for s in systems], pa.int64()),
            "month_borrowed": pa.array([s.borrowed for s in systems], pa.int64()),
            "month_lent": pa.array([s.lent for s in systems], pa.int64()),
            "run_id": pa.array([run_id] * len(systems), pa.int32()),
        },
    )
    _save_fingerprints(con, st, policy, run_id)
    _save_traces(con, st, policy, run_id)
    new = [m for m in st.moments if m.run_id is None]
    for m in new:
        con.execute(
            "INSERT INTO budget_thresholds VALUES (?, ?, ?, make_timestamp(? * 1000), ?, ?, ?)",
            [m.month, m.scope, m.pct, m.ts_ms, m.used, m.quota, run_id],
        )
    st.moments = [m._replace(run_id=run_id) if m.run_id is None else m for m in st.moments]


def _save_fingerprints(con: Any, st: RuleState, policy: Policy, run_id: int) -> None:
    rows: list[tuple[str, str, str | None, str | None, str, int, int]] = []
    # only what is still inside a window is saved, so it is picked before the sort (the containers are swept
    # every few minutes of event time, not at the ingest's end)
    loop_w = policy.loop.window_ms
    # a loop window is its system's: a system whose clock is behind the others keeps its own last second
    since = loop_cutoffs(st, loop_w)
    loop_from = min(since.values(), default=st.clock - loop_w)
    for (system, level, fp), stored in sorted(
        kv for kv in st.loop.items() if kv[1] and kv[1][-1] > loop_from
    ):
        cut = since.get(system, st.clock - loop_w)
        rows.extend(("loop", system, level, None, fp, ts, ts + loop_w) for ts in stored if ts > cut)
    cross_w = policy.cross_system.window_ms
    cross_from = st.clock - cross_w
    for (trace_id, fp), (system, ts) in sorted(kv for kv in st.cross.items() if kv[1][1] >= cross_from):
        rows.append(("cross_system", system, None, trace_id, fp, ts, ts + cross_w))
    if not rows:
        return
    cols = list(zip(*rows, strict=True))
    _insert(
        con,
        "message_fingerprints",
        {
            "rule": pa.array(cols[0], pa.string()),
            "system": pa.array(cols[1], pa.string()),
            "level": pa.array(cols[2], pa.string()),
            "trace_id": pa.array(cols[3], pa.string()),
            "fingerprint": pa.array(cols[4], pa.string()),
            "ts": pa.array(cols[5], _TS),
            "expires_at": pa.array(cols[6], _TS),
            "run_id": pa.array([run_id] * len(rows), pa.int32()),
        },
    )


def _save_traces(con: Any, st: RuleState, policy: Policy, run_id: int) -> None:
    idle = policy.trace_aware.idle_ms
    keep = [
        (tid, rec)
        for tid, rec in sorted(st.traces.items())
        if rec[TRACE_LAST] > st.clock - idle or rec[TRACE_REFUSED_UNTIL] > st.clock
    ]
    if not keep:
        return
    refused = [rec[TRACE_REFUSAL] for _, rec in keep]
    # a trace's systems as names: a few distinct sets among thousands of traces (named once each, 1M records:
    # 12k traces, 36 ms named one by one)
    names = {mask: st.names_of(mask) for mask in {rec[0] for _, rec in keep}}
    _insert(
        con,
        "trace_state",
        {
            "trace_id": pa.array([tid for tid, _ in keep], pa.string()),
            "systems": pa.array([names[rec[0]] for _, rec in keep], pa.list_(pa.string())),
            "last_seen": pa.array([rec[TRACE_LAST] for _, rec in keep], _TS),
            "refused_until": pa.array([rec[TRACE_REFUSED_UNTIL] or None for _, rec in keep], _TS),
            "refused_by": pa.array([r[0] if r else None for r in refused], pa.string()),
            "refused_rule": pa.array([r[1] if r else None for r in refused], pa.string()),
            "refused_at": pa.array([r[2] if r else None for r in refused], _TS),
            "run_id": pa.array([run_id] * len(keep), pa.int32()),
        },
    )


def _insert(con: Any, table: str, columns: dict[str, pa.Array]) -> None:
    data = pa.table(columns)
    con.register("_rule_state", data)
    try:
        con.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM _rule_state")
    finally:
        con.unregister("_rule_state")
