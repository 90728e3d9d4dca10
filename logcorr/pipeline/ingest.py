"""`ingest`: files → staging → rule engine (event-time order across all files) → DuckDB, as one
transaction. Re-ingesting a file already ingested changes nothing; an interrupted ingest leaves the
database as it was."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from logcorr import __version__
from logcorr.errors import DatabaseError, InputError, UsageError
from logcorr.gcpause import gc_paused
from logcorr.model import path_text
from logcorr.pipeline import scratch
from logcorr.pipeline.decide import decide, register_files
from logcorr.pipeline.parse import FileResult, parse_file
from logcorr.pipeline.shard import (
    ByteRange,
    ShardDone,
    Shards,
    parse_sharded,
    plan,
    stop_workers,
    submit_whole,
)
from logcorr.pipeline.spool import SpoolWriteError
from logcorr.pipeline.stage import Stager
from logcorr.pipeline.store import count, store
from logcorr.pipeline.workers import (
    INPUT_SUFFIXES,
    default_jobs,
    enough_whole,
    walk_dir,
    work_of,
    worker_pool,
)
from logcorr.rules.persist import load_state, save_state
from logcorr.rules.policy import Policy
from logcorr.rules.report import QuotaReport, TraceIntegrity
from logcorr.sources import convex_snapshot
from logcorr.sources.bytestream import file_hash, open_input, open_same
from logcorr.sources.convex_text import ENV_ZONE, LocalZone, zone_from_env, zone_hint
from logcorr.sources.detect import FORMATS
from logcorr.sources.reader import DEFAULT_MAX_DECOMPRESSED, DEFAULT_MAX_RECORD_BYTES
from logcorr.store import interrupt
from logcorr.store.connection import (
    ENGINE_MEMORY_LIMIT,
    INGEST_MEMORY_LIMIT,
    STORE_MEMORY_LIMIT,
    connect,
    keep_blocks,
    memory_limit_setting,
    out_of_memory,
)
from logcorr.units import size_bytes

# rejected lines --strict names
FIRST_REJECTS = 5


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
    # with --strict and rejects, the first few (file, line, reason): rolled back with the rest
    first_rejects: list[tuple[str, int, str]] = field(default_factory=list)
    # with --strict: the lines an earlier run rejected in the files this one found already ingested (they still
    # hold them; --strict fails on them as on this run's)
    earlier_rejected: int = 0
    metrics_repeated: int = 0  # staged metrics left out: an earlier delivery of each was kept
    # temporary directories of killed ingests this one removed first: (path, bytes)
    swept: list[tuple[str, int]] = field(default_factory=list)
    # files in the input directories not read: not named as logs (see `expand_inputs`)
    passed_over: list[str] = field(default_factory=list)
    # entries of the input directories not read: hidden ones (`.git`, `.cache`; see `workers.walk_dir`)
    passed_over_hidden: list[str] = field(default_factory=list)
    # symbolic links in the input directories to nothing: (path, where it points)
    broken_links: list[tuple[str, str]] = field(default_factory=list)
    # files of a Convex snapshot export's folder not read: tables that hold no logs (see `expand_inputs`)
    passed_over_tables: list[str] = field(default_factory=list)
    # events dated over a day after this machine's clock, per system: (count, newest ms): a client clock set
    # ahead, which moves that system's rule clock (see `decide.FUTURE_MARGIN_MS`)
    future: dict[str, tuple[int, int]] = field(default_factory=dict)
    # per system, its saved clock where some of its input was older (late events: decided at that clock)
    late_clocks: dict[str, int] = field(default_factory=dict)
    # content hash → (run, path) of its first ingest before this run, for the inputs found already ingested
    # (`_first_reads`): what their notes and `--strict` name
    first_reads: dict[str, tuple[int, str]] = field(default_factory=dict, repr=False)
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
    zone: LocalZone  # the zone of times written without one (`npx convex logs` text)


def max_decompressed_from_env() -> int:
    """The gzip inflation limit: $LOGCORR_MAX_DECOMPRESSED_GB (may be fractional), else 64 GiB."""
    raw = os.environ.get("LOGCORR_MAX_DECOMPRESSED_GB")
    if not raw:
        return DEFAULT_MAX_DECOMPRESSED
    try:
        gb = float(raw)
    except ValueError:
        gb = -1.0
    size = size_bytes(gb, 1 << 30)
    if size is None:
        raise UsageError(f"LOGCORR_MAX_DECOMPRESSED_GB={raw!r} is not a positive number", "e.g. 8 or 0.5")
    return size


def _is_duckdb(path: Path) -> bool:
    """Whether the file starts as a DuckDB database does: a checksum, then `DUCK`."""
    try:
        with open(path, "rb") as f:
            return f.read(12)[8:] == b"DUCK"
    except OSError:
        return False  # reading it later says why it cannot be read


def _link_target(link: Path) -> str:
    """Where a symbolic link points, as it says it (relative to its folder, or absolute), for a message."""
    try:
        return path_text(os.readlink(link))
    except OSError as e:  # gone since
        return e.strerror or "unreadable"


def expand_inputs(
    paths: list[str],
    passed: list[str] | None = None,
    tables: list[str] | None = None,
    hidden: list[str] | None = None,
    broken: list[tuple[str, str]] | None = None,
) -> list[str]:
    """Files to read: each path, with directories expanded to their log files (sorted). The other files found
    in those directories are added to `passed` (a rotated `app.log.1`, `x.gzip`, a file without a suffix:
    the summary names them, so that none is left out unsaid), those of a Convex snapshot export that are
    no log table (`users/documents.jsonl`) to `tables`, their hidden entries, not walked into (`.git`,
    `.DS_Store`: `workers.walk_dir`), to `hidden`, and their broken symbolic links to `broken` (with where
    each points). A path given, hidden or not, is read; a broken link given is an error."""
    out: list[str] = []
    for p in paths:
        if p == "-":
            out.append(p)
            continue
        path = Path(p)
        if path.is_dir():
            dotted: list[Path] = []
            every = walk_dir(path, dotted)
            if hidden is not None:
                hidden.extend(path_text(str(f)) for f in dotted)
            no_logs = {str(f) for f in convex_snapshot.export_files_without_logs(every) if f.is_file()}
            found = [
                str(f) for f in every
                if f.is_file() and f.name.lower().endswith(INPUT_SUFFIXES) and str(f) not in no_logs
            ]  # fmt: skip
            if tables is not None:
                tables.extend(sorted(path_text(f) for f in no_logs))
            # a link to nothing was said to be "not named as logs" of a `dangling.jsonl`
            links = [(str(f), _link_target(f)) for f in every if f.is_symlink() and not f.exists()]
            if broken is not None:
                broken.extend((path_text(f), target) for f, target in links)
            if passed is not None:
                taken = set(found) | no_logs | {f for f, _ in links}
                passed.extend(path_text(str(f)) for f in every if str(f) not in taken and not f.is_dir())
            if not found and no_logs:
                raise InputError(
                    f"directory {path_text(p)} holds a Convex export without a log table "
                    f"({', '.join(convex_snapshot.LOG_TABLES)})",
                    "give a table's documents.jsonl to read it",
                )
            if not found:
                names = ", ".join(path_text(str(f)) for f in dotted[:3]) + (", …" if len(dotted) > 3 else "")
                why = [f"its hidden entries are not read ({names}): give a path to read it"] if dotted else []
                why += [f"{path_text(f)} is a broken symbolic link (→ {target})" for f, target in links[:3]]
                raise InputError(
                    f"directory {path_text(p)} holds no log files ({', '.join(INPUT_SUFFIXES)})",
                    "; ".join(why) or None,
                )
            out.extend(found)
        elif path.is_file():
            if _is_duckdb(path):  # `logcorr ingest app.duckdb`: its pages were rejected as "not JSON" lines
                raise InputError(f"{p} is a DuckDB database, not a log export",
                                 f"give it as --db {p} (to add logs to it: logcorr ingest FILES --db {p})")  # fmt: skip
            out.append(p)
        elif path.exists():
            raise InputError(f"{path_text(p)} is not a regular file")
        elif path.is_symlink():  # it said "input file … not found" of a path `ls` lists
            raise InputError(
                f"input file {path_text(p)} is a broken symbolic link (→ {_link_target(path)})",
                "nothing is where it points: fix the link, or give the log file's own path",
            )
        else:
            raise InputError(
                f"input file {path_text(p)} not found", "check the path; use - to read standard input"
            )
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
    pool: ProcessPoolExecutor | None = None,
    local_tz: str | None = None,
) -> IngestResult:
    """Ingest `paths` into the database at `db`; returns per-file accounting and rule counts.

    Large line-per-record files are parsed by `jobs` worker processes (default: one per core): `pool`'s when
    the caller started them already (see `workers.early_pool`; ingest shuts them down when parsing ends, the
    caller when ingest failed before), else its own. A gzip input stops inflating at `max_decompressed`
    bytes (default: $LOGCORR_MAX_DECOMPRESSED_GB, else 64 GiB). `local_tz`: the IANA zone of times written
    without one (`npx convex logs` text; default: $LOGCORR_LOCAL_TZ, else this machine's zone)."""
    policy = policy or Policy()
    try:
        zone = zone_from_env(local_tz)
    except ValueError as e:
        raise UsageError(
            f"{e} (--local-tz / ${ENV_ZONE})", zone_hint(local_tz or os.environ.get(ENV_ZONE, ""))
        ) from e
    forced = None
    if format_name is not None:
        forced = FORMATS.get(format_name)
        if forced is None:
            raise UsageError(f"unknown format {format_name!r}", f"choose one of: {', '.join(FORMATS)}")
    passed: list[str] = []
    tables: list[str] = []
    hidden: list[str] = []
    broken: list[tuple[str, str]] = []
    files = expand_inputs(paths, passed, tables, hidden, broken)
    limits = _Limits(max_record_bytes, max_decompressed or max_decompressed_from_env(), zone)
    started = time.perf_counter()
    interrupt.reset()
    swept = scratch.sweep()  # what killed ingests left in $TMPDIR: it may be the room this one needs
    con = connect(db, memory_limit=INGEST_MEMORY_LIMIT)
    # every query that needs an order says so (ORDER BY); without this DuckDB buffers large INSERT … SELECT
    # results to keep their input order, which under a small memory_limit runs out of memory
    con.execute("SET preserve_insertion_order = false")
    try:
        # _run opens the transaction itself, after staging: TEMP tables filled inside a transaction stay in
        # memory (DuckDB cannot spill transaction-local data), outside one they spill under memory_limit.
        # Nothing persistent is written before it, and the file lock keeps other writers out meanwhile.
        result = _run(con, db, files, policy, forced, limits, progress, jobs or default_jobs(), pool)
        earlier: list[tuple[str, int, str]] = []
        if strict:
            result.earlier_rejected, earlier = _earlier_rejects(con, result.files, result.first_reads)
        if strict and (result.rejected or result.earlier_rejected):
            # named before the rollback takes them: --strict stores nothing, so the summary is where they are
            result.first_rejects = [
                (str(p), int(n), str(why))
                for p, n, why in con.execute(
                    "SELECT f.path, r.source_line, r.reason FROM rejects r JOIN ingest_files f "
                    "ON f.run_id = r.run_id AND f.path = r.source_file WHERE r.run_id = ? "
                    "ORDER BY f.file_id, r.source_line LIMIT ?",
                    [result.run_id, FIRST_REJECTS],
                ).fetchall()
            ]
            result.first_rejects += earlier[: FIRST_REJECTS - len(result.first_rejects)]
            con.execute("ROLLBACK")
            result.committed = False
        else:
            with interrupt.deferred(result.run_id):  # Ctrl-C now would report a committed ingest as stopped
                con.execute("COMMIT")
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt) and interrupt.committed_run() is not None:
            con.close()
            raise
        with contextlib.suppress(Exception):
            con.execute("ROLLBACK")
        con.close()
        if isinstance(e, SpoolWriteError):
            raise InputError(
                f"cannot write ingest's temporary files: {e.strerror} ({e.filename})",
                f"ingest stages the parsed rows in {tempfile.gettempdir()} (about as much as the input): free space "
                "there, or set TMPDIR to a directory with room",
            ) from e
        if isinstance(e, OSError):
            raise InputError(f"cannot read input: {e}") from e
        from concurrent.futures.process import BrokenProcessPool

        if isinstance(e, BrokenProcessPool):
            raise InputError(
                "a parse worker process ended abruptly (killed, or out of memory); nothing was stored",
                "run the ingest again; if it happens again, give it more memory or fewer workers (--jobs 1)",
            ) from e
        import duckdb

        if isinstance(e, duckdb.OutOfMemoryException):
            what, first, hint = out_of_memory(e)
            raise DatabaseError(f"DuckDB ran out of {what} during ingest: {first}", hint) from e
        if isinstance(e, duckdb.Error) and interrupt.requested():
            raise KeyboardInterrupt from e  # DuckDB's own words for an interruption (an aborted transaction …)
        if isinstance(e, duckdb.Error):
            raise DatabaseError(f"database error during ingest: {str(e).splitlines()[0]}") from e
        raise
    con.close()
    result.elapsed_s = time.perf_counter() - started
    result.swept = swept
    result.passed_over = passed
    result.passed_over_tables = tables
    result.passed_over_hidden = hidden
    result.broken_links = broken
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
    pool: ProcessPoolExecutor | None = None,
) -> IngestResult:
    run_id = _next_run_id(con)
    started_at = datetime.now(UTC).replace(tzinfo=None)
    known = {
        h
        for (h,) in con.execute(
            "SELECT DISTINCT content_hash FROM ingest_files WHERE status = 'ingested' AND content_hash IS NOT NULL"
        ).fetchall()
    }
    read_before = _read_before(con)
    with Stager(con, policy) as stager, contextlib.ExitStack() as workers:
        result = IngestResult(db=db, run_id=run_id, files=[])
        total = sum(os.path.getsize(f) for f in files if f != "-")
        if pool is not None:
            workers.callback(pool.shutdown, wait=True, cancel_futures=True)
        ahead: dict[int, _Ahead] = {}
        planned: dict[int, Shards | None] = {}
        if jobs >= 2 and len(files) > 1:
            chosen = _whole_files(files, read_before, known, jobs, planned)
            if chosen:
                if pool is None:
                    pool = worker_pool(jobs)
                    workers.callback(pool.shutdown, wait=True, cancel_futures=True)
                for file_id, size, ident, digest in chosen:
                    future = submit_whole(pool, files[file_id - 1], file_id, size, ident,
                                          forced=forced.name if forced else None, max_record_bytes=limits.record_bytes,
                                          policy=policy, out_dir=stager.spool_directory(),
                                          max_decompressed=limits.decompressed, zone=limits.zone)  # fmt: skip
                    ahead[file_id] = _Ahead(future, size, digest)
        try:
            _parse_files(con, db, files, result, stager, known, read_before, ahead, planned, forced, limits, policy,
                         progress, total, jobs, pool, workers)  # fmt: skip
        except BaseException:
            if ahead and pool is not None:
                stop_workers(pool)  # what they parse now would be thrown away
            raise
        workers.close()  # the workers end before the rules run
        result.first_reads = _first_reads(con, result.files)
        _name_first_reads(result.files, result.first_reads)

        def open_run() -> None:
            limit = memory_limit_setting(STORE_MEMORY_LIMIT)
            keep_blocks(con, limit)  # before the transaction: a setting DuckDB refuses would abort it
            con.execute("BEGIN TRANSACTION")
            _open_run(con, run_id, policy, len(files), started_at)
            con.execute("SET memory_limit = ?", [limit])

        loop_limits = (memory_limit_setting(ENGINE_MEMORY_LIMIT), memory_limit_setting(INGEST_MEMORY_LIMIT))
        _finish_run(con, run_id, stager, policy, result, open_run, loop_limits)
        return result


