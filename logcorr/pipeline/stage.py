"""Staging: normalised rows (already redacted and fingerprinted) in Arrow batches, held or spooled to
files (`spool.py`) and loaded into DuckDB TEMP tables when parsing ends (the events' rules columns; their
whole rows stay spooled for the store), so memory stays flat however large the input is. Nothing
unredacted is ever staged."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson
import pyarrow as pa

from logcorr.gcpause import gc_paused
from logcorr.model import LEVELS, SYSTEMS, Event, Metric
from logcorr.pipeline.spool import Extend, Spool
from logcorr.rules.fingerprint import MACROS_SQL, fingerprint
from logcorr.rules.redact import FOLDING, TAIL, Redactor, might_hold_secret, tail_pattern, trigger_words
from logcorr.rules.suppress import Suppressor
from logcorr.sources.fast import ColumnBuffers, StageBatch, column_buffers, flag_rows, stage_batch, stage_keys
from logcorr.sources.outcomes import EXCERPT, excerpt
from logcorr.store.query import sql_enum
from logcorr.store.schema import TRACE_KEY

if TYPE_CHECKING:
    from logcorr.rules.policy import Policy

STAGING_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("file_id", pa.int32()),
        ("ts_ms", pa.int64()),
        ("client_ts_ms", pa.int64()),
        ("system", pa.string()),
        ("system_label", pa.string()),
        ("level", pa.string()),
        ("message", pa.string()),
        ("trace_id", pa.string()),
        ("trace_source", pa.string()),
        ("request_id", pa.string()),
        ("user_id", pa.string()),
        ("context", pa.string()),
        ("stack", pa.string()),
        ("source_line", pa.int64()),
        ("source_format", pa.string()),
        ("part", pa.int32()),
        ("suppressed", pa.string()),
    ]
)
METRIC_SCHEMA = pa.schema(
    [
        ("file_id", pa.int32()),
        ("source_line", pa.int64()),
        ("source_format", pa.string()),
        ("ts_ms", pa.int64()),
        ("system", pa.string()),
        ("topic", pa.string()),
        ("data", pa.string()),
    ]
)
REJECT_SCHEMA = pa.schema(
    [
        ("file_id", pa.int32()),
        ("source_line", pa.int64()),
        ("source_format", pa.string()),
        ("reason", pa.string()),
        ("excerpt", pa.string()),
    ]
)

# lines of one request (a Convex function run, a Worker invocation) take the trace id its lines carry, when
# they carry one (a request whose lines name several, a batch or a sync over many traces, gives none: which
# trace its other lines, its errors say, belong to is not known): a map built in a first pass over the
# spooled events, joined as they are loaded (an UPDATE of staging afterwards took 0.55-0.7 s at 1M records,
# the map and the join 0.17 + 0.19 s). The lines an earlier ingest stored or dropped count too (`_EARLIER`),
# for the requests a line here has no id of its own in, looked for within `REQUEST_MARGIN_MS` of their
# times: a log that grows is ingested in parts, and a request's lines fall on both sides of a cut (its id on
# the first line, its execution line on the next part's)
_REQUEST_MAP = """
    CREATE OR REPLACE TEMP TABLE request_ids AS
    SELECT request_id, min(trace_id) AS lo_id, max(trace_id) AS hi_id,
           min(ts_ms) FILTER (WHERE trace_id IS NULL) AS lo, max(ts_ms) FILTER (WHERE trace_id IS NULL) AS hi,
           min(ts_ms) FILTER (WHERE trace_id IS NOT NULL) AS id_lo, max(ts_ms) FILTER (WHERE trace_id IS NOT NULL) AS id_hi
    FROM ({kept}) WHERE request_id IS NOT NULL GROUP BY request_id;
    CREATE OR REPLACE TEMP TABLE request_carriers AS
    SELECT request_id, id_lo - {margin} AS lo, id_hi + {margin} AS hi FROM request_ids WHERE id_lo IS NOT NULL;
    CREATE OR REPLACE TEMP TABLE request_traces AS
    WITH wanted AS (SELECT request_id, lo - {margin} AS lo, hi + {margin} AS hi FROM request_ids WHERE lo IS NOT NULL),
    span AS (SELECT make_timestamp(min(lo) * 1000) AS lo, make_timestamp(max(hi) * 1000) AS hi FROM wanted),
    earlier AS ({earlier})
    SELECT request_id, min(lo_id) AS trace_id FROM (
        SELECT request_id, lo_id, hi_id FROM request_ids WHERE lo_id IS NOT NULL
        UNION ALL SELECT request_id, trace_id, trace_id FROM earlier)
    GROUP BY request_id HAVING min(lo_id) = max(hi_id);
    DROP TABLE request_ids;
"""
# the same map when no earlier ingest stored or dropped a line (a new database): only the lines with an id
# are grouped, 0.1 s against 0.2 s at 1M records
_REQUEST_MAP_ALONE = """
    CREATE OR REPLACE TEMP TABLE request_traces AS
    SELECT request_id, min(trace_id) AS trace_id FROM ({kept})
    WHERE request_id IS NOT NULL AND trace_id IS NOT NULL GROUP BY request_id HAVING min(trace_id) = max(trace_id)
