"""The rules end to end through `ingest()`: small JSONL files in, the database's tables and the ingest
summary out — boundaries, the ledger, persisted state and its continuation by a second ingest."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from logcorr.pipeline import decide
from logcorr.pipeline.ingest import IngestResult, ingest
from logcorr.render.ingest_summary import FILE_ROWS, render, to_json
from logcorr.rules.policy import Policy
from tests.conftest import FIXTURES

T0 = 1_717_200_000_000  # 2024-06-01T00:00:00Z
MIN = 60_000
DAY = 86_400_000


def browser(ts: int, message: str, trace: str | None = "trace_1", level: str = "log") -> dict[str, Any]:
    rec: dict[str, Any] = {"message": message, "level": level, "system": "browser",
                           "context": {"timestamp": ts, "url": "http://localhost:3000/"}}  # fmt: skip
    if trace is not None:
        rec["trace_id"] = trace
    return rec


def stored_record(
    ts: int, message: str, system: str, trace: str | None = "trace_1", level: str = "info"
) -> dict[str, Any]:
    """A worker-stored record; system `convex` is a backend line, `worker` a worker line."""
    rec: dict[str, Any] = {"id": f"{system}-{ts}-{message}", "system": system, "level": level, "message": message,
                           "timestamp": ts}  # fmt: skip
    if trace is not None:
        rec["trace_id"] = trace
    return rec


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def ledger(db: Path) -> list[tuple[Any, ...]]:
    return query(
        db, "SELECT source_line, rule, reason, rule_state::VARCHAR FROM drop_ledger ORDER BY event_id"
    )


Write = Callable[..., Path]


def test_ingest_drops_the_sixth_identical_line_within_a_second_and_stores_one_a_second_later(
    tmp_path: Path, write_jsonl: Write
) -> None:
    times = [0, 100, 200, 300, 400, 500, 999, 1000]
    path = write_jsonl("loop.jsonl", [browser(T0 + t, "retrying fetch") for t in times])
    db = tmp_path / "db.duckdb"
    result = ingest([str(path)], str(db))
    assert result.stored == 6 and result.drops[("loop", "browser")] == 2
    rows = ledger(db)
    assert [r[:2] for r in rows] == [(6, "loop"), (7, "loop")]
    assert "5 identical browser/log messages already stored in the last 1000 ms" in rows[0][2]
    assert orjson.loads(rows[0][3])["next_allowed_at"] == "2024-06-01T00:00:01.000Z"


def test_ingest_stores_fifty_events_of_a_system_per_minute_and_drops_the_fifty_first(
    tmp_path: Path, write_jsonl: Write
) -> None:
    path = write_jsonl(
        "flood.jsonl", [browser(T0 + i * 1000, f"event {i}", trace=f"t{i}") for i in range(51)]
    )
    db = tmp_path / "db.duckdb"
    result = ingest([str(path)], str(db))
    assert result.stored == 50
    ((line, rule, reason, state),) = ledger(db)
    assert (line, rule) == (51, "rate_limit") and "limit 50/min at tier 0" in reason
    assert orjson.loads(state) == {"system": "browser", "minute": "2024-06-01T00:00:00Z", "tier": 0, "limit": 50,
                                   "count": 50, "grace_used": 0, "grace_limit": 25,
                                   "tiers": [50, 25, 12, 6]}  # fmt: skip


def test_ingest_steps_the_rate_limit_down_under_sustained_load_and_back_up_when_calm(
    tmp_path: Path, write_jsonl: Write
) -> None:
    recs = [browser(T0 + m * MIN + i * 1000, f"m{m} e{i}", trace=None) for m in range(4) for i in range(60)]
    recs += [
        browser(T0 + m * MIN + i * 5000, f"calm m{m} e{i}", trace=None)
        for m in range(4, 8)
        for i in range(10)
    ]
    db = tmp_path / "db.duckdb"
    ingest([str(write_jsonl("load.jsonl", recs))], str(db))
    per_minute = query(db, "SELECT minute(ts), count(*) FROM log_queue GROUP BY 1 ORDER BY 1")
    assert [n for _, n in per_minute] == [50, 25, 12, 6, 6, 10, 10, 10]


def test_ingest_applies_the_budget_at_80_95_and_100_percent(tmp_path: Path, write_jsonl: Write) -> None:
    policy = Policy.model_validate(
        {"rate_limit": {"enabled": False}, "budget": {"monthly_writes": 100, "lending": "unused"}}
    )
    recs = [browser(T0 + i * 1000, f"line {i}", trace=None) for i in range(95)]
    recs += [browser(T0 + 100_000, "plain info"), browser(T0 + 100_001, "an error", level="error")]
    recs += [browser(T0 + 100_002 + i, f"critical {i}", trace=f"critical_{i}") for i in range(6)]
    db = tmp_path / "db.duckdb"
    result = ingest([str(write_jsonl("budget.jsonl", recs))], str(db), policy)
    assert result.stored == 100
    gates = [(r[0], orjson.loads(r[3])["gate"]) for r in ledger(db)]
    assert gates == [(96, "essential"), (102, "cap"), (103, "cap")]  # the info line; critical 5 and 6
    moments = query(
        db,
        "SELECT scope, pct, used, strftime(reached_at, '%H:%M:%S') FROM budget_thresholds WHERE scope = 'total' ORDER BY pct",
    )
    assert moments == [
        ("total", 80.0, 80, "00:01:19"),
        ("total", 95.0, 95, "00:01:34"),
        ("total", 100.0, 100, "00:01:40"),
    ]
    assert result.quota is not None and result.quota.used == 100 and result.quota.pct == 100.0
    browser_use = next(u for u in result.quota.systems if u.system == "browser")
    assert (browser_use.used, browser_use.quota, browser_use.borrowed) == (100, 40, 60)


def test_ingest_lets_a_system_borrow_the_others_prorated_unused_quota(
    tmp_path: Path, write_jsonl: Write
) -> None:
    policy = Policy.model_validate({"rate_limit": {"enabled": False}, "budget": {"monthly_writes": 100}})
    mid = T0 + 15 * DAY
    recs = [browser(mid + i * 1000, f"b{i}", trace=None) for i in range(75)]
    db = tmp_path / "db.duckdb"
    result = ingest([str(write_jsonl("borrow.jsonl", recs))], str(db), policy)
    assert result.stored == 70
    rows = query(
        db, "SELECT system, month_own, month_borrowed, month_lent FROM rate_limit_state ORDER BY system"
    )
    assert rows == [("backend", 0, 0, 15), ("browser", 40, 30, 0), ("worker", 0, 0, 15)]


def test_ingest_keeps_a_convex_line_echoed_in_the_browser_console_once(
    tmp_path: Path, write_jsonl: Write
) -> None:
    recs = [
        stored_record(T0, "Sent message!", "convex", trace="trace_9"),
        browser(T0 + 250, "[CONVEX M(messages:send)] [LOG] 'Sent message!'", trace="trace_9"),
        browser(T0 + 250, "[CONVEX M(messages:send)] [LOG] 'Sent message!'", trace="trace_other"),
    ]
    db = tmp_path / "db.duckdb"
    result = ingest([str(write_jsonl("echo.jsonl", recs))], str(db))
    assert result.stored == 2 and result.drops == {("cross_system", "browser"): 1}
    ((line, rule, reason, _),) = ledger(db)
    assert (line, rule) == (
        2,
        "cross_system",
    ) and "stored by backend for trace trace_9 250 ms earlier" in reason


def test_ingest_keeps_a_convex_line_the_console_override_shipped_styled_once(
    tmp_path: Path, write_jsonl: Write
) -> None:
    # the Convex client logs a server line as console.log("%c[CONVEX M(path)] [LOG]", "color:rgb(0, 145, 255)",
    # text) and the console override joins the arguments with a space: what the live system ships
    styled = (
        "%c[CONVEX M(orders:create)] [LOG] color:rgb(0, 145, 255) 'Processing checkout' { orderId: 'ord_9' }"
    )
    recs = [
        stored_record(T0, "'Processing checkout' { orderId: 'ord_9' }", "convex", trace="trace_9"),
        browser(T0 + 40, styled, trace="trace_9"),
        browser(
            T0 + 60,
            "%c[CONVEX M(orders:create)] [INFO] color:rgb(0, 145, 255) 'Order stored'",
            trace="trace_9",
        ),
        stored_record(T0 + 10, "Order stored", "convex", trace="trace_9"),
    ]
    db = tmp_path / "db.duckdb"
    result = ingest([str(write_jsonl("styled.jsonl", recs))], str(db))
    assert result.stored == 2 and result.drops == {("cross_system", "browser"): 2}
    assert [(line, rule) for line, rule, _, _ in ledger(db)] == [(2, "cross_system"), (3, "cross_system")]


def test_a_copy_an_earlier_ingest_stored_for_another_system_is_kept_once_across_ingests(
    tmp_path: Path, write_jsonl: Write
) -> None:
    # the systems' exports ingested one at a time: the browser's day (whose clock then runs minutes past the
    # copy, so the saved state no longer holds it), then the backend's
    web = write_jsonl("web.jsonl", [browser(T0, "Order 42 placed", trace="trace_9"),
                                    browser(T0 + 3 * MIN, "later", trace="trace_8")])  # fmt: skip
    backend = write_jsonl("backend.jsonl", [stored_record(T0 + 500, "Order 42 placed", "convex", trace="trace_9"),
                                            stored_record(T0 + 900, "Order 42 placed", "convex", trace="trace_7"),
                                            stored_record(T0 + 5000, "Order 42 placed", "convex", trace="trace_9")])  # fmt: skip
    one, split = tmp_path / "one.duckdb", tmp_path / "split.duckdb"
    ingest([str(web), str(backend)], str(one))
    ingest([str(web)], str(split))
    result = ingest([str(backend)], str(split))
    assert result.drops == {("cross_system", "backend"): 1}
    for db in (one, split):
        ((line, rule, reason, _),) = ledger(db)
        assert (line, rule) == (1, "cross_system") and "by browser for trace trace_9 500 ms earlier" in reason
        assert query(db, "SELECT count(*) FROM log_queue WHERE message = 'Order 42 placed'") == [(3,)]


def test_ingest_lets_critical_traces_past_the_per_minute_limit_and_errors_only_when_the_policy_says(
    tmp_path: Path, write_jsonl: Write
) -> None:
    recs = [browser(T0 + i * 1000, f"e{i}", trace=None) for i in range(50)]
    recs += [browser(T0 + 55_000, "auth failed", trace="critical_auth_failure"),
             browser(T0 + 55_001, "boom", trace=None, level="error"), browser(T0 + 55_002, "normal", trace=None)]  # fmt: skip
    path = str(write_jsonl("crit.jsonl", recs))
    db = tmp_path / "db.duckdb"
    result = ingest([path], str(db))
    assert result.stored == 51 and [r[:2] for r in ledger(db)] == [(52, "rate_limit"), (53, "rate_limit")]
    db = tmp_path / "errors.duckdb"
    result = ingest([path], str(db), policy=Policy.model_validate({"critical": {"levels": ["error"]}}))
    assert result.stored == 52 and [r[:2] for r in ledger(db)] == [(53, "rate_limit")]


def test_a_second_ingest_continues_the_first_ones_minute_month_loop_window_and_traces(
    tmp_path: Path, write_jsonl: Write
) -> None:
    db = tmp_path / "db.duckdb"
    first = [browser(T0 + i * 1000, f"a{i}", trace=f"t{i}") for i in range(30)]
    first += [browser(T0 + 40_000 + i, "same text", trace=None) for i in range(5)]
    ingest([str(write_jsonl("first.jsonl", first))], str(db))
    second = [browser(T0 + 40_500, "same text", trace=None)]  # 6th copy within 1 s of the first five
    second += [
        browser(T0 + 41_000 + i * 100, f"b{i}", trace=f"u{i}") for i in range(30)
    ]  # same minute: 15 fit
    result = ingest([str(write_jsonl("second.jsonl", second))], str(db))
    assert result.drops == {("loop", "browser"): 1, ("rate_limit", "browser"): 15}
    assert result.quota is not None and result.quota.used == 50  # the same month continues
    state = query(
        db,
        "SELECT window_count, window_offered, month_own, run_id FROM rate_limit_state WHERE system = 'browser'",
    )
    assert state == [(50, 65, 50, 2)]


def test_without_saved_state_the_same_second_file_is_decided_afresh(
    tmp_path: Path, write_jsonl: Write
) -> None:
    second = [browser(T0 + 41_000 + i * 100, f"b{i}", trace=f"u{i}") for i in range(30)]
    result = ingest([str(write_jsonl("second.jsonl", second))], str(tmp_path / "fresh.duckdb"))
    assert result.dropped == 0


def test_the_same_input_and_policy_give_byte_identical_ledgers(tmp_path: Path, write_jsonl: Write) -> None:
    recs = [
        browser(T0 + i * 250, f"msg {i % 7}", trace=f"t{i % 11}", level="error" if i % 13 == 0 else "log")
        for i in range(400)
    ]
    recs += [stored_record(T0 + i * 300, f"msg {i % 7}", "convex", trace=f"t{i % 11}") for i in range(200)]
    path = write_jsonl("mix.jsonl", recs)
    dumps = []
    for name in ("a", "b"):
        db = tmp_path / f"{name}.duckdb"
        ingest([str(path)], str(db))
        dumps.append(
            query(db, "SELECT event_id, rule, reason, rule_state::VARCHAR FROM drop_ledger ORDER BY event_id")
        )
    assert dumps[0] == dumps[1] and len(dumps[0]) > 100


def test_the_engines_batch_size_changes_nothing(
    tmp_path: Path, write_jsonl: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events go through the engine in batches, numbered on across them: small batches give the same tables."""
    recs = [
        browser(T0 + i * 250, f"msg {i % 7}", trace=f"t{i % 11}", level="error" if i % 13 == 0 else "log")
        for i in range(400)
    ]
    path = write_jsonl("mix.jsonl", recs)
    tables = (
        "SELECT event_id, ts, message, trace_id FROM log_queue ORDER BY event_id",
        "SELECT event_id, rule, reason, rule_state::VARCHAR FROM drop_ledger ORDER BY event_id",
    )
    whole = tmp_path / "whole.duckdb"
    ingest([str(path)], str(whole))
    monkeypatch.setattr(decide, "_ENGINE_BATCH", 7)
    small = tmp_path / "small.duckdb"
    ingest([str(path)], str(small))
    for sql in tables:
        assert query(whole, sql) == query(small, sql)
    ids = [r[0] for sql in tables for r in query(small, sql)]
    assert sorted(ids) == list(range(1, 401)) and len(query(small, tables[1])) > 100