def _first_reads(con: Any, files: list[FileResult]) -> dict[str, tuple[int, str]]:
    """Of the inputs found already ingested: their content hash → the run and path that first ingested the
    same bytes (the earliest run, its first file). Called before this run's files are recorded, so only
    earlier runs answer."""
    hashes = sorted({f.content_hash for f in files if f.status == "already-ingested" and f.content_hash})
    first: dict[str, tuple[int, str]] = {}
    if not hashes:
        return first
    for digest, run, path in con.execute(
        "SELECT content_hash, run_id, path FROM ingest_files WHERE status = 'ingested' AND content_hash IN "
        "(SELECT unnest(?)) ORDER BY run_id, file_id",
        [hashes],
    ).fetchall():
        first.setdefault(digest, (run, path))
    return first


def _earlier_rejects(
    con: Any, files: list[FileResult], first: dict[str, tuple[int, str]]
) -> tuple[int, list[tuple[str, int, str]]]:
    """Of the inputs an earlier run ingested (their bytes; `first`: see `_first_reads`), and of the lines before
    a grown file's new ones: how many lines those runs rejected, and the first few as (this input's name, line,
    reason). `ingest --strict` of a file with a bad line, already ingested without it, exited 0: the file still
    holds the line, and --strict fails on bad input."""
    total, named = 0, []
    for f in files:
        if f.status == "already-ingested" and f.content_hash in first:
            run, path = first[f.content_hash]
        elif f.status == "ingested" and f.continues_run is not None:
            run, path = f.continues_run, f.name
        else:
            continue  # new, or read earlier in this run: its rejects are this run's
        rows = con.execute(
            "SELECT source_line, reason, run_id, count(*) OVER () FROM rejects WHERE run_id IN (SELECT unnest(?)) "
            "AND source_file = ? ORDER BY source_line LIMIT ?",
            [_runs_that_read(con, run, path), path, FIRST_REJECTS],
        ).fetchall()
        if rows:
            total += rows[0][3]
            named += [
                (f.name, int(n), f"{why} (rejected by run {r}; already ingested)") for n, why, r, _ in rows
            ]
    return total, named


