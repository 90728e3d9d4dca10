"""Parallel parse: a file ingested in shards by worker processes gives exactly the database one process
gives — every stored and dropped event, rule decision, reject, metric and count."""

from __future__ import annotations

import gzip
import subprocess
import sys
from itertools import pairwise
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from logcorr.pipeline import ingest as ingest_module
from logcorr.pipeline import parse, shard
from logcorr.pipeline.ingest import ingest
from logcorr.sources import bytestream, outcomes, reader
from tests.conftest import ROOT

FIXTURE_LINES = [
    p.read_bytes() for p in sorted((ROOT / "fixtures").rglob("*.jsonl")) if not p.name.endswith(".gz")
]


def _mixed_file(tmp_path: Path) -> Path:
    """Generated records with every kind of bad line between them, a BOM first, CRLF endings in places."""
    gen = tmp_path / "gen.jsonl"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_logs.py"), "--records", "3000", "--seed", "7",
                    "--out", str(gen)], check=True, capture_output=True)  # fmt: skip
    lines = gen.read_bytes().splitlines(keepends=True)
    bad = [
        b'{"message": "cut off\n',
        b"\xff\xfe not utf-8\n",
        b"\n",
        b"   \n",
        b"[1, 2]\n",
        b'{"unknown": "shape"}\n',
        b'{"message":"password=hunter2 in a line","level":"error","timestamp":1754384400000,"id":"x"}\r\n',
        b"\xef\xbb\xbf" + lines[5],  # a BOM mid-file is bytes of a line, not a mark
        b'{"x": "' + b"y" * 5000 + b'"}\n',  # longer than the test's record limit
        # a pretty-printed record (another export joined on), and one cut off by the next line
        orjson.dumps(orjson.loads(lines[7]), option=orjson.OPT_INDENT_2) + b"\n",
        b'{\n  "message": "cut off",\n  "level": "log",\n',
    ]
    out = [b"\xef\xbb\xbf"]
    for i, line in enumerate(lines):
        out.append(line)
        if i % 97 == 0:
            out.append(bad[(i // 97) % len(bad)])
    for fixture in FIXTURE_LINES:
        out.append(fixture if fixture.endswith(b"\n") else fixture + b"\n")
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"".join(out))
    return path


def _snapshot(db: Path) -> dict[str, Any]:
    con = duckdb.connect(str(db), read_only=True)
    q = {
        "log_queue": "SELECT * EXCLUDE (source_file) FROM log_queue ORDER BY event_id",
        "drop_ledger": "SELECT * EXCLUDE (source_file) FROM drop_ledger ORDER BY event_id",
        "rejects": "SELECT source_line, source_format, reason, excerpt FROM rejects ORDER BY ALL",
        "metrics": "SELECT * EXCLUDE (source_file) FROM metrics ORDER BY ALL",
        "files": "SELECT * EXCLUDE (run_id, path) FROM ingest_files",
        "trace_summary": "SELECT * FROM trace_summary ORDER BY ALL",
    }
    snap = {name: con.execute(sql).fetchall() for name, sql in q.items()}
    con.close()
    return snap


def _assert_same_tables(one: Path, many: Path) -> None:
    snap_one, snap_many = _snapshot(one), _snapshot(many)
    for table in snap_one:
        assert snap_one[table] == snap_many[table], table


def test_sharded_ingest_equals_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = _mixed_file(tmp_path)
    one = ingest([str(src)], str(tmp_path / "one.duckdb"), jobs=1, max_record_bytes=4096)

    monkeypatch.setattr(shard, "MIN_SPLIT_BYTES", 1)
    monkeypatch.setattr(shard, "SHARD_BYTES", 150_000)  # ~10 shards, cut mid-file at arbitrary lines
    ranges = shard.plan(str(src), src.stat().st_size, 2)
    assert ranges is not None and len(ranges) >= 5
    many = ingest([str(src)], str(tmp_path / "many.duckdb"), jobs=2, max_record_bytes=4096)

    a, b = one.files[0], many.files[0]
    assert (a.stats.lines, a.stats.blank, a.records, a.events, a.metrics, a.rejected, a.stored, a.dropped) == (
        b.stats.lines, b.stats.blank, b.records, b.events, b.metrics, b.rejected, b.stored, b.dropped,
    )  # fmt: skip
    assert a.reject_reasons == b.reject_reasons and a.formats == b.formats
    assert a.rejected >= 5 and a.dropped > 0 and a.stored > 0  # the input exercises every path
    assert one.redactions == many.redactions and sum(one.redactions.values()) > 0
    assert b.balanced
    _assert_same_tables(tmp_path / "one.duckdb", tmp_path / "many.duckdb")


def test_whole_files_parsed_on_the_workers_equal_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A directory of files no shard plan splits (gzip Logpush batches, pretty JSON, `npx convex logs` text,
    small NDJSON files) is parsed file by file on the workers, each adopted in file order: the same tables
    and counts as one process reading them one after another, a copy of a file within the directory still
    already ingested, a cut-off gzip still one reject, an empty file still said."""
    lines = _mixed_file(tmp_path).read_bytes().splitlines(keepends=True)
    third = len(lines) // 3
    d = tmp_path / "exports"
    d.mkdir()
    (d / "a.jsonl").write_bytes(b"".join(lines[:third]))
    (d / "b.log.gz").write_bytes(gzip.compress(b"".join(lines[third : 2 * third])))
    pretty = []
    for line in lines[2 * third :]:
        try:
            pretty.append(orjson.dumps(orjson.loads(line), option=orjson.OPT_INDENT_2) + b"\n")
        except orjson.JSONDecodeError:
            pretty.append(line)
    (d / "c.json").write_bytes(b"".join(pretty))
    (d / "d.log").write_bytes((ROOT / "tests" / "data" / "convex-text" / "backend.log").read_bytes())
    (d / "e-copy-of-a.jsonl").write_bytes(b"".join(lines[:third]))
    (d / "f-cut.log.gz").write_bytes(gzip.compress(b"".join(lines[:200]))[:4000])
    (d / "g-empty.jsonl").write_bytes(b"")
    one = ingest([str(d)], str(tmp_path / "one.duckdb"), jobs=1, max_record_bytes=4096, local_tz="UTC")

    submitted: list[str] = []
    real = ingest_module.submit_whole

    def counting(pool: Any, path: str, *args: Any, **kw: Any) -> Any:
        submitted.append(Path(path).name)
        return real(pool, path, *args, **kw)

    from logcorr.pipeline import workers

    monkeypatch.setattr(workers, "WHOLE_FILES_MIN_BYTES", 1)
    monkeypatch.setattr(ingest_module, "submit_whole", counting)
    many = ingest([str(d)], str(tmp_path / "many.duckdb"), jobs=2, max_record_bytes=4096, local_tz="UTC")
    # the copy is known before it is read (its content is a's), so it is not parsed at all
    assert submitted == ["a.jsonl", "b.log.gz", "c.json", "d.log", "f-cut.log.gz", "g-empty.jsonl"]

    assert [f.status for f in many.files] == [f.status for f in one.files]
    assert [f.status for f in one.files].count("already-ingested") == 1
    for a, b in zip(one.files, many.files, strict=True):
        assert (a.stats.lines, a.stats.blank, a.stats.mode, a.stats.notes, a.records, a.events, a.metrics,
                a.rejected, a.stored, a.dropped, a.content_hash, a.size) == (
            b.stats.lines, b.stats.blank, b.stats.mode, b.stats.notes, b.records, b.events, b.metrics,
            b.rejected, b.stored, b.dropped, b.content_hash, b.size,
        ), a.path  # fmt: skip
        assert (
            a.reject_reasons == b.reject_reasons
            and a.formats == b.formats
            and a.skip_reasons == b.skip_reasons
        )
        assert b.balanced
    assert {f.stats.mode for f in one.files} >= {"ndjson", "scan", "convex-text"}
    assert one.stored > 0 and one.dropped > 0 and one.rejected >= 5
    assert one.redactions == many.redactions and sum(one.redactions.values()) > 0
    _assert_same_tables(tmp_path / "one.duckdb", tmp_path / "many.duckdb")


def test_plan_cuts_only_at_line_ends_and_covers_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shard, "MIN_SPLIT_BYTES", 1)
    monkeypatch.setattr(shard, "SHARD_BYTES", 1000)
    path = tmp_path / "x.jsonl"
    data = b"".join(b'{"message": "%d", "level": "log"}\n' % i for i in range(1000))
    path.write_bytes(data)
    ranges = shard.plan(str(path), len(data), 2)
    assert ranges is not None and ranges[0][0] == 0 and ranges[-1][1] == len(data)
    for (_, end), (start, _) in pairwise(ranges):
        assert end == start and data[start - 1 : start] == b"\n"


@pytest.mark.parametrize("jobs", [2, 3, 4])
def test_a_file_is_cut_into_a_multiple_of_the_workers_shards_of_about_one_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int
) -> None:
    """Equal shards in a multiple of the workers end together: one more would run alone at the end."""
    monkeypatch.setattr(shard, "MIN_SPLIT_BYTES", 1)
    monkeypatch.setattr(shard, "SHARD_BYTES", 1800)  # 37,000 bytes: 21 shards of this size, odd
    path = tmp_path / "x.jsonl"
    data = b"".join(b'{"message": "%05d", "level": "log"}\n' % i for i in range(1000))
    path.write_bytes(data)
    ranges = shard.plan(str(path), len(data), jobs)
    assert ranges is not None and len(ranges) % jobs == 0 and len(ranges) >= len(data) // 1800
    sizes = [b - a for a, b in ranges]
    assert max(sizes) - min(sizes) <= 2 * len(data.split(b"\n")[0]) + 2


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b'[\n  {"message": "pretty", "level": "log"}\n]\n', "a JSON array is not line-per-record"),
        (b'  {\n    "message": "indented"\n  }\n', "pretty-printed objects not from column 0"),
        (b'{"message":\n  "pretty"}\n', "a value that does not open alone on its line"),
    ],
)
def test_files_that_are_not_line_per_record_are_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes, why: str
) -> None:
    monkeypatch.setattr(shard, "MIN_SPLIT_BYTES", 1)
    path = tmp_path / "x.json"
    path.write_bytes(content * 50)
    assert shard.plan(str(path), path.stat().st_size, 4) is None, why


def _pretty_file(tmp_path: Path, odd: list[bytes], every: int) -> Path:
    """The mixed file's records pretty-printed from column 0 (`wrangler tail --format json`, `jq .`), its bad lines
    as they are, and `odd` pieces in turn after every `every`-th record."""
    out = []
    for i, line in enumerate(
        _mixed_file(tmp_path).read_bytes().removeprefix(b"\xef\xbb\xbf").splitlines(True)
    ):
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            value = None
        out.append(orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n" if type(value) is dict else line)
        if odd and i % every == every - 1:
            out.append(odd[(i // every) % len(odd)])
    path = tmp_path / "tail.json"
    path.write_bytes(b"".join(out))
    return path


def test_plan_cuts_pretty_printed_objects_where_one_ends_and_the_next_begins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shard, "MIN_SPLIT_BYTES", 1)
    monkeypatch.setattr(shard, "SHARD_BYTES", 50_000)
    path = _pretty_file(tmp_path, [], 0)
    data = path.read_bytes()
    ranges = shard.plan(str(path), len(data), 2)
    assert ranges is not None and ranges.mode == "scan" and len(ranges) >= 10
    assert ranges[0][0] == 0 and ranges[-1][1] == len(data)
    for (_, end), (start, _) in pairwise(ranges):
        assert end == start
        assert data[start:].startswith(b"{\n") and data[:start].endswith(b"\n}\n"), data[
            start - 20 : start + 20
        ]


def test_a_wrangler_tail_capture_that_begins_with_its_banner_is_split_and_ingests_as_one_process_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`wrangler tail --format json > tail.json` may hold `Connected to …, waiting for logs...` before the first
    object (the scanner skips it): the planner looked only at the first line, took the file for one it cannot
    cut, and it was read by one process."""
    path = _pretty_file(tmp_path, [], 0)
    path.write_bytes(b"Connected to log-ingestion-worker, waiting for logs...\n" + path.read_bytes())
    one = ingest([str(path)], str(tmp_path / "one.duckdb"), jobs=1, max_record_bytes=4096)

    monkeypatch.setattr(shard, "MIN_SPLIT_BYTES", 1)
    monkeypatch.setattr(shard, "SHARD_BYTES", 60_000)
    ranges = shard.plan(str(path), path.stat().st_size, 2)
    assert ranges is not None and ranges.mode == "scan" and len(ranges) >= 8
    many = ingest([str(path)], str(tmp_path / "many.duckdb"), jobs=2, max_record_bytes=4096)
    a, b = one.files[0], many.files[0]
    assert (a.stats.lines, a.records, a.skipped_lines, a.rejected, a.stored, a.dropped) == (
        b.stats.lines, b.records, b.skipped_lines, b.rejected, b.stored, b.dropped,
    )  # fmt: skip
    assert a.skipped_lines == 1 and a.records > 3000
    _assert_same_tables(tmp_path / "one.duckdb", tmp_path / "many.duckdb")


@pytest.mark.parametrize(
    ("odd", "falls_back"),
    [
        ([], False),
        # a `[` at column 0 whose objects follow it without commas: the scanner is inside an array at every
        # cut after it, which a shard cannot know (each shard ending so is read on past its cut)
        ([b'[\n{\n  "message": "in an array",\n  "level": "log"\n}'], True),
        # a value cut off by the next object, a `}` line alone, a pretty array, an object whose `{` is not alone
        (
            [
                b'{\n  "message": "cut off",\n  "level": "log",',
                b"}",
                b'[\n  {\n    "message": "element",\n    "level": "warn"\n  },\n  {\n    "message": "x"\n  }\n]',
                b'{"message":\n  "odd", "level": "log"}',
                b'{\n  "message": NaN\n}',
            ],
            False,
        ),
    ],
)
def test_a_pretty_printed_file_in_shards_ingests_as_one_process_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, odd: list[bytes], falls_back: bool
) -> None:
    path = _pretty_file(tmp_path, odd, 40)
    one = ingest([str(path)], str(tmp_path / "one.duckdb"), jobs=1, max_record_bytes=4096)

    monkeypatch.setattr(shard, "MIN_SPLIT_BYTES", 1)
    monkeypatch.setattr(shard, "SHARD_BYTES", 60_000)
    ranges = shard.plan(str(path), path.stat().st_size, 2)
    assert ranges is not None and ranges.mode == "scan" and len(ranges) >= 8
    open_ends = []
    with path.open("rb") as f:
        for a, b in ranges[:-1]:
            stats = outcomes.FileStats()
            for _ in reader.iter_records(shard.ByteRange(f, a, b), stats, max_record_bytes=4096, mode="scan",
                                         file_start=a == 0):  # fmt: skip
                pass
            open_ends.append(stats.open_end)
    # the case this input is for: most cuts are between two values (a value rejected within its excerpt's length
    # before one makes the shard read on), or the scanner is inside an array at one
    assert any(open_ends) if falls_back else sum(open_ends) <= len(open_ends) // 4, open_ends
    many = ingest([str(path)], str(tmp_path / "many.duckdb"), jobs=2, max_record_bytes=4096)

    a, b = one.files[0], many.files[0]
    assert (a.stats.lines, a.stats.blank, a.records, a.events, a.metrics, a.rejected, a.stored, a.dropped) == (
        b.stats.lines, b.stats.blank, b.records, b.events, b.metrics, b.rejected, b.stored, b.dropped,
    )  # fmt: skip
    assert a.reject_reasons == b.reject_reasons and a.formats == b.formats and a.stats.notes == b.stats.notes
    assert (
        a.records > 3000 and a.stored > 0 and a.rejected >= 10
    )  # the mixed file's bad lines, and the odd pieces
    assert one.redactions == many.redactions
    assert b.balanced
    _assert_same_tables(tmp_path / "one.duckdb", tmp_path / "many.duckdb")


class _Recording:
    """A worker pool that records the byte range of each task submitted to it."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.ranges: list[tuple[int, int]] = []

    def submit(self, fn: Any, task: shard.ShardTask) -> Any:
        self.ranges.append((task.start, task.end))
        return self.pool.submit(fn, task)


def test_a_shard_whose_cut_a_rejects_excerpt_reads_past_is_read_again_with_the_next_not_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A value rejected within 4 KiB before a cut: its excerpt reads on past the cut, so the shard ends open
    (`FileStats.open_end`). That shard and the next are read again as one, and the shards after them stand: the
    rest of the file was read again by one worker (51 MB in 4 shards: 2.99 s → 5.31 s on two workers)."""
    from logcorr.pipeline.workers import worker_pool
    from logcorr.rules.policy import load_policy

    monkeypatch.setattr(shard, "MIN_SPLIT_BYTES", 1)
    monkeypatch.setattr(shard, "SHARD_BYTES", 60_000)
    path = _pretty_file(tmp_path, [], 0)
    data = path.read_bytes()
    ranges = shard.plan(str(path), len(data), 2)
    assert ranges is not None and len(ranges) >= 6
    at = data.rfind(b"\n}\n{\n", 0, ranges[1][1] - 1500) + 3  # 1-2 KB before the second cut
    path.write_bytes(data[:at] + b'{\n  "message": [ oops ]\n}\n' + data[at:])
    ranges = shard.plan(str(path), path.stat().st_size, 2)
    assert ranges is not None and ranges[1][1] - 4096 < at < ranges[1][1]

    whole = shard.run_shard(shard.ShardTask(str(path), 1, 99, 0, path.stat().st_size, None, 4096,
                                            shard.StageRules.of(load_policy(None)), str(tmp_path), whole=True))  # fmt: skip
    merged = parse.FileResult(1, str(path))
    pool = _Recording(worker_pool(2))
    try:
        assert shard.parse_sharded(str(path), 1, ranges, jobs=2, forced=None, max_record_bytes=4096,
                                   policy=load_policy(None), out_dir=str(tmp_path), pool=pool,  # type: ignore[arg-type]
                                   load=lambda done, _: merged.merge(done.result))  # fmt: skip
    finally:
        pool.pool.shutdown(wait=True, cancel_futures=True)
    # each shard, then each open one with the next (the mixed file's bad lines end another near its cut)
    again = pool.ranges[len(ranges) :]
    assert pool.ranges[: len(ranges)] == ranges and (ranges[1][0], ranges[2][1]) in again
    assert set(again) <= {(a, d) for (a, _), (_, d) in pairwise(ranges)}, again
    w, m = whole.result, merged
    assert (m.stats.lines, m.records, m.rejected, m.events, m.reject_reasons) == (
        w.stats.lines, w.records, w.rejected, w.events, w.reject_reasons,
    )  # fmt: skip
    assert m.rejected == w.rejected >= 1


def test_a_pretty_printed_file_in_shards_gives_its_notes_in_the_order_one_process_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bad UTF-8 in the first shard, NUL bytes in the last: the scanner read whole notes the NUL bytes where it met
    them and the bad UTF-8 at the end, the shards each their own, joined in file order, and `ingest_files` held
    "NUL bytes …; invalid UTF-8 …" for `--jobs 1` and the other way round for `--jobs 2`."""
    path = _pretty_file(tmp_path, [], 0)
    data = path.read_bytes()
    first = data.index(b'"message": "') + len(b'"message": "')
    last = data.rindex(b"\n}\n{\n") + len(b"\n}\n")
    path.write_bytes(data[:first] + b"\xff" + data[first:last] + b"\0\0\0\n" + data[last:])
    one = ingest([str(path)], str(tmp_path / "one.duckdb"), jobs=1, max_record_bytes=4096)

    monkeypatch.setattr(shard, "MIN_SPLIT_BYTES", 1)
    monkeypatch.setattr(shard, "SHARD_BYTES", 60_000)
    ranges = shard.plan(str(path), path.stat().st_size, 2)
    assert ranges is not None and ranges.mode == "scan" and len(ranges) >= 8
    assert ranges[0][1] > first and ranges[-1][0] < last  # one in the first shard, the other in the last
    many = ingest([str(path)], str(tmp_path / "many.duckdb"), jobs=2, max_record_bytes=4096)

    assert one.files[0].stats.notes == many.files[0].stats.notes == [outcomes.UTF8_NOTE, outcomes.NUL_NOTE]
    _assert_same_tables(tmp_path / "one.duckdb", tmp_path / "many.duckdb")


def test_gzip_and_one_job_are_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip

    monkeypatch.setattr(shard, "MIN_SPLIT_BYTES", 1)
    path = tmp_path / "x.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"message": "a", "level": "log"}\n' * 100))
    assert shard.plan(str(path), path.stat().st_size, 4) is None
    plain = tmp_path / "x.jsonl"
    plain.write_bytes(b'{"message": "a", "level": "log"}\n' * 100)
    assert shard.plan(str(plain), plain.stat().st_size, 1) is None


def test_an_interrupted_sharded_parse_stops_its_workers_instead_of_waiting_for_them() -> None:
    # Ctrl-C (or an error) in the ingesting process: the workers' shards would only be thrown away, and the
    # caller removes their output directory next, so they are terminated, not waited for
    import multiprocessing
    import multiprocessing.connection
    import time
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn"))
    processes = []
    try:
        busy = [pool.submit(time.sleep, 600) for _ in range(2)]
        while not all(f.running() for f in busy):
            time.sleep(0.05)
        processes = list(pool._processes.values())  # type: ignore[attr-defined]
        shard.stop_workers(pool)
        ended = multiprocessing.connection.wait([p.sentinel for p in processes], timeout=0)
        assert len(processes) == 2 and len(ended) == 2  # both gone the moment it returns
    finally:
        for p in processes:  # if not, the test must not wait 600 s for them
            p.kill()
        pool.shutdown(wait=True, cancel_futures=True)


def test_the_sharded_files_of_one_ingest_share_one_pool_of_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workers start once, at the first file large enough to shard (while it is hashed), and parse every
    such file of the ingest, with the result of one process."""
    src = _mixed_file(tmp_path)
    other = tmp_path / "other.jsonl"
    other.write_bytes(b"".join(reversed(src.read_bytes().splitlines(keepends=True)[1:])))
    one = ingest([str(src), str(other)], str(tmp_path / "one.duckdb"), jobs=1, max_record_bytes=4096)

    monkeypatch.setattr(shard, "MIN_SPLIT_BYTES", 1)
    monkeypatch.setattr(shard, "SHARD_BYTES", 150_000)
    started: list[int] = []
    real = ingest_module.worker_pool
    monkeypatch.setattr(ingest_module, "worker_pool", lambda jobs: started.append(jobs) or real(jobs))
    many = ingest([str(src), str(other)], str(tmp_path / "many.duckdb"), jobs=2, max_record_bytes=4096)
    assert started == [2]
    assert [f.stored for f in one.files] == [f.stored for f in many.files] and many.files[1].dropped > 0
    _assert_same_tables(tmp_path / "one.duckdb", tmp_path / "many.duckdb")


def test_a_sharded_file_is_recognised_when_it_comes_again_under_any_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file parsed in shards records the hash of its content; its copies, in the same run or later,
    under any name, are found by that hash and not ingested twice."""
    import hashlib

    monkeypatch.setattr(shard, "MIN_SPLIT_BYTES", 1)
    monkeypatch.setattr(shard, "SHARD_BYTES", 150_000)
    src = _mixed_file(tmp_path)
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(src.read_bytes())
    db = str(tmp_path / "db.duckdb")

    first = ingest([str(src), str(copy)], db, jobs=2, max_record_bytes=4096)
    assert [f.status for f in first.files] == ["ingested", "already-ingested"]
    assert first.files[0].content_hash == hashlib.sha256(src.read_bytes()).hexdigest()
    assert first.files[1].content_hash == first.files[0].content_hash
    assert first.files[0].stored > 0
    # the copy's shards, begun while it was hashed, left nothing: the tables are those of the file alone
    copy_fr = first.files[1]
    assert copy_fr.records == copy_fr.events == copy_fr.stored == copy_fr.dropped == copy_fr.stats.lines == 0
    alone = tmp_path / "alone.duckdb"
    ingest([str(src)], str(alone), jobs=2, max_record_bytes=4096)
    snap_alone, snap_both = _snapshot(alone), _snapshot(Path(db))
    assert snap_both["files"] == [*snap_alone["files"], snap_both["files"][1]]  # and the copy's row
    for table in ("log_queue", "drop_ledger", "rejects", "metrics", "trace_summary"):
        assert snap_alone[table] == snap_both[table], table

    again = ingest([str(copy), str(src)], db, jobs=2, max_record_bytes=4096)
    assert [f.status for f in again.files] == ["already-ingested", "already-ingested"]
    assert again.stored == again.dropped == 0


@pytest.mark.parametrize("chunk", [997, 4099])  # lines cut across chunks everywhere; an overlong line too
def test_reading_in_small_chunks_with_or_without_the_fast_path_stages_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """The line reader hands the fast path runs of lines by position, joining a line cut by a chunk's end on
    its own: what is staged does not depend on where the chunks end, nor on which path read a line."""
    src = _mixed_file(tmp_path)
    whole = tmp_path / "whole.duckdb"
    ingest([str(src)], str(whole), jobs=1, max_record_bytes=4096)
    monkeypatch.setattr(bytestream, "CHUNK", chunk)
    cut = tmp_path / "cut.duckdb"
    result = ingest([str(src)], str(cut), jobs=1, max_record_bytes=4096)
    assert result.files[0].formats["browser-v2"] > 100  # the fast path read most lines
    _assert_same_tables(whole, cut)
    monkeypatch.setattr(parse, "lines_parser", lambda: None)
    slow = tmp_path / "slow.duckdb"
    ingest([str(src)], str(slow), jobs=1, max_record_bytes=4096)
    _assert_same_tables(whole, slow)


def test_the_workers_start_early_for_a_directory_of_files_enough_to_parse_whole_on_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A directory (or a list) of files none of which is split is parsed file by file on the workers when they
    hold `WHOLE_FILES_MIN_BYTES` together, a gzip counted at `GZIP_RATIO` times its size: the command starts
    the workers before its imports then too (0.3-0.4 s of their start-up hidden). Not for one file, nor for
    little to read, nor for files of other names, which ingest does not read."""
    from logcorr.pipeline import workers

    started: list[int] = []
    monkeypatch.setattr(workers, "worker_pool", lambda jobs: started.append(jobs) or "pool")
    monkeypatch.setattr(workers, "WHOLE_FILES_MIN_BYTES", 6000)
    d = tmp_path / "logpush"
    (d / "2026-11-30").mkdir(parents=True)
    (d / "2026-11-30" / "a.log.gz").write_bytes(b"x" * 600)  # counts 3,600
    (d / "2026-11-30" / "b.log.gz").write_bytes(b"x" * 600)
    (d / "notes.md").write_bytes(b"x" * 100_000)
    assert workers.early_pool([str(d)], 2) == "pool" and started == [2]
    assert workers.early_pool([str(d)], 1) is None  # one job: no workers
    started.clear()
    (d / "2026-11-30" / "b.log.gz").unlink()
    assert workers.early_pool([str(d)], 2) is None and workers.early_pool([str(d), str(d)], 2) == "pool"
    small = tmp_path / "small"
    small.mkdir()
    for name in ("a.jsonl", "b.jsonl"):
        (small / name).write_bytes(b"x" * 2000)
    assert workers.early_pool([str(small)], 2) is None
    assert workers.early_pool([str(small / "a.jsonl"), str(small / "b.jsonl"), str(d)], 2) == "pool"


def test_the_command_starts_a_large_files_workers_first_and_ingest_shuts_them_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Any
) -> None:
    """`logcorr ingest` starts the parse workers before its own imports when a file will be sharded; the
    result is that of one process, and the workers end with the ingest, also when it fails early."""
    from logcorr.pipeline import workers

    monkeypatch.setattr(shard, "MIN_SPLIT_BYTES", 1)
    monkeypatch.setattr(shard, "SHARD_BYTES", 150_000)
    monkeypatch.setattr(workers, "MIN_SPLIT_BYTES", 1)
    pools: list[Any] = []
    shut: list[Any] = []
    real = workers.worker_pool

    def started(jobs: int) -> Any:
        pool = real(jobs)
        pools.append(pool)
        down = pool.shutdown
        pool.shutdown = lambda *a, **k: (shut.append(pool), down(*a, **k))  # type: ignore[method-assign]
        return pool

    def refused(jobs: int) -> Any:
        raise AssertionError("ingest started workers of its own")

    monkeypatch.setattr(workers, "worker_pool", started)
    monkeypatch.setattr(ingest_module, "worker_pool", refused)
    src = _mixed_file(tmp_path)
    one = tmp_path / "one.duckdb"
    ingest([str(src)], str(one), jobs=1, max_record_bytes=4096)
    many = tmp_path / "many.duckdb"
    res = cli(
        "ingest", str(src), "--db", str(many), "--jobs", "2", "--max-line-mb", str(4096 / (1 << 20)), "-q"
    )
    assert res.exit_code == 0, res.stderr
    assert len(pools) == 1 and pools[0] in shut  # the early pool, used and shut down
    _assert_same_tables(one, many)
    # an ingest that fails before it parses (an unknown format) still ends the workers started for it
    res = cli("ingest", str(src), "--db", str(tmp_path / "x.duckdb"), "--format", "nope", "-q")
    assert res.exit_code != 0 and "unknown format" in res.stderr
    assert len(pools) == 2 and pools[1] in shut
    # one job, a small file, or stdin: no early workers
    assert workers.early_pool([str(src)], 1) is None
    monkeypatch.setattr(workers, "MIN_SPLIT_BYTES", 1 << 40)
    assert workers.early_pool([str(src), "-"], 2) is None
    assert len(pools) == 2


