"""`logcorr replay FILES… / --db`: recorded logs through the same engine on simulated time, with
--speed (time compression) and --multiply (clones of every trace with new ids)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from logcorr.errors import ExitCode
from logcorr.pipeline.ingest import ingest
from logcorr.replay.recorded import RecordedLoad
from logcorr.rules.redact import contains_secret
from logcorr.store.query import open_read_only
from tests.conftest import FIXTURES, CliResult, browser_event

Cli = Callable[..., CliResult]
T0 = 1_717_322_400_000  # 2024-06-02T10:00:00Z


def replay_json(cli: Cli, *args: str) -> dict[str, Any]:
    r = cli("replay", *args, "--format", "json")
    assert r.exit_code == ExitCode.OK, r.stderr
    data: dict[str, Any] = r.json()
    return data


@pytest.fixture(scope="module")
def fixtures_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    db = str(tmp_path_factory.mktemp("rec") / "fx.duckdb")
    ingest([str(FIXTURES)], db)
    return db


def recorded_count(db: str) -> int:
    con = open_read_only(db)
    try:
        return int(
            con.execute(
                "SELECT (SELECT count(*) FROM log_queue) + (SELECT count(*) FROM drop_ledger)"
            ).fetchall()[0][0]
        )
    finally:
        con.close()


def test_files_and_their_database_replay_the_same(cli: Cli, fixtures_db: str) -> None:
    from_files = replay_json(cli, str(FIXTURES))
    from_db = replay_json(cli, "--db", fixtures_db)
    assert from_files["metrics"]["events"] == from_db["metrics"]["events"] == recorded_count(fixtures_db)
    for k in ("accepted", "trace_integrity", "dropped.duplicate", "dropped.suppress"):
        assert from_files["metrics"][k] == from_db["metrics"][k], k
    assert from_files["replay"]["source"] == {"inputs": [str(FIXTURES)]}


def test_multiply_clones_every_trace_with_new_ids(cli: Cli, fixtures_db: str) -> None:
    once = replay_json(cli, "--db", fixtures_db)
    thrice = replay_json(cli, "--db", fixtures_db, "--multiply", "3")
    assert thrice["metrics"]["events"] == 3 * once["metrics"]["events"]
    for s in ("browser", "worker", "backend"):
        assert thrice["systems"][s]["offered"] == 3 * once["systems"][s]["offered"]
    assert thrice["metrics"]["traces.multi_system"] == 3 * once["metrics"]["traces.multi_system"]
    assert thrice["replay"]["multiply"] == 3


def test_multiplied_clones_have_their_own_trace_ids(fixtures_db: str) -> None:
    con = open_read_only(fixtures_db)
    try:
        load = RecordedLoad(con, {"db": fixtures_db}, multiply=4)
        base = con.execute("SELECT count(DISTINCT trace_id) FROM sim_base").fetchall()[0][0]
        windows = " UNION ALL ".join(f"SELECT * FROM ({load.chunk_sql(c0, c1)})" for c0, c1 in load.windows())
        replayed = con.execute(
            f"SELECT count(*), count(DISTINCT trace_id), count(*) FILTER (WHERE trace_id LIKE '%~0.%') FROM ({windows})"
        ).fetchall()[0]
    finally:
        con.close()
    events, clones, suffixed = replayed
    assert load.events == events == 4 * load.recorded
    assert clones == 4 * base
    assert suffixed == 3 * con_count_with_trace(fixtures_db)


@pytest.mark.parametrize("speed", [1.0, 7.0])
def test_the_recorded_events_are_kept_in_time_order_for_the_window_queries(
    fixtures_db: str, speed: float
) -> None:
    # a window's query reads only the row groups its clones come from when they are in time order; they were
    # sorted after being built, holding a second copy of a million events and its sort buffers (100 MB more)
    con = open_read_only(fixtures_db)
    try:
        RecordedLoad(con, {"db": fixtures_db}, speed=speed)
        times = [t for (t,) in con.execute("SELECT ts_ms FROM sim_base").fetchall()]
        (tables,) = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'replay_base'"
        ).fetchall()
    finally:
        con.close()
    assert len(times) == recorded_count(fixtures_db) and times == sorted(times)
    assert tables == (0,)


def test_a_recorded_window_is_aggregated_where_it_is_not_copied_into_a_table(
    fixtures_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # each window was copied into a TEMP table for the aggregates: 40 MB of DuckDB's memory at half a million
    # events, beside the Arrow table it came from
    from logcorr.replay import drive
    from logcorr.replay.session import Request, execute

    tables: list[int] = []
    aggregate = drive._aggregate

    def counted(con: Any, *args: Any) -> None:
        sql = "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'replay_chunk'"
        tables.append(int(con.execute(sql).fetchall()[0][0]))
        aggregate(con, *args)

    monkeypatch.setattr(drive, "_aggregate", counted)
    result = execute(Request(db=fixtures_db, multiply=3))
    assert result["metrics"]["events"] == 3 * recorded_count(fixtures_db)
    assert tables and set(tables) == {0}


def con_count_with_trace(db: str) -> int:
    con = open_read_only(db)
    try:
        return int(con.execute(
            "SELECT (SELECT count(*) FROM log_queue WHERE trace_id IS NOT NULL)"
            " + (SELECT count(*) FROM drop_ledger WHERE trace_id IS NOT NULL)").fetchall()[0][0])  # fmt: skip
    finally:
        con.close()


def test_speed_compresses_simulated_time(cli: Cli, fixtures_db: str) -> None:
    real = replay_json(cli, "--db", fixtures_db)
    fast = replay_json(cli, "--db", fixtures_db, "--speed", "10")
    assert fast["metrics"]["events"] == real["metrics"]["events"]
    assert fast["replay"]["start"] == real["replay"]["start"]
    assert abs(fast["replay"]["span_ms"] - real["replay"]["span_ms"] / 10) <= 1


def test_a_recorded_burst_meets_the_rules_again_when_replayed_faster(
    cli: Cli, write_jsonl: Callable[..., Path]
) -> None:
    # 40 distinct lines a second for a minute and a half: under the limit at real speed, a flood at 10×
    recs = [browser_event(T0 + i * 2250, f"step {i}", trace=f"trace_{T0}_s{i}") for i in range(40)]
    path = write_jsonl("burst.jsonl", recs)
    real = replay_json(cli, str(path))
    fast = replay_json(cli, str(path), "--speed", "10", "--multiply", "3")
    assert real["metrics"]["dropped.rate_limit"] == 0
    assert fast["metrics"]["events"] == 120
    assert fast["metrics"]["dropped.rate_limit"] > 0
    assert fast["metrics"]["accepted"] <= 50 + 25  # one minute's limit and the trace-aware grace


def test_recorded_loops_are_cut_and_secrets_stay_redacted(cli: Cli, write_jsonl: Callable[..., Path]) -> None:
    recs = [browser_event(T0 + i * 20, "same line again") for i in range(30)]
    recs.append(browser_event(T0 + 5000, "login with password=hunter2hunter2 and Bearer abcdefghijklmnop123"))
    res = replay_json(cli, str(write_jsonl("loop.jsonl", recs)))
    assert res["metrics"]["max_identical_per_s"] <= 5
    assert res["metrics"]["dropped.loop"] == 25
    assert res["metrics"]["redactions"] >= 2
    text = str(res)
    assert "hunter2" not in text and "abcdefghijklmnop123" not in text
    assert not contains_secret(" ".join(m["message"] for m in res["messages"]))


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--speed", "0"), "--speed must be a positive number"),
        (("--multiply", "-1"), "--multiply must be a positive number"),
        # nan and inf reached the SQL text ("Referenced column nan") or an int() (internal errors)
        (("--speed", "nan"), "--speed must be a positive number"),
        (("--speed", "inf"), "--speed must be a positive number"),
        (("--multiply", "inf"), "--multiply must be a positive number"),
        # finite but absurd: a replay that would never end, a time past DuckDB's integers
        (("--multiply", "1e12"), "a replay takes at most 1,000,000,000"),
        (("--speed", "1e-300"), "beyond 366 days"),
    ],
)
def test_bad_speed_or_multiply_is_a_usage_error(
    cli: Cli, fixtures_db: str, args: tuple[str, ...], says: str
) -> None:
    r = cli("replay", "--db", fixtures_db, *args)
    assert r.exit_code == ExitCode.USAGE, r.stderr
    assert says in r.stderr and "internal error" not in r.stderr


def test_an_empty_or_missing_database_is_an_input_error(cli: Cli, tmp_path: Path) -> None:
    r = cli("replay", "--db", str(tmp_path / "none.duckdb"))
    assert r.exit_code == ExitCode.INPUT, r.stderr


def test_logcorr_db_in_the_environment_does_not_get_in_a_scenario_s_way(cli: Cli, fixtures_db: str) -> None:
    r = cli("replay", "--scenario", "steady", "--format", "json", env={"LOGCORR_DB": fixtures_db})
    assert r.exit_code == ExitCode.OK, r.stderr
    r = cli("replay", "--format", "json", env={"LOGCORR_DB": fixtures_db})
    assert r.exit_code == ExitCode.OK, r.stderr
    assert r.json()["replay"]["source"] == {"db": fixtures_db}


def test_a_browser_line_days_ahead_does_not_dilute_the_replay(cli: Cli, tmp_path: Path) -> None:
    """One console line of a browser 2 days ahead, beside an afternoon of worker logs, stretched the replay to
    2 days: its rate, and the month's cost scaled from it, fell twelvefold. It is left out, and said."""

    afternoon = [{"id": f"w{i}", "trace_id": f"tw-{i}", "system": "worker", "level": "log", "message": f"w {i}",
                  "timestamp": T0 + i * 36_000} for i in range(400)]  # fmt: skip
    skewed = {"message": "Page view", "level": "info", "system": "browser", "trace_id": "tb-skewed",
              "context": {"timestamp": T0 + 2 * 86_400_000, "url": "http://localhost/", "userAgent": "M"}}  # fmt: skip
    want, r, got = replay_with_and_without(cli, tmp_path, afternoon, [skewed])
    assert got["replay"]["span_ms"] == want["replay"]["span_ms"] < 4 * 3_600_000
    for k in ("events", "events_per_s", "cost_usd", "quota_pct"):
        assert got["metrics"][k] == want["metrics"][k], k
    (group,) = got["replay"]["left_out"]
    assert group["events"] == 1 and group["systems"] == {"browser": 1} and group["side"] == "after"
    assert "note: left out of the replay: 1 browser event 1.8 d after the rest" in r.stderr, r.stderr
    assert got["notes"][0].startswith("left out: 1 browser event 1.8 d after the rest")
    assert want["replay"]["left_out"] == []


