"""The rule phase of ingest: staged events in event-time order through the rule engine (continuing
the saved rule state); each event's fate lands in TEMP tables `fate` and `decisions`."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from logcorr.model import SYSTEMS
from logcorr.pipeline.spool import Spool
from logcorr.rules.columns import HotWindows, drop_numbers, engine_columns
from logcorr.rules.engine import RULES, Engine, Numbered, hot_events_sql
from logcorr.rules.policy import Policy
from logcorr.rules.report import quota_report, trace_integrity
from logcorr.rules.state import RuleState
from logcorr.store.query import sql_enum, ts_between

if TYPE_CHECKING:
    from logcorr.pipeline.ingest import IngestResult
    from logcorr.pipeline.parse import FileResult


def register_files(con: Any, files: list[FileResult]) -> None:
    table = pa.table(
        {
            "file_id": pa.array([f.file_id for f in files], pa.int32()),
            "path": pa.array([f.name for f in files], pa.string()),
        }
    )
    con.register("_files", table)
    con.execute("CREATE TEMP TABLE files AS SELECT * FROM _files")
    con.unregister("_files")


_ENGINE_BATCH = 32_768


# how far after this machine's clock an event may be dated before the summary calls it a clock set ahead:
# logs are exported after they happen, so later ones are clocks set ahead (a browser's). They are decided
# like any event (no decision depends on the machine's clock), but they move their system's rule clock
FUTURE_MARGIN_MS = 86_400_000


def decide(
    con: Any,
    policy: Policy,
    state: RuleState,
    result: IngestResult,
    loop_limits: tuple[str, str] | None = None,
) -> Engine:
    """Run the engine over staging in event-time order (ties in input order), continuing `state`;
    every event's fate lands in TEMP table `fate`, the decisions in `decisions`. Fills the result's quota and
    trace-integrity fields. `loop_limits`: DuckDB memory limits (during the engine loop, after it). The
    caller keeps the cyclic collector paused (see `ingest._finish_run`)."""
    # per system, the input's time range (one pass): for the lookup of earlier copies below, and for the
    # summary's notes: events dated after this machine's clock (`FUTURE_MARGIN_MS`), and the saved clock where
    # some of the input is older (late events, decided at that clock: it tells a clock set ahead earlier)
    clocks = {name: ss.clock for name, ss in state.systems.items() if ss.clock >= 0}
    horizon = int(time.time() * 1000) + FUTURE_MARGIN_MS
    spans = con.execute(
        "SELECT system::VARCHAR, min(ts_ms), count(*) FILTER (WHERE ts_ms > ?), max(ts_ms) FROM staging "
        "GROUP BY ALL ORDER BY 1",
        [horizon],
    ).fetchall()
    for name, first, ahead, last in spans:
        if ahead:
            result.future[str(name)] = (int(ahead), int(last))
        if name in clocks and first < clocks[name]:
            result.late_clocks[str(name)] = clocks[name]
    lo, hi = min((int(r[1]) for r in spans), default=0), max((int(r[3]) for r in spans), default=-1)
    # the events delivered before: a copy of an event an earlier ingest stored or dropped (2), a repeat of
    # one earlier in this input (1). Few, so the reader joins them cheaply (a table of every event's
    # position and flag, joined back, cost 0.5-0.7 s more at 1M records)
    con.execute(
        f"""
        CREATE TEMP TABLE dups AS
        SELECT seq, CASE WHEN earlier THEN 2 ELSE 1 END::TINYINT AS dup FROM (
            SELECT seq, event_key IN ({_stored_keys(lo, hi)}) AS earlier,
                   row_number() OVER (PARTITION BY event_key ORDER BY ts_ms, seq) AS k
            FROM staging
        ) WHERE earlier OR k > 1
        """
    )
    prior = _cross_prior(con, policy, lo, hi)
    engine = Engine(policy, state)
    # the clock the engine ends at: the newest event that reaches it (a suppressed line or a repeat does
    # not), so that every event the saved state keeps is flagged hot
    skip = [
        *(["suppressed IS NULL"] if policy.suppression.enabled else []),
        *(["seq NOT IN (SELECT seq FROM dups)"] if policy.duplicates.enabled else []),
    ]
    where = f"WHERE {' AND '.join(skip)}" if skip else ""
    by_system = {
        str(name): int(n)
        for name, n in con.execute(
            f"SELECT system, max(ts_ms) FROM staging {where} GROUP BY system"
        ).fetchall()
    }
    newest = max(by_system.values(), default=-1)
    # the hot flags: for the Python loop two window statements over the whole input (1M-record ingest: 1.3 s,
    # which spare it more); for the compiled loop found in each batch as it is read (`HotWindows`)
    flags = not engine.compiled
    windows = HotWindows(policy.loop.window_ms, policy.cross_system.window_ms, newest, by_system)
    if flags:
        con.execute(
            f"CREATE TEMP TABLE hot_loop AS {hot_events_sql(policy, 'loop', 'staging', newest, by_system=by_system)}"
        )
        con.execute(f"CREATE TEMP TABLE hot_cross AS {hot_events_sql(policy, 'cross', 'staging', newest)}")
    sink = _FateSink(con)
    try:
        # one streaming query in event-time order (ties in input order), which numbers the events
        # (`pos`, from 1) as they come: the sink holds the fate rows (it runs no statement while the result
        # is open). Its sort runs when the reader is made, under the staging limit (5M events: 6.0 s, under
        # the loop's limit 11.5 s)
        hot = (
            ", s.seq IN (SELECT seq FROM hot_loop) AS loop_hot, s.seq IN (SELECT seq FROM hot_cross) AS cross_hot"
            if flags
            else ""
        )
        copies = (
            (", c.prior_system, c.prior_ts", "LEFT JOIN cross_prior c USING (seq)") if prior else ("", "")
        )
        reader = con.sql(
            f"""
            SELECT s.ts_ms, s.system, s.level, s.trace_id, s.fingerprint, s.suppressed,
                   coalesce(d.dup, 0)::TINYINT AS dup, s.seq, s.file_id, s.request_trace {hot} {copies[0]}
            FROM staging s LEFT JOIN dups d USING (seq) {copies[1]} ORDER BY s.ts_ms, s.seq
            """
        ).to_arrow_reader(_ENGINE_BATCH)
        # from here on the engine's state (in Python) grows with the input's density, while DuckDB only
        # streams the sorted input and builds `fate`: it gets the lower limit until the end. The limit
        # is the database's, so another cursor sets it without closing the open result.
        if loop_limits is not None:
            limiter = con.cursor()
            limiter.execute("SET memory_limit = ?", [loop_limits[0]])
            limiter.close()
        try:
            encode = engine.compiled
            done = 0
            # 1, 2, …, a batch long: each batch's positions are these plus the events before it (an array
            # made from a range each batch took 0.07 s at 1M)
            ones = pa.array(range(1, _ENGINE_BATCH + 1), pa.int64())
            for batch in reader:
                if batch.num_rows > len(ones):
                    ones = pa.array(range(1, batch.num_rows + 1), pa.int64())
                pos = pc.add(ones.slice(0, batch.num_rows), pa.scalar(done, pa.int64()))
                batch = pa.RecordBatch.from_arrays([pos, *batch.columns], ["pos", *batch.schema.names])
                done += batch.num_rows
                sink.add(batch, engine.decide_numbered(engine_columns(batch, encode, windows)))
        finally:
            reader.close()  # the connection runs nothing else while its result is open, not even cleanup
        sink.close()
        if flags:
            con.execute("DROP TABLE hot_loop")
            con.execute("DROP TABLE hot_cross")
        if prior:
            con.execute("DROP TABLE cross_prior")
        result.quota = quota_report(engine.state, engine.budget)
        result.integrity = trace_integrity(con, engine.stats)
    finally:
        sink.discard()
        if loop_limits is not None:
            con.execute("SET memory_limit = ?", [loop_limits[1]])
    return engine


def _cross_prior(con: Any, policy: Policy, lo: int, hi: int) -> bool:
    """TEMP table `cross_prior (seq, prior_system, prior_ts)`: for each staged event, the nearest copy in event
    time that an earlier ingest stored for another system in the same trace within the cross-system window
    (rule 5). The saved state keeps only the copies of the newest clock's last window, so without these an
    export ingested one system at a time kept copies one ingest of everything drops. False, and no table,
    when there are none (the first ingest, or a cross-system rule switched off)."""
    if not policy.cross_system.enabled:
        return False
    w = int(policy.cross_system.window_ms)
    span = ts_between("q.ts", lo - w, hi + w)
    (earlier,) = con.execute(
        f"SELECT count(*) FROM log_queue q WHERE {span} AND q.trace_id IS NOT NULL"
    ).fetchall()[0]
    if not earlier:
        return False
    con.execute(
        f"""
        CREATE TEMP TABLE cross_prior AS
        SELECT seq, near.s AS prior_system, near.t AS prior_ts FROM (
            SELECT s.seq, min({{'d': abs(epoch_ms(q.ts) - s.ts_ms), 't': epoch_ms(q.ts), 's': q.system}}) AS near
            FROM staging s JOIN log_queue q
              ON q.trace_id = s.trace_id AND q.fingerprint = s.fingerprint AND q.system <> s.system::VARCHAR
             AND epoch_ms(q.ts) BETWEEN s.ts_ms - {w} AND s.ts_ms + {w}
            WHERE {span} AND s.trace_id IS NOT NULL
            GROUP BY s.seq
        )
        """
    )
    (n,) = con.execute("SELECT count(*) FROM cross_prior").fetchall()[0]
    if not n:
        con.execute("DROP TABLE cross_prior")
    return bool(n)


# how far apart two copies of one event may lie in event time: an event key hashes the client's time when the
# event has one, and a Worker's record of a browser line has its receive time as event time where the
# browser's own payload has the client's (the network, and the client's clock, in between)
KEY_CLOCK_MARGIN_MS = 3_600_000


def _stored_keys(lo: int, hi: int) -> str:
    """The event keys earlier ingests stored or dropped at event times in [lo, hi] ms, widened by
    `KEY_CLOCK_MARGIN_MS` on both sides: a copy of a staged event has its time, or one that close to it (see
    there), and the zone maps of `ts` skip the rest of the persistent tables."""
    lo, hi = lo - KEY_CLOCK_MARGIN_MS, hi + KEY_CLOCK_MARGIN_MS
    where = ts_between("ts", lo, hi)
    return f"SELECT event_key FROM log_queue WHERE {where} UNION ALL SELECT event_key FROM drop_events WHERE {where}"


class _FateSink:
    """Every event's fate into TEMP table `fate (pos, seq, file_id, system, trace_id, request_trace, decision,
    rule)`, in event-time order, and the engine's decisions into `decisions (decision, rule, reason,
    rule_state)`. Drops of one flood, loop or refused trace share their decision, so each distinct decision of
    a batch is written once and a drop is two numbers. A fate row is the reader's batch with the decision's
    number and rule added (NULL for a stored event): counts and trace integrity then read `fate` alone, and
    the store joins it with the staged rows. Both tables are filled at `close`, by one INSERT each (see
    `Spool`)."""

    def __init__(self, con: Any) -> None:
        self.spool = Spool(con)
        self.next_id = 0
        # system and rule as ENUMs, a byte a row (5M records: the rules phase 0.5 s shorter than as VARCHAR)
        con.execute(
            f"""CREATE TEMP TABLE fate (pos BIGINT, seq BIGINT, file_id INTEGER, system {sql_enum(SYSTEMS)},
                                        trace_id VARCHAR, request_trace VARCHAR, decision INTEGER,
                                        rule {sql_enum(RULES)})"""
        )
        con.execute(
            "CREATE TEMP TABLE decisions (decision INTEGER, rule VARCHAR, reason VARCHAR, rule_state VARCHAR)"
        )

    def add(self, batch: pa.RecordBatch, drops: Numbered) -> None:
        """One batch of the reader and its drops, numbered by the engine (`Engine.decide_numbered`): only the
        distinct decisions are visited in Python; each row's decision number and the bitmap of dropped rows
        arrive as buffers, an Arrow column as they are."""
        new = drops[2]
        base = self.next_id
        self.next_id += len(new)
        pos = batch.column("pos")
        if new:
            # three comprehensions: zip(*new) over thousands of tuples took 30 ms a batch
            rule, reason, state = [d[0] for d in new], [d[1] for d in new], [d[2] for d in new]
            rules_new = pa.array(rule, pa.string())
            self.spool.add(
                "decisions",
                pa.record_batch({"decision": pa.array(range(base, self.next_id), pa.int32()),
                                 "rule": rules_new, "reason": pa.array(reason, pa.string()),
                                 "rule_state": pa.array(state, pa.string())}),
            )  # fmt: skip
            # each row's decision among the batch's, null for a stored event
            local = drop_numbers(drops, len(pos))
            decision = pc.add(local, pa.scalar(base, pa.int32()))
            rules = pc.take(rules_new, local)
        else:
            decision = pa.nulls(len(pos), pa.int32())
            rules = pa.nulls(len(pos), pa.string())
        self.spool.add(
            "fate",
            pa.record_batch({"pos": pos, "seq": batch.column("seq"), "file_id": batch.column("file_id"),
                             "system": batch.column("system"), "trace_id": batch.column("trace_id"),
                             "request_trace": batch.column("request_trace"), "decision": decision, "rule": rules}),
        )  # fmt: skip

    def close(self) -> None:
        """Write everything into the tables."""
        self.spool.load()

    def discard(self) -> None:
        """Remove the spool's files (after `close` there are none, unless it failed)."""
        self.spool.close()
