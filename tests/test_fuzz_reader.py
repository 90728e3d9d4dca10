"""Property tests of the reader paths: pretty-printed values among NDJSON lines, NUL runs, byte-order marks,
trailing commas, overlong lines, npx convex logs text. One input read whole, read in small chunks, read gzipped,
and split into shards (as parse workers read it) gives the same records, rejects and line counts; with the
compiled fast path or without, whole or in shards, the same staged rows. Fast by default (derandomized, a few
seconds); `--runslow` explores thousands of new inputs."""

from __future__ import annotations

import gzip
import io
import json
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from logcorr.pipeline import parse as parse_mod
from logcorr.pipeline import shard
from logcorr.pipeline.parse import FileResult, parse_file
from logcorr.pipeline.stage import Stager, StageRules
from logcorr.rules.policy import load_policy
from logcorr.sources import bytestream
from logcorr.sources.convex_text import LocalZone
from logcorr.sources.outcomes import RECORD, FileStats
from logcorr.sources.reader import iter_records
from tests.test_fuzz import LINES

MAX = 4096  # the record limit of these tests: overlong lines stay small


def _n(request: pytest.FixtureRequest, fast: int, slow: int) -> int:
    return slow if request.config.getoption("--runslow") else fast


def _rec(i: int) -> dict[str, Any]:
    return {"message": f"m{i}", "level": "log", "timestamp": 1714910400000 + i}


@st.composite
def _piece(draw: st.DrawFn) -> bytes:
    """One line, or the lines of one value, of a line-per-record file with something odd in it."""
    k = draw(st.integers(0, 19))
    i = draw(st.integers(0, 10**6))
    r = json.loads(draw(st.sampled_from(LINES))) if draw(st.booleans()) else _rec(i)
    pretty = json.dumps(r, indent=draw(st.sampled_from([2, 4, "\t"]))).encode()
    if k == 0:
        return json.dumps(r).encode()
    if k == 1:
        return json.dumps([r, _rec(i + 1)]).encode()
    if k == 2:
        return pretty
    if k == 3:
        return json.dumps([r, _rec(i + 1)], indent=2).encode()
    if k == 4:  # cut off
        lines = pretty.split(b"\n")
        return b"\n".join(lines[: draw(st.integers(1, len(lines) - 1))])
    if k == 5:
        return draw(st.sampled_from([b"", b"  ", b"\t", b"\r", b"\0\0", b"\x0c", b"\x0b", b"\0" * 30]))
    if k == 6:
        return b"\0" * draw(st.integers(1, 50)) + json.dumps(r).encode()
    if k == 7:
        return b"\xef\xbb\xbf" + draw(st.sampled_from([json.dumps(r).encode(), pretty]))
    if k == 8:
        return json.dumps([r, _rec(i + 1)]).encode()[:-1] + b",]"  # a trailing comma
    if k == 9:
        return draw(st.sampled_from([b"}", b"]", b"{", b"[", b"},", b"  }", b"  ]", b"\t{", b"{ ", b"[\r", b"[]", b"{}",
                                     b"garbage", b"Connected to x", b'"s"', b"1", b"\xef\xbb\xbf{", b"  " + json.dumps(r).encode(),
                                     b"8/5/2025, 9:00:00 AM [CONVEX Q(messages:list)] [LOG] 'text'"]))  # fmt: skip
    if k == 10:
        return json.dumps(r).encode() + b"\r"
    if k == 11:
        return json.dumps(r).encode() + json.dumps(_rec(i + 2)).encode()  # back to back
    if k == 12:
        return draw(st.sampled_from([b"", b"  "])) + b"x" * draw(st.integers(MAX - 100, MAX + 100))
    if k == 13:
        return pretty.replace(b"\n", b"\r\n")
    if k == 14:  # an odd line inside a pretty-printed value
        lines = pretty.split(b"\n")
        odd = [
            b"",
            b"\x0c",
            b"\0\0\0",
            b"\0" * 20 + b'  "zz": 1,',
            b"  " + b"y" * (MAX + 100),
            b"y" * (MAX + 100),
        ]
        lines.insert(draw(st.integers(1, len(lines) - 1)), draw(st.sampled_from(odd)))
        return b"\n".join(lines)
    if k == 15:  # one line of a pretty-printed value replaced
        lines = pretty.split(b"\n")
        lines[draw(st.integers(0, len(lines) - 1))] = draw(st.binary(max_size=10)).replace(b"\n", b"")
        return b"\n".join(lines)
    if k == 16:  # near the limit
        return json.dumps({**r, "pad": "p" * draw(st.integers(MAX - 600, MAX + 100))}, indent=2).encode()
    if k == 17:
        return draw(st.sampled_from(LINES))
    if k == 18:
        return draw(st.binary(max_size=20)).replace(b"\n", b"")
    return gzip.compress(json.dumps(r).encode(), mtime=0).replace(b"\n", b"")  # gzip's magic bytes mid-file


