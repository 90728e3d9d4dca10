"""Cloudflare Workers exports: Logpush `workers_trace_events`, `wrangler tail` / Tail Worker `TraceItem`s,
and Workers Logs query-API events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from logcorr.model import RecordError
from logcorr.pipeline.ingest import IngestResult, ingest
from logcorr.rules.fingerprint import MACROS_SQL
from logcorr.sources.cloudflare import parse_logpush, parse_tail, parse_workers_logs, ray_id
from logcorr.sources.detect import detect
from logcorr.store.schema import LATEST
from tests.conftest import FIXTURES, schema_back_to
from tests.conftest import run_adapter as run

REALWORLD = Path(__file__).parent / "data" / "realworld"
TRACE_A = "trace_1714910398211_k3j9x2m1p"
TRACE_B = "trace_1714910405337_q8w2e5r7t"
TRACE_C = "trace_1714910415902_h7d2kq0zs"
TRACE_D = "critical_auth_1714910430512_x7y8z9"
WORKER = "https://log-ingestion-worker.acme-dev.workers.dev"


def logpush(**over: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "CPUTimeMs": 2,
        "DispatchNamespace": "",
        "Entrypoint": "",
        "Event": {
            "RayID": "87f0a1b3d9e8f701",
            "Request": {"URL": f"{WORKER}/log", "Method": "POST"},
            "Response": {"Status": 200},
        },
        "EventTimestampMs": 1714910401041,
        "EventType": "fetch",
        "Exceptions": [],
        "Logs": [
            {
                "Level": "log",
                "Message": ["Log received", {"trace_id": TRACE_A, "system": "browser", "level": "info"}],
                "TimestampMs": 1714910401044,
            },
            {
                "Level": "log",
                "Message": ["Redis pipeline ok: LPUSH + EXPIRE 3600"],
                "TimestampMs": 1714910401069,
            },
        ],
        "Outcome": "ok",
        "ScriptName": "log-ingestion-worker",
        "ScriptTags": [],
        "ScriptVersion": {"ID": "6f1c2a9e-3b7d-4e51-9a0c-8d2f4b6e1a37", "Message": "", "Tag": ""},
        "WallTimeMs": 31,
    }
    obj.update(over)
    return obj


def tail(**over: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "outcome": "ok",
        "scriptName": "log-ingestion-worker",
        "diagnosticsChannelEvents": [],
        "exceptions": [],
        "logs": [
            {
                "message": [f"Rate limit check passed, trace_id: {TRACE_C}"],
                "level": "log",
                "timestamp": 1714910420074,
            },
            {
                "message": ["Verifying session token", "eyJhbGciOi.x.y"],
                "level": "log",
                "timestamp": 1714910420076,
            },
        ],
        "eventTimestamp": 1714910420071,
        "event": {
            "request": {
                "url": f"{WORKER}/log",
                "method": "POST",
                "headers": {"cf-ray": "87f0a1ce4b5a6d79-LHR", "content-type": "application/json"},
                "cf": {"colo": "LHR", "country": "GB"},
            },
            "response": {"status": 200},
        },
    }
    obj.update(over)
    return obj


def wl_invocation(**over: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "dataset": "cloudflare-workers",
        "timestamp": 1714910430580,
        "source": {},
        "$workers": {
            "eventType": "fetch",
            "requestId": "8a1f2b3c4d5e6f70",
            "scriptName": "log-ingestion-worker",
            "outcome": "ok",
            "cpuTimeMs": 2,
            "wallTimeMs": 37,
            "scriptVersion": {"id": "6f1c2a9e-3b7d-4e51-9a0c-8d2f4b6e1a37", "message": "", "tag": ""},
            "event": {
                "request": {"url": f"{WORKER}/log", "method": "POST", "path": "/log"},
                "response": {"status": 200},
            },
        },
        "$metadata": {
            "id": "01HX4ZQ8J4M2V6B1C9D0E3F5G7",
            "requestId": "8a1f2b3c4d5e6f70",
            "trigger": "POST /log",
            "service": "log-ingestion-worker",
            "level": "info",
            "message": f"POST {WORKER}/log",
            "type": "cf-worker-event",
            "statusCode": 200,
        },
    }
    obj.update(over)
    return obj


def wl_console(**over: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "dataset": "cloudflare-workers",
        "timestamp": 1714910430590,
        "source": {"level": "error", "message": "Critical trace: auth failure reported", "trace_id": TRACE_D},
        "$workers": {
            "eventType": "fetch",
            "requestId": "8a1f2b3c4d5e6f70",
            "scriptName": "log-ingestion-worker",
        },
        "$metadata": {
            "id": "01HX4ZQ8J4M2V6B1C9D0E3F5G9",
            "requestId": "8a1f2b3c4d5e6f70",
            "trigger": "POST /log",
            "service": "log-ingestion-worker",
            "level": "error",
            "message": "Critical trace: auth failure reported",
            "type": "cf-worker",
        },
    }
    obj.update(over)
    return obj


# --------------------------------------------------------------------------- Logpush workers_trace_events


def test_a_logpush_record_is_detected_as_cf_logpush() -> None:
    fmt = detect(logpush())
    assert fmt is not None and fmt.name == "cf-logpush"


def test_a_logpush_record_becomes_one_event_per_log_line() -> None:
    events, _, skip = run(parse_logpush, logpush())
    assert skip is None
    assert [e.ts_ms for e in events] == [1714910401044, 1714910401069]
    first, second = events
    assert (first.system, first.system_label, first.level) == ("worker", "worker", "log")
    assert first.message == f'Log received {{"trace_id":"{TRACE_A}","system":"browser","level":"info"}}'
    assert first.request_id == "87f0a1b3d9e8f701"
    assert first.client_ts_ms is None
    assert first.user_id is None
    assert first.context == {
        "script": "log-ingestion-worker",
        "event_type": "fetch",
        "outcome": "ok",
        "url": f"{WORKER}/log",
        "method": "POST",
        "status": 200,
        "ray_id": "87f0a1b3d9e8f701",
    }
    assert second.message == "Redis pipeline ok: LPUSH + EXPIRE 3600"


def test_a_trace_id_only_in_a_logpush_object_argument_is_a_field_trace() -> None:
    first, _ = run(parse_logpush, logpush())[0]
    assert (first.trace_id, first.trace_source) == (TRACE_A, "field")


def test_sibling_lines_of_one_logpush_invocation_take_its_trace_id_by_request() -> None:
    _, second = run(parse_logpush, logpush())[0]
    assert (second.trace_id, second.trace_source) == (TRACE_A, "request_id")


def test_lines_of_an_invocation_naming_two_traces_are_given_neither() -> None:
    """A batch endpoint's invocation logs two apps' trace ids: its other lines (its error here) were pinned on
    the first, so that trace showed an error it never had."""
    obj = logpush(
        Logs=[
            {"Level": "log", "Message": ["batch of 2"], "TimestampMs": 1714910401044},
            {"Level": "log", "Message": ["stored", {"trace_id": TRACE_A}], "TimestampMs": 1714910401045},
            {"Level": "log", "Message": ["stored", {"trace_id": TRACE_B}], "TimestampMs": 1714910401046},
            {"Level": "error", "Message": ["redis timeout on one entry"], "TimestampMs": 1714910401047},
        ]
    )
    events = run(parse_logpush, obj)[0]
    assert [(e.trace_id, e.trace_source) for e in events] == [
        (None, "none"),
        (TRACE_A, "field"),
        (TRACE_B, "field"),
        (None, "none"),
    ]


def test_a_logpush_invocation_is_kept_as_a_worker_invocation_metric() -> None:
    _, metrics, _ = run(parse_logpush, logpush())
    (m,) = metrics
    assert (m.ts_ms, m.system, m.topic) == (1714910401041, "worker", "worker_invocation")
    assert m.data == {
        "script": "log-ingestion-worker",
        "outcome": "ok",
        "event_type": "fetch",
        "cpu_ms": 2,
        "wall_ms": 31,
        "ray_id": "87f0a1b3d9e8f701",
        "logs": 2,
        "exceptions": 0,
    }


def test_a_logpush_invocation_without_logs_gives_only_a_metric() -> None:
    obj = logpush(Logs=[], CPUTimeMs=0, WallTimeMs=1)
    obj["Event"]["Request"]["Method"] = "OPTIONS"
    events, metrics, skip = run(parse_logpush, obj)
    assert events == []
    assert skip is None
    assert [m.data["logs"] for m in metrics] == [0]


def test_a_logpush_exception_becomes_an_error_event_named_after_the_exception() -> None:
    obj = logpush(
        Logs=[
            {
                "Level": "log",
                "Message": [f'{{"event":"log_received","trace_id":"{TRACE_B}","level":"error"}}'],
                "TimestampMs": 1714910411927,
            }
        ],
        Exceptions=[
            {
                "Name": "Error",
                "Message": "Upstash Redis request failed: 503 Service Unavailable",
                "TimestampMs": 1714910412240,
            }
        ],
        Outcome="exception",
        EventTimestampMs=1714910411925,
    )
    events, metrics, _ = run(parse_logpush, obj)
    log, exc = events
    assert (log.trace_id, log.trace_source) == (TRACE_B, "message")  # inside a JSON string
    assert exc.level == "error"
    assert exc.ts_ms == 1714910412240
    assert exc.message == "Error: Upstash Redis request failed: 503 Service Unavailable"
    assert (exc.trace_id, exc.trace_source) == (TRACE_B, "request_id")
    assert metrics[0].data["outcome"] == "exception"
    assert metrics[0].data["exceptions"] == 1


def test_logpush_exception_fields_are_accepted_in_lower_case_as_the_docs_sample_prints_them() -> None:
    obj = logpush(
        Logs=[], Exceptions=[{"name": "AuthError", "message": "unable to process request", "timestamp": 0}]
    )
    (ev,) = run(parse_logpush, obj)[0]
    assert ev.message == "AuthError: unable to process request"
    assert ev.ts_ms == 1714910401041  # a zero timestamp falls back to the invocation's time


def test_a_logpush_log_line_without_a_usable_timestamp_takes_the_invocation_time() -> None:
    obj = logpush(
        Logs=[{"Level": "log", "Message": ["Hello "], "TimestampMs": 0}, {"Level": "log", "Message": ["x"]}]
    )
    events = run(parse_logpush, obj)[0]
    assert [e.ts_ms for e in events] == [1714910401041, 1714910401041]


def test_a_logpush_export_without_cpu_and_wall_time_fields_still_parses() -> None:
    obj = logpush()
    del obj["CPUTimeMs"], obj["WallTimeMs"]
    _, metrics, _ = run(parse_logpush, obj)
    assert "cpu_ms" not in metrics[0].data and "wall_ms" not in metrics[0].data


def test_a_logpush_message_that_is_a_plain_string_is_kept_as_is() -> None:
    obj = logpush(Logs=[{"Level": "warn", "Message": "single string", "TimestampMs": 1714910401044}])
    (ev,) = run(parse_logpush, obj)[0]
    assert (ev.message, ev.level) == ("single string", "warn")


def test_a_logpush_message_with_number_and_null_arguments_renders_them_as_json() -> None:
    obj = logpush(Logs=[{"Level": "log", "Message": ["Purged", 0, None, True], "TimestampMs": 1714910401044}])
    (ev,) = run(parse_logpush, obj)[0]
    assert ev.message == "Purged 0 null true"


def test_a_logpush_line_without_any_trace_id_is_an_orphan() -> None:
    obj = logpush(
        Logs=[
            {
                "Level": "log",
                "Message": ["Health check OK", {"redis": "connected"}],
                "TimestampMs": 1714910401044,
            }
        ]
    )
    (ev,) = run(parse_logpush, obj)[0]
    assert (ev.trace_id, ev.trace_source) == (None, "none")


def test_a_logpush_record_ignores_unknown_extra_fields() -> None:
    obj = logpush(Future={"x": 1}, DurableObjectId="abc")
    obj["Logs"][0]["Extra"] = "y"
    events = run(parse_logpush, obj)[0]
    assert len(events) == 2


def test_logpush_null_event_parts_are_treated_as_absent() -> None:
    obj = logpush(Event=None, ScriptName=None, Outcome=None)
    events, metrics, _ = run(parse_logpush, obj)
    assert events[0].request_id is None
    assert events[0].context == {"event_type": "fetch"}
    assert "script" not in metrics[0].data


@pytest.mark.parametrize(
    "over",
    [
        {"EventTimestampMs": None, "Logs": []},
        {"EventTimestampMs": "later", "Logs": [{"Level": "log", "Message": ["x"]}]},
        {"EventTimestampMs": 7, "Logs": [{"Level": "log", "Message": ["x"], "TimestampMs": None}]},
        {"Logs": "not a list"},
        {"Logs": {"Level": "log"}},
        {"Exceptions": "boom"},
    ],
    ids=["ts=None", "ts-text", "ts-1970", "logs-string", "logs-object", "exceptions-string"],
)
def test_a_logpush_record_with_a_wrong_type_raises_a_record_error(over: dict[str, Any]) -> None:
    with pytest.raises(RecordError):
        run(parse_logpush, logpush(**over))


def test_a_logpush_record_without_its_event_time_takes_its_first_lines_time() -> None:
    """A Logpush job exports the fields it names: one without EventTimestampMs still has each line's time."""
    obj = logpush()
    del obj["EventTimestampMs"]
    events, metrics, _ = run(parse_logpush, obj)
    assert [e.ts_ms for e in events] == [1714910401044, 1714910401069]
    assert metrics[0].ts_ms == 1714910401044


