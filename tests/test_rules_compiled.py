"""The compiled engine loop (`logcorr/_fastrules.c`) against the Python loop it stands in for
(`Engine._process_py`): on random streams under random policies, continuing saved state with late events,
and on a large generated stream that rolls months, sweeps the windows and floods the rate limit, both
give the same drops (rule, reason, snapshot), the same rule state and the same counters."""

from __future__ import annotations

import gc
import importlib.util
import os
import sys
from array import array
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logcorr import native
from logcorr.rules import engine as engine_mod
from logcorr.rules import loop
from logcorr.rules.columns import HotWindows, engine_columns
from logcorr.rules.engine import _SWEEP_MIN, RULES, Engine, compiled_loop
from logcorr.rules.policy import Policy
from logcorr.rules.state import RuleState

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_717_200_000_000 - 2 * 86_400_000  # two days before a month boundary
MIN = 60_000

if native.built("_fastrules") is None and os.environ.get("LOGCORR_ALLOW_NO_EXT"):
    pytest.skip("logcorr._fastrules is not built; LOGCORR_ALLOW_NO_EXT is set", allow_module_level=True)


@pytest.fixture(autouse=True)
def _built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOGCORR_NO_FASTPATH", raising=False)
    assert compiled_loop() is not None, (
        "logcorr/_fastrules.c did not build (set LOGCORR_ALLOW_NO_EXT=1 to skip)"
    )


SYSTEMS = ("browser", "worker", "backend", "mobile")  # an unknown label gets its own bit and no quota
LEVELS = ("log", "info", "warn", "error", "debug")
FPS = ("a", "b", "c", "d", "e")
TRACES = (None, None, "t1", "t2", "t3", "critical_t4", "t5-pay")

event = st.tuples(
    st.one_of(st.just(0), st.integers(0, 300), st.integers(0, 4_000), st.integers(0, 90_000),
              st.integers(0, 2 * 86_400_000),
              st.sampled_from((250, 500, 1000, 2000, 3000, 60_000))),  # gap: also exactly a window
    st.sampled_from(SYSTEMS),
    st.sampled_from(LEVELS),
    st.sampled_from(TRACES),
    st.sampled_from(FPS),
    st.sampled_from((None,) * 15 + ("[HMR]", "webpack")),
    st.sampled_from((0,) * 15 + (1, 2)),
)  # fmt: skip

policies = st.builds(
    lambda on, q, tiers, grace, lending, borrowing, patterns, crit, ess, loop_w, cross_w, refuse: Policy.model_validate(
        {
            "suppression": {"enabled": on[0]},
            "duplicates": {"enabled": on[1]},
            "loop": {"enabled": on[2], "max_identical": 3, "window_ms": loop_w},
            "cross_system": {"enabled": on[3], "window_ms": cross_w},
            "rate_limit": {"enabled": on[4], "tiers": tiers},
            "budget": {"enabled": on[5], "monthly_writes": q, "lending": lending, "borrowing": borrowing,
                       "essential_levels": ess},
            "trace_aware": {"enabled": on[6], "grace_pct": grace, "refuse_ms": refuse},
            "critical": {"trace_id_patterns": patterns, "levels": crit},
        }
    ),
    st.tuples(*[st.sampled_from((True, True, True, False))] * 7),
    st.integers(3, 60),
    st.sampled_from([[50, 25, 12, 6], [6, 3, 1], [2]]),
    st.sampled_from([0.0, 50.0, 100.0]),
    st.sampled_from(["prorated", "unused"]),
    st.booleans(),
    st.sampled_from([["critical_"], ["critical_", "-pay"], ["zzz"]]),
    st.sampled_from([["error"], ["error", "warn"]]),
    st.sampled_from([["error"], ["error", "debug"]]),
    st.sampled_from([1000, 250]),
    st.sampled_from([2000, 500]),
    st.sampled_from([0, 60_000, 3_000]),
)  # fmt: skip


def columns(
    events: list[tuple[Any, ...]], start: int = T0, hot: bool = False, prior: bool = False
) -> dict[str, list[Any]]:
    """Engine input: rows in time order; `hot` adds arbitrary hot flags (the engine must decide the same
    either way, whatever they say); `prior`, copies an earlier ingest stored (`cross_prior`) for some rows,
    of any system, near them in time or not."""
    t = start
    rows = []
    for pos, (gap, system, level, trace, fp, sup, dup) in enumerate(events, start=1):
        t += gap
        rows.append((pos, t, system, level, trace, fp, sup, dup))
    names = ("pos", "ts_ms", "system", "level", "trace_id", "fingerprint", "suppressed", "dup")
    cols = {n: [r[i] for r in rows] for i, n in enumerate(names)}
    if hot:
        cols["loop_hot"] = [p % 3 != 0 for p in cols["pos"]]
        cols["cross_hot"] = [p % 4 != 1 for p in cols["pos"]]
    if prior:
        cols["cross_prior"] = [
            (SYSTEMS[p % 3], t + (p * 977) % 5000 - 2500) if p % 3 != 1 else None
            for p, t in zip(cols["pos"], cols["ts_ms"], strict=True)
        ]
    return cols


