"""`ingest`: files → staging → rule engine (event-time order across all files) → DuckDB, as one
transaction. Re-ingesting a file already ingested changes nothing; an interrupted ingest leaves the
database as it was."""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, NamedTuple

import pyarrow as pa

from logcorr import __version__
from logcorr.errors import DatabaseError, InputError, UsageError
from logcorr.pipeline.parse import FileResult, parse_file
from logcorr.pipeline.shard import ShardDone, absorb, default_jobs, parse_sharded, plan
from logcorr.pipeline.stage import Stager
from logcorr.rules.engine import Engine, hot_flags_sql
from logcorr.rules.persist import load_state, save_state
from logcorr.rules.policy import Policy
from logcorr.rules.report import QuotaReport, TraceIntegrity, quota_report, trace_integrity
from logcorr.rules.state import RuleState
from logcorr.sources.detect import FORMATS
from logcorr.sources.reader import DEFAULT_MAX_DECOMPRESSED, DEFAULT_MAX_RECORD_BYTES, file_hash, open_input
from logcorr.store.connection import INGEST_MEMORY_LIMIT, connect
from logcorr.store.schema import EVENT_NAMES, refresh_trace_summary

INPUT_SUFFIXES = (".json", ".jsonl", ".ndjson", ".log", ".txt", ".gz")


@dataclass
class IngestResult:
    """Everything the summary shows, and what --json prints."""

    db: str
    run_id: int
    files: list[FileResult]
    elapsed_s: float = 0.0
    committed: bool = True
    drops: Counter[tuple[str, str]] = field(default_factory=Counter)  # (rule, system) → n
    redactions: Counter[str] = field(default_factory=Counter)
    stored_by_system: Counter[str] = field(default_factory=Counter)
    quota: QuotaReport | None = None  # the month's writes per system and threshold moments
    integrity: TraceIntegrity | None = None  # multi-system traces cut by rules in this run
    phases: dict[str, float] = field(default_factory=dict)  # wall seconds per pipeline phase
    _lap_start: float = field(default_factory=time.perf_counter, repr=False)

    def lap(self, phase: str) -> None:
        """Charge the wall time since the previous lap (or creation) to `phase`."""
        now = time.perf_counter()
        self.phases[phase] = round(self.phases.get(phase, 0.0) + now - self._lap_start, 3)
        self._lap_start = now

    @property
    def stored(self) -> int:
        return sum(f.stored for f in self.files)

    @property
    def dropped(self) -> int:
        return sum(f.dropped for f in self.files)

    @property
    def rejected(self) -> int:
        return sum(f.rejected for f in self.files)

    @property
    def bytes_in(self) -> int:
        return sum(f.stats.bytes_read for f in self.files)


class _Limits(NamedTuple):
    record_bytes: int  # a longer line or record is rejected
    decompressed: int  # a gzip input stops inflating here (bomb guard)


def max_decompressed_from_env() -> int:
    """The gzip inflation limit: $LOGCORR_MAX_DECOMPRESSED_GB (may be fractional), else 64 GiB."""
    raw = os.environ.get("LOGCORR_MAX_DECOMPRESSED_GB")
    if not raw:
        return DEFAULT_MAX_DECOMPRESSED
    try:
        gb = float(raw)
    except ValueError:
        gb = -1.0
    if not gb > 0:
        raise UsageError(f"LOGCORR_MAX_DECOMPRESSED_GB={raw!r} is not a positive number", "e.g. 8 or 0.5")
    return int(gb * (1 << 30))


