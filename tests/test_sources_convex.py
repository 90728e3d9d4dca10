"""Convex backend inputs: log streams format 2 (also `{"data": …}`), legacy format 1, the live repo's webhook
shape, `npx convex logs --jsonl`, and table snapshots of `log_queue` / `recent_log_entries` / `debug_logs`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from logcorr.model import RecordError
from logcorr.pipeline.ingest import ingest
from logcorr.sources import convex_cli, convex_snapshot
from logcorr.sources.convex_stream import (
    _INSPECT_STRING,
    parse_repo_webhook,
    parse_v1,
    parse_v2,
    split_level_prefix,
    unquote_inspect,
)
from logcorr.sources.detect import detect
from tests.conftest import FIXTURES
from tests.conftest import run_adapter as run

TRACE_A = "trace_1714910398211_k3j9x2m1p"
TRACE_B = "trace_1714910405337_q8w2e5r7t"
TRACE_C = "trace_1714910415902_h7d2kq0zs"
TRACE_D = "critical_auth_1714910430512_x7y8z9"
CONVEX = {
    "deployment_name": "tremendous-otter-123",
    "deployment_type": "prod",
    "deployment_ref": None,
    "project_name": "starter-nextjs-convex-ai",
    "project_slug": "starter-nextjs-convex-ai",
    "deployment_region": "aws-us-east-1",
}
USAGE = {
    "database_io_read_bytes": 2048,
    "database_io_write_bytes": 1187,
    "database_read_bytes": 2048,
    "database_write_bytes": 1187,
    "database_read_documents": 3,
    "database_write_documents": 1,
    "file_storage_read_bytes": 0,
    "file_storage_write_bytes": 0,
    "vector_storage_read_bytes": 0,
    "vector_storage_write_bytes": 0,
    "text_search_query_bytes": 0,
    "text_search_write_query_bytes": 0,
    "vector_search_query_bytes": 0,
    "vector_search_write_query_bytes": 0,
    "network_egress_bytes": 0,
    "audit_log_egress_bytes": 0,
    "memory_used_mb": 32,
    "action_memory_used_mb": None,
    "function_args_bytes": 96,
    "function_returns_bytes": 43,
}


def fn(
    path: str = "messages:send", ftype: str = "mutation", request_id: str = "d064ef901f7ec0b7"
) -> dict[str, Any]:
    return {
        "path": path,
        "type": ftype,
        "cached": None,
        "request_id": request_id,
        "mutation_queue_length": 0,
        "mutation_retry_count": 0,
    }


def console(**over: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "topic": "console",
        "timestamp": 1714910401458,
        "function": fn(),
        "log_level": "LOG",
        "message": "'Sent message!'",
        "is_truncated": False,
        "system_code": None,
        "convex": CONVEX,
    }
    obj.update(over)
    return obj


def execution(**over: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "topic": "function_execution",
        "timestamp": 1714910401466,
        "function": fn(),
        "execution_time_ms": 26,
        "user_execution_time_ms": 24,
        "status": "success",
        "error_message": None,
        "occ_info": None,
        "will_retry": False,
        "scheduler_info": None,
        "run_reason": "webSocket",
        "usage": dict(USAGE),
        "convex": CONVEX,
    }
    obj.update(over)
    return obj


# --------------------------------------------------------------------------- helpers of the format


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("'Sent message!'", "Sent message!"),
        ("'It\\'s done'", "It's done"),
        ("'a' { b: 1 }", "'a' { b: 1 }"),
        ("'", "'"),
    ],
)
def test_a_single_object_inspect_string_loses_its_quotes(raw: str, expected: str) -> None:
    assert unquote_inspect(raw) == expected


def _unquote_by_regex(message: str) -> str:
    """The definition `unquote_inspect` short-cuts: object-inspect's quoting, undone by its regex."""
    if message[:1] == "'" and message[-1:] == "'":
        m = _INSPECT_STRING.match(message)
        if m:
            return m.group(1).replace("\\'", "'")
    return message


@given(st.text(alphabet="'\\ab\n ", max_size=12))
def test_unquoting_without_the_regex_agrees_with_it(text: str) -> None:
    for message in (text, f"'{text}'", f"'{text}", f"{text}'"):
        assert unquote_inspect(message) == _unquote_by_regex(message)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("[LOG] 'My log message'", ("log", "My log message")),
        ("[WARN] 'careful'", ("warn", "careful")),
        ("[ERROR] boom", ("error", "boom")),
        ("[DEBUG] 'x'", ("debug", "x")),
        ("no prefix", ("log", "no prefix")),
    ],
)
def test_a_legacy_level_prefix_is_split_off_the_message(raw: str, expected: tuple[str, str]) -> None:
    assert split_level_prefix(raw) == expected


# --------------------------------------------------------------------------- log streams, format 2


def test_a_console_event_becomes_a_backend_event_with_its_request_id() -> None:
    events, metrics, skip = run(parse_v2, console())
    assert skip is None and metrics == []
    (ev,) = events
    assert ev.ts_ms == 1714910401458
    assert (ev.system, ev.system_label, ev.level) == ("backend", "convex", "log")
    assert ev.message == "Sent message!"
    assert ev.request_id == "d064ef901f7ec0b7"
    assert (ev.trace_id, ev.trace_source) == (None, "none")
    assert ev.user_id is None and ev.stack is None and ev.client_ts_ms is None
    assert ev.context == {
        "function": "messages:send",
        "function_type": "mutation",
        "deployment": "tremendous-otter-123",
    }


def test_a_console_event_naming_a_trace_id_in_its_arguments_has_a_message_trace() -> None:
    obj = console(log_level="INFO", message=f"'send called' {{ traceId: '{TRACE_A}', channel: 'general' }}")
    (ev,) = run(parse_v2, obj)[0]
    assert (ev.trace_id, ev.trace_source) == (TRACE_A, "message")
    assert ev.message == f"'send called' {{ traceId: '{TRACE_A}', channel: 'general' }}"


@pytest.mark.parametrize("key", ["trace_id:", "traceId:", "trace_id=", "trace-id:", "trace_id"])
def test_a_trace_id_logged_as_a_key_argument_and_a_value_argument_is_found(key: str) -> None:
    """console.log("trace_id:", id): Convex renders each string argument quoted, so the key and the id are
    two quoted strings."""
    obj = console(message=f"'{key}' '{TRACE_A}'")
    (ev,) = run(parse_v2, obj)[0]
    assert (ev.trace_id, ev.trace_source) == (TRACE_A, "message")


@pytest.mark.parametrize(
    ("log_level", "level"),
    [("DEBUG", "debug"), ("INFO", "info"), ("LOG", "log"), ("WARN", "warn"), ("ERROR", "error")],
)
def test_console_log_levels_map_to_normalised_levels(log_level: str, level: str) -> None:
    (ev,) = run(parse_v2, console(log_level=log_level))[0]
    assert ev.level == level


def test_a_truncated_console_line_and_its_system_code_are_kept_in_context() -> None:
    obj = console(is_truncated=True, system_code="TooManyReads")
    obj["function"]["component_path"] = "rateLimiter"
    (ev,) = run(parse_v2, obj)[0]
    assert ev.context is not None
    assert ev.context["is_truncated"] is True
    assert ev.context["system_code"] == "TooManyReads"
    assert ev.context["component_path"] == "rateLimiter"


def test_console_nulls_are_treated_as_absent() -> None:
    obj = console(
        log_level=None,
        system_code=None,
        function={"path": None, "type": None, "request_id": None},
        convex=None,
    )
    (ev,) = run(parse_v2, obj)[0]
    assert ev.level == "log"
    assert ev.request_id is None
    assert ev.context is None


