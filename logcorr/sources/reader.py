"""Framing: turn a file (plain, gzip, or stdin) into JSON records with line numbers.

Two modes, picked from the first non-blank line: NDJSON (one value per line, parsed with orjson,
the fast path) and a scanner for pretty-printed objects written back to back (`wrangler tail`),
JSON array bodies and banner lines in between. Every physical line ends up counted: as part of a
record, blank, skipped (a known banner) or rejected with a reason. Memory is bounded by the
longest accepted record (`max_record_bytes`), never by the file.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import math
import os
import re
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import IO, Any

import orjson

from logcorr.sources import convex_text

CHUNK = 1 << 20
# the most one inflating call gives: memory stays bounded whatever a compressed chunk inflates to
_INFLATE_MAX = 4 * CHUNK
DEFAULT_MAX_RECORD_BYTES = 8 << 20
DEFAULT_MAX_DECOMPRESSED = 64 << 30
# how much of a file's first line is read to pick its framing (a first line longer than this is one value too
# long to hold whole, or a one-line JSON array read element by element)
DETECT_BYTES = DEFAULT_MAX_RECORD_BYTES
EXCERPT = 160  # characters of a rejected line kept in the rejects table
EXCERPT_SOURCE = 4096  # characters handed on for it: redaction sees whole secrets before the final cut

UTF16_NOTE = "UTF-16 text, decoded (Windows PowerShell's `>` writes it)"

# kinds yielded by iter_records
RECORD = 0
REJECT = 1
SKIP = 2
CLAIMED = 3  # lines the compiled fast path turned into staging rows itself (payload: what it returned)

# the fast path's hook: (text, position of the first line to offer, end of the last, line number before it)
# -> (how many lines from there it claimed, the position after them, its result). Lines end at a newline (the
# last at the end given); it stops at a line it leaves to orjson (0: the first one)
LineHook = Callable[[bytes, int, int, int], tuple[int, int, Any]]

_BANNER = re.compile(
    r"^\s*(?:⛅️|Connected to|Successfully created tail|Waiting for logs|waiting for logs|Retrieving|"
    r"Tail is|Ctrl-C|--+|wrangler|\[wrangler|Using .*account|Getting User settings|Need to login|"
    r"Listening|Press|GET |POST |PUT |DELETE |OPTIONS |\(log\)|\(error\)|\(warn\)|\(info\))",
)


# a line `npx convex logs` prints without --jsonl: `8/5/2025, 9:00:00 AM [CONVEX Q(messages:list)] [LOG] 'text'`. A file
# that begins with one is read as such text (`sources/convex_text.py`); met in a file read as JSON, it is rejected
_CONVEX_TEXT = re.compile(rb"\[CONVEX [QMAH]\([^)]*\)\] ")
CONVEX_TEXT = (
    "npx convex logs text among JSON (a file of it is read when its first line is one: save it apart, or "
    "export with `npx convex logs --jsonl`)"
)


@dataclass
class FileStats:
    """What the reader saw in one input."""

    lines: int = 0
    blank: int = 0
    bytes_read: int = 0
    mode: str = ""
    content_hash: str = ""
    notes: list[str] = field(default_factory=list)
    limited: bool = False  # stopped at the decompressed-size limit: the rest of the file is unread
    # `npx convex logs` text that grew: records an earlier ingest stored with day and month swapped (it assumed
    # the order its lines did not tell, and the new lines tell the other)
    swapped: int = 0
    # scanned JSON (a shard of a pretty-printed file): the input ended inside a value, a line of one or an array,
    # so the cut it ends at is no boundary between values (`shard.parse_sharded` reads on past it)
    open_end: bool = False


class _CountingStream:
    """Wraps the raw byte stream: counts bytes and (optionally) hashes them as they pass."""

    def __init__(self, raw: IO[bytes], hasher: Any | None) -> None:
        self.raw = raw
        self.hasher = hasher
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.count += len(data)
        if self.hasher is not None and data:
            self.hasher.update(data)
        return data

    def readable(self) -> bool:
        return True


class _Source:
    """An opened input with gzip handled by zlib directly, so a truncated stream keeps every byte
    that could be decompressed; `read` raises TruncatedInput once the stream breaks."""

    def __init__(
        self, raw: IO[bytes], hash_stream: bool, max_decompressed: int, file_start: bool = True
    ) -> None:
        self.counting = _CountingStream(raw, hashlib.sha256() if hash_stream else None)
        self.head = self.counting.read(2)
        # mid-file (a shard, a grown log's new lines) the magic bytes are a line's, as in the whole file
        self.gzip = file_start and self.head == b"\x1f\x8b"
        self.max_decompressed = max_decompressed
        self.decompressed = 0
        self._z: Any = zlib.decompressobj(wbits=31) if self.gzip else None
        self._tail = b""  # compressed input not inflated yet: each call inflates at most _INFLATE_MAX bytes
        self.limited = False  # stopped at `max_decompressed`
        self._pending_error: str | None = None
        self.note: str | None = None  # what the reader passed over without losing a line (trailing bytes)
        self._trailing = False  # past the last member: what follows is not gzip
        self._utf16: Any = None  # the decoder of a UTF-16 file (see `utf16`)

    def read(self, n: int) -> bytes:
        if self._utf16 is None:
            return self._read(n)
        while True:  # an odd byte or half a surrogate pair decodes to nothing yet: not the end
            raw = self._read(n)
            text: str = self._utf16.decode(raw, final=not raw)
            if text or not raw:
                return text.encode("utf-8")

    def utf16(self, first: bytes) -> bytes:
        """Read on as UTF-16 (with the byte-order mark `first` begins with), handing out UTF-8: what Windows
        PowerShell 5's `>` writes. Returns `first` so read, its mark removed."""
        self._utf16 = codecs.getincrementaldecoder("utf-16")("replace")
        text = self._utf16.decode(first)  # the mark tells the decoder the byte order, and is dropped
        return text.encode("utf-8") or self.read(CHUNK)

    def _read(self, n: int) -> bytes:
        if self._z is None:
            if self.head:
                data, self.head = self.head + self.counting.read(max(0, n - len(self.head))), b""
                return data
            return self.counting.read(n)
        return self._read_gzip(n)

    def _read_gzip(self, n: int) -> bytes:
        if self._pending_error:
            err, self._pending_error = self._pending_error, None
            raise TruncatedInput(err)
        out: list[bytes] = []
        size = 0
        while size < n:
            if self._tail:
                comp, self._tail = self._tail, b""
            elif self.head:
                comp, self.head = self.head + self.counting.read(CHUNK), b""
            else:
                comp = self.counting.read(CHUNK)
            if not comp:
                if not self._z.eof:
                    self._pending_error = "truncated gzip file: the compressed stream ends early"
                break
            snapshot = self._z.copy()
            try:
                # up to a byte past the limit, which tells that there was more
                data = self._inflate(
                    comp, max(1, min(_INFLATE_MAX, self.max_decompressed + 1 - self.decompressed))
                )
            except zlib.error as e:
                # the chunk again from the state before it, a little at a time: every byte inflated before
                # the fault is kept (zlib gives nothing back from a call that fails)
                self._z = snapshot
                data = self._salvage(comp)
                self._pending_error = f"corrupt gzip data ({e})"
                out.append(data)
                size += len(data)
                self.decompressed += len(data)
                break
            out.append(data)
            size += len(data)
            self.decompressed += len(data)
            if self.decompressed > self.max_decompressed:
                self.limited = True
                self._pending_error = (
                    f"decompressed size exceeds the limit of {self.max_decompressed} bytes (a gzip bomb? if not, "
                    "an ingest with a higher --max-decompressed-gb reads the whole file)"
                )
                break
        if not size and self._pending_error:
            err, self._pending_error = self._pending_error, None
            raise TruncatedInput(err)
        return b"".join(out)

    def _inflate(self, comp: bytes, cap: int = 0) -> bytes:
        """`comp` through the current member and any members after it, at most about `cap` bytes of output
        (0: all of it): what is not inflated waits in `_tail` (a megabyte of a gzip bomb inflates to a
        gigabyte). Bytes after a complete member that do not start another (zero padding, junk), as
        `gzip -d` does with a warning, are passed over with a note."""
        if self._trailing:
            return b""
        data: bytes = self._z.decompress(comp, cap)
        self._tail = self._z.unconsumed_tail
        while self._z.eof and self._z.unused_data and not self._tail:
            rest = self._z.unused_data
            if rest[:2] != b"\x1f\x8b" and not (len(rest) == 1 and rest == b"\x1f"):
                self._trailing = True
                zeros = rest.strip(b"\x00") == b""
                self.note = (
                    "zero padding after the gzip data ignored"
                    if zeros
                    else "bytes after the gzip data ignored"
                )
                break
            self._z = zlib.decompressobj(wbits=31)
            data += self._z.decompress(rest, cap)
            self._tail = self._z.unconsumed_tail
        return data

    def _salvage(self, comp: bytes, step: int = 512) -> bytes:
        """What `comp` inflates to before the fault in it, `step` bytes at a time (each at most about 1,000
        times as much)."""
        out: list[bytes] = []
        for i in range(0, len(comp), step):
            try:
                out.append(self._inflate(comp[i : i + step]))
            except zlib.error:
                break
        return b"".join(out)