"""
_EARLIER = """
        SELECT q.request_id, q.trace_id FROM log_queue q JOIN wanted w USING (request_id)
        WHERE q.trace_id IS NOT NULL AND epoch_ms(q.ts) BETWEEN w.lo AND w.hi
          AND q.ts BETWEEN (SELECT lo FROM span) AND (SELECT hi FROM span)
        UNION ALL
        SELECT d.request_id, d.trace_id FROM drop_events d JOIN wanted w USING (request_id)
        WHERE d.trace_id IS NOT NULL AND epoch_ms(d.ts) BETWEEN w.lo AND w.hi
          AND d.ts BETWEEN (SELECT lo FROM span) AND (SELECT hi FROM span)
"""
# the other way round: lines an earlier ingest stored or dropped without a trace id take the one a line here
# carries of their request (a Worker export ingested the day after the Convex one, a growing log whose id line
# came in the later part), by the same rules: within `REQUEST_MARGIN_MS` of the lines here that carry it, of a
# system those lines are of, and only when the request's lines (here and earlier, in that span) name one trace.
# `request_carriers` (the requests a line here carries an id of, kept by `_REQUEST_MAP` for the store phase) is
# made only when an earlier ingest stored or dropped a line: a new database pays nothing. Orphans first (lines
# without an id are few, and zone maps of `ts` skip the rows outside the span), then the traces of only their
# requests. Run after this ingest's rows are written (their ids count), before the trace summaries are refreshed
_ORPHANS = """
    CREATE OR REPLACE TEMP TABLE orphans_found AS
    WITH span AS (SELECT make_timestamp(min(lo) * 1000) AS lo, make_timestamp(max(hi) * 1000) AS hi
                  FROM request_carriers)
    SELECT q.event_id, q.ts, q.request_id, q.system, true AS stored
    FROM log_queue q JOIN request_carriers c USING (request_id)
    WHERE q.trace_id IS NULL AND q.run_id <> {run_id} AND epoch_ms(q.ts) BETWEEN c.lo AND c.hi
      AND q.ts BETWEEN (SELECT lo FROM span) AND (SELECT hi FROM span)
    UNION ALL
    SELECT d.event_id, d.ts, d.request_id, d.system, false
    FROM drop_events d JOIN request_carriers c USING (request_id)
    WHERE d.trace_id IS NULL AND d.run_id <> {run_id} AND epoch_ms(d.ts) BETWEEN c.lo AND c.hi
      AND d.ts BETWEEN (SELECT lo FROM span) AND (SELECT hi FROM span)
"""
_ORPHAN_TRACES = """
    CREATE OR REPLACE TEMP TABLE request_orphans AS
    WITH c AS (SELECT * FROM request_carriers SEMI JOIN orphans_found USING (request_id)),
    span AS (SELECT make_timestamp(min(lo) * 1000) AS lo, make_timestamp(max(hi) * 1000) AS hi FROM c),
    named AS (
        SELECT q.request_id, q.system, q.trace_id, q.run_id FROM log_queue q JOIN c USING (request_id)
        WHERE q.trace_id IS NOT NULL AND epoch_ms(q.ts) BETWEEN c.lo AND c.hi
          AND q.ts BETWEEN (SELECT lo FROM span) AND (SELECT hi FROM span)
        UNION ALL
        SELECT d.request_id, d.system, d.trace_id, d.run_id FROM drop_events d JOIN c USING (request_id)
        WHERE d.trace_id IS NOT NULL AND epoch_ms(d.ts) BETWEEN c.lo AND c.hi
          AND d.ts BETWEEN (SELECT lo FROM span) AND (SELECT hi FROM span)),
    traces AS (
        SELECT request_id, min(trace_id) AS trace_id,
               list(DISTINCT system) FILTER (WHERE run_id = {run_id}) AS systems
        FROM named GROUP BY request_id HAVING min(trace_id) = max(trace_id))
    SELECT o.event_id, o.ts, o.stored, t.trace_id FROM orphans_found o JOIN traces t USING (request_id)
    WHERE list_contains(t.systems, o.system)
"""
_ORPHAN_UPDATE = """
    UPDATE {table} SET trace_id = o.trace_id, trace_source = 'request_id' FROM request_orphans o
    WHERE {table}.event_id = o.event_id AND {table}.ts = o.ts AND o.stored = {stored}
      AND {table}.ts BETWEEN (SELECT min(ts) FROM request_orphans) AND (SELECT max(ts) FROM request_orphans)
