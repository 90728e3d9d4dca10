"""An input's byte stream: a file (plain or gzip, inflated by zlib so a truncated or corrupt stream keeps
every byte it can give, within a decompressed-size limit) or stdin, UTF-16 decoded on request; archives and
other compressions recognized by their magic bytes; a file opened again only when it is still the one
measured, and its content hash. `CHUNK` is how much each read asks for.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import os
import sys
import zlib
from typing import IO, Any

# the other reading modules use it as `bytestream.CHUNK`, read at each call: one setting (tests set small
# chunks) reaches every framing
CHUNK = 1 << 20
# the most one inflating call gives: memory stays bounded whatever a compressed chunk inflates to
_INFLATE_MAX = 4 * CHUNK


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


# formats a log export may come in that are not read (gzip is): what each is and what to do, before any `:`
# (the ingest summary counts rejects by the reason up to it)
_PACKED: tuple[tuple[bytes, str], ...] = (
    (
        b"PK\x03\x04",
        "a zip archive, unzip it and ingest its folder: `npx convex export` writes one, and logcorr "
        "reads the documents.jsonl of its log tables (log_queue, recent_log_entries, debug_logs)",
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


def open_input(path: str) -> IO[bytes]:
    """The raw byte stream for a path, or stdin for '-'."""
    if path == "-":
        return sys.stdin.buffer
    return open(path, "rb")