def test_a_rolled_back_ingest_leaves_the_rule_state_as_it_was(tmp_path: Path, write_jsonl: Write) -> None:
    db = tmp_path / "db.duckdb"
    ingest([str(write_jsonl("a.jsonl", [browser(T0 + i, f"a{i}") for i in range(10)]))], str(db))
    before = query(db, "SELECT * FROM rate_limit_state")
    bad = write_jsonl("bad.jsonl", [browser(T0 + 5000 + i, f"b{i}") for i in range(10)] + ["{not json"])
    result = ingest([str(bad)], str(db), strict=True)
    assert not result.committed and query(db, "SELECT * FROM rate_limit_state") == before


def test_trace_integrity_counts_multi_system_traces_cut_by_rules(tmp_path: Path, write_jsonl: Write) -> None:
    recs = [browser(T0 + i * 100, f"busy {i}", trace=None) for i in range(50)]  # browser at its limit
    for k in range(3):  # whole multi-system traces
        recs += [
            stored_record(T0 + 1000 + k, f"ok {k}", "convex", trace=f"whole{k}"),
            browser(T0 + 6000 + k, f"fine {k}", trace=f"whole{k}"),
        ]
    # backend stored first, then more browser lines than the grace allows: cut
    recs += [stored_record(T0 + 2000, "start", "convex", trace="cut")]
    recs += [browser(T0 + 7000 + i, f"cut {i}", trace="cut") for i in range(30)]
    result = ingest([str(write_jsonl("traces.jsonl", recs))], str(tmp_path / "db.duckdb"))
    assert result.integrity is not None
    assert (result.integrity.multi_system, result.integrity.cut) == (4, 1)
    assert result.integrity.stats["trace_grace"] == 25


