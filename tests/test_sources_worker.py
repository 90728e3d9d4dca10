"""Records stored by the log-ingestion Worker (`RedisLogEntry`), one per line or wrapped as `GET /logs` returns them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from logcorr.model import RecordError
from logcorr.pipeline.ingest import ingest
from logcorr.sources.detect import detect
from logcorr.sources.worker import parse_record, parse_wrapped
from tests.conftest import FIXTURES
from tests.conftest import run_adapter as run

TRACE_A = "trace_1714910398211_k3j9x2m1p"
TRACE_D = "critical_auth_1714910430512_x7y8z9"


def record(**over: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": "1714910401547_p0z7c4v1n",
        "trace_id": TRACE_A,
        "user_id": "user_8hQ3mz",
        "system": "worker",
        "level": "info",
        "message": "Background processing initiated",
        "timestamp": 1714910401547,
        "context": {"timestamp": 1714910401521, "step": 3, "workflow": "send-message"},
    }
    obj.update(over)
    return obj


def wrapped(*records: dict[str, Any], trace_id: Any = TRACE_D) -> dict[str, Any]:
    return {
        "trace_id": trace_id,
        "logs": list(records),
        "count": len(records),
        "retrieved_at": "2024-05-05T12:05:00Z",
    }


# --------------------------------------------------------------------------- one stored record


def test_a_stored_worker_record_is_detected_as_worker_record() -> None:
    fmt = detect(record())
    assert fmt is not None and fmt.name == "worker-record"


def test_a_stored_record_uses_the_worker_clock_and_keeps_the_client_clock() -> None:
    events, metrics, skip = run(parse_record, record())
    assert skip is None and metrics == []
    (ev,) = events
    assert ev.ts_ms == 1714910401547  # worker receive time
    assert ev.client_ts_ms == 1714910401521  # context.timestamp, 26 ms earlier
    assert ev.system == "worker"
    assert ev.system_label == "worker"
    assert ev.level == "info"
    assert ev.message == "Background processing initiated"
    assert ev.trace_id == TRACE_A
    assert ev.trace_source == "field"
    assert ev.request_id is None
    assert ev.user_id == "user_8hQ3mz"
    assert ev.context == {"timestamp": 1714910401521, "step": 3, "workflow": "send-message"}


def test_a_stored_record_whose_two_clocks_agree_has_no_separate_client_time() -> None:
    (ev,) = run(parse_record, record(context={"timestamp": 1714910401547}))[0]
    assert ev.client_ts_ms is None


def test_a_stored_record_without_context_has_no_client_time() -> None:
    obj = record()
    del obj["context"]
    (ev,) = run(parse_record, obj)[0]
    assert ev.client_ts_ms is None
    assert ev.context is None


def test_a_stored_browser_record_is_a_browser_event_on_the_worker_clock() -> None:
    obj = record(
        system="browser",
        message="Sending message to #general",
        context={"timestamp": 1714910401020, "url": "http://localhost:3000/chat", "userAgent": "Mozilla/5.0"},
        timestamp=1714910401052,
    )
    (ev,) = run(parse_record, obj)[0]
    assert (ev.system, ev.system_label) == ("browser", "browser")
    assert (ev.ts_ms, ev.client_ts_ms) == (1714910401052, 1714910401020)


def test_a_stored_record_from_the_convex_internal_logger_is_a_backend_event_labelled_convex() -> None:
    obj = record(
        system="convex",
        message="Message persisted to channel general",
        context={
            "timestamp": 1714910401466,
            "system_area": "convex",
            "convex_function_name": "messages:send",
        },
        timestamp=1714910401498,
    )
    (ev,) = run(parse_record, obj)[0]
    assert (ev.system, ev.system_label) == ("backend", "convex")
    assert ev.client_ts_ms == 1714910401466


def test_a_stored_record_without_a_system_is_a_worker_event() -> None:
    obj = record()
    del obj["system"]
    (ev,) = run(parse_record, obj)[0]
    assert (ev.system, ev.system_label) == ("worker", "worker")


def test_a_stored_record_with_the_unknown_placeholder_trace_id_is_an_orphan() -> None:
    (ev,) = run(parse_record, record(trace_id="unknown"))[0]
    assert (ev.trace_id, ev.trace_source) == (None, "none")


def test_a_stored_error_record_keeps_its_stack() -> None:
    stack = "Error: Payment declined\n    at handler (../convex/payments.ts:42:11)"
    (ev,) = run(parse_record, record(level="error", stack=stack))[0]
    assert ev.level == "error"
    assert ev.stack == stack


def test_a_stored_record_with_null_optional_fields_treats_them_as_absent() -> None:
    (ev,) = run(parse_record, record(user_id=None, stack=None, context=None, system=None, level=None))[0]
    assert ev.user_id is None
    assert ev.stack is None
    assert ev.context is None
    assert ev.client_ts_ms is None
    assert (ev.system, ev.level) == ("worker", "log")


def test_a_stored_record_ignores_unknown_extra_fields() -> None:
    (ev,) = run(parse_record, record(raw_data={"x": 1}, synced_at=1714910460000, ttl=3600))[0]
    assert ev.message == "Background processing initiated"


def test_a_stored_record_with_a_non_string_message_renders_it_as_json() -> None:
    (ev,) = run(parse_record, record(message={"event": "flush", "n": 3}))[0]
    assert ev.message == '{"event":"flush","n":3}'


@pytest.mark.parametrize(
    "over",
    [{"message": None}, {"timestamp": None}, {"timestamp": "soon"}, {"timestamp": [1]}, {"timestamp": 42}],
    ids=["message=None", "timestamp=None", "timestamp-text", "timestamp-list", "timestamp-1970"],
)
def test_a_stored_record_with_a_missing_message_or_bad_timestamp_raises_a_record_error(
    over: dict[str, Any],
) -> None:
    with pytest.raises(RecordError):
        run(parse_record, record(**over))


# --------------------------------------------------------------------------- GET /logs response


def test_a_get_logs_response_is_detected_as_worker_logs() -> None:
    fmt = detect(wrapped(record(trace_id=TRACE_D)))
    assert fmt is not None and fmt.name == "worker-logs"


def test_a_get_logs_response_becomes_one_event_per_record() -> None:
    logs = [
        record(trace_id=TRACE_D, message="Per-trace quota check: critical trace bypass", level="warn"),
        record(
            trace_id=TRACE_D,
            system="convex",
            level="error",
            message="Session refresh rejected: token expired",
            timestamp=1714910430578,
            context={"timestamp": 1714910430570, "system_area": "convex"},
        ),
    ]
    events, metrics, skip = run(parse_wrapped, wrapped(*logs))
    assert skip is None and metrics == []
    assert [(e.system, e.level, e.trace_id) for e in events] == [
        ("worker", "warn", TRACE_D),
        ("backend", "error", TRACE_D),
    ]
    assert events[1].client_ts_ms == 1714910430570


def test_the_outer_trace_id_of_a_get_logs_response_fills_a_record_that_has_none() -> None:
    inner = record(message="no trace of its own")
    del inner["trace_id"]
    (ev,) = run(parse_wrapped, wrapped(inner))[0]
    assert (ev.trace_id, ev.trace_source) == (TRACE_D, "field")


def test_a_record_keeps_its_own_trace_id_inside_a_get_logs_response() -> None:
    (ev,) = run(parse_wrapped, wrapped(record(trace_id=TRACE_A)))[0]
    assert ev.trace_id == TRACE_A


def test_a_get_logs_response_with_a_null_outer_trace_id_leaves_orphans_as_orphans() -> None:
    inner = record()
    del inner["trace_id"]
    (ev,) = run(parse_wrapped, wrapped(inner, trace_id=None))[0]
    assert (ev.trace_id, ev.trace_source) == (None, "none")


def test_an_empty_get_logs_response_is_skipped_with_a_reason() -> None:
    events, metrics, skip = run(parse_wrapped, wrapped())
    assert (events, metrics) == ([], [])
    assert skip == "empty logs list"


@pytest.mark.parametrize(
    ("logs", "match"),
    [
        ("not a list", "must be a list"),
        ({"0": {}}, "must be a list"),
        ([5], r"logs\[0\]"),
        ([None], r"logs\[0\]"),
    ],
)
def test_a_get_logs_response_with_malformed_logs_raises_a_record_error(logs: Any, match: str) -> None:
    with pytest.raises(RecordError, match=match):
        run(parse_wrapped, {"trace_id": TRACE_D, "logs": logs})


def test_a_bad_record_inside_a_get_logs_response_names_its_index() -> None:
    with pytest.raises(RecordError, match=r"logs\[1\]: missing 'message'"):
        run(parse_wrapped, wrapped(record(), record(message=None)))


# --------------------------------------------------------------------------- end to end on the fixtures


@pytest.fixture
def worker_db(tmp_path: Path) -> tuple[Any, duckdb.DuckDBPyConnection]:
    db = tmp_path / "worker.duckdb"
    paths = [str(FIXTURES / "worker/redis-records.jsonl"), str(FIXTURES / "worker/get-logs-response.json")]
    result = ingest(paths, str(db))
    con = duckdb.connect(str(db), read_only=True)
    yield result, con
    con.close()


def test_stored_worker_fixtures_ingest_with_zero_rejects_and_balanced_accounting(
    worker_db: tuple[Any, duckdb.DuckDBPyConnection],
) -> None:
    result, _ = worker_db
    redis, get_logs = result.files
    assert (redis.records, redis.events, redis.rejected) == (6, 6, 0)
    assert (get_logs.records, get_logs.events, get_logs.rejected) == (1, 3, 0)
    assert redis.balanced and get_logs.balanced


def test_every_stored_worker_fixture_row_keeps_an_earlier_client_clock(
    worker_db: tuple[Any, duckdb.DuckDBPyConnection],
) -> None:
    _, con = worker_db
    skews = [
        r[0]
        for r in con.execute(
            "SELECT epoch_ms(ts) - epoch_ms(client_ts) FROM log_queue WHERE source_format LIKE 'worker-%'"
        ).fetchall()
    ]
    assert len(skews) == 9
    assert all(s is not None and 0 < s < 100 for s in skews), skews


def test_stored_worker_fixture_rows_keep_their_emitting_system(
    worker_db: tuple[Any, duckdb.DuckDBPyConnection],
) -> None:
    _, con = worker_db
    rows = dict(con.execute("SELECT system, count(*) FROM log_queue GROUP BY system").fetchall())
    assert rows == {"worker": 6, "backend": 3}
    orphans = con.execute("SELECT message FROM log_queue WHERE trace_id IS NULL").fetchall()
    assert orphans == [("Cache warmup finished (12 keys)",)]


@pytest.mark.parametrize("client", [0, 915148800000, 4102444800001])
def test_a_client_time_outside_2000_to_2100_is_no_client_time(client: int, tmp_path: Path) -> None:
    """A broken client value (0, a clock at 1999) is not a time to measure skew with; it stays in context."""
    obj = record(context={"timestamp": client})
    (ev,) = run(parse_record, obj)[0]
    assert ev.client_ts_ms is None and ev.context == {"timestamp": client}
    # the compiled parser alike
    import orjson

    path = tmp_path / "w.jsonl"
    path.write_bytes(orjson.dumps(obj) + b"\n")
    db = tmp_path / "db.duckdb"
    assert ingest([str(path)], str(db)).stored == 1
    assert duckdb.connect(str(db), read_only=True).execute("SELECT client_ts FROM log_queue").fetchall() == [
        (None,)
    ]
