"""Ordered, named schema migrations. Each runs once, in order, inside its own transaction.

The event columns are shared by `log_queue`, `recent_log_entries` and `drop_ledger`, so a row can
move between them with `INSERT … SELECT` and every table answers the same queries.
"""

from __future__ import annotations

import itertools
from typing import Any

from logcorr.errors import DatabaseError
from logcorr.model import SYSTEMS
from logcorr.rules.fingerprint import KEY_WITHOUT_TRACE, MACROS_SQL
from logcorr.store.query import sql_words

# `context` (JSON of a page's or a request's state, often kilobytes) is compressed with zstd: DuckDB's default for
# text, dictionary + FSST, took twice the CPU for a file three times as large (200,000 lines with 3.6 KB contexts:
# the INSERT 12.8 → 6.8 CPU-s, 491 → 174 MB; docs/performance.md, "contexts stored with zstd"). The tables of a
# database made before keep theirs (the rows are the same either way)
EVENT_COLUMNS = """
    event_id BIGINT NOT NULL,
    ts TIMESTAMP NOT NULL,
    client_ts TIMESTAMP,
    system VARCHAR NOT NULL,
    system_label VARCHAR,
    level VARCHAR NOT NULL,
    message VARCHAR NOT NULL,
    trace_id VARCHAR,
    trace_source VARCHAR NOT NULL,
    request_id VARCHAR,
    user_id VARCHAR,
    context JSON USING COMPRESSION zstd,
    stack VARCHAR,
    source_file VARCHAR NOT NULL,
    source_line BIGINT NOT NULL,
    source_format VARCHAR NOT NULL,
    fingerprint VARCHAR NOT NULL,
    event_key BIGINT NOT NULL,
    run_id INTEGER NOT NULL
"""

# names, in table order, for INSERT … SELECT between the event tables
EVENT_NAMES: tuple[str, ...] = tuple(
    line.split()[0] for line in EVENT_COLUMNS.strip().splitlines() if line.strip()
)

# the drop ledger as readers see it: every dropped event with its rule, reason and rule state. Stored as
# `drop_events` (the event and a reason_id) and `drop_reasons` (each distinct reason and rule state once):
# the drops of one flood, loop or refused trace share theirs, and writing them out per event was a third of
# the ledger's bytes and of its write time (schema v4). A trace's dropped events are found through
# `drop_traces` (`dropped_span`): an index of trace ids over millions of drops cost an ingest more than its
# writes did (1M records: 1.0-1.3 s of 20), one row per trace and run with its time span is a small one, and
# the span lets the zone maps of `ts` skip the rest of the ledger
_EVENT_LIST = ", ".join(f"e.{n}" for n in EVENT_NAMES)
DROP_LEDGER_VIEW = f"""
CREATE VIEW drop_ledger AS
SELECT {_EVENT_LIST}, e.rule, r.reason, r.rule_state
FROM drop_events e JOIN drop_reasons r USING (reason_id)
"""


# A trace is looked up by a 64-bit key of its id, not through an index. `trace_summary` (its stored events) and
# `drop_traces` (its dropped ones) hold a row per trace with its first and last event time, each ingest's rows
# written in key order: the zone maps of `trace_key` skip all but a row group or so of each ingest's, and the
# span then lets those of `ts` skip all of `log_queue` and `drop_events` but the trace's time (schema v10).
# DuckDB's ART index on `log_queue(trace_id)` held every id an ingest stored in memory until COMMIT, beyond
# the store phase's limit: 5M stored lines could not be committed. MD5, not DuckDB's `hash()`, whose values a
# DuckDB release may change: the keys are stored
TRACE_KEY = "md5_number_lower(trace_id)"
_BY_KEY = "trace_key = md5_number_lower($trace) AND trace_id = $trace"


def stored_span(con: Any, trace_id: str) -> tuple[Any, Any] | None:
    """The first and last event time of a trace's stored events (in `log_queue`), or None when none is stored:
    `log_queue WHERE trace_id = ? AND ts BETWEEN first AND last` then reads only that span."""
    row = con.execute(
        f"SELECT first_ts, last_ts FROM trace_summary WHERE {_BY_KEY}", {"trace": trace_id}
    ).fetchone()
    return None if row is None else (row[0], row[1])


