"""Clock-skew estimation. Worker and Convex clocks are servers' (NTP); the Worker's is the reference and
Convex is taken as in sync with it. Browser clocks drift, so browser times are corrected by an offset
estimated, most specific first, from:

1. paired timestamps — worker records of browser lines carry the Worker's receive time (`ts`) and the
   browser's own clock (`client_ts`): offset = median(client_ts − ts) (of an even number of samples the
   upper middle one: a delayed record only makes its sample smaller) over the trace's own records (a trace
   is one page load: one browser, one clock), else over the user's records within a day of the trace (a
   drifting clock's offset is local in time, and the bound lets DuckDB skip the rest of the table). A
   user may have a phone and a laptop, so the user's records speak only for a trace that has none. It
   includes the one-way network delay, so it slightly under-corrects. A user id that many browsers share
   (the console override's default `anonymous`) names no one clock: it is not used. Offsets beyond a day
   are broken client values (a clock at 1999), not skew, and are left out. The copies of lines the rules
   dropped count too, one sample per event (`event_key`): the Worker's record of a line whose browser
   payload was stored first (ingested earlier, or a clock behind the Worker's) is dropped as its duplicate,
   and it is that line's only pair;
2. causal order — a trace's first browser line causes its first Worker line (or, in a trace without one, its
   first Convex line: the browser calls Convex directly), so when the browser line is later than that line,
   the browser clock is ahead by at least that much: offset = gap + 1 ms. Only that direction is evidence: an
   early browser line is ordinary (the trace id lives for a page load).

The Convex clock is taken as in sync with the Worker's, but the two servers may disagree by a second or so;
a trace begins in the browser, so its first backend line follows the first line of the other clocks (the
browser's corrected). A backend line earlier than that means the Convex clock is behind by at least the gap
(`estimate_backend`): the least correction that restores the order, and only up to `MAX_SERVER_SKEW_MS` —
servers keep NTP time, so a backend line seconds or minutes early is more likely a call the page made before
its first line reached the Worker (a query on mount) than a clock, and is left where it is.

Which clock an event's `ts` is on follows from its source format: Cloudflare exports and stored worker
records are on the Worker's clock even when the line came from a browser, and so (the Convex server's) are
Convex snapshot rows of browser lines (see `CLOCK_SQL`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from logcorr.sources.worker_formats import WORKER_FORMATS
from logcorr.store.query import sql_words
from logcorr.store.schema import dropped_span, stored_span, union_span

WORKER_CLOCK_FORMATS = WORKER_FORMATS

# the clock an event's `ts` is on: the Worker's for the formats above; the Convex server's (taken as in sync
# with it) for a snapshot row of a browser line, which has the row's `_creationTime` as `ts` and the
# browser's clock as `client_ts`; else its system's
CLOCK_SQL = (
    f"CASE WHEN source_format IN ({sql_words(WORKER_CLOCK_FORMATS)}) "
    "OR (source_format = 'convex-snapshot' AND client_ts IS NOT NULL) THEN 'worker' ELSE system END"
)


@dataclass(frozen=True)
class Skew:
    """The estimated offset of one clock: positive means that clock runs ahead of the Worker's."""

    clock: str
    offset_ms: int
    method: str  # paired | causal | none
    samples: int
    scope: str  # "user u1", "trace", ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "offset_ms": self.offset_ms,
            "method": self.method,
            "samples": self.samples,
            "scope": self.scope,
        }


# user ids that name no one browser: the console override's default, the live system's server-side fill-in
SHARED_USER_IDS = frozenset(("anonymous", "system", "unknown", "guest", "null", "undefined"))
# a larger client − Worker offset is a broken client value, not a clock's skew
MAX_OFFSET_MS = 86_400_000


