"""The rules phase under its own DuckDB memory limit: trace integrity counted in spillable steps gives the
count(DISTINCT) answer, and ingest leaves the connection's limits as they were around the engine loop."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pytest

from logcorr.errors import DatabaseError
from logcorr.model import PRESSURE_RULES
from logcorr.pipeline import decide as decide_mod
from logcorr.pipeline import store as store_mod
from logcorr.pipeline.ingest import ingest
from logcorr.rules.report import trace_integrity
from logcorr.store.connection import (
    ENGINE_MEMORY_LIMIT,
    INGEST_MEMORY_LIMIT,
    STORE_MEMORY_LIMIT,
    connect,
    keep_blocks,
)

RULES = (None, "suppress", "duplicate", "loop", "cross_system", *PRESSURE_RULES)


def _reference(con: Any) -> tuple[int, int, int]:
    """The straightforward definition: per trace, distinct systems, pressure drops and stored events."""
    pressure = ", ".join(f"'{r}'" for r in PRESSURE_RULES)
    row = con.execute(
        f"""
        WITH t AS (
            SELECT trace_id, count(DISTINCT system) AS systems,
                   count(*) FILTER (WHERE rule IS NOT NULL) AS cut, count(*) FILTER (WHERE rule IS NULL) AS kept
            FROM fate
            WHERE trace_id IS NOT NULL AND (rule IS NULL OR rule IN ({pressure}))
            GROUP BY trace_id
        )
        SELECT count(*) FILTER (WHERE systems > 1), count(*) FILTER (WHERE systems > 1 AND cut > 0 AND kept > 0),
               count(*) FILTER (WHERE systems > 1 AND kept = 0)
        FROM t
        """
    ).fetchone()
    return tuple(int(x or 0) for x in row)  # type: ignore[return-value]


@pytest.mark.parametrize("seed", range(8))
def test_trace_integrity_matches_the_distinct_count_definition(seed: int) -> None:
    rnd = random.Random(seed)
    con = duckdb.connect()
    con.execute("CREATE TEMP TABLE fate (seq BIGINT, trace_id VARCHAR, system VARCHAR, rule VARCHAR)")
    n = rnd.randint(0, 3000)
    traces = [f"t{i}" for i in range(rnd.randint(1, 300))]
    rows = [
        (seq, rnd.choice([*traces, None]), rnd.choice(["browser", "worker", "backend"]), rnd.choice(RULES))
        for seq in range(1, n + 1)
    ]
    if rows:
        con.executemany("INSERT INTO fate VALUES (?, ?, ?, ?)", rows)
    got = trace_integrity(con, Counter({"trace_refused": 1}))
    assert (got.multi_system, got.cut, got.refused_whole) == _reference(con)
    assert got.stats == {"trace_refused": 1}


def test_ingest_lowers_the_limit_for_the_engine_loop_and_restores_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOGCORR_MEMORY_LIMIT", raising=False)
    seen: list[str] = []
    real_close = decide_mod._FateSink.close
    con_ref: list[Any] = []

    def close(self: Any) -> Any:
        # the end of the engine loop (no statement may run while the loop's result is open)
        seen.append(con_ref[0].execute("SELECT current_setting('memory_limit')").fetchall()[0][0])
        return real_close(self)

    real_decide = decide_mod.decide

    def decide(con: Any, *a: Any, **k: Any) -> Any:
        con_ref.append(con)
        before = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
        engine = real_decide(con, *a, **k)
        after = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
        seen.extend([f"before {before}", f"after {after}"])
        return engine

    monkeypatch.setattr(decide_mod._FateSink, "close", close)
    monkeypatch.setattr("logcorr.pipeline.ingest.decide", decide)
    path = tmp_path / "in.jsonl"
    path.write_text(
        "".join(
            f'{{"message": "m{i % 7}", "level": "log", "trace_id": "t{i % 5}", "timestamp": {1714910400000 + i}}}\n'
            for i in range(200)
        )
    )
    result = ingest([str(path)], str(tmp_path / "db.duckdb"))
    assert result.stored + result.dropped == 200
    loop = [s for s in seen if not s.startswith(("before", "after"))]
    assert loop and all(s == _shown(ENGINE_MEMORY_LIMIT) for s in loop), seen
    assert seen[-2].removeprefix("before ") == seen[-1].removeprefix("after ")  # restored to the ingest limit
    assert seen[-1] == f"after {_shown(INGEST_MEMORY_LIMIT)}", seen


def _shown(limit: str) -> str:
    """A memory limit as DuckDB shows it (`200MB` is `190.7 MiB`)."""
    con = duckdb.connect()
    con.execute("SET memory_limit = ?", [limit])
    shown: str = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    con.close()
    return shown


_NO_BLOCK_POOL = (
    not duckdb.connect()
    .execute("SELECT 1 FROM duckdb_settings() WHERE name = 'block_allocator_memory'")
    .fetchall()
)


@pytest.mark.skipif(_NO_BLOCK_POOL, reason="this DuckDB has no block_allocator_memory")
def test_store_keeps_its_blocks_under_the_store_limit_and_the_rules_do_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOGCORR_MEMORY_LIMIT", raising=False)
    seen: dict[str, tuple[str, str]] = {}

    def settings(con: Any) -> tuple[str, str]:
        row = con.execute(
            "SELECT current_setting('memory_limit'), current_setting('block_allocator_memory')"
        ).fetchall()[0]
        return str(row[0]), str(row[1])

    real_decide, real_store = decide_mod.decide, store_mod.store

    def decide(con: Any, *a: Any, **k: Any) -> Any:
        seen["rules"] = settings(con)
        return real_decide(con, *a, **k)

    def store(con: Any, *a: Any, **k: Any) -> Any:
        seen["store"] = settings(con)
        return real_store(con, *a, **k)

    monkeypatch.setattr("logcorr.pipeline.ingest.decide", decide)
    monkeypatch.setattr("logcorr.pipeline.ingest.store", store)
    path = tmp_path / "in.jsonl"
    path.write_text(
        "".join(
            f'{{"message": "m{i}", "level": "log", "timestamp": {1714910400000 + i}}}\n' for i in range(50)
        )
    )
    result = ingest([str(path)], str(tmp_path / "db.duckdb"))
    assert result.stored + result.dropped == 50
    assert seen["rules"] == (_shown(INGEST_MEMORY_LIMIT), "0 bytes"), seen
    assert seen["store"] == (_shown(STORE_MEMORY_LIMIT), _shown(STORE_MEMORY_LIMIT)), seen


def test_keep_blocks_leaves_a_duckdb_without_the_setting_as_it_was() -> None:
    class Older:
        def execute(self, sql: str, params: list[str]) -> None:
            raise duckdb.CatalogException(f"unrecognized configuration parameter in {sql!r}")

    keep_blocks(Older(), "192MB")  # no error: the store runs as before
    if _NO_BLOCK_POOL:
        return
    con = duckdb.connect()
    keep_blocks(con, "64MB")
    assert con.execute("SELECT current_setting('block_allocator_memory')").fetchall()[0][0] == _shown("64MB")


def test_a_memory_limit_beyond_the_machine_still_ingests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DuckDB takes such a memory_limit but refuses a block pool that large; the refusal must not abort the
    # ingest's transaction
    monkeypatch.setenv("LOGCORR_MEMORY_LIMIT", "100TB")
    path = tmp_path / "in.jsonl"
    path.write_text(
        "".join(
            f'{{"message": "m{i}", "level": "log", "timestamp": {1714910400000 + i}}}\n' for i in range(20)
        )
    )
    result = ingest([str(path)], str(tmp_path / "db.duckdb"))
    assert result.committed and result.stored + result.dropped == 20
    con = duckdb.connect(str(tmp_path / "db.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM log_queue").fetchone() == (result.stored,)


@pytest.mark.parametrize("env", [None, "300MB"])
def test_running_out_of_memory_says_which_limit_to_raise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: str | None
) -> None:
    if env is None:
        monkeypatch.delenv("LOGCORR_MEMORY_LIMIT", raising=False)
    else:
        monkeypatch.setenv("LOGCORR_MEMORY_LIMIT", env)

    def store(*a: Any, **k: Any) -> None:
        raise duckdb.OutOfMemoryException("Out of Memory Error: could not allocate block of size 256.0 KiB")

    monkeypatch.setattr("logcorr.pipeline.ingest.store", store)
    path = tmp_path / "in.jsonl"
    path.write_text('{"message": "m", "level": "log", "timestamp": 1714910400000}\n')
    with pytest.raises(DatabaseError) as got:
        ingest([str(path)], str(tmp_path / "db.duckdb"))
    assert "ran out of memory" in str(got.value) and "could not allocate block" in str(got.value)
    hint = got.value.hint or ""
    assert (f"LOGCORR_MEMORY_LIMIT={env} is too small" if env else "set LOGCORR_MEMORY_LIMIT") in hint
    con = duckdb.connect(str(tmp_path / "db.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM ingest_runs").fetchone() == (0,)  # nothing was committed


def _offload_failure(tmp_path: Path) -> duckdb.OutOfMemoryException:
    """DuckDB's own error when what does not fit in memory cannot be written to its temporary directory (here
    capped at 1MB, as a full disk caps it)."""
    con = duckdb.connect(str(tmp_path / "spill.duckdb"))
    con.execute("SET memory_limit = '20MB'")
    con.execute("SET max_temp_directory_size = '1MB'")
    con.execute("SET threads = 1")
    with pytest.raises(duckdb.OutOfMemoryException) as got:
        con.execute("CREATE TEMP TABLE t AS SELECT repeat('x', 100) || range AS s FROM range(2000000)")
        con.execute("SELECT * FROM t ORDER BY s DESC").fetchall()
    con.close()
    return got.value


def test_a_full_temporary_directory_is_told_apart_from_a_small_memory_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGCORR_MEMORY_LIMIT", "300MB")
    full = _offload_failure(tmp_path)
    assert "max_temp_directory_size" in str(full)  # what tells it apart, in DuckDB's words

    def store(*a: Any, **k: Any) -> None:
        raise full

    monkeypatch.setattr("logcorr.pipeline.ingest.store", store)
    path = tmp_path / "in.jsonl"
    path.write_text('{"message": "m", "level": "log", "timestamp": 1714910400000}\n')
    with pytest.raises(DatabaseError) as got:
        ingest([str(path)], str(tmp_path / "db.duckdb"))
    assert str(got.value).startswith(
        "DuckDB ran out of disk space for its temporary files during ingest: Out of Memory Error: failed to offload"
    )
    hint = got.value.hint or ""
    assert "free space on the disk that holds the database" in hint and "LOGCORR_MEMORY_LIMIT" not in hint


def test_a_memory_limit_too_small_to_open_the_database_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGCORR_MEMORY_LIMIT", "1KB")
    with pytest.raises(DatabaseError) as got:
        connect(str(tmp_path / "db.duckdb"))
    assert "ran out of memory" in str(got.value) and "LOGCORR_MEMORY_LIMIT" in (got.value.hint or "")
