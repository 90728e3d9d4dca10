"""Correlation: trace model, clock skew, error chains, orphans, listing, search, sql, and golden outputs."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from logcorr.errors import ExitCode
from logcorr.pipeline.ingest import ingest
from tests.conftest import FIXTURES, ROOT, CliResult

DATA = Path("tests/data/correlate")
GOLDEN = ROOT / "tests" / "golden"
SCHEMA = json.loads((ROOT / "docs" / "trace-schema.json").read_text())
CHAIN = "trace_1714910400000_chain01"


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(ROOT)  # so source_file is the stable relative path (golden files)
    path = str(tmp_path / "db.duckdb")
    result = ingest(
        [str(DATA / n) for n in ("error-chain.jsonl", "skew-causal.jsonl", "skew-paired.jsonl")], path
    )
    assert result.rejected == 0
    return path


def trace_json(cli: Callable[..., CliResult], db: str, *args: str) -> dict[str, Any]:
    r = cli("trace", *args, "--db", db, "--format", "json")
    assert r.exit_code == ExitCode.OK, r.stderr
    return r.json()  # type: ignore[no-any-return]


def test_browser_clock_ninety_seconds_ahead_is_corrected_by_causal_order(
    cli: Callable[..., CliResult], db: str
) -> None:
    model = trace_json(cli, db, "trace_1714910500000_skew01")
    assert model["skew"]["browser"]["method"] == "causal"
    assert 89_900 <= model["skew"]["browser"]["offset_ms"] <= 90_000
    order = [(e["system"], e["message"]) for e in model["events"]]
    assert order.index(("browser", "Save clicked")) < order.index(("worker", "PUT /api/v1/doc received"))
    assert model["systems"] == ["browser", "worker", "backend"]
    assert model["duration_ms"] < 1000


def test_raw_times_without_skew_put_the_browser_ninety_seconds_late(
    cli: Callable[..., CliResult], db: str
) -> None:
    model = trace_json(cli, db, "trace_1714910500000_skew01", "--no-skew")
    assert model["skew"] == {} and model["skew_applied"] is False
    assert model["events"][0]["system"] == "worker"
    assert model["duration_ms"] > 89_000


def test_paired_worker_timestamps_measure_the_browser_skew(cli: Callable[..., CliResult], db: str) -> None:
    model = trace_json(cli, db, "trace_1714910600000_pair01")
    skew = model["skew"]["browser"]
    assert skew["method"] == "paired" and skew["offset_ms"] == 89_920 and skew["scope"] == "trace"
    direct = next(e for e in model["events"] if e["message"] == "Search typed")
    assert direct["ts"] == "2024-05-05T12:04:50.000Z" and direct["ts_corrected"] == "2024-05-05T12:03:20.080Z"
    assert model["events"][0]["system"] == "browser"


def test_paired_timestamps_from_another_week_do_not_skew_this_trace(
    cli: Callable[..., CliResult], db: str, tmp_path: Path
) -> None:
    # the same user's browser clock was 5 minutes behind a week earlier: a drifting clock's old offset
    # must not leak into today's estimate
    week = 7 * 86_400_000
    old = [
        {"id": f"old{i}", "trace_id": f"trace_old_{i}", "user_id": "u-pair", "system": "browser", "level": "log",
         "message": f"old line {i}", "timestamp": 1714910600000 - week + i,
         "context": {"timestamp": 1714910600000 - week + i - 300_000}}
        for i in range(9)
    ]  # fmt: skip
    path = tmp_path / "old.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in old))
    assert cli("ingest", str(path), "--db", db, "-q").exit_code == ExitCode.OK
    skew = trace_json(cli, db, "trace_1714910600000_pair01")["skew"]["browser"]
    assert skew["method"] == "paired" and skew["offset_ms"] == 89_920 and skew["samples"] == 1


def _paired_session(trace: str, user: str, t0: int, offset_ms: int, n: int = 3) -> list[dict[str, Any]]:
    """A session's Worker records of browser lines, the browser clock `offset_ms` ahead, and a backend line."""
    rows: list[dict[str, Any]] = [
        {"id": f"{trace}-{i}", "trace_id": trace, "user_id": user, "system": "browser", "level": "log",
         "message": f"step {i} of {trace}", "timestamp": t0 + 1000 * i, "context": {"timestamp": t0 + 1000 * i + offset_ms}}
        for i in range(n)
    ]  # fmt: skip
    rows.append({"id": f"{trace}-b", "trace_id": trace, "system": "convex", "level": "info",
                 "message": f"handled {trace}", "timestamp": t0 + 200, "context": {"system_area": "convex"}})  # fmt: skip
    return rows


def test_anonymous_browsers_do_not_share_a_clock(
    cli: Callable[..., CliResult], db: str, tmp_path: Path
) -> None:
    """`anonymous` is every visitor's id until they sign in: one session's 4 s fast clock says nothing of
    another's 10 s slow one."""
    t0 = 1714920000000
    rows = [
        *_paired_session("trace_a_fast", "anonymous", t0, 4000, n=5),
        *_paired_session("trace_b_slow", "anonymous", t0 + 60_000, -10_000),
    ]
    path = tmp_path / "anon.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert cli("ingest", str(path), "--db", db, "-q").exit_code == ExitCode.OK
    skew = trace_json(cli, db, "trace_b_slow")["skew"]["browser"]
    assert (skew["method"], skew["offset_ms"], skew["scope"]) == ("paired", -10_000, "trace")


def test_a_users_other_device_does_not_set_this_sessions_clock(
    cli: Callable[..., CliResult], db: str, tmp_path: Path
) -> None:
    """One user, a phone 5 minutes fast in the morning and a laptop in sync an hour later: the user's median
    (the phone's 20 records) shifted the laptop's lines 5 minutes before the Worker line they caused."""
    t0 = 1714950000000
    rows = _paired_session("trace_phone", "u-two", t0, 300_000, n=20)
    laptop = _paired_session("trace_laptop", "u-two", t0 + 3_600_000, -40)
    # the laptop's own payloads of the same lines (client clock): stored, their Worker records dropped as copies
    rows += laptop + [
        {"trace_id": "trace_laptop", "message": r["message"], "level": "log", "system": "browser",
         "user_id": "u-two", "context": r["context"]}
        for r in laptop if r.get("system") == "browser"
    ]  # fmt: skip
    path = tmp_path / "two.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert cli("ingest", str(path), "--db", db, "-q").exit_code == ExitCode.OK
    model = trace_json(cli, db, "trace_laptop")
    assert (model["skew"]["browser"]["scope"], model["skew"]["browser"]["offset_ms"]) == ("trace", -40)
    assert model["duration_ms"] < 5000


@pytest.mark.parametrize("user", ["u-split", "anonymous"])  # the user's records, the trace's own
def test_records_ingested_after_the_browsers_own_payloads_still_measure_its_clock(
    cli: Callable[..., CliResult], tmp_path: Path, user: str
) -> None:
    """Browser export today, Worker export tomorrow: the Worker's records of the browser's lines are dropped
    as copies of the payloads stored first, and were no pairs, so a browser clock 90 s fast put the page's
    lines after the backend work they caused."""
    t0 = 1714960000000
    records = _paired_session("trace_split", user, t0, 90_000)
    payloads = [
        {"trace_id": "trace_split", "message": r["message"], "level": "log", "system": "browser",
         "user_id": user, "context": r["context"]}
        for r in records if r.get("system") == "browser"
    ]  # fmt: skip
    db = str(tmp_path / "db.duckdb")
    for name, rows in (("browser.jsonl", payloads), ("worker.jsonl", records)):
        path = tmp_path / name
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        assert cli("ingest", str(path), "--db", db, "-q").exit_code == ExitCode.OK
    model = trace_json(cli, db, "trace_split")
    assert (model["skew"]["browser"]["method"], model["skew"]["browser"]["offset_ms"]) == ("paired", 90_000)
    assert model["systems"] == ["browser", "backend"] and model["duration_ms"] < 5000