@pytest.mark.parametrize("message", [None, "absent"])
def test_a_null_or_missing_console_message_is_no_text_not_the_word_null(message: str | None) -> None:
    obj = console(message=message)
    if message == "absent":
        del obj["message"]
    (ev,) = run(parse_v2, obj)[0]
    assert ev.message == ""


def test_a_successful_function_execution_is_an_info_event_and_a_usage_metric() -> None:
    events, metrics, skip = run(parse_v2, execution())
    assert skip is None
    (ev,) = events
    assert ev.ts_ms == 1714910401466
    assert (ev.system, ev.level) == ("backend", "info")
    assert ev.message == "mutation messages:send success in 26 ms"
    assert ev.request_id == "d064ef901f7ec0b7"
    assert ev.context is not None and ev.context["run_reason"] == "webSocket"
    (m,) = metrics
    assert (m.ts_ms, m.system, m.topic) == (1714910401466, "backend", "function_execution")
    assert m.data["path"] == "messages:send"
    assert m.data["type"] == "mutation"
    assert m.data["status"] == "success"
    assert m.data["execution_time_ms"] == 26
    assert m.data["request_id"] == "d064ef901f7ec0b7"
    for key, value in USAGE.items():
        if value is None:
            assert key not in m.data  # null usage fields are absent
        else:
            assert m.data[key] == value


def test_a_failed_function_execution_is_an_error_event_carrying_the_error_and_its_trace_id() -> None:
    error = f"Uncaught Error: Payment declined for trace_id: {TRACE_B}\n    at handler (../convex/payments.ts:42:11)"
    obj = execution(
        function=fn("payments:charge", "action", "5f2a9c0e7b1d3846"),
        status="failure",
        error_message=error,
        execution_time_ms=1740,
    )
    obj["usage"]["function_returns_bytes"] = None
    events, metrics, _ = run(parse_v2, obj)
    (ev,) = events
    assert ev.level == "error"
    assert ev.message.startswith(
        "action payments:charge failure in 1740 ms: Uncaught Error: Payment declined"
    )
    assert (ev.trace_id, ev.trace_source) == (TRACE_B, "message")
    assert metrics[0].data["status"] == "failure"
    assert "function_returns_bytes" not in metrics[0].data


def test_a_verification_event_is_skipped_with_a_reason() -> None:
    obj = {
        "topic": "verification",
        "timestamp": 1714910395000,
        "message": "Convex connection test",
        "convex": CONVEX,
    }
    assert run(parse_v2, obj) == ([], [], "verification event")


@pytest.mark.parametrize(
    ("topic", "fields"),
    [
        ("scheduler_stats", {"lag_seconds": 0, "num_running_jobs": 1}),
        (
            "current_storage_usage",
            {
                "total_document_size_bytes": 104857600,
                "total_system_table_document_size_bytes": {"_storage": 1048576},
            },
        ),
        ("audit_log", {"audit_log_action": "push_config", "audit_log_metadata": '{"auth":{"added":[]}}'}),
        ("concurrency_stats", {"query": {"num_running": 2, "num_queued": 0}}),
        ("storage_api_bandwidth", {"storage_id": "kg2s7xq0b9z1m4n6c8v3e5r7t1y2u4i6", "egress_bytes": 48213}),
        ("ai_gateway_usage", {"tokens": 12}),  # a topic newer than this parser
    ],
)
def test_non_log_topics_are_kept_as_metrics_without_the_deployment_metadata(
    topic: str, fields: dict[str, Any]
) -> None:
    obj = {"topic": topic, "timestamp": 1714910415500, **fields, "convex": CONVEX, "unset": None}
    events, metrics, skip = run(parse_v2, obj)
    assert events == [] and skip is None
    (m,) = metrics
    assert (m.ts_ms, m.system, m.topic) == (1714910415500, "backend", topic)
    assert m.data == fields


def test_an_event_wrapped_in_data_is_unwrapped() -> None:
    obj = {"_time": "2024-05-05T12:00:01.458Z", "_sysTime": "2024-05-05T12:00:06.668Z", "data": console()}
    fmt = detect(obj)
    assert fmt is not None and fmt.name == "convex-stream"
    (ev,) = run(parse_v2, obj)[0]
    assert ev.message == "Sent message!"


def test_format_2_events_ignore_unknown_extra_fields() -> None:
    obj = execution(future_field={"x": 1}, run_reason="tester")
    obj["function"]["new_flag"] = True
    obj["usage"]["database_write_index_rows"] = 4
    events, metrics, _ = run(parse_v2, obj)
    assert len(events) == 1
    assert metrics[0].data["database_write_index_rows"] == 4


@pytest.mark.parametrize(
    "obj",
    [
        {"topic": 5, "timestamp": 1714910401458},
        {"topic": None, "timestamp": 1714910401458},
        {"topic": "console", "timestamp": None, "message": "'x'"},
        {"topic": "console", "timestamp": "noon", "message": "'x'"},
    ],
    ids=["topic-int", "topic-null", "timestamp-null", "timestamp-text"],
)
def test_a_format_2_event_with_a_wrong_type_raises_a_record_error(obj: dict[str, Any]) -> None:
    with pytest.raises(RecordError):
        run(parse_v2, obj)


def test_a_console_event_with_a_non_string_message_renders_it_as_json() -> None:
    (ev,) = run(parse_v2, console(message=["a", 1]))[0]
    assert ev.message == '["a",1]'


# --------------------------------------------------------------------------- legacy format 1


def test_a_legacy_console_event_splits_its_level_prefix_and_quotes() -> None:
    obj = {
        "_topic": "_console",
        "_timestamp": 1695066350531,
        "_functionType": "query",
        "_functionPath": "myDir/myFile",
        "_functionCached": True,
        "message": "[LOG] 'My log message'",
    }
    fmt = detect(obj)
    assert fmt is not None and fmt.name == "convex-stream-v1"
    events, metrics, skip = run(parse_v1, obj)
    assert skip is None and metrics == []
    (ev,) = events
    assert ev.ts_ms == 1695066350531
    assert (ev.system, ev.system_label, ev.level) == ("backend", "convex", "log")
    assert ev.message == "My log message"
    assert ev.request_id is None
    assert ev.context == {"function": "myDir/myFile", "function_type": "query", "cached": True}


def test_a_legacy_console_event_naming_a_trace_id_has_a_message_trace() -> None:
    obj = {
        "_topic": "_console",
        "_timestamp": 1714910430548,
        "message": f"[WARN] 'verifySession trace_id: {TRACE_D}'",
    }
    (ev,) = run(parse_v1, obj)[0]
    assert ev.level == "warn"
    assert (ev.trace_id, ev.trace_source) == (TRACE_D, "message")


def test_a_legacy_failed_execution_record_is_an_error_event_and_a_metric() -> None:
    obj = {
        "_topic": "_execution_record",
        "_timestamp": 1695066350531,
        "_functionType": "httpAction",
        "_functionPath": "POST /sendImage",
        "status": "failure",
        "reason": "Unexpected Error: Some error message\n\n  at ....",
        "executionTimeMs": 73,
    }
    events, metrics, _ = run(parse_v1, obj)
    (ev,) = events
    assert ev.level == "error"
    # the function type as format 2 and the CLI spell it, so one query finds HTTP actions in all three
    assert ev.message.startswith(
        "http_action POST /sendImage failure in 73 ms: Unexpected Error: Some error message"
    )
    assert ev.context is not None and ev.context["function_type"] == "http_action"
    (m,) = metrics
    assert m.topic == "function_execution"
    assert (m.data["status"], m.data["type"]) == ("failure", "http_action")


