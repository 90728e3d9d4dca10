"""The line-per-record framing (NDJSON, the fast path): each line offered to the compiled parser, then parsed
by orjson (values written back to back on one line, a trailing comma in an array mended), lines too long to
hold passed over as they are read; pretty-printed (multi-line) values among the lines read whole (`_Pretty`).
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import Any

import orjson

from logcorr.sources import bytestream
from logcorr.sources.bytestream import TruncatedInput, _Source
from logcorr.sources.outcomes import (
    _CONVEX_TEXT,
    CLAIMED,
    CONVEX_TEXT,
    EXCERPT_SOURCE,
    RECORD,
    REJECT,
    FileStats,
    LineHook,
    _past_nuls,
    _value,
    excerpt,
)
from logcorr.sources.scan import _DECODER, _offered


def _reject_reason(err: Exception) -> str:
    msg = str(err)
    if "UTF-8" in msg or "utf-8" in msg:
        return f"invalid UTF-8 ({msg})"
    return f"malformed JSON ({msg})"


def _ndjson(
    src: _Source, first: bytes, stats: FileStats, max_len: int, claim: LineHook | None
) -> Iterator[tuple[int, int, Any]]:
    # each chunk's lines are read where they are, by position: only a line the fast path leaves (and the first
    # one, when it joins the end of the chunk before) becomes a bytes object of its own
    line_no = 0
    pending = b""
    oversize = False
    head = b""  # of a line too long to hold: its first bytes, for the reject's excerpt
    chunk = first
    truncated: str | None = None
    pretty = _Pretty(max_len, stats, claim)
    nuls = False  # the line begun in an earlier chunk began with NUL bytes, passed over
    while chunk:
        end = chunk.rfind(b"\n") + 1  # the complete lines: chunk[:end]
        pos = 0
        nl = chunk.find(b"\n")  # where the line begun in an earlier chunk ends
        if oversize and len(head) < EXCERPT_SOURCE:
            head += chunk[: min(EXCERPT_SOURCE - len(head), nl if end else len(chunk))]
        if end:
            if oversize:  # the rest of a line already too long
                oversize = False
                line_no += 1
                pos = nl + 1
                yield from pretty.overlong(head, line_no)
            elif pending:
                part = pending + chunk[:nl]
                pending = b""
                pos = nl + 1
                taken, _, claimed = (
                    (0, 0, None)
                    if claim is None or pretty.lines is not None
                    else claim(part, 0, len(part), line_no)
                )
                line_no += 1
                if taken:
                    yield CLAIMED, line_no, claimed
                else:
                    yield from pretty.line(part, line_no)
        while pos < end:
            if claim is not None and pretty.lines is None:
                # the run of lines from here the fast path takes
                taken, after, claimed = claim(chunk, pos, end, line_no)
                if taken:
                    line_no += taken
                    pos = after
                    yield CLAIMED, line_no, claimed
                    continue
            nl = chunk.find(b"\n", pos)
            part = chunk[pos:nl]
            pos = nl + 1
            line_no += 1
            yield from pretty.line(part, line_no)
        if end:
            nuls = False
        if not oversize:
            pending = chunk[end:] if end else pending + chunk
            if pending[:1] == b"\0":
                # NULs the line begins with, not held: a copytruncate hole can be as long as the old file
                pending = _past_nuls(pending, stats)
                nuls = True
            if len(pending) > max_len + 1:  # + a CRLF line's CR, which is not the line's
                oversize = True
                head = pending[:EXCERPT_SOURCE]
                pending = b""
        try:
            chunk = src.read(bytestream.CHUNK)
        except TruncatedInput as e:
            truncated = str(e)
            break
    if oversize:
        line_no += 1
        yield from pretty.overlong(head, line_no)
    elif pending.strip() and (pretty.lines is not None or pending.strip() in _OPENERS):
        line_no += 1
        yield from pretty.line(pending, line_no)
    elif pending.strip() and not truncated:
        line_no += 1
        yield from _line(pending, line_no, max_len, stats)  # as any line (a byte-order mark mid-file, …)
    elif nuls and not pending.strip():
        line_no += 1  # NUL bytes alone: the hole a crash leaves at the end of a file
        stats.blank += 1
    elif pending.strip():
        line_no += 1
        try:
            values = _loads_line(pending)
        except orjson.JSONDecodeError as e:
            reason = _reject_reason(e)
            if truncated:
                reason = f"{truncated}; its last line cut off ({reason})"  # counted as a truncation
                stats.notes.append(truncated)
                truncated = None  # said once, by the line it cut
            yield REJECT, line_no, (reason, excerpt(pending))
        else:
            for value in values:
                yield from _value(value, line_no, pending)
    elif pending:
        line_no += 1
        stats.blank += 1
    yield from pretty.end()
    if truncated:
        stats.notes.append(truncated)
        yield REJECT, line_no, (truncated, "")
    stats.lines = line_no


PRETTY_NOTE = "pretty-printed (multi-line) JSON values among its lines read whole (an export of another kind joined on?)"
_OPENERS = (b"{", b"[", codecs.BOM_UTF8 + b"{", codecs.BOM_UTF8 + b"[")


class _Pretty:
    """Pretty-printed (multi-line) JSON values in a line-per-record file: an NDJSON export and a `jq .` or
    `JSON.stringify(x, null, 2)` one joined with `cat`. A line that is only `{` or `[` opens a value, which
    ends at the line at column 0 that closes it (`}`, `]`); the lines between are indented. It is read as one
    line is (orjson; an array gives each element), its records with the opening line's number. A line at
    column 0 that does not close it (the next record) means it was cut off: one reject for its lines, saying
    how many, and that line is read as any. Each of its lines was rejected as `malformed JSON`, and its records
    lost, a dozen rejects per record and no word of why."""

    def __init__(self, max_len: int, stats: FileStats, claim: LineHook | None = None) -> None:
        self.max_len = max_len
        self.stats = stats
        self.claim = claim  # the compiled fast path, offered each object as one compact line
        self.lines: list[bytes] | None = None  # the open value's lines (None: no value open)
        self.start = 0  # its first line's number
        self.last = 0  # its last line's number so far
        self.size = 0
        self.closer = b""
        self.over = False  # longer than the limit: its lines are passed over, its head kept for the excerpt
        self.head = b""

    def line(self, part: bytes, line_no: int) -> Iterator[tuple[int, int, Any]]:
        """One line the fast path left."""
        if part[:1] == b"\0":
            # as a line begun in an earlier chunk has them passed over: where the chunks end changes nothing
            part = _past_nuls(part, self.stats)
        if self.lines is None:
            s = part.strip()
            if s in _OPENERS:
                self.lines = [part]
                self.start = self.last = line_no
                self.size = len(part)
                self.closer = b"}" if s.endswith(b"{") else b"]"
                self.over = False
                return
            yield from _line(part, line_no, self.max_len, self.stats)
            return
        if part[:1] in (b" ", b"\t") or not part.strip():  # a line inside it (blank lines too)
            self._add(part, line_no)
            return
        if part.rstrip() == self.closer:
            self._add(part, line_no)
            yield from self._close()
            return
        # a line at column 0 that does not close it: the value was cut off before it
        yield from self._cut("malformed or truncated pretty-printed JSON value")
        yield from self.line(part, line_no)

    def overlong(self, head: bytes, line_no: int) -> Iterator[tuple[int, int, Any]]:
        """A line longer than the limit, passed over (`head`: its first bytes): a line of the open value makes the
        value too long (one reject, as when the line is read whole); any other is rejected alone."""
        if self.lines is not None and (head[:1] in (b" ", b"\t") or not head.strip()):
            self.last = line_no
            if not self.over:
                self.over = True
                self.head = b"\n".join(self.lines)[:EXCERPT_SOURCE]  # as `_add` keeps it
                self.lines = []
            return
        if self.lines is not None:
            yield from self._cut("malformed or truncated pretty-printed JSON value")
        yield REJECT, line_no, (f"line longer than the {self.max_len}-byte limit", excerpt(head))

    def end(self) -> Iterator[tuple[int, int, Any]]:
        """At the end of the input: a value still open was cut off."""
        if self.lines is not None:
            yield from self._cut("malformed or truncated pretty-printed JSON value")

    def _add(self, part: bytes, line_no: int) -> None:
        assert self.lines is not None
        self.last = line_no
        self.size += len(part) + 1
        if self.over:
            return
        if self.size > self.max_len:
            self.over = True
            self.head = b"\n".join(self.lines)[:EXCERPT_SOURCE]
            self.lines = []
        else:
            self.lines.append(part)

    def _close(self) -> Iterator[tuple[int, int, Any]]:
        assert self.lines is not None
        lines, self.lines = self.lines, None
        span = self._span()
        if self.over:
            yield (
                REJECT,
                self.start,
                (f"JSON value longer than the {self.max_len}-byte limit ({span})", excerpt(self.head)),
            )
            return
        text = b"\n".join(lines)
        if text.startswith(codecs.BOM_UTF8):
            text = text[len(codecs.BOM_UTF8) :]
        try:
            try:
                value = orjson.loads(text)
            except orjson.JSONDecodeError as e:
                if "trailing comma" not in str(e):
                    raise
                value = _without_trailing_comma(text, e)
        except orjson.JSONDecodeError as e:
            yield REJECT, self.start, (f"{_reject_reason(e)[:-1]}; pretty-printed, {span})", excerpt(text))
            return
        if PRETTY_NOTE not in self.stats.notes:
            self.stats.notes.append(PRETTY_NOTE)
        if self.claim is None or not value or type(value) not in (dict, list):
            yield from _value(value, self.start, text)
            return
        for item in [value] if type(value) is dict else value:
            if type(item) is dict:
                kind, payload = _offered(item, self.start, self.claim)
                yield kind, self.start, payload
            else:
                yield RECORD, self.start, item  # as `_value` gives it

    def _cut(self, reason: str) -> Iterator[tuple[int, int, Any]]:
        assert self.lines is not None
        lines, self.lines = self.lines, None
        text = self.head if self.over else b"\n".join(lines)
        yield REJECT, self.start, (f"{reason} ({self._span()})", excerpt(text))

    def _span(self) -> str:
        # how many lines, not which: a shard's line numbers are its own until the pipeline offsets them
        return f"{self.last - self.start + 1} lines from here"


def _line(part: bytes, line_no: int, max_len: int, stats: FileStats) -> Iterator[tuple[int, int, Any]]:
    """What one line of a line-per-record input holds (the fast path left it)."""
    if part[:1] == b"\0":
        part = _past_nuls(part, stats)
    if len(part) - part.endswith(b"\r") > max_len:  # a CRLF line's CR is not the line's
        yield REJECT, line_no, (f"line longer than the {max_len}-byte limit", excerpt(part[:EXCERPT_SOURCE]))
        return
    if part.startswith(codecs.BOM_UTF8):
        # files joined with `cat`: the second one's byte-order mark, mid-file
        part = part[len(codecs.BOM_UTF8) :]
        if "UTF-8 byte-order mark removed" not in stats.notes:
            stats.notes.append("UTF-8 byte-order mark removed")
    try:
        values = _loads_line(part)
    except orjson.JSONDecodeError as e:
        if not part.strip():
            stats.blank += 1
            return
        reason = CONVEX_TEXT if _CONVEX_TEXT.search(part[:200]) else _reject_reason(e)
        yield REJECT, line_no, (reason, excerpt(part))
        return
    for value in values:
        yield from _value(value, line_no, part)


def _loads_line(part: bytes) -> list[Any]:
    """The JSON value of one line, or the values written back to back on it (`{…}{…}`: webhook bodies
    appended to a file with no newline between them, as Convex's `jsonl` body has none at its end). Each
    is an object or array, parsed as a line's value is; else the line's own error is raised."""
    try:
        return [orjson.loads(part)]
    except orjson.JSONDecodeError as e:
        if "trailing comma" in str(e):
            return [_without_trailing_comma(part, e)]
        if "after document" not in str(e):
            raise
        values = _back_to_back(part)
        if values is None:
            raise
        return values


def _without_trailing_comma(text: bytes, err: orjson.JSONDecodeError) -> Any:
    """An array whose last element is followed by a comma (`[{…},{…},]`: a dump written by hand or by a loop
    that puts a comma after each element) read as without it, as the scanner reads a pretty-printed one; a
    comma anywhere else raises `err`."""
    body = text.rstrip()
    if body.endswith(b"]"):
        inner = body[:-1].rstrip()
        if inner.endswith(b","):
            try:
                return orjson.loads(inner[:-1] + b"]")
            except orjson.JSONDecodeError:
                pass
    raise err


def _back_to_back(part: bytes) -> list[Any] | None:
    try:
        text = part.decode("utf-8")
    except UnicodeDecodeError:
        return None
    values: list[Any] = []
    pos, n = 0, len(text)
    while True:
        while pos < n and text[pos] in " \t\r\n":
            pos += 1
        if pos == n:
            return values
        if text[pos] not in "{[":
            return None
        try:
            _, end = _DECODER.raw_decode(text, pos)
            values.append(orjson.loads(text[pos:end]))
        except (ValueError, RecursionError):  # json's and orjson's decode errors are ValueErrors
            return None
        pos = end