def test_a_browser_line_and_the_worker_line_it_caused_in_one_millisecond_read_in_causal_order(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """A Worker's clock stands still during an invocation: its stored record of the browser's line and its
    own line about it have one time, and were listed in ingest order, the Worker's line first when its
    export was ingested first."""
    t0 = 1714970000000
    logpush = {"EventTimestampMs": t0, "Event": {"RayID": "8f1e2d3c4b5a6978"}, "Outcome": "ok",
               "Logs": [{"Level": "log", "Message": ["POST /log", {"trace_id": "trace_tie"}], "TimestampMs": t0}]}  # fmt: skip
    record = {"id": f"{t0}_a", "trace_id": "trace_tie", "system": "browser", "level": "info",
              "message": "Checkout clicked", "timestamp": t0, "context": {"timestamp": t0 - 30}}  # fmt: skip
    db = str(tmp_path / "db.duckdb")
    for name, row in (("logpush.jsonl", logpush), ("records.jsonl", record)):
        (tmp_path / name).write_text(json.dumps(row) + "\n")
        assert cli("ingest", str(tmp_path / name), "--db", db, "-q").exit_code == ExitCode.OK
    model = trace_json(cli, db, "trace_tie")
    assert [e["system"] for e in model["events"]] == ["browser", "worker"]


def test_a_record_of_a_retried_post_does_not_halve_into_the_estimate(
    cli: Callable[..., CliResult], db: str, tmp_path: Path
) -> None:
    """Two paired records, the second received 30 s late (a retried POST, its client time as first sent): the
    median of two was their mean, 15 s off. A delay only makes a sample smaller: the larger one is taken."""
    t0 = 1714990000000
    rows = _paired_session("trace_retry", "anonymous", t0, 60_000, n=2)
    rows[1]["timestamp"] += 30_000
    path = tmp_path / "retry.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert cli("ingest", str(path), "--db", db, "-q").exit_code == ExitCode.OK
    skew = trace_json(cli, db, "trace_retry")["skew"]["browser"]
    assert (skew["offset_ms"], skew["samples"]) == (60_000, 2)


def test_an_impossible_client_time_is_not_a_clock_offset(
    cli: Callable[..., CliResult], db: str, tmp_path: Path
) -> None:
    t0 = 1714930000000
    rows = _paired_session("trace_c_broken", "u-broken", t0, 3000)
    rows[0]["context"]["timestamp"] = 0  # a broken client value
    rows[1]["context"]["timestamp"] = 915148800000  # a clock set to 1999
    path = tmp_path / "broken.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert cli("ingest", str(path), "--db", db, "-q").exit_code == ExitCode.OK
    model = trace_json(cli, db, "trace_c_broken")
    assert (model["skew"]["browser"]["offset_ms"], model["skew"]["browser"]["samples"]) == (3000, 1)
    assert model["duration_ms"] < 5000


def test_error_chain_runs_across_the_three_systems(cli: Callable[..., CliResult], db: str) -> None:
    model = trace_json(cli, db, CHAIN)
    assert model["errors"]["chain"] == ["backend", "worker", "browser"]
    assert model["errors"]["first"]["message"] == "inventory check failed: timeout after 50ms"
    assert model["errors"]["count"] == 4  # console error, failed execution, worker, browser
    fn = [e for e in model["events"] if e["request_id"] == "a1c9e0f2d4b6a8c0"]
    assert len(fn) == 3 and {e["trace_source"] for e in fn} == {"message", "request_id"}
    assert model["requests"][0]["request_id"] == "a1c9e0f2d4b6a8c0"


def test_orphans_are_counted_per_system(cli: Callable[..., CliResult], db: str) -> None:
    r = cli("stats", "--db", db, "--json")
    data = r.json()
    orphans = {row["system"]: row["orphans"] for row in data["per_system"]}
    assert orphans == {"browser": 1, "worker": 1, "backend": 1}
    assert data["orphans"] == 3
    assert {row["n_systems"]: row["traces"] for row in data["traces_by_systems"]} == {3: 3}


def test_trace_json_validates_against_the_documented_schema(cli: Callable[..., CliResult], db: str) -> None:
    for tid in (CHAIN, "trace_1714910500000_skew01", "trace_1714910600000_pair01"):
        jsonschema.validate(trace_json(cli, db, tid), SCHEMA)
        jsonschema.validate(trace_json(cli, db, tid, "--include-dropped", "--no-skew"), SCHEMA)


@pytest.mark.parametrize("fmt, name", [("json", "chain.trace.json"), ("chrome", "chain.chrome.json")])
def test_trace_outputs_match_the_golden_files(
    cli: Callable[..., CliResult], db: str, fmt: str, name: str
) -> None:
    r = cli("trace", CHAIN, "--db", db, "--format", fmt)
    assert r.exit_code == ExitCode.OK
    golden = GOLDEN / name
    if os.environ.get("LOGCORR_UPDATE_GOLDEN"):
        golden.write_bytes(r.stdout_bytes)
    assert r.stdout_bytes == golden.read_bytes()


def test_trace_csv_and_jsonl_are_the_json_events_one_a_row_with_the_trace_id(
    cli: Callable[..., CliResult], db: str
) -> None:
    """To share a trace as a spreadsheet or load it elsewhere: the events of `--format json`, each a row that
    names its trace (the exports of several traces can be joined), every key a column, in the same order."""
    events = trace_json(cli, db, CHAIN, "--include-dropped")["events"]
    assert len(events) > 3
    want = [{"trace_id": CHAIN, **e} for e in events]
    r = cli("trace", CHAIN[:16], "--db", db, "--format", "jsonl", "--include-dropped")
    assert r.exit_code == ExitCode.OK, r.stderr
    assert [json.loads(line) for line in r.stdout.splitlines()] == want
    r = cli("trace", CHAIN, "--db", db, "--format", "csv", "--include-dropped")
    assert r.exit_code == ExitCode.OK, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert list(rows[0]) == list(want[0])
    assert [{k: v or None for k, v in row.items()} for row in rows] == [
        {k: None if v is None else str(v) for k, v in w.items()} for w in want
    ]
    assert len(cli("trace", CHAIN, "--db", db, "--format", "csv", "--limit", "2").stdout.splitlines()) == 3


def test_chrome_output_has_a_process_per_system_and_an_event_per_line(
    cli: Callable[..., CliResult], db: str
) -> None:
    doc = cli("trace", CHAIN, "--db", db, "--format", "chrome").json()
    names = {e["args"]["name"] for e in doc["traceEvents"] if e["name"] == "process_name"}
    assert names == {"browser", "worker", "backend"}
    instants = [e for e in doc["traceEvents"] if e["ph"] == "i"]
    assert len(instants) == 7
    assert all(isinstance(e["ts"], int) and e["ts"] >= 0 for e in doc["traceEvents"] if "ts" in e)


def test_a_unique_prefix_is_enough(cli: Callable[..., CliResult], db: str) -> None:
    assert trace_json(cli, db, "trace_1714910400")["trace_id"] == CHAIN


def test_an_ambiguous_prefix_lists_the_candidates(cli: Callable[..., CliResult], db: str) -> None:
    r = cli("trace", "trace_17149", "--db", db)
    assert r.exit_code == ExitCode.CHECK_FAILED
    assert "ambiguous" in r.stderr and CHAIN in r.stderr


def test_an_unknown_id_exits_1_with_close_matches(cli: Callable[..., CliResult], db: str) -> None:
    r = cli("trace", "trace_1714910400000_chain02", "--db", db)
    assert r.exit_code == ExitCode.CHECK_FAILED
    assert "no trace" in r.stderr and CHAIN in r.stderr
    assert r.stdout == ""


def test_an_id_given_in_other_case_names_the_stored_one(cli: Callable[..., CliResult], db: str) -> None:
    """Trace ids are matched exactly; one typed or copied in capitals (`TRACE_…_CHAIN01`) got "no id is close to
    it", as the comparison counted each changed case a changed letter."""
    r = cli("trace", CHAIN.upper(), "--db", db)
    assert r.exit_code == ExitCode.CHECK_FAILED
    assert r.stderr.splitlines()[1].startswith(f"hint: close matches: {CHAIN}"), r.stderr  # the nearest first


def test_the_terminal_timeline_shows_spans_the_first_error_and_dropped_lines(
    cli: Callable[..., CliResult], db: str
) -> None:
    r = cli("trace", CHAIN, "--db", db, "--include-dropped", env={"NO_COLOR": "1"})
    assert r.exit_code == ExitCode.OK
    out = r.stdout
    assert "browser → worker → backend" in out
    assert "error chain: backend → worker → browser" in out
    assert "▶" in out and "inventory check failed" in out.split("▶", 1)[1].splitlines()[0]


@pytest.mark.parametrize(
    "args, expected",
    [
        ((), 3),
        (("--has-errors",), 1),
        (("--min-systems", "3"), 3),
        (("--user", "u-skew"), 1),
        (("--system", "backend", "--has-errors"), 1),
        (("--since", "2024-05-05T12:03:00Z"), 2),
        (("--until", "2024-05-05T12:00:01Z"), 1),
        # back from the newest server event (12:03:20.150), not from a browser line 90 s fast (12:04:50)
        (("--since", "1m"), 2),
        (("--slowest", "1"), 1),
    ],
)
def test_traces_filters(cli: Callable[..., CliResult], db: str, args: tuple[str, ...], expected: int) -> None:
    r = cli("traces", "--db", db, "--format", "json", *args)
    assert r.exit_code == ExitCode.OK, r.stderr
    assert len(r.json()) == expected


@pytest.mark.parametrize("command", ["traces", "search"])
def test_a_user_id_no_event_has_is_said_with_the_ids_holding_it(
    cli: Callable[..., CliResult], db: str, command: str
) -> None:
    # `--user` matches exactly: "skew" found nothing, and nothing said why (the id is `u-skew`)
    args = (command, "--db", db, "--format", "json") + (("",) if command == "search" else ())
    r = cli(*args, "--user", "SKEW")
    assert r.exit_code == ExitCode.OK and r.json() == []
    assert "no event has user id 'SKEW' (matched exactly); user ids holding it: u-skew" in r.stderr
    assert "no event has user id" not in cli(*args, "--user", "u-skew").stderr
    assert cli(*args, "--user", "nobody-like-this").stderr.strip().endswith("(matched exactly)")


def test_durations_count_back_from_the_newest_server_event_not_a_browser_clock_days_ahead(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """One visitor's browser clock 2 days fast was "the newest event": `--since 50m` then held that visitor's
    line alone, and `search … --since 50m` found nothing of the last 50 minutes."""
    t0 = 1714980000000
    rows: list[dict[str, Any]] = []
    for i in range(4):  # one trace every 30 minutes, clocks in sync
        t, tid = t0 + i * 1_800_000, f"trace_sync_{i}"
        rows.append({"trace_id": tid, "message": f"click {i}", "level": "info", "system": "browser",
                     "context": {"timestamp": t, "url": "http://localhost:3000/", "userAgent": "M"}})  # fmt: skip
        rows.append({"id": f"w{i}", "trace_id": tid, "system": "worker", "level": "info",
                     "message": f"handled {i}", "timestamp": t + 40})  # fmt: skip
    rows.append({"trace_id": "trace_fast_clock", "message": "hello", "level": "info", "system": "browser",
                 "context": {"timestamp": t0 + 2 * 86_400_000, "url": "http://localhost:3000/", "userAgent": "M"}})  # fmt: skip
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    db = str(tmp_path / "db.duckdb")
    assert cli("ingest", str(path), "--db", db, "-q").exit_code == ExitCode.OK
    listed = {r["trace_id"] for r in cli("traces", "--db", db, "--since", "50m", "--format", "json").json()}
    assert listed == {"trace_sync_2", "trace_sync_3", "trace_fast_clock"}
    found = cli("search", "handled", "--db", db, "--since", "50m", "--format", "json").json()
    assert [r["message"] for r in found] == ["handled 2", "handled 3"]


def test_traces_sorted_by_duration_puts_the_skewed_trace_first(
    cli: Callable[..., CliResult], db: str
) -> None:
    rows = cli("traces", "--db", db, "--format", "json", "--sort", "duration").json()
    assert rows[0]["trace_id"] == "trace_1714910500000_skew01"  # raw times: 90.25 s from worker to browser
    assert rows[0]["systems"] == "browser→worker→backend"


@pytest.mark.parametrize("fmt", ["table", "json", "jsonl", "csv"])
def test_every_row_format_renders(cli: Callable[..., CliResult], db: str, fmt: str) -> None:
    r = cli("traces", "--db", db, "--format", fmt)
    assert r.exit_code == ExitCode.OK and CHAIN in r.stdout


@pytest.mark.parametrize(
    ("command", "since", "until", "hint"),
    [
        ("traces", "1m", "5m", "the longer one goes with --since"),
        ("search", "1m", "5m", "the longer one goes with --since"),
        ("traces", "2024-05-05T12:03:00Z", "2024-05-05T12:00:01Z", "swap the two times"),
        ("search", "2024-05-05T12:03:00Z", "2m", "the longer one goes with --since"),
    ],
)
def test_a_window_that_ends_before_it_begins_is_refused(
    cli: Callable[..., CliResult], db: str, command: str, since: str, until: str, hint: str
) -> None:
    args = ["timeout"] if command == "search" else []
    r = cli(command, *args, "--db", db, "--since", since, "--until", until)
    assert r.exit_code == ExitCode.USAGE, r.stdout
    assert f"--since {since}" in r.stderr and f"is after --until {until}" in r.stderr and hint in r.stderr
    assert r.stdout == ""
    # the same bounds the right way round are a window
    ok = cli(command, *args, "--db", db, "--since", until, "--until", since)
    assert ok.exit_code == ExitCode.OK, ok.stderr


@pytest.mark.parametrize("command", ["traces", "search"])
def test_limit_zero_lists_every_row_and_a_negative_one_is_refused(
    cli: Callable[..., CliResult], db: str, command: str
) -> None:
    args = [command, *(["e"] if command == "search" else []), "--db", db, "--format", "json"]
    every = cli(*args, "--limit", "100000").json()
    assert len(every) > 1
    assert cli(*args, "--limit", "0").json() == every  # as `ledger --limit 0`: every row
    assert cli(*args, "--limit", "1").json() == every[:1]
    # beyond DuckDB's BIGINT LIMIT (an internal error before): every row
    assert cli(*args, "--limit", "99999999999999999999").json() == every
    bad = cli(*args, "--limit", "-1")
    assert bad.exit_code == ExitCode.USAGE and "--limit must be 0 (all) or more, not -1" in bad.stderr
    assert bad.stdout == ""


def test_slowest_zero_lists_every_trace_by_duration_and_a_negative_one_is_refused(
    cli: Callable[..., CliResult], db: str
) -> None:
    by_duration = cli("traces", "--db", db, "--format", "json", "--sort", "duration", "--limit", "0").json()
    assert cli("traces", "--db", db, "--format", "json", "--slowest", "0").json() == by_duration
    bad = cli("traces", "--db", db, "--slowest", "-2")
    assert bad.exit_code == ExitCode.USAGE and "--slowest must be 0 (all) or more" in bad.stderr


def test_slowest_is_the_number_of_rows_and_the_cut_note_names_it(
    cli: Callable[..., CliResult], db: str
) -> None:
    """--slowest ignored --limit, but the note under the table used it: `--slowest 5 --limit 3` showed 5 rows
    and said "the first 3", `--slowest 0` listed every trace and said "the first 50"."""
    r = cli("traces", "--db", db, "--slowest", "1")
    assert r.exit_code == ExitCode.OK and len(r.stdout.splitlines()) == 4, (
        r.stdout
    )  # title, head, rule, 1 row
    # "the first 1" read as the trace that started first: they are the slowest
    assert "(the 1 slowest: there may be more; --slowest 0 lists all)" in r.stderr
    every = cli("traces", "--db", db, "--slowest", "0")
    assert every.exit_code == ExitCode.OK and "there may be more" not in every.stderr
    for extra in (("--limit", "1"), ("--limit", "50"), ("--sort", "events")):
        bad = cli("traces", "--db", db, "--slowest", "2", *extra)
        assert bad.exit_code == ExitCode.USAGE and "--slowest is the number of rows" in bad.stderr, bad.stderr
        assert extra[0] in bad.stderr and bad.stdout == ""
    assert cli("traces", "--db", db, "--slowest", "2", "--sort", "duration").exit_code == ExitCode.OK


def test_search_finds_text_and_regex_with_trace_filters(cli: Callable[..., CliResult], db: str) -> None:
    rows = cli("search", "TIMEOUT", "--db", db, "--format", "json").json()
    assert [r["system"] for r in rows] == ["backend", "backend"]
    rows = cli("search", r"^(Checkout|Save) clicked$", "--regex", "--db", db, "--format", "json").json()
    assert len(rows) == 2
    rows = cli("search", "clicked", "--has-errors", "--db", db, "--format", "json").json()
    assert [r["trace_id"] for r in rows] == [CHAIN]
    # within one trace (an id or a unique prefix, as `trace` takes it); no such trace exits 1, as `trace` does
    every = cli("search", "", "--db", db, "--format", "json", "--limit", "0").json()
    assert len({r["trace_id"] for r in every}) > 1
    mine = cli("search", "", "--trace", CHAIN[:16], "--db", db, "--format", "json", "--limit", "0").json()
    assert mine == [r for r in every if r["trace_id"] == CHAIN] and mine
    missing = cli("search", "x", "--trace", "trace_nosuch", "--db", db)
    assert missing.exit_code == ExitCode.CHECK_FAILED and "no trace" in missing.stderr
    bad = cli("search", "(", "--regex", "--db", db)
    assert bad.exit_code == ExitCode.USAGE and "regular expression" in bad.stderr
    # a level as the exports write it (Convex's ERROR): it was refused as unknown
    upper = cli("search", "TIMEOUT", "--level", "ERROR", "--db", db, "--format", "json")
    assert upper.exit_code == ExitCode.OK, upper.stderr
    assert upper.json() == cli("search", "TIMEOUT", "--level", "error", "--db", db, "--format", "json").json()


def test_sql_runs_queries_and_cannot_write(cli: Callable[..., CliResult], db: str, tmp_path: Path) -> None:
    r = cli(
        "sql",
        "SELECT system, count(*) AS n FROM log_queue GROUP BY ALL ORDER BY system",
        "--db",
        db,
        "--format",
        "csv",
    )
    assert r.exit_code == ExitCode.OK
    assert r.stdout.splitlines()[0] == "system,n"
    for stmt in (
        "INSERT INTO rejects VALUES (1, 'f', 1, NULL, 'r', NULL)",
        "DROP TABLE log_queue",
        f"ATTACH '{tmp_path / 'other.duckdb'}' AS other",
        f"COPY log_queue TO '{tmp_path / 'out.csv'}'",
        "SET enable_external_access = true",
    ):
        bad = cli("sql", stmt, "--db", db)
        assert bad.exit_code == ExitCode.USAGE, stmt
        assert "error" in bad.stderr
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "other.duckdb").exists()


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "table"])
def test_sql_writes_every_duckdb_type_in_every_format(
    cli: Callable[..., CliResult], db: str, fmt: str
) -> None:
    # BLOB, DECIMAL and INTERVAL values were an internal error in JSON ("Type is not JSON serializable")
    query = "SELECT '\\xAA\\x41'::BLOB AS b, 1.5::DECIMAL(4,2) AS d, INTERVAL 3 HOUR AS i, [2.25::DECIMAL(4,2)] AS l"
    r = cli("sql", query, "--db", db, "--format", fmt)
    assert r.exit_code == ExitCode.OK, r.stderr
    # a DECIMAL is a JSON number with its digits (test_sql_writes_decimals_as_numbers)
    if fmt == "json":
        assert (
            r.json() == [{"b": "\\xAAA", "d": 1.5, "i": "3:00:00", "l": [2.25]}] and '"d": 1.50' in r.stdout
        )
    elif fmt == "jsonl":
        assert (
            json.loads(r.stdout) == {"b": "\\xAAA", "d": 1.5, "i": "3:00:00", "l": [2.25]}
            and '"d":1.50' in r.stdout
        )
    else:
        assert "\\xAAA" in r.stdout and "1.50" in r.stdout and "3:00:00" in r.stdout


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "table"])
def test_sql_writes_maps_with_keys_that_are_not_text(
    cli: Callable[..., CliResult], db: str, fmt: str
) -> None:
    """`SELECT histogram(n_systems) …` was an internal error in every format (`Dict key must be str`): a MAP's
    keys are written as text, as JSON object keys, in every format."""
    query = ("SELECT histogram(x) AS h, MAP([1.5::DECIMAL(3,1)], ['d']) AS m, MAP([TIMESTAMP '2024-05-05 12:00:01'], [true]) AS t "
             "FROM (VALUES (1), (2), (2)) v(x)")  # fmt: skip
    r = cli("sql", query, "--db", db, "--format", fmt)
    assert r.exit_code == ExitCode.OK, r.stderr
    want = {"h": {"1": 1, "2": 2}, "m": {"1.5": "d"}, "t": {"2024-05-05T12:00:01.000Z": True}}
    if fmt == "json":
        assert r.json() == [want]
    elif fmt == "jsonl":
        assert json.loads(r.stdout) == want
    elif fmt == "csv":
        assert list(csv.reader(io.StringIO(r.stdout))) == [
            ["h", "m", "t"],
            [json.dumps(v, separators=(",", ":")) for v in want.values()],
        ]
    else:
        assert (
            '{"1":1,"2":2}' in r.stdout
            and '{"1.5":"d"}' in r.stdout
            and '{"2024-05-05T12:00:01.000Z":true}' in r.stdout
        )