"""


def give_orphans_their_trace(con: Any, run_id: int) -> list[str]:
    """Give the lines earlier ingests stored or dropped without a trace id the trace a line of their request
    that this ingest wrote carries (see `_ORPHANS`): in `log_queue`, `recent_log_entries`, `drop_events` and
    `drop_traces`. Returns the traces stored rows joined (their `trace_summary` rows are out of date)."""
    (carriers,) = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = 'request_carriers'"
    ).fetchall()[0]
    if not carriers:
        return []
    traces = _join_orphans(con, int(run_id))
    # dropped when all went well only, not in a `finally`: after a failed statement the transaction is aborted,
    # and a DROP then raised "Current transaction is aborted" in place of the failure (an out-of-memory error lost
    # its own message and hint). A failed ingest rolls back (or closes the connection): the tables go with it
    con.execute(
        "DROP TABLE IF EXISTS request_orphans; DROP TABLE IF EXISTS orphans_found; DROP TABLE IF EXISTS request_carriers"
    )
    return traces


def _join_orphans(con: Any, run_id: int) -> list[str]:
    """`give_orphans_their_trace`'s work, its TEMP tables left for the caller to drop."""
    con.execute(_ORPHANS.format(run_id=run_id))
    if not con.execute("SELECT count(*) FROM orphans_found").fetchall()[0][0]:
        return []
    con.execute(_ORPHAN_TRACES.format(run_id=run_id))
    for table, stored in (("log_queue", True), ("recent_log_entries", True), ("drop_events", False)):
        con.execute(_ORPHAN_UPDATE.format(table=table, stored=stored))
    # `dropped_span` reads every row of a trace: one more row covers the dropped lines that joined it
    con.execute(
        f"INSERT INTO drop_traces SELECT trace_id, min(ts), max(ts), {run_id}, {TRACE_KEY} AS k FROM request_orphans "
        "WHERE NOT stored GROUP BY trace_id ORDER BY k"
    )
    rows = con.execute("SELECT DISTINCT trace_id FROM request_orphans WHERE stored ORDER BY 1").fetchall()
    return [str(r[0]) for r in rows]


# how far from a request's lines here its lines an earlier ingest stored are looked for: a function run or an
# invocation lasts minutes at most (a Worker's cron 15), and a bound keeps a Ray ID Cloudflare gives again
# another day (it does not promise them unique) from joining that day's request
REQUEST_MARGIN_MS = 3_600_000
_REQUEST_JOIN = """
    SELECT s.seq, s.file_id, s.ts_ms, s.system, s.level, coalesce(s.trace_id, r.trace_id) AS trace_id,
           r.trace_id AS request_trace, s.fingerprint, s.event_key, s.suppressed
    FROM ({kept}) s LEFT JOIN request_traces r ON s.trace_id IS NULL AND s.request_id = r.request_id
"""

# staging holds what the rules read of each event (its trace id after a request's trace id was joined in,
# and that one apart: `request_trace`, NULL unless joined); the whole staged rows stay in the spool until the
# store phase reads them once more (see `Stager.events`): loading them into DuckDB and reading them back out
# cost twice as much. System and level are ENUMs (every adapter names them from `SYSTEMS` and `LEVELS`): a
# byte a row instead of a string through the reader's sort, and the engine gets them dictionary-encoded
# (5M records: the rules phase 0.8 s shorter, 1M: 0.15 s)
_DDL = f"""
CREATE TEMP TABLE staging (
    seq BIGINT, file_id INTEGER, ts_ms BIGINT, system {sql_enum(SYSTEMS)}, level {sql_enum(LEVELS)},
    trace_id VARCHAR, request_trace VARCHAR, fingerprint VARCHAR, event_key BIGINT, suppressed VARCHAR);
CREATE TEMP TABLE staged_metrics (file_id INTEGER, source_line BIGINT, source_format VARCHAR, ts_ms BIGINT,
    system VARCHAR, topic VARCHAR, data JSON);
CREATE TEMP TABLE staged_rejects (file_id INTEGER, source_line BIGINT, source_format VARCHAR, reason VARCHAR,
    excerpt VARCHAR);
"""


# the staging table's rows: fingerprints and event keys computed (compiled, else by this select in DuckDB)
STAGED_SCHEMA = pa.schema(
    [f for f in STAGING_SCHEMA if f.name not in ("part", "suppressed")]
    + [
        pa.field("fingerprint", pa.string()),
        pa.field("event_key", pa.int64()),
        STAGING_SCHEMA.field("suppressed"),
    ]
)
# the event key's time is the client's clock when the event has one: a Worker's stored record of a browser line
# (receive time, and the client time it was sent with) and the browser's own payload of it (client time) are
# then one event (and so are identical lines of one client millisecond: see docs/rules.md §3). The format says
# whether the trace id is part of the key (`lc_key_trace`: not for a Cloudflare Logpush or tail line of a request)
KEY_COLUMNS = tuple(
    STAGING_SCHEMA.get_field_index(n)
    for n in (
        "ts_ms",
        "system",
        "level",
        "message",
        "trace_id",
        "request_id",
        "part",
        "client_ts_ms",
        "source_format",
    )
)
_STAGE_SELECT = """
    seq, file_id, ts_ms, client_ts_ms, system, system_label, level, message, trace_id, trace_source, request_id,
    user_id, context, stack, source_line, source_format, lc_fingerprint(message) AS fingerprint,
    lc_event_key(coalesce(client_ts_ms, ts_ms), system, level, message, lc_key_trace(trace_id, request_id, source_format),
                 request_id, part) AS event_key,
    suppressed
"""


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def literal_rx(words: list[str] | tuple[str, ...]) -> str:
    """An RE2 alternation matching any of `words` literally (non-word characters as hex escapes)."""
    return "|".join("".join(c if c.isalnum() or c == "_" else f"\\x{{{ord(c):x}}}" for c in w) for w in words)


