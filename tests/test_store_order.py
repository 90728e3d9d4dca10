"""The order `log_queue` is written in: its rows in event-id order, and event ids in event-time order (ties in
input order) within a run, whether the input came in time order (written as read, without a sort) or not
(sorted)."""

from __future__ import annotations

import functools
import random
from pathlib import Path
from typing import Any

import duckdb
import pytest

from logcorr.pipeline import ingest as ingest_mod
from logcorr.pipeline import parse, shard, spool
from logcorr.pipeline import store as store_mod
from logcorr.pipeline.ingest import ingest
from logcorr.pipeline.stage import Stager
from tests.conftest import browser_event, convex_console

T0 = 1714910400000


def _lines(n: int, start: int = T0, step: int = 1_000, tag: str = "b") -> list[dict[str, Any]]:
    """Browser lines in time order: every fifth a repeat of the one before (the duplicate rule drops it), so the
    accepted events are not every staged row; and Convex lines of requests, the first of each naming its trace
    in its text, the others joined to it by their request id (`request_trace`)."""
    out: list[dict[str, Any]] = []
    for i in range(n):
        ts = start + i * step
        if i % 5 == 4:
            out.append(out[-1])
            continue
        if i % 3 == 0:
            req = f"{tag}{i // 6:015x}"
            text = f"'step {i}' {{ traceId: 'trace_{ts}_{tag}{i // 6}' }}" if i % 6 == 0 else f"step {i}"
            out.append(convex_console(text, ts, request_id=req))
        else:
            out.append(browser_event(ts, f"{tag} click {i}", trace=f"trace_{ts}_{tag}{i // 6}"))
    return out


