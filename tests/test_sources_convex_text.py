"""`npx convex logs` text (without --jsonl): framing of records over several lines, the locale's time read in a
zone, the day/month order decided per file, events as the --jsonl adapter gives them, and a request followed
from it into the browser and the Worker."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pytest

from logcorr.model import Event, Metric, RecordError
from logcorr.pipeline import shard
from logcorr.pipeline.ingest import ingest
from logcorr.sources import convex_text
from logcorr.sources.convex_text import LocalZone, TextRecord
from logcorr.sources.outcomes import CONVEX_TEXT, RECORD, REJECT, SKIP, FileStats
from logcorr.sources.reader import iter_records
from tests.conftest import earlier_rejects

DATA = Path(__file__).parent / "data" / "convex-text"
TRACE = "trace_1767550665810_q7m2x9k4p"
UTC = LocalZone("UTC")


def read(text: str | bytes, zone: LocalZone = UTC, **kw: Any) -> tuple[FileStats, list[tuple[int, int, Any]]]:
    stats = FileStats()
    data = text.encode() if isinstance(text, str) else text
    return stats, list(iter_records(io.BytesIO(data), stats, local_zone=zone, **kw))  # type: ignore[arg-type]


def events_of(text: str, zone: LocalZone = UTC) -> tuple[list[Event], list[Metric], FileStats]:
    stats, out = read(text, zone)
    events: list[Event] = []
    metrics: list[Metric] = []
    for kind, _, payload in out:
        if kind == RECORD:
            convex_text.parse(payload, events, metrics)
    return events, metrics, stats


def utc_ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=ZoneInfo("UTC")).timestamp() * 1000)  # type: ignore[misc]


# --------------------------------------------------------------------------- framing


def test_a_line_that_starts_no_record_continues_the_one_before_and_every_line_is_counted() -> None:
    stats, out = read((DATA / "backend.log").read_text())
    assert stats.mode == "convex-text"
    records = [(line, p) for k, line, p in out if k == RECORD]
    assert [line for line, _ in records] == [1, 2, 7, 8, 9, 12, 15, 16, 17, 18]
    assert all(isinstance(p, TextRecord) for _, p in records)
    # the object printed over 5 lines is one record; the blank line after the failed run is counted blank
    assert records[1][1].lines == 5 and records[1][1].body.endswith("qty: 1 } ]\n}")
    assert stats.lines == 18 and stats.blank == 1
    assert sum(p.lines for _, p in records) + stats.blank == stats.lines
    assert not [k for k, _, _ in out if k != RECORD]


def test_a_line_before_any_record_is_rejected_and_the_cli_s_own_lines_are_skipped() -> None:
    text = (
        "Watching logs for production deployment tremendous-otter-123...\n"
        "1/4/2026, 1:17:46 PM [CONVEX Q(a:b)] [LOG] 'x'\n"
        "[CONVEX Q(a:b)] Could not parse console.log\n"
        "  stray continuation\n"
    )
    stats, out = read(text)
    assert stats.mode == "convex-text"
    kinds = [(k, line) for k, line, _ in out]
    assert kinds == [(SKIP, 1), (RECORD, 2), (SKIP, 3), (REJECT, 4)]
    assert out[3][2][0] == convex_text.NOT_A_LINE


def test_a_blank_line_inside_a_message_is_kept_and_trailing_ones_are_blank() -> None:
    text = "1/4/2026, 1:17:46 PM [CONVEX Q(a:b)] [LOG] 'a'\n\nsecond paragraph\n\n\n"
    (ev,), _, stats = events_of(text)
    assert ev.message == "'a'\n\nsecond paragraph"
    assert stats.lines == 5 and stats.blank == 2


def test_colours_and_crlf_are_passed_over() -> None:
    text = "\x1b[36m1/4/2026, 1:17:46 PM [CONVEX Q(a:b)] [INFO]\x1b[39m 'hello'\r\n"
    (ev,), _, _ = events_of(text)
    assert (ev.level, ev.message) == ("info", "hello")


def test_a_convex_text_file_is_read_whole_never_cut_into_shards(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(shard, "MIN_SPLIT_BYTES", 1)
    path = tmp_path / "backend.log"
    path.write_bytes((DATA / "backend.log").read_bytes() * 200)
    assert shard.plan(str(path), path.stat().st_size, 2) is None


# --------------------------------------------------------------------------- events


def test_levels_quotes_truncation_and_the_function_are_read_as_the_jsonl_adapter_reads_them() -> None:
    text = (
        "1/4/2026, 1:17:46 PM [CONVEX M(messages:send)] [WARN] 'slow write'\n"
        "1/4/2026, 1:17:47 PM [CONVEX H(POST /hook)] [DEBUG] 'big' (truncated due to length)\n"
    )
    (warn, debug), metrics, _ = events_of(text)
    assert (warn.system, warn.system_label, warn.level, warn.message) == (
        "backend",
        "convex",
        "warn",
        "slow write",
    )
    assert warn.ts_ms == utc_ms(2026, 1, 4, 13, 17, 46)
    assert warn.context == {
        "function": "messages:send",
        "function_type": "mutation",
        "local_time": "1/4/2026, 1:17:46 PM",
    }
    assert (debug.level, debug.message, debug.context["function_type"]) == ("debug", "big", "http_action")
    assert debug.context["is_truncated"] is True
    assert metrics == []


def test_a_line_without_a_level_is_the_run_s_error_with_its_stack_apart() -> None:
    text = (
        "11/22/2025, 9:53:50 PM [CONVEX Q(projects:getForSystem)] Uncaught Error: Unauthorized: Invalid system key\n"
        "    at handler (../convex/projects.ts:550:20)\n"
    )
    (ev,), (m,), _ = events_of(text)
    assert ev.level == "error"
    assert (
        ev.message == "query projects:getForSystem failure: Uncaught Error: Unauthorized: Invalid system key"
    )
    assert ev.stack == "    at handler (../convex/projects.ts:550:20)"
    assert (m.topic, m.data) == (
        "function_execution",
        {"type": "query", "path": "projects:getForSystem", "status": "failure"},
    )


def test_an_error_text_that_begins_on_the_next_line_is_read() -> None:
    text = "10/6/2025, 2:47:24 PM [CONVEX Q(organizations:getById)]\nUncaught Error: Not authenticated\n  at handler (../convex/organizations.ts:93:22)\n"
    (ev,), _, stats = events_of(text)
    assert ev.message == "query organizations:getById failure: Uncaught Error: Not authenticated"
    assert ev.stack == "  at handler (../convex/organizations.ts:93:22)" and stats.lines == 3


def test_a_success_line_is_an_info_event_and_a_metric_as_a_jsonl_completion() -> None:
    (ev,), (m,), _ = events_of(
        "2/4/2026, 12:39:06 PM [CONVEX A(openclawApi:getInstance)] Function executed in 434 ms\n"
    )
    assert (ev.level, ev.message) == ("info", "action openclawApi:getInstance success in 434 ms")
    assert m.data == {
        "type": "action",
        "path": "openclawApi:getInstance",
        "status": "success",
        "execution_time_ms": 434,
    }


def test_the_trace_id_is_found_in_the_message_text() -> None:
    events, _, _ = events_of((DATA / "backend.log").read_text())
    assert [e.trace_id for e in events if e.trace_id] == [TRACE] * 3
    assert {e.trace_source for e in events if e.trace_id} == {"message"}


def test_records_of_one_second_keep_file_order_and_identical_ones_stay_two() -> None:
    events, _, _ = events_of((DATA / "backend.log").read_text())
    assert [e.ts_ms for e in events] == sorted(e.ts_ms for e in events)
    polls = [e for e in events if e.message == "polling"]
    second = utc_ms(2026, 1, 4, 13, 17, 50)
    assert [e.ts_ms for e in polls] == [second, second + 1]


def test_the_adapter_refuses_a_json_record() -> None:
    with pytest.raises(RecordError):
        convex_text.parse({"a": 1}, [], [])


# --------------------------------------------------------------------------- times


@pytest.mark.parametrize(
    ("line_time", "expected"),
    [
        ("1/4/2026, 1:17:46 PM", (2026, 1, 4, 13, 17, 46)),  # en-US
        ("1/4/2026, 1:17:46\u202fPM", (2026, 1, 4, 13, 17, 46)),  # Node 20+: a narrow no-break space
        ("1/4/2026, 12:05:00 AM", (2026, 1, 4, 0, 5, 0)),
        ("04/01/2026, 13:17:46", (2026, 1, 4, 13, 17, 46)),  # en-GB
        ("04/01/2026 13:17:46", (2026, 1, 4, 13, 17, 46)),  # fr
        ("4.1.2026, 13:17:46", (2026, 1, 4, 13, 17, 46)),  # de
        ("2026-01-04 13:17:46", (2026, 1, 4, 13, 17, 46)),  # sv-SE
        ("2026/1/4 13:17:46", (2026, 1, 4, 13, 17, 46)),  # ja, zh
        ("2026-01-04, 1:17:46 p.m.", (2026, 1, 4, 13, 17, 46)),  # en-CA
        ("12/08/2025, 11:58:25 am", (2025, 8, 12, 11, 58, 25)),  # en-AU (the sample's ISO time says August)
    ],
)
def test_the_locales_times_are_read(line_time: str, expected: tuple[int, ...]) -> None:
    (ev,), _, _ = events_of(f"{line_time} [CONVEX Q(a:b)] [LOG] 'x'\n")
    assert ev.ts_ms == utc_ms(*expected)


def test_a_day_over_12_decides_day_first_for_the_records_held_before_it() -> None:
    text = "3/4/2026, 09:00:00 [CONVEX Q(a:b)] [LOG] 'one'\n13/4/2026, 09:00:00 [CONVEX Q(a:b)] [LOG] 'two'\n"
    (one, two), _, stats = events_of(text)
    assert (one.ts_ms, two.ts_ms) == (utc_ms(2026, 4, 3, 9, 0, 0), utc_ms(2026, 4, 13, 9, 0, 0))
    assert "dates read day first, as line 2 tells ('13/4/2026, 09:00:00')" in stats.notes[0]


def test_a_second_number_over_12_decides_month_first_and_a_contradicting_date_is_rejected() -> None:
    text = (
        "3/4/2026, 9:00:00 am [CONVEX Q(a:b)] [LOG] 'one'\n"
        "3/14/2026, 9:00:00 am [CONVEX Q(a:b)] [LOG] 'two'\n"
        "15/3/2026, 9:00:00 am [CONVEX Q(a:b)] [LOG] 'three'\n"
    )
    _, out = read(text)
    one, two, three = (p for _, _, p in out)
    assert (one.ts_ms, two.ts_ms) == (utc_ms(2026, 3, 4, 9, 0, 0), utc_ms(2026, 3, 14, 9, 0, 0))
    with pytest.raises(RecordError, match=r"impossible date.*read month first"):
        convex_text.parse(three, [], [])


@pytest.mark.parametrize(
    ("line_time", "expected", "said"),
    [
        ("1/4/2026, 1:17:46 PM", (2026, 1, 4, 13, 17, 46), "month first, as en-US"),
        ("1/4/2026, 1:17:46 pm", (2026, 4, 1, 13, 17, 46), "day first"),  # en-AU, en-IN
        ("1/4/2026, 13:17:46", (2026, 4, 1, 13, 17, 46), "day first"),  # en-GB, fr, es
        ("01/04/2026, 1:17:46 PM", (2026, 4, 1, 13, 17, 46), "day first"),  # en-US never pads
        ("1.4.2026, 13:17:46", (2026, 4, 1, 13, 17, 46), "day first"),
    ],
)
def test_a_file_that_never_tells_the_order_takes_its_locale_s_and_says_so(
    line_time: str, expected: tuple[int, ...], said: str
) -> None:
    (ev,), _, stats = events_of(f"{line_time} [CONVEX Q(a:b)] [LOG] 'x'\n")
    assert ev.ts_ms == utc_ms(*expected)
    (note,) = stats.notes
    assert "no date told day from month" in note and said in note


def test_records_held_undecided_are_given_in_file_order_once_too_many(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(convex_text, "MAX_UNDECIDED", 2)
    text = "".join(f"1/4/2026, 1:17:4{i} PM [CONVEX Q(a:b)] [LOG] 'n{i}'\n" for i in range(4))
    events, _, stats = events_of(text)
    assert [e.message for e in events] == ["n0", "n1", "n2", "n3"]
    assert "taken after 2 records" in stats.notes[0]


def test_times_are_read_in_the_zone_given() -> None:
    (ev,), _, stats = events_of(
        "1/4/2026, 1:17:46 PM [CONVEX Q(a:b)] [LOG] 'x'\n", LocalZone("America/New_York")
    )
    assert ev.ts_ms == 1767550666000  # 18:17:46 UTC
    assert "times read in America/New_York" in stats.notes[0]


def test_the_machine_s_zone_is_the_default_and_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    monkeypatch.delenv(convex_text.ENV_ZONE, raising=False)
    time.tzset()
    try:
        (ev,), _, stats = events_of(
            "2026-01-04 13:17:46 [CONVEX Q(a:b)] [LOG] 'x'\n", convex_text.zone_from_env(None)
        )
    finally:
        monkeypatch.undo()
        time.tzset()
    assert ev.ts_ms == utc_ms(2026, 1, 4, 4, 17, 46)
    assert "this machine's zone, Asia/Tokyo" in stats.notes[0]


def test_the_zone_can_be_set_by_the_environment_and_an_unknown_one_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cli: Callable[..., Any]
) -> None:
    monkeypatch.setenv(convex_text.ENV_ZONE, "Europe/Berlin")
    assert convex_text.zone_from_env(None).label == "Europe/Berlin"
    result = cli(
        "ingest", str(DATA / "backend.log"), "--db", str(tmp_path / "x.duckdb"), "--local-tz", "Mars/Olympus"
    )
    assert result.exit_code == 2 and "Mars/Olympus" in result.stderr


@pytest.mark.parametrize(
    ("given", "hint"),
    [
        ("America/New_Yrok", "hint: did you mean America/New_York?"),
        ("america/new_york", "hint: zone names are case-sensitive: did you mean America/New_York?"),
        ("+05:00", "a fixed UTC+5 is Etc/GMT-5"),
        ("UTC-3", "a fixed UTC-3 is Etc/GMT+3"),
        ("GMT+5:30", "not an offset"),
        ("Mars/Olympus", "hint: give an IANA zone name"),
        # an offset or an abbreviation was "did you mean" the nearest short name: GMT+0 for GMT+5, EST for CEST
        ("GMT+5", "a fixed UTC+5 is Etc/GMT-5"),
        ("GMT-3", "a fixed UTC-3 is Etc/GMT+3"),
        ("CEST", "hint: give an IANA zone name"),
        # Etc/GMT+12 is the last zone west: no Etc/GMT+13
        ("UTC-13", "not an offset\n"),
    ],
)
def test_an_unknown_zone_gets_a_hint_that_names_the_zone_meant(
    given: str, hint: str, tmp_path: Path, cli: Callable[..., Any]
) -> None:
    # a misspelt zone was answered with "e.g. Europe/Berlin or UTC" alone; an offset gave no hint at all that
    # zone names are wanted, nor which one is a fixed offset
    result = cli("ingest", str(DATA / "backend.log"), "--db", str(tmp_path / "x.duckdb"), "--local-tz", given)
    assert result.exit_code == 2
    assert hint.rstrip("\n") in " ".join(result.stderr.split())
    if hint.endswith("\n"):  # the hint ends there
        assert "Etc/GMT" not in result.stderr


def test_a_file_already_ingested_in_another_zone_says_the_zone_now_given_is_not_applied(
    tmp_path: Path, cli: Callable[..., Any]
) -> None:
    # a first ingest without --local-tz (this machine's zone), then the right zone: "already ingested, nothing
    # changed" read as if the zone now given were the file's, and its events kept the first zone's times
    db, log = str(tmp_path / "x.duckdb"), str(DATA / "backend.log")
    assert cli("ingest", log, "--db", db, "--local-tz", "UTC").exit_code == 0
    again = cli("ingest", log, "--db", db, "--local-tz", "America/New_York", "--json")
    assert again.exit_code == 0
    (f,) = json.loads(again.stdout)["files"]
    assert f["status"] == "already-ingested"
    assert f["notes"] == [
        "its times were read in UTC by run 1, not in America/New_York as now: a file already ingested is not read "
        "again; to read it in America/New_York, ingest it into a fresh --db"
    ]
    # the same zone under another name (a link) is no other zone
    same = cli("ingest", log, "--db", db, "--local-tz", "Etc/UTC", "--json")
    assert json.loads(same.stdout)["files"][0]["notes"] == []


def test_inputs_found_already_ingested_look_up_the_zones_earlier_ingests_read_text_in_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each input found already ingested ran its own query for the zone an earlier ingest read it in: a
    directory of 2,000 Logpush batches ingested again took twice as long as ingesting them."""
    import logcorr.pipeline.ingest as ingest_mod

    d = tmp_path / "in"
    d.mkdir()
    (d / "backend.log").write_bytes((DATA / "backend.log").read_bytes())
    for i in range(5):
        (d / f"b{i}.jsonl").write_text(
            f'{{"trace_id": "t{i}", "message": "m", "level": "log", "context": {{"timestamp": 1714910400000}}}}\n'
        )
    db = str(tmp_path / "x.duckdb")
    ingest([str(d)], db, local_tz="UTC")
    lookups: list[str] = []
    real = ingest_mod.connect

    class Counting:
        def __init__(self, con: Any) -> None:
            self._con = con

        def execute(self, sql: str, *args: Any) -> Any:
            if "mode = 'convex-text'" in sql:
                lookups.append(sql)
            return self._con.execute(sql, *args)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._con, name)

    monkeypatch.setattr(ingest_mod, "connect", lambda *a, **k: Counting(real(*a, **k)))
    result = ingest([str(d)], db, local_tz="America/New_York")
    assert [f.status for f in result.files] == ["already-ingested"] * 6
    (text,) = [f for f in result.files if f.path.endswith("backend.log")]
    assert text.earlier and "its times were read in UTC by run 1" in text.earlier[0]
    assert len(lookups) == 1


