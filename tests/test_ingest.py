"""Ingest end to end: accounting on bad input, idempotency, atomicity, stdin, gzip, the recent window."""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from logcorr.errors import ExitCode, InputError, UsageError
from logcorr.pipeline import ingest as ingest_mod
from logcorr.pipeline.ingest import ingest
from tests.conftest import FIXTURES, CliResult, browser_event, convex_console, earlier_rejects

T0 = 1714910400000  # 2024-05-05 12:00:00 UTC


def counts(db: Path) -> dict[str, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {
            t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
            for t in ("log_queue", "recent_log_entries", "drop_ledger", "rejects", "metrics", "ingest_files")
        }
    finally:
        con.close()


def assert_accounted(result: ingest_mod.IngestResult) -> None:
    for f in result.files:
        assert f.balanced, f
        assert f.events == f.stored + f.dropped


@pytest.mark.parametrize(
    "name, data, reason",
    [
        (
            "malformed",
            b'{"message":"ok","level":"log","context":{"timestamp":1714910400000}}\n{"message": "x",\n',
            "malformed JSON",
        ),
        (
            "bad-utf8",
            b'{"message":"\xff","level":"log","context":{"timestamp":1714910400000}}\n',
            "invalid UTF-8",
        ),
        ("unknown", b'{"hello":"world"}\n', "unknown record shape"),
        ("not-object", b'42\n"text"\n', "not a JSON object or array"),
        ("no-timestamp", b'{"message":"m","level":"log"}\n', "missing or unreadable timestamp"),
    ],
)
def test_bad_input_is_rejected_with_file_line_and_reason_and_nothing_is_lost(
    tmp_path: Path, name: str, data: bytes, reason: str
) -> None:
    path = tmp_path / f"{name}.jsonl"
    path.write_bytes(data)
    db = tmp_path / "db.duckdb"
    result = ingest([str(path)], str(db))
    assert_accounted(result)
    (f,) = result.files
    assert f.rejected >= 1
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT source_file, source_line, reason FROM rejects").fetchall()
    con.close()
    assert rows and all(r[0] == str(path) for r in rows)
    assert any(reason in r[2] for r in rows), rows


def test_an_empty_file_is_a_note_not_a_reject_and_passes_strict(
    tmp_path: Path, cli: Callable[..., object]
) -> None:
    """As a file of blank lines is: nothing in it is lost; --strict failed a directory on an empty export."""
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    good = tmp_path / "good.jsonl"
    good.write_bytes(
        b'{"message":"ok","level":"log","trace_id":"t1","context":{"timestamp":1714910400000}}\n'
    )
    db = tmp_path / "db.duckdb"
    r = cli("ingest", str(empty), str(good), "--db", str(db), "--strict")
    assert r.exit_code == 0  # type: ignore[attr-defined]
    assert f"note {empty}: empty file: no lines to read" in r.stderr  # type: ignore[attr-defined]
    assert counts(db)["rejects"] == 0 and counts(db)["log_queue"] == 1


def test_crlf_and_bom_files_parse_like_plain_ones(tmp_path: Path) -> None:
    line = b'{"message":"hi","level":"log","trace_id":"t1","context":{"timestamp":1714910400000}}'
    path = tmp_path / "crlf.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + line + b"\r\n" + line.replace(b"hi", b"ho") + b"\r\n")
    result = ingest([str(path)], str(tmp_path / "db.duckdb"))
    assert result.stored == 2 and result.rejected == 0


def test_ten_megabyte_line_is_rejected_and_its_neighbours_kept(tmp_path: Path) -> None:
    ok = b'{"message":"ok","level":"log","context":{"timestamp":1714910400000}}'
    huge = b'{"message":"' + b"y" * (10 << 20) + b'","level":"log","context":{"timestamp":1714910400000}}'
    path = tmp_path / "huge.jsonl"
    path.write_bytes(ok + b"\n" + huge + b"\n" + ok.replace(b"ok", b"ok2") + b"\n")
    result = ingest([str(path)], str(tmp_path / "db.duckdb"))
    (f,) = result.files
    assert (f.stored, f.rejected, f.stats.lines) == (2, 1, 3)
    assert_accounted(result)


def test_truncated_gzip_keeps_complete_lines_and_reports_the_truncation(
    tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    records = [browser_event(T0 + i * 1000, f"message {i}", trace=f"t{i}") for i in range(20_000)]
    src = write_jsonl("full.jsonl.gz", records, gz=True)
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    result = ingest([str(cut)], str(tmp_path / "db.duckdb"))
    (f,) = result.files
    assert 1000 < f.stored < 20_000
    assert any("truncated" in r for r in f.reject_reasons)
    assert_accounted(result)


def test_a_gzip_cut_at_the_decompression_limit_is_read_again_with_a_higher_one(
    tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    records = [browser_event(T0 + i * 1000, f"message {i}", trace=f"t{i}") for i in range(20_000)]
    src = write_jsonl("big.jsonl.gz", records, gz=True)
    db = str(tmp_path / "db.duckdb")
    first = ingest([str(src)], db, max_decompressed=1 << 20)
    (f,) = first.files
    assert f.stats.limited and f.stats.lines < 20_000
    assert_accounted(first)
    # it was recorded as ingested, so the higher limit found it known and read nothing: the rest was lost
    second = ingest([str(src)], db, max_decompressed=1 << 30)
    (g,) = second.files
    assert g.status == "ingested" and g.stats.lines == 20_000 and not g.stats.limited
    assert_accounted(second)
    con = duckdb.connect(db, read_only=True)
    try:
        assert con.execute("SELECT status FROM ingest_files ORDER BY run_id").fetchall() == [
            ("partial",),
            ("ingested",),
        ]
        # every line's event is stored or dropped by the second run (the first run's part as `duplicate`)
        assert con.execute(
            "SELECT count(*) FROM (SELECT event_id FROM log_queue WHERE run_id = 2 "
            "UNION ALL SELECT event_id FROM drop_ledger WHERE run_id = 2)"
        ).fetchone() == (20_000,)
    finally:
        con.close()


def test_same_file_twice_changes_nothing_and_says_so(
    tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    path = write_jsonl("a.jsonl", [browser_event(T0 + i, f"m{i}") for i in range(10)])
    db = tmp_path / "db.duckdb"
    first = ingest([str(path)], str(db))
    before = counts(db)
    second = ingest([str(path)], str(db))
    after = counts(db)
    assert first.stored == 10
    assert second.files[0].status == "already-ingested" and second.stored == 0
    assert {k: v for k, v in after.items() if k != "ingest_files"} == {
        k: v for k, v in before.items() if k != "ingest_files"
    }


def test_a_file_whose_bytes_were_read_under_another_name_says_which(
    tmp_path: Path, write_jsonl: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    """A Logpush batch posted to `serve` and saved as a file too, or a copy of an export: the file was never
    ingested, yet the summary said only "already ingested"."""
    path = write_jsonl("a.jsonl", [browser_event(T0 + i, f"m{i}") for i in range(3)])
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(path.read_bytes())
    db = str(tmp_path / "db.duckdb")
    assert cli("ingest", str(path), "--db", db).exit_code == 0
    again = cli("ingest", str(copy), str(path), "--db", db)
    said = " ".join(again.stderr.split())  # the terminal's width wraps a note
    assert again.exit_code == 0
    assert f"note {copy}: its bytes are those run 1 read as {path}: nothing of it is stored again" in said
    assert f"note {path}:" not in said  # the same file again: nothing to say
    fresh = str(tmp_path / "fresh.duckdb")
    both = " ".join(cli("ingest", str(path), str(copy), "--db", fresh).stderr.split())
    assert f"note {copy}: its bytes are those of {path}, read in this run" in both


def test_stdin_whose_bytes_were_read_before_says_which_run(
    tmp_path: Path, write_jsonl: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    """`<stdin>` names no input: stdin given again said only "already ingested" (the name it was read as before
    is the same), where a file's copy says which run read its bytes."""
    path = write_jsonl("a.jsonl", [browser_event(T0 + i, f"m{i}") for i in range(3)])
    db = str(tmp_path / "db.duckdb")
    assert cli("ingest", "-", "--db", db, input=path.read_bytes()).exit_code == 0
    again = cli("ingest", "-", "--db", db, input=path.read_bytes())
    said = " ".join(again.stderr.split())
    assert again.exit_code == 0 and "already ingested" in said
    assert "note <stdin>: its bytes are those run 1 read as <stdin>: nothing of it is stored again" in said, (
        said
    )


def test_overlapping_exports_do_not_double_events(tmp_path: Path, write_jsonl: Callable[..., Path]) -> None:
    events = [browser_event(T0 + i * 10, f"m{i}") for i in range(30)]
    a = write_jsonl("a.jsonl", events[:20])
    b = write_jsonl("b.jsonl", events[10:])  # overlaps a by 10 events
    db = tmp_path / "db.duckdb"
    ingest([str(a)], str(db))
    result = ingest([str(b)], str(db))
    assert result.stored == 10 and result.dropped == 10
    assert result.drops[("duplicate", "browser")] == 10
    assert counts(db)["log_queue"] == 30


def test_a_convex_line_in_the_cli_export_and_in_the_log_stream_is_one_event(
    tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    """`npx convex logs --jsonl` and a log stream's webhook deliver the same console lines: the CLI's record holds
    a run's lines as argument lists, the stream one line per event with the arguments joined. Each line is one
    event, whichever export is ingested first (each was stored twice: the CLI unquoted every argument, and
    its key held the line's place in its record)."""
    rid, trace = "e5a7c9b1d3f50624", "trace_1714910415902_h7d2kq0zs"
    lines = [  # (ms, level, the arguments as object-inspect renders them)
        (1714910421206, "LOG", ["'Summarizing profile'", f"{{ traceId: '{trace}' }}"]),
        (1714910422611, "INFO", ["'OpenAI call took'", "1402", "'ms'"]),
        (1714910422700, "LOG", ["'Sent summary!'"]),
    ]
    cli = {
        "kind": "Progress",
        "udfType": "Action",
        "componentPath": None,
        "identifier": "ai:summarizeProfile",
        "timestamp": 1714910421.204,
        "logLines": [
            {"messages": m, "isTruncated": False, "timestamp": ms, "level": lv, "systemMetadata": None}
            for ms, lv, m in lines
        ],
        "requestId": rid,
        "executionId": "9c3f1e7a-2b4d-4c6e-8f0a-1b3d5e7f9a2c",
    }
    function = {"path": "ai:summarizeProfile", "type": "action", "cached": None, "request_id": rid}
    stream = [
        {"topic": "console", "timestamp": ms, "function": function, "log_level": lv, "message": " ".join(m),
         "is_truncated": False, "system_code": None}
        for ms, lv, m in lines
    ]  # fmt: skip
    a, b = write_jsonl("cli.jsonl", [cli]), write_jsonl("stream.jsonl", stream)
    for order in ((a, b), (b, a)):
        db = tmp_path / f"{order[0].stem}-first.duckdb"
        first = ingest([str(order[0])], str(db))
        second = ingest([str(order[1])], str(db))
        assert (first.stored, second.stored, second.dropped) == (3, 0, 3)
        assert second.drops[("duplicate", "backend")] == 3
        con = duckdb.connect(str(db), read_only=True)
        stored = con.execute("SELECT message, trace_id, trace_source FROM log_queue ORDER BY ts").fetchall()
        con.close()
        assert stored == [
            (f"'Summarizing profile' {{ traceId: '{trace}' }}", trace, "message"),
            ("'OpenAI call took' 1402 'ms'", trace, "request_id"),
            ("Sent summary!", trace, "request_id"),
        ]


def _secs_f64(ns: int) -> float:
    """Rust's `Duration::as_secs_f64()` of `ns`: what `npx convex logs --jsonl` prints for a time or a duration."""
    return float(ns // 10**9) + float(ns % 10**9) / 1e9


# runs of `messages:send` (end of run and run time in ns, as the backend holds them; request id): the first two end
# in one millisecond, the last two are of one request, end in one millisecond and differ only in run time (9 ms
# is 0.009 s, a double a hair below it; 10.999999 ms is 10 ms truncated)
_RUNS = [
    (1714910426548_731_204, 73_612_345, "d064ef901f7ec0b7"),
    (1714910426548_902_117, 12_345_678, "a1b2c3d4e5f60718"),
    (1714910426600_000_000, 9_000_000, "5f3e1d7c9b2a4e60"),
    (1714910426600_400_000, 10_999_999, "5f3e1d7c9b2a4e60"),
]


def _cli_completion(end: int, took: int, rid: str) -> dict[str, Any]:
    """A `--jsonl` Completion as `stream_function_logs` serialises it (crates/local_backend/src/logs.rs)."""
    return {
        "kind": "Completion", "udfType": "Mutation", "componentPath": None, "identifier": "messages:send",
        "logLines": [], "timestamp": _secs_f64(end), "cachedResult": False, "executionTime": _secs_f64(took),
        "success": None, "error": None, "requestId": rid, "executionId": f"{rid}-exec",
        "usageStats": {"databaseReadBytes": 210, "databaseWriteBytes": 96, "databaseReadDocuments": 2,
                       "storageReadBytes": 0, "storageWriteBytes": 0, "vectorIndexReadBytes": 0,
                       "vectorIndexWriteBytes": 0, "memoryUsedMb": 64},
        "occInfo": None, "executionTimestamp": _secs_f64(end - took), "identityType": "user",
        "environment": "isolate",
    }  # fmt: skip


def _stream_execution(end: int, took: int, rid: str) -> dict[str, Any]:
    """The same run as a log stream's `function_execution` event (crates/common/src/log_streaming.rs): the time
    and run time `as_millis()`, usage counters the CLI does not print among them."""
    return {
        "timestamp": end // 10**6, "topic": "function_execution",
        "function": {"path": "messages:send", "type": "mutation", "cached": None, "request_id": rid,
                     "mutation_queue_length": None, "mutation_retry_count": None},
        "execution_time_ms": took // 10**6, "status": "success", "error_message": None, "occ_info": None,
        "scheduler_info": None, "will_retry": False,
        "usage": {"database_read_bytes": 210, "database_write_bytes": 96, "database_read_documents": 2,
                  "file_storage_read_bytes": 0, "file_storage_write_bytes": 0, "vector_storage_read_bytes": 0,
                  "vector_storage_write_bytes": 0, "memory_used_mb": 64, "function_args_bytes": 31,
                  "audit_log_egress_bytes": 0},
        "convex": {"deployment_name": "happy-otter-123", "deployment_type": "prod"},
    }  # fmt: skip


@pytest.mark.parametrize("compiled", ["1", "0"], ids=["fast-path", "python"])
@pytest.mark.parametrize("together", [False, True], ids=["one-ingest-each", "one-ingest"])
def test_a_convex_run_in_the_cli_export_and_in_the_log_stream_is_one_execution_event_and_one_metric(
    tmp_path: Path,
    write_jsonl: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    together: bool,
    compiled: str,
) -> None:
    """A Completion gives its end time in float seconds and its run time in seconds, a stream's
    `function_execution` both in ms truncated: read as the stream gives them, the two are one event and one
    metric, whichever is ingested first (the CLI's were a ms later for half the runs, its `in 74 ms` the
    stream's `in 73 ms`, and its metric another). Runs in one millisecond stay one each. The stream's lines are
    the compiled parser's (logcorr/_fastparse.c, `convex_execution`) or Python's, the CLI's always Python's."""
    monkeypatch.setenv("LOGCORR_NO_FASTPATH", "0" if compiled == "1" else "1")
    a = write_jsonl("cli.jsonl", [_cli_completion(*r) for r in _RUNS])
    b = write_jsonl("stream.jsonl", [_stream_execution(*r) for r in _RUNS])
    expected = [
        (1714910426548, "mutation messages:send success in 12 ms", "a1b2c3d4e5f60718"),
        (1714910426548, "mutation messages:send success in 73 ms", "d064ef901f7ec0b7"),
        (1714910426600, "mutation messages:send success in 10 ms", "5f3e1d7c9b2a4e60"),
        (1714910426600, "mutation messages:send success in 9 ms", "5f3e1d7c9b2a4e60"),
    ]
    for order in ((a, b), (b, a)):
        db = tmp_path / f"{order[0].stem}-first-{together}.duckdb"
        if together:
            (result,) = (ingest([str(order[0]), str(order[1])], str(db)),)
            assert (result.stored, result.drops) == (4, {("duplicate", "backend"): 4})
        else:
            first, second = ingest([str(order[0])], str(db)), ingest([str(order[1])], str(db))
            assert (first.stored, first.dropped) == (4, 0)
            assert (second.stored, second.drops) == (0, {("duplicate", "backend"): 4})
        with duckdb.connect(str(db), read_only=True) as con:
            events = con.execute(
                "SELECT epoch_ms(ts), message, request_id FROM log_queue ORDER BY ts, message"
            ).fetchall()
            runs = con.execute(
                "SELECT epoch_ms(ts), data->>'request_id', (data->>'execution_time_ms')::INT, source_format "
                "FROM metrics ORDER BY ts, 3"
            ).fetchall()
        assert events == expected
        kept = order[0].stem.replace("cli", "convex-cli").replace("stream", "convex-stream")
        assert runs == [
            (1714910426548, "a1b2c3d4e5f60718", 12, kept),
            (1714910426548, "d064ef901f7ec0b7", 73, kept),
            (1714910426600, "5f3e1d7c9b2a4e60", 9, kept),
            (1714910426600, "5f3e1d7c9b2a4e60", 10, kept),
        ]


def test_events_an_earlier_ingest_stored_or_dropped_are_duplicates_when_delivered_again(
    tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    # 8 identical lines in 1 s: the loop rule stores 5 and drops 3, so the first copies are in both
    # log_queue and the drop ledger; the second file redelivers them among new events before, between
    # and after them in event time
    burst = [browser_event(T0 + 1000 + i * 10, "tick") for i in range(8)]
    a = write_jsonl("a.jsonl", burst)
    b = write_jsonl(
        "b.jsonl",
        [
            browser_event(T0, "before"),
            *burst,
            browser_event(T0 + 1025, "between"),
            browser_event(T0 + 5000, "after"),
        ],
    )
    db = tmp_path / "db.duckdb"
    first = ingest([str(a)], str(db))
    assert first.stored == 5 and first.drops == {("loop", "browser"): 3}
    second = ingest([str(b)], str(db))
    assert second.drops == {("duplicate", "browser"): 8}
    assert second.stored == 3
    with duckdb.connect(str(db), read_only=True) as con:
        reasons = con.execute("SELECT DISTINCT reason FROM drop_ledger WHERE run_id = 2").fetchall()
    assert reasons == [("same event already ingested by an earlier run (same event key)",)]


def test_the_ledger_written_in_slices_is_the_ledger_written_at_once(
    tmp_path: Path, write_jsonl: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from logcorr.pipeline import store

    # two files interleaved in event time, loops and floods, so slices of input order name decisions
    # from all over the run
    a = write_jsonl("a.jsonl", [browser_event(T0 + i * 7, f"tick {i % 3}") for i in range(120)])
    b = write_jsonl(
        "b.jsonl", [browser_event(T0 + 3 + i * 5, "tock", trace=f"trace_{i}") for i in range(150)]
    )

    def ledger(db: Path) -> list[tuple[object, ...]]:
        with duckdb.connect(str(db), read_only=True) as con:
            return con.execute("SELECT * EXCLUDE (run_id) FROM drop_ledger ORDER BY event_id").fetchall()

    ingest([str(a), str(b)], str(tmp_path / "once.duckdb"))
    monkeypatch.setattr(store, "_LEDGER_SLICE", 16)
    ingest([str(a), str(b)], str(tmp_path / "sliced.duckdb"))
    once = ledger(tmp_path / "once.duckdb")
    assert len(once) > 100 and ledger(tmp_path / "sliced.duckdb") == once


def test_stdin_is_read_and_remembered_like_a_file(tmp_path: Path, cli: Callable[..., object]) -> None:
    import orjson

    data = b"\n".join(orjson.dumps(browser_event(T0 + i, f"m{i}")) for i in range(5)) + b"\n"
    db = tmp_path / "db.duckdb"
    r1 = cli("ingest", "-", "--db", str(db), "--json", "-q", input=data)
    r2 = cli("ingest", "-", "--db", str(db), "--json", "-q", input=data)
    assert r1.exit_code == 0 and r1.json()["stored"] == 5  # type: ignore[attr-defined]
    assert r2.json()["files"][0]["status"] == "already-ingested"  # type: ignore[attr-defined]
    assert counts(db)["log_queue"] == 5


def test_gzip_file_ingests_like_the_plain_one(tmp_path: Path, write_jsonl: Callable[..., Path]) -> None:
    recs = [browser_event(T0 + i, f"m{i}") for i in range(50)]
    plain = ingest([str(write_jsonl("p.jsonl", recs))], str(tmp_path / "p.duckdb"))
    packed = ingest([str(write_jsonl("g.jsonl.gz", recs, gz=True))], str(tmp_path / "g.duckdb"))
    assert plain.stored == packed.stored == 50


def test_a_failure_half_way_leaves_the_database_as_it_was(
    tmp_path: Path, write_jsonl: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "db.duckdb"
    ingest([str(write_jsonl("a.jsonl", [browser_event(T0 + i, f"a{i}") for i in range(5)]))], str(db))
    before = counts(db)
    real_count = ingest_mod.count

    def explode(*args: object) -> None:
        real_count(*args)  # type: ignore[arg-type]
        raise RuntimeError("power cut")

    monkeypatch.setattr(ingest_mod, "count", explode)
    b = write_jsonl("b.jsonl", [browser_event(T0 + 100 + i, f"b{i}") for i in range(5)])
    with pytest.raises(RuntimeError):
        ingest([str(b)], str(db))
    assert counts(db) == before
    monkeypatch.undo()
    assert ingest([str(b)], str(db)).stored == 5


def test_strict_stores_nothing_when_a_line_is_rejected(
    tmp_path: Path, write_jsonl: Callable[..., Path], cli: Callable[..., object]
) -> None:
    path = write_jsonl("a.jsonl", [browser_event(T0, "fine"), b"{broken"])
    db = tmp_path / "db.duckdb"
    r = cli("ingest", str(path), "--db", str(db), "--strict")
    assert r.exit_code == 3  # type: ignore[attr-defined]
    err = r.stderr  # type: ignore[attr-defined]
    # one error line, and the rejected line named by file and line: the rejects table is rolled back too
    assert "error: --strict: 1 line rejected, nothing was stored" in err
    assert f"rejected {path}:2: malformed JSON" in err and f"the first: {path}:2: malformed JSON" in err
    assert "nothing stored (--strict): would store 1" in err and "see rejected lines" not in err
    # the per-system and quota lines say so too: they read as what the database holds
    assert "would store by system: browser 1" in err and "\nstored by system" not in err
    assert "had it been stored: 1/125,000" in err
    assert counts(db)["log_queue"] == 0 and counts(db)["rejects"] == 0
    assert cli("ingest", str(path), "--db", str(db)).exit_code == 0  # type: ignore[attr-defined]
    assert counts(db)["log_queue"] == 1


def test_strict_fails_on_a_file_already_ingested_that_holds_rejected_lines(
    tmp_path: Path, write_jsonl: Callable[..., Path], cli: Callable[..., CliResult]
) -> None:
    """`ingest --strict` in CI against a kept database: a file with a bad line, ingested once without --strict,
    exited 0 the second time ("already ingested", rejected 0). The file still holds the line, and --strict
    fails on bad input: exit 3, the line named by this input's name and line, nothing stored; a clean file
    already ingested still passes."""
    path = write_jsonl("a.jsonl", [browser_event(T0, "fine"), b"{broken"])
    good = write_jsonl("good.jsonl", [browser_event(T0 + 1, "also fine")])
    db = tmp_path / "db.duckdb"
    assert cli("ingest", str(path), str(good), "--db", str(db)).exit_code == ExitCode.OK
    before = counts(db)
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(path.read_bytes())
    new = write_jsonl("new.jsonl", [browser_event(T0 + 2, "new")])
    r = cli("ingest", str(copy), str(new), "--db", str(db), "--strict")
    assert r.exit_code == ExitCode.INPUT, r.stderr
    assert (
        "error: --strict: 1 line rejected (1 in files already ingested: an earlier run rejected them, and "
        "the files still hold them), nothing was stored" in r.stderr
    ), r.stderr
    assert (
        f"rejected {copy}:2: malformed JSON" in r.stderr
        and "(rejected by run 1; already ingested)" in r.stderr
    )
    assert "rejected 0 (+1 in files already ingested)" in r.stderr
    assert counts(db) == before  # new.jsonl is not stored either
    assert cli("ingest", str(good), "--db", str(db), "--strict").exit_code == ExitCode.OK
    j = cli("ingest", str(path), "--db", str(db), "--strict", "--json", "-q")
    assert j.exit_code == ExitCode.INPUT and orjson.loads(j.stdout)["earlier_rejected"] == 1


def test_strict_fails_on_a_grown_file_whose_earlier_lines_an_earlier_run_rejected(
    tmp_path: Path, write_jsonl: Callable[..., Path], cli: Callable[..., CliResult]
) -> None:
    """A log that grew since an ingest that rejected one of its lines still holds the line: `--strict` over it
    exited 0 (its new lines read, the earlier ones not looked at), and so did `--strict` over the same bytes once
    a later run had read the new lines (that run's rejects only)."""
    path = write_jsonl("a.jsonl", [browser_event(T0, "fine"), b"{broken"])
    db = tmp_path / "db.duckdb"
    assert cli("ingest", str(path), "--db", str(db)).exit_code == ExitCode.OK
    with path.open("ab") as f:
        f.write(orjson.dumps(browser_event(T0 + 1, "new")) + b"\n")
    before = counts(db)
    r = cli("ingest", str(path), "--db", str(db), "--strict")
    assert r.exit_code == ExitCode.INPUT, r.stderr
    assert "grown since run 1" in r.stderr
    assert (
        f"rejected {path}:2: malformed JSON" in r.stderr
        and "(rejected by run 1; already ingested)" in r.stderr
    )
    assert "rejected 0 (+1 in files already ingested)" in r.stderr
    assert counts(db) == before
    assert cli("ingest", str(path), "--db", str(db)).exit_code == ExitCode.OK  # its new line stored
    j = cli("ingest", str(path), "--db", str(db), "--strict", "--json", "-q")
    assert j.exit_code == ExitCode.INPUT and orjson.loads(j.stdout)["earlier_rejected"] == 1


@pytest.mark.parametrize("wording", [None, "appended to since run {run}, its lines from {line:,} read now"])
def test_strict_on_a_log_grown_twice_names_the_rejects_of_both_runs_that_read_its_earlier_lines(
    tmp_path: Path, write_jsonl: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, wording: str | None
) -> None:
    """Read, grown, grown: the third run reads line 5 on, run 1 read lines 1-2 and run 2 lines 3-4, each rejecting
    one. `--strict` follows the reads back through `ingest_files.continues_run`; it read the runs back from the
    prose of the note, and a note worded otherwise passed `--strict` with both bad lines in the file."""
    if wording is not None:
        monkeypatch.setattr(ingest_mod, "_GROWN_NOTE", wording)
    path = write_jsonl("a.jsonl", [browser_event(T0, "one"), b"{broken one"])
    db = str(tmp_path / "db.duckdb")
    for grown in ([browser_event(T0 + 1, "two"), b"{broken two"], [browser_event(T0 + 2, "three")]):
        assert ingest([str(path)], db).committed
        with path.open("ab") as f:
            f.writelines((g if isinstance(g, bytes) else orjson.dumps(g)) + b"\n" for g in grown)
    before = counts(Path(db))
    result = ingest([str(path)], db, strict=True)
    assert not result.committed and counts(Path(db)) == before
    assert (result.rejected, result.earlier_rejected) == (0, 2)
    assert earlier_rejects(result) == [(str(path), 2, 1), (str(path), 4, 2)]
    if wording is not None:
        assert result.files[0].stats.notes[0].startswith("appended to since run 2, its lines from 5 read now")
    ingest([str(path)], db)
    con = duckdb.connect(db, read_only=True)
    reads = con.execute(
        "SELECT run_id, lines, continues_run, first_line FROM ingest_files ORDER BY run_id"
    ).fetchall()
    con.close()
    assert reads == [(1, 2, None, 1), (2, 4, 1, 3), (3, 5, 2, 5)]


def test_strict_counts_a_rejected_line_of_stdin_given_again_once(
    tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    """stdin is read before it is known: given again, its lines were this run's rejects as well as the earlier
    run's (`2 line(s) rejected` for one bad line, `rejected 1` in the summary with no reject stored)."""
    data = orjson.dumps(browser_event(T0, "fine")) + b"\n{broken\n"
    db = tmp_path / "db.duckdb"
    assert cli("ingest", "-", "--db", str(db), input=data).exit_code == ExitCode.OK
    r = cli("ingest", "-", "--db", str(db), "--strict", input=data)
    assert r.exit_code == ExitCode.INPUT, r.stderr
    assert "--strict: 1 line rejected (1 in files already ingested" in r.stderr, r.stderr
    assert "rejected 0 (+1 in files already ingested)" in r.stderr
    again = cli("ingest", "-", "--db", str(db), "--json", "-q", input=data).json()
    assert again["rejected"] == 0 and again["files"][0]["rejected"] == 0


def test_strict_says_a_budget_moment_would_have_been_reached(
    tmp_path: Path, write_jsonl: Callable[..., Path], cli: Callable[..., object]
) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text("[budget]\nmonthly_writes = 10\n")
    rows = [browser_event(T0 + i * 1000, f"line {i}") for i in range(9)]
    path = write_jsonl("a.jsonl", [*rows, b"{broken"])
    db = tmp_path / "db.duckdb"
    r = cli("ingest", str(path), "--db", str(db), "--policy", str(policy), "--strict")
    err = r.stderr  # type: ignore[attr-defined]
    assert r.exit_code == 3, err  # type: ignore[attr-defined]
    # nothing was stored, so no threshold was reached in the database
    assert "budget browser share would have reached 80 %" in err and " share reached" not in err, err


def test_recent_entries_hold_the_last_hour_before_the_newest_event(
    tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    hour = 3_600_000
    recs = [
        browser_event(T0, "old"),
        browser_event(T0 + 2 * hour, "new"),
        browser_event(T0 + 2 * hour - 10, "edge"),
    ]
    db = tmp_path / "db.duckdb"
    ingest([str(write_jsonl("a.jsonl", recs))], str(db))
    con = duckdb.connect(str(db), read_only=True)
    msgs = {m for (m,) in con.execute("SELECT message FROM recent_log_entries").fetchall()}
    expires = con.execute("SELECT expires_at - ts FROM recent_log_entries LIMIT 1").fetchone()[0]  # type: ignore[index]
    con.close()
    assert msgs == {"new", "edge"}
    assert expires.total_seconds() == 3600


def test_events_from_all_files_are_stored_in_event_time_order(
    tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    a = write_jsonl("a.jsonl", [browser_event(T0 + 2, "a2"), browser_event(T0 + 4, "a4")])
    b = write_jsonl("b.jsonl", [browser_event(T0 + 1, "b1"), browser_event(T0 + 3, "b3")])
    db = tmp_path / "db.duckdb"
    ingest([str(a), str(b)], str(db))
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT message FROM log_queue ORDER BY event_id").fetchall()
    con.close()
    assert [m for (m,) in rows] == ["b1", "a2", "b3", "a4"]


def test_provenance_names_the_file_line_and_format(tmp_path: Path, write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl("a.jsonl", [browser_event(T0, "first"), browser_event(T0 + 1, "second")])
    db = tmp_path / "db.duckdb"
    ingest([str(path)], str(db))
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute(
        "SELECT message, source_file, source_line, source_format FROM log_queue ORDER BY ts"
    ).fetchall()
    con.close()
    assert rows == [("first", str(path), 1, "browser-v2"), ("second", str(path), 2, "browser-v2")]


def test_secrets_never_reach_the_database_or_rejects(
    tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    recs = [
        {**browser_event(T0, f"token {jwt}"), "stack": "Error: Bearer abcdefghijklmnopqrstuvwxyz"},
        {
            **browser_event(T0 + 1, "login"),
            "context": {
                "timestamp": T0 + 1,
                "headers": {"Authorization": "Basic dXNlcjpzM2NyM3Q="},
                "password": "hunter2hunter2",
            },
        },
        f'{{"broken": "{jwt}"',
    ]
    db = tmp_path / "db.duckdb"
    ingest([str(write_jsonl("a.jsonl", recs))], str(db))
    con = duckdb.connect(str(db))
    con.execute("CHECKPOINT")
    con.close()
    raw = db.read_bytes()
    for secret in (jwt.encode(), b"abcdefghijklmnopqrstuvwxyz", b"dXNlcjpzM2NyM3Q=", b"hunter2hunter2"):
        assert secret not in raw


def test_missing_input_and_unknown_format_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        ingest([str(tmp_path / "nope.jsonl")], str(tmp_path / "db.duckdb"))
    (tmp_path / "x.jsonl").write_text("{}\n")
    with pytest.raises(UsageError, match="unknown format"):
        ingest([str(tmp_path / "x.jsonl")], str(tmp_path / "db.duckdb"), format_name="nope")


def test_forced_format_parses_records_detection_would_not(
    tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    # a worker record with no id and a context: detection would call it browser-v2
    rec = {"trace_id": "t", "system": "worker", "level": "log", "message": "m", "timestamp": T0}
    path = write_jsonl("a.jsonl", [rec])
    db = tmp_path / "db.duckdb"
    ingest([str(path)], str(db), format_name="worker-record")
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT source_format, system FROM log_queue").fetchall() == [
        ("worker-record", "worker")
    ]
    con.close()


def test_directories_expand_to_their_log_files(tmp_path: Path) -> None:
    d = tmp_path / "logs" / "nested"
    d.mkdir(parents=True)
    (d / "a.jsonl").write_bytes(b'{"message":"m","level":"log","context":{"timestamp":1714910400000}}\n')
    (d / "b.log.gz").write_bytes(
        gzip.compress(b'{"message":"n","level":"log","context":{"timestamp":1714910400001}}\n')
    )
    (d / "notes.md").write_text("not a log")
    result = ingest([str(tmp_path / "logs")], str(tmp_path / "db.duckdb"))
    assert sorted(Path(f.path).name for f in result.files) == ["a.jsonl", "b.log.gz"]
    assert result.stored == 2


def test_more_drops_than_one_batch_are_all_recorded(tmp_path: Path) -> None:
    # 70,000 dev-noise lines: every one dropped by the suppress rule, more than one flush of drops
    line = b'{"message":"[HMR] connected %d","level":"log","context":{"timestamp":%d}}\n'
    path = tmp_path / "noise.jsonl"
    path.write_bytes(b"".join(line % (i, T0 + i) for i in range(70_000)))
    result = ingest([str(path)], str(tmp_path / "db.duckdb"))
    assert result.dropped == 70_000 and result.drops[("suppress", "browser")] == 70_000
    assert counts(tmp_path / "db.duckdb")["drop_ledger"] == 70_000


def test_a_requests_lines_take_its_trace_id_from_an_input_already_ingested_once(
    tmp_path: Path, write_jsonl: Callable[..., Path], cli: Callable[..., object]
) -> None:
    import orjson

    tid = "trace_1714910400000_d30d10gy1"
    carrier = convex_console(f"'[users:get] trace_id: {tid} profile loaded'", T0)
    sibling = write_jsonl("sibling.jsonl", [convex_console("'[users:get] cache miss'", T0 + 5)])
    traced = "SELECT trace_id, trace_source FROM log_queue WHERE message LIKE '%cache miss%'"

    # with the carrier in the same ingest (another input), the sibling takes its trace id
    both = tmp_path / "both.duckdb"
    carrier_file = write_jsonl("carrier.jsonl", [carrier])
    assert ingest([str(carrier_file), str(sibling)], str(both)).stored == 2
    with duckdb.connect(str(both), read_only=True) as con:
        assert con.execute(traced).fetchall() == [(tid, "request_id")]

    # the carrier on stdin a second time is left out whole (stored once); the sibling ingested with it takes
    # the trace id of the carrier the earlier ingest stored, as the ingest of both together gave it
    db = tmp_path / "db.duckdb"
    data = orjson.dumps(carrier) + b"\n"
    r1 = cli("ingest", "-", "--db", str(db), "--json", "-q", input=data)
    r2 = cli("ingest", "-", str(sibling), "--db", str(db), "--json", "-q", input=data)
    files = r2.json()["files"]  # type: ignore[attr-defined]
    assert r1.exit_code == 0 and [f["status"] for f in files] == ["already-ingested", "ingested"]  # type: ignore[attr-defined]
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute(traced).fetchall() == [(tid, "request_id")]
        assert con.execute("SELECT count(*) FROM log_queue").fetchall() == [(2,)]


def test_a_log_appended_to_while_it_is_read_is_read_as_it_was_measured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the size recorded, the bytes hashed and the bytes read were three different amounts (a writer between
    # them), so the next ingest read the whole file again: a duplicate ledger row for every old line
    lines = [
        orjson.dumps(browser_event(T0 + i * 250, f"line {i}", trace=f"t{i}")).decode() + "\n"
        for i in range(300)
    ]
    log = tmp_path / "app.log"
    log.write_text("".join(lines[:200]))
    measured = ingest_mod._appended

    def appended_meanwhile(path: str, fr: Any, before: Any, *ident: Any) -> Any:
        tail = measured(path, fr, before, *ident)
        with open(path, "a") as f:  # the writer, after the file was measured, before it is read
            f.write("".join(lines[200:]))
        return tail

    db = str(tmp_path / "db.duckdb")
    monkeypatch.setattr(ingest_mod, "_appended", appended_meanwhile)
    first = ingest([str(log)], db)
    monkeypatch.undo()
    (f,) = first.files
    assert (f.stats.lines, f.size) == (200, len("".join(lines[:200]).encode()))
    second = ingest([str(log)], db)
    (g,) = second.files
    assert g.stats.lines == 100 and "read from line 201" in "; ".join(g.stats.notes)
    con = duckdb.connect(db, read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM drop_ledger WHERE rule = 'duplicate'").fetchone() == (0,)
    finally:
        con.close()


def test_a_file_replaced_or_cut_while_it_is_read_is_an_error_not_lines_lost(tmp_path: Path) -> None:
    # a log rotated under its name while the workers read its shards gave them the new file's bytes: lines of
    # the old file were lost, with no reject and no note
    from logcorr.pipeline.shard import ByteRange, open_same

    log, other = tmp_path / "app.log", tmp_path / "other.log"
    log.write_bytes(b'{"a":1}\n' * 10)
    other.write_bytes(b'{"b":2}\n' * 3)
    st = log.stat()
    ident = (st.st_dev, st.st_ino)
    with open_same(str(log), ident) as f:
        assert f.read() == b'{"a":1}\n' * 10
    other.replace(log)  # rotated: a new file under the name
    with pytest.raises(OSError, match="was replaced while it was read"):
        open_same(str(log), ident)
    with open(log, "rb") as f:  # shorter than the range planned on it
        cut = ByteRange(f, 0, st.st_size, str(log))
        assert cut.read(1 << 20) == b'{"b":2}\n' * 3
        with pytest.raises(OSError, match="got shorter while it was read"):
            cut.read(1 << 20)


def test_files_of_a_directory_not_named_as_logs_are_named_in_the_summary(
    tmp_path: Path, cli: Callable[..., Any]
) -> None:
    # a rotated `app.log.1`, `x.gzip`, a file without a suffix were left out without a word
    d = tmp_path / "exports"
    (d / "sub").mkdir(parents=True)
    (d / "a.jsonl").write_bytes(orjson.dumps(browser_event(T0, "x")) + b"\n")
    for name in ("app.log.1", "sub/y.gzip", "README", ".hidden", "sub/.DS_Store"):
        (d / name).write_text("x\n")
    r = cli("ingest", str(d), "--db", str(tmp_path / "db.duckdb"), "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["passed_over"] == [str(d / "README"), str(d / "app.log.1"), str(d / "sub" / "y.gzip")]
    assert "passed over 3 files in the input directories not named as logs" in r.stderr


def test_hidden_entries_of_a_directory_are_passed_over_and_named_but_read_when_given(
    tmp_path: Path, cli: Callable[..., Any]
) -> None:
    """As ripgrep and fd walk: a `.git/config.json` was rejected as an "unknown record shape", a `.cache/x.log`
    as "not JSON", and the hint named them as exports logcorr could not read."""
    d = tmp_path / "logs"
    for sub in (".git", ".cache", "sub"):
        (d / sub).mkdir(parents=True)
    (d / "a.jsonl").write_bytes(orjson.dumps(browser_event(T0, "x")) + b"\n")
    (d / ".git" / "config.json").write_text('{"x":1}\n')
    (d / ".cache" / "x.log").write_text("garbage\n")
    (d / "sub" / ".old.jsonl").write_bytes(orjson.dumps(browser_event(T0 + 1, "y")) + b"\n")
    (d / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    db = str(tmp_path / "db.duckdb")
    r = cli("ingest", str(d), "--db", db, "--json")
    assert r.exit_code == 0, r.stderr
    out = r.json()
    assert ([f["path"] for f in out["files"]], out["stored"], out["rejected"]) == ([str(d / "a.jsonl")], 1, 0)
    assert out["passed_over"] == []
    hidden = [str(d / n) for n in (".DS_Store", ".cache", ".git", "sub/.old.jsonl")]
    assert out["passed_over_hidden"] == hidden
    assert (
        f"passed over 4 hidden entries in the input directories: {', '.join(hidden[:3])}, …; give a path to read it"
        in r.stderr
    )
    assert "not JSON" not in r.stderr and "unknown record shape" not in r.stderr and "hint:" not in r.stderr
    # a hidden file or directory given by its path is read
    r = cli("ingest", str(d / "sub" / ".old.jsonl"), str(d / ".cache"), "--db", db, "--json")
    assert r.exit_code == 0, r.stderr
    out = r.json()
    assert [(f["path"], f["stored"], f["rejected"]) for f in out["files"]] == [
        (str(d / "sub" / ".old.jsonl"), 1, 0), (str(d / ".cache" / "x.log"), 0, 1)
    ]  # fmt: skip
    # a directory holding hidden entries alone says they were not read
    only = tmp_path / "only"
    (only / ".git").mkdir(parents=True)
    (only / ".git" / "x.json").write_text("{}\n")
    r = cli("ingest", str(only), "--db", db)
    assert r.exit_code == ExitCode.INPUT
    assert f"its hidden entries are not read ({only / '.git'}): give a path to read it" in r.stderr


def test_a_broken_symbolic_link_is_said_to_be_one_in_a_directory_and_given(
    tmp_path: Path, cli: Callable[..., Any]
) -> None:
    """A `dangling.jsonl` in a directory was "passed over … not named as logs (.json, .jsonl, …)", and given by
    its path, "input file … not found" of a name `ls` lists."""
    d = tmp_path / "logs"
    d.mkdir()
    (d / "a.jsonl").write_bytes(orjson.dumps(browser_event(T0, "x")) + b"\n")
    (d / "dangling.jsonl").symlink_to(tmp_path / "nonexistent")
    db = str(tmp_path / "db.duckdb")
    r = cli("ingest", str(d), "--db", db, "--json")
    assert r.exit_code == 0, r.stderr
    out = r.json()
    assert (out["stored"], out["rejected"], out["passed_over"]) == (1, 0, [])
    assert out["broken_links"] == [
        {"path": str(d / "dangling.jsonl"), "target": str(tmp_path / "nonexistent")}
    ]
    assert "not named as logs" not in r.stderr
    assert (
        f"passed over 1 entry in the input directories: {d / 'dangling.jsonl'} is a broken symbolic link "
        f"(→ {tmp_path / 'nonexistent'})"
    ) in r.stderr
    (d / "loop.log").symlink_to("loop.log")  # a link to itself points nowhere either
    r = cli("ingest", str(d), "--db", str(tmp_path / "other.duckdb"))
    assert r.exit_code == 0, r.stderr
    assert (
        f"passed over 2 broken symbolic links in the input directories: {d / 'dangling.jsonl'} "
        f"(→ {tmp_path / 'nonexistent'}), {d / 'loop.log'} (→ loop.log)"
    ) in r.stderr
    # given by its path: an error naming it, nothing stored
    r = cli("ingest", str(d / "a.jsonl"), str(d / "dangling.jsonl"), "--db", str(tmp_path / "third.duckdb"))
    assert r.exit_code == ExitCode.INPUT
    assert (
        f"input file {d / 'dangling.jsonl'} is a broken symbolic link (→ {tmp_path / 'nonexistent'})"
        in r.stderr
    )
    assert not (tmp_path / "third.duckdb").exists()


def test_a_convex_export_folder_is_read_for_its_log_tables_alone(
    tmp_path: Path, cli: Callable[..., Any]
) -> None:
    """`npx convex export`'s zip unpacked, as the zip's reject says to: every row of the app's own tables was a
    reject (`missing 'message'`) keeping the row, an e-mail address, in the rejects table."""
    d = tmp_path / "snapshot"
    row = {"_id": "k1", "_creationTime": T0 + 5.5, "level": "info", "message": "Dashboard opened",
           "trace_id": "trace_1", "user_id": "u1", "system_area": "browser", "timestamp": T0, "raw_args": []}  # fmt: skip
    tables = {
        "log_queue/documents.jsonl": [row],
        "users/documents.jsonl": [
            {"_id": f"u{i}", "_creationTime": T0, "email": f"u{i}@example.com"} for i in range(3)
        ],
        "users/generated_schema.jsonl": [{"_id": "normalfloat64", "email": "string"}],
        "_tables/documents.jsonl": [{"_id": "t1", "_creationTime": T0, "name": "users", "id": 1}],
    }
    for name, rows in tables.items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    (d / "README.md").write_text("This is a Convex snapshot export.\n")
    db = str(tmp_path / "db.duckdb")
    r = cli("ingest", str(d), "--db", db, "--json")
    assert r.exit_code == 0, r.stderr
    out = r.json()
    assert (out["stored"], out["rejected"], [f["path"] for f in out["files"]]) == (
        1, 0, [str(d / "log_queue" / "documents.jsonl")]
    )  # fmt: skip
    assert out["passed_over"] == []
    assert out["passed_over_tables"] == sorted(
        str(d / n)
        for n in (
            "README.md",
            "_tables/documents.jsonl",
            "users/documents.jsonl",
            "users/generated_schema.jsonl",
        )
    )
    assert "passed over 4 files of a Convex export that hold no logs: the tables users, _tables" in r.stderr
    # given by its path, a table is read
    r = cli("ingest", str(d / "users" / "documents.jsonl"), "--db", db, "-q")
    assert r.exit_code == 0 and duckdb.connect(db, read_only=True).execute(
        "SELECT count(*) FROM rejects"
    ).fetchone() == (3,)
    # an export without a log table says so
    (d / "log_queue" / "documents.jsonl").unlink()
    r = cli("ingest", str(d), "--db", str(tmp_path / "other.duckdb"))
    assert r.exit_code == ExitCode.INPUT
    assert "holds a Convex export without a log table (log_queue, recent_log_entries, debug_logs)" in r.stderr


def test_a_file_whose_name_is_not_utf8_is_ingested_under_its_name_with_the_odd_bytes_escaped(
    tmp_path: Path, cli: Callable[..., Any]
) -> None:
    """A Latin-1 name (`caf\\xe9.jsonl`, from an old tool or a Windows zip) failed the whole ingest after parsing
    ("internal error: UnicodeEncodeError … surrogates not allowed"): the name could not be stored."""
    d = tmp_path / "in"
    d.mkdir()
    name = os.fsdecode(b"caf\xe9.jsonl")
    try:
        (d / name).write_bytes(orjson.dumps(browser_event(T0, "x")) + b"\n")
        (d / os.fsdecode(b"old\xe9.log.1")).write_text("x\n")
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system holds UTF-8 names only")
    db = str(tmp_path / "db.duckdb")
    r = cli("ingest", str(d), "--db", db, "--json")
    assert r.exit_code == 0, r.stderr
    shown = str(d / "caf\\xe9.jsonl")
    assert [f["path"] for f in r.json()["files"]] == [shown]
    assert r.json()["passed_over"] == [str(d / "old\\xe9.log.1")]
    with duckdb.connect(db, read_only=True) as con:
        assert con.execute("SELECT DISTINCT source_file FROM log_queue").fetchall() == [(shown,)]
    again = cli("ingest", str(d / name), "--db", db, "--json")
    assert [f["status"] for f in again.json()["files"]] == ["already-ingested"]
    explained = cli("explain", f"{d / name}:1", "--db", db, "--format", "json")
    assert explained.exit_code == 0, explained.stderr
    assert explained.json()[0]["fate"] == "stored"


def test_a_database_given_as_input_is_refused_with_the_flag_meant(
    tmp_path: Path, cli: Callable[..., Any]
) -> None:
    # `logcorr ingest app.duckdb`: its pages were read as 282 lines "not JSON", exit 0
    db = tmp_path / "app.duckdb"
    assert cli("ingest", str(FIXTURES / "browser"), "--db", str(db)).exit_code == 0
    r = cli("ingest", str(db), "--db", str(tmp_path / "other.duckdb"))
    assert r.exit_code == 3
    assert f"{db} is a DuckDB database, not a log export" in r.stderr
    assert f"hint: give it as --db {db} (to add logs to it: logcorr ingest FILES --db {db})" in r.stderr
    assert not (tmp_path / "other.duckdb").exists()


def test_a_file_with_nothing_logcorr_reads_gets_a_hint(tmp_path: Path, cli: Callable[..., Any]) -> None:
    # an nginx access log or an app's own JSON lines said only "rejected 2 × not JSON", exit 0: nothing told the
    # user the file is not one of the exports logcorr reads
    (tmp_path / "access.log").write_text(
        '127.0.0.1 - - [30/Nov/2026:15:00:01 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8"\n'
        '10.0.0.2 - - [30/Nov/2026:15:00:02 +0000] "POST /api HTTP/1.1" 500 1 "-" "curl/8"\n'
    )
    (tmp_path / "pino.jsonl").write_text('{"time":"2026-11-30T15:00:00Z","level":"error","msg":"boom"}\n')
    good = tmp_path / "a.jsonl"
    good.write_bytes(orjson.dumps(browser_event(T0, "x")) + b"\n")
    paths = [str(tmp_path / "access.log"), str(tmp_path / "pino.jsonl"), str(good)]
    r = cli("ingest", *paths, "--db", str(tmp_path / "db.duckdb"))
    assert r.exit_code == 0, r.stderr
    hints = [line for line in r.stderr.splitlines() if line.startswith("hint: nothing in ")]
    assert len(hints) == 1 and f"{paths[0]}, {paths[1]} is an export logcorr reads" in hints[0]
    # the Convex CLI's text, read since it was written, is among the formats it names
    assert "`npx convex logs` text" in hints[0]
    assert str(good) not in hints[0]


def test_a_cut_off_gzip_or_an_archive_gets_its_reject_not_the_unreadable_hint(
    tmp_path: Path, cli: Callable[..., Any]
) -> None:
    # a Logpush .gz cut off before its first whole line, a zip and an xz file were each "rejected 1 × truncated gzip
    # file" / "a zip archive, unzip it …", then "hint: nothing in … is an export logcorr reads": the hint
    # contradicted the reject, which had said what the file is and what to do
    import lzma
    import zipfile

    line = orjson.dumps(browser_event(T0, "a line of a real export, cut off " + "x" * 2000)) + b"\n"
    whole = gzip.compress(line * 5)
    (tmp_path / "cut.log.gz").write_bytes(whole[: len(whole) // 3])
    with zipfile.ZipFile(tmp_path / "export.zip", "w") as z:
        z.writestr("log_queue/documents.jsonl", line)
    (tmp_path / "b.jsonl.xz").write_bytes(lzma.compress(line))
    names = ["cut.log.gz", "export.zip", "b.jsonl.xz"]
    for name in names:
        r = cli("ingest", str(tmp_path / name), "--db", str(tmp_path / "db.duckdb"))
        assert r.exit_code == 0, r.stderr
        assert "rejected 1 × " in r.stderr, r.stderr
        assert "hint: nothing in " not in r.stderr, r.stderr
    # a cut-off gzip of another tool's log still gets the hint: its whole lines say what it holds
    text = b'127.0.0.1 - - [30/Nov/2026:15:00:01 +0000] "GET / HTTP/1.1" 200 5\n' * 400
    packed = gzip.compress(text)
    (tmp_path / "access.log.gz").write_bytes(packed[: len(packed) // 2])
    r = cli("ingest", str(tmp_path / "access.log.gz"), "--db", str(tmp_path / "db.duckdb"))
    assert "truncated gzip file" in r.stderr and "hint: nothing in " in r.stderr, r.stderr


def test_a_file_of_records_logcorr_reads_each_refused_gets_no_unreadable_hint(
    tmp_path: Path, cli: Callable[..., Any]
) -> None:
    # Workers Logs events copied from the dashboard (no `timestamp`) were said to be "nothing logcorr reads"
    # under the reason that named what they lack
    copied = {
        "message": "x",
        "$workers": {"requestId": "9d23ea899b1ffde8"},
        "$metadata": {"type": "cf-worker"},
    }
    path = tmp_path / "copied.json"
    path.write_bytes(orjson.dumps(copied) + b"\n")
    r = cli("ingest", str(path), "--db", str(tmp_path / "db.duckdb"))
    assert r.exit_code == 0, r.stderr
    assert "copied from the dashboard's log view" in r.stderr
    assert (
        "save the query API's response or the dashboard's JSON export instead" in r.stderr
    )  # it was cut off
    assert "hint: nothing in " not in r.stderr


def test_a_parse_worker_that_died_is_said_so_not_reported_as_a_bug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write_jsonl: Callable[..., Path]
) -> None:
    # killed by the out-of-memory killer: "internal error: BrokenProcessPool … report it"
    from concurrent.futures.process import BrokenProcessPool

    def died(*_: Any, **__: Any) -> bool:
        raise BrokenProcessPool("A process in the process pool was terminated abruptly")

    src = write_jsonl("a.jsonl", [browser_event(T0, "x")])
    monkeypatch.setattr(ingest_mod, "plan", lambda path, size, jobs: [(0, size)])
    monkeypatch.setattr(ingest_mod, "_parse_sharded", died)
    db = tmp_path / "db.duckdb"
    with pytest.raises(InputError, match="a parse worker process ended abruptly") as e:
        ingest([str(src)], str(db), jobs=2)
    assert "--jobs 1" in (e.value.hint or "")


def test_a_log_that_grew_since_it_was_ingested_is_read_from_where_that_ingest_stopped(tmp_path: Path) -> None:
    # a shipper's file: ingested, then appended to and ingested again, three times; the same as one ingest of
    # it whole, with no line of it read twice (each old line was a `duplicate` ledger row per ingest before)
    lines = [
        orjson.dumps(
            {
                "message": f"step {i % 7}",
                "level": "log",
                "system": "browser",
                "trace_id": f"trace_{i // 3}",
                "context": {"timestamp": 1714910400000 + i * 250},
            }
        ).decode()
        for i in range(300)
    ]
    log = tmp_path / "app.log"
    db, whole = str(tmp_path / "grown.duckdb"), str(tmp_path / "whole.duckdb")
    results = []
    for upto in (100, 180, 300):
        log.write_text("".join(line + "\n" for line in lines[:upto]))
        results.append(ingest([str(log)], db))
    assert [r.files[0].stats.lines for r in results] == [100, 80, 120]
    assert "grown since run 2: read from line 181 (byte" in "; ".join(results[2].files[0].stats.notes)
    ingest([str(log)], whole)
    rows = "SELECT source_line, ts, message FROM {} ORDER BY source_line"
    con_g, con_w = duckdb.connect(db, read_only=True), duckdb.connect(whole, read_only=True)
    for table in ("log_queue", "drop_ledger"):
        assert con_g.execute(rows.format(table)).fetchall() == con_w.execute(rows.format(table)).fetchall()
    assert con_g.execute("SELECT count(*) FROM drop_ledger WHERE rule = 'duplicate'").fetchone() == (0,)
    con_g.close()
    con_w.close()
    again = ingest([str(log)], db)
    assert again.files[0].status == "already-ingested"
    # rewritten, not grown: read whole again, its old lines repeats of what is stored
    log.write_text("".join(line + "\n" for line in [lines[0].replace("step 0", "changed"), *lines[1:]]))
    changed = ingest([str(log)], db)
    assert changed.files[0].stats.lines == 300 and changed.stored + changed.dropped == 300
    assert changed.drops[("duplicate", "browser")] == 299


def test_stdin_that_was_ingested_before_reports_no_redactions_or_skips_of_its_own(
    tmp_path: Path, cli: Callable[..., Any]
) -> None:
    data = (FIXTURES / "browser" / "console-override-v2.jsonl").read_bytes()
    data += (FIXTURES / "backend" / "log-stream-v2.jsonl").read_bytes()  # a secret, and skipped lines
    db = str(tmp_path / "db.duckdb")
    first = cli("ingest", "-", "--db", db, input=data)
    assert (
        first.exit_code == 0
        and "redacted: " in first.stderr
        and " × verification event in <stdin>" in first.stderr
    )
    again = cli("ingest", "-", "--db", db, "--json", input=data)
    doc = orjson.loads(again.stdout)
    assert again.exit_code == 0 and doc["files"][0]["status"] == "already-ingested"
    assert doc["redactions"] == {} and doc["stored"] == 0
    text = cli("ingest", "-", "--db", db, input=data).stderr
    assert "already ingested" in text and "redacted: " not in text and " × verification event" not in text


def test_a_grown_file_whose_first_read_saw_only_blank_lines_is_read_whole(tmp_path: Path) -> None:
    # nothing decided that it is line-per-record: pretty-printed records appended later are read as such
    log = tmp_path / "tail.json"
    log.write_text("\n")
    db = str(tmp_path / "db.duckdb")
    ingest([str(log)], db)
    payload = {
        "message": "hello",
        "level": "log",
        "system": "browser",
        "context": {"timestamp": 1714910400000},
    }
    log.write_text("\n" + "".join(orjson.dumps({**payload, "message": f"hello {i}"}, option=orjson.OPT_INDENT_2)
                                  .decode() + "\n" for i in range(3)))  # fmt: skip
    result = ingest([str(log)], db)
    assert (result.stored, result.rejected) == (3, 0)


def test_explain_finds_a_line_of_a_grown_file_past_the_last_reads_own_lines(
    tmp_path: Path, cli: Callable[..., Any]
) -> None:
    line = '{"message": "m%d", "level": "log", "system": "browser", "context": {"timestamp": %d}}\n'
    log = tmp_path / "app.jsonl"
    log.write_text("".join(line % (i, 1714910400000 + i * 1000) for i in range(50)))
    db = str(tmp_path / "db.duckdb")
    ingest([str(log)], db)
    with log.open("a") as f:
        f.write(
            "".join(line % (i, 1714910400000 + i * 1000) for i in range(50, 60)) + "\n"
        )  # line 61 is blank
    ingest([str(log)], db)
    r = cli("explain", f"{log}:55", "--db", db, "-f", "jsonl")
    assert r.exit_code == 0 and '"m54"' in r.stdout
    r = cli("explain", f"{log}:61", "--db", db, "-f", "jsonl")
    assert r.exit_code == 0 and '"fate":"blank"' in r.stdout and '"run_id":2' in r.stdout
    r = cli("explain", f"{log}:62", "--db", db)
    assert r.exit_code == 1 and "has 61 lines (as run 2 read it); there is no line 62" in r.stderr


def test_a_file_rejected_for_an_overlong_record_names_the_flag_not_an_unknown_export(
    tmp_path: Path, cli: Callable[..., Any]
) -> None:
    # a 150 MB Workers Logs query response on one line: "rejected 1 × line longer than the 8388608-byte limit",
    # then "hint: nothing in … is an export logcorr reads", and no word of --max-line-mb
    big = tmp_path / "response.json"
    big.write_bytes(
        b'{"success":true,"result":{"events":{"events":[' + b'{"a":1},' * 200_000 + b'{"a":1}]}}}\n'
    )
    r = cli("ingest", str(big), "--db", str(tmp_path / "db.duckdb"), "--max-line-mb", "1")
    assert r.exit_code == 0, r.stderr
    assert "rejected 1 × line longer than the 1048576-byte limit" in r.stderr
    assert "hint: nothing in" not in r.stderr
    assert f"hint: records in {big} were rejected as longer than --max-line-mb" in r.stderr.replace("\n", " ")
    # in a text log the long line would be no JSON either: the file is no export, the flag is not the answer
    text = tmp_path / "app.txt"
    text.write_bytes(b"12:00 starting\n" + b"x" * 1_200_000 + b"\n12:01 done\n")
    r = cli("ingest", str(text), "--db", str(tmp_path / "db2.duckdb"), "--max-line-mb", "1")
    assert "hint: nothing in" in r.stderr and "--max-line-mb reads" not in r.stderr


def test_a_grown_utf16_file_is_read_whole_again_not_from_its_old_end(tmp_path: Path) -> None:
    # a UTF-16 file's bytes are not UTF-8 lines: read from where an earlier ingest stopped, they were garbage
    lines = [orjson.dumps(browser_event(T0 + i * 1000, f"m{i}")).decode() for i in range(6)]
    log = tmp_path / "ps.log"
    db = str(tmp_path / "db.duckdb")
    log.write_bytes(("\ufeff" + "".join(x + "\n" for x in lines[:3])).encode("utf-16-be"))
    assert ingest([str(log)], db).stored == 3
    log.write_bytes(("\ufeff" + "".join(x + "\n" for x in lines)).encode("utf-16-be"))
    again = ingest([str(log)], db)
    assert again.rejected == 0 and again.stored == 3 and again.dropped == 3  # the first three: duplicates


def test_a_file_names_control_characters_are_visible_in_the_ingest_summary(
    tmp_path: Path, write_jsonl: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    """A file named `b\\x1b[2Jx.jsonl` went raw into the summary's table and the note naming the input that had its
    bytes first: the terminal acted on the escape (cleared the screen)."""
    path = write_jsonl("b\x1b[2Jx.jsonl", [browser_event(T0 + i, f"m{i}") for i in range(3)])
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(path.read_bytes())
    db = str(tmp_path / "db.duckdb")
    first = cli("ingest", str(path), "--db", db)
    # (the table folds a long name over lines: its escape is looked for, written visible)
    assert first.exit_code == 0 and "\x1b" not in first.stderr and "\\x1b" in first.stderr
    again = cli("ingest", str(copy), "--db", db)
    said = " ".join(again.stderr.split())
    assert "\x1b" not in said and f"run 1 read as {tmp_path}/b\\x1b[2Jx.jsonl" in said, said
