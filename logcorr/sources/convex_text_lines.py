"""The framing of a file of `npx convex logs` text: its byte lines (one too long to hold passed over as it
is read) handed to `convex_text.Framer`, which makes records of them; JSON lines among the text are read as
JSON records.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from logcorr.sources import bytestream, convex_text
from logcorr.sources.bytestream import TruncatedInput, _Source
from logcorr.sources.outcomes import (
    EXCERPT_SOURCE,
    REJECT,
    UTF8_NOTE,
    FileStats,
    _past_nuls,
    _value,
    excerpt,
)


def _convex_text(
    src: _Source, first: bytes, stats: FileStats, max_len: int, zone: Any, before: tuple[int, int] = (0, 0)
) -> Iterator[tuple[int, int, Any]]:
    """A file of `npx convex logs` text: its lines through `convex_text.Framer`, which makes records of them
    (a record's continuation lines are its own). Read whole by one process: never split into shards, whose
    cut could fall inside a record (`shard.plan` splits only NDJSON and pretty-printed JSON files). A file that grew is read whole
    too, the lines an earlier ingest read (`before`: their number, that run) only framed: they tell the day/
    month order and the ms within a second as they did then."""
    framer = convex_text.Framer(
        stats, zone if zone is not None else convex_text.zone_from_env(None), max_len, *before
    )
    line_no = 0
    bad_utf8 = False
    faults: list[str] = []
    for part, over in _byte_lines(src, first, max_len, faults):
        line_no += 1
        if over:
            yield from framer.overlong(line_no, f"line longer than the {max_len}-byte limit", excerpt(part))
            continue
        if part[:1] == b"\0":
            part = _past_nuls(part, stats)
        text = part.decode("utf-8", "replace")
        if "\ufffd" in text and line_no > before[0]:
            bad_utf8 = True
        if text[:1] == "\ufeff":
            text = text[1:]  # files joined with `cat`: the next one's byte-order mark
        text = text.rstrip("\r")
        if text[:1] in ("{", "[") and (value := _json_line(text)) is not None:
            # an NDJSON export joined on (`cat backend.log browser.jsonl`): its records, not lines of the last
            # message (the CLI prints no JSON at column 0: an object it logs is `{ key: 'value' }`)
            if JSON_AMONG_TEXT_NOTE not in stats.notes and line_no > before[0]:
                stats.notes.append(JSON_AMONG_TEXT_NOTE)
            yield from framer.foreign(list(_value(value, line_no, part)))
            continue
        yield from framer.line(line_no, text)
    yield from framer.end()
    stats.lines = line_no - before[0]
    if bad_utf8:
        stats.notes.append(UTF8_NOTE)
    for fault in faults:
        stats.notes.append(fault)
        yield REJECT, line_no, (fault, "")


JSON_AMONG_TEXT_NOTE = "JSON lines among its text read as JSON records (an export of another kind joined on?)"


def _json_line(text: str) -> Any:
    """The JSON object, or non-empty array of objects, a line of text is (an NDJSON line), or None."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if type(value) is dict or (type(value) is list and value and all(type(v) is dict for v in value)):
        return value
    return None


def _byte_lines(src: _Source, first: bytes, max_len: int, faults: list[str]) -> Iterator[tuple[bytes, bool]]:
    """The lines of a stream (without their line feeds; the last one also without), as (bytes, False), or a
    line longer than `max_len` as (its first bytes, True), never held whole. A stream that breaks (truncated
    gzip) ends them, its reason added to `faults`."""
    buf = first
    over = False
    head = b""
    while True:
        start = 0
        while (nl := buf.find(b"\n", start)) >= 0:
            if over:
                over = False
                yield head, True
            elif (
                nl - start > max_len + 1
            ):  # as when it runs past the chunk: where the chunks end changes nothing
                yield buf[start : start + EXCERPT_SOURCE], True
            else:
                yield buf[start:nl], False
            start = nl + 1
        rest = b"" if over else buf[start:]
        if not over and len(rest) > max_len + 1:  # + a CRLF line's CR
            over, head, rest = True, rest[:EXCERPT_SOURCE], b""
        try:
            chunk = src.read(bytestream.CHUNK)
        except TruncatedInput as e:
            faults.append(str(e))
            chunk = b""
        if not chunk:
            if over:
                yield head, True
            elif rest:
                yield rest, False
            return
        buf = rest + chunk