# how the note of a grown file's read begins (`_parse_files`, `_read_grown_text`), for people: what the program
# reads back of that read is in the columns `continues_run` and `first_line` (see `_record_files`)
_GROWN_NOTE = "grown since run {run}: read from line {line:,}"


def _grown_note(tail: _Tail) -> str:
    return _GROWN_NOTE.format(run=tail.run, line=tail.lines + 1)


def _runs_that_read(con: Any, run: int, path: str) -> list[int]:
    """The runs that read the lines of the bytes run `run` ingested as `path`: it, and where it read only the
    new lines of a grown file, the runs that read the lines before (each a part of the file, its lines once)."""
    runs = [run]
    while True:
        row = con.execute(
            "SELECT continues_run FROM ingest_files WHERE run_id = ? AND path = ? AND status = 'ingested'",
            [runs[-1], path],
        ).fetchone()
        if row is None or row[0] is None or int(row[0]) in runs:
            return runs
        runs.append(int(row[0]))


def _name_first_reads(files: list[FileResult], first: dict[str, tuple[int, str]]) -> None:
    """An input left out because its bytes were read before under another name says which (`first`: see
    `_first_reads`): a file never ingested was reported "already ingested" when a server had taken its bytes
    as a request body (a Logpush batch posted to `serve` and saved too, `serve:POST /worker#12`) or a copy of
    it had been ingested."""
    left = [f for f in files if f.status == "already-ingested" and f.content_hash]
    here: dict[str, str] = {}  # read earlier in this run
    for f in files:
        if f.status == "ingested" and f.content_hash:
            here.setdefault(f.content_hash, f.name)
    for f in left:
        # `<stdin>` names no input: stdin given again said only "already ingested", of bytes from anywhere
        if f.content_hash in first and (first[f.content_hash][1] != f.name or f.path == "-"):
            run, path = first[f.content_hash]
            f.earlier.append(f"its bytes are those run {run} read as {path}: nothing of it is stored again")
        elif f.content_hash not in first and here.get(f.content_hash, f.name) != f.name:
            f.earlier.append(
                f"its bytes are those of {here[f.content_hash]}, read in this run: nothing of it is stored again"
            )