# --------------------------------------------------------------------------- detection


@pytest.mark.parametrize(
    "text",
    [
        '127.0.0.1 - - [04/Jan/2026:13:17:46 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/8.5.0"\n',
        "2026-01-04 13:17:46 INFO app started\n2026-01-04 13:17:47 WARN slow\n",
        "1/4/2026, 1:17:46 PM [worker] listening on :8787\n",
    ],
    ids=["nginx", "app-log", "other-bracket"],
)
def test_other_text_files_are_not_claimed(text: str) -> None:
    stats, out = read(text)
    assert stats.mode == "scan"
    assert {p[0] for k, _, p in out if k == REJECT} == {"not JSON"}


def test_convex_text_among_json_lines_keeps_its_hint() -> None:
    stats, out = read(b"{\"a\":1}\n1/4/2026, 1:17:46 PM [CONVEX Q(a:b)] [LOG] 'x'\n")
    assert stats.mode == "ndjson"
    assert [p[0] for k, _, p in out if k == REJECT] == [CONVEX_TEXT]


# --------------------------------------------------------------------------- end to end


@pytest.fixture
def ingested(tmp_path: Path) -> Iterator[tuple[Any, str]]:
    db = str(tmp_path / "ct.duckdb")
    paths = [str(DATA / n) for n in ("backend.log", "browser.jsonl", "worker.jsonl")]
    yield ingest(paths, db, local_tz="America/New_York"), db