def _gone(pid: int) -> bool:
    """Whether process `pid` has ended (a zombie whose new parent has not reaped it counts)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return True


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_workers_end_when_the_ingesting_process_is_killed_and_leave_ctrl_c_to_it() -> None:
    # kill -9 or SIGTERM of `logcorr ingest` (a CI timeout): its workers waited for tasks forever, holding its
    # stdout open (`… | cat` never ended). And Ctrl-C, which reaches every process of the group, printed a
    # KeyboardInterrupt traceback from each worker
    import signal
    import time

    code = (
        "import os, signal, sys, time\n"
        "from logcorr.pipeline.workers import worker_pool\n"
        "pool = worker_pool(2)\n"
        "f = pool.submit(signal.getsignal, signal.SIGINT)\n"
        "print(int(f.result() == signal.SIG_IGN), *pool._processes, flush=True)\n"
        "time.sleep(600)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert child.stdout is not None
        ignores, *workers = (int(x) for x in child.stdout.readline().split())
        assert ignores == 1 and len(workers) == 2
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        deadline = time.monotonic() + 10
        while not all(_gone(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert all(_gone(w) for w in workers), workers
    finally:
        child.kill()
        child.wait(10)


def test_a_file_whose_first_record_is_longer_than_a_chunk_is_still_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan reads the first line whole to know the file is NDJSON (it read one chunk of it: a first record
    over a megabyte made a large NDJSON file parse in one process)."""
    monkeypatch.setattr(shard, "MIN_SPLIT_BYTES", 1)
    monkeypatch.setattr(shard, "SHARD_BYTES", 1000)
    monkeypatch.setattr(shard, "CHUNK", 64)
    monkeypatch.setattr(bytestream, "CHUNK", 64)
    path = tmp_path / "x.jsonl"
    data = b'{"message": "' + b"x" * 500 + b'"}\n' + b'{"message": "a", "level": "log"}\n' * 200
    path.write_bytes(data)
    ranges = shard.plan(str(path), len(data), 2)
    assert ranges is not None and len(ranges) > 1