def dropped_span(con: Any, trace_id: str) -> tuple[Any, Any] | None:
    """The first and last event time of a trace's dropped events (in `drop_events`), or None when none was
    dropped: `drop_ledger WHERE trace_id = ? AND ts BETWEEN first AND last` then reads only that span."""
    row = con.execute(
        f"SELECT min(first_ts), max(last_ts) FROM drop_traces WHERE {_BY_KEY}", {"trace": trace_id}
    ).fetchone()
    return None if row is None or row[0] is None else (row[0], row[1])


def union_span(*spans: tuple[Any, Any] | None) -> tuple[Any, Any] | None:
    """The span covering every given one (None: none given)."""
    given = [s for s in spans if s is not None]
    return (min(s[0] for s in given), max(s[1] for s in given)) if given else None


def trace_span(con: Any, trace_id: str) -> tuple[Any, Any] | None:
    """The span of a trace's events, stored and dropped together, or None when it has none."""
    return union_span(stored_span(con, trace_id), dropped_span(con, trace_id))


# one row per trace, kept up to date by every ingest for the traces it touched (`refresh_trace_summary`):
# `traces` reads it instead of aggregating every event on every call. Its systems counted without a DISTINCT
# aggregate, which DuckDB runs as a second grouping of every row by trace and system joined back: the three
# systems each one if any of their events is there, and any other system name (ingest writes none) by the
# distinct names of such events: the same count, in about half the aggregate's time (docs/performance.md,
# "Twenty-sixth session")
_SYSTEMS_COUNTED = (
    "("
    + " + ".join(f"bool_or(system = '{s}')::INTEGER" for s in SYSTEMS)
    + f" + coalesce(length(list_distinct(list(system) FILTER (WHERE system NOT IN ({sql_words(SYSTEMS)})))), 0))"
)
TRACE_SUMMARY_SELECT = f"""
    SELECT trace_id, min(ts), max(ts), date_diff('millisecond', min(ts), max(ts)), count(*),
           count(*) FILTER (WHERE level = 'error'),
           bool_or(system = 'browser'), bool_or(system = 'worker'), bool_or(system = 'backend'),
           {_SYSTEMS_COUNTED},
           concat_ws('→', CASE WHEN bool_or(system = 'browser') THEN 'browser' END,
                     CASE WHEN bool_or(system = 'worker') THEN 'worker' END,
                     CASE WHEN bool_or(system = 'backend') THEN 'backend' END),
           arg_min(user_id, ts) FILTER (WHERE user_id IS NOT NULL),
           list_sort(list_distinct(list(user_id) FILTER (WHERE user_id IS NOT NULL)))
    FROM log_queue
"""


# a trace summary's columns after its id (v3 made `trace_id` the key, v9 a plain NOT NULL column)
TRACE_SUMMARY_COLUMNS = """first_ts TIMESTAMP NOT NULL, last_ts TIMESTAMP NOT NULL, duration_ms BIGINT NOT NULL,
    events BIGINT NOT NULL, errors BIGINT NOT NULL, has_browser BOOLEAN NOT NULL, has_worker BOOLEAN NOT NULL,
    has_backend BOOLEAN NOT NULL, n_systems INTEGER NOT NULL, systems VARCHAR NOT NULL, first_user VARCHAR,
    users VARCHAR[]"""


def summary_insert(where: str) -> str:
    """The statement that writes the summaries of the stored traces `where` selects, in key order (`TRACE_KEY`)."""
    return (
        f"INSERT INTO trace_summary SELECT *, {TRACE_KEY} AS k FROM ({TRACE_SUMMARY_SELECT} WHERE {where} "
        "GROUP BY trace_id) ORDER BY k"
    )


