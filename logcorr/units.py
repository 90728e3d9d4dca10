"""Durations written by people (`90s`, `30m`, `2h`, `1d`, `500ms`), and the checks of numbers they give."""

from __future__ import annotations

import math
import re

from logcorr.errors import UsageError

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_COMPOUND = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$")
_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
EXAMPLES = "500ms, 90s, 30m, 2h, 1d or 1h30m"


def duration_ms(text: str) -> int | None:
    """Milliseconds in `500ms`, `90s`, `30m`, `2h`, `1d` or a compound such as `1h30m` (as k6 writes them; spaces
    allowed), or None when `text` is none of these."""
    compact = text.strip().replace(" ", "") if isinstance(text, str) else ""
    if not _COMPOUND.match(compact):
        return None
    return round(sum(float(n) * _MS[u] for n, u in _PART.findall(compact)))


def say_duration(ms: float) -> str:
    """A span as people read it, in the largest unit it holds: `45.0 d`, `3.5 h`, `12.0 min`, `30.0 s`."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("min", 60_000)):
        if ms >= size:
            return f"{ms / size:.1f} {unit}"
    return f"{ms / 1000:.1f} s"


def say_count(n: int, noun: str, plural: str | None = None) -> str:
    """`n` and the noun that counts it, singular for 1: `1 event`, `2 events`, `1,200 directories` (`plural`
    when the noun does not take an `s`)."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def is_duration(text: str) -> bool:
    return duration_ms(text) is not None


def parse_duration_ms(text: str, option: str) -> int:
    """Milliseconds in `text`, or a UsageError naming the option."""
    ms = duration_ms(text or "")
    if ms is None:
        raise UsageError(f"{option} {text!r} is not a duration", f"write it like {EXAMPLES}")
    return ms


def is_positive(x: float) -> bool:
    """A finite number above 0 (not nan, not inf): what a rate, a factor or a size limit must be."""
    return math.isfinite(x) and x > 0


def size_bytes(amount: float, unit: int) -> int | None:
    """`amount` units (`1 << 20`: MiB) as bytes, or None unless `is_positive(amount)`. A limit beyond any file
    (1e308 MB overflowed int()) is 2**62 bytes."""
    return int(min(amount * unit, 1 << 62)) if is_positive(amount) else None