def expand_inputs(paths: list[str]) -> list[str]:
    """Files to read: each path, with directories expanded to their log files (sorted)."""
    out: list[str] = []
    for p in paths:
        if p == "-":
            out.append(p)
            continue
        path = Path(p)
        if path.is_dir():
            found = sorted(
                str(f) for f in path.rglob("*") if f.is_file() and f.name.lower().endswith(INPUT_SUFFIXES)
            )
            if not found:
                raise InputError(f"directory {p} holds no log files ({', '.join(INPUT_SUFFIXES)})")
            out.extend(found)
        elif path.is_file():
            out.append(p)
        elif path.exists():
            raise InputError(f"{p} is not a regular file")
        else:
            raise InputError(f"input file {p} not found", "check the path; use - to read standard input")
    if out.count("-") > 1:
        raise UsageError("standard input (-) can be read only once")
    return out


def ingest(
    paths: list[str],
    db: str,
    policy: Policy | None = None,
    *,
    format_name: str | None = None,
    strict: bool = False,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    progress: Callable[[int, int], None] | None = None,
    jobs: int | None = None,
    max_decompressed: int | None = None,
) -> IngestResult:
    """Ingest `paths` into the database at `db`; returns per-file accounting and rule counts.

    Large line-per-record files are parsed by `jobs` worker processes (default: one per core). A gzip
    input stops inflating at `max_decompressed` bytes (default: $LOGCORR_MAX_DECOMPRESSED_GB, else 64 GiB)."""
    policy = policy or Policy()
    forced = None
    if format_name is not None:
        forced = FORMATS.get(format_name)
        if forced is None:
            raise UsageError(f"unknown format {format_name!r}", f"choose one of: {', '.join(FORMATS)}")
    files = expand_inputs(paths)
    limits = _Limits(max_record_bytes, max_decompressed or max_decompressed_from_env())
    started = time.perf_counter()
    con = connect(db, memory_limit=INGEST_MEMORY_LIMIT)
    # every query that needs an order says so (ORDER BY); without this DuckDB buffers large INSERT … SELECT
    # results to keep their input order, which under a small memory_limit runs out of memory
    con.execute("SET preserve_insertion_order = false")
    try:
        # _run opens the transaction itself, after staging: TEMP tables filled inside a transaction stay in
        # memory (DuckDB cannot spill transaction-local data), outside one they spill under memory_limit.
        # Nothing persistent is written before it, and the file lock keeps other writers out meanwhile.
        result = _run(con, db, files, policy, forced, limits, progress, jobs or default_jobs())
        if strict and result.rejected:
            con.execute("ROLLBACK")
            result.committed = False
        else:
            con.execute("COMMIT")
    except BaseException as e:
        with contextlib.suppress(Exception):
            con.execute("ROLLBACK")
        con.close()
        if isinstance(e, OSError):
            raise InputError(f"cannot read input: {e}") from e
        import duckdb

        if isinstance(e, duckdb.Error):
            raise DatabaseError(f"database error during ingest: {str(e).splitlines()[0]}") from e
        raise
    con.close()
    result.elapsed_s = time.perf_counter() - started
    return result


