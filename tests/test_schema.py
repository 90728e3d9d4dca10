"""Schema migrations: a database written by an earlier logcorr opens in this one with nothing lost.

v4 splits the drop ledger into `drop_events` and `drop_reasons` behind a `drop_ledger` view with the
columns the table had; a v3 database's ledger must read back row for row after the migration."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from logcorr.correlate.trace import TraceNotFound
from logcorr.pipeline.ingest import ingest
from logcorr.store.connection import connect
from logcorr.store.schema import LATEST
from tests.conftest import browser_event, database_at, earlier_rejects, schema_back_to

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
T0 = 1714910400000  # 2024-05-05 12:00:00 UTC


def _ledger(con: Any) -> list[tuple[Any, ...]]:
    return con.execute("SELECT * FROM drop_ledger ORDER BY event_id").fetchall()  # type: ignore[no-any-return]


def _flood(path: Path, n: int, t0: int) -> None:
    """A browser flood: the rate limit and the loop rule drop most of it, many events per decision."""
    lines = [json.dumps(browser_event(t0 + i, f"tick {i % 3}", f"trace_{t0}_{i % 7}")) for i in range(n)]
    path.write_text("\n".join(lines) + "\n")


def test_a_v3_ledger_reads_back_row_for_row_after_the_migration(tmp_path: Path) -> None:
    # the rows of a real ledger, as this logcorr writes them
    source = tmp_path / "source.duckdb"
    _flood(tmp_path / "flood.jsonl", 400, T0)
    ingest([str(FIXTURES), str(tmp_path / "flood.jsonl")], str(source))
    src = duckdb.connect(str(source), read_only=True)
    rows = _ledger(src)
    src.close()
    assert len(rows) > 100

    # a v3 database holding them in its drop_ledger table
    old = tmp_path / "v3.duckdb"
    con = database_at(old, 3)
    con.execute(f"ATTACH '{source}' AS src (READ_ONLY)")
    con.execute("INSERT INTO drop_ledger SELECT * FROM src.drop_ledger")
    con.execute("DETACH src")
    assert con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_name = 'drop_ledger'"
    ).fetchone() == ("BASE TABLE",)
    con.close()

    con = connect(str(old))  # migrates
    assert con.execute("SELECT max(version) FROM schema_migrations").fetchone() == (LATEST,)
    assert _ledger(con) == rows
    events, reasons, distinct = con.execute(
        "SELECT (SELECT count(*) FROM drop_events), (SELECT count(*) FROM drop_reasons), "
        "(SELECT count(*) FROM (SELECT DISTINCT reason, rule_state FROM drop_ledger))"
    ).fetchone()
    assert events == len(rows) and reasons == distinct < events  # each reason once
    trace_id = next(r[7] for r in rows if r[7] is not None)
    assert con.execute("SELECT count(*) FROM drop_ledger WHERE trace_id = ?", [trace_id]).fetchone()[
        0
    ] == sum(r[7] == trace_id for r in rows)
    con.close()

    # and the next ingest continues it: new reasons numbered after the migrated ones, nothing lost
    _flood(tmp_path / "later.jsonl", 300, T0 + 3_600_000)
    result = ingest([str(tmp_path / "later.jsonl")], str(old))
    con = duckdb.connect(str(old), read_only=True)
    after = _ledger(con)
    assert after[: len(rows)] == rows and len(after) == len(rows) + result.dropped
    assert con.execute("SELECT count(*) = count(DISTINCT reason_id) FROM drop_reasons").fetchone() == (True,)
    con.close()


def test_ingest_writes_each_decision_once_and_the_view_has_the_ledgers_columns(tmp_path: Path) -> None:
    db = tmp_path / "db.duckdb"
    _flood(tmp_path / "flood.jsonl", 500, T0)
    result = ingest([str(tmp_path / "flood.jsonl")], str(db))
    con = duckdb.connect(str(db), read_only=True)
    events, reasons, view = con.execute(
        "SELECT (SELECT count(*) FROM drop_events), (SELECT count(*) FROM drop_reasons), (SELECT count(*) FROM drop_ledger)"
    ).fetchone()
    assert events == view == result.dropped > 0
    assert 0 < reasons < events
    columns = [c[0] for c in con.execute("DESCRIBE drop_ledger").fetchall()]
    assert (
        columns[-3:] == ["rule", "reason", "rule_state"] and columns[0] == "event_id" and len(columns) == 22
    )
    con.close()


def test_a_new_databases_contexts_are_stored_with_zstd(tmp_path: Path) -> None:
    """`context` (JSON of a page's or a request's state, often kilobytes) is compressed with zstd in every event
    table: DuckDB's default for text, dictionary + FSST, took twice the CPU for a file three times as large
    (docs/performance.md, "contexts stored with zstd"); the contexts read back as written."""
    db = tmp_path / "db.duckdb"
    _flood(tmp_path / "flood.jsonl", 500, T0)
    result = ingest([str(tmp_path / "flood.jsonl")], str(db))
    assert result.stored and result.dropped
    con = duckdb.connect(str(db), read_only=True)
    for table in ("log_queue", "recent_log_entries", "drop_events"):
        methods = {
            m
            for (m,) in con.execute(
                f"SELECT DISTINCT compression FROM pragma_storage_info('{table}') "
                "WHERE column_name = 'context' AND segment_type <> 'VALIDITY'"
            ).fetchall()
        }
        assert methods == {"ZSTD"}, (table, methods)
    contexts = con.execute(
        "SELECT context->>'$.url', count(*) FROM (SELECT context FROM log_queue UNION ALL "
        "SELECT context FROM drop_events) GROUP BY 1"
    ).fetchall()
    assert contexts == [("http://localhost:3000/", result.stored + result.dropped)]
    con.close()


def test_a_traces_dropped_events_are_found_through_its_spans_across_ingests(tmp_path: Path) -> None:
    """`drop_traces` has a row per trace and run with the time span of its dropped events; `trace
    --include-dropped` and `ledger --trace` read the ledger within those spans and find every one."""
    from logcorr.correlate.trace import build
    from logcorr.rules.ledger import LedgerFilter, ledger_rows

    db = tmp_path / "db.duckdb"
    _flood(tmp_path / "a.jsonl", 400, T0)
    ingest([str(tmp_path / "a.jsonl")], str(db))
    _flood(tmp_path / "b.jsonl", 400, T0 + 7_200_000)  # the same trace ids, two hours later
    ingest([str(tmp_path / "b.jsonl")], str(db))

    con = duckdb.connect(str(db), read_only=True)
    spans = con.execute(
        "SELECT t.trace_id, t.run_id, any_value(t.first_ts) = min(e.ts) AND any_value(t.last_ts) = max(e.ts) "
        "FROM drop_traces t JOIN drop_events e ON e.trace_id = t.trace_id AND e.run_id = t.run_id "
        "GROUP BY t.trace_id, t.run_id"
    ).fetchall()
    assert spans and all(ok for _, _, ok in spans)
    assert con.execute("SELECT count(DISTINCT run_id) FROM drop_traces").fetchone() == (2,)
    expected = dict(
        con.execute(
            "SELECT trace_id, count(*) FROM drop_ledger WHERE trace_id IS NOT NULL GROUP BY ALL"
        ).fetchall()
    )
    for trace_id, n in expected.items():
        model = build(con, trace_id, include_dropped=True)
        assert sum(e["dropped_by"] is not None for e in model["events"]) == n, trace_id
    con.close()
    for trace_id, n in expected.items():
        assert len(list(ledger_rows(str(db), LedgerFilter(trace=trace_id, limit=0)))) == n
    with pytest.raises(TraceNotFound):  # as `trace` of no such trace (`ledger --trace` exits 1)
        ledger_rows(str(db), LedgerFilter(trace="trace_never_seen", limit=0))


def test_a_database_from_a_newer_logcorr_asks_for_an_upgrade_not_a_migration(tmp_path: Path, cli) -> None:
    db = tmp_path / "db.duckdb"
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps(browser_event(1714910400000, "x")) + "\n")
    ingest([str(path)], str(db))
    con = duckdb.connect(str(db))
    con.execute("INSERT INTO schema_migrations VALUES (?, 'from the future', now())", [LATEST + 95])
    con.close()
    for args in (("traces",), ("ingest", str(path))):
        r = cli(*args, "--db", str(db))
        assert r.exit_code == 3, r.stderr
        assert (
            "newer" in r.stderr and "upgrade logcorr" in r.stderr and "an ingest migrates it" not in r.stderr
        )


def test_each_ingest_records_what_it_redacted_and_stats_sums_it(tmp_path: Path, cli) -> None:
    # the counts were in the ingest summary only: afterwards nothing said whether secrets had been found
    from logcorr.correlate.listing import stats

    db = tmp_path / "red.duckdb"
    # a v4 database first (as the last logcorr wrote it): its run has no counts, and is not counted as zero
    con = database_at(db, 4)
    con.execute("INSERT INTO ingest_runs (run_id, started_at) VALUES (1, now())")
    con.close()
    lines = [
        browser_event(T0, "login with Bearer abcdefghijklmnopqrstuvwxyz012345", "trace_1"),
        browser_event(T0 + 5, 'config {"password": "hunter2hunter2"}', "trace_1"),
        browser_event(T0 + 9, "retry with Bearer zyxwvutsrqponmlkjihgfedcba543210", "trace_1"),
    ]
    for i, line in enumerate(lines):
        (tmp_path / f"{i}.jsonl").write_text(json.dumps(line) + "\n")
    ingest([str(tmp_path / "0.jsonl"), str(tmp_path / "1.jsonl")], str(db))
    ingest([str(tmp_path / "2.jsonl")], str(db))
    con = connect(str(db))
    runs = con.execute("SELECT run_id, redactions FROM ingest_runs ORDER BY run_id").fetchall()
    summed = stats(con)["redactions"]
    con.close()
    assert runs == [(1, None), (2, {"bearer": 1, "password": 1}), (3, {"bearer": 1})]
    assert summed == [{"kind": "bearer", "replaced": 2}, {"kind": "password", "replaced": 1}]
    shown = cli("stats", "--db", str(db))
    assert "secrets redacted (every ingest)" in shown.stdout and "bearer" in shown.stdout


def _migrated_from(db: Path, version: int, column: str, query: str) -> list[tuple[Any, ...]]:
    """`query`'s rows once `db`, taken back to schema v`version` (its `ingest_files` without `column`), is
    migrated to the latest by a connection."""
    schema_back_to(db, version)
    with duckdb.connect(str(db), read_only=True) as con:
        assert column not in [c[0] for c in con.execute("DESCRIBE ingest_files").fetchall()]
    con = connect(str(db))  # migrates
    try:
        assert con.execute("SELECT max(version) FROM schema_migrations").fetchone() == (LATEST,)
        return con.execute(query).fetchall()  # type: ignore[no-any-return]
    finally:
        con.close()


def test_a_v6_database_gets_where_each_read_of_a_grown_log_began_from_its_notes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """v7 puts the run a grown log's read continues and the line it began at in columns of `ingest_files`; up to
    v6 they were only in the note (`grown since run 2: read from line 1,203`), which `--strict` read back. A v6
    database gets them from its notes, and `--strict` then still names every earlier run's rejected lines."""
    from logcorr.pipeline import ingest as ingest_mod

    # the notes as logcorr up to v6 worded them, whatever the note says now
    monkeypatch.setattr(ingest_mod, "_GROWN_NOTE", "grown since run {run}: read from line {line:,}")
    log = tmp_path / "app.jsonl"
    source = tmp_path / "source.duckdb"
    good = [json.dumps(browser_event(T0 + i, f"line {i}")) for i in range(1204)]
    # read (a bad line 2), grown (a bad line 1,202), grown, then given again unchanged: already ingested
    for lines in ([good[0], "{broken", *good[2:1200]], [good[1200], "{broken too"], [good[1202]], []):
        with log.open("a") as f:
            f.write("".join(line + "\n" for line in lines))
        ingest([str(log)], str(source))
    src = duckdb.connect(str(source), read_only=True)
    reads = (
        "SELECT run_id, file_id, status, continues_run, first_line FROM ingest_files ORDER BY run_id, file_id"
    )
    expected = src.execute(reads).fetchall()
    notes = [n for (n,) in src.execute("SELECT notes FROM ingest_files ORDER BY run_id").fetchall()]
    src.close()
    assert expected == [
        (1, 1, "ingested", None, 1),
        (2, 1, "ingested", 1, 1201),
        (3, 1, "ingested", 2, 1203),
        (4, 1, "already-ingested", None, None),
    ]
    assert notes[2].startswith("grown since run 2: read from line 1,203 (byte")

    # a v6 database holding the same rows, its ingest_files without the new columns
    old = source
    assert _migrated_from(old, 6, "continues_run", reads) == expected

    # grown once more: --strict names both earlier runs' rejected lines, found through the migrated columns
    with log.open("a") as f:
        f.write(good[1203] + "\n")
    result = ingest([str(log)], str(old), strict=True)
    assert not result.committed and (result.rejected, result.earlier_rejected) == (0, 2)
    assert earlier_rejects(result) == [(str(log), 2, 1), (str(log), 1202, 2)]


