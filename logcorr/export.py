"""Export events to Parquet, partitioned hive-style by system and date, for engines beyond one machine.

    DIR/log_queue/system=browser/date=2024-05-05/data_0.parquet
    DIR/drop_ledger/system=worker/date=2024-05-05/data_0.parquet      (with include_dropped)
    DIR/_logcorr_export.json                                           (what was written, from where)

DuckDB writes the files itself, one `COPY … ORDER BY ts, event_id` per partition: no row passes through
Python (DuckDB's own `PARTITION_BY` writer does not keep the query's order within a file, even on one
thread). `system` and `date` live in the directory names, not in the files, as Hive, Spark, Trino and
DuckDB's `hive_partitioning` expect. Rows are sorted by time within each file; `ts` and
`client_ts` are UTC timestamps without a zone (as in the database); JSON columns (`context`,
`rule_state`) are strings, so every engine reads them.

Output is staged in `DIR/.logcorr-export-tmp/` and moved into place when complete: an interrupted export
leaves no half-written dataset. An existing non-empty DIR is refused unless `overwrite`, and even then
only when everything in it is what an earlier export wrote (by name and layout, with its manifest):
anything else, at any depth, is reported and the export refused before anything is deleted.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from logcorr.errors import DatabaseError, InputError, UsageError
from logcorr.render.text import first_few

MANIFEST = "_logcorr_export.json"
STAGING = ".logcorr-export-tmp"
TABLES = ("log_queue", "drop_ledger")
# the one file an export writes per partition folder, TABLE/system=S/date=YYYY-MM-DD/
DATA_FILE = "data_0.parquet"
_SYSTEM_DIR = re.compile(r"system=[^/\\]+")
_DATE_DIR = re.compile(r"date=\d{4}-\d{2}-\d{2}")
# JSON columns become strings: the Parquet JSON annotation is not read by every engine
_JSON_COLUMNS = {"log_queue": ("context",), "drop_ledger": ("context", "rule_state")}


@dataclass
class ExportResult:
    out_dir: str
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)  # table -> rows, files, bytes, partitions

    def as_dict(self) -> dict[str, Any]:
        return {"out_dir": self.out_dir, "tables": self.tables}


def check_target(out_dir: Path, overwrite: bool, *, staged: bool = False) -> None:
    """Refuse a non-empty DIR without `overwrite`, and a DIR holding anything an export did not write.

    `staged`: this export's own staging directory is in DIR (the check just before publishing)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir} exists and is not a directory", "give a directory path for --parquet")
    if not out_dir.exists():
        return
    entries = sorted(p.name for p in out_dir.iterdir() if not (staged and p.name == STAGING))
    if not entries:
        return
    foreign = foreign_entries(out_dir, staged=staged)
    if not overwrite:
        shown = first_few(entries)
        # --overwrite replaces an earlier export only: for a directory of other files it was a second refusal
        hint = ("choose an empty directory (--overwrite replaces only an earlier export, and this one holds files "
                "an export did not write)" if foreign else
                "add --overwrite to replace the earlier export there, or choose an empty directory")  # fmt: skip
        raise UsageError(f"{out_dir} is not empty ({shown})", hint)
    if foreign:
        shown = first_few(foreign)
        raise UsageError(f"{out_dir} holds files a logcorr export did not write ({shown}); not overwriting",
                         "choose an empty directory, or move them out of it yourself")  # fmt: skip


def foreign_entries(out_dir: Path, *, staged: bool = False, staging_tree: bool = False) -> list[str]:
    """What in `out_dir` an export did not write, as paths relative to it: what `overwrite` must not delete.

    An export writes exactly `_logcorr_export.json` and `TABLE/system=S/date=YYYY-MM-DD/data_0.parquet`
    (and `.logcorr-export-tmp/`, the same layout, while it runs). Anything else — another name at any
    level, a symlink, a file where a folder belongs — is foreign. Table files without a manifest beside them
    are foreign too: `data_0.parquet` under `system=…/date=…/` is also what DuckDB's own partitioned COPY
    writes, and only the manifest says logcorr wrote them.

    `staged`: this export's own staging directory is in DIR and is not looked at. `staging_tree`: `out_dir`
    is a staging directory (an interrupted export's), which holds no manifest until its last step."""
    foreign: list[str] = []
    has_data = False
    for entry in sorted(out_dir.iterdir()):
        name = entry.name
        if name == MANIFEST:
            if entry.is_symlink() or not entry.is_file():
                foreign.append(name)
        elif name in TABLES:
            table_foreign, table_data = _foreign_in_table(entry)
            foreign += table_foreign
            has_data = has_data or table_data
        elif name == STAGING and not staging_tree:
            if staged:
                continue
            if entry.is_symlink() or not entry.is_dir():
                foreign.append(name)
            else:
                foreign += [f"{name}/{f}" for f in foreign_entries(entry, staging_tree=True)]
        else:
            foreign.append(name)
    manifest = out_dir / MANIFEST
    if has_data and not staging_tree and not (manifest.is_file() and not manifest.is_symlink()):
        # the table folders are named as ours, but nothing says an export wrote them
        foreign += [f"{t}/ (no {MANIFEST} beside it)" for t in TABLES if (out_dir / t).exists()]
    return foreign


