"""The simulation driver (`logcorr.sim`): a tiled load generated in parts is the whole load, in its order,
and the engine decides the same over it (one query or parts, compiled loop or Python loop)."""

from __future__ import annotations

import itertools
import random
from typing import Any

import duckdb
import pytest

from logcorr.rules.policy import Policy
from logcorr.sim import load
from logcorr.sim import run as sim_run

START = 1714521600000  # 2024-05-01 00:00:00 UTC
MINUTE = 60_000
COLUMNS = "ts_ms, system, level, trace_id, fingerprint, suppressed, dup"


def _base(seed: int, n: int = 1500, span_ms: int = 10 * MINUTE) -> duckdb.DuckDBPyConnection:
    """A connection holding TEMP `sim_base` (`load.BASE_DDL`'s columns): bursts of identical messages, traces
    across systems, suppressed and duplicate events, at random times over `span_ms`."""
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        system = rnd.choice(["browser", "browser", "worker", "backend"])
        trace = rnd.choice([None, f"t{rnd.randrange(60)}"])
        rows.append((
            START + rnd.randrange(span_ms), system, rnd.choice(["log", "info", "warn", "error"]), trace,
            f"fp{rnd.randrange(25)}", "noise" if rnd.random() < 0.05 else None, rnd.random() < 0.03, i + 1,
        ))  # fmt: skip
    for b in range(6):  # loops: 20 identical messages inside a second
        t0 = START + rnd.randrange(span_ms - 1000)
        rows += [
            (t0 + 40 * k, "browser", "error", None, f"burst{b}", None, False, n + 20 * b + k + 1)
            for k in range(20)
        ]
    con = duckdb.connect()
    con.execute(
        "CREATE TEMP TABLE sim_base (ts_ms BIGINT, system VARCHAR, level VARCHAR, trace_id VARCHAR, "
        "fingerprint VARCHAR, suppressed VARCHAR, dup BOOLEAN, event_id BIGINT)"
    )
    con.executemany("INSERT INTO sim_base VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return con


def _rows(con: duckdb.DuckDBPyConnection, query: str) -> list[tuple[Any, ...]]:
    return con.execute(f"SELECT {COLUMNS} FROM ({query})").fetchall()


# (scale, copies, where the load ends: a copy cut in the middle, or not)
_CASES = [(1.0, 7, 7 * 10 * MINUTE), (2.5, 5, 4 * 10 * MINUTE + 3 * MINUTE), (0.4, 9, 9 * 10 * MINUTE)]


@pytest.mark.parametrize(("scale", "copies", "length"), _CASES)
def test_the_load_in_parts_is_the_tiled_load_in_its_order(
    monkeypatch: pytest.MonkeyPatch, scale: float, copies: int, length: int
) -> None:
    con = _base(seed=copies)
    args = (START, START, 10 * MINUTE, copies, scale, START + length)
    whole = con.execute(f"SELECT pos, {COLUMNS} FROM ({load.tiled(*args)})").fetchall()
    assert [r[0] for r in whole] == list(range(1, len(whole) + 1))  # the order `pos` gives
    for part_events in (1, 4000, 10**9):  # a copy a part, a few, all in one
        monkeypatch.setattr(load, "PART_EVENTS", part_events)
        parts = load.tiled_in_parts(*args, base_events=1620)
        assert (
            len(parts)
            == {1: copies, 4000: -(-copies // max(1, 4000 // (1620 * -(-scale // 1)))), 10**9: 1}[part_events]
        )
        got = [row for q in parts for row in _rows(con, q)]
        assert got == [r[1:] for r in whole]


@pytest.mark.parametrize("compiled", [True, False])
def test_the_engine_decides_the_same_over_the_parts_as_over_the_whole_load(
    monkeypatch: pytest.MonkeyPatch, compiled: bool
) -> None:
    con = _base(seed=11, n=4000)
    args = (START, START, 10 * MINUTE, 12, 1.5, START + 2 * 60 * MINUTE)
    if not compiled:
        monkeypatch.setenv("LOGCORR_NO_FASTPATH", "1")
    # errors past the per-minute limit, as the policy allows: this dense load then also meets the loop rule,
    # which counts stored copies only (with the default, its loops fall to the exhausted limit first)
    policy = Policy.model_validate({"critical": {"levels": ["error"]}})
    whole = sim_run.run(con, load.tiled(*args), policy, start_ms=START, batch_rows=1000)
    monkeypatch.setattr(load, "PART_EVENTS", 9000)
    parts = sim_run.run(
        con, load.tiled_in_parts(*args, base_events=4120), policy, start_ms=START, batch_rows=777
    )
    assert whole.engine.compiled is compiled
    assert whole.events == parts.events == sum(whole.offered.values()) > 50_000
    assert (whole.offered, whole.accepted, whole.dropped, whole.daily) == (
        parts.offered,
        parts.accepted,
        parts.dropped,
        parts.daily,
    )
    # a load that meets every kind of rule, and keeps some of every system
    assert {rule for rule, _ in whole.dropped} >= {"suppress", "duplicate", "loop", "rate_limit"}
    assert all(whole.accepted[s] > 0 for s in ("browser", "worker", "backend"))


def test_the_counts_are_the_engines_decisions_event_by_event() -> None:
    # the straightforward count: every drop the engine returns, one by one, against the grouped counts
    con = _base(seed=5, n=2000)
    query = load.tiled(START, START, 10 * MINUTE, 6, 1.0, START + 60 * MINUTE)
    got = sim_run.run(con, query, Policy(), start_ms=START)
    from logcorr.rules.engine import Engine

    engine = Engine(Policy())
    offered: dict[str, int] = {}
    dropped: dict[tuple[str, str], int] = {}
    for batch in con.sql(query).to_arrow_reader(4096):
        cols = batch.to_pydict()
        for s in cols["system"]:
            offered[s] = offered.get(s, 0) + 1
        first = cols["pos"][0]
        for pos, (rule, _reason, _state) in engine.decide(cols):
            key = (rule, cols["system"][pos - first])
            dropped[key] = dropped.get(key, 0) + 1
    assert dict(got.offered) == offered and dict(got.dropped) == dropped
    assert got.accepted == {
        s: offered[s] - sum(n for (_, s2), n in dropped.items() if s2 == s) for s in offered
    }


def test_progress_is_reported_after_each_part(monkeypatch: pytest.MonkeyPatch) -> None:
    con = _base(seed=3)
    monkeypatch.setattr(load, "PART_EVENTS", 5000)
    parts = load.tiled_in_parts(START, START, 10 * MINUTE, 6, 1.0, START + 60 * MINUTE, base_events=1620)
    seen: list[tuple[int, int, int]] = []
    res = sim_run.run(con, parts, Policy(), start_ms=START, progress=lambda *a: seen.append(a))
    assert len(parts) == 2 and [(d, t) for _, d, t in seen] == [(1, 2), (2, 2)]
    assert 0 < seen[0][0] < seen[1][0] == res.events == 6 * 1620


@pytest.mark.parametrize(
    ("scale", "expected"),
    [(1.0, 1620), (1.00001, 1620), (2.0, 2 * 1620), (2.00002, 2 * 1620), (0.00001, 0), (1.99999, 2 * 1620)],
)
def test_a_fraction_too_small_to_keep_an_event_adds_no_clone(scale: float, expected: int) -> None:
    # a fractional part that rounded to no event in 10,000 made the filter keep the whole extra clone:
    # --scale 1.00001 doubled the load, 2.00002 tripled it, 0.00001 was the full 1×
    con = _base(seed=11)
    args = (START, START, 10 * MINUTE, 1, scale, START + 10 * MINUTE)
    assert len(_rows(con, load.tiled(*args))) == expected
    assert sum(len(_rows(con, q)) for q in load.tiled_in_parts(*args, base_events=1620)) == expected


def test_a_fractional_scale_keeps_that_share_of_one_more_clone() -> None:
    con = _base(seed=11)
    for scale, lo, hi in [(1.5, 1.45, 1.55), (0.001, 0.0, 0.005), (0.25, 0.2, 0.3)]:
        n = len(_rows(con, load.tiled(START, START, 10 * MINUTE, 1, scale, START + 10 * MINUTE)))
        assert lo * 1620 <= n <= hi * 1620, (scale, n)


@pytest.mark.parametrize("seed", range(40))
def test_the_longest_quiet_is_the_longest_silence_inside_the_servers_span(seed: int) -> None:
    """`load.longest_quiet` reads each minute's first and last event, not every event: the longest silence
    between consecutive events from the first to the last server-clock event, exact from a minute up."""
    rnd = random.Random(seed)
    con = duckdb.connect()
    con.execute("CREATE TEMP TABLE sim_base (ts_ms BIGINT, browser_clock BOOLEAN)")
    n = rnd.randrange(0, 60)
    # silences from none (ties) to hours, across minutes' boundaries and inside a minute
    steps = [0, 1, 59_999, 60_000, 61_000, 3_599_999, 3_600_000, 9_000_000]
    times = list(
        itertools.accumulate((rnd.choice(steps) + rnd.randrange(3) for _ in range(n)), initial=START)
    )
    rows = [(t, rnd.random() < 0.6) for t in times for _ in range(rnd.choice([1, 1, 2]))]
    con.executemany("INSERT INTO sim_base VALUES (?, ?)", rows)
    servers = [t for t, browser in rows if not browser]
    got = load.longest_quiet(con)
    if not servers:
        assert got is None
        return
    inside = sorted(t for t, _ in rows if min(servers) <= t <= max(servers))
    want = max((b - a for a, b in itertools.pairwise(inside)), default=0)
    assert got == max(want, load.QUIET_STEP_MS), (rows, want)


@pytest.mark.parametrize("scale", [1.0, 2.0, 5.5, 20.0, 0.3, 1.00001, 3000.0])
@pytest.mark.parametrize("windows", [1, 7, 61])
def test_a_window_s_clones_are_the_tiled_load_in_that_window(
    monkeypatch: pytest.MonkeyPatch, scale: float, windows: int
) -> None:
    # `replay --multiply` made the whole multiplied load as one table (1.6 GB at ×20 of a million events);
    # each window now makes its own clones: the windows together are `tiled`'s one copy, row for row, in its order,
    # whether a window reads the base's ranges its clones come from or, past MAX_WINDOW_RANGES, the whole base
    con = _base(seed=7)
    period = 10 * MINUTE + 1
    whole = _rows(con, load.tiled(START, START, period, 1, scale, START + period))
    width = -(-period // windows)
    bounds = [(t, min(START + period, t + width)) for t in range(START, START + period, width)]
    for ranges in (load.MAX_WINDOW_RANGES, 0):
        monkeypatch.setattr(load, "MAX_WINDOW_RANGES", ranges)
        got = [
            row for c0, c1 in bounds for row in _rows(con, load.scaled_window(START, period, scale, c0, c1))
        ]
        assert got == whole, (scale, windows, ranges)
    assert load.scaled_count(con, scale) == len(whole)


def test_clones_of_a_recording_shorter_than_the_clones_share_its_milliseconds() -> None:
    # every event in 3 ms, 8 clones: a clone's shift (period // clones) is 0
    con = _base(seed=3, n=50)
    con.execute(
        f"DELETE FROM sim_base WHERE fingerprint LIKE 'burst%'; UPDATE sim_base SET ts_ms = {START} + event_id % 3"
    )
    whole = _rows(con, load.tiled(START, START, 3, 1, 8, START + 3))
    got = [
        row for t in range(START, START + 3) for row in _rows(con, load.scaled_window(START, 3, 8, t, t + 1))
    ]
    assert got == whole
    assert len(got) == load.scaled_count(con, 8) == 8 * 50
