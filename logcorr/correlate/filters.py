"""Filters shared by `traces` and `search`: trace-level (systems, errors, user) and time bounds,
turned into SQL with parameters — never string-pasted values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from logcorr.correlate.skew import CLOCK_SQL
from logcorr.errors import UsageError
from logcorr.model import SYSTEMS
from logcorr.units import is_duration, parse_duration_ms


@dataclass
class TraceFilter:
    systems: list[str] = field(default_factory=list)  # traces that include every one of these
    has_errors: bool = False
    min_systems: int = 0
    since: str | None = None  # ISO time, or a duration before the newest event ("2h")
    until: str | None = None
    user: str | None = None

    def validate(self) -> None:
        for s in self.systems:
            if s not in SYSTEMS:
                raise UsageError(f"unknown system {s!r}", f"choose from {', '.join(SYSTEMS)}")
        if self.min_systems < 0 or self.min_systems > 3:
            raise UsageError("--min-systems must be between 0 and 3")

    @property
    def trace_level(self) -> bool:
        return bool(self.systems or self.has_errors or self.min_systems or self.user)


def parse_time(value: str, newest: datetime | None, option: str) -> datetime:
    """An ISO-8601 time (UTC unless it says otherwise), or a duration before the newest event."""
    if is_duration(value):
        if newest is None:
            raise UsageError(f"{option} {value}: the database holds no events to count back from")
        return newest - timedelta(milliseconds=parse_duration_ms(value, option))
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as e:
        raise UsageError(
            f"{option} {value!r} is neither an ISO time nor a duration like 2h, 30m, 7d",
            f"e.g. {option} 2024-05-05T12:00:00Z (UTC unless it names an offset), or {option} 1h30m: back from the "
            "newest event stored, not from now",
        ) from e
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt


def having_sql(f: TraceFilter) -> tuple[str, list[Any]]:
    """HAVING clauses over a GROUP BY trace_id of events."""
    parts: list[str] = []
    params: list[Any] = []
    for s in f.systems:
        parts.append("bool_or(system = ?)")
        params.append(s)
    if f.has_errors:
        parts.append("bool_or(level = 'error')")
    if f.min_systems:
        parts.append("count(DISTINCT system) >= ?")
        params.append(f.min_systems)
    if f.user:
        parts.append("bool_or(user_id = ?)")
        params.append(f.user)
    return (" AND ".join(parts) or "true"), params


def summary_sql(f: TraceFilter) -> tuple[str, list[Any]]:
    """WHERE clauses over `trace_summary` rows for the trace-level filters."""
    parts: list[str] = []
    params: list[Any] = []
    for s in f.systems:
        parts.append(f"has_{s}")  # validated: one of SYSTEMS
    if f.has_errors:
        parts.append("errors > 0")
    if f.min_systems:
        parts.append("n_systems >= ?")
        params.append(f.min_systems)
    if f.user:
        parts.append("list_contains(users, ?)")
        params.append(f.user)
    return (" AND ".join(parts) or "true"), params


# the newest event durations count back from: on a server's clock (the Worker's, Convex's) when there is one,
# for a browser's may be days ahead, and `--since 1h` would then hold that one visitor's lines alone; a stored
# event before a dropped one
_SERVER = f"{CLOCK_SQL} <> 'browser'"
NEWEST_SQL = f"""
    SELECT coalesce((SELECT max(ts) FROM log_queue WHERE {_SERVER}), (SELECT max(ts) FROM drop_events WHERE {_SERVER}),
                    (SELECT max(ts) FROM log_queue), (SELECT max(ts) FROM drop_events))
"""


def time_sql(con: Any, f: TraceFilter, *, first: str = "ts", last: str = "ts") -> tuple[str, list[Any]]:
    """Clauses for --since/--until: `last >= since` and `first <= until`. With first=last=ts they bound
    events; with first=min(ts), last=max(ts) they select traces overlapping the window."""
    if not f.since and not f.until:
        return "true", []
    newest = con.execute(NEWEST_SQL).fetchone()[0]
    if newest is None:
        # no event at all: nothing to count back from, and nothing any window could hold (an empty list, not
        # a usage error, for `traces --since 1h` in a script run before the first ingest)
        for value, option in ((f.since, "--since"), (f.until, "--until")):
            if value:
                parse_time(value, datetime.fromtimestamp(0, UTC).replace(tzinfo=None), option)  # its syntax
        return "false", []
    since = parse_time(f.since, newest, "--since") if f.since else None
    until = parse_time(f.until, newest, "--until") if f.until else None
    if since is not None and until is not None and since > until:
        # an empty window is always a mistake, most often durations the wrong way round
        counted = is_duration(f.since or "") or is_duration(f.until or "")
        raise UsageError(
            f"--since {f.since} ({since.isoformat(sep=' ', timespec='milliseconds')}) is after --until "
            f"{f.until} ({until.isoformat(sep=' ', timespec='milliseconds')}): no time lies between them",
            "durations count back from the newest event, so the longer one goes with --since "
            "(e.g. --since 10h --until 5h)"
            if counted
            else "swap the two times",
        )
    parts, params = [], []
    if since is not None:
        parts.append(f"{last} >= ?")
        params.append(since)
    if until is not None:
        parts.append(f"{first} <= ?")
        params.append(until)
    return " AND ".join(parts), params
