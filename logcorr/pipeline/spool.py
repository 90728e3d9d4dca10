"""Where staged batches wait until the parse phase ends: then each staging table is filled by one INSERT
(and a table's batches can be kept for later passes, see `Spool.load`'s `keep`).

DuckDB makes every INSERT into a table that already holds rows merge them into its last row group,
rescanning and recompressing it: tens of INSERTs of one ingest cost 2-10 us a row, one INSERT of the
same rows 0.7 us (measured on the 1M-record benchmark's shards). So batches are held here (in memory
while small, in Arrow IPC stream files in a private temporary directory beyond that) and loaded once.
Parse workers write their shards' files into the same directory; the ingesting process adopts them in
file order with the sequence and line numbers of the shards before. Everything here is already
redacted: nothing unredacted is ever written to a file.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import tempfile
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from logcorr.pipeline import scratch

# held in memory up to this many bytes of Arrow data; an ingest that stages more writes files
HOLD_BYTES = 16 << 20


# columns added to each batch a scan reads (`Spool.scan`'s `extend`): their fields, and a function of a batch that
# gives their arrays, or None to leave the batch out of the scan
Extend = tuple[list[pa.Field], Callable[[pa.RecordBatch], "list[pa.Array] | None"]]


class SpoolWriteError(OSError):
    """A spool file (or its directory) could not be written: the disk holding the temporary directory is
    full, typically. Not an input's read error (a parse worker's crosses the process boundary as this)."""


def _write_error(e: OSError, path: str) -> SpoolWriteError:
    return SpoolWriteError(e.errno or 0, os.strerror(e.errno) if e.errno else str(e), path)


class IpcFiles:
    """Each table's batches appended to one Arrow IPC stream file in `out_dir` (opened at its first
    batch). `paths` holds the files written; `close()` ends them. `write` is a parse worker's stager sink."""

    def __init__(self, out_dir: str, prefix: str) -> None:
        self.out_dir = out_dir
        self.prefix = prefix
        self.paths: dict[str, str] = {}
        self._writers: dict[str, Any] = {}
        self._files: list[Any] = []

    def write(self, table: str, batch: pa.RecordBatch) -> None:
        path = os.path.join(self.out_dir, f"{self.prefix}.{table}.arrow")
        try:
            writer = self._writers.get(table)
            if writer is None:
                sink = pa.OSFile(path, "wb")
                self._files.append(sink)
                writer = self._writers[table] = pa.ipc.new_stream(sink, batch.schema)
                self.paths[table] = path
            writer.write_batch(batch)
        except OSError as e:
            raise _write_error(e, path) from e

    def close(self) -> None:
        try:
            for writer in self._writers.values():
                writer.close()
            for f in self._files:
                f.close()
        except OSError as e:
            raise _write_error(e, self.out_dir) from e
        finally:
            self._writers.clear()
            self._files.clear()


@dataclass
class _Part:
    """Rows of one table waiting to be loaded: a file (or held batches), with the numbers to add to its
    `seq` and `source_line` columns (a shard's rows are numbered from 0 and from its first line)."""

    table: str
    path: str | None = None
    batches: list[pa.RecordBatch] = field(default_factory=list)
    seq_offset: int = 0
    line_base: int = 0


