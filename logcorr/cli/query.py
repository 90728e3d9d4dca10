"""Read-side commands: `trace`, `traces`, `search`, `sql`, `stats`. Each converts options, calls one
library function on a read-only connection and hands the result to a renderer."""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from logcorr.cli.params import Argument, Option
from logcorr.render.rows import RowFormat

# events the waterfall lists unless --limit says otherwise
TABLE_EVENTS = 1000

DB_OPT = Option(None, "--db", envvar="LOGCORR_DB", help="DuckDB file (default: ./logcorr.duckdb).")


class TraceFormat(StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"
    chrome = "chrome"


def _open(db: str | None) -> Any:
    from logcorr.store.connection import resolve_db
    from logcorr.store.query import open_read_only

    return open_read_only(resolve_db(db))


def _note_if_empty(con: Any, db: str | None, found: int, user: str | None, dropped_too: bool = False) -> None:
    """Under a listing, say when the database is empty (an ingest that rejected every line,
    or `--db` pointing at another file), or stores nothing because the rules dropped every event, not the
    filters that matched nothing; and when nothing was found for a `--user` no event has (it is matched
    exactly), which user ids hold what was given. `dropped_too`: the listing read the dropped events too."""
    import shlex

    from logcorr.render.text import first_few
    from logcorr.store.connection import resolve_db
    from logcorr.units import say_count

    if con.execute("SELECT 1 FROM log_queue LIMIT 1").fetchone() is None:
        (dropped,) = con.execute("SELECT count(*) FROM drop_events").fetchone()
        if not dropped:
            sys.stderr.write(
                f"note: {resolve_db(db)} holds no events yet; ingest some with "
                f"`logcorr ingest FILES --db {shlex.quote(resolve_db(db))}`\n"
            )
        elif found == 0:
            sys.stderr.write(
                f"note: {resolve_db(db)} holds no stored events: the rules dropped all "
                f"{say_count(dropped, 'event')} ingested (`logcorr ledger` lists them)\n"
            )
        return
    if (
        found
        or not user
        or con.execute("SELECT 1 FROM log_queue WHERE user_id = ? LIMIT 1", [user]).fetchone()
    ):
        return
    if con.execute("SELECT 1 FROM drop_events WHERE user_id = ? LIMIT 1", [user]).fetchone() is not None:
        if not dropped_too:  # (read with them, the user id is not why nothing was found)
            sys.stderr.write(
                f"note: no stored event has user id {user!r}: the rules dropped every one that has it\n"
            )
        return
    like = con.execute(
        "SELECT DISTINCT user_id FROM log_queue WHERE contains(lower(user_id), lower(?)) ORDER BY 1 LIMIT 6",
        [user],
    ).fetchall()
    names = first_few(r[0] for r in like)
    sys.stderr.write(
        f"note: no event has user id {user!r} (matched exactly)"
        + (f"; user ids holding it: {names}\n" if like else "\n")
    )


def _filter(system: list[str] | None, has_errors: bool, min_systems: int, since: str | None, until: str | None,
            user: str | None) -> Any:  # fmt: skip
    from logcorr.correlate.filters import TraceFilter

    return TraceFilter(list(system or []), has_errors, min_systems, since, until, user)


def trace_cmd(
    trace_id: str = Argument(
        None,
        help="Trace id, or a unique prefix of one, or a request's id: a Cloudflare Ray ID (8a1f00bb33cc44dd-FRA), "
        "a Convex request id.",
    ),
    db: str = DB_OPT,
    fmt: TraceFormat = Option(
        TraceFormat.table,
        "--format",
        "-f",
        help="table, json (the trace: summary, spans, errors, events), jsonl or csv (its events, one a row, "
        "with the trace id), or chrome (default: table).",
    ),
    no_skew: bool = Option(False, "--no-skew", help="Show raw clock times (no skew correction)."),
    include_dropped: bool = Option(
        False, "--include-dropped", help="Also show events rules dropped (greyed)."
    ),
    first_with_errors: bool = Option(
        False, "--first-with-errors", help="Show the multi-system trace with errors that started first."
    ),
    limit: int = Option(
        None,
        "--limit",
        help="List at most this many events, the first in time; 0 lists all (default: 1000 in the table, "
        "all in the others). The summary, spans and errors cover the whole trace; the table shows the first "
        "error after the events it lists when it is past them.",
    ),
) -> None:
    """Show one request's timeline across browser → worker → backend.

    \b
    Example: logcorr trace trace_1714910405337 --format chrome > trace.json
    Example: logcorr trace trace_1714910405337 --format csv > trace.csv
    """
    from logcorr.correlate import trace as tr
    from logcorr.errors import UsageError
    from logcorr.store.query import sql_limit

    # a trace id lives for a page load: a long session is a trace of 100k lines, which the waterfall took 18 s
    # to print, line by line, to no reader
    shown = sql_limit(TABLE_EVENTS if limit is None and fmt is TraceFormat.table else (limit or 0))
    if first_with_errors and trace_id:  # it showed another trace than the one named, and said nothing of it
        raise UsageError(f"give a trace id ({trace_id}) or --first-with-errors, not both",
                         f"logcorr trace {trace_id}, or logcorr trace --first-with-errors")  # fmt: skip
    con = _open(db)
    if first_with_errors:
        trace_id = tr.first_with_errors(con)
    elif not trace_id:
        raise UsageError("give a trace id (or --first-with-errors)", "list traces with: logcorr traces")
    resolved = tr.resolve(con, trace_id)
    if not resolved.startswith(trace_id):  # a request's id (a Ray ID, a Convex request id) names its trace
        sys.stderr.write(f"note: {trace_id!r} is a request of trace {resolved}\n")
    model = tr.build(con, resolved, skew=not no_skew, include_dropped=include_dropped)
    con.close()
    total = len(model["events"])
    # where the first error is among all the events: the table shows it after the events it lists when the
    # cut left it out (a long session's one error was counted in the header and shown nowhere)
    first = model["errors"]["first"]
    first_at = next(
        (i for i, e in enumerate(model["events"]) if first and e["event_id"] == first["event_id"]), None
    )
    if shown is not None and total > shown:
        model["events"] = model["events"][:shown]
    _render_trace(model, fmt, (first_at, total))
    if len(model["events"]) < total:
        sys.stdout.flush()
        sys.stderr.write(f"(the first {len(model['events'])} of {total} events: --limit 0 lists all)\n")


def _render_trace(model: dict[str, Any], fmt: TraceFormat, first_error_at: tuple[int | None, int]) -> None:
    """`first_error_at`: the first error's index among all the trace's events, and their number (the table's)."""
    from logcorr.render.console import write_json

    if fmt is TraceFormat.json:
        write_json(model)
    elif fmt is TraceFormat.chrome:
        from logcorr.render.chrome import to_chrome

        write_json(to_chrome(model))
    elif fmt is TraceFormat.table:
        from logcorr.render.timeline import render

        render(model, first_error_at=first_error_at)
    elif fmt in (TraceFormat.jsonl, TraceFormat.csv):
        from logcorr.correlate import trace as tr
        from logcorr.render.rows import write_rows

        # each row names its trace: the exports of several traces can be joined (`cat`, `COPY … FROM`)
        tid = model["trace_id"]
        rows = ({"trace_id": tid, **ev} for ev in model["events"])
        write_rows(rows, RowFormat(fmt.value), ["trace_id", *tr.EVENT_COLUMNS])
    else:  # pragma: no cover - exhaustive
        raise AssertionError(fmt)


def traces_cmd(
    db: str = DB_OPT,
    system: list[str] = Option(None, "--system", help="Only traces that include this system (repeatable)."),
    has_errors: bool = Option(False, "--has-errors", help="Only traces with an error."),
    min_systems: int = Option(0, "--min-systems", help="Only traces spanning at least N systems."),
    since: str = Option(None, "--since", help="ISO time, or a duration before the newest event (2h, 30m)."),
    until: str = Option(None, "--until", help="ISO time, or a duration before the newest event."),
    user: str = Option(None, "--user", help="Only traces with events of this user id."),
    slowest: int = Option(
        None,
        "--slowest",
        help="The N longest traces, longest first (0: every trace). N is the number of rows: "
        "not with --limit or --sort.",
    ),
    sort: str = Option(
        None,
        "--sort",
        help="start (newest first), duration (longest first), events, errors or systems (most first); "
        "default: start.",
    ),
    limit: int = Option(
        None,
        "--limit",
        help="At most this many rows, the first in --sort's order; 0 lists all (default: 50).",
    ),
    fmt: RowFormat = Option(RowFormat.table, "--format", "-f", help="table, json, jsonl or csv."),
) -> None:
    """List traces with their systems, duration and errors, newest first (see --sort).

    \b
    Example: logcorr traces --has-errors --min-systems 3 --format csv
    """
    from logcorr.correlate.listing import TRACE_SORT_KEPT, list_traces
    from logcorr.errors import UsageError
    from logcorr.render.rows import write_rows
    from logcorr.units import say_count

    if slowest is not None and (limit is not None or sort not in (None, "duration")):
        other = f"--limit {limit}" if limit is not None else f"--sort {sort}"
        raise UsageError(f"--slowest is the number of rows, sorted by duration: not with {other}",
                         f"logcorr traces --slowest {slowest}, or --sort duration --limit N")  # fmt: skip
    # the number of rows, and the option that sets it (named by the note under a table it cut)
    rows_n, option, kept = (
        (slowest, "--slowest", "the {n} slowest")
        if slowest is not None
        else (
            50 if limit is None else limit,
            "--limit",
            TRACE_SORT_KEPT.get(sort or "start", "the first {n}"),
        )
    )
    con = _open(db)
    try:
        rows = list_traces(con, _filter(system, has_errors, min_systems, since, until, user),
                           sort=sort or "start", limit=rows_n, slowest=slowest)  # fmt: skip
        found = write_rows(rows, fmt, title=lambda n: say_count(n, "trace"), limit=rows_n, limit_option=option,
                           kept=kept)  # fmt: skip
        _note_if_empty(con, db, found, user)
    finally:
        con.close()


def _note_dropped(n: int) -> None:
    """Under a search that found nothing stored: how many events the rules dropped match."""
    if n:
        from logcorr.units import say_count

        what = f"{say_count(n, 'event')} the rules dropped {'matches' if n == 1 else 'match'}"
        sys.stderr.write(f"note: {what}: --include-dropped lists them\n")


def search_cmd(
    text: str = Argument(..., help="Text to find in messages (case-insensitive), or a regex with --regex."),
    db: str = DB_OPT,
    regex: bool = Option(False, "--regex", "-E", help="Treat TEXT as a regular expression."),
    level: str = Option(None, "--level", help="Only events of this level (debug, info, log, warn, error)."),
    system: list[str] = Option(
        None, "--system", help="Only events of this system (repeatable; lines without a trace id too)."
    ),
    has_errors: bool = Option(False, "--has-errors", help="Only events in traces with an error."),
    min_systems: int = Option(0, "--min-systems", help="Only events in traces spanning at least N systems."),
    since: str = Option(None, "--since", help="ISO time, or a duration before the newest event."),
    until: str = Option(None, "--until", help="ISO time, or a duration before the newest event."),
    user: str = Option(None, "--user", help="Only events in traces of this user id."),
    trace_id: str = Option(None, "--trace", help="Only events of this trace (its id, or a unique prefix)."),
    include_dropped: bool = Option(
        False,
        "--include-dropped",
        help="Also find events rules dropped (their rule in dropped_by); trace filters then count them too.",
    ),
    limit: int = Option(
        100, "--limit", help="At most this many rows, the oldest; 0 lists all (default: 100)."
    ),
    fmt: RowFormat = Option(RowFormat.table, "--format", "-f", help="table, json, jsonl or csv."),
) -> None:
    """Find events by message text, oldest first.

    --has-errors, --min-systems and --user keep the events of traces that qualify by their stored events, as
    traces counts them; with --include-dropped, by their stored and dropped events together (a trace whose
    error line a rule dropped has an error). --level, --system, --since and --until are each event's own.

    \b
    Example: logcorr search "timeout" --system worker --since 2h
    Example: logcorr search "retry" --trace trace_1714910405337 --include-dropped
    """
    from logcorr.correlate.listing import SEARCH_KEPT, dropped_matches, search_events
    from logcorr.render.rows import write_rows
    from logcorr.units import say_count

    con = _open(db)
    try:
        if trace_id is not None:
            from logcorr.correlate.trace import resolve

            trace_id = resolve(con, trace_id)  # a prefix as `trace` takes it; no such trace exits 1, as there
        # --system is the event's own (as --level is): a trace filter left out the lines of no trace
        f = _filter([], has_errors, min_systems, since, until, user)
        rows = search_events(con, text, f, regex=regex, level=level, systems=system or [], limit=limit,
                             trace_id=trace_id, include_dropped=include_dropped)  # fmt: skip
        found = write_rows(rows, fmt, title=lambda n: say_count(n, "event"), limit=limit, kept=SEARCH_KEPT)
        _note_if_empty(con, db, found, user, dropped_too=include_dropped)
        if found == 0 and not include_dropped:
            # the line looked for may be one a rule dropped, which the ledger lists by trace or rule, not by text
            n = dropped_matches(
                con, text, f, regex=regex, level=level, systems=system or [], trace_id=trace_id
            )
            _note_dropped(n)
    finally:
        con.close()


def sql_cmd(
    query: str = Argument(..., help="A SQL query (read-only)."),
    db: str = DB_OPT,
    fmt: RowFormat = Option(RowFormat.table, "--format", "-f", help="table, json, jsonl or csv."),
) -> None:
    """Run a read-only SQL query on the database.

    Columns that share a name are all shown; in json and jsonl, whose keys must be unique, a repeated name
    gets the first free suffix (a, a_2, a_3, …). Lists, structs and maps are JSON in every format; a map's
    keys are written as text ({"1": 5, "2": 3}). Times are UTC (…T12:00:01.000Z, or .123456Z when a time
    has microseconds), a TIMESTAMPTZ too.

    \b
    Example: logcorr sql "SELECT system, count(*) FROM log_queue GROUP BY ALL" --format csv
    """
    from logcorr.render.rows import write_rows
    from logcorr.store.connection import resolve_db
    from logcorr.store.query import run_user_sql

    write_rows(run_user_sql(resolve_db(db), query), fmt)


def stats_cmd(
    db: str = DB_OPT,
    json_out: bool = Option(False, "--json", help="Print the statistics as JSON."),
) -> None:
    """Summarise the database: events per system, trace coverage and integrity, top errors.

    \b
    Example: logcorr stats --db app.duckdb
    """
    from logcorr.correlate.listing import stats
    from logcorr.render.console import write_json
    from logcorr.render.stats import render

    con = _open(db)
    data = stats(con)
    con.close()
    if json_out:
        from logcorr.render.rows import iso

        for row in data["per_system"]:  # times as every other JSON output writes them (…T12:06:40.000Z)
            row["first"], row["last"] = iso(row["first"]), iso(row["last"])
        write_json(data)
    else:
        render(data)


COMMANDS: dict[str, Callable[..., Any]] = {
    "trace": trace_cmd,
    "traces": traces_cmd,
    "search": search_cmd,
    "sql": sql_cmd,
    "stats": stats_cmd,
}


def register(app: Any) -> None:
    from logcorr.cli.main import register_commands

    register_commands(app, COMMANDS)
