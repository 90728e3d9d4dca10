"""The differential harness for the columnar (SQL) normaliser, and the inputs it is fed.

`ingest_pair` ingests the same input files into two fresh databases, once with `columnar=True` and once
with `columnar=False`; `differences` compares the two databases table by table (every column except the
wall-clock ones) and the two `IngestResult`s counter by counter, and returns readable lines describing the
first differences (empty when the runs agree). `assert_same` raises with those lines.

The Hypothesis strategies build line-per-record files of the five shapes the SQL path normalises
(browser-v1, browser-v2, worker-record, cf-logpush, convex-stream format 2) from the documented real
formats (fixtures/, /work/shared/reference/), with the perturbations the SQL path must either get exactly
right or hand back to the Python adapters: wrong types, odd timestamps and levels, trace ids in fields,
headers and text, unicode and `\\u` escapes, duplicate keys, huge numbers, secrets, noise, bursts and
malformed lines.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import shutil
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import orjson
from hypothesis import strategies as st

from logcorr.pipeline.ingest import IngestResult, ingest
from logcorr.rules.policy import Policy

# ---------------------------------------------------------------------------------------------------------
# the harness
# ---------------------------------------------------------------------------------------------------------

# columns that read the wall clock (logcorr/store/schema.py): they differ between any two runs
CLOCK_COLUMNS: frozenset[tuple[str, str]] = frozenset(
    {("ingest_runs", "started_at"), ("ingest_runs", "finished_at"), ("schema_migrations", "applied_at")}
)

# the columns that name one row, for pairing rows in a diff (all columns when a table is not listed)
ROW_KEYS: dict[str, tuple[str, ...]] = {
    "log_queue": ("event_id",),
    "recent_log_entries": ("event_id",),
    "drop_ledger": ("event_id",),
    "ingest_runs": ("run_id",),
    "ingest_files": ("run_id", "file_id"),
    "rejects": ("run_id", "source_file", "source_line"),
    "metrics": ("run_id", "source_file", "source_line", "topic"),
    "rate_limit_state": ("system",),
    "trace_state": ("trace_id",),
    "trace_summary": ("trace_id",),
    "budget_thresholds": ("month", "scope", "pct"),
    "message_fingerprints": ("rule", "system", "level", "trace_id", "fingerprint"),
    "schema_migrations": ("version",),
}

# IngestResult / FileResult fields that are not part of the contract: timings, and the count of records
# the SQL path took (the one number that is meant to differ)
_RESULT_SKIP = frozenset({"elapsed_s", "phases", "_lap_start", "db"})
_FILE_SKIP = frozenset({"columnar_records"})

MAX_SHOWN = 5  # differing rows shown per table
_WIDTH = 160  # characters of a value shown


@dataclass
class Run:
    """One side of a differential run: the database and what each `ingest` call returned."""

    db: str
    results: list[IngestResult]

    @property
    def columnar_records(self) -> int:
        return sum(f.columnar_records for r in self.results for f in r.files)


def ingest_run(
    batches: Sequence[Sequence[str | Path]],
    db: Path,
    columnar: bool,
    policy: Policy | None = None,
    **kwargs: Any,
) -> Run:
    """Each batch of input paths, in turn, ingested into a fresh database at `db`."""
    for suffix in ("", ".wal"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    results = [
        ingest([str(p) for p in batch], str(db), policy, columnar=columnar, jobs=1, **kwargs)
        for batch in batches
    ]
    return Run(str(db), results)


def ingest_pair(
    batches: Sequence[Sequence[str | Path]],
    workdir: Path,
    policy: Policy | None = None,
    **kwargs: Any,
) -> tuple[Run, Run]:
    """Ingest each batch of input paths, in turn, into a fresh columnar database and a fresh Python one
    (same paths, so provenance matches). Returns (columnar, python)."""
    workdir.mkdir(parents=True, exist_ok=True)
    col = ingest_run(batches, workdir / "columnar.duckdb", True, policy, **kwargs)
    py = ingest_run(batches, workdir / "python.duckdb", False, policy, **kwargs)
    return col, py


def dump_db(db: str) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """Every persistent table: its compared column names and all its rows, in a deterministic order."""
    con = duckdb.connect(db, read_only=True)
    try:
        out: dict[str, tuple[list[str], list[tuple[Any, ...]]]] = {}
        tables = con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE NOT temporary AND database_name = current_database() "
            "ORDER BY table_name"
        ).fetchall()
        for (table,) in tables:
            cols = [
                c
                for (c,) in con.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND database_name = current_database() "
                    "ORDER BY column_index",
                    [table],
                ).fetchall()
                if (table, c) not in CLOCK_COLUMNS
            ]
            select = ", ".join(f'"{c}"' for c in cols)
            rows = con.execute(f'SELECT {select} FROM "{table}" ORDER BY {select}').fetchall()
            out[table] = (cols, rows)
        return out
    finally:
        con.close()


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= _WIDTH else text[: _WIDTH - 12] + f"…(+{len(text) - _WIDTH + 12})"


def _same_json(a: Any, b: Any) -> bool:
    if not (isinstance(a, str) and isinstance(b, str)):
        return False
    try:
        return bool(orjson.loads(a) == orjson.loads(b))
    except orjson.JSONDecodeError:
        return False


def _row_diff(cols: list[str], a: tuple[Any, ...], b: tuple[Any, ...]) -> list[str]:
    out = []
    for c, x, y in zip(cols, a, b, strict=True):
        if x != y or type(x) is not type(y):
            note = "  (same JSON value, different text)" if _same_json(x, y) else ""
            out.append(f"      {c}: columnar={_show(x)}\n      {' ' * len(c)}    python={_show(y)}{note}")
    return out


def diff_tables(
    col: dict[str, tuple[list[str], list[tuple[Any, ...]]]],
    py: dict[str, tuple[list[str], list[tuple[Any, ...]]]],
) -> list[str]:
    """Readable differences between two `dump_db`s: per table, rows paired by key, column by column."""
    out: list[str] = []
    for table in sorted(set(col) | set(py)):
        if table not in col or table not in py:
            out.append(f"table {table}: only in the {'columnar' if table in col else 'python'} database")
            continue
        (cols, a_rows), (cols_b, b_rows) = col[table], py[table]
        if cols != cols_b:
            out.append(f"table {table}: columns differ: columnar={cols} python={cols_b}")
            continue
        if a_rows == b_rows:
            continue
        key_idx = [cols.index(k) for k in ROW_KEYS.get(table, tuple(cols)) if k in cols]

        def by_key(rows: list[tuple[Any, ...]], idx: list[int] = key_idx) -> dict[Any, list[tuple[Any, ...]]]:
            groups: dict[Any, list[tuple[Any, ...]]] = {}
            for r in rows:
                groups.setdefault(repr(tuple(r[i] for i in idx)), []).append(r)
            return groups

        ga, gb = by_key(a_rows), by_key(b_rows)
        lines: list[str] = []
        for key in sorted(set(ga) | set(gb)):
            ra, rb = ga.get(key, []), gb.get(key, [])
            if ra == rb:
                continue
            sample = (ra or rb)[0]
            key_text = ", ".join(f"{cols[i]}={_show(sample[i])}" for i in key_idx)
            for i in range(max(len(ra), len(rb))):
                if i < len(ra) and i < len(rb):
                    if ra[i] != rb[i]:
                        lines.append(f"    row {key_text}:\n" + "\n".join(_row_diff(cols, ra[i], rb[i])))
                else:
                    side, row = ("columnar", ra[i]) if i < len(ra) else ("python", rb[i])
                    shown = ", ".join(f"{c}={_show(v)}" for c, v in zip(cols, row, strict=True))
                    lines.append(f"    row only in {side}: {shown}")
        out.append(
            f"table {table}: {len(a_rows)} rows columnar, {len(b_rows)} rows python, "
            f"{len(lines)} differing row(s){', first ' + str(MAX_SHOWN) if len(lines) > MAX_SHOWN else ''}:"
        )
        out.extend(lines[:MAX_SHOWN])
    return out


def _plain(v: Any) -> Any:
    """A result value as plain, comparable data (Counters sorted, dataclasses as dicts)."""
    if isinstance(v, Counter):
        return {repr(k): n for k, n in sorted(v.items(), key=lambda kv: repr(kv[0]))}
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {f.name: _plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {repr(k): _plain(x) for k, x in v.items()}
    return v


def result_summary(result: IngestResult) -> dict[str, Any]:
    """Everything an `IngestResult` reports that both paths must agree on, flattened to dotted paths."""
    data: dict[str, Any] = {}
    for f in dataclasses.fields(result):
        if f.name in _RESULT_SKIP:
            continue
        if f.name == "files":
            for fr in result.files:
                for ff in dataclasses.fields(fr):
                    if ff.name not in _FILE_SKIP:
                        data[f"files[{fr.file_id}].{ff.name}"] = _plain(getattr(fr, ff.name))
                data[f"files[{fr.file_id}].rejected"] = fr.rejected
                data[f"files[{fr.file_id}].balanced"] = fr.balanced
        else:
            data[f.name] = _plain(getattr(result, f.name))
    flat: dict[str, Any] = {}

    def walk(prefix: str, v: Any) -> None:
        if isinstance(v, dict) and v:
            for k, x in v.items():
                walk(f"{prefix}.{k}", x)
        else:
            flat[prefix] = v

    for k, v in data.items():
        walk(k, v)
    return flat


def diff_results(col: Run, py: Run) -> list[str]:
    out = []
    for i, (a, b) in enumerate(zip(col.results, py.results, strict=True)):
        sa, sb = result_summary(a), result_summary(b)
        for key in sorted(set(sa) | set(sb)):
            x, y = sa.get(key, "<absent>"), sb.get(key, "<absent>")
            if x != y:
                out.append(f"ingest #{i + 1} result {key}: columnar={_show(x)} python={_show(y)}")
    return out


def differences(col: Run, py: Run) -> list[str]:
    """Every way the two runs differ (result counters first, then tables); empty when they agree."""
    return diff_results(col, py) + diff_tables(dump_db(col.db), dump_db(py.db))


def assert_same(col: Run, py: Run, what: str = "") -> None:
    diff = differences(col, py)
    if diff:
        head = f"columnar and Python ingest differ{' on ' + what if what else ''}:"
        raise AssertionError("\n".join([head, *diff]))


def check_pair(
    batches: Sequence[Sequence[str | Path]], workdir: Path, policy: Policy | None = None, **kwargs: Any
) -> Run:
    """`ingest_pair` + `assert_same`; returns the columnar run (for its `columnar_records`)."""
    col, py = ingest_pair(batches, workdir, policy, **kwargs)
    assert_same(col, py, ", ".join(str(p) for b in batches for p in b))
    return col


def cleanup(workdir: Path) -> None:
    shutil.rmtree(workdir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------
# values
# ---------------------------------------------------------------------------------------------------------

T0 = 1_714_910_400_000  # 2024-05-05T12:00:00Z, the fixtures' story
MONTH_END = 1_717_199_970_000  # 2024-05-31T23:59:30Z: a budget month turns during the file
BASES = (T0, MONTH_END)

GOOD_TRACES = (
    "trace_1714910398211_k3j9x2m1p",
    "trace_1754384400000_abc123",
    "trace_1714910405337_q8w2e5r7t",
    "critical_auth_1714910430512_x7y8z9",
    "4bf92f3577b34da6a3ce929d0e0e4736",
    "req-7",
)
ODD_TRACES: tuple[Any, ...] = (
    None,
    "",
    " ",
    "null",
    "undefined",
    "NULL",
    "None",
    "unknown",
    "n/a",
    "N/A",
    "  trace_1714910398211_k3j9x2m1p  ",
    "\ttrace_1714910405337_q8w2e5r7t\n",
    "t" * 256,
    "t" * 257,
    "trace_é_ünïcode",
    "trace with spaces",
    12345,
    0,
    -7,
    2**63,
    True,
    1.5,
    ["trace_1714910398211_k3j9x2m1p"],
    {"id": "trace_1714910398211_k3j9x2m1p"},
)
TRACE_FIELDS = ("trace_id", "traceId", "traceID", "trace-id", "correlation_id", "correlationId")
DECOY_FIELDS = ("TraceId", "trace", "TRACE_ID", "x-trace-id", "span_id")

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
ZERO_TRACEPARENT = "00-00000000000000000000000000000000-00f067aa0ba902b7-01"
HEADER_VALUES: tuple[dict[str, Any], ...] = (
    {"traceparent": TRACEPARENT},
    {"Traceparent": TRACEPARENT.upper()},
    {"traceparent": ZERO_TRACEPARENT, "x-trace-id": "trace_1714910398211_k3j9x2m1p"},
    {"sentry-trace": "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1"},
    {"x-trace-id": "  trace_1754384400000_abc123 "},
    {"X-Correlation-ID": "corr-42"},
    {"trace-id": "null"},
    {"traceparent": 5, "x-trace-id": ["a"]},
    {"content-type": "application/json", "authorization": "Bearer abcdefghijklmnop123"},
    {},
)

SECRETS = (
    "Authorization: Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "password=hunter2&user=bob",
    '{"email":"ann@example.com","password":"hunter2-Secret!"}',
    "api_key=sk-live-abcdefghijklmnopqrstuvwx",
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "postgres://admin:s3cr3t@db.example.com/app",
    "Cookie: session=abc123; theme=dark",
    "client_secret=abcdef123456",
)
NOISE = (
    "[HMR] connected",
    "[Fast Refresh] rebuilding",
    "[Fast Refresh] done in 96ms",
    "Download the React DevTools for a better development experience",
    "GET /_next/static/webpack/abc.hot-update.json 200",
    "webpack-internal:///./node_modules/x.js",
    "Non-Error promise rejection captured",
)
PLAIN = (
    "Sending message to #general",
    "Profile cache miss for user_2fX9kq",
    "Redis pipeline ok: LPUSH + EXPIRE 3600",
    "Log received",
    "payments:charge failed: Payment declined",
    "Rendering ProfileCard",
    "ok",
    "",
    " ",
    "Error: Something broke",
    "GET /api/health 200 3ms",
)
UNICODE = (
    "é",
    "ünïcödé",
    "日本語のログ",
    "🙂🚀",
    "İstanbul",
    "straße",
    "ſecret",
    "\u00a0nbsp",
    "\u202eRTL",
    "\u2028line sep",
    "\ufeffbom inside",
    "emoji 👨‍👩‍👧 zwj",
)
CONTROL = (
    "\x00",
    "\x01",
    "\x1b[31mred\x1b[0m",
    "\t",
    "tab\there",
    "new\nline",
    "cr\rhere",
    "\x7f",
    "back\\slash",
)


def _trace_mentions(t: str) -> list[str]:
    return [
        f"trace_id: {t}",
        f"trace-id={t}",
        f"TRACE_ID {t}",
        f"traceId: '{t}'",
        f'{{"trace_id":"{t}","level":"error"}}',
        f'{{"event":"log_received","traceId":"{t}"}}',
        f"Function executed with trace_id: {t}.",
        f"see {t} for details",
    ]


MENTIONS = (
    *(m for t in GOOD_TRACES for m in _trace_mentions(t)),
    "trace_id: null",
    "trace_id: undefined.",
    "trace_id:",
    f"upstream traceparent {TRACEPARENT} ok",
    f"upstream traceparent {ZERO_TRACEPARENT} zero",
    "bare trace_1754384400000_k2x9 in text",
    "TRACE_1754384400000_UPPER",
    "trace_123_short",
)

# numbers of every shape a JSON field can hold (orjson cannot write ints beyond 64 bits or NaN: such
# records are written with `json`)
NUMBERS: tuple[Any, ...] = (
    0,
    -1,
    1,
    42,
    0.5,
    -0.0,
    1e-7,
    3.141592653589793,
    1e16,
    1e308,
    2**31,
    2**53 + 1,
    2**63 - 1,
    2**63,
    2**64 + 1,
    -(2**63) - 1,
    10**30,
    float("nan"),
    float("inf"),
)
WRONG_TYPES: tuple[Any, ...] = (None, True, False, [], ["x", 1], {}, {"a": {"b": [1, None]}}, 7, 2.5, "")

LEVELS_GOOD = ("log", "info", "warn", "error", "debug")
LEVELS_ODD: tuple[Any, ...] = (
    "LOG",
    "Info",
    "WARN",
    "Warning",
    "ERROR",
    "err",
    "fatal",
    "CRITICAL",
    "trace",
    "verbose",
    "notice",
    "silly",
    "",
    " info",
    "İnfo",
    None,
    3,
    True,
    ["error"],
)

RAY_IDS = ("87f0a1b2c3d4e5f6", "87f0a1b3d9e8f701-SJC", "87F0A1B3D9E8F701", "87f0a2092b4d6f81-LHR", "", None)
REQUEST_IDS: tuple[Any, ...] = ("d064ef901f7ec0b7", "3b7d1f5a9c0e2468", "892104e63bd39d9b", "", None, 12345)
USERS: tuple[Any, ...] = ("user_8hQ3mz", "user_2fX9kq", "anonymous", None, "", 42, True, "ünï")
URLS = ("http://localhost:3000/chat", "https://app.starter-ai.dev/profile?x=1", "https://u:pw@example.com/a")
USER_AGENT = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0"
)
CONVEX_META = {
    "deployment_name": "tremendous-otter-123",
    "deployment_type": "prod",
    "deployment_ref": None,
    "project_name": "starter-nextjs-convex-ai",
    "project_slug": "starter-nextjs-convex-ai",
    "deployment_region": "aws-us-east-1",
}


def often(good: st.SearchStrategy[Any], odd: st.SearchStrategy[Any], odds: int = 6) -> st.SearchStrategy[Any]:
    """`good`, and one time in `odds` `odd` (fields whose odd values reject the record use larger odds, so
    most records of a file stay usable)."""
    return st.integers(0, odds - 1).flatmap(lambda i: odd if i == 0 else good)


def ts_variants(ms: int) -> list[Any]:
    """The instant `ms` (and nearby garbage) in every shape a timestamp field may take."""
    iso = _iso(ms)
    return [
        ms,
        ms // 1000,  # seconds
        ms / 1000,  # float seconds (the CLI's shape)
        ms * 1000,  # µs
        ms * 1_000_000,  # ns
        ms + 0.5,  # float ms
        float(ms),
        str(ms),
        f" {ms} ",
        f"{ms / 1000}",
        f"{ms}e0",
        iso,
        iso.replace("Z", "+00:00"),
        iso.replace("Z", "+02:00"),
        iso[:19],  # no zone
        iso[:19].replace("T", " ") + " UTC",
        iso[:10],  # a date
        "2024-13-45T99:00:00Z",
        "soon",
        "",
        None,
        True,
        0,
        -ms,
        946_684_799_999,  # just before 2000
        946_684_800_000,  # 2000 exactly
        4_102_444_800_000,  # 2100: out of range
        4_102_444_799_999,
        10**20,
        2**64 + 5,
        1e308,
        float("nan"),
        [ms],
        {"ms": ms},
    ]


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:23] + "Z"


def _is_plain(v: Any) -> bool:
    """JSON the SQL path may take: ASCII text written without `\\u` escapes, no floats."""
    if isinstance(v, float):
        return False
    if isinstance(v, str):
        return v.isascii() and all(c >= " " or c in "\t\n\r" for c in v)
    if isinstance(v, list):
        return all(_is_plain(x) for x in v)
    if isinstance(v, dict):
        return all(_is_plain(k) and _is_plain(x) for k, x in v.items())
    return True


def _pick(values: Sequence[Any], plain: bool) -> st.SearchStrategy[Any]:
    return st.sampled_from([v for v in values if _is_plain(v)] if plain else list(values))


@dataclass(frozen=True)
class Pools:
    """The value strategies of one record. `plain` records hold only what the SQL path may accept (ASCII,
    no `\\u` escapes, no floats), so their one odd value is what decides; the others hold anything."""

    plain: bool
    trace: st.SearchStrategy[Any]
    level: st.SearchStrategy[Any]
    level_odd: st.SearchStrategy[Any]
    text: st.SearchStrategy[str]
    weird: st.SearchStrategy[Any]
    numbers: st.SearchStrategy[Any]
    users: st.SearchStrategy[Any]
    message: st.SearchStrategy[Any]
    context_value: st.SearchStrategy[Any]
    extra: st.SearchStrategy[dict[str, Any]]

    def ts(self, ms: int) -> st.SearchStrategy[Any]:
        return often(st.just(ms), _pick(ts_variants(ms), self.plain), 8)


def _pools(plain: bool) -> Pools:
    ascii_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12)
    piece = st.one_of(
        st.sampled_from(PLAIN),
        st.sampled_from(PLAIN),
        st.sampled_from(MENTIONS),
        st.sampled_from(SECRETS),
        st.sampled_from(NOISE),
        _pick(UNICODE, plain) if not plain else st.sampled_from(PLAIN),
        _pick(CONTROL, plain),
        ascii_text if plain else st.text(max_size=12),
        _pick(["x" * 300, "long " * 2000, "é" * 3000], plain),
    )
    text = st.lists(piece, min_size=1, max_size=3).map(" ".join)
    numbers = _pick(NUMBERS, plain)
    weird = st.one_of(_pick(WRONG_TYPES, plain), numbers)
    trace = often(st.sampled_from(GOOD_TRACES), _pick(ODD_TRACES, plain))
    mentioning = st.tuples(text, st.sampled_from(MENTIONS)).map(" ".join)
    # context values: nested, with huge ints (and floats), secrets under telling keys, trace fields
    leaf = st.one_of(st.none(), st.booleans(), numbers, st.integers(-(2**70), 2**70), text)
    keys = _pick(["a", "password", "token", "Authorization", "url", "n", "trace_id", "é", ""], plain)
    context_value: st.SearchStrategy[Any] = st.recursive(
        leaf,
        lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)),
        max_leaves=6,
    )
    extra = st.dictionaries(
        st.sampled_from(
            [*TRACE_FIELDS, *DECOY_FIELDS, "step", "workflow", "headers", "password", "meta", "n"]
        ),
        st.one_of(trace, context_value, st.sampled_from(HEADER_VALUES)),
        max_size=3,
    )
    return Pools(
        plain=plain,
        trace=trace,
        level=often(st.sampled_from(LEVELS_GOOD), _pick(LEVELS_ODD, plain)),
        level_odd=_pick(LEVELS_ODD, plain),
        text=text,
        weird=weird,
        numbers=numbers,
        users=_pick(USERS, plain),
        message=often(st.one_of(text, mentioning), weird, 8),
        context_value=context_value,
        extra=extra,
    )


PLAIN_POOLS = _pools(True)
ANY_POOLS = _pools(False)


def with_extra(draw: st.DrawFn, p: Pools, rec: dict[str, Any], p_keys: tuple[str, ...]) -> dict[str, Any]:
    """Sometimes: drop, null or retype one or two of `p_keys`, or add a few extra keys."""
    if "trace_id" in rec and draw(st.integers(0, 3)) == 0:
        del rec["trace_id"]  # so the trace id comes from context, headers or the message
    if draw(st.integers(0, 2)) != 0:
        return rec
    for key in draw(st.lists(st.sampled_from(p_keys), min_size=1, max_size=2, unique=True)):
        action = draw(st.sampled_from(["drop", "null", "weird"]))
        if action == "drop":
            rec.pop(key, None)
        elif action == "null":
            rec[key] = None
        else:
            rec[key] = draw(p.weird)
    if draw(st.booleans()):
        rec.update(draw(p.extra))
    return rec


# ---------------------------------------------------------------------------------------------------------
# the five record shapes
# ---------------------------------------------------------------------------------------------------------


@st.composite
def browser_v1(draw: st.DrawFn, p: Pools, ms: int) -> dict[str, Any]:
    arg = st.one_of(p.text, p.text, p.context_value, st.sampled_from(SECRETS))
    args = often(st.lists(arg, min_size=1, max_size=3), st.one_of(p.text, p.weird), 10)
    rec = {
        "level": draw(p.level),
        "args": draw(args),
        "trace_id": draw(p.trace),
        "user_id": draw(often(st.sampled_from(USERS[:3]), p.users)),
        "system_area": draw(
            often(st.just("browser"), st.sampled_from(["convex", "worker", "Browser", "", None, 5]))
        ),
        "timestamp": draw(p.ts(ms)),
        "stack_trace": draw(
            often(
                st.just(
                    "Error\n    at console.log (http://localhost:3000/_next/static/chunks/app/layout.js:412:29)"
                ),
                st.one_of(st.sampled_from(SECRETS), p.weird),
            )
        ),
    }
    return with_extra(
        draw, p, rec, ("level", "trace_id", "user_id", "system_area", "stack_trace", "timestamp")
    )


@st.composite
def _browser_context(draw: st.DrawFn, p: Pools, ms: int) -> Any:
    ctx: dict[str, Any] = {
        "timestamp": draw(p.ts(ms)),
        "url": draw(st.sampled_from(URLS)),
        "userAgent": USER_AGENT,
    }
    if draw(st.booleans()):
        ctx.update(draw(p.extra))
    if draw(st.integers(0, 4)) == 0:
        ctx["headers"] = draw(st.sampled_from(HEADER_VALUES))
    return draw(
        often(st.just(ctx), st.one_of(p.weird, st.just({"timestamp": ms}), st.just({"url": URLS[0]})), 10)
    )


@st.composite
def browser_v2(draw: st.DrawFn, p: Pools, ms: int) -> dict[str, Any]:
    rec = {
        "trace_id": draw(p.trace),
        "message": draw(p.message),
        "level": draw(p.level),
        "system": draw(
            often(
                st.just("browser"),
                st.sampled_from(["convex", "Convex", "worker", "manual", "backend", "", None, 5]),
            )
        ),
        "user_id": draw(often(st.sampled_from(USERS[:3]), p.users)),
        "stack": draw(st.one_of(st.none(), st.just("Error: x\n    at f (app.js:1:2)"), p.weird)),
        "context": draw(_browser_context(p, ms)),
    }
    if draw(st.integers(0, 5)) == 0:
        rec["timestamp"] = draw(p.ts(ms))  # the fallback clock when context has none
    if draw(st.integers(0, 6)) == 0:  # a Convex line echoed in the console
        rec["system"] = "convex"
        rec["message"] = "[CONVEX M(messages:send)] [LOG] 'Sent message!'"
    return with_extra(draw, p, rec, ("trace_id", "level", "system", "user_id", "stack", "context"))


@st.composite
def worker_record(draw: st.DrawFn, p: Pools, ms: int) -> dict[str, Any]:
    system = draw(
        often(st.sampled_from(["worker", "browser", "convex"]), st.sampled_from(["", None, "edge", 3]))
    )
    ctx: dict[str, Any] = {"timestamp": draw(p.ts(ms - draw(st.integers(0, 41))))}
    if system == "convex":
        ctx.update({"system_area": "convex", "convex_function_name": "messages:send"})
    else:
        ctx.update({"step": draw(st.integers(1, 3)), "workflow": "send-message"})
    if draw(st.booleans()):
        ctx.update(draw(p.extra))
    rec: dict[str, Any] = {
        "id": draw(often(st.just(f"{ms}_r8t2m9x0q"), p.weird)),
        "trace_id": draw(p.trace),
        "user_id": draw(p.users),
        "system": system,
        "level": draw(p.level),
        "message": draw(p.message),
        "timestamp": draw(p.ts(ms)),
        "context": draw(often(st.just(ctx), st.one_of(p.weird, st.just({"url": URLS[0], "userAgent": "x"})))),
    }
    if draw(st.booleans()):
        rec["stack"] = draw(
            st.one_of(
                st.just("Error: Payment declined\n    at handler (../convex/payments.ts:42:11)"), p.weird
            )
        )
    return with_extra(draw, p, rec, ("id", "trace_id", "user_id", "system", "level", "context"))


def _lp_message(p: Pools) -> st.SearchStrategy[Any]:
    """A Logpush `Logs[].Message`: the console arguments (an array), or the odd string, object, number."""
    return st.one_of(
        st.lists(
            st.one_of(
                p.text,
                st.dictionaries(st.sampled_from([*TRACE_FIELDS, "system", "level"]), p.trace, max_size=3),
            ),
            max_size=3,
        ),
        st.lists(p.text, min_size=1, max_size=2),
        st.lists(p.text, min_size=1, max_size=2),
        p.text,
        st.dictionaries(st.sampled_from(["trace_id", "event", "msg"]), p.trace, max_size=2),
        p.weird,
    )


@st.composite
def cf_logpush(draw: st.DrawFn, p: Pools, ms: int) -> dict[str, Any]:
    def log_line() -> Any:
        line = {
            "Level": draw(p.level),
            "Message": draw(_lp_message(p)),
            "TimestampMs": draw(p.ts(ms + draw(st.integers(0, 300)))),
        }
        if draw(st.integers(0, 5)) == 0:
            line = {k.lower(): v for k, v in line.items()}  # the lower-case spelling some exports use
        return draw(often(st.just(line), p.weird))

    def exception() -> Any:
        exc: dict[str, Any] = {
            "Name": draw(often(st.just("Error"), p.weird)),
            "Message": draw(p.message),
            "TimestampMs": draw(p.ts(ms + 5)),
        }
        if draw(st.booleans()):
            exc["Stack"] = draw(st.one_of(st.just("Error: x\n    at fetch (worker.js:1:2)"), p.weird))
        return draw(often(st.just(exc), p.weird))

    request: dict[str, Any] = {
        "URL": draw(st.sampled_from(URLS)),
        "Method": draw(st.sampled_from(["POST", "GET", "OPTIONS"])),
    }
    if draw(st.integers(0, 3)) == 0:
        request["Headers"] = draw(st.sampled_from(HEADER_VALUES))
    n_logs = draw(st.integers(0, 3))
    n_exc = draw(st.sampled_from([0, 0, 0, 1, 2]))
    rec: dict[str, Any] = {
        "CPUTimeMs": draw(often(st.integers(0, 50), p.weird)),
        "DispatchNamespace": "",
        "Entrypoint": "",
        "Event": {
            "RayID": draw(st.sampled_from(RAY_IDS)),
            "Request": request,
            "Response": {"Status": draw(st.sampled_from([200, 204, 500, None, "200"]))},
        },
        "EventTimestampMs": draw(p.ts(ms)),
        "EventType": "fetch",
        "Exceptions": draw(often(st.just([exception() for _ in range(n_exc)]), p.weird, 10)),
        "Logs": draw(often(st.just([log_line() for _ in range(n_logs)]), p.weird, 10)),
        "Outcome": draw(st.sampled_from(["ok", "exception", "canceled", None])),
        "ScriptName": "log-ingestion-worker",
        "ScriptTags": [],
        "ScriptVersion": {"ID": "6f1c2a9e-3b7d-4e51-9a0c-8d2f4b6e1a37", "Message": "", "Tag": ""},
        "WallTimeMs": draw(often(st.integers(0, 3000), p.weird)),
    }
    if draw(st.integers(0, 6)) == 0:
        rec["Event"] = draw(p.weird)
    return with_extra(draw, p, rec, ("CPUTimeMs", "Event", "Outcome", "ScriptName", "Logs", "Exceptions"))


CONVEX_MESSAGES = (
    "'Sent message!'",
    "'it\\'s done'",
    "'a' 'b'",
    "'unterminated",
    "'",
    "''",
    "'\\\\'",
    "'multi\nline'",
    "[LOG] 'prefixed'",
    "'send called' { traceId: 'trace_1714910398211_k3j9x2m1p', channel: 'general' }",
    "'Function executed with trace_id: trace_1714910415902_h7d2kq0zs'",
    "{ trace_id: 'trace_1754384400000_abc123' }",
)


@st.composite
def convex_stream(draw: st.DrawFn, p: Pools, ms: int) -> dict[str, Any]:
    fn: dict[str, Any] = {
        "path": draw(st.sampled_from(["messages:send", "payments:charge", "auth:refreshSession", None])),
        "type": draw(st.sampled_from(["mutation", "query", "action", "httpAction", None])),
        "cached": draw(st.sampled_from([None, False, True])),
        "request_id": draw(st.sampled_from(REQUEST_IDS)),
        "mutation_queue_length": 0,
        "mutation_retry_count": 0,
    }
    if draw(st.integers(0, 5)) == 0:
        fn["component_path"] = draw(st.sampled_from([None, "", "agent"]))
    topic = draw(
        st.sampled_from(
            ["console", "console", "console", "function_execution", "function_execution", "other"]
        )
    )
    rec: dict[str, Any] = {"topic": topic, "timestamp": draw(p.ts(ms)), "function": fn}
    if topic == "console":
        rec.update(
            {
                "log_level": draw(
                    often(
                        st.sampled_from(["LOG", "INFO", "WARN", "ERROR", "DEBUG"]),
                        p.level_odd,
                    )
                ),
                "message": draw(
                    often(
                        st.one_of(
                            st.sampled_from(CONVEX_MESSAGES),
                            p.text.map(lambda t: "'" + t.replace("'", "\\'") + "'"),
                        ),
                        p.message,
                    )
                ),
                "is_truncated": draw(st.sampled_from([False, True, None, 0, "yes"])),
                "system_code": draw(st.sampled_from([None, None, "ok", 5])),
            }
        )
    elif topic == "function_execution":
        usage = {
            k: draw(often(st.integers(0, 10_000), st.one_of(p.numbers, st.sampled_from([None, "12"]))))
            for k in (
                "database_io_read_bytes",
                "database_write_bytes",
                "memory_used_mb",
                "network_egress_bytes",
            )
        }
        rec.update(
            {
                "execution_time_ms": draw(
                    often(st.integers(0, 5000), st.one_of(p.numbers, st.sampled_from([None, "26", True])))
                ),
                "user_execution_time_ms": 24,
                "status": draw(
                    often(st.sampled_from(["success", "failure"]), st.sampled_from([None, "FAILURE", 1, ""]))
                ),
                "error_message": draw(st.one_of(st.none(), p.text, p.weird)),
                "occ_info": draw(st.sampled_from([None, {"table_name": "messages", "retry_count": 1}])),
                "will_retry": False,
                "scheduler_info": None,
                "run_reason": draw(st.sampled_from(["webSocket", "initialSubscription", None])),
                "usage": draw(often(st.just(usage), p.weird)),
            }
        )
    else:
        rec["topic"] = draw(
            st.sampled_from(["audit_log", "scheduler_stats", "current_storage_usage", "concurrency_stats", "verification",
                             "Console", "console ", "", "FUNCTION_EXECUTION"])
        )  # fmt: skip
        rec.update(
            draw(
                st.dictionaries(
                    st.sampled_from(
                        ["action", "lag_seconds", "num_running", "total_document_size_bytes", "message"]
                    ),
                    p.context_value,
                    max_size=3,
                )
            )
        )
    rec["convex"] = draw(often(st.just(CONVEX_META), p.weird))
    if draw(st.integers(0, 8)) == 0:
        rec["topic"] = draw(p.weird)
    rec = with_extra(draw, p, rec, ("function", "convex", "message", "log_level", "status", "usage"))
    if draw(st.integers(0, 6)) == 0:  # the Axiom form: wrapped in {"data": …}
        return {"_time": _iso(ms), "_sysTime": _iso(ms + 5000), "data": rec}
    return rec


SHAPES: dict[str, Callable[[Pools, int], st.SearchStrategy[dict[str, Any]]]] = {
    "browser-v1": browser_v1,
    "browser-v2": browser_v2,
    "worker-record": worker_record,
    "cf-logpush": cf_logpush,
    "convex-stream": convex_stream,
}
# the field that holds each shape's event time, for bursts (path of keys)
TS_PATHS: dict[str, tuple[str, ...]] = {
    "browser-v1": ("timestamp",),
    "browser-v2": ("context", "timestamp"),
    "worker-record": ("timestamp",),
    "cf-logpush": ("EventTimestampMs",),
    "convex-stream": ("timestamp",),
}


def shifted(rec: dict[str, Any], shape: str, dt: int) -> dict[str, Any]:
    """A copy of `rec` `dt` ms later (when its time field is an int ms; else an exact copy)."""
    out: dict[str, Any] = json.loads(json.dumps(rec))
    target: Any = (
        out["data"] if "data" in out and "topic" not in out and isinstance(out["data"], dict) else out
    )
    *parents, last = TS_PATHS[shape]
    for k in parents:
        target = target.get(k) if isinstance(target, dict) else None
    if isinstance(target, dict) and type(target.get(last)) is int:
        target[last] += dt
    return out


# ---------------------------------------------------------------------------------------------------------
# lines and files
# ---------------------------------------------------------------------------------------------------------


def encode(rec: Any, how: str) -> bytes:
    """One record as one line: `orjson` (UTF-8), `ascii` (`\\u` escapes), `spaced` (`json`'s separators)
    or `dupkey` (its first key written twice, first with another value). Values orjson cannot write
    (ints beyond 64 bits, NaN) fall back to `json`."""
    if how == "orjson":
        try:
            return orjson.dumps(rec)
        except orjson.JSONEncodeError:
            how = "spaced"
    if how == "ascii":
        return json.dumps(rec, ensure_ascii=True, separators=(",", ":")).encode()
    text = json.dumps(rec, ensure_ascii=False)
    if how == "dupkey" and isinstance(rec, dict) and rec:
        first = next(iter(rec))
        text = "{" + json.dumps(first) + ': "shadowed", ' + text[1:]
    return text.encode("utf-8", "surrogatepass")


ENCODINGS = ("orjson", "orjson", "orjson", "ascii", "spaced", "dupkey")
PLAIN_ENCODINGS = ("orjson", "orjson", "orjson", "orjson", "spaced", "dupkey")

MALFORMED: tuple[bytes, ...] = (
    b"",
    b"   ",
    b"\t",
    b"{bad json",
    b'{"message": "cut off", "level": "lo',
    b"[]",
    b"[[]]",
    b"{}",
    b"null",
    b"12345",
    b'"just a string"',
    b"true",
    b'{"message": "x", "level": "log", "timestamp": 1714910400000} trailing',
    b'{"message": "\\ud800 lone", "level": "log", "timestamp": 1714910400000}',
    b'{"message": "\xed\xa0\x80", "level": "log", "timestamp": 1714910400000}',
    b'{"message": "bad utf8 \xff\xfe", "level": "log", "timestamp": 1714910400000}',
    b'{"message": "x", "level": "log", "timestamp": NaN}',
    b'{"message": "x", "level": "log", "timestamp": 1e400}',
    b'{"message": "x", "level": "log", "context": {"timestamp": 1714910400000}, "timestamp": -Infinity}',
    b"\x00\xff garbage",
    b"Connected to log-ingestion-worker, waiting for logs...",
    b'{"a":' * 300 + b"1" + b"}" * 300,
    b'{"unknown_shape": true, "note": "password=hunter2"}',
    b'{"topic": 5, "timestamp": "soon"}',
    b'{"Logs": "not a list", "EventTimestampMs": 1714910400000}',
    b'{"args": 42, "level": "log", "timestamp": 1714910400000}',
)


@dataclass
class Case:
    """One generated input file: its lines (records and malformed lines) and how it is written."""

    lines: list[bytes]
    crlf: bool
    bom: bool
    gz: bool
    final_newline: bool

    def data(self) -> bytes:
        sep = b"\r\n" if self.crlf else b"\n"
        body = sep.join(self.lines) + (sep if self.final_newline else b"")
        if self.bom:
            body = b"\xef\xbb\xbf" + body
        return gzip.compress(body, mtime=0) if self.gz else body

    def write(self, path: Path) -> Path:
        path = path.with_name(path.name + (".jsonl.gz" if self.gz else ".jsonl"))
        path.write_bytes(self.data())
        return path


@st.composite
def records(
    draw: st.DrawFn, shapes: Sequence[str] = tuple(SHAPES), max_size: int = 30
) -> list[tuple[str, dict[str, Any], bool]]:
    """(shape, record, plain) over a few minutes, two in three records plain (see `Pools`), with bursts
    (identical lines close together, and exact re-deliveries) so the loop, duplicate and rate rules fire."""
    base = draw(st.sampled_from(BASES))
    span = draw(st.sampled_from([1_000, 60_000, 240_000]))
    out = []
    for _ in range(draw(st.integers(1, max_size))):
        shape = draw(st.sampled_from(list(shapes)))
        plain = draw(st.integers(0, 2)) != 0
        pools = PLAIN_POOLS if plain else ANY_POOLS
        out.append((shape, draw(SHAPES[shape](pools, base + draw(st.integers(0, span)))), plain))
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(out) - 1))
        shape, rec, plain = out[i]
        step = draw(st.sampled_from([0, 0, 10, 90, 150, 400]))
        out.extend((shape, shifted(rec, shape, step * k), plain) for k in range(1, draw(st.integers(2, 12))))
    order = draw(st.permutations(range(len(out))))
    return [out[i] for i in order]


@st.composite
def cases(draw: st.DrawFn, shapes: Sequence[str] = tuple(SHAPES), max_size: int = 30) -> Case:
    """A whole NDJSON file: generated records, each encoded its own way, malformed lines mixed in (rarely
    first, where they may change how the file is framed), CRLF, a BOM, gzip."""
    lines = [
        encode(rec, draw(st.sampled_from(PLAIN_ENCODINGS if plain else ENCODINGS)))
        for _, rec, plain in draw(records(shapes, max_size))
    ]
    if draw(st.integers(0, 2)) == 0:
        for bad in draw(st.lists(st.sampled_from(MALFORMED), min_size=1, max_size=4)):
            lines.insert(draw(st.integers(1, len(lines))), bad)
    if draw(st.integers(0, 14)) == 0:  # rarely first after all: the file may then not be read as NDJSON
        lines.insert(0, draw(st.sampled_from(MALFORMED)))
    if len(lines) > 1 and draw(st.integers(0, 6)) == 0:  # an array of records on one line (not first)
        i = draw(st.integers(1, len(lines) - 1))
        lines[i] = b"[" + lines[i] + b"," + lines[i - 1] + b"]"
    return Case(
        lines=lines,
        crlf=draw(st.integers(0, 6)) == 0,
        bom=draw(st.integers(0, 6)) == 0,
        gz=draw(st.integers(0, 5)) == 0,
        final_newline=draw(st.integers(0, 6)) != 0,
    )


@cache
def gen_logs() -> Callable[..., dict[str, Any]]:
    """scripts/gen_logs.py's `generate(n, seed, path)` (the benchmark's realistic mixed file)."""
    import importlib.util

    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("gen_logs", root / "scripts" / "gen_logs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    generate: Callable[..., dict[str, Any]] = module.generate
    return generate