def test_a_legacy_execution_record_with_a_null_reason_is_a_success() -> None:
    obj = {
        "_topic": "_execution_record",
        "_timestamp": 1714910430553,
        "_functionType": "query",
        "_functionPath": "auth:verifySession",
        "status": "success",
        "reason": None,
        "executionTimeMs": 6,
    }
    (ev,) = run(parse_v1, obj)[0]
    assert (ev.level, ev.message) == ("info", "query auth:verifySession success in 6 ms")


def test_a_legacy_execution_metric_uses_the_same_keys_as_format_2() -> None:
    obj = {
        "_topic": "_execution_record",
        "_timestamp": 1714910430553,
        "_functionType": "query",
        "_functionPath": "auth:verifySession",
        "status": "success",
        "executionTimeMs": 6,
    }
    (m,) = run(parse_v1, obj)[1]
    assert (m.data.get("path"), m.data.get("type"), m.data.get("execution_time_ms")) == (
        "auth:verifySession",
        "query",
        6,
    )


def test_a_legacy_verification_event_is_skipped_with_a_reason() -> None:
    obj = {"_topic": "_verification", "_timestamp": 1714910396000, "message": "Convex connection test"}
    assert run(parse_v1, obj) == ([], [], "verification event")


def test_a_legacy_audit_log_is_a_metric_named_without_the_underscore() -> None:
    obj = {
        "_topic": "_audit_log",
        "_timestamp": 1714910440000,
        "action": "update_environment_variable",
        "actionMetadata": {"name": "LOG_WORKER_URL"},
    }
    events, metrics, _ = run(parse_v1, obj)
    assert events == []
    assert (metrics[0].topic, metrics[0].data) == (
        "audit_log",
        {"action": "update_environment_variable", "actionMetadata": {"name": "LOG_WORKER_URL"}},
    )


@pytest.mark.parametrize(
    "obj",
    [
        {"_topic": 1, "_timestamp": 1714910400000},
        {"_topic": "_console", "_timestamp": None, "message": "[LOG] 'x'"},
    ],
    ids=["topic-int", "timestamp-null"],
)
def test_a_legacy_event_with_a_wrong_type_raises_a_record_error(obj: dict[str, Any]) -> None:
    with pytest.raises(RecordError):
        run(parse_v1, obj)


# --------------------------------------------------------------------------- the live repo's webhook shape

REPO_ENTRY = {
    "id": "log-123",
    "timestamp": 1714910420195,
    "level": "INFO",
    "message": "Function executed with trace_id: browser_456",
    "context": {
        "functionName": "getUserProfile",
        "functionId": "func-789",
        "requestId": "req-101",
        "environmentName": "production",
        "deploymentId": "deploy-202",
    },
    "metadata": {"duration": 150, "custom": "data"},
}


def test_the_repo_webhook_sample_becomes_an_info_event_with_the_trace_from_its_message() -> None:
    body = {
        "logs": [REPO_ENTRY],
        "source": "convex",
        "endpoint": "/logStreamsWebhook",
        "timestamp": 1714910425000,
    }
    events, metrics, skip = run(parse_repo_webhook, body)
    assert skip is None and metrics == []
    (ev,) = events
    assert ev.ts_ms == 1714910420195
    assert (ev.system, ev.system_label, ev.level) == ("backend", "convex", "info")
    assert (ev.trace_id, ev.trace_source) == ("browser_456", "message")
    assert ev.request_id == "req-101"
    assert ev.context == {
        "function": "getUserProfile",
        "function_id": "func-789",
        "environment": "production",
        "deployment": "deploy-202",
        "metadata": {"duration": 150, "custom": "data"},
    }


def test_a_repo_webhook_entry_takes_its_trace_id_and_stack_from_metadata() -> None:
    entry = dict(
        REPO_ENTRY,
        level="ERROR",
        message="Payment provider returned 402",
        metadata={"traceId": TRACE_B, "stack": "Error: Payment declined"},
    )
    (ev,) = run(parse_repo_webhook, {"logs": [entry], "source": "convex"})[0]
    assert ev.level == "error"
    assert (ev.trace_id, ev.trace_source) == (TRACE_B, "field")
    assert ev.stack == "Error: Payment declined"


@pytest.mark.parametrize(
    ("message", "user"),
    [("user_id: user-12345 did a thing", "user-12345"), ("userId: admin-789 logged in", "admin-789"),
     ("user-id: guest-101 visited", "guest-101"), ("no user named", "system")],
)  # fmt: skip
def test_a_repo_webhook_entry_has_the_user_id_the_live_handler_stored(message: str, user: str) -> None:
    """The live handler took the user id from the message (`/user[_-]?id[:\\s]+(…)/i`), else 'system'; the
    reference's own test cases."""
    (ev,) = run(parse_repo_webhook, {"logs": [dict(REPO_ENTRY, message=message)], "source": "convex"})[0]
    assert ev.user_id == user


def test_a_function_execution_keeps_its_component_path_in_event_and_metric() -> None:
    """Two functions with one path in different components are told apart by it (reference §1.4)."""
    obj = execution()
    obj["function"]["component_path"] = "agent"
    (ev,), (m,), _ = run(parse_v2, obj)
    assert ev.context is not None and ev.context["component_path"] == "agent"
    assert m.data["component_path"] == "agent"
    assert list(m.data)[:3] == ["type", "path", "component_path"]


def test_a_single_repo_webhook_entry_parses_on_its_own() -> None:
    (ev,) = run(parse_repo_webhook, REPO_ENTRY)[0]
    assert ev.request_id == "req-101"


def test_an_empty_repo_webhook_body_is_skipped_with_a_reason() -> None:
    assert run(parse_repo_webhook, {"logs": [], "source": "convex"}) == ([], [], "empty logs list")


@pytest.mark.parametrize(
    "body",
    [{"logs": "x"}, {"logs": [5]}, {"logs": [dict(REPO_ENTRY, timestamp=None)]}],
    ids=["logs-string", "entry-int", "timestamp-null"],
)
def test_a_malformed_repo_webhook_body_raises_a_record_error(body: dict[str, Any]) -> None:
    with pytest.raises(RecordError):
        run(parse_repo_webhook, body)


# --------------------------------------------------------------------------- npx convex logs --jsonl


def usage_stats() -> dict[str, Any]:
    return {
        "databaseReadBytes": 2210,
        "databaseWriteBytes": 0,
        "databaseIoReadBytes": 2210,
        "databaseIoWriteBytes": 0,
        "databaseReadDocuments": 2,
        "databaseWriteDocuments": 0,
        "storageReadBytes": 0,
        "storageWriteBytes": 0,
        "networkEgressBytes": 0,
        "memoryUsedMb": 64,
    }


def completion(**over: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "kind": "Completion",
        "udfType": "Mutation",
        "componentPath": None,
        "identifier": "notifications:markRead",
        "logLines": [
            {
                "messages": ["'Marked'", "3", "'notifications read'"],
                "isTruncated": False,
                "timestamp": 1714910426114,
                "level": "LOG",
                "systemMetadata": None,
            },
            {
                "messages": ["'for'", f"{{ traceId: '{TRACE_C}' }}"],
                "isTruncated": False,
                "timestamp": 1714910426116,
                "level": "INFO",
                "systemMetadata": None,
            },
        ],
        "timestamp": 1714910426.12,
        "cachedResult": False,
        "executionTime": 0.011,
        "success": None,
        "error": None,
        "requestId": "2a4c6e8f0b1d3957",
        "executionId": "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e",
        "usageStats": usage_stats(),
        "occInfo": None,
        "executionTimestamp": 1714910426.109,
        "identityType": "user",
        "environment": "isolate",
    }
    obj.update(over)
    return obj


