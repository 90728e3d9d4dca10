"""The scanning framing, for pretty-printed (multi-line) JSON values written back to back (`wrangler tail`),
JSON array bodies and banner lines in between: a window over the decoded text (`_Text`), values decoded one at
a time (numbers read as orjson reads them), offered whole to the compiled fast path when laid out for it, and
after a bad value a search for where the next one starts.
"""

from __future__ import annotations

import codecs
import json
import math
import re
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any

import orjson

from logcorr.sources import bytestream
from logcorr.sources.bytestream import TruncatedInput, _Source
from logcorr.sources.outcomes import (
    _CONVEX_TEXT,
    CLAIMED,
    CONVEX_TEXT,
    EXCERPT_SOURCE,
    NUL_NOTE,
    RECORD,
    REJECT,
    SKIP,
    UTF8_NOTE,
    FileStats,
    LineHook,
    excerpt,
    order_notes,
)

_BANNER = re.compile(
    r"^\s*(?:⛅️|Connected to|Successfully created tail|Waiting for logs|waiting for logs|Retrieving|"
    r"Tail is|Ctrl-C|--+|wrangler|\[wrangler|Using .*account|Getting User settings|Need to login|"
    r"Listening|Press)",
)
# what `wrangler tail` prints without `--format json` (its default, "pretty"): an invocation's line
# (`POST https://w.example.workers.dev/log - Ok @ 1/4/2026, 1:17:46 PM`) and its console lines indented under
# it (`  (log) Log received {…}`), in this machine's locale and zone. They are log lines, not banners: skipped
# as banners, a capture of them stored nothing and said only "non-JSON banner line"
_TAIL_PRETTY = re.compile(
    r"^(?:(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) \S+ - .* @ |\s*\((?:log|info|warn|error|debug)\) )"
)
TAIL_PRETTY = "wrangler tail's pretty output, not JSON (capture it with `wrangler tail --format json`)"


class _Text:
    """A growing text window over the decoded stream with monotone line counting."""

    def __init__(self, src: _Source, first: bytes) -> None:
        self.src = src
        self.dec = codecs.getincrementaldecoder("utf-8")("replace")
        self.buf = self.dec.decode(first)
        self.lines_before = 0  # newlines in text already trimmed off the front of buf
        self.counted_to = 0  # newlines in buf[:counted_to] are in counted
        self.counted = 0
        self.eof = not first
        self.error: str | None = None
        self.bad_utf8 = "\ufffd" in self.buf
        self.starved = False  # a value, or a search for where one ends, ran into the end of the input

    def more(self) -> bool:
        """Append the next chunk; False at end of input."""
        if self.eof:
            return False
        try:
            data = self.src.read(bytestream.CHUNK)
        except TruncatedInput as e:
            self.error = str(e)
            data = b""
        if not data:
            self.eof = True
            self.buf += self.dec.decode(b"", final=True)
            return False
        text = self.dec.decode(data)
        if "\ufffd" in text:
            self.bad_utf8 = True
        self.buf += text
        return True

    def line_at(self, pos: int) -> int:
        """1-based line number of buf[pos]; positions must be asked in increasing order."""
        if pos > self.counted_to:
            self.counted += self.buf.count("\n", self.counted_to, pos)
            self.counted_to = pos
        return self.lines_before + self.counted + 1

    def trim(self, pos: int) -> int:
        """Forget text before pos (once it is large); returns the new position of pos."""
        if pos < bytestream.CHUNK:
            return pos
        self.line_at(pos)
        self.lines_before += self.counted
        self.counted = 0
        self.counted_to = 0
        self.buf = self.buf[pos:]
        return 0

    def pass_line(self, pos: int) -> int:
        """Pass over the rest of the line that starts at `pos`, reading on without holding it; returns the
        position of its end (its line feed, or the end of the input) in the buffer that is left."""
        self.line_at(pos)
        self.lines_before += self.counted
        self.counted = self.counted_to = 0
        self.buf = self.buf[pos:]
        while (nl := self.buf.find("\n")) < 0:
            self.buf = ""  # all of it is the line's: it holds no line feed to count
            if not self.more():
                return 0
        self.buf = self.buf[nl:]
        return 0

    def total_lines(self) -> int:
        n = self.lines_before + self.buf.count("\n")
        if self.buf and not self.buf.endswith("\n"):
            n += 1
        return n


