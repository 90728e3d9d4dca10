"""The replay driver: one rule engine (`logcorr.rules.engine.Engine`, the one ingest and `sim.run` use)
over a load, window by window, on event time — and what it decided, aggregated as it goes.

A load yields time windows and, per window, a query returning its events in event-time order. Each
window streams through the engine in Arrow batches; every event gets a decision code (0 stored, else
the rule that dropped it), and the window with its codes is aggregated in DuckDB into small TEMP
tables: per minute and system, per message, per budget phase and level, per trace (kept until it has
been idle for the trace window), and the most identical messages stored in any second. Memory
holds one window, not the run. `sim.run.run` counts only per system; trace integrity and the loop
check need each event's decision, hence this driver.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from logcorr.gcpause import gc_paused
from logcorr.model import PRESSURE_RULES
from logcorr.rules.clock import month_bounds
from logcorr.rules.columns import drop_numbers
from logcorr.rules.engine import RULES, Engine, Numbered
from logcorr.rules.policy import Policy
from logcorr.store.interrupt import track

BATCH_ROWS = 65_536
LOOP_CHECK_MS = 1000  # the story's "at most 5 identical per second"
_SYS_BIT = "CASE system WHEN 'browser' THEN 1 WHEN 'worker' THEN 2 WHEN 'backend' THEN 4 ELSE 8 END"

_TABLES = """
CREATE OR REPLACE TEMP TABLE replay_agg_minute (minute BIGINT, system VARCHAR, d UTINYINT, n BIGINT);
CREATE OR REPLACE TEMP TABLE replay_agg_msg (tpl INTEGER, system VARCHAR, level VARCHAR, fingerprint VARCHAR,
    d UTINYINT, n BIGINT);
CREATE OR REPLACE TEMP TABLE replay_agg_phase (phase VARCHAR, system VARCHAR, level VARCHAR, d UTINYINT, n BIGINT);
CREATE OR REPLACE TEMP TABLE replay_traces (trace_id VARCHAR, mask UTINYINT, kept BIGINT, cut BIGINT, last BIGINT);
CREATE OR REPLACE TEMP TABLE replay_kept_tail (ts_ms BIGINT, system VARCHAR, level VARCHAR, fingerprint VARCHAR);
"""


class Load(Protocol):
    """What the driver needs from a synthetic or recorded load."""

    kind: str
    start_ms: int
    end_ms: int
    # SQL over `replay_chunk_raw` (a window's query result plus the decision `d`) giving ts_ms, system,
    # level, trace_id, fingerprint, tpl, d; None when the window's own columns are those (it is then read where
    # it is, not copied into a table)
    view: str | None

    def prepare(self, con: Any, policy: Policy) -> None:
        """Create what the window queries need for this policy."""

    def windows(self) -> list[tuple[int, int]]:
        """Time windows [c0, c1) covering the load, in order."""
        raise NotImplementedError

    def chunk_sql(self, c0: int, c1: int) -> str | None:
        """The events of [c0, c1) in event-time order, with `ts_ms` (None: no events)."""
        raise NotImplementedError

    def columns(self, batch: pa.RecordBatch) -> dict[str, list[Any]]:
        """The engine's columns (all but `pos`) of one batch of a window query."""
        raise NotImplementedError

    def header(self) -> dict[str, Any]:
        """What was replayed, for the result."""
        raise NotImplementedError

    def redactions(self, con: Any) -> Counter[str]:
        """Secrets redacted in the replayed events, by kind (after the run)."""
        raise NotImplementedError


@dataclass
class Tally:
    """What the driver counted beyond the aggregate tables."""

    engine: Engine
    codes: list[str]  # decision code → rule name; code 0 is "stored"
    events: int = 0
    multi_system: int = 0
    cut: int = 0
    refused_whole: int = 0
    max_identical: int = 0
    windows: int = 0
    stats: dict[str, int] = field(default_factory=dict)