def trigger_rx(words: tuple[str, ...]) -> str:
    """`literal_rx` of the redactor's trigger words, a word ending in TAIL followed by its run (`tail_pattern`)."""
    return "|".join(
        literal_rx([w[:-1]]) + tail_pattern(w) if w.endswith(TAIL) else literal_rx([w]) for w in words
    )


def _flag_sql(
    columns: tuple[str, ...], triggers: tuple[str, ...], suppress: list[str], case_sensitive: bool
) -> tuple[str, str]:
    """Two predicates over a batch's text columns. The first is true for every row the redactor must look
    at: any redaction trigger word (the same case-insensitive substring test as `might_hold_secret`; a word
    ending in TAIL where its run follows it, `trigger_rx`), or any text holding one of the four characters
    beyond ASCII that Python's `lower()` or RE2's case folding take to an ASCII letter (`FOLDING`: there the two
    need not agree; no other character folds to one, `tests/test_redact_triggers.py`). The second
    for every row the suppressor must look at: a first column that holds a suppression pattern, or text beyond
    ASCII where a pattern is (`_beyond_ascii`), else a FOLDING character. A row false for the first passes redaction unchanged, false for both it passes both, so
    checking in DuckDB gives the same result as checking every row in Python."""
    non_ascii = [f"strlen(coalesce({c}, '')) <> length(coalesce({c}, ''))" for c in columns]
    redact = "false"
    if triggers:
        rx = "(?i)(?:" + trigger_rx(triggers) + ")"
        folding = [f"regexp_matches(coalesce({c}, ''), '[{FOLDING}]')" for c in columns]
        redact = " OR ".join(folding + [f"regexp_matches(coalesce({c}, ''), '{rx}')" for c in columns])
    # a non-ASCII pattern cannot occur in ASCII text: with one, all text beyond ASCII is flagged; without, such text
    # is searched as ASCII text is, but for text holding a FOLDING character (as for the trigger words)
    ascii_patterns = [p for p in suppress if p.isascii() and p]
    sup = "false"
    if suppress:
        sup = (
            non_ascii[0]
            if _beyond_ascii(suppress)
            else f"regexp_matches(coalesce({columns[0]}, ''), '[{FOLDING}]')"
        )
    if ascii_patterns:
        rx = ("" if case_sensitive else "(?i)") + "(?:" + literal_rx(ascii_patterns) + ")"
        sup += f" OR regexp_matches(coalesce({columns[0]}, ''), '{rx.replace(chr(39), chr(39) * 2)}')"
    return redact, sup


# how many words (trigger words, suppression patterns) the compiled probe takes (`flag_rows`, `StageBatch`)
PROBE_WORDS = 192


def _probe(
    schema: pa.Schema,
    columns: tuple[str, ...],
    triggers: tuple[str, ...],
    suppress: list[str],
    case_sensitive: bool,
) -> tuple[Any, ...] | None:
    """`_flag_sql`'s predicates as the compiled `flag_rows` takes them (its arguments after the rows), or
    None when they are not all ASCII words (then DuckDB evaluates them). Text holding a `FOLDING` character is
    flagged whole, as in SQL; other text beyond ASCII is searched as ASCII text is."""
    patterns = tuple(p if case_sensitive else p.lower() for p in suppress if p.isascii() and p)
    words = tuple(t.lower() for t in triggers)
    if not all(w.isascii() and w for w in words) or len(words) > PROBE_WORDS or len(patterns) > PROBE_WORDS:
        return None
    index = tuple(schema.get_field_index(c) for c in columns)
    # with the trigger words found in each column of a row to redact (`Redactor.text_masked`)
    return index, words, index[0] if suppress else -1, _beyond_ascii(suppress), patterns, case_sensitive, True


def _beyond_ascii(patterns: list[str]) -> bool:
    """Whether a suppression pattern is beyond ASCII: then the probes flag every text beyond ASCII for the
    suppressor (they search bytes for ASCII patterns only)."""
    return any(not p.isascii() for p in patterns)


# the text columns the rules read (suppression reads the first)
_EVENT_TEXT = ("message", "stack", "context")
_METRIC_TEXT = ("data",)


_KINDS = {pa.int64(): "l", pa.int32(): "i", pa.string(): "s"}
# a batch of long records is written out before it holds this much text (however few rows: memory stays flat,
# and a string column stays far below Arrow's 2 GiB)
BATCH_BYTES = 64 << 20