def _parse_files(
    con: Any,
    db: str,
    files: list[str],
    result: IngestResult,
    stager: Stager,
    known: set[str],
    read_before: dict[str, Any],
    ahead: dict[int, _Ahead],
    planned: dict[int, Shards | None],
    forced: Any,
    limits: _Limits,
    policy: Policy,
    progress: Callable[[int, int], None] | None,
    total: int,
    jobs: int,
    pool: ProcessPoolExecutor | None,
    workers: contextlib.ExitStack,
) -> None:
    """Parse and stage every input in order: a large file split between the workers, the whole files of
    `ahead` adopted as their workers finish them, the rest here."""
    done_before = 0
    text_zones: dict[str, tuple[int, str | None]] | None = (
        None  # read once, when a file is found already ingested
    )
    for file_id, path in enumerate(files, start=1):
        fr = FileResult(file_id=file_id, path=path)
        result.files.append(fr)
        if file_id in ahead:
            _adopt_whole(ahead[file_id], fr, stager, known)
            if progress is not None:
                progress(done_before + (fr.size or 0), total)
            if fr.status == "ingested":
                _note_empty(fr)
                known.add(fr.content_hash)
            done_before += fr.size or 0
            continue
        ranges = None
        tail: _Tail | None = None
        ident: tuple[int, int] | None = None
        if path != "-":
            # what this ingest reads of the file: its bytes now (a log may grow while it is read: the next
            # ingest reads from here), of this file (one rotated in under its name meanwhile is refused)
            st = os.stat(path)
            fr.size, ident = st.st_size, (st.st_dev, st.st_ino)
            tail = _appended(path, fr, read_before.get(fr.name), ident)  # a log that grew: its new lines
            if tail is None:
                ranges = planned[file_id] if file_id in planned else plan(path, fr.size, jobs)
            if ranges is not None and pool is None:
                pool = worker_pool(jobs)
                workers.callback(pool.shutdown, wait=True, cancel_futures=True)
            if ranges is None:
                fr.content_hash = fr.content_hash or file_hash(path, fr.size or 0, ident)
                if fr.content_hash in known:
                    fr.status = "already-ingested"
                    text_zones = _text_zones(con) if text_zones is None else text_zones
                    fr.earlier = _other_zone(text_zones.get(fr.content_hash), limits.zone)
                    done_before += fr.size
                    continue
        cb = None
        if progress is not None:
            base = done_before

            def cb(n: int, base: int = base) -> None:
                progress(base + n, total)

        if ranges is not None:
            # the workers parse while this process hashes the file (0.27 s at 1M records, 1.35 s at 5M,
            # with the workers idle before); a file seen before costs the shards they had begun
            def seen(fr: FileResult = fr, path: str = path, ident: tuple[int, int] | None = ident) -> bool:
                fr.content_hash = file_hash(path, fr.size or 0, ident)
                return fr.content_hash in known

            if not _parse_sharded(
                path, fr, stager, ranges, jobs, forced, limits.record_bytes, policy, cb, pool, seen, ident
            ):
                fr.status = "already-ingested"
                done_before += fr.size or 0
                continue
        elif tail is not None and tail.mode == "convex-text":
            _read_grown_text(path, ident, fr, stager, tail, forced, limits, cb, db)
        elif tail is not None:
            # `ingest_files.lines` counts the file's lines so far (`explain`); `first_line` is the one after them
            fr.line_base, fr.continues_run = tail.lines, tail.run
            with open_same(path, ident) as f:
                parse_file(ByteRange(f, tail.start, fr.size, path), fr, stager, forced=forced,  # type: ignore[arg-type]
                           max_record_bytes=limits.record_bytes, progress=cb, mode="ndjson", file_start=False,
                           line_base=tail.lines)  # fmt: skip
            fr.stats.notes.append(
                f"{_grown_note(tail)} (byte {tail.start:,}); the "
                f"{tail.lines:,} lines before were ingested then"
            )
        else:
            redacted = Counter(stager.redactor.counts)  # stdin may turn out to be known: its own undone
            raw = open_input(path) if path == "-" else open_same(path, ident)
            try:
                # a file: the bytes it had when it was measured and hashed (see above)
                stream = raw if path == "-" else ByteRange(raw, 0, fr.size or 0, path)
                parse_file(stream, fr, stager, forced=forced, hash_stream=path == "-",  # type: ignore[arg-type]
                           max_record_bytes=limits.record_bytes, max_decompressed=limits.decompressed,
                           progress=cb, local_zone=limits.zone)  # fmt: skip
            finally:
                if path != "-":
                    raw.close()
        if path == "-":
            fr.content_hash = fr.stats.content_hash
            fr.size = fr.stats.bytes_read
            if fr.content_hash in known:
                stager.flush_events()  # its buffered rows are redacted (and counted) now, then forgotten
                stager.flush_metrics()
                stager.discard_file(file_id)
                stager.redactor.counts.clear()
                stager.redactor.counts.update(redacted)
                # nothing of it is this run's, as of any input found known before it is read: its counts
                # (rejects: `--strict` counted them again as an earlier run's) go with its rows
                result.files[-1] = FileResult(
                    file_id, path, fr.size, fr.content_hash, status="already-ingested"
                )
                continue
        _note_empty(fr)
        known.add(fr.content_hash)
        done_before += fr.size or 0