def _run(
    con: Any,
    db: str,
    files: list[str],
    policy: Policy,
    forced: Any,
    limits: _Limits,
    progress: Callable[[int, int], None] | None,
    jobs: int,
) -> IngestResult:
    run_id = _next_run_id(con)
    started_at = datetime.now(UTC).replace(tzinfo=None)
    known = {
        h
        for (h,) in con.execute(
            "SELECT DISTINCT content_hash FROM ingest_files WHERE status = 'ingested' AND content_hash IS NOT NULL"
        ).fetchall()
    }
    stager = Stager(con, policy)
    result = IngestResult(db=db, run_id=run_id, files=[])
    total = sum(os.path.getsize(f) for f in files if f != "-")
    done_before = 0

    for file_id, path in enumerate(files, start=1):
        fr = FileResult(file_id=file_id, path=path)
        result.files.append(fr)
        if path != "-":
            fr.size = os.path.getsize(path)
            fr.content_hash = file_hash(path)
            if fr.content_hash in known:
                fr.status = "already-ingested"
                done_before += fr.size
                continue
        cb = None
        if progress is not None:
            base = done_before

            def cb(n: int, base: int = base) -> None:
                progress(base + n, total)

        ranges = plan(path, fr.size or 0, jobs) if path != "-" else None
        if ranges is not None:
            _parse_sharded(path, fr, stager, ranges, jobs, forced, limits.record_bytes, policy, cb)
        else:
            stream = open_input(path)
            try:
                parse_file(stream, fr, stager, forced=forced, hash_stream=path == "-",
                           max_record_bytes=limits.record_bytes, max_decompressed=limits.decompressed,
                           progress=cb)  # fmt: skip
            finally:
                if path != "-":
                    stream.close()
        if path == "-":
            fr.content_hash = fr.stats.content_hash
            fr.size = fr.stats.bytes_read
            if fr.content_hash in known:
                stager.discard_file(file_id)
                fr.status = "already-ingested"
                continue
        if fr.stats.lines == 0 and not fr.rejected:
            fr.rejected_lines += 1
            fr.reject_reasons["empty file"] += 1
            stager.reject(file_id, 0, None, "empty file: no lines to read", "")
        elif fr.records == 0 and fr.rejected == 0 and not fr.skipped_lines:
            fr.stats.notes.append("no records (only blank lines)")
        known.add(fr.content_hash)
        done_before += fr.size or 0

    def open_run() -> None:
        con.execute("BEGIN TRANSACTION")
        _open_run(con, run_id, policy, len(files), started_at)

    _finish_run(con, run_id, stager, policy, result, open_run)
    return result


def _parse_sharded(
    path: str,
    fr: FileResult,
    stager: Stager,
    ranges: list[tuple[int, int]],
    jobs: int,
    forced: Any,
    max_record_bytes: int,
    policy: Policy,
    progress: Callable[[int], None] | None,
) -> None:
    """One large file parsed by worker processes; its shards are staged in file order."""

    def load(done: ShardDone, line_base: int) -> None:
        absorb(stager.con, done, stager.seq, line_base)
        stager.seq += done.rows
        stager.redactor.counts.update(done.redactions)
        fr.merge(done.result)
        if progress is not None:
            progress(fr.stats.bytes_read)

    parse_sharded(path, fr.file_id, ranges, jobs=jobs, forced=forced.name if forced else None,
                  max_record_bytes=max_record_bytes, policy=policy, load=load)  # fmt: skip


def _next_run_id(con: Any) -> int:
    return int(con.execute("SELECT coalesce(max(run_id), 0) + 1 FROM ingest_runs").fetchone()[0])


def _open_run(con: Any, run_id: int, policy: Policy, n_inputs: int, started_at: datetime) -> None:
    con.execute(
        "INSERT INTO ingest_runs (run_id, started_at, logcorr_version, policy_hash, files) VALUES (?, ?, ?, ?, ?)",
        [run_id, started_at, __version__, policy.digest(), n_inputs],
    )


def _start_run(con: Any, policy: Policy, n_inputs: int) -> int:
    """Open a row in `ingest_runs` inside the caller's transaction; returns its run id."""
    run_id = _next_run_id(con)
    _open_run(con, run_id, policy, n_inputs, datetime.now(UTC).replace(tzinfo=None))
    return run_id


def _finish_run(
    con: Any,
    run_id: int,
    stager: Stager,
    policy: Policy,
    result: IngestResult,
    open_run: Callable[[], None] | None = None,
) -> None:
    """Everything after staging: rules over the staged events, store, count, record the run. The rules
    run on TEMP tables only; `open_run` (if given) starts the transaction before the first persistent write."""
    stager.flush()
    result.redactions = stager.redactor.counts
    result.lap("parse")

    _register_files(con, result.files)
    _propagate_request_traces(con)
    rule_state = load_state(con, policy)
    result.lap("prepare")
    engine = _decide(con, policy, rule_state, result)
    if open_run is not None:
        open_run()
    save_state(con, engine.state, policy, run_id)
    result.lap("rules")
    _store(con, run_id, policy)
    result.lap("store")
    _count(con, result)
    con.execute(
        "UPDATE ingest_runs SET finished_at = now(), events_stored = ?, events_dropped = ?, rejected = ? WHERE run_id = ?",
        [result.stored, result.dropped, result.rejected, run_id],
    )
    _record_files(con, run_id, result.files)
    for name in (
        "staging",
        "staged_metrics",
        "staged_rejects",
        "ordered",
        "drops",
        "decisions",
        "fate",
        "files",
    ):
        con.execute(f"DROP TABLE IF EXISTS {name}")
    result.lap("account")