def decide_all(engine: Engine, cols: dict[str, list[Any]], batch: int) -> list[tuple[int, Any]]:
    n = len(cols["pos"])
    out: list[tuple[int, Any]] = []
    for start in range(0, n, batch or n or 1):
        out.extend(engine.decide({k: v[start : start + (batch or n)] for k, v in cols.items()}))
    return out


_TYPES = {"pos": pa.int64(), "ts_ms": pa.int64(), "dup": pa.int8(), "loop_hot": pa.bool_(),
          "cross_hot": pa.bool_(), "prior_ts": pa.int64()}  # fmt: skip


def encoded(cols: dict[str, list[Any]], hot: HotWindows | None = None) -> dict[str, Any]:
    """The columns as ingest gives them to the compiled loop: through Arrow, the text dictionary-encoded,
    the earlier copies as the reader's two columns (`hot`: and the hot flags the batch gives)."""
    cols = dict(cols)
    prior = cols.pop("cross_prior", None)
    if prior is not None:
        cols["prior_system"] = [None if k is None else k[0] for k in prior]
        cols["prior_ts"] = [None if k is None else k[1] for k in prior]
    batch = pa.record_batch({k: pa.array(v, _TYPES.get(k, pa.string())) for k, v in cols.items()})
    out = engine_columns(batch, encode=True, hot=hot)
    assert isinstance(out["system"], tuple) and isinstance(out["trace_id"], tuple)
    assert hot is None or (isinstance(out["loop_hot"], tuple) and isinstance(out["cross_hot"], tuple))
    return out


def decide_all_numbered(
    engine: Engine,
    cols: dict[str, list[Any]],
    batch: int,
    encode: bool = False,
    hot: HotWindows | None = None,
) -> list[tuple[int, Any]]:
    """`decide_numbered` over the batches (`encode`: their columns as ingest gives them, see `encoded`, with
    the hot flags of `hot`), read back as pairs (checking the numbering on the way)."""
    n = len(cols["pos"])
    out: list[tuple[int, Any]] = []
    for start in range(0, n, batch or n or 1):
        part = {k: v[start : start + (batch or n)] for k, v in cols.items()}
        valid, numbers, distinct = engine.decide_numbered(encoded(part, hot) if encode else part)
        every = array("i", numbers)
        assert len(every) == len(part["pos"]) and len(valid) == (len(every) + 7) // 8
        rows = [i for i in range(len(every)) if valid[i >> 3] >> (i & 7) & 1]
        assert all(every[i] == 0 for i in set(range(len(every))) - set(rows))  # a stored row's number is 0
        pos, num = [part["pos"][i] for i in rows], [every[i] for i in rows]
        # numbered in order of first use, each distinct object once
        assert sorted(set(num)) == list(range(len(distinct)))
        assert [num[i] for i in sorted({num[j]: j for j in reversed(range(len(num)))}.values())] == list(
            range(len(distinct))
        )
        assert len({id(d) for d in distinct}) == len(distinct)
        out.extend((p, distinct[k]) for p, k in zip(pos, num, strict=True))
    return out


def both(policy: Policy, parts: list[dict[str, list[Any]]], batch: int = 0) -> None:
    """Each part by a new engine continuing the previous one's state (an ingest after an ingest), with the
    Python loop and compiled, as pairs and numbered, and compiled on dictionary-encoded text columns:
    everything must agree."""
    results = []
    ways = (
        decide_all,
        decide_all,
        decide_all_numbered,
        decide_all_numbered,
        partial(decide_all_numbered, encode=True),
    )
    for compiled, run in zip((False, True, False, True, True), ways, strict=True):
        state: RuleState | None = None
        drops: list[tuple[int, Any]] = []
        stats: dict[str, int] = {}
        for cols in parts:
            engine = Engine(policy, state, compiled=compiled)
            assert engine.compiled == compiled
            drops += run(engine, cols, batch)
            state = engine.state
            for k, v in engine.stats.items():
                stats[k] = stats.get(k, 0) + v
        results.append((drops, state, stats))
    (py_drops, py_state, py_stats), *others = results
    for drops, state, stats in others:
        assert drops == py_drops
        assert state == py_state
        assert stats == py_stats


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(event, max_size=300), policy=policies, batch=st.integers(0, 50), hot=st.booleans(),
       prior=st.booleans())  # fmt: skip
