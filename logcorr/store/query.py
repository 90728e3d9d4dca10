"""Read-side access: a read-only connection that cannot write files either, and small query helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from logcorr.errors import UsageError
from logcorr.store.connection import connect


def open_read_only(path: str) -> Any:
    """A read-only connection with external access (COPY TO, ATTACH, file functions) locked off."""
    con = connect(path, read_only=True)
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def sql_words(values: tuple[str, ...]) -> str:
    """`values` as SQL string literals, comma-separated, for `IN (…)` (plain words: nothing to quote)."""
    return ", ".join(f"'{v}'" for v in values)


def sql_enum(values: tuple[str, ...]) -> str:
    """A DuckDB ENUM type of `values` (plain words: nothing to quote)."""
    return f"ENUM({sql_words(values)})"


def ts_between(column: str, lo_ms: int, hi_ms: int) -> str:
    """`column BETWEEN` two epoch-millisecond times, as SQL: the zone maps of a TIMESTAMP column skip the rest."""
    return f"{column} BETWEEN make_timestamp({int(lo_ms) * 1000}) AND make_timestamp({int(hi_ms) * 1000})"


def sql_limit(n: int, option: str = "--limit") -> int | None:
    """A row limit as a `LIMIT ?` parameter: 0 is every row (None, which DuckDB takes as no limit); below 0 is
    refused, naming `option`."""
    if n < 0:
        raise UsageError(f"{option} must be 0 (all) or more, not {n}")
    return int(n) if 0 < n < 1 << 62 else None  # beyond any table: every row (DuckDB's LIMIT is a BIGINT)


# rows fetched at a time by a RowStream
STREAM_ROWS = 8192


class RowStream:
    """A query's rows as dicts (column name → value), fetched a batch at a time while the caller writes them:
    `search x --limit 0 -f csv` over 10M matching events held every row as a Python dict (10.3 GB, 95 s).
    Iterated once; `close` (e.g. the connection's) runs at the end, or on `close()`. `columns` are the
    dicts' keys; `labels`, the names a table or CSV header shows (the query's own, which may repeat), are
    the columns unless given."""

    def __init__(
        self,
        columns: list[str],
        batches: Iterator[list[dict[str, Any]]],
        close: Callable[[], None] | None = None,
        labels: list[str] | None = None,
    ) -> None:
        self.columns = columns
        self.labels = labels if labels is not None else columns
        self._batches = batches
        self._close = close

    def __iter__(self) -> Iterator[dict[str, Any]]:
        try:
            for batch in self._batches:
                yield from batch
        finally:
            self.close()

    def close(self) -> None:
        close, self._close = self._close, None
        if close is not None:
            close()


def stream_dicts(
    con: Any,
    sql: str,
    params: list[Any] | None = None,
    close: Callable[[], None] | None = None,
    row: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    limited: bool = False,
) -> RowStream:
    """A query's rows as a RowStream; `row` rewrites each row. Unless `limited` (the query has a LIMIT of
    rows to show), they are read from DuckDB in Arrow batches: DuckDB's own result of a query, as `execute`
    makes it, is held whole (1.4 GB for 10M events). For the tables' own columns (timestamps, text,
    numbers, lists) the values are the same either way; a limited read spares importing pyarrow (20 ms
    and 26 MB of `traces`). Read on a cursor of its own: a result left open on `con` (a `fetchone`) does
    not stand in its way."""
    cur = con.cursor()

    def done() -> None:
        cur.close()
        if close is not None:
            close()

    try:
        if limited:
            cur.execute(sql, params or [])
            names = [d[0] for d in cur.description]
            return RowStream(names, _fetched(cur, names, row), done)
        reader = cur.sql(sql, params=params or None).to_arrow_reader(STREAM_ROWS)
    except BaseException:
        cur.close()
        raise

    def batches() -> Iterator[list[dict[str, Any]]]:
        try:
            for batch in reader:
                rows = batch.to_pylist()
                yield rows if row is None else [row(r) for r in rows]
        finally:
            reader.close()

    return RowStream(list(reader.schema.names), batches(), done)


def _fetched(
    cur: Any, names: list[str], row: Callable[[dict[str, Any]], dict[str, Any]] | None = None
) -> Iterator[list[dict[str, Any]]]:
    """An executed cursor's rows as dicts, `STREAM_ROWS` at a time."""
    while rows := cur.fetchmany(STREAM_ROWS):
        dicts = [dict(zip(names, r, strict=True)) for r in rows]
        yield dicts if row is None else [row(d) for d in dicts]


def fetch_dicts(con: Any, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    """Rows of a query as dicts (column name → value)."""
    return _dicts(con.execute(sql, params or []))


def _dicts(cur: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def run_user_sql(path: str, sql: str) -> RowStream:
    """A user's query on a read-only connection, its rows streamed (the connection closes after them);
    errors become one clear line. Python's values as DuckDB's `fetchmany` gives them, whatever the types."""
    import duckdb

    con = open_read_only(path)
    try:
        # DuckDB runs every statement and returns the last one's rows: the others' would vanish unseen
        if len(con.extract_statements(sql)) > 1:
            raise UsageError("logcorr sql runs one statement at a time", "split them into one command each")
        cur = con.execute(sql)
        if cur is None or cur.description is None:  # nothing ran: empty text, or only comments
            raise UsageError("no SQL statement to run", 'e.g. logcorr sql "SELECT count(*) FROM log_queue"')
    except duckdb.Error as e:
        con.close()
        raise _sql_error(e) from e
    except BaseException:
        con.close()
        raise
    labels = [d[0] for d in cur.description]
    names = unique_names(labels)

    def batches() -> Iterator[list[dict[str, Any]]]:
        try:
            yield from _fetched(cur, names)
        except duckdb.Error as e:  # an error met while the rows are made (a cast of a later row)
            raise _sql_error(e) from e

    return RowStream(names, batches(), con.close, labels)


def unique_names(names: list[str]) -> list[str]:
    """`names` with each repeat of a name suffixed `_2`, `_3`, … (the first suffix no column has), so rows
    can be dicts: `SELECT q.system, d.system` gave two columns named `system` and showed one value twice.
    A name's first occurrence, and every name the query gave, stay as they are."""
    taken = set(names)
    seen: set[str] = set()
    out = []
    for name in names:
        if name in seen:
            k = 2
            while f"{name}_{k}" in taken:
                k += 1
            name = f"{name}_{k}"
            taken.add(name)
        seen.add(name)
        out.append(name)
    return out


def _sql_error(e: Exception) -> UsageError:
    first = str(e).splitlines()[0]
    low = first.lower()
    if "read-only" in low or "read only" in low or "external access" in low or "lock" in low:
        return UsageError(f"logcorr sql is read-only: {first}")
    return UsageError(f"SQL error: {first}")