def test_a_logpush_line_that_is_not_an_object_is_an_event_of_its_own_text() -> None:
    """Nothing vanishes unseen: a Logs[] or Exceptions[] entry of another shape is kept as its text."""
    obj = logpush(Logs=["just a string", 5, {"Level": "warn", "Message": ["ok"]}], Exceptions=["boom"])
    events, metrics, _ = run(parse_logpush, obj)
    assert [(e.level, e.message) for e in events] == [("log", "just a string"), ("log", "5"), ("warn", "ok"),
                                                      ("error", "Error: boom")]  # fmt: skip
    assert {e.ts_ms for e in events} == {1714910401041}
    assert metrics[0].data["logs"] == 3


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("87ED87F80CF22D84", "87ed87f80cf22d84"),
        ("230b030023ae2822-SJC", "230b030023ae2822"),
        ("", None),
        (None, None),
    ],
)
def test_ray_ids_are_normalised_to_their_lower_case_hex_part(raw: Any, expected: str | None) -> None:
    assert ray_id(raw) == expected


def test_a_logpush_exception_with_a_null_message_is_named_by_its_type_only() -> None:
    obj = logpush(Logs=[], Exceptions=[{"Name": "Error", "Message": None, "TimestampMs": 1714910412240}])
    (ev,) = run(parse_logpush, obj)[0]
    assert ev.message == "Error"


# --------------------------------------------------------------------------- wrangler tail / TraceItem


def test_a_wrangler_tail_object_is_detected_as_cf_tail() -> None:
    fmt = detect(tail())
    assert fmt is not None and fmt.name == "cf-tail"


