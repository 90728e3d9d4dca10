"""The format registry and per-record detection by keys.

Detection is per record (a file may mix shapes); `--format NAME` bypasses it for a whole file.
The checks are ordered from the most specific keys to the most generic.
"""

from __future__ import annotations

from typing import Any

from logcorr.sources import (
    browser,
    cloudflare,
    convex_cli,
    convex_snapshot,
    convex_stream,
    convex_text,
    worker,
)
from logcorr.sources.base import Format
from logcorr.sources.worker_formats import CF_LOGPUSH, CF_TAIL, CF_WORKERS_LOGS, WORKER_LOGS, WORKER_RECORD

FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("browser-v1", "browser", browser.parse_v1, "console-override payload {level, args[], trace_id, timestamp, …}"),
        Format("browser-v2", "browser", browser.parse_v2, "console-override payload {trace_id, message, level, system, context{timestamp}}"),
        Format(WORKER_RECORD, "worker", worker.parse_record, "stored worker record {id, trace_id, system, level, message, timestamp}"),
        Format(WORKER_LOGS, "worker", worker.parse_wrapped, "worker records wrapped as {trace_id, logs:[…]}", own_records=True),
        Format(CF_LOGPUSH, "worker", cloudflare.parse_logpush, "Cloudflare Logpush workers_trace_events (NDJSON, .gz)"),
        Format(CF_TAIL, "worker", cloudflare.parse_tail, "wrangler tail --format json / Tail Worker TraceItem"),
        Format(CF_WORKERS_LOGS, "worker", cloudflare.parse_workers_logs, "Workers Logs query-API events ($metadata, $workers), or a whole query response", own_records=True),
        Format("convex-stream", "backend", convex_stream.parse_v2, "Convex log stream format 2 (also {\"data\": …})"),
        Format("convex-stream-v1", "backend", convex_stream.parse_v1, "Convex log stream legacy format 1 (_topic, _timestamp)"),
        Format("convex-repo-webhook", "backend", convex_stream.parse_repo_webhook, "the live repo's webhook body {logs:[{level, message, context{requestId}}]}"),
        Format("convex-cli", "backend", convex_cli.parse, "npx convex logs --jsonl (Completion/Progress)", own_records=True),
        Format("convex-text", "backend", convex_text.parse, "npx convex logs text (no --jsonl): `<local time> [CONVEX Q(path)] [LOG] …`"),
        Format("convex-snapshot", "backend", convex_snapshot.parse, "Convex export of log_queue / recent_log_entries / debug_logs"),
    )
}  # fmt: skip


def detect(obj: dict[str, Any]) -> Format | None:
    """The format of one decoded record, by its keys; None when no format fits."""
    if "topic" in obj:
        return FORMATS["convex-stream"]
    if "_topic" in obj:
        return FORMATS["convex-stream-v1"]
    if "EventTimestampMs" in obj or "Logs" in obj or "Exceptions" in obj or "ScriptName" in obj:
        return FORMATS[CF_LOGPUSH]
    if "$metadata" in obj or "$workers" in obj:
        return FORMATS[CF_WORKERS_LOGS]
    if "result" in obj and "success" in obj and cloudflare.workers_logs_events(obj) is not None:
        return FORMATS[CF_WORKERS_LOGS]
    if "eventTimestamp" in obj or ("outcome" in obj and ("logs" in obj or "exceptions" in obj)):
        return FORMATS[CF_TAIL]
    if "kind" in obj and ("logLines" in obj or "udfType" in obj or "identifier" in obj):
        return FORMATS["convex-cli"]
    if "_creationTime" in obj or "_id" in obj:
        return FORMATS["convex-snapshot"]
    data = obj.get("data")
    if type(data) is dict:
        if "topic" in data:
            return FORMATS["convex-stream"]
        if "_topic" in data:
            return FORMATS["convex-stream-v1"]
    logs = obj.get("logs")
    if type(logs) is list:
        first = logs[0] if logs and type(logs[0]) is dict else {}
        ctx = first.get("context")
        if obj.get("source") == "convex" or (type(ctx) is dict and "functionName" in ctx):
            return FORMATS["convex-repo-webhook"]
        return FORMATS[WORKER_LOGS]
    ctx = obj.get("context")
    if type(ctx) is dict and "functionName" in ctx and "system" not in obj:  # one entry of the repo's body
        return FORMATS["convex-repo-webhook"]
    if "args" in obj and ("level" in obj or "timestamp" in obj):
        return FORMATS["browser-v1"]
    if "system_area" in obj and "raw_args" in obj:
        return FORMATS["convex-snapshot"]
    # the Worker's stored record has a top-level `timestamp` (its receive time), the browser's payload never
    # does (its time is `context.timestamp`), whether or not the record kept its `id`
    if "message" in obj and "timestamp" in obj:
        return FORMATS[WORKER_RECORD]
    if "message" in obj and ("level" in obj or "trace_id" in obj):
        return FORMATS["browser-v2"]
    return None


def describe_unknown(obj: dict[str, Any]) -> str:
    """The reject reason for a record no format fits, naming its keys."""
    keys = ", ".join(sorted(obj)[:8])
    more = "…" if len(obj) > 8 else ""
    return f"unknown record shape (keys: {keys}{more}); pass --format to force one"