@st.composite
def line_per_record_file(draw: st.DrawFn) -> bytes:
    """A file read as NDJSON (its first line one record), with anything after it."""
    first = draw(st.sampled_from([b"", b"\xef\xbb\xbf", b"\n\n", b"\0\0"])) + json.dumps(_rec(-1)).encode()
    pieces = draw(st.lists(_piece(), min_size=1, max_size=20))
    return b"\n".join([first, *pieces]) + draw(st.sampled_from([b"", b"\n"]))


def _norm(out: list[tuple[int, int, Any]], base: int = 0) -> list[tuple[int, int, Any]]:
    res = []
    for kind, line, payload in out:
        p = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS) if kind == RECORD else tuple(payload)
        res.append((kind, line + base, p))
    return res


def _whole(data: bytes) -> tuple[tuple[int, int], list[Any]]:
    stats = FileStats()
    out = _norm(list(iter_records(io.BytesIO(data), stats, max_record_bytes=MAX)))
    return (stats.lines, stats.blank), out


def _ranges(path: Path, jobs: int) -> list[tuple[int, int]]:
    """The shards the planner cuts `path` into for `jobs` workers (one per worker: the values stay shorter than a
    shard, which is as far as the planner looks for a value's end)."""
    old = shard.MIN_SPLIT_BYTES, shard.SHARD_BYTES
    shard.MIN_SPLIT_BYTES, shard.SHARD_BYTES = 1, 1 << 20
    try:
        ranges = shard.plan(str(path), path.stat().st_size, jobs)
    finally:
        shard.MIN_SPLIT_BYTES, shard.SHARD_BYTES = old
    assert ranges is not None and ranges[0][0] == 0 and ranges[-1][1] == path.stat().st_size
    assert all(a == b for (_, a), (b, _) in pairwise(ranges))
    return ranges


def _sharded(path: Path, ranges: list[tuple[int, int]]) -> tuple[tuple[int, int], list[Any]]:
    lines = blank = 0
    out: list[Any] = []
    with path.open("rb") as f:
        for a, b in ranges:
            stats = FileStats()
            part = iter_records(
                shard.ByteRange(f, a, b), stats, max_record_bytes=MAX, mode="ndjson", file_start=a == 0
            )  # type: ignore[arg-type]
            out += _norm(list(part), lines)
            lines += stats.lines
            blank += stats.blank
    return (lines, blank), out


