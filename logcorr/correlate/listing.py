"""Trace lists, event search and database statistics — all computed in DuckDB."""

from __future__ import annotations

from typing import Any

from logcorr.correlate.filters import TraceFilter, having_sql, summary_sql, time_sql
from logcorr.errors import UsageError
from logcorr.model import LEVELS, PRESSURE_RULES
from logcorr.store.query import RowStream, fetch_dicts, sql_limit, stream_dicts
from logcorr.store.schema import trace_span

# sort name -> trace_summary column, always descending, ties by trace_id
TRACE_SORTS = {
    "start": "first_ts",
    "duration": "duration_ms",
    "events": "events",
    "errors": "errors",
    "systems": "n_systems",
}

# which traces a list cut at its limit holds, by sort ("the 50 newest"; `{n}` the limit)
TRACE_SORT_KEPT = {
    "start": "the {n} newest",
    "duration": "the {n} longest",
    "events": "the {n} with the most events",
    "errors": "the {n} with the most errors",
    "systems": "the {n} spanning the most systems",
}
# `search`: events oldest first (by time, then as ingested), so a cut list holds the oldest
SEARCH_KEPT = "the {n} oldest"


def list_traces(
    con: Any, f: TraceFilter, *, sort: str = "start", limit: int = 50, slowest: int | None = None
) -> RowStream:
    """One row per trace: systems, start, duration (raw clock times), event and error counts, first user.
    --since/--until select traces overlapping the window; their figures cover the whole trace.
    Reads `trace_summary`, which every ingest keeps current for the traces it touched."""
    f.validate()
    if sort not in TRACE_SORTS:
        raise UsageError(f"unknown sort {sort!r}", f"choose from {', '.join(TRACE_SORTS)}")
    n = sql_limit(limit) if slowest is None else sql_limit(slowest, "--slowest")
    if slowest is not None:
        sort = "duration"
    window, wparams = time_sql(con, f, first="first_ts", last="last_ts")
    where, params = summary_sql(f)
    key = TRACE_SORTS[sort]
    # The sort key of the n-th row is found first from that one column; only rows at or above it are then
    # read whole (trace ids, systems, users), instead of every matching trace's strings: ~1/3 less time
    # on a cold 2M-trace table. Same rows, same order.
    return stream_dicts(
        con,
        f"""
        SELECT trace_id, systems, n_systems, first_ts AS start, duration_ms, events, errors, first_user AS user_id
        FROM trace_summary
        WHERE {where} AND {window} AND {key} >= (
            SELECT min(k) FROM (SELECT {key} AS k FROM trace_summary WHERE {where} AND {window} ORDER BY k DESC LIMIT ?))
        ORDER BY {key} DESC, trace_id
        LIMIT ?
        """,
        [*params, *wparams, *params, *wparams, n, n],
        limited=n is not None,
    )


# A Convex line of several arguments is stored as the log stream gives it, each string argument quoted by
# object-inspect (a `'` inside written `\'`) and the arguments joined with a space: `console.log('charge
# failed:', err.message)` is `'charge failed:' 'card declined'` (only a single string argument is unquoted,
# `sources/convex_stream.unquote_inspect`; the stored text is part of the duplicate key, so it stays). A plain
# search also compares the text with the quotes of such arguments taken away, as that function takes a single
# one's: `charge failed: card declined`. An argument is a quoted string that begins the text or follows a
# space, and ends it or is followed by one; the `'` inside it are all escaped, so a `\'` never closes one nor
# an apostrophe in an error's rendering (`[Error: can't connect]`) opens one, and the space between two
# arguments stays (`'a' 'b'` is `a b`, never `ab`). A pass takes every other argument of a run of them (the
# space after one is the one before the next, and RE2 has no look-ahead), so two passes take them all.
_ARG = r"(^| )'((?:[^'\\]|\\.)*)'( |$)"
_ONE_PASS = "regexp_replace({}, '" + _ARG.replace("'", "''") + r"', '\1\2\3', 'g')"
UNQUOTED_ARGS_SQL = "replace(" + _ONE_PASS.format(_ONE_PASS.format("message")) + r", '\''', '''')"


