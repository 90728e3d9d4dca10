"""Reading an input: a file (plain, gzip, or stdin) turned into JSON records with line numbers
(`iter_records`), and whether it can be read in parts cut at line starts (`split_mode`).

Three framings, picked from the first non-blank line: NDJSON (one value per line, parsed with orjson, the
fast path: `ndjson.py`), a scanner for pretty-printed objects written back to back (`wrangler tail`), JSON
array bodies and banner lines in between (`scan.py`), and `npx convex logs` text (`convex_text_lines.py`).
The byte stream (gzip, UTF-16) is `bytestream.py`'s; what the framings yield and tally, `outcomes.py`'s.
Every physical line ends up counted: as part of a record, blank, skipped (a known banner) or rejected with a
reason. Memory is bounded by the longest accepted record (`max_record_bytes`), never by the file.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterator
from typing import IO, Any

import orjson

from logcorr.sources import bytestream, convex_text
from logcorr.sources.bytestream import TruncatedInput, _packed, _Source
from logcorr.sources.convex_text_lines import _convex_text
from logcorr.sources.ndjson import _ndjson
from logcorr.sources.outcomes import REJECT, FileStats, LineHook, excerpt
from logcorr.sources.scan import _BANNER, _scan

DEFAULT_MAX_RECORD_BYTES = 8 << 20
DEFAULT_MAX_DECOMPRESSED = 64 << 30
# how much of a file's first line is read to pick its framing (a first line longer than this is one value too
# long to hold whole, or a one-line JSON array read element by element)
DETECT_BYTES = DEFAULT_MAX_RECORD_BYTES

UTF16_NOTE = "UTF-16 text, decoded (Windows PowerShell's `>` writes it)"


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
        first = src.read(bytestream.CHUNK)
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
        while src.read(bytestream.CHUNK):
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
            data = read(bytestream.CHUNK)
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
        s = line.strip().lstrip(b"\0").lstrip()  # NUL bytes before it: see outcomes._past_nuls
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
