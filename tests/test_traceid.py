"""Trace ids in message text: the shapes the live system and its users write (the compiled parser is held to
the same results by tests/test_fastparse_differential.py)."""

from __future__ import annotations

import pytest

from logcorr.sources.traceid import clean_id, from_message


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


@pytest.mark.parametrize(
    ("message", "tid"),
    [
        # a longer key that ends in a trace id's name names another trace (the one before, a parent): the line's
        # own trace is not it (it was taken, and the line joined the trace it only referred to)
        ("prev_trace_id: abc123", None),
        ("parent_trace_id=abc123", None),
        ("old_traceId: abc123", None),
        ("parentTraceID=abc123", None),
        ("parent-trace-id: abc123", None),
        ('{"prev_trace_id":"abc123","n":1}', None),
        ("'prev_trace_id:' 'abc123'", None),
        ("x_trace_id: abc123", None),
        ("my-x-trace-id: abc123", None),
        # ... and does not hide the line's own id after it
        ("prev_trace_id: abc123 trace_id: def456", "def456"),
        ('{"parent_trace_id":"abc123","trace_id":"def456"}', "def456"),
        # names that start with the key: the header, a command-line flag, an object's field, brackets
        ("x-trace-id: abc123", "abc123"),
        ("X-Trace-Id=abc123", "abc123"),
        ("--trace-id=abc123", "abc123"),
        ("ctx.trace_id=abc123", "abc123"),
        ("[trace_id=abc123]", "abc123"),
        ("(TRACE_ID: abc123)", "abc123"),
        # the console override's own ids are whole words, as before
        ("prev_trace_1714910400000_k3j9x2m1p", None),
        # ... and under such a key one is another trace's too, though it has the form of the app's ids (it was
        # taken as a bare id: `prev_trace_id: trace_…` joined the trace it referred to)
        ("prev_trace_id: trace_1714910400000_k3j9x2m1p", None),
        ("{ parentTraceId: 'trace_1714910400000_k3j9x2m1p' }", None),
        ('{"old_trace_id":"trace_1714910400000_k3j9x2m1p"}', None),
        ("'prev_trace_id:' 'trace_1714910400000_k3j9x2m1p'", None),
        ("prev_trace_id: trace_1714910400000_k3j9x2m1p now trace_1714910400999_a1", "trace_1714910400999_a1"),
        ("retry of trace_1714910400000_k3j9x2m1p", "trace_1714910400000_k3j9x2m1p"),
    ],
)
def test_only_a_trace_id_name_is_a_key(message: str, tid: str | None) -> None:
    assert from_message(message) == tid


LONG = "sess-" + "a" * 150 + "-1"  # 157 characters: a field takes it whole (up to 256)


@pytest.mark.parametrize(
    ("message", "tid"),
    [
        # the text's id was cut to 128 characters: another id than the field's on the other systems' lines,
        # and the same as any other long id's that starts alike
        (f"trace_id: {LONG} done", LONG),
        (f"trace_id: {'x' * 255}1, next", "x" * 255 + "1"),
        # longer than a field's id may be: no id (cut, it would name another), nor the words after it
        (f"trace_id: {'x' * 256}1 done", None),
        (f"trace_id: {'y' * 300} then trace_id: abc_1", "abc_1"),
    ],
)
def test_a_long_id_in_text_is_taken_whole_or_not_at_all(message: str, tid: str | None) -> None:
    assert from_message(message) == tid
    assert clean_id(LONG) == LONG and clean_id("x" * 257) is None


# what a program writes where it has no id: each request that had none carried the same value, and thousands of
# unrelated requests were listed as one trace
PLACEHOLDERS = ["NaN", "nil", "false", "true", "[object Object]", "(null)", "<nil>", "<null>", "%s", "${traceId}",
                "{{trace_id}}", "0", "0" * 32, "00000000-0000-0000-0000-000000000000", "-"]  # fmt: skip


@pytest.mark.parametrize("value", PLACEHOLDERS)
def test_a_placeholder_is_no_trace_id(value: str) -> None:
    from logcorr.sources.traceid import find, from_fields

    assert clean_id(value) is None and clean_id(f" {value} ") is None
    assert from_fields({"trace_id": value, "traceId": "abc123"}) == "abc123"  # the next field is taken
    assert find(None, "m", None, {"x-trace-id": value}) == (None, "none")
    if value[0].isalnum():  # text: an id starts with a letter or digit
        assert from_message(f"handled trace_id={value} in 3 ms") is None
        assert from_message(f"trace_id: {value}, trace-id: abc123") == "abc123"


def test_zero_ids_are_no_ids_in_every_form() -> None:
    from logcorr.sources.traceid import from_headers

    assert clean_id(0) is None and clean_id(7) == "7"
    assert from_headers({"sentry-trace": "0" * 32 + "-00f067aa0ba902b7-1"}) is None
    assert clean_id("trace_0") == "trace_0" and clean_id("a0-0") == "a0-0"  # only all-zero ids


@pytest.mark.parametrize(
    ("message", "tid"),
    [
        # `N/A` was read as the id `N`: every line saying so joined one trace `N`
        ("trace_id=N/A", None),
        ("payment ok (trace_id: n/a, user: u1)", None),
        ("trace_id: N/A trace_id: abc123", "abc123"),
        ("trace_id=abc/def", None),  # a path, not an id
        ("[trace_id=abc123]/done", "abc123"),
    ],
)
def test_a_value_going_on_with_a_slash_is_no_id(message: str, tid: str | None) -> None:
    assert from_message(message) == tid


@pytest.mark.parametrize(
    ("message", "tid"),
    [
        ("unable to trace_id: trace_17149<<<Logpush: messages truncated>>>", None),
        ("trace_id: abc123 then more<<<Logpush: messages truncated>>>", "abc123"),
        ("<<<Logpush: messages truncated>>>", None),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0<<<Logpush: messages truncated>>>", None),
    ],
)
def test_a_logpush_cut_ends_the_text_and_the_id_it_cut(message: str, tid: str | None) -> None:
    assert from_message(message) == tid