def test_a_tail_object_becomes_events_with_the_cf_ray_as_request_id() -> None:
    events, metrics, skip = run(parse_tail, tail())
    assert skip is None
    first, second = events
    assert [e.ts_ms for e in events] == [1714910420074, 1714910420076]
    assert (first.system, first.system_label, first.level) == ("worker", "worker", "log")
    assert first.request_id == "87f0a1ce4b5a6d79"
    assert (first.trace_id, first.trace_source) == (TRACE_C, "message")
    assert (second.trace_id, second.trace_source) == (TRACE_C, "request_id")
    assert second.message == "Verifying session token eyJhbGciOi.x.y"
    assert first.context == {
        "script": "log-ingestion-worker",
        "outcome": "ok",
        "url": f"{WORKER}/log",
        "method": "POST",
        "status": 200,
        "ray_id": "87f0a1ce4b5a6d79",
    }
    assert [(m.topic, m.data["logs"]) for m in metrics] == [("worker_invocation", 2)]


def test_a_tail_invocation_counts_its_exceptions_as_a_logpush_one_does() -> None:
    # the same invocation from Logpush had `exceptions: 1` in its metric and from `wrangler tail` no such key
    exc = [{"name": "Error", "message": "upstream orders:checkout returned 500", "timestamp": 1714910420080}]
    _, metrics, _ = run(parse_tail, tail(outcome="exception", exceptions=exc))
    (m,) = metrics
    assert (m.data["outcome"], m.data["logs"], m.data["exceptions"]) == ("exception", 2, 1)
    _, metrics, _ = run(parse_tail, tail())
    assert metrics[0].data["exceptions"] == 0


def test_a_tail_request_with_a_traceparent_header_gives_its_lines_a_header_trace() -> None:
    obj = tail(logs=[{"message": ["no id here"], "level": "info", "timestamp": 1714910420074}])
    obj["event"]["request"]["headers"]["traceparent"] = (
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    )
    (ev,) = run(parse_tail, obj)[0]
    assert (ev.trace_id, ev.trace_source) == ("4bf92f3577b34da6a3ce929d0e0e4736", "header")


TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_the_apps_trace_header_wins_over_a_traceparent_beside_it() -> None:
    """A browser tracing SDK adds `traceparent` to the fetch that also sends the app's `x-trace-id`: the
    Worker's lines took the SDK's id, which no browser or Convex line carries, and left the trace."""
    obj = tail(logs=[{"message": ["handling /log"], "level": "log", "timestamp": 1714910420074}])
    obj["event"]["request"]["headers"].update({"traceparent": TRACEPARENT, "x-trace-id": TRACE_C})
    (ev,) = run(parse_tail, obj)[0]
    assert (ev.trace_id, ev.trace_source) == (TRACE_C, "header")


def test_a_trace_id_a_worker_line_names_wins_over_the_requests_traceparent() -> None:
    """The line says which app trace it serves; the SDK's traceparent took it and its sibling elsewhere."""
    obj = tail(
        logs=[
            {"message": ["trace_id:", TRACE_C], "level": "log", "timestamp": 1714910420074},
            {"message": ["stored"], "level": "log", "timestamp": 1714910420075},
        ]
    )
    obj["event"]["request"]["headers"]["traceparent"] = TRACEPARENT
    first, second = run(parse_tail, obj)[0]
    assert [(first.trace_id, first.trace_source), (second.trace_id, second.trace_source)] == [
        (TRACE_C, "message"),
        (TRACE_C, "request_id"),
    ]


def test_a_tail_exception_keeps_its_stack() -> None:
    obj = tail(
        logs=[],
        outcome="exception",
        exceptions=[
            {
                "name": "Error",
                "message": "Threw a sample exception",
                "timestamp": 1714910420080,
                "stack": "at x",
            }
        ],
    )
    (ev,) = run(parse_tail, obj)[0]
    assert (ev.level, ev.message, ev.stack) == ("error", "Error: Threw a sample exception", "at x")


def test_a_tail_worker_trace_item_with_null_event_time_uses_its_first_log_line() -> None:
    obj = tail(eventTimestamp=None, event=None, scriptName=None, cpuTime=3, wallTime=12)
    events, metrics, _ = run(parse_tail, obj)
    assert metrics[0].ts_ms == 1714910420074
    assert events[0].request_id is None
    assert events[0].context == {"outcome": "ok"}
    assert (metrics[0].data["cpu_ms"], metrics[0].data["wall_ms"]) == (3, 12)
    assert "script" not in metrics[0].data


def test_a_tail_cron_invocation_keeps_its_cron_in_context() -> None:
    obj = tail(
        event={"cron": "*/5 * * * *", "scheduledTime": 1714910430000},
        eventTimestamp=1714910430000,
        logs=[
            {
                "message": ["Purged", 0, "expired rate-limit windows"],
                "level": "log",
                "timestamp": 1714910430001,
            }
        ],
    )
    (ev,) = run(parse_tail, obj)[0]
    assert ev.message == "Purged 0 expired rate-limit windows"
    assert ev.context is not None and ev.context["cron"] == "*/5 * * * *"
    assert (ev.trace_id, ev.request_id) == (None, None)


def test_a_tail_object_ignores_unknown_extra_fields() -> None:
    obj = tail(truncated=False, executionModel="stateless", tailAttributes={"a": 1})
    assert len(run(parse_tail, obj)[0]) == 2


@pytest.mark.parametrize(
    "over",
    [
        {"eventTimestamp": None, "logs": []},
        {"eventTimestamp": "soon", "logs": [{"message": ["x"], "level": "log", "timestamp": None}]},
        {"logs": "not a list"},
        {"exceptions": {"name": "x"}},
    ],
    ids=["no-time-anywhere", "no-usable-time", "logs-string", "exceptions-object"],
)
def test_a_tail_object_with_a_wrong_type_raises_a_record_error(over: dict[str, Any]) -> None:
    with pytest.raises(RecordError):
        run(parse_tail, tail(**over))


def test_a_tail_object_with_null_event_time_and_non_list_logs_raises_a_record_error() -> None:
    with pytest.raises(RecordError):
        run(parse_tail, tail(eventTimestamp=None, logs=5))


# --------------------------------------------------------------------------- Workers Logs query API


def test_a_workers_logs_event_is_detected_as_cf_workers_logs() -> None:
    fmt = detect(wl_console())
    assert fmt is not None and fmt.name == "cf-workers-logs"


def test_a_workers_logs_console_event_takes_its_trace_id_from_the_logged_object() -> None:
    events, metrics, skip = run(parse_workers_logs, wl_console())
    assert skip is None and metrics == []
    (ev,) = events
    assert ev.ts_ms == 1714910430590
    assert (ev.system, ev.system_label, ev.level) == ("worker", "worker", "error")
    assert ev.message == "Critical trace: auth failure reported"
    assert (ev.trace_id, ev.trace_source) == (TRACE_D, "field")
    assert ev.request_id == "8a1f2b3c4d5e6f70"
    assert ev.context is not None and ev.context["source"]["trace_id"] == TRACE_D


def test_a_workers_logs_invocation_log_is_an_event_and_a_worker_invocation_metric() -> None:
    events, metrics, _ = run(parse_workers_logs, wl_invocation())
    (ev,) = events
    assert ev.message == f"POST {WORKER}/log"
    assert ev.level == "info"
    (m,) = metrics
    assert (m.ts_ms, m.topic) == (1714910430580, "worker_invocation")
    assert m.data == {"script": "log-ingestion-worker", "outcome": "ok", "cpu_ms": 2, "wall_ms": 37}


def test_a_workers_logs_string_source_is_the_message_when_metadata_has_none() -> None:
    obj = wl_console(source=f"plain text log trace_id: {TRACE_D}")
    del obj["$metadata"]["message"]
    (ev,) = run(parse_workers_logs, obj)[0]
    assert ev.message == f"plain text log trace_id: {TRACE_D}"
    assert (ev.trace_id, ev.trace_source) == (TRACE_D, "message")


