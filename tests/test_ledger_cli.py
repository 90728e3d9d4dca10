"""`logcorr ledger` and `logcorr explain FILE:LINE`: seeing why each event was stored or dropped."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from logcorr.errors import ExitCode
from logcorr.pipeline.ingest import ingest
from logcorr.render.rows import RowFormat
from logcorr.rules.ledger import _matching_files
from tests.conftest import CliResult

Cli = Callable[..., CliResult]
T0 = 1_717_200_000_000


def browser(ts: int, message: str, trace: str | None = "t1", level: str = "log") -> dict[str, Any]:
    rec: dict[str, Any] = {"message": message, "level": level, "system": "browser",
                           "context": {"timestamp": ts, "url": "http://localhost:3000/"}}  # fmt: skip
    if trace is not None:
        rec["trace_id"] = trace
    return rec


@pytest.fixture
def db(tmp_path: Path, write_jsonl: Callable[..., Path]) -> tuple[str, Path]:
    """Lines 1–6: the same text (6 dropped by loop); 7: suppressed; 8: another trace; 9: not JSON;
    10: a worker record holding three events; 11–61: 51 distinct lines in the next minute (61 dropped
    by the rate limit)."""
    recs: list[Any] = [browser(T0 + i, "same text") for i in range(6)]
    recs.append(browser(T0 + 10, "[HMR] connected"))
    recs.append(browser(T0 + 20, "other", trace="t2"))
    recs.append("{not json")
    recs.append({"trace_id": "t3", "logs": [{"id": f"w{i}", "system": "worker", "level": "info", "message": f"w{i}",
                                             "timestamp": T0 + 30 + i} for i in range(3)]})  # fmt: skip
    recs += [browser(T0 + 60_000 + i, f"line {i}", trace=None) for i in range(51)]  # the next minute
    path = write_jsonl("app.jsonl", recs)
    database = tmp_path / "db.duckdb"
    ingest([str(path)], str(database))
    return str(database), path


def test_ledger_lists_every_drop_in_decision_order(cli: Cli, db: tuple[str, Path]) -> None:
    r = cli("ledger", "--db", db[0], "--format", "json")
    assert r.exit_code == ExitCode.OK and r.stderr == ""
    rows = r.json()
    assert [(row["source"].rsplit(":", 1)[1], row["rule"]) for row in rows] == [
        ("6", "loop"), ("7", "suppress"), ("61", "rate_limit")]  # fmt: skip
    assert rows[0]["rule_state"]["max"] == 5 and rows[0]["trace_id"] == "t1"


@pytest.mark.parametrize(
    "args, rules",
    [
        (["--rule", "loop"], ["loop"]),
        (["--system", "worker"], []),
        (["--trace", "t1"], ["loop", "suppress"]),
        (["--limit", "1"], ["loop"]),
        (["--limit", "0"], ["loop", "suppress", "rate_limit"]),
    ],
)
def test_ledger_filters_by_rule_system_trace_and_limit(
    cli: Cli, db: tuple[str, Path], args: list[str], rules: list[str]
) -> None:
    r = cli("ledger", "--db", db[0], "--format", "json", *args)
    assert r.exit_code == ExitCode.OK and [row["rule"] for row in r.json()] == rules


def test_ledger_rule_and_system_are_repeatable(cli: Cli, db: tuple[str, Path]) -> None:
    """`--system` is repeatable in `traces` and `search`; in `ledger` a second one (or a second `--rule`) took
    the place of the first with nothing said: `--rule loop --rule suppress` listed the suppressed line only."""
    r = cli("ledger", "--db", db[0], "--format", "json", "--rule", "loop", "--rule", "suppress")
    assert r.exit_code == ExitCode.OK, r.stderr
    assert [row["rule"] for row in r.json()] == ["loop", "suppress"]
    both = cli("ledger", "--db", db[0], "--format", "json", "--system", "worker", "--system", "browser")
    assert [row["rule"] for row in both.json()] == ["loop", "suppress", "rate_limit"]
    bad = cli("ledger", "--db", db[0], "--system", "browser", "--system", "convex")
    assert bad.exit_code == ExitCode.USAGE and "unknown system 'convex'" in bad.stderr


@pytest.mark.parametrize("fmt", list(RowFormat))
def test_ledger_writes_every_format(cli: Cli, db: tuple[str, Path], fmt: RowFormat) -> None:
    r = cli("ledger", "--db", db[0], "--format", fmt.value)
    assert r.exit_code == ExitCode.OK
    if fmt is RowFormat.table:
        assert "rate_limit" in r.stdout and "limit 50/min at tier 0" in r.stdout
    elif fmt is RowFormat.json:
        assert len(r.json()) == 3
    elif fmt is RowFormat.jsonl:
        assert [orjson.loads(line)["rule"] for line in r.stdout.splitlines()] == [
            "loop",
            "suppress",
            "rate_limit",
        ]
    elif fmt is RowFormat.csv:
        rows = list(csv.DictReader(io.StringIO(r.stdout)))
        assert [row["rule"] for row in rows] == ["loop", "suppress", "rate_limit"]
        assert orjson.loads(rows[2]["rule_state"])["limit"] == 50
    else:  # pragma: no cover - exhaustive
        raise AssertionError(fmt)


def test_a_ledger_table_cut_at_its_limit_says_so(cli: Cli, db: tuple[str, Path]) -> None:
    # 100 rows of a 105,000-row ledger were shown with nothing saying there were more (`traces` says it)
    r = cli("ledger", "--db", db[0], "--limit", "2")
    assert r.exit_code == ExitCode.OK and "drop ledger: 2 events" in r.stdout
    # which end the cut kept: the ledger is listed in ingest order
    assert "(the first 2 ingested: there may be more; --limit 0 lists all)" in r.stderr
    whole = cli("ledger", "--db", db[0])
    assert whole.exit_code == ExitCode.OK and "there may be more" not in whole.stderr
    one = cli("ledger", "--db", db[0], "--limit", "1")
    assert one.exit_code == ExitCode.OK and "drop ledger: 1 event\n" in one.stdout  # not "1 events"


def test_ledger_rejects_an_unknown_rule(cli: Cli, db: tuple[str, Path]) -> None:
    r = cli("ledger", "--db", db[0], "--rule", "nope")
    assert r.exit_code == ExitCode.USAGE and "unknown rule 'nope'" in r.stderr and "rate_limit" in r.stderr


def test_ledger_on_a_missing_database_exits_3(cli: Cli, tmp_path: Path) -> None:
    r = cli("ledger", "--db", str(tmp_path / "none.duckdb"))
    assert r.exit_code == ExitCode.INPUT and "does not exist" in r.stderr


def test_explain_says_a_line_was_stored(cli: Cli, db: tuple[str, Path]) -> None:
    r = cli("explain", f"{db[1]}:1", "--db", db[0], "--format", "json")
    assert r.exit_code == ExitCode.OK
    ((row,),) = [r.json()]
    assert row["fate"] == "stored" and row["rule"] is None and row["message"] == "same text"


def test_explain_says_which_rule_dropped_a_line_why_and_its_state(cli: Cli, db: tuple[str, Path]) -> None:
    r = cli("explain", f"{db[1]}:61", "--db", db[0], "--format", "json")
    (row,) = r.json()
    assert (row["fate"], row["rule"]) == ("dropped", "rate_limit")
    assert "browser already stored 50 logs" in row["reason"] and row["rule_state"]["count"] == 50


def test_explain_gives_the_reject_reason_of_a_rejected_line(cli: Cli, db: tuple[str, Path]) -> None:
    (row,) = cli("explain", f"{db[1]}:9", "--db", db[0], "--format", "json").json()
    assert row["fate"] == "rejected" and "malformed JSON" in row["reason"]


def test_explain_lists_every_event_of_a_line_that_holds_several(cli: Cli, db: tuple[str, Path]) -> None:
    rows = cli("explain", f"{db[1]}:10", "--db", db[0], "--format", "json").json()
    assert [(row["fate"], row["message"]) for row in rows] == [
        ("stored", "w0"),
        ("stored", "w1"),
        ("stored", "w2"),
    ]


def test_explain_finds_a_file_by_the_tail_of_its_path_and_prints_a_table(
    cli: Cli, db: tuple[str, Path]
) -> None:
    r = cli("explain", "app.jsonl:6", "--db", db[0])
    assert r.exit_code == ExitCode.OK and "dropped" in r.stdout and "loop" in r.stdout


@pytest.mark.parametrize(
    ("known", "given", "found"),
    [
        (["logs/app.jsonl"], "./logs/app.jsonl", ["logs/app.jsonl"]),
        (["/srv/x/logs/app.jsonl"], "../x/logs/app.jsonl", ["/srv/x/logs/app.jsonl"]),
        (["/srv/x/logs/app.jsonl"], "logs/app.jsonl", ["/srv/x/logs/app.jsonl"]),
        # a leading dot that is part of a name is not a path step
        (["/srv/env.jsonl", "/srv/.env.jsonl"], ".env.jsonl", ["/srv/.env.jsonl"]),
        (
            ["/srv/.hidden/app.jsonl", "/srv/hidden/app.jsonl"],
            ".hidden/app.jsonl",
            ["/srv/.hidden/app.jsonl"],
        ),
    ],
)
def test_explain_matches_a_stored_file_by_its_path_steps(
    known: list[str], given: str, found: list[str]
) -> None:
    assert _matching_files(known, given) == found


@pytest.mark.parametrize(
    "target, code, message",
    [
        ("app.jsonl", ExitCode.USAGE, "expected FILE:LINE"),
        ("app.jsonl:x", ExitCode.USAGE, "expected FILE:LINE"),
        # lines are numbered from 1: line 0 was answered "no row … was it ingested with --format?", exit 0
        ("app.jsonl:0", ExitCode.USAGE, "lines are numbered from 1"),
        ("app.jsonl:00", ExitCode.USAGE, "lines are numbered from 1"),
        (
            "app.jsonl:\u00b2",
            ExitCode.USAGE,
            "expected FILE:LINE",
        ),  # a digit to str.isdigit: an internal error
        # no such file or line: exit 1, as `trace` of no such trace (it was 3, an input or database error)
        ("other.jsonl:1", ExitCode.CHECK_FAILED, "was never ingested"),
        ("app.jsonl:999", ExitCode.CHECK_FAILED, "there is no line 999"),
    ],
)
def test_explain_says_what_is_wrong_with_a_target(
    cli: Cli, db: tuple[str, Path], target: str, code: ExitCode, message: str
) -> None:
    r = cli("explain", target, "--db", db[0])
    assert r.exit_code == code and message in r.stderr and r.stdout == ""


def test_the_commands_have_help_with_an_example(cli: Cli) -> None:
    for args in (["ledger"], ["explain"], ["policy", "show"], ["policy", "validate"]):
        r = cli(*args, "--help")
        assert r.exit_code == ExitCode.OK and "Example: logcorr" in r.stdout


def test_explain_says_a_line_was_kept_as_a_metric_skipped_or_is_past_the_end(
    cli: Cli, tmp_path: Path
) -> None:
    """Every line is accounted for: a metric line says so, a skipped line says what leaves no row, a line past
    the end of the file says the file's length (it said "blank lines and skipped banner lines" for all)."""
    from tests.conftest import FIXTURES

    db = str(tmp_path / "db.duckdb")
    src = FIXTURES / "backend" / "log-stream-v2.jsonl"
    assert cli("ingest", str(src), "--db", db, "-q").exit_code == 0
    lines = src.read_text().splitlines()
    metric = next(i for i, ln in enumerate(lines, 1) if '"current_storage_usage"' in ln)
    verification = next(i for i, ln in enumerate(lines, 1) if '"verification"' in ln)
    r = cli("explain", f"{src}:{metric}", "--db", db, "--format", "json")
    assert r.exit_code == 0, r.stderr
    (row,) = r.json()
    assert row["fate"] == "metric" and row["message"].startswith("current_storage_usage {")
    # a line accounted for without a row says what it became, exit 0 (it was "nothing is recorded", exit 3)
    r = cli("explain", f"{src}:{verification}", "--db", db, "--format", "json")
    assert r.exit_code == 0, r.stderr
    assert [(row["fate"], row["reason"]) for row in r.json()] == [
        ("skipped", "verification event (convex-stream)")
    ]
    # no such line: exit 1 (it was 3)
    r = cli("explain", f"{src}:{len(lines) + 5}", "--db", db)
    assert (
        r.exit_code == 1
        and f"has {len(lines)} lines (as run 1 read it); there is no line {len(lines) + 5}" in r.stderr
    )


