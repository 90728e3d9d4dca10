"""Shared fixtures: the CLI runner (through the real error boundary) and small input helpers."""

from __future__ import annotations

import gzip
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import settings
from typer.testing import CliRunner

from logcorr.cli.main import cli_main
from logcorr.model import Event, Metric

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


# the default run (CI) explores the same examples every time, so a red build is reproducible and main
# stays green for a reason; --runslow explores new random examples on every run
settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="run slow tests (fuzz, kill)")


def pytest_configure(config: pytest.Config) -> None:
    settings.load_profile("explore" if config.getoption("--runslow") else "ci")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def run_adapter(
    parse: Callable[..., str | None], obj: dict[str, Any]
) -> tuple[list[Event], list[Metric], str | None]:
    """One record through a source adapter: its events, metrics and skip reason."""
    events: list[Event] = []
    metrics: list[Metric] = []
    skip = parse(obj, events, metrics)
    return events, metrics, skip


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str
    stdout_bytes: bytes

    def json(self) -> Any:
        return orjson.loads(self.stdout_bytes)


@pytest.fixture
def cli() -> Callable[..., CliResult]:
    """Run `logcorr ARGS…` in-process through the same boundary as the console script."""

    def invoke(*args: str, input: bytes | str | None = None, env: dict[str, str] | None = None) -> CliResult:
        runner = CliRunner()
        with runner.isolation(input=input, env=env) as streams:
            code = cli_main([str(a) for a in args])
            sys.stdout.flush()
            sys.stderr.flush()
            out = streams[0].getvalue()
            err = streams[1].getvalue()
        return CliResult(int(code), out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), out)

    return invoke


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[..., Path]:
    """Write records (dicts, or raw bytes/str lines) to a .jsonl (or .jsonl.gz) file in tmp_path."""

    def write(name: str, records: list[Any], *, gz: bool = False) -> Path:
        lines = []
        for r in records:
            if isinstance(r, bytes):
                lines.append(r)
            elif isinstance(r, str):
                lines.append(r.encode())
            else:
                lines.append(orjson.dumps(r))
        data = b"\n".join(lines) + b"\n"
        path = tmp_path / name
        path.write_bytes(gzip.compress(data) if gz else data)
        return path

    return write


def browser_event(
    ts: int, message: str, trace: str | None = "trace_1714910400000_abc", level: str = "log"
) -> dict[str, Any]:
    """A newer-form console-override payload."""
    rec: dict[str, Any] = {
        "message": message,
        "level": level,
        "system": "browser",
        "user_id": "u1",
        "context": {"timestamp": ts, "url": "http://localhost:3000/", "userAgent": "Mozilla/5.0"},
    }
    if trace is not None:
        rec["trace_id"] = trace
    return rec


def convex_console(msg: str, ts: int, request_id: str = "d064ef901f7ec0b7") -> dict[str, Any]:
    """A Convex log-stream console line (format 2) of one function run, `request_id` its request."""
    return {
        "topic": "console",
        "timestamp": ts,
        "function": {"path": "orders:create", "request_id": request_id, "type": "mutation"},
        "log_level": "LOG",
        "message": msg,
    }


def earlier_rejects(result: Any) -> list[tuple[str, int, int]]:
    """The lines of earlier runs that an `ingest(…, strict=True)` failed on, as it names them: (input, line, the
    run that rejected it)."""
    named = []
    for name, line, why in result.first_rejects:
        if m := re.search(r"\(rejected by run ([0-9]+); already ingested\)$", why):
            named.append((name, line, int(m.group(1))))
    return named


def database_at(path: Path, version: int) -> Any:
    """A database as the logcorr of schema v`version` made it (its migrations applied, none after), open for
    writing."""
    import duckdb

    from logcorr.store.schema import MIGRATIONS

    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)"
    )
    for number, name, sql in MIGRATIONS[:version]:
        con.execute(sql)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [number, name])
    return con


def schema_back_to(db: Path, version: int) -> None:
    """Make the logcorr database `db` (closed) one as the logcorr of schema v`version` left it, its rows kept: the
    tables that version's migrations make, each filled with the columns it has there (those later migrations
    added are left out), and no later migration recorded, so the next connection migrates it as it would a
    database that old. Undoing what a later migration did to rows is the caller's. A new migration needs no
    change here."""
    older = db.with_name(f"{db.name}.v{version}")
    con = database_at(older, version)
    try:
        con.execute(f"ATTACH '{db}' AS src (READ_ONLY)")
        here = "database_name = current_database()"  # not the attached one's
        tables = con.execute(
            f"SELECT table_name FROM duckdb_tables() WHERE {here} AND table_name <> 'schema_migrations'"
        ).fetchall()
        for (table,) in tables:
            names = con.execute(
                f"SELECT column_name FROM duckdb_columns() WHERE {here} AND table_name = ? ORDER BY column_index",
                [table],
            ).fetchall()
            columns = ", ".join(f'"{n}"' for (n,) in names)
            con.execute(f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM src."{table}"')
        con.execute("DETACH src")
    finally:
        con.close()
    older.replace(db)
