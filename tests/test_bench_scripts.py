"""The benchmark scripts keep working with the library they measure (CI runs no benchmark)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import duckdb

from logcorr.correlate.filters import TraceFilter
from logcorr.correlate.listing import list_traces
from logcorr.pipeline.ingest import ingest
from logcorr.rules.policy import Policy
from tests.conftest import FIXTURES, ROOT


def _script(name: str) -> ModuleType:
    sys.path.insert(0, str(ROOT / "scripts"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_query_records_the_statements_each_command_runs(tmp_path: Path) -> None:
    # the floor of `bench_query.py` replays what logcorr runs: recorded from the library through a stand-in
    # connection, which must follow the library's reads (a cursor, a streamed listing)
    db = tmp_path / "db.duckdb"
    ingest([str(FIXTURES)], str(db))
    con = duckdb.connect(str(db), read_only=True)
    trace_id = con.execute(
        "SELECT trace_id FROM trace_summary ORDER BY events DESC, trace_id LIMIT 1"
    ).fetchall()[0][0]
    expected = list(list_traces(con, TraceFilter(has_errors=True)))
    recorded = _script("bench_query").record_sql(db, trace_id)
    assert set(recorded) == {"trace", "traces", "stats"} and all(recorded.values())
    # replayed as the floor does, the listing's statement gives the listing's rows
    sql, params = recorded["traces"][-1]
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    assert [dict(zip(names, r, strict=True)) for r in cur.fetchall()] == expected
    # every statement runs again from its JSON, as the floor's process gets them (named parameters by name)
    for sql, params in (st for statements in recorded.values() for st in statements):
        con.execute(sql, json.loads(json.dumps(params, default=str))).fetchall()
    con.close()


def test_bench_query_builds_a_database_whose_run_is_recorded_as_an_ingest_records_it(tmp_path: Path) -> None:
    # its events carried run 1 with no `ingest_runs` row: a later ingest into the database took run 1 again
    bq = _script("bench_query")
    db, real = tmp_path / "built.duckdb", tmp_path / "real.duckdb"
    bq.build(db, 2_000)
    ingest([str(FIXTURES / "browser")], str(real))
    runs = "SELECT * FROM ingest_runs ORDER BY run_id"
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT DISTINCT run_id FROM log_queue").fetchall() == [(1,)]
        cur = con.execute(runs)
        names = [d[0] for d in cur.description]
        (built,) = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    with duckdb.connect(str(real), read_only=True) as con:
        cur = con.execute(runs)
        (ingested,) = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    assert {k: v is None for k, v in built.items()} == {k: v is None for k, v in ingested.items()}
    assert {k: built[k] for k in ("run_id", "files", "events_stored", "events_dropped", "rejected")} == {
        "run_id": 1, "files": 1, "events_stored": 2_000, "events_dropped": 0, "rejected": 0
    }  # fmt: skip
    assert (built["logcorr_version"], built["policy_hash"]) == (
        ingested["logcorr_version"], ingested["policy_hash"]
    )  # fmt: skip
    assert built["started_at"] <= built["finished_at"]
    # a later ingest is the next run
    assert ingest([str(FIXTURES / "browser")], str(db)).run_id == 2
    assert bq.has_run(db)  # a database cached before is rebuilt


def test_bench_formats_grows_every_fixture_into_an_ingestible_file_of_its_own_format(tmp_path: Path) -> None:
    # every copy moves the times on and makes the trace ids its own, so the grown file is traffic the rules
    # store, not one burst they drop as repeats
    bf = _script("bench_formats")
    grown = tmp_path / "grown"
    grown.mkdir()
    fixtures = bf.fixtures([])
    assert len(fixtures) == 15
    for fixture in fixtures:
        framing, records = bf.read_fixture(fixture)
        name = fixture.name if framing != "document" else f"{fixture.stem}.jsonl"
        size = bf.grow(framing, records, grown / name, 30_000, 30_000, fixture.suffix == ".gz")
        assert size["records"] % len(records) == 0 and size["records"] >= 2 * len(records)
    base, big = str(tmp_path / "base.duckdb"), str(tmp_path / "big.duckdb")
    ingest([str(FIXTURES)], base)
    result = ingest([str(grown)], big)
    assert result.rejected == 0 and len(result.files) == 15
    traces = "SELECT count(DISTINCT trace_id) FROM log_queue"
    (before,) = duckdb.connect(base, read_only=True).execute(traces).fetchone() or (0,)
    (after,) = duckdb.connect(big, read_only=True).execute(traces).fetchone() or (0,)
    assert after >= 2 * before
    assert result.stored > 0.5 * (result.stored + sum(result.drops.values()))


def test_bench_report_sets_the_ingest_cpu_beside_read_json_auto(tmp_path: Path) -> None:
    # CPU of the process tree is what no parallelism takes back: the table gives it with its ratio
    def pipeline(seconds: float, cpu: float | None) -> dict[str, object]:
        return {"seconds": seconds, "records_per_s": 1, "mb_per_s": 1.0, "peak_rss_mb": 500.0, "cpu_s": cpu}

    figures = {
        "machine": {
            "cores": 2,
            "memory": "24 GiB",
            "python": "3.11",
            "duckdb": "2.0.1",
            "load_average_at_start": 0.1,
        },
        "total_s": 1.0,
        "ingest": {
            "1000000": {
                "pipelines": [pipeline(8.0, 12.8), pipeline(5.0, 6.4)],
                "ratio_ingest_to_read_json_auto": 1.6,
            },
            "5000000": {
                "pipelines": [pipeline(40.0, None), pipeline(20.0, 30.0)],
                "ratio_ingest_to_read_json_auto": 2,
            },
        },
        "rules": {"us_per_event": 0.7, "empty_loop_ns": 13, "cpu_us_per_event": 0.7},
        "query": {"rows": [], "events": 0},
    }
    figures["query"]["rows"] = [  # type: ignore[index]
        {"command": "logcorr --help", "median_s": 0.08, "floor": "python -c pass", "floor_median_s": 0.02,
         "ratio": 4.0, "peak_rss_mb": 18, "runs": 5}
    ]  # fmt: skip
    table = _script("bench").report(figures)
    cpu = [line for line in table.splitlines() if "CPU (user+system)" in line]
    assert len(cpu) == 1  # a run without the figure has no row, not a made-up one
    assert cpu[0].split()[:3] == ["ingest", "1M", "CPU"] and "12.8" in cpu[0]
    assert "read_json_auto 6.4" in cpu[0] and cpu[0].rstrip().endswith("2.00x")


def test_bench_split_stores_both_exports_of_every_request(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # each request's two browser lines and two backend lines are stored (rules that drop are off), the second
    # export's lines joining the traces the first one wrote
    bs = _script("bench_split")
    out = tmp_path / "figures.json"
    monkeypatch.setattr(
        sys, "argv", ["bench_split.py", "--requests", "40", "--out", str(tmp_path), "--json", str(out)]
    )
    assert bs.main() == 0
    rows = json.loads(out.read_text())["rows"]
    assert [(r["export"], r["lines"]) for r in rows] == [
        ("backend export", 80),
        ("browser export after it", 80),
        ("both in one ingest", 160),
    ]
    assert rows[2]["read_json_auto_s"] == round(rows[0]["read_json_auto_s"] + rows[1]["read_json_auto_s"], 2)
    backend, browser = bs.write_exports(40, tmp_path)
    db = str(tmp_path / "again.duckdb")
    policy = Policy.model_validate({"rate_limit": {"enabled": False}, "budget": {"enabled": False}})
    ingest([str(backend)], db, policy)
    ingest([str(browser)], db, policy)
    con = duckdb.connect(db, read_only=True)
    assert con.execute("SELECT count(*), sum(events), min(n_systems) FROM trace_summary").fetchone() == (
        40,
        160,
        2,
    )
    con.close()