def test_a_convex_text_file_ingests_with_every_line_accounted_for(ingested: tuple[Any, str]) -> None:
    result, db = ingested
    backend = result.files[0]
    assert dict(backend.formats) == {"convex-text": 10}
    assert backend.rejected == 0 and backend.balanced
    assert (backend.records, backend.stored, backend.metrics) == (10, 10, 3)
    with duckdb.connect(db, read_only=True) as con:
        rows = con.execute(
            "SELECT source_line, level, source_format FROM log_queue WHERE system = 'backend' ORDER BY ts, event_id"
        ).fetchall()
        assert [r[0] for r in rows] == [1, 2, 7, 8, 9, 12, 15, 16, 17, 18]
        assert {r[2] for r in rows} == {"convex-text"}
        (mode, lines) = con.execute(
            "SELECT mode, lines FROM ingest_files WHERE path LIKE '%backend.log'"
        ).fetchone()  # type: ignore[misc]
        assert (mode, lines) == ("convex-text", 18)


def test_trace_shows_the_request_across_browser_worker_and_the_convex_text_backend(
    ingested: tuple[Any, str], cli: Callable[..., Any]
) -> None:
    _, db = ingested
    result = cli("trace", TRACE, "--db", db, "--format", "json")
    assert result.exit_code == 0, result.stderr
    events = result.json()["events"]
    assert {e["system"] for e in events} == {"browser", "worker", "backend"}
    backend = [e for e in events if e["system"] == "backend"]
    assert [e["level"] for e in backend] == ["info", "warn", "error"]
    assert backend[0]["ts"].startswith("2026-01-04T18:17:46")  # 1:17:46 PM in New York