def test_local_tz_with_a_scenario_is_refused_for_what_was_given(cli: Cli) -> None:
    # the zone reads recorded files; a scenario's times are simulated. The error named "a database's times",
    # and the hint told the user to ingest again, with no database given
    r = cli("replay", "--scenario", "steady", "--local-tz", "UTC", "-p", "duration=1m")
    assert r.exit_code == ExitCode.USAGE
    assert "not to a scenario" in r.stderr and "database" not in r.stderr


def test_lines_left_out_of_a_replay_are_named_by_file_and_line(cli: Cli, tmp_path: Path) -> None:
    # the note counted them by reason only: which line of which export was wrong took a separate ingest
    good = '{"trace_id":"t1","message":"ok","level":"log","system":"browser","user_id":"u","context":{"timestamp":%d}}'
    (tmp_path / "a.jsonl").write_text(f"{good % T0}\n{good % (T0 + 60_000)}\n")
    bad = tmp_path / "b.jsonl"
    bad.write_text(f"{good % (T0 + 1000)}\n{good % (T0 + 2000)}\n{{cut off\n[1]\n")
    r = cli("replay", str(tmp_path), "--format", "json")
    assert r.exit_code == ExitCode.OK, r.stderr
    assert (
        f"left out (1 × malformed JSON; 1 × not a JSON object), the first at {bad}:3 (malformed JSON"
        in r.stderr
    )
    assert r.stderr.count(f"{bad}:") == 1


