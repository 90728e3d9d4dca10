"""Copies of a tiled load counted without deciding them again (`logcorr.sim.steady`, `sim.run.run_tiled`): the
result is the one deciding every copy gives, whatever the policy, and most copies of a steady month are counted,
not decided."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import duckdb
import pytest

from logcorr.rules.policy import Policy
from logcorr.sim import run as sim_run
from logcorr.sim import steady

START = 1714521600000  # 2024-05-01 00:00:00 UTC
MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR


def _base(
    rnd: random.Random, n: int, span_ms: int, trace_ids: list[str | None], edges: bool = True
) -> duckdb.DuckDBPyConnection:
    """TEMP `sim_base` with `n` events over `span_ms`: traces across systems, identical messages close together
    (loops), errors, suppressed and duplicate events; with `edges`, maybe a flood or loops at the span's ends."""
    rows = []
    for i in range(n):
        t = START + rnd.randrange(span_ms)
        burst = rnd.random() < 0.3
        for k in range(rnd.randrange(2, 9) if burst else 1):
            rows.append((
                t + 30 * k, rnd.choice(["browser", "browser", "worker", "backend"]),
                rnd.choice(["log", "info", "warn", "error"]), rnd.choice(trace_ids), f"fp{rnd.randrange(12)}",
                "noise" if rnd.random() < 0.04 else None, rnd.random() < 0.04, 100 * i + k + 1,
            ))  # fmt: skip
    # a flood of distinct messages at the span's end: the rate tier a copy ends on is the one the next starts on
    if edges and rnd.random() < 0.5:
        system = rnd.choice(["browser", "worker", "backend"])
        for k in range(rnd.randrange(50, 250)):
            t = START + span_ms - 1 - rnd.randrange(min(span_ms, 4 * MINUTE))
            rows.append((t, system, "log", rnd.choice(trace_ids), f"flood{k}", None, False, 2 * 10**7 + k))
    # identical messages at both ends of the span: a copy's last ones in the loop window of the next copy's first
    for e in range(rnd.randrange(0, 4) if edges else 0):
        system, level = rnd.choice(["browser", "worker", "backend"]), rnd.choice(["log", "error"])
        for k in range(rnd.randrange(1, 6)):
            for t in (START + 40 * k, START + span_ms - 1 - 40 * k):
                rows.append(
                    (t, system, level, rnd.choice(trace_ids), f"edge{e}", None, False, 10**7 + len(rows))
                )
    con = duckdb.connect()
    con.execute(
        "CREATE TEMP TABLE sim_base (ts_ms BIGINT, system VARCHAR, level VARCHAR, trace_id VARCHAR, "
        "fingerprint VARCHAR, suppressed VARCHAR, dup BOOLEAN, event_id BIGINT)"
    )
    if rows:
        con.executemany("INSERT INTO sim_base VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return con


def _policy(rnd: random.Random) -> Policy:
    """A policy whose month's thresholds, shares and borrowing, rate tiers, loop windows and trace rules all come
    into play over a few days of a small load."""
    window = rnd.choice([30_000, 60_000, 60_000, 120_000])
    essential = rnd.choice([60.0, 95.0, 100.0])
    return Policy.model_validate({
        "budget": {
            "enabled": rnd.random() < 0.9,
            "monthly_writes": int(10 ** rnd.uniform(1.5, 4.5)),
            "shares": rnd.choice([
                {"browser": 0.4, "worker": 0.3, "backend": 0.3}, {"browser": 0.1, "worker": 0.1, "backend": 0.8},
                {"browser": 0.5, "backend": 0.5},
            ]),
            "borrowing": rnd.random() < 0.7,
            "lending": rnd.choice(["prorated", "unused"]),
            "warn_pct": min(essential, rnd.choice([50.0, 80.0, 100.0])),
            "essential_pct": essential,
        },
        "rate_limit": {
            "enabled": rnd.random() < 0.9,
            "tiers": rnd.choice([[50, 25, 12, 6], [8, 4, 2], [3]]),
            "window_ms": window,
            "calm_minutes_to_recover": rnd.choice([1, 3, 10]),
        },
        "loop": {"max_identical": rnd.choice([2, 5]), "window_ms": rnd.choice([1000, 45_000, 150_000, 25 * MINUTE])},
        "cross_system": {"window_ms": rnd.choice([2000, 90_000])},
        "critical": {"levels": rnd.choice([[], ["error"]]), "trace_id_patterns": ["critical_"]},
        "trace_aware": {
            "enabled": rnd.random() < 0.8,
            "refuse_ms": rnd.choice([0, 60_000, 400_000]),
            "idle_ms": rnd.choice([1000, 3_600_000]),
            "grace_pct": rnd.choice([0.0, 50.0]),
        },
    })  # fmt: skip


def _outcome(res: sim_run.SimResult) -> dict[str, Any]:
    """Everything `budget simulate` reads of a run: the counts, the month's counters, the moments, the
    statistics."""
    st = res.engine.state
    return {
        "events": res.events,
        "offered": dict(res.offered),
        "accepted": dict(res.accepted),
        "dropped": dict(res.dropped),
        "daily": res.daily,
        "total": st.total,
        "systems": {n: (s.own, s.borrowed, s.lent, s.tier) for n, s in st.systems.items()},
        "moments": st.moments,
        "stats": dict(res.engine.stats),
    }


def _both(
    con: duckdb.DuckDBPyConnection, tiling: sim_run.Tiling, policy: Policy, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, Any], dict[str, Any], list[int]]:
    """The run with copies counted alike and the run deciding every copy, and how many copies each jump
    counted."""
    jumps: list[int] = []
    advance = steady.advance

    def counted(engine: Any, at: int, copies: int, *rest: Any) -> None:
        jumps.append(copies)
        advance(engine, at, copies, *rest)

    monkeypatch.setattr(steady, "advance", counted)
    fast = sim_run.run_tiled(con, tiling, policy, batch_rows=997)
    every = sim_run.run_tiled(con, tiling, policy, batch_rows=997, skip=False)
    return _outcome(fast), _outcome(every), jumps