def drive(
    con: Any,
    load: Load,
    policy: Policy,
    *,
    batch_rows: int = BATCH_ROWS,
    progress: Callable[[int, int, int], None] | None = None,
) -> Tally:
    """Decide every event of `load` with a fresh engine; fills the replay_* TEMP tables (see module)."""
    # like Engine.process: the cyclic GC would only walk the engine's growing state and each batch's drops
    with gc_paused():
        return _drive(con, load, policy, batch_rows, progress)


def _drive(
    con: Any, load: Load, policy: Policy, batch_rows: int, progress: Callable[[int, int, int], None] | None
) -> Tally:
    load.prepare(con, policy)
    con.execute(_TABLES)
    engine = Engine(policy, ordered=True)  # the loop below refuses a load out of event-time order
    tally = Tally(engine, ["stored", *RULES])
    code = _Codes(tally.codes)
    idle = policy.trace_aware.idle_ms
    windows = load.windows()
    positions = list(range(batch_rows))  # positions are per batch: the engine only echoes them in drops
    last_ts = -(1 << 62)
    background = bool(getattr(load, "prefetch", False))  # then `con` is free while the engine runs
    with _Folder(con, load, code, tally, background) as folder:
        for wi, events in enumerate(_prefetched(con, load, windows, batch_rows)):
            batches: list[pa.RecordBatch] = []
            decisions: list[pa.Array] = []
            for batch in events or ():
                n = batch.num_rows
                if n == 0:
                    continue
                ts = batch.column("ts_ms")
                if ts[0].as_py() < last_ts or (
                    n > 1 and not pc.all(pc.greater_equal(ts[1:], ts[:-1])).as_py()
                ):
                    raise AssertionError(
                        "replay load is not in event-time order"
                    )  # a bug in a load, not input
                last_ts = ts[n - 1].as_py()
                cols = load.columns(batch)
                cols["pos"] = positions if n == batch_rows else positions[:n]
                tally.events += n
                batches.append(batch)
                decisions.append(_decision_codes(engine.decide_numbered(cols), code, n))
            if batches:
                table = pa.Table.from_batches(batches).append_column(
                    "d", pa.chunked_array(decisions, pa.uint8())
                )
                # the phases as of this window's end: the engine moves on while the window is folded
                folder.fold(table, phase_sql(engine, policy), windows[wi][1] - idle)
                tally.windows += 1
            if progress is not None:
                progress(tally.events, wi + 1, len(windows))
    _finalize_traces(con, None, tally)
    con.execute("DROP TABLE IF EXISTS replay_chunk; DROP TABLE IF EXISTS replay_kept_all")
    tally.stats = dict(sorted(engine.stats.items()))
    return tally


class _Folder:
    """Folds decided windows into the aggregate tables, one at a time; in the background (a thread
    using `con` while the engine decides the next window) when nothing else uses `con` meanwhile."""

    def __init__(self, con: Any, load: Load, code: dict[str, int], tally: Tally, background: bool) -> None:
        self.con, self.load, self.tally = con, load, tally
        self.pressure = ", ".join(str(code[r]) for r in PRESSURE_RULES)
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="replay-fold") if background else None
        self.pending: Future[None] | None = None
        self.msg_rows = 0  # rows of replay_agg_msg when it was last compacted

    def fold(self, table: pa.Table, phase: str, idle_before: int) -> None:
        self.wait()
        if self.pool is None:
            self._fold(table, phase, idle_before)
        else:
            self.pending = self.pool.submit(self._fold, table, phase, idle_before)

    def _fold(self, table: pa.Table, phase: str, idle_before: int) -> None:
        con = self.con
        view = self.load.view
        if view is None:
            # a recorded window copied into a table was 40 MB of DuckDB's memory beside the Arrow table it came from
            con.register("replay_chunk", table)
            try:
                _aggregate(con, phase, self.pressure, idle_before, self.tally)
            finally:
                con.unregister("replay_chunk")
        else:
            con.register("replay_chunk_raw", table)
            try:
                con.execute(f"CREATE OR REPLACE TEMP TABLE replay_chunk AS {view}")
            finally:
                con.unregister("replay_chunk_raw")
            _aggregate(con, phase, self.pressure, idle_before, self.tally)
        self.msg_rows = _compact_messages(con, self.msg_rows)

    def wait(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending.result()

    def __enter__(self) -> _Folder:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                self.wait()
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True)