class Spool:
    """Batches for TEMP tables held (`add`, a stager's sink), then loaded by `load`."""

    def __init__(self, con: Any, hold_bytes: int | None = None) -> None:
        self.con = con
        self.hold_bytes = HOLD_BYTES if hold_bytes is None else hold_bytes
        self._dir: scratch.Scratch | None = None
        self._held: dict[str, _Part] = {}
        self._held_bytes = 0
        self._parts: list[_Part] = []
        self._kept: dict[str, list[_Part]] = {}
        self._spills = 0

    def directory(self) -> str:
        """The private temporary directory (made at first use, held locked; `close` removes it)."""
        if self._dir is None:
            try:
                self._dir = scratch.make()
            except OSError as e:
                raise _write_error(e, tempfile.gettempdir()) from e
        return self._dir.path

    def add(self, table: str, batch: pa.RecordBatch) -> None:
        """Hold `batch` for `table` (written to a file when too much is held)."""
        part = self._held.get(table)
        if part is None:
            part = self._held[table] = _Part(table)
        part.batches.append(batch)
        self._held_bytes += batch.nbytes
        if self._held_bytes > self.hold_bytes:
            self._spill()

    def _spill(self) -> None:
        """The held batches into files of their own (each file is mapped whole while it is loaded)."""
        files = IpcFiles(self.directory(), f"local{self._spills}")
        self._spills += 1
        try:
            for part in self._held.values():
                for batch in part.batches:
                    files.write(part.table, batch)
        finally:
            files.close()
        self._parts.extend(_Part(t, p) for t, p in files.paths.items())
        self._held.clear()
        self._held_bytes = 0

    def adopt(self, outputs: dict[str, str], seq_offset: int, line_base: int) -> None:
        """Take a parse worker's files (table → path, in `directory()`), to be loaded with its rows
        renumbered after the rows before them."""
        for table, path in outputs.items():
            self._parts.append(_Part(table, path, seq_offset=seq_offset, line_base=line_base))

    def load(
        self,
        select: Mapping[str, str] | None = None,
        before: Mapping[str, str] | None = None,
        json: Mapping[str, tuple[str, ...]] | None = None,
        keep: Collection[str] = (),
    ) -> None:
        """Fill each table with everything spooled for it, one INSERT per table, and forget it. `select`: a
        table's query over `_spooled` (its batches) instead of all of them as they are; `before`: a
        statement run first over a pass of its own over the same batches (`_spooled` again), e.g. to build
        a table that `select` joins; `json`: a table's columns of JSON text written by logcorr itself, which
        DuckDB then takes as JSON without parsing it (a JSON column checks every text it is given); `keep`:
        tables whose batches stay spooled after their load, for `scan` (until `release`)."""
        parts = [*self._parts, *self._held.values()]
        self._parts, self._held, self._held_bytes = [], {}, 0
        for table in dict.fromkeys(p.table for p in parts):
            mine = [p for p in parts if p.table == table]
            as_json = (json or {}).get(table, ())
            if before and table in before:
                self._execute(before[table], mine, True, as_json)
            query = (select or {}).get(table, "SELECT * FROM _spooled")
            self._execute(f"INSERT INTO {table} BY NAME {query}", mine, table in keep, as_json)
            if table in keep:
                self._kept.setdefault(table, []).extend(mine)
        for p in parts:
            if p.path is not None and p.table not in keep:
                os.unlink(p.path)

    def scan(
        self,
        table: str,
        sql: str,
        json: tuple[str, ...] = (),
        seq_range: tuple[int, int] | None = None,
        fetch: bool = False,
        extend: Extend | None = None,
    ) -> list[tuple[Any, ...]]:
        """Run `sql` over a kept table's batches (`_spooled`, renumbered; `json` as in `load`); with
        `seq_range` (lo, hi) only the batches holding a `seq` in [lo, hi) are read (the others are skipped
        unread by the query: each batch's rows are numbered in order). With `fetch`, the result's rows. With
        `extend` (fields, function), each batch read gains the function's arrays of it as those columns
        (or is left out where it gives None). The batches come in the order of `seq_spans`."""
        parts = self._kept.get(table, [])
        if not parts:
            return []
        return self._execute(sql, parts, True, json, seq_range, fetch, extend) or []

    def seq_spans(self, table: str) -> list[tuple[int, int]]:
        """The first and last `seq` of each batch of a kept table (renumbered; empty ones left out), in the
        order a scan reads them. Reads only those two values of a batch."""
        spans = []
        for part in self._kept.get(table, []):
            add = part.seq_offset if part.path is not None else 0  # (held batches are numbered already)
            for batch in part.batches if part.path is None else _mapped_batches(part.path):
                if batch.num_rows:
                    seq = batch.column("seq")
                    spans.append((int(seq[0].as_py()) + add, int(seq[-1].as_py()) + add))
        return spans

    def release(self, table: str) -> None:
        """Forget a kept table's batches and remove its files."""
        for p in self._kept.pop(table, []):
            p.batches = []
            if p.path is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(p.path)

    def _execute(
        self,
        sql: str,
        parts: list[_Part],
        keep: bool,
        as_json: tuple[str, ...] = (),
        seq_range: tuple[int, int] | None = None,
        fetch: bool = False,
        extend: Extend | None = None,
    ) -> list[tuple[Any, ...]] | None:
        """`sql` with `_spooled` the parts' batches (`keep`: the held batches stay for another pass; `as_json`:
        columns typed as JSON text, see `load`; `seq_range`, `fetch`, `extend`: see `scan`)."""
        raised: list[BaseException] = []
        schema = _schema(parts[0])
        batches = _batches(parts, raised, keep)
        if seq_range is not None:
            batches = _within(batches, *seq_range)
        json_type = _json_type()
        if as_json and json_type is not None:
            at = [schema.get_field_index(name) for name in as_json if name in schema.names]
            typed = json_type
            fields = list(schema)
            for i in at:
                fields[i] = pa.field(fields[i].name, typed)
            batches = _as_json(batches, at, typed, pa.schema(fields))
            schema = pa.schema(fields)
        if extend is not None:
            schema = pa.schema([*schema, *extend[0]])
            batches = _extended(batches, extend[1], schema)
        reader = pa.RecordBatchReader.from_batches(schema, batches)
        self.con.register("_spooled", reader)
        try:
            with _joins_as_written(self.con):
                result = self.con.execute(sql)
                rows = result.fetchall() if fetch else None
        except BaseException as e:
            # the statement's error is the one to report: it may have aborted the transaction, and then
            # unregistering fails too
            with contextlib.suppress(Exception):
                self.con.unregister("_spooled")
            # DuckDB reports what the batches raised (Ctrl-C, a read error) as its own error: raise the
            # original, so that an interruption stays one
            if raised and isinstance(e, Exception):
                raise raised[0] from None
            raise
        self.con.unregister("_spooled")
        return rows

    def close(self) -> None:
        """Remove the directory and anything left in it (an ingest that failed)."""
        self._kept.clear()
        if self._dir is not None:
            self._dir.remove()
            self._dir = None