def test_plan_does_not_cut_inside_a_pretty_printed_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader reads a pretty-printed value whole (an NDJSON export with a `jq .` one joined on): a shard
    must not begin or end inside one."""
    monkeypatch.setattr(shard, "MIN_SPLIT_BYTES", 1)
    monkeypatch.setattr(shard, "SHARD_BYTES", 300)
    path = tmp_path / "x.jsonl"
    pretty = b'{\n  "message": "p",\n  "context": {\n    "a": [\n      1\n    ]\n  }\n}\n'
    data = b'{"message": "a", "level": "log"}\n' + pretty * 100
    path.write_bytes(data)
    ranges = shard.plan(str(path), len(data), 2)
    assert ranges is not None and len(ranges) > 4
    for _, end in ranges[:-1]:
        assert data[end : end + 2] == b"{\n", data[end - 20 : end + 20]


def test_a_utf16_file_is_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shard, "MIN_SPLIT_BYTES", 1)
    path = tmp_path / "x.jsonl"
    for codec in ("utf-16-le", "utf-16-be"):
        path.write_bytes(("\ufeff" + '{"message": "a", "level": "log"}\n' * 100).encode(codec))
        assert shard.plan(str(path), path.stat().st_size, 4) is None, codec


def test_plan_does_not_hold_a_long_line_a_cut_falls_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cut moved on to its line's end with `readline`, which held the line: a 300 MB line (a copytruncate
    hole of NULs) peaked at 600 MB."""
    import tracemalloc

    monkeypatch.setattr(shard, "MIN_SPLIT_BYTES", 1)
    monkeypatch.setattr(shard, "SHARD_BYTES", 1 << 20)
    path = tmp_path / "x.jsonl"
    data = b'{"message": "a"}\n' + b"\0" * (24 << 20) + b'{"message": "b"}\n' * 1000
    path.write_bytes(data)
    tracemalloc.start()
    try:
        ranges = shard.plan(str(path), len(data), 2)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * shard.CHUNK + (1 << 20), peak
    assert ranges is not None and ranges[-1][1] == len(data)
    for (_, end), (start, _) in pairwise(ranges):
        assert end == start and data[start - 1 : start] == b"\n"