def refresh_trace_summary(con: Any, run_id: int, also: list[str] | tuple[str, ...] = ()) -> None:
    """Recompute the summaries of the traces that run `run_id` stored events for, and of the traces `also`
    (ones earlier runs' events joined, see `stage.give_orphans_their_trace`)."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE touched AS SELECT DISTINCT trace_id FROM log_queue "
        "WHERE run_id = ? AND trace_id IS NOT NULL UNION SELECT unnest(?::VARCHAR[])",
        [run_id, list(also)],
    )
    # a part of the traces a statement: the aggregate's state (lists of users) is held whole, and 600k traces at
    # once did not fit the store phase's memory (`SUMMARY_PART`). The parts are ranges of trace ids, which the
    # scan of `log_queue` tests before the join with `touched` (by a hash of the id, every part joined every
    # row), and where ids grow with time (`trace_<ms>_…`) the zone maps of its rows, stored in or near time order,
    # skip the row groups of the other parts
    (n,) = con.execute("SELECT count(*) FROM touched").fetchall()[0]
    parts = max(1, -(-int(n) // SUMMARY_PART))
    bounds: list[str] = []
    if parts > 1:
        at = ", ".join(str(k / parts) for k in range(1, parts))
        # of a sample: the quantiles of every id are held in memory whole, and 2.5M did not fit the store phase's.
        # The parts come out about as large; any bounds give the same summaries
        (bounds,) = con.execute(
            f"SELECT quantile_disc(trace_id, [{at}]) FROM (SELECT trace_id FROM touched "
            f"USING SAMPLE reservoir({SUMMARY_SAMPLE} ROWS) REPEATABLE (1))"
        ).fetchall()[0]
    edges: list[str | None] = [None, *bounds, None]
    for lo, hi in itertools.pairwise(edges):
        within = " AND ".join(
            [
                *(["trace_id >= $lo"] if lo is not None else []),
                *(["trace_id < $hi"] if hi is not None else []),
            ]
        )
        params = {k: v for k, v in (("lo", lo), ("hi", hi)) if v is not None}
        where = f"{within or 'true'} AND trace_id IN (SELECT trace_id FROM touched WHERE {within or 'true'})"
        con.execute(f"DELETE FROM trace_summary WHERE {where}", params)
        con.execute(summary_insert(where), params)
    con.execute("DROP TABLE touched")


# how many traces' summaries one statement computes (see `refresh_trace_summary`)
SUMMARY_PART = 100_000
# how many of the touched ids the parts' bounds are taken from
SUMMARY_SAMPLE = 100_000


# v6: a Cloudflare Logpush or tail line with a Ray ID is keyed without its trace id (`lc_key_trace`), so its
# copy in the other export is recognised. The rows earlier ingests wrote with a trace id in the key get the key
# an ingest now gives them, so the same lines delivered again (the other export, an overlapping capture) are
# recognised as copies of them too. A key is recomputed from the row's columns and its position in its record
# (`part`, not stored), and rewritten only for the position whose key with the trace id is the row's stored
# key. The position tried first is the row's rank among its record's rows by event id (ids are given in the
# order the events were staged, which is their order in the record); only a row that key does not reproduce
# tries each position 0…n-1 of its record of n events (a stored record of several events whose lines were
# not all stored, say). A row whose key cannot be reproduced so (a record of more than 1,000 events is not
# searched) keeps it, as before. Trying every position of every row was quadratic in a record's events
# (650k tail rows in records of 1-20 lines: 7.2-7.8 s, now 2.5 s)
_CF_FORMATS = sql_words(KEY_WITHOUT_TRACE)
_CF_ROWS = f"""
    SELECT event_id, coalesce(epoch_ms(client_ts), epoch_ms(ts)) AS key_ts, system, level, message, trace_id,
           request_id, event_key, run_id, source_file, source_line, source_format
    FROM {{table}} WHERE source_format IN ({_CF_FORMATS})"""
_REKEY_CLOUDFLARE = f"""
    {MACROS_SQL}
    CREATE TEMP TABLE cf_rows AS
        SELECT *, count(*) OVER w AS n, row_number() OVER (w ORDER BY event_id) - 1 AS rank
        FROM ({_CF_ROWS.format(table="log_queue")} UNION ALL {_CF_ROWS.format(table="drop_events")})
        WINDOW w AS (PARTITION BY run_id, source_file, source_line, source_format);
    CREATE TEMP TABLE cf_rekey AS
        SELECT event_id, lc_event_key(key_ts, system, level, message, NULL, request_id, rank) AS event_key
        FROM cf_rows
        WHERE request_id IS NOT NULL AND trace_id IS NOT NULL
          AND lc_event_key(key_ts, system, level, message, trace_id, request_id, rank) = event_key;
    INSERT INTO cf_rekey
    WITH tried AS (
        SELECT r.event_id, r.event_key,
               lc_event_key(r.key_ts, r.system, r.level, r.message, r.trace_id, r.request_id, p.part) AS was,
               lc_event_key(r.key_ts, r.system, r.level, r.message, NULL, r.request_id, p.part) AS now
        FROM cf_rows r ANTI JOIN cf_rekey k USING (event_id),
             LATERAL (SELECT range AS part FROM range(r.n)) p
        WHERE r.request_id IS NOT NULL AND r.trace_id IS NOT NULL AND r.n BETWEEN 2 AND 1000)
    SELECT event_id, any_value(now) AS event_key FROM tried WHERE was = event_key GROUP BY event_id;
    UPDATE log_queue SET event_key = k.event_key FROM cf_rekey k WHERE log_queue.event_id = k.event_id;
    UPDATE recent_log_entries SET event_key = k.event_key FROM cf_rekey k WHERE recent_log_entries.event_id = k.event_id;
    UPDATE drop_events SET event_key = k.event_key FROM cf_rekey k WHERE drop_events.event_id = k.event_id;
    DROP TABLE cf_rekey;
    DROP TABLE cf_rows;
