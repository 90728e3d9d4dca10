"""Reading the rules' decisions back: the drop ledger with filters (`logcorr ledger`) and the fate of
every event of one input line (`logcorr explain FILE:LINE`). Read-only; returns rows as dicts."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import orjson

from logcorr.errors import InputError, UsageError
from logcorr.model import SYSTEMS
from logcorr.rules.engine import RULES
from logcorr.store.connection import connect
from logcorr.store.query import RowStream, sql_limit, stream_dicts
from logcorr.store.schema import dropped_span

LEDGER_COLUMNS: tuple[str, ...] = (
    "event_id", "ts", "system", "level", "rule", "reason", "trace_id", "source", "message", "rule_state", "run_id",
)  # fmt: skip
EXPLAIN_COLUMNS: tuple[str, ...] = (
    "source", "event_id", "fate", "rule", "reason", "rule_state", "ts", "system", "level", "trace_id", "message",
    "run_id",
)  # fmt: skip


@dataclass(frozen=True)
class LedgerFilter:
    """Which ledger rows to list; None means any. `limit` 0 lists all."""

    rule: str | None = None
    system: str | None = None
    trace: str | None = None
    limit: int = 100


def _rows(con: Any, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [_state_parsed(dict(zip(names, row, strict=True))) for row in cur.fetchall()]


def _state_parsed(rec: dict[str, Any]) -> dict[str, Any]:
    if isinstance(rec.get("rule_state"), str):
        rec["rule_state"] = orjson.loads(rec["rule_state"])
    return rec


def ledger_rows(db: str, f: LedgerFilter) -> RowStream:
    """Drop-ledger rows matching `f`, in decision order (event id), streamed (the connection closes after
    them)."""
    if f.rule is not None and f.rule not in RULES:
        raise UsageError(f"unknown rule {f.rule!r}", f"choose one of: {', '.join(RULES)}")
    if f.system is not None and f.system not in SYSTEMS:
        raise UsageError(f"unknown system {f.system!r}", f"choose one of: {', '.join(SYSTEMS)}")
    limit = sql_limit(f.limit)
    con = connect(db, read_only=True)
    try:
        where: list[str] = []
        params: list[Any] = []
        if f.trace is not None:
            # the trace's dropped events lie in its span: the zone maps of `ts` skip the rest
            span = dropped_span(con, f.trace)
            if span is None:
                con.close()
                return RowStream(list(LEDGER_COLUMNS), iter(()))
            where.append("ts BETWEEN ? AND ?")
            params += span
        for col, value in (("rule", f.rule), ("system", f.system), ("trace_id", f.trace)):
            if value is not None:
                where.append(f"{col} = ?")
                params.append(value)
        sql = f"""
            SELECT event_id, ts, system, level, rule, reason, trace_id, source_file || ':' || source_line AS source,
                   message, rule_state::VARCHAR AS rule_state, run_id
            FROM drop_ledger {"WHERE " + " AND ".join(where) if where else ""}
            ORDER BY event_id LIMIT ?
        """
        params.append(limit)
        return stream_dicts(con, sql, params, close=con.close, row=_state_parsed, limited=limit is not None)
    except BaseException:
        con.close()
        raise


def parse_target(target: str) -> tuple[str, int]:
    """`FILE:LINE` → (file, line)."""
    path, sep, line = target.rpartition(":")
    if not sep or not path or not line.isdigit():
        raise UsageError(f"expected FILE:LINE, got {target!r}", "e.g. logcorr explain exports/app.jsonl:12")
    return path, int(line)


def _matching_files(known: list[str], path: str) -> list[str]:
    """The stored source paths that name `path`: the same text, the same file, or the same tail."""
    exact = [k for k in known if k == path]
    if exact:
        return exact
    absolute = os.path.abspath(path)
    same = [k for k in known if os.path.abspath(k) == absolute]
    if same:
        return same
    tail = path
    while tail.startswith(("./", "../")):  # only whole `.` and `..` steps: `.env.jsonl` keeps its dot
        tail = tail.split("/", 1)[1]
    return [k for k in known if k.endswith("/" + tail) or k == tail]


def explain(db: str, target: str) -> list[dict[str, Any]]:
    """Every event recorded for input line FILE:LINE (stored or dropped, with rule, reason and rule
    state), and the line's reject reason if it was rejected; in event order."""
    path, line = parse_target(target)
    con = connect(db, read_only=True)
    try:
        known = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT source_file FROM (SELECT source_file FROM log_queue UNION ALL "
                "SELECT source_file FROM drop_events UNION ALL SELECT source_file FROM rejects UNION ALL "
                "SELECT source_file FROM metrics) ORDER BY 1"
            ).fetchall()
        ]
        files = _matching_files(known, path)
        if not files:
            hint = (
                f"files in {db}: " + ", ".join(known[:5]) + (" …" if len(known) > 5 else "")
                if known
                else None
            )
            raise InputError(f"{path} was never ingested into {db}", hint)
        marks = ", ".join("?" for _ in files)
        select = f"""
            SELECT source_file || ':' || source_line AS source, event_id, {{fate}} AS fate, {{rule}} AS rule,
                   {{reason}} AS reason, {{state}} AS rule_state, ts, system, level, trace_id, message, run_id
            FROM {{table}} WHERE source_file IN ({marks}) AND source_line = ?
        """
        sql = (
            select.format(fate="'stored'", rule="NULL", reason="NULL", state="NULL", table="log_queue")
            + " UNION ALL "
            + select.format(
                fate="'dropped'",
                rule="rule",
                reason="reason",
                state="rule_state::VARCHAR",
                table="drop_ledger",
            )
            + f"""
            UNION ALL
            SELECT source_file || ':' || source_line, NULL, 'rejected', NULL, reason, NULL, NULL, NULL, NULL, NULL,
                   excerpt, run_id
            FROM rejects WHERE source_file IN ({marks}) AND source_line = ?
            UNION ALL
            SELECT source_file || ':' || source_line, NULL, 'metric', NULL, NULL, NULL, ts, system, NULL, NULL,
                   topic || ' ' || coalesce(data::VARCHAR, ''), run_id
            FROM metrics WHERE source_file IN ({marks}) AND source_line = ?
            ORDER BY run_id, event_id NULLS LAST
            """
        )
        rows = _rows(con, sql, [*files, line, *files, line, *files, line, *files, line])
        if not rows:
            longest = con.execute(
                f"SELECT max(lines) FROM ingest_files WHERE path IN ({marks}) AND status IN ('ingested', 'partial')",
                files,
            ).fetchone()
            # a record that runs over several lines is recorded at its first: the nearest line before with a row
            each = " UNION ALL ".join(
                f"SELECT max(source_line) FROM {t} WHERE source_file IN ({marks}) AND source_line < ?"
                for t in ("log_queue", "drop_ledger", "rejects", "metrics")
            )
            before = con.execute(f"SELECT max(l) FROM ({each}) AS b(l)", [*files, line] * 4).fetchone()
    finally:
        con.close()
    if not rows:
        n = longest[0] if longest else None
        if n is not None and line > n:
            raise InputError(f"{', '.join(files)} has {n} lines; there is no line {line}")
        hint = (
            "a blank line, or one skipped with a counted reason (a banner line, a verification ping: the "
            "ingest summary lists them), leaves no row"
        )
        if before and before[0] is not None:
            hint += (
                "; a record over several lines (pretty-printed JSON, a `npx convex logs` message running on) is "
                f"recorded at its first line: the nearest line before with a row is {before[0]} "
                f"(`logcorr explain {files[0]}:{before[0]}`)"
            )
        raise InputError(
            f"nothing is recorded for {', '.join(files)} line {line}: no event, metric or reject", hint
        )
    return rows