def _plain_match(text: str) -> tuple[str, list[Any]]:
    """The condition of a plain (not `--regex`) search and its parameters: `text` a substring of the message,
    case-insensitive (`%` and `_` in it are text, not LIKE's wildcards), or of the message with its quoted
    arguments' quotes taken away (`UNQUOTED_ARGS_SQL`).

    Taking the quotes away only deletes characters: a `'` beside a space or an end of the text, the `\\` of a
    `\\'`. So a text with no space and no `'` is in the unquoted message only where it is in the stored one,
    and the plain test is all there is to it; and a message whose unquoted form holds the text holds the text
    with more characters around its spaces and before its `'` (`loose`), which is tested before the two
    rewrites are made: on the 10M-event bench database with every backend line quoted, rewriting every quoted
    line took 1.8 s against 0.4 s for the plain search. The condition reads the message only, so DuckDB tests
    it in its scan: with the row's system in it too (backend rows only), DuckDB read every column of every
    row to test it, +16 % on a search that finds nothing."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    plain = f"%{escaped}%"
    if " " not in text and "'" not in text:
        return "message ILIKE ? ESCAPE '\\'", [plain]
    loose = "%" + escaped.replace(" ", "% %").replace("'", "%'") + "%"
    return (
        "(message ILIKE ? ESCAPE '\\' OR (contains(message, '''') AND message ILIKE ? ESCAPE '\\' "
        f"AND {UNQUOTED_ARGS_SQL} ILIKE ? ESCAPE '\\'))",
        [plain, loose, plain],
    )


def search_events(con: Any, text: str, f: TraceFilter, *, regex: bool = False, level: str | None = None,
                  systems: list[str] | None = None, limit: int = 100, trace_id: str | None = None,
                  include_dropped: bool = False) -> RowStream:  # fmt: skip
    """Events whose message matches `text` (substring, case-insensitive) or a regular expression; `systems`:
    of these systems only (the event's own, with or without a trace; `f.systems` are a trace's); `trace_id`:
    of that trace only (a whole id); `include_dropped`: the events the rules dropped too, each with its rule
    in `dropped_by` (None for a stored one), and the trace conditions of `f` (errors, systems, user) judged on
    a trace's stored and dropped events together (`_search_sql`)."""
    sql, params = _search_sql(con, text, f, regex, level, systems, trace_id, include_dropped)
    n = sql_limit(limit)
    if include_dropped:
        columns = "ts, system, level, trace_id, message, source_file, source_line"
        sql = f"""
            SELECT {columns}, dropped_by FROM (
                SELECT {columns}, event_id, NULL::VARCHAR AS dropped_by FROM log_queue
                UNION ALL
                SELECT {columns}, event_id, rule FROM drop_events)
            WHERE {sql}
            ORDER BY ts, event_id LIMIT ?
            """
        return stream_dicts(con, sql, [*params, n], limited=n is not None)
    return stream_dicts(
        con,
        f"""
        SELECT ts, system, level, trace_id, message, source_file, source_line
        FROM log_queue WHERE {sql}
        ORDER BY ts, event_id LIMIT ?
        """,
        [*params, n],
        limited=n is not None,
    )


def dropped_matches(con: Any, text: str, f: TraceFilter, *, regex: bool = False, level: str | None = None,
                    systems: list[str] | None = None, trace_id: str | None = None) -> int:  # fmt: skip
    """How many events the rules dropped `search_events` would find with `include_dropped`."""
    sql, params = _search_sql(con, text, f, regex, level, systems, trace_id, include_dropped=True)
    return int(con.execute(f"SELECT count(*) FROM drop_events WHERE {sql}", params).fetchone()[0])