# the notes on the zone `npx convex logs` text was read in, as logcorr up to schema v7 worded them
_V7_GIVEN = "times read in {zone} (--local-tz / $LOGCORR_LOCAL_TZ), to the second"
_V7_MACHINE = (
    "times read in this machine's zone, {zone}, to the second (the CLI prints local time without a zone: give "
    "--local-tz or $LOGCORR_LOCAL_TZ if it ran elsewhere)"
)


def test_a_v7_database_gets_the_zone_each_text_log_was_read_in_from_its_notes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """v8 puts the zone an `npx convex logs` text file was read in, and whether it was named, in columns of
    `ingest_files`; up to v7 it was only in the note, which a grown file's next read took its zone from. A v7
    database gets them from its notes, and the new lines of its logs are read in the zone the notes name."""
    from logcorr.sources import convex_text

    monkeypatch.setattr(convex_text, "ZONE_GIVEN_NOTE", _V7_GIVEN)
    monkeypatch.setattr(convex_text, "ZONE_MACHINE_NOTE", _V7_MACHINE)
    monkeypatch.delenv(convex_text.ENV_ZONE, raising=False)
    berlin, tokyo, app = tmp_path / "berlin.log", tmp_path / "tokyo.log", tmp_path / "app.jsonl"
    berlin.write_text("2026-01-04 13:17:46 [CONVEX Q(a:b)] [LOG] 'one'\n")
    tokyo.write_text("2026-01-04 13:17:46 [CONVEX Q(a:b)] [LOG] 'uno'\n")
    app.write_text(json.dumps(browser_event(T0, "hello")) + "\n")
    db = tmp_path / "x.duckdb"
    ingest([str(berlin), str(app)], str(db), local_tz="Europe/Berlin")
    try:
        with monkeypatch.context() as machine:
            machine.setenv("TZ", "Asia/Tokyo")  # this machine's zone, read in when none is named
            time.tzset()
            ingest([str(tokyo)], str(db))
    finally:
        time.tzset()
    zones = (
        "SELECT run_id, file_id, mode, local_tz, local_tz_given FROM ingest_files ORDER BY run_id, file_id"
    )
    expected = [
        (1, 1, "convex-text", "Europe/Berlin", True),
        (1, 2, "ndjson", None, None),
        (2, 1, "convex-text", "Asia/Tokyo", False),
    ]
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute(zones).fetchall() == expected
        notes = [
            n for (n,) in con.execute("SELECT notes FROM ingest_files ORDER BY run_id, file_id").fetchall()
        ]
    assert "times read in Europe/Berlin (--local-tz" in notes[0]
    assert "times read in this machine's zone, Asia/Tokyo, to the second" in notes[2]

    assert _migrated_from(db, 7, "local_tz", zones) == expected

    # grown: their new lines are read in the zones the migrated columns name, not in the zone now given
    for log, message in ((berlin, "two"), (tokyo, "dos")):
        with log.open("a") as f:
            f.write(f"2026-01-04 13:17:47 [CONVEX Q(a:b)] [LOG] '{message}'\n")
    ingest([str(berlin), str(tokyo)], str(db), local_tz="UTC")
    with duckdb.connect(str(db), read_only=True) as con:
        new = con.execute(
            "SELECT source_file, epoch_ms(ts) FROM log_queue WHERE run_id = 3 ORDER BY source_file"
        ).fetchall()
        assert con.execute(zones + " OFFSET 3").fetchall() == [
            (3, 1, "convex-text", "Europe/Berlin", True),
            (3, 2, "convex-text", "Asia/Tokyo", False),
        ]
    assert new == [(str(berlin), 1767529067000), (str(tokyo), 1767500267000)]  # 12:17:47 and 04:17:47 UTC


