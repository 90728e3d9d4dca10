"""Event-time and text helpers for the rules: ISO text for reasons and snapshots, calendar-month
bounds, JSON string literals. Nothing here reads the wall clock."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

import orjson

# zero-padded numbers by table: format specs (`{x:02d}`) and strftime are slow on hot paths
_D2 = tuple(f"{i:02d}" for i in range(100))
_D3 = tuple(f"{i:03d}" for i in range(1000))


def iso(ms: int) -> str:
    """`ms` (epoch ms, UTC) as `2024-06-01T12:03:04.567Z`."""
    s, milli = divmod(ms, 1000)
    day, rest = divmod(s, 86_400)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    return f"{_iso_day(day)}{_D2[hour]}:{_D2[minute]}:{_D2[second]}.{_D3[milli]}Z"


@lru_cache(maxsize=1024)
def _iso_day(day: int) -> str:
    return datetime.fromtimestamp(day * 86_400, tz=UTC).strftime("%Y-%m-%dT")


@lru_cache(maxsize=4096)
def iso_minute(ms: int) -> str:
    """The start of a window as `2024-06-01T12:03:00Z` (callers pass window starts, so it caches well)."""
    return datetime.fromtimestamp(ms // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def month_of(ms: int) -> tuple[str, int, int]:
    """The calendar month (UTC) holding `ms`: its label `YYYY-MM`, first and last-exclusive epoch ms."""
    dt = datetime.fromtimestamp(ms // 1000, tz=UTC)
    start = datetime(dt.year, dt.month, 1, tzinfo=UTC)
    end = datetime(dt.year + (dt.month == 12), dt.month % 12 + 1, 1, tzinfo=UTC)
    return f"{dt.year:04d}-{dt.month:02d}", int(start.timestamp()) * 1000, int(end.timestamp()) * 1000


def month_bounds(label: str) -> tuple[int, int]:
    """First and last-exclusive epoch ms of the month `YYYY-MM`."""
    year, month = (int(x) for x in label.split("-"))
    _, start, end = month_of(int(datetime(year, month, 1, tzinfo=UTC).timestamp()) * 1000)
    return start, end


def json_str(s: str) -> str:
    """`s` as a JSON string literal (for snapshots built with f-strings on hot paths)."""
    if s.isprintable() and '"' not in s and "\\" not in s:
        return f'"{s}"'
    return orjson.dumps(s).decode()