def test_the_summary_shows_drops_quota_moments_and_trace_integrity(
    tmp_path: Path, write_jsonl: Write
) -> None:
    policy = Policy.model_validate({"rate_limit": {"enabled": False}, "budget": {"monthly_writes": 10}})
    recs = [browser(T0 + i * 1000, f"line {i}", trace=None) for i in range(4)]
    recs += [stored_record(T0 + 500, "x", "convex", trace="t"), browser(T0 + 600, "y", trace="t")]
    result = ingest([str(write_jsonl("s.jsonl", recs))], str(tmp_path / "db.duckdb"), policy)
    text = _render(result)
    assert (
        "quota 2024-06: 5/10 (50.0 %) · browser 4/4 (100.0 %), worker 0/3 (0.0 %), backend 1/3 (33.3 %)"
        in text
    )
    assert "dropped by rule: budget/browser 1" in text
    assert "budget browser share reached 100 % at 2024-06-01T00:00:02.000Z (run 1)" in text
    assert "trace integrity: 1 multi-system traces, 0 cut by rules (0.0 %), 0 refused whole" in text
    doc = to_json(result)
    assert doc["quota"]["systems"]["browser"]["share"] == 4 and doc["quota"]["moments"][0]["run_id"] == 1
    assert doc["trace_integrity"]["multi_system_traces"] == 1


