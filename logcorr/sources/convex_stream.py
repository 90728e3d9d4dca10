"""Convex log streams (reference convex §1): webhook format "2" (JSON array bodies or JSON lines), the
legacy format "1" (`_topic`, `_timestamp`), events wrapped in `{"data": …}` (the Axiom form), and the
live repo's own assumed webhook shape `{logs:[{id, timestamp, level, message, context, metadata}]}`.

`console` lines and `function_execution` records become events; `function_execution` usage and every
other topic are kept as metrics for cost analysis; `verification` pings are skipped with a count.
`null` is treated as absent everywhere (the serializer writes None as null).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from logcorr.model import Event, Metric, RecordError, as_text, norm_level, opt_str, require_ts
from logcorr.sources import traceid
from logcorr.sources.base import sub

_INSPECT_STRING = re.compile(r"^'((?:[^'\\]|\\.)*)'$", re.DOTALL)
_LEVEL_PREFIX = re.compile(r"^\[(LOG|INFO|WARN|WARNING|ERROR|DEBUG)\]\s?")


def _text(raw: Any) -> str:
    """A message that is not a string as text: null or missing is no text (Convex writes an absent Rust
    `Option` as null), anything else as a console argument renders."""
    return "" if raw is None else as_text(raw)


def unquote_inspect(message: str) -> str:
    """`'Sent message!'` (object-inspect's rendering of one string argument) → `Sent message!`."""
    if message[:1] == "'" and message[-1:] == "'" and len(message) >= 2:
        inner = message[1:-1]
        if "'" not in inner and "\\" not in inner:
            return inner  # what the regex below gives when nothing inside is escaped
        m = _INSPECT_STRING.match(message)
        if m:
            return m.group(1).replace("\\'", "'")
    return message


def split_level_prefix(message: str, default: str = "log") -> tuple[str, str]:
    """`[LOG] 'text'` (legacy and CLI lines) → ("log", "text")."""
    m = _LEVEL_PREFIX.match(message)
    if m:
        return norm_level(m.group(1)), unquote_inspect(message[m.end() :])
    return default, unquote_inspect(message)


def execution_message(ftype: Any, path: Any, ok: bool, ms: Any, error: Any) -> str:
    """The text of a function-execution event, e.g. `mutation messages:send failure in 73 ms: Error…`."""
    took = f" in {round(ms)} ms" if isinstance(ms, int | float) and not isinstance(ms, bool) else ""
    text = f"{ftype or 'function'} {path or '?'} {'success' if ok else 'failure'}{took}"
    if error:
        text += f": {as_text(error)}"
    return text


def backend_event(
    ts: int,
    level: str,
    message: str,
    request_id: str | None,
    context: dict[str, Any] | None,
    stack: str | None = None,
    extra_trace: dict[str, Any] | None = None,
    cut: bool = False,
) -> Event:
    """A Convex backend line (trace id from its text, else from `extra_trace`'s fields); shared with the CLI adapter.
    `cut`: Convex truncated the text (`traceid.from_message`)."""
    tid = traceid.from_message(message, cut)
    how = "message" if tid else "none"
    if tid is None and extra_trace:
        tid = traceid.from_fields(extra_trace)
        how = "field" if tid else "none"
    return Event(ts, "backend", "convex", level, message, tid, how, request_id, None, context, stack, None)


_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


@lru_cache(maxsize=4096)  # the same few dozen names on every record: the regex was half a CLI-log ingest
def camel_to_snake(key: str) -> str:
    """`databaseIoReadBytes` → `database_io_read_bytes`."""
    return _CAMEL.sub(r"_\1", key).lower()


def udf_type(value: Any) -> Any:
    """A function type as format 2 spells it: `Query`/`HttpAction` (the CLI), `httpAction` (format 1) →
    `query`/`http_action`."""
    return camel_to_snake(value) if isinstance(value, str) else value


def _nn(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def parse_v2(obj: dict[str, Any], events: list[Event], metrics: list[Metric]) -> str | None:
    """One format-"2" event (also unwrapped from `{"data": …}`)."""
    if "topic" not in obj and isinstance(obj.get("data"), dict):
        obj = obj["data"]
    topic = obj.get("topic")
    if not isinstance(topic, str):
        raise RecordError("'topic' must be a string")
    ts = require_ts(obj.get("timestamp"), "timestamp")
    if topic == "verification":
        return "verification event"
    fn = sub(obj, "function")
    deployment = sub(obj, "convex")
    request_id = opt_str(fn.get("request_id"))
    if topic == "console":
        raw = obj.get("message")
        message = unquote_inspect(raw) if isinstance(raw, str) else _text(raw)
        context = _nn(
            {
                "function": fn.get("path"),
                "function_type": fn.get("type"),
                "component_path": fn.get("component_path"),
                "is_truncated": obj.get("is_truncated") or None,
                "system_code": obj.get("system_code"),
                "deployment": deployment.get("deployment_name"),
            }
        )
        events.append(
            backend_event(
                ts,
                norm_level(obj.get("log_level")),
                message,
                request_id,
                context or None,
                cut=bool(obj.get("is_truncated")),
            )
        )
        return None
    if topic == "function_execution":
        ok = obj.get("status") != "failure"
        error = obj.get("error_message")
        message = execution_message(fn.get("type"), fn.get("path"), ok, obj.get("execution_time_ms"), error)
        context = _nn(
            {
                "function": fn.get("path"),
                "function_type": fn.get("type"),
                "component_path": fn.get("component_path"),  # only for a function in a component
                "status": obj.get("status"),
                "execution_time_ms": obj.get("execution_time_ms"),
                "cached": fn.get("cached"),
                "run_reason": obj.get("run_reason"),
                "occ_info": obj.get("occ_info"),
                "deployment": deployment.get("deployment_name"),
            }
        )
        events.append(backend_event(ts, "info" if ok else "error", message, request_id, context))
        usage = sub(obj, "usage")
        metrics.append(
            Metric(
                ts,
                "backend",
                "function_execution",
                _nn(
                    {
                        "type": fn.get("type"),
                        "path": fn.get("path"),
                        "component_path": fn.get("component_path"),
                        "status": obj.get("status"),
                        "cached": fn.get("cached"),
                        "execution_time_ms": obj.get("execution_time_ms"),
                        "request_id": request_id,
                        **{k: v for k, v in usage.items() if v is not None},
                    }
                ),
            )
        )
        return None
    data = {k: v for k, v in obj.items() if k not in ("topic", "timestamp", "convex") and v is not None}
    metrics.append(Metric(ts, "backend", topic, data))
    return None


def parse_v1(obj: dict[str, Any], events: list[Event], metrics: list[Metric]) -> str | None:
    """One legacy format-"1" event (`_topic`, `_timestamp`, camelCase fields)."""
    if "_topic" not in obj and isinstance(obj.get("data"), dict):
        obj = obj["data"]
    topic = obj.get("_topic")
    if not isinstance(topic, str):
        raise RecordError("'_topic' must be a string")
    ts = require_ts(obj.get("_timestamp"), "_timestamp")
    ftype = udf_type(obj.get("_functionType"))  # `httpAction` → `http_action`, as format 2 spells it
    context = _nn(
        {
            "function": obj.get("_functionPath"),
            "function_type": ftype,
            "cached": obj.get("_functionCached"),
        }
    )
    if topic == "_verification":
        return "verification event"
    if topic == "_console":
        raw = obj.get("message")
        level, message = split_level_prefix(raw if isinstance(raw, str) else _text(raw))
        events.append(backend_event(ts, level, message, None, context or None))
        return None
    if topic == "_execution_record":
        ok = obj.get("status") != "failure"
        message = execution_message(
            ftype,
            obj.get("_functionPath"),
            ok,
            obj.get("executionTimeMs"),
            obj.get("reason"),
        )
        events.append(backend_event(ts, "info" if ok else "error", message, None, context or None))
        metrics.append(
            Metric(
                ts,
                "backend",
                "function_execution",
                _nn(
                    {
                        "type": ftype,
                        "path": obj.get("_functionPath"),
                        "status": obj.get("status"),
                        "cached": obj.get("_functionCached"),
                        "execution_time_ms": obj.get("executionTimeMs"),
                        "database_read_bytes": obj.get("databaseReadBytes"),
                        "database_write_bytes": obj.get("databaseWriteBytes"),
                        "database_io_read_bytes": obj.get("databaseIoReadBytes"),
                        "database_io_write_bytes": obj.get("databaseIoWriteBytes"),
                        "file_storage_read_bytes": obj.get("storageReadBytes"),
                        "file_storage_write_bytes": obj.get("storageWriteBytes"),
                        "network_egress_bytes": obj.get("networkEgressBytes"),
                    }
                ),
            )
        )
        return None
    data = {k: v for k, v in obj.items() if k not in ("_topic", "_timestamp") and v is not None}
    metrics.append(Metric(ts, "backend", topic.lstrip("_"), data))
    return None


def parse_repo_webhook(obj: dict[str, Any], events: list[Event], metrics: list[Metric]) -> str | None:
    """The live repo's assumed webhook body `{logs:[…], source:'convex'}`, or one of its entries."""
    entries = obj.get("logs") if "logs" in obj else [obj]
    if not isinstance(entries, list):
        raise RecordError("'logs' must be a list")
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            raise RecordError(f"logs[{i}] is not an object")
        ts = require_ts(e.get("timestamp"), f"logs[{i}].timestamp")
        raw = e.get("message")
        message = raw if isinstance(raw, str) else _text(raw)
        ctx = sub(e, "context")
        meta = e.get("metadata") if isinstance(e.get("metadata"), dict) else None
        context = _nn(
            {
                "function": ctx.get("functionName"),
                "function_id": ctx.get("functionId"),
                "environment": ctx.get("environmentName"),
                "deployment": ctx.get("deploymentId"),
                "metadata": meta,
            }
        )
        stack = opt_str(meta.get("stack")) if meta else None
        ev = backend_event(ts, norm_level(e.get("level"), "info"), message, opt_str(ctx.get("requestId")), context,
                           stack, meta)  # fmt: skip
        # the user id as the live handler stored it: named in the message, else 'system'
        found = _USER_IN_MESSAGE.search(message)
        events.append(ev._replace(user_id=found.group(1) if found else "system"))
    return None if entries else "empty logs list"


# the live webhook handler's user-id pattern (reference §3.4), `userId:` included
_USER_IN_MESSAGE = re.compile(r"user[_-]?id[:\s]+([a-zA-Z0-9_-]+)", re.IGNORECASE)