"""

# v7: where each run's read of a file began. A log that grew since a run read it is read from the line after
# that run's last (`ingest._appended`): `continues_run` is the run whose read this one continues (NULL: read
# from its start), `first_line` the file's first line this run read (NULL: none read, the file was already
# ingested). Both were in the prose of `notes` only, and `ingest --strict` read them back from it with a
# pattern. An earlier logcorr's rows get them from that note (worded so since grown logs were first read on:
# `grown since run 1: read from line 1,201`); a row without it read the file from line 1, or none of it
_GROWN_READ = r"(?:^|; )grown since run ([0-9]+): read from line ([0-9][0-9,]*)"
_READ_STARTS = f"""
    ALTER TABLE ingest_files ADD COLUMN continues_run INTEGER;
    ALTER TABLE ingest_files ADD COLUMN first_line BIGINT;
    UPDATE ingest_files SET
        continues_run = CAST(nullif(regexp_extract(coalesce(notes, ''), '{_GROWN_READ}', 1), '') AS INTEGER),
        first_line = CASE WHEN status IN ('ingested', 'partial') THEN coalesce(
            CAST(nullif(replace(regexp_extract(coalesce(notes, ''), '{_GROWN_READ}', 2), ',', ''), '') AS BIGINT),
            1) END;
"""

# v8: the zone an `npx convex logs` text file's times were read in (`local_tz`), and whether it was named
# (`--local-tz`, `$LOGCORR_LOCAL_TZ`: `local_tz_given`) rather than that machine's. A grown file's new lines are
# read in it (`ingest._zone_then`), and a copy met again says it when another zone is given (`_other_zone`); it
# was in the prose of `notes` only, which they read back with a pattern. An earlier logcorr's text rows get them
# from that note as they read it: the first `times read in UTC (--local-tz / $LOGCORR_LOCAL_TZ), to the second`
# or `times read in this machine's zone, Asia/Tokyo, to the second (…)` in the notes; a row without one (or not
# of text: they read only those) has neither
_ZONE_READ = r"times read in (?:this machine''s zone, )?(.+?)( \(--local-tz|, to the second)"
_READ_ZONES = f"""
    ALTER TABLE ingest_files ADD COLUMN local_tz VARCHAR;
    ALTER TABLE ingest_files ADD COLUMN local_tz_given BOOLEAN;
    UPDATE ingest_files SET
        local_tz = regexp_extract(notes, '{_ZONE_READ}', 1),
        local_tz_given = regexp_extract(notes, '{_ZONE_READ}', 2) = ' (--local-tz'
    WHERE mode = 'convex-text' AND regexp_matches(notes, '{_ZONE_READ}');
