"""Read-side access: a read-only connection that cannot write files either, and small query helpers."""

from __future__ import annotations

from typing import Any

from logcorr.errors import UsageError
from logcorr.store.connection import connect


def open_read_only(path: str) -> Any:
    """A read-only connection with external access (COPY TO, ATTACH, file functions) locked off."""
    con = connect(path, read_only=True)
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def sql_enum(values: tuple[str, ...]) -> str:
    """A DuckDB ENUM type of `values` (plain words: nothing to quote)."""
    return "ENUM(" + ", ".join(f"'{v}'" for v in values) + ")"


def sql_limit(n: int, option: str = "--limit") -> int | None:
    """A row limit as a `LIMIT ?` parameter: 0 is every row (None, which DuckDB takes as no limit); below 0 is
    refused, naming `option`."""
    if n < 0:
        raise UsageError(f"{option} must be 0 (all) or more, not {n}")
    return int(n) if 0 < n < 1 << 62 else None  # beyond any table: every row (DuckDB's LIMIT is a BIGINT)


def fetch_dicts(con: Any, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    """Rows of a query as dicts (column name → value)."""
    return _dicts(con.execute(sql, params or []))


def _dicts(cur: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def run_user_sql(path: str, sql: str) -> list[dict[str, Any]]:
    """A user's query on a read-only connection; errors become one clear line."""
    import duckdb

    con = open_read_only(path)
    try:
        cur = con.execute(sql)
        if cur is None or cur.description is None:  # nothing ran: empty text, or only comments
            raise UsageError("no SQL statement to run", 'e.g. logcorr sql "SELECT count(*) FROM log_queue"')
        return _dicts(cur)
    except duckdb.Error as e:
        first = str(e).splitlines()[0]
        if (
            "read-only" in first.lower()
            or "read only" in first.lower()
            or "external access" in first.lower()
            or "lock" in first.lower()
        ):
            raise UsageError(f"logcorr sql is read-only: {first}") from e
        raise UsageError(f"SQL error: {first}") from e
    finally:
        con.close()
