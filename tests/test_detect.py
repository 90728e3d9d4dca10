"""Per-record format detection, and the fixture set as a whole going through `ingest()`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from logcorr.errors import UsageError
from logcorr.model import SYSTEMS
from logcorr.pipeline.ingest import ingest
from logcorr.sources.detect import FORMATS, describe_unknown, detect
from tests.conftest import FIXTURES

TRACE_A = "trace_1714910398211_k3j9x2m1p"
TRACE_B = "trace_1714910405337_q8w2e5r7t"
TRACE_C = "trace_1714910415902_h7d2kq0zs"
TRACE_D = "critical_auth_1714910430512_x7y8z9"

# one realistic record per format (and per variant of a format), shapes copied from the reference docs
RECORDS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "browser-v1",
        "console-override payload, eras A/B",
        {
            "level": "log",
            "args": ["Loading profile", '{"userId":"user_2fX9kq"}'],
            "trace_id": "trace_1714910415902_h7d2kq0zs",
            "user_id": "anonymous",
            "system_area": "browser",
            "timestamp": 1714910420050,
            "stack_trace": "Error\n    at console.log (http://localhost:3000/_next/static/chunks/app/layout.js:412:29)",
        },
    ),
    (
        "browser-v2",
        "console-override payload, era C",
        {
            "trace_id": "trace_1714910398211_k3j9x2m1p",
            "message": "Sending message to #general",
            "level": "info",
            "system": "browser",
            "user_id": "user_8hQ3mz",
            "context": {
                "timestamp": 1714910401020,
                "url": "http://localhost:3000/chat",
                "userAgent": "Mozilla/5.0",
            },
        },
    ),
    (
        "browser-v2",
        "era C body echoing a Convex line",
        {
            "trace_id": "trace_1714910398211_k3j9x2m1p",
            "message": "[CONVEX M(messages:send)] [LOG] 'Sent message!'",
            "level": "log",
            "system": "convex",
            "user_id": "user_8hQ3mz",
            "context": {
                "timestamp": 1714910401480,
                "url": "http://localhost:3000/chat",
                "userAgent": "Mozilla/5.0",
            },
        },
    ),
    (
        "worker-record",
        "stored RedisLogEntry",
        {
            "id": "1714910401547_p0z7c4v1n",
            "trace_id": "trace_1714910398211_k3j9x2m1p",
            "user_id": "user_8hQ3mz",
            "system": "worker",
            "level": "info",
            "message": "Background processing initiated",
            "timestamp": 1714910401547,
            "context": {"timestamp": 1714910401521, "step": 3, "workflow": "send-message"},
        },
    ),
    (
        "worker-logs",
        "GET /logs response",
        {
            "trace_id": "critical_auth_1714910430512_x7y8z9",
            "logs": [
                {
                    "id": "1714910430566_c1r5e8i2o",
                    "trace_id": "critical_auth_1714910430512_x7y8z9",
                    "system": "worker",
                    "level": "warn",
                    "message": "Per-trace quota check: critical trace bypass",
                    "timestamp": 1714910430566,
                    "context": {"timestamp": 1714910430547},
                }
            ],
            "count": 1,
            "retrieved_at": "2024-05-05T12:05:00.412Z",
        },
    ),
    (
        "worker-logs",
        "GET /logs response for a trace with no logs",
        {
            "trace_id": "trace_1714910398211_k3j9x2m1p",
            "logs": [],
            "count": 0,
            "retrieved_at": "2024-05-05T12:05:00Z",
        },
    ),
    (
        "cf-logpush",
        "Logpush workers_trace_events (2024 export, no CPU/wall fields)",
        {
            "DispatchNamespace": "",
            "Entrypoint": "",
            "Event": {
                "RayID": "87ed87f80cf22d84",
                "Request": {"URL": "https://test.workers.dev/", "Method": "GET"},
                "Response": {"Status": 200},
            },
            "EventTimestampMs": 1714878560011,
            "EventType": "fetch",
            "Exceptions": [],
            "Logs": [{"Level": "log", "Message": ["bar", "foo"], "TimestampMs": 1714878560016}],
            "Outcome": "ok",
            "ScriptName": "test",
            "ScriptTags": [],
            "ScriptVersion": {"ID": "1e7519b3-08e2-441d-ae10-7c8c6d3b7e17", "Message": "", "Tag": ""},
        },
    ),
    (
        "cf-logpush",
        "Logpush job exporting only a few fields",
        {"EventTimestampMs": 1714910401041, "Outcome": "ok", "Logs": []},
    ),
    (
        "cf-tail",
        "wrangler tail object",
        {
            "outcome": "ok",
            "scriptName": None,
            "exceptions": [],
            "logs": [],
            "eventTimestamp": 1590680082349,
            "event": {
                "request": {"url": "https://www.bytesized.xyz/", "method": "GET", "headers": {}, "cf": {}}
            },
        },
    ),
    (
        "cf-tail",
        "Tail Worker TraceItem with a null eventTimestamp",
        {
            "scriptName": "Example script",
            "outcome": "exception",
            "eventTimestamp": None,
            "event": None,
            "logs": [{"message": ["x"], "level": "log", "timestamp": 1587058642005}],
            "exceptions": [],
            "diagnosticsChannelEvents": [],
        },
    ),
    (
        "cf-workers-logs",
        "Workers Logs query-API event",
        {
            "source": {"level": "error", "at": "b.error", "error": "RuleRefused", "status": 403},
            "timestamp": 1714910430590,
            "$workers": {"scriptName": "cbx-logprobe", "eventType": "fetch"},
            "$metadata": {
                "requestId": "8a1f2b3c4d5e6f70",
                "trigger": "GET /b",
                "level": "error",
                "type": "cf-worker",
            },
        },
    ),
    (
        "convex-stream",
        "log stream format 2 console event",
        {
            "topic": "console",
            "timestamp": 1715879172882,
            "function": {"path": "messages:send", "request_id": "d064ef901f7ec0b7", "type": "mutation"},
            "log_level": "LOG",
            "message": "'Sent message!'",
        },
    ),
    (
        "convex-stream",
        "log stream verification ping",
        {"topic": "verification", "timestamp": 1714910395000, "message": "Convex connection test"},
    ),
    (
        "convex-stream",
        "format 2 event wrapped by Axiom in data",
        {
            "_time": "2024-05-05T12:00:30.575Z",
            "data": {
                "topic": "function_execution",
                "timestamp": 1714910430575,
                "function": {
                    "path": "auth:refreshSession",
                    "type": "mutation",
                    "request_id": "3b7d1f5a9c0e2468",
                },
                "status": "failure",
                "error_message": "Uncaught ConvexError: Refresh token expired",
                "execution_time_ms": 4,
            },
        },
    ),
    (
        "convex-stream-v1",
        "legacy format 1 console event",
        {
            "_topic": "_console",
            "_timestamp": 1695066350531,
            "_functionType": "query",
            "_functionPath": "myDir/myFile",
            "_functionCached": True,
            "message": "[LOG] 'My log message'",
        },
    ),
    (
        "convex-stream-v1",
        "legacy format 1 wrapped in data",
        {
            "data": {
                "_topic": "_verification",
                "_timestamp": 1695066350531,
                "message": "Convex connection test",
            }
        },
    ),
    (
        "convex-repo-webhook",
        "the live repo's webhook body",
        {
            "logs": [
                {
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
            ],
            "source": "convex",
            "endpoint": "https://tremendous-otter-123.convex.site/logStreamsWebhook",
            "timestamp": 1714910425000,
        },
    ),
    (
        "convex-repo-webhook",
        "one entry of the live repo's webhook body",
        {
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
        },
    ),
    (
        "convex-cli",
        "npx convex logs --jsonl Completion",
        {
            "kind": "Completion",
            "udfType": "Query",
            "componentPath": None,
            "identifier": "messages:list",
            "logLines": [],
            "timestamp": 1714910425.004,
            "cachedResult": True,
            "executionTime": 0.0004,
            "success": None,
            "error": None,
            "requestId": "1f3e5d7c9b0a2846",
            "executionId": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        },
    ),
    (
        "convex-cli",
        "npx convex logs --jsonl Progress",
        {
            "kind": "Progress",
            "udfType": "Action",
            "componentPath": None,
            "identifier": "ai:summarizeProfile",
            "timestamp": 1714910421.204,
            "logLines": [
                {"messages": ["'hi'"], "isTruncated": False, "timestamp": 1714910421206, "level": "LOG"},
            ],
            "requestId": "e5a7c9b1d3f50624",
            "executionId": "9c3f1e7a-2b4d-4c6e-8f0a-1b3d5e7f9a2c",
        },
    ),
    (
        "convex-snapshot",
        "log_queue documents.jsonl row",
        {
            "_creationTime": 1714910420111.3125,
            "_id": "jh7a0x4v2m8q9c1e3k5n7p9r0s2t4u6w",
            "level": "log",
            "message": "Profile loaded in 350ms",
            "trace_id": "trace_1714910415902_h7d2kq0zs",
            "user_id": "user_2fX9kq",
            "system_area": "browser",
            "timestamp": 1714910420400,
            "raw_args": ["Profile loaded in 350ms"],
            "processed": False,
        },
    ),
    (
        "convex-snapshot",
        "recent_log_entries row without the Convex system fields",
        {
            "level": "info",
            "message": "Profile loaded in 350ms",
            "trace_id": "trace_1714910415902_h7d2kq0zs",
            "user_id": "user_2fX9kq",
            "system_area": "browser",
            "timestamp": 1714910420400,
            "raw_args": ["Profile loaded in 350ms"],
            "expires_at": 1714910424000,
        },
    ),
    (
        "convex-snapshot",
        "era C debug_logs row",
        {
            "_creationTime": 1714910460000.5,
            "_id": "kd9a0x4v2m8q9c1e3k5n7p9r0s2t4u6w",
            "id": "1714910401547_p0z7c4v1n",
            "trace_id": "trace_1714910398211_k3j9x2m1p",
            "system": "worker",
            "level": "info",
            "message": "Background processing initiated",
            "timestamp": 1714910401547,
            "context": {"timestamp": 1714910401521},
            "raw_data": {},
            "synced_at": 1714910460000,
        },
    ),
]


@pytest.mark.parametrize(("expected", "what", "record"), RECORDS, ids=[f"{n}: {w}" for n, w, _ in RECORDS])
def test_each_native_record_shape_is_detected_as_its_format(
    expected: str, what: str, record: dict[str, Any]
) -> None:
    fmt = detect(record)
    assert fmt is not None, what
    assert fmt.name == expected


@pytest.mark.parametrize(("expected", "what", "record"), RECORDS, ids=[f"{n}: {w}" for n, w, _ in RECORDS])
def test_the_detected_adapter_parses_the_record_without_a_reject(
    expected: str, what: str, record: dict[str, Any]
) -> None:
    events: list[Any] = []
    metrics: list[Any] = []
    FORMATS[expected].parse(record, events, metrics)
    for ev in events:
        assert ev.system in SYSTEMS


def test_every_registered_format_names_a_known_system_and_a_parser() -> None:
    assert set(FORMATS) == {
        "browser-v1",
        "browser-v2",
        "worker-record",
        "worker-logs",
        "cf-logpush",
        "cf-tail",
        "cf-workers-logs",
        "convex-stream",
        "convex-stream-v1",
        "convex-repo-webhook",
        "convex-cli",
        "convex-text",
        "convex-snapshot",
    }
    for name, fmt in FORMATS.items():
        assert fmt.name == name
        assert fmt.system in SYSTEMS
        assert callable(fmt.parse)
        assert fmt.summary


def test_a_browser_body_with_only_a_message_and_a_level_is_the_newer_console_payload() -> None:
    fmt = detect({"message": "hello", "level": "warn"})
    assert fmt is not None and fmt.name == "browser-v2"


def test_a_stored_worker_record_without_its_id_is_still_a_worker_record(tmp_path: Path) -> None:
    """The Worker's record has its receive time at the top (`timestamp`), the browser's payload only in
    `context`; the live sync makes up an id for records that lack one (reference §3.1), so some have none."""
    obj = {"trace_id": "trace_1754500000000_abc", "system": "browser", "level": "log", "message": "Button clicked",
           "timestamp": 1754500120000, "context": {"timestamp": 1754500119850, "url": "http://localhost:3000/"}}  # fmt: skip
    fmt = detect(obj)
    assert fmt is not None and fmt.name == "worker-record"
    payload = {k: v for k, v in obj.items() if k != "timestamp"}
    fmt = detect(payload)
    assert fmt is not None and fmt.name == "browser-v2"
    path = tmp_path / "w.jsonl"
    path.write_text(json.dumps(obj) + "\n")
    db = tmp_path / "db.duckdb"
    assert ingest([str(path)], str(db)).stored == 1
    row = (
        duckdb.connect(str(db), read_only=True)
        .execute("SELECT source_format, epoch_ms(ts), epoch_ms(client_ts) FROM log_queue")
        .fetchall()
    )
    assert row == [("worker-record", 1754500120000, 1754500119850)]


def test_an_unknown_record_shape_is_not_detected_and_the_reason_names_its_keys() -> None:
    obj = {"foo": 1, "bar": [], "baz": None}
    assert detect(obj) is None
    reason = describe_unknown(obj)
    assert "bar, baz, foo" in reason
    assert "--format" in reason


def test_the_reason_for_an_unknown_shape_lists_at_most_eight_keys() -> None:
    obj = {f"k{i:02d}": i for i in range(12)}
    reason = describe_unknown(obj)
    assert "k07" in reason and "k08" not in reason and "…" in reason


@pytest.mark.parametrize(
    "record",
    [
        {},
        {"logs": [5]},
        {"logs": "not a list"},
        {"logs": [{"context": "x"}], "source": "elsewhere"},
        {"data": "not an object"},
        {"data": {"neither": "topic"}},
        {"context": ["a list"], "id": "x"},
        {"kind": "Completion"},
        {"message": None},
    ],
)
def test_detection_never_raises_on_odd_values(record: dict[str, Any]) -> None:
    fmt = detect(record)
    assert fmt is None or fmt.name in FORMATS


def test_a_worker_record_whose_context_carries_a_request_id_is_still_a_worker_record() -> None:
    record = {
        "id": "1714910401547_p0z7c4v1n",
        "trace_id": "trace_1714910398211_k3j9x2m1p",
        "system": "browser",
        "level": "info",
        "message": "Sending message to #general",
        "timestamp": 1714910401547,
        "context": {"timestamp": 1714910401521, "requestId": "c0ffee00", "url": "http://localhost:3000/chat"},
    }
    fmt = detect(record)
    assert fmt is not None and fmt.name == "worker-record"


# --------------------------------------------------------------------------- the fixture set end to end

FIXTURE_FORMATS: dict[str, str] = {
    "browser/console-override-v1.jsonl": "browser-v1",
    "browser/console-override-v2.jsonl": "browser-v2",
    "worker/redis-records.jsonl": "worker-record",
    "worker/get-logs-response.json": "worker-logs",
    "worker/logpush-workers_trace_events.log.gz": "cf-logpush",
    "worker/wrangler-tail.json": "cf-tail",
    "worker/workers-logs-query.json": "cf-workers-logs",
    "backend/log-stream-v2.jsonl": "convex-stream",
    "backend/log-stream-v2-batch.json": "convex-stream",
    "backend/log-stream-legacy-v1.jsonl": "convex-stream-v1",
    "backend/log-stream-axiom-data.jsonl": "convex-stream",
    "backend/convex-logs-cli.jsonl": "convex-cli",
    "backend/snapshot-log_queue.jsonl": "convex-snapshot",
    "backend/snapshot-recent_log_entries.jsonl": "convex-snapshot",
    "backend/repo-webhook.json": "convex-repo-webhook",
}


def test_the_fixture_directory_holds_exactly_the_documented_files() -> None:
    found = {
        str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*") if p.is_file() and p.name != "README.md"
    }
    assert found == set(FIXTURE_FORMATS)


@pytest.mark.parametrize("name", sorted(FIXTURE_FORMATS))
def test_every_fixture_file_is_detected_as_one_format_and_ingests_with_zero_rejects(
    name: str, tmp_path: Path
) -> None:
    result = ingest([str(FIXTURES / name)], str(tmp_path / "one.duckdb"))
    (f,) = result.files
    assert f.rejected == 0, f.reject_reasons
    assert f.balanced
    assert set(f.formats) == {FIXTURE_FORMATS[name]}
    assert f.records > 0
    assert f.events + f.metrics > 0


@pytest.fixture(scope="module")
def all_fixtures(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, duckdb.DuckDBPyConnection]:
    db = tmp_path_factory.mktemp("all") / "all.duckdb"
    result = ingest([str(FIXTURES)], str(db))
    con = duckdb.connect(str(db), read_only=True)
    yield result, con
    con.close()


def test_the_whole_fixture_directory_ingests_with_zero_rejects_and_balanced_accounting(
    all_fixtures: tuple[Any, duckdb.DuckDBPyConnection],
) -> None:
    result, con = all_fixtures
    assert len(result.files) == len(FIXTURE_FORMATS)
    assert result.rejected == 0
    assert all(f.balanced for f in result.files)
    assert con.execute("SELECT count(*) FROM rejects").fetchone() == (0,)
    stored = dict(con.execute("SELECT system, count(*) FROM log_queue GROUP BY system").fetchall())
    assert set(stored) == {"browser", "worker", "backend"}
    assert all(n >= 15 for n in stored.values()), stored


def test_the_fixture_story_has_four_traces_seen_in_all_three_systems(
    all_fixtures: tuple[Any, duckdb.DuckDBPyConnection],
) -> None:
    _, con = all_fixtures
    rows = con.execute(
        "SELECT trace_id FROM log_queue WHERE trace_id IS NOT NULL GROUP BY trace_id "
        "HAVING count(DISTINCT system) = 3 ORDER BY trace_id"
    ).fetchall()
    assert [r[0] for r in rows] == sorted([TRACE_A, TRACE_B, TRACE_C, TRACE_D])


def test_the_checkout_trace_has_an_error_in_every_system(
    all_fixtures: tuple[Any, duckdb.DuckDBPyConnection],
) -> None:
    _, con = all_fixtures
    rows = con.execute(
        "SELECT system, count(*) FROM log_queue WHERE trace_id = ? AND level = 'error' GROUP BY system",
        [TRACE_B],
    ).fetchall()
    assert {s for s, n in rows if n > 0} == {"browser", "worker", "backend"}


def test_every_system_has_orphan_lines_without_a_trace_id(
    all_fixtures: tuple[Any, duckdb.DuckDBPyConnection],
) -> None:
    _, con = all_fixtures
    rows = con.execute(
        "SELECT DISTINCT system FROM log_queue WHERE trace_id IS NULL AND trace_source = 'none'"
    ).fetchall()
    assert {r[0] for r in rows} == {"browser", "worker", "backend"}


def test_the_fixture_set_shows_every_way_of_finding_a_trace_id(
    all_fixtures: tuple[Any, duckdb.DuckDBPyConnection],
) -> None:
    _, con = all_fixtures
    sources = {r[0] for r in con.execute("SELECT DISTINCT trace_source FROM log_queue").fetchall()}
    assert {"field", "message", "request_id", "none"} <= sources


def test_no_secret_from_the_fixtures_reaches_any_stored_table(
    all_fixtures: tuple[Any, duckdb.DuckDBPyConnection],
) -> None:
    result, con = all_fixtures
    secrets = [
        "hunter2-Secret!",  # password in a browser v1 JSON argument
        "9f8e7d6c5b4a39281706f5e4d3c2b1a0",  # Bearer token in a browser v2 message
        "correct-horse-battery",  # password nested in a Workers Logs JSON context
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",  # the JWT's header in a wrangler tail line
    ]
    for table in ("log_queue", "drop_ledger", "recent_log_entries"):
        text = " ".join(
            str(v)
            for row in con.execute(f"SELECT message, stack, context::VARCHAR FROM {table}").fetchall()
            for v in row
        )
        for secret in secrets:
            assert secret not in text, (table, secret)
    assert result.redactions["jwt"] >= 1
    assert result.redactions["password"] >= 2


def test_forcing_an_unknown_format_name_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        ingest(
            [str(FIXTURES / "backend/log-stream-v2.jsonl")], str(tmp_path / "x.duckdb"), format_name="nope"
        )


def test_forcing_the_right_format_gives_the_same_result_as_detection(tmp_path: Path) -> None:
    path = str(FIXTURES / "worker/redis-records.jsonl")
    detected = ingest([path], str(tmp_path / "a.duckdb")).files[0]
    forced = ingest([path], str(tmp_path / "b.duckdb"), format_name="worker-record").files[0]
    assert (forced.records, forced.events, forced.stored, forced.rejected) == (
        detected.records,
        detected.events,
        detected.stored,
        detected.rejected,
    )


def test_a_repo_webhook_entry_without_an_id_is_still_one() -> None:
    """The live repo's webhook entries carry `context.functionName`; detection asked for an `id` as well, and an
    entry without one was read as a Worker record (or a browser payload)."""
    entry = {"level": "INFO", "message": "Function executed", "timestamp": 1714910420195,
             "context": {"requestId": "req-1", "functionName": "users:get"}}  # fmt: skip
    fmt = detect(entry)
    assert fmt is not None and fmt.name == "convex-repo-webhook"
