"""`npx convex logs --jsonl` (reference convex §2): the internal `FunctionExecutionJson` entries, tagged
by `kind` (`Completion` | `Progress`), camelCase, with record times in float seconds and log-line
times in ms. Each log line becomes an event; a Completion also becomes a function-execution event
and a `function_execution` metric (its `usageStats`).
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
from logcorr.sources.base import sub
from logcorr.sources.convex_stream import (
    backend_event,
    camel_to_snake,
    execution_message,
    split_level_prefix,
    udf_type,
    unquote_inspect,
)

# usage fields the log streams spell otherwise than snake_case of the CLI's name (the same counters: Convex's
# legacy-schema docs map format 1's `storageReadBytes` to `file_storage_read_bytes`). The CLI's vector- and
# text-index counters keep their own names: which log-stream field each is, no source says.
_STREAM_NAMES = {
    "storageReadBytes": "file_storage_read_bytes",
    "storageWriteBytes": "file_storage_write_bytes",
}


def snake(key: str) -> str:
    """`databaseIoReadBytes` → `database_io_read_bytes`: a usage field as the log streams spell it (see
    `_STREAM_NAMES`), else in snake_case."""
    return _STREAM_NAMES.get(key) or camel_to_snake(key)


def parse(obj: dict[str, Any], events: list[Event], metrics: list[Metric]) -> str | None:
    kind = obj.get("kind")
    if kind not in ("Completion", "Progress"):
        # name the value only when it looks like a kind: reject reasons are printed, and a field may hold anything
        shown = (
            repr(kind)
            if isinstance(kind, str) and len(kind) <= 40 and kind.isidentifier()
            else type(kind).__name__
        )
        raise RecordError(f"unknown convex logs entry kind {shown} (expected Completion or Progress)")
    ts = require_ts(obj.get("timestamp"), "timestamp")
    request_id = opt_str(obj.get("requestId"))
    path = obj.get("identifier")
    context = {
        k: v
        for k, v in (("function", path), ("function_type", udf_type(obj.get("udfType"))))
        if v is not None
    }
    if obj.get("componentPath"):
        context["component_path"] = obj["componentPath"]
    lines = obj.get("logLines")
    if lines is not None and not isinstance(lines, list):
        raise RecordError("'logLines' must be a list")
    for line in lines or ():
        if isinstance(line, str):
            level, message = split_level_prefix(line)
            lts = ts
        elif isinstance(line, dict):
            msgs = line.get("messages")
            if isinstance(msgs, list):
                # joined, then unquoted as a whole, as a log stream's `message` is the same arguments joined
                # (`'took' 1402 'ms'`): the two exports of one line are then one event, and it matches the
                # browser's echo of it (rule 5)
                message = unquote_inspect(" ".join(m if isinstance(m, str) else as_text(m) for m in msgs))
            else:
                message = as_text(msgs) if msgs is not None else ""
            level = norm_level(line.get("level"))
            own = to_ms(line.get("timestamp"))
            lts = own if own is not None and valid_ts(own) else ts
        else:
            continue
        cut = isinstance(line, dict) and bool(line.get("isTruncated"))
        events.append(backend_event(lts, level, message, request_id, context or None, cut=cut))
    if kind == "Completion":
        error = obj.get("error")
        # the serializer writes `success: null` for queries, mutations and actions (only HTTP actions
        # carry an object with the response status): a Completion failed exactly when it has an error
        ok = not error and obj.get("success") is not False
        secs = obj.get("executionTime")
        ms = secs * 1000 if isinstance(secs, int | float) and not isinstance(secs, bool) else None
        message = execution_message(udf_type(obj.get("udfType")), path, ok, ms, error)
        events.append(backend_event(ts, "info" if ok else "error", message, request_id, context or None))
        usage = sub(obj, "usageStats")
        metrics.append(
            Metric(
                ts,
                "backend",
                "function_execution",
                {
                    "type": udf_type(obj.get("udfType")),
                    "path": path,
                    "status": "success" if ok else "failure",
                    "cached": obj.get("cachedResult"),
                    "execution_time_ms": ms,
                    "request_id": request_id,
                    **{snake(k): v for k, v in usage.items() if v is not None},
                },
            )
        )
    # the other lines of the run take the trace id one of them carries from the stager's request map, as a log
    # stream's lines (one record each) do: given here, it was part of these lines' event key and not of the
    # stream's copies, and the two exports of one line were stored twice
    return None