def test_compiled_loop_decides_as_the_python_loop(
    events: list[tuple[Any, ...]], policy: Policy, batch: int, hot: bool, prior: bool
) -> None:
    both(policy, [columns(events, hot=hot, prior=prior)], batch)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=st.lists(event, max_size=150),
    second=st.lists(event, max_size=150),
    back=st.integers(0, 10_000),
    policy=policies,
)
def test_compiled_loop_continues_saved_state_and_late_events_as_the_python_loop(
    first: list[tuple[Any, ...]], second: list[tuple[Any, ...]], back: int, policy: Policy
) -> None:
    one = columns(first)
    end = one["ts_ms"][-1] if first else T0
    # the second ingest starts a little before the first one's clock: its first events are late
    two = columns(second, start=end - back)
    two["pos"] = [p + len(first) for p in two["pos"]]
    both(policy, [one, two], batch=7)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(event, max_size=300), policy=policies, batch=st.integers(0, 50))
def test_an_ordered_engine_decides_as_one_that_keeps_every_trace(
    events: list[tuple[Any, ...]], policy: Policy, batch: int
) -> None:
    """`Engine(ordered=True)` (a replay's) forgets a refused trace once its refusal ended: the same drops and
    counters, with either loop, here sweeping every second of event time whatever the containers hold."""
    cols = columns(events)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(engine_mod, "_SWEEP_MIN", 0)
        mp.setattr(engine_mod, "_SWEEP_MS", 1000)
        for compiled in (False, True):
            kept, forgot = Engine(policy, compiled=compiled), Engine(policy, compiled=compiled, ordered=True)
            assert decide_all(forgot, cols, batch) == decide_all(kept, cols, batch)
            assert forgot.stats == kept.stats
            assert len(forgot.state.traces) <= len(kept.state.traces)


def _bench_rules() -> Any:
    spec = importlib.util.spec_from_file_location("bench_rules", ROOT / "scripts" / "bench_rules.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_rules"] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("days", [0.5, 20.0])
def test_compiled_loop_on_a_large_stream_with_floods_sweeps_and_month_ends(days: float) -> None:
    """bench_rules.py's generator (traces across systems, loops, floods, duplicates, noise): over half a
    day the rate limit and the budget are under pressure, over 20 days months roll and the windows'
    containers are swept (they hold more than the engine's sweep minimum)."""
    bench = _bench_rules()
    policy = Policy.model_validate({"budget": {"monthly_writes": 20_000}})
    rows = bench.generate(120_000, seed=7, days=days)
    data = bench.batches(rows, policy)
    merged = {k: [v for b in data for v in b[k]] for k in data[0]}
    half = len(merged["pos"]) // 2
    parts = [{k: v[:half] for k, v in merged.items()}, {k: v[half:] for k, v in merged.items()}]
    both(policy, parts, batch=16_384)
    # a replay's engine, which forgets the refused traces a few minutes after their refusal: the same drops
    kept, forgot = Engine(policy), Engine(policy, ordered=True)
    assert decide_all(forgot, merged, 16_384) == decide_all(kept, merged, 16_384)
    assert forgot.stats == kept.stats
    if days < 1:  # under pressure: thousands refused within the hour, few alive at the end
        assert len(forgot.state.traces) < len(kept.state.traces) // 2


def test_an_error_in_a_rule_function_propagates_and_leaves_nothing_half_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cols = columns([(10, "browser", "log", None, "a", None, 0)] * 12)

    def broken(*args: Any) -> Any:
        raise RuntimeError("reason builder failed")

    monkeypatch.setattr(loop, "drop", broken)
    engine = Engine(Policy())
    with pytest.raises(RuntimeError, match="reason builder failed"):
        engine.decide(cols)


