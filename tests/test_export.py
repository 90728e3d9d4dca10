"""`logcorr export --parquet DIR`: hive-partitioned Parquet that DuckDB reads back whole."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from logcorr.errors import ExitCode, UsageError
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


def test_a_table_with_no_rows_in_the_window_is_said_to_be_unwritten(
    cli: Cli, fixtures_db: str, tmp_path: Path
) -> None:
    out = tmp_path / "lake"
    r = cli("export", "--parquet", str(out), "--db", fixtures_db, "--until", "2000-01-01T00:00:00Z")
    assert r.exit_code == ExitCode.OK, r.stderr
    # no file and so no folder: naming one (`→ lake/log_queue/`) sent a reader's glob where nothing is
    assert "log_queue: 0 rows, nothing written" in r.stderr and "→" not in r.stderr
    assert not (out / "log_queue").exists()


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


def test_a_directory_of_other_files_is_not_answered_with_overwrite(
    cli: Cli, fixtures_db: str, tmp_path: Path
) -> None:
    # the hint said "add --overwrite", which then refused the same directory for its foreign files
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    r = cli("export", "--parquet", str(out), "--db", fixtures_db)
    assert r.exit_code == ExitCode.USAGE and "is not empty (notes.txt)" in r.stderr
    assert "hint: choose an empty directory (--overwrite replaces only an earlier export" in r.stderr


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


def _tree(out: Path) -> dict[str, bytes]:
    """Every file under `out` (relative path -> bytes): what a refused export must leave exactly as it was."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_overwrite_refuses_a_table_folder_holding_a_users_file_without_an_earlier_export(
    cli: Cli, fixtures_db: str, tmp_path: Path
) -> None:
    # the audit's case: DIR/log_queue/my_notes.txt, no earlier export, no manifest — it was deleted, exit 0
    out = tmp_path / "d"
    (out / "log_queue").mkdir(parents=True)
    (out / "log_queue" / "my_notes.txt").write_text("x\n")
    r = cli("export", "--parquet", str(out), "--db", fixtures_db, "--overwrite")
    assert r.exit_code == ExitCode.USAGE, r.stderr
    assert "log_queue/my_notes.txt" in r.stderr and "not overwriting" in r.stderr and r.stdout == ""
    assert _tree(out) == {"log_queue/my_notes.txt": b"x\n"}
    assert sorted(p.name for p in out.iterdir()) == ["log_queue"]


@pytest.mark.parametrize(
    ("added", "named"),
    [
        ("log_queue/my_notes.txt", "log_queue/my_notes.txt"),
        ("drop_ledger/notes.txt", "drop_ledger/notes.txt"),
        ("log_queue/system=worker/README.md", "log_queue/system=worker/README.md"),
        (
            "log_queue/system=worker/date=2024-05-05/notes.md",
            "log_queue/system=worker/date=2024-05-05/notes.md",
        ),
        ("log_queue/system=worker/date=2024-05-05/data_1.parquet", "date=2024-05-05/data_1.parquet"),
        (
            "drop_ledger/system=browser/date=2024-05-05/mine/keep.txt",
            "date=2024-05-05/mine",
        ),  # a folder: named
        ("log_queue/scratch/data_0.parquet", "log_queue/scratch"),
        (".logcorr-export-tmp/notes.txt", ".logcorr-export-tmp/notes.txt"),
    ],
)
def test_overwrite_refuses_a_file_added_inside_an_earlier_exports_folders(
    cli: Cli, fixtures_db: str, tmp_path: Path, added: str, named: str
) -> None:
    out = tmp_path / "lake"
    r = cli("export", "--parquet", str(out), "--db", fixtures_db, "--include-dropped")
    assert r.exit_code == ExitCode.OK, r.stderr
    (out / added).parent.mkdir(parents=True, exist_ok=True)
    (out / added).write_text("keep me")
    before = _tree(out)
    r = cli("export", "--parquet", str(out), "--db", fixtures_db, "--overwrite")
    assert r.exit_code == ExitCode.USAGE, r.stderr
    assert named in r.stderr and "not overwriting" in r.stderr
    # nothing deleted or rewritten: the user's file, the earlier export and its manifest are as they were
    assert _tree(out) == before


def test_overwrite_refuses_table_folders_no_manifest_says_an_export_wrote(
    cli: Cli, fixtures_db: str, tmp_path: Path
) -> None:
    # DuckDB's own partitioned COPY writes the same system=…/date=…/data_0.parquet names
    out = tmp_path / "lake"
    out.mkdir()
    duckdb.sql(
        f"COPY (SELECT 'worker' AS system, DATE '2024-05-05' AS date, 1 AS x) TO '{out / 'log_queue'}' "
        "(FORMAT parquet, PARTITION_BY (system, date))"
    )
    before = _tree(out)
    assert list(before) == ["log_queue/system=worker/date=2024-05-05/data_0.parquet"]
    r = cli("export", "--parquet", str(out), "--db", fixtures_db, "--overwrite")
    assert r.exit_code == ExitCode.USAGE and "_logcorr_export.json" in r.stderr, r.stderr
    assert _tree(out) == before


def test_overwrite_does_not_follow_a_symlink_in_an_earlier_export(
    cli: Cli, fixtures_db: str, tmp_path: Path
) -> None:
    out = tmp_path / "lake"
    assert cli("export", "--parquet", str(out), "--db", fixtures_db).exit_code == ExitCode.OK
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "data_0.parquet").write_text("not ours")
    (out / "log_queue" / "system=worker" / "date=2024-05-06").symlink_to(elsewhere)
    r = cli("export", "--parquet", str(out), "--db", fixtures_db, "--overwrite")
    assert r.exit_code == ExitCode.USAGE and "system=worker/date=2024-05-06" in r.stderr, r.stderr
    assert (elsewhere / "data_0.parquet").read_text() == "not ours"
    assert (out / "log_queue" / "system=worker" / "date=2024-05-06").is_symlink()


def test_a_file_put_in_the_directory_while_the_export_runs_is_not_deleted(
    fixtures_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import logcorr.export as export

    out = tmp_path / "lake"
    export.export_parquet(fixtures_db, str(out))
    real_check = export.check_target

    def check_then_add(out_dir: Path, overwrite: bool, *, staged: bool = False) -> None:
        if staged:  # the check just before the earlier export is replaced
            (out_dir / "log_queue" / "late.txt").write_text("written meanwhile")
        real_check(out_dir, overwrite, staged=staged)

    monkeypatch.setattr(export, "check_target", check_then_add)
    before = _tree(out)
    with pytest.raises(UsageError, match=r"log_queue/late\.txt"):
        export.export_parquet(fixtures_db, str(out), overwrite=True)
    assert _tree(out) == {**before, "log_queue/late.txt": b"written meanwhile"}
    assert not (out / ".logcorr-export-tmp").exists()


def test_overwrite_replaces_what_an_interrupted_export_left_in_its_staging_folder(
    cli: Cli, fixtures_db: str, tmp_path: Path
) -> None:
    out = tmp_path / "lake"
    assert cli("export", "--parquet", str(out), "--db", fixtures_db).exit_code == ExitCode.OK
    stale = out / ".logcorr-export-tmp" / "log_queue" / "system=worker" / "date=2024-05-05"
    stale.mkdir(parents=True)
    (stale / "data_0.parquet").write_bytes(b"PAR1 half-written")
    r = cli("export", "--parquet", str(out), "--db", fixtures_db, "--overwrite")
    assert r.exit_code == ExitCode.OK, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["_logcorr_export.json", "log_queue"]


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
