"""The order `log_queue` is written in: event ids in event-time order (ties in input order) within a run; the
rows as read, without a sort, where input order keeps time together (in time order or nearly, a few exports each
in time order: by two threads, or by one in input order), else sorted (in event-id order). And the drop ledger
written as read: each row with its own fate and file."""

from __future__ import annotations

import functools
import itertools
import random
from pathlib import Path
from typing import Any

import duckdb
import orjson
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


@pytest.fixture
def ways(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The DuckDB settings each as-read write of the accepted events ran under, as `store._settings` got them."""
    seen: list[dict[str, Any]] = []
    real = store_mod._settings
    monkeypatch.setattr(
        store_mod, "_settings", lambda con, **values: seen.append(values) or real(con, **values)
    )
    return seen


ORDERED = {"preserve_insertion_order": True}


def _unordered(way: dict[str, Any]) -> bool:
    """Whether `way` is two threads (at most: as many as DuckDB has) without keeping input order."""
    return (
        way.keys() == {"preserve_insertion_order", "threads"}
        and not way["preserve_insertion_order"]
        and (1 <= way["threads"] <= 2)
    )


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


@pytest.mark.parametrize("ordered", [False, True], ids=["two threads", "in input order"])
@pytest.mark.parametrize("jobs", [1, 2])
def test_an_export_in_time_order_is_stored_as_read_without_a_sort(
    tmp_path: Path,
    small_batches: list[str],
    ways: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    jobs: int,
    ordered: bool,
) -> None:
    """Written by two threads, each filling its own row groups (their order is theirs); or, where input order
    spreads time more than `_SPREAD_UNORDERED` (here always), by one thread in input order, which is then
    event-id order."""
    if ordered:
        monkeypatch.setattr(store_mod, "_SPREAD_UNORDERED", -1.0)
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
    assert len(ways) == 2 and all(w == ORDERED if ordered else _unordered(w) for w in ways), ways
    as_stored, by_time = _stored_order(db)
    assert by_time == sorted(by_time) == sorted(as_stored)
    if ordered:
        assert as_stored == by_time
    with duckdb.connect(str(db), read_only=True) as con:
        joined = con.execute("SELECT count(*) FROM log_queue WHERE trace_source = 'request_id'").fetchone()
        assert joined is not None and joined[0] > 20


def test_input_out_of_time_order_throughout_is_stored_sorted(
    tmp_path: Path, small_batches: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines shuffled over many row groups (here 8 rows each): written as read, each row group would span most of
    the input's time, so they are sorted."""
    monkeypatch.setattr(store_mod, "_ROW_GROUP", 8)
    lines = _lines(200)
    random.Random(5).shuffle(lines)
    result = ingest([str(_write(tmp_path / "a.jsonl", lines))], str(tmp_path / "db.duckdb"), jobs=1)
    assert result.stored > 100
    inserts = _log_queue_inserts(small_batches)
    assert len(inserts) == 1 and "ORDER BY" in inserts[0], inserts
    as_stored, by_time = _stored_order(tmp_path / "db.duckdb")
    assert as_stored == sorted(as_stored) == by_time


def _runs(ids: list[int]) -> int:
    """How many runs of rising event ids `ids` is."""
    return 1 + sum(b < a for a, b in itertools.pairwise(ids))


def _nearly(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`records` with each pair of neighbours swapped: out of time order, but only by a line."""
    out = list(records)
    for i in range(0, len(out) - 1, 2):
        out[i], out[i + 1] = out[i + 1], out[i]
    return out


@pytest.mark.parametrize("shape", ["interleaved files", "nearly in order", "shuffled, one row group"])
def test_input_that_keeps_time_together_is_stored_as_read(
    tmp_path: Path, small_batches: list[str], monkeypatch: pytest.MonkeyPatch, shape: str
) -> None:
    """Two systems' exports of one period in one ingest (each in time order, the two interleaved), an export a
    line out of order here and there (row groups of 8 rows), or any order within one row group: each row group
    written as read spans little more of the input's time than sorted ones would, so the rows are written as
    read, without a sort (here by one thread, in input order). Event ids are event-time order all the same, and
    every table is as the sort gives it."""
    monkeypatch.setattr(store_mod, "_SPREAD_UNORDERED", -1.0)
    if shape == "interleaved files":
        monkeypatch.setattr(store_mod, "_ROW_GROUP", 8)
        paths = [_write(tmp_path / "a.jsonl", _lines(120, step=2_000)),
                 _write(tmp_path / "b.jsonl", _lines(120, T0 + 1_000, step=2_000, tag="c"))]  # fmt: skip
    elif shape == "nearly in order":
        monkeypatch.setattr(store_mod, "_ROW_GROUP", 8)
        paths = [_write(tmp_path / "a.jsonl", _nearly(_lines(240)))]
    else:
        lines = _lines(240)
        random.Random(7).shuffle(lines)
        paths = [_write(tmp_path / "a.jsonl", lines)]
    result = ingest([str(p) for p in paths], str(tmp_path / "read.duckdb"), jobs=1)
    assert result.stored > 150
    (insert,) = _log_queue_inserts(small_batches)
    assert "ORDER BY" not in insert
    as_stored, by_time = _stored_order(tmp_path / "read.duckdb")
    assert by_time == sorted(by_time) and as_stored != by_time
    if shape == "interleaved files":  # each file's rows in event-id order, one file after the other
        assert _runs(as_stored) == 2
        with duckdb.connect(str(tmp_path / "read.duckdb"), read_only=True) as con:
            per_file = con.execute(
                "SELECT source_file, list(event_id ORDER BY rowid) FROM log_queue GROUP BY 1 ORDER BY 1"
            ).fetchall()
        assert [p for p, _ in per_file] == [str(p) for p in paths]
        assert all(ids == sorted(ids) for _, ids in per_file)
    monkeypatch.setattr(store_mod, "_spread", lambda con, staged: None)
    ingest([str(p) for p in paths], str(tmp_path / "sorted.duckdb"), jobs=1)
    assert "ORDER BY" in _log_queue_inserts(small_batches)[-1]
    assert _stored_order(tmp_path / "sorted.duckdb")[0] == by_time
    for table in ("log_queue", "recent_log_entries", "drop_events", "trace_summary", "drop_traces"):
        rows = []
        for name in ("read", "sorted"):
            with duckdb.connect(str(tmp_path / f"{name}.duckdb"), read_only=True) as con:
                rows.append(con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall())
        assert rows[0] == rows[1], table


def test_stored_as_read_or_sorted_the_tables_are_the_same(
    tmp_path: Path, small_batches: list[str], ways: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The columns the store adds to the staged rows read in order (their fate's position and request trace,
    their file's path) are those the join with `fate` and `files` gives, whichever threads write them."""
    paths = [str(_write(tmp_path / "a.jsonl", _lines(150))),
             str(_write(tmp_path / "b.jsonl", _lines(80, T0 + 400_000, tag="c")))]  # fmt: skip
    ingest(paths, str(tmp_path / "read.duckdb"), jobs=1)
    assert len(_log_queue_inserts(small_batches)) == 1 and len(ways) == 1 and _unordered(ways[0]), ways
    # in slices of input order: each statement reads the batches holding its slice's rows (some in two)
    monkeypatch.setattr(store_mod, "_LEDGER_SLICE", 16)
    ingest(paths, str(tmp_path / "sliced.duckdb"), jobs=1)
    inserts = _log_queue_inserts(small_batches)
    assert len(inserts) > 10 and not any("ORDER BY" in s for s in inserts)
    monkeypatch.setattr(store_mod, "_spread", lambda con, staged: None)
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
        assert by_time == sorted(by_time) == sorted(as_stored), name
        assert name != "sorted" or as_stored == by_time


# the drop ledger, written as read like the accepted events (`store._store_dropped`): each dropped event's row
# with its own fate's rule, decision (its reason), position (its event id) and request trace, and its own
# file's path


def _ledger_lines(n: int, start: int, tag: str) -> list[dict[str, Any]]:
    """`_lines` at two a second, each browser line of the trace of the Convex request of its six lines: the rate
    limit drops browser lines past its limit a minute, and then the other lines of their traces (rule `trace`);
    every fifth line a repeat (`duplicate`); and after every fortieth a burst of twenty identical browser lines
    within 200 ms (`loop` from the sixth, or the rate limit first). Batches of a few rows then hold accepted and
    dropped rows of several rules, or dropped rows only."""
    source = _lines(n, start, step=500, tag=tag)
    out: list[dict[str, Any]] = []
    for i, record in enumerate(source):
        if i and record is source[i - 1]:
            record = out[-1]
        elif record.get("system") == "browser":
            record = {**record, "trace_id": f"trace_{start + (i - i % 6) * 500}_{tag}{i // 6}"}
        out.append(record)
        if i % 40 == 39:
            ts = start + i * 500
            out += [browser_event(ts + 1 + j * 10, f"{tag} retrying {i}", trace=None) for j in range(20)]
    return out


# a rule's reason, as it reads for the row it dropped (its system, its trace)
_REASON = {
    "duplicate": lambda row: row["reason"] == "same event delivered again in this input (same event key)",
    "loop": lambda row: f" identical {row['system']}/" in row["reason"],
    "rate_limit": lambda row: row["reason"].startswith(f"{row['system']} already stored "),
    "trace": lambda row: row["reason"].startswith(f"trace {row['trace_id']} was refused by the "),
}


def _ledger_inserts(seen: list[str]) -> list[str]:
    return [s for s in seen if s.startswith("INSERT INTO drop_events")]


def _check_ledger(db: Path, files: dict[str, Path]) -> dict[str, int]:
    """Each dropped row as its input line and its rule say: its path the file its line is in (the line's text
    its message, the file's tag its request id's or message's first), its rule's reason about this row, its
    event id its place in event time among all events of the run, one trace a request. Returns rows by rule."""
    lines = {str(p): p.read_text().splitlines() for p in files.values()}
    order = {str(p): i for i, p in enumerate(files.values())}
    with duckdb.connect(str(db), read_only=True) as con:
        cur = con.execute(
            "SELECT event_id, ts, system, message, trace_id, trace_source, request_id, source_file, source_line, "
            "rule, reason FROM drop_ledger"
        )
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        stored = con.execute(
            "SELECT event_id, ts, source_file, source_line, request_id, trace_id FROM log_queue"
        ).fetchall()
    by_rule: dict[str, int] = {}
    for row in rows:
        by_rule[row["rule"]] = by_rule.get(row["rule"], 0) + 1
        path = row["source_file"]
        record = orjson.loads(lines[path][row["source_line"] - 1])
        tag = row["request_id"][0] if row["request_id"] else row["message"].split()[0]
        assert files[tag] == Path(path), row
        if row["system"] == "browser":
            assert record["message"] == row["message"], row
        else:
            assert record["function"]["request_id"] == row["request_id"], row
        assert _REASON[row["rule"]](row), row
        # a repeated line is the duplicate rule's, and only such a line
        repeat = lines[path][row["source_line"] - 2] == lines[path][row["source_line"] - 1]
        assert (row["rule"] == "duplicate") == repeat, row
    # event ids: event-time order, ties in input order, over the stored and the dropped events together
    events = [(r["event_id"], r["ts"], r["source_file"], r["source_line"]) for r in rows] + [
        s[:4] for s in stored
    ]
    by_time = sorted(events, key=lambda e: (e[1], order[e[2]], e[3]))
    assert [e[0] for e in by_time] == sorted(e[0] for e in events) == list(range(1, len(events) + 1))
    # the trace a request's line names, its other lines' (some dropped, some stored)
    traces: dict[str, set[str | None]] = {}
    for request, trace in [(r["request_id"], r["trace_id"]) for r in rows] + [s[4:] for s in stored]:
        if request is not None:
            traces.setdefault(request, set()).add(trace)
    assert all(len(t) == 1 for t in traces.values()), traces
    joined = [r for r in rows if r["trace_source"] == "request_id"]
    assert len(joined) > 5, "no dropped line took its request's trace"
    return by_rule


def test_the_ledger_written_as_read_is_the_ledger_joined(
    tmp_path: Path, small_batches: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three files, batches of 7 rows holding accepted rows and dropped rows of several rules: written as read
    (the columns of each row's fate and file added to its batch), in slices of 16 rows (batches across a
    slice's bounds read by two statements), and joined, the ledger is the same, and each row as its line and
    its rule say."""
    files = {tag: _write(tmp_path / f"{tag}.jsonl", _ledger_lines(n, T0 + k * 600_000, tag))
             for k, (tag, n) in enumerate((("b", 240), ("c", 90), ("d", 160)))}  # fmt: skip
    paths = [str(p) for p in files.values()]
    result = ingest(paths, str(tmp_path / "read.duckdb"), jobs=1)
    assert result.dropped > 150 and result.stored > 150
    inserts = _ledger_inserts(small_batches)
    assert len(inserts) == 1 and " JOIN " not in inserts[0], inserts
    by_rule = _check_ledger(tmp_path / "read.duckdb", files)
    assert set(by_rule) == {"duplicate", "loop", "rate_limit", "trace"} and min(by_rule.values()) > 5, by_rule
    # batches of accepted and dropped rows: 7-line windows of a file with both
    with duckdb.connect(str(tmp_path / "read.duckdb"), read_only=True) as con:
        (mixed,) = con.execute(
            "SELECT count(*) FROM (SELECT DISTINCT source_file, (source_line - 1) // 7 FROM log_queue "
            "INTERSECT SELECT DISTINCT source_file, (source_line - 1) // 7 FROM drop_events)"
        ).fetchall()[0]
    assert mixed > 20

    monkeypatch.setattr(store_mod, "_LEDGER_SLICE", 16)
    small_batches.clear()
    ingest(paths, str(tmp_path / "sliced.duckdb"), jobs=1)
    inserts = _ledger_inserts(small_batches)
    assert len(inserts) > 20 and not any(" JOIN " in s for s in inserts)
    assert _check_ledger(tmp_path / "sliced.duckdb", files) == by_rule

    monkeypatch.setattr(store_mod, "_read_in_order", lambda staged: False)
    small_batches.clear()
    ingest(paths, str(tmp_path / "joined.duckdb"), jobs=1)
    assert all(" JOIN " in s for s in _ledger_inserts(small_batches))
    for table in ("drop_events", "drop_reasons", "drop_traces", "log_queue", "trace_summary"):
        rows = []
        for name in ("read", "sliced", "joined"):
            with duckdb.connect(str(tmp_path / f"{name}.duckdb"), read_only=True) as con:
                rows.append(con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall())
        assert rows[0] == rows[1] == rows[2] and rows[0], table