def test_a_file_read_whole_in_small_chunks_gzipped_or_in_shards_gives_the_same(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    path = tmp_path / "x.jsonl"
    tried: list[int] = []

    @settings(max_examples=_n(request, 60, 5000), deadline=None, suppress_health_check=list(HealthCheck))
    @given(line_per_record_file(), st.integers(5, 300), st.integers(2, 8))
    def run(data: bytes, chunk: int, jobs: int) -> None:
        tried.append(1)
        counts, whole = _whole(data)
        body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
        assert counts[0] == body.count(b"\n") + (not body.endswith(b"\n"))  # every physical line counted
        assert _whole(gzip.compress(data)) == (counts, whole)
        old = bytestream.CHUNK
        bytestream.CHUNK = chunk
        try:
            assert _whole(data) == (counts, whole), chunk
        finally:
            bytestream.CHUNK = old
        path.write_bytes(data)
        ranges = _ranges(path, jobs)
        assert _sharded(path, ranges) == (counts, whole), ranges

    run()
    assert len(tried) >= 20


@st.composite
def pretty_object_file(draw: st.DrawFn) -> bytes:
    """A file of objects pretty-printed from column 0 (`wrangler tail --format json`, `jq .`), which the planner cuts
    where a `}` line meets a `{` line, with odd pieces among them: a `[` at column 0 whose objects follow without
    commas (the scanner is inside an array at the cuts after it), objects whose `{` does not stand alone, values
    cut off, stray closers."""
    odd = st.sampled_from([b"[", b"[\n", b"]", b"}", b"{", b'{"message":\n  "x"}', b"{\n  \"message\": NaN\n}",
                           b'{\n  "message": "cut off",', b"{\n{\n}\n}", b"{\n}\n{\n}", b"  {\n  }"])  # fmt: skip
    objects = st.builds(lambda i, crlf: json.dumps(_rec(i), indent=2).encode().replace(b"\n", b"\r\n" if crlf else b"\n"),
                        st.integers(0, 10**6), st.booleans())  # fmt: skip
    first = draw(st.sampled_from([b"", b"\xef\xbb\xbf", b"\n"])) + json.dumps(_rec(-1), indent=2).encode()
    pieces = draw(st.lists(st.one_of(objects, objects, objects, odd, _piece()), min_size=4, max_size=30))
    return b"\n".join([first, *pieces]) + draw(st.sampled_from([b"", b"\n"]))


def _sharded_scan(path: Path, ranges: list[tuple[int, int]]) -> tuple[tuple[int, int], list[Any], list[str]]:
    """`path` read in `ranges` as the workers read a pretty-printed file's shards, and as `shard.parse_sharded`
    adopts them: a shard that ends inside a value is read again with the next as one part, and when that ends
    inside one too, with all after it. The notes as the shards' results merge them."""
    lines = blank = 0
    out: list[Any] = []
    merged = FileResult(0, str(path))
    last = len(ranges) - 1
    with path.open("rb") as f:
        i = 0
        while i <= last:
            for j in (i, i + 1, last):
                stats = FileStats()
                part = list(iter_records(shard.ByteRange(f, ranges[i][0], ranges[min(j, last)][1]), stats,
                                         max_record_bytes=MAX, mode="scan", file_start=i == 0))  # type: ignore[arg-type]  # fmt: skip
                if not stats.open_end or j >= last:
                    break
            out += _norm(part, lines)
            lines += stats.lines
            blank += stats.blank
            merged.merge(FileResult(0, str(path), stats=stats))
            i = min(j, last) + 1
    return (lines, blank), out, merged.stats.notes


def test_a_pretty_printed_file_read_whole_or_in_shards_gives_the_same(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    path = tmp_path / "x.json"
    tried: list[int] = []
    fell_back: list[bool] = []

    @settings(max_examples=_n(request, 60, 5000), deadline=None, suppress_health_check=list(HealthCheck))
    @given(pretty_object_file(), st.integers(2, 8))
    # bad UTF-8 in the first shard, NUL bytes in the second: read whole, the scanner noted the NUL bytes where it
    # met them and the bad UTF-8 at its end, so the notes came in the other order than the shards'
    @example(
        b"\n".join([json.dumps(_rec(-1), indent=2).encode().replace(b"m-1", b"m\xff")]
                   + [json.dumps(_rec(i), indent=2).encode() for i in range(20)] + [b"\0\0", json.dumps(_rec(20), indent=2).encode()]),
        2,
    )  # fmt: skip
    def run(data: bytes, jobs: int) -> None:
        path.write_bytes(data)
        old = shard.MIN_SPLIT_BYTES, shard.SHARD_BYTES
        shard.MIN_SPLIT_BYTES, shard.SHARD_BYTES = 1, 1 << 20
        try:
            ranges = shard.plan(str(path), len(data), jobs)
        finally:
            shard.MIN_SPLIT_BYTES, shard.SHARD_BYTES = old
        if ranges is None:
            return  # no `}` line meets a `{` line past the first cut
        assert ranges.mode == "scan" and len(ranges) > 1
        tried.append(1)
        stats = FileStats()
        whole = _norm(list(iter_records(io.BytesIO(data), stats, max_record_bytes=MAX)))
        assert _sharded_scan(path, ranges) == ((stats.lines, stats.blank), whole, stats.notes), ranges
        fell_back.append(any(_open_end(path, r) for r in ranges[:-1]))

    run()
    assert len(tried) >= 20 and any(fell_back) and not all(fell_back)


def _open_end(path: Path, r: tuple[int, int]) -> bool:
    stats = FileStats()
    with path.open("rb") as f:
        for _ in iter_records(
            shard.ByteRange(f, *r), stats, max_record_bytes=MAX, mode="scan", file_start=r[0] == 0
        ):  # type: ignore[arg-type]
            pass
    return stats.open_end


_RULES = StageRules.of(load_policy(None))


def _staged(
    path: Path, ranges: list[tuple[int, int]] | None, fast: bool
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """`path` parsed and staged as ingest does (in shards: as the workers do, their lines offset): its counts and
    staged rows."""
    tables: dict[str, list[str]] = {}

    def sink(name: str, batch: Any) -> None:
        for row in batch.to_pylist():
            tables.setdefault(name, []).append(repr(sorted((k, v) for k, v in row.items() if k != "seq")))

    stager = Stager(None, _RULES, sink=sink)
    total = FileResult(file_id=1, path=str(path))
    real = parse_mod.lines_parser
    if not fast:
        parse_mod.lines_parser = lambda: None
    try:
        with path.open("rb") as f:
            for a, b in ranges or [(0, path.stat().st_size)]:
                fr = FileResult(file_id=1, path=str(path))
                kw: dict[str, Any] = {"mode": "ndjson", "file_start": a == 0} if ranges else {}
                parse_file(
                    shard.ByteRange(f, a, b),
                    fr,
                    stager,
                    max_record_bytes=MAX,
                    line_base=total.stats.lines,
                    **kw,
                )  # type: ignore[arg-type]
                total.merge(fr)
        stager.flush()
    finally:
        parse_mod.lines_parser = real
        stager.close()
    fates = (
        total.records_with_events + total.records_metric_only + total.records_skipped + total.rejected_records
    )
    assert total.records == fates
    counts = {name: getattr(total, name) for name in ("records", "events", "metrics", "rejected_records",
              "rejected_lines", "skipped_lines", "records_skipped")}  # fmt: skip
    counts |= {"lines": total.stats.lines, "blank": total.stats.blank, "reasons": dict(total.reject_reasons),
               "formats": dict(total.formats)}  # fmt: skip
    return counts, {name: sorted(rows) for name, rows in tables.items()}


def test_staged_rows_are_the_same_whole_or_in_shards_with_or_without_the_fast_path(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    path = tmp_path / "x.jsonl"
    tried: list[int] = []

    @settings(max_examples=_n(request, 25, 2000), deadline=None, suppress_health_check=list(HealthCheck))
    @given(line_per_record_file(), st.integers(2, 8))
    def run(data: bytes, jobs: int) -> None:
        tried.append(1)
        path.write_bytes(data)
        whole = _staged(path, None, fast=True)
        assert _staged(path, _ranges(path, jobs), fast=True) == whole
        assert _staged(path, None, fast=False) == whole

    run()
    assert len(tried) >= 20


# a `wrangler tail --format json` object (`cf-tail`): one the compiled parser leaves
_TAIL_OBJECT = {"outcome": "ok", "scriptName": "w", "eventTimestamp": 1714910420071, "exceptions": [],
                "logs": [{"message": ["trace_id: trace_1"], "level": "log", "timestamp": 1714910420074}]}  # fmt: skip


def test_a_pretty_printed_file_stages_the_same_with_or_without_the_fast_path(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A file that begins with a pretty-printed value (`wrangler tail --format json`, `jq .`: read by the scanner,
    whose objects are offered to the compiled parser as compact lines, or read by orjson when it leaves them),
    anything after it: the same counts and staged rows as the scanner's decoder alone gives, in any chunk size."""
    path = tmp_path / "x.json"
    tried: list[int] = []

    @settings(max_examples=_n(request, 25, 2000), deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from([b"", b"\xef\xbb\xbf", b"\n\n", b"\0\0", b"[\n", b"Connected to worker\n"]),
           st.sampled_from([_rec(-1), _TAIL_OBJECT]), st.lists(_piece(), min_size=1, max_size=12),
           st.integers(5, 300))  # fmt: skip
    def run(head: bytes, first: dict[str, Any], pieces: list[bytes], chunk: int) -> None:
        tried.append(1)
        path.write_bytes(b"\n".join([head + json.dumps(first, indent=2).encode(), *pieces]) + b"\n")
        slow = _staged(path, None, fast=False)
        assert _staged(path, None, fast=True) == slow
        old = bytestream.CHUNK
        bytestream.CHUNK = chunk
        try:
            assert _staged(path, None, fast=True) == _staged(path, None, fast=False)
        finally:
            bytestream.CHUNK = old

    run()
    assert len(tried) >= 20


_TEXT_HEADS = [
    b"8/5/2025, 9:00:01 AM [CONVEX Q(messages:list)] [LOG] 'listing'",
    b"13/05/2025, 09:00:02 [CONVEX M(messages:send)] Uncaught Error: boom",
    b"2025-08-05 09:00:03 [CONVEX A(ai:run)] [ERROR] 'failed' {",
    b"8/5/2025, 9:00:04 AM [CONVEX H(POST /hook)] Function executed in 7 ms",
    b"8/5/2025, 9:00:05 AM [CONVEX Q(x)]",
]
_TEXT_MORE = [b"  traceId: 'trace_1'", b"}", b"    at handler (convex/x.ts:1:2)", b"", b"  ", b"Watching logs for x",
              b"\0\0", b"\xef\xbb\xbf" + _TEXT_HEADS[0], b"plain text", b"\x1b[31mred\x1b[0m", b"\xff\xfe",
              b'{"message": "m", "level": "log", "timestamp": 1714910400000}', b"[1, 2]", b"  " + b"z" * (MAX + 10)]  # fmt: skip


def test_npx_convex_logs_text_reads_the_same_whole_in_small_chunks_or_gzipped(
    request: pytest.FixtureRequest,
) -> None:
    tried: list[int] = []

    @settings(max_examples=_n(request, 60, 5000), deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.sampled_from(_TEXT_HEADS + _TEXT_MORE) | st.binary(max_size=12), max_size=25),
           st.integers(3, 200), st.booleans())  # fmt: skip
    def run(lines: list[bytes], chunk: int, final: bool) -> None:
        tried.append(1)
        data = b"\n".join([_TEXT_HEADS[0], *lines]) + (b"\n" if final else b"")
        stats = FileStats()
        whole = list(iter_records(io.BytesIO(data), stats, max_record_bytes=MAX, local_zone=_ZONE))
        assert stats.mode == "convex-text" and stats.lines == data.count(b"\n") + (not data.endswith(b"\n"))
        seen = [(k, n, _text(p)) for k, n, p in whole]

        def again(raw: bytes) -> tuple[int, int, list[Any]]:
            st2 = FileStats()
            out = list(iter_records(io.BytesIO(raw), st2, max_record_bytes=MAX, local_zone=_ZONE))
            return st2.lines, st2.blank, [(k, n, _text(p)) for k, n, p in out]

        assert again(gzip.compress(data)) == (stats.lines, stats.blank, seen)
        old = bytestream.CHUNK
        bytestream.CHUNK = chunk
        try:
            assert again(data) == (stats.lines, stats.blank, seen)
        finally:
            bytestream.CHUNK = old

    run()
    assert len(tried) >= 20


def _text(p: Any) -> Any:
    if hasattr(p, "excerpt"):
        return (p.line, p.lines, p.ts_ms, p.problem, p.excerpt())
    return p


_ZONE = LocalZone("UTC")
