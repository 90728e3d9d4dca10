"""Durations written by people: `90s`, `30m`, `2h`, `1d`, `500ms`."""

from __future__ import annotations

import re

from logcorr.errors import UsageError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def is_duration(text: str) -> bool:
    return _DURATION.match(text) is not None


def parse_duration_ms(text: str, option: str) -> int:
    """Milliseconds in `text`, or a UsageError naming the option."""
    m = _DURATION.match(text or "")
    if not m:
        raise UsageError(f"{option} {text!r} is not a duration", "write it like 500ms, 90s, 30m, 2h or 1d")
    return int(float(m.group(1)) * _MS[m.group(2)])
