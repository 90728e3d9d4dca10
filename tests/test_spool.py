"""The spool: staged batches held or written to files, then loaded into their tables in one INSERT each,
renumbered where a parse worker numbered them from zero; no file outlives an ingest."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pickle
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute
import pytest

from logcorr.errors import InputError
from logcorr.pipeline import ingest as ingest_module
from logcorr.pipeline import scratch, shard, spool
from logcorr.pipeline.ingest import ingest
from logcorr.pipeline.spool import IpcFiles, Spool, SpoolWriteError
from logcorr.pipeline.stage import StageRules
from logcorr.rules.policy import Policy
from tests.test_shard import _mixed_file, _snapshot


def _files(directory: str) -> list[str]:
    """The spool's files in its directory (not the lock its owner holds, see `scratch`)."""
    return [name for name in os.listdir(directory) if name != scratch.LOCK]


def _batch(seqs: range, line_base: int = 100) -> pa.RecordBatch:
    return pa.record_batch(
        {
            "seq": pa.array(list(seqs), pa.int64()),
            "source_line": pa.array([line_base + s for s in seqs], pa.int64()),
            "text": pa.array([f"row {s}" for s in seqs], pa.string()),
        }
    )


def _table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TEMP TABLE t (seq BIGINT, text VARCHAR, source_line BIGINT)")  # columns by name


def _spooled(hold_bytes: int | None, *batches: range) -> tuple[duckdb.DuckDBPyConnection, Spool]:
    """A connection with table `t` and a spool holding a batch of `t` per range of sequence numbers."""
    con = duckdb.connect()
    _table(con)
    sp = Spool(con, hold_bytes=hold_bytes)
    for seqs in batches:
        sp.add("t", _batch(seqs))
    return con, sp


def test_held_batches_are_loaded_and_forgotten() -> None:
    con, sp = _spooled(None, range(0, 3), range(3, 5))
    sp.load()
    assert con.execute("SELECT seq, source_line, text FROM t ORDER BY seq").fetchall() == [
        (s, 100 + s, f"row {s}") for s in range(5)
    ]
    sp.load()  # nothing is loaded twice
    assert con.execute("SELECT count(*) FROM t").fetchall() == [(5,)]
    sp.close()


def test_spilled_and_adopted_files_are_renumbered_loaded_and_removed(tmp_path: Path) -> None:
    con, sp = _spooled(1, range(0, 4), range(4, 6))  # every batch goes to a file
    directory = sp.directory()
    assert len(_files(directory)) == 2
    # a worker's output: its rows numbered from 0, its lines from the shard's first line
    worker = IpcFiles(directory, "000001")
    worker.write("t", _batch(range(0, 3), line_base=1))
    worker.close()
    sp.adopt(worker.paths, seq_offset=6, line_base=40)
    sp.load()
    got = con.execute("SELECT seq, source_line, text FROM t ORDER BY seq").fetchall()
    assert got == [(s, 100 + s, f"row {s}") for s in range(6)] + [
        (6 + s, 41 + s, f"row {s}") for s in range(3)
    ]
    assert _files(directory) == []
    sp.close()
    assert not os.path.exists(directory)


@pytest.mark.parametrize("hold_bytes", [1, None])  # in files, held in memory
def test_a_statement_before_the_load_sees_every_batch_and_the_load_still_gets_them(
    hold_bytes: int | None,
) -> None:
    con, sp = _spooled(hold_bytes, range(0, 4), range(4, 6))
    sp.load(
        before={"t": "CREATE TEMP TABLE firsts AS SELECT max(seq) AS top, count(*) AS n FROM _spooled"},
        select={
            "t": "SELECT * REPLACE (text || ' of ' || (SELECT n FROM firsts) AS text) FROM _spooled WHERE seq % 2 = 0"
        },
    )
    assert con.execute("SELECT top, n FROM firsts").fetchall() == [(5, 6)]
    assert con.execute("SELECT seq, text FROM t ORDER BY seq").fetchall() == [
        (s, f"row {s} of 6") for s in (0, 2, 4)
    ]
    sp.close()