# one sample per event: a line's copies (the browser's payload, the Worker's record of it, a delivery
# repeated) share its event key; the least delayed copy measures the clock best. Of an even number of samples
# the upper middle one, not the mean of the two: a sample is the skew less its network delay, so the larger is
# the nearer, and two samples, one of a POST retried 30 s later, were 15 s off
_PAIRED_SQL = f"""
    SELECT list_sort(list(d))[count(*) // 2 + 1], count(*) FROM (
        SELECT max(epoch_ms(client_ts) - epoch_ms(ts)) AS d FROM (
            SELECT event_key, client_ts, ts FROM log_queue WHERE {{where}}
            UNION ALL SELECT event_key, client_ts, ts FROM drop_events WHERE {{where}} AND {{dropped}})
        WHERE abs(epoch_ms(client_ts) - epoch_ms(ts)) <= {MAX_OFFSET_MS}
        GROUP BY event_key)
"""


def _paired(con: Any, where: str, params: list[Any], dropped: str, dparams: list[Any]) -> tuple[int, int]:
    """(median offset, samples) of the browser records with two clocks that `where` selects."""
    where = f"system = 'browser' AND client_ts IS NOT NULL AND {where}"
    row = con.execute(
        _PAIRED_SQL.format(where=where, dropped=dropped), [*params, *params, *dparams]
    ).fetchone()
    return (round(row[0]), int(row[1])) if row and row[1] else (0, 0)


def estimate_browser(con: Any, trace_id: str, events: list[dict[str, Any]]) -> Skew:
    """The browser clock's offset for one trace (see the module docstring for the order of evidence)."""
    users = sorted(
        {
            e["user_id"]
            for e in events
            if e["system"] == "browser"
            and e["user_id"]
            and e["user_id"].lower() not in SHARED_USER_IDS
            and not e.get("rule")  # the stored events': --include-dropped shows more, it measures the same
        }
    )
    stamps = [e["ts"] for e in events if not e.get("rule")] or [e["ts"] for e in events]
    span = dropped_span(con, trace_id)
    whole = union_span(stored_span(con, trace_id), span)
    offset, n = _paired(
        con,
        "trace_id = ? AND ts BETWEEN ? AND ?",  # the span of its events, stored and dropped: the zone maps skip the rest
        [trace_id, *(whole or (None, None))],
        "ts BETWEEN ? AND ?" if span else "false",
        list(span) if span else [],
    )
    if n:
        return Skew("browser", offset, "paired", n, "trace")
    window = "ts BETWEEN ?::TIMESTAMP - INTERVAL 1 DAY AND ?::TIMESTAMP + INTERVAL 1 DAY"
    for user in users[:1]:
        offset, n = _paired(con, f"user_id = ? AND {window}", [user, min(stamps), max(stamps)], "true", [])
        if n:
            return Skew("browser", offset, "paired", n, f"user {user}")
    browser = _stamps(events, "browser")
    server = _stamps(events, "worker") or _stamps(events, "backend")
    if browser and server:
        gap = min(browser) - min(server)
        if gap >= 0:
            return Skew("browser", gap + 1, "causal", 1, "trace")
    return Skew("browser", 0, "none", 0, "")


# two servers' clocks (NTP) disagree by a second or so; a backend line further before the trace's start is no
# skew of the Convex clock (and the least a wrong guess can move a line that was early)
MAX_SERVER_SKEW_MS = 2_000


def _stamps(events: list[dict[str, Any]], clock: str) -> list[int]:
    """The times of the stored events on `clock` (those of dropped ones, shown by --include-dropped, measure
    nothing more)."""
    return [e["ts_ms"] for e in events if e["clock"] == clock and not e.get("rule")]


def estimate_backend(events: list[dict[str, Any]], browser_offset_ms: int) -> Skew:
    """The Convex clock's offset for one trace, by causal order: its first line is not before the trace's first
    on the Worker's clock or the browser's (corrected by `browser_offset_ms`). Negative: behind the Worker."""
    backend = _stamps(events, "backend")
    others = _stamps(events, "worker") + [t - browser_offset_ms for t in _stamps(events, "browser")]
    if backend and others:
        gap = min(others) - min(backend)
        # an equal time needs no correction: events of one millisecond are listed browser, worker, backend
        if 0 < gap <= MAX_SERVER_SKEW_MS:
            return Skew("backend", -gap, "causal", 1, "trace")
    return Skew("backend", 0, "none", 0, "")
