"""Trace-id extraction: explicit fields, then trace headers, then patterns in the message text.

Returns the id and how it was found (`field`, `header`, `message`); adapters add `request_id`
(propagated from a sibling line of the same request) and `none`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

FIELD_NAMES: tuple[str, ...] = (
    "trace_id",
    "traceId",
    "traceID",
    "trace-id",
    "correlation_id",
    "correlationId",
)

# header names are compared lower-case. The app's own id headers come first; W3C `traceparent` and
# `sentry-trace` carry a tracing SDK's id, which the app's own lines (the console override's
# `trace_<ms>_<rand>`, Convex function args) do not: it is taken only when nothing names the app's
APP_HEADERS: tuple[str, ...] = ("x-trace-id", "x-correlation-id", "trace-id")
TRACING_HEADERS: tuple[str, ...] = ("traceparent", "sentry-trace")

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")
_SENTRY = re.compile(r"^([0-9a-f]{32})(?:-[0-9a-f]{16})?(?:-[01])?$")

# `trace_id: X`, `trace-id=X`, `TRACE_ID X`, `traceId: "X"`, `"trace_id":"X"` (JSON inside a message), and
# console.log("trace_id:", id) as Convex renders its arguments: `'trace_id:' 'X'`. Groups: the separator, the
# two places a quote may open the id, the id: at most `MAX_ID` characters, as a field's (`clean_id`); a longer
# run is no id (cut, it would be another id, or the same as another long id's first characters).
# The key is a trace id's name, not a longer name that ends in one: `prev_trace_id`, `parent-trace-id`,
# `oldTraceId`, `x_trace_id` name another trace (a key joined to a word before it by `_`, `-` or a camel hump is
# left alone), as `FIELD_NAMES` are whole names; the header `x-trace-id` is the one such name taken (`--trace-id`,
# `ctx.trace_id`, `[trace_id=` start a name)
MAX_ID = 256
_KEY_START = r"(?<![A-Za-z0-9_])(?<![A-Za-z0-9_]-)(?:x-)?"
_MSG_KEYED = re.compile(
    _KEY_START + r"""trace[_-]?id["']?\s*([:=\s])(["']?)\s*(["']?)([A-Za-z0-9][A-Za-z0-9_.:\-]{0,255})""",
    re.IGNORECASE,
)
_ID_TEXT = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-"
_ID_CHARS = frozenset(_ID_TEXT)
# what Logpush writes where it cut a message at the invocation's 16,384 characters
_LOGPUSH_CUT = "<<<Logpush: "
# the browser console override's own ids, trace_<epoch-ms>_<base36>, and its test generator's,
# trace_<epoch-ms>_test_<system>
_MSG_BARE = re.compile(r"\b(trace_\d{10,}_[a-z0-9]+(?:_[a-z0-9]+)*)\b")
_MSG_TRACEPARENT = re.compile(r"\b[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}\b")

_TRAILING = ".,:;"
_KEY_VALUE_GAP = frozenset(" \t\n\r\x0b\x0c\"':=")
# values a program writes where it has no id: JavaScript's `${undefined}`, `String(NaN)`, `String({})`, Go's
# `<nil>`, C's `(null)`, a template never filled in (`${traceId}`, `{{trace_id}}`, `%s`), and the all-zero ids
# (W3C's invalid trace id, the nil UUID, `0`). One such value, shared by every request that had no id, joined
# thousands of unrelated requests into one "trace"
_NOT_IDS = frozenset(
    {"null", "undefined", "none", "unknown", "", "n/a", "nan", "nil", "true", "false", "[object object]",
     "(null)", "<nil>", "<null>", "%s"}
)  # fmt: skip
_UNFILLED = ("${", "{{")
_ZERO_ID = frozenset("0-")


def placeholder(value: str) -> bool:
    """Whether `value` (stripped) is no id but what a program writes where it has none (`_NOT_IDS`)."""
    return value.lower() in _NOT_IDS or value.startswith(_UNFILLED) or all(c in _ZERO_ID for c in value)


def clean_id(value: Any) -> str | None:
    """A usable trace id from a field value, or None for empty/placeholder values."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    v = value.strip()
    if placeholder(v) or len(v) > MAX_ID:
        return None
    return v


def from_fields(obj: Mapping[str, Any]) -> str | None:
    """The first usable trace id among the well-known field names of `obj`."""
    for name in FIELD_NAMES:
        if name in obj:
            tid = clean_id(obj[name])
            if tid:
                return tid
    return None


