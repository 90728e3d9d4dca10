"""Loads for simulation, as DuckDB queries in the engine's column order.

`recorded_base` turns stored events (accepted and dropped alike: the offered load) into a TEMP table;
`tiled` repeats that base over a period — copies back to back, and clones (with new trace ids) spread
evenly inside each copy to multiply the rate — so a few observed hours become a month.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Any

from logcorr.correlate.skew import CLOCK_SQL
from logcorr.units import say_count, say_duration

# the most events a replay generates: it runs window by window, so memory is no limit; time is (the built-in month
# scenario is 28M events). Far beyond this a rate or a multiplier was mistyped (a rate of 1e308 broke DuckDB's
# range(), --multiply 1e12 never ended)
MAX_EVENTS = 1_000_000_000

# the most events a budget projection decides (`sim.run.run_tiled`): it counts the copies it decides alike, so the
# events it simulates are not its limit; the events it decides are. A decided event took 1.8 µs (the bundled sample
# at 1000x, 92,000 events a copy) to 2.4 µs (at 100,000x, 9.2M a copy, generated and sorted by DuckDB): about 10
# minutes at most. Under 1e9, 100,000x ran to its end: 53 minutes on a shared machine (40 of CPU); now it stops
MAX_DECIDED = 250_000_000

# `browser_clock`: the event's time is a browser's own (which may be days off, docs/formats.md), not a server's
BASE_DDL = f"""
CREATE OR REPLACE TEMP TABLE sim_base AS
SELECT epoch_ms(ts) AS ts_ms, system, level, trace_id, fingerprint,
       CASE WHEN rule = 'suppress' THEN reason END AS suppressed,
       (rule = 'duplicate') AS dup, event_id, ({CLOCK_SQL}) = 'browser' AS browser_clock
FROM (
    SELECT ts, system, level, trace_id, fingerprint, event_id, NULL::VARCHAR AS rule, NULL::VARCHAR AS reason,
           source_format, client_ts
    FROM log_queue
    UNION ALL
    SELECT ts, system, level, trace_id, fingerprint, event_id, rule, reason, source_format, client_ts
    FROM drop_ledger
)
"""


def recorded_base(con: Any, in_time_order: bool = False) -> tuple[int, int, int]:
    """Create TEMP `sim_base` from the stored events; returns (events, first ms, last ms). `in_time_order`: its rows
    stored in time order, sorted as it is built (sorted afterwards, a million events' copy and sort buffers were
    held beside it: 100 MB more at the peak of `replay --db`)."""
    con.execute(BASE_DDL + (" ORDER BY ts_ms" if in_time_order else ""))
    n, lo, hi = con.execute("SELECT count(*), min(ts_ms), max(ts_ms) FROM sim_base").fetchall()[0]
    return int(n), int(lo or 0), int(hi or 0)


# A browser's clock may be days off (docs/formats.md; a server's keeps NTP time), and a browser console line has
# only that clock. One such line 2 days after an afternoon's exports stretched the observed span from 4 h to
# 2.1 d: `budget` repeated the afternoon every 3 days, and a failing gate (95 % of the quota, essential-only on
# day 27) passed at 6 %; `replay` spread it over 2.1 d, and its month's cost fell from $10 to $0.87.
# So a few events on browser clocks at either end are left out of the span and of the load, and said, when the
# silence separating them from the rest is at least STRAY_MIN_GAP_MS and longer than the rest's span or, beyond
# every Worker and Convex event, longer than the longest silence between consecutive events inside the servers'
# span (the recording's own longest quiet). The rest's span alone never caught a week: 3 console lines 2 days
# after a week's exports were kept, the span was 9 d, not 7 d, and the load diluted by 22 %; a week with nightly
# 8 h lulls has strays only past a silence longer than 8 h. At most STRAY_MAX_SHARE of the events at each end
# (none of fewer than 100), and never past a server clock's event (what lies beyond a Worker's or Convex's event
# is observed time). Data without such a silence is tiled as before.
STRAY_MIN_GAP_MS = 3_600_000
STRAY_MAX_SHARE = 0.01


# `longest_quiet` measures silences of a minute and more exactly, and calls any shorter one a minute: a stray's
# silence is an hour or more, and a minute's buckets spare sorting every event
QUIET_STEP_MS = 60_000


def longest_quiet(con: Any) -> int | None:
    """The longest silence (ms) between consecutive events of `sim_base` inside the span of its Worker and Convex
    events, the recording's own longest quiet, or QUIET_STEP_MS when none is that long; None without a server
    clock's event."""
    # A window `lag` over every event's time sorted 5.3M events in 0.7-1.8 s. Over each minute's first and last
    # event it is exact all the same: a silence across a minute's boundary runs from one non-empty minute's
    # last event to the next one's first; one inside a minute is shorter than QUIET_STEP_MS
    ((quiet, servers),) = con.execute(
        f"""
        WITH span AS (SELECT min(ts_ms) AS lo, max(ts_ms) AS hi, count(*) AS n FROM sim_base WHERE NOT browser_clock),
        minutes AS (
            SELECT ts_ms // {QUIET_STEP_MS} AS m, min(ts_ms) AS a, max(ts_ms) AS z FROM sim_base, span
            WHERE ts_ms BETWEEN span.lo AND span.hi GROUP BY 1
        )
        SELECT (SELECT max(gap) FROM (SELECT a - lag(z) OVER (ORDER BY m) AS gap FROM minutes)), n FROM span
        """
    ).fetchall()
    return max(int(quiet or 0), QUIET_STEP_MS) if servers else None