def test_a_cli_completion_gives_one_event_per_log_line_and_one_for_the_execution() -> None:
    events, metrics, skip = run(convex_cli.parse, completion(error="Uncaught Error: nope"))
    assert skip is None
    assert [e.ts_ms for e in events] == [1714910426114, 1714910426116, 1714910426120]
    first, second, done = events
    assert (first.system, first.system_label, first.level) == ("backend", "convex", "log")
    assert first.message == "'Marked' 3 'notifications read'"  # as a log stream's `message` holds it
    assert second.level == "info"
    assert all(e.request_id == "2a4c6e8f0b1d3957" for e in events)
    assert done.message == "mutation notifications:markRead failure in 11 ms: Uncaught Error: nope"
    assert done.level == "error"
    assert done.context == {"function": "notifications:markRead", "function_type": "mutation"}
    (m,) = metrics
    assert (m.ts_ms, m.topic) == (1714910426120, "function_execution")
    assert m.data["status"] == "failure"
    assert m.data["execution_time_ms"] == pytest.approx(11)
    assert m.data["database_io_read_bytes"] == 2210  # the log-stream spelling
    assert m.data["file_storage_read_bytes"] == 0 and "storage_read_bytes" not in m.data  # format 1's mapping


@pytest.mark.parametrize(
    "printed, ms",
    [(1714910426.5489, 1714910426548), (1714910426.12, 1714910426120), (1714910426.999999, 1714910426999)],
)
def test_a_cli_record_time_is_the_millisecond_a_log_stream_gives_it(printed: float, ms: int) -> None:
    """The backend prints one instant (`FunctionExecution.unix_timestamp`) as `as_secs_f64()` here and as
    `as_millis()` in a stream's `function_execution`: truncated, not rounded (1714910426549 before)."""
    events, metrics, _ = run(convex_cli.parse, completion(logLines=[], timestamp=printed))
    assert [e.ts_ms for e in events] == [m.ts_ms for m in metrics] == [ms]


@pytest.mark.parametrize(
    "secs, ms",
    [(0.0736, 73), (0.009, 9), (0.010999999, 10), (0.0, 0), (2.5, 2500), (None, None), (True, None)],
)
def test_a_cli_run_time_is_the_stream_s_execution_time_ms(secs: Any, ms: int | None) -> None:
    """`Duration::from_secs_f64(executionTime).as_millis()`, as the backend gives a stream: the double rounded to
    the ns (0.009 is a hair below 9 ms as a double, and 9 ms as a Duration), then truncated to the ms."""
    events, metrics, _ = run(convex_cli.parse, completion(logLines=[], executionTime=secs))
    took = f" in {ms} ms" if ms is not None else ""
    assert events[0].message == f"mutation notifications:markRead success{took}"
    assert metrics[0].data.get("execution_time_ms") == ms
    assert type(metrics[0].data.get("execution_time_ms")) is type(ms)


def test_a_cli_metric_has_the_fields_of_a_stream_s_function_execution_metric() -> None:
    """`cached` only for a query (a stream's `function.cached` is null for the others), the component's path,
    and the vector counters under the stream's names (the same `AggregatedFunctionUsageStats` fields)."""
    usage = {
        **usage_stats(),
        "vectorIndexReadBytes": 5,
        "vectorIndexWriteBytes": 6,
        "actionMemoryUsedMb": None,
    }
    (m,) = run(convex_cli.parse, completion(usageStats=usage, componentPath="ratelimiter"))[1]
    assert "cached" not in m.data and m.data["component_path"] == "ratelimiter"
    assert (m.data["vector_storage_read_bytes"], m.data["vector_storage_write_bytes"]) == (5, 6)
    assert "action_memory_used_mb" not in m.data
    assert list(m.data)[:7] == [
        "type", "path", "component_path", "status", "execution_time_ms", "request_id", "database_read_bytes"
    ]  # fmt: skip
    (q,) = run(convex_cli.parse, completion(udfType="Query", cachedResult=True))[1]
    assert q.data["cached"] is True and "component_path" not in q.data


def test_a_trace_id_on_one_cli_log_line_is_left_to_the_request_map_for_the_other_lines_of_the_run() -> None:
    """As a log stream's lines are: the stager's request map gives them the id (then their event key does not
    hold it, as the stream's copies' does not; tests/test_ingest.py, the CLI export and the stream)."""
    first, second, done = run(convex_cli.parse, completion())[0]
    assert (second.trace_id, second.trace_source) == (TRACE_C, "message")
    assert (first.trace_id, first.request_id) == (None, "2a4c6e8f0b1d3957")
    assert (done.trace_id, done.request_id) == (None, "2a4c6e8f0b1d3957")


def test_a_cli_progress_entry_gives_only_its_log_lines() -> None:
    obj = {
        "kind": "Progress",
        "udfType": "Action",
        "componentPath": None,
        "identifier": "ai:summarizeProfile",
        "timestamp": 1714910421.204,
        "logLines": [
            {
                "messages": ["'OpenAI call took'", "1402", "'ms'"],
                "isTruncated": False,
                "timestamp": 1714910422611,
                "level": "INFO",
                "systemMetadata": None,
            }
        ],
        "requestId": "e5a7c9b1d3f50624",
        "executionId": "9c3f1e7a-2b4d-4c6e-8f0a-1b3d5e7f9a2c",
    }
    events, metrics, _ = run(convex_cli.parse, obj)
    assert metrics == []
    (ev,) = events
    # the arguments joined, then unquoted as a whole: the text a log stream's `message` holds for the same line
    assert (ev.ts_ms, ev.level, ev.message) == (1714910422611, "info", "'OpenAI call took' 1402 'ms'")


def test_legacy_string_log_lines_of_the_cli_take_the_record_time_and_their_level_prefix() -> None:
    events, _, _ = run(convex_cli.parse, completion(logLines=["[WARN] 'slow write'"], timestamp=1714910426.5))
    assert (events[0].ts_ms, events[0].level, events[0].message) == (1714910426500, "warn", "slow write")


def test_a_cli_log_line_without_a_usable_timestamp_takes_the_record_time() -> None:
    line = {"messages": ["'x'"], "isTruncated": False, "timestamp": None, "level": "LOG"}
    events, _, _ = run(convex_cli.parse, completion(logLines=[line]))
    assert events[0].ts_ms == 1714910426120


def test_a_failed_cli_completion_is_an_error_event() -> None:
    events, metrics, _ = run(
        convex_cli.parse, completion(logLines=[], error="Uncaught Error: Message body must not be empty")
    )
    (ev,) = events
    assert ev.level == "error"
    assert "failure" in ev.message
    assert metrics[0].data["status"] == "failure"


def test_a_successful_http_action_completion_is_an_info_event() -> None:
    obj = completion(
        udfType="HttpAction", identifier="POST /logStreamsWebhook", logLines=[], success={"status": "200"}
    )
    (ev,) = run(convex_cli.parse, obj)[0]
    assert ev.level == "info"
    assert ev.message == "http_action POST /logStreamsWebhook success in 11 ms"