def test_a_workers_logs_event_without_a_level_but_with_an_error_is_an_error() -> None:
    obj = wl_console(source={"message": "x"})
    del obj["$metadata"]["level"]
    obj["$metadata"]["error"] = "RuleRefused"
    (ev,) = run(parse_workers_logs, obj)[0]
    assert ev.level == "error"


def test_a_workers_logs_secret_in_the_logged_object_is_kept_for_the_redactor_in_context() -> None:
    obj = wl_console(
        source={"message": "Log received", "trace_id": TRACE_D, "context": {"form": {"password": "pw"}}}
    )
    (ev,) = run(parse_workers_logs, obj)[0]
    assert ev.context is not None and ev.context["source"]["context"]["form"] == {"password": "pw"}


@pytest.mark.parametrize(
    "over", [{"timestamp": None}, {"timestamp": "x"}, {"timestamp": 3}], ids=["null", "text", "1970"]
)
def test_a_workers_logs_event_without_a_usable_timestamp_raises_a_record_error(over: dict[str, Any]) -> None:
    with pytest.raises(RecordError):
        run(parse_workers_logs, wl_console(**over))


def test_a_workers_logs_event_without_a_timestamp_takes_its_exceptions_own_time_and_stack() -> None:
    # the dashboard's copy of one event leaves `timestamp` out; an uncaught exception's record keeps its own
    obj = wl_console()
    del obj["timestamp"]
    obj["exception"] = {
        "name": "Error",
        "message": "boom",
        "stack": "    at worker.js:8316:50",
        "timestamp": 1771820274196,
    }
    (ev,) = run(parse_workers_logs, obj)[0]
    assert (ev.ts_ms, ev.stack) == (1771820274196, "    at worker.js:8316:50")


def test_a_workers_logs_event_without_any_time_is_refused_as_a_dashboard_copy() -> None:
    obj = wl_console()
    del obj["timestamp"]
    with pytest.raises(RecordError, match="copied from the dashboard's log view"):
        run(parse_workers_logs, obj)


def test_a_workers_logs_event_gets_the_apps_own_error_field_appended_to_its_message() -> None:
    # a real event's source (spoke-api): the reason was in no column `search` or `trace` shows
    message = "[Auth] JWT verification failed:"
    obj = wl_console(
        source={"level": "error", "message": message, "error": "request timed out", "name": "JWKSTimeout"}
    )
    obj["$metadata"].update(message=message, error=message)
    (ev,) = run(parse_workers_logs, obj)[0]
    assert (ev.level, ev.message) == (
        "error",
        "[Auth] JWT verification failed: JWKSTimeout: request timed out",
    )


def test_workers_logs_null_parts_are_treated_as_absent() -> None:
    obj = wl_console(source=None)
    obj["$workers"] = None
    (ev,) = run(parse_workers_logs, obj)[0]
    assert ev.message == "Critical trace: auth failure reported"
    assert ev.request_id == "8a1f2b3c4d5e6f70"


# --------------------------------------------------------------------------- end to end on the fixtures


def _open(tmp_path: Path, *names: str) -> tuple[Any, duckdb.DuckDBPyConnection]:
    db = tmp_path / "cf.duckdb"
    result = ingest([str(FIXTURES / n) for n in names], str(db))
    return result, duckdb.connect(str(db), read_only=True)


def test_a_gzip_logpush_export_ingests_one_event_per_log_line_and_one_metric_per_invocation(
    tmp_path: Path,
) -> None:
    result, con = _open(tmp_path, "worker/logpush-workers_trace_events.log.gz")
    with con:
        (f,) = result.files
        assert (f.records, f.events, f.metrics, f.rejected) == (6, 8, 6, 0)
        assert f.stats.mode == "ndjson"
        assert f.balanced
        rows = con.execute(
            "SELECT trace_id, trace_source, count(*) FROM log_queue GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        assert rows == [
            ("critical_auth_1714910430512_x7y8z9", "field", 1),
            (TRACE_A, "field", 1),
            (TRACE_A, "request_id", 1),
            (TRACE_B, "field", 1),
            (TRACE_B, "message", 1),
            (TRACE_B, "request_id", 2),
            (None, "none", 1),
        ]
        cpu = con.execute(
            "SELECT sum(CAST(data->>'cpu_ms' AS INTEGER)) FROM metrics WHERE topic = 'worker_invocation'"
        ).fetchone()
        assert cpu == (9,)


def test_wrangler_tail_banner_lines_are_skipped_not_rejected(tmp_path: Path) -> None:
    result, con = _open(tmp_path, "worker/wrangler-tail.json")
    with con:
        (f,) = result.files
        assert f.rejected == 0 and f.balanced
        assert (f.records, f.events, f.skipped_lines) == (3, 4, 4)
        assert f.skip_reasons["non-JSON banner line"] == 4
        assert con.execute("SELECT count(*) FROM log_queue WHERE message LIKE '%eyJhbGciOi%'").fetchone() == (
            0,
        )
        assert con.execute(
            "SELECT count(*) FROM log_queue WHERE message LIKE '%[REDACTED:jwt]%'"
        ).fetchone() == (1,)


def test_wrangler_tails_pretty_output_is_rejected_as_such_not_skipped_as_banners(tmp_path: Path) -> None:
    """`wrangler tail > tail.log` without `--format json`: its invocation and console lines were skipped as
    "non-JSON banner line", so the capture stored nothing and said nothing of what it held."""
    log = tmp_path / "tail.log"
    log.write_text(
        " ⛅️ wrangler 3.99.0\n-------------------\n"
        "Connected to log-ingestion-worker, waiting for logs...\n"
        "POST https://log-ingestion.example.workers.dev/log - Ok @ 1/4/2026, 1:17:46 PM\n"
        '  (log) Log received {"trace_id":"trace_1767532666120_k3j9x2m1p"}\n'
        "  (error) Redis write failed\n"
        "GET https://log-ingestion.example.workers.dev/health - Exception Thrown @ 1/4/2026, 1:17:50 PM\n"
    )
    result = ingest([str(log)], str(tmp_path / "db.duckdb"))
    (f,) = result.files
    assert (f.skipped_lines, f.rejected_lines) == (3, 4)
    assert set(f.reject_reasons) == {"wrangler tail's pretty output, not JSON"}
    with duckdb.connect(str(tmp_path / "db.duckdb"), read_only=True) as con:
        assert con.execute("SELECT DISTINCT reason FROM rejects").fetchall() == [
            ("wrangler tail's pretty output, not JSON (capture it with `wrangler tail --format json`)",)
        ]


def test_the_workers_logs_fixture_ingests_with_its_password_redacted(tmp_path: Path) -> None:
    result, con = _open(tmp_path, "worker/workers-logs-query.json")
    with con:
        (f,) = result.files
        assert (f.records, f.events, f.metrics, f.rejected) == (3, 3, 1, 0)
        assert f.balanced
        contexts = " ".join(r[0] for r in con.execute("SELECT context::VARCHAR FROM log_queue").fetchall())
        assert "correct-horse-battery" not in contexts
        assert "[REDACTED:password]" in contexts


def test_events_copied_from_the_workers_logs_dashboard_keep_the_exception_and_name_the_invocation_log(
    tmp_path: Path,
) -> None:
    # a real copy (tests/data/realworld): the view's JSON of an uncaught exception and of its invocation log,
    # back to back, neither with a `timestamp`; every one was refused as a "missing timestamp", and the summary
    # added that nothing in the file was an export logcorr reads
    db = tmp_path / "cf.duckdb"
    result = ingest([str(REALWORLD / "workers-logs-dashboard-copy.json")], str(db))
    (f,) = result.files
    assert (f.records, f.events, f.rejected, f.rejected_known) == (2, 1, 1, 1)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT epoch_ms(ts), level, message, request_id, stack FROM log_queue").fetchall() == [
            (1771820274196, "error", 'No such module "server-functions/cat-finance/index.mjs".',
             "9d23ea899b1ffde8", "    at worker.js:8316:50"),
        ]  # fmt: skip
        ((line, reason),) = con.execute("SELECT source_line, reason FROM rejects").fetchall()
        assert line == 42 and reason.startswith("no 'timestamp', as in an event copied from the dashboard")