def arrow_columns(
    rows: list[tuple[Any, ...]],
    schema: pa.Schema,
    names: list[str],
    buffers: ColumnBuffers | None = None,
) -> list[pa.Array]:
    """Columns `names` of row tuples laid out as `schema`, as Arrow arrays. `buffers` (the compiled
    `column_buffers`) writes them straight into Arrow buffers; a value it does not take (not a str or an
    int of the column's type) leaves the batch to pyarrow's own conversion, which has the last word."""
    index = [schema.get_field_index(n) for n in names]
    if buffers is not None:
        try:
            built = buffers(rows, [(i, _KINDS[schema.field(i).type]) for i in index])
        except (TypeError, ValueError, OverflowError, KeyError):
            pass
        else:
            return from_buffers([schema.field(i) for i in index], len(rows), built)
    return [pa.array([r[i] for r in rows], type=schema.field(i).type) for i in index]


def from_buffers(fields: list[pa.Field], n: int, built: list[tuple[Any, ...]]) -> list[pa.Array]:
    """Arrow arrays of `n` rows from the compiled builders' buffers: per field (null count, validity | None,
    [offsets,] data)."""
    return [
        pa.Array.from_buffers(
            field.type,
            n,
            [None if validity is None else pa.py_buffer(validity), *map(pa.py_buffer, data)],
            null_count=nulls,
        )
        for field, (nulls, validity, *data) in zip(fields, built, strict=True)
    ]


def _staged_batch(columns: list[pa.Array], keys: tuple[bytes, bytes, bytes]) -> pa.RecordBatch:
    """The staging batch of STAGING_SCHEMA's columns with their fingerprints and event keys (the compiled
    `stage_keys`' buffers)."""
    offsets, fingerprints, event_keys = keys
    n = len(columns[0])
    by_name = dict(zip(STAGING_SCHEMA.names, columns, strict=True))
    by_name["fingerprint"] = pa.Array.from_buffers(
        pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(fingerprints)]
    )
    by_name["event_key"] = pa.Array.from_buffers(pa.int64(), n, [None, pa.py_buffer(event_keys)])
    return pa.RecordBatch.from_arrays([by_name[f] for f in STAGED_SCHEMA.names], schema=STAGED_SCHEMA)