# every event logged, stored or dropped, as the trace conditions of a search with the dropped events read them
_LOGGED = """(SELECT trace_id, system, level, user_id FROM log_queue
              UNION ALL SELECT trace_id, system, level, user_id FROM drop_events)"""


def _search_sql(con: Any, text: str, f: TraceFilter, regex: bool, level: str | None, systems: list[str] | None,
                trace_id: str | None, include_dropped: bool = False) -> tuple[str, list[Any]]:  # fmt: skip
    """The condition on an event's columns (`log_queue`'s, or `drop_events'`) of a search, and its
    parameters. The trace conditions of `f` (an error, systems, a user) are judged on a trace's stored events,
    as `traces` lists them; with `include_dropped`, on its stored and dropped events together: the search
    asks what was logged, and a trace whose error line a rule dropped, or whose every line was dropped,
    had that error, those systems, that user. Either way the time bounds and `level` and `systems` are each
    event's own."""
    f.validate()
    TraceFilter(systems=list(systems or [])).validate()
    level = (
        level.lower() if level is not None else None
    )  # ERROR as the exports write it: the stored level is error
    if level is not None and level not in LEVELS:
        raise UsageError(f"unknown level {level!r}", f"choose from {', '.join(LEVELS)}")
    import duckdb

    match, mparams = ("regexp_matches(message, ?)", [text]) if regex else _plain_match(text)
    where, wparams = time_sql(con, f)
    clauses = [match, where]
    params: list[Any] = [*mparams, *wparams]
    if level:
        clauses.append("level = ?")
        params.append(level)
    if systems:
        clauses.append(f"system IN ({', '.join('?' for _ in systems)})")
        params.extend(systems)
    if trace_id is not None:
        # its events lie in its span, stored and dropped: the zone maps of `ts` skip the rest
        clauses.append("trace_id = ? AND ts BETWEEN ? AND ?")
        params += [trace_id, *(trace_span(con, trace_id) or (None, None))]
    if f.trace_level and include_dropped:
        having, hparams = having_sql(f)
        clauses.append(
            f"trace_id IN (SELECT trace_id FROM {_LOGGED} WHERE trace_id IS NOT NULL GROUP BY trace_id "
            f"HAVING {having})"
        )
        params.extend(hparams)
    elif f.trace_level:
        # the stored events' traces as `traces` reads them: a row a trace, where grouping every stored event
        # took 1.4-2.3 s of a 10M-event search (0.8-1.3 s so)
        summary, sparams = summary_sql(f)
        clauses.append(f"trace_id IN (SELECT trace_id FROM trace_summary WHERE {summary})")
        params.extend(sparams)
    if regex:  # checked first: the rows are read while they are written
        try:
            con.execute("SELECT regexp_matches('', ?)", [text]).fetchall()
        except duckdb.Error as e:
            raise UsageError(f"bad regular expression {text!r}: {str(e).splitlines()[0]}") from e
    return " AND ".join(clauses), params


MESSAGE_WITHOUT_TRACE_SQL = (
    "CASE WHEN length(trace_id) >= 8 THEN replace(message, trace_id, '<trace_id>') ELSE message END"
)