def _note_empty(fr: FileResult) -> None:
    if fr.stats.lines == 0 and not fr.rejected:
        # nothing to lose, as a file of blank lines: said, not rejected (an hour without traffic leaves
        # an empty export file, and --strict would fail the whole directory on it)
        fr.stats.notes.append("empty file: no lines to read")
    elif fr.records == 0 and fr.rejected == 0 and not fr.skipped_lines:
        fr.stats.notes.append("no records (only blank lines)")


class _Ahead(NamedTuple):
    """A whole file a worker parses while this process goes through the inputs before it."""

    future: Future[ShardDone]
    size: int
    content_hash: str


def _whole_files(
    files: list[str],
    read_before: dict[str, Any],
    known: set[str],
    jobs: int,
    planned: dict[int, Shards | None],
) -> list[tuple[int, int, tuple[int, int], str]]:
    """The inputs to parse whole on the workers, each (file id, size, (st_dev, st_ino), content hash): regular
    files not split into shards, not read before under their name (a log that grew is read from where it
    stopped, here), of content not ingested before and not met earlier in `files`. None of them when they are
    too few or hold too little to read (`workers.enough_whole`). `planned` gets each file's `plan` (asked once)."""
    chosen: list[tuple[int, int, tuple[int, int], str]] = []
    hashes: set[str] = set()
    work = 0
    for file_id, path in enumerate(files, start=1):
        if path == "-" or path in read_before:
            continue
        try:
            st = os.stat(path)
            if not stat.S_ISREG(st.st_mode):
                continue
            planned[file_id] = plan(path, st.st_size, jobs)
            if planned[file_id] is not None:
                continue
            ident = (st.st_dev, st.st_ino)
            digest = file_hash(path, st.st_size, ident)
        except OSError:
            continue  # said when the file's turn comes
        if digest in known or digest in hashes:
            continue
        hashes.add(digest)
        chosen.append((file_id, st.st_size, ident, digest))
        work += work_of(path, st.st_size)
    return chosen if enough_whole(len(chosen), work) else []