def test_the_summary_shows_the_moments_of_a_month_the_ingest_ran_past(
    tmp_path: Path, write_jsonl: Write
) -> None:
    policy = Policy.model_validate({"rate_limit": {"enabled": False}, "budget": {"monthly_writes": 10}})
    june = T0 - 60_000  # the last minute of May, then June
    recs = [browser(june + i * 1000, f"may {i}", trace=None) for i in range(5)]
    recs += [browser(T0 + i * 1000, f"june {i}", trace=None) for i in range(2)]
    result = ingest([str(write_jsonl("s.jsonl", recs))], str(tmp_path / "db.duckdb"), policy)
    text = _render(result)
    assert "quota 2024-06: 2/10" in text
    assert "budget browser share of 2024-05 reached 100 % at 2024-05-31T23:59:03.000Z (run 1)" in text
    doc = to_json(result)
    assert {(m["month"], m["scope"], m["pct"]) for m in doc["quota"]["moments"]} >= {
        ("2024-05", "browser", 100.0)
    }


def _render(result: IngestResult) -> str:
    from rich.console import Console

    buf = io.StringIO()
    render(result, Console(file=buf, width=200, no_color=True))
    return buf.getvalue()


@pytest.mark.parametrize("rule", ["loop", "rate_limit"])
def test_every_drop_lands_in_the_ledger_with_rule_reason_and_json_state(
    rule: str, tmp_path: Path, write_jsonl: Write
) -> None:
    recs = [browser(T0 + i * 10, "same" if rule == "loop" else f"x{i}", trace=None) for i in range(60)]
    db = tmp_path / "db.duckdb"
    result = ingest([str(write_jsonl("r.jsonl", recs))], str(db))
    rows = query(db, f"SELECT rule, reason, rule_state FROM drop_ledger WHERE rule = '{rule}'")
    assert len(rows) == result.dropped > 0
    assert all(r[1] and isinstance(orjson.loads(r[2]), dict) for r in rows)