@pytest.mark.parametrize("hold_bytes", [1, None])  # in files, held in memory
def test_a_kept_table_is_scanned_after_its_load_whole_or_by_sequence_range_until_released(
    hold_bytes: int | None,
) -> None:
    con, sp = _spooled(hold_bytes, range(0, 4), range(4, 6), range(6, 9))
    worker = IpcFiles(sp.directory(), "000001")
    worker.write("t", _batch(range(0, 2), line_base=1))
    worker.close()
    sp.adopt(worker.paths, seq_offset=9, line_base=40)
    sp.load(keep=("t",))
    everything = [(s, 100 + s, f"row {s}") for s in range(9)] + [(9, 41, "row 0"), (10, 42, "row 1")]
    assert con.execute("SELECT seq, source_line, text FROM t ORDER BY seq").fetchall() == everything
    whole = "SELECT seq, source_line, text FROM _spooled ORDER BY seq"
    for _ in range(2):  # as often as asked, renumbered as loaded
        assert sp.scan("t", whole, fetch=True) == everything
    # only the batches holding a row of [5, 7) are read: the second (4, 5) and the third (6, 7, 8)
    assert [r[0] for r in sp.scan("t", whole, seq_range=(5, 7), fetch=True)] == [4, 5, 6, 7, 8]
    assert [r[0] for r in sp.scan("t", whole, seq_range=(10, 100), fetch=True)] == [9, 10]
    assert sp.scan("t", whole, seq_range=(100, 200), fetch=True) == []
    # a statement, not a query
    con.execute("CREATE TEMP TABLE copy (seq BIGINT)")
    assert sp.scan("t", "INSERT INTO copy SELECT seq FROM _spooled WHERE seq > 8") == []
    assert con.execute("SELECT seq FROM copy ORDER BY seq").fetchall() == [(9,), (10,)]
    files = _files(sp.directory())
    assert len(files) == (4 if hold_bytes == 1 else 1)  # three spilled, one adopted; or the adopted one
    sp.release("t")
    assert _files(sp.directory()) == []
    assert sp.scan("t", whole, fetch=True) == []
    sp.close()


def _build_side(plan: Any) -> str:
    """The operator name of the first hash join's build side (its right child) in a JSON plan."""
    for node in plan:
        if node.get("name", "").strip() == "HASH_JOIN":
            return str(node["children"][1]["name"])
        found = _build_side(node.get("children", []))
        if found:
            return found
    return ""


@pytest.mark.parametrize("as_written", [True, False])
def test_a_scan_builds_the_join_side_the_statement_writes(
    monkeypatch: pytest.MonkeyPatch, as_written: bool
) -> None:
    if not as_written:  # what DuckDB chooses by itself: the spooled batches, which it cannot estimate
        monkeypatch.setattr(spool, "_joins_as_written", lambda con: contextlib.nullcontext())
    con = duckdb.connect()
    _table(con)
    con.execute("CREATE TEMP TABLE big AS SELECT range::BIGINT AS seq FROM range(100000)")
    sp = Spool(con, hold_bytes=1)
    sp.add("t", _batch(range(0, 50)))
    sp.load(keep=("t",))
    query = "EXPLAIN (FORMAT json) SELECT * FROM _spooled s JOIN big USING (seq)"
    plan = json.loads(sp.scan("t", query, fetch=True)[0][1])
    assert _build_side(plan) == ("SEQ_SCAN" if as_written else "PYTHON_ARROW_SCAN")
    assert con.execute("SELECT current_setting('disabled_optimizers')").fetchall() == [("",)]
    sp.close()


# the JSON type where pyarrow (19+) and DuckDB (2+) both have it, text otherwise
@pytest.mark.parametrize("without", [None, "pyarrow", "duckdb"])
def test_json_text_columns_load_into_json_columns_as_written(
    monkeypatch: pytest.MonkeyPatch, without: str | None
) -> None:
    if without == "pyarrow":
        monkeypatch.delattr(pa, "json_", raising=False)
    if without == "duckdb":
        monkeypatch.setattr(duckdb, "__version__", "1.1.3")
    assert (spool._json_type() is None) == (without is not None)
    con = duckdb.connect()
    con.execute("CREATE TEMP TABLE j (seq BIGINT, doc JSON, note VARCHAR)")
    docs = ['{"a":1,"b":[true,null]}', None, '"text"']
    for hold in (1, None):  # in files, held in memory
        sp = Spool(con, hold_bytes=hold)
        sp.add("j", pa.record_batch({"seq": pa.array([0, 1, 2], pa.int64()), "doc": pa.array(docs, pa.string()),
                                     "note": pa.array(docs, pa.string())}))  # fmt: skip
        sp.load(json={"j": ("doc",)})
        sp.close()
        got = con.execute("SELECT seq, doc, typeof(doc), doc->>'a', note FROM j ORDER BY seq").fetchall()
        assert got == [
            (0, docs[0], "JSON", "1", docs[0]),
            (1, None, "JSON", None, None),
            (2, '"text"', "JSON", None, '"text"'),
        ]
        con.execute("DELETE FROM j")