@pytest.mark.parametrize("odd", [b"\x0c", b"\0\0\0", b"\0" * 100 + b'  "c": 3,'])
def test_plan_never_cuts_inside_a_pretty_printed_value_at_a_blank_or_nul_line(
    tmp_path: Path, odd: bytes
) -> None:
    """A line of a form feed is a blank line of the value to the reader, and NULs before a line are passed over:
    the planner cut before such a line, and the shard after it read the value's lines as rejects."""
    ndjson = b'{"message": "a", "level": "log"}\n' * 3
    value = b'{\n  "a": 1,\n' + odd + b'\n  "b": 2\n}\n'
    data = ndjson + value + ndjson
    path = tmp_path / "x.jsonl"
    path.write_bytes(data)
    with path.open("rb") as f:
        for at in range(len(ndjson), len(ndjson) + len(value)):  # a cut planned at each byte of the value
            f.seek(at)
            shard._to_line_end(f)
            shard._past_pretty_value(f, len(data))
            assert f.tell() == len(ndjson) + len(value), at


def test_plan_never_cuts_inside_a_pretty_printed_value_longer_than_a_shard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A value longer than a shard was cut, and the shard after the cut read its lines as NDJSON lines (rejects,
    or a record for an indented line that is a whole object) where one process gives one reject (or, with
    --max-line-mb above 24, the value's records). No cut falls inside it now: the shard before holds it whole."""
    monkeypatch.setattr(shard, "MIN_SPLIT_BYTES", 1)
    monkeypatch.setattr(shard, "SHARD_BYTES", 200)
    ndjson = b'{"message": "a", "level": "log"}\n' * 3
    value = (
        b"[\n" + b'  {"message": "b", "level": "log"},\n' * 20 + b'  {"message": "c", "level": "log"}\n]\n'
    )
    path = tmp_path / "x.jsonl"
    path.write_bytes(ndjson + value + ndjson)
    ranges = shard.plan(str(path), path.stat().st_size, 2)
    assert ranges is not None
    assert not {a for a, _ in ranges} & set(range(len(ndjson) + 1, len(ndjson) + len(value)))