def staged_rows(
    events: list[Event],
    metrics: list[Metric],
    seq: int,
    file_id: int,
    line: int,
    fmt: str,
    own_records: bool = False,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The staging rows of one record's events (numbered from `seq` + 1) and metrics, in the column
    order of `STAGING_SCHEMA` and `METRIC_SCHEMA`; `part` is each event's position in the record, 0 for every
    one with `own_records` (see `Format`). Raises TypeError when a value cannot be JSON."""
    rows = [
        (
            seq + part + 1,
            file_id,
            ev.ts_ms,
            ev.client_ts_ms,
            ev.system,
            ev.system_label,
            ev.level,
            ev.message,
            ev.trace_id,
            ev.trace_source,
            ev.request_id,
            ev.user_id,
            _json(ev.context) if ev.context else None,
            ev.stack,
            line,
            fmt,
            0 if own_records else part,
            None,
        )
        for part, ev in enumerate(events)
    ]
    metric_rows = [(file_id, line, fmt, m.ts_ms, m.system, m.topic, _json(m.data)) for m in metrics]
    return rows, metric_rows


def _text(redactor: Redactor, s: str, found: int) -> str:
    """`s` redacted, given the trigger words the compiled probe found in it (`Redactor.text_masked`): 0
    none (nothing to redact), -1 not known (text holding a `FOLDING` character, or no compiled probe)."""
    if found < 0:
        return redactor.text(s)
    return redactor.text_masked(s, found) if found else s


class SuppressionRules(NamedTuple):
    enabled: bool
    patterns: tuple[str, ...]
    case_sensitive: bool


class StageRules(NamedTuple):
    """What staging needs of a policy. A parse worker is given this instead of the Policy: unpickling that
    imports pydantic, a third of a worker's start-up."""

    redact: bool
    suppression: SuppressionRules

    @classmethod
    def of(cls, policy: Policy) -> StageRules:
        s = policy.suppression
        return cls(policy.redaction.enabled, SuppressionRules(s.enabled, tuple(s.patterns), s.case_sensitive))


class Stager:
    """Buffers rows, finds (compiled, else in DuckDB) the few that may hold a secret or match a suppression
    pattern, redacts and checks those in Python, and hands the batch, with fingerprints and event keys
    (compiled, else computed in DuckDB), to its spool (loaded into the TEMP tables at `flush`) or, in a
    parse worker, to `sink`. Unredacted text is only ever held in the Arrow batch in this process's
    memory, never in a table or a file. A stager with a sink may be given no connection (`con` None): it
    opens an in-memory one only if the compiled fast path is missing or refuses a batch."""

    def __init__(
        self,
        con: Any | None,
        policy: Policy | StageRules,
        batch_rows: int = 16_384,
        sink: Callable[[str, pa.RecordBatch], None] | None = None,
    ) -> None:
        rules = policy if isinstance(policy, StageRules) else StageRules.of(policy)
        self._con = con
        self._own_con = False
        self.spool: Spool | None = None
        if sink is None:
            if con is None:
                raise ValueError("a stager that loads its own tables needs a connection")
            self.spool = Spool(con)
            sink = self.spool.add
        self.sink = sink
        self.batch_rows = batch_rows
        self.redactor = Redactor()
        self.redact = rules.redact
        self.suppressor = Suppressor(rules.suppression)
        self.rows: list[tuple[Any, ...]] = []
        self.metric_rows: list[tuple[Any, ...]] = []
        self.reject_rows: list[tuple[Any, ...]] = []
        self.seq = 0
        self._discarded: set[int] = set()
        self._buffers = column_buffers()
        triggers = trigger_words() if self.redact else ()
        sup = rules.suppression
        patterns = list(sup.patterns) if self.suppressor.enabled else []
        self._event_flags = _flag_sql(_EVENT_TEXT, triggers, patterns, sup.case_sensitive)
        self._metric_flags = _flag_sql(_METRIC_TEXT, triggers, [], False)
        # the same predicates without DuckDB (3 µs a row there, mostly its regex over the text columns)
        self._flag_rows = flag_rows()
        self._event_probe = _probe(STAGING_SCHEMA, _EVENT_TEXT, triggers, patterns, sup.case_sensitive)
        self._metric_probe = _probe(METRIC_SCHEMA, _METRIC_TEXT, triggers, [], False)
        # fingerprints and event keys without DuckDB (its select cost 2.3 µs a row, 0.7 of it the pass through)
        self._stage_keys = stage_keys()
        # the event rows straight into Arrow buffers, probed and keyed as they come: no tuple a row for the rows
        # the compiled parser claims, and one walk instead of three (`StageBatch` in _fastparse.c)
        self.batch: StageBatch | None = None
        batch = stage_batch()
        if batch is not None and self._event_probe is not None:
            index, words, sup_col, sup_non_ascii, patterns, case_sensitive, _ = self._event_probe
            kinds = "".join(_KINDS[f.type] for f in STAGING_SCHEMA)
            self.batch = batch(
                kinds, index, words, sup_col, sup_non_ascii, patterns, case_sensitive, fingerprint
            )
        if con is not None:
            con.execute(MACROS_SQL)
            con.execute(_DDL)

    @property
    def con(self) -> Any:
        """The DuckDB connection: the one given, else (first use) an in-memory one of the stager's own."""
        if self._con is None:
            import duckdb

            from logcorr.store.connection import quiet

            self._con = quiet(duckdb.connect())
            self._own_con = True
            self._con.execute(MACROS_SQL)
        return self._con

    def record(
        self,
        events: list[Event],
        metrics: list[Metric],
        file_id: int,
        line: int,
        fmt: str,
        own_records: bool = False,
    ) -> None:
        """Buffer the events and metrics of one record (checked and redacted when their batch is flushed).
        All or nothing: raises TypeError, staging none of them, when a value cannot be written as JSON
        (orjson stops at 255 levels of nesting), so the caller can reject the record whole."""
        rows, metric_rows = staged_rows(events, metrics, self.seq, file_id, line, fmt, own_records)
        self.record_rows(rows, metric_rows)

    def record_rows(self, rows: list[tuple[Any, ...]], metric_rows: list[tuple[Any, ...]]) -> None:
        """Buffer one record's rows as `staged_rows` builds them (the compiled fast path builds them
        itself, numbered from `self.seq`)."""
        if self.batch is not None and rows:
            try:
                self.batch.add_rows(rows)
            except (TypeError, ValueError, OverflowError):
                # a value the batch does not take: the rows before go first, then these the way pyarrow takes them
                self.flush_events()
                self.rows.extend(rows)
                self.flush_events()
            self.record_claimed(len(rows), metric_rows)
            return
        self.seq += len(rows)
        self.rows.extend(rows)
        self.metric_rows.extend(metric_rows)
        if len(self.rows) >= self.batch_rows:
            self.flush_events()
        if len(self.metric_rows) >= self.batch_rows:
            self.flush_metrics()

    def record_claimed(self, events: int, metric_rows: list[tuple[Any, ...]]) -> None:
        """Account for `events` rows put into `self.batch` (numbered from `self.seq`), and buffer metric rows."""
        self.seq += events
        self.metric_rows.extend(metric_rows)
        batch = self.batch
        if batch is not None and (len(batch) >= self.batch_rows or batch.nbytes >= BATCH_BYTES):
            self.flush_events()
        if len(self.metric_rows) >= self.batch_rows:
            self.flush_metrics()

    def _earlier_lines(self) -> bool:
        """Whether an earlier ingest stored or dropped a line a request here may share (`_EARLIER`); a
        connection without the store's tables (a stager on its own) has none."""
        tables = self.con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name IN ('log_queue', 'drop_events') "
            "AND database_name = current_database() AND schema_name = current_schema()"
        ).fetchall()[0][0]  # fetched whole: the registered scan after it needs the connection free
        if tables < 2:
            return False
        query = "SELECT EXISTS (FROM log_queue) OR EXISTS (FROM drop_events)"
        return bool(self.con.execute(query).fetchall()[0][0])

    def _check_event(
        self, row: tuple[Any, ...], redact: bool, found: tuple[int, ...] | None = None
    ) -> tuple[Any, ...]:
        """The Python rules for one flagged row: redaction of message, stack, context (when the row was
        flagged for it: otherwise it would change nothing); suppression, of the redacted message. `found`:
        the trigger words the compiled probe found in message, stack and context (`_text`)."""
        message, ctx_json, stack = row[7], row[12], row[13]
        if redact:
            red = self.redactor
            in_message, in_stack, in_context = found or (-1, -1, -1)
            message = _text(red, message, in_message)
            if stack is not None:
                stack = _text(red, stack, in_stack)
            if ctx_json is not None and in_context and (in_context > 0 or might_hold_secret(ctx_json)):
                ctx_json = _json(red.value(orjson.loads(ctx_json)))
        return (*row[:7], message, *row[8:12], ctx_json, stack, *row[14:17], self.suppressor.match(message))

    def _check_metric(
        self, row: tuple[Any, ...], redact: bool, found: tuple[int, ...] | None = None
    ) -> tuple[Any, ...]:
        data = row[6]
        in_data = found[0] if found else -1
        if redact and in_data and (in_data > 0 or might_hold_secret(data)):
            data = _json(self.redactor.value(orjson.loads(data)))
        return (*row[:6], data)

    def reject(self, file_id: int, line: int, fmt: str | None, reason: str, text: str) -> None:
        """Stage a rejected line: reason and text redacted, then the text cut to its excerpt (in that
        order, so a secret the cut would split is still seen whole)."""
        if self.redact:
            reason = self.redactor.text(reason)
            text = self.redactor.text(text)
        self.reject_rows.append((file_id, line, fmt, reason, excerpt(text, EXCERPT)))
        if len(self.reject_rows) >= self.batch_rows:
            self._flush("staged_rejects", self.reject_rows, REJECT_SCHEMA)

    def flush_events(self) -> None:
        if self.batch is not None and len(self.batch):
            self._flush_batch(self.batch)
        self._flush("staging", self.rows, STAGING_SCHEMA, _STAGE_SELECT, self._event_flags, self._check_event,
                    _EVENT_TEXT, self._event_probe)  # fmt: skip

    def flush_metrics(self) -> None:
        self._flush("staged_metrics", self.metric_rows, METRIC_SCHEMA, "*", self._metric_flags,
                    self._check_metric, _METRIC_TEXT, self._metric_probe)  # fmt: skip

    def flush(self) -> None:
        """Write out what is buffered: to the sink, or through the spool into the TEMP tables (once: the rows
        of files `discard_file` named are left out, and each staged event of a request without a trace id
        takes the one a line of that request carries, see `_REQUEST_MAP`). The staged events stay spooled
        for `events`."""
        self._flush_buffers()
        if self.spool is not None:
            gone = ", ".join(str(f) for f in sorted(self._discarded))
            kept = (
                f"SELECT * FROM _spooled WHERE file_id NOT IN ({gone})" if gone else "SELECT * FROM _spooled"
            )
            request_map = _REQUEST_MAP_ALONE.format(kept=kept)
            if self._earlier_lines():
                request_map = _REQUEST_MAP.format(kept=kept, margin=REQUEST_MARGIN_MS, earlier=_EARLIER)
            self.spool.load(
                select={t: kept for t in ("staging", "staged_metrics", "staged_rejects")}
                | {"staging": _REQUEST_JOIN.format(kept=kept)},
                before={"staging": request_map},
                # serialised by the stager (orjson, or the compiled path held to it by tests)
                json={"staged_metrics": ("data",)},
                keep=("staging",),
            )
            self.con.execute("DROP TABLE IF EXISTS request_traces")

    def events(
        self,
        sql: str,
        seq_range: tuple[int, int] | None = None,
        fetch: bool = False,
        extend: Extend | None = None,
    ) -> list[tuple[Any, ...]]:
        """Run `sql` over every staged event row (`_spooled`, `STAGED_SCHEMA`, `context` typed JSON), after
        `flush`; the rows of discarded files are among them (their `seq` is in no other table). See
        `Spool.scan` for `seq_range`, `fetch` and `extend`."""
        if self.spool is None:
            raise RuntimeError("events: the staged rows went to a sink, not to this stager's spool")
        return self.spool.scan(
            "staging", sql, json=("context",), seq_range=seq_range, fetch=fetch, extend=extend
        )

    def event_spans(self) -> list[tuple[int, int]]:
        """The first and last `seq` of each batch `events` reads, in the order it reads them."""
        if self.spool is None:
            raise RuntimeError("event_spans: the staged rows went to a sink, not to this stager's spool")
        return self.spool.seq_spans("staging")

    def release_events(self) -> None:
        """Forget the staged event rows (the store has read them)."""
        if self.spool is not None:
            self.spool.release("staging")

    def _flush_buffers(self) -> None:
        """The buffered rows to the sink (or spool). The batch's rows are the only new objects: the cyclic
        collector, paused while parsing (see `parse_file`), would walk every one of them and find no cycle."""
        with gc_paused():
            self.flush_events()
            self.flush_metrics()
            self._flush("staged_rejects", self.reject_rows, REJECT_SCHEMA)

    def adopt(self, outputs: dict[str, str], rows: int, line_base: int) -> None:
        """Stage a parse worker's output (files in `spool.directory()`, `rows` events numbered from 0,
        lines from 0) as the next rows and after `line_base` lines of its file."""
        if self.spool is None:
            raise RuntimeError("adopt: this stager writes to a sink, not to its own tables")
        self.spool.adopt(outputs, self.seq, line_base)
        self.seq += rows

    def spool_directory(self) -> str:
        """The private temporary directory where parse workers write the files `adopt` takes."""
        if self.spool is None:
            raise RuntimeError("spool_directory: this stager writes to a sink, not to its own tables")
        return self.spool.directory()

    def close(self) -> None:
        """Remove the spool's temporary files (after `flush` there are none, unless it failed); close the
        connection the stager opened itself."""
        if self.spool is not None:
            self.spool.close()
        if self._own_con and self._con is not None:
            self._con.close()
            self._con, self._own_con = None, False

    def __enter__(self) -> Stager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def discard_file(self, file_id: int) -> None:
        """Forget everything staged for one file (it turned out to be ingested already): `flush` leaves its
        rows out. Only for a stager writing to its own tables: what went to another sink has left."""
        if self.spool is None:
            raise RuntimeError("discard_file: the staged rows went to a sink, not to this stager's tables")
        self._discarded.add(file_id)

    def _flush(
        self,
        table: str,
        rows: list[tuple[Any, ...]],
        schema: pa.Schema,
        select: str = "*",
        flags: tuple[str, str] = ("false", "false"),
        check: Callable[..., tuple[Any, ...]] | None = None,
        probe_columns: tuple[str, ...] = (),
        probe: tuple[Any, ...] | None = None,
    ) -> None:
        if not rows:
            return
        build = self._build
        redact, other = flags
        if check is not None and (redact, other) != ("false", "false"):
            # flagged rows are re-checked in Python and replaced before the batch is built once. The
            # predicates run compiled, else in DuckDB on only the columns they read
            hits = None
            if self._flag_rows is not None and probe is not None:
                try:
                    hits = self._flag_rows(rows, *probe)
                except (TypeError, ValueError):  # a value that is not text: DuckDB has the last word
                    hits = None
            if hits is None:
                names = [f.name for f in schema if f.name in probe_columns]
                columns = pa.Table.from_arrays(build(rows, schema, names), names=names)
                con = self.con
                con.register("_probe", columns.append_column("_i", pa.array(range(len(rows)), pa.int32())))
                hits = con.execute(
                    f"SELECT _i, {redact} FROM _probe WHERE ({redact}) OR ({other}) ORDER BY _i"
                ).fetchall()
                con.unregister("_probe")
            for i, needs_redaction, *found in hits:
                rows[i] = check(rows[i], self.redact and needs_redaction, *found)
        columns = build(rows, schema, schema.names)
        if select == "*":
            staged = [pa.RecordBatch.from_arrays(columns, schema=schema)]
        else:
            staged = self._keyed(rows, columns) or self._select(
                pa.Table.from_arrays(columns, schema=schema), select
            )
        for batch in staged:
            self.sink(table, batch)
        rows.clear()

    def _keyed(self, rows: list[tuple[Any, ...]], columns: list[pa.Array]) -> list[pa.RecordBatch] | None:
        """The staging batch of event rows with their fingerprints and event keys computed compiled, or None
        (not built, or a value it does not take: then DuckDB computes them)."""
        if self._stage_keys is None:
            return None
        try:
            keys = self._stage_keys(rows, KEY_COLUMNS, fingerprint)
        except (TypeError, ValueError, OverflowError):
            return None
        return [_staged_batch(columns, keys)]

    def _flush_batch(self, batch: StageBatch) -> None:
        """The batch to the sink: the rows the probe flagged checked by the Python rules (as `_flush` checks
        them), the others as they came."""
        n = len(batch)
        check = self._check_event
        checked = [
            check(row, self.redact and needs_redaction, masks)
            for _, row, needs_redaction, masks in batch.pending()
        ]
        *built, keys = batch.finish(checked)
        columns = from_buffers(list(STAGING_SCHEMA), n, built)
        if keys is None:  # a checked row's key it could not compute (see `finish`): DuckDB computes them all
            staged = self._select(pa.Table.from_arrays(columns, schema=STAGING_SCHEMA), _STAGE_SELECT)
        else:
            staged = [_staged_batch(columns, keys)]
        for b in staged:
            self.sink("staging", b)

    def _select(self, batch: pa.Table, select: str) -> list[pa.RecordBatch]:
        """`select` over the batch in DuckDB, as batches of `STAGED_SCHEMA` (the macros of MACROS_SQL)."""
        self.con.register("_batch", batch)
        try:
            return [
                b.cast(STAGED_SCHEMA) for b in self.con.sql(f"SELECT {select} FROM _batch").to_arrow_reader()
            ]
        finally:
            self.con.unregister("_batch")

    def _build(self, rows: list[tuple[Any, ...]], schema: pa.Schema, names: list[str]) -> list[pa.Array]:
        return arrow_columns(rows, schema, names, self._buffers)
