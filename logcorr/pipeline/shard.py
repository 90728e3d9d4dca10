"""Parallel parse: a large line-per-record file is cut at newlines (a file of pretty-printed objects where a
`}` line meets a `{` line) into shards that worker processes parse, redact and stage on their own; the
ingesting process adopts their staged rows in file order.

Parsing is the per-record Python work of an ingest, and one process uses one core. Shards give every
core a part of it without changing a result: each shard is framed, detected, adapted, redacted and
fingerprinted by the same code as a whole file; rows come back in file order with sequence numbers
and line numbers offset by the shards before them, so staging holds exactly what one process would
have staged. Worker output is written to the ingesting stager's private temporary directory as Arrow
IPC streams (already redacted: nothing unredacted ever leaves a worker), loaded with its other staged
rows when parsing ends (see `spool.py`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from itertools import pairwise
from typing import IO, TYPE_CHECKING, Any

from logcorr.pipeline.parse import FileResult
from logcorr.pipeline.stage import StageRules
from logcorr.pipeline.workers import MIN_SPLIT_BYTES as _MIN_SPLIT_BYTES
from logcorr.pipeline.workers import worker_pool
from logcorr.sources.bytestream import CHUNK, open_same
from logcorr.sources.reader import DEFAULT_MAX_DECOMPRESSED, split_mode

if TYPE_CHECKING:
    from logcorr.rules.policy import Policy

# files smaller than this are parsed in-process (see `workers`; the tests lower it here)
MIN_SPLIT_BYTES = _MIN_SPLIT_BYTES
# shard size: small enough to keep every worker busy to the end and memory flat, large enough to
# amortise a worker's per-shard set-up
SHARD_BYTES = 24 << 20


@dataclass(frozen=True)
class ShardTask:
    path: str
    file_id: int
    index: int
    start: int
    end: int
    forced: str | None
    max_record_bytes: int
    rules: StageRules  # not the Policy: a worker then never imports pydantic
    out_dir: str
    # the file the ranges were planned on (st_dev, st_ino), checked when the worker opens the path: a log
    # rotated or replaced meanwhile would give the worker another file's bytes
    ident: tuple[int, int] | None = None
    # the whole file [0, end), read as the ingesting process reads a file it does not split (framing detected:
    # gzip, pretty JSON, `npx convex logs` text; `max_decompressed`, `zone` as there): see `submit_whole`
    whole: bool = False
    max_decompressed: int = DEFAULT_MAX_DECOMPRESSED
    zone: Any = None
    mode: str = "ndjson"  # a shard's framing (`Shards.mode`)


@dataclass
class ShardDone:
    index: int
    result: FileResult
    redactions: Counter[str]
    rows: int  # events staged (the sequence numbers it used)
    outputs: dict[str, str]  # table → Arrow IPC stream file (the tables that got rows)


class Shards(list[tuple[int, int]]):
    """A file's shards: byte ranges [start, end) cut at line starts, each read in `mode` ("ndjson": line by
    line; "scan": a pretty-printed file, each range beginning with a `{` line after a `}` line)."""

    def __init__(self, ranges: list[tuple[int, int]], mode: str = "ndjson") -> None:
        super().__init__(ranges)
        self.mode = mode


def plan(path: str, size: int, jobs: int) -> Shards | None:
    """The shards `path` is cut into, or None when it is read whole (small, gzip, UTF-16, neither
    line-per-record nor objects pretty-printed from column 0, or one job)."""
    if jobs < 2 or size < MIN_SPLIT_BYTES:
        return None
    with open(path, "rb") as f:
        first = f.read(CHUNK)
        mode = None if first[:2] in (b"\x1f\x8b", b"\xff\xfe", b"\xfe\xff") else split_mode(first, f.read)
        if mode is None:
            return None
        boundary = _past_pretty_value if mode == "ndjson" else _at_next_object
        # a multiple of the workers: shards of one size then end together, where one more would leave all
        # workers but one idle while it runs (1M-record file: 17 shards of 0.3 s each on two workers)
        count = jobs * -(-size // (SHARD_BYTES * jobs))  # at least one shard per worker
        cuts = [0]
        for k in range(1, count):
            f.seek(max(k * size // count, cuts[-1]))
            _to_line_end(f)  # of the line the cut falls in
            if not boundary(f, size):
                continue  # inside a value longer than a shard: no cut here, the shard before it holds it whole
            pos = f.tell()
            if pos >= size:
                break
            if pos > cuts[-1]:
                cuts.append(pos)
    cuts.append(size)
    shards = Shards([(a, b) for a, b in pairwise(cuts) if b > a], mode)
    return shards if len(shards) > 1 or mode == "ndjson" else None  # no object began where one was looked for


# a `}` line then a `{` line (CRLF or not): in JSON, no value holds a `{` right after a `}` (a `,` parts them) and
# no string a line feed, so in a well-formed file the scanner stands between two values here; a file that is
# not is read on past the cut (`FileStats.open_end`)
_OBJECT_AFTER_OBJECT = re.compile(rb"\n\}\r?\n(?=\{\r?\n)")


def _at_next_object(f: IO[bytes], size: int) -> bool:
    """From a line start, on to the start of the next `{` line after a `}` line (objects pretty-printed from
    column 0, as `wrangler tail --format json` and `jq .` write them); False when none begins within
    SHARD_BYTES."""
    start = f.tell()
    if start == 0:
        return True
    f.seek(start - 1)  # the line feed before: a `}` line may end there
    carry = b""
    base = start - 1
    while base < start + SHARD_BYTES:
        block = f.read(CHUNK)
        if not block:
            f.seek(size)
            return True
        data = carry + block
        found = _OBJECT_AFTER_OBJECT.search(data)
        if found is not None:
            f.seek(base - len(carry) + found.end())
            return True
        carry = data[-8:]
        base += len(block)
    return False


def _past_pretty_value(f: IO[bytes], size: int) -> bool:
    """From a line start, on to the next line that can begin a value: not inside a pretty-printed (multi-line)
    value, whose lines are indented up to the `}` or `]` at column 0 that closes it (the reader reads it whole:
    see ndjson._Pretty). An NDJSON line begins one: nothing is read. False when SHARD_BYTES were passed over
    without finding one (a value longer than a shard: a cut there would split it, where one process reads it
    as one value, or one reject)."""
    start = f.tell()
    while (at := f.tell()) < size:
        if at >= start + SHARD_BYTES:
            return False
        head = _line_head(f)
        f.seek(at)
        # indented, or blank (any ASCII white space: a line of a form feed is a blank line of the value), or `}`/`]`
        if not (head.isspace() or head in (b"}", b"]")):
            return True
        _to_line_end(f)
    return True


def _line_head(f: IO[bytes]) -> bytes:
    """The first byte of the line from here after the NUL bytes it begins with, which the reader passes over
    (a line of NULs alone: b"\\n"), b"" at the end of the file. Reads on a little at a time while they last."""
    block = f.read(64)
    while block[:1] == b"\0":
        block = block.lstrip(b"\0") or f.read(CHUNK)
    return block[:1]


def _to_line_end(f: IO[bytes]) -> None:
    """On past the next line feed (or to the end of the file), a chunk at a time: `readline` held the line, and a
    line can be hundreds of megabytes (a copytruncate hole of NULs, a one-line dump: 300 MB peaked at 600 MB)."""
    while True:
        at = f.tell()
        block = f.read(CHUNK)
        nl = block.find(b"\n")
        if nl >= 0:
            f.seek(at + nl + 1)
            return
        if not block:
            return


class ByteRange:
    """The bytes [start, end) of an open file, as a readable stream. With `path` the range must be there
    whole: a file cut shorter while it is read (truncated, rewritten) raises, as it would lose lines
    unsaid."""

    def __init__(self, f: IO[bytes], start: int, end: int, path: str | None = None) -> None:
        f.seek(start)
        self.f = f
        self.left = end - start
        self.path = path

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        n = self.left if n < 0 else min(n, self.left)
        data = self.f.read(n)
        self.left -= len(data)
        if not data and self.path is not None:
            raise OSError(
                f"{self.path} got shorter while it was read (truncated or rewritten): ingest it again"
            )
        return data

    def readable(self) -> bool:
        return True


def run_shard(task: ShardTask) -> ShardDone:
    """Worker: parse, redact and stage one shard; write its rows out."""
    from logcorr.gcpause import gc_paused
    from logcorr.pipeline.parse import parse_file
    from logcorr.pipeline.spool import IpcFiles
    from logcorr.pipeline.stage import Stager
    from logcorr.sources.detect import FORMATS

    # each staged batch goes straight to the shard's files: the worker keeps no table of its rows, and
    # opens a DuckDB connection only if the compiled fast path leaves it a batch
    sink = IpcFiles(task.out_dir, f"{task.file_id}-{task.index:06d}")  # unique in the directory
    stager = Stager(None, task.rules, sink=sink.write)
    result = FileResult(file_id=task.file_id, path=task.path)
    # paused to the end: on again between parsing and the last flush, the collector walked the rows still
    # buffered (3 % of a worker's profile)
    with gc_paused():
        try:
            with open_same(task.path, task.ident) as f:
                # a shard is read line by line (its file's framing); a whole file's framing is found as here
                parse_file(ByteRange(f, task.start, task.end, task.path), result, stager,  # type: ignore[arg-type]
                           forced=FORMATS[task.forced] if task.forced else None,
                           max_record_bytes=task.max_record_bytes, mode=None if task.whole else task.mode,
                           file_start=task.start == 0, max_decompressed=task.max_decompressed,
                           local_zone=task.zone)  # fmt: skip
            stager.flush()
        finally:
            sink.close()
            stager.close()
    return ShardDone(task.index, result, stager.redactor.counts, stager.seq, dict(sink.paths))


def parse_sharded(
    path: str,
    file_id: int,
    ranges: Shards,
    *,
    jobs: int,
    forced: str | None,
    max_record_bytes: int,
    policy: Policy,
    out_dir: str,
    load: Callable[[ShardDone, int], None],
    pool: ProcessPoolExecutor | None = None,
    drop: Callable[[], bool] | None = None,
    ident: tuple[int, int] | None = None,
) -> bool:
    """Parse `ranges` of `path` on `jobs` worker processes (`pool`'s, else a pool of its own), their output
    written into `out_dir` (the caller removes it); `load(done, line_base)` is called for every shard in
    file order, with the number of lines before it. `drop` is called once the shards are under way (the
    caller's work meanwhile, e.g. hashing the file): when it returns True, the shards not started are
    cancelled, none is loaded, and the result is False. `ident` ((st_dev, st_ino) of the file the ranges
    were planned on): a worker that opens another file under `path` raises OSError.

    A scanned shard that ends inside a value (`FileStats.open_end`: a malformed pretty-printed file) shows its
    cut was no boundary: it is read again with the shard after it as one task, and when that ends between two
    values the shards after them stand (each began where one process is between values too); when it does not,
    it and the shards after it are not loaded, and the file is read on from its start as one more task, as one
    process would read it. A reject's excerpt reading on past the cut (a value rejected within 4 KiB before it)
    is the common case, and it took the rest of the file to one worker (51 MB, 4 shards: 2.99 s → 5.31 s)."""
    rules = StageRules.of(policy)
    own = pool is None
    if pool is None:
        pool = worker_pool(min(jobs, len(ranges)))

    def task(i: int, a: int, b: int) -> ShardTask:
        return ShardTask(
            path, file_id, i, a, b, forced, max_record_bytes, rules, out_dir, ident, mode=ranges.mode
        )

    try:
        futures = [pool.submit(run_shard, task(i, a, b)) for i, (a, b) in enumerate(ranges)]
        if drop is not None and drop():
            for fut in futures:
                fut.cancel()
            wait(futures)  # the shards already running end; their files go with the directory
            return False
        line_base = 0
        i = 0
        while i < len(futures):  # in file order
            done = futures[i].result()
            if done.result.stats.open_end and i + 1 < len(futures):
                futures[i + 1].cancel()
                # its index after every shard's: the files it writes are its own
                done = pool.submit(run_shard, task(len(ranges) + i, ranges[i][0], ranges[i + 1][1])).result()
                i += 1
                if done.result.stats.open_end and i + 1 < len(futures):
                    for later in futures[i + 1 :]:
                        later.cancel()
                    done = pool.submit(
                        run_shard, task(2 * len(ranges) + i, ranges[i - 1][0], ranges[-1][1])
                    ).result()
                    load(done, line_base)
                    break
            load(done, line_base)
            line_base += done.result.stats.lines
            i += 1
        return True
    except BaseException:
        stop_workers(pool)  # Ctrl-C or an error: what they parse now would be thrown away
        raise
    finally:
        if own:
            pool.shutdown(wait=True, cancel_futures=True)


def submit_whole(
    pool: ProcessPoolExecutor,
    path: str,
    file_id: int,
    size: int,
    ident: tuple[int, int] | None,
    *,
    forced: str | None,
    max_record_bytes: int,
    policy: Policy,
    out_dir: str,
    max_decompressed: int,
    zone: Any,
) -> Future[ShardDone]:
    """A whole file that is not split (gzip, pretty JSON not pretty-printed from column 0, text, or too small to
    split) parsed by a worker, as the ingesting process would parse it: a directory of Logpush batches or daily
    exports is parsed file by file on every core, not one file after another on one. Its `ShardDone` is adopted
    as a file's single shard."""
    task = ShardTask(path, file_id, 0, 0, size, forced, max_record_bytes, StageRules.of(policy), out_dir, ident,
                     whole=True, max_decompressed=max_decompressed, zone=zone)  # fmt: skip
    return pool.submit(run_shard, task)


def stop_workers(pool: ProcessPoolExecutor) -> None:
    """Terminate the pool's worker processes and wait for them, so that none still writes into the
    directory the caller removes next. (Python 3.14 has `terminate_workers()`; this is what it does.)"""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for proc in processes:
        proc.terminate()
    for proc in processes:
        proc.join(timeout=10)