def test_a_cli_completion_with_null_success_and_null_error_is_a_success() -> None:
    events, metrics, _ = run(convex_cli.parse, completion(logLines=[]))
    (ev,) = events
    assert ev.level == "info"
    assert ev.message == "mutation notifications:markRead success in 11 ms"
    assert metrics[0].data["status"] == "success"


def test_cli_entries_ignore_unknown_extra_fields() -> None:
    obj = completion(
        caller="SyncWorker", parentExecutionId=None, returnBytes=4, willRetry=False, userExecutionTime=0.01
    )
    assert len(run(convex_cli.parse, obj)[0]) == 3


@pytest.mark.parametrize(
    "over",
    [{"kind": "Unknown"}, {"kind": None}, {"timestamp": None}, {"timestamp": "now"}, {"logLines": "x"}],
    ids=["kind-unknown", "kind-null", "timestamp-null", "timestamp-text", "loglines-string"],
)
def test_a_cli_entry_with_a_wrong_type_raises_a_record_error(over: dict[str, Any]) -> None:
    with pytest.raises(RecordError):
        run(convex_cli.parse, completion(**over))


# --------------------------------------------------------------------------- table snapshots


def snapshot_row(**over: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "_creationTime": 1714910420458.3125,
        "_id": "jh7b1y5w3n9r0d2f4l6o8q0s1t3u5v7x",
        "level": "info",
        "message": "Profile loaded in 350ms",
        "trace_id": TRACE_C,
        "user_id": "user_2fX9kq",
        "system_area": "browser",
        "timestamp": 1714910420400,
        "raw_args": ["Profile loaded in 350ms"],
        "stack_trace": "Error\n    at console.info (http://localhost:3000/_next/static/chunks/app/layout.js:412:29)",
        "processed": False,
    }
    obj.update(over)
    return obj


def test_a_log_queue_row_of_a_browser_line_keeps_both_clocks() -> None:
    """`timestamp` is the browser's clock, `_creationTime` the server's when the row was written (reference
    §3.1-3.2): the server's orders the line among the others, the browser's measures its skew."""
    events, metrics, skip = run(convex_snapshot.parse, snapshot_row())
    assert skip is None and metrics == []
    (ev,) = events
    assert (ev.ts_ms, ev.client_ts_ms) == (1714910420458, 1714910420400)
    assert (ev.system, ev.system_label, ev.level) == ("browser", "browser", "info")
    assert ev.message == "Profile loaded in 350ms"
    assert (ev.trace_id, ev.trace_source) == (TRACE_C, "field")
    assert ev.user_id == "user_2fX9kq"
    assert ev.stack is not None and ev.stack.startswith("Error")
    assert ev.request_id is None and ev.context is None


def test_a_log_streams_row_is_at_its_own_time_with_no_client_clock() -> None:
    (ev,) = run(convex_snapshot.parse, snapshot_row(system_area="convex"))[0]
    assert (ev.ts_ms, ev.client_ts_ms) == (1714910420400, None)


def test_a_log_streams_row_keeps_its_function_details_and_request_id_from_raw_args() -> None:
    details = {
        "functionName": "users:getProfile",
        "functionId": "fn_users_getProfile",
        "requestId": "req-7c1e9a3f",
        "environmentName": "production",
        "deploymentId": "tremendous-otter-123",
        "originalLevel": "INFO",
        "duration": 9,
    }
    message = f"Function executed with trace_id: {TRACE_C}"
    row = snapshot_row(
        message=message,
        user_id="system",
        system_area="convex",
        timestamp=1714910420195,
        raw_args=[message, orjson.dumps(details).decode()],
        stack_trace=None,
    )
    (ev,) = run(convex_snapshot.parse, row)[0]
    assert (ev.system, ev.system_label) == ("backend", "convex")
    assert ev.request_id == "req-7c1e9a3f"
    assert ev.context == details
    assert (ev.trace_id, ev.trace_source) == (TRACE_C, "field")


def test_the_live_webhooks_convex_req_fallback_id_is_not_taken_for_a_trace_id() -> None:
    details = {"functionName": "users:getProfile", "requestId": "req-7c1e9a3f", "originalLevel": "INFO"}
    row = snapshot_row(
        message="Query completed in 9ms",
        trace_id="convex_req_req-7c1e9a3f",
        system_area="convex",
        raw_args=["Query completed in 9ms", orjson.dumps(details).decode()],
    )
    (ev,) = run(convex_snapshot.parse, row)[0]
    # it names the request, not a trace: the row joins the trace a sibling line of the request carries
    assert (ev.trace_id, ev.trace_source, ev.request_id) == (None, "none", "req-7c1e9a3f")


@pytest.mark.parametrize(
    "message",
    [
        f"order created trace_id={TRACE_C}",  # `=`: the live regex wants `:` or a space after the key
        f'order created {{"trace_id":"{TRACE_C}"}}',  # quoted JSON: the live regex misses it
    ],
)
def test_a_row_with_the_fallback_id_takes_the_trace_its_message_names(message: str) -> None:
    """The live webhook wrote `convex_req_<requestId>` when its narrower regex found no id; the message said
    which trace, and the row was left an orphan."""
    details = {"functionName": "orders:create", "requestId": "req-7c1e9a3f", "originalLevel": "INFO"}
    row = snapshot_row(
        message=message,
        trace_id="convex_req_req-7c1e9a3f",
        system_area="convex",
        raw_args=[message, orjson.dumps(details).decode()],
    )
    (ev,) = run(convex_snapshot.parse, row)[0]
    assert (ev.trace_id, ev.trace_source, ev.request_id) == (TRACE_C, "message", "req-7c1e9a3f")


def test_a_snapshot_row_with_the_unknown_placeholder_trace_id_is_an_orphan() -> None:
    (ev,) = run(convex_snapshot.parse, snapshot_row(trace_id="unknown", system_area="worker"))[0]
    assert (ev.trace_id, ev.trace_source, ev.system) == (None, "none", "worker")


def test_a_snapshot_row_whose_second_raw_arg_is_not_json_has_no_context() -> None:
    (ev,) = run(convex_snapshot.parse, snapshot_row(raw_args=["a", "{not json"]))[0]
    assert ev.context is None and ev.request_id is None


def test_a_snapshot_row_without_a_timestamp_uses_its_creation_time() -> None:
    row = snapshot_row()
    del row["timestamp"]
    (ev,) = run(convex_snapshot.parse, row)[0]
    assert ev.ts_ms == 1714910420458


def test_a_snapshot_row_without_a_message_joins_its_raw_args() -> None:
    row = snapshot_row(raw_args=["Loading profile", '{"userId":"user_2fX9kq"}'])
    del row["message"]
    (ev,) = run(convex_snapshot.parse, row)[0]
    assert ev.message == 'Loading profile {"userId":"user_2fX9kq"}'


def test_a_recent_log_entries_row_with_expires_at_parses_like_a_log_queue_row() -> None:
    row = snapshot_row(expires_at=1714910424000)
    del row["processed"]
    (ev,) = run(convex_snapshot.parse, row)[0]
    assert ev.message == "Profile loaded in 350ms"


def test_a_debug_logs_row_is_read_as_a_stored_worker_record_with_two_clocks() -> None:
    row = {
        "_creationTime": 1714910460000.5,
        "_id": "kd9a0x4v2m8q9c1e3k5n7p9r0s2t4u6w",
        "id": "1714910401547_p0z7c4v1n",
        "trace_id": TRACE_A,
        "system": "worker",
        "level": "info",
        "message": "Background processing initiated",
        "timestamp": 1714910401547,
        "context": {"timestamp": 1714910401521},
        "raw_data": {"id": "1714910401547_p0z7c4v1n"},
        "synced_at": 1714910460000,
    }
    (ev,) = run(convex_snapshot.parse, row)[0]
    assert (ev.system, ev.ts_ms, ev.client_ts_ms, ev.trace_id) == (
        "worker",
        1714910401547,
        1714910401521,
        TRACE_A,
    )