@pytest.mark.parametrize(
    "notes",
    [
        _V7_GIVEN.format(zone="UTC"),
        "npx convex logs text: dates read day first, as line 2 tells ('13/01/2026, 10:00:00'); "
        + _V7_MACHINE.format(zone="CET/CEST"),  # a machine's zone known by its abbreviations only
        "grown since run 1: read from line 4; the 3 lines before were ingested then (read again only for the order "
        "of their dates, not stored again); npx convex logs text: "
        + _V7_GIVEN.format(zone="America/New_York")
        + "; its new lines are read in America/New_York, the zone run 1 read its earlier lines in, not in UTC as now",
        _V7_MACHINE.format(zone="Etc/GMT-5") + "; " + _V7_GIVEN.format(zone="UTC"),  # the first
        "empty file: no lines to read",
        None,
    ],
    ids=["named", "machine-abbreviations", "grown", "the-first-of-two", "no-zone", "no-notes"],
)
def test_v8_reads_the_zone_out_of_a_note_as_logcorr_up_to_v7_did(tmp_path: Path, notes: str | None) -> None:
    # the pattern the zone was read back from the notes with, up to v7 (`ingest._ZONE_NOTE`), and how it told a
    # zone named from this machine's: what followed the name
    import re

    pattern = re.compile(r"times read in (?:this machine's zone, )?(.+?)(?: \(--local-tz|, to the second)")
    m = pattern.search(notes or "")
    then = (m.group(1), (notes or "").startswith(" (--local-tz", m.end(1))) if m else (None, None)
    db = tmp_path / "v7.duckdb"
    con = database_at(db, 7)
    con.execute(
        "INSERT INTO ingest_files (run_id, file_id, path, status, mode, notes) VALUES (1, 1, 'b.log', 'ingested', "
        "'convex-text', ?)",
        [notes],
    )
    con.close()
    con = connect(str(db))
    assert con.execute("SELECT local_tz, local_tz_given FROM ingest_files").fetchone() == then