def test_bad_input_is_a_python_error_not_a_crash() -> None:
    engine = Engine(Policy())
    cols = columns([(10, "browser", "log", "t1", "a", None, 0)] * 3)
    short = dict(cols, level=cols["level"][:2])
    with pytest.raises(ValueError, match="level"):
        engine.decide(short)
    with pytest.raises(KeyError):
        engine.decide({k: v for k, v in cols.items() if k != "fingerprint"})
    with pytest.raises(TypeError):
        engine.decide(dict(cols, ts_ms=["x", "y", "z"]))
    codes, values = encoded(cols)["system"]
    with pytest.raises(ValueError, match="system: code 0 at row 0 is not below 0"):
        engine.decide(dict(cols, system=(codes, [])))
    with pytest.raises(ValueError, match="system has 8 bytes of codes, not 12"):
        engine.decide(dict(cols, system=(codes[:8], values)))
    with pytest.raises(TypeError, match="system must be a list or"):
        engine.decide(dict(cols, system=(values, codes)))
    engine.state.traces = []  # type: ignore[assignment]
    with pytest.raises(TypeError, match="dicts"):
        Engine(Policy(), engine.state).decide(cols)


def test_no_reference_is_leaked_or_lost() -> None:
    """The same objects before and after many batches: the loop neither leaks nor frees what it borrows,
    from lists or from dictionary-encoded columns."""
    events = [(g % 700, SYSTEMS[g % 3], LEVELS[g % 4], TRACES[g % 7], FPS[g % 5], None, int(g % 11 == 0))
              for g in range(3_000)]  # fmt: skip
    plain = columns(events, hot=True)
    policy = Policy.model_validate({"budget": {"monthly_writes": 400}, "rate_limit": {"tiers": [5]}})
    # as pairs (these need positions), and numbered from the columns ingest gives (no positions)
    coded = encoded(plain)
    for cols, numbered in ((plain, False), ({**coded, "pos": plain["pos"]}, False), (coded, True)):
        texts = [
            v if isinstance(v, list) else v[1]
            for v in (cols["system"], cols["trace_id"], cols["fingerprint"])
        ]
        probes = [texts[0][0], texts[1][2], texts[2][1], cols["ts_ms"][-1], plain["pos"][-1]]
        for _ in range(3):  # warm caches (interned strings, small ints)
            Engine(policy).decide(cols) if not numbered else Engine(policy).decide_numbered(cols)
        gc.collect()
        before = [sys.getrefcount(p) for p in probes]
        for _ in range(20):
            engine = Engine(policy)
            drops = engine.decide_numbered(cols)[2] if numbered else engine.decide(cols)
            assert drops
            del engine, drops
        gc.collect()
        assert [sys.getrefcount(p) for p in probes] == before


@pytest.mark.parametrize("gap", [1999, 2000, 2001])
def test_compiled_loop_at_the_cross_system_window_edge(gap: int) -> None:
    events = [(0, "backend", "info", "t1", "a", None, 0), (gap, "browser", "info", "t1", "a", None, 0)]
    cols = columns(events)
    drops = Engine(Policy(), compiled=True).decide(cols)
    assert [d[1][0] for d in drops] == (["cross_system"] if gap <= 2000 else [])
    both(Policy(), [cols])


@pytest.mark.parametrize("gap", [999, 1000, 1001])
def test_compiled_loop_at_the_loop_window_edge(gap: int) -> None:
    # five copies at the same ms, then the sixth `gap` ms later: inside the window it is the loop's
    events = [(0, "worker", "log", None, "a", None, 0)] * 5 + [(gap, "worker", "log", None, "a", None, 0)]
    cols = columns(events)
    drops = Engine(Policy(), compiled=True).decide(cols)
    assert [d[1][0] for d in drops] == (["loop"] if gap < 1000 else [])
    both(Policy(), [cols])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=st.lists(event, max_size=300), policy=policies, batch=st.integers(1, 50), compiled=st.booleans()
)
def test_replay_decision_codes_from_numbered_drops_equal_the_drops_one_by_one(
    events: list[tuple[Any, ...]], policy: Policy, batch: int, compiled: bool
) -> None:
    # replay codes each event by its rule from the engine's numbered drops; the straightforward way maps
    # every (position, decision) pair the same engine gives
    from logcorr.replay.drive import _Codes, _decision_codes

    cols = columns(events)
    one, other = Engine(policy, compiled=compiled), Engine(policy, compiled=compiled)
    codes = _Codes(["stored", *RULES])
    n = len(events)
    for start in range(0, n, batch):
        part = {k: v[start : start + batch] for k, v in cols.items()}
        rows = len(part["pos"])
        expected = [0] * rows
        for pos, decision in one.decide(part):
            expected[pos - part["pos"][0]] = codes[decision[0]]
        got = _decision_codes(other.decide_numbered(part), codes, rows)
        assert got.type == pa.uint8() and got.null_count == 0
        assert got.to_pylist() == expected