def test_snapshot_nulls_are_treated_as_absent() -> None:
    (ev,) = run(
        convex_snapshot.parse, snapshot_row(user_id=None, stack_trace=None, system_area=None, level=None)
    )[0]
    assert (ev.user_id, ev.stack, ev.system, ev.level) == (None, None, "browser", "log")


@pytest.mark.parametrize(
    "over",
    [
        {"message": None, "raw_args": None},
        {"timestamp": "x", "_creationTime": "y"},
        {"timestamp": None, "_creationTime": None},
    ],
    ids=["no-message", "unreadable-times", "null-times"],
)
def test_a_snapshot_row_without_message_or_time_raises_a_record_error(over: dict[str, Any]) -> None:
    with pytest.raises(RecordError):
        run(convex_snapshot.parse, snapshot_row(**over))


# --------------------------------------------------------------------------- end to end on the fixtures


def _open(tmp_path: Path, *names: str) -> tuple[Any, duckdb.DuckDBPyConnection]:
    db = tmp_path / "convex.duckdb"
    result = ingest([str(FIXTURES / n) for n in names], str(db))
    return result, duckdb.connect(str(db), read_only=True)


def test_a_log_stream_event_delivered_twice_is_stored_once(tmp_path: Path) -> None:
    result, con = _open(tmp_path, "backend/log-stream-v2.jsonl")
    with con:
        (f,) = result.files
        assert (f.records, f.events, f.stored, f.dropped, f.metrics, f.rejected) == (13, 9, 8, 1, 7, 0)
        assert f.balanced
        assert f.skip_reasons["verification event"] == 1
        assert con.execute("SELECT count(*) FROM log_queue WHERE message = 'Sent message!'").fetchone() == (
            1,
        )
        dropped = con.execute("SELECT rule, message, source_line FROM drop_ledger").fetchall()
        assert dropped == [("duplicate", "Sent message!", 5)]


def test_lines_of_one_convex_request_share_the_trace_id_one_of_them_names(tmp_path: Path) -> None:
    _, con = _open(tmp_path, "backend/log-stream-v2.jsonl", "backend/log-stream-v2-batch.json")
    with con:
        rows = con.execute(
            "SELECT request_id, message, trace_id, trace_source FROM log_queue "
            "WHERE request_id IN ('d064ef901f7ec0b7', '7c1e9a3f5b2d4068') ORDER BY ts"
        ).fetchall()
        assert rows == [
            (
                "d064ef901f7ec0b7",
                f"'send called' {{ traceId: '{TRACE_A}', channel: 'general' }}",
                TRACE_A,
                "message",
            ),
            ("d064ef901f7ec0b7", "Sent message!", TRACE_A, "request_id"),
            ("d064ef901f7ec0b7", "mutation messages:send success in 26 ms", TRACE_A, "request_id"),
            (
                "7c1e9a3f5b2d4068",
                f"'getProfile' {{ traceId: '{TRACE_C}', userId: 'user_2fX9kq' }}",
                TRACE_C,
                "message",
            ),
            ("7c1e9a3f5b2d4068", "avatar storage id missing, using default", TRACE_C, "request_id"),
            ("7c1e9a3f5b2d4068", "query users:getProfile success in 9 ms", TRACE_C, "request_id"),
        ]


@pytest.mark.parametrize("earlier", [False, True], ids=["new-db", "db-with-earlier-lines"])
def test_lines_of_a_convex_request_naming_two_traces_are_given_neither(tmp_path: Path, earlier: bool) -> None:
    """A sync action logs the trace ids of the logs it moves: its failure and its execution were pinned on the
    first trace it named (its earliest line's), which then listed an error of another request. (A new database
    and one holding lines of earlier ingests take two ways to the request map.)"""
    sync = fn("workerSync:syncAllLogs", "action", "5ca1ab1e5ca1ab1e")
    lines = [
        console(function=sync, timestamp=1714910401000, message=f"'Synced 5 logs for trace_id:' '{TRACE_A}'"),
        console(function=sync, timestamp=1714910401010, message=f"'Synced 3 logs for trace_id:' '{TRACE_C}'"),
        console(
            function=sync, timestamp=1714910401020, message="'sync failed for 1 trace'", log_level="ERROR"
        ),
        execution(function=sync, timestamp=1714910401030),
    ]
    if earlier:  # another request, the day before
        before = tmp_path / "before.jsonl"
        before.write_bytes(orjson.dumps(console(timestamp=1714824000000, message="'warm-up'")) + b"\n")
        ingest([str(before)], str(tmp_path / "db.duckdb"))
    path = tmp_path / "sync.jsonl"
    path.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    ingest([str(path)], str(tmp_path / "db.duckdb"))
    with duckdb.connect(str(tmp_path / "db.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT trace_id, trace_source FROM log_queue WHERE ts > '2024-05-05' ORDER BY ts"
        ).fetchall()
    assert rows == [(TRACE_A, "message"), (TRACE_C, "message"), (None, "none"), (None, "none")]


def test_a_request_cut_between_two_ingests_of_a_growing_log_shares_its_trace_id(tmp_path: Path) -> None:
    """A webhook log ingested as it grows: the cut fell inside a request, whose execution line came in the
    second part and stayed without a trace id (the one ingest of the whole log gave it the trace)."""
    lines = [
        console(timestamp=1714910401450, message=f"'send called' {{ traceId: '{TRACE_A}' }}"),
        console(timestamp=1714910401458),
        execution(timestamp=1714910401466),
    ]
    path = tmp_path / "stream.jsonl"
    db = str(tmp_path / "db.duckdb")
    path.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines[:2]))
    ingest([str(path)], db)
    with path.open("ab") as f:
        f.write(orjson.dumps(lines[2]) + b"\n")
    ingest([str(path)], db)
    with duckdb.connect(db, read_only=True) as con:
        rows = con.execute("SELECT source_line, trace_id, trace_source FROM log_queue ORDER BY ts").fetchall()
        summary = con.execute("SELECT events FROM trace_summary WHERE trace_id = ?", [TRACE_A]).fetchall()
    assert rows == [(1, TRACE_A, "message"), (2, TRACE_A, "request_id"), (3, TRACE_A, "request_id")]
    assert summary == [(3,)]


def _ingest_parts(tmp_path: Path, *parts: list[dict[str, Any]]) -> str:
    """Each part appended to one growing log and ingested after it was written; returns the database."""
    path = tmp_path / "stream.jsonl"
    db = str(tmp_path / "db.duckdb")
    for part in parts:
        with path.open("ab") as f:
            f.write(b"".join(orjson.dumps(x) + b"\n" for x in part))
        ingest([str(path)], db)
    return db