def _summaries(con: Any) -> list[tuple[Any, ...]]:
    """The summaries as v8 had them: without the key v10 adds."""
    cols = [r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = 'trace_summary' "
                                      "AND column_name != 'trace_key' ORDER BY column_index").fetchall()]  # fmt: skip
    return con.execute(f"SELECT {', '.join(cols)} FROM trace_summary ORDER BY trace_id").fetchall()  # type: ignore[no-any-return]


def test_a_v8_databases_trace_summaries_read_back_row_for_row_without_their_key(tmp_path: Path) -> None:
    """v9 drops `trace_summary`'s PRIMARY KEY: each ingest deletes and rewrites the summaries of the traces it
    touched, and with the key DuckDB held every deleted key until COMMIT — a browser export of 600k requests
    ingested after their backend's export ran out of the store phase's memory. The rows stay as they were."""
    source = tmp_path / "source.duckdb"
    ingest([str(FIXTURES)], str(source))
    old = tmp_path / "v8.duckdb"
    con = database_at(old, 8)
    con.execute(f"ATTACH '{source}' AS src (READ_ONLY)")
    con.execute("INSERT INTO trace_summary SELECT * EXCLUDE (trace_key) FROM src.trace_summary")
    con.execute("DETACH src")
    expected = _summaries(con)
    keyed = (
        "SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'trace_summary' AND constraint_type = ?"
    )
    assert len(expected) > 3 and con.execute(keyed, ["PRIMARY KEY"]).fetchone() == (1,)
    con.close()

    con = connect(str(old))  # migrates
    assert _summaries(con) == expected
    assert con.execute(keyed, ["PRIMARY KEY"]).fetchone() == (0,)
    assert con.execute(keyed, ["NOT NULL"]).fetchone() == (
        12,
    )  # trace_id, the ten it had and trace_key (v10)
    con.close()


