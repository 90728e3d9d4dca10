"""The store phase of ingest: accepted events into `log_queue` (and the recent window), dropped events
into the drop ledger (`drop_events`, `drop_reasons`), metrics and rejects into theirs; and the per-file
counts read back."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from logcorr.pipeline.spool import Extend
from logcorr.pipeline.stage import give_orphans_their_trace
from logcorr.rules.policy import Policy
from logcorr.sources.worker_formats import RAY_ID_EXPORTS
from logcorr.store.query import sql_words, ts_between
from logcorr.store.schema import EVENT_NAMES, TRACE_KEY, refresh_trace_summary

if TYPE_CHECKING:
    from logcorr.pipeline.ingest import IngestResult


_LEDGER_SLICE = 1 << 20
# DuckDB's row group (rows), and how many of them at most may hold one moment's accepted events on average for
# them to be written as read rather than sorted (`_spread`)
_ROW_GROUP = 122_880
_SPREAD = 8
# the spread of input order at most for which the accepted events are written by two threads without keeping
# their order (`_store_accepted`): each thread fills its own row groups with the batches it takes, which spread
# one moment's rows over about 2.5 times as many row groups (one export in time order: 1.0 → 2.6; two
# interleaved: 2.9 → 6.4; docs/performance.md, "accepted events written as read")
_SPREAD_UNORDERED = 3.0
_UNORDERED_THREADS = 2

# an event's row: the staged row `s` (see `Stager.events`), its fate `o` (with the trace id the stager joined
# in from a line of the same request, if any: `fate.trace_id` would put every trace id into the ledger join's
# build side, 50 MB more at 1M rows), its file `f`
_SELECT_EVENT = """
    {base} + {pos}, make_timestamp(s.ts_ms * 1000), make_timestamp(s.client_ts_ms * 1000), s.system,
    s.system_label, s.level, s.message, coalesce(s.trace_id, {request_trace}),
    CASE WHEN {request_trace} IS NULL THEN s.trace_source ELSE 'request_id' END, s.request_id, s.user_id,
    s.context, s.stack, {path}, s.source_line, s.source_format, s.fingerprint, s.event_key, {run_id}
