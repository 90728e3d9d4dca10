"""The stager's fingerprints and event keys, computed compiled (`stage_keys` in `logcorr/_fastparse.c`),
must be exactly what DuckDB's macros (`MACROS_SQL`) compute, which the rules and every earlier database
rely on; when the compiled function is missing or refuses a batch, DuckDB computes them."""

from __future__ import annotations

import hashlib
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logcorr import native
from logcorr.model import Event
from logcorr.pipeline.stage import KEY_COLUMNS, STAGED_SCHEMA, STAGING_SCHEMA, Stager
from logcorr.rules.fingerprint import MACROS_SQL, fingerprint
from logcorr.rules.policy import Policy
from logcorr.sources import fast


def _compiled() -> Any:
    keys = fast.stage_keys()
    assert keys is not None, "logcorr/_fastparse.c did not build (or LOGCORR_NO_FASTPATH is set)"
    return keys


SPACE = st.text(alphabet=" \t\n\f\r\v\xa0\u2003", max_size=3)
MESSAGE = st.one_of(
    st.text(max_size=80).filter(lambda s: not any(0xD800 <= ord(c) < 0xE000 for c in s)),
    st.builds(
        lambda a, fn, sp, lvl, body, b: f"{a}[CONVEX {fn}(x:y)]{sp}[{lvl}] {body}{b}",
        SPACE,
        st.sampled_from("QMAHZ"),
        SPACE,
        st.sampled_from(["LOG", "INFO", "ERROR", "TRACE"]),
        st.text(alphabet="ab' \n", max_size=8),
        SPACE,
    ),
    st.text(alphabet=" \t\n\f\r\vé", max_size=5),
    # md5's padding edges; texts longer than the compiled code's buffer for the event key's text (512 bytes)
    st.sampled_from(["x" * 55, "y" * 56, "z" * 63, "w" * 64, "v" * 119, "u" * 120, "é" * 40]),
    st.sampled_from(["t" * 490, "s" * 511, "r" * 512, "é" * 700]),
    # redaction marks, whole and broken, which the key reads without their kind; around the buffer's edge too
    st.lists(
        st.sampled_from(
            [
                "[REDACTED:password]",
                "[REDACTED]",
                "[REDACTED:",
                "[REDACTED:]",
                "[REDACTED:a b]",
                "]",
                "[REDACTED:x_1]]",
                "[[REDACTED:jwt]",
                "[REDACTED:é]",
                "é",
                " ",
                '"pw": "',
                "q" * 500,
            ]
        ),
        max_size=6,
    ).map("".join),
)
INT64 = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.integers(0, 4_102_444_800_000))
ROW = st.tuples(
    INT64,  # ts_ms
    st.one_of(st.none(), st.sampled_from(["browser", "worker", "backend", "système"])),
    st.one_of(st.none(), st.sampled_from(["log", "info", "error"])),
    MESSAGE,
    st.one_of(st.none(), st.text(max_size=30)),  # trace_id
    st.one_of(st.none(), st.text(max_size=30)),  # request_id
    st.one_of(st.none(), st.integers(0, 2**31 - 1)),  # part
    INT64,  # client_ts_ms: the key's time when not None
    # source_format: a Cloudflare Logpush or tail line with a request id is keyed without its trace id
    st.one_of(
        st.none(), st.sampled_from(["cf-logpush", "cf-tail", "cf-workers-logs", "cf-logpus", "browser-v1"])
    ),
)


def _no_surrogates(row: tuple[Any, ...]) -> bool:
    return all(not isinstance(v, str) or not any(0xD800 <= ord(c) < 0xE000 for c in v) for v in row)


def _duckdb_keys(values: list[tuple[Any, ...]]) -> list[tuple[str, int]]:
    con = duckdb.connect()
    con.execute(MACROS_SQL)
    # the staging table's key columns, as the stager hands them to the compiled keys
    fields = [STAGING_SCHEMA.field(i) for i in KEY_COLUMNS]
    table = pa.table(
        {
            f.name: pa.array([v[i] if i < len(v) else None for v in values], f.type)
            for i, f in enumerate(fields)
        }
    )
    con.register("_t", table.append_column("_i", pa.array(range(len(values)), pa.int64())))
    return [
        (fp, int(key))
        for fp, key in con.execute(
            "SELECT lc_fingerprint(message), lc_event_key(coalesce(client_ts_ms, ts_ms), system, level, message, "
            "lc_key_trace(trace_id, request_id, source_format), request_id, part) FROM _t ORDER BY _i"
        ).fetchall()
    ]


def _compiled_keys(values: list[tuple[Any, ...]]) -> list[tuple[str, int]]:
    offsets, fingerprints, keys = _compiled()(values, tuple(range(len(values[0]))), fingerprint)
    n = len(values)
    fp = pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(fingerprints)])
    ek = pa.Array.from_buffers(pa.int64(), n, [None, pa.py_buffer(keys)])
    return list(zip(fp.to_pylist(), ek.to_pylist(), strict=True))


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(st.lists(ROW.filter(_no_surrogates), min_size=1, max_size=25))
def test_compiled_keys_equal_duckdbs_macros(values: list[tuple[Any, ...]]) -> None:
    assert _compiled_keys(values) == _duckdb_keys(values)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_md5_is_md5(data: bytes) -> None:
    ext = native.module("_fastparse")
    assert ext is not None
    assert ext.md5_hex(data) == hashlib.md5(data).hexdigest()