class TruncatedInput(ValueError):
    """The byte stream ended or broke mid-way (truncated or corrupt gzip, size limit)."""


def gunzip(data: bytes, limit: int) -> bytes | None:
    """`data`, gzip (one member or several), inflated as ingest inflates a file; None when it inflates to
    over `limit` bytes (it stops there: a bomb is not inflated). Raises TruncatedInput when it is truncated,
    corrupt or not gzip."""
    src = _Source(io.BytesIO(data), False, limit)
    if not src.gzip:
        raise TruncatedInput("not gzip data")
    out: list[bytes] = []
    try:
        while chunk := src.read(CHUNK):
            out.append(chunk)
    except TruncatedInput:
        if src.limited:
            return None
        raise
    return b"".join(out)


def open_same(path: str, ident: tuple[int, int] | None) -> io.BufferedReader:
    """`path` opened, refused (OSError) when it is no longer the file that was measured (`ident`: st_dev,
    st_ino): a log rotated or replaced meanwhile would give another file's bytes."""
    f = open(path, "rb")  # noqa: SIM115 - the caller closes it
    st = os.fstat(f.fileno())
    if ident is not None and (st.st_dev, st.st_ino) != ident:
        f.close()
        raise OSError(f"{path} was replaced while it was read (a log rotated?): ingest it again")
    return f