def _prefetched(
    con: Any, load: Load, windows: list[tuple[int, int]], batch_rows: int
) -> Iterator[Iterable[pa.RecordBatch] | None]:
    """Each window's events in batches. A load that builds its windows from tables any connection sees
    (`load.prefetch`) has the next window computed by DuckDB on a second connection while this one's
    events go through the engine: DuckDB releases the GIL, and the machine has a second core."""
    if not getattr(load, "prefetch", False) or len(windows) < 2:
        for c0, c1 in windows:
            sql = load.chunk_sql(c0, c1)
            yield None if sql is None else con.sql(sql).to_arrow_reader(batch_rows)
        return

    cur = track(con.cursor())  # its statements run on its own client context: Ctrl-C must reach them too

    def fetch(i: int) -> list[pa.RecordBatch] | None:
        sql = load.chunk_sql(*windows[i])
        return None if sql is None else cur.sql(sql).to_arrow_table().to_batches(batch_rows)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="replay-window") as pool:
        ahead = pool.submit(fetch, 0)
        try:
            for i in range(len(windows)):
                events = ahead.result()
                if i + 1 < len(windows):
                    ahead = pool.submit(fetch, i + 1)
                yield events
        finally:
            ahead.cancel()
            cur.close()


def _decision_codes(drops: Numbered, code: _Codes, n: int) -> pa.Array:
    """Each of a batch's `n` events' decision code (0 stored, else its rule's), from the engine's numbered
    drops: only the batch's distinct decisions are visited in Python. (With a tuple per drop mapped to its
    code, the built-in month took 77.7 / 82.9 s instead of 66.9 / 74.6 s.)"""
    new = drops[2]
    if not new:
        return pa.Array.from_buffers(pa.uint8(), n, [None, pa.py_buffer(bytes(n))])
    codes = pa.array([code[decision[0]] for decision in new], pa.uint8())
    return pc.fill_null(pc.take(codes, drop_numbers(drops, n)), 0)


class _Codes(dict[str, int]):
    """Rule name → decision code; a rule the engine names that this module does not know gets the next
    code (and its name is appended to `names`)."""

    def __init__(self, names: list[str]) -> None:
        super().__init__((r, i) for i, r in enumerate(names))
        self.names = names

    def __missing__(self, rule: str) -> int:
        if len(self.names) >= 255:
            raise AssertionError("more than 255 rules")
        c = self[rule] = len(self.names)
        self.names.append(rule)
        return c