def test_a_workers_logs_invocation_log_joins_the_app_trace_of_its_console_lines(tmp_path: Path) -> None:
    _, con = _open(tmp_path, "worker/workers-logs-query.json")
    with con:
        traces = con.execute(
            "SELECT DISTINCT trace_id FROM log_queue WHERE request_id = '8a1f2b3c4d5e6f70'"
        ).fetchall()
        assert traces == [(TRACE_D,)]


def test_a_workers_logs_invocation_log_takes_its_trace_id_from_the_request_headers() -> None:
    obj = wl_invocation()
    obj["$workers"]["event"]["request"]["headers"] = {
        "X-Trace-Id": TRACE_D,
        "content-type": "application/json",
    }
    obj["$metadata"]["traceId"] = "cf0123456789abcdef0123456789abcd"
    (ev,) = run(parse_workers_logs, obj)[0]
    assert (ev.trace_id, ev.trace_source) == (TRACE_D, "header")
    assert ev.context is not None and ev.context["cf_trace_id"] == "cf0123456789abcdef0123456789abcd"


def test_cloudflares_own_trace_id_is_kept_in_context_not_taken_as_the_trace_id() -> None:
    obj = wl_invocation()
    obj["$metadata"]["traceId"] = "cf0123456789abcdef0123456789abcd"
    (ev,) = run(parse_workers_logs, obj)[0]
    assert (ev.trace_id, ev.trace_source) == (None, "none")


def test_a_workers_logs_invocation_log_with_an_empty_source_and_no_message_says_its_trigger() -> None:
    obj = wl_invocation()
    del obj["$metadata"]["message"]
    (ev,) = run(parse_workers_logs, obj)[0]
    assert ev.message == "POST /log"


def test_a_tail_overload_notice_is_skipped_with_a_reason_that_says_invocations_are_missing() -> None:
    """wrangler's TailInfo `{message, type: "overload"}` is not an invocation: the tail was sampling."""
    obj = tail(
        logs=[], exceptions=[], event={"message": "Tail is currently in sampling mode…", "type": "overload"}
    )
    events, metrics, skip = run(parse_tail, obj)
    assert (events, metrics) == ([], [])
    assert skip is not None and "some invocations are not in this export" in skip


def test_a_logpush_record_keeps_its_dispatch_namespace_and_entrypoint() -> None:
    """Workers for Platforms: the tenant's namespace and the script's entrypoint tell invocations apart."""
    obj = logpush(DispatchNamespace="customer-ns", Entrypoint="MyDurableObject")
    events, metrics, _ = run(parse_logpush, obj)
    assert events[0].context is not None
    assert (events[0].context["dispatch_namespace"], events[0].context["entrypoint"]) == (
        "customer-ns",
        "MyDurableObject",
    )
    assert (metrics[0].data["dispatch_namespace"], metrics[0].data["entrypoint"]) == (
        "customer-ns",
        "MyDurableObject",
    )
    plain, _, _ = run(parse_logpush, logpush())  # empty strings: not kept
    assert plain[0].context is not None and "dispatch_namespace" not in plain[0].context


def test_a_whole_workers_logs_query_response_is_read_event_by_event() -> None:
    """What `curl` saves from the query API: `{success, errors, messages, result: {events: {events: […]}}}`."""
    response = {"success": True, "errors": [], "messages": [],
                "result": {"events": {"events": [wl_console(), wl_invocation()], "count": 2}}}  # fmt: skip
    fmt = detect(response)
    assert fmt is not None and fmt.name == "cf-workers-logs"
    events, metrics, skip = run(parse_workers_logs, response)
    assert skip is None and len(events) == 2 and len(metrics) == 1
    assert [e.message for e in events] == [e.message for o in (wl_console(), wl_invocation())
                                           for e in run(parse_workers_logs, o)[0]]  # fmt: skip
    empty = {"success": True, "result": {"events": {"events": []}}}
    assert run(parse_workers_logs, empty) == ([], [], "no events in the query response")
    with pytest.raises(RecordError, match=r"result.events.events\[0\]"):
        run(parse_workers_logs, {"success": True, "result": {"events": {"events": [5]}}})


# --------------------------------------------------------------------------- Workers Logs `$metadata.error`

TYPE_ERROR = "TypeError: Cannot read properties of undefined (reading 'id')"


def wl_exception_invocation() -> dict[str, Any]:
    """An invocation log of a request whose handler threw: `outcome: exception`, a 500, the error in
    `$metadata.error` and no `$metadata.message` (reference cloudflare §3: `$metadata: {…, level?, message?,
    error?, …}`)."""
    obj = wl_invocation()
    obj["$workers"]["outcome"] = "exception"
    obj["$workers"]["event"]["response"] = {"status": 500}
    meta = obj["$metadata"]
    del meta["message"], meta["level"]
    meta.update({"trigger": "POST /log", "error": TYPE_ERROR, "statusCode": 500})
    return obj


def test_a_workers_logs_event_without_a_message_takes_its_error_as_its_message() -> None:
    events, metrics, skip = run(parse_workers_logs, wl_exception_invocation())
    (ev,) = events
    assert skip is None and ev.message == TYPE_ERROR and ev.level == "error"
    assert ev.context is not None
    assert (ev.context["trigger"], ev.context["status"], ev.context["outcome"]) == (
        "POST /log",
        500,
        "exception",
    )
    assert metrics[0].data["outcome"] == "exception"


def test_a_workers_logs_event_with_a_message_and_an_error_keeps_both_in_its_message() -> None:
    obj = wl_console(source={"msg": "charge failed", "orderId": "o_81"})
    obj["$metadata"].update({"message": "charge failed", "error": "PaymentError: card declined"})
    (ev,) = run(parse_workers_logs, obj)[0]
    assert ev.message == "charge failed: PaymentError: card declined" and ev.level == "error"
    assert ev.stack is None


def test_a_workers_logs_error_already_in_the_message_is_not_repeated() -> None:
    obj = wl_console(source={})
    obj["$metadata"].update({"message": f"handler threw {TYPE_ERROR}", "error": TYPE_ERROR})
    (ev,) = run(parse_workers_logs, obj)[0]
    assert ev.message == f"handler threw {TYPE_ERROR}"


def test_a_workers_logs_error_with_a_stack_gives_its_first_line_to_the_message_and_all_of_it_to_stack() -> (
    None
):
    stack = f"{TYPE_ERROR}\n    at handleLog (index.js:41:18)\n    at Object.fetch (index.js:12:10)"
    obj = wl_exception_invocation()
    obj["$metadata"]["error"] = stack
    (ev,) = run(parse_workers_logs, obj)[0]
    assert (ev.message, ev.stack) == (TYPE_ERROR, stack)
    obj["$metadata"]["error"] = {
        "name": "TypeError",
        "message": "x is undefined",
        "stack": "TypeError: x…\n at f",
    }
    (ev,) = run(parse_workers_logs, obj)[0]
    assert (ev.message, ev.stack) == ("TypeError: x is undefined", "TypeError: x…\n at f")


def test_a_workers_logs_error_keeps_the_level_the_event_gives() -> None:
    obj = wl_exception_invocation()
    obj["$metadata"]["level"] = "warn"
    (ev,) = run(parse_workers_logs, obj)[0]
    assert (ev.level, ev.message) == ("warn", TYPE_ERROR)
    obj["$metadata"]["error"] = ""  # an empty error is no error
    (ev,) = run(parse_workers_logs, obj)[0]
    assert ev.message == "POST /log"