_WS = " \t\r\n\ufeff"


class _NotFinite:
    """`NaN`, `Infinity` or a float beyond range in scanned JSON: orjson, which reads NDJSON lines, refuses them,
    and so must the scanner (it stored them as null); orjson cannot write this type, so `_unstorable` says so."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _float(text: str) -> float | _NotFinite:
    value = float(text)
    return value if math.isfinite(value) else _NotFinite(text)


def _int(text: str) -> int | float:
    """As orjson reads integers: beyond 64 bits, a float."""
    value = int(text)
    return value if -(1 << 63) <= value < (1 << 64) else float(value)


# the scanner reads numbers as orjson reads an NDJSON line (the same record is the same row either way)
_DECODER = json.JSONDecoder(parse_float=_float, parse_int=_int, parse_constant=_NotFinite)


def _scan(
    src: _Source, first: bytes, stats: FileStats, max_len: int, claim: LineHook | None = None
) -> Iterator[tuple[int, int, Any]]:
    decoder = _DECODER
    t = _Text(src, first)
    pos = 0
    in_array = False
    cut_line = False  # buf begins with the line feed of a line passed over (`pass_line`)
    while True:
        # white space between values: the lines in it that hold nothing else are blank lines, counted as the
        # line-per-record framing counts them (a capture's empty line between its banner and its first object)
        mid = t.buf[pos - 1] not in "\n\0" if pos > 0 else cut_line
        start, newlines, last_nl = pos, 0, -1
        while True:
            n = len(t.buf)
            while pos < n and t.buf[pos] in _WS:
                if t.buf[pos] == "\n":
                    newlines += 1
                    last_nl = pos
                pos += 1
            if pos < n or not t.more():
                break
        stats.blank += max(0, newlines - mid)
        if pos >= len(t.buf) and (pos - last_nl - 1 if newlines else 0 if mid else pos - start) > 0:
            stats.blank += 1  # the input ends in a line of white space alone
        cut_line = False
        if pos >= len(t.buf):
            break
        pos = t.trim(pos)
        ch = t.buf[pos]
        if ch == "\0":  # see outcomes._past_nuls
            while pos < len(t.buf) and t.buf[pos] == "\0":
                pos += 1
            if NUL_NOTE not in stats.notes:
                stats.notes.append(NUL_NOTE)
            continue
        line = t.line_at(pos)
        if in_array and ch in ",]":
            in_array = ch == ","
            pos += 1
            continue
        if ch == "[" and not in_array:
            in_array = True
            pos += 1
            continue
        if ch == "{" and claim is not None and (got := _claim_pretty(t, pos, line, max_len, claim)):
            pos, kind, payload = got
            yield kind, line, payload
            continue
        if ch == "{" or in_array:
            value, end, err = _decode_one(decoder, t, pos, max_len)
            if err is None:
                bad = _unstorable(value)
                if bad is not None:
                    yield REJECT, line, (bad, excerpt(t.buf[pos : min(end, pos + EXCERPT_SOURCE)]))
                elif type(value) is dict:
                    yield RECORD, line, value
                else:
                    yield REJECT, line, ("array element is not a JSON object", excerpt(t.buf[pos:end]))
                pos = end
                continue
            if t.error and t.eof and end == pos:
                # the stream broke inside this value: one reject says both, as for an NDJSON line it cut
                err = f"{t.error}; its last value cut off ({err})"
                stats.notes.append(t.error)
                t.error = None
            while len(t.buf) - pos < EXCERPT_SOURCE:
                # the excerpt, as far as the text goes (a value is rejected where it goes wrong, maybe before the
                # window holds as much); when the input ends first, a shard's cut may have shortened it
                if not t.more():
                    t.starved = True
                    break
            yield REJECT, line, (err, excerpt(t.buf[pos : pos + EXCERPT_SOURCE]))
            if end > pos:  # read whole, but too long: the next value follows it
                pos = end
                continue
            # a pretty-printed array's next element starts at the bad one's indentation: read on from there
            indent = pos - (t.buf.rfind("\n", 0, pos) + 1)
            nested = in_array and indent > 0 and t.buf[pos - indent : pos].strip(" \t") == ""
            pos = _resync(t, pos, indent if nested else 0)
            in_array = nested and pos < len(t.buf)
            continue
        end = t.buf.find("\n", pos)
        while end < 0 and len(t.buf) - pos <= max_len and t.more():
            end = t.buf.find("\n", pos)
        if (end if end >= 0 else len(t.buf)) - pos > max_len:
            # a text line longer than the limit (a bundle logged whole): its head for the excerpt, the rest
            # passed over without holding it (a 150 MB first line peaked at 746 MB)
            head = t.buf[pos : pos + EXCERPT_SOURCE]
            if end < 0:
                pos, cut_line = t.pass_line(pos), True
            else:
                pos = end
            yield REJECT, line, (f"line longer than the {max_len}-byte limit", excerpt(head))
            continue
        end = len(t.buf) if end < 0 else end
        text = t.buf[pos:end]
        if _BANNER.match(text):
            yield SKIP, line, ("non-JSON banner line", excerpt(text))
        else:
            yield REJECT, line, (_text_line_reason(text), excerpt(text))
        pos = end
    stats.lines = t.total_lines()
    stats.open_end = t.starved or in_array
    if t.bad_utf8:
        stats.notes.append(UTF8_NOTE)
    order_notes(stats.notes)
    if t.error:
        stats.notes.append(t.error)
        yield REJECT, stats.lines, (t.error, "")


def _text_line_reason(text: str) -> str:
    if _CONVEX_TEXT.search(text[:200].encode("utf-8", "replace")):
        return CONVEX_TEXT
    if _TAIL_PRETTY.match(text):
        return TAIL_PRETTY
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return "not JSON"
    return "not a JSON object or array"


def _claim_pretty(
    t: _Text, pos: int, line: int, max_len: int, claim: LineHook
) -> tuple[int, int, Any] | None:
    """A pretty-printed object at buf[pos] (`wrangler tail --format json`, `jq .`, an array's element), offered
    to the compiled fast path as one compact line: (the position after it, CLAIMED and what `claim` returned),
    or, when the fast path leaves it (a format it does not read: `wrangler tail`'s own), (that position, RECORD
    and the object as orjson read it, which is what the decoder reads: see below); None when it is not laid out
    so or orjson refuses it (the decoder then reads it, 2.2× slower, and says what is wrong). Its `{` ends its
    line; its end is taken to be the first `}` at the same indentation, which parsing proves: text up to a `}`
    that closes only an inner value is not a whole value, and one that is whole ends there (no JSON value is
    the prefix of another)."""
    buf = t.buf
    if buf[pos + 1 : pos + 2] != "\n" and buf[pos + 1 : pos + 3] != "\r\n":
        return None
    indent = buf[buf.rfind("\n", 0, pos) + 1 : pos]
    if indent.strip(" \t"):
        return None
    needle = "\n" + indent + "}"
    close = buf.find(needle, pos)
    while close < 0 and len(buf) - pos <= max_len and t.more():
        buf = t.buf
        close = buf.find(needle, max(pos, len(buf) - bytestream.CHUNK - len(needle)))
    if close < 0:
        return None
    end = close + len(needle)
    raw = buf[pos:end].encode()
    if len(raw) > max_len:
        return None  # the decoder rejects it, by the size it has here
    try:
        # orjson reads numbers as the decoder is set to (what it reads otherwise it refuses: an integer beyond 64
        # bits, NaN, a lone surrogate, nesting past 1024)
        kind, payload = _offered(orjson.loads(raw), line, claim)
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        return None
    return end, kind, payload


def _offered(obj: dict[str, Any], line: int, claim: LineHook) -> tuple[int, Any]:
    """An object read whole (pretty-printed), offered to the compiled fast path as the compact line orjson writes
    of it (the fast path reads a line at a time, which the pretty form's line feeds would cut; and it leaves a
    value it cannot copy as orjson writes it, `\\u` escapes or floats, which the compact line writes as orjson does):
    (CLAIMED, what `claim` returned), or (RECORD, the object) when it leaves it, not decoded again (`wrangler
    tail` objects, which the fast path does not read, were parsed twice: ingest's parse phase 1.12 s → 1.37 s
    on 40,000 of them)."""
    data = orjson.dumps(obj)
    taken, _, claimed = claim(data, 0, len(data), line - 1)
    return (CLAIMED, claimed) if taken else (RECORD, obj)


# how near the end of the text read a decoding error may lie and still be mended by what follows: a token is
# wrong at its start (`tru`, `-Infinit`, `\\u12`) and a string that runs on at its opening quote
_MENDABLE = 16


# how deeply nested a value the decoder reads: the same in every process. Its recursion counts against the
# interpreter's limit with the frames of the caller, fewer in a parse worker than in the ingesting process, and
# a value nested about 990 deep was read by one (then rejected as "unsupported JSON value (Recursion limit
# reached)", which orjson says of nesting past 255) and "nested too deeply" for the other
_DECODE_DEPTH = 1100


def _raw_decode(decoder: json.JSONDecoder, text: str, pos: int) -> tuple[Any, int]:
    """`decoder.raw_decode`, with _DECODE_DEPTH levels of recursion above this frame whatever the stack below it."""
    try:
        return decoder.raw_decode(text, pos)
    except RecursionError:
        pass  # rare: only then is the stack measured and the limit moved
    depth = 0
    frame: FrameType | None = sys._getframe()
    while frame is not None:
        depth += 1
        frame = frame.f_back
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + _DECODE_DEPTH)
    try:
        return decoder.raw_decode(text, pos)
    finally:
        sys.setrecursionlimit(limit)


def _decode_one(decoder: json.JSONDecoder, t: _Text, pos: int, max_len: int) -> tuple[Any, int, str | None]:
    while True:
        try:
            value, end = _raw_decode(decoder, t.buf, pos)
            # the record limit, as for a line: characters first (a character is 1-4 bytes), then bytes
            if end - pos > max_len or ((end - pos) * 4 > max_len and len(t.buf[pos:end].encode()) > max_len):
                return None, end, f"JSON value longer than the {max_len}-byte limit"
            return value, end, None
        except json.JSONDecodeError as e:
            # some of json's messages end in "at" ("Unterminated string starting at", "Invalid control character
            # at"), written to be followed by a position: "… starting at at line 3" read so
            msg = e.msg.removesuffix(" at")
            # how far the value surely runs: to where it went wrong, or to the end of what was read for a string
            # still open there. Each verdict rests on the text up to that point, never on where the window ends
            # (the chunks, or a shard's cut): it was read on to the record limit, and the reason said "or
            # malformed" or "or truncated" as the file went on or ended
            open_string = msg.startswith("Unterminated string")
            if (len(t.buf) if open_string else e.pos) - pos > max_len:
                return None, pos, f"JSON value longer than the {max_len}-byte limit"
            if not open_string and e.pos + _MENDABLE < len(t.buf):
                # wrong where the text goes on: what follows cannot mend it
                return None, pos, f"malformed JSON ({msg}{_where(t, pos, e.pos)})"
            if not t.more():
                t.starved = True
                return None, pos, f"malformed or truncated JSON ({msg}{_where(t, pos, e.pos)})"
        except RecursionError:
            return None, pos, "JSON nested too deeply"


def _where(t: _Text, pos: int, at: int) -> str:
    """Where in the value at `pos` its error at `at` lies (the reject gives the value's first line): counted from
    the value, so that a part of a file read on its own (a shard) says what the whole file does."""
    first = t.line_at(pos)
    return f" at the value's line {t.line_at(at) - first + 1}"


def _unstorable(value: Any) -> str | None:
    """Why a value the permissive scanner accepted cannot be stored (NDJSON lines are parsed by orjson,
    which refuses the same values), or None."""
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError as e:
        if "_NotFinite" in str(e):
            return "unsupported JSON value (NaN, Infinity or a number beyond the float range)"
        return f"unsupported JSON value ({e})"
    return None


def _resync(t: _Text, pos: int, indent: int = 0) -> int:
    """After a bad value: skip to the next line that starts with '{' or '[' (with `indent`, to the next line
    that holds `indent` blanks and then '{': a pretty-printed array's next element)."""
    p = pos + 1
    while True:
        nl = t.buf.find("\n", p)
        while nl < 0 and t.more():
            nl = t.buf.find("\n", p)
        if nl < 0:
            # a line at column 0 stops a search at indent 0, and a shard's end is one: a search for an
            # array's next element would have read on
            t.starved = t.starved or indent > 0
            return len(t.buf)
        p = nl + 1
        while len(t.buf) - p <= indent and t.more():
            pass
        if indent:
            if (
                p + indent < len(t.buf)
                and t.buf[p + indent] == "{"
                and t.buf[p : p + indent].strip(" \t") == ""
            ):
                return p + indent
        elif p < len(t.buf) and t.buf[p] in "{[":
            return p
