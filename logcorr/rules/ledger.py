"""Reading the rules' decisions back: the drop ledger with filters (`logcorr ledger`) and the fate of
every event of one input line (`logcorr explain FILE:LINE`). Read-only; returns rows as dicts."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import IO, Any, NamedTuple

import orjson

from logcorr.errors import ExitCode, LogcorrError, UsageError
from logcorr.model import SYSTEMS, path_text
from logcorr.rules.engine import RULES
from logcorr.sources.base import SHAPE_ERRORS
from logcorr.sources.convex_text import TextRecord
from logcorr.store.connection import connect
from logcorr.store.query import RowStream, sql_limit, stream_dicts
from logcorr.store.schema import dropped_span
from logcorr.units import say_count

LEDGER_COLUMNS: tuple[str, ...] = (
    "event_id", "ts", "system", "level", "rule", "reason", "trace_id", "source", "message", "rule_state", "run_id",
)  # fmt: skip
EXPLAIN_COLUMNS: tuple[str, ...] = (
    "source", "event_id", "fate", "rule", "reason", "rule_state", "ts", "system", "level", "trace_id", "message",
    "run_id",
)  # fmt: skip


@dataclass(frozen=True)
class LedgerFilter:
    """Which ledger rows to list: of any of `rules` and `systems` (none: any), of `trace` (None: any). `limit`
    0 lists all."""

    rules: tuple[str, ...] = ()
    systems: tuple[str, ...] = ()
    trace: str | None = None
    limit: int = 100


def _rows(con: Any, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [_state_parsed(dict(zip(names, row, strict=True))) for row in cur.fetchall()]


def _state_parsed(rec: dict[str, Any]) -> dict[str, Any]:
    if isinstance(rec.get("rule_state"), str):
        rec["rule_state"] = orjson.loads(rec["rule_state"])
    return rec


def ledger_rows(db: str, f: LedgerFilter) -> RowStream:
    """Drop-ledger rows matching `f`, in decision order (event id), streamed (the connection closes after
    them)."""
    for rule in f.rules:
        if rule not in RULES:
            raise UsageError(f"unknown rule {rule!r}", f"choose one of: {', '.join(RULES)}")
    for system in f.systems:
        if system not in SYSTEMS:
            raise UsageError(f"unknown system {system!r}", f"choose one of: {', '.join(SYSTEMS)}")
    limit = sql_limit(f.limit)
    con = connect(db, read_only=True)
    try:
        where: list[str] = []
        params: list[Any] = []
        trace = f.trace
        if trace is not None:
            from logcorr.correlate.trace import resolve

            # an id or a unique prefix, as `trace` and `search --trace` take it; no such trace exits 1 as there
            # (a prefix listed no rows, read as "nothing of this trace was dropped")
            trace = resolve(con, trace)
            # the trace's dropped events lie in its span: the zone maps of `ts` skip the rest
            span = dropped_span(con, trace)
            if span is None:
                con.close()
                return RowStream(list(LEDGER_COLUMNS), iter(()))
            where.append("ts BETWEEN ? AND ?")
            params += span
        for col, values in (
            ("rule", f.rules),
            ("system", f.systems),
            ("trace_id", (trace,) if trace else ()),
        ):
            if values:
                where.append(f"{col} IN ({', '.join('?' for _ in values)})")
                params.extend(values)
        sql = f"""
            SELECT event_id, ts, system, level, rule, reason, trace_id, source_file || ':' || source_line AS source,
                   message, rule_state::VARCHAR AS rule_state, run_id
            FROM drop_ledger {"WHERE " + " AND ".join(where) if where else ""}
            ORDER BY event_id LIMIT ?
        """
        params.append(limit)
        return stream_dicts(con, sql, params, close=con.close, row=_state_parsed, limited=limit is not None)
    except BaseException:
        con.close()
        raise


def parse_target(target: str) -> tuple[str, int]:
    """`FILE:LINE` → (file, line)."""
    path, sep, line = target.rpartition(":")
    if (
        not sep or not path or not (line.isascii() and line.isdigit())
    ):  # `²` is a digit to isdigit, not to int
        raise UsageError(f"expected FILE:LINE, got {target!r}", "e.g. logcorr explain exports/app.jsonl:12")
    if int(line) < 1:
        # no line has a row at 0: it was answered as a line that left none ("no row", exit 0)
        raise UsageError(
            f"no line {line} in {target!r}: lines are numbered from 1",
            f"e.g. logcorr explain {path}:1",
        )
    return path, int(line)


def _matching_files(known: list[str], path: str) -> list[str]:
    """The stored source paths that name `path`: the same text, the same file, or the same tail."""
    exact = [k for k in known if k == path]
    if exact:
        return exact
    absolute = os.path.abspath(path)
    same = [k for k in known if os.path.abspath(k) == absolute]
    if same:
        return same
    tail = path
    while tail.startswith(("./", "../")):  # only whole `.` and `..` steps: `.env.jsonl` keeps its dot
        tail = tail.split("/", 1)[1]
    return [k for k in known if k.endswith("/" + tail) or k == tail]


class LineNotFound(LogcorrError):
    """`explain` of a file never ingested, or of a line past what was ingested of it: exit 1, as `trace` of
    no such trace."""

    exit_code = ExitCode.CHECK_FAILED


@dataclass
class Explained:
    """What `explain` answers: the line's rows (its events, metrics, reject; or one row that says what it
    became when that left none: `blank`, `skipped`, `no row`), and a note for stderr."""

    rows: list[dict[str, Any]]
    note: str | None = None  # one or more lines


class _Run(NamedTuple):
    run_id: int
    path: str
    size: int | None
    content_hash: str | None
    status: str
    mode: str | None
    lines: int | None


def explain(db: str, target: str) -> Explained:
    """Every event recorded for input line FILE:LINE (stored or dropped, with rule, reason and rule
    state), its metrics and its reject reason if it was rejected; in event order. A line that left no row
    says what it became (blank, skipped and why, a line of a record over several lines: that record's rows);
    a file never ingested, or a line past what was ingested of it, raises `LineNotFound`."""
    path, line = parse_target(target)
    path = path_text(path)  # a name that is not UTF-8 is stored so
    con = connect(db, read_only=True)
    try:
        known = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT source_file FROM (SELECT source_file FROM log_queue UNION ALL "
                "SELECT source_file FROM drop_events UNION ALL SELECT source_file FROM rejects UNION ALL "
                "SELECT source_file FROM metrics UNION ALL SELECT path FROM ingest_files) ORDER BY 1"
            ).fetchall()
        ]
        files = _matching_files(known, path)
        if not files:
            hint = (
                f"files in {db}: " + ", ".join(known[:5]) + (" …" if len(known) > 5 else "")
                if known
                else f"{db} holds no ingested file"
            )
            raise LineNotFound(
                f"{path} was never ingested into {db} (an ingest that was rolled back — --strict with rejects, "
                "an error, Ctrl-C — stores nothing)",
                hint,
            )
        rows = _line_rows(con, files, line)
        if rows:
            return Explained(rows, _first_copies(con, rows))
        runs = _runs(con, files)
        note = None
        if not any(r.status in ("ingested", "partial") for r in runs):
            # only found as a copy of a file ingested before (the same bytes): its lines are that file's
            first = _copy_of(con, runs)
            if first is None:
                raise LineNotFound(
                    f"{', '.join(files)} was never read into {db}: no ingest of it stored anything"
                )
            note = (
                f"{files[0]} held the same bytes as {first.path}, which run {first.run_id} ingested (run "
                f"{runs[-1].run_id} found it already ingested): its lines are recorded as {first.path}'s"
            )
            files, runs = [first.path], _runs(con, [first.path])
            rows = _line_rows(con, files, line)
            if rows:
                return Explained(rows, "\n".join(n for n in (note, _first_copies(con, rows)) if n) or None)
        return _without_rows(con, files, runs, path, line, note)
    finally:
        con.close()


def _first_copies(con: Any, rows: list[dict[str, Any]]) -> str | None:
    """Where the first copy of each event the duplicate rule dropped is: the reason says only "delivered again"
    and the state only which ingest holds the first copy, and a user asking why a line is missing looks for the
    one kept. The copies share the dropped event's `event_key`; the first is the one the duplicate rule did not
    drop (stored, or dropped by another rule)."""
    said = []
    for row in rows:
        if row["fate"] != "dropped" or row["rule"] != "duplicate":
            continue
        found = con.execute(
            """
            SELECT event_id, 'stored', NULL, source_file || ':' || source_line, run_id FROM log_queue
            WHERE event_key = (SELECT event_key FROM drop_events WHERE event_id = $id)
            UNION ALL
            SELECT event_id, 'dropped', rule, source_file || ':' || source_line, run_id FROM drop_events
            WHERE event_key = (SELECT event_key FROM drop_events WHERE event_id = $id) AND rule <> 'duplicate'
            ORDER BY 1 LIMIT 1
            """,
            {"id": row["event_id"]},
        ).fetchone()
        if found is None:  # pragma: no cover - every repeated delivery has a first copy
            continue
        first_id, fate, rule, source, run = found
        how = "stored" if fate == "stored" else f"dropped by {rule}"
        # the run too: one path may be several inputs (`-` is `<stdin>` in every run)
        said.append(
            f"event {row['event_id']} is a copy of event {first_id}, {how}, from {source} (run {run})"
        )
    return "\n".join(said) or None


def _line_rows(con: Any, files: list[str], line: int) -> list[dict[str, Any]]:
    marks = ", ".join("?" for _ in files)
    select = f"""
        SELECT source_file || ':' || source_line AS source, event_id, {{fate}} AS fate, {{rule}} AS rule,
               {{reason}} AS reason, {{state}} AS rule_state, ts, system, level, trace_id, message, run_id
        FROM {{table}} WHERE source_file IN ({marks}) AND source_line = ?
    """
    sql = (
        select.format(fate="'stored'", rule="NULL", reason="NULL", state="NULL", table="log_queue")
        + " UNION ALL "
        + select.format(
            fate="'dropped'", rule="rule", reason="reason", state="rule_state::VARCHAR", table="drop_ledger"
        )
        + f"""
        UNION ALL
        SELECT source_file || ':' || source_line, NULL, 'rejected', NULL, reason, NULL, NULL, NULL, NULL, NULL,
               excerpt, run_id
        FROM rejects WHERE source_file IN ({marks}) AND source_line = ?
        UNION ALL
        SELECT source_file || ':' || source_line, NULL, 'metric', NULL, 'kept in metrics', NULL, ts, system, NULL, NULL,
               topic || ' ' || coalesce(data::VARCHAR, ''), run_id
        FROM metrics WHERE source_file IN ({marks}) AND source_line = ?
        ORDER BY run_id, event_id NULLS LAST
        """
    )
    return _rows(con, sql, [*files, line] * 4)


def _runs(con: Any, files: list[str]) -> list[_Run]:
    marks = ", ".join("?" for _ in files)
    return [
        _Run(*r)
        for r in con.execute(
            f"SELECT run_id, path, size, content_hash, status, mode, lines FROM ingest_files WHERE path IN ({marks}) "
            "ORDER BY run_id",
            files,
        ).fetchall()
    ]


def _copy_of(con: Any, runs: list[_Run]) -> _Run | None:
    """The first file ingested with the bytes of one found already ingested."""
    hashes = [r.content_hash for r in runs if r.content_hash]
    if not hashes:
        return None
    row = con.execute(
        f"SELECT run_id, path, size, content_hash, status, mode, lines FROM ingest_files WHERE status IN "
        f"('ingested', 'partial') AND content_hash IN ({', '.join('?' for _ in hashes)}) ORDER BY run_id LIMIT 1",
        hashes,
    ).fetchone()
    return _Run(*row) if row else None


def _nearest_before(con: Any, files: list[str], line: int) -> int | None:
    """The nearest line before `line` with a row (a record over several lines is recorded at its first)."""
    marks = ", ".join("?" for _ in files)
    each = " UNION ALL ".join(
        f"SELECT max(source_line) FROM {t} WHERE source_file IN ({marks}) AND source_line < ?"
        for t in ("log_queue", "drop_ledger", "rejects", "metrics")
    )
    row = con.execute(f"SELECT max(l) FROM ({each}) AS b(l)", [*files, line] * 4).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def _row(source: str, fate: str, reason: str, run_id: int) -> dict[str, Any]:
    """The row of a line that left none: what it became (its text is not shown: it is not redacted)."""
    row: dict[str, Any] = dict.fromkeys(EXPLAIN_COLUMNS)
    row.update(source=source, fate=fate, reason=reason, run_id=run_id)
    return row


def _without_rows(
    con: Any, files: list[str], runs: list[_Run], given: str, line: int, note: str | None
) -> Explained:
    """A line of an ingested file that has no row: what it became (it was blank, skipped, a line of a record
    over several lines), read again from the file when it is still what the ingest read; or no such line."""
    read = [r for r in runs if r.status in ("ingested", "partial") and r.lines is not None]
    name = files[0]
    last = max(read, key=lambda r: (r.lines or 0, r.run_id)) if read else None
    if last is None or line > (last.lines or 0):
        n = (last.lines or 0) if last is not None else 0
        hint = None
        if last is not None and last.status == "partial":
            hint = (
                f"run {last.run_id} stopped reading it at the decompressed-size limit: ingest it again with a "
                "higher LOGCORR_MAX_DECOMPRESSED_GB"
            )
        else:
            now = _lines_now(given, name)
            if now is not None and now >= line:
                hint = (
                    f"it has {say_count(now, 'line')} now: line {line:,} was written after the last ingest of it (or read by "
                    "an ingest that was rolled back, which stores nothing); ingest it again to read it"
                )
        when = f" (as run {last.run_id} read it)" if last is not None else ""
        raise LineNotFound(
            f"{', '.join(files)} has {say_count(n, 'line')}{when}; there is no line {line:,}", hint
        )
    run = min((r for r in read if (r.lines or 0) >= line), key=lambda r: r.run_id)
    where = f"{name}:{line}"
    source = _readable(given, name, last)
    if source is None:
        before = _nearest_before(con, files, line)
        why = (
            f"run {run.run_id} read it and recorded no row: a blank line, a skipped record (a verification ping, "
            "a banner line, an empty list), or a line of a record over several lines"
        )
        if before is not None:
            why += f" (the nearest line before with a row is {before}: logcorr explain {name}:{before})"
        why += "; which one cannot be told: " + (
            "standard input is not kept"
            if name == "<stdin>"
            else f"{name} is not at hand as run {last.run_id} read it (moved or changed)"
        )
        return Explained([_row(where, "no row", why, run.run_id)], note)
    text, items, first = _read_line(source, line, last.mode)
    # a blank line inside a `npx convex logs` message is the message's; other blank lines are blank
    inside = first is not None and any(type(p) is TextRecord and first + p.lines > line for _, p in items)
    if not inside and text is not None and not text.strip(_BLANK):
        return Explained([_row(where, "blank", "a blank line", run.run_id)], note)
    if first is not None and first < line:
        # a line of a record over several lines (pretty-printed JSON, a `npx convex logs` message running on);
        # of a grown `npx convex logs` file, lines of its last record written after it was read are rejected
        # from the first of them
        first = max(first, _nearest_before(con, files, line) or first)
        said = (
            f"line {line:,} of {name} belongs to what is recorded at line {first:,} (a record over several lines is "
            "recorded at its first)"
        )
        note = f"{note}; {said}" if note else said
        rows = _line_rows(con, files, first)
        if rows:
            return Explained(rows, note + ": its rows")
        where = f"{name}:{first}"
    reasons = [_skip_reason(kind, payload) for kind, payload in items]
    if not items or None in reasons:
        # the file at hand reads otherwise than the ingest did (another --format?): say what is known
        return Explained(
            [_row(where, "no row", f"run {run.run_id} read it and recorded no row; read again now it gives a record "
                  "that would have one (was it ingested with --format?)", run.run_id)],
            note,
        )  # fmt: skip
    return Explained([_row(where, "skipped", str(why), run.run_id) for why in dict.fromkeys(reasons)], note)


_BLANK = b" \t\r\n\0\x0b\x0c"


def _readable(given: str, stored: str, run: _Run) -> str | None:
    """The path to read the file at (the one given, else the one stored) when its first bytes are still what
    `run` read (its size and content hash), else None."""
    from logcorr.sources.bytestream import file_hash

    if run.size is None or not run.content_hash:
        return None
    for p in dict.fromkeys((given, stored)):
        try:
            if (
                os.path.isfile(p)
                and os.path.getsize(p) >= run.size
                and file_hash(p, run.size) == run.content_hash
            ):
                return p
        except OSError:
            continue
    return None


def _lines_now(given: str, stored: str) -> int | None:
    """How many lines the file has now (at the path given, else the one stored), or None."""
    for p in dict.fromkeys((given, stored)):
        try:
            with _open_text(p) as f:
                n = 0
                last = b"\n"
                while chunk := f.read(1 << 20):
                    n += chunk.count(b"\n")
                    last = chunk[-1:]
                return n + (last != b"\n")
        except OSError:
            continue
    return None


def _open_text(path: str) -> IO[bytes]:
    """A file's bytes, inflated when it is gzip."""
    import gzip

    f = open(path, "rb")  # noqa: SIM115 - the caller closes it
    if f.read(2) == b"\x1f\x8b":
        f.close()
        return gzip.open(path, "rb")  # type: ignore[return-value]
    f.seek(0)
    return f


def _read_line(
    path: str, line: int, mode: str | None
) -> tuple[bytes | None, list[tuple[int, Any]], int | None]:
    """Line `line` of the file (None if it is not there), what the reader makes of the records at it or of the
    record it is a line of ((kind, payload) each), and that record's first line."""
    from logcorr.sources.convex_text import LocalZone
    from logcorr.sources.outcomes import RECORD, FileStats
    from logcorr.sources.reader import iter_records

    text = None
    try:
        with _open_text(path) as f:
            for n, raw in enumerate(f, 1):
                if n == line:
                    text = raw
                    break
    except (OSError, EOFError):
        return None, [], None
    items: list[tuple[int, Any]] = []
    first = None
    with open(path, "rb") as raw_file:
        framing = mode if mode in ("ndjson", "convex-text", "scan") else None
        for kind, at, payload in iter_records(
            raw_file, FileStats(), mode=framing, local_zone=LocalZone("UTC")
        ):
            if at > line:
                break
            if at != first:
                first, items = at, []
            if kind == RECORD or at == line:
                items.append((kind, payload))
    if first is not None and first < line and not any(k == RECORD for k, _ in items):
        first, items = None, []  # the line is no record's: nothing the reader gave covers it
    return text, items, first


def _skip_reason(kind: int, payload: Any) -> str | None:
    """Why the reader or the record's format left no row for it, or None when it gives events or metrics."""
    from logcorr.model import Event, Metric, RecordError
    from logcorr.sources.convex_text import TextRecord
    from logcorr.sources.detect import FORMATS, detect
    from logcorr.sources.outcomes import RECORD, SKIP

    if kind == SKIP:
        return str(payload[0])
    if kind != RECORD:
        return None  # a reject the ingest did not record: the file reads otherwise now
    fmt = (
        FORMATS["convex-text"]
        if type(payload) is TextRecord
        else detect(payload)
        if type(payload) is dict
        else None
    )
    if fmt is None:
        return None
    events: list[Event] = []
    metrics: list[Metric] = []
    try:
        skip = fmt.parse(payload, events, metrics)
    except RecordError:
        return None
    except SHAPE_ERRORS:
        return None
    if events or metrics:
        return None
    return f"{skip or 'record holds no log lines'} ({fmt.name})"
