"""Cloudflare Workers exports (reference cloudflare §1–3): Logpush `workers_trace_events` (PascalCase),
`wrangler tail --format json` / Tail Worker `TraceItem`s (camelCase), and Workers Logs query-API events.

One invocation record becomes one event per `console.*` line and per uncaught exception; the
invocation itself (CPU, wall time, outcome) is kept as a `worker_invocation` metric for cost. The
Ray ID is the request id; a trace id found on one line of an invocation is given to its siblings.
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
from logcorr.sources.base import each_object, propagate_trace, sub


def _join_message(parts: Any) -> tuple[str, str | None]:
    """Console arguments joined with spaces, and a trace id from an object argument if one has it."""
    if isinstance(parts, list):
        tid = None
        texts = []
        for p in parts:
            if tid is None and isinstance(p, dict):
                tid = traceid.from_fields(p)
            texts.append(as_text(p))
        return " ".join(texts), tid
    if parts is None:
        return "", None
    if isinstance(parts, dict):
        return as_text(parts), traceid.from_fields(parts)
    return as_text(parts), None


def ray_id(value: Any) -> str | None:
    """A Ray ID normalised to its 16-hex part (no `-COLO` suffix), lower case."""
    if not isinstance(value, str) or not value:
        return None
    return value.split("-")[0].lower()


def _invocation(
    events: list[Event],
    metrics: list[Metric],
    *,
    ts: int,
    logs: Any,
    exceptions: Any,
    keys: tuple[str, str, str, str, str],
    headers: Any,
    request_id: str | None,
    context: dict[str, Any],
    metric: dict[str, Any],
) -> str | None:
    """Shared by Logpush and tail: one event per log line and per exception."""
    k_level, k_message, k_ts, k_name, k_stack = keys
    start = len(events)
    # the app's id header names the request's trace; a tracing SDK's (traceparent) only lines nothing else
    # names one of, after their siblings have given theirs (see traceid.APP_HEADERS)
    header_tid = traceid.from_headers(headers, traceid.APP_HEADERS)
    if logs is not None and not isinstance(logs, list):
        raise RecordError("logs must be a list")
    if exceptions is not None and not isinstance(exceptions, list):
        raise RecordError("exceptions must be a list")
    for item in logs or ():
        if not isinstance(item, dict):
            # not a log line's shape: kept as an event of its own text, never dropped unseen
            item = {k_message: item}
        message, tid = _join_message(item.get(k_message, item.get(k_message.lower())))
        how = "field" if tid else "none"
        if tid is None and header_tid:
            tid, how = header_tid, "header"
        if tid is None:
            tid = traceid.from_message(message)
            how = "message" if tid else "none"
        lts = to_ms(item.get(k_ts, item.get(k_ts.lower())))
        events.append(
            Event(
                lts if valid_ts(lts) else ts,  # type: ignore[arg-type]
                "worker",
                "worker",
                norm_level(item.get(k_level, item.get(k_level.lower()))),
                message,
                tid,
                how,
                request_id,
                None,
                context,
                None,
                None,
            )
        )
    for item in exceptions or ():
        if not isinstance(item, dict):
            item = {k_message: item}
        raw_name = item.get(k_name, item.get(k_name.lower()))
        raw_text = item.get(k_message, item.get(k_message.lower()))
        name = as_text(raw_name) if raw_name is not None else "Error"
        text = as_text(raw_text) if raw_text is not None else ""
        message = f"{name}: {text}" if text else name
        tid = header_tid
        how = "header" if tid else "none"
        if tid is None:
            tid = traceid.from_message(message)
            how = "message" if tid else "none"
        ets = to_ms(item.get(k_ts, item.get(k_ts.lower())))
        events.append(
            Event(
                ets if valid_ts(ets) else ts,  # type: ignore[arg-type]
                "worker",
                "worker",
                "error",
                message,
                tid,
                how,
                request_id,
                None,
                context,
                opt_str(item.get(k_stack)),
                None,
            )
        )
    propagate_trace(events, start)
    sdk_tid = traceid.from_headers(headers, traceid.TRACING_HEADERS)
    if sdk_tid:
        for i in range(start, len(events)):
            if events[i].trace_id is None:
                events[i] = events[i]._replace(trace_id=sdk_tid, trace_source="header")
    metrics.append(Metric(ts, "worker", "worker_invocation", metric))
    return None


def _invocation_time(raw: Any, field: str, logs: Any, exceptions: Any, line_field: str) -> int:
    """An invocation's time: its own field, else the first of its lines' times (RecordError naming `field`
    when neither is there). Raises RecordError for `logs` or `exceptions` that are not lists."""
    if logs is not None and not isinstance(logs, list):
        raise RecordError("logs must be a list")
    if exceptions is not None and not isinstance(exceptions, list):
        raise RecordError("exceptions must be a list")
    ts = to_ms(raw)
    if valid_ts(ts):
        assert ts is not None
        return ts
    lines = [*(logs or ()), *(exceptions or ())]
    first = next((to_ms(x.get(line_field)) for x in lines if isinstance(x, dict) and x.get(line_field)), None)
    return require_ts(raw if first is None else first, field)


def parse_logpush(obj: dict[str, Any], events: list[Event], metrics: list[Metric]) -> str | None:
    """A Logpush `workers_trace_events` record (NDJSON, usually gzip)."""
    # a Logpush job names the fields it exports: one without EventTimestampMs still has its lines' times
    ts = _invocation_time(obj.get("EventTimestampMs"), "EventTimestampMs", obj.get("Logs"), obj.get("Exceptions"),
                          "TimestampMs")  # fmt: skip
    event = sub(obj, "Event")
    request = sub(event, "Request")
    response = sub(event, "Response")
    rid = ray_id(event.get("RayID"))
    context = _drop_none(
        {
            "script": obj.get("ScriptName"),
            # Workers for Platforms: which tenant's namespace, which entrypoint of the script
            "dispatch_namespace": obj.get("DispatchNamespace"),
            "entrypoint": obj.get("Entrypoint"),
            "event_type": obj.get("EventType"),
            "outcome": obj.get("Outcome"),
            "url": request.get("URL"),
            "method": request.get("Method"),
            "status": response.get("Status"),
            "ray_id": rid,
        }
    )
    metric = _drop_none(
        {
            "script": obj.get("ScriptName"),
            "dispatch_namespace": obj.get("DispatchNamespace"),
            "entrypoint": obj.get("Entrypoint"),
            "outcome": obj.get("Outcome"),
            "event_type": obj.get("EventType"),
            "cpu_ms": obj.get("CPUTimeMs"),
            "wall_ms": obj.get("WallTimeMs"),
            "ray_id": rid,
            "logs": len(obj["Logs"]) if isinstance(obj.get("Logs"), list) else 0,
            "exceptions": len(obj["Exceptions"]) if isinstance(obj.get("Exceptions"), list) else 0,
        }
    )
    return _invocation(
        events,
        metrics,
        ts=ts,
        logs=obj.get("Logs"),
        exceptions=obj.get("Exceptions"),
        keys=("Level", "Message", "TimestampMs", "Name", "Stack"),
        headers=request.get("Headers"),
        request_id=rid,
        context=context,
        metric=metric,
    )


def parse_tail(obj: dict[str, Any], events: list[Event], metrics: list[Metric]) -> str | None:
    """A `wrangler tail --format json` object or a Tail Worker `TraceItem`."""
    logs = obj.get("logs")
    exceptions = obj.get("exceptions")
    # eventTimestamp may be null for some event kinds
    ts = _invocation_time(obj.get("eventTimestamp"), "eventTimestamp", logs, exceptions, "timestamp")
    event = sub(obj, "event")
    if event.get("type") == "overload" and not logs and not exceptions:
        # wrangler's TailInfo, not an invocation: the tail was sampling, so invocations are missing
        return "wrangler tail overload notice (tail sampled: some invocations are not in this export)"
    request = sub(event, "request")
    response = sub(event, "response")
    headers = sub(request, "headers")
    lowered = {str(k).lower(): v for k, v in headers.items()}
    rid = ray_id(lowered.get("cf-ray"))
    context = _drop_none(
        {
            "script": obj.get("scriptName"),
            "outcome": obj.get("outcome"),
            "url": request.get("url"),
            "method": request.get("method"),
            "status": response.get("status"),
            "ray_id": rid,
            "cron": event.get("cron"),
            "queue": event.get("queue"),
        }
    )
    metric = _drop_none(
        {
            "script": obj.get("scriptName"),
            "outcome": obj.get("outcome"),
            "cpu_ms": obj.get("cpuTime"),
            "wall_ms": obj.get("wallTime"),
            "ray_id": rid,
            "logs": len(logs) if isinstance(logs, list) else 0,
            # as a Logpush invocation's: how many uncaught exceptions (its `outcome` says only that one was)
            "exceptions": len(exceptions) if isinstance(exceptions, list) else 0,
        }
    )
    return _invocation(
        events,
        metrics,
        ts=ts,
        logs=logs,
        exceptions=exceptions,
        keys=("level", "message", "timestamp", "name", "stack"),
        headers=headers,
        request_id=rid,
        context=context,
        metric=metric,
    )


def parse_workers_logs(obj: dict[str, Any], events: list[Event], metrics: list[Metric]) -> str | None:
    """A Workers Logs query-API event (`$metadata`, `$workers`, `source`), or a whole query response (each of
    its events a record of its own, see `Format.own_records`)."""
    if "$metadata" not in obj and "$workers" not in obj:
        items = workers_logs_events(obj)
        if items is not None:
            return _parse_workers_logs_response(items, events, metrics)
    exception = sub(obj, "exception")
    ts = _workers_logs_ts(obj, exception)
    meta = sub(obj, "$metadata")
    workers = sub(obj, "$workers")
    source = obj.get("source")
    src = source if isinstance(source, dict) else {}
    error, stack = _workers_logs_error(meta.get("error"))
    if stack is None:
        stack = opt_str(exception.get("stack"))
    message = meta.get("message") or src.get("message") or src.get("msg")
    if message is None and source not in (None, {}, ""):
        message = source
    if message is not None and not isinstance(message, str):
        message = as_text(message)
    if not message:
        # an invocation log's `source` is often empty: its error, else its trigger ("POST /log"), says what it was
        message = error or meta.get("trigger") or ""
    elif error and error not in message:
        # as Convex failures are written (`… failure: Error…`): `search` finds the error's text in the message
        message = f"{message}: {error}"
    if not isinstance(message, str):
        message = as_text(message)
    # the app's own `error` beside its message (a real event's source: `{message: "[Auth] JWT verification
    # failed:", error: "request timed out", name: "JWKSTimeout"}`, with `$metadata.error` repeating the
    # message): appended as `$metadata.error` is, else the reason is in no column a reader or `search` sees
    app_error, app_stack = _workers_logs_error(src.get("error"))
    if app_error and message and app_error not in message:
        name = src.get("name")
        if isinstance(name, str) and name and not app_error.startswith(name):
            app_error = f"{name}: {app_error}"
        message = f"{message} {app_error}" if message.endswith(":") else f"{message}: {app_error}"
        stack = stack or app_stack
    level = meta.get("level") or src.get("level")
    wevent = sub(workers, "event")
    request = sub(wevent, "request")
    # the app's own fields, then the request's trace headers, then the message text (not Cloudflare's
    # `$metadata.traceId`: it is never propagated beyond Cloudflare, so it names no cross-system trace)
    tid, how = traceid.find(src, message, None, request.get("headers"))
    context = _drop_none(
        {
            "script": workers.get("scriptName") or meta.get("service"),
            "type": meta.get("type"),
            "trigger": meta.get("trigger"),
            "outcome": workers.get("outcome"),
            "url": request.get("url") or meta.get("url"),
            "status": meta.get("statusCode"),
            "source": source if isinstance(source, dict) else None,
            # Cloudflare's own tracing id: not propagated outside Cloudflare, so not a cross-system trace id
            "cf_trace_id": meta.get("traceId"),
        }
    )
    events.append(
        Event(
            ts,
            "worker",
            "worker",
            norm_level(level, "error" if error else "log"),
            message,
            tid,
            how,
            opt_str(meta.get("requestId") or workers.get("requestId")),
            None,
            context,
            stack,
            None,
        )
    )
    if "cpuTimeMs" in workers or meta.get("type") == "cf-worker-event":
        metrics.append(
            Metric(
                ts,
                "worker",
                "worker_invocation",
                _drop_none(
                    {
                        "script": context.get("script"),
                        "outcome": workers.get("outcome"),
                        "cpu_ms": workers.get("cpuTimeMs"),
                        "wall_ms": workers.get("wallTimeMs"),
                    }
                ),
            )
        )
    return None


# the dashboard's copy of one event (its log view's JSON) leaves `timestamp` out: the view prints the time
# beside it, in the viewer's zone. The advice after `;`: the summary counts reasons cut at " (" and ":"
NO_TIME_COPIED = (
    "no 'timestamp', as in an event copied from the dashboard's log view; save the query API's response or the "
    "dashboard's JSON export instead, which keep it"
)


def _workers_logs_ts(obj: dict[str, Any], exception: dict[str, Any]) -> int:
    """The event's time: its `timestamp`; an event without one (copied from the dashboard's log view) that
    records an uncaught exception has the exception's own (`exception.timestamp`, epoch ms)."""
    if "timestamp" in obj:
        return require_ts(obj["timestamp"], "timestamp")
    if "timestamp" in exception:
        return require_ts(exception["timestamp"], "exception.timestamp")
    raise RecordError(NO_TIME_COPIED)