@pytest.mark.parametrize("sample", [2, 4, 100_000])
def test_trace_summaries_refreshed_in_parts_are_those_of_the_stored_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample: int
) -> None:
    """An ingest that touches many traces refreshes their summaries a part at a time (`SUMMARY_PART` traces a
    statement); the parts together give one row a trace, each what its stored events say, whether the trace
    was new or joined by this ingest's lines. The parts' bounds come from a sample of the traces (`SUMMARY_SAMPLE`:
    quantiles of 2.5M ids did not fit the store phase's memory); fewer ids in it than parts, the parts are
    uneven and still cover every trace."""
    from logcorr.store import schema

    monkeypatch.setattr(schema, "SUMMARY_PART", 3)
    monkeypatch.setattr(schema, "SUMMARY_SAMPLE", sample)
    db = tmp_path / "parts.duckdb"
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_text("".join(json.dumps(browser_event(T0 + i * 10_000, f"a {i}", f"trace_{T0}_{i}")) + "\n"
                             for i in range(11)))  # fmt: skip
    # half of them again with a line each (and a user), and new ones
    second.write_text("".join(json.dumps(browser_event(T0 + i * 10_000 + 500, f"b {i}", f"trace_{T0}_{i}")
                                         | {"user_id": f"u{i}"}) + "\n"
                              for i in range(5, 17)))  # fmt: skip
    ingest([str(first)], str(db))
    ingest([str(second)], str(db))
    con = duckdb.connect(str(db), read_only=True)
    assert (
        _summaries(con)
        == con.execute(
            f"{schema.TRACE_SUMMARY_SELECT} WHERE trace_id IS NOT NULL GROUP BY trace_id ORDER BY trace_id"
        ).fetchall()
    )
    assert len(_summaries(con)) == 17
    assert con.execute(f"SELECT events FROM trace_summary WHERE trace_id = 'trace_{T0}_6'").fetchone() == (2,)
    con.close()