"""

# v9: `trace_summary` without its PRIMARY KEY. Each ingest deletes and rewrites the summaries of the traces it
# touched, and DuckDB's key index made that cost more than the rest of the ingest where they are many: the
# browser's export of 600k requests ingested after the backend's ran out of the store phase's memory, and with
# the new summaries computed into a TEMP table first its COMMIT took 22 s (without the key 0.03 s). Nothing looks a summary up by its id (`traces`,
# `stats` and `search` read the table whole), and `refresh_trace_summary` keeps one row a trace
_SUMMARY_UNKEYED = f"""
    CREATE TABLE trace_summary_v9 (trace_id VARCHAR NOT NULL, {TRACE_SUMMARY_COLUMNS});
    INSERT INTO trace_summary_v9 SELECT * FROM trace_summary;
    DROP TABLE trace_summary;
    ALTER TABLE trace_summary_v9 RENAME TO trace_summary;
"""

# v10: traces looked up by key, not through an index (see `TRACE_KEY`). The ART indexes on `log_queue(trace_id)`
# and `drop_traces(trace_id)` go; `trace_summary` and `drop_traces` get `trace_key`, their rows rewritten in
# its order
_TRACE_KEYS = f"""
    DROP INDEX log_queue_trace;
    DROP INDEX drop_traces_trace;
    CREATE TABLE trace_summary_v10 (trace_id VARCHAR NOT NULL, {TRACE_SUMMARY_COLUMNS}, trace_key UBIGINT NOT NULL);
    INSERT INTO trace_summary_v10 SELECT *, {TRACE_KEY} AS k FROM trace_summary ORDER BY k, trace_id;
    DROP TABLE trace_summary;
    ALTER TABLE trace_summary_v10 RENAME TO trace_summary;
    CREATE TABLE drop_traces_v10 (trace_id VARCHAR NOT NULL, first_ts TIMESTAMP NOT NULL, last_ts TIMESTAMP NOT NULL,
                                  run_id INTEGER NOT NULL, trace_key UBIGINT NOT NULL);
    INSERT INTO drop_traces_v10 SELECT *, {TRACE_KEY} AS k FROM drop_traces ORDER BY run_id, k;
    DROP TABLE drop_traces;
    ALTER TABLE drop_traces_v10 RENAME TO drop_traces;