def _workers_logs_error(raw: Any) -> tuple[str | None, str | None]:
    """`$metadata.error` as (its text's first line, for the message; the whole text when it has more lines,
    a stack, for the `stack` column) — as a Logpush `Exceptions[]` entry gives `Name: Message` and `Stack`.
    An object is read as an exception's `{name, message, stack}`."""
    if raw is None or raw == "" or raw is False:
        return None, None
    if isinstance(raw, dict):
        name, text, stack = raw.get("name"), raw.get("message"), raw.get("stack")
        if name is None and text is None:
            return as_text(raw), opt_str(stack)
        head = f"{as_text(name or 'Error')}: {as_text(text)}" if text is not None else as_text(name)
        return head, opt_str(stack)
    full = as_text(raw).strip()
    if not full:
        return None, None
    head = full.splitlines()[0].strip()
    return head, (full if head != full else None)


def workers_logs_events(obj: dict[str, Any]) -> list[Any] | None:
    """The events of a whole Workers Logs query-API response (`{success, result: {events: {events: […]}}}`,
    as `curl` saves it), or None when `obj` is not one."""
    result = obj.get("result")
    if not isinstance(result, dict):
        return None
    events = result.get("events")
    if isinstance(events, dict):
        events = events.get("events")
    return events if isinstance(events, list) else None


def _parse_workers_logs_response(items: list[Any], events: list[Event], metrics: list[Metric]) -> str | None:
    """A whole query-API response's events, each as `parse_workers_logs` reads one."""
    each_object(items, "result.events.events", lambda item: parse_workers_logs(item, events, metrics))
    return None if items else "no events in the query response"


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None and v != ""}
