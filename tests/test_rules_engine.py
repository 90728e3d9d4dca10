"""The rule engine on hand-built event sequences: every boundary the story names, driven directly."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from logcorr.rules.engine import _SWEEP_MIN, Engine
from logcorr.rules.policy import Policy
from logcorr.rules.state import TRACE_LAST, TRACE_MASK, TRACE_REFUSED_UNTIL, sweep_traces

T0 = 1_717_200_000_000  # 2024-06-01T00:00:00Z: a minute and a month boundary
MIN = 60_000
DAY = 86_400_000


def ev(ts: int, system: str = "browser", level: str = "log", trace: str | None = None, msg: str = "m",
       sup: str | None = None, dup: int = 0) -> tuple[Any, ...]:  # fmt: skip
    return (ts, system, level, trace, msg, sup, dup)


def decide(events: list[tuple[Any, ...]], policy: Policy | None = None, engine: Engine | None = None,
           batch: int = 0) -> tuple[Engine, dict[int, tuple[str, str, dict[str, Any]]]]:  # fmt: skip
    """Run `events` (positions 1…n in list order, which must be time order) through the engine;
    returns it and the drops by position (rule, reason, rule state)."""
    engine = engine or Engine(policy or Policy())
    drops: dict[int, tuple[str, str, dict[str, Any]]] = {}
    size = batch or len(events) or 1
    for start in range(0, len(events), size):
        chunk = events[start : start + size]
        cols = {
            "pos": list(range(start + 1, start + 1 + len(chunk))),
            "ts_ms": [e[0] for e in chunk],
            "system": [e[1] for e in chunk],
            "level": [e[2] for e in chunk],
            "trace_id": [e[3] for e in chunk],
            "fingerprint": [e[4] for e in chunk],
            "suppressed": [e[5] for e in chunk],
            "dup": [e[6] for e in chunk],
        }
        for pos, rule, reason, state in engine.process(cols):
            drops[pos] = (rule, reason, orjson.loads(state) if state else {})
    return engine, drops


def stored(drops: dict[int, Any], n: int) -> list[int]:
    return [p for p in range(1, n + 1) if p not in drops]


def policy(**sections: dict[str, Any]) -> Policy:
    return Policy.model_validate(sections)


NO_RATE = {"enabled": False}


# -- loop: at most 5 identical messages in any 1 s ---------------------------------------------------


def test_the_sixth_identical_message_within_one_second_is_dropped_and_one_a_second_later_is_stored() -> None:
    times = [T0, T0 + 100, T0 + 200, T0 + 300, T0 + 400, T0 + 500, T0 + 999, T0 + 1000]
    _, drops = decide([ev(t, msg="same") for t in times])
    assert stored(drops, 8) == [1, 2, 3, 4, 5, 8]
    rule, reason, state = drops[6]
    assert rule == "loop" and "at most 5 per 1000 ms" in reason
    assert (
        state["count"] == 5 and state["max"] == 5 and state["next_allowed_at"] == "2024-06-01T00:00:01.000Z"
    )
    assert drops[7][0] == "loop"


def test_identical_messages_at_one_millisecond_keep_the_first_five_in_input_order() -> None:
    _, drops = decide([ev(T0, msg="same") for _ in range(8)])
    assert stored(drops, 8) == [1, 2, 3, 4, 5]


def test_a_steady_stream_of_one_message_gets_five_copies_per_second_through() -> None:
    _, drops = decide([ev(T0 + i * 100, msg="tick") for i in range(30)])  # 10/s for 3 s
    kept = [T0 + (p - 1) * 100 for p in stored(drops, 30)]
    assert len(kept) == 15
    assert all(sum(1 for k in kept if t <= k < t + 1000) <= 5 for t in range(T0, T0 + 3000, 50))


def test_the_loop_rule_compares_system_level_and_text() -> None:
    events = [ev(T0, msg="same") for _ in range(5)]
    events += [ev(T0, level="warn", msg="same"), ev(T0, system="worker", msg="same"), ev(T0, msg="other")]
    _, drops = decide(events)
    assert drops == {}


# -- cross-system duplicate ---------------------------------------------------------------------------


def test_a_backend_line_echoed_in_the_browser_for_the_same_trace_is_kept_once() -> None:
    events = [
        ev(T0, "backend", trace="t1", msg="Sent message!"),
        ev(T0 + 300, "browser", trace="t1", msg="Sent message!"),  # echo: dropped
        ev(T0 + 300, "browser", trace="t2", msg="Sent message!"),  # another trace: kept
        ev(T0 + 300, "browser", trace=None, msg="Sent message!"),  # no trace: never compared
        ev(T0 + 2000, "worker", trace="t1", msg="Sent message!"),  # 2000 ms after the kept copy: inclusive
        ev(T0 + 2301, "browser", trace="t1", msg="Sent message!"),  # 2001 ms after the backend copy: kept
    ]
    _, drops = decide(events)
    assert {p: d[0] for p, d in drops.items()} == {2: "cross_system", 5: "cross_system"}
    _, reason, state = drops[2]
    assert "stored by backend for trace t1 300 ms earlier" in reason and "2000 ms" in reason
    assert state["kept_system"] == "backend" and state["gap_ms"] == 300 and state["window_ms"] == 2000


def test_the_first_copy_in_event_order_is_the_one_kept_whichever_system_it_is() -> None:
    _, drops = decide([ev(T0, "browser", trace="t", msg="x"), ev(T0 + 10, "backend", trace="t", msg="x")])
    assert drops[2][0] == "cross_system" and drops[2][2]["kept_system"] == "browser"


# -- adaptive rate limit ------------------------------------------------------------------------------


def minute(m: int, n: int, system: str = "browser", tag: str = "", level: str = "log",
           trace: str | None = None) -> list[tuple[Any, ...]]:  # fmt: skip
    """`n` distinct events spread over minute `m`."""
    step = MIN // max(n, 1)
    return [ev(T0 + m * MIN + i * step, system, level, trace, f"{tag}m{m}e{i}") for i in range(n)]


def stored_per_minute(
    events: list[tuple[Any, ...]], drops: dict[int, Any], system: str = "browser"
) -> list[int]:
    counts: dict[int, int] = {}
    for pos, e in enumerate(events, start=1):
        if e[1] == system:
            counts.setdefault((e[0] - T0) // MIN, 0)
            if pos not in drops:
                counts[(e[0] - T0) // MIN] += 1
    return [counts[k] for k in sorted(counts)]


def test_the_fiftieth_event_in_a_minute_is_stored_and_the_fifty_first_dropped() -> None:
    events = minute(0, 51)
    _, drops = decide(events)
    assert list(drops) == [51]
    rule, reason, state = drops[51]
    assert rule == "rate_limit"
    assert "already stored 50 logs" in reason and "limit 50/min at tier 0 (50→25→12→6)" in reason
    assert state == {"system": "browser", "minute": "2024-06-01T00:00:00Z", "tier": 0, "limit": 50, "count": 50,
                     "grace_used": 0, "grace_limit": 25, "tiers": [50, 25, 12, 6]}  # fmt: skip


def test_sustained_load_steps_the_limit_down_50_25_12_6_and_holds_at_6() -> None:
    events = [e for m in range(5) for e in minute(m, 60)]
    _, drops = decide(events)
    assert stored_per_minute(events, drops) == [50, 25, 12, 6, 6]
    assert {d[2]["tier"] for p, d in drops.items() if (events[p - 1][0] - T0) // MIN == 3} == {3}


def test_calm_minutes_step_the_limit_back_up_one_tier_each() -> None:
    events = [e for m in range(4) for e in minute(m, 60)]  # tiers 0..3
    events += [e for m in range(4, 8) for e in minute(m, 10)]  # calm: ≤ 40 offered
    _, drops = decide(events)
    assert stored_per_minute(events, drops) == [50, 25, 12, 6, 6, 10, 10, 10]


def test_a_quiet_gap_recovers_one_tier_per_empty_minute() -> None:
    flood = [e for m in range(4) for e in minute(m, 60)]  # ends on tier 3 (limit 6) for minute 4
    after_one = flood + minute(5, 60, tag="a")  # one empty minute (4): tier 2
    after_three = flood + minute(7, 60, tag="b")  # three empty minutes: back to tier 0
    _, d1 = decide(after_one)
    _, d3 = decide(after_three)
    assert stored_per_minute(after_one, d1)[-1] == 12
    assert stored_per_minute(after_three, d3)[-1] == 50


def test_a_minute_exactly_at_the_limit_does_not_tighten_the_next() -> None:
    events = minute(0, 50) + minute(1, 60)
    _, drops = decide(events)
    assert stored_per_minute(events, drops) == [50, 50]


def test_load_over_the_calm_level_and_the_tightened_limit_keeps_tightening() -> None:
    events = minute(0, 60) + minute(1, 45) + minute(2, 45)  # 45 > 40 (not calm), > 25 (drops): tighten
    _, drops = decide(events)
    assert stored_per_minute(events, drops) == [50, 25, 12]


def test_systems_have_their_own_limits() -> None:
    events = sorted(minute(0, 60, "browser") + minute(0, 60, "worker", tag="w"), key=lambda e: e[0])
    _, drops = decide(events)
    assert stored_per_minute(events, drops, "browser") == [50]
    assert stored_per_minute(events, drops, "worker") == [50]


def test_critical_traces_bypass_the_per_minute_limit_and_count_toward_it_but_errors_do_not() -> None:
    events = minute(0, 50)
    base = T0 + 59_000
    events += [ev(base, level="error", msg="boom"), ev(base + 1, trace="critical_auth_failure", msg="c"),
               ev(base + 2, msg="ordinary")]  # fmt: skip
    engine, drops = decide(events)
    assert list(drops) == [51, 53]  # the story: critical traces bypass; an error flood is still limited
    assert drops[53][2]["count"] == 51
    assert engine.stats["critical_bypass"] == 1
    engine, drops = decide(events, policy(critical={"levels": ["error"]}))  # errors bypass when asked to
    assert list(drops) == [53]
    assert drops[53][2]["count"] == 52
    assert engine.stats["critical_bypass"] == 2


def test_critical_events_over_the_limit_are_not_load_so_a_minute_without_drops_does_not_tighten() -> None:
    crit = [ev(T0 + i * 500, trace="critical_x", msg=f"c{i}") for i in range(60)]
    after = minute(1, 30, tag="o")
    _, drops = decide(crit + after)
    assert drops == {}  # 60 critical lines, nothing dropped: the next minute keeps its 50
    # the same minute with ordinary lines over the limit had to drop: the next one is tighter
    events = crit + [ev(T0 + 59_000 + i, msg=f"x{i}") for i in range(5)] + minute(1, 30, tag="o")
    _, drops = decide(events)
    assert sorted(drops) == [*range(61, 66), *range(66 + 25, 66 + 30)]
    assert drops[66 + 25][2]["limit"] == 25


def test_the_critical_pattern_is_a_substring_of_the_trace_id_and_configurable() -> None:
    events = [
        *minute(0, 50),
        ev(T0 + 59_000, trace="req_critical_9", msg="x"),
        ev(T0 + 59_001, trace="vip-1", msg="y"),
    ]
    _, default = decide(events)
    _, custom = decide(events, policy(critical={"trace_id_patterns": ["vip-"], "levels": []}))
    assert list(default) == [52] and list(custom) == [51]


# -- trace-aware decisions ----------------------------------------------------------------------------


def test_a_trace_refused_by_one_system_is_refused_in_every_system() -> None:
    events = minute(0, 50)  # browser at its limit for minute 0
    t = T0 + 59_000
    events += [
        ev(t, "browser", trace="tr", msg="click"),  # 51: rate_limit, trace refused
        ev(t + 10, "backend", trace="tr", msg="query"),  # 52: refused everywhere
        ev(t + 20, "worker", trace="tr", msg="fetch"),  # 53: refused everywhere
        ev(t + 30, "backend", level="error", trace="tr", msg="failed"),  # 54: errors are never refused
        ev(t + 40, "worker", trace="tr", msg="retry"),  # 55: the error admitted the trace: not cut now
    ]
    engine, drops = decide(events)
    assert {p: d[0] for p, d in drops.items()} == {51: "rate_limit", 52: "trace", 53: "trace"}
    _, reason, state = drops[52]
    assert "trace tr was refused by the browser rate_limit rule" in reason
    assert state["refused_by"] == "browser" and state["refused_rule"] == "rate_limit"
    # one decision for the trace's later events in every system: the ledger row names the event's system
    assert "system" not in state and drops[53] == drops[52]
    assert engine.stats["trace_refused"] == 1


def test_a_refusal_ends_after_its_time_and_the_trace_is_judged_afresh() -> None:
    events = minute(0, 50)
    t = T0 + 59_000
    events += [
        ev(t, "browser", trace="tr", msg="click"),  # 51: rate_limit, trace refused
        ev(t + 30, "worker", trace="tr", msg="fetch"),  # 52: refused
        ev(t + 60_000, "worker", trace="tr", msg="late"),  # 53: refusal over (60 s): judged afresh
    ]
    _, drops = decide(events)
    assert {p: d[0] for p, d in drops.items()} == {51: "rate_limit", 52: "trace"}


def test_a_flood_inside_a_refused_trace_is_load_so_its_minutes_tighten_the_limit() -> None:
    # minute 0 at the limit; then one trace logs 10 lines a second for three minutes, refused from the first
    # line over the limit. Its refused lines are load the system had to drop: the tiers step down as they do
    # without trace awareness, and do not loosen to 50 in the middle of the flood
    events = minute(0, 50)
    events += [ev(T0 + 59_990 + k * 100, trace="flood", msg=f"item {k}") for k in range(1800)]
    _, drops = decide(events)
    assert stored_per_minute(events, drops) == [50, 1, 12, 6]
    assert sum(d[0] == "trace" for d in drops.values()) == 599
    _, drops = decide(events, policy(trace_aware={"enabled": False}))
    assert stored_per_minute(events, drops) == [50, 25, 12, 6]


def test_a_refused_trace_whose_exempt_event_was_stored_is_admitted_and_not_cut_elsewhere() -> None:
    events = minute(0, 50)
    base = T0 + 30_000
    events += [ev(base, trace="trace_R", msg="browser step"),  # over the limit: refuses trace_R
               ev(base + 1_000, "backend", "error", "trace_R", "failed"),  # exempt: stored, admits it
               ev(base + 2_000, "worker", "info", "trace_R", "worker step"),
               ev(base + 3_000, "backend", "info", "trace_R", "backend step")]  # fmt: skip
    _, drops = decide(events)
    assert sorted(drops) == [51] and drops[51][0] == "rate_limit"


def test_a_trace_another_system_stored_gets_a_bounded_grace_over_the_limit() -> None:
    events = [ev(T0, "backend", trace="tr", msg="start"), *minute(0, 50)]
    t = T0 + 59_000
    events += [ev(t + i, "browser", trace="tr", msg=f"tr{i}") for i in range(30)]  # grace: 25 at tier 0
    engine, drops = decide(events)
    over = [p for p in range(52, 82) if p in drops]
    assert len(over) == 5 and all(drops[p][0] == "rate_limit" for p in over)
    assert "trace grace for traces other systems stored used up (25/25)" in drops[over[0]][1]
    assert engine.stats["trace_grace"] == 25


def test_grace_is_only_for_traces_another_system_stored() -> None:
    events = [ev(T0, "browser", trace="own", msg="start"), *minute(0, 49)]
    events.append(ev(T0 + 59_000, "browser", trace="own", msg="more"))
    _, drops = decide(events)
    assert list(drops) == [51] and drops[51][0] == "rate_limit"


def test_a_trace_idle_for_an_hour_is_forgotten_as_a_saved_state_forgets_it() -> None:
    # admitted by the worker, then silent for 61 minutes: no grace is left for it when the browser is full
    events = [ev(T0, "worker", trace="tr", msg="fetch"), *minute(61, 50)]
    events.append(ev(T0 + 61 * MIN + 59_500, "browser", trace="tr", msg="click"))
    engine, drops = decide(events)
    assert list(drops) == [52] and drops[52][0] == "rate_limit"
    assert engine.stats["trace_grace"] == 0
    # within the hour it is still admitted: the grace stores it
    events[0] = ev(T0 + 2 * MIN, "worker", trace="tr", msg="fetch")
    engine, drops = decide(events)
    assert drops == {} and engine.stats["trace_grace"] == 1


def refused_traces(minutes: int, per_minute: int) -> list[tuple[Any, ...]]:
    """Each minute, `per_minute` traces of a browser event and a worker one 1 ms later: past the browser's
    limit most are refused; every fifth comes back 2 minutes later, after its refusal ended."""
    events = []
    for m in range(minutes):
        step = MIN // per_minute
        for i in range(per_minute):
            t, tid = T0 + m * MIN + i * step, f"tr{m}.{i}"
            events += [
                ev(t, "browser", trace=tid, msg=f"click {i}"),
                ev(t + 1, "worker", trace=tid, msg="fetch"),
            ]
            if i % 10 in (0, 5):  # stored by the backend, refused again by the browser
                events.append(ev(t + 2 * MIN + 2, "backend" if i % 10 else "browser", trace=tid, msg="again"))
    return sorted(events, key=lambda e: e[0])


def test_an_ordered_engine_forgets_refused_traces_when_their_refusal_ends_and_decides_the_same() -> None:
    # a replay's engine (events in time order, nothing saved) holds the traces refused in the last minutes,
    # not every trace of the last hour: `replay --multiply 20` held 280,000 of them, 1 KB each
    events = refused_traces(30, 200)
    engine, drops = decide(events)
    ordered, same = decide(events, engine=Engine(Policy(), ordered=True))
    assert same == drops and ordered.stats == engine.stats
    assert engine.stats["trace_refused"] > 5000 and len(engine.state.traces) == 6000
    refused = [r for r in ordered.state.traces.values() if not r[0]]
    assert 0 < len(refused) <= 6 * 200  # refused since the sweep before the last (every 5 minutes)
    # the admitted traces alike (systems, last event); those stored after their refusal ended have none to show
    admitted = {k: r[:2] for k, r in engine.state.traces.items() if r[0]}
    assert {k: r[:2] for k, r in ordered.state.traces.items() if r[0]} == admitted


def test_trace_awareness_can_be_switched_off() -> None:
    events = [
        *minute(0, 50),
        ev(T0 + 59_000, trace="tr", msg="a"),
        ev(T0 + 59_001, "backend", trace="tr", msg="b"),
    ]
    _, drops = decide(events, policy(trace_aware={"enabled": False}))
    assert list(drops) == [51]


# -- monthly budget -----------------------------------------------------------------------------------


def small_budget(**budget: Any) -> Policy:
    return policy(rate_limit=NO_RATE, budget={"monthly_writes": 100, **budget})


def writes(n: int, start: int = T0, system: str = "browser", tag: str = "w", level: str = "log",
           trace: str | None = None) -> list[tuple[Any, ...]]:  # fmt: skip
    return [ev(start + i * 1000, system, level, trace, f"{tag}{i}") for i in range(n)]


def mixed(n: int, start: int = T0) -> list[tuple[Any, ...]]:
    """`n` writes spread 4:3:3 over the systems, so 100 of them fill every share exactly."""
    systems = ("browser",) * 4 + ("worker",) * 3 + ("backend",) * 3
    return [ev(start + i * 1000, systems[i % 10], "log", None, f"x{i}") for i in range(n)]


def test_the_quota_warning_at_exactly_80_percent_is_recorded_and_drops_nothing() -> None:
    events = mixed(80)
    engine, drops = decide(events, small_budget())
    assert drops == {}
    total = [m for m in engine.state.moments if m.scope == "total"]
    assert [(m.pct, m.used, m.ts_ms) for m in total] == [(80.0, 80, events[79][0])]
    one_less, _ = decide(mixed(79), small_budget())
    assert [m for m in one_less.state.moments if m.scope == "total"] == []


def test_at_95_percent_only_errors_and_critical_traces_are_stored() -> None:
    events = mixed(95)
    t = events[-1][0] + 1000
    events += [ev(t, "browser", msg="info"), ev(t + 1, "worker", level="error", msg="err"),
               ev(t + 2, "backend", trace="critical_pay", msg="crit"), ev(t + 3, "worker", level="warn", msg="warn")]  # fmt: skip
    engine, drops = decide(events, small_budget())
    assert {p: (d[0], d[2]["gate"]) for p, d in drops.items()} == {
        96: ("budget", "essential"),
        99: ("budget", "essential"),
    }
    assert (
        "essential-only: 95 of 100 writes used in 2024-06 (≥ 95 %); only error events and critical traces pass"
        in drops[96][1]
    )
    assert [m.pct for m in engine.state.moments if m.scope == "total"] == [80.0, 95.0]


def test_the_monthly_quota_is_never_exceeded_not_even_by_critical_errors() -> None:
    # after 95 writes (browser 40/40, worker 28/30, backend 27/30) five more fill every share exactly
    rest = ["backend", "worker", "backend", "worker", "backend", "browser", "worker", "backend"]
    events = mixed(95) + [
        ev(T0 + 100_000 + i, s, "error", f"critical_{i}", f"e{i}") for i, s in enumerate(rest)
    ]
    engine, drops = decide(events, small_budget())
    assert stored(drops, len(events)) == list(range(1, 101)) and engine.state.total == 100
    assert {d[2]["gate"] for d in drops.values()} == {"cap"}
    assert drops[101][1] == "monthly quota used up: 100 of 100 writes in 2024-06"
    assert [m.pct for m in engine.state.moments if m.scope == "total"] == [80.0, 95.0, 100.0]


def test_shares_split_the_quota_40_30_30_and_record_each_systems_moments() -> None:
    engine, drops = decide(writes(41, system="worker"), small_budget(borrowing=False))
    assert list(drops) == [31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41]
    assert drops[31][1] == "worker used its 30-write share (30 %) of 2024-06 and borrowing is off"
    assert engine.budget.quotas == {"browser": 40, "worker": 30, "backend": 30}
    assert [(m.scope, m.pct, m.used) for m in engine.state.moments] == [
        ("worker", 80.0, 24),
        ("worker", 100.0, 30),
    ]


def test_a_system_past_its_share_borrows_the_others_unused_prorated_quota() -> None:
    mid = T0 + 15 * DAY  # half of June: each lender may lend half its share, minus what it used
    engine, drops = decide(writes(75, start=mid), small_budget())
    st = engine.state
    assert len(stored(drops, 75)) == 70  # 40 own + 15 from worker + 15 from backend
    b = st.systems["browser"]
    assert (b.own, b.borrowed) == (40, 30)
    assert all(d[2]["gate"] == "share" for d in drops.values())
    assert "no other system has lendable quota (prorated lending)" in drops[71][1]


def test_lenders_keep_what_they_are_due_for_the_rest_of_the_month() -> None:
    _, drops = decide(writes(45), small_budget())  # first minutes of the month: nothing is lendable yet
    assert list(drops) == [41, 42, 43, 44, 45]


def test_a_lender_that_used_its_allotment_lends_nothing() -> None:
    mid = T0 + 15 * DAY
    events = writes(15, start=mid, system="worker", tag="k") + writes(
        45, start=mid + 100_000, system="browser"
    )
    engine, _ = decide(events, small_budget())
    assert engine.state.systems["worker"].lent == 0 and engine.state.systems["backend"].lent == 5


def test_unused_lending_lends_the_whole_unused_share() -> None:
    engine, drops = decide(writes(110, level="error"), small_budget(lending="unused"))
    assert len(stored(drops, 110)) == 100 and {d[2]["gate"] for d in drops.values()} == {"cap"}
    assert engine.state.systems["browser"].borrowed == 60


def test_a_share_refusal_says_how_much_of_the_share_was_lent_away() -> None:
    mid = T0 + 15 * DAY  # prorated lending: half of each share is lendable
    events = writes(50, start=mid, tag="r") + writes(40, start=mid + 100_000, system="worker", tag="k")
    engine, drops = decide(events, small_budget())
    worker = engine.state.systems["worker"]
    assert worker.lent == 5 and worker.own == 25 and worker.borrowed == 10
    assert sorted(drops) == list(range(86, 91))  # 25 own + 10 borrowed from the backend, then refused
    assert drops[86][1] == (
        "worker used its 30-write share (30 %) of 2024-06 (25 written, 5 lent to other systems) "
        "and no other system has lendable quota (prorated lending)"
    )


def test_a_new_month_starts_with_fresh_counters() -> None:
    july = T0 + 30 * DAY
    engine, drops = decide(mixed(95) + mixed(10, start=july), small_budget())
    assert drops == {}
    assert engine.state.month == "2024-07" and engine.state.total == 10


# -- order, determinism, continuity ----------------------------------------------------------------


def test_suppressed_and_redelivered_events_are_dropped_first_and_count_nowhere() -> None:
    events = [ev(T0, sup="[HMR]"), ev(T0, dup=1), ev(T0, dup=2), *minute(0, 50)]
    engine, drops = decide(events)
    assert {p: d[0] for p, d in drops.items()} == {1: "suppress", 2: "duplicate", 3: "duplicate"}
    assert drops[1][2] == {"pattern": "[HMR]"}
    assert drops[3][2]["first_copy"] == "earlier ingest"
    assert engine.state.total == 50


def test_the_same_events_in_any_batch_split_give_the_same_decisions() -> None:
    events = [e for m in range(3) for e in minute(m, 70, trace=f"t{m}")] + [ev(T0 + 3 * MIN, msg="m0e1")] * 8
    _, whole = decide(events)
    _, split = decide(events, batch=7)
    assert whole == split


def test_later_events_continue_the_same_engine_state() -> None:
    events = minute(0, 60)
    engine, first = decide(events[:30])
    _, second = decide(events[30:], engine=engine)
    _, whole = decide(events)
    assert sorted(first) + sorted(p + 30 for p in second) == sorted(whole)


def test_an_event_older_than_its_systems_clock_is_decided_at_that_clock() -> None:
    engine, _ = decide(minute(1, 50))
    _, drops = decide([ev(T0, msg="late")], engine=engine)  # minute 0, but the clock is in minute 1
    assert drops[1][0] == "rate_limit" and engine.stats["late"] == 1


def test_another_systems_later_clock_does_not_make_an_event_late() -> None:
    # one export per system, ingested one after the other: the backend's clock is 5 minutes ahead
    engine, _ = decide([ev(T0 + 5 * MIN, "backend", msg="deploy done")])
    heartbeats = [ev(T0 + i * 10_000, trace=f"t{i}", msg="heartbeat") for i in range(30)]
    _, drops = decide(heartbeats, engine=engine)
    assert drops == {} and engine.stats["late"] == 0  # 10 s apart: no loop, decided on the browser's clock
    assert engine.state.systems["browser"].clock == T0 + 290_000
    assert engine.state.systems["backend"].clock == engine.state.clock == T0 + 5 * MIN


def test_a_cross_system_copy_is_compared_either_side_of_a_system_ahead() -> None:
    engine, _ = decide([ev(T0 + 300_000, "backend", trace="tr", msg="Saved profile")])
    _, drops = decide([ev(T0 + 1_000, trace="tr", msg="Saved profile"),  # 299 s before: another event
                       ev(T0 + 298_500, trace="tr", msg="Saved profile")], engine=engine)  # fmt: skip
    assert list(drops) == [2] and drops[2][0] == "cross_system"
    assert "stored by backend for trace tr 1500 ms later" in drops[2][1]


def test_a_refusal_does_not_reach_back_before_it_began() -> None:
    # the browser, ahead, refused the trace at minute 5; the worker's export reaches back to minute 1
    engine, drops = decide([*minute(5, 50), ev(T0 + 5 * MIN + 59_000, trace="tr", msg="click")])
    assert drops[51][0] == "rate_limit" and engine.stats["trace_refused"] == 1
    _, drops = decide([ev(T0 + MIN, "worker", trace="tr", msg="fetch"),
                       ev(T0 + 5 * MIN + 59_500, "worker", trace="tr", msg="fetch again")], engine=engine)  # fmt: skip
    assert drops == {}  # before the refusal, and stored: the trace is admitted from then on
    _, drops = decide([ev(T0 + 5 * MIN + 59_500, "worker", trace="tr2", msg="fetch")], engine=refusing("tr2"))
    assert drops[1][0] == "trace"  # inside the refusal's span, in a system behind the one that refused


def test_a_refusal_made_later_in_event_time_stands_when_a_system_behind_refuses_the_trace_earlier() -> None:
    engine = refusing("tr")  # the browser refused tr at minute 5, for a minute
    # the backend's export, behind: its minute 1 is full, and tr's line there refuses the trace too
    _, drops = decide([*minute(1, 50, "backend"), ev(T0 + MIN + 59_000, "backend", trace="tr", msg="q")],
                      engine=engine)  # fmt: skip
    assert drops[51][0] == "rate_limit"
    _, drops = decide([ev(T0 + 6 * MIN, "worker", trace="tr", msg="fetch")], engine=engine)
    assert drops[1][0] == "trace" and "refused by the browser" in drops[1][1]


def refusing(trace: str) -> Engine:
    """An engine whose browser, at minute 5, refused `trace`."""
    engine, drops = decide([*minute(5, 50), ev(T0 + 5 * MIN + 59_000, trace=trace, msg="click")])
    assert drops[51][0] == "rate_limit"
    return engine


@pytest.mark.parametrize("rule", ["loop", "cross_system", "rate_limit", "budget"])
def test_a_disabled_rule_drops_nothing(rule: str) -> None:
    events = [
        ev(T0, "backend", trace="t", msg="x"),
        *[ev(T0 + 1, "browser", trace="t", msg="x")] * 7,
        *minute(0, 60),
    ]
    sections: dict[str, Any] = {rule: {"enabled": False}}
    if rule == "budget":
        sections["budget"]["monthly_writes"] = 10
    _, drops = decide(events, policy(**sections))
    assert rule not in {d[0] for d in drops.values()}


# -- pruning the windows' containers (every few minutes of event time, once they are large) -------------

MANY = _SWEEP_MIN + 10  # more entries than the engine's sweep minimum: the sweep runs
UNLIMITED = {"rate_limit": NO_RATE, "budget": {"enabled": False}}


def test_a_sweep_keeps_the_loop_window_of_a_system_behind_the_others() -> None:
    # the browser stored 5 copies in its last second; the backend, 9 minutes ahead, many distinct lines
    first = [ev(T0 + MIN - 500 + i, msg="retrying") for i in range(5)]
    first += [ev(T0 + 10 * MIN + i % 900, "backend", msg=f"row {i}") for i in range(MANY)]
    engine, drops = decide(first, policy(**UNLIMITED))
    assert drops == {}
    # the browser's next export (the next ingest): its window is its own clock's, whatever the backend's
    _, drops = decide([ev(T0 + MIN + 10, msg="retrying")], engine=Engine(engine.policy, engine.state))
    assert drops[1][0] == "loop"


def test_a_sweep_keeps_a_cross_system_copy_exactly_the_window_before() -> None:
    # the engine sweeps at its first event and every 5 minutes of event time after: here at T0 + 5 min, the
    # browser's echo exactly 2000 ms (inclusive) after the backend's line
    events = [ev(T0, "worker", msg="start"), ev(T0 + 298_000, "backend", trace="t", msg="Saved profile")]
    events += [ev(T0 + 298_001 + i % 1999, "backend", trace=f"other{i}", msg=f"row {i}") for i in range(MANY)]
    events.sort(key=lambda e: e[0])
    events.append(ev(T0 + 300_000, trace="t", msg="Saved profile"))
    _, drops = decide(events, policy(**UNLIMITED))
    assert {p: d[0] for p, d in drops.items()} == {len(events): "cross_system"}


@pytest.mark.parametrize("ordered", [False, True])
@pytest.mark.parametrize("gone_share", [0.1, 0.5, 0.9])
def test_a_trace_sweep_keeps_what_the_rule_says_in_place_or_anew(ordered: bool, gone_share: float) -> None:
    """`sweep_traces` keeps the records the rule names (the comprehension below, its reference), deleting the
    others from the dict itself where most stay, into a new dict where most go."""
    rng = random.Random(int(gone_share * 10) + ordered)
    cutoff, now = 10_000, 20_000
    traces: dict[str, list[Any]] = {}
    for i in range(2_000):
        idle = rng.random() < gone_share
        refused = rng.random() < 0.2
        traces[f"t{i}"] = [
            rng.choice([0, 1, 5]),
            rng.randrange(0, cutoff + 1) if idle else rng.randrange(cutoff + 1, now + 1),
            rng.choice([0, rng.randrange(now - 5, now + 6)]) if refused else 0,
            None,
        ]

    def kept(k: str, v: list[Any]) -> bool:
        if ordered:
            return v[TRACE_REFUSED_UNTIL] > now or bool(v[TRACE_MASK] and v[TRACE_LAST] > cutoff)
        return v[TRACE_LAST] > cutoff or v[TRACE_REFUSED_UNTIL] > now

    expected = {k: v for k, v in traces.items() if kept(k, v)}
    assert 0 < len(expected) < len(traces)
    before = traces
    swept = sweep_traces(traces, cutoff, now, ordered)
    assert swept == expected and list(swept) == list(expected)
    assert (swept is before) == (len(expected) * 2 >= 2_000)