def _aggregate(con: Any, phase: str, pressure: str, idle_before: int, tally: Tally) -> None:
    """Fold one decided window into the aggregate tables."""
    con.execute(
        "INSERT INTO replay_agg_minute SELECT ts_ms // 60000, system, d, count(*) FROM replay_chunk GROUP BY ALL"
    )
    con.execute(
        "INSERT INTO replay_agg_msg SELECT tpl, system, level, fingerprint, d, count(*) FROM replay_chunk GROUP BY ALL"
    )
    con.execute(
        f"INSERT INTO replay_agg_phase SELECT {phase}, system, level, d, count(*) "
        "FROM replay_chunk GROUP BY ALL"
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE replay_traces AS
        SELECT trace_id, CAST(bit_or(mask) AS UTINYINT) AS mask, CAST(sum(kept) AS BIGINT) AS kept,
               CAST(sum(cut) AS BIGINT) AS cut, max(last) AS last
        FROM (
            SELECT * FROM replay_traces
            UNION ALL
            SELECT trace_id, CAST(bit_or({_SYS_BIT}) AS UTINYINT), count(*) FILTER (WHERE d = 0),
                   count(*) FILTER (WHERE d IN ({pressure})), max(ts_ms)
            FROM replay_chunk WHERE trace_id IS NOT NULL AND (d = 0 OR d IN ({pressure}))
            GROUP BY trace_id
        ) GROUP BY trace_id
        """
    )
    _finalize_traces(con, idle_before, tally)
    # identical messages (system, level, text) stored within any second, across window edges
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE replay_kept_all AS
        SELECT * FROM replay_kept_tail
        UNION ALL SELECT ts_ms, system, level, fingerprint FROM replay_chunk WHERE d = 0
        """
    )
    row = con.execute(
        f"""
        SELECT max(c) FROM (
            SELECT count(*) OVER (PARTITION BY system, level, fingerprint ORDER BY ts_ms
                                  RANGE BETWEEN {LOOP_CHECK_MS - 1} PRECEDING AND CURRENT ROW) AS c
            FROM replay_kept_all)
        """
    ).fetchone()
    tally.max_identical = max(tally.max_identical, int(row[0] or 0))
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE replay_kept_tail AS
        SELECT * FROM replay_kept_all WHERE ts_ms > (SELECT max(ts_ms) FROM replay_kept_all) - {LOOP_CHECK_MS}
        """
    )


# replay_agg_msg is compacted (one row per message and decision) when it holds more than twice its rows at the last
# compaction, and this many
COMPACT_MIN_ROWS = 500_000


def _compact_messages(con: Any, last: int) -> int:
    """Compact replay_agg_msg once it has doubled since it last was (`last` rows); returns its rows then. A window
    adds a row per message and decision it holds: a recording's messages, each distinct (ids, times), repeat in
    every window of `--multiply 20`: 7.3 million rows (600 MB) for a million recorded events."""
    ((rows,),) = con.execute("SELECT count(*) FROM replay_agg_msg").fetchall()
    if rows <= max(2 * last, COMPACT_MIN_ROWS):
        return last
    con.execute(
        "CREATE OR REPLACE TEMP TABLE replay_agg_msg AS SELECT tpl, system, level, fingerprint, d, "
        "CAST(sum(n) AS BIGINT) AS n FROM replay_agg_msg GROUP BY ALL"
    )
    ((rows,),) = con.execute("SELECT count(*) FROM replay_agg_msg").fetchall()
    return int(rows)


def _finalize_traces(con: Any, before: int | None, tally: Tally) -> None:
    """Count traces idle since `before` (all when None) and forget them."""
    where = "true" if before is None else f"last < {int(before)}"
    multi, cut, whole = con.execute(
        f"""
        SELECT count(*) FILTER (WHERE bit_count(mask) > 1),
               count(*) FILTER (WHERE bit_count(mask) > 1 AND cut > 0 AND kept > 0),
               count(*) FILTER (WHERE bit_count(mask) > 1 AND kept = 0)
        FROM replay_traces WHERE {where}
        """
    ).fetchone()
    tally.multi_system += int(multi or 0)
    tally.cut += int(cut or 0)
    tally.refused_whole += int(whole or 0)
    con.execute(f"DELETE FROM replay_traces WHERE {where}")


PHASES: tuple[str, ...] = ("normal", "warning", "essential", "capped")


def phase_sql(engine: Engine, policy: Policy) -> str:
    """A CASE expression naming each event's budget phase from the moments the total reached so far:
    warning (≥ warn %), essential-only (≥ essential %), capped (100 %), within their month. Moments
    are kept to the millisecond, so events sharing the moment's millisecond count in the phase before."""
    b = policy.budget
    name = {b.warn_pct: "warning"}
    name[b.essential_pct] = "essential"  # where thresholds coincide, the stricter phase names it
    name[100.0] = "capped"
    whens = []
    moments = sorted((m for m in engine.state.moments if m.scope == "total"), key=lambda m: -m.pct)
    for m in moments:
        phase = name.get(m.pct)
        if phase is None:
            continue
        _, end = month_bounds(m.month)
        # the write that reached the threshold was decided before it: the phase starts after its ms
        whens.append(f"WHEN ts_ms > {int(m.ts_ms)} AND ts_ms < {end} THEN '{phase}'")
    if not whens:
        return "'normal'"
    return "CASE " + " ".join(whens) + " ELSE 'normal' END"