def ingest_streams(
    con: Any,
    db: str,
    inputs: list[tuple[str, IO[bytes]]],
    policy: Policy,
    *,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> IngestResult:
    """One ingest run over in-memory inputs `(name, stream)` (e.g. HTTP request bodies), inside the
    caller's transaction on `con`: the same adapters, staging, rules and store as `ingest`. Unlike
    files, an input whose content was seen before is not skipped: each is a new delivery, and the
    duplicate rule decides its events. Returns per-input accounting (`files[i]` is `inputs[i]`)."""
    run_id = _start_run(con, policy, len(inputs))
    stager = Stager(con, policy)
    result = IngestResult(db=db, run_id=run_id, files=[])
    for file_id, (name, stream) in enumerate(inputs, start=1):
        fr = FileResult(file_id=file_id, path=name)
        result.files.append(fr)
        parse_file(stream, fr, stager, hash_stream=True, max_record_bytes=max_record_bytes)
        fr.content_hash = fr.stats.content_hash
        fr.size = fr.stats.bytes_read
    _finish_run(con, run_id, stager, policy, result)
    return result


def _register_files(con: Any, files: list[FileResult]) -> None:
    table = pa.table(
        {
            "file_id": pa.array([f.file_id for f in files], pa.int32()),
            "path": pa.array(["<stdin>" if f.path == "-" else f.path for f in files], pa.string()),
        }
    )
    con.register("_files", table)
    con.execute("CREATE TEMP TABLE files AS SELECT * FROM _files")
    con.unregister("_files")


def _propagate_request_traces(con: Any) -> None:
    """Lines of one request (Convex function run, Worker invocation) take the trace id a sibling carries."""
    con.execute(
        """
        UPDATE staging SET trace_id = t.trace_id, trace_source = 'request_id'
        FROM (
            SELECT request_id, arg_min(trace_id, ts_ms) AS trace_id
            FROM staging WHERE request_id IS NOT NULL AND trace_id IS NOT NULL
            GROUP BY request_id
        ) AS t
        WHERE staging.request_id = t.request_id AND staging.trace_id IS NULL
        """
    )


_ENGINE_BATCH = 16_384


def _decide(con: Any, policy: Policy, state: RuleState, result: IngestResult) -> Engine:
    """Run the engine over staging in event-time order (ties in input order), continuing `state`;
    drops land in TEMP table `drops`. Fills the result's quota and trace-integrity fields."""
    con.execute(
        f"""
        CREATE TEMP TABLE ordered AS
        SELECT seq, pos, dup, {hot_flags_sql(policy)}
        FROM (
            SELECT seq, ts_ms, system, level, fingerprint, trace_id,
                   row_number() OVER (ORDER BY ts_ms, seq) AS pos,
                   CASE WHEN event_key IN (SELECT event_key FROM log_queue UNION ALL SELECT event_key FROM drop_ledger)
                        THEN 2
                        WHEN row_number() OVER (PARTITION BY event_key ORDER BY ts_ms, seq) > 1 THEN 1
                        ELSE 0 END::TINYINT AS dup
            FROM staging
        )
        """
    )
    engine = Engine(policy, state)
    sink = _DropSink(con)
    # the engine's input, materialised in position order so each batch is a complete range query:
    # drops can then be flushed into the same connection between batches (an open result forbids it)
    con.execute(
        """
        CREATE TEMP TABLE engine_in AS
        SELECT o.pos, s.ts_ms, s.system, s.level, s.trace_id, s.fingerprint, s.suppressed, o.dup, s.event_key,
               o.loop_hot, o.cross_hot
        FROM ordered o JOIN staging s USING (seq) ORDER BY o.pos
        """
    )
    total = con.execute("SELECT count(*) FROM engine_in").fetchall()[0][0]
    for lo in range(0, int(total), _ENGINE_BATCH):
        batch = con.sql(
            f"SELECT * FROM engine_in WHERE pos > {lo} AND pos <= {lo + _ENGINE_BATCH} ORDER BY pos"
        ).to_arrow_table()
        sink.add(engine.process(batch.to_pydict()))
    sink.close()
    con.execute("DROP TABLE engine_in")
    result.quota = quota_report(engine.state, engine.budget)
    result.integrity = trace_integrity(con, engine.stats)
    return engine


class _DropSink:
    """The engine's drops into TEMP tables `drops (pos, rule, decision)` and `decisions (decision, reason,
    rule_state)`. Drops of one flood or loop share their reason objects, so each distinct decision is
    written once per flush window and the drop rows stay two numbers and a rule name."""

    def __init__(self, con: Any) -> None:
        self.con = con
        self.ids: dict[tuple[str, str, str | None], int] = {}
        self.next_id = 0
        self.new: list[tuple[int, str, str | None]] = []
        self.pos: list[int] = []
        self.rule: list[str] = []
        self.did: list[int] = []
        con.execute("CREATE TEMP TABLE drops (pos BIGINT, rule VARCHAR, decision INTEGER)")
        con.execute("CREATE TEMP TABLE decisions (decision INTEGER, reason VARCHAR, rule_state VARCHAR)")

    def add(self, drops: list[tuple[int, str, str, str | None]]) -> None:
        ids, new = self.ids, self.new
        pos, rule, did = self.pos.append, self.rule.append, self.did.append
        for p, r, reason, state in drops:
            key = (r, reason, state)
            d = ids.get(key)
            if d is None:
                d = ids[key] = self.next_id
                self.next_id += 1
                new.append((d, reason, state))
            pos(p)
            rule(r)
            did(d)
        if len(self.pos) >= 65_536:
            self.flush()

    def flush(self) -> None:
        if self.pos:
            self._insert(
                "drops",
                pa.table({"pos": pa.array(self.pos, pa.int64()), "rule": pa.array(self.rule, pa.string()),
                          "decision": pa.array(self.did, pa.int32())}),
            )  # fmt: skip
            self.pos, self.rule, self.did = [], [], []
        if self.new:
            d, reason, state = zip(*self.new, strict=True)
            self._insert(
                "decisions",
                pa.table({"decision": pa.array(d, pa.int32()), "reason": pa.array(reason, pa.string()),
                          "rule_state": pa.array(state, pa.string())}),
            )  # fmt: skip
            self.new = []
        # a flood's drops are consecutive: deduplicating within one flush window keeps the table small
        # without holding every distinct reason of a long ingest in memory
        self.ids.clear()

    def close(self) -> None:
        self.flush()
        self.ids.clear()

    def _insert(self, table: str, data: pa.Table) -> None:
        self.con.register("_drops", data)
        self.con.execute(f"INSERT INTO {table} SELECT * FROM _drops")
        self.con.unregister("_drops")


_LEDGER_SLICE = 262_144

_SELECT_EVENT = """
    {base} + o.pos, make_timestamp(s.ts_ms * 1000), make_timestamp(s.client_ts_ms * 1000), s.system,
    s.system_label, s.level, s.message, s.trace_id, s.trace_source, s.request_id, s.user_id,
    s.context::JSON, s.stack, f.path, s.source_line, s.source_format, s.fingerprint, s.event_key, {run_id}
"""


def _store(con: Any, run_id: int, policy: Policy) -> None:
    base = con.execute(
        "SELECT greatest((SELECT coalesce(max(event_id), 0) FROM log_queue), "
        "(SELECT coalesce(max(event_id), 0) FROM drop_ledger))"
    ).fetchone()[0]
    cols = ", ".join(EVENT_NAMES)
    select = _SELECT_EVENT.format(base=int(base), run_id=int(run_id))
    # each event's fate in one narrow table, so the wide inserts below join staging once (several
    # joins against the wide staging rows ran out of memory under a small memory_limit)
    con.execute(
        "CREATE TEMP TABLE fate AS SELECT o.seq, o.pos, d.rule, d.decision FROM ordered o LEFT JOIN drops d USING (pos)"
    )
    con.execute(
        f"""
        INSERT INTO log_queue ({cols}, processed)
        SELECT {select}, false
        FROM staging s JOIN fate o USING (seq) JOIN files f USING (file_id)
        WHERE o.rule IS NULL
        ORDER BY o.pos
        """
    )
    refresh_trace_summary(con, run_id)
    # the ledger can take millions of rows: written in slices of input order, each join stays small
    # (staging is stored in sequence order, so each slice reads only its part of it)
    lo, hi = con.execute("SELECT coalesce(min(seq), 0), coalesce(max(seq), -1) FROM staging").fetchone()
    for start in range(int(lo), int(hi) + 1, _LEDGER_SLICE):
        con.execute(
            f"""
            INSERT INTO drop_ledger ({cols}, rule, reason, rule_state)
            SELECT {select}, o.rule, x.reason, x.rule_state
            FROM staging s JOIN fate o USING (seq) JOIN files f USING (file_id)
                 JOIN (SELECT decision, reason, rule_state::JSON AS rule_state FROM decisions) x USING (decision)
            WHERE o.rule IS NOT NULL AND s.seq >= {start} AND s.seq < {start + _LEDGER_SLICE}
            """
        )
    con.execute(
        f"""
        INSERT INTO metrics
        SELECT make_timestamp(m.ts_ms * 1000), m.system, m.topic, m.data::JSON, f.path, m.source_line,
               m.source_format, {int(run_id)}
        FROM staged_metrics m JOIN files f USING (file_id)
        """
    )
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


def _count(con: Any, result: IngestResult) -> None:
    by_file = {f.file_id: f for f in result.files}
    rows = con.execute(
        """
        SELECT s.file_id, count(*) FILTER (WHERE t.rule IS NULL), count(t.rule)
        FROM staging s JOIN fate t USING (seq)
        GROUP BY s.file_id
        """
    ).fetchall()
    for file_id, stored, dropped in rows:
        by_file[file_id].stored = int(stored)
        by_file[file_id].dropped = int(dropped)
    for rule, system, n in con.execute(
        """
        SELECT t.rule, s.system, count(*) FROM fate t JOIN staging s USING (seq) WHERE t.rule IS NOT NULL
        GROUP BY ALL
        """
    ).fetchall():
        result.drops[(rule, system)] = int(n)
    for system, n in con.execute(
        """
        SELECT s.system, count(*) FROM staging s JOIN fate t USING (seq)
        WHERE t.rule IS NULL GROUP BY ALL
        """
    ).fetchall():
        result.stored_by_system[system] = int(n)


def _record_files(con: Any, run_id: int, files: list[FileResult]) -> None:
    for f in files:
        con.execute(
            """
            INSERT INTO ingest_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                run_id, f.file_id, "<stdin>" if f.path == "-" else f.path, f.size, f.content_hash, f.status,
                f.stats.mode, ",".join(sorted(f.formats)), f.stats.lines, f.stats.blank, f.records,
                f.records_with_events, f.records_metric_only, f.records_skipped, f.rejected, f.events,
                f.stored, f.dropped, f.metrics, "; ".join(f.stats.notes) or None,
            ],
        )  # fmt: skip
