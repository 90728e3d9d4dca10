"""What every framing of an input gives and tallies: the kinds it yields (RECORD, REJECT, SKIP, CLAIMED),
`FileStats`, the fast path's hook type, the excerpt of a bad line, a line's JSON value as records, the reason
given to `npx convex logs` text met among JSON, and the notes any part of a file may give (NUL bytes passed
over, invalid UTF-8), in one order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

EXCERPT = 160  # characters of a rejected line kept in the rejects table
EXCERPT_SOURCE = 4096  # characters handed on for it: redaction sees whole secrets before the final cut

# kinds yielded by iter_records
RECORD = 0
REJECT = 1
SKIP = 2
CLAIMED = 3  # lines the compiled fast path turned into staging rows itself (payload: what it returned)

# the fast path's hook: (text, position of the first line to offer, end of the last, line number before it)
# -> (how many lines from there it claimed, the position after them, its result). Lines end at a newline (the
# last at the end given); it stops at a line it leaves to orjson (0: the first one)
LineHook = Callable[[bytes, int, int, int], tuple[int, int, Any]]


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
    # `npx convex logs` text: the zone its times were read in, and whether it was named (--local-tz,
    # $LOGCORR_LOCAL_TZ) rather than this machine's (`ingest_files.local_tz`, `local_tz_given`)
    local_tz: str | None = None
    local_tz_given: bool | None = None
    # scanned JSON (a shard of a pretty-printed file): the input ended inside a value, a line of one or an array,
    # so the cut it ends at is no boundary between values (`shard.parse_sharded` reads on past it)
    open_end: bool = False


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
