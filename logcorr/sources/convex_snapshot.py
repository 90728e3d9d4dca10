"""Convex table snapshot exports (`npx convex export`, `documents.jsonl`) of the live system's tables:
`log_queue` / `recent_log_entries` rows (eras A/B: `system_area`, `raw_args`, `stack_trace`) and
`debug_logs` rows (era C: a worker record plus `raw_data`, `synced_at`). Every row carries `_id` and
`_creationTime`. Both tables hold the same logs, so exporting both delivers each log twice; the
duplicate-delivery rule keeps one.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from logcorr.model import (
    Event,
    Metric,
    RecordError,
    as_text,
    norm_level,
    norm_system,
    opt_str,
    require_ts,
    to_ms,
    valid_ts,
)
from logcorr.sources import traceid
from logcorr.sources.worker import parse_record

# the live system's tables that hold its logs (eras A/B, era C); what a snapshot export's folder is read for
LOG_TABLES = ("log_queue", "recent_log_entries", "debug_logs")


def export_files_without_logs(files: Iterable[Path]) -> list[Path]:
    """Of the files found under a directory, those of a Convex snapshot export (the folder `npx convex export`'s
    zip unpacks to, known by its `_tables/documents.jsonl`) other than a log table's `documents.jsonl`: the
    app's own tables (`users`, `messages`), the system ones (`_tables`, `_storage`), each table's
    `generated_schema.jsonl`. Read, each of their rows was a reject (`missing 'message'`) that kept the row
    (an e-mail address, a name) in the rejects table."""
    files = list(files)
    roots = {f.parent.parent for f in files if f.name == "documents.jsonl" and f.parent.name == "_tables"}
    if not roots:
        return []
    return [
        f
        for f in files
        if any(root in f.parents for root in roots)
        and not (f.name == "documents.jsonl" and f.parent.name in LOG_TABLES and f.parent.parent in roots)
    ]


def parse(obj: dict[str, Any], events: list[Event], metrics: list[Metric]) -> str | None:
    if "system_area" not in obj and ("system" in obj or "raw_data" in obj):
        return parse_record(obj, events, metrics)  # a debug_logs row
    message = obj.get("message")
    raw_args = obj.get("raw_args")
    if message is None and isinstance(raw_args, list):
        message = " ".join(as_text(a) for a in raw_args)
    if message is None:
        raise RecordError("missing 'message'")
    if not isinstance(message, str):
        message = as_text(message)
    ts = require_ts(obj.get("timestamp", obj.get("_creationTime")), "timestamp")
    label = opt_str(obj.get("system_area")) or "browser"
    system = norm_system(label, "browser")
    client = None
    created = to_ms(obj.get("_creationTime"))
    if system == "browser" and "timestamp" in obj and valid_ts(created) and created != ts:
        # a browser line's row: `timestamp` is the browser's clock, `_creationTime` the server's when it was
        # written; both are kept, as for a Worker's record, so the server's orders it and skew is measured
        assert created is not None
        ts, client = created, ts
    request_id = None
    context: dict[str, Any] | None = None
    # Log-Stream rows keep function details as JSON in raw_args[1]
    if (
        isinstance(raw_args, list)
        and len(raw_args) > 1
        and isinstance(raw_args[1], str)
        and raw_args[1][:1] == "{"
    ):
        try:
            details = orjson.loads(raw_args[1])
        except orjson.JSONDecodeError:
            details = None
        if isinstance(details, dict):
            context = details
            request_id = opt_str(details.get("requestId"))
    tid, how = traceid.find(obj, message, context)
    if tid is not None and request_id and tid == f"convex_req_{request_id}":
        # the live webhook's fallback id names the request, not a trace: its regex missed what the message
        # or the function's metadata may still say (`trace_id=X`, quoted JSON); else the trace is left to be
        # filled from a sibling line of the same request (or counted as an orphan)
        tid, how = traceid.find(None, message, context)
    events.append(
        Event(
            ts,
            system,
            label,
            norm_level(obj.get("level")),
            message,
            tid,
            how,
            request_id,
            opt_str(obj.get("user_id")),
            context,
            opt_str(obj.get("stack_trace")),
            client,
        )
    )
    return None