def _write(path: Path, records: list[dict[str, Any]]) -> Path:
    import orjson

    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Staged batches of 7 rows, each spilled to a spool file of its own; returns the statements the store runs
    over the staged rows, as it runs them. (The compiled parser of runs of lines is off: it stages a run's rows,
    a small file's all, as one batch.)"""
    monkeypatch.setattr(ingest_mod, "Stager", functools.partial(Stager, batch_rows=7))
    monkeypatch.setattr(parse, "lines_parser", lambda: None)
    monkeypatch.setattr(spool, "HOLD_BYTES", 1)
    seen: list[str] = []
    real = Stager.events

    def events(self: Stager, sql: str, *a: Any, **k: Any) -> Any:
        seen.append(" ".join(sql.split()))
        return real(self, sql, *a, **k)

    monkeypatch.setattr(Stager, "events", events)
    return seen


def _stored_order(db: Path) -> tuple[list[int], list[int]]:
    """The event ids of `log_queue` as its rows are stored, and as event time then input order (file, line)
    order them, run by run."""
    with duckdb.connect(str(db), read_only=True) as con:
        as_stored = [r[0] for r in con.execute("SELECT event_id FROM log_queue").fetchall()]
        files = {
            p: i
            for i, (p,) in enumerate(
                con.execute("SELECT path FROM ingest_files ORDER BY run_id, file_id").fetchall()
            )
        }
        rows = con.execute("SELECT run_id, ts, source_file, source_line, event_id FROM log_queue").fetchall()
    by_time = [r[4] for r in sorted(rows, key=lambda r: (r[0], r[1], files[r[2]], r[3], r[4]))]
    return as_stored, by_time


def _log_queue_inserts(seen: list[str]) -> list[str]:
    return [s for s in seen if s.startswith("INSERT INTO log_queue")]


@pytest.mark.parametrize("jobs", [1, 2])
def test_an_export_in_time_order_is_stored_as_read_without_a_sort(
    tmp_path: Path, small_batches: list[str], monkeypatch: pytest.MonkeyPatch, jobs: int
) -> None:
    db = tmp_path / "db.duckdb"
    adopted: list[int] = []
    if jobs > 1:  # the first file in shards, their rows renumbered as their workers' files are read
        monkeypatch.setattr(shard, "MIN_SPLIT_BYTES", 1)
        monkeypatch.setattr(shard, "SHARD_BYTES", 8_000)
        real = Stager.adopt
        monkeypatch.setattr(Stager, "adopt", lambda self, *a: adopted.append(self.seq) or real(self, *a))
    first = ingest([str(_write(tmp_path / "a.jsonl", _lines(200)))], str(db), jobs=jobs)
    assert (len(adopted) > 1) == (jobs > 1), adopted
    # a second file later in time, in the same run: still in time order as read
    second = ingest(
        [str(_write(tmp_path / "b.jsonl", _lines(60, T0 + 500_000, tag="c"))),
         str(_write(tmp_path / "c.jsonl", _lines(60, T0 + 600_000, tag="d")))],
        str(db), jobs=1,
    )  # fmt: skip
    assert first.dropped > 30 and first.stored > 100 and second.stored > 80
    inserts = _log_queue_inserts(small_batches)
    assert len(inserts) == 2 and not any("ORDER BY" in s for s in inserts), inserts
    as_stored, by_time = _stored_order(db)
    assert as_stored == sorted(as_stored) == by_time
    with duckdb.connect(str(db), read_only=True) as con:
        joined = con.execute("SELECT count(*) FROM log_queue WHERE trace_source = 'request_id'").fetchone()
        assert joined is not None and joined[0] > 20


@pytest.mark.parametrize("shape", ["interleaved files", "shuffled lines"])
def test_input_out_of_time_order_is_stored_sorted(
    tmp_path: Path, small_batches: list[str], shape: str
) -> None:
    db = tmp_path / "db.duckdb"
    if shape == "interleaved files":
        paths = [_write(tmp_path / "a.jsonl", _lines(120, step=2_000)),
                 _write(tmp_path / "b.jsonl", _lines(120, T0 + 1_000, step=2_000, tag="c"))]  # fmt: skip
    else:
        lines = _lines(200)
        random.Random(5).shuffle(lines)
        paths = [_write(tmp_path / "a.jsonl", lines)]
    result = ingest([str(p) for p in paths], str(db), jobs=1)
    assert result.stored > 100
    inserts = _log_queue_inserts(small_batches)
    assert len(inserts) == 1 and "ORDER BY" in inserts[0], inserts
    as_stored, by_time = _stored_order(db)
    assert as_stored == sorted(as_stored) == by_time


def test_stored_as_read_or_sorted_the_tables_are_the_same(
    tmp_path: Path, small_batches: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The columns the store adds to the staged rows read in order (their fate's position and request trace,
    their file's path) are those the join with `fate` and `files` gives."""
    paths = [str(_write(tmp_path / "a.jsonl", _lines(150))),
             str(_write(tmp_path / "b.jsonl", _lines(80, T0 + 400_000, tag="c")))]  # fmt: skip
    ingest(paths, str(tmp_path / "read.duckdb"), jobs=1)
    assert len(_log_queue_inserts(small_batches)) == 1
    # in slices of input order: each statement reads the batches holding its slice's rows (some in two)
    monkeypatch.setattr(store_mod, "_LEDGER_SLICE", 16)
    ingest(paths, str(tmp_path / "sliced.duckdb"), jobs=1)
    inserts = _log_queue_inserts(small_batches)
    assert len(inserts) > 10 and not any("ORDER BY" in s for s in inserts)
    monkeypatch.setattr(store_mod, "_in_order", lambda con, staged: False)
    ingest(paths, str(tmp_path / "sorted.duckdb"), jobs=1)
    assert "ORDER BY" in _log_queue_inserts(small_batches)[-1]
    for table in ("log_queue", "recent_log_entries", "drop_events", "trace_summary"):
        rows = []
        for name in ("read", "sliced", "sorted"):
            with duckdb.connect(str(tmp_path / f"{name}.duckdb"), read_only=True) as con:
                rows.append(con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall())
        assert rows[0] == rows[1] == rows[2] and rows[0], table
    for name in ("read", "sliced", "sorted"):
        as_stored, by_time = _stored_order(tmp_path / f"{name}.duckdb")
        assert as_stored == sorted(as_stored) == by_time, name