@pytest.mark.parametrize(
    "echo",
    [
        "[CONVEX M(messages:send)] [LOG] 'Sent message!'",
        # styled, as the live console override ships it: console.log("%c[CONVEX …] [LOG]", css, text)
        "%c[CONVEX M(messages:send)] [LOG] color:rgb(0, 145, 255) 'Sent message!'",
    ],
)
def test_a_browser_echo_of_a_backend_line_takes_the_python_fingerprint(echo: str) -> None:
    got = _compiled_keys(
        [
            (1, "browser", "log", echo, None, None, 0, None),
            (1, "backend", "log", " Sent message!\n", None, None, 0, None),
        ]
    )
    assert got[0][0] == got[1][0] == fingerprint("Sent message!")


def test_the_key_time_is_the_clients_when_the_event_has_one() -> None:
    """A Worker's stored record of a browser line (received at 1,250, sent at 1,000) and the browser's payload of
    it (1,000) are one event; two records the Worker received in one millisecond are two."""
    record = (1250, "browser", "log", "clicked", "t1", None, 0, 1000)
    payload = (1000, "browser", "log", "clicked", "t1", None, 0, None)
    other = (1250, "browser", "log", "clicked", "t1", None, 0, 1004)
    keys = [k for _, k in _compiled_keys([record, payload, other])]
    assert keys[0] == keys[1] != keys[2]
    assert [k for _, k in _duckdb_keys([record, payload, other])] == keys


def test_a_worker_copy_redacted_by_the_live_worker_is_the_browsers_event() -> None:
    """The live Worker stored its record of a browser line with its own mark (`[REDACTED]`); the browser's export
    holds the secret, which logcorr redacts as `[REDACTED:password]`: one event. Another text is another."""
    record = (1250, "browser", "log", 'login {"password": "[REDACTED]"} ok', "t1", None, 0, 1000)
    payload = (1000, "browser", "log", 'login {"password": "[REDACTED:password]"} ok', "t1", None, 0, None)
    other = (1000, "browser", "log", 'login {"password": "[REDACTED:password]"} failed', "t1", None, 0, None)
    plain = (1000, "browser", "log", 'login {"password": "REDACTED"} ok', "t1", None, 0, None)
    keys = [k for _, k in _compiled_keys([record, payload, other, plain])]
    assert keys[0] == keys[1] and len(set(keys[1:])) == 3
    assert [k for _, k in _duckdb_keys([record, payload, other, plain])] == keys


def test_a_cloudflare_request_line_is_keyed_without_its_trace_id() -> None:
    """One `console.log` line in a Logpush export (its trace from a sibling line) and in a tail capture (from the
    request's `x-trace-id`): one key. Without a Ray ID, or of another format, the trace id stays in the key."""
    logpush = (1044, "worker", "log", "polling", "t1", "87f0a1b3d9e8f701", 1, None, "cf-logpush")
    tail = (1044, "worker", "log", "polling", "t2", "87f0a1b3d9e8f701", 1, None, "cf-tail")
    bare = (1044, "worker", "log", "polling", None, "87f0a1b3d9e8f701", 1, None, "cf-tail")
    cron = (1044, "worker", "log", "polling", "t1", None, 1, None, "cf-tail")
    cron_other = (1044, "worker", "log", "polling", "t2", None, 1, None, "cf-tail")
    logs = (1044, "worker", "log", "polling", "t1", "87f0a1b3d9e8f701", 1, None, "cf-workers-logs")
    logs_other = (1044, "worker", "log", "polling", "t2", "87f0a1b3d9e8f701", 1, None, "cf-workers-logs")
    rows = [logpush, tail, bare, cron, cron_other, logs, logs_other]
    keys = [k for _, k in _compiled_keys(rows)]
    assert keys[0] == keys[1] == keys[2]
    assert len(set(keys[2:])) == 5
    assert [k for _, k in _duckdb_keys(rows)] == keys


@pytest.mark.parametrize(
    "row",
    [
        (1, "browser", "log", None, None, None, 0),  # no message
        (1, "browser", "log", b"bytes", None, None, 0),
        (True, "browser", "log", "m", None, None, 0),  # a bool is not a time
        (1.5, "browser", "log", "m", None, None, 0),
        (2**64, "browser", "log", "m", None, None, 0),
        (1, "browser", "log", "lone \ud800 surrogate", None, None, 0),
        (1, "browser", "log", "m", 7, None, 0),
        (1, "browser", "log"),  # a short row
    ],
)
def test_values_it_does_not_take_raise(row: tuple[Any, ...]) -> None:
    with pytest.raises((TypeError, ValueError, OverflowError)):
        _compiled()([(1, "worker", "log", "fine", None, None, 0), row], tuple(range(7)), fingerprint)
    with pytest.raises((TypeError, ValueError, OverflowError)):
        _compiled()(
            [(1, "worker", "log", "fine", None, None, 0, 1), (*row, None)], tuple(range(8)), fingerprint
        )


