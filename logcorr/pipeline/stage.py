"""Staging: normalised rows (already redacted and fingerprinted) written to DuckDB TEMP tables in Arrow
batches, so memory stays flat however large the input is. Nothing unredacted is ever staged."""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa

from logcorr.model import Event, Metric
from logcorr.rules.fingerprint import MACROS_SQL
from logcorr.rules.policy import Policy
from logcorr.rules.redact import Redactor, might_hold_secret
from logcorr.rules.suppress import Suppressor

STAGING_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("file_id", pa.int32()),
        ("ts_ms", pa.int64()),
        ("client_ts_ms", pa.int64()),
        ("system", pa.string()),
        ("system_label", pa.string()),
        ("level", pa.string()),
        ("message", pa.string()),
        ("trace_id", pa.string()),
        ("trace_source", pa.string()),
        ("request_id", pa.string()),
        ("user_id", pa.string()),
        ("context", pa.string()),
        ("stack", pa.string()),
        ("source_line", pa.int64()),
        ("source_format", pa.string()),
        ("part", pa.int32()),
        ("suppressed", pa.string()),
    ]
)
METRIC_SCHEMA = pa.schema(
    [
        ("file_id", pa.int32()),
        ("source_line", pa.int64()),
        ("source_format", pa.string()),
        ("ts_ms", pa.int64()),
        ("system", pa.string()),
        ("topic", pa.string()),
        ("data", pa.string()),
    ]
)
REJECT_SCHEMA = pa.schema(
    [
        ("file_id", pa.int32()),
        ("source_line", pa.int64()),
        ("source_format", pa.string()),
        ("reason", pa.string()),
        ("excerpt", pa.string()),
    ]
)

_DDL = """
CREATE TEMP TABLE staging (
    seq BIGINT, file_id INTEGER, ts_ms BIGINT, client_ts_ms BIGINT, system VARCHAR, system_label VARCHAR,
    level VARCHAR, message VARCHAR, trace_id VARCHAR, trace_source VARCHAR, request_id VARCHAR,
    user_id VARCHAR, context VARCHAR, stack VARCHAR, source_line BIGINT, source_format VARCHAR,
    fingerprint VARCHAR, event_key BIGINT, suppressed VARCHAR);
CREATE TEMP TABLE staged_metrics (file_id INTEGER, source_line BIGINT, source_format VARCHAR, ts_ms BIGINT,
    system VARCHAR, topic VARCHAR, data VARCHAR);
CREATE TEMP TABLE staged_rejects (file_id INTEGER, source_line BIGINT, source_format VARCHAR, reason VARCHAR,
    excerpt VARCHAR);
"""


# fingerprints and event keys are computed here, vectorised, instead of per event in Python
_STAGE_SELECT = """
    seq, file_id, ts_ms, client_ts_ms, system, system_label, level, message, trace_id, trace_source, request_id,
    user_id, context, stack, source_line, source_format, lc_fingerprint(message),
    lc_event_key(ts_ms, system, level, message, trace_id, request_id, part), suppressed
"""


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


class Stager:
    """Redacts, fingerprints and buffers rows; flushes them to the TEMP tables in Arrow batches."""

    def __init__(self, con: Any, policy: Policy, batch_rows: int = 65_536) -> None:
        self.con = con
        self.batch_rows = batch_rows
        self.redactor = Redactor()
        self.redact = policy.redaction.enabled
        self.suppressor = Suppressor(policy.suppression)
        self.rows: list[tuple[Any, ...]] = []
        self.metric_rows: list[tuple[Any, ...]] = []
        self.reject_rows: list[tuple[Any, ...]] = []
        self.seq = 0
        con.execute(MACROS_SQL)
        con.execute(_DDL)

    def event(self, ev: Event, file_id: int, line: int, fmt: str, part: int) -> None:
        """Stage one event: redact message/stack/context, fingerprint, key, check suppression."""
        message, stack, context = ev.message, ev.stack, ev.context
        if self.redact:
            red = self.redactor
            message = red.text(message)
            if stack is not None:
                stack = red.text(stack)
            ctx_json = _json(context) if context else None
            if ctx_json is not None and might_hold_secret(ctx_json):
                ctx_json = _json(red.value(context))
        else:
            ctx_json = _json(context) if context else None
        self.seq += 1
        self.rows.append(
            (
                self.seq,
                file_id,
                ev.ts_ms,
                ev.client_ts_ms,
                ev.system,
                ev.system_label,
                ev.level,
                message,
                ev.trace_id,
                ev.trace_source,
                ev.request_id,
                ev.user_id,
                ctx_json,
                stack,
                line,
                fmt,
                part,
                self.suppressor.match(message),
            )
        )
        if len(self.rows) >= self.batch_rows:
            self.flush_events()

    def metric(self, m: Metric, file_id: int, line: int, fmt: str) -> None:
        data = _json(m.data)
        if self.redact and might_hold_secret(data):
            data = _json(self.redactor.value(m.data))
        self.metric_rows.append((file_id, line, fmt, m.ts_ms, m.system, m.topic, data))
        if len(self.metric_rows) >= self.batch_rows:
            self._flush("staged_metrics", self.metric_rows, METRIC_SCHEMA)

    def reject(self, file_id: int, line: int, fmt: str | None, reason: str, text: str) -> None:
        if self.redact:
            reason = self.redactor.text(reason)
            text = self.redactor.text(text)
        self.reject_rows.append((file_id, line, fmt, reason, text))
        if len(self.reject_rows) >= self.batch_rows:
            self._flush("staged_rejects", self.reject_rows, REJECT_SCHEMA)

    def flush_events(self) -> None:
        self._flush("staging", self.rows, STAGING_SCHEMA, _STAGE_SELECT)

    def flush(self) -> None:
        self.flush_events()
        self._flush("staged_metrics", self.metric_rows, METRIC_SCHEMA)
        self._flush("staged_rejects", self.reject_rows, REJECT_SCHEMA)

    def discard_file(self, file_id: int) -> None:
        """Forget everything staged for one file (it turned out to be ingested already)."""
        self.rows = [r for r in self.rows if r[1] != file_id]
        self.metric_rows = [r for r in self.metric_rows if r[0] != file_id]
        self.reject_rows = [r for r in self.reject_rows if r[0] != file_id]
        for table in ("staging", "staged_metrics", "staged_rejects"):
            self.con.execute(f"DELETE FROM {table} WHERE file_id = ?", [file_id])

    def _flush(self, table: str, rows: list[tuple[Any, ...]], schema: pa.Schema, select: str = "*") -> None:
        if not rows:
            return
        cols = list(zip(*rows, strict=True))
        batch = pa.Table.from_arrays(
            [pa.array(c, type=f.type) for c, f in zip(cols, schema, strict=True)], schema=schema
        )
        self.con.register("_batch", batch)
        self.con.execute(f"INSERT INTO {table} SELECT {select} FROM _batch")
        self.con.unregister("_batch")
        rows.clear()
