"""Rule 3, duplicate delivery: the same event delivered twice (Convex log-stream retries, overlapping
exports). Which events are the same is decided in SQL before the engine runs (`event_key`, see
`rules/fingerprint.py`): every copy after the first in event-time order, and every event already
stored or dropped by an earlier ingest."""

from __future__ import annotations

import orjson

IN_THIS_INPUT = 1
IN_EARLIER_INGEST = 2


def drop(code: int, event_key: int | None) -> tuple[str, str]:
    """Reason and snapshot for a repeated delivery; `code` says where the first copy is."""
    if code == IN_EARLIER_INGEST:
        reason = "same event already ingested by an earlier run (same event key)"
        first = "earlier ingest"
    else:
        reason = "same event delivered again in this input (same event key)"
        first = "this ingest"
    return reason, orjson.dumps({"event_key": event_key, "first_copy": first}).decode()
