"""The benchmark scripts keep working with the library they measure (CI runs no benchmark)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import duckdb

from logcorr.correlate.filters import TraceFilter
from logcorr.correlate.listing import list_traces
from logcorr.pipeline.ingest import ingest
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
    con.close()