def test_lines_an_earlier_ingest_stored_without_a_trace_take_the_one_a_later_line_of_their_request_names(
    tmp_path: Path,
) -> None:
    """The cut fell before the line that names the request's trace: the lines stored first kept no trace id
    (`logcorr trace` missed them), although one ingest of the whole log gives them the trace. A later ingest
    gives it to them, in log_queue, the recent window and the trace's summary."""
    from logcorr.correlate.trace import build

    db = _ingest_parts(
        tmp_path,
        [console(timestamp=1714910401450, message="'send called'"), console(timestamp=1714910401452)],
        [console(timestamp=1714910401458, message=f"'sent' {{ traceId: '{TRACE_A}' }}"), execution()],
    )
    with duckdb.connect(db, read_only=True) as con:
        rows = con.execute("SELECT source_line, trace_id, trace_source FROM log_queue ORDER BY ts").fetchall()
        recent = con.execute(
            "SELECT count(*) FROM recent_log_entries WHERE trace_id = ?", [TRACE_A]
        ).fetchall()
        summary = con.execute("SELECT events FROM trace_summary WHERE trace_id = ?", [TRACE_A]).fetchall()
        shown = [e["source_line"] for e in build(con, TRACE_A, skew=False)["events"]]
    assert rows == [
        (1, TRACE_A, "request_id"),
        (2, TRACE_A, "request_id"),
        (3, TRACE_A, "message"),
        (4, TRACE_A, "request_id"),
    ]
    assert recent == [(4,)] and summary == [(4,)] and shown == [1, 2, 3, 4]


def test_a_dropped_line_of_an_earlier_ingest_takes_its_requests_later_trace_in_the_drop_ledger(
    tmp_path: Path,
) -> None:
    """The drop ledger holds trace ids too (`trace --include-dropped`): a line an earlier ingest dropped (noise)
    joins the trace a later line of its request names, as one ingest of both records it."""
    from logcorr.correlate.trace import build

    db = _ingest_parts(
        tmp_path,
        [console(timestamp=1714910401450, message="'[HMR] connected'")],
        [console(timestamp=1714910401458, message=f"'sent' {{ traceId: '{TRACE_A}' }}")],
    )
    with duckdb.connect(db, read_only=True) as con:
        dropped = con.execute("SELECT rule, trace_id, trace_source FROM drop_ledger").fetchall()
        shown = build(con, TRACE_A, skew=False, include_dropped=True)["events"]
    assert dropped == [("suppress", TRACE_A, "request_id")]
    assert [(e["source_line"], e["dropped_by"]) for e in shown] == [(1, "suppress"), (2, None)]