def test_explain_a_line_inside_a_multi_line_record_names_the_record_s_first_line(
    cli: Cli, tmp_path: Path
) -> None:
    """A pretty-printed record is recorded at its first line: a line inside it named no row and no way on."""
    src = tmp_path / "tail.json"
    rec = {
        "trace_id": "t-1",
        "system": "worker",
        "level": "info",
        "message": "hello",
        "timestamp": 1714910400000,
    }
    src.write_bytes(orjson.dumps(rec, option=orjson.OPT_INDENT_2) + b"\n" + orjson.dumps(rec | {"message": "two"},
                    option=orjson.OPT_INDENT_2) + b"\n")  # fmt: skip
    db = str(tmp_path / "db.duckdb")
    assert cli("ingest", str(src), "--db", db, "-q").exit_code == 0
    second = 1 + len(orjson.dumps(rec, option=orjson.OPT_INDENT_2).splitlines())
    # the record's rows, and which line it begins at (it was "nothing is recorded", exit 3, and the line named)
    r = cli("explain", f"{src}:{second + 3}", "--db", db, "--format", "json")
    assert r.exit_code == 0 and [row["message"] for row in r.json()] == ["two"]
    assert (
        f"note: line {second + 3} of {src} belongs to what is recorded at line {second} (a record over several lines is recorded at its first): its rows"
        in r.stderr
    )
    r = cli("explain", f"{src}:{second}", "--db", db, "--format", "json")
    assert r.exit_code == 0 and r.json()[0]["message"] == "two"