def _stray_end(
    con: Any, newest_first: bool, other_end: int, most: int, quiet: Callable[[], int | None]
) -> int | None:
    """The time of the last event kept at one end of the observation (the newest when `newest_first`), when a
    few browser-clock events beyond it lie apart from the rest; else None. `other_end`: the rest's far end;
    `quiet`: the servers' longest inner silence (`longest_quiet`), asked only of a silence the span does not
    settle."""
    # of events at one time, a server's first: the walk stops at it whatever order DuckDB gives ties
    rows = con.execute(
        f"SELECT ts_ms, browser_clock FROM sim_base ORDER BY ts_ms {'DESC' if newest_first else 'ASC'}, "
        "browser_clock LIMIT ?",
        [most + 1],
    ).fetchall()
    for k in range(1, len(rows)):
        if not rows[k - 1][1]:
            return None
        # the events before k are all on browser clocks: beyond every server event
        gap, rest = abs(rows[k - 1][0] - rows[k][0]), abs(rows[k][0] - other_end)
        if gap < STRAY_MIN_GAP_MS:
            continue
        if gap > rest:
            return int(rows[k][0])
        inner = quiet()
        if inner is not None and gap > inner:
            return int(rows[k][0])
    return None


def leave_out_strays(con: Any, n: int, lo: int, hi: int) -> tuple[int, int, int, list[dict[str, Any]]]:
    """Drop from `sim_base` the stray browser-clock events at either end (see STRAY_MIN_GAP_MS); returns the
    events, first and last ms kept, and what was left out: one group per end, with its systems and times."""
    # no floor of one: of 2 events (a browser-only sample, 1 h apart) the second was left out, half the input,
    # and the one left was tiled every minute (43,200 events in the month, not 1,200)
    most = int(n * STRAY_MAX_SHARE)
    if most == 0:
        return n, lo, hi, []
    new_lo, new_hi = lo, hi
    quiet = cache(lambda: longest_quiet(con))  # a pass over the whole span: only when a silence asks for it
    for _ in range(2):  # a cut at the oldest end can make the newest end's gap longer than the (shorter) rest
        cut = _stray_end(con, True, new_lo, most, quiet) if new_hi == hi else None
        new_hi = cut if cut is not None else new_hi
        cut = _stray_end(con, False, new_hi, most, quiet) if new_lo == lo else None
        new_lo = cut if cut is not None else new_lo
        # no cut at the oldest end: a second pass walks the same rows to the same ends (0.45 s of 5.3M events)
        if new_lo == lo:
            break
    if (new_lo, new_hi) == (lo, hi):
        return n, lo, hi, []
    groups: list[dict[str, Any]] = []
    for side, where, edge in (("after", "ts_ms > ?", new_hi), ("before", "ts_ms < ?", new_lo)):
        rows = con.execute(
            f"SELECT system, count(*), min(ts_ms), max(ts_ms) FROM sim_base WHERE {where} GROUP BY system "
            "ORDER BY system",
            [edge],
        ).fetchall()
        if not rows:
            continue
        first, last = min(r[2] for r in rows), max(r[3] for r in rows)
        groups.append({
            "side": side,
            "events": sum(int(r[1]) for r in rows),
            "systems": {r[0]: int(r[1]) for r in rows},
            "first": iso_seconds(first),
            "last": iso_seconds(last),
            "gap_ms": int(first - new_hi) if side == "after" else int(new_lo - last),
        })  # fmt: skip
    con.execute("DELETE FROM sim_base WHERE ts_ms < ? OR ts_ms > ?", [new_lo, new_hi])
    return n - sum(g["events"] for g in groups), new_lo, new_hi, groups