def stats(con: Any, top: int = 10) -> dict[str, Any]:
    """Events per system, trace-id coverage, traces by number of systems, integrity, top errors, what redaction
    replaced."""
    per_system = fetch_dicts(
        con,
        """
        SELECT system, count(*) AS events, count(trace_id) AS with_trace, count(*) - count(trace_id) AS orphans,
               round(100.0 * count(trace_id) / count(*), 1) AS trace_pct,
               count(*) FILTER (WHERE level = 'error') AS errors,
               min(ts) AS first, max(ts) AS last
        FROM log_queue GROUP BY system ORDER BY CASE system WHEN 'browser' THEN 1 WHEN 'worker' THEN 2 ELSE 3 END
        """,
    )
    by_systems = fetch_dicts(
        con,
        """
        SELECT n_systems, count(*) AS traces FROM trace_summary GROUP BY n_systems ORDER BY n_systems
        """,
    )
    sources = fetch_dicts(
        con,
        "SELECT trace_source, count(*) AS events FROM log_queue GROUP BY trace_source ORDER BY events DESC",
    )
    # as ingest counts it (rules/report.trace_integrity): a trace's systems are those of its stored events and
    # of the events the pressure rules dropped, so a trace that lost a whole system to them still counts;
    # cut = some of it stored and some dropped by them, refused whole = none stored
    pressure = ", ".join(f"'{r}'" for r in PRESSURE_RULES)
    integrity = fetch_dicts(
        con,
        f"""
        WITH d AS (
            SELECT trace_id, bool_or(system = 'browser') AS b, bool_or(system = 'worker') AS w,
                   bool_or(system = 'backend') AS k, count(*) AS n
            FROM drop_events WHERE trace_id IS NOT NULL AND rule IN ({pressure}) GROUP BY trace_id
        ), t AS (
            SELECT (coalesce(s.has_browser, false) OR coalesce(d.b, false))::INTEGER
                   + (coalesce(s.has_worker, false) OR coalesce(d.w, false))::INTEGER
                   + (coalesce(s.has_backend, false) OR coalesce(d.k, false))::INTEGER AS systems,
                   coalesce(s.events, 0) AS kept, coalesce(d.n, 0) AS cut
            FROM trace_summary s FULL JOIN d USING (trace_id)
        )
        SELECT count(*) FILTER (WHERE systems > 1) AS multi_system_traces,
               count(*) FILTER (WHERE systems > 1 AND cut > 0 AND kept > 0) AS cut_by_rules,
               count(*) FILTER (WHERE systems > 1 AND kept = 0) AS refused_whole
        FROM t
        """,
    )[0]
    multi = integrity["multi_system_traces"]
    integrity["integrity"] = round(1 - integrity["cut_by_rules"] / multi, 4) if multi else None
    # the top messages first (a count per message), then systems and distinct traces for those only:
    # a distinct count per message over every error message was most of the time of `stats`. A message names
    # its own trace as `<trace_id>` (the app logs `failed trace_id=…`: each request's error was a message of
    # its own); an id shorter than 8 characters may be a word of the text too, and is left in it
    top_errors = fetch_dicts(
        con,
        f"""
        WITH errs AS (SELECT left({MESSAGE_WITHOUT_TRACE_SQL}, 120) AS message, system, trace_id
                      FROM log_queue WHERE level = 'error'),
             top AS (SELECT message, count(*) AS n FROM errs GROUP BY message ORDER BY n DESC, message LIMIT ?)
        SELECT message, n, list_sort(list_distinct(list(system))) AS systems, count(DISTINCT trace_id) AS traces
        FROM errs JOIN top USING (message) GROUP BY message, n ORDER BY n DESC, message
        """,
        [top],
    )
    # what redaction replaced, by kind, over every ingest (runs before schema v5 recorded none)
    redactions = fetch_dicts(
        con,
        """
        SELECT e.key AS kind, sum(e.value)::BIGINT AS replaced
        FROM (SELECT unnest(map_entries(redactions)) AS e FROM ingest_runs WHERE redactions IS NOT NULL)
        GROUP BY kind ORDER BY replaced DESC, kind
        """,
    )
    totals = con.execute(
        "SELECT (SELECT count(*) FROM drop_events), (SELECT count(*) FROM rejects), (SELECT count(*) FROM trace_summary)"
    ).fetchone()
    return {
        "events": sum(r["events"] for r in per_system),
        "dropped": totals[0],
        "rejected": totals[1],
        "traces": totals[2],
        "orphans": sum(r["orphans"] for r in per_system),
        "per_system": per_system,
        "traces_by_systems": by_systems,
        "trace_sources": sources,
        "trace_integrity": integrity,
        "top_errors": top_errors,
        "redactions": redactions,
    }