def _one_row_is(r: CliResult, fmt: str, want: dict[str, Any], cells: list[str]) -> None:
    """`r` printed one row: `want` in JSON, `cells` as CSV's and among the table's text."""
    if fmt in ("json", "jsonl"):
        got = json.loads(r.stdout)
        assert (got[0] if fmt == "json" else got) == want
    elif fmt == "csv":
        assert list(csv.reader(io.StringIO(r.stdout)))[1] == cells
    else:
        assert all(c in r.stdout for c in cells)


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "table"])
def test_sql_writes_integers_beyond_64_bits_exactly(cli: Callable[..., CliResult], db: str, fmt: str) -> None:
    """`SELECT sum(event_key) …` (a HUGEINT) was an internal error in JSON (`Integer exceeds 64-bit range`)."""
    big, low = 2**127 - 1, -(2**100)
    query = (f"SELECT {big}::HUGEINT AS h, ({low})::HUGEINT AS lo, {{'a': {2**64}::HUGEINT}} AS s, "
             f"[{2**64 - 1}::UBIGINT, {2**70}::UHUGEINT] AS l")  # fmt: skip
    r = cli("sql", query, "--db", db, "--format", fmt)
    assert r.exit_code == ExitCode.OK, r.stderr
    want = {"h": big, "lo": low, "s": {"a": 2**64}, "l": [2**64 - 1, 2**70]}
    cells = [str(big), str(low), f'{{"a":{2**64}}}', f"[{2**64 - 1},{2**70}]"]
    _one_row_is(r, fmt, want, cells)


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "table"])
def test_sql_writes_decimals_as_numbers(cli: Callable[..., CliResult], db: str, fmt: str) -> None:
    """`SELECT 100.0 * count(*) …` and `sum(1.5)` are DECIMALs (a literal with a point is one): JSON wrote them
    as strings ("97000.0"), which `jq '.[0].pct > 50'` compares as text. Now exact JSON numbers, as DuckDB's
    own JSON writes them; a zero of scale 10 is 0.0000000000 in every format, not 0E-10."""
    query = "SELECT 100.0 * 3 AS pct, 1.50::DECIMAL(4, 2) AS d, 0::DECIMAL(38, 10) AS z, [-0.001::DECIMAL(10, 3)] AS l"
    r = cli("sql", query, "--db", db, "--format", fmt)
    assert r.exit_code == ExitCode.OK, r.stderr
    if fmt in ("json", "jsonl"):
        line = r.stdout.replace(" ", "").replace("\n", "")
        assert '"pct":300.0,"d":1.50,"z":0.0000000000,"l":[-0.001]' in line
    want = {"pct": 300.0, "d": 1.5, "z": 0, "l": [-0.001]}
    cells = ["300.0", "1.50", "0.0000000000", "[-0.001]"]
    _one_row_is(r, fmt, want, cells)


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "table"])
def test_sql_writes_times_in_utc_with_their_microseconds(
    cli: Callable[..., CliResult], db: str, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A TIMESTAMPTZ came in the machine's time zone and was written as UTC (12:00:01Z as 08:00:01.000Z in New
    York); microseconds were cut to milliseconds; a time in a list was written as orjson writes it."""
    monkeypatch.setenv("TZ", "America/New_York")  # DuckDB's TimeZone, read when the database is opened
    query = ("SELECT to_timestamp(1714910401) AS tz, TIMESTAMP '2024-05-05 12:00:01.123456' AS us, "
             "TIMESTAMP '2024-05-05 12:00:01.5' AS ms, [to_timestamp(1714910401.25)] AS l")  # fmt: skip
    r = cli("sql", query, "--db", db, "--format", fmt)
    assert r.exit_code == ExitCode.OK, r.stderr
    want = {"tz": "2024-05-05T12:00:01.000Z", "us": "2024-05-05T12:00:01.123456Z", "ms": "2024-05-05T12:00:01.500Z",
            "l": ["2024-05-05T12:00:01.250Z"]}  # fmt: skip
    cells = [*list(want.values())[:3], '["2024-05-05T12:00:01.250Z"]']
    _one_row_is(r, fmt, want, cells)


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "table"])
def test_sql_shows_every_column_of_a_name_twice(cli: Callable[..., CliResult], db: str, fmt: str) -> None:
    """Rows were dicts keyed by column name, so `SELECT q.system, d.system …` showed one value twice."""
    r = cli("sql", "SELECT 1 AS a, 2 AS a, 3 AS a_2, 4 AS a", "--db", db, "--format", fmt)
    assert r.exit_code == ExitCode.OK, r.stderr
    keyed = {"a": 1, "a_3": 2, "a_2": 3, "a_4": 4}  # JSON keys are unique: a suffix no other column has
    if fmt == "json":
        assert r.json() == [keyed] and list(r.json()[0]) == list(keyed)
    elif fmt == "jsonl":
        assert json.loads(r.stdout) == keyed
    elif fmt == "csv":
        assert r.stdout == "a,a,a_2,a\n1,2,3,4\n"
    else:
        head, _, row = r.stdout.splitlines()
        assert [c.strip() for c in head.split("┃")] == ["a", "a", "a_2", "a"]
        assert [c.strip() for c in row.split("│")] == ["1", "2", "3", "4"]


@pytest.mark.parametrize("text", ["", "   ", " -- only a comment", "/* nothing */"])
def test_sql_without_a_statement_says_so(cli: Callable[..., CliResult], db: str, text: str) -> None:
    r = cli("sql", text, "--db", db)
    assert r.exit_code == ExitCode.USAGE, r.stderr
    assert "no SQL statement to run" in r.stderr and "internal error" not in r.stderr
    assert r.stdout == ""


def test_read_commands_on_a_missing_database_say_how_to_create_it(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    r = cli("traces", "--db", str(tmp_path / "none.duckdb"))
    assert r.exit_code == ExitCode.INPUT
    assert "does not exist" in r.stderr and "logcorr ingest" in r.stderr


def test_trace_summaries_follow_a_trace_split_across_two_ingests(
    cli: Callable[..., CliResult], tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    from tests.conftest import browser_event

    tid = "trace_1714910700000_split1"
    first = write_jsonl("a.jsonl", [browser_event(1714910700000 + i, f"a{i}", trace=tid) for i in range(3)])
    worker = {
        "id": "w1",
        "trace_id": tid,
        "system": "worker",
        "level": "error",
        "message": "boom",
        "timestamp": 1714910705000,
    }
    second = write_jsonl("b.jsonl", [worker])
    db = str(tmp_path / "split.duckdb")
    ingest([str(first)], db)
    (row,) = cli("traces", "--db", db, "--format", "json").json()
    assert (row["events"], row["errors"], row["systems"]) == (3, 0, "browser")
    ingest([str(second)], db)
    (row,) = cli("traces", "--db", db, "--format", "json").json()
    assert (row["events"], row["errors"], row["systems"], row["duration_ms"]) == (
        4,
        1,
        "browser→worker",
        5000,
    )
    assert (
        len(cli("traces", "--db", db, "--has-errors", "--system", "worker", "--format", "json").json()) == 1
    )


def _searcher(
    cli: Callable[..., CliResult], tmp_path: Path, name: str, records: list[dict[str, Any]]
) -> Callable[[str], list[str]]:
    """`records` ingested as the NDJSON file `name` into a fresh database; the messages `search TEXT` finds there."""
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    db = str(tmp_path / "db.duckdb")
    assert cli("ingest", str(path), "--db", db, "-q").exit_code == ExitCode.OK

    def found(text: str) -> list[str]:
        r = cli("search", text, "--db", db, "--format", "json", "--limit", "0")
        assert r.exit_code == ExitCode.OK, r.stderr
        return sorted(e["message"] for e in r.json())

    return found


def test_search_text_is_a_substring_even_with_like_wildcards_in_it(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """`%` and `_` are text: "100%" matched any line with "100" in it, "_" every line."""
    lines = [{"message": m, "level": "info", "trace_id": f"t{i}", "context": {"timestamp": 1714910400000 + 60_000 * i}}
             for i, m in enumerate(["disk at 100% full", "disk at 1000 blocks", "user_id set", "userid set",
                                    "path a\\b", "CAFÉ ouvert"])]  # fmt: skip
    found = _searcher(cli, tmp_path, "b.jsonl", lines)
    assert found("100%") == ["disk at 100% full"]
    assert found("_") == ["user_id set"]
    assert found("a\\b") == ["path a\\b"]
    assert found("café") == ["CAFÉ ouvert"]


def test_search_finds_a_convex_line_of_several_arguments_by_the_text_as_written(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """`console.log('charge failed:', err.message)` is stored as Convex gives it, `'charge failed:' 'card
    declined'`, and `search "charge failed: card declined"` found nothing. A plain search also reads such a
    line without its arguments' quotes (a `\\'` inside one is a `'`); the stored text stays as it was."""
    stored = ["'charge failed:' 'card declined'", "'it\\'s' 'gone'", "'x:' [Error: can't, won't]",
              "'took' 1402 'ms'"]  # fmt: skip
    fn = {"path": "payments:charge", "type": "action"}
    recs = [{"topic": "console", "timestamp": 1714910400000 + i, "log_level": "LOG", "message": m,
             "function": fn | {"request_id": f"r{i}"}} for i, m in enumerate(stored)]  # fmt: skip
    found = _searcher(cli, tmp_path, "convex.jsonl", recs)
    assert found("") == sorted(stored)  # stored as given
    charge = [stored[0]]
    assert found("charge failed: card declined") == charge  # as the developer wrote it
    assert found("failed: card") == charge  # a part of it, across the two arguments
    assert found("CHARGE FAILED: Card") == charge
    assert found("'charge failed:' 'card declined'") == charge  # the stored form
    assert found("failed:' 'card") == charge
    for text in (
        "failed:card",
        "failed:  card",
        "failed: 'card",
        "charge failed: card declined!",
        "charge card",
    ):
        assert found(text) == [], text
    assert found("it's gone") == [stored[1]]  # the escaped quote read as a quote
    assert found("it\\'s") == [stored[1]]
    assert found("took 1402 ms") == [stored[3]]
    # an apostrophe of an argument that is no string opens no argument: nothing joins across it
    assert found("can't, won't") == [stored[2]]
    assert found("cant, wont") == []
    assert found("x: [Error: can't") == [stored[2]]