"""
# the staged event rows, each joined with its fate and file, and those of `_SELECT_EVENT`
_JOINED = "_spooled s JOIN fate o USING (seq) JOIN files f ON f.file_id = s.file_id"
_JOINED_COLUMNS = {"pos": "o.pos", "request_trace": "o.request_trace", "path": "f.path"}
# … or as the columns `_fate_columns` adds to the staged rows read in order
_ADDED_COLUMNS = {"pos": "s._pos", "request_trace": "s._request_trace", "path": "s._path"}
# the columns of its fate `_fate_columns` adds to an accepted event's staged row, and to a dropped one's
_ACCEPTED_FATE = ("pos", "request_trace")
_DROPPED_FATE = ("pos", "request_trace", "rule", "decision")


class StagedEvents(Protocol):
    """What the store reads the staged event rows through (`Stager`)."""

    def events(
        self,
        sql: str,
        seq_range: tuple[int, int] | None = None,
        fetch: bool = False,
        extend: Extend | None = None,
    ) -> list[tuple[Any, ...]]: ...

    def event_spans(self) -> list[tuple[int, int]]: ...


def store(con: Any, run_id: int, policy: Policy, staged: StagedEvents) -> dict[int, int]:
    """Write the run's rows; returns, per file id, how many staged metrics were already kept (see
    `_store_metrics`)."""
    base = con.execute(
        "SELECT greatest((SELECT coalesce(max(event_id), 0) FROM log_queue), "
        "(SELECT coalesce(max(event_id), 0) FROM drop_events))"
    ).fetchall()[0][0]  # fetched whole: a registered scan needs the connection without an open result
    cols = ", ".join(EVENT_NAMES)
    _store_accepted(con, int(base), int(run_id), staged)
    # the drop ledger: each of this run's decisions once in drop_reasons, the dropped events in drop_events
    # with their decision's reason_id (the `drop_ledger` view joins them)
    reasons = int(con.execute("SELECT coalesce(max(reason_id), 0) + 1 FROM drop_reasons").fetchall()[0][0])
    con.execute(
        f"""
        INSERT INTO drop_reasons
        SELECT {reasons} + decision, reason, rule_state::JSON FROM decisions
        """
    )
    _store_dropped(con, int(base), int(run_id), reasons, staged)
    con.execute(
        f"""
        INSERT INTO drop_traces
        SELECT trace_id, min(ts), max(ts), {int(run_id)}, {TRACE_KEY} AS k FROM drop_events
        WHERE run_id = {int(run_id)} AND trace_id IS NOT NULL GROUP BY trace_id ORDER BY k
        """
    )
    # lines earlier ingests wrote without a trace id, of a request a line of this run names the trace of
    refresh_trace_summary(con, run_id, give_orphans_their_trace(con, run_id))
    repeated = _store_metrics(con, run_id)
    con.execute(
        f"""
        INSERT INTO rejects
        SELECT {int(run_id)}, f.path, r.source_line, r.source_format, r.reason, r.excerpt
        FROM staged_rejects r JOIN files f USING (file_id)
        """
    )
    # the recent window: accepted events newer than (newest event time − window), as in the live system
    window = int(policy.recent.window_minutes)
    con.execute("DELETE FROM recent_log_entries WHERE expires_at <= (SELECT max(ts) FROM log_queue)")
    con.execute(
        f"""
        INSERT INTO recent_log_entries ({cols}, expires_at)
        SELECT {cols}, ts + INTERVAL {window} MINUTE FROM log_queue
        WHERE run_id = {int(run_id)}
          AND ts + INTERVAL {window} MINUTE > (SELECT max(ts) FROM log_queue)
        """
    )
    return repeated


def _store_accepted(con: Any, base: int, run_id: int, staged: StagedEvents) -> None:
    """The accepted events into `log_queue`, with event ids in event-time order (their fate's `pos`: `base` +
    pos). Where input order keeps event time together enough for the zone maps (`_spread`), they are written as
    read, without a sort, in slices of input order (`_fate_columns`): by two threads where it keeps time closely
    together (at most `_SPREAD_UNORDERED`), else by one in input order. Otherwise they are joined with their fate
    and sorted (the table's rows then in event-id order)."""
    cols = ", ".join(EVENT_NAMES)
    spread = _spread(con, staged)
    if spread is None or spread > _SPREAD:
        select = _SELECT_EVENT.format(base=base, run_id=run_id, **_JOINED_COLUMNS)
        staged.events(
            f"""
            INSERT INTO log_queue ({cols}, processed)
            SELECT {select}, false FROM {_JOINED}
            WHERE o.rule IS NULL
            ORDER BY o.pos
            """
        )
        return
    # no join: DuckDB keeps a scan's order into the table (preserve_insertion_order), a hash join's not. Without
    # that order, two threads write less CPU too (the 600,000-request backend export: 15.1 → 13.6 CPU-s), but
    # more than two would spread the rows further
    select = _SELECT_EVENT.format(base=base, run_id=run_id, **_ADDED_COLUMNS)
    slices = con.execute(
        f"SELECT DISTINCT seq // {_LEDGER_SLICE} AS k FROM fate WHERE rule IS NULL ORDER BY k"
    ).fetchall()
    if spread <= _SPREAD_UNORDERED:
        (threads,) = con.execute("SELECT current_setting('threads')").fetchall()[0]
        how = _settings(con, preserve_insertion_order=False, threads=min(int(threads), _UNORDERED_THREADS))
    else:
        how = _settings(con, preserve_insertion_order=True)
    with how:
        for (k,) in slices:
            lo, hi = int(k) * _LEDGER_SLICE, (int(k) + 1) * _LEDGER_SLICE
            staged.events(
                f"""
                INSERT INTO log_queue ({cols}, processed)
                SELECT {select}, false FROM _spooled s
                WHERE s._pos IS NOT NULL
                """,
                seq_range=(lo, hi),
                extend=_fate_columns(con, lo, hi, dropped=False),
            )


def _store_dropped(con: Any, base: int, run_id: int, reasons: int, staged: StagedEvents) -> None:
    """The dropped events into `drop_events`, with their decision's reason_id (`reasons` + decision), in slices
    of input order. Where the staged rows are read in input order (`_read_in_order`), the columns of their fate
    and file are added to each batch as it is read (`_fate_columns`) and the rows written as read, without a
    hash join of a slice of `fate` (1M records: 3.5 CPU-s against 4.1, docs/performance.md, "the drop ledger
    written as read"); otherwise each slice is joined with its fate and file. Either way DuckDB writes the rows
    in the order its threads read them (`preserve_insertion_order` stays off: each thread's run of batches)."""
    cols = ", ".join(EVENT_NAMES)
    as_read = _read_in_order(staged)
    # the events can be millions: written in slices of input order, so that each statement reads only the
    # staged batches that hold its slice's rows and one slice of `fate` (a join's build side, whose zone maps
    # skip the other slices; or the columns `_fate_columns` holds in memory for it)
    slices = con.execute(
        f"SELECT DISTINCT seq // {_LEDGER_SLICE} AS k FROM fate WHERE rule IS NOT NULL ORDER BY k"
    ).fetchall()
    for (k,) in slices:
        lo, hi = int(k) * _LEDGER_SLICE, (int(k) + 1) * _LEDGER_SLICE
        if as_read:
            select = _SELECT_EVENT.format(base=base, run_id=run_id, **_ADDED_COLUMNS)
            staged.events(
                f"""
                INSERT INTO drop_events ({cols}, rule, reason_id)
                SELECT {select}, s._rule, {reasons} + s._decision FROM _spooled s
                WHERE s._rule IS NOT NULL
                """,
                seq_range=(lo, hi),
                extend=_fate_columns(con, lo, hi, dropped=True),
            )
            continue
        select = _SELECT_EVENT.format(base=base, run_id=run_id, **_JOINED_COLUMNS)
        staged.events(
            f"""
            INSERT INTO drop_events ({cols}, rule, reason_id)
            SELECT {select}, o.rule, {reasons} + o.decision
            FROM {_JOINED}
            WHERE o.seq >= {lo} AND o.seq < {hi} AND o.rule IS NOT NULL
            """,
            seq_range=(lo, hi),
        )


def _spread(con: Any, staged: StagedEvents) -> float | None:
    """How far input order spreads event time over the zone maps of `ts` (and of `event_id`): the number of row
    groups, on average, that would hold one moment's accepted events were they written as read by one thread; None
    where the staged rows are not read in input order (`_read_in_order`). Written so, the accepted events fill
    row groups of `_ROW_GROUP` rows in input order, each spanning a range of event time (of `pos`, which numbers
    all the events): the spread is those ranges summed over all the events' range. The sorted table's is 1. Input
    in time order or nearly so has about 1, a few exports each in time order about their number and more (two
    interleaved: 2.9), fewer than `_SPREAD` row groups in any order at most their number; lines out of order
    throughout a longer input more than `_SPREAD`, and those are sorted (`_store_accepted`). Event ids are
    event-time order either way (`base` + pos); the sort spared took about 2.5 CPU-s a million rows, and most of
    the store phase's wall time (docs/performance.md, "accepted events written as read")."""
    if not _read_in_order(staged):
        return None
    spans, events = con.execute(
        f"""
        SELECT coalesce(sum(hi - lo + 1), 0), (SELECT count(*) FROM fate) FROM (
            SELECT max(pos) AS hi, min(pos) AS lo FROM (
                SELECT pos, (row_number() OVER (ORDER BY seq) - 1) // {_ROW_GROUP} AS g FROM fate WHERE rule IS NULL
            ) GROUP BY g
        )
        """
    ).fetchall()[0]
    return int(spans) / int(events) if events else 0.0


def _read_in_order(staged: StagedEvents) -> bool:
    """Whether the staged rows are read in input order: each batch's sequence numbers after the last batch's."""
    spans = staged.event_spans()
    return not any(first <= last for (_, last), (first, _) in itertools.pairwise(spans))


def _fate_columns(con: Any, lo: int, hi: int, dropped: bool) -> Extend:
    """The columns of their fate and file that the store adds to each staged batch read in order
    (`_read_in_order`), for the events with a `seq` in [lo, hi) that one statement writes: the accepted ones
    (`_store_accepted`), or with `dropped` the dropped ones (`_store_dropped`). Each column of `_ACCEPTED_FATE`
    or `_DROPPED_FATE` named `_` + its name, NULL for a row not among those events (`_pos` is NULL for none of
    them, `_rule` for none of the dropped), then `_path`; a batch without such an event is left out. Read from
    `fate` in `seq` order."""
    names = _DROPPED_FATE if dropped else _ACCEPTED_FATE
    fate = con.sql(
        f"SELECT seq, {', '.join(names)} FROM fate WHERE rule IS {'NOT ' if dropped else ''}NULL "
        f"AND seq >= {lo} AND seq < {hi} ORDER BY seq"
    ).to_arrow_table()
    seq = fate.column("seq").combine_chunks()
    values = [fate.column(name).combine_chunks() for name in names]
    fields = [pa.field(f"_{name}", fate.schema.field(name).type) for name in names]
    del fate
    files = con.execute("SELECT file_id, path FROM files").fetchall()
    file_ids = pa.array([f for f, _ in files], pa.int32())
    paths = pa.array([p for _, p in files], pa.string())
    at = 0  # the events before this batch's

    def columns(batch: pa.RecordBatch) -> list[pa.Array] | None:
        nonlocal at
        n = batch.num_rows
        staged_seq = batch.column("seq")
        # the events of this batch: the next ones whose seq is at most its last (at most n of them)
        ahead = seq.slice(at, n)
        k = (pc.sum(pc.less_equal(ahead, staged_seq[-1])).as_py() or 0) if n else 0
        if not k:
            return None
        if k == n:  # every row among them: the same seqs, in the same order
            if ahead[0].as_py() != staged_seq[0].as_py():
                raise RuntimeError(f"store: event {ahead[0]} is not staged row {staged_seq[0]}")
            mine = [v.slice(at, k) for v in values]
        else:
            where = pc.index_in(staged_seq, value_set=ahead.slice(0, k))
            if where.null_count != n - k:  # an event not among the staged rows: nothing is stored
                raise RuntimeError(
                    f"store: {k} events up to seq {staged_seq[-1]}, {n - where.null_count} staged"
                )
            mine = [v.slice(at, k).take(where) for v in values]
        at += k
        path = pa.DictionaryArray.from_arrays(pc.index_in(batch.column("file_id"), value_set=file_ids), paths)
        return [*mine, path]

    return [*fields, pa.field("_path", pa.dictionary(pa.int32(), pa.string()))], columns


@contextlib.contextmanager
def _settings(con: Any, **values: bool | int) -> Iterator[None]:
    """DuckDB's settings `values` for the statements inside (ingest turns `preserve_insertion_order` off: see
    `ingest.ingest`), and back as they were after them."""
    was = {name: con.execute(f"SELECT current_setting('{name}')").fetchall()[0][0] for name in values}
    for name, value in values.items():
        con.execute(f"SET {name} = {str(value).lower()}")
    try:
        yield
    finally:
        with contextlib.suppress(Exception):  # a failed statement may have aborted the transaction
            for name, value in was.items():
                con.execute(f"SET {name} = {str(value).lower()}")


# what names one run in a `function_execution` metric whichever export gave it: `npx convex logs --jsonl`'s
# Completion and a log stream's event carry different usage counters (each has some the other has not), so
# two exports of one run are the same metric when these agree (docs/formats.md, "Duplicate delivery")
_RUN_FIELDS = ("type", "path", "component_path", "status", "cached", "execution_time_ms", "request_id")


def _run(alias: str) -> str:
    paths = ", ".join(f"'$.{k}'" for k in _RUN_FIELDS)
    return f"json_extract_string({alias}.data, [{paths}])"


# what a Worker invocation's two exports may both carry, beside its Ray ID: Logpush `workers_trace_events` and a
# tail capture (`wrangler tail`, a Tail Worker's TraceItems) are written from one workerd Trace (its
# eventTimestamp, scriptName, outcome, cpuTime, wallTime), but each carries fields the other lacks (the tail no
# CPU or wall time, no event type), so two copies are one invocation when those both carry agree
# (docs/formats.md, "Duplicate delivery"). The counts of lines are left out: Logpush drops the lines past its
# 16,384-character limit, the tail does not
_INVOCATION_TEXT = ("script", "dispatch_namespace", "entrypoint", "event_type", "outcome")
_INVOCATION_NUMBERS = ("cpu_ms", "wall_ms")


def _invocation_fields(data: str) -> str:
    """SQL: the Ray ID and the fields of `_INVOCATION_TEXT` and `_INVOCATION_NUMBERS` of the data `data`, as a
    list of text (one parse of the data)."""
    paths = ", ".join(f"'$.{k}'" for k in ("ray_id", *_INVOCATION_TEXT, *_INVOCATION_NUMBERS))
    return f"json_extract_string({data}, [{paths}])"


def _other_export(alias: str) -> str:
    """SQL: the source format of the other export of a Worker invocation `alias` gives (the two that carry its
    Ray ID), NULL for any other; as a join key it pairs only copies of two exports."""
    a, b = RAY_ID_EXPORTS
    return f"CASE {alias}.source_format WHEN '{a}' THEN '{b}' WHEN '{b}' THEN '{a}' END"


def _one_invocation(a: str, b: str) -> str:
    """SQL: the `worker_invocation` fields (`_invocation_fields`) `a` and `b` of two exports name one invocation:
    the same Ray ID (one without is named by nothing that tells invocations apart), and the fields both carry
    agree (numbers as numbers)."""
    agree = []
    for i, k in enumerate((*_INVOCATION_TEXT, *_INVOCATION_NUMBERS), start=2):
        x, y = f"{a}[{i}]", f"{b}[{i}]"
        if k in _INVOCATION_NUMBERS:
            x, y = f"TRY_CAST({x} AS DOUBLE)", f"TRY_CAST({y} AS DOUBLE)"
        agree.append(f"({x} IS NULL OR {y} IS NULL OR {x} = {y})")
    return f"({a}[1] = {b}[1] AND {' AND '.join(agree)})"


# the topics two exports of one record may give with other data (`_store_metrics`' `across`)
_ACROSS_EXPORTS = "('function_execution', 'worker_invocation')"


def _same_delivery(a: str, b: str) -> str:
    """SQL: the metrics `a` and `b` (of one time, system and topic) are one: the same data, or a function run
    that two exports (source formats) of it both gave."""
    # (a list's null elements compare equal: a run outside a component has no `component_path` in either; one
    # without a request id is named by nothing that tells runs apart)
    return f"""({a}.data IS NOT DISTINCT FROM {b}.data
        OR ({a}.topic = 'function_execution' AND {a}.source_format <> {b}.source_format
            AND json_extract_string({a}.data, '$.request_id') IS NOT NULL AND {_run(a)} = {_run(b)}))"""


def _completed_copy(e: str, m: str) -> str:
    """SQL: the stored metric `e` is the Worker invocation `m` (of one time, system and topic) delivers again,
    since completed by its other export's copy (`_complete_invocations`): of one export and Ray ID, and `e`'s
    data holds all of `m`'s. (A tail capture kept first gains Logpush's cpu_ms, wall_ms and event_type: the same
    tail record ingested again no longer has its data, and was stored a second time.)"""
    entries = "map_entries(json_transform({}.data, '\"MAP(VARCHAR, JSON)\"'))"
    return f"""({e}.topic = 'worker_invocation' AND {e}.source_format = {m}.source_format
        AND json_extract_string({m}.data, '$.ray_id') IS NOT NULL
        AND list_has_all({entries.format(e)}, {entries.format(m)}))"""


def _store_metrics(con: Any, run_id: int) -> dict[int, int]:
    """The staged metrics into `metrics`, each once: a Convex log-stream retry or two overlapping Logpush
    exports deliver the same record again, and a usage record counted twice is a cost counted twice. The same
    metric is the same time, system, topic and data (function executions carry their request id, Worker
    invocations their Ray ID), a function run as `npx convex logs --jsonl` and a log stream both give it, or a
    Worker invocation as Logpush and a tail capture both give it (`_one_invocation`); the first in input order is
    kept, and none that an earlier ingest kept, but a kept invocation takes the fields only its other copy has
    (`_complete_invocations`). Returns how many were left out, per file id (each line is accounted for: a
    left-out metric is counted to its file)."""
    staged, lo, hi = con.execute("SELECT count(*), min(ts_ms), max(ts_ms) FROM staged_metrics").fetchall()[0]
    if not staged:
        return {}
    span = ts_between("e.ts", lo, hi)
    # the earlier ones looked for only when there are any in the input's time range (the zone maps of `ts`
    # answer that): against none, the anti-join still cost 0.1 s at 1M records
    (earlier,) = con.execute(f"SELECT count(*) FROM metrics e WHERE {span}").fetchall()[0]
    # invocations of two exports paired only where the input or the database in its time range has both (a
    # Logpush-only ingest spends nothing on it)
    (invocation_exports,) = con.execute(
        f"""SELECT count(DISTINCT source_format) FROM (
            SELECT source_format FROM metrics e WHERE {span} AND topic = 'worker_invocation'
            UNION ALL SELECT source_format FROM staged_metrics WHERE topic = 'worker_invocation')
        WHERE source_format IN ({sql_words(RAY_ID_EXPORTS)})"""
    ).fetchall()[0]
    not_earlier = (
        f"""AND NOT EXISTS (
            SELECT 1 FROM metrics e
            WHERE {span} AND e.ts = make_timestamp(m.ts_ms * 1000) AND e.system = m.system AND e.topic = m.topic
              AND ({_same_delivery("e", "m")} OR {_completed_copy("e", "m")})
        )"""
        if earlier
        else ""
    )
    if earlier and invocation_exports > 1:
        _invocation_copies(con, span)
        not_earlier += "AND m.rowid NOT IN (SELECT copy FROM invocation_copies)"
    # a function run or a Worker invocation two exports gave, where a millisecond holds such metrics from two
    # formats: looked for only when the input has two (else each millisecond of a Logpush-only input would be
    # grouped for nothing)
    (formats,) = con.execute(
        f"SELECT count(DISTINCT source_format) FROM staged_metrics WHERE topic IN {_ACROSS_EXPORTS}"
    ).fetchall()[0]
    # (an invocation's fields read once per record, then pairs joined on the other export: comparing the two
    # records' data pair by pair in the EXISTS made the insert of 200k records, each invocation in both
    # exports, take 0.86 s; this 0.24 s)
    across = (
        f"""UNION ALL
            SELECT id FROM (
                WITH two AS (
                    SELECT c.rowid AS id, c.* FROM staged_metrics c SEMI JOIN (
                        SELECT ts_ms, system, topic FROM staged_metrics WHERE topic IN {_ACROSS_EXPORTS}
                        GROUP BY ALL HAVING min(source_format) <> max(source_format)
                    ) USING (ts_ms, system, topic)
                ), invocations AS (
                    SELECT id, ts_ms, system, file_id, source_line, {_other_export("two")} AS other_export,
                           source_format, {_invocation_fields("data")} AS fields
                    FROM two WHERE topic = 'worker_invocation'
                )
                SELECT c.id FROM two c
                WHERE c.topic = 'function_execution' AND EXISTS (
                    SELECT 1 FROM two d
                    WHERE d.ts_ms = c.ts_ms AND d.system = c.system AND d.topic = c.topic
                      AND (d.file_id, d.source_line, d.id) < (c.file_id, c.source_line, c.id)
                      AND {_same_delivery("d", "c")}
                )
                UNION ALL
                SELECT c.id FROM invocations c JOIN invocations d
                  ON d.ts_ms = c.ts_ms AND d.system = c.system AND d.source_format = c.other_export
                WHERE (d.file_id, d.source_line, d.id) < (c.file_id, c.source_line, c.id)
                  AND {_one_invocation("d.fields", "c.fields")}
            )"""
        if formats > 1
        else ""
    )
    (stored,) = con.execute(
        f"""
        INSERT INTO metrics
        SELECT make_timestamp(m.ts_ms * 1000), m.system, m.topic, m.data, f.path, m.source_line,
               m.source_format, {int(run_id)}
        FROM staged_metrics m JOIN files f USING (file_id)
        WHERE m.rowid NOT IN (
            -- the data compared only where time, system and topic are shared (few rows): hashing every
            -- record's data cost the 1M-record ingest 0.26 s
            SELECT id FROM (
                SELECT c.rowid AS id,
                       row_number() OVER (PARTITION BY c.ts_ms, c.system, c.topic, c.data
                                          ORDER BY c.file_id, c.source_line, c.rowid) AS k
                FROM staged_metrics c SEMI JOIN (
                    SELECT ts_ms, system, topic FROM staged_metrics GROUP BY ALL HAVING count(*) > 1
                ) USING (ts_ms, system, topic)
            ) WHERE k > 1
            {across}
        ) {not_earlier}
        """
    ).fetchall()[0]
    if stored < staged and invocation_exports > 1:
        _complete_invocations(con, span)
    con.execute("DROP TABLE IF EXISTS invocation_copies")
    if stored == staged:
        return {}
    # per file: staged against stored (this run's rows, by the file's path)
    rows = con.execute(
        f"""
        SELECT f.file_id, s.n - coalesce(k.n, 0)
        FROM (SELECT file_id, count(*) AS n FROM staged_metrics GROUP BY file_id) s JOIN files f USING (file_id)
        LEFT JOIN (SELECT source_file, count(*) AS n FROM metrics WHERE run_id = {int(run_id)} GROUP BY 1) k
          ON k.source_file = f.path
        """
    ).fetchall()
    return {int(fid): int(n) for fid, n in rows if n}


def _invocation_copies(con: Any, span: str) -> None:
    """The staged `worker_invocation` metrics (`copy`, their rowid; `data`, `file_id`, `source_line`) that a
    stored one of the other export (`kept`, its rowid; `kept_data`) in `span` is the same invocation of, into
    the temporary table `invocation_copies`."""
    # the pairs of one millisecond and two exports first, joined on keys read without parsing the data, then
    # their data compared (apart: in one statement the Ray IDs become join keys, each record's data parsed
    # for it, 0.1 s per 100k records)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE invocation_copies AS
        SELECT m.rowid AS copy, m.data, m.file_id, m.source_line, e.rowid AS kept, e.data AS kept_data,
               {_invocation_fields("m.data")} AS fields, {_invocation_fields("e.data")} AS kept_fields
        FROM staged_metrics m JOIN metrics e
          ON e.ts = make_timestamp(m.ts_ms * 1000) AND e.system = m.system AND e.topic = m.topic
             AND e.source_format = {_other_export("m")}
        WHERE {span} AND m.topic = 'worker_invocation'
        """
    )
    con.execute(f"DELETE FROM invocation_copies WHERE {_one_invocation('kept_fields', 'fields')} IS NOT TRUE")


def _complete_invocations(con: Any, span: str) -> None:
    """A kept `worker_invocation` metric whose other export's copy was left out takes the fields only that copy
    has: a tail capture's has no CPU or wall time, which its Logpush copy (ingested with it or later) gives. Its
    own fields are kept as they are (its source too); where several copies were left out, the first in input
    order gives."""
    _invocation_copies(con, span)  # (again: the kept one may be of this ingest)
    con.execute(
        """
        UPDATE metrics SET data = u.data
        FROM (
            SELECT kept, json_merge_patch(arg_min(data, (file_id, source_line, copy)), any_value(kept_data)) AS data
            FROM invocation_copies
            WHERE NOT list_has_all(json_keys(kept_data), json_keys(data))
            GROUP BY kept
        ) u
        WHERE metrics.rowid = u.kept
        """
    )


def count(con: Any, result: IngestResult) -> None:
    by_file = {f.file_id: f for f in result.files}
    rows = con.execute("SELECT file_id, system, rule, count(*) FROM fate GROUP BY ALL").fetchall()
    for file_id, system, rule, n in rows:
        f = by_file[file_id]
        if rule is None:
            f.stored += int(n)
            result.stored_by_system[system] += int(n)
        else:
            f.dropped += int(n)
            result.drops[(rule, system)] += int(n)