def _verification(ts: int) -> dict[str, Any]:
    return {"topic": "verification", "timestamp": ts, "message": "Convex connection test"}


def test_explain_answers_for_a_file_whose_every_line_left_no_row(cli: Cli, tmp_path: Path) -> None:
    # a log stream's first delivery (a verification ping) and a blank line: the file is in `ingest_files`, but
    # `explain` looked for it among the rows only: "was never ingested", exit 3
    src = tmp_path / "stream.jsonl"
    src.write_text(orjson.dumps(_verification(T0)).decode() + "\n\n")
    db = str(tmp_path / "db.duckdb")
    assert cli("ingest", str(src), "--db", db, "-q").exit_code == 0
    r = cli("explain", f"{src}:1", "--db", db, "--format", "json")
    assert r.exit_code == ExitCode.OK, r.stderr
    ((fate, reason, run),) = [(row["fate"], row["reason"], row["run_id"]) for row in r.json()]
    assert (fate, reason, run) == ("skipped", "verification event (convex-stream)", 1)
    r = cli("explain", f"{src}:2", "--db", db)
    assert r.exit_code == ExitCode.OK and "blank" in r.stdout and "a blank line" in r.stdout
    r = cli("explain", f"{src}:3", "--db", db)
    assert (
        r.exit_code == ExitCode.CHECK_FAILED
        and "has 2 lines (as run 1 read it); there is no line 3" in r.stderr
    )


