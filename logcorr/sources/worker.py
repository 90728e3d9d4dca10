"""Records stored by the log-ingestion Worker (reference §2.1–2.5): one `RedisLogEntry` per line, or
the `GET /logs` response that wraps them as `{trace_id, logs:[…], count, retrieved_at}`.

Two clocks: `timestamp` is the Worker's receive time (the event time we use), `context.timestamp`
is the client's clock, kept as `client_ts` so the correlator can measure skew.
"""

from __future__ import annotations

from typing import Any

from logcorr.model import (
    Event,
    Metric,
    RecordError,
    as_text,
    norm_level,
    opt_str,
    require_ts,
    to_ms,
    valid_ts,
)
from logcorr.sources import traceid
from logcorr.sources.base import each_object
from logcorr.sources.browser import system_of_request


def parse_record(obj: dict[str, Any], events: list[Event], metrics: list[Metric]) -> str | None:
    """One stored worker record (also Convex `debug_logs` rows, which copy it)."""
    _append_record(obj, events, None)
    return None


def parse_wrapped(obj: dict[str, Any], events: list[Event], metrics: list[Metric]) -> str | None:
    """`{trace_id, logs:[record, …]}`: every record, the outer trace id filling missing ones."""
    logs = obj.get("logs")
    if not isinstance(logs, list):
        raise RecordError("'logs' must be a list of worker records")
    outer = traceid.clean_id(obj.get("trace_id"))
    each_object(logs, "logs", lambda item: _append_record(item, events, outer))
    if not logs:
        return "empty logs list"
    return None


def _append_record(obj: dict[str, Any], events: list[Event], outer_trace: str | None) -> None:
    message = obj.get("message")
    if message is None:
        raise RecordError("missing 'message'")
    if not isinstance(message, str):
        message = as_text(message)
    context = obj.get("context")
    if not isinstance(context, dict):
        context = None
    ts = require_ts(obj.get("timestamp"), "timestamp")
    client = to_ms(context.get("timestamp")) if context else None
    label = opt_str(obj.get("system"))
    tid, how = traceid.find(obj, message, context)
    if tid is None and outer_trace is not None:
        tid, how = outer_trace, "field"
    events.append(
        Event(
            ts,
            system_of_request(label, context) if label else "worker",
            label or "worker",
            norm_level(obj.get("level")),
            message,
            tid,
            how,
            None,
            opt_str(obj.get("user_id")),
            context,
            opt_str(obj.get("stack")),
            # a client time outside 2000..2100 is a broken clock or value (it stays in context as it came)
            client if client is not None and client != ts and valid_ts(client) else None,
        )
    )