def test_a_fingerprint_function_returning_the_wrong_length_raises() -> None:
    with pytest.raises(ValueError):
        _compiled()(
            [(1, "worker", "log", "[CONVEX Q(a)] x", None, None, 0)], tuple(range(7)), lambda m: "short"
        )


# --- the stager: compiled, missing, refusing -----------------------------------------------------------


def _staged(monkeypatch: Any, replacement: Any) -> list[tuple[Any, ...]]:
    import logcorr.pipeline.stage as stage

    if replacement is not None:  # the tuple path (the compiled batch computes its keys itself)
        monkeypatch.setattr(stage, "stage_keys", replacement)
        monkeypatch.setattr(stage, "stage_batch", lambda: None)
    con = duckdb.connect()
    stager = Stager(con, Policy(), batch_rows=3)
    messages = [
        "hello",
        "  padded \t",
        "[CONVEX Q(a:b)] [WARN] 'echo'",
        "password=hunter2",
        "é",
        "x" * 200,
        "hello",
    ]
    for i, m in enumerate(messages):
        trace = None if i % 2 else f"trace_{i}"
        ev = Event(1_714_910_400_000 + i // 2, "worker", None, "log", m, trace, "field", f"req{i % 3}", None,
                   {"k": i} if i % 3 else None, None, None)  # fmt: skip
        stager.record([ev, ev], [], 1, i + 1, "worker-record")
    stager.flush()
    described = stager.events("DESCRIBE SELECT * FROM _spooled", fetch=True)
    assert [c[0] for c in described] == STAGED_SCHEMA.names
    return stager.events("SELECT * FROM _spooled ORDER BY seq", fetch=True)


def test_the_stager_stages_the_same_rows_with_or_without_the_compiled_keys(monkeypatch: Any) -> None:
    compiled = _staged(monkeypatch, None)
    # a record's two copies of one event differ by their position in it; "hello" twice, at other times
    assert len({r[-2] for r in compiled}) == len(compiled) == 14
    assert _staged(monkeypatch, lambda: None) == compiled

    def refuses() -> Any:
        def keys(*args: Any) -> Any:
            raise TypeError("a value it does not take")

        return keys

    assert _staged(monkeypatch, refuses) == compiled


# --- a parse worker's stager: no DuckDB connection unless a fallback needs one ---------------------------


def _worker_stage(monkeypatch: Any, refuse: bool) -> tuple[list[tuple[Any, ...]], Stager]:
    import logcorr.pipeline.stage as stage
    from logcorr.pipeline.stage import StageRules

    if refuse:

        def refuses() -> Any:
            def keys(*args: Any) -> Any:
                raise TypeError("a value it does not take")

            return keys

        monkeypatch.setattr(stage, "stage_keys", refuses)
        monkeypatch.setattr(stage, "stage_batch", lambda: None)
    batches: list[pa.RecordBatch] = []
    stager = Stager(None, StageRules.of(Policy()), batch_rows=2, sink=lambda table, b: batches.append(b))
    for i, m in enumerate(["hello", "password=hunter2", "[HMR] connected"]):
        ev = Event(
            1_714_910_400_000 + i, "worker", None, "log", m, None, "none", None, None, None, None, None
        )
        stager.record([ev], [], 1, i + 1, "worker-record")
    stager.flush()
    rows = [tuple(r.values()) for b in batches for r in b.to_pylist()]
    return rows, stager


def test_a_worker_stager_opens_duckdb_only_for_a_fallback_and_closes_it(monkeypatch: Any) -> None:
    fast_rows, fast = _worker_stage(monkeypatch, refuse=False)
    assert fast._con is None  # everything compiled: no connection was opened
    slow_rows, slow = _worker_stage(monkeypatch, refuse=True)
    assert slow._con is not None and slow._own_con
    slow.close()
    assert slow._con is None
    assert slow_rows == fast_rows
    assert "hunter2" not in str(fast_rows) and fast_rows[2][-1] == "[HMR]"


def test_a_stager_loading_its_own_tables_needs_a_connection() -> None:
    with pytest.raises(ValueError):
        Stager(None, Policy())


def test_a_parse_worker_imports_neither_pydantic_nor_duckdb() -> None:
    """A worker unpickles its task (ShardTask: StageRules, not the Policy) in a fresh interpreter: pydantic
    and DuckDB were about half of its start-up."""
    import subprocess
    import sys

    code = (
        "import sys, pickle, logcorr.pipeline.shard, logcorr.pipeline.parse, logcorr.pipeline.spool; "
        "import logcorr.sources.detect; "
        "from logcorr.pipeline.stage import StageRules, SuppressionRules; "
        "pickle.loads(pickle.dumps(StageRules(True, SuppressionRules(True, ('x',), False)))); "
        "print(sorted(m for m in ('pydantic', 'duckdb', 'typer', 'rich') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
