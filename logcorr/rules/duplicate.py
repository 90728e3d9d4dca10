"""Rule 3, duplicate delivery: the same event delivered twice (Convex log-stream retries, overlapping
exports). Which events are the same is decided in SQL before the engine runs (`event_key`, see
`rules/fingerprint.py`): every copy after the first in event-time order, and every event already
stored or dropped by an earlier ingest."""

from __future__ import annotations

import orjson

IN_THIS_INPUT = 1
IN_EARLIER_INGEST = 2


def _decision(code: int) -> tuple[str, str, str]:
    if code == IN_EARLIER_INGEST:
        reason = "same event already ingested by an earlier run (same event key)"
        first = "earlier ingest"
    else:
        reason = "same event delivered again in this input (same event key)"
        first = "this ingest"
    return "duplicate", reason, orjson.dumps({"first_copy": first}).decode()


_DECISIONS = {code: _decision(code) for code in (IN_THIS_INPUT, IN_EARLIER_INGEST)}


def decision(code: int) -> tuple[str, str, str]:
    """The (rule, reason, snapshot) of a repeated delivery; `code` says where the first copy is. One object per
    code, so that every such drop shares one decision, written once to `drop_reasons` (with the event key in
    the snapshot, each was a decision of its own: overlapping exports of a million events wrote a million
    reasons). The key is the dropped event's own `event_key` column."""
    return _DECISIONS[IN_EARLIER_INGEST if code == IN_EARLIER_INGEST else IN_THIS_INPUT]