def test_one_older_event_ingested_later_is_said_in_the_singular(tmp_path: Path, write_jsonl: Write) -> None:
    """The note on late events counted one as "1 event was older than what an earlier ingest decided for their
    system; they were decided": its pronouns follow the count too."""
    db = tmp_path / "db.duckdb"
    ingest([str(write_jsonl("june.jsonl", [browser(T0 + DAY, "june", trace=None)]))], str(db))
    result = ingest([str(write_jsonl("older.jsonl", [browser(T0, "may", trace=None)]))], str(db))
    assert result.integrity is not None and result.integrity.stats["late"] == 1
    out = " ".join(_render(result).split())
    assert (
        "1 event was older than what an earlier ingest decided for its system; it was decided at that" in out
    )


def test_an_older_file_ingested_later_is_decided_at_the_saved_clock_and_the_summary_says_so(
    tmp_path: Path, write_jsonl: Write
) -> None:
    db = tmp_path / "db.duckdb"
    ingest([str(write_jsonl("june.jsonl", [browser(T0 + DAY, "june", trace=None)]))], str(db))
    older = [browser(T0 + i * 1000, f"may {i}", trace=None) for i in range(60)]  # one event a second
    result = ingest([str(write_jsonl("older.jsonl", older))], str(db))
    assert result.integrity is not None and result.integrity.stats["late"] == 60
    assert result.dropped == 11  # 60 arrive in the clock's minute, which already holds one
    assert "60 events were older than what an earlier ingest decided for their system" in _render(result)
    assert "decided at that system's clock (browser 2024-06-02T00:00:00.000Z)" in _render(result)
    assert result.late_clocks == {"browser": T0 + DAY} and to_json(result)["late_clocks"] == {
        "browser": "2024-06-02T00:00:00.000Z"
    }