# the summary as schema v3 to v9 wrote it: its systems by a DISTINCT count (`TRACE_SUMMARY_SELECT` counts them
# without one)
_DISTINCT_SUMMARY = """
    SELECT trace_id, min(ts), max(ts), date_diff('millisecond', min(ts), max(ts)), count(*),
           count(*) FILTER (WHERE level = 'error'),
           bool_or(system = 'browser'), bool_or(system = 'worker'), bool_or(system = 'backend'),
           count(DISTINCT system),
           concat_ws('→', CASE WHEN bool_or(system = 'browser') THEN 'browser' END,
                     CASE WHEN bool_or(system = 'worker') THEN 'worker' END,
                     CASE WHEN bool_or(system = 'backend') THEN 'backend' END),
           arg_min(user_id, ts) FILTER (WHERE user_id IS NOT NULL),
           list_sort(list_distinct(list(user_id) FILTER (WHERE user_id IS NOT NULL)))
    FROM log_queue WHERE trace_id IS NOT NULL GROUP BY trace_id ORDER BY trace_id
"""


@pytest.mark.parametrize("part", [2, 100_000])
def test_trace_summaries_count_systems_as_a_distinct_count_did(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, part: int
) -> None:
    """`n_systems` without a DISTINCT aggregate is the number of distinct systems, names ingest never writes
    among them too; the summaries refreshed in parts by ranges of trace ids (ids with quotes and without a
    time in them) are those of all of a trace's events."""
    from logcorr.store import schema

    monkeypatch.setattr(schema, "SUMMARY_PART", part)
    con = connect(str(tmp_path / "db.duckdb"))
    names = ["browser", "worker", "backend", "mobile", "cli"]
    con.execute(
        """
        INSERT INTO log_queue (event_id, ts, system, level, message, trace_id, trace_source, user_id, source_file,
                               source_line, source_format, fingerprint, event_key, run_id)
        SELECT i, make_timestamp(1714910400000000 + (i * 7919 % 1000) * 1000),
               CASE WHEN i % 23 < 8 THEN $names[1 + (i // 23) % 3] WHEN i % 23 < 12 THEN 'browser'
                    ELSE $names[1 + (i // 23) % 5] END,
               CASE WHEN i % 11 = 0 THEN 'error' ELSE 'log' END, 'm ' || i,
               CASE WHEN i % 13 <> 0 THEN 'it''s ' || (i * 31 % 23) END, 'field',
               CASE WHEN i % 4 <> 0 THEN 'u' || (i % 6) END, 'f.jsonl', i, 'browser-v2', 'fp', i,
               1 + i % 2
        FROM range(1, 400) r(i)
        """,
        {"names": names},
    )
    schema.refresh_trace_summary(con, 1)
    schema.refresh_trace_summary(con, 2)
    expected = con.execute(_DISTINCT_SUMMARY).fetchall()
    assert len(expected) == 23 and {r[9] for r in expected} == {1, 3, 5}
    assert _summaries(con) == expected
    con.close()