def from_headers(headers: Any, names: tuple[str, ...] = APP_HEADERS + TRACING_HEADERS) -> str | None:
    """A trace id from `x-trace-id`-style headers, then W3C `traceparent` or `sentry-trace` (of `names`)."""
    if not isinstance(headers, Mapping) or not headers:
        return None
    lowered = {str(k).lower(): v for k, v in headers.items()}
    for name in names:
        raw = lowered.get(name)
        if not isinstance(raw, str):
            continue
        raw = raw.strip()
        if name == "traceparent":
            m = _TRACEPARENT.match(raw.lower())
            if m and m.group(1) != "0" * 32:
                return m.group(1)
        elif name == "sentry-trace":
            m = _SENTRY.match(raw.lower())
            if m and not placeholder(m.group(1)):
                return m.group(1)
        else:
            tid = clean_id(raw)
            if tid:
                return tid
    return None


def _stated(m: re.Match[str]) -> bool:
    """Whether a keyed match says it names an id: a `:` or `=` after the key, or the id quoted. After a
    space alone the word may be prose (`Missing trace_id in request`, `Invalid trace-id format`): such a
    word is taken only with a digit in it, as every generated id has."""
    return m.group(1) in ":=" or bool(m.group(2)) or bool(m.group(3))


_KEY_TAIL = ("traceid", "trace_id", "trace-id")


def _after_a_key(message: str, at: int) -> bool:
    """Whether the id at `at` is the value of a key that ends in a trace id's name (`prev_trace_id: trace_…`,
    `{"parentTraceId":"trace_…"}`, `'old_trace_id:' 'trace_…'`): between them only blanks, quotes, `:` and
    `=`. A key that is the name itself was read by `_MSG_KEYED` already (or its id refused as too long), so
    such a key names another trace, and its value is none of the line's."""
    i = at
    while i > 0 and message[i - 1] in _KEY_VALUE_GAP:
        i -= 1
    if i == at:
        return False
    word = message[max(0, i - 8) : i].lower()
    return word.endswith(_KEY_TAIL)


def from_message(message: str, cut: bool = False) -> str | None:
    """A trace id mentioned in free text, or None. `cut`: the text was cut at a length limit (Convex's
    `is_truncated`, 4 KiB), so the run of id characters it ends with may be an id's first part, which named
    a trace of its own (`trace_17645472`): it names none, and the line takes its request's id. Logpush marks
    its cut (`unable to <<<Logpush: messages truncated>>>`): the text before the mark is read so."""
    at = message.find(_LOGPUSH_CUT)
    if at >= 0:
        message, cut = message[:at], True
    if cut:
        message = message.rstrip(_ID_TEXT)
    if "race" in message or "RACE" in message:
        at = 0
        while (m := _MSG_KEYED.search(message, at)) is not None:
            tid = m.group(4).rstrip(_TRAILING)
            # a run longer than MAX_ID, or one going on with `/` (`trace_id=N/A`, a path), is no id
            longer = m.end(4) < len(message) and (message[m.end(4)] in _ID_CHARS or message[m.end(4)] == "/")
            if (
                tid
                and not longer
                and not placeholder(tid)
                and (_stated(m) or any("0" <= c <= "9" for c in tid))
            ):
                return tid
            at = m.start() + 1
        for m in _MSG_BARE.finditer(message):
            if not _after_a_key(message, m.start()):
                return m.group(1)
    if "-" in message and len(message) >= 55:
        m = _MSG_TRACEPARENT.search(message)
        if m and m.group(1) != "0" * 32:
            return m.group(1)
    return None


def find(
    obj: Mapping[str, Any] | None,
    message: str,
    context: Mapping[str, Any] | None = None,
    headers: Any = None,
) -> tuple[str | None, str]:
    """Trace id and its source, trying record fields, context fields, the app's id headers, message text,
    then a tracing SDK's headers (`traceparent`, `sentry-trace`: see `APP_HEADERS`)."""
    if obj is not None:
        tid = from_fields(obj)
        if tid:
            return tid, "field"
    if context:
        tid = from_fields(context)
        if tid:
            return tid, "field"
        if headers is None:
            headers = context.get("headers")
    tid = from_headers(headers, APP_HEADERS)
    if tid:
        return tid, "header"
    tid = from_message(message)
    if tid:
        return tid, "message"
    tid = from_headers(headers, TRACING_HEADERS)
    if tid:
        return tid, "header"
    return None, "none"