def file_hash(path: str, size: int, ident: tuple[int, int] | None = None) -> str:
    """sha256 of a regular file's first `size` bytes (what makes re-ingesting a file a no-op): what an ingest
    reads of it, as measured (a log may grow meanwhile), of the file `ident` names (`open_same`)."""
    digest = hashlib.sha256()
    with open_same(path, ident) as f:
        while size > 0 and (chunk := f.read(min(size, CHUNK))):
            digest.update(chunk)
            size -= len(chunk)
    return digest.hexdigest()


def excerpt(data: bytes | str, limit: int = EXCERPT_SOURCE) -> str:
    """A printable excerpt of a bad line: `EXCERPT_SOURCE` characters from the reader, redacted by the
    stager and then cut to `EXCERPT` for the rejects table (cutting first could split a secret)."""
    # bytes: invalid UTF-8 replaced; text: lone surrogates (the permissive scanner lets them through) replaced
    text = (
        data.decode("utf-8", "replace")
        if isinstance(data, bytes)
        else data.encode("utf-8", "replace").decode()
    )
    text = text.strip().replace("\n", "\\n")
    return text if len(text) <= limit else text[:limit] + "…"


def iter_records(
    raw: IO[bytes],
    stats: FileStats,
    *,
    hash_stream: bool = False,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    max_decompressed: int = DEFAULT_MAX_DECOMPRESSED,
    mode: str | None = None,
    file_start: bool = True,
    claim: LineHook | None = None,
    local_zone: Any = None,
    text_before: tuple[int, int] = (0, 0),
) -> Iterator[tuple[int, int, Any]]:
    """Yield (kind, line, payload): RECORD → parsed JSON value (a `convex_text.TextRecord` in a file of
    `npx convex logs` text, whose times are read in `local_zone`); REJECT/SKIP → (reason, excerpt);
    CLAIMED → what `claim` returned for a run of lines of a line-per-record file (line: the last of
    them). Each such line is offered to it before orjson; the lines it leaves go the Python path.

    `mode` forces the framing (a shard of a file whose mode was picked from its start); `file_start`
    False means the stream begins mid-file, where a byte-order mark is just bytes of a line. `text_before`:
    (lines, run) of `npx convex logs` text that grew, the lines that run read: framed again, not given."""
    src = _Source(raw, hash_stream, max_decompressed, file_start)
    try:
        first = src.read(CHUNK)
    except TruncatedInput as e:
        stats.notes.append(str(e))
        yield REJECT, 0, (str(e), "")
        first = b""
    if file_start and first.startswith(codecs.BOM_UTF8):
        first = first[len(codecs.BOM_UTF8) :]
        stats.notes.append("UTF-8 byte-order mark removed")
    if file_start and first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # each line was rejected as "not JSON" (its every other byte a NUL), and the file called no export
        first = src.utf16(first)
        stats.notes.append(UTF16_NOTE)
    packed = _packed(first) if file_start else None
    if packed is not None:
        # one reject for the whole file, not one per "line" of compressed bytes (read to its end all the same:
        # its size and content hash)
        while src.read(CHUNK):
            pass
        stats.mode, stats.lines = "archive", 1
        yield REJECT, 1, (packed, excerpt(first[:16]))
        first = b""
        mode = "archive"
    if mode is None:
        first, cut = _first_line_whole(src, first)
        mode = _pick_mode(first, cut)
    if mode == "ndjson":
        stats.mode = mode
        yield from _ndjson(src, first, stats, max_record_bytes, claim)
    elif mode == "convex-text":
        stats.mode = mode
        yield from _convex_text(src, first, stats, max_record_bytes, local_zone, text_before)
    elif mode != "archive":
        stats.mode = mode
        yield from _scan(src, first, stats, max_record_bytes, claim)
    if src.note:
        stats.notes.append(src.note)
    stats.limited = src.limited
    stats.bytes_read = src.counting.count
    if src.counting.hasher is not None:
        stats.content_hash = src.counting.hasher.hexdigest()