def test_showing_dropped_events_does_not_move_the_stored_ones(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """--include-dropped adds lines to the view; the skew estimate (and so every corrected time) stays the one
    the stored events give: dropped copies' client times are no extra samples."""
    from tests.conftest import FIXTURES

    db = str(tmp_path / "db.duckdb")
    assert cli("ingest", str(FIXTURES), "--db", db, "-q").exit_code == ExitCode.OK
    tid = "trace_1714910415902_h7d2kq0zs"
    plain = trace_json(cli, db, tid)
    wide = trace_json(cli, db, tid, "--include-dropped")
    assert len(wide["events"]) > len(plain["events"])
    assert wide["skew"] == plain["skew"]
    corrected = {e["event_id"]: e["ts_corrected"] for e in plain["events"]}
    assert {
        e["event_id"]: e["ts_corrected"] for e in wide["events"] if e["event_id"] in corrected
    } == corrected


def test_a_long_trace_lists_its_first_events_and_says_how_many_it_left_out(
    cli: Callable[..., CliResult], db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trace id lives for a page load: a session of 100k lines took the waterfall 18 s to print, unbounded.
    The table lists the first `TABLE_EVENTS` (here 3) unless --limit says otherwise; json lists all."""
    import logcorr.cli.query

    monkeypatch.setattr(logcorr.cli.query, "TABLE_EVENTS", 3)
    whole = trace_json(cli, db, CHAIN)
    n = len(whole["events"])
    assert n > 3 and whole["event_count"] == n
    table = cli("trace", CHAIN, "--db", db)
    assert table.exit_code == ExitCode.OK
    assert table.stderr == f"(the first 3 of {n} events: --limit 0 lists all)\n"
    listed = [e["message"] for e in whole["events"]]
    assert listed[2] in table.stdout
    # past the cut only the first error is shown (it is listed after the events, as the next test says)
    assert [m for m in listed[3:] if m in table.stdout] == [whole["errors"]["first"]["message"]]
    assert cli("trace", CHAIN, "--db", db, "--limit", "0").stderr == ""
    cut = trace_json(cli, db, CHAIN, "--limit", "2")
    assert [e["event_id"] for e in cut["events"]] == [e["event_id"] for e in whole["events"][:2]]
    assert {k: v for k, v in cut.items() if k != "events"} == {
        k: v for k, v in whole.items() if k != "events"
    }
    jsonschema.validate(cut, SCHEMA)
    chrome = cli("trace", CHAIN, "--db", db, "--format", "chrome", "--limit", "2")
    assert sum(1 for e in chrome.json()["traceEvents"] if e["ph"] == "i") == 2
    assert "--limit must be 0 (all) or more" in cli("trace", CHAIN, "--db", db, "--limit", "-1").stderr


def test_a_table_cut_at_its_limit_says_so_on_stderr(cli: Callable[..., CliResult], db: str) -> None:
    r = cli("search", "a", "--limit", "1", "--db", db)
    # search lists the oldest first: the note says which end it kept
    assert r.exit_code == ExitCode.OK and "(the 1 oldest: there may be more; --limit 0 lists all)" in r.stderr
    assert "there may be more" not in r.stdout
    for args in (("--limit", "0"), ("--limit", "1", "--format", "csv")):
        r = cli("search", "a", *args, "--db", db)
        assert r.exit_code == ExitCode.OK and "there may be more" not in r.stderr + r.stdout


def test_a_trace_whose_every_event_was_dropped_says_so(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    """It printed `start None  duration 0ms  events 0` and exited 0."""
    lines = [{"message": f"[HMR] update {i}", "level": "log", "trace_id": "trace_dropped_only", "system": "browser",
              "context": {"timestamp": 1714920000000 + i}} for i in range(2)]  # fmt: skip
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    db = str(tmp_path / "db.duckdb")
    assert cli("ingest", str(path), "--db", db, "-q").exit_code == ExitCode.OK
    r = cli("trace", "trace_dropped_only", "--db", db)
    assert r.exit_code == ExitCode.CHECK_FAILED and r.stdout == ""
    assert (
        "has no stored events: the rules dropped all 2 of them" in r.stderr
        and "--include-dropped" in r.stderr
    )
    wide = trace_json(cli, db, "trace_dropped_only", "--include-dropped")
    assert len(wide["events"]) == 2 and all(e["dropped_by"] == "suppress" for e in wide["events"])


def test_a_dropped_line_of_another_user_does_not_pick_the_clock(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """With --include-dropped the user whose records measure the skew was chosen among the dropped lines too."""
    t0 = 1714940000000
    rows = [
        *_paired_session("trace_zed", "zed", t0, 2000, n=2),
        *_paired_session("trace_amy", "amy", t0 + 3_600_000, 7000),
    ]
    # a later page of zed's with no paired record of its own: the user's records measure its clock
    rows.append({"message": "page opened", "level": "log", "trace_id": "trace_zed_page", "system": "browser",
                 "user_id": "zed", "context": {"timestamp": t0 + 60_000}})  # fmt: skip
    rows.append({"message": "[HMR] connected", "level": "log", "trace_id": "trace_zed_page", "system": "browser",
                 "user_id": "amy", "context": {"timestamp": t0 + 60_500}})  # fmt: skip
    path = tmp_path / "u.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    db = str(tmp_path / "db.duckdb")
    assert cli("ingest", str(path), "--db", db, "-q").exit_code == ExitCode.OK
    plain = trace_json(cli, db, "trace_zed_page")["skew"]["browser"]
    wide = trace_json(cli, db, "trace_zed_page", "--include-dropped")["skew"]["browser"]
    assert plain == wide and plain["scope"] == "user zed" and plain["offset_ms"] == 2000


def test_stats_counts_trace_integrity_as_ingest_does(tmp_path: Path) -> None:
    """stats counted a trace's systems from its stored events only, so a trace that lost a whole system to the
    pressure rules was not multi-system, and the worst cuts vanished (4.3 % where ingest said 59.5 %)."""
    from logcorr.correlate.listing import stats
    from logcorr.store.connection import connect
    from tests.reliability_helpers import generated

    src = generated(tmp_path / "gen.jsonl", 60_000)
    db = str(tmp_path / "db.duckdb")
    result = ingest([str(src)], db)
    assert result.integrity is not None and result.integrity.cut > 0 and result.integrity.refused_whole > 0
    con = connect(db, read_only=True)
    try:
        got = stats(con)["trace_integrity"]
    finally:
        con.close()
    assert (got["multi_system_traces"], got["cut_by_rules"], got["refused_whole"]) == (
        result.integrity.multi_system,
        result.integrity.cut,
        result.integrity.refused_whole,
    )


def test_stats_json_writes_times_as_every_other_json_output(cli: Callable[..., CliResult], db: str) -> None:
    row = cli("stats", "--json", "--db", db).json()["per_system"][0]
    assert row["first"].endswith("Z") and len(row["first"]) == len("2024-05-05T12:00:30.540Z")


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path: Path) -> None:
    """`logcorr stats | head -1` printed `internal error: BrokenPipeError`."""
    import subprocess
    import sys

    from tests.conftest import FIXTURES

    db = str(tmp_path / "db.duckdb")
    ingest([str(FIXTURES)], db)
    # far more than a pipe holds, so the command is still writing when the reader leaves
    proc = subprocess.Popen([sys.executable, "-m", "logcorr", "sql", "SELECT range AS n FROM range(2000000)",
                             "--format", "csv", "--db", db], stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    assert proc.stdout is not None
    proc.stdout.readline()
    proc.stdout.close()  # as head does after its line
    err = proc.stderr.read().decode() if proc.stderr else ""
    assert proc.wait() == 0 and "error" not in err, err


@pytest.mark.parametrize(
    ("args", "env"),
    [(("trace", CHAIN), {}), (("sql", "SELECT 'é' AS x"), {}), (("search", "clicked"), {"FORCE_COLOR": "1"})],
    ids=["trace", "sql-non-ascii", "search-styled"],
)
def test_a_reader_gone_before_rich_output_ends_the_command_quietly(
    db: str, args: tuple[str, ...], env: dict[str, str]
) -> None:
    """Rich lays out the trace waterfall, tables with non-ASCII cells and styled ones; its own answer to a
    closed pipe (`logcorr trace ID | head -1`) was exit 1, which `trace` documents as "no such trace"."""
    import subprocess
    import sys

    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first byte: every write fails
    try:
        proc = subprocess.run([sys.executable, "-m", "logcorr", *args, "--db", db], stdout=write,
                              stderr=subprocess.PIPE, env={**os.environ, **env}, timeout=60)  # fmt: skip
    finally:
        os.close(write)
    assert proc.returncode == ExitCode.OK and proc.stderr == b"", proc.stderr


@pytest.mark.parametrize("args", [("stats",), ("traces", "--format", "json"), ("sql", "SELECT 1 AS n")])
def test_a_closed_standard_output_is_no_internal_error(db: str, args: tuple[str, ...]) -> None:
    """Run with standard output closed (`logcorr stats >&-`, a job started with no stdout), Python has no
    `sys.stdout`: every read command ended in `internal error: AttributeError: 'NoneType' object has no
    attribute 'isatty'` and a traceback, exit 3. What it writes goes nowhere, as to a reader gone away."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "logcorr", *args, "--db", db], stdin=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, preexec_fn=lambda: os.close(1), timeout=60)  # fmt: skip
    assert proc.returncode == ExitCode.OK and proc.stderr == b"", proc.stderr


ANSI = "\x1b[31mred\x1b[0m \x07bell\rcr \x9bc1 \x7fdel"  # a log line that would restyle the terminal


@pytest.fixture
def ansi_db(tmp_path: Path, write_jsonl: Callable[..., Path]) -> str:
    from tests.conftest import browser_event

    db = str(tmp_path / "ansi.duckdb")
    ingest(
        [str(write_jsonl("ansi.jsonl", [browser_event(1714910700000, ANSI, trace="trace_\x1b[2Jansi")]))], db
    )
    return db


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (("trace", "trace_"), {}),
        (("search", "red"), {}),
        (("sql", "SELECT trace_id, message FROM log_queue"), {}),
        (("search", "red"), {"FORCE_COLOR": "1"}),
        (("trace", "trace_x"), {}),
    ],
    ids=["trace", "search", "sql", "search-styled", "no-such-trace"],
)
def test_tables_show_control_characters_of_log_text_escaped(
    cli: Callable[..., CliResult], ansi_db: str, args: tuple[str, ...], env: dict[str, str]
) -> None:
    """Escape sequences in a log message (a browser's `\\x1b[31m`) reached the terminal raw from `trace`,
    `search` and `sql` tables, so log text could rewrite the reader's terminal."""
    r = cli(*args, "--db", ansi_db, env=env)
    shown = r.stdout + r.stderr
    raw = ["\x1b[31mred", "\x1b[2J", "\x07", "\r", "\x9b", "\x7f"]
    assert not any(c in shown for c in (raw if env else [*raw, "\x1b"])), shown  # styled: rich's own codes
    if args[1] != "trace_x":  # the message; an unknown id's hint names the stored one
        assert "\\x1b[31mred\\x1b[0m \\x07bell\\rcr \\x9bc1 \\x7fdel" in r.stdout, r.stdout
    assert "trace_\\x1b[2Jansi" in shown


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_data_formats_keep_control_characters_exactly(
    cli: Callable[..., CliResult], ansi_db: str, fmt: str
) -> None:
    r = cli("search", "red", "--db", ansi_db, "--format", fmt)
    assert r.exit_code == ExitCode.OK, r.stderr
    if fmt == "csv":
        assert list(csv.reader(io.StringIO(r.stdout, newline="")))[1][4] == ANSI
    elif fmt == "jsonl":
        assert json.loads(r.stdout)["message"] == ANSI
    else:
        assert r.json()[0]["message"] == ANSI


