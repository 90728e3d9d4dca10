"""Clock-skew estimation. Worker and Convex clocks are servers' (NTP); the Worker's is the reference and
Convex is taken as in sync with it. Browser clocks drift, so browser times are corrected by an offset
estimated, most specific first, from:

1. paired timestamps — worker records of browser lines carry the Worker's receive time (`ts`) and the
   browser's own clock (`client_ts`): offset = median(client_ts − ts) over the user's records within a
   day of the trace (a drifting clock's offset is local in time, and the bound lets DuckDB skip the rest
   of the table), else over the trace's own. It includes the one-way network delay, so it slightly
   under-corrects. A user id that many browsers share (the console override's default `anonymous`) names
   no one clock: only the trace's own records are paired then. Offsets beyond a day are broken client
   values (a clock at 1999), not skew, and are left out;
2. causal order — a trace's first browser line causes its first Worker line, so when the browser line is
   later than the Worker line, the browser clock is ahead by at least that much: offset = gap + 1 ms.
   Only that direction is evidence: an early browser line is ordinary (the trace id lives for a page load).

Which clock an event's `ts` is on follows from its source format: Cloudflare exports and stored worker
records are on the Worker's clock even when the line came from a browser, and so (the Convex server's) are
Convex snapshot rows of browser lines (see `CLOCK_SQL`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WORKER_CLOCK_FORMATS = ("worker-record", "worker-logs", "cf-logpush", "cf-tail", "cf-workers-logs")

# the clock an event's `ts` is on: the Worker's for the formats above; the Convex server's (taken as in sync
# with it) for a snapshot row of a browser line, which has the row's `_creationTime` as `ts` and the
# browser's clock as `client_ts`; else its system's
CLOCK_SQL = (
    "CASE WHEN source_format IN ({}) OR (source_format = 'convex-snapshot' AND client_ts IS NOT NULL) "
    "THEN 'worker' ELSE system END"
).format(", ".join(f"'{f}'" for f in WORKER_CLOCK_FORMATS))


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
    for user in users[:1]:
        row = con.execute(
            f"""
            SELECT median(epoch_ms(client_ts) - epoch_ms(ts)), count(*) FROM log_queue
            WHERE system = 'browser' AND client_ts IS NOT NULL AND user_id = ?
              AND ts BETWEEN ?::TIMESTAMP - INTERVAL 1 DAY AND ?::TIMESTAMP + INTERVAL 1 DAY
              AND abs(epoch_ms(client_ts) - epoch_ms(ts)) <= {MAX_OFFSET_MS}
            """,
            [user, min(stamps), max(stamps)],
        ).fetchone()
        if row and row[1]:
            return Skew("browser", round(row[0]), "paired", int(row[1]), f"user {user}")
    paired = [
        e["client_ts_ms"] - e["ts_ms"]
        for e in events
        if e["system"] == "browser"
        and e["client_ts_ms"] is not None
        and abs(e["client_ts_ms"] - e["ts_ms"]) <= MAX_OFFSET_MS
        and not e.get("rule")  # the stored events only: --include-dropped shows more, it measures the same
    ]
    if paired:
        paired.sort()
        mid = (
            paired[len(paired) // 2]
            if len(paired) % 2
            else (paired[len(paired) // 2 - 1] + paired[len(paired) // 2]) // 2
        )
        return Skew("browser", int(mid), "paired", len(paired), "trace")
    browser = [e["ts_ms"] for e in events if e["clock"] == "browser" and not e.get("rule")]
    worker = [e["ts_ms"] for e in events if e["clock"] == "worker" and not e.get("rule")]
    if browser and worker:
        gap = min(browser) - min(worker)
        if gap >= 0:
            return Skew("browser", gap + 1, "causal", 1, "trace")
    return Skew("browser", 0, "none", 0, "")