@contextlib.contextmanager
def _joins_as_written(con: Any) -> Iterator[None]:
    """Each join's build side as the statement writes it (the right side): DuckDB cannot estimate the spooled
    batches and made them the build side. 1M records: the staging load took 2.9 s instead of 0.86 s (the
    requests' table built), the ledger 3.8 s instead of 1.6 s (`fate` built). A DuckDB without that
    optimizer, or with another name for it, just runs them slower."""
    try:
        con.execute("SET disabled_optimizers = 'build_side_probe_side'")
        switched = True
    except Exception:
        switched = False
    try:
        yield
    except BaseException:
        # the statement failed, which may have aborted the transaction: its error is the one to report
        if switched:
            with contextlib.suppress(Exception):
                con.execute("RESET disabled_optimizers")
        raise
    if switched:
        con.execute("RESET disabled_optimizers")


def _schema(part: _Part) -> pa.Schema:
    if part.path is None:
        return part.batches[0].schema
    with pa.OSFile(part.path) as f:
        return pa.ipc.open_stream(f).schema


def _batches(parts: list[_Part], raised: list[BaseException], keep: bool = False) -> Iterator[pa.RecordBatch]:
    """The parts' batches, renumbered (what this raises is also put in `raised`); held batches are let go
    as they are read, unless `keep`. Files are mapped (batches read into memory would stay with Arrow's
    allocator), one at a time, and their pages are let go behind the reader (see `_mapped_batches`)."""
    try:
        for part in parts:
            if part.path is None:
                yield from part.batches
                if not keep:
                    part.batches = []
                continue
            for batch in _mapped_batches(part.path):
                yield _renumber(batch, part.seq_offset, part.line_base)
    except GeneratorExit:
        raise
    except BaseException as e:
        raised.append(e)
        raise