@pytest.mark.parametrize(
    ("later", "why"),
    [
        # the request's lines name two traces (a sync over many): none is its trace, as in one ingest
        (
            [
                console(timestamp=1714910401458, message=f"'moved' {{ traceId: '{TRACE_A}' }}"),
                console(timestamp=1714910401459, message=f"'moved' {{ traceId: '{TRACE_C}' }}"),
            ],
            "two traces",
        ),
        # a line of the same request id more than an hour later (`REQUEST_MARGIN_MS`): another request
        (
            [console(timestamp=1714910401450 + 3_600_001, message=f"'sent' {{ traceId: '{TRACE_A}' }}")],
            "an hour",
        ),
        # another request
        (
            [
                console(
                    timestamp=1714910401458,
                    function=fn(request_id="e1e1e1e1e1e1e1e1"),
                    message=f"'{TRACE_A}'",
                )
            ],
            "other request",
        ),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_a_line_stored_without_a_trace_stays_so_when_a_later_ingest_names_none_for_its_request(
    tmp_path: Path, later: list[dict[str, Any]], why: str
) -> None:
    db = _ingest_parts(tmp_path, [console(timestamp=1714910401450, message="'send called'")], later)
    with duckdb.connect(db, read_only=True) as con:
        rows = con.execute("SELECT trace_id, trace_source FROM log_queue WHERE source_line = 1").fetchall()
    assert rows == [(None, "none")], why


def test_an_earlier_line_of_another_system_with_the_same_request_id_takes_no_later_trace(
    tmp_path: Path,
) -> None:
    """A Worker's Ray ID and a Convex request id are both 16 hex digits: a stored Worker line that shares the id
    of a Convex request ingested later is no line of that request."""
    worker = {
        "EventTimestampMs": 1714910401440,
        "Event": {"RayID": "d064ef901f7ec0b7-SJC"},
        "Logs": [{"Level": "log", "Message": ["Redis pipeline ok"], "TimestampMs": 1714910401441}],
        "Outcome": "ok",
        "ScriptName": "log-ingestion-worker",
    }
    db = str(tmp_path / "db.duckdb")
    first = tmp_path / "worker.jsonl"
    first.write_bytes(orjson.dumps(worker) + b"\n")
    ingest([str(first)], db)
    second = tmp_path / "convex.jsonl"
    second.write_bytes(orjson.dumps(console(message=f"'sent' {{ traceId: '{TRACE_A}' }}")) + b"\n")
    ingest([str(second)], db)
    with duckdb.connect(db, read_only=True) as con:
        rows = con.execute("SELECT system, request_id, trace_id FROM log_queue ORDER BY ts").fetchall()
    assert rows == [("worker", "d064ef901f7ec0b7", None), ("backend", "d064ef901f7ec0b7", TRACE_A)]


def test_the_failed_convex_function_of_the_checkout_trace_is_an_error_naming_the_trace(
    tmp_path: Path,
) -> None:
    _, con = _open(tmp_path, "backend/log-stream-v2.jsonl")
    with con:
        rows = con.execute(
            "SELECT trace_source, message FROM log_queue WHERE trace_id = ? AND level = 'error' ORDER BY ts",
            [TRACE_B],
        ).fetchall()
        assert [r[0] for r in rows] == ["message", "message"]
        assert "Payment declined for trace_id:" in rows[1][1]


def test_convex_usage_topics_are_stored_as_metrics(tmp_path: Path) -> None:
    _, con = _open(tmp_path, "backend/log-stream-v2.jsonl", "backend/log-stream-v2-batch.json")
    with con:
        topics = dict(con.execute("SELECT topic, count(*) FROM metrics GROUP BY topic").fetchall())
        assert topics == {
            "function_execution": 6,
            "audit_log": 1,
            "scheduler_stats": 1,
            "current_storage_usage": 1,
            "concurrency_stats": 1,
        }
        io = con.execute(
            "SELECT sum(CAST(data->>'database_io_read_bytes' AS BIGINT)) FROM metrics WHERE topic = 'function_execution'"
        ).fetchone()
        assert io == (2048 + 1024 + 3172 + 1077,)


def test_a_two_table_snapshot_export_is_stored_once_with_the_second_copies_in_the_drop_ledger(
    tmp_path: Path,
) -> None:
    result, con = _open(
        tmp_path, "backend/snapshot-log_queue.jsonl", "backend/snapshot-recent_log_entries.jsonl"
    )
    with con:
        log_queue_file, recent_file = result.files
        assert (log_queue_file.stored, log_queue_file.dropped, log_queue_file.rejected) == (5, 0, 0)
        assert (recent_file.stored, recent_file.dropped, recent_file.rejected) == (0, 5, 0)
        assert log_queue_file.balanced and recent_file.balanced
        rules = con.execute("SELECT rule, count(*) FROM drop_ledger GROUP BY rule").fetchall()
        assert rules == [("duplicate", 5)]
        assert con.execute(
            "SELECT count(*) FROM drop_ledger WHERE source_file LIKE '%snapshot-recent_log_entries.jsonl'"
        ).fetchone() == (5,)
        rows = con.execute(
            "SELECT message, system, system_label, trace_id, trace_source, request_id FROM log_queue ORDER BY ts"
        ).fetchall()
        assert rows == [
            ('Loading profile {"userId":"user_2fX9kq"}', "browser", "browser", TRACE_C, "field", None),
            (
                f"Function executed with trace_id: {TRACE_C}",
                "backend",
                "convex",
                TRACE_C,
                "field",
                "req-7c1e9a3f",
            ),
            (
                "Query completed in 9ms",
                "backend",
                "convex",
                TRACE_C,
                "request_id",
                "req-7c1e9a3f",
            ),
            ("Profile loaded in 350ms", "browser", "browser", TRACE_C, "field", None),
            ("Health probe from uptime monitor", "worker", "worker", None, "none", None),
        ]


def test_the_repo_webhook_and_the_rows_it_wrote_are_stored_once(tmp_path: Path) -> None:
    _, con = _open(tmp_path, "backend/repo-webhook.json", "backend/snapshot-log_queue.jsonl")
    with con:
        n = con.execute(
            "SELECT count(*) FROM log_queue WHERE message = ?",
            [f"Function executed with trace_id: {TRACE_C}"],
        ).fetchone()
        assert n == (1,)
        dup = con.execute("SELECT rule, source_format FROM drop_ledger").fetchall()
        assert dup == [("duplicate", "convex-snapshot")]


def test_cli_lines_of_an_action_take_the_trace_id_from_an_earlier_progress_entry(tmp_path: Path) -> None:
    result, con = _open(tmp_path, "backend/convex-logs-cli.jsonl")
    with con:
        (f,) = result.files
        assert (f.records, f.events, f.metrics, f.rejected) == (7, 8, 5, 0)
        assert f.balanced
        rows = con.execute(
            "SELECT trace_id, trace_source FROM log_queue WHERE request_id = 'e5a7c9b1d3f50624' ORDER BY ts"
        ).fetchall()
        assert rows == [(TRACE_C, "message"), (TRACE_C, "request_id"), (TRACE_C, "request_id")]


def test_legacy_and_axiom_wrapped_streams_ingest_with_the_critical_trace(tmp_path: Path) -> None:
    result, con = _open(tmp_path, "backend/log-stream-legacy-v1.jsonl", "backend/log-stream-axiom-data.jsonl")
    with con:
        assert all(f.rejected == 0 and f.balanced for f in result.files)
        legacy, axiom = result.files
        assert (legacy.records, legacy.events, legacy.records_skipped) == (7, 5, 1)
        assert (axiom.records, axiom.events, axiom.metrics) == (4, 3, 3)
        rows = con.execute(
            "SELECT source_format, trace_source FROM log_queue WHERE trace_id = ? ORDER BY ts", [TRACE_D]
        ).fetchall()
        assert rows == [
            ("convex-stream-v1", "message"),
            ("convex-stream", "message"),
            ("convex-stream", "request_id"),
        ]


def test_trace_finds_the_trace_of_a_request_by_the_live_webhooks_fallback_id(cli, tmp_path: Path) -> None:
    """A user may have `convex_req_<requestId>` from the live UI: `trace` shows the trace that request's lines
    joined, or says what the id is when they joined none."""
    details = {"functionName": "users:getProfile", "requestId": "req-7c1e9a3f", "originalLevel": "INFO"}
    lone = {"functionName": "users:other", "requestId": "req-7777", "originalLevel": "INFO"}
    rows = [
        snapshot_row(_id="a1", message=f"getProfile trace_id: {TRACE_C}", trace_id=TRACE_C, system_area="convex",
                     raw_args=["x", orjson.dumps(details).decode()]),
        snapshot_row(_id="a2", message="Query completed in 9ms", trace_id="convex_req_req-7c1e9a3f",
                     system_area="convex", timestamp=1714910420500, raw_args=["y", orjson.dumps(details).decode()]),
        snapshot_row(_id="a3", message="Other query", trace_id="convex_req_req-7777", system_area="convex",
                     timestamp=1714910420600, raw_args=["z", orjson.dumps(lone).decode()]),
    ]  # fmt: skip
    path = tmp_path / "documents.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    db = tmp_path / "db.duckdb"
    assert cli("ingest", path, "--db", db, "-q").exit_code == 0
    found = cli("trace", "convex_req_req-7c1e9a3f", "--db", db, "--format", "json")
    assert found.exit_code == 0, found.stderr
    assert found.json()["trace_id"] == TRACE_C and len(found.json()["events"]) == 2
    lost = cli("trace", "convex_req_req-7777", "--db", db)
    assert lost.exit_code == 1
    assert "live webhook's id for Convex request 'req-7777'" in lost.stderr
    assert "request_id = 'req-7777'" in lost.stderr


def test_a_failure_while_earlier_lines_take_their_trace_is_reported_as_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The back-fill's TEMP tables were dropped in a `finally`: after a failed statement the transaction is
    aborted, and the DROP raised "Current transaction is aborted" in place of the failure (an out-of-memory error
    lost its message and hint)."""
    import logcorr.pipeline.stage as stage
    from logcorr.errors import DatabaseError

    db = _ingest_parts(tmp_path, [console(timestamp=1714910401450, message="'send called'")])
    monkeypatch.setattr(stage, "_ORPHAN_TRACES", "SELECT error('the real failure')")
    path = tmp_path / "stream.jsonl"
    with path.open("ab") as f:
        f.write(
            orjson.dumps(console(timestamp=1714910401458, message=f"'sent' {{ traceId: '{TRACE_A}' }}"))
            + b"\n"
        )
    with pytest.raises(DatabaseError, match="the real failure"):
        ingest([str(path)], db)
    with duckdb.connect(db, read_only=True) as con:
        assert con.execute("SELECT trace_id FROM log_queue").fetchall() == [(None,)]


def test_an_id_at_the_end_of_a_truncated_line_is_no_id_and_the_line_takes_its_requests(
    tmp_path: Path,
) -> None:
    """Convex cuts a console line at 4 KiB: an id it ends with may be cut short, and `trace_17645472` was a trace
    of its own. The line names none; its request's other line gives it the id."""
    tid = "trace_1764547200000_k3x9a2b"
    cut = console(message="'" + "x" * 4000 + " trace_id: trace_17645472", is_truncated=True)
    (ev,) = run(parse_v2, cut)[0]
    assert (ev.trace_id, ev.trace_source) == (None, "none")
    whole = console(message=f"'trace_id: {tid} " + "x" * 4000, is_truncated=True)  # cut far from the id
    assert run(parse_v2, whole)[0][0].trace_id == tid
    assert run(parse_v2, console(message="'trace_id: trace_17645472'"))[0][0].trace_id == "trace_17645472"
    path = tmp_path / "convex.jsonl"
    path.write_bytes(
        orjson.dumps(cut) + b"\n" + orjson.dumps(console(message=f"'done trace_id: {tid}'")) + b"\n"
    )
    db = str(tmp_path / "db.duckdb")
    ingest([str(path)], db)
    with duckdb.connect(db, read_only=True) as con:
        got = con.execute("SELECT trace_id, trace_source FROM log_queue ORDER BY source_line").fetchall()
    assert got == [(tid, "request_id"), (tid, "message")]


def test_an_id_at_the_end_of_a_truncated_cli_line_is_no_id() -> None:
    line = {"messages": ["'" + "x" * 100 + " trace_id: trace_1764'"], "isTruncated": True, "level": "LOG",
            "timestamp": 1714910401458}  # fmt: skip
    obj = {"kind": "Progress", "udfType": "Mutation", "identifier": "a:b", "requestId": "r1",
           "timestamp": 1714910401.458, "logLines": [line]}  # fmt: skip
    events = run(convex_cli.parse, obj)[0]
    assert [e.trace_id for e in events] == [None]