@pytest.mark.parametrize("seed", range(32))
def test_copies_counted_alike_give_what_deciding_every_copy_gives(
    monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    rnd = random.Random(seed)
    if (
        seed % 2
    ):  # every copy checked, the records of the copies before it let go at each (as of large copies)
        monkeypatch.setattr(sim_run, "GAP_EVENTS", 1)
    # a period dividing a day (copies inside one day) or of whole days (a copy over several)
    period = rnd.choice([10 * MINUTE, 30 * MINUTE, 2 * HOUR, 2 * DAY])
    days = rnd.randrange(2, 5) if period < DAY else 9
    span = rnd.choice([period - rnd.randrange(0, 3000), rnd.randrange(period // 3, period)])
    traces = [None, *(f"t{i}" for i in range(rnd.randrange(1, 40))), "critical_checkout"]
    con = _base(rnd, rnd.randrange(20, 120) if period < DAY else 300, span, traces)
    n = con.execute("SELECT count(*) FROM sim_base").fetchall()[0][0]
    policy = _policy(rnd)
    scale = rnd.choice([1.0, 1.0, 2.0, 3.0])
    # the month's end cuts the last copy in the middle when the period does not divide the days
    tiling = sim_run.Tiling(START, START, period, -(-days * DAY // period), scale, START + days * DAY, n)
    assert steady.repeats(con, policy, period, scale) == (period % policy.rate_limit.window_ms == 0)
    fast, every, _ = _both(con, tiling, policy, monkeypatch)
    assert fast == every
    assert every["events"] > 0


def _steady(scale: float) -> tuple[duckdb.DuckDBPyConnection, Policy, sim_run.Tiling]:
    """A minute of 40-odd events repeated over 5 days (7,200 copies), the month's budget used up on the second."""
    con = _base(random.Random(7), 40, MINUTE, [None, *(f"t{i}" for i in range(15))], edges=False)
    n = con.execute("SELECT count(*) FROM sim_base").fetchall()[0][0]
    policy = Policy.model_validate({"budget": {"monthly_writes": 4_000, "lending": "unused"}})
    return con, policy, sim_run.Tiling(START, START, MINUTE, 5 * 24 * 60, scale, START + 5 * DAY, n)


def test_a_steady_month_is_decided_in_a_few_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    # a minute of events repeated over 5 days, the month's budget used up on the second: 7,200 copies, of which a
    # few hundred are decided (until the state repeats, around each threshold)
    con, policy, tiling = _steady(1.0)
    n = tiling.base_events
    decided = 0
    count = sim_run._count

    def counting(engine: Any, batch: Any, *rest: Any) -> None:
        nonlocal decided
        decided += batch.num_rows
        count(engine, batch, *rest)

    monkeypatch.setattr(sim_run, "_count", counting)
    fast = sim_run.run_tiled(con, tiling, policy)
    decided_fast, decided = decided, 0
    every = sim_run.run_tiled(con, tiling, policy, skip=False)
    assert _outcome(fast) == _outcome(every)
    assert decided == fast.events == 5 * 24 * 60 * n
    assert decided_fast < fast.events / 20
    # the month is used up: the copies after the cap are counted alike too
    assert fast.engine.state.total == 4_000 and {m.pct for m in fast.engine.state.moments} >= {
        80.0,
        95.0,
        100.0,
    }


@pytest.mark.parametrize(
    ("change", "period", "scale"),
    [
        ({}, 10 * MINUTE, 1.5),  # a fractional scale keeps another share of each copy
        ({}, 7 * HOUR, 1.0),  # neither divides a day nor whole days: copies fall on days differently
        ({"rate_limit": {"window_ms": 7 * MINUTE}}, 10 * MINUTE, 1.0),  # rate windows not whole in a period
        ({"critical": {"trace_id_patterns": ["~1"]}}, 10 * MINUTE, 1.0),  # could match a copy's `~k.j`
        ({"critical": {"trace_id_patterns": ["2.0"]}}, 10 * MINUTE, 1.0),
    ],
)
def test_copies_that_may_not_repeat_are_all_decided(
    change: dict[str, Any], period: int, scale: float
) -> None:
    con = _base(random.Random(1), 30, 5 * MINUTE, [None, "t1"])
    assert steady.repeats(con, Policy(), 10 * MINUTE, 1.0)
    assert not steady.repeats(con, Policy.model_validate(change), period, scale)


def test_observed_trace_ids_like_a_copy_s_are_all_decided() -> None:
    # copy 3's clone 0 of trace `a` is `a~3.0`: an observed id of that form would be the same trace
    con = _base(random.Random(1), 30, 5 * MINUTE, [None, "a", "a~3.0"])
    assert not steady.repeats(con, Policy(), 10 * MINUTE, 1.0)


def test_copies_a_loop_window_spans_are_decided_in_its_cycle(monkeypatch: pytest.MonkeyPatch) -> None:
    # one message a copy, 10 min apart, at most 2 in 25 min: stored, stored, dropped, over and over. Every copy
    # ends with the same rate window and clocks; only the loop window tells the copies apart, and no copy is
    # decided as the one before it
    con = _base(random.Random(0), 0, 10 * MINUTE, [None], edges=False)
    con.execute(f"INSERT INTO sim_base VALUES ({START}, 'backend', 'log', NULL, 'again', NULL, false, 1)")
    policy = Policy.model_validate({"loop": {"max_identical": 2, "window_ms": 25 * MINUTE}})
    tiling = sim_run.Tiling(START, START, 10 * MINUTE, 300, 1.0, START + 3000 * MINUTE, 1)
    fast, every, jumps = _both(con, tiling, policy, monkeypatch)
    assert fast == every and jumps == []
    assert every["dropped"] == {("loop", "backend"): 100} and every["accepted"] == {"backend": 200}


def test_a_share_refused_under_prorated_lending_is_decided_while_a_lender_may_lend_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the browser's and the worker's shares (400 each) are used up on the first day. The backend writes 4 an
    # hour of the 4.3 its share allots, so every third or fourth hour it has a write to lend: the hours of
    # refusals between are not alike for long. The worker writes 40 an hour of the 0.5 its share allots: it
    # never has one to lend
    rows = [(START + 90_000 * k, "browser", "log", None, f"b{k}", None, False, k + 1) for k in range(40)]
    rows += [
        (START + 900_000 * k + 1, "backend", "log", None, f"c{k}", None, False, 100 + k) for k in range(4)
    ]
    rows += [
        (START + 90_000 * k + 7, "worker", "log", None, f"w{k}", None, False, 200 + k) for k in range(40)
    ]
    con = _base(random.Random(0), 0, HOUR, [None], edges=False)
    con.executemany("INSERT INTO sim_base VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    shares = {"browser": 0.1, "worker": 0.1, "backend": 0.8}
    policy = Policy.model_validate(
        {"budget": {"monthly_writes": 4000, "shares": shares, "lending": "prorated"}}
    )
    tiling = sim_run.Tiling(START, START, HOUR, 240, 1.0, START + 10 * DAY, len(rows))
    fast, every, _ = _both(con, tiling, policy, monkeypatch)
    assert fast == every
    browser, worker, backend = (every["systems"][s] for s in ("browser", "worker", "backend"))
    assert backend[:2] == (4 * 240, 0) and browser[1] + worker[1] == backend[2] > 20


def _cycling() -> tuple[duckdb.DuckDBPyConnection, Policy, sim_run.Tiling]:
    """A load whose copies are never decided as the one before (one message a copy, 10 min apart, at most 2 in
    25 min): every copy is decided."""
    con = _base(random.Random(0), 0, 10 * MINUTE, [None], edges=False)
    con.execute(f"INSERT INTO sim_base VALUES ({START}, 'backend', 'log', NULL, 'again', NULL, false, 1)")
    policy = Policy.model_validate({"loop": {"max_identical": 2, "window_ms": 25 * MINUTE}})
    return con, policy, sim_run.Tiling(START, START, 10 * MINUTE, 300, 50.0, START + 3000 * MINUTE, 1)


def test_the_limit_is_on_the_events_decided_not_on_those_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    # 7,200 copies of a minute of 40-odd events, twice over: 8 times the limit counted, a few hundred copies
    # decided
    con, policy, tiling = _steady(2.0)
    n = tiling.base_events
    limit = 100_000
    assert tiling.copy_events * tiling.copies > 8 * limit
    fast = sim_run.run_tiled(con, tiling, policy, max_decided=limit)
    assert fast.events == tiling.copies * n * 2
    # as deciding every copy gives, and each copy twice what the load once over offers
    every = sim_run.run_tiled(con, tiling, policy, skip=False)
    assert _outcome(fast) == _outcome(every)
    once = sim_run.run_tiled(con, dataclasses.replace(tiling, scale=1.0), policy, max_decided=limit)
    assert {s: 2 * k for s, k in once.offered.items()} == fast.offered
    assert {k: 2 * v[0] for k, v in once.daily.items()} == {k: v[0] for k, v in fast.daily.items()}


def test_a_load_that_keeps_changing_is_stopped_before_deciding_more_than_the_limit() -> None:
    con, policy, tiling = _cycling()
    with pytest.raises(sim_run.TooMuchWork) as caught:
        sim_run.run_tiled(con, tiling, policy, batch_rows=64, max_decided=1_000)
    e = caught.value
    # stopped in the copy the next batch starts in, having decided what the limit let it, every event of it
    assert 1_000 - 64 < e.decided <= 1_000 and e.counted == e.decided
    assert e.copy == e.decided // 50 and e.why is None and e.limit == 1_000
    # a limit it stays under: the month, as without one
    assert _outcome(sim_run.run_tiled(con, tiling, policy, max_decided=15_000)) == _outcome(
        sim_run.run_tiled(con, tiling, policy)
    )


@pytest.mark.parametrize(
    ("scale", "limit", "at_least", "why"),
    [
        # a fractional scale: every copy is decided, 300 copies of 50.5 events
        (50.5, 15_000, 15_150, steady.FRACTIONAL),
        # copies alike counted, but the first two always decided: 2 copies of 5,000 events
        (5_000.0, 9_999, 10_000, None),
    ],
)
def test_a_load_that_certainly_decides_more_than_the_limit_is_refused_before_deciding_any(
    monkeypatch: pytest.MonkeyPatch, scale: float, limit: int, at_least: int, why: str | None
) -> None:
    con, policy, tiling = _cycling()
    tiling = dataclasses.replace(tiling, scale=scale)
    decided = 0

    def counting(*args: Any) -> None:
        nonlocal decided
        decided += 1

    monkeypatch.setattr(sim_run, "_count", counting)
    with pytest.raises(sim_run.TooMuchWork) as caught:
        sim_run.run_tiled(con, tiling, policy, max_decided=limit)
    e = caught.value
    assert (e.copy, e.decided, e.at_least, e.why) == (None, 0, at_least, why) and decided == 0


def test_large_copies_hold_the_trace_records_of_a_copy_not_an_hour_of_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # copies never decided alike (`_cycling`), with 50 traces each, a record each kept an hour after its last
    # event (and here all: fewer than the engine sweeps). Copies of more than GAP_EVENTS are checked one by one, and each check lets go of
    # the records the copies before it left (the bundled sample at 10,000x held 1.9M of them, 2.6 GB)
    con, policy, tiling = _cycling()
    rows = [
        (START + 1 + 11_000 * i, "worker", "log", f"r{i}", f"w{i}", None, False, 10 + i) for i in range(50)
    ]
    con.executemany("INSERT INTO sim_base VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    tiling = dataclasses.replace(tiling, copies=60, scale=1.0, end_ms=START + 600 * MINUTE, base_events=51)
    held = []
    count = sim_run._count

    def counting(engine: Any, *rest: Any) -> None:
        count(engine, *rest)
        held.append(len(engine.state.traces))

    monkeypatch.setattr(sim_run, "_count", counting)
    monkeypatch.setattr(sim_run, "GAP_EVENTS", 51)
    fast = sim_run.run_tiled(con, tiling, policy, batch_rows=997)
    assert max(held) == 50
    held.clear()
    every = sim_run.run_tiled(con, tiling, policy, batch_rows=997, skip=False)
    assert max(held) > 20 * 50
    assert _outcome(fast) == _outcome(every)
