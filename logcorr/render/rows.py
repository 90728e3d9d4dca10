"""Rows (a list of dicts with the same keys) in every tabular output format: table, json, jsonl, csv.

Tables go to stderr-free stdout as plain text (they are the data a person asked for); JSON is orjson
bytes; JSONL and CSV stream row by row.
"""

from __future__ import annotations

import csv
import functools
import os
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

import orjson

from logcorr.render.text import cells, clip, visible


class RowFormat(StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


def iso(ts: datetime | None) -> str | None:
    """A timestamp as ISO-8601 UTC with Z: milliseconds, or microseconds when it has them (`sql`). A naive
    one is UTC already (TIMESTAMP); an aware one (TIMESTAMPTZ, which DuckDB gives in the machine's zone)
    is turned to UTC first."""
    if ts is None:
        return None
    if ts.tzinfo is not None:
        try:
            ts = ts.astimezone(UTC)
        except OverflowError:  # beyond year 9999 in UTC: as it came, with its offset
            return ts.isoformat()
    us = ts.microsecond
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + (f"{us // 1000:03d}Z" if us % 1000 == 0 else f"{us:06d}Z")


def _plain(v: Any) -> Any:
    if isinstance(v, datetime):
        return iso(v)
    return v


def _blob(v: bytes) -> str:
    """A BLOB as DuckDB writes one: printable ASCII as it is, other bytes (and the backslash) as \\xHH."""
    return "".join(chr(b) if 32 <= b < 127 and b != 92 else f"\\x{b:02X}" for b in v)


# times go to `_json_default`: a list's or a struct's are written as a column's are (`iso`)
_JSON = orjson.OPT_PASSTHROUGH_DATETIME


def _json_default(v: Any) -> Any:
    """What orjson does not write as logcorr does, as `logcorr sql` can return it: BLOB, DECIMAL (a number,
    exactly: `100.0 * n` and `sum(1.5)` are DECIMALs, and jq compared their text), INTERVAL, TIMESTAMP (`iso`),
    DATE and TIME (with its zone, which orjson refuses)."""
    if isinstance(v, datetime):
        return iso(v)
    if isinstance(v, date | time):
        return v.isoformat()
    if isinstance(v, bytes | bytearray | memoryview):
        return _blob(bytes(v))
    if isinstance(v, Decimal):
        return orjson.Fragment(_decimal(v)) if v.is_finite() else None
    if isinstance(v, timedelta):
        return str(v)
    raise TypeError(f"{type(v).__name__} is not JSON serializable")


def _dumps(v: Any, option: int = 0) -> bytes:
    """orjson's bytes for `v`. What orjson refuses as it stands, a MAP's keys that are not text (`SELECT
    histogram(n)`: {1: 5, 2: 3}) or an integer beyond 64 bits (a HUGEINT `sum`), is made writable first,
    the same bytes otherwise."""
    try:
        return orjson.dumps(v, option=option | _JSON, default=_json_default)
    except TypeError:  # orjson.JSONEncodeError; raised before any `default`, so found only now
        return orjson.dumps(_fit(v), option=option | _JSON, default=_json_default)


def _fit(v: Any) -> Any:
    """`v` with every dict key written as text (a MAP's keys: numbers, times, …), as JSON object keys are,
    and every integer beyond orjson's 64 bits as its digits: JSON numbers have no size limit."""
    if isinstance(v, dict):
        return {k if isinstance(k, str) else _key(k): _fit(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_fit(x) for x in v]
    if type(v) is int and not -(2**63) <= v < 2**64:
        return orjson.Fragment(str(v))
    return v


def _decimal(v: Decimal) -> str:
    """A DECIMAL's digits as DuckDB writes them: `0.0000000000`, never Python's `0E-10`."""
    return format(v, "f")


def _key(k: Any) -> str:
    """A MAP key as text, exactly (a float key keeps every digit, unlike a table cell)."""
    if k is True or k is False:
        return "true" if k else "false"
    if isinstance(k, datetime):
        return iso(k) or ""
    if isinstance(k, bytes | bytearray | memoryview):
        return _blob(bytes(k))
    return str(k)


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if v is True or v is False:  # as JSON and DuckDB spell them, in CSV as in tables
        return "true" if v else "false"
    if isinstance(v, datetime):
        return iso(v) or ""
    if isinstance(v, float):
        return f"{v:.3f}".rstrip("0").rstrip(".")
    if isinstance(v, Decimal):
        return _decimal(v)
    if isinstance(v, dict | list):
        return _dumps(v).decode()
    if isinstance(v, bytes | bytearray | memoryview):
        return _blob(bytes(v))
    return str(v)


def write_rows(rows: Iterable[dict[str, Any]], fmt: RowFormat, columns: Sequence[str] | None = None,
               title: str | Callable[[int], str] | None = None, limit: int = 0, limit_option: str = "--limit",
               kept: str = "the first {n}") -> int:  # fmt: skip
    """Write rows to stdout in `fmt` (exhaustive over RowFormat). JSON, JSONL and CSV are written whole, as the
    rows come (a `RowStream` is read a batch at a time, its `columns` the header); a table lays out all of
    them, each cell cut to `CELL_WIDTH` characters (said once on stderr), under `title` (a function of their
    number, or a fixed text). A table as long as `limit` (the query's row limit, 0 none) says on stderr which
    rows it holds (`kept`, `{n}` the limit: "the {n} newest") and that `limit_option` 0 lists all. Returns
    how many rows it wrote."""
    labels = None if columns else getattr(rows, "labels", None)  # the header of a table or CSV
    if fmt is RowFormat.table:
        named = getattr(rows, "columns", None)
        rows = list(rows)
        cols = list(columns or named or (rows[0].keys() if rows else []))
        table, cut = table_cells(rows, cols)
        _write_cells(table, cols, title(len(rows)) if callable(title) else title, labels)
        if cut or (limit and len(rows) >= limit):
            sys.stdout.flush()
        if cut:
            sys.stderr.write(CUT_NOTE)
        if limit and len(rows) >= limit:
            sys.stderr.write(f"({kept.format(n=limit)}: there may be more; {limit_option} 0 lists all)\n")
        return len(rows)
    stream = iter(rows)
    head = list(columns or getattr(rows, "columns", None) or [])
    first = None if head else next(stream, None)
    cols = head or list(first.keys() if first is not None else [])
    written = 0

    def counted(it: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        nonlocal written
        for r in it:
            written += 1
            yield r

    todo = counted(stream if first is None else _chain(first, stream))
    out = sys.stdout.buffer
    sys.stdout.flush()
    if fmt is RowFormat.json:
        # the bytes orjson gives the whole list (OPT_INDENT_2), one element at a time
        sep = b"[\n  "
        for r in todo:
            out.write(
                sep + _dumps({c: _plain(r.get(c)) for c in cols}, orjson.OPT_INDENT_2).replace(b"\n", b"\n  ")
            )
            sep = b",\n  "
        out.write(b"[]\n" if sep == b"[\n  " else b"\n]\n")
    elif fmt is RowFormat.jsonl:
        for r in todo:
            out.write(_dumps({c: _plain(r.get(c)) for c in cols}) + b"\n")
    elif fmt is RowFormat.csv:
        sink = _CsvRows()
        w = csv.writer(sink, lineterminator="\r\n")
        w.writerow(labels or cols)
        for k, r in enumerate(todo, start=1):
            w.writerow([_cell(r.get(c)) for c in cols])
            if k % 4096 == 0:
                out.write(sink.take())
        out.write(sink.take())
    else:  # pragma: no cover - exhaustive
        raise AssertionError(fmt)
    out.flush()
    return written


class _CsvRows:
    """The file of a csv.writer that ends rows with CRLF, kept as rows ending in LF. The writer quotes a field
    holding any character of its line terminator: with LF alone a bare CR went unquoted, and csv readers
    and DuckDB split the row there."""

    def __init__(self) -> None:
        self.rows: list[str] = []

    def write(self, row: str) -> None:  # one call per row, the terminator at its end
        self.rows.append(row[:-2])

    def take(self) -> bytes:
        """The rows written since the last take, LF-terminated."""
        text = "".join(r + "\n" for r in self.rows)
        self.rows.clear()
        return text.encode()


def _chain(first: dict[str, Any], rest: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield first
    yield from rest


# the widest cell a table shows whole, in terminal columns: an 11,600-character message took 150 lines of one
# row (the trace waterfall cuts its messages the same way, `clip`); the data formats keep every value whole
CELL_WIDTH = 120
CUT_NOTE = (
    f"(values over {CELL_WIDTH} columns cut, ending in …: --format json, jsonl or csv shows them whole)\n"
)


def table_cells(rows: Iterable[dict[str, Any]], cols: Sequence[str]) -> tuple[list[dict[str, str]], bool]:
    """The rows' `cols` as a table shows them (text, control characters visible, each cut to `CELL_WIDTH`
    columns), and whether a cell was cut."""
    table = _text_cells(rows, cols)
    cut = False
    for row in table:
        for c, text in row.items():
            # a character takes at most 2 columns: a shorter text fits
            if len(text) > CELL_WIDTH // 2 and (short := clip(text, CELL_WIDTH)) != text:
                row[c], cut = short, True
    return table, cut


PIPE_WIDTH = 200  # the table width when stdout is not a terminal
# what the plain writer prints as rich would at once: printable ASCII and the arrow of `systems` (rich is given
# every cell as Text, so brackets and colons are text to both)
_PLAIN_SAFE = re.compile(r"[\x20-\x7e→]*")
# characters beyond it rich measures as `cells` does (test_rows.py checks every one) but for these: control and
# format characters (zero-width joiner), private use, unassigned ones, line and paragraph separators
_NOT_PLAIN = frozenset(("Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"))


def _plain_wide_ok(text: str) -> bool:
    """Whether the plain writer lays out `text`, not all of it plain ASCII, as rich does (else rich lays out the
    table): rich measures by the Unicode version in $UNICODE_VERSION when it is set."""
    return "UNICODE_VERSION" not in os.environ and all(map(_plain_char, text))


@functools.cache
def _plain_char(c: str) -> bool:
    if c.isascii():
        return c.isprintable()
    # the emoji variation selector widens only the symbols rich lists (`❤️`, not `a️`)
    return c != "\ufe0f" and unicodedata.category(c) not in _NOT_PLAIN


def plain_table(
    table: list[list[str]], cols: Sequence[str], title: str | None, width: int = PIPE_WIDTH
) -> str | None:
    """The text rich prints for this table on a non-terminal (no edge, heavy head, `(no rows)`), when rich
    measures every cell as `cells` does and the table fits `width` columns — else None. Rich costs ~0.1 s to
    import and ~4 ms a row to lay out; a pipe only ever gets this text (test_rows.py compares the two on
    random tables)."""
    texts = [*cols, *(c for row in table for c in row), *([title] if title else [])]
    wide = [t for t in texts if _PLAIN_SAFE.fullmatch(t) is None]
    if not all(map(_plain_wide_ok, wide)):
        return None
    measure = cells if wide else len  # a character of plain ASCII (or →) is a column
    if title is not None and measure(title) > width:
        return None
    widths = [max([measure(c), *(measure(row[i]) for row in table)]) for i, c in enumerate(cols)]
    if sum(w + 2 for w in widths) + max(len(widths) - 1, 0) > width:
        return None  # rich would shrink and fold columns

    def line(texts: Iterable[str], sep: str) -> str:
        return sep.join(f" {t}{' ' * (w - measure(t))} " for t, w in zip(texts, widths, strict=True))

    lines = [title] if title else []
    if cols:
        lines.append(line(cols, "┃"))
        lines.append("╇".join("━" * (w + 2) for w in widths))
        lines.extend(line(row, "│") for row in table)
    else:
        lines.append("")
    if not table:
        lines.append("(no rows)")
    return "\n".join(lines) + "\n"


def write_table(rows: Iterable[dict[str, Any]], cols: Sequence[str], title: str | None = None,
                labels: Sequence[str] | None = None) -> None:  # fmt: skip
    """A rich table on stdout (plain text when stdout is not a terminal): the rows' `cols`, headed by
    `labels` (default: the column names)."""
    _write_cells(_text_cells(rows, cols), cols, title, labels)


def _text_cells(rows: Iterable[dict[str, Any]], cols: Sequence[str]) -> list[dict[str, str]]:
    """The rows' `cols` as a table shows them: text, control characters visible."""
    return [{c: visible(_cell(r.get(c))) for c in cols} for r in rows]


def _write_cells(table: list[dict[str, str]], cols: Sequence[str], title: str | None,
                 labels: Sequence[str] | None) -> None:  # fmt: skip
    """`write_table` of rows already made table text (`_text_cells`)."""
    # FORCE_COLOR and TTY_COMPATIBLE make rich style a pipe like a terminal
    if not sys.stdout.isatty() and not {"FORCE_COLOR", "TTY_COMPATIBLE"} & os.environ.keys():
        text = plain_table(
            [[row[c] for c in cols] for row in table],
            [visible(c) for c in labels or cols],
            visible(title) if title else title,
        )
        if text is not None:
            sys.stdout.write(text)
            sys.stdout.flush()
            return
    rich_table(table, cols, title, labels)  # (text cells: `_cell` and `visible` leave them as they are)


def rich_table(rows: Iterable[dict[str, Any]], cols: Sequence[str], title: str | None = None,
               labels: Sequence[str] | None = None) -> None:  # fmt: skip
    """The table laid out by rich, on stdout."""
    from rich.table import Table
    from rich.text import Text

    from logcorr.render.console import stdout_console

    console = stdout_console(PIPE_WIDTH)
    if title:
        console.print(Text(visible(title), style="bold"))
    t = Table(show_edge=False, header_style="bold")
    for c in labels or cols:
        t.add_column(Text(visible(c)), overflow="fold")
    n = 0
    for r in rows:
        # Text, not str: a cell is data (a log line "[/api/tasks] failed" is not rich markup); its control
        # characters are shown, not sent to the terminal
        t.add_row(*(Text(visible(_cell(r.get(c)))) for c in cols))
        n += 1
    console.print(t)
    if n == 0:
        console.print("(no rows)")