def browser_only_reach(con: Any) -> str | None:
    """When events on browser clocks alone reach beyond every Worker and Convex event by more than the servers'
    own span, or apart from the rest as strays are (see STRAY_MIN_GAP_MS) but too many to be left out: what a
    note says of them."""
    row = con.execute(
        "SELECT min(ts_ms) FILTER (NOT browser_clock), max(ts_ms) FILTER (NOT browser_clock), "
        "min(ts_ms), max(ts_ms) FROM sim_base"
    ).fetchall()[0]
    if row[0] is None:
        return None  # browser clocks only: nothing to measure them against
    slo, shi, lo, hi = (int(v) for v in row)
    said, silent = [], []
    inner = cache(lambda: longest_quiet(con) or QUIET_STEP_MS)
    for side, reach, where in (("after", hi - shi, "ts_ms > ?"), ("before", slo - lo, "ts_ms < ?")):
        if reach < STRAY_MIN_GAP_MS:
            continue
        edge = shi if side == "after" else slo
        count = con.execute(f"SELECT count(*) FROM sim_base WHERE {where}", [edge]).fetchall()[0][0]
        them = f"{say_count(count, 'browser event')} {'lie' if count != 1 else 'lies'}"
        if reach > shi - slo:
            said.append(f"{say_count(count, 'browser event')} reach {say_duration(reach)} {side} them")
            continue
        quiet = _silence_beyond(con, side, edge)
        # a week's exports and 50 lines of a clock 2 days ahead (more than 1 %): kept, and said. A silence no
        # longer than the servers' own longest quiet (a night's lull) is the recording's rhythm: nothing to say
        if quiet >= STRAY_MIN_GAP_MS and quiet > inner():
            silent.append((side, reach, them, quiet))
    if said:
        return (
            f"the Worker's and Convex's events span {say_duration(shi - slo + 1)}; {' and '.join(said)}, on the "
            "browsers' own clocks: if a browser clock is wrong, the observed span is mostly empty and the load "
            "diluted: check those events' times"
        )
    if not silent:
        return None
    span = hi - lo + 1
    without = span - sum(reach for _, reach, _, _ in silent)
    parts = [
        f"{them} {say_duration(reach)} {side} every Worker and Convex event, apart from the rest by "
        f"{say_duration(quiet)} without any event"
        for side, reach, them, quiet in silent
    ]
    return (
        f"{' and '.join(parts)}, on the browsers' own clocks (between the Worker's and Convex's first and last "
        f"events, no quiet is longer than {say_duration(inner())}): with them the observed span is {say_duration(span)}, "
        f"not {say_duration(without)}; if a browser clock is wrong, the load is diluted by "
        f"{100 * (span - without) / span:.0f} %: check those events' times"
    )


def _silence_beyond(con: Any, side: str, edge: int) -> int:
    """How long no event was observed between the last event at or inside `edge` (a server clock's far end) and
    the first browser event beyond it, on `side`."""
    if side == "after":
        sql = "SELECT min(ts_ms) FILTER (ts_ms > $e) - max(ts_ms) FILTER (ts_ms <= $e) FROM sim_base"
    else:
        sql = "SELECT min(ts_ms) FILTER (ts_ms >= $e) - max(ts_ms) FILTER (ts_ms < $e) FROM sim_base"
    ((gap,),) = con.execute(sql, {"e": edge}).fetchall()
    return int(gap or 0)


def say_left_out(group: dict[str, Any]) -> str:
    """`1 browser event 2.1 d after the rest`, as the header and the note say a group left out."""
    systems = ", ".join(f"{n:,} {s}" for s, n in group["systems"].items())
    plural = "s" if group["events"] != 1 else ""
    return f"{systems} event{plural} {say_duration(group['gap_ms'])} {group['side']} the rest"