def _adopt_whole(ahead: _Ahead, fr: FileResult, stager: Stager, known: set[str]) -> None:
    """A whole file a worker parsed (see `_whole_files`), staged as the next rows: what it counted is `fr`'s.
    Its content met meanwhile in another input (read here, before it) makes it already ingested."""
    fr.size, fr.content_hash = ahead.size, ahead.content_hash
    done = ahead.future.result()
    if fr.content_hash in known:
        fr.status = "already-ingested"  # its worker's files go with the spool's directory
        return
    stager.adopt(done.outputs, done.rows, 0)
    stager.redactor.counts.update(done.redactions)
    for f in fields(FileResult):
        if f.name not in _OWN_FIELDS:
            setattr(fr, f.name, getattr(done.result, f.name))


# what `_adopt_whole` keeps of the ingest's own FileResult; the rest is the worker's reading of the file
_OWN_FIELDS = frozenset(
    {"file_id", "path", "size", "content_hash", "status", "line_base", "continues_run", "earlier"}
)


def _parse_sharded(
    path: str,
    fr: FileResult,
    stager: Stager,
    ranges: Shards,
    jobs: int,
    forced: Any,
    max_record_bytes: int,
    policy: Policy,
    progress: Callable[[int], None] | None,
    pool: ProcessPoolExecutor | None = None,
    drop: Callable[[], bool] | None = None,
    ident: tuple[int, int] | None = None,
) -> bool:
    """One large file parsed by worker processes (`pool`'s); its shards are staged in file order. False when
    `drop` (see `parse_sharded`) said not to."""

    def load(done: ShardDone, line_base: int) -> None:
        stager.adopt(done.outputs, done.rows, line_base)
        stager.redactor.counts.update(done.redactions)
        fr.merge(done.result)
        if progress is not None:
            progress(fr.stats.bytes_read)

    return parse_sharded(path, fr.file_id, ranges, jobs=jobs, forced=forced.name if forced else None,
                         max_record_bytes=max_record_bytes, policy=policy, out_dir=stager.spool_directory(),
                         load=load, pool=pool, drop=drop, ident=ident)  # fmt: skip


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
    loop_limits: tuple[str, str] | None = None,
) -> None:
    """Everything after staging: rules over the staged events, store, count, record the run. The rules
    run on TEMP tables only; `open_run` (if given) starts the transaction before the first persistent write."""
    stager.flush()
    result.redactions = stager.redactor.counts
    result.lap("parse")

    register_files(con, result.files)
    rule_state = load_state(con, policy)
    result.lap("prepare")
    # the cyclic collector stays off until the rules' state is freed: the engine's batches and drops make no
    # reference cycles, and collections would walk the growing state every few thousand allocations (more
    # than doubling the drops' bookkeeping), or once it is saved (5M records: 0.15-0.2 s)
    with gc_paused():
        engine = decide(con, policy, rule_state, result, loop_limits)
        if open_run is not None:
            open_run()
        save_state(con, engine.state, policy, run_id)
        # the rules' state (Python objects, growing with the input's density) is saved: free it before store
        del engine, rule_state
    # counted before store, while DuckDB's buffers hold little else (after store they hold the written tables)
    count(con, result)
    result.lap("rules")
    repeated = store(con, run_id, policy, stager)
    for f in result.files:
        f.metrics_repeated = repeated.get(f.file_id, 0)
    result.metrics_repeated = sum(repeated.values())
    stager.release_events()
    result.lap("store")
    kinds = sorted(result.redactions)
    con.execute(
        "UPDATE ingest_runs SET finished_at = now(), events_stored = ?, events_dropped = ?, rejected = ?, "
        "redactions = map(?::VARCHAR[], ?::BIGINT[]) WHERE run_id = ?",
        [
            result.stored,
            result.dropped,
            result.rejected,
            kinds,
            [result.redactions[k] for k in kinds],
            run_id,
        ],
    )
    _record_files(con, run_id, result.files)
    for name in (
        "staging",
        "staged_metrics",
        "staged_rejects",
        "dups",
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
    with Stager(con, policy) as stager:
        result = IngestResult(db=db, run_id=run_id, files=[])
        for file_id, (name, stream) in enumerate(inputs, start=1):
            fr = FileResult(file_id=file_id, path=name)
            result.files.append(fr)
            parse_file(stream, fr, stager, hash_stream=True, max_record_bytes=max_record_bytes)
            fr.content_hash = fr.stats.content_hash
            fr.size = fr.stats.bytes_read
        _finish_run(con, run_id, stager, policy, result)
        return result


@dataclass(frozen=True)
class _Tail:
    """Where a grown file's new lines start: byte, lines before it, the run that read those; how that run read
    the file (`ndjson`, `convex-text`), and the zone it read `npx convex logs` text in (see `_Before`)."""

    start: int
    lines: int
    run: int
    mode: str = "ndjson"
    zone: str | None = None
    zone_given: bool = False


class _Before(NamedTuple):
    """What the last ingest that read a file whole as lines saw of it (see `_read_before`); of `npx convex logs`
    text, the zone it read its times in (`ingest_files.local_tz`) and whether that zone was named
    (`--local-tz`) rather than that machine's."""

    size: int
    content_hash: str
    run: int
    mode: str = "ndjson"
    zone: str | None = None
    zone_given: bool = False


def _read_grown_text(
    path: str,
    ident: tuple[int, int] | None,
    fr: FileResult,
    stager: Stager,
    tail: _Tail,
    forced: Any,
    limits: _Limits,
    progress: Callable[[int], None] | None,
    db: str,
) -> None:
    """`npx convex logs` text that grew since run `tail.run`: its new lines staged, read in the zone that run
    read the file in. The file is framed from its start: its earlier lines are that run's (not staged again),
    but they tell the day/month order as they did then (new lines that are ambiguous alone take it; new lines
    that tell the other order than the one that run assumed are read in it, and the note says which stored
    records that run misdated), a record of theirs continued on a new line is found, and their seconds count
    in the new records' ms."""
    fr.line_base, fr.continues_run = tail.lines, tail.run  # see `_parse_files`
    zone, said = _zone_then(tail, limits.zone)
    with open_same(path, ident) as f:
        parse_file(ByteRange(f, 0, fr.size or 0, path), fr, stager, forced=forced, mode="convex-text",  # type: ignore[arg-type]
                   max_record_bytes=limits.record_bytes, progress=progress, local_zone=zone,
                   text_before=(tail.lines, tail.run))  # fmt: skip
    notes = fr.stats.notes
    notes.insert(
        0,
        f"{_grown_note(tail)}; the {tail.lines:,} lines before were ingested "
        "then (read again only for the order of their dates, not stored again)",
    )
    notes.extend(said)
    if fr.stats.swapped:
        tz = f" --local-tz {zone.label}" if zone.given else ""
        notes.append(
            f"to store them with the right dates, ingest the log anew into a fresh database: logcorr ingest {path} "
            f"--db NEW.duckdb{tz} (with the other inputs of {db}, to keep them together)"
        )


def _text_zones(con: Any) -> dict[str, tuple[int, str | None]]:
    """Content hash → (run, zone its times were read in, `ingest_files.local_tz`) of the first ingest of each
    `npx convex logs` text file: one query for every input found already ingested (a query each took 2.6 ms:
    5.3 s of a directory of 2,000 Logpush batches ingested again, twice as long as ingesting them)."""
    zones: dict[str, tuple[int, str | None]] = {}
    for content_hash, run_id, local_tz in con.execute(
        "SELECT content_hash, run_id, local_tz FROM ingest_files WHERE status = 'ingested' "
        "AND mode = 'convex-text' ORDER BY run_id"
    ).fetchall():
        zones.setdefault(content_hash, (run_id, local_tz))
    return zones


def _other_zone(row: tuple[int, str | None] | None, zone: LocalZone) -> list[str]:
    """What to say of an already-ingested `npx convex logs` text file (`row`: the run that read it and the zone
    it read its times in, `_text_zones`) whose times that ingest read in another zone than `zone` (the one now
    given): its events keep those times, the zone now given is not applied."""
    if row is None or row[1] is None or _same_zone(row[1], zone.label):
        return []
    return [
        f"its times were read in {row[1]} by run {row[0]}, not in {zone.label} as now: a file already ingested is "
        f"not read again; to read it in {zone.label}, ingest it into a fresh --db"
    ]


def _same_zone(a: str, b: str) -> bool:
    """Whether two zone names read wall times alike (`UTC` and `Etc/UTC` are one zone): the same offsets in
    January and July of 2000-2040; a name that is no zone (a machine's `CET/CEST`) only as the same name."""
    if a == b:
        return True
    try:
        za, zb = ZoneInfo(a), ZoneInfo(b)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    moments = [datetime(y, mo, 15, tzinfo=UTC) for y in range(2000, 2041) for mo in (1, 7)]
    return all(t.astimezone(za).utcoffset() == t.astimezone(zb).utcoffset() for t in moments)


def _read_before(con: Any) -> dict[str, _Before]:
    """Per path, what the last ingest that read it whole as lines (NDJSON, `npx convex logs` text) saw."""
    rows = con.execute(
        "SELECT path, size, content_hash, run_id, mode, local_tz, local_tz_given FROM ingest_files "
        "WHERE status = 'ingested' AND mode IN ('ndjson', 'convex-text') AND lines > blank AND size IS NOT NULL "
        "AND content_hash IS NOT NULL "
        "QUALIFY row_number() OVER (PARTITION BY path ORDER BY run_id DESC) = 1"
    ).fetchall()
    return {
        str(p): _Before(int(size), str(h), int(run), str(mode), zone, bool(given))
        for p, size, h, run, mode, zone, given in rows
    }


def _zone_then(tail: _Tail, zone: LocalZone) -> tuple[LocalZone, list[str]]:
    """The zone to read the new lines of grown `npx convex logs` text in: the one run `tail.run` read its
    earlier lines in (one file is one CLI's, in one zone), and what to say when it is not `zone`, the one now
    given."""
    label = tail.zone
    if label is None or _same_zone(label, zone.label):
        return zone, []
    try:
        then = LocalZone(label)
    except ValueError:  # a machine's zone known by its abbreviations only (`CET/CEST`)
        return zone, [
            f"run {tail.run} read its earlier lines in {label}, which names no zone here: its new lines are read "
            f"in {zone.label}"
        ]
    then.given = tail.zone_given
    return then, [
        f"its new lines are read in {label}, the zone run {tail.run} read its earlier lines in, not in {zone.label} "
        f"as now: one file is read in one zone (to read it in {zone.label}, ingest it into a fresh --db)"
    ]


def _appended(
    path: str, fr: FileResult, before: _Before | None, ident: tuple[int, int] | None = None
) -> _Tail | None:
    """The new part of `path` when it is a line-per-record file that an earlier ingest read whole at a smaller
    size (`before`, see `_read_before`), and whose first bytes are still exactly what that ingest read
    (ending at a line's end): a log that grew, as a shipper tails it. Else None. Sets `fr.content_hash` to the
    whole file's hash when it reads the file (once), so that the same content met again under any name is
    already ingested."""
    if before is None or not 0 < before.size < (fr.size or 0):
        return None
    old_size, old_hash, run = before.size, before.content_hash, before.run
    digest = hashlib.sha256()
    lines = 0
    with open_same(path, ident) as f:
        left = old_size
        last = b""
        while left:
            chunk = f.read(min(left, 1 << 20))
            if not chunk:
                return None
            # gzip, UTF-16: its bytes are not UTF-8 lines (and it is hashed below as any file)
            if left == old_size and chunk[:2] in (b"\x1f\x8b", b"\xff\xfe", b"\xfe\xff"):
                return None
            digest.update(chunk)
            lines += chunk.count(b"\n")
            last = chunk[-1:]
            left -= len(chunk)
        prefix = digest.copy().hexdigest()
        left = (fr.size or 0) - old_size  # what this ingest reads of it: the bytes it had when measured
        while left > 0 and (chunk := f.read(min(left, 1 << 20))):
            digest.update(chunk)
            left -= len(chunk)
    fr.content_hash = digest.hexdigest()
    if prefix != old_hash or last != b"\n":
        return None
    return _Tail(old_size, lines, run, before.mode, before.zone, before.zone_given)


def _status(f: FileResult) -> str:
    """A file's status in `ingest_files`: `partial` when the decompressed-size limit stopped its reading, so
    that it is not known as ingested: a run with a higher limit reads it again (what the first run stored is
    then dropped as `duplicate`)."""
    return "partial" if f.status == "ingested" and f.stats.limited else f.status


def _record_files(con: Any, run_id: int, files: list[FileResult]) -> None:
    """A row per input file in `ingest_files`, by one INSERT (an INSERT a file took 0.6 ms: a third of the
    time of ingesting a directory of 1,000 small files)."""
    import pyarrow as pa

    big, text = pa.int64(), pa.string()
    columns: list[tuple[str, pa.DataType, Callable[[FileResult], Any]]] = [
        ("run_id", pa.int32(), lambda f: run_id), ("file_id", pa.int32(), lambda f: f.file_id),
        ("path", text, lambda f: f.name), ("size", big, lambda f: f.size),
        ("content_hash", text, lambda f: f.content_hash), ("status", text, _status),
        ("mode", text, lambda f: f.stats.mode), ("formats", text, lambda f: ",".join(sorted(f.formats))),
        ("lines", big, lambda f: f.line_base + f.stats.lines), ("blank", big, lambda f: f.stats.blank),
        ("records", big, lambda f: f.records), ("records_with_events", big, lambda f: f.records_with_events),
        ("records_metric_only", big, lambda f: f.records_metric_only),
        ("records_skipped", big, lambda f: f.records_skipped), ("rejected", big, lambda f: f.rejected),
        ("events", big, lambda f: f.events), ("stored", big, lambda f: f.stored),
        ("dropped", big, lambda f: f.dropped), ("metrics", big, lambda f: f.metrics),
        ("notes", text, lambda f: "; ".join(f.stats.notes + f.earlier) or None),
        ("continues_run", pa.int32(), lambda f: f.continues_run),
        ("first_line", big, lambda f: f.line_base + 1 if f.status == "ingested" else None),
        ("local_tz", text, lambda f: f.stats.local_tz),
        ("local_tz_given", pa.bool_(), lambda f: f.stats.local_tz_given),
    ]  # fmt: skip
    table = pa.table({name: pa.array([get(f) for f in files], kind) for name, kind, get in columns})
    con.register("_ingest_files", table)
    try:
        con.execute("INSERT INTO ingest_files BY NAME SELECT * FROM _ingest_files")
    finally:
        con.unregister("_ingest_files")
