"""`npx convex logs --jsonl` (reference convex §2): the internal `FunctionExecutionJson` entries, tagged
by `kind` (`Completion` | `Progress`), camelCase, with record times in float seconds and log-line
times in ms. Each log line becomes an event; a Completion also becomes a function-execution event
and a `function_execution` metric (its `usageStats`).
"""

from __future__ import annotations

import math
from decimal import ROUND_FLOOR, Decimal
from fractions import Fraction
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

# usage fields the log streams spell otherwise than snake_case of the CLI's name: the same counters of the
# backend's `AggregatedFunctionUsageStats`, which `stream_function_logs` writes as `storageReadBytes`,
# `vectorIndexReadBytes` (crates/local_backend/src/logs.rs) and a log stream as `file_storage_read_bytes`,
# `vector_storage_read_bytes` (crates/common/src/log_streaming.rs, `Usage`). The CLI's search-query counters
# keep their own names: which log-stream field each is, no source read says.
_STREAM_NAMES = {
    "storageReadBytes": "file_storage_read_bytes",
    "storageWriteBytes": "file_storage_write_bytes",
    "vectorIndexReadBytes": "vector_storage_read_bytes",
    "vectorIndexWriteBytes": "vector_storage_write_bytes",
}


def snake(key: str) -> str:
    """`databaseIoReadBytes` → `database_io_read_bytes`: a usage field as the log streams spell it (see
    `_STREAM_NAMES`), else in snake_case."""
    return _STREAM_NAMES.get(key) or camel_to_snake(key)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def record_ms(value: Any, field: str) -> int:
    """A record's time in epoch ms as a log stream gives the same instant. The backend holds it in ns and prints
    `as_secs_f64()` here (the CLI's JSON keeps that double's shortest digits) and `as_millis()` in a stream:
    the printed seconds read as a decimal and truncated to the ms, not rounded (which gave the next ms for half
    the runs). Other forms (ms, ISO text) as any time."""
    if _finite(value) and abs(value) < 100_000_000_000:  # seconds (to_ms's magnitudes)
        ms = int((Decimal(repr(float(value))) * 1000).to_integral_value(rounding=ROUND_FLOOR))
        if not valid_ts(ms):
            raise RecordError(f"timestamp {field!r}={value!r} is outside 2000..2100")
        return ms
    return require_ts(value, field)


def duration_ms(secs: Any) -> int | None:
    """`executionTime` (f64 seconds, `Duration::as_secs_f64()`) as a stream's `execution_time_ms`:
    `Duration::from_secs_f64(secs).as_millis()`, the seconds rounded to the ns (exactly the backend's Duration:
    a double carries it within a fraction of a ns), then whole ms, truncated."""
    if not _finite(secs) or secs < 0:
        return None
    return round(Fraction(secs) * 1_000_000_000) // 1_000_000


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
    ts = record_ms(obj.get("timestamp"), "timestamp")
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
        ftype = udf_type(obj.get("udfType"))
        ms = duration_ms(obj.get("executionTime"))
        message = execution_message(ftype, path, ok, ms, error)
        events.append(backend_event(ts, "info" if ok else "error", message, request_id, context or None))
        usage = sub(obj, "usageStats")
        # the fields and order of a stream's `function_execution` metric (convex_stream.parse_v2): `cached` only
        # for a query, as the stream's `function.cached` (the backend's `cached_result` for queries, else null)
        data = {
            "type": ftype,
            "path": path,
            "component_path": obj.get("componentPath") or None,
            "status": "success" if ok else "failure",
            "cached": obj.get("cachedResult") if ftype == "query" else None,
            "execution_time_ms": ms,
            "request_id": request_id,
            **{snake(k): v for k, v in usage.items()},
        }
        metrics.append(
            Metric(ts, "backend", "function_execution", {k: v for k, v in data.items() if v is not None})
        )
    # the other lines of the run take the trace id one of them carries from the stager's request map, as a log
    # stream's lines (one record each) do: given here, it was part of these lines' event key and not of the
    # stream's copies, and the two exports of one line were stored twice
    return None
