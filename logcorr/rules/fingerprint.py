"""Message fingerprints (what "identical message" means to the loop and cross-system rules) and
event keys (what "the same event delivered twice" means to the duplicate-delivery rule).

Ingest computes both while staging: compiled (`stage_keys` in `logcorr/_fastparse.c`), else in DuckDB
with the macros below; `fingerprint()` is the same function in Python for loads built outside the
database. Tests hold the three to the same results.
"""

from __future__ import annotations

import re
from hashlib import md5

from logcorr.sources.convex_stream import unquote_inspect
from logcorr.sources.worker_formats import RAY_ID_EXPORTS
from logcorr.store.query import sql_words

# the Convex client's echo of a server log line in the browser console:
# "[CONVEX M(messages:send)] [LOG] 'Sent message!'". The client logs a console line styled
# (npm `convex`, `browser/logging.ts` `logForFunction`: `console.log("%c[CONVEX M(path)] [LOG]",
# "color:rgb(0, 145, 255)", text)`), and the console override joins the arguments with a space, so the live
# system ships "%c[CONVEX M(messages:send)] [LOG] color:rgb(0, 145, 255) 'Sent message!'": the `%c` and the
# style argument it consumes are part of the prefix. Its errors are logged unstyled ("[CONVEX M(path)] Uncaught …")
# (white space spelled out: Python's \s also matches \v and Unicode spaces, RE2's in DuckDB does not)
_ECHO_LEVEL = r"\[(?:LOG|INFO|WARN|ERROR|DEBUG)\]"
_ECHO_WS = r"[ \t\n\f\r]*"
ECHO_PREFIX = (
    r"^(?:\[CONVEX [QMAH]\([^)]*\)\]" + _ECHO_WS + "(?:" + _ECHO_LEVEL + _ECHO_WS + ")?"
    r"|%c\[CONVEX [QMAH]\([^)]*\)\]"
    + _ECHO_WS
    + "(?:"
    + _ECHO_LEVEL
    + _ECHO_WS
    + r"(?:color:[ \t]*[^ \t\n\f\r(;]*(?:\([^)]*\))?;?"
    + _ECHO_WS
    + ")?)?)"
)
_ECHO = re.compile(ECHO_PREFIX)
_ECHO_STARTS = ("[CONVEX ", "%c[CONVEX ")
_WS = " \t\n\f\r"  # RE2's \s, so Python and DuckDB trim alike


def normalise(message: str) -> str:
    """The text compared across systems: an echo's prefix removed, and the quotes object-inspect puts around a
    single string argument, as the Convex adapters remove them from the backend's copy (`unquote_inspect`: a
    line of several arguments, `'took' 1402 'ms'`, keeps them there and here); trimmed."""
    if message.startswith(_ECHO_STARTS):
        message = unquote_inspect(_ECHO.sub("", message, count=1))
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


# `unquote_inspect` in RE2 (`(?s)`: its Python regex is DOTALL), as SQL string literals' text
_INSPECT_SQL = r"(?s)'(?:[^'\\]|\\.)*'".replace("'", "''")
_ESCAPED_QUOTE_SQL = "\\''"


# DuckDB macros with the same meaning, used when rows are staged
MACROS_SQL = f"""
CREATE OR REPLACE TEMP MACRO lc_echo_strip(m) AS
    CASE WHEN regexp_full_match(m, '{_INSPECT_SQL}') THEN replace(substr(m, 2, length(m) - 2), '{_ESCAPED_QUOTE_SQL}', '''')
         ELSE m END;
CREATE OR REPLACE TEMP MACRO lc_normalise(m) AS
    regexp_replace(
        CASE WHEN starts_with(m, '[CONVEX ') OR starts_with(m, '%c[CONVEX ') THEN lc_echo_strip(regexp_replace(m, '{ECHO_PREFIX}', '')) ELSE m END,
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
