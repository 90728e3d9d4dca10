"""The normalised event every source adapter produces, and the small value helpers they share.

Events are plain NamedTuples (cheap to build on the hot path); validation lives at the edges.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

SYSTEMS: tuple[str, ...] = ("browser", "worker", "backend")

# how a trace id was found, most to least direct
TRACE_SOURCES: tuple[str, ...] = ("field", "header", "message", "request_id", "none")

LEVELS: tuple[str, ...] = ("debug", "info", "log", "warn", "error")

# the rules that cut traces under pressure (trace integrity counts these); here, not in rules.engine, so that a
# read command counts them without importing the engine and its policy
PRESSURE_RULES: tuple[str, ...] = ("trace", "rate_limit", "budget")


class Event(NamedTuple):
    """One normalised log line, before provenance is attached."""

    ts_ms: int  # event time on the emitting system's clock, epoch ms UTC
    system: str  # browser | worker | backend
    system_label: str  # the label the source used (convex, manual, ...)
    level: str  # debug | info | log | warn | error
    message: str
    trace_id: str | None
    trace_source: str  # one of TRACE_SOURCES
    request_id: str | None
    user_id: str | None
    context: dict[str, Any] | None
    stack: str | None
    client_ts_ms: int | None  # a second clock (the client's), where the record carries one


class Metric(NamedTuple):
    """A non-log record kept for cost analysis (Convex usage topics, worker invocations)."""

    ts_ms: int
    system: str
    topic: str
    data: dict[str, Any]


class RecordError(ValueError):
    """Raised by an adapter when a record cannot become an event; the message is the reject reason."""


_LEVEL_MAP: dict[str, str] = {
    "debug": "debug",
    "trace": "debug",
    "verbose": "debug",
    "info": "info",
    "information": "info",
    "notice": "info",
    "log": "log",
    "warn": "warn",
    "warning": "warn",
    "error": "error",
    "err": "error",
    "exception": "error",
    "fatal": "error",
    "critical": "error",
    "crit": "error",
    "alert": "error",
    "emergency": "error",
}


def norm_level(value: Any, default: str = "log") -> str:
    """Map any level spelling (LOG, WARNING, Error, …) to debug/info/log/warn/error."""
    if not isinstance(value, str) or not value:
        return default
    return _LEVEL_MAP.get(value.lower(), default)


_SYSTEM_MAP: dict[str, str] = {
    "browser": "browser",
    "client": "browser",
    "web": "browser",
    "frontend": "browser",
    "manual": "browser",
    "worker": "worker",
    "workers": "worker",
    "cloudflare": "worker",
    "edge": "worker",
    "convex": "backend",
    "backend": "backend",
    "server": "backend",
}


def norm_system(label: Any, default: str) -> str:
    """Map a source's system label to browser/worker/backend (convex → backend)."""
    if not isinstance(label, str):
        return default
    return _SYSTEM_MAP.get(label.lower(), default)


def to_ms(value: Any) -> int | None:
    """Epoch milliseconds from a number (s, ms, µs or ns, by magnitude) or an ISO-8601 / numeric string."""
    if type(value) is int and 100_000_000_000 <= value < 100_000_000_000_000:
        return value  # epoch ms, by far the most common form: the branch below would give the same
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        v = float(value)
        if v != v or v in (float("inf"), float("-inf")):
            return None
        a = abs(v)
        if a >= 1e17:
            return int(v // 1_000_000)
        if a >= 1e14:
            return int(v // 1_000)
        if a >= 1e11:
            return int(v)
        return round(v * 1000)
    if isinstance(value, str):
        s = value.strip()
        if not s:
            return None
        if s[0].isdigit() or s[0] == "-":
            try:
                return (
                    to_ms(float(s)) if any(c in s for c in ".eE") or s.lstrip("-").isdigit() else _iso_ms(s)
                )
            except ValueError:
                return _iso_ms(s)
        return _iso_ms(s)
    return None


def _iso_ms(s: str) -> int | None:
    try:
        dt = datetime.fromisoformat(s.replace(" UTC", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


# plausible event times: 2000-01-01 .. 2100-01-01, to reject garbage numbers early
MIN_TS_MS = 946_684_800_000
MAX_TS_MS = 4_102_444_800_000


def valid_ts(ms: int | None) -> bool:
    return ms is not None and MIN_TS_MS <= ms < MAX_TS_MS


def require_ts(value: Any, field: str) -> int:
    """Epoch ms from `value`, or raise RecordError naming the field."""
    ms = to_ms(value)
    if ms is None:
        raise RecordError(f"missing or unreadable timestamp in {field!r}")
    if not valid_ts(ms):
        raise RecordError(f"timestamp {field!r}={value!r} is outside 2000..2100")
    return ms


def as_text(value: Any) -> str:
    """A console argument rendered as text: strings as-is, everything else as compact JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    import orjson

    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return str(value)


def opt_str(value: Any) -> str | None:
    """A non-empty string, or None (numbers are converted; null/empty is absent)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def path_text(path: str) -> str:
    """A file's name as text the database and a terminal can hold: a name that is not UTF-8 (Latin-1 `caf\\xe9.jsonl`
    from an old tool or a Windows zip, which Python holds with surrogate escapes) with its odd bytes written
    `\\xe9`; any other name as it is."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return path