def test_search_finds_the_text_of_a_workers_logs_metadata_error(tmp_path: Path, cli: Any) -> None:
    """The audit's input (w12), one event a line and as a saved query response: the error's text is found."""
    charge = wl_console(source={"msg": "charge failed"}, timestamp=1714910430600)
    charge["$metadata"].update({"message": "charge failed", "error": "PaymentError: card declined"})
    lines = tmp_path / "events.json"
    lines.write_text("\n".join(json.dumps(o) for o in (wl_exception_invocation(), charge)) + "\n")
    response = tmp_path / "response.json"
    response.write_text(json.dumps({"success": True, "errors": [], "messages": [],
                                    "result": {"events": {"events": [wl_exception_invocation(), charge]}}}))  # fmt: skip
    for path in (lines, response):
        db = str(tmp_path / f"{path.stem}.duckdb")
        ingest([str(path)], db)
        r = cli("search", "Cannot read", "--db", db, "--format", "json")
        assert r.exit_code == 0, r.stderr
        (hit,) = r.json()
        assert (hit["message"], hit["level"]) == (TYPE_ERROR, "error")
        r = cli("search", "card declined", "--db", db, "--format", "json")
        (hit,) = r.json()
        assert hit["message"] == "charge failed: PaymentError: card declined"


def test_a_secret_in_a_workers_logs_error_is_redacted_in_the_message_and_the_stack(tmp_path: Path) -> None:
    obj = wl_exception_invocation()
    obj["$metadata"]["error"] = (
        "AuthError: login failed password=correct-horse-battery\n    at login (index.js:9:3)"
    )
    path = tmp_path / "events.json"
    path.write_text(json.dumps(obj) + "\n")
    db = str(tmp_path / "w.duckdb")
    ingest([str(path)], db)
    with duckdb.connect(db, read_only=True) as con:
        ((message, stack),) = con.execute("SELECT message, stack FROM log_queue").fetchall()
    assert "correct-horse-battery" not in message + stack
    assert message.startswith("AuthError: login failed") and "[REDACTED:password]" in message + stack
    assert "at login (index.js:9:3)" in stack


def test_a_workers_logs_export_ingested_the_day_after_gives_the_stored_lines_of_its_requests_their_trace(
    tmp_path: Path,
) -> None:
    """Two Workers Logs query exports cut inside one invocation: the invocation's own line came in the first
    (no trace id), its console line naming the trace in the second, ingested a day later. The first line joins
    the trace, as one ingest of both gives it."""
    db = str(tmp_path / "db.duckdb")
    for name, event in (("monday.json", wl_invocation()), ("tuesday.json", wl_console())):
        path = tmp_path / name
        path.write_text(json.dumps(event) + "\n")
        ingest([str(path)], db)
    with duckdb.connect(db, read_only=True) as con:
        rows = con.execute("SELECT source_file, trace_id, trace_source FROM log_queue ORDER BY ts").fetchall()
    assert [(Path(f).name, t, s) for f, t, s in rows] == [
        ("monday.json", TRACE_D, "request_id"),
        ("tuesday.json", TRACE_D, "field"),
    ]


# --------------------------------------------------------------------------- one invocation in two exports
# A Worker's `console.log` reaches Logpush and `wrangler tail` alike: workerd records each call once, with its
# time (`ioContext.now()`, whole ms) and its arguments as one JSON array, and both exports are written from
# that record (cloudflare/workerd: src/workerd/io/worker.c++ `handleLog`, src/workerd/api/trace.c++). Only the
# tail has the request's headers, and so the trace its `x-trace-id` names.

RAY = "87f0a1b3d9e8f701"
LINES = [
    ("log", ["Log received"], 1714910401044),
    ("log", ["polling"], 1714910401050),  # the same line twice in one millisecond: two events, not a copy
    ("log", ["polling"], 1714910401050),
    ("warn", ["slow redis", 42, None], 1714910401069),
]


def _same_invocation(
    tmp_path: Path, lines: list[tuple[str, list[Any], int]] = LINES, exception: bool = True
) -> tuple[Path, Path]:
    """The Logpush record and the `wrangler tail` object of one invocation: the tail's `cf-ray` with its colo,
    its `x-trace-id` header naming a trace no line names."""
    push = logpush(
        Event={
            "RayID": RAY,
            "Request": {"URL": f"{WORKER}/log", "Method": "POST"},
            "Response": {"Status": 200},
        },
        Logs=[{"Level": lv, "Message": m, "TimestampMs": t} for lv, m, t in lines],
        Exceptions=[{"Name": "Error", "Message": "boom", "TimestampMs": 1714910401070}] if exception else [],
    )
    capture = tail(
        logs=[{"message": m, "level": lv, "timestamp": t} for lv, m, t in lines],
        exceptions=[{"name": "Error", "message": "boom", "timestamp": 1714910401070}] if exception else [],
        eventTimestamp=push["EventTimestampMs"],  # one Trace's eventTimestamp in both
        event={
            "request": {
                "url": f"{WORKER}/log",
                "method": "POST",
                "headers": {"cf-ray": f"{RAY}-LHR", "x-trace-id": TRACE_A},
            },
            "response": {"status": 200},
        },
    )
    lp = tmp_path / "logpush.jsonl"
    lp.write_text(json.dumps(push) + "\n")
    tl = tmp_path / "tail.json"
    tl.write_text(
        "Connected to log-ingestion-worker, waiting for logs...\n" + json.dumps(capture, indent=2) + "\n"
    )
    return lp, tl


# the orders and ingests two exports of one invocation may come in (`_ingest_both`)
_EITHER_ORDER = pytest.mark.parametrize(
    "tail_first", [False, True], ids=["logpush-then-tail", "tail-then-logpush"]
)
_ONE_OR_TWO_INGESTS = pytest.mark.parametrize("apart", [False, True], ids=["one-ingest", "two-ingests"])


def _ingest_both(tmp_path: Path, tail_first: bool, apart: bool) -> tuple[Path, IngestResult]:
    """`_same_invocation`'s two files into a new database, the tail's first or the Logpush export's, in one
    ingest or two; returns the database and the (last) ingest's result."""
    lp, tl = _same_invocation(tmp_path)
    first, second = (tl, lp) if tail_first else (lp, tl)
    db = tmp_path / "cf.duckdb"
    if apart:
        ingest([str(first)], str(db))
        return db, ingest([str(second)], str(db))
    return db, ingest([str(first), str(second)], str(db))


@_EITHER_ORDER
@_ONE_OR_TWO_INGESTS
def test_a_line_in_a_logpush_export_and_a_tail_capture_is_stored_once(
    tmp_path: Path, tail_first: bool, apart: bool
) -> None:
    db, _ = _ingest_both(tmp_path, tail_first, apart)
    with duckdb.connect(str(db), read_only=True) as con:
        stored = con.execute(
            "SELECT source_format, message, trace_id, request_id FROM log_queue ORDER BY ts, event_id"
        ).fetchall()
        kept = "cf-tail" if tail_first else "cf-logpush"
        assert stored == [
            (kept, "Log received", TRACE_A, RAY),
            (kept, "polling", TRACE_A, RAY),
            (kept, "polling", TRACE_A, RAY),
            (kept, "slow redis 42 null", TRACE_A, RAY),
            (kept, "Error: boom", TRACE_A, RAY),
        ]
        dropped = con.execute("SELECT source_format, rule, count(*) FROM drop_ledger GROUP BY ALL").fetchall()
        assert dropped == [("cf-logpush" if tail_first else "cf-tail", "duplicate", 5)]