"""

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "initial tables",
        f"""
        CREATE TABLE ingest_runs (
            run_id INTEGER PRIMARY KEY,
            started_at TIMESTAMP NOT NULL,
            finished_at TIMESTAMP,
            logcorr_version VARCHAR,
            policy_hash VARCHAR,
            files INTEGER,
            events_stored BIGINT,
            events_dropped BIGINT,
            rejected BIGINT
        );
        CREATE TABLE ingest_files (
            run_id INTEGER NOT NULL,
            file_id INTEGER NOT NULL,
            path VARCHAR NOT NULL,
            size BIGINT,
            content_hash VARCHAR,
            status VARCHAR NOT NULL,
            mode VARCHAR,
            formats VARCHAR,
            lines BIGINT,
            blank BIGINT,
            records BIGINT,
            records_with_events BIGINT,
            records_metric_only BIGINT,
            records_skipped BIGINT,
            rejected BIGINT,
            events BIGINT,
            stored BIGINT,
            dropped BIGINT,
            metrics BIGINT,
            notes VARCHAR
        );
        CREATE TABLE log_queue ({EVENT_COLUMNS}, processed BOOLEAN NOT NULL DEFAULT false);
        CREATE TABLE recent_log_entries ({EVENT_COLUMNS}, expires_at TIMESTAMP NOT NULL);
        CREATE TABLE drop_ledger ({EVENT_COLUMNS}, rule VARCHAR NOT NULL, reason VARCHAR NOT NULL, rule_state JSON);
        CREATE TABLE rejects (
            run_id INTEGER NOT NULL,
            source_file VARCHAR NOT NULL,
            source_line BIGINT NOT NULL,
            source_format VARCHAR,
            reason VARCHAR NOT NULL,
            excerpt VARCHAR
        );
        CREATE TABLE metrics (
            ts TIMESTAMP NOT NULL,
            system VARCHAR NOT NULL,
            topic VARCHAR NOT NULL,
            data JSON,
            source_file VARCHAR NOT NULL,
            source_line BIGINT NOT NULL,
            source_format VARCHAR NOT NULL,
            run_id INTEGER NOT NULL
        );
        CREATE INDEX log_queue_trace ON log_queue (trace_id);
        CREATE INDEX drop_ledger_trace ON drop_ledger (trace_id);
        """,
    ),
    (
        2,
        "rule state",
        # the rule engine's state at the end of the last ingest (replaced as a whole each ingest), and
        # the budget threshold moments (appended); see logcorr/rules/persist.py and docs/rules.md
        """
        CREATE TABLE rate_limit_state (
            system VARCHAR PRIMARY KEY,
            clock TIMESTAMP NOT NULL,           -- the engine's event-time clock (same in every row)
            window_start TIMESTAMP,             -- the current rate-limit window
            tier INTEGER NOT NULL,
            tier_limit INTEGER NOT NULL,
            window_count INTEGER NOT NULL,      -- stored in the window
            window_offered INTEGER NOT NULL,    -- reached the rate rule in the window
            window_grace INTEGER NOT NULL,      -- stored through the trace grace in the window
            calm_windows INTEGER NOT NULL,
            month VARCHAR NOT NULL,             -- YYYY-MM, calendar month UTC of event time
            month_quota BIGINT NOT NULL,        -- this system's share
            month_own BIGINT NOT NULL,          -- writes charged to its own share
            month_borrowed BIGINT NOT NULL,     -- writes charged to other shares
            month_lent BIGINT NOT NULL,         -- other systems' writes charged to this share
            run_id INTEGER NOT NULL
        );
        CREATE TABLE message_fingerprints (
            rule VARCHAR NOT NULL,              -- loop | cross_system
            system VARCHAR NOT NULL,
            level VARCHAR,                      -- loop only
            trace_id VARCHAR,                   -- cross_system only
            fingerprint VARCHAR NOT NULL,
            ts TIMESTAMP NOT NULL,              -- a stored copy
            expires_at TIMESTAMP NOT NULL,      -- when it leaves the rule's window
            run_id INTEGER NOT NULL
        );
        CREATE TABLE trace_state (
            trace_id VARCHAR PRIMARY KEY,
            systems VARCHAR[] NOT NULL,         -- systems that stored events of it (admitted)
            last_seen TIMESTAMP NOT NULL,
            refused_until TIMESTAMP,
            refused_by VARCHAR,
            refused_rule VARCHAR,
            refused_at TIMESTAMP,
            run_id INTEGER NOT NULL
        );
        CREATE TABLE budget_thresholds (
            month VARCHAR NOT NULL,
            scope VARCHAR NOT NULL,             -- total | browser | worker | backend
            pct DOUBLE NOT NULL,
            reached_at TIMESTAMP NOT NULL,      -- event time of the write that reached it
            used BIGINT NOT NULL,
            quota BIGINT NOT NULL,
            run_id INTEGER NOT NULL,
            PRIMARY KEY (month, scope, pct)
        );
        """,
    ),
    (
        3,
        "trace summaries",
        f"""
        CREATE TABLE trace_summary (trace_id VARCHAR PRIMARY KEY, {TRACE_SUMMARY_COLUMNS});
        INSERT INTO trace_summary {TRACE_SUMMARY_SELECT} WHERE trace_id IS NOT NULL GROUP BY trace_id;
        """,
    ),
    (
        4,
        "drop reasons once",
        # the ledger's rows split into events and their distinct reasons; `drop_ledger` becomes a view
        # with the same columns (DROP_LEDGER_VIEW)
        f"""
        CREATE TABLE drop_reasons (reason_id BIGINT NOT NULL, reason VARCHAR NOT NULL, rule_state JSON);
        CREATE TABLE drop_events ({EVENT_COLUMNS}, rule VARCHAR NOT NULL, reason_id BIGINT NOT NULL);
        INSERT INTO drop_reasons
            SELECT row_number() OVER (ORDER BY first_event), reason, rule_state
            FROM (SELECT reason, rule_state, min(event_id) AS first_event FROM drop_ledger GROUP BY ALL);
        INSERT INTO drop_events
            SELECT {", ".join(f"d.{n}" for n in EVENT_NAMES)}, d.rule, r.reason_id
            FROM drop_ledger d JOIN drop_reasons r
                 ON r.reason = d.reason AND r.rule_state IS NOT DISTINCT FROM d.rule_state
            ORDER BY d.event_id;
        DROP INDEX drop_ledger_trace;
        DROP TABLE drop_ledger;
        {DROP_LEDGER_VIEW};
        CREATE TABLE drop_traces (trace_id VARCHAR NOT NULL, first_ts TIMESTAMP NOT NULL, last_ts TIMESTAMP NOT NULL,
                                  run_id INTEGER NOT NULL);
        INSERT INTO drop_traces
            SELECT trace_id, min(ts), max(ts), run_id FROM drop_events WHERE trace_id IS NOT NULL GROUP BY ALL;
        CREATE INDEX drop_traces_trace ON drop_traces (trace_id);
        """,
    ),
    (
        5,
        "redactions per run",
        # what each ingest replaced, by kind (`[REDACTED:<kind>]`): it was in the ingest summary only
        "ALTER TABLE ingest_runs ADD COLUMN redactions MAP(VARCHAR, BIGINT);",
    ),
    (6, "Cloudflare request lines keyed without their trace id", _REKEY_CLOUDFLARE),
    (7, "where each read of a file began", _READ_STARTS),
    (8, "the zone each text log was read in", _READ_ZONES),
    (9, "trace summaries without a primary key", _SUMMARY_UNKEYED),
    (10, "traces looked up by key, not by index", _TRACE_KEYS),
]

LATEST = MIGRATIONS[-1][0]


def _current(con: Any, path: str) -> int:
    tables = {
        r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE NOT temporary").fetchall()
    }
    if tables and "schema_migrations" not in tables:
        # someone else's database: logcorr's tables would be added among theirs
        shown = ", ".join(sorted(tables)[:5]) + (" …" if len(tables) > 5 else "")
        raise DatabaseError(
            f"{path} is not a logcorr database (it holds other tables: {shown}); nothing was changed",
            "give ingest a new file with --db",
        )
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)"
    )
    row = con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    return int(row[0]) if row else 0


def migrate_schema(con: Any, path: str = "the database") -> int:
    """Apply pending migrations in order; returns the schema version."""
    version = _current(con, path)
    if version > LATEST:
        raise DatabaseError(
            f"database schema v{version} is newer than this logcorr (v{LATEST})", "upgrade logcorr"
        )
    for number, name, sql in MIGRATIONS:
        if number <= version:
            continue
        con.execute("BEGIN")
        try:
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [number, name])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        version = number
    return version


def check_schema(con: Any, path: str) -> None:
    """For read-only connections: the schema must exist and be current."""
    import duckdb

    try:
        row = con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    except (duckdb.CatalogException, duckdb.BinderException) as e:  # no such table, or not ours
        raise DatabaseError(f"{path} is not a logcorr database (no schema_migrations table)") from e
    version = int(row[0]) if row else 0
    if version > LATEST:
        raise DatabaseError(
            f"{path} has schema v{version}, newer than this logcorr's v{LATEST}",
            "upgrade logcorr (a newer version wrote this database)",
        )
    if version != LATEST:
        raise DatabaseError(
            f"{path} has schema v{version}, this logcorr needs v{LATEST}",
            f"an ingest migrates it: `logcorr ingest FILE --db {path}` with any input (a file it already "
            "ingested adds nothing)",
        )
