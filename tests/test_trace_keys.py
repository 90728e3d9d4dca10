"""A trace is found by the key of its id and its span, not through an index (schema v10, `schema.TRACE_KEY`):
`trace_summary` (stored events) and `drop_traces` (dropped ones) say where a trace's rows lie in time, and every
reader that wants one trace's rows reads them within that span."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from logcorr.correlate.trace import TraceNotFound, build, resolve
from logcorr.pipeline.ingest import ingest
from logcorr.store.connection import connect
from logcorr.store.schema import dropped_span, stored_span, trace_span
from tests.conftest import FIXTURES, browser_event, convex_console, schema_back_to

T0 = 1714910400000  # 2024-05-05 12:00 UTC

INDEXES = "SELECT table_name, index_name FROM duckdb_indexes() ORDER BY ALL"


def _flood(path: Path, traces: int, t0: int) -> None:
    """Ten identical lines a trace, a second apart per trace: the loop rule drops most of them."""
    path.write_text(
        "".join(
            json.dumps(browser_event(t0 + t * 1000 + i, "retrying fetch", f"trace_{T0}_f{t}")) + "\n"
            for t in range(traces)
            for i in range(10)
        )
    )


@pytest.fixture
def several_runs(tmp_path: Path) -> Path:
    """A database of five ingests: the bundled sample a system at a time, a flood (drops), and a Convex line
    of a request whose trace id only a later ingest's line names (the earlier line joins that trace)."""
    db = tmp_path / "runs.duckdb"
    for system in ("browser", "worker", "backend"):
        assert ingest([str(FIXTURES / system)], str(db)).committed
    _flood(tmp_path / "flood.jsonl", 30, T0 + 3_600_000)
    assert ingest([str(tmp_path / "flood.jsonl")], str(db)).dropped > 0
    sibling, carrier = tmp_path / "sibling.jsonl", tmp_path / "carrier.jsonl"
    sibling.write_text(json.dumps(convex_console("'[users:get] cache miss'", T0 + 7_200_000)) + "\n")
    tid = "trace_1714910400000_k3yj01n3d"
    carrier.write_text(
        json.dumps(convex_console(f"'[users:get] trace_id: {tid} loaded'", T0 + 7_200_900)) + "\n"
    )
    ingest([str(sibling)], str(db))
    ingest([str(carrier)], str(db))
    return db


def test_no_table_has_an_index_an_ingest_would_hold_in_memory(several_runs: Path) -> None:
    """DuckDB held the ART index of every trace id an ingest stored in memory until COMMIT: 5M stored lines
    could not be committed under the store phase's memory limit."""
    with duckdb.connect(str(several_runs), read_only=True) as con:
        assert con.execute(INDEXES).fetchall() == []


def test_every_traces_spans_and_rows_are_those_its_events_say(several_runs: Path) -> None:
    con = duckdb.connect(str(several_runs), read_only=True)
    stored = {
        t: (a, b)
        for t, a, b in con.execute(
            "SELECT trace_id, min(ts), max(ts) FROM log_queue WHERE trace_id IS NOT NULL GROUP BY ALL"
        ).fetchall()
    }
    dropped = {
        t: (a, b)
        for t, a, b in con.execute(
            "SELECT trace_id, min(ts), max(ts) FROM drop_events WHERE trace_id IS NOT NULL GROUP BY ALL"
        ).fetchall()
    }
    assert len(stored) > 5 and len(dropped) > 5 and set(stored) & set(dropped)
    # the later ingest's line joined the earlier one's trace: its summary spans both
    joined = stored["trace_1714910400000_k3yj01n3d"]
    assert (joined[1] - joined[0]).total_seconds() == 0.9
    for t in sorted(set(stored) | set(dropped)):
        assert stored_span(con, t) == stored.get(t), t
        assert dropped_span(con, t) == dropped.get(t), t
        spans = [s for s in (stored.get(t), dropped.get(t)) if s]
        assert trace_span(con, t) == (min(s[0] for s in spans), max(s[1] for s in spans))
        assert resolve(con, t) == t
        model = build(con, t, include_dropped=True)
        (n,) = con.execute(
            "SELECT (SELECT count(*) FROM log_queue WHERE trace_id = $t) + "
            "(SELECT count(*) FROM drop_events WHERE trace_id = $t)",
            {"t": t},
        ).fetchone()
        assert len(model["events"]) == n, t
    for table in ("trace_summary", "drop_traces"):
        assert con.execute(
            f"SELECT count(*) FROM {table} WHERE trace_key IS DISTINCT FROM md5_number_lower(trace_id)"
        ).fetchone() == (0,)
    assert stored_span(con, "trace_never_seen") is None and trace_span(con, "trace_never_seen") is None
    with pytest.raises(TraceNotFound):
        resolve(con, "trace_never_seen")
    con.close()


def test_each_ingests_keys_are_written_in_order(several_runs: Path) -> None:
    """The zone maps of `trace_key` skip a row group only where its rows are in key order."""
    with duckdb.connect(str(several_runs), read_only=True) as con:
        for run, keys in con.execute(
            "SELECT run_id, list(trace_key ORDER BY rowid) FROM drop_traces GROUP BY ALL"
        ).fetchall():
            assert keys == sorted(keys), run
        # each ingest appends its summaries as one run in key order (fewer traces than `SUMMARY_PART`): the rows
        # in table order fall back at most once an ingest after the first, where ids in no order would at about
        # every other row
        keys = [k for (k,) in con.execute("SELECT trace_key FROM trace_summary ORDER BY rowid").fetchall()]
        assert len(keys) > 10
        assert sum(a > b for a, b in itertools.pairwise(keys)) <= 4


def _rows(con: Any, table: str) -> list[tuple[Any, ...]]:
    return con.execute(  # type: ignore[no-any-return]
        f"SELECT * EXCLUDE (trace_key) FROM {table} ORDER BY ALL"
    ).fetchall()


def test_a_v9_database_loses_its_indexes_and_gets_its_keys(several_runs: Path, cli: Any) -> None:
    with duckdb.connect(str(several_runs), read_only=True) as con:
        summaries, drops = _rows(con, "trace_summary"), _rows(con, "drop_traces")
        tid = con.execute(
            "SELECT trace_id FROM trace_summary ORDER BY events DESC, trace_id LIMIT 1"
        ).fetchone()[0]
    schema_back_to(several_runs, 9)
    with duckdb.connect(str(several_runs), read_only=True) as con:
        assert ("log_queue", "log_queue_trace") in con.execute(INDEXES).fetchall()
    con = connect(str(several_runs))  # migrates
    assert con.execute(INDEXES).fetchall() == []
    assert _rows(con, "trace_summary") == summaries and _rows(con, "drop_traces") == drops
    for table in ("trace_summary", "drop_traces"):
        keys = [k for (k,) in con.execute(f"SELECT trace_key FROM {table} ORDER BY rowid").fetchall()]
        if table == "trace_summary":
            assert keys == sorted(keys)
        assert con.execute(
            f"SELECT count(*) FROM {table} WHERE trace_key IS DISTINCT FROM md5_number_lower(trace_id)"
        ).fetchone() == (0,)
    con.close()
    r = cli("trace", tid, "--db", str(several_runs), "--format", "json")
    assert r.exit_code == 0 and r.json()["trace_id"] == tid
