"""Durations written by people (`90s`, `30m`, `2h`, `1d`, `500ms`), and the checks of numbers they give."""

from __future__ import annotations

import math
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


def is_positive(x: float) -> bool:
    """A finite number above 0 (not nan, not inf): what a rate, a factor or a size limit must be."""
    return math.isfinite(x) and x > 0


def size_bytes(amount: float, unit: int) -> int | None:
    """`amount` units (`1 << 20`: MiB) as bytes, or None unless `is_positive(amount)`. A limit beyond any file
    (1e308 MB overflowed int()) is 2**62 bytes."""
    return int(min(amount * unit, 1 << 62)) if is_positive(amount) else None