def test_two_invocations_without_a_ray_id_keep_the_trace_in_their_key(tmp_path: Path) -> None:
    """A cron's lines carry no Ray ID: two runs in one millisecond whose lines of the same text belong to other
    traces (their siblings name them) stay two events."""
    ts = 1714910460000

    def cron(trace: str) -> dict[str, Any]:
        return tail(
            event={"cron": "*/1 * * * *", "scheduledTime": ts},
            logs=[
                {"message": ["sweep started"], "level": "log", "timestamp": ts},
                {"message": [f"sweeping trace_id: {trace}"], "level": "log", "timestamp": ts},
            ],
        )

    path = tmp_path / "crons.json"
    path.write_text(json.dumps(cron(TRACE_A), indent=2) + "\n" + json.dumps(cron(TRACE_B), indent=2) + "\n")
    db = tmp_path / "cf.duckdb"
    ingest([str(path)], str(db))
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT trace_id, request_id FROM log_queue WHERE message = 'sweep started' ORDER BY trace_id"
        ).fetchall()
        assert rows == [(TRACE_A, None), (TRACE_B, None)]
        assert con.execute("SELECT count(*) FROM drop_ledger").fetchone() == (0,)


def test_a_database_written_before_keeps_its_tail_lines_from_being_stored_again_from_logpush(
    tmp_path: Path,
) -> None:
    """Schema v6 rewrites the keys an earlier logcorr gave Logpush and tail lines of a request (with the trace
    id in them): the Logpush copy of a tail capture ingested then is recognised."""
    lp, tl = _same_invocation(tmp_path)
    db = tmp_path / "cf.duckdb"
    ingest([str(tl)], str(db))
    with duckdb.connect(str(db)) as con:
        # the keys as logcorr before v6 computed them: the trace id in them; the lines' positions in their
        # record follow their times here
        con.execute(MACROS_SQL)
        for table in ("log_queue", "recent_log_entries"):
            con.execute(
                f"""UPDATE {table} SET event_key = o.k FROM (
                        SELECT event_id, lc_event_key(epoch_ms(ts), system, level, message, trace_id, request_id,
                                                      row_number() OVER (ORDER BY ts, event_id) - 1) AS k
                        FROM log_queue) o
                    WHERE {table}.event_id = o.event_id"""
            )
    schema_back_to(db, 5)
    result = ingest([str(lp)], str(db))
    assert (result.stored, result.dropped) == (0, 5)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT DISTINCT rule FROM drop_ledger").fetchall() == [("duplicate",)]
        assert con.execute("SELECT max(version) FROM schema_migrations").fetchone() == (LATEST,)


def _keys_before_v6(db: Path) -> None:
    """The keys logcorr before v6 gave the stored Cloudflare lines: the trace id in them, each line's position in
    its record being its rank there by event id (as the old code's ingest of a tail capture stored them)."""
    with duckdb.connect(str(db)) as con:
        con.execute(MACROS_SQL)
        for table in ("log_queue", "recent_log_entries", "drop_events"):
            con.execute(
                f"""UPDATE {table} SET event_key = o.k FROM (
                        SELECT event_id, lc_event_key(epoch_ms(ts), system, level, message, trace_id, request_id,
                            row_number() OVER (PARTITION BY run_id, source_file, source_line ORDER BY event_id) - 1) AS k
                        FROM (SELECT event_id, ts, system, level, message, trace_id, request_id, run_id, source_file,
                                     source_line FROM log_queue
                              UNION ALL SELECT event_id, ts, system, level, message, trace_id, request_id, run_id,
                                     source_file, source_line FROM drop_events)) o
                    WHERE {table}.event_id = o.event_id"""
            )
    schema_back_to(db, 5)