@pytest.mark.parametrize("files", [FILE_ROWS, FILE_ROWS + 11])
def test_the_summary_lists_every_file_or_sums_the_quiet_ones(tmp_path: Path, files: int) -> None:
    # a Logpush bucket is thousands of small files: past FILE_ROWS, the files with problems get rows and
    # the rest one row of sums; the JSON summary keeps every file
    d = tmp_path / "bucket"
    d.mkdir()
    for i in range(files):
        lines = [orjson.dumps(browser(T0 + i * MIN + k, f"file {i} line {k}", trace=None)) for k in range(3)]
        if i in (4, 9):
            lines.append(b'{"message": "cut off')
        (d / f"{i:04d}.jsonl").write_bytes(b"\n".join(lines) + b"\n" if i != 6 else b"")
    result = ingest([str(d)], str(tmp_path / "db.duckdb"))
    text = _render(result)
    names = [f"{i:04d}.jsonl" for i in range(files)]
    assert len(to_json(result)["files"]) == files
    # every file has its row in ingest_files (written by one INSERT), as the JSON summary tells it
    keys = (
        "path",
        "status",
        "size",
        "content_hash",
        "lines",
        "records",
        "stored",
        "dropped",
        "rejected",
        "metrics",
    )
    con = duckdb.connect(str(tmp_path / "db.duckdb"), read_only=True)
    rows = con.execute(f"SELECT {', '.join(keys)}, notes FROM ingest_files WHERE run_id = ? ORDER BY file_id",
                       [result.run_id]).fetchall()  # fmt: skip
    con.close()
    assert rows == [(*(f[k] for k in keys), "; ".join(f["notes"]) or None) for f in to_json(result)["files"]]
    if files <= FILE_ROWS:
        assert all(n in text for n in names)
        assert "more files" not in text and "every file:" not in text
        assert "rejected 1 × malformed JSON in " + str(d / "0004.jsonl") in text
        return
    assert [n for n in names if n in text] == ["0004.jsonl", "0006.jsonl", "0009.jsonl"]
    quiet = files - 3
    row = next(line for line in text.splitlines() if f"{quiet} more files" in line)
    cells = [c.strip() for c in row.split("│")]
    assert cells[1] == "browser-v2" and cells[2:] == [
        str(3 * quiet),
        str(3 * quiet),
        *cells[4:6],
        "0",
        "0",
        "0",
    ]
    assert int(cells[4]) + int(cells[5]) == 3 * quiet  # stored + dropped
    assert f"rejected 2 × malformed JSON in 2 files (first {d / '0004.jsonl'})" in text
    assert f"note {d / '0006.jsonl'}: empty file: no lines to read" in text
    assert f'every file: logcorr sql "SELECT * FROM ingest_files WHERE run_id = {result.run_id}"' in text
    again = _render(ingest([str(d)], str(tmp_path / "db.duckdb")))
    assert f"{files} files already ingested" in again and "0004.jsonl" not in again


def _worker_copy(ts: int, client: int, message: str, rid: str, trace: str = "trace_1") -> dict[str, Any]:
    """The Worker's stored record of a browser line: its receive time, and the client time it was sent with."""
    return {"id": rid, "trace_id": trace, "system": "browser", "level": "log", "message": message, "timestamp": ts,
            "context": {"timestamp": client, "url": "http://localhost:3000/"}}  # fmt: skip


def test_two_lines_the_worker_stored_in_one_millisecond_are_two_events(
    tmp_path: Path, write_jsonl: Write
) -> None:
    path = write_jsonl("w.jsonl", [_worker_copy(T0, T0 - 150, "Button clicked", "a"),
                                   _worker_copy(T0, T0 - 3, "Button clicked", "b")])  # fmt: skip
    result = ingest([str(path)], str(tmp_path / "db.duckdb"))
    assert (result.stored, result.dropped) == (2, 0)


def test_a_post_the_worker_stored_again_on_a_retry_is_one_event(tmp_path: Path, write_jsonl: Write) -> None:
    # the retry gets a new id and a later receive time, as a burst's copies would: the client's clock decides
    path = write_jsonl("w.jsonl", [_worker_copy(T0, T0 - 100, "Profile saved", "a"),
                                   _worker_copy(T0 + 5_000, T0 - 100, "Profile saved", "b")])  # fmt: skip
    result = ingest([str(path)], str(tmp_path / "db.duckdb"))
    assert (result.stored, result.drops) == (1, {("duplicate", "browser"): 1})


def test_both_snapshot_tables_in_one_input_store_each_log_once(tmp_path: Path) -> None:
    both = tmp_path / "both.jsonl"
    both.write_bytes(b"".join((FIXTURES / "backend" / f"snapshot-{t}.jsonl").read_bytes()
                              for t in ("log_queue", "recent_log_entries")))  # fmt: skip
    result = ingest([str(both)], str(tmp_path / "db.duckdb"))
    apart = ingest([str(FIXTURES / "backend" / f"snapshot-{t}.jsonl") for t in ("log_queue", "recent_log_entries")],
                   str(tmp_path / "apart.duckdb"))  # fmt: skip
    assert result.stored == apart.stored == 5 and result.dropped == apart.dropped == 5


def test_the_browsers_payload_and_the_workers_record_of_it_are_one_event(
    tmp_path: Path, write_jsonl: Write
) -> None:
    """Two exports of the same lines: the console override's payloads (client time) and the Worker's `GET /logs`
    (receive time 4 s off, the client time kept), wherever in its list a record stands."""
    payloads = write_jsonl("p.jsonl", [browser(T0 + 1000 * i, f"step {i}") for i in range(3)])
    wrapped = tmp_path / "logs.json"
    records = [_worker_copy(T0 - 4000 + 1000 * i + 7, T0 + 1000 * i, f"step {i}", f"r{i}") for i in (2, 1, 0)]
    wrapped.write_bytes(orjson.dumps({"trace_id": "trace_1", "logs": records}, option=orjson.OPT_INDENT_2))
    db = tmp_path / "db.duckdb"
    result = ingest([str(payloads), str(wrapped)], str(db))
    assert (result.stored, result.dropped, result.drops) == (3, 3, {("duplicate", "browser"): 3})
    # delivered in separate ingests, 4 s apart at the edge of the first one's time range
    db2 = tmp_path / "db2.duckdb"
    assert ingest([str(wrapped)], str(db2)).stored == 3
    second = ingest([str(payloads)], str(db2))
    assert (second.stored, second.drops) == (0, {("duplicate", "browser"): 3})
    assert {r[1] for r in query(db2, "SELECT source_line, reason FROM drop_ledger")} == {
        "same event already ingested by an earlier run (same event key)"
    }


JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"


@pytest.mark.parametrize(
    ("raw", "stored_by_worker", "secret"),
    [
        ('login {"password": "hunter2"} ok', 'login {"password": "[REDACTED]"} ok', "hunter2"),
        (
            'token refresh {"access_token":"ya29.a0AfH6SMBx"}',
            'token refresh {"access_token":"[REDACTED]"}',
            "ya29",
        ),
        (f"fetch Authorization: Bearer {JWT}", "fetch Authorization: Bearer [REDACTED]", JWT[:20]),
    ],
    ids=["password", "access_token", "bearer"],
)
def test_the_workers_copy_it_redacted_itself_is_the_browsers_event(
    tmp_path: Path, write_jsonl: Write, raw: str, stored_by_worker: str, secret: str
) -> None:
    """The live Worker redacted the line before storing it (`[REDACTED]`); the browser's export holds the secret,
    which logcorr redacts with its own mark: one event, in one ingest or two, and the secret stored nowhere."""
    payloads = write_jsonl("p.jsonl", [browser(T0, raw)])
    records = write_jsonl("w.jsonl", [_worker_copy(T0 + 4000, T0, stored_by_worker, "r1")])
    result = ingest([str(payloads), str(records)], str(tmp_path / "db.duckdb"))
    assert (result.stored, result.drops) == (1, {("duplicate", "browser"): 1})
    db2 = tmp_path / "db2.duckdb"
    assert ingest([str(records)], str(db2)).stored == 1
    second = ingest([str(payloads)], str(db2))
    assert (second.stored, second.drops) == (0, {("duplicate", "browser"): 1})
    for db in (tmp_path / "db.duckdb", db2):
        assert not query(db, f"SELECT 1 FROM log_queue WHERE contains(message, '{secret}')")


def test_a_metric_delivered_again_is_stored_once(tmp_path: Path, write_jsonl: Write) -> None:
    """A Convex log-stream retry repeats usage records, overlapping Logpush exports repeat invocations: a usage
    record counted twice is a cost counted twice."""
    from tests.test_sources_cloudflare import logpush
    from tests.test_sources_convex import execution

    fe = [execution(), execution(function={**execution()["function"], "request_id": "other0000000001"})]
    bandwidth = {
        "topic": "storage_api_bandwidth",
        "timestamp": T0,
        "egress_bytes": 1 << 20,
        "ingress_bytes": 0,
    }
    body = [*fe, bandwidth]
    first = write_jsonl("a.jsonl", [*body, *body])  # the retry in the same file
    db = tmp_path / "db.duckdb"
    result = ingest([str(first)], str(db))
    assert result.metrics_repeated == 3
    assert query(db, "SELECT topic, count(*) FROM metrics GROUP BY ALL ORDER BY 1") == [
        ("function_execution", 2), ("storage_api_bandwidth", 1)]  # fmt: skip
    # a later, overlapping export: what is kept stays once, the new record is added
    second = write_jsonl("b.jsonl", [bandwidth, logpush(), logpush()])
    again = ingest([str(second)], str(db))
    assert again.metrics_repeated == 2
    assert query(db, "SELECT topic, count(*) FROM metrics GROUP BY ALL ORDER BY 1") == [
        ("function_execution", 2), ("storage_api_bandwidth", 1), ("worker_invocation", 1)]  # fmt: skip
    assert to_json(again)["metrics_repeated"] == 2
    assert [f["metrics_repeated"] for f in to_json(again)["files"]] == [
        2
    ]  # counted to the file that held them
    assert "2 metric records delivered again" in _render(again)


