"""`logcorr ingest`: thin command over `logcorr.pipeline.ingest.ingest`."""

from __future__ import annotations

import sys
from typing import Any

import typer

from logcorr.units import say_count, size_bytes


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest_cmd)


def ingest_cmd(
    paths: list[str] = typer.Argument(..., help="Files or directories to read (.gz works; - reads stdin)."),
    db: str = typer.Option(
        None, "--db", envvar="LOGCORR_DB", help="DuckDB file (default: ./logcorr.duckdb)."
    ),
    policy: str = typer.Option(
        None, "--policy", help="Policy TOML (or pyproject.toml) (default: story defaults)."
    ),
    format_name: str = typer.Option(
        None,
        "--format",
        help="Force one input format for all files, e.g. cf-logpush (default: detected per record; an unknown "
        "name lists them all, docs/formats.md describes them).",
    ),
    strict: bool = typer.Option(
        False,
        "--strict",
        help="Store nothing and exit 3 if any line is rejected (in a file already ingested too: the lines an "
        "earlier ingest rejected).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the machine summary as JSON on stdout."),
    max_line_mb: float = typer.Option(
        8.0, "--max-line-mb", help="Reject records longer than this (default: 8)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No summary on stderr."),
    max_gz_gb: float = typer.Option(
        None,
        "--max-decompressed-gb",
        help="Stop inflating a .gz input beyond this (default: 64; env LOGCORR_MAX_DECOMPRESSED_GB).",
    ),
    jobs: int = typer.Option(
        0,
        "--jobs",
        "-j",
        min=0,
        help="Worker processes parsing large files, and many smaller ones each whole "
        "(default: 0 = one per core).",
    ),
    local_tz: str = typer.Option(
        None,
        "--local-tz",
        help="IANA zone of times written without one, as `npx convex logs` text prints them, e.g. Europe/Berlin "
        "(default: this machine's; env LOGCORR_LOCAL_TZ).",
    ),
) -> None:
    """Read native log exports, apply the protection rules, and store them in DuckDB.

    \b
    Example: logcorr ingest exports/ logpush-2024-05-05.log.gz --db app.duckdb
    """
    from logcorr.pipeline.workers import default_jobs, early_pool

    max_record_bytes = _size("--max-line-mb", max_line_mb, 1 << 20)
    max_decompressed = _gz_limit(max_gz_gb)
    # a large file's parse workers start before this process imports pyarrow, DuckDB and the policy (0.27 s)
    # and opens the database: they import meanwhile (ingest shuts them down after parsing; here, if it failed)
    pool = early_pool(paths, jobs or default_jobs())
    try:
        from logcorr.pipeline.ingest import ingest
        from logcorr.render.console import stderr_console, write_json
        from logcorr.render.ingest_summary import render, to_json
        from logcorr.rules.policy import load_policy
        from logcorr.store.connection import resolve_db

        console = stderr_console()
        progress, stop = _progress(console, quiet)
        try:
            result = ingest(paths, resolve_db(db), load_policy(policy), format_name=format_name, strict=strict,
                            max_record_bytes=max_record_bytes, progress=progress,
                            jobs=jobs or None, max_decompressed=max_decompressed, pool=pool,
                            local_tz=local_tz)  # fmt: skip
        finally:
            stop()
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    if json_out:
        write_json(to_json(result))
    if not quiet:
        render(result, console)
    if not result.committed:
        from logcorr.errors import InputError

        where = result.first_rejects[0] if result.first_rejects else None
        first = f"the first: {where[0]}:{where[1]}: {where[2]}; " if where else ""
        n = result.rejected + result.earlier_rejected
        earlier = (
            f" ({result.earlier_rejected} in files already ingested: an earlier run rejected them, and the files "
            "still hold them)"
            if result.earlier_rejected
            else ""
        )
        raise InputError(
            f"--strict: {say_count(n, 'line')} rejected{earlier}, nothing was stored",
            f"{first}fix the input, or ingest without --strict to store the rest and keep the rejects in `rejects`",
        )


def _gz_limit(gb: float | None) -> int | None:
    return None if gb is None else _size("--max-decompressed-gb", gb, 1 << 30)


def _size(option: str, value: float, unit: int) -> int:
    """A size option in bytes (see `units.size_bytes`); nan, inf, 0 and below are usage errors."""
    size = size_bytes(value, unit)
    if size is None:
        from logcorr.errors import UsageError

        raise UsageError(f"{option} {value:g} must be a positive number", f"e.g. {option} 8")
    return size


def _progress(console: Any, quiet: bool) -> tuple[Any, Any]:
    """A byte-based progress bar on stderr for large inputs (TTY only)."""
    if quiet or not sys.stderr.isatty():
        return None, lambda: None
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    bar = Progress(BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(), console=console,
                   transient=True)  # fmt: skip
    state: dict[str, Any] = {"task": None}

    def update(done: int, total: int) -> None:
        if total < 8 << 20:
            return
        if state["task"] is None:
            bar.start()
            state["task"] = bar.add_task("ingest", total=total)
        bar.update(state["task"], completed=done)

    def stop() -> None:
        if state["task"] is not None:
            bar.stop()

    return update, stop