@pytest.mark.parametrize("command", [["traces"], ["search", "x"]])
def test_a_window_over_a_database_without_events_lists_nothing(
    cli: Callable[..., CliResult], tmp_path: Path, command: list[str]
) -> None:
    # `traces --since 1h` before the first event was stored: a usage error ("no events to count back from")
    db = tmp_path / "empty.duckdb"
    ping = tmp_path / "ping.jsonl"
    ping.write_text('{"topic":"verification","timestamp":1714910401458}\n')
    assert cli("ingest", str(ping), "--db", str(db)).exit_code == ExitCode.OK
    r = cli(*command, "--since", "1h", "--db", str(db), "--format", "json")
    assert r.exit_code == ExitCode.OK, r.stderr
    assert r.json() == []
    bad = cli(*command, "--since", "1xh", "--db", str(db))
    assert bad.exit_code == ExitCode.USAGE and "neither an ISO time nor a duration" in bad.stderr
    # the hint gives a time and a duration to copy, and says what a duration counts back from
    assert "hint: e.g. --since 2024-05-05T12:00:00Z" in bad.stderr and "newest event stored" in bad.stderr


@pytest.mark.parametrize("command", [["traces"], ["search", "zzz"]])
def test_an_empty_listing_says_when_the_database_holds_no_events(
    cli: Callable[..., CliResult], tmp_path: Path, command: list[str]
) -> None:
    # an ingest that rejected every line (another tool's log) leaves a database with no events: `traces` printed
    # an empty table and nothing told the user it was the database, not the filters
    db = tmp_path / "empty.duckdb"
    (tmp_path / "notes.txt").write_text("hello\n")
    assert cli("ingest", str(tmp_path / "notes.txt"), "--db", str(db)).exit_code == ExitCode.OK
    r = cli(*command, "--db", str(db), "--format", "json")
    assert r.exit_code == ExitCode.OK and r.json() == []
    assert f"note: {db} holds no events yet" in r.stderr and "logcorr ingest FILES --db" in r.stderr
    full = tmp_path / "full.duckdb"
    assert cli("ingest", str(FIXTURES / "browser"), "--db", str(full)).exit_code == ExitCode.OK
    r = cli(*command, "--db", str(full), "--format", "json")
    assert r.exit_code == ExitCode.OK and "holds no events" not in r.stderr