def test_explain_a_blank_line_inside_a_convex_text_message_gives_the_message_s_rows(
    cli: Cli, tmp_path: Path
) -> None:
    src = tmp_path / "backend.log"
    src.write_text(
        "1/4/2026, 1:17:47 PM [CONVEX M(a:c)] Uncaught Error: boom\n\n    at handler (../convex/a.ts:3:9)\n\n"
        "1/4/2026, 1:17:48 PM [CONVEX Q(a:b)] [LOG] 'next'\n"
    )
    db = str(tmp_path / "db.duckdb")
    assert cli("ingest", str(src), "--db", db, "-q", "--local-tz", "UTC").exit_code == 0
    for line in (2, 3):  # the blank line before the stack frame is the message's, as the frame is
        r = cli("explain", f"{src}:{line}", "--db", db, "--format", "json")
        assert r.exit_code == ExitCode.OK
        assert [(row["source"], row["fate"]) for row in r.json()] == [
            (f"{src}:1", "stored"),
            (f"{src}:1", "metric"),
        ]
        assert f"line {line} of {src} belongs to what is recorded at line 1" in r.stderr
    r = cli("explain", f"{src}:4", "--db", db, "--format", "json")
    assert [row["fate"] for row in r.json()] == ["blank"]


def test_explain_a_copy_found_already_ingested_gives_the_rows_of_the_file_it_copies(
    cli: Cli, tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    src = write_jsonl("app.jsonl", [browser(T0, "one"), browser(T0 + 1, "two")])
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(src.read_bytes())
    db = str(tmp_path / "db.duckdb")
    assert cli("ingest", str(src), str(copy), "--db", db, "-q").exit_code == 0
    r = cli("explain", f"{copy}:2", "--db", db, "--format", "json")
    assert r.exit_code == ExitCode.OK and [row["message"] for row in r.json()] == ["two"]
    assert f"{copy} held the same bytes as {src}, which run 1 ingested" in r.stderr


def test_explain_a_line_past_what_was_ingested_says_the_file_has_it_now(
    cli: Cli, tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    # the lines it gained were in an ingest that was rolled back (--strict, for the bad one): not in the database
    src = write_jsonl("app.jsonl", [browser(T0, "one")])
    db = str(tmp_path / "db.duckdb")
    assert cli("ingest", str(src), "--db", db, "-q").exit_code == 0
    with src.open("a") as f:
        f.write(orjson.dumps(browser(T0 + 1, "two")).decode() + "\n{bad\n")
    assert cli("ingest", str(src), "--db", db, "-q", "--strict").exit_code == ExitCode.INPUT
    r = cli("explain", f"{src}:2", "--db", db)
    assert r.exit_code == ExitCode.CHECK_FAILED and r.stdout == ""
    assert "has 1 line (as run 1 read it); there is no line 2" in r.stderr
    assert (
        "it has 3 lines now: line 2 was written after the last ingest of it (or read by an ingest" in r.stderr
    )


def test_explain_a_line_of_a_file_no_longer_at_hand_says_what_it_may_have_been(
    cli: Cli, tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    src = write_jsonl("app.jsonl", [browser(T0, "one"), _verification(T0 + 1)])
    db = str(tmp_path / "db.duckdb")
    assert cli("ingest", str(src), "--db", db, "-q").exit_code == 0
    src.write_text("rewritten\n")
    r = cli("explain", f"{src}:2", "--db", db, "--format", "json")
    assert r.exit_code == ExitCode.OK
    (row,) = r.json()
    assert row["fate"] == "no row" and "a blank line, a skipped record" in row["reason"]
    assert f"the nearest line before with a row is 1: logcorr explain {src}:1" in row["reason"]
    assert f"{src} is not at hand as run 1 read it (moved or changed)" in row["reason"]


def test_ledger_trace_takes_a_unique_prefix_and_says_when_there_is_no_such_trace(
    cli: Cli, tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    # `trace` and `search --trace` take a unique prefix (the README's own examples give one); `ledger --trace`
    # compared it whole and listed "drop ledger: 0 events", read as "nothing of this trace was dropped"
    tid = "trace_1717200000000_k3j9x2m1p"
    recs = [browser(T0 + i, "polling", trace=tid) for i in range(7)]
    recs.append(browser(T0 + 50, "other", trace="trace_1717299999999_zz"))
    database = str(tmp_path / "p.duckdb")
    ingest([str(write_jsonl("p.jsonl", recs))], database)
    whole = cli("ledger", "--db", database, "--trace", tid, "--format", "json")
    assert whole.exit_code == ExitCode.OK and [r["rule"] for r in whole.json()] == ["loop", "loop"]
    r = cli("ledger", "--db", database, "--trace", "trace_17172000", "--format", "json")
    assert r.exit_code == ExitCode.OK and r.json() == whole.json()
    r = cli("ledger", "--db", database, "--trace", "trace_1717")
    assert r.exit_code == ExitCode.CHECK_FAILED and "is ambiguous" in r.stderr
    r = cli("ledger", "--db", database, "--trace", "trace_17173")
    assert r.exit_code == ExitCode.CHECK_FAILED and "no trace 'trace_17173'" in r.stderr
    # a trace with nothing dropped: no rows, as before
    r = cli("ledger", "--db", database, "--trace", "trace_17172999", "--format", "json")
    assert r.exit_code == ExitCode.OK and r.json() == []


def test_explain_of_a_repeated_delivery_says_where_its_first_copy_is(
    cli: Cli, tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    # the reason said "delivered again" and the state only which ingest holds the first copy: a support engineer
    # asking why a line is missing was not told which line was kept
    first = write_jsonl("a.jsonl", [browser(T0, "checkout clicked"), browser(T0, "checkout clicked")])
    database = str(tmp_path / "d.duckdb")
    ingest([str(first)], database)
    again = tmp_path / "b.jsonl"
    again.write_bytes(first.read_bytes().splitlines(keepends=True)[0])
    ingest([str(again)], database)
    (kept,) = cli("explain", f"{first}:1", "--db", database, "--format", "json").json()
    assert kept["fate"] == "stored"
    for target in (f"{first}:2", f"{again}:1"):
        r = cli("explain", target, "--db", database, "--format", "json")
        (row,) = r.json()
        assert r.exit_code == ExitCode.OK and row["rule"] == "duplicate"
        assert (
            r.stderr
            == f"note: event {row['event_id']} is a copy of event {kept['event_id']}, stored, from {first}:1 (run 1)\n"
        )
    # a line with no repeated delivery gets no such note
    assert cli("explain", f"{first}:1", "--db", database).stderr == ""
