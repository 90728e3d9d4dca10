"""Trace ids in message text: the shapes the live system and its users write (the compiled parser is held to
the same results by tests/test_fastparse_differential.py)."""

from __future__ import annotations

import pytest

from logcorr.sources.traceid import from_message


@pytest.mark.parametrize(
    ("message", "tid"),
    [
        ("trace_id: abc123", "abc123"),
        ("request done trace-id=abc123.", "abc123"),
        ('{"traceId":"abc123","x":1}', "abc123"),
        # console.log("trace_id:", id) as Convex log streams render arguments (each string quoted)
        ("'trace_id:' 'convex_1716100000000_k3j4h5g6f'", "convex_1716100000000_k3j4h5g6f"),
        ("'traceId:' 'abc123'", "abc123"),
        ("'trace_id=' \"abc123\"", "abc123"),
        ("'trace_id' 'abc123'", "abc123"),
        # the console override's ids, and its test generator's `trace_${Date.now()}_test_${system}`
        ("click for trace_1714910400000_k3j9x2m1p", "trace_1714910400000_k3j9x2m1p"),
        ("[TEST] worker log for trace_1714920000000_test_worker", "trace_1714920000000_test_worker"),
        ("trace_1714920000000_test_browser, then more", "trace_1714920000000_test_browser"),
        ("trace_1714920000000_test_Worker", None),  # not the generator's (lower-case system names)
        ("trace_id: null", None),
        ("no id here", None),
        # prose about trace ids names none: after a space alone, a word without a digit is not an id
        ("Missing trace_id in request, generating one", None),
        ("Invalid trace-id format", None),
        ("Generated new trace_id for session", None),
        ("Missing trace_id in request body", None),
        ("TRACE_ID X9", "X9"),
        ("trace_id abc", None),
        ("trace_id 'abc'", "abc"),  # quoted: stated as an id
        ("trace_id: abc", "abc"),
        # a word taken for no id does not hide the id the message names further on
        ("'Using traceId from header' 'trace_1754568000000_abc123'", "trace_1754568000000_abc123"),
        ("no trace_id in header, trace_id: req42 from body", "req42"),
        ("trace_id null, then trace-id=abc", "abc"),
    ],
)
def test_message_patterns(message: str, tid: str | None) -> None:
    assert from_message(message) == tid
