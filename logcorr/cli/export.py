"""`logcorr export --parquet DIR`: events as partitioned Parquet for DuckDB, Spark, Trino. Thin command
over `logcorr.export.export_parquet`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from logcorr.cli.params import Option


def export_cmd(
    parquet: str = Option(
        ..., "--parquet", help="Directory to write (hive-style system=…/date=… folders under log_queue/)."
    ),
    db: str = Option(None, "--db", envvar="LOGCORR_DB", help="DuckDB file (default: ./logcorr.duckdb)."),
    since: str = Option(None, "--since", help="ISO time, or a duration before the newest event (2h, 7d)."),
    until: str = Option(None, "--until", help="ISO time, or a duration before the newest event."),
    include_dropped: bool = Option(
        False, "--include-dropped", help="Also write the drop ledger (under drop_ledger/)."
    ),
    overwrite: bool = Option(
        False, "--overwrite", help="Replace an earlier export in DIR; refused if DIR holds anything else."
    ),
    json_out: bool = Option(False, "--json", help="Print what was written as JSON on stdout."),
) -> None:
    """Write events as Parquet partitioned by system and date, for engines beyond one machine.

    \b
    Example: logcorr export --parquet lake/ --since 7d --include-dropped
    """
    from logcorr.export import export_parquet
    from logcorr.store.connection import resolve_db
    from logcorr.units import say_count

    result = export_parquet(resolve_db(db), parquet, since=since, until=until, include_dropped=include_dropped,
                            overwrite=overwrite)  # fmt: skip
    if json_out:
        from logcorr.render.console import write_json

        write_json(result.as_dict())
    for table, r in result.tables.items():
        if not r["rows"]:  # no file, and so no folder: a reader's glob there would find nothing to read
            sys.stderr.write(f"{table}: 0 rows, nothing written\n")
            continue
        sys.stderr.write(f"{table}: {say_count(r['rows'], 'row')} in {say_count(r['files'], 'file')} "
                         f"({say_count(len(r['partitions']), 'partition')}, "
                         f"{r['bytes'] / 1e6:.1f} MB) → {result.out_dir}/{table}/\n")  # fmt: skip


COMMANDS: dict[str, Callable[..., Any]] = {"export": export_cmd}


def register(app: Any) -> None:
    from logcorr.cli.main import register_commands

    register_commands(app, COMMANDS)