def test_json_lines_joined_after_the_text_are_read_as_json_records_not_as_the_last_messages_lines(
    tmp_path: Path,
) -> None:
    # `cat backend.log browser.jsonl`: the JSON lines were taken as lines of the last text record, their records
    # lost without a reject and a successful run's `Function executed in 7 ms` made a failed run's error
    from logcorr.sources import convex_text_lines, outcomes, reader

    text = (DATA / "backend.log").read_bytes()
    js = (DATA / "browser.jsonl").read_bytes()
    stats = outcomes.FileStats()
    out = list(reader.iter_records(io.BytesIO(text + js), stats))
    records = [p for k, _, p in out if k == outcomes.RECORD]
    assert [r for r in records if isinstance(r, dict)] == [json.loads(line) for line in js.splitlines()]
    last = [r for r in records if not isinstance(r, dict)][-1]
    assert last.body == "Function executed in 7 ms" and stats.lines == text.count(b"\n") + 2
    assert convex_text_lines.JSON_AMONG_TEXT_NOTE in stats.notes


@pytest.mark.parametrize("chunk", [64, 1 << 20])
def test_a_line_over_the_limit_is_read_the_same_wherever_the_chunks_end(
    monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    # within a chunk (a limit under a megabyte: --max-line-mb 0.5) such a line was held, and a record that began
    # with it stored whole; run past a chunk's end it was rejected. And the too-long record's excerpt is its
    # first line either way
    from logcorr.sources import bytestream

    monkeypatch.setattr(bytestream, "CHUNK", chunk)
    head = b"8/5/2025, 9:00:01 AM [CONVEX Q(messages:list)] [LOG] '"
    data = head + b"x" * 1500 + b"'\n" + head + b"a'\n  more\n  " + b"y" * 1500 + b"\n" + head + b"b'\n"
    stats = FileStats()
    out = list(iter_records(io.BytesIO(data), stats, max_record_bytes=1000, local_zone=LocalZone("UTC")))
    assert [(k, n) for k, n, _ in out] == [(REJECT, 1), (RECORD, 2), (RECORD, 5)] and stats.lines == 5
    assert out[0][2][0] == "line longer than the 1000-byte limit"  # type: ignore[index]
    too_long = out[1][2]
    assert (
        isinstance(too_long, TextRecord)
        and too_long.problem == "record longer than the 1000-byte limit (3 lines from here)"
    )
    assert too_long.excerpt() == (head + b"a'").decode()


def test_json_lines_among_the_text_are_read_under_format_convex_text_too(tmp_path: Path) -> None:
    """`ingest mix.log --format convex-text` rejected the JSON lines ("this format reads only such files") while
    the file's note said they were read as JSON records."""
    from logcorr.pipeline.ingest import ingest

    mix = tmp_path / "mix.log"
    mix.write_bytes((DATA / "backend.log").read_bytes() + (DATA / "browser.jsonl").read_bytes())
    forced = ingest([str(mix)], str(tmp_path / "f.duckdb"), format_name="convex-text", local_tz="UTC")
    mix2 = tmp_path / "mix2.log"
    mix2.write_bytes(mix.read_bytes())
    detected = ingest([str(mix2)], str(tmp_path / "d.duckdb"), local_tz="UTC")
    assert forced.rejected == detected.rejected == 0
    assert forced.stored == detected.stored and forced.files[0].formats == detected.files[0].formats
    assert set(forced.files[0].formats) == {"convex-text", "browser-v2"}


def test_a_named_zone_is_found_without_the_system_s_zone_database() -> None:
    """Windows, Alpine and slim containers have no /usr/share/zoneinfo: `--local-tz Europe/Berlin` was an
    "unknown time zone" there. The `tzdata` package, a dependency, holds the zones."""
    import zoneinfo

    zoneinfo.reset_tzpath(to=[])
    zoneinfo.ZoneInfo.clear_cache()
    try:
        zone = LocalZone("Europe/Berlin")
        assert zone.epoch_s(2026, 1, 4, 13, 17, 46) == 1767529066.0  # 12:17:46Z, CET
    finally:
        zoneinfo.reset_tzpath()
        zoneinfo.ZoneInfo.clear_cache()


# --------------------------------------------------------------------------- a file that grows


def _rows(db: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(db, read_only=True) as con:
        return con.execute(
            "SELECT source_line, epoch_ms(ts), message, run_id FROM log_queue ORDER BY source_line, run_id"
        ).fetchall()


def _duplicates(db: str) -> int:
    with duckdb.connect(db, read_only=True) as con:
        return int(con.execute("SELECT count(*) FROM drop_ledger WHERE rule = 'duplicate'").fetchone()[0])


def test_grown_text_whose_new_lines_contradict_the_order_assumed_is_read_on_in_theirs_and_says_what_was_misdated(
    tmp_path: Path,
) -> None:
    # the lines it gained told month first where the first ingest had assumed day first: the file was read whole
    # again, its 3 old lines stored again at their new dates beside the old rows (8 rows for 5 lines), nothing said
    log, db = tmp_path / "backend.log", str(tmp_path / "x.duckdb")
    log.write_text(
        "03/04/2026, 10:00:00 [CONVEX Q(messages:list)] [LOG] 'first'\n"
        "03/04/2026, 10:00:05 [CONVEX M(messages:send)] [INFO] 'second'\n"
        "05/05/2026, 11:00:00 [CONVEX Q(messages:list)] [LOG] 'third'\n"
    )
    first = ingest([str(log)], db, local_tz="UTC")
    assert "read day first" in first.files[0].stats.notes[0]
    with log.open("a") as f:
        f.write("04/13/2026, 09:00:00 [CONVEX Q(messages:list)] [LOG] 'fourth'\n")
        f.write("04/03/2026, 09:00:00 [CONVEX Q(messages:list)] [LOG] 'fifth'\n")
    grown = ingest([str(log)], db, local_tz="UTC")
    (f,) = grown.files
    assert (f.stats.lines, f.records, f.stored, f.rejected) == (2, 2, 2, 0)
    assert _rows(db) == [
        (1, utc_ms(2026, 4, 3, 10, 0, 0), "first", 1),  # as run 1 stored them: day first
        (2, utc_ms(2026, 4, 3, 10, 0, 5), "second", 1),
        (3, utc_ms(2026, 5, 5, 11, 0, 0), "third", 1),
        (4, utc_ms(2026, 4, 13, 9, 0, 0), "fourth", 2),  # month first, as line 4 tells
        (5, utc_ms(2026, 4, 3, 9, 0, 0), "fifth", 2),
    ]
    assert f.stats.swapped == 2  # lines 1 and 2: line 3's 05/05 reads alike either way
    notes = "\n".join(f.stats.notes)
    assert "grown since run 1: read from line 4" in notes
    assert (
        "dates read month first, as line 4 tells ('04/13/2026, 09:00:00'); run 1 read the 3 lines before line 4 day "
        "first, assumed (none of them told day from month): 2 records it read have their day and month swapped "
        "(line 1, '03/04/2026, 10:00:00', is 2026-03-04, stored as 2026-04-03)"
    ) in notes
    assert f"logcorr ingest {log} --db NEW.duckdb --local-tz UTC (with the other inputs of {db}" in notes
    # the command the note gives stores the whole file right
    fresh = str(tmp_path / "new.duckdb")
    ingest([str(log)], fresh, local_tz="UTC")
    assert [r[:3] for r in _rows(fresh)][:2] == [
        (1, utc_ms(2026, 3, 4, 10, 0, 0), "first"),
        (2, utc_ms(2026, 3, 4, 10, 0, 5), "second"),
    ]


def test_grown_text_whose_new_lines_tell_nothing_keeps_the_order_and_zone_of_the_first_read(
    tmp_path: Path,
) -> None:
    # the new lines alone (03/04) are ambiguous: read as the file's earlier lines told (month first, line 2), in the
    # zone given then (not this machine's, the default now). They were read whole again in the zone of the moment:
    # the old lines came again an hour off and were stored twice
    log, db = tmp_path / "backend.log", str(tmp_path / "x.duckdb")
    log.write_text(
        "03/04/2026, 10:00:00 [CONVEX Q(a:b)] [LOG] 'one'\n04/13/2026, 10:00:00 [CONVEX Q(a:b)] [LOG] 'two'\n"
    )
    ingest([str(log)], db, local_tz="Europe/Berlin")
    with log.open("a") as f:
        f.write("03/05/2026, 10:00:00 [CONVEX Q(a:b)] [LOG] 'three'\n")
    grown = ingest([str(log)], db, local_tz="UTC")
    (f,) = grown.files
    assert (f.records, f.stored, f.dropped) == (1, 1, 0)
    assert _rows(db)[2] == (3, utc_ms(2026, 3, 5, 9, 0, 0), "three", 2)  # 10:00 in Berlin, 5 March
    assert _duplicates(db) == 0 and len(_rows(db)) == 3
    notes = "\n".join(f.stats.notes)
    assert "dates read month first, as line 2 tells" in notes and "swapped" not in notes
    assert (
        "its new lines are read in Europe/Berlin, the zone run 1 read its earlier lines in, not in UTC"
        in notes
    )


def test_grown_text_that_continues_its_last_record_and_its_second_accounts_for_every_line(
    tmp_path: Path,
) -> None:
    # the stack trace written after the first ingest stored the error: its lines are no record of their own; a
    # new record in the last second read gets the next ms (two identical lines of one second are two events)
    log, db = tmp_path / "backend.log", str(tmp_path / "x.duckdb")
    log.write_text(
        "1/4/2026, 1:17:46 PM [CONVEX Q(a:b)] [LOG] 'polling'\n"
        "1/4/2026, 1:17:47 PM [CONVEX M(a:c)] Uncaught Error: boom\n"
    )
    ingest([str(log)], db, local_tz="UTC")
    with log.open("a") as f:
        f.write("\n    at handler (../convex/a.ts:3:9)\n\n")
        f.write("1/4/2026, 1:17:47 PM [CONVEX Q(a:b)] [LOG] 'polling'\n\n")
    grown = ingest([str(log)], db, local_tz="UTC")
    (f,) = grown.files
    assert (f.stats.lines, f.stats.blank, f.records, f.stored, f.rejected) == (5, 2, 1, 1, 1)
    assert _rows(db)[2] == (6, utc_ms(2026, 1, 4, 13, 17, 47) + 1, "polling", 2)
    with duckdb.connect(db, read_only=True) as con:
        ((line, reason, excerpt),) = con.execute(
            "SELECT source_line, reason, excerpt FROM rejects"
        ).fetchall()
    assert line == 3 and excerpt == "at handler (../convex/a.ts:3:9)"
    assert reason.startswith(
        "continuation of a record read before it was written (line 2's, 2 lines more, written"
    )
    # `explain` of the frame's line gives that reject
    from logcorr.rules.ledger import explain

    found = explain(db, f"{log}:4")
    assert [(r["source"], r["fate"]) for r in found.rows] == [(f"{log}:3", "rejected")]


def test_strict_over_grown_text_names_the_line_an_earlier_read_of_it_rejected_however_its_note_is_worded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # read, grown (its line 2 a stack frame of the record run 1 read: rejected), grown: the runs that read a grown
    # file's earlier lines are in `ingest_files.continues_run`; `--strict` read them back from the note's words,
    # and a note worded otherwise let the rejected line 2 pass
    from logcorr.pipeline import ingest as ingest_mod

    monkeypatch.setattr(ingest_mod, "_GROWN_NOTE", "more since run {run}: lines {line:,} on")
    log, db = tmp_path / "backend.log", str(tmp_path / "x.duckdb")
    log.write_text("1/4/2026, 1:17:47 PM [CONVEX M(a:c)] Uncaught Error: boom\n")
    ingest([str(log)], db, local_tz="UTC")
    for more, strict in (
        (
            "    at handler (../convex/a.ts:3:9)\n1/4/2026, 1:17:48 PM [CONVEX Q(a:b)] [LOG] 'polling'\n",
            False,
        ),
        ("1/4/2026, 1:17:49 PM [CONVEX Q(a:b)] [LOG] 'polling'\n", True),
    ):
        with log.open("a") as f:
            f.write(more)
        result = ingest([str(log)], db, local_tz="UTC", strict=strict)
    assert result.files[0].stats.notes[0].startswith("more since run 2: lines 4 on")
    assert not result.committed and result.earlier_rejected == 1
    assert earlier_rejects(result) == [(str(log), 2, 2)]
    with duckdb.connect(db, read_only=True) as con:
        reads = con.execute(
            "SELECT run_id, continues_run, first_line FROM ingest_files ORDER BY run_id"
        ).fetchall()
    assert reads == [(1, None, 1), (2, 1, 2)]


@pytest.mark.parametrize("first_zone", ["Europe/Berlin", None], ids=["named", "machine"])
def test_grown_text_is_read_on_in_the_zone_its_first_read_recorded_however_the_note_on_it_is_worded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first_zone: str | None
) -> None:
    # the zone a run read a text log in is in `ingest_files.local_tz`; the zone its new lines are read in, and the
    # one said of a copy met again, were read back from the words of the note: a note worded otherwise read the
    # new lines in the zone now given (UTC: an hour off Berlin's, nine off Tokyo's) and said nothing of the copy
    monkeypatch.setattr(convex_text, "ZONE_GIVEN_NOTE", "clock: {zone}, as named")
    monkeypatch.setattr(convex_text, "ZONE_MACHINE_NOTE", "clock: {zone}, this machine's")
    monkeypatch.delenv(convex_text.ENV_ZONE, raising=False)
    log, copy, db = tmp_path / "backend.log", tmp_path / "copy.log", str(tmp_path / "x.duckdb")
    log.write_text("2026-01-04 13:17:46 [CONVEX Q(a:b)] [LOG] 'one'\n")
    copy.write_bytes(log.read_bytes())
    try:
        with monkeypatch.context() as machine:
            machine.setenv("TZ", "Asia/Tokyo")  # this machine's zone, read in when none is named
            time.tzset()
            first = ingest([str(log)], db, local_tz=first_zone)
    finally:
        time.tzset()
    zone, named = first_zone or "Asia/Tokyo", first_zone is not None
    said = "as named" if named else "this machine's"
    assert f"clock: {zone}, {said}" in first.files[0].stats.notes[0]
    with log.open("a") as f:
        f.write("2026-01-04 13:17:47 [CONVEX Q(a:b)] [LOG] 'two'\n")
    grown, again = ingest([str(log), str(copy)], db, local_tz="UTC").files
    assert (grown.status, grown.stored, again.status) == ("ingested", 1, "already-ingested")
    assert _rows(db)[1][:2] == (2, utc_ms(2026, 1, 4, 12 if named else 4, 17, 47))
    assert (
        f"its new lines are read in {zone}, the zone run 1 read its earlier lines in, not in UTC as now"
        in "\n".join(grown.stats.notes)
    )
    assert again.earlier[0] == (
        f"its times were read in {zone} by run 1, not in UTC as now: a file already ingested is not read again; to "
        "read it in UTC, ingest it into a fresh --db"
    )
    with duckdb.connect(db, read_only=True) as con:
        zones = con.execute("SELECT run_id, file_id, local_tz, local_tz_given FROM ingest_files ORDER BY ALL")
        assert zones.fetchall() == [(1, 1, zone, named), (2, 1, zone, named), (2, 2, None, None)]


def test_an_id_at_the_end_of_a_truncated_line_is_no_id() -> None:
    text = (
        "1/4/2026, 1:17:46 PM [CONVEX M(a:b)] [LOG] 'checkout trace_id: trace_17645' (truncated due to length)\n"
        "1/4/2026, 1:17:47 PM [CONVEX M(a:b)] [LOG] 'checkout trace_id: trace_17645'\n"
    )
    (cut, whole), _, _ = events_of(text)
    assert (cut.trace_id, cut.context["is_truncated"]) == (None, True)
    assert whole.trace_id == "trace_17645"


def test_a_log_across_the_hour_clocks_go_back_keeps_its_order() -> None:
    """`toLocaleString` prints 1:00-1:59 AM twice on the night clocks go back. The second pass was read as the
    first, an hour early: a trace's backend lines went before the Worker lines that caused them. A repeated wall
    time is read as the pass nearer the record before it (the CLI prints in time order)."""
    text = (
        "11/2/2025, 12:59:58 AM [CONVEX M(a:b)] [LOG] 'before'\n"  # EDT
        "11/2/2025, 1:00:01 AM [CONVEX M(a:b)] [LOG] 'first pass'\n"  # EDT, 05:00:01Z
        "11/2/2025, 1:59:59 AM [CONVEX M(a:b)] [LOG] 'end of first pass'\n"  # EDT, 05:59:59Z
        "11/2/2025, 1:00:05 AM [CONVEX M(a:b)] [LOG] 'second pass'\n"  # EST, 06:00:05Z
        "11/2/2025, 1:00:04 AM [CONVEX M(a:b)] [LOG] 'printed late'\n"  # EST, 06:00:04Z
        "11/2/2025, 2:00:00 AM [CONVEX M(a:b)] [LOG] 'after'\n"  # EST, 07:00:00Z
    )
    events, _, _ = events_of(text, LocalZone("America/New_York"))
    assert [e.ts_ms for e in events] == [
        utc_ms(2025, 11, 2, 4, 59, 58), utc_ms(2025, 11, 2, 5, 0, 1), utc_ms(2025, 11, 2, 5, 59, 59),
        utc_ms(2025, 11, 2, 6, 0, 5), utc_ms(2025, 11, 2, 6, 0, 4), utc_ms(2025, 11, 2, 7, 0, 0),
    ]  # fmt: skip
    # a line printed a little late in the first pass stays in it
    late = (
        "11/2/2025, 1:30:00 AM [CONVEX M(a:b)] [LOG] 'x'\n11/2/2025, 1:29:50 AM [CONVEX M(a:b)] [LOG] 'y'\n"
    )
    events, _, _ = events_of(late, LocalZone("America/New_York"))
    assert [e.ts_ms for e in events] == [utc_ms(2025, 11, 2, 5, 30, 0), utc_ms(2025, 11, 2, 5, 29, 50)]
