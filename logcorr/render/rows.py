"""Rows (a list of dicts with the same keys) in every tabular output format: table, json, jsonl, csv.

Tables go to stderr-free stdout as plain text (they are the data a person asked for); JSON is orjson
bytes; JSONL and CSV stream row by row.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson


class RowFormat(StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


def iso(ts: datetime | None) -> str | None:
    """A naive-UTC timestamp as ISO-8601 with milliseconds and Z."""
    if ts is None:
        return None
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def _plain(v: Any) -> Any:
    if isinstance(v, datetime):
        return iso(v)
    return v


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, datetime):
        return iso(v) or ""
    if isinstance(v, float):
        return f"{v:.3f}".rstrip("0").rstrip(".")
    if isinstance(v, dict | list):
        return orjson.dumps(v).decode()
    return str(v)


def write_rows(rows: Sequence[dict[str, Any]], fmt: RowFormat, columns: Sequence[str] | None = None,
               title: str | None = None) -> None:  # fmt: skip
    """Write rows to stdout in `fmt` (exhaustive over RowFormat)."""
    cols = list(columns or (rows[0].keys() if rows else []))
    out = sys.stdout
    if fmt is RowFormat.json:
        out.flush()
        sys.stdout.buffer.write(
            orjson.dumps([{c: _plain(r.get(c)) for c in cols} for r in rows], option=orjson.OPT_INDENT_2)
            + b"\n"
        )
        sys.stdout.buffer.flush()
    elif fmt is RowFormat.jsonl:
        out.flush()
        for r in rows:
            sys.stdout.buffer.write(orjson.dumps({c: _plain(r.get(c)) for c in cols}) + b"\n")
        sys.stdout.buffer.flush()
    elif fmt is RowFormat.csv:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        for r in rows:
            w.writerow([_cell(r.get(c)) for c in cols])
        out.write(buf.getvalue())
        out.flush()
    elif fmt is RowFormat.table:
        write_table(rows, cols, title)
    else:  # pragma: no cover - exhaustive
        raise AssertionError(fmt)


def write_table(rows: Iterable[dict[str, Any]], cols: Sequence[str], title: str | None = None) -> None:
    """A rich table on stdout (plain text when stdout is not a terminal)."""
    import os

    from rich.console import Console
    from rich.table import Table

    console = Console(no_color="NO_COLOR" in os.environ, highlight=False,
                      width=None if sys.stdout.isatty() else 200)  # fmt: skip
    if title:
        console.print(f"[bold]{title}[/]")
    t = Table(show_edge=False, header_style="bold")
    for c in cols:
        t.add_column(c, overflow="fold")
    n = 0
    for r in rows:
        t.add_row(*(_cell(r.get(c)) for c in cols))
        n += 1
    console.print(t)
    if n == 0:
        console.print("(no rows)")