def _resident_kb(path: str) -> int:
    """The process's resident KiB in its mappings of `path` (Linux's /proc/self/smaps)."""
    total, mine = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5 and head[3].count(":") == 1:  # a mapping's first line
            mine = len(head) >= 6 and head[5] == path
        elif mine and head[:1] == ["Rss:"]:
            total += int(head[1])
    return total


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="reads the process's mappings from /proc")
def test_a_spool_file_is_read_zero_copy_with_its_pages_let_go_behind_the_reader(tmp_path: Path) -> None:
    # eight batches of 1 MiB; the reader keeps every batch, as DuckDB's scan threads keep theirs a while
    files = IpcFiles(str(tmp_path), "p")
    per_batch = 1 << 17
    for k in range(8):
        files.write(
            "t", pa.record_batch({"v": pa.array(range(k * per_batch, (k + 1) * per_batch), pa.int64())})
        )
    files.close()
    path = files.paths["t"]
    kept: list[pa.RecordBatch] = []
    resident = []
    for batch in spool._batches([spool._Part("t", path)], []):
        kept.append(batch)
        assert (
            batch.column("v")[per_batch - 1].as_py() == len(kept) * per_batch - 1
        )  # zero-copy: on the pages
        pa.compute.sum(batch.column("v"))  # every page of the batch read
        resident.append(_resident_kb(path))
    assert len(kept) == 8
    # while reading: the batch read and the two before it (and the pages the kernel maps around a fault,
    # 64 KiB by default); with every batch still held, nothing at the end
    assert 1024 <= max(resident) <= 3 * 1024 + 256
    assert _resident_kb(path) == 0
    # the batches the reader let go of read back from the file, whole
    total = sum(pa.compute.sum(b.column("v")).as_py() for b in kept)
    assert total == 8 * per_batch * (8 * per_batch - 1) // 2


class _FullDiskFiles(IpcFiles):
    """Spool files that are all /dev/full, a disk that is always full."""

    def write(self, table: str, batch: pa.RecordBatch) -> None:
        link = os.path.join(self.out_dir, f"{self.prefix}.{table}.arrow")
        if not os.path.lexists(link):
            os.symlink("/dev/full", link)
        super().write(table, batch)


_FULL = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="writes to /dev/full, a disk always full")


@_FULL
def test_a_spool_file_that_cannot_be_written_is_a_spool_write_error(tmp_path: Path) -> None:
    files = IpcFiles(str(tmp_path), "p")
    (tmp_path / "p.t.arrow").symlink_to("/dev/full")
    with pytest.raises(SpoolWriteError) as got:
        files.write("t", _batch(range(100_000)))
        files.close()
    assert got.value.errno == errno.ENOSPC and got.value.strerror == os.strerror(errno.ENOSPC)
    assert got.value.filename in (str(tmp_path / "p.t.arrow"), str(tmp_path))
    # a parse worker's error reaches the ingesting process pickled: still this error, with its fields
    back = pickle.loads(pickle.dumps(got.value))
    assert type(back) is SpoolWriteError and (back.errno, back.filename) == (
        got.value.errno,
        got.value.filename,
    )


@_FULL
def test_ingest_says_its_temporary_files_did_not_fit_not_that_the_input_is_unreadable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private_tmp: Path
) -> None:
    src = _mixed_file(tmp_path)
    monkeypatch.setattr(spool, "HOLD_BYTES", 1)  # every staged batch goes to a file
    monkeypatch.setattr(spool, "IpcFiles", _FullDiskFiles)
    with pytest.raises(InputError) as got:
        ingest([str(src)], str(tmp_path / "x.duckdb"), jobs=1, max_record_bytes=4096)
    assert str(got.value).startswith("cannot write ingest's temporary files: No space left on device (")
    assert "TMPDIR" in (got.value.hint or "") and str(private_tmp) in (got.value.hint or "")
    assert list(private_tmp.iterdir()) == []  # the spool's directory is gone


