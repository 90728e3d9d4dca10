"""The adapter contract shared by every source module.

An adapter takes one decoded JSON object and appends normalised `Event`s (and `Metric`s) to the
lists it is given. It returns None, or a reason string when the record is intentionally skipped
(a verification ping, say). It raises `RecordError(reason)` when the record cannot be used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from logcorr.model import Event, Metric, RecordError

Adapter = Callable[[dict[str, Any], list[Event], list[Metric]], str | None]

# what an adapter raises when a record has a shape it did not expect (a list where it wanted an object,
# a number too large, nesting too deep): every caller turns these into a rejected record, never a crash
SHAPE_ERRORS: tuple[type[Exception], ...] = (
    TypeError,
    AttributeError,
    ValueError,
    KeyError,
    IndexError,
    RecursionError,
    OverflowError,
)


@dataclass(frozen=True, slots=True)
class Format:
    """One native input format: its name (as used by --format), system and parser."""

    name: str
    system: str
    parse: Adapter
    summary: str
    # each event of a record is a record of its own (a list of stored records): it is the same event, for the
    # duplicate rule, wherever in the list it stands, or outside any list
    own_records: bool = False


def each_object(items: list[Any], where: str, read: Callable[[dict[str, Any]], object]) -> None:
    """`read` every item of a record's list (`where`: its name in errors): a RecordError names the item,
    `where[i]`, when it is not an object or `read` rejects it."""
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise RecordError(f"{where}[{i}] is not an object")
        try:
            read(item)
        except RecordError as e:
            raise RecordError(f"{where}[{i}]: {e}") from None


def propagate_trace(events: list[Event], start: int) -> None:
    """Give lines of one request (events[start:]) the trace id that one of them carries.

    Lines that found no trace id of their own take the id their siblings carry, recorded as
    trace_source='request_id' — only when the siblings carry one id: a request whose lines name several (a
    batch endpoint, a sync over many traces) says nothing of which trace its other lines belong to, and
    pinning them (its errors, say) on the first would merge unrelated requests.
    """
    found: str | None = None
    for ev in events[start:]:
        if ev.trace_id is not None:
            if found is None:
                found = ev.trace_id
            elif ev.trace_id != found:
                return
    if found is None:
        return
    for i in range(start, len(events)):
        ev = events[i]
        if ev.trace_id is None:
            events[i] = ev._replace(trace_id=found, trace_source="request_id")


def sub(obj: dict[str, Any], key: str) -> dict[str, Any]:
    """obj[key] when it is an object, else an empty dict (absent, null or the wrong type)."""
    value = obj.get(key)
    return value if isinstance(value, dict) else {}
