"""Browser console-override payloads: the older `{level, args[], …}` and the newer `{message, context{…}}` form."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from logcorr.model import RecordError
from logcorr.pipeline.ingest import ingest
from logcorr.sources.browser import parse_v1, parse_v2
from logcorr.sources.detect import detect
from tests.conftest import FIXTURES
from tests.conftest import run_adapter as run

UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0"
STACK = "Error\n    at console.log (http://localhost:3000/_next/static/chunks/app/layout.js:412:29)"


def v1(**over: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "level": "log",
        "args": ["Loading profile", '{"userId":"user_2fX9kq"}'],
        "trace_id": "trace_1714910415902_h7d2kq0zs",
        "user_id": "user_2fX9kq",
        "system_area": "browser",
        "timestamp": 1714910420050,
        "stack_trace": STACK,
    }
    obj.update(over)
    return obj


def v2(**over: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "trace_id": "trace_1714910405337_q8w2e5r7t",
        "message": "Payment failed: Request failed with status 500 (order ord_7781)",
        "level": "error",
        "system": "browser",
        "user_id": "user_8hQ3mz",
        "stack": "Error: Payment failed\n    at submitPayment (http://localhost:3000/_next/static/chunks/app/checkout/page.js:88:13)",
        "context": {"timestamp": 1714910411910, "url": "http://localhost:3000/checkout", "userAgent": UA},
    }
    obj.update(over)
    return obj


# --------------------------------------------------------------------------- older form (eras A/B)


def test_older_payload_is_detected_as_browser_v1() -> None:
    fmt = detect(v1())
    assert fmt is not None and fmt.name == "browser-v1"


def test_older_payload_becomes_one_browser_event_at_its_client_timestamp() -> None:
    events, metrics, skip = run(parse_v1, v1())
    assert skip is None and metrics == []
    (ev,) = events
    assert ev.ts_ms == 1714910420050
    assert ev.system == "browser"
    assert ev.system_label == "browser"
    assert ev.level == "log"
    assert ev.message == 'Loading profile {"userId":"user_2fX9kq"}'
    assert ev.trace_id == "trace_1714910415902_h7d2kq0zs"
    assert ev.trace_source == "field"
    assert ev.request_id is None
    assert ev.user_id == "user_2fX9kq"
    assert ev.stack == STACK
    assert ev.context is None
    assert ev.client_ts_ms is None  # one clock only: the timestamp is the client's


def test_older_payload_arguments_are_joined_with_single_spaces_and_non_strings_rendered_as_json() -> None:
    events, _, _ = run(parse_v1, v1(args=["count", 3, True, None, {"a": [1, 2]}, 1.5]))
    assert events[0].message == 'count 3 true null {"a":[1,2]} 1.5'


def test_older_payload_with_a_single_string_in_args_keeps_it_as_the_message() -> None:
    events, _, _ = run(parse_v1, v1(args="Profile loaded in 350ms"))
    assert events[0].message == "Profile loaded in 350ms"


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("log", "log"),
        ("info", "info"),
        ("warn", "warn"),
        ("error", "error"),
        ("WARNING", "warn"),
        ("debug", "debug"),
    ],
)
def test_older_payload_levels_are_normalised(level: str, expected: str) -> None:
    events, _, _ = run(parse_v1, v1(level=level))
    assert events[0].level == expected


def test_older_payload_with_a_null_trace_id_is_an_orphan() -> None:
    events, _, _ = run(
        parse_v1, v1(trace_id=None, args=["Unhandled promise rejection:", "TypeError: Failed to fetch"])
    )
    assert events[0].trace_id is None
    assert events[0].trace_source == "none"


def test_older_payload_with_the_unknown_placeholder_trace_id_is_an_orphan() -> None:
    events, _, _ = run(parse_v1, v1(trace_id="unknown"))
    assert (events[0].trace_id, events[0].trace_source) == (None, "none")


def test_older_payload_without_a_trace_field_takes_the_trace_id_named_in_its_message() -> None:
    events, _, _ = run(parse_v1, v1(trace_id=None, args=["retrying trace_id: trace_1714910415902_h7d2kq0zs"]))
    assert events[0].trace_id == "trace_1714910415902_h7d2kq0zs"
    assert events[0].trace_source == "message"


def test_older_payload_nulls_are_treated_as_absent() -> None:
    events, _, _ = run(parse_v1, v1(user_id=None, stack_trace=None, system_area=None, level=None))
    (ev,) = events
    assert ev.user_id is None
    assert ev.stack is None
    assert ev.system == "browser" and ev.system_label == "browser"
    assert ev.level == "log"


def test_older_payload_with_system_area_convex_is_a_backend_event_labelled_convex() -> None:
    events, _, _ = run(parse_v1, v1(system_area="convex"))
    assert (events[0].system, events[0].system_label) == ("backend", "convex")


def test_older_payload_timestamp_may_be_an_iso_string() -> None:
    events, _, _ = run(parse_v1, v1(timestamp="2024-05-05T12:00:20.050Z"))
    assert events[0].ts_ms == 1714910420050


def test_older_payload_ignores_unknown_extra_fields() -> None:
    events, _, _ = run(parse_v1, v1(session={"id": "s1"}, page="/profile", retries=2))
    assert events[0].message == 'Loading profile {"userId":"user_2fX9kq"}'


@pytest.mark.parametrize(
    "over",
    [
        {"args": None},
        {"args": 5},
        {"args": {"0": "a"}},
        {"timestamp": None},
        {"timestamp": "yesterday"},
        {"timestamp": True},
        {"timestamp": {"ms": 1}},
        {"timestamp": 1},  # 1970: outside 2000..2100
    ],
    ids=lambda o: f"{next(iter(o))}={next(iter(o.values()))!r}",
)
def test_older_payload_with_a_wrong_type_raises_a_record_error(over: dict[str, Any]) -> None:
    with pytest.raises(RecordError):
        run(parse_v1, v1(**over))


def test_older_payload_without_a_timestamp_raises_a_record_error_naming_the_field() -> None:
    obj = v1()
    del obj["timestamp"]
    with pytest.raises(RecordError, match="timestamp"):
        run(parse_v1, obj)


# --------------------------------------------------------------------------- newer form (era C)


def test_newer_payload_is_detected_as_browser_v2() -> None:
    fmt = detect(v2())
    assert fmt is not None and fmt.name == "browser-v2"


def test_newer_payload_takes_its_time_from_context_timestamp_and_keeps_stack_and_context() -> None:
    events, metrics, skip = run(parse_v2, v2())
    assert skip is None and metrics == []
    (ev,) = events
    assert ev.ts_ms == 1714910411910
    assert ev.system == "browser"
    assert ev.system_label == "browser"
    assert ev.level == "error"
    assert ev.message == "Payment failed: Request failed with status 500 (order ord_7781)"
    assert ev.trace_id == "trace_1714910405337_q8w2e5r7t"
    assert ev.trace_source == "field"
    assert ev.request_id is None
    assert ev.user_id == "user_8hQ3mz"
    assert ev.stack is not None and ev.stack.startswith("Error: Payment failed")
    assert ev.context == {
        "timestamp": 1714910411910,
        "url": "http://localhost:3000/checkout",
        "userAgent": UA,
    }
    assert ev.client_ts_ms is None


def test_a_convex_line_echoed_in_the_browser_console_stays_a_browser_event_labelled_convex() -> None:
    obj = v2(
        message="[CONVEX M(messages:send)] [LOG] 'Sent message!'",
        level="log",
        system="convex",
        stack=None,
        context={"timestamp": 1714910401480, "url": "http://localhost:3000/chat", "userAgent": UA},
    )
    (ev,) = run(parse_v2, obj)[0]
    assert ev.system == "browser"
    assert ev.system_label == "convex"
    assert ev.message == "[CONVEX M(messages:send)] [LOG] 'Sent message!'"


def test_a_convex_body_posted_by_the_backend_itself_is_a_backend_event() -> None:
    # apps/convex/internalLogging.ts: system 'convex', context {timestamp, system_area, convex_function_name}
    obj = {
        "trace_id": "convex_1714910411880_k2j4h6g8f",
        "message": "payments:charge failed: Payment declined",
        "level": "error",
        "system": "convex",
        "context": {
            "timestamp": 1714910411864,
            "system_area": "convex",
            "convex_function_name": "payments:charge",
        },
    }
    (ev,) = run(parse_v2, obj)[0]
    assert (ev.system, ev.system_label) == ("backend", "convex")
    assert ev.ts_ms == 1714910411864


def test_newer_payload_without_a_system_is_a_browser_event() -> None:
    obj = v2()
    del obj["system"]
    (ev,) = run(parse_v2, obj)[0]
    assert (ev.system, ev.system_label) == ("browser", "browser")


def test_newer_payload_nulls_are_treated_as_absent() -> None:
    (ev,) = run(parse_v2, v2(stack=None, user_id=None, system=None, level=None))[0]
    assert ev.stack is None
    assert ev.user_id is None
    assert (ev.system, ev.system_label) == ("browser", "browser")
    assert ev.level == "log"


def test_newer_payload_without_context_falls_back_to_a_top_level_timestamp() -> None:
    obj = v2(context=None, timestamp=1714910411911)
    (ev,) = run(parse_v2, obj)[0]
    assert ev.ts_ms == 1714910411911
    assert ev.context is None


def test_newer_payload_trace_id_may_come_from_its_context() -> None:
    obj = v2(trace_id=None)
    obj["context"]["trace_id"] = "trace_1714910405337_q8w2e5r7t"
    (ev,) = run(parse_v2, obj)[0]
    assert (ev.trace_id, ev.trace_source) == ("trace_1714910405337_q8w2e5r7t", "field")


def test_newer_payload_trace_id_may_come_from_a_traceparent_header_in_its_context() -> None:
    obj = v2(trace_id=None)
    obj["context"]["headers"] = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
    (ev,) = run(parse_v2, obj)[0]
    assert (ev.trace_id, ev.trace_source) == ("4bf92f3577b34da6a3ce929d0e0e4736", "header")


def test_newer_payload_trace_id_named_in_its_message_wins_over_a_traceparent_header() -> None:
    obj = v2(trace_id=None, message="retrying trace_1714910405337_q8w2e5r7t")
    obj["context"]["headers"] = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
    (ev,) = run(parse_v2, obj)[0]
    assert (ev.trace_id, ev.trace_source) == ("trace_1714910405337_q8w2e5r7t", "message")


def test_newer_payload_without_a_trace_field_takes_the_browser_trace_id_in_its_message() -> None:
    obj = v2(trace_id=None, message="lost session trace_1714910405337_q8w2e5r7t while paying")
    (ev,) = run(parse_v2, obj)[0]
    assert (ev.trace_id, ev.trace_source) == ("trace_1714910405337_q8w2e5r7t", "message")


def test_newer_payload_without_any_trace_id_is_an_orphan() -> None:
    (ev,) = run(parse_v2, v2(trace_id=""))[0]
    assert (ev.trace_id, ev.trace_source) == (None, "none")


def test_newer_payload_ignores_unknown_extra_fields() -> None:
    obj = v2(sessionId="s-1", release="2024.05.05")
    obj["context"]["viewport"] = {"w": 1440, "h": 900}
    (ev,) = run(parse_v2, obj)[0]
    assert ev.context is not None and ev.context["viewport"] == {"w": 1440, "h": 900}


def test_newer_payload_with_a_non_string_message_renders_it_as_json() -> None:
    (ev,) = run(parse_v2, v2(message={"event": "click", "n": 2}))[0]
    assert ev.message == '{"event":"click","n":2}'


@pytest.mark.parametrize(
    "over",
    [
        {"message": None},
        {"context": {"timestamp": "not a time"}},
        {"context": {"timestamp": None}},
        {"context": "a string"},
        {"context": {"timestamp": 5}},
    ],
    ids=["message=None", "timestamp-text", "timestamp-null", "context-string", "timestamp-1970"],
)
def test_newer_payload_with_a_missing_message_or_unusable_time_raises_a_record_error(
    over: dict[str, Any],
) -> None:
    with pytest.raises(RecordError):
        run(parse_v2, v2(**over))


# --------------------------------------------------------------------------- end to end on the fixtures


@pytest.fixture
def browser_db(tmp_path: Path) -> tuple[Any, duckdb.DuckDBPyConnection]:
    db = tmp_path / "browser.duckdb"
    result = ingest([str(FIXTURES / "browser")], str(db))
    con = duckdb.connect(str(db), read_only=True)
    yield result, con
    con.close()


def test_browser_fixtures_ingest_with_zero_rejects_and_balanced_accounting(
    browser_db: tuple[Any, duckdb.DuckDBPyConnection],
) -> None:
    result, _ = browser_db
    assert [Path(f.path).name for f in result.files] == [
        "console-override-v1.jsonl",
        "console-override-v2.jsonl",
    ]
    for f in result.files:
        assert f.rejected == 0
        assert f.balanced
    v1_file, v2_file = result.files
    assert (v1_file.records, v1_file.events) == (18, 18)
    assert (v2_file.records, v2_file.events) == (8, 8)


def test_hmr_and_webpack_noise_in_the_browser_fixture_is_suppressed_by_default(
    browser_db: tuple[Any, duckdb.DuckDBPyConnection],
) -> None:
    _, con = browser_db
    rows = con.execute("SELECT message FROM drop_ledger WHERE rule = 'suppress' ORDER BY ts").fetchall()
    assert [r[0] for r in rows] == [
        "[HMR] connected",
        "[Fast Refresh] rebuilding",
        "[Fast Refresh] done in 96ms",
        "GET http://localhost:3000/_next/static/webpack/app/layout.3f2a1c9e.hot-update.json 404",
    ]
    leaked = con.execute(
        "SELECT count(*) FROM log_queue WHERE message LIKE '%[HMR]%' OR message LIKE '%Fast Refresh%'"
    )
    assert leaked.fetchone() == (0,)


def test_the_browser_fixture_has_a_burst_of_eight_identical_messages_within_one_second(
    browser_db: tuple[Any, duckdb.DuckDBPyConnection],
) -> None:
    _, con = browser_db
    n, span_ms = con.execute(
        """
        SELECT count(*), epoch_ms(max(ts)) - epoch_ms(min(ts)) FROM (
            SELECT ts FROM log_queue WHERE message = 'Rendering ProfileCard'
            UNION ALL SELECT ts FROM drop_ledger WHERE message = 'Rendering ProfileCard'
        )
        """
    ).fetchone()
    assert n == 8
    assert span_ms < 1000


def test_the_convex_echo_in_the_browser_fixture_is_stored_as_a_browser_row_labelled_convex(
    browser_db: tuple[Any, duckdb.DuckDBPyConnection],
) -> None:
    _, con = browser_db
    rows = con.execute(
        "SELECT system, system_label, trace_id FROM log_queue WHERE message LIKE '[CONVEX %' ORDER BY ts"
    ).fetchall()
    assert rows == [
        ("browser", "convex", "trace_1714910398211_k3j9x2m1p"),
        ("browser", "convex", "critical_auth_1714910430512_x7y8z9"),
    ]


def test_browser_fixture_secrets_are_redacted_before_storage(
    browser_db: tuple[Any, duckdb.DuckDBPyConnection],
) -> None:
    result, con = browser_db
    text = " ".join(
        str(v) for row in con.execute("SELECT message, stack FROM log_queue").fetchall() for v in row
    )
    assert "hunter2-Secret!" not in text
    assert "9f8e7d6c5b4a39281706f5e4d3c2b1a0" not in text
    assert "[REDACTED:password]" in text
    assert result.redactions["password"] >= 1


def test_the_browser_fixture_orphan_line_is_stored_without_a_trace_id(
    browser_db: tuple[Any, duckdb.DuckDBPyConnection],
) -> None:
    _, con = browser_db
    rows = con.execute("SELECT level, user_id FROM log_queue WHERE trace_id IS NULL").fetchall()
    assert rows == [("error", None)]
