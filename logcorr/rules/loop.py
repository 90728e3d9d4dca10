"""Rule 4, loop detection: at most `max_identical` identical messages (same system, level and message
fingerprint) stored in any window of `window_ms` of event time. An event is dropped when that many
copies were already stored in the `window_ms` before it (timestamps > t − window_ms).

The engine inlines the check on `RuleState.loop` (key → stored timestamps, oldest first); this module
owns the pruning and the drop's reason and snapshot.
"""

from __future__ import annotations

import orjson

from logcorr.rules.clock import iso
from logcorr.rules.state import LoopKey


def prune(stored: list[int], cutoff: int) -> list[int]:
    """The stored timestamps still inside the window (after `cutoff`)."""
    return [x for x in stored if x > cutoff]


def drop(key: LoopKey, stored: list[int], max_identical: int, window_ms: int) -> tuple[str, str]:
    """Reason and snapshot for the copy over the limit."""
    system, level, fp = key
    reason = (
        f"{len(stored)} identical {system}/{level} messages already stored in the last {window_ms} ms "
        f"(at most {max_identical} per {window_ms} ms)"
    )
    state = {
        "system": system,
        "level": level,
        "fingerprint": fp,
        "window_ms": window_ms,
        "max": max_identical,
        "count": len(stored),
        "first_at": iso(stored[0]),
        "next_allowed_at": iso(stored[len(stored) - max_identical] + window_ms),
    }
    return reason, orjson.dumps(state).decode()