def test_search_system_is_the_event_s_own_lines_without_a_trace_included(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """`search polling --system backend` found nothing for backend lines of no trace: `--system` filtered by the
    systems of a trace, which such lines have none of. It is the event's own system now, as `--level` is."""
    f = tmp_path / "mixed.jsonl"
    fn = {"path": "orders:status", "type": "query"}
    recs = [
        {"topic": "console", "timestamp": 1714910400000 + i, "log_level": "LOG", "message": "'polling'",
         "function": fn | {"request_id": f"r{i}"}}
        for i in range(2)
    ]  # fmt: skip
    recs.append({"id": "w1", "trace_id": "t-1", "system": "worker", "level": "info", "message": "polling upstream",
                 "timestamp": 1714910400500})  # fmt: skip
    f.write_text("".join(json.dumps(r) + "\n" for r in recs))
    db = str(tmp_path / "s.duckdb")
    assert cli("ingest", str(f), "--db", db, "-q").exit_code == 0
    backend = cli("search", "polling", "--system", "backend", "--db", db, "--format", "json").json()
    assert [(r["system"], r["trace_id"]) for r in backend] == [("backend", None), ("backend", None)]
    both = cli(
        "search", "polling", "--system", "backend", "--system", "worker", "--db", db, "--format", "json"
    )
    assert sorted(r["system"] for r in both.json()) == ["backend", "backend", "worker"]
    bad = cli("search", "polling", "--system", "frontend", "--db", db)
    assert bad.exit_code == ExitCode.USAGE and "unknown system" in bad.stderr


def test_the_table_says_a_large_skew_in_minutes_hours_or_days(cli: Callable[..., CliResult], db: str) -> None:
    # "+89920 ms" of a browser clock set wrong is read as 1.5 min only after some arithmetic (an hour: +3719965 ms)
    r = cli("trace", "trace_1714910600000_pair01", "--db", db)
    assert r.exit_code == ExitCode.OK, r.stderr
    assert "skew: browser clock +89920 ms (1.5 min ahead) vs worker (paired, trace" in r.stdout


def test_a_placeholder_id_shared_by_unrelated_requests_makes_no_trace(
    cli: Callable[..., CliResult], tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    """Requests that had no id, each logging the value its program writes then (`0…0`, `NaN`, `[object Object]`,
    `N/A`), were one trace of them all; each of those lines is an orphan, and a request's lines that name a
    real id still form its trace."""
    from tests.conftest import browser_event, convex_console

    t0 = 1714910800000
    placeholder_lines = [
        *(
            browser_event(t0 + i, f"page {i}", trace=v)
            for i, v in enumerate(["NaN", "[object Object]", "0" * 32])
        ),
        {
            "id": "w1",
            "trace_id": 0,
            "system": "worker",
            "level": "info",
            "message": "POST /log",
            "timestamp": t0,
        },
        *(convex_console(f"'handled trace_id=N/A in {i} ms'", t0 + i, f"{i:016x}") for i in range(5)),
        *(
            convex_console(f"'{{ traceId: \\'{'0' * 32}\\' }}'", t0 + 10 + i, f"{i + 9:016x}")
            for i in range(5)
        ),
        convex_console("'real trace_id: trace_1714910800000_ok1'", t0 + 20, "a" * 16),
    ]
    db = str(tmp_path / "junk.duckdb")
    ingest([str(write_jsonl("junk.jsonl", placeholder_lines))], db)
    rows = cli("traces", "--db", db, "--format", "json").json()
    assert [r["trace_id"] for r in rows] == ["trace_1714910800000_ok1"]
    stats = cli("stats", "--db", db, "--json").json()
    assert stats["orphans"] == len(placeholder_lines) - 1


def _worker_record(ts: int, message: str, tid: str, level: str = "info") -> dict[str, Any]:
    return {
        "id": f"{ts}_w",
        "trace_id": tid,
        "system": "worker",
        "level": level,
        "message": message,
        "timestamp": ts,
    }


def test_a_convex_clock_a_second_behind_the_workers_is_corrected_by_causal_order(
    cli: Callable[..., CliResult], tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    """The backend's first line of a trace follows its start: a Convex clock 1 s behind the Worker's put the
    mutation a second before the click and the request that caused it, and the flow read backend → browser →
    worker. The backend is moved by the least that restores the order, and the output says so."""
    from tests.conftest import convex_console

    tid, t0 = "trace_1714911000000_cvx1", 1714911000000
    lines = [
        _worker_record(t0, "POST /api/orders received", tid),
        convex_console(f"'creating order trace_id: {tid}'", t0 + 60 - 1000),
        convex_console("'inventory check failed'", t0 + 400 - 1000) | {"log_level": "ERROR"},
        _worker_record(t0 + 500, "upstream 500 from convex", tid, "error"),
    ]
    db = str(tmp_path / "cvx.duckdb")
    ingest([str(write_jsonl("t.jsonl", lines))], db)
    model = trace_json(cli, db, tid)
    assert model["systems"] == ["worker", "backend"]
    # the least that restores the order: the first backend line at the Worker's first (listed after it)
    assert model["skew"]["backend"] == {"offset_ms": -940, "method": "causal", "samples": 1, "scope": "trace"}
    assert [e["message"] for e in model["events"]] == [
        "POST /api/orders received", f"creating order trace_id: {tid}", "inventory check failed",
        "upstream 500 from convex",
    ]  # fmt: skip
    assert model["errors"]["chain"] == ["backend", "worker"]
    assert model["events"][1]["ts"] == "2024-05-05T12:09:59.060Z"  # the raw time is kept beside the corrected
    assert model["events"][1]["ts_corrected"] == "2024-05-05T12:10:00.000Z"
    jsonschema.validate(model, SCHEMA)
    table = cli("trace", tid, "--db", db).stdout
    assert "skew: backend clock -940 ms vs worker (causal, trace, 1 sample); times corrected" in table
    raw = trace_json(cli, db, tid, "--no-skew")
    assert raw["systems"] == ["backend", "worker"] and raw["skew"] == {}


def test_a_browser_ahead_of_convex_with_no_worker_line_is_corrected_by_causal_order(
    cli: Callable[..., CliResult], tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    """A browser that calls Convex directly (no Worker line in the trace): its clock 90 s ahead put the click
    after the mutation it caused; the Convex clock is the server's then."""
    from tests.conftest import browser_event, convex_console

    tid, t0 = "trace_1714911100000_cvx2", 1714911100000
    lines = [
        browser_event(t0 + 90_000, "Save clicked", trace=tid),
        convex_console(f"'saving trace_id: {tid}'", t0 + 50),
    ]
    db = str(tmp_path / "cvx2.duckdb")
    ingest([str(write_jsonl("t.jsonl", lines))], db)
    model = trace_json(cli, db, tid)
    assert model["skew"] == {
        "browser": {"offset_ms": 89_951, "method": "causal", "samples": 1, "scope": "trace"}
    }
    assert model["systems"] == ["browser", "backend"] and model["duration_ms"] == 1


def test_a_backend_line_long_before_the_trace_began_is_not_called_skew(
    cli: Callable[..., CliResult], tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    """Servers keep NTP time: a backend line seconds before the Worker's first is no clock's error (a call the
    page made before its first line reached the Worker), so it is not moved."""
    from tests.conftest import convex_console

    tid, t0 = "trace_1714911200000_cvx3", 1714911200000
    lines = [_worker_record(t0, "POST /x", tid), convex_console(f"'trace_id: {tid}'", t0 - 2_001)]
    db = str(tmp_path / "cvx3.duckdb")
    ingest([str(write_jsonl("t.jsonl", lines))], db)
    model = trace_json(cli, db, tid)
    assert model["skew"] == {} and model["systems"] == ["backend", "worker"]


def test_tables_show_bidirectional_controls_of_log_text_escaped(
    cli: Callable[..., CliResult], tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    """A right-to-left override (U+202E) in a log line reversed the text after it on a terminal that lays out
    bidirectional text (VTE, Konsole, mlterm): `payment ok \\u202e"deliaf"` read `payment ok "failed"`. Tables
    show it escaped, as other control characters; the data formats keep it."""
    from tests.conftest import browser_event

    text = "payment ok \u202e\u2066deliaf\u2069\u202c \u200f."
    db = str(tmp_path / "bidi.duckdb")
    ingest(
        [str(write_jsonl("b.jsonl", [browser_event(1714910700000, text, trace="trace_1714910700000_bidi")]))],
        db,
    )
    for args in (("trace", "trace_1714910700000_bidi"), ("search", "payment")):
        out = cli(*args, "--db", db).stdout
        assert not any(c in out for c in "\u202e\u2066\u2069\u202c\u200f"), out
        assert "payment ok \\u202e\\u2066deliaf\\u2069\\u202c \\u200f." in out
    assert cli("search", "payment", "--db", db, "--format", "json").json()[0]["message"] == text


def test_a_long_trace_whose_first_error_is_past_the_listed_events_still_shows_it(
    cli: Callable[..., CliResult], db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 10,000-line trace with its one error at line 5,001: the table said `errors 1` and listed the first 1,000
    lines, none of them the error. It is listed after them, marked, and said to be beyond the list."""
    import logcorr.cli.query

    whole = trace_json(cli, db, CHAIN)
    first = whole["errors"]["first"]
    at = next(i for i, e in enumerate(whole["events"]) if e["event_id"] == first["event_id"])
    assert at >= 2
    monkeypatch.setattr(logcorr.cli.query, "TABLE_EVENTS", at)  # the error is the first line left out
    table = cli("trace", CHAIN, "--db", db)
    assert table.exit_code == ExitCode.OK
    rows = table.stdout.splitlines()
    assert first["message"] in rows[-1] and rows[-1].startswith("▶"), table.stdout
    assert f"the first error, event {at + 1} of {len(whole['events'])}, past the {at} listed" in rows[-2]
    assert table.stderr == f"(the first {at} of {len(whole['events'])} events: --limit 0 lists all)\n"
    # listed among the events, it is not repeated
    monkeypatch.setattr(logcorr.cli.query, "TABLE_EVENTS", at + 1)
    assert cli("trace", CHAIN, "--db", db).stdout.count(first["message"]) == 1


def test_top_errors_count_a_message_that_names_its_trace_once(
    cli: Callable[..., CliResult], tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    """The app logs its trace id in its messages (`upstream failed trace_id=…`, how step 3 of trace-id
    extraction finds it), so every request's error was a message of its own: the top errors listed ten of
    them once each and never said the same failure hit three requests."""
    from tests.conftest import browser_event

    ids = [f"trace_171491070{n}000_top{n}" for n in range(3)]
    rows = [browser_event(1714910700000 + n * 1000, f"upstream failed trace_id={t} (502)", trace=None, level="error")
            for n, t in enumerate(ids)]  # fmt: skip
    rows.append(browser_event(1714910704000, "payment declined", trace=ids[0], level="error"))
    db = str(tmp_path / "top.duckdb")
    assert cli("ingest", str(write_jsonl("top.jsonl", rows)), "--db", db, "-q").exit_code == ExitCode.OK
    top = cli("stats", "--db", db, "--json").json()["top_errors"]
    assert [(e["message"], e["n"], e["traces"]) for e in top] == [
        ("upstream failed trace_id=<trace_id> (502)", 3, 3),
        ("payment declined", 1, 1),
    ]
    assert "upstream failed trace_id=<trace_id> (502)" in cli("stats", "--db", db).stdout


def test_search_include_dropped_finds_what_the_rules_dropped(
    cli: Callable[..., CliResult], tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    """A failing request's line the rules dropped (dev noise, a loop, a rate limit) is in the drop ledger only,
    and `search` said "0 events" with nothing more: the ledger has no text filter, so it could be found by
    SQL only. `--include-dropped` lists it with the rule (`dropped_by`), and a search that finds nothing
    stored says on stderr how many dropped events match."""
    from tests.conftest import browser_event

    t = "trace_1714910700000_drop01"
    rows = [browser_event(1714910700000, "checkout failed: card declined", trace=t, level="error")]
    rows += [browser_event(1714910700100 + n, "[HMR] checkout module updated", trace=t) for n in range(2)]
    db = str(tmp_path / "drop.duckdb")
    assert cli("ingest", str(write_jsonl("drop.jsonl", rows)), "--db", db, "-q").exit_code == ExitCode.OK

    plain = cli("search", "checkout module", "--db", db, "--format", "json")
    assert plain.exit_code == ExitCode.OK and plain.json() == []
    assert "2 events the rules dropped match: --include-dropped lists them" in plain.stderr

    r = cli("search", "checkout", "--db", db, "--format", "json", "--include-dropped", "--trace", t[:20])
    assert r.exit_code == ExitCode.OK, r.stderr
    assert [(e["message"], e["dropped_by"], e["source_line"]) for e in r.json()] == [
        ("checkout failed: card declined", None, 1),
        ("[HMR] checkout module updated", "suppress", 2),
        ("[HMR] checkout module updated", "suppress", 3),
    ]
    assert "dropped" not in cli("search", "checkout", "--db", db).stderr  # something stored was found
    csv_out = cli("search", "HMR", "--db", db, "--format", "csv", "--include-dropped", "--limit", "1").stdout
    assert csv_out.splitlines()[0].endswith(",source_line,dropped_by") and csv_out.splitlines()[1].endswith(
        ",suppress"
    )


@pytest.fixture
def noisy_db(cli: Callable[..., CliResult], tmp_path: Path, write_jsonl: Callable[..., Path]) -> str:
    """Three checkout traces, a suppression rule dropping every line with NOISE: t1dropd's error was dropped,
    t2whole was dropped whole (an error, two systems, user u2), t3store keeps its error."""
    from tests.conftest import browser_event

    def line(ts: int, message: str, trace: str, system: str, level: str, user: str) -> dict[str, Any]:
        if system == "browser":
            return {**browser_event(ts, message, trace, level), "user_id": user}
        return {"id": f"{ts}_w", "trace_id": trace, "user_id": user, "system": system, "level": level,
                "message": message, "timestamp": ts, "context": {"timestamp": ts}}  # fmt: skip

    t0 = 1714910500000
    rows = [
        line(t0, "checkout clicked", "trace_1714910500000_t1dropd", "browser", "log", "u1"),
        line(t0 + 40, "checkout upstream NOISE", "trace_1714910500000_t1dropd", "worker", "error", "u1"),
        line(t0 + 1000, "checkout NOISE failed", "trace_1714910500000_t2whole", "browser", "error", "u2"),
        line(t0 + 1040, "checkout NOISE received", "trace_1714910500000_t2whole", "worker", "info", "u2"),
        line(t0 + 2000, "checkout clicked", "trace_1714910500000_t3store", "browser", "log", "u3"),
        line(t0 + 2040, "checkout failed", "trace_1714910500000_t3store", "worker", "error", "u3"),
    ]
    policy = tmp_path / "policy.toml"
    policy.write_text('[suppression]\npatterns = ["NOISE"]\n')
    db = str(tmp_path / "noisy.duckdb")
    r = cli("ingest", str(write_jsonl("noisy.jsonl", rows)), "--db", db, "--policy", str(policy), "-q")
    assert r.exit_code == ExitCode.OK, r.stderr
    return db


@pytest.mark.parametrize(
    "args, stored, with_dropped",
    [
        (("--has-errors",), ["t3store"] * 2, ["t1dropd"] * 2 + ["t2whole"] * 2 + ["t3store"] * 2),
        (("--min-systems", "2"), ["t3store"] * 2, ["t1dropd"] * 2 + ["t2whole"] * 2 + ["t3store"] * 2),
        (("--user", "u2"), [], ["t2whole"] * 2),
        (("--has-errors", "--level", "error"), ["t3store"], ["t1dropd", "t2whole", "t3store"]),
        (("--has-errors", "--system", "browser"), ["t3store"], ["t1dropd", "t2whole", "t3store"]),
        (("--has-errors", "--until", "2024-05-05T12:01:41.500Z"), [], ["t1dropd"] * 2 + ["t2whole"] * 2),
    ],
)
def test_search_trace_filters_judge_a_trace_by_its_dropped_events_too_with_include_dropped(
    cli: Callable[..., CliResult],
    noisy_db: str,
    args: tuple[str, ...],
    stored: list[str],
    with_dropped: list[str],
) -> None:
    """`search --include-dropped --has-errors` judged a trace by its stored events only: the lines of a request
    whose error a rule dropped, or that the rules dropped whole, were not found, though the dropped lines were
    what was asked for (and `--user` of such a trace said "no event has user id"). With --include-dropped a
    trace is judged by every event logged for it; without it, by its stored events, as `traces` lists them.
    The time bounds, --level and --system stay each event's own."""

    def traces(*extra: str) -> list[str]:
        r = cli("search", "checkout", "--db", noisy_db, "--format", "json", *args, *extra)
        assert r.exit_code == ExitCode.OK, r.stderr
        return [e["trace_id"].rsplit("_", 1)[1] for e in r.json()]

    assert traces() == stored
    assert traces("--include-dropped") == with_dropped
    assert set(stored) <= set(with_dropped)  # --include-dropped only adds lines


def test_the_dropped_events_a_search_notes_are_those_include_dropped_lists(
    cli: Callable[..., CliResult], noisy_db: str
) -> None:
    """The note under a search that found nothing stored counted dropped events in traces qualifying by their
    stored events: `search NOISE --has-errors` said nothing, and --include-dropped listed 3."""
    for args in (("--has-errors",), ("--user", "u2"), ("--min-systems", "2")):
        plain = cli("search", "NOISE", "--db", noisy_db, "--format", "json", *args)
        assert plain.exit_code == ExitCode.OK and plain.json() == [], plain.stderr
        listed = cli(
            "search", "NOISE", "--db", noisy_db, "--format", "json", "--include-dropped", *args
        ).json()
        assert listed and all(e["dropped_by"] == "suppress" for e in listed), args
        assert (
            f"note: {len(listed)} events the rules dropped match: --include-dropped lists them"
            in plain.stderr
        )


@pytest.mark.parametrize(
    "trace, plain, wide",
    [
        ("t1dropd", "events 1  errors 0", "events 2 (1 dropped)  errors 1 (1 dropped)"),  # its error dropped
        ("t2whole", None, "events 2 (2 dropped)  errors 1 (1 dropped)"),  # dropped whole
        ("t3store", "events 2  errors 1", "events 2  errors 1"),
    ],
)
def test_the_trace_header_counts_the_events_and_errors_it_shows(
    cli: Callable[..., CliResult], noisy_db: str, trace: str, plain: str | None, wide: str
) -> None:
    """`trace --include-dropped` showed a request's dropped error line under a header counting the stored
    events' errors alone (`events 1  errors 0  dropped 1`): the header and its JSON count the events listed."""
    tid = f"trace_1714910500000_{trace}"
    for args, header in (((), plain), (("--include-dropped",), wide)):
        if header is None:  # every event of it dropped: no trace without them
            assert cli("trace", tid, "--db", noisy_db).exit_code == ExitCode.CHECK_FAILED
            continue
        model = trace_json(cli, noisy_db, tid, *args)
        jsonschema.validate(model, SCHEMA)
        events = model["events"]
        errors = [e for e in events if e["level"] == "error"]
        assert (model["event_count"], model["dropped_count"]) == (
            len(events), sum(1 for e in events if e["dropped_by"])
        )  # fmt: skip
        assert (model["errors"]["count"], model["errors"]["dropped_count"]) == (
            len(errors), sum(1 for e in errors if e["dropped_by"])
        )  # fmt: skip
        # each system's span counts the events listed of it, as the header does: a system whose every event was
        # dropped has one too (a span line said "1 event" beside the header's "events 2 (1 dropped)")
        spans = model["spans"]
        assert {s["system"] for s in spans} == {e["system"] for e in events}
        assert sum(s["events"] for s in spans) == model["event_count"]
        assert sum(s["dropped_count"] for s in spans) == model["dropped_count"]
        assert sum(s["errors"] for s in spans) == model["errors"]["count"]
        assert sum(s["errors_dropped"] for s in spans) == model["errors"]["dropped_count"]
        r = cli("trace", tid, "--db", noisy_db, *args, env={"NO_COLOR": "1"})
        assert r.exit_code == ExitCode.OK, r.stderr
        assert r.stdout.splitlines()[1].endswith(header), r.stdout
        for s in spans:
            said = f"{s['events']} event{'s' if s['events'] != 1 else ''}"
            said += f" ({s['dropped_count']} dropped)" if s["dropped_count"] else ""
            (row,) = [x for x in r.stdout.splitlines() if x.startswith(f"  {s['system']} ")]
            assert said in row, r.stdout


def test_a_user_whose_every_event_was_dropped_is_not_said_to_have_none(
    cli: Callable[..., CliResult], noisy_db: str
) -> None:
    """`search NOISE --user u2` said "no event has user id 'u2'" and then that 2 dropped events of it match."""
    for command in (("search", "NOISE"), ("traces",)):
        r = cli(*command, "--db", noisy_db, "--user", "u2")
        assert r.exit_code == ExitCode.OK, r.stderr
        assert "no event has user id" not in r.stderr, command
        assert "note: no stored event has user id 'u2': the rules dropped every one that has it" in r.stderr
    # read with the dropped events, the user id is not why nothing was found
    r = cli("search", "no such text", "--db", noisy_db, "--user", "u2", "--include-dropped")
    assert r.exit_code == ExitCode.OK and "user id" not in r.stderr, r.stderr
    assert (
        "no event has user id 'u9' (matched exactly)"
        in cli("traces", "--db", noisy_db, "--user", "u9").stderr
    )


def test_a_database_whose_every_event_was_dropped_is_not_said_to_be_empty(
    cli: Callable[..., CliResult], tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    """`search --include-dropped` listed the dropped events of such a database and said it "holds no events
    yet; ingest some"; `search` said so and then that the dropped events match, and `traces` said so too."""
    from tests.conftest import browser_event

    policy = tmp_path / "policy.toml"
    policy.write_text('[suppression]\npatterns = ["checkout"]\n')
    rows = [browser_event(1714910500000 + n, f"checkout step {n}") for n in range(3)]
    db = str(tmp_path / "dropped.duckdb")
    r = cli("ingest", str(write_jsonl("dropped.jsonl", rows)), "--db", db, "--policy", str(policy), "-q")
    assert r.exit_code == ExitCode.OK, r.stderr
    listed = cli("search", "checkout", "--db", db, "--include-dropped", "--format", "json")
    assert len(listed.json()) == 3 and "note" not in listed.stderr, listed.stderr
    for command in (("search", "checkout"), ("traces",)):
        r = cli(*command, "--db", db)
        assert r.exit_code == ExitCode.OK, r.stderr
        assert "holds no events yet" not in r.stderr, command
        assert f"note: {db} holds no stored events: the rules dropped all 3 events ingested" in r.stderr


def test_search_help_says_which_events_the_trace_filters_judge(cli: Callable[..., CliResult]) -> None:
    r = cli("search", "--help", env={"COLUMNS": "200"})
    assert r.exit_code == ExitCode.OK
    said = " ".join(r.stdout.split())
    assert (
        "by their stored events, as traces counts them; with --include-dropped, by their stored and dropped"
        in said
    )


def test_a_trace_id_with_first_with_errors_is_a_usage_error(cli: Callable[..., CliResult], db: str) -> None:
    """`trace ID --first-with-errors` showed another trace than the one asked for, the first with errors, and
    said nothing of ID: a user who added the flag to jump to its errors read a stranger's request as theirs."""
    r = cli("trace", "trace_1714910600000_pair01", "--first-with-errors", "--db", db)
    assert r.exit_code == ExitCode.USAGE and r.stdout == ""
    assert "not both" in r.stderr and "trace_1714910600000_pair01" in r.stderr


def test_a_listing_of_one_row_is_titled_in_the_singular(cli: Callable[..., CliResult], db: str) -> None:
    """The tables of one row were titled "1 events" and "1 traces"."""
    one = cli("search", "a", "--limit", "1", "--db", db)
    assert one.exit_code == ExitCode.OK and one.stdout.startswith("1 event\n"), one.stdout
    two = cli("search", "a", "--limit", "2", "--db", db)
    assert two.exit_code == ExitCode.OK and two.stdout.startswith("2 events\n"), two.stdout
    traces = cli("traces", "--limit", "1", "--db", db)
    assert traces.exit_code == ExitCode.OK and traces.stdout.startswith("1 trace\n"), traces.stdout


def test_a_traces_list_cut_at_its_limit_says_which_end_it_kept(
    cli: Callable[..., CliResult], db: str
) -> None:
    """`traces` lists the newest first, `search` the oldest: "the first 1" did not say which."""
    r = cli("traces", "--limit", "1", "--db", db)
    assert r.exit_code == ExitCode.OK and "(the 1 newest: there may be more; --limit 0 lists all)" in r.stderr
    longest = cli("traces", "--limit", "1", "--sort", "duration", "--db", db)
    assert longest.exit_code == ExitCode.OK and "(the 1 longest: there may be more" in longest.stderr


def test_wide_messages_are_cut_to_the_columns_of_the_table_and_the_waterfall(
    cli: Callable[..., CliResult], tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    """Cuts counted characters: 120 CJK characters are 240 columns, so a `search` cell folded over two lines and
    the waterfall's line wrapped; 120 accented letters written with combining marks were cut at 60 columns."""
    from rich.cells import cell_len

    from tests.conftest import browser_event

    messages = [
        "注文の処理に失敗しました" * 12,
        "🎉 deployed " * 20,
        "e\u0301" * 150,
        "混合 mixed テキスト " * 12,
    ]
    lines = [browser_event(message=m, ts=1_714_910_405_337 + i) for i, m in enumerate(messages)]
    db = str(tmp_path / "wide.duckdb")
    assert cli("ingest", write_jsonl("wide.jsonl", lines), "--db", db).exit_code == ExitCode.OK
    table = cli("sql", "SELECT message FROM log_queue ORDER BY ts", "--db", db)
    assert table.exit_code == ExitCode.OK, table.stderr
    rows = table.stdout.splitlines()[2:]
    assert len(rows) == len(messages), table.stdout  # one line each: none folded
    for row in rows:
        assert row.rstrip().endswith("…") and 119 <= cell_len(row.strip()) <= 120, row
    assert "values over 120 columns cut" in table.stderr
    waterfall = cli("trace", "trace_1714910400000_abc", "--db", db, env={"NO_COLOR": "1"})
    assert waterfall.exit_code == ExitCode.OK, waterfall.stderr
    shown = [line for line in waterfall.stdout.splitlines() if " browser  log " in line]
    assert len(shown) == len(messages), waterfall.stdout  # one line each: none wrapped
    for line in shown:
        assert "…" in line and 150 <= cell_len(line) <= 160, line


def test_each_listing_command_says_its_order_in_its_help(cli: Callable[..., CliResult]) -> None:
    """Neither `search --help` nor `traces --help` said in which order they list (oldest first; newest first)."""
    said = {
        "search": "oldest first",
        "traces": "newest first",
        "ledger": "ingest order",
    }
    for command, order in said.items():
        r = cli(command, "--help", env={"COLUMNS": "200"})
        assert r.exit_code == ExitCode.OK and order in " ".join(r.stdout.split()), (command, r.stdout)


def test_long_messages_are_cut_in_tables_and_whole_in_the_data_formats(
    cli: Callable[..., CliResult], tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    """An 11,600-character message took about 150 wrapped lines of one row in the tables of `search`, `sql`
    and `ledger` (the trace waterfall cuts long messages with "…"); json, jsonl and csv keep it whole."""
    from tests.conftest import browser_event

    long = "boom " + "x" * 11_600
    # the ledger's table has no message column: a long suppression pattern is a long reason there
    pattern = "noise " + "y" * 300
    policy = tmp_path / "policy.toml"
    policy.write_text(f'[suppression]\npatterns = ["{pattern}"]\n')
    lines = [
        browser_event(message=long, ts=1_714_910_405_337),
        browser_event(message=pattern, ts=1_714_910_405_338),
    ]
    path = write_jsonl("long.jsonl", lines)
    db = str(tmp_path / "long.duckdb")
    assert cli("ingest", path, "--db", db, "--policy", policy).exit_code == ExitCode.OK
    for args in (("search", "boom"), ("sql", "SELECT message FROM log_queue"), ("ledger",)):
        table = cli(*args, "--db", db)
        assert table.exit_code == ExitCode.OK, table.stderr
        assert long not in table.stdout and pattern not in table.stdout and "…" in table.stdout, args
        assert len(table.stdout.splitlines()) < 40, (args, len(table.stdout.splitlines()))
        assert table.stderr.count("--format json, jsonl or csv shows them whole") == 1, (args, table.stderr)
        for fmt in ("json", "jsonl", "csv"):
            whole = cli(*args, "--db", db, "--format", fmt)
            assert whole.exit_code == ExitCode.OK, whole.stderr
            assert (pattern if args == ("ledger",) else long) in whole.stdout, (args, fmt)
            assert "shows them whole" not in whole.stderr, (args, fmt)


def test_a_request_id_finds_the_trace_its_lines_carry(
    cli: Callable[..., CliResult], tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    """The id a developer has of one request (an error page's Ray ID, `cf-ray: …-FRA`; a Convex request id) was
    "no trace …": trace ids only. It names the trace the request's lines carry, said on stderr."""
    tid = "trace_1714910700000_ray1"
    invocation = {
        "Event": {"RayID": "87f0a1ce4b5a6d79", "Request": {"URL": "https://w/log", "Method": "POST"}},
        "EventTimestampMs": 1714910700100,
        "Outcome": "ok",
        "ScriptName": "w",
        "Exceptions": [],
        "Logs": [
            {"Level": "log", "Message": ["Log received", {"trace_id": tid}], "TimestampMs": 1714910700100},
            {"Level": "warn", "Message": ["slow redis"], "TimestampMs": 1714910700101},
        ],
    }
    lone = dict(
        invocation, Event={"RayID": "87f0a1ce4b5a0000"}, Logs=[{"Level": "log", "Message": ["health"]}]
    )
    convex = {"topic": "console", "timestamp": 1714910700200, "log_level": "LOG", "message": f"'saved' {tid}",
              "function": {"path": "orders:save", "request_id": "d064ef901f7ec0b7", "type": "mutation"}}  # fmt: skip
    db = str(tmp_path / "req.duckdb")
    ingest([str(write_jsonl("logpush.jsonl", [invocation, lone])), str(write_jsonl("c.jsonl", [convex]))], db)
    for wanted in ("87f0a1ce4b5a6d79-FRA", "87F0A1CE4B5A6D79", "d064ef901f7ec0b7"):
        r = cli("trace", wanted, "--db", db, "--format", "json")
        assert r.exit_code == ExitCode.OK, r.stderr
        assert r.json()["trace_id"] == tid and r.json()["event_count"] == 3
        assert r.stderr == f"note: {wanted!r} is a request of trace {tid}\n"
    r = cli("trace", "87f0a1ce4b5a0000-SJC", "--db", db)
    assert r.exit_code == ExitCode.CHECK_FAILED and r.stdout == ""
    assert "the Ray ID of request '87f0a1ce4b5a0000', whose lines carry no trace id" in r.stderr