def replay_with_and_without(
    cli: Cli, tmp_path: Path, lines: list[dict[str, Any]], strays: list[dict[str, Any]]
) -> tuple[dict[str, Any], Any, dict[str, Any]]:
    """`replay --format json` of `lines` alone (the JSON), and of `lines` and `strays` (the result, its JSON)."""
    clean, late = tmp_path / "clean.jsonl", tmp_path / "late.jsonl"
    clean.write_text("".join(orjson.dumps(x).decode() + "\n" for x in lines))
    late.write_text("".join(orjson.dumps(x).decode() + "\n" for x in [*lines, *strays]))
    want = replay_json(cli, str(clean))
    r = cli("replay", str(late), "--format", "json")
    assert r.exit_code == ExitCode.OK, r.stderr
    return want, r, r.json()


def week_of_exports(strays: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A week's exports, a console line and the Worker's record every 10 minutes, and `strays` console lines of
    a browser whose clock is 2 days ahead, 2 days after the week's last event."""
    minute, day = 60_000, 86_400_000
    lines = []
    for i in range(7 * 24 * 6):
        ts = T0 + i * 10 * minute
        lines.append(browser_event(ts, f"click {i}", trace=f"tb-{i}"))
        lines.append({"id": f"w{i}", "trace_id": f"tw-{i}", "system": "worker", "level": "log",
                      "message": f"POST /log {i}", "timestamp": ts})  # fmt: skip
    week_end = T0 + (7 * 24 * 6 - 1) * 10 * minute
    late = [
        browser_event(week_end + 2 * day + k * 1000, f"resumed {k}", trace=f"ts-{k}") for k in range(strays)
    ]
    return lines, late


def test_browser_lines_days_beyond_a_week_of_exports_are_left_out(cli: Cli, tmp_path: Path) -> None:
    """A week's exports and 3 console lines of a browser 2 days ahead: apart from the rest by less than the
    week, they were kept (a note said so): the span was 9 days, not 7, and `cost_usd` 22 % low. Apart by more
    than the week's longest quiet (10 min), they are left out, as an afternoon's are."""
    want, r, got = replay_with_and_without(cli, tmp_path, *week_of_exports(3))
    assert got["replay"]["span_ms"] == want["replay"]["span_ms"] < 7 * 86_400_000
    for k in ("events", "events_per_s", "cost_usd", "quota_pct"):
        assert got["metrics"][k] == want["metrics"][k], k
    (group,) = got["replay"]["left_out"]
    assert (group["side"], group["events"], group["systems"]) == ("after", 3, {"browser": 3})
    assert "note: left out of the replay: 3 browser events 2.0 d after the rest" in r.stderr, r.stderr
    assert not [n for n in got["notes"] if "on the browsers' own clocks" in n], got["notes"]


def test_browser_lines_beyond_a_week_too_many_to_leave_out_are_kept_and_said(
    cli: Cli, tmp_path: Path
) -> None:
    """50 console lines 2 days after a week's 4,032 events are more than 1 % of them: no stray clock's few,
    so they are kept; but a wrong clock would stretch the span from 7 to 9 days and dilute the load: said."""
    lines, late = week_of_exports(50)
    src = tmp_path / "week.jsonl"
    src.write_text("".join(orjson.dumps(x).decode() + "\n" for x in [*lines, *late]))
    r = cli("replay", str(src), "--format", "json")
    assert r.exit_code == ExitCode.OK, r.stderr
    said = (
        "50 browser events lie 2.0 d after every Worker and Convex event, apart from the rest by 2.0 d without any "
        "event, on the browsers' own clocks (between the Worker's and Convex's first and last events, no quiet is "
        "longer than 10.0 min): with them the observed span is 9.0 d, not 7.0 d; if a browser clock is wrong, the "
        "load is diluted by 22 %: check those events' times"
    )
    assert said in r.json()["notes"]
    assert f"note: {said}" in r.stderr
    assert r.json()["replay"]["left_out"] == [] and r.json()["metrics"]["events"] == len(lines) + 50


def test_a_file_level_fault_is_named_by_its_file_alone(cli: Cli, tmp_path: Path) -> None:
    # a gzip cut off before its first line was said to be at `trunc.gz:0`
    import gzip

    good = tmp_path / "a.jsonl"
    good.write_text(orjson.dumps(browser_event(T0, "ok")).decode() + "\n")
    cut = tmp_path / "cut.gz"
    cut.write_bytes(gzip.compress(b'{"message": "x"}\n' * 100)[:10])
    r = cli("replay", str(good), str(cut), "--format", "json")
    assert r.exit_code == ExitCode.OK, r.stderr
    assert f"the first at {cut} (truncated gzip file" in r.stderr
    assert f"{cut}:0" not in r.stderr


def test_the_message_tally_stays_compact_as_clones_repeat_it(
    fixtures_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every window added a row per message and decision to replay_agg_msg: a recording's messages repeat in every
    # window of --multiply, and at ×20 of a million events the table held 7.3 million rows (600 MB)
    from logcorr.replay import drive, recorded
    from logcorr.replay.session import Request, execute

    monkeypatch.setattr(recorded, "TARGET_CHUNK_EVENTS", 40)
    sizes: list[int] = []
    fold = drive._Folder._fold

    def counted(self: Any, *args: Any) -> None:
        fold(self, *args)
        sizes.append(int(self.con.execute("SELECT count(*) FROM replay_agg_msg").fetchall()[0][0]))

    monkeypatch.setattr(drive._Folder, "_fold", counted)
    monkeypatch.setattr(drive, "COMPACT_MIN_ROWS", 10**12, raising=False)
    whole = execute(Request(db=fixtures_db, multiply=8))
    grown, sizes[:] = list(sizes), []
    monkeypatch.setattr(drive, "COMPACT_MIN_ROWS", 1, raising=False)
    compact = execute(Request(db=fixtures_db, multiply=8))
    assert compact == whole
    assert len(sizes) == len(grown) > 10
    # never more than twice the rows of a compacted table, plus one window's
    assert max(sizes) < grown[-1] / 2