def test_v6_rewrites_the_keys_of_an_invocation_of_more_than_1000_lines(tmp_path: Path) -> None:
    """A tail capture of a request that logged 1,001 lines (a loop's `console.log`), ingested before v6: its Logpush
    copy is recognised after the upgrade. The migration tried every position of a record for each of its rows,
    and so left a record of more than 1,000 events with its old keys: the Logpush lines were taken for new ones
    (the rate limit dropped them here, as it dropped the tail's)."""
    lines: list[tuple[str, list[Any], int]] = [
        ("log", [f"item {i}"], 1714910401044 + i // 10) for i in range(1001)
    ]
    lp, tl = _same_invocation(tmp_path, lines, exception=False)
    db = tmp_path / "cf.duckdb"
    first = ingest([str(tl)], str(db))
    assert first.stored + first.dropped == 1001
    _keys_before_v6(db)
    result = ingest([str(lp)], str(db))
    assert (result.stored, result.dropped) == (0, 1001)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute(
            "SELECT rule, count(*) FROM drop_ledger WHERE run_id = 2 GROUP BY ALL"
        ).fetchall() == [("duplicate", 1001)]


def test_an_id_logpush_cut_short_is_no_id_and_the_line_takes_its_invocations(tmp_path: Path) -> None:
    """Logpush cuts an invocation's messages at 16,384 characters and marks the cut (`<<<Logpush: messages
    truncated>>>`): `trace_id: trace_17149` before the mark was a trace of its own. The text before the mark
    names none; the line takes the id its invocation's other line names."""
    cut = "x" * 300 + " trace_id: trace_17149<<<Logpush: messages truncated>>>"
    obj = logpush(
        Logs=[
            {"Level": "log", "Message": ["stored", {"trace_id": TRACE_A}], "TimestampMs": 1714910401044},
            {"Level": "log", "Message": [cut], "TimestampMs": 1714910401045},
        ]
    )
    events = run(parse_logpush, obj)[0]
    assert [(e.trace_id, e.trace_source) for e in events] == [(TRACE_A, "field"), (TRACE_A, "request_id")]
    alone = run(parse_logpush, logpush(Logs=[obj["Logs"][1]]))[0]
    assert [e.trace_id for e in alone] == [None]
    # an id before the cut, not at it, is whole
    whole = f"trace_id: {TRACE_A} " + "x" * 300 + "<<<Logpush: messages truncated>>>"
    assert run(parse_logpush, logpush(Logs=[{"Level": "log", "Message": [whole]}]))[0][0].trace_id == TRACE_A
    path = tmp_path / "logpush.jsonl"  # through the compiled parser, as an ingest reads it
    path.write_text(json.dumps(logpush(Logs=[obj["Logs"][1]])) + "\n")
    db = str(tmp_path / "db.duckdb")
    ingest([str(path)], db)
    with duckdb.connect(db, read_only=True) as con:
        assert con.execute("SELECT trace_id, trace_source FROM log_queue").fetchall() == [(None, "none")]


# --------------------------------------------------------------------------- one invocation's metric in two exports
# Logpush and the tail are written from one workerd Trace: its eventTimestamp (whole ms), scriptName, outcome and
# the request's Ray ID are in both; only Logpush has CPUTimeMs and WallTimeMs (and EventType), the tail has neither


def _invocations(con: Any) -> list[tuple[Any, ...]]:
    return con.execute(
        "SELECT source_format, epoch_ms(ts), data FROM metrics WHERE topic = 'worker_invocation' "
        "ORDER BY ts, source_format, source_line"
    ).fetchall()


@_EITHER_ORDER
@_ONE_OR_TWO_INGESTS
def test_an_invocation_in_a_logpush_export_and_a_tail_capture_is_one_metric_with_its_cpu_time(
    tmp_path: Path, tail_first: bool, apart: bool
) -> None:
    db, result = _ingest_both(tmp_path, tail_first, apart)
    assert result.metrics_repeated == 1  # the second copy: counted to its file, not stored
    assert [f.metrics_repeated for f in result.files] == ([1] if apart else [0, 1])
    with duckdb.connect(str(db), read_only=True) as con:
        [(fmt, ts, data)] = _invocations(con)
    # the first copy's row is kept; a tail copy kept first takes the Logpush copy's CPU and wall time
    assert (fmt, ts) == ("cf-tail" if tail_first else "cf-logpush", 1714910401041)
    assert json.loads(data) == {
        "script": "log-ingestion-worker",
        "outcome": "ok",
        "event_type": "fetch",
        "cpu_ms": 2,
        "wall_ms": 31,
        "ray_id": RAY,
        "logs": 4,
        "exceptions": 1,
    }


def test_a_logpush_copy_delivered_again_adds_nothing_more_to_the_kept_tail_invocation(tmp_path: Path) -> None:
    """Two overlapping Logpush exports of an invocation a tail capture gave first: one metric, completed once."""
    lp, tl = _same_invocation(tmp_path)
    again = tmp_path / "logpush-again.jsonl"
    # (other bytes: a file with the bytes of one already ingested is passed over whole)
    again.write_text(json.dumps(json.loads(lp.read_text()), separators=(",", ":")) + "\n")
    db = tmp_path / "cf.duckdb"
    ingest([str(tl), str(lp)], str(db))
    result = ingest([str(again)], str(db))
    assert result.metrics_repeated == 1
    with duckdb.connect(str(db), read_only=True) as con:
        [(fmt, _, data)] = _invocations(con)
    assert fmt == "cf-tail"
    assert (json.loads(data)["cpu_ms"], json.loads(data)["wall_ms"]) == (2, 31)


@pytest.mark.parametrize("tail_first", [False, True], ids=["logpush-kept", "tail-kept"])
def test_the_kept_copy_delivered_again_after_its_completion_is_not_stored_again(
    tmp_path: Path, tail_first: bool
) -> None:
    """A tail copy kept first gains Logpush's CPU time; the tail's record delivered again (an overlapping capture)
    is still that invocation, though its data is no longer the kept row's: 2 rows for 1 invocation before."""
    lp, tl = _same_invocation(tmp_path)
    first, second = (tl, lp) if tail_first else (lp, tl)
    again = tmp_path / f"again-{first.name}"
    again.write_text(first.read_text() + "\n")  # (other bytes: not passed over as a file already ingested)
    db = str(tmp_path / "cf.duckdb")
    ingest([str(first)], db)
    ingest([str(second)], db)
    result = ingest([str(again)], db)
    assert (result.metrics_repeated, [f.metrics_repeated for f in result.files]) == (1, [1])
    with duckdb.connect(db, read_only=True) as con:
        [(fmt, _, data)] = _invocations(con)
    assert fmt == ("cf-tail" if tail_first else "cf-logpush")
    assert (json.loads(data)["cpu_ms"], json.loads(data)["wall_ms"]) == (2, 31)


def test_two_invocations_of_one_millisecond_in_both_exports_and_a_logpush_export_again(
    tmp_path: Path,
) -> None:
    """Several copies in one ingest: two requests of one ms, each in a tail capture and in two overlapping
    Logpush exports, are two metrics, each paired by its Ray ID; the four other copies are counted to their
    files."""
    ts, rays = 1714910420071, ("87f0a1ce4b5a6d79", "87f0a1ce4b5a6d7a")
    captures = [tail(eventTimestamp=ts, wallTime=None, event={"request": {"url": f"{WORKER}/log", "headers":
                {"cf-ray": f"{r}-LHR"}}}) for r in rays]  # fmt: skip
    tl = tmp_path / "tail.json"
    tl.write_text("\n".join(json.dumps(c) for c in captures) + "\n")
    pushes = [logpush(EventTimestampMs=ts, Event={"RayID": r}, WallTimeMs=31 + k) for k, r in enumerate(rays)]
    lp, lp2 = tmp_path / "logpush.jsonl", tmp_path / "logpush-overlap.jsonl"
    lp.write_text("\n".join(json.dumps(x) for x in reversed(pushes)) + "\n")
    lp2.write_text("\n".join(json.dumps(x, separators=(",", ":")) for x in pushes) + "\n")
    db = str(tmp_path / "cf.duckdb")
    result = ingest([str(tl), str(lp), str(lp2)], db)
    assert (result.metrics_repeated, [f.metrics_repeated for f in result.files]) == (4, [0, 2, 2])
    with duckdb.connect(db, read_only=True) as con:
        rows = _invocations(con)
    assert [(fmt, json.loads(d)["ray_id"], json.loads(d)["wall_ms"]) for fmt, _, d in rows] == [
        ("cf-tail", rays[0], 31),
        ("cf-tail", rays[1], 32),
    ]


def _pair(tmp_path: Path, push: dict[str, Any], capture: dict[str, Any]) -> list[tuple[Any, ...]]:
    lp = tmp_path / "logpush.jsonl"
    lp.write_text(json.dumps(push) + "\n")
    tl = tmp_path / "tail.json"
    tl.write_text(json.dumps(capture, indent=2) + "\n")
    db = tmp_path / "cf.duckdb"
    ingest([str(tl), str(lp)], str(db))
    with duckdb.connect(str(db), read_only=True) as con:
        return _invocations(con)


def test_two_invocations_in_one_millisecond_with_two_ray_ids_stay_two_metrics(tmp_path: Path) -> None:
    ts = 1714910401041
    push = logpush(
        EventTimestampMs=ts, Event={"RayID": "87f0a1b3d9e8f701", "Request": {"URL": f"{WORKER}/log"}}
    )
    capture = tail(eventTimestamp=ts)  # cf-ray 87f0a1ce4b5a6d79-LHR: another request in the same ms
    rows = _pair(tmp_path, push, capture)
    assert [(fmt, json.loads(data)["ray_id"]) for fmt, _, data in rows] == [
        ("cf-logpush", "87f0a1b3d9e8f701"),
        ("cf-tail", "87f0a1ce4b5a6d79"),
    ]


def test_copies_of_one_ray_id_that_disagree_in_what_both_carry_stay_two_metrics(tmp_path: Path) -> None:
    """The same Ray ID and ms but another outcome (or script): not one Trace, so not one invocation."""
    ts = 1714910420071
    push = logpush(EventTimestampMs=ts, Outcome="exception", Event={"RayID": "87f0a1ce4b5a6d79"})
    rows = _pair(tmp_path, push, tail())
    assert [(fmt, json.loads(data)["outcome"]) for fmt, _, data in rows] == [
        ("cf-logpush", "exception"),
        ("cf-tail", "ok"),
    ]


def test_a_tail_workers_cpu_time_must_agree_with_logpushs_for_one_metric(tmp_path: Path) -> None:
    """A Tail Worker's TraceItem carries the Trace's cpuTime and wallTime too: equal, the copies are one."""
    ts = 1714910420071
    push = logpush(EventTimestampMs=ts, Event={"RayID": "87f0a1ce4b5a6d79"}, CPUTimeMs=2, WallTimeMs=31)
    rows = _pair(tmp_path, push, tail(cpuTime=2, wallTime=31))
    assert [(fmt, json.loads(data)["cpu_ms"]) for fmt, _, data in rows] == [("cf-tail", 2)]
    (tmp_path / "other").mkdir()
    rows = _pair(tmp_path / "other", push, tail(cpuTime=3, wallTime=31))
    assert [(fmt, json.loads(data)["cpu_ms"]) for fmt, _, data in rows] == [("cf-logpush", 2), ("cf-tail", 3)]


def test_invocations_without_a_ray_id_are_not_one_metric_across_exports(tmp_path: Path) -> None:
    """A cron in Logpush (no Event.RayID) and a cron in a tail capture (no cf-ray) in one ms of one script: nothing
    tells them from two runs of two cron triggers, so both are kept."""
    ts = 1714910460000
    push = logpush(EventTimestampMs=ts, EventType="scheduled", Event={"Cron": "*/1 * * * *"}, Logs=[])
    capture = tail(eventTimestamp=ts, event={"cron": "*/1 * * * *", "scheduledTime": ts}, logs=[])
    rows = _pair(tmp_path, push, capture)
    assert [(fmt, ts_, "ray_id" in json.loads(data)) for fmt, ts_, data in rows] == [
        ("cf-logpush", ts, False),
        ("cf-tail", ts, False),
    ]
