"""Browser console-override payloads, both forms of the live system (reference §1.2, §1.3).

Older form (eras A/B): {level, args[], trace_id, user_id, system_area, timestamp, stack_trace}.
Newer form (era C, also the worker's `POST /log` request body): {trace_id, message, level, system,
user_id, stack, context{timestamp, url, userAgent}}. The newer form's `system` may say `convex`: the
console override tags Convex lines echoed in the browser console that way; such a line is kept as a
browser event (that is where it was captured) with system_label `convex`. A `convex` body that comes
from the backend itself (no page url / user agent, Convex's own context keys) is a backend event.
"""

from __future__ import annotations

from typing import Any

from logcorr.model import (
    Event,
    Metric,
    RecordError,
    as_text,
    norm_level,
    norm_system,
    opt_str,
    require_ts,
    to_ms,
)
from logcorr.sources import traceid


def parse_v1(obj: dict[str, Any], events: list[Event], metrics: list[Metric]) -> str | None:
    """The older payload: console arguments as `args[]`, client time in `timestamp`."""
    args = obj.get("args")
    if isinstance(args, list):
        message = " ".join(as_text(a) for a in args)
    elif isinstance(args, str):
        message = args
    else:
        raise RecordError("'args' must be a list of console arguments")
    ts = require_ts(obj.get("timestamp"), "timestamp")
    label = opt_str(obj.get("system_area")) or "browser"
    tid, how = traceid.find(obj, message)
    events.append(
        Event(
            ts,
            norm_system(label, "browser"),
            label,
            norm_level(obj.get("level")),
            message,
            tid,
            how,
            None,
            opt_str(obj.get("user_id")),
            None,
            opt_str(obj.get("stack_trace")),
            None,
        )
    )
    return None


def system_of_request(label: str | None, context: dict[str, Any] | None) -> str:
    """Where a `{trace_id, message, level, system, context}` body was captured.

    `convex` means a backend line when the body came from Convex itself, and a browser echo of a
    Convex line when it carries a page url or browser user agent.
    """
    if label is None:
        return "browser"
    system = norm_system(label, "browser")
    if system == "backend" and isinstance(context, dict) and ("url" in context or "userAgent" in context):
        return "browser"
    return system


def parse_v2(obj: dict[str, Any], events: list[Event], metrics: list[Metric]) -> str | None:
    """The newer payload: one joined `message`, client time in `context.timestamp`."""
    message = obj.get("message")
    if not isinstance(message, str):
        if message is None:
            raise RecordError("missing 'message'")
        message = as_text(message)
    context = obj.get("context")
    if not isinstance(context, dict):
        context = None
    ts = to_ms(context.get("timestamp")) if context else None
    if ts is None:
        ts = require_ts(obj.get("timestamp"), "context.timestamp")
    else:
        ts = require_ts(ts, "context.timestamp")
    label = opt_str(obj.get("system"))
    tid, how = traceid.find(obj, message, context)
    events.append(
        Event(
            ts,
            system_of_request(label, context),
            label or "browser",
            norm_level(obj.get("level")),
            message,
            tid,
            how,
            None,
            opt_str(obj.get("user_id")),
            context,
            opt_str(obj.get("stack")),
            None,
        )
    )
    return None