@_FULL
def test_a_parse_worker_that_cannot_write_its_shard_raises_a_spool_write_error(tmp_path: Path) -> None:
    src = _mixed_file(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    for table in ("staging", "staged_metrics", "staged_rejects"):
        (out / f"1-000000.{table}.arrow").symlink_to("/dev/full")
    task = shard.ShardTask(path=str(src), file_id=1, index=0, start=0, end=src.stat().st_size, forced=None,
                           max_record_bytes=4096, rules=StageRules.of(Policy()), out_dir=str(out))  # fmt: skip
    with pytest.raises(SpoolWriteError) as got:
        shard.run_shard(task)
    assert got.value.errno == errno.ENOSPC


def test_close_removes_what_a_failed_load_left() -> None:
    con = duckdb.connect()
    sp = Spool(con, hold_bytes=1)
    sp.add("missing_table", _batch(range(3)))
    directory = sp.directory()
    with pytest.raises(duckdb.Error):
        sp.load()
    sp.close()
    assert not os.path.exists(directory)


@pytest.mark.parametrize("step", ["load", "scan"])
def test_a_statement_that_aborts_the_transaction_raises_its_own_error(step: str) -> None:
    # a failed statement aborts the caller's transaction; cleaning up after it (the optimizer setting, the
    # registered batches) then fails too, and that error used to replace the statement's
    con, sp = _spooled(None, range(0, 3))
    con.execute("BEGIN TRANSACTION")
    with pytest.raises(duckdb.ConversionException, match="Could not convert"):
        if step == "load":
            sp.load(
                select={"t": "SELECT seq, CAST(text AS INTEGER)::VARCHAR AS text, source_line FROM _spooled"}
            )
        else:
            sp.load(keep=("t",))
            sp.scan(
                "t", "INSERT INTO t SELECT seq, CAST(text AS INTEGER)::VARCHAR, source_line FROM _spooled"
            )
    con.execute("ROLLBACK")
    sp.close()


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary directory of the test's own (the worker processes inherit it through TMPDIR)."""
    d = tmp_path / "tmp"
    d.mkdir()
    monkeypatch.setenv("TMPDIR", str(d))
    monkeypatch.setattr("tempfile.tempdir", str(d))
    return d


def test_spilled_sharded_ingest_equals_held_one_process_and_leaves_no_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private_tmp: Path
) -> None:
    src = _mixed_file(tmp_path)
    ingest([str(src)], str(tmp_path / "held.duckdb"), jobs=1, max_record_bytes=4096)
    assert list(private_tmp.iterdir()) == []  # small enough to stay in memory

    monkeypatch.setattr(spool, "HOLD_BYTES", 1)  # each staged batch to a file of its own
    ingest([str(src)], str(tmp_path / "spilled.duckdb"), jobs=1, max_record_bytes=4096)
    monkeypatch.setattr(shard, "MIN_SPLIT_BYTES", 1)
    monkeypatch.setattr(shard, "SHARD_BYTES", 150_000)
    # two sharded files (the one-line file is one shard): their workers' files must not collide
    other = tmp_path / "other.jsonl"
    other.write_bytes(b'{"message": "first", "level": "log", "timestamp": 1754384400000}\n')
    mixed = ingest([str(other), str(src)], str(tmp_path / "mixed.duckdb"), jobs=2, max_record_bytes=4096)
    assert list(private_tmp.iterdir()) == []
    assert mixed.files[1].balanced and mixed.files[0].stored + mixed.files[0].dropped == 1

    held, spilled = _snapshot(tmp_path / "held.duckdb"), _snapshot(tmp_path / "spilled.duckdb")
    for table in held:
        assert held[table] == spilled[table], table


def test_a_failed_ingest_leaves_no_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private_tmp: Path
) -> None:
    src = _mixed_file(tmp_path)
    monkeypatch.setattr(spool, "HOLD_BYTES", 1)
    monkeypatch.setattr(shard, "MIN_SPLIT_BYTES", 1)
    monkeypatch.setattr(shard, "SHARD_BYTES", 150_000)

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("rules failed")

    monkeypatch.setattr(ingest_module, "decide", boom)
    with pytest.raises(RuntimeError, match="rules failed"):
        ingest([str(src)], str(tmp_path / "x.duckdb"), jobs=2, max_record_bytes=4096)
    assert list(private_tmp.iterdir()) == []


def test_stdin_seen_before_is_discarded_after_spilled_rows_of_other_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private_tmp: Path
) -> None:
    import io
    import sys

    def lines(tag: str, n: int) -> bytes:
        return b"".join(
            b'{"message": "%s %d", "level": "log", "timestamp": %d}\n'
            % (tag.encode(), i, 1754384400000 + i * 1000)
            for i in range(n)
        )

    seen, first = lines("seen", 30), tmp_path / "first.jsonl"
    first.write_bytes(lines("first", 40))
    db = str(tmp_path / "db.duckdb")
    monkeypatch.setattr(spool, "HOLD_BYTES", 1)  # the first file's rows are in a file when stdin is discarded
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(seen)))
    ingest(["-"], db, jobs=1)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(seen)))
    again = ingest([str(first), "-"], db, jobs=1)
    assert [f.status for f in again.files] == ["ingested", "already-ingested"]
    assert again.files[0].stored + again.files[0].dropped == 40
    con = duckdb.connect(db, read_only=True)
    per_run = con.execute(
        "SELECT run_id, count(*) FROM (SELECT run_id FROM log_queue UNION ALL SELECT run_id FROM drop_ledger) "
        "GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    con.close()
    assert per_run == [(1, 30), (2, 40)]
    assert list(private_tmp.iterdir()) == []
