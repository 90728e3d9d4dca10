"""Message fingerprints (what "identical message" means to the loop and cross-system rules) and
event keys (what "the same event delivered twice" means to the duplicate-delivery rule).

Ingest computes both while staging: compiled (`stage_keys` in `logcorr/_fastparse.c`), else in DuckDB
with the macros below; `fingerprint()` is the same function in Python for loads built outside the
database. Tests hold the three to the same results.
"""

from __future__ import annotations

import re
from hashlib import md5

from logcorr.sources.worker_formats import RAY_ID_EXPORTS
from logcorr.store.query import sql_words

# the Convex client's echo of a server log line in the browser console:
# "[CONVEX M(messages:send)] [LOG] 'Sent message!'"
# (white space spelled out: Python's \s also matches \v and Unicode spaces, RE2's in DuckDB does not)
ECHO_PREFIX = r"^\[CONVEX [QMAH]\([^)]*\)\][ \t\n\f\r]*(?:\[(?:LOG|INFO|WARN|ERROR|DEBUG)\][ \t\n\f\r]*)?"
_ECHO = re.compile(ECHO_PREFIX)
_WS = " \t\n\f\r"  # RE2's \s, so Python and DuckDB trim alike


def normalise(message: str) -> str:
    """The text compared across systems: echo prefix and object-inspect quotes removed, trimmed."""
    if message[:8] == "[CONVEX ":
        message = _ECHO.sub("", message, count=1)
        if len(message) >= 2 and message[0] == "'" and message[-1] == "'":
            message = message[1:-1]
    return message.strip(_WS)


def fingerprint(message: str) -> str:
    """16 hex digits identifying the (normalised) text of a message."""
    return md5(normalise(message).encode("utf-8", "surrogatepass")).hexdigest()[:16]


# the event key reads a redaction mark without its kind: the live Worker stored its copy of a browser line with
# its own mark (`"password": "[REDACTED]"`), the browser's export holds the secret, which logcorr replaces with
# `[REDACTED:password]`; the two are one event (docs/rules.md §3). No pattern of the redactor writes a mark
# without a kind, and two events that differ only in a secret are one event after redaction already
KEY_MARK = r"\[REDACTED:[A-Za-z0-9_]+\]"


# A Cloudflare Logpush or tail line with a Ray ID is keyed without its trace id: the same `console.log` line
# reaches both exports, but only a tail capture has the request's headers, whose `x-trace-id` / `traceparent`
# give the line a trace its Logpush copy lacks (and lines that name none take their siblings' one in either).
# The Ray ID, the line's time, text and position in the invocation already tell the line apart; the trace id a
# line names itself is in its text. Without a Ray ID (an invocation that is not a request) the trace stays in
# the key. See docs/formats.md "Duplicate delivery"
KEY_WITHOUT_TRACE = RAY_ID_EXPORTS
_KEY_WITHOUT_TRACE_SQL = sql_words(KEY_WITHOUT_TRACE)


# DuckDB macros with the same meaning, used when rows are staged
MACROS_SQL = f"""
CREATE OR REPLACE TEMP MACRO lc_echo_strip(m) AS
    CASE WHEN length(m) >= 2 AND starts_with(m, '''') AND ends_with(m, '''') THEN substr(m, 2, length(m) - 2) ELSE m END;
CREATE OR REPLACE TEMP MACRO lc_normalise(m) AS
    regexp_replace(
        CASE WHEN starts_with(m, '[CONVEX ') THEN lc_echo_strip(regexp_replace(m, '{ECHO_PREFIX}', '')) ELSE m END,
        '^[ \\t\\n\\f\\r]+|[ \\t\\n\\f\\r]+$', '', 'g');
CREATE OR REPLACE TEMP MACRO lc_fingerprint(m) AS left(md5(lc_normalise(m)), 16);
CREATE OR REPLACE TEMP MACRO lc_key_message(m) AS
    CASE WHEN contains(m, '[REDACTED:') THEN regexp_replace(m, '{KEY_MARK}', '[REDACTED]', 'g') ELSE m END;
CREATE OR REPLACE TEMP MACRO lc_key_trace(trace_id, request_id, source_format) AS
    CASE WHEN request_id IS NOT NULL AND source_format IN ({_KEY_WITHOUT_TRACE_SQL}) THEN NULL ELSE trace_id END;
CREATE OR REPLACE TEMP MACRO lc_event_key(ts_ms, system, level, message, trace_id, request_id, part) AS
    (md5_number(concat_ws(chr(31), ts_ms::VARCHAR, system, level, lc_key_message(message), coalesce(trace_id, ''),
                          coalesce(request_id, ''), part::VARCHAR)) >> 65)::BIGINT;
"""
