"""`logcorr ledger` (the drop ledger, filtered) and `logcorr explain FILE:LINE` (why each event of one
input line was stored or dropped). Thin commands over `logcorr.rules.ledger`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from logcorr.cli.params import Argument, Option
from logcorr.render.rows import RowFormat

DB_OPT = Option(None, "--db", envvar="LOGCORR_DB", help="DuckDB file (default: ./logcorr.duckdb).")
FMT_OPT = Option(RowFormat.table, "--format", "-f", help="table, json, jsonl or csv (default: table).")

# the table shows what fits a terminal; the other formats carry every column
_TABLE_LEDGER = ("event_id", "ts", "system", "rule", "reason", "trace_id", "source")
_TABLE_EXPLAIN = ("source", "event_id", "fate", "rule", "reason", "rule_state", "system", "trace_id")


def ledger_cmd(
    rule: list[str] = Option(
        None,
        "--rule",
        help="Only this rule (suppress, duplicate, loop, cross_system, trace, rate_limit, budget; repeatable).",
    ),
    system: list[str] = Option(
        None, "--system", help="Only this system (browser, worker, backend; repeatable)."
    ),
    trace: str = Option(None, "--trace", help="Only this trace (its id, or a unique prefix)."),
    limit: int = Option(
        100, "--limit", "-n", help="At most N rows, the first ingested; 0 lists all (default: 100)."
    ),
    fmt: RowFormat = FMT_OPT,
    db: str = DB_OPT,
) -> None:
    """List dropped events with the rule, the reason and the rule's state at that moment, in ingest order.

    \b
    Example: logcorr ledger --rule rate_limit --system browser --format json
    """
    from logcorr.render.rows import write_rows
    from logcorr.rules.ledger import LEDGER_COLUMNS, LedgerFilter, ledger_rows
    from logcorr.store.connection import resolve_db
    from logcorr.units import say_count

    rows = ledger_rows(resolve_db(db), LedgerFilter(tuple(rule or ()), tuple(system or ()), trace, limit))
    cols = _TABLE_LEDGER if fmt is RowFormat.table else LEDGER_COLUMNS
    # the limit: a table cut at it says so (100 rows of a 105,000-row ledger read as the whole of it)
    write_rows(rows, fmt, cols, title=lambda n: f"drop ledger: {say_count(n, 'event')}", limit=limit,
               kept="the first {n} ingested")  # fmt: skip


def explain_cmd(
    target: str = Argument(..., help="An input line as FILE:LINE (the path as ingested, or its tail)."),
    fmt: RowFormat = FMT_OPT,
    db: str = DB_OPT,
) -> None:
    """Say why each event of one input line was stored or dropped (rule, reason, rule state).

    A line that left no row says what it became (blank, skipped and why, a line of a record over several
    lines). Exits 1 when the file was never ingested or has no such line.

    \b
    Example: logcorr explain exports/browser.jsonl:42
    """
    from logcorr.render.rows import write_rows
    from logcorr.rules.ledger import EXPLAIN_COLUMNS, explain
    from logcorr.store.connection import resolve_db

    found = explain(resolve_db(db), target)
    for note in found.note.splitlines() if found.note else ():
        sys.stderr.write(f"note: {note}\n")
    cols = _TABLE_EXPLAIN if fmt is RowFormat.table else EXPLAIN_COLUMNS
    write_rows(found.rows, fmt, cols, title=target if fmt is RowFormat.table else None)


COMMANDS: dict[str, Callable[..., Any]] = {"ledger": ledger_cmd, "explain": explain_cmd}


def register(app: Any) -> None:
    from logcorr.cli.main import register_commands

    register_commands(app, COMMANDS)