MANY = _SWEEP_MIN + 10  # more entries than the engine's sweep minimum: the windows' containers are swept
UNLIMITED = Policy.model_validate({"rate_limit": {"enabled": False}, "budget": {"enabled": False}})


def test_compiled_loop_sweeps_a_system_behind_the_others_as_the_python_loop() -> None:
    # the browser's 5 copies in its last second, the backend's many lines 9 minutes ahead; then the browser's
    # next export: its sixth copy meets the browser's own window
    first = columns([(0, "browser", "log", None, "x", None, 0)] * 5
                    + [(540_000 if i == 0 else 0, "backend", "log", None, f"row {i}", None, 0) for i in range(MANY)])  # fmt: skip
    second = columns([(10, "browser", "log", None, "x", None, 0)], start=T0)
    second["pos"] = [len(first["pos"]) + 1]
    for compiled in (False, True):
        engine = Engine(UNLIMITED, compiled=compiled)
        assert engine.decide(first) == []
        drops = Engine(UNLIMITED, engine.state, compiled=compiled).decide(second)
        assert [d[1][0] for d in drops] == ["loop"]
    both(UNLIMITED, [first, second])


def test_compiled_loop_sweeps_a_cross_system_copy_exactly_the_window_before_as_the_python_loop() -> None:
    # a sweep at the first event's time + 5 min, where the echo comes exactly 2000 ms after the backend's line
    events = [(0, "worker", "log", None, "start", None, 0), (298_000, "backend", "info", "t", "x", None, 0)]
    events += [(int(i == 0), "backend", "info", f"o{i}", f"row {i}", None, 0) for i in range(MANY)]
    cols = columns([*events, (1999, "browser", "info", "t", "x", None, 0)])
    assert cols["ts_ms"][-1] == T0 + 300_000
    for compiled in (False, True):
        drops = Engine(UNLIMITED, compiled=compiled).decide(cols)
        assert [(p, d[0]) for p, d in drops] == [(len(cols["pos"]), "cross_system")]
    both(UNLIMITED, [cols])


def test_both_loops_sweep_a_system_s_export_ingested_after_another_system_s_later_one() -> None:
    """The sweeps ran when the newest decided time moved: while the browser's export of a day was decided after
    the backend's export of that day (every browser line before the backend's clock), it never moved, and the
    cross-system and trace containers held every browser line of the ingest (1.2M lines: 824 MB). They count
    back from each event's own time now, and decide the same."""
    backend = columns([(0, "backend", "info", "b", "late", None, 0)], start=T0 + 6 * 3_600_000)
    n = 3 * MANY  # a line a second for 3.4 hours, each of its own trace: 1 h of traces is live at a time
    browser = columns([(1000, "browser", "info", f"t{i}", f"line {i}", None, 0) for i in range(n)])
    browser["pos"] = [p + 1 for p in browser["pos"]]
    assert browser["ts_ms"][-1] < backend["ts_ms"][0]
    for compiled in (False, True):
        engine = Engine(UNLIMITED, compiled=compiled)
        assert engine.decide(backend) == []
        engine = Engine(UNLIMITED, engine.state, compiled=compiled)
        assert engine.decide(browser) == []
        # swept every 5 minutes once over the minimum: the last window's copies, the last hour's traces
        assert len(engine.state.cross) <= _SWEEP_MIN + 300, compiled
        assert len(engine.state.traces) <= 3_600 + 900 + 1, compiled
    both(UNLIMITED, [backend, browser])


def expect(cols: dict[str, list[Any]], drops: dict[int, str], policy: Policy | None = None) -> None:
    """Both loops drop exactly `drops` (position: rule) of `cols`, and agree on everything else too."""
    policy = policy or Policy()
    for compiled in (False, True):
        got = Engine(policy, compiled=compiled).decide(cols)
        assert {p: d[0] for p, d in got} == drops
    both(policy, [cols])


def browser_fill(n: int, first_gap: int) -> list[tuple[Any, ...]]:
    """`n` distinct browser lines 1 ms apart, the first `first_gap` ms after the event before."""
    return [(first_gap if i == 0 else 1, "browser", "log", None, f"fill {i}", None, 0) for i in range(n)]


@pytest.mark.parametrize("at", [59_999, 60_000])
def test_compiled_loop_at_the_rate_limit_windows_edge(at: int) -> None:
    # 50 lines by T0 + 59,999 (the last ms of minute 0), then one more at `at`: the 51st of minute 0 is dropped,
    # the first of minute 1 stored
    cols = columns([*browser_fill(50, 59_950), (at - 59_999, "browser", "log", None, "one more", None, 0)])
    assert cols["ts_ms"][49] == T0 + 59_999
    expect(cols, {51: "rate_limit"} if at < 60_000 else {})