def _mapped_batches(path: str) -> Iterator[pa.RecordBatch]:
    """An IPC stream file's batches, zero-copy from a read-only mapping whose pages the process lets go
    once the reader is two batches past them, and all of them at the file's end. DuckDB may still hold a
    batch it was given (its scan threads each keep theirs until they take the next): those batches stay
    valid, their pages read back from the page cache if touched again. Without this, every file one of
    them pinned stayed resident whole: four shards' files, 75 MB, in the 5M-record ingest's `log_queue`
    statement."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise pa.ArrowInvalid(f"empty spool file {path}")
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    source = pa.BufferReader(pa.py_buffer(mapped))
    behind = [0, 0]  # where the batch before the last one ended, and where the last one ended
    try:
        for batch in pa.ipc.open_stream(source):
            yield batch
            _let_go(mapped, behind[0])
            behind = [behind[1], source.tell()]
    finally:
        _let_go(mapped, size)


def _let_go(mapped: mmap.mmap, end: int) -> None:
    """The mapping's pages before `end` (and the one holding it) out of the process's memory; where the
    system has no `madvise`, they stay until the mapping is gone."""
    if end > 0 and _DONTNEED is not None:
        mapped.madvise(_DONTNEED, 0, end)


_DONTNEED: int | None = getattr(mmap, "MADV_DONTNEED", None)


def _within(batches: Iterator[pa.RecordBatch], lo: int, hi: int) -> Iterator[pa.RecordBatch]:
    """The batches holding a `seq` in [lo, hi): each batch's `seq` ascends, so its first and last decide."""
    for batch in batches:
        if batch.num_rows == 0:
            continue
        seq = batch.column("seq")
        if seq[0].as_py() < hi and seq[-1].as_py() >= lo:
            yield batch


def _json_type() -> pa.DataType | None:
    """Arrow's JSON text type where both ends know it: pyarrow 19 and later, and the DuckDB this was measured
    with (2.0; older ones are not relied on to read it). Otherwise None: the text stays text, and DuckDB
    checks it as it fills a JSON column."""
    make = getattr(pa, "json_", None)
    if make is None:
        return None
    import duckdb

    major = int(duckdb.__version__.split(".")[0])
    return make() if major >= 2 else None


def _as_json(
    batches: Iterator[pa.RecordBatch], at: list[int], typed: pa.DataType, schema: pa.Schema
) -> Iterator[pa.RecordBatch]:
    """The batches with the columns at `at` (text) typed as JSON text, without copying them."""
    for batch in batches:
        columns = list(batch.columns)
        for i in at:
            columns[i] = pa.ExtensionArray.from_storage(typed, columns[i])
        yield pa.RecordBatch.from_arrays(columns, schema=schema)


def _extended(
    batches: Iterator[pa.RecordBatch],
    make: Callable[[pa.RecordBatch], list[pa.Array] | None],
    schema: pa.Schema,
) -> Iterator[pa.RecordBatch]:
    """The batches with `make`'s arrays of each added as the last columns (those it gives None for left out)."""
    for batch in batches:
        added = make(batch)
        if added is not None:
            yield pa.RecordBatch.from_arrays([*batch.columns, *added], schema=schema)


def _renumber(batch: pa.RecordBatch, seq_offset: int, line_base: int) -> pa.RecordBatch:
    if not seq_offset and not line_base:
        return batch
    import pyarrow.compute as pc

    names = batch.schema.names
    columns = list(batch.columns)
    for name, add in (("seq", seq_offset), ("source_line", line_base)):
        if add and name in names:
            i = names.index(name)
            columns[i] = pc.add(columns[i], pa.scalar(add, columns[i].type))
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema)