# formats a log export may come in that are not read (gzip is): what each is and what to do, before any `:`
# (the ingest summary counts rejects by the reason up to it)
_PACKED: tuple[tuple[bytes, str], ...] = (
    (
        b"PK\x03\x04",
        "a zip archive, unzip it and ingest its folder: `npx convex export` writes one, and logcorr "
        "reads its */documents.jsonl files",
    ),
    (b"PK\x05\x06", "an empty zip archive, no log file in it"),
    (b"BZh", "a bzip2-compressed file, decompress it first: logcorr reads plain and gzip files"),
    (b"\xfd7zXZ\x00", "an xz-compressed file, decompress it first: logcorr reads plain and gzip files"),
    (b"\x28\xb5\x2f\xfd", "a zstd-compressed file, decompress it first: logcorr reads plain and gzip files"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive, extract it and ingest its folder"),
)


# reject reasons (up to the ingest summary's cut, see `_short` in pipeline/parse.py) that say what is wrong with a
# file's container (compression, an archive, a cut-off or corrupt stream), not with the lines in it: a file whose
# only rejects are these is not "no export logcorr reads", its reject already says what to do
CONTAINER_FAULTS: tuple[str, ...] = (
    "truncated gzip file",
    "corrupt gzip data",
    *(why.split(":", 1)[0] for _, why in _PACKED),
)


def _packed(first: bytes) -> str | None:
    """Why a file that begins with `first` is not read as a log (an archive or another compression), or None."""
    for magic, why in _PACKED:
        if first.startswith(magic):
            if magic == b"BZh" and not (len(first) > 3 and 0x31 <= first[3] <= 0x39):
                continue  # bzip2 has a block size 1-9 there: any other "BZh…" is text
            return why
    return None


def split_mode(first: bytes, read: Callable[[int], bytes]) -> str | None:
    """How a file beginning with `first` (`read` gives what follows) can be read in parts cut at line starts:
    "ndjson" when it is read line by line, "scan" when it is scanned and begins with an object pretty-printed
    from column 0 (`wrangler tail --format json`, `jq .`: a part then begins with such an object), after the
    banner lines wrangler may print first (`Connected to …, waiting for logs...`, which the scanner skips),
    else None."""
    if first.startswith(codecs.BOM_UTF8):
        first = first[len(codecs.BOM_UTF8) :]
    first, cut = _first_line_whole(read, first)
    mode = _pick_mode(first, cut)
    if mode == "ndjson":
        return mode
    if mode == "scan":
        for line in first.split(b"\n", 64)[:64]:
            if line.strip() and not _BANNER.match(line.decode("utf-8", "replace")):
                return mode if line.lstrip(b"\0").rstrip() == b"{" else None
    return None


def _first_line_whole(src: Any, first: bytes) -> tuple[bytes, bool]:
    """`first` read on (`src.read`, or `src` itself a read function) until its first non-blank line ends: the
    mode is picked from that line whole, not from the part of it the first chunk holds (an NDJSON file whose
    first record was over a megabyte was scanned, 2.4× slower; a one-line JSON array was scanned or rejected
    whole as one overlong line, as the chunk happened to end). Reads at most `DETECT_BYTES` of the line; the
    flag is True when the line runs on past them. A read that fails (a truncated gzip) is raised by the next
    read again."""
    read = src if callable(src) else src.read
    start = len(first) - len(first.lstrip())
    if start == len(first) or first.find(b"\n", start) >= 0:
        return first, False
    parts = [first]
    size = len(first)
    while size - start <= DETECT_BYTES:
        try:
            data = read(CHUNK)
        except TruncatedInput as e:
            src._pending_error = str(e)  # only a _Source raises it: the reading after this one says it
            break
        if not data:
            break
        parts.append(data)
        size += len(data)
        if b"\n" in data:
            return b"".join(parts), False
    else:
        return b"".join(parts), True
    return b"".join(parts), False


def _pick_mode(first: bytes, cut: bool = False) -> str:
    """The framing of a file that begins with `first`; `cut`: its first non-blank line runs on past it."""
    if cut and first.lstrip()[:1] == b"{":
        # a record longer than the detection window, or an NDJSON line's: read line by line, it is rejected as
        # too long (scanned, so would it be) and the lines after it go the fast path
        return "ndjson"
    if cut and first.lstrip()[:1] == b"[":
        # a JSON array on one line longer than the window (an API dump): scanned, each element is a record of
        # its own, never the whole line held in memory
        return "scan"
    for line in first.split(b"\n", 64)[:64]:
        s = line.strip().lstrip(b"\0").lstrip()  # NUL bytes before it: see _past_nuls
        if not s:
            continue
        if s[:1] in (b"{", b"["):
            try:
                orjson.loads(s)
                return "ndjson"
            except orjson.JSONDecodeError:
                # a lone "{" or "[" opens a pretty-printed value; anything else is a bad NDJSON line
                return "scan" if s in (b"{", b"[") or not _looks_complete(s) else "ndjson"
        if convex_text.is_banner(s):
            continue  # `Watching logs for …`: the CLI's stderr, captured with 2>&1
        return "convex-text" if convex_text.is_head(s) else "scan"
    return "ndjson"


def _looks_complete(s: bytes) -> bool:
    return s.endswith((b"}", b"]"))


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
            chunk = src.read(CHUNK)
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


NUL_NOTE = (
    "NUL bytes at the start of a line passed over (the hole a crash, or a log cut by `logrotate copytruncate` "
    "while still written to, leaves)"
)


UTF8_NOTE = "invalid UTF-8 bytes replaced with U+FFFD"
# notes any part of a file may give: last, in this order, wherever in the file they were met. A scanned file
# says the first at its end (its chunks, not its lines, tell where), so a file read in shards, whose notes
# are joined in file order (`FileResult.merge`), would otherwise say them in another order than read whole
_ANYWHERE_NOTES = (UTF8_NOTE, NUL_NOTE)


def order_notes(notes: list[str]) -> None:
    """Put the notes any part of a file may give last, in one order (see `_ANYWHERE_NOTES`)."""
    notes.sort(key=lambda n: _ANYWHERE_NOTES.index(n) + 1 if n in _ANYWHERE_NOTES else 0)


def _past_nuls(part: bytes, stats: FileStats) -> bytes:
    """A line without the NUL bytes it begins with (said once in the notes): a file cut while still written to
    (`logrotate copytruncate`, the writer at its old offset) or a crash leaves a run of them, and the record
    after them on the line was rejected with them."""
    if NUL_NOTE not in stats.notes:
        stats.notes.append(NUL_NOTE)
    return part.lstrip(b"\0")


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


def _value(value: Any, line_no: int, text: bytes) -> Iterator[tuple[int, int, Any]]:
    """A line's JSON value as records: an object, or each item of an array."""
    if type(value) is dict:
        yield RECORD, line_no, value
    elif type(value) is list and value:
        for item in value:
            yield RECORD, line_no, item
    elif type(value) is list:
        yield SKIP, line_no, ("empty JSON array", "[]")
    else:
        yield REJECT, line_no, ("not a JSON object or array", excerpt(text))


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
            data = self.src.read(CHUNK)
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
        if pos < CHUNK:
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
    while True:
        while True:
            n = len(t.buf)
            while pos < n and t.buf[pos] in _WS:
                pos += 1
            if pos < n or not t.more():
                break
        if pos >= len(t.buf):
            break
        pos = t.trim(pos)
        ch = t.buf[pos]
        if ch == "\0":  # see _past_nuls
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
            pos = t.pass_line(pos) if end < 0 else end
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
            chunk = src.read(CHUNK)
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


def _text_line_reason(text: str) -> str:
    if _CONVEX_TEXT.search(text[:200].encode("utf-8", "replace")):
        return CONVEX_TEXT
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
        close = buf.find(needle, max(pos, len(buf) - CHUNK - len(needle)))
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
    of it (the fast path leaves a record whose context it cannot copy as orjson writes it: `": "`, indentation):
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


def open_input(path: str) -> IO[bytes]:
    """The raw byte stream for a path, or stdin for '-'."""
    if path == "-":
        return sys.stdin.buffer
    return open(path, "rb")