def iso_seconds(ms: int) -> str:
    """`ms` (epoch ms, UTC) as `2024-06-01T12:03:04Z`, as the projection and its notes give times."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def no_events_hint(source: dict[str, Any] | None) -> str:
    """The hint of "no events to simulate/replay": input files given that hold no log event (an empty file, another
    tool's log) were told to "pass input files"."""
    if source and source.get("inputs"):
        return (
            "none of the input files holds a log event logcorr reads; `logcorr ingest` of the same files says "
            "what each line became"
        )
    return "ingest some logs first, or pass input files"


# a fractional scale keeps a share of one more clone in steps of 1 / FRACTION_STEPS (hash(event_id, k) % steps)
FRACTION_STEPS = 10_000


def clones_of(scale: float) -> tuple[int, int, int]:
    """(clones, whole clones, events in FRACTION_STEPS kept of the last clone) for a scale. A fractional part that
    rounds to no event in FRACTION_STEPS adds no clone (1.00001 is 1×, 0.00001 is nothing): it once made the
    filter keep the whole extra clone, twice the load; one that rounds to all of it is a whole clone."""
    whole = int(scale // 1)
    frac_keep = round((scale - whole) * FRACTION_STEPS)
    if frac_keep == FRACTION_STEPS:
        return whole + 1, whole + 1, 0
    return whole + (1 if frac_keep else 0), whole, frac_keep


# a clone's trace id: the base's own for copy 0's clone 0, else `<id>~k.j`
_CLONE_TRACE = """CASE WHEN trace_id IS NULL OR (k = 0 AND j = 0) THEN trace_id
                ELSE trace_id || '~' || k || '.' || j END AS trace_id"""


def _keep(scale: float) -> str:
    """Which (event, copy k, clone j) rows a scale keeps: every whole clone, and a deterministic share of the last."""
    clones, whole, frac_keep = clones_of(scale)
    if clones == 0:  # a scale too small to keep one event in 10,000
        return "false"
    if frac_keep == 0:
        return "true"
    return f"(j < {whole} OR hash(event_id, k) % {FRACTION_STEPS} < {frac_keep})"


def tiled(
    start_ms: int,
    base_start: int,
    period_ms: int,
    copies: int,
    scale: float,
    end_ms: int,
    first_copy: int = 0,
) -> str:
    """The tiled load query: copy k at start + k·period, clone j shifted by j·period/clones within its
    copy's period (wrapping), so every copy holds `scale` times the base; a fractional
    scale keeps a deterministic share of the last clone's events. Events at or after end_ms are cut.
    `first_copy`: only copies `first_copy` … `copies - 1` (`pos` then counts from the first of them)."""
    clones, _, _ = clones_of(scale)
    step = period_ms // max(1, clones)
    return f"""
    SELECT row_number() OVER (ORDER BY ts_ms, k, j, event_id) AS pos, ts_ms, system, level, {_CLONE_TRACE},
           fingerprint, suppressed, dup
    FROM (
        SELECT {int(start_ms)} + k * {int(period_ms)}
               + (b.ts_ms - {int(base_start)} + j * {int(step)}) % {int(period_ms)} AS ts_ms,
               b.system, b.level, b.trace_id, b.fingerprint, b.suppressed, b.dup, b.event_id, k, j
        FROM sim_base b, range({int(first_copy)}, {int(copies)}) AS c(k), range({max(1, clones)}) AS d(j)
        WHERE {_keep(scale)}
    )
    WHERE ts_ms < {int(end_ms)}
    ORDER BY pos
    """


# copies per query of `tiled_in_parts`: about this many events (DuckDB sorts one part at a time)
PART_EVENTS = 250000


def tiled_in_parts(
    start_ms: int,
    base_start: int,
    period_ms: int,
    copies: int,
    scale: float,
    end_ms: int,
    base_events: int,
    first_copy: int = 0,
) -> list[str]:
    """`tiled` as consecutive queries of a few copies each, whose rows one after the other are `tiled`'s
    rows in its order (`pos` aside: each part counts from 1). Copy k lies in [start + k·period,
    start + (k+1)·period), since an event's offset in its copy, (ts − base_start + j·step) mod period, is
    under the period: copies never interleave, so sorting each part alone orders the whole. A month
    tiled from a dense hour is hundreds of millions of events: one sort of them all took more than 1 GB
    and spilled; a part's sort takes a part's memory. `first_copy`: the copies from that one on."""
    clones = max(1, clones_of(scale)[0])
    per = max(1, PART_EVENTS // max(1, base_events * clones))
    return [
        tiled(start_ms, base_start, period_ms, min(copies, k + per), scale, end_ms, first_copy=k)
        for k in range(first_copy, copies, per)
    ]


# a window's query names the base's time ranges its clones come from (so DuckDB skips the rest of `sim_base`'s row
# groups) up to this many; beyond, it reads the whole base and keeps what lands in the window
MAX_WINDOW_RANGES = 64


def scaled_count(con: Any, scale: float) -> int:
    """How many events `scaled_window` yields over the whole period: `tiled`'s one copy, counted without it."""
    clones, whole, frac_keep = clones_of(scale)
    if clones == 0:
        return 0
    frac = (
        f"count(*) FILTER (WHERE hash(event_id, 0::BIGINT) % {FRACTION_STEPS} < {frac_keep})"
        if frac_keep
        else "0"
    )
    return int(con.execute(f"SELECT count(*) * {whole} + {frac} FROM sim_base").fetchall()[0][0])


def scaled_window(base_start: int, period_ms: int, scale: float, c0: int, c1: int, extra: str = "") -> str:
    """The rows of `tiled(base_start, base_start, period_ms, 1, scale, base_start + period_ms)` whose time lies in
    [c0, c1), in its order, generated from `sim_base` for this window alone (without `pos`). `replay --multiply 20`
    of a million events built all 20 million, sorted, in a table: 1.6 GB; a window's clones take a window's memory.

    Clone j of an event at offset o (from base_start) lies at (o + j·step) mod period, so o + j·step falls in
    [c0, c1) or in [c0 + period, c1 + period) (offsets): the candidate clones of each event are the j of
    those two ranges (a few more, whatever way the division rounds), and the window keeps those whose time lies
    in it, by `tiled`'s own formula. `extra`: more columns, e.g. `, NULL::INTEGER AS tpl`."""
    clones = clones_of(scale)[0]
    step = period_ms // max(1, clones)
    lo, w0, w1, period = int(base_start), int(c0) - int(base_start), int(c1) - int(base_start), int(period_ms)
    if step > 0:
        first, past, second = (f"({w} - (ts_ms - {lo})) // {step}" for w in (w0, w1, w0 + period))
        # the second range starts where the first ends: a clone in both would be replayed twice
        cand = (
            f"range(greatest(0, {first} - 1), least({clones}, {past} + 1)) || "
            f"range(greatest(0, {second} - 1, {past} + 1), least({clones}, ({w1 + period} - (ts_ms - {lo})) // {step} + 1))"
        )
    else:  # a period shorter than the clones: every clone shifted by 0
        cand = f"range({max(1, clones)})"
    return f"""
    SELECT ts_ms, system, level, {_CLONE_TRACE}, fingerprint, suppressed, dup{extra}
    FROM (
        SELECT {lo} + (ts_ms - {lo} + j * {step}) % {period} AS ts_ms,
               system, level, trace_id, fingerprint, suppressed, dup, event_id, 0::BIGINT AS k, j
        FROM (SELECT *, unnest({cand}) AS j FROM sim_base WHERE {_base_ranges(lo, period, clones, step, w0, w1)})
        WHERE {_keep(scale)}
    )
    WHERE ts_ms >= {int(c0)} AND ts_ms < {int(c1)}
    ORDER BY ts_ms, k, j, event_id
    """


def _base_ranges(lo: int, period: int, clones: int, step: int, w0: int, w1: int) -> str:
    """A filter on `sim_base.ts_ms` holding every event one of whose clones lands in offsets [w0, w1) (more, when
    the ranges are many): `true` beyond MAX_WINDOW_RANGES."""
    if clones > 4 * MAX_WINDOW_RANGES:
        return "true"
    spans: list[tuple[int, int]] = []
    for j in range(max(1, clones)):
        for a, b in ((w0 - j * step, w1 - j * step), (w0 + period - j * step, w1 + period - j * step)):
            a, b = max(a, 0), min(b, period)
            if a < b:
                spans.append((a, b))
    merged: list[list[int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    if not merged:
        return "false"
    if len(merged) > MAX_WINDOW_RANGES:
        return "true"
    return " OR ".join(f"(ts_ms >= {lo + a} AND ts_ms < {lo + b})" for a, b in merged)