def test_every_repeated_delivery_shares_one_reason_row(tmp_path: Path, write_jsonl: Write) -> None:
    """Overlapping exports repeat many events: their drops share one decision (per where the first copy is),
    not a reason row each; the key is each dropped event's own `event_key`."""
    events = [browser(T0 + 30_000 * i, f"line {i}", trace=f"t{i}") for i in range(60)]
    path = write_jsonl("a.jsonl", [*events, *events])
    db = tmp_path / "db.duckdb"
    result = ingest([str(path)], str(db))
    assert result.drops[("duplicate", "browser")] == 60
    assert query(db, "SELECT count(*), any_value(r.rule_state::VARCHAR) FROM drop_events e JOIN drop_reasons r "
                     "USING (reason_id) WHERE e.rule = 'duplicate'") == [(60, '{"first_copy":"this ingest"}')]  # fmt: skip
    assert query(db, "SELECT count(DISTINCT reason_id) FROM drop_events WHERE rule = 'duplicate'") == [(1,)]
    assert query(db, "SELECT count(*) FROM drop_ledger d JOIN log_queue q USING (event_key)") == [(60,)]


@pytest.mark.parametrize("compiled", ["1", "0"])
def test_a_split_ingest_ending_with_a_suppressed_line_keeps_the_windows_its_last_events_opened(
    tmp_path: Path, write_jsonl: Write, monkeypatch: pytest.MonkeyPatch, compiled: str
) -> None:
    # the Python loop skips the bookkeeping of events it flags cold; the flags must see the clock the engine
    # ends at, which a suppressed (or repeated) last line does not move
    monkeypatch.setenv("LOGCORR_NO_FASTPATH", "0" if compiled == "1" else "1")
    worker = {"id": "w1", "trace_id": "trace_hot", "system": "worker", "level": "info",
              "message": "Checkout step confirmed", "timestamp": T0}  # fmt: skip
    first = [worker, browser(T0 + 3_000, "[HMR] connected", trace="trace_noise")]
    db = tmp_path / "db.duckdb"
    ingest([str(write_jsonl("first.jsonl", first))], str(db))
    echo = browser(T0 + 1_500, "Checkout step confirmed", trace="trace_hot", level="info")
    ingest([str(write_jsonl("second.jsonl", [echo]))], str(db))
    assert [r[1] for r in ledger(db)] == ["suppress", "cross_system"]


def test_exports_of_one_system_after_another_are_decided_on_their_own_clock(
    tmp_path: Path, write_jsonl: Write
) -> None:
    # the audit's case: the backend's export ingested first, then the browser's for the 5 minutes before
    db = tmp_path / "db.duckdb"
    backend = {"id": "b1", "trace_id": "trace_x", "system": "convex", "level": "info",
               "message": "Saved profile", "timestamp": T0 + 299_000}  # fmt: skip
    ingest([str(write_jsonl("backend.jsonl", [backend]))], str(db))
    heartbeats = [browser(T0 + i * 10_000, "heartbeat", trace=f"t{i}") for i in range(30)]
    heartbeats.append(browser(T0 + 1_000, "Saved profile", trace="trace_x"))  # 298 s apart: not a copy
    result = ingest([str(write_jsonl("browser.jsonl", heartbeats))], str(db))
    assert result.stored == 31 and result.drops == {}
    assert result.integrity is not None and result.integrity.stats.get("late", 0) == 0
    clocks = query(db, "SELECT system, epoch_ms(clock) FROM rate_limit_state ORDER BY system")
    assert dict(clocks) == {"backend": T0 + 299_000, "browser": T0 + 290_000, "worker": T0 + 299_000}
    # a third ingest continues each system where it was: the browser's next lines are not late
    more = [browser(T0 + 291_000 + i * 100, "heartbeat", trace=f"u{i}") for i in range(6)]
    result = ingest([str(write_jsonl("more.jsonl", more))], str(db))
    assert result.drops == {("loop", "browser"): 1}  # the sixth within 1 s of 12:04:51 (five stored)


def test_an_event_dated_after_this_machines_clock_is_named_in_the_summary(
    tmp_path: Path, write_jsonl: Write
) -> None:
    # a browser whose clock is set to 2090: stored like any line, but it moves the browser's rule clock
    ahead = 3_786_912_000_000  # 2090-01-01T00:00:00Z
    recs = [browser(T0, "ok"), browser(ahead, "from the future")]
    result = ingest([str(write_jsonl("b.jsonl", recs))], str(tmp_path / "db.duckdb"))
    assert result.stored == 2 and result.future == {"browser": (1, ahead)}
    assert (
        "1 browser event is dated over a day after this machine's clock (the newest 2090-01-01T00:00:00.000Z)"
        in (_render(result))
    )
    assert to_json(result)["future_events"] == {"browser": {"count": 1, "newest": "2090-01-01T00:00:00.000Z"}}
    result = ingest([str(write_jsonl("c.jsonl", [browser(T0 + 1, "ok again")]))], str(tmp_path / "db.duckdb"))
    assert result.future == {} and "dated over a day" not in _render(result)
