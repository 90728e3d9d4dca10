"""`logcorr export --parquet DIR`: hive-partitioned Parquet that DuckDB reads back whole."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from logcorr.errors import ExitCode
from logcorr.pipeline.ingest import ingest
from tests.conftest import FIXTURES, CliResult

Cli = Callable[..., CliResult]


@pytest.fixture(scope="module")
def fixtures_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("export") / "fixtures.duckdb")
    ingest([str(FIXTURES)], path)
    return path


def _read(out: Path, table: str = "log_queue") -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        f"CREATE VIEW exported AS SELECT * FROM read_parquet('{out / table}/**/*.parquet', hive_partitioning=true)"
    )
    return con


def _counts(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[str, object, int]]:
    return [tuple(r) for r in con.execute(sql).fetchall()]  # type: ignore[misc]


def test_export_reads_back_with_the_same_counts_per_system_and_date(
    cli: Cli, fixtures_db: str, tmp_path: Path
) -> None:
    out = tmp_path / "lake"
    r = cli("export", "--parquet", str(out), "--db", fixtures_db)
    assert r.exit_code == ExitCode.OK, r.stderr
    assert r.stdout == "" and "log_queue:" in r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["_logcorr_export.json", "log_queue"]
    # hive-style folders: system=…/date=…/
    dirs = {p.relative_to(out / "log_queue").as_posix() for p in (out / "log_queue").glob("*/*")}
    assert dirs and all(d.startswith("system=") and "/date=" in d for d in dirs)

    got = _read(out)
    exported = _counts(got, "SELECT system, date, count(*) FROM exported GROUP BY ALL ORDER BY ALL")
    src = duckdb.connect(fixtures_db, read_only=True)
    stored = _counts(
        src, "SELECT system, CAST(ts AS DATE), count(*) FROM log_queue GROUP BY ALL ORDER BY ALL"
    )
    assert exported == stored and sum(n for *_, n in stored) > 0

    # column types survive (JSON becomes text for every engine; system and date come from the folders)
    types = dict(got.execute("SELECT column_name, column_type FROM (DESCRIBE exported)").fetchall())
    assert types["ts"] == "TIMESTAMP" and types["client_ts"] == "TIMESTAMP"
    assert types["event_id"] == "BIGINT" and types["source_line"] == "BIGINT"
    assert types["run_id"] == "INTEGER" and types["processed"] == "BOOLEAN"
    assert types["message"] == "VARCHAR" and types["context"] == "VARCHAR"
    assert types["system"] == "VARCHAR" and types["date"] == "DATE"
    src_cols = [r[0] for r in src.execute("DESCRIBE log_queue").fetchall()]
    assert sorted(types) == sorted([*src_cols, "date"])

    # the rows themselves, not just their number
    got.execute(f"ATTACH '{fixtures_db}' AS src (READ_ONLY)")
    same = got.execute(
        """SELECT count(*) FROM exported e JOIN src.log_queue s USING (event_id)
            WHERE e.ts = s.ts AND e.message = s.message AND e.system = s.system
              AND e.trace_id IS NOT DISTINCT FROM s.trace_id AND e.context IS NOT DISTINCT FROM s.context::VARCHAR"""
    ).fetchone()
    assert same is not None and same[0] == sum(n for *_, n in stored)

    # within each file, rows in time order (then event id), as docs/export.md says
    for f in sorted((out / "log_queue").rglob("*.parquet")):
        keys = duckdb.sql(f"SELECT ts, event_id FROM read_parquet('{f}') ORDER BY file_row_number").fetchall()
        assert keys == sorted(keys), f


def test_include_dropped_writes_the_ledger_beside_the_events(
    cli: Cli, fixtures_db: str, tmp_path: Path
) -> None:
    out = tmp_path / "lake"
    r = cli("export", "--parquet", str(out), "--db", fixtures_db, "--include-dropped", "--json")
    assert r.exit_code == ExitCode.OK, r.stderr
    summary = r.json()
    dropped = (
        duckdb.connect(fixtures_db, read_only=True).execute("SELECT count(*) FROM drop_ledger").fetchone()
    )
    assert dropped is not None and dropped[0] > 0
    assert summary["tables"]["drop_ledger"]["rows"] == dropped[0]
    con = _read(out, "drop_ledger")
    assert con.execute("SELECT count(*) FROM exported").fetchone() == (dropped[0],)
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE exported)").fetchall())
    assert types["rule"] == "VARCHAR" and types["rule_state"] == "VARCHAR"


def test_since_and_until_bound_the_exported_events(cli: Cli, fixtures_db: str, tmp_path: Path) -> None:
    src = duckdb.connect(fixtures_db, read_only=True)
    lo, hi = src.execute("SELECT quantile_disc(ts, 0.25), quantile_disc(ts, 0.75) FROM log_queue").fetchone()  # type: ignore[misc]
    want = src.execute("SELECT count(*) FROM log_queue WHERE ts BETWEEN ? AND ?", [lo, hi]).fetchone()
    out = tmp_path / "lake"
    r = cli("export", "--parquet", str(out), "--db", fixtures_db, "--since", lo.isoformat(), "--until",
            hi.isoformat(), "--json")  # fmt: skip
    assert r.exit_code == ExitCode.OK, r.stderr
    assert (r.json()["tables"]["log_queue"]["rows"],) == want
    assert _read(out).execute(
        "SELECT count(*), min(ts) >= ?, max(ts) <= ? FROM exported", [lo, hi]
    ).fetchone() == (
        want[0],  # type: ignore[index]
        True,
        True,
    )


def test_a_window_that_ends_before_it_begins_is_refused_before_anything_is_written(
    cli: Cli, fixtures_db: str, tmp_path: Path
) -> None:
    out = tmp_path / "lake"
    r = cli("export", "--parquet", str(out), "--db", fixtures_db, "--since", "5h", "--until", "10h")
    assert r.exit_code == ExitCode.USAGE
    assert "is after --until 10h" in r.stderr and "--since 10h --until 5h" in r.stderr
    assert not out.exists()


def test_a_non_empty_directory_is_refused_without_overwrite(
    cli: Cli, fixtures_db: str, tmp_path: Path
) -> None:
    out = tmp_path / "lake"
    assert cli("export", "--parquet", str(out), "--db", fixtures_db).exit_code == ExitCode.OK
    r = cli("export", "--parquet", str(out), "--db", fixtures_db)
    assert r.exit_code == ExitCode.USAGE
    assert "is not empty" in r.stderr and "--overwrite" in r.stderr and r.stdout == ""
    # --overwrite replaces an earlier export, with the same result
    before = _read(out).execute("SELECT count(*) FROM exported").fetchone()
    r = cli("export", "--parquet", str(out), "--db", fixtures_db, "--overwrite")
    assert r.exit_code == ExitCode.OK, r.stderr
    assert _read(out).execute("SELECT count(*) FROM exported").fetchone() == before
    assert not (out / ".logcorr-export-tmp").exists()


def test_overwrite_never_deletes_files_an_export_did_not_write(
    cli: Cli, fixtures_db: str, tmp_path: Path
) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    r = cli("export", "--parquet", str(out), "--db", fixtures_db, "--overwrite")
    assert r.exit_code == ExitCode.USAGE and "notes.txt" in r.stderr
    assert (out / "notes.txt").read_text() == "keep me" and sorted(p.name for p in out.iterdir()) == [
        "notes.txt"
    ]


def test_a_file_in_place_of_the_directory_and_a_missing_database_are_clear_errors(
    cli: Cli, fixtures_db: str, tmp_path: Path
) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    r = cli("export", "--parquet", str(f), "--db", fixtures_db)
    assert r.exit_code == ExitCode.USAGE and "not a directory" in r.stderr
    r = cli("export", "--parquet", str(tmp_path / "out"), "--db", str(tmp_path / "missing.duckdb"))
    assert r.exit_code == ExitCode.INPUT and "does not exist" in r.stderr
    assert not (tmp_path / "out").exists()