@pytest.mark.parametrize("offered", [40, 41])
def test_compiled_loop_at_the_calm_level(offered: int) -> None:
    # minute 0 drops (60 offered): minute 1 at 25. Minute 1's load of 40 (80 % of 50) is calm and steps the
    # limit back up to 50 for minute 2; 41 is not calm and, over 25, tightens it to 12
    events = browser_fill(60, 0) + browser_fill(offered, MIN - 59) + browser_fill(60, MIN - offered + 1)
    cols = columns(events)
    assert [t // MIN - T0 // MIN for t in cols["ts_ms"][59:61]] == [0, 1]
    assert cols["ts_ms"][60 + offered] == T0 + 2 * MIN
    limit = 50 if offered == 40 else 12
    minute_2 = 61 + offered
    expect(cols, {**{p: "rate_limit" for p in range(51, 61)}, **{p: "rate_limit" for p in range(86, 61 + offered)},
                  **{p: "rate_limit" for p in range(minute_2 + limit, minute_2 + 60)}})  # fmt: skip


@pytest.mark.parametrize("gap", [3_599_999, 3_600_000])
def test_compiled_loop_at_the_trace_idle_edge(gap: int) -> None:
    # the worker stored trace tr; `gap` ms later the browser is at its limit and logs tr: within the hour the
    # trace is still admitted and the grace stores it, an hour after it is forgotten and the limit drops it
    events = [(30_000, "worker", "info", "tr", "fetch", None, 0), *browser_fill(50, gap - 60)]
    cols = columns([*events, (11, "browser", "log", "tr", "click", None, 0)])
    assert cols["ts_ms"][-1] - cols["ts_ms"][0] == gap and len({t // MIN for t in cols["ts_ms"][1:]}) == 1
    expect(cols, {} if gap < 3_600_000 else {52: "rate_limit"})


@pytest.mark.parametrize("gap", [0, 1, 59_999, 60_000])
def test_compiled_loop_at_the_trace_refusals_edges(gap: int) -> None:
    # the browser's limit refuses trace tr at T0 + 30,049; the backend's line of tr `gap` ms later is refused
    # from that very ms (a tie) up to 60 s after it, then the trace is judged afresh
    events = [*browser_fill(51, 30_000)]
    events[-1] = (1, "browser", "log", "tr", "click", None, 0)
    cols = columns([*events, (gap, "backend", "info", "tr", "query", None, 0)])
    expect(cols, {51: "rate_limit", **({52: "trace"} if gap < 60_000 else {})})


def test_compiled_loop_keeps_the_first_copy_in_input_order_at_a_cross_system_tie() -> None:
    cols = columns([(0, "backend", "info", "t", "x", None, 0), (0, "browser", "info", "t", "x", None, 0),
                    (0, "worker", "info", "t", "x", None, 0)])  # fmt: skip
    expect(cols, {2: "cross_system", 3: "cross_system"})
    got = Engine(Policy()).decide(cols)
    assert all("stored by backend for trace t 0 ms earlier" in d[1] for _, d in got)


def reaching_newest(cols: dict[str, list[Any]], policy: Policy) -> HotWindows:
    """The windows ingest's `decide` gives `engine_columns`: the newest time of an event that reaches the
    engine (not suppressed, not a repeat, where those rules are on), overall and per system."""
    by_system: dict[str, int] = {}
    for t, system, sup, dup in zip(
        cols["ts_ms"], cols["system"], cols["suppressed"], cols["dup"], strict=True
    ):
        if (sup is not None and policy.suppression.enabled) or (dup and policy.duplicates.enabled):
            continue
        by_system[system] = max(t, by_system.get(system, t))
    newest = max(by_system.values(), default=-1)
    return HotWindows(policy.loop.window_ms, policy.cross_system.window_ms, newest, by_system)


def copies_stored_before(
    earlier: dict[str, list[Any]], drops: list[tuple[int, Any]], cols: dict[str, list[Any]], window_ms: int
) -> list[Any]:
    """`cross_prior` as ingest's `_cross_prior` finds it for `cols` after an ingest of `earlier` that dropped
    `drops`: per event with a trace, the nearest copy (same trace and fingerprint, another system) stored
    within the cross-system window, as (system, ts), else None."""
    dropped = {p for p, _ in drops}
    names = ("pos", "ts_ms", "system", "trace_id", "fingerprint")
    stored = [
        (t, system, tid, fp)
        for p, t, system, tid, fp in zip(*(earlier[k] for k in names), strict=True)
        if p not in dropped and tid is not None
    ]
    out: list[Any] = []
    for t, system, tid, fp in zip(
        *(cols[k] for k in ("ts_ms", "system", "trace_id", "fingerprint")), strict=True
    ):
        near = [
            (abs(q - t), q, s) for q, s, qt, qf in stored if (qt, qf) == (tid, fp) and s != system and abs(q - t) <= window_ms
        ]  # fmt: skip
        out.append(None if tid is None or not near else (min(near)[2], min(near)[1]))
    return out


# few keys, gaps on and around the windows' lengths (loop 1000 or 250 ms, cross-system 2000 or 500 ms): where
# batches' edges, a neighbour just outside a window and the input's end decide whether an event is hot
near_event = st.tuples(
    st.sampled_from((0, 1, 124, 249, 250, 251, 499, 500, 501, 999, 1000, 1001, 1999, 2000, 2001, 2500, 5000)),
    st.sampled_from(SYSTEMS[:2]),
    st.sampled_from(("log", "error")),
    st.sampled_from(TRACES[:4]),
    st.sampled_from(FPS[:2]),
    st.sampled_from((None,) * 15 + ("[HMR]",)),
    st.sampled_from((0,) * 15 + (1,)),
)
# the window rules in front: the budget and the rate limit would drop most of such a stream whatever it repeats
window_policies = st.builds(
    lambda on, loop_max, loop_w, cross_w: Policy.model_validate(
        {
            "suppression": {"enabled": on[0]},
            "duplicates": {"enabled": on[1]},
            "loop": {"max_identical": loop_max, "window_ms": loop_w},
            "cross_system": {"window_ms": cross_w},
            "trace_aware": {"enabled": on[2]},
            "rate_limit": {"enabled": False},
            "budget": {"enabled": False},
        }
    ),
    st.tuples(st.booleans(), st.booleans(), st.booleans()),
    st.integers(1, 3),
    st.sampled_from([1000, 250]),
    st.sampled_from([2000, 500]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=st.lists(near_event, max_size=200),
    second=st.lists(near_event, max_size=200),
    start=st.sampled_from((None, 0, 500, 1000, 2000, 60_000)),
    only=st.sampled_from((None, *SYSTEMS)),
    policy=window_policies,
    batch=st.integers(0, 40),
)
def test_hot_flags_found_in_each_batch_change_no_decision_even_across_ingests(
    first: list[tuple[Any, ...]],
    second: list[tuple[Any, ...]],
    start: int | None,
    only: str | None,
    policy: Policy,
    batch: int,
) -> None:
    """Two ingests, the second continuing the first one's state: after it, or (`start`) from near the first
    one's start, one system's export after another's (`only`), with the copies the first stored as ingest
    finds them (`cross_prior`). With each batch's hot flags the compiled loop drops what it drops checking
    every event, and counts the same."""
    one = columns(first)
    if only is not None:
        second = [(gap, only, *rest) for gap, _, *rest in second]
    end = one["ts_ms"][-1] if first else T0
    two = columns(second, start=end if start is None else T0 + start)
    two["pos"] = [p + len(first) for p in two["pos"]]
    results = []
    for flagged in (False, True):
        engine = Engine(policy)
        drops = decide_all_numbered(
            engine, one, batch, True, reaching_newest(one, policy) if flagged else None
        )
        later = dict(two, cross_prior=copies_stored_before(one, drops, two, policy.cross_system.window_ms))
        stats = dict(engine.stats)
        engine = Engine(policy, engine.state)
        drops += decide_all_numbered(
            engine, later, batch, True, reaching_newest(two, policy) if flagged else None
        )
        for k, v in engine.stats.items():
            stats[k] = stats.get(k, 0) + v
        results.append((drops, stats))
    assert results[1] == results[0]


def test_hot_flags_leave_cold_only_events_with_no_neighbour_of_their_key_in_the_window() -> None:
    """One batch, loop window 1000 ms and cross-system window 2000 ms, the input's end far after it: the
    batch's first and last second are hot, an event with a copy of its key within the window either side
    is, and a line of its own in the middle is not."""
    rows = [
        (0, "browser", "log", "t1", "a"),  # within the window of the batch's first event
        (5_000, "browser", "log", "t1", "b"),  # alone: cold
        (10_000, "browser", "log", "t2", "c"),  # loop: "c" again 999 ms later; cross: t2/c
        (10_999, "browser", "log", "t3", "c"),
        (11_000, "backend", "log", "t2", "c"),  # cross: t2/c 1000 ms after; loop: another system's key
        (20_000, "worker", "warn", "t4", "d"),  # loop: the same line 1000 ms later is not within 1000 ms
        (21_000, "worker", "warn", None, "d"),  # no trace: never cross-hot
        (30_000, "browser", "log", "t5", "e"),  # cross: t5/e again 2000 ms later (inclusive)
        (32_000, "backend", "log", "t5", "e"),
        (40_000, "browser", "log", "t6", "f"),  # within the window of the batch's last event
    ]
    cols = {
        "ts_ms": [T0 + r[0] for r in rows], "system": [r[1] for r in rows], "level": [r[2] for r in rows],
        "trace_id": [r[3] for r in rows], "fingerprint": [r[4] for r in rows],
        "suppressed": [None] * len(rows), "dup": [0] * len(rows),
    }  # fmt: skip
    table = pa.record_batch({k: pa.array(v, _TYPES.get(k, pa.string())) for k, v in cols.items()})
    far = T0 + 86_400_000
    windows = HotWindows(1000, 2000, far, {"browser": far, "worker": far, "backend": far})
    enc = engine_columns(table, encode=True, hot=windows)

    def flags(name: str) -> list[bool]:
        codes, values = enc[name]
        return [values[c] for c in array("i", codes)]

    assert flags("loop_hot") == [True, False, True, True, False, False, False, False, False, True]
    assert flags("cross_hot") == [True, False, True, False, True, False, False, True, True, True]
    # the input's end within the window: the worker's lines are its system's last, and hot for the loop rule
    windows = HotWindows(1000, 2000, far, {"browser": far, "worker": T0 + 21_500, "backend": far})
    enc = engine_columns(table, encode=True, hot=windows)
    assert flags("loop_hot") == [True, False, True, True, False, False, True, False, False, True]
    # out of time order: no flags, every event is checked
    shuffled = table.take(pa.array([1, 0, *range(2, len(rows))]))
    assert "loop_hot" not in engine_columns(shuffled, encode=True, hot=windows)


def test_hot_flags_keep_the_last_window_of_a_system_whose_export_ends_before_the_others() -> None:
    """The browser's one line mid-batch, no copy near it, the backend's lines for a minute after: the browser's
    next export continues its own clock, and its copy half a second later is the line's second in a second."""
    policy = Policy.model_validate({"loop": {"max_identical": 1}, "rate_limit": {"enabled": False}})
    first = columns(
        [(0, "worker", "log", None, "w", None, 0), (10_000, "browser", "log", None, "x", None, 0)]
        + [(10_000 if i == 0 else 1000, "backend", "log", None, f"row {i}", None, 0) for i in range(60)]
    )  # fmt: skip
    second = columns([(10_500, "browser", "log", None, "x", None, 0)], start=T0)
    second["pos"] = [len(first["pos"]) + 1]
    engine = Engine(policy)
    windows = reaching_newest(first, policy)
    enc = encoded(first, windows)
    assert array("i", enc["loop_hot"][0])[1] == 1  # the browser's last line, not near the batch's edges
    assert decide_all_numbered(engine, first, 0, True, windows) == []
    later = Engine(policy, engine.state)
    drops = decide_all_numbered(later, second, 0, True, reaching_newest(second, policy))
    assert [d[0] for _, d in drops] == ["loop"]


def test_a_system_s_export_after_another_s_later_one_keeps_no_loop_entry_per_cold_event() -> None:
    """The browser's distinct lines, all before the backend's clock, in batches with their hot flags: only a
    loop copy of the browser's own could meet them, and the browser had none, so the engine keeps none of
    theirs but its batch's edges (before, the backend's clock made every one of them fresh)."""
    backend = columns([(0, "backend", "info", "b", "late", None, 0)], start=T0 + 6 * 3_600_000)
    browser = columns([(1000, "browser", "info", f"t{i}", f"line {i}", None, 0) for i in range(3000)])
    browser["pos"] = [p + 1 for p in browser["pos"]]
    engine = Engine(UNLIMITED)
    assert decide_all_numbered(engine, backend, 0, True, reaching_newest(backend, UNLIMITED)) == []
    engine = Engine(UNLIMITED, engine.state)
    assert decide_all_numbered(engine, browser, 0, True, reaching_newest(browser, UNLIMITED)) == []
    # the lines within a second of the batch's first and last: 4 of 3,000
    assert sorted(k[2] for k in engine.state.loop if k[0] == "browser") == [
        "line 0",
        "line 1",
        "line 2998",
        "line 2999",
    ]