def _foreign_in_table(table: Path) -> tuple[list[str], bool]:
    """(paths under `table` an export did not write, whether it holds any data file)."""
    if table.is_symlink() or not table.is_dir():
        return [table.name], False
    foreign: list[str] = []
    has_data = False
    for system in sorted(table.iterdir()):
        rel = f"{table.name}/{system.name}"
        if system.is_symlink() or not system.is_dir() or not _SYSTEM_DIR.fullmatch(system.name):
            foreign.append(rel)
            continue
        for date in sorted(system.iterdir()):
            if date.is_symlink() or not date.is_dir() or not _DATE_DIR.fullmatch(date.name):
                foreign.append(f"{rel}/{date.name}")
                continue
            for f in sorted(date.iterdir()):
                if f.name != DATA_FILE or f.is_symlink() or not f.is_file():
                    foreign.append(f"{rel}/{date.name}/{f.name}")
                else:
                    has_data = True
    return foreign, has_data


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def export_parquet(
    db_path: str,
    out_dir: str,
    *,
    since: str | None = None,
    until: str | None = None,
    include_dropped: bool = False,
    overwrite: bool = False,
) -> ExportResult:
    """Write log_queue (and drop_ledger) under `out_dir`, partitioned by system and date (UTC)."""
    import duckdb

    from logcorr.correlate.filters import TraceFilter, time_sql
    from logcorr.store.connection import connect

    target = Path(out_dir)
    check_target(target, overwrite)
    created = not target.exists()
    # the read-only connection of the query commands forbids writing files; this one may, and only here
    con = connect(db_path, read_only=True)
    staging = target / STAGING
    try:
        where, params = time_sql(con, TraceFilter(since=since, until=until))
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        result = ExportResult(str(target))
        for table in TABLES[: 2 if include_dropped else 1]:
            cols = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
            select = ", ".join(f"CAST({c} AS VARCHAR) AS {c}" if c in _JSON_COLUMNS[table] else c
                               for c in cols if c != "system")  # fmt: skip
            parts = con.execute(
                f"SELECT DISTINCT system, CAST(ts AS DATE) AS date FROM {table} WHERE {where} ORDER BY ALL",
                params,
            ).fetchall()
            rows = 0
            for system, date in parts:
                part = staging / table / f"system={system}" / f"date={date.isoformat()}"
                part.mkdir(parents=True)
                (n,) = con.execute(
                    f"""
                    COPY (SELECT {select} FROM {table}
                          WHERE {where} AND system = ? AND ts >= ?::DATE AND ts < ?::DATE + INTERVAL 1 DAY
                          ORDER BY ts, event_id)
                    TO {_sql_string(str(part / DATA_FILE))} (FORMAT parquet, COMPRESSION zstd)
                    """,
                    [*params, system, date, date],
                ).fetchone()
                rows += int(n)
            files = sorted((staging / table).rglob("*.parquet")) if (staging / table).exists() else []
            result.tables[table] = {
                "rows": rows,
                "files": len(files),
                "bytes": sum(f.stat().st_size for f in files),
                "partitions": sorted({str(f.parent.relative_to(staging / table)) for f in files}),
            }
        manifest = {
            "written_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "database": str(Path(db_path).resolve()),
            "since": since,
            "until": until,
            "partitioning": ["system", "date"],
            "tables": {
                t: {k: v for k, v in r.items() if k != "partitions"} for t, r in result.tables.items()
            },
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        # DIR again, as it is now: a file put there while the export ran must not be deleted either
        check_target(target, overwrite, staged=True)
        _publish(staging, target)
        return result
    except duckdb.Error as e:
        raise DatabaseError(f"export failed: {str(e).splitlines()[0]}") from e
    except OSError as e:
        raise InputError(f"cannot write {target}: {e}") from e
    finally:
        con.close()
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
        if created and target.is_dir() and not any(target.iterdir()):
            target.rmdir()


def _publish(staging: Path, target: Path) -> None:
    """Replace an earlier export's tables and manifest with the staged ones.

    The manifest goes first, so that DIR holds one at every step: an export that stops part-way leaves
    tables that a later `overwrite` still recognises as ours and replaces."""
    (staging / MANIFEST).replace(target / MANIFEST)
    for name in TABLES:
        old = target / name
        if old.is_dir():
            shutil.rmtree(old)
        elif old.exists():
            old.unlink()
    for entry in staging.iterdir():
        entry.rename(target / entry.name)
