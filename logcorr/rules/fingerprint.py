"""Message fingerprints (what "identical message" means to the loop and cross-system rules) and
event keys (what "the same event delivered twice" means to the duplicate-delivery rule)."""

from __future__ import annotations

import re
from hashlib import blake2b

# the Convex client's echo of a server log line in the browser console:
# "[CONVEX M(messages:send)] [LOG] 'Sent message!'"
_ECHO = re.compile(r"^\[CONVEX [QMAH]\([^)]*\)\]\s*(?:\[(?:LOG|INFO|WARN|ERROR|DEBUG)\]\s*)?")


def normalise(message: str) -> str:
    """The text compared across systems: echo prefix and object-inspect quotes removed, trimmed."""
    if message[:8] == "[CONVEX ":
        message = _ECHO.sub("", message, count=1)
        if len(message) >= 2 and message[0] == "'" and message[-1] == "'":
            message = message[1:-1]
    return message.strip()


def fingerprint(message: str) -> str:
    """16 hex digits identifying the (normalised) text of a message."""
    return blake2b(normalise(message).encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def event_key(
    ts_ms: int,
    system: str,
    level: str,
    message: str,
    trace_id: str | None,
    request_id: str | None,
    part: int,
) -> int:
    """A signed 64-bit key equal for two deliveries of the same event (no source carries an event id).

    `part` is the event's position inside its record, so two identical lines of one Worker
    invocation (which share a frozen timestamp) stay two events.
    """
    h = blake2b(
        f"{ts_ms}\x1f{system}\x1f{level}\x1f{message}\x1f{trace_id or ''}\x1f{request_id or ''}\x1f{part}".encode(
            "utf-8", "surrogatepass"
        ),
        digest_size=8,
    )
    return int.from_bytes(h.digest(), "big", signed=True)
