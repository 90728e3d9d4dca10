"""One trace as a model: events in corrected time order, per-system spans, the error chain, gaps,
request groups and the skew applied. Built from the stored events of a single trace (a small set:
the database does the lookup through the trace-id index)."""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta
from typing import Any

from logcorr.correlate.skew import CLOCK_SQL, Skew, estimate_backend, estimate_browser
from logcorr.errors import ExitCode, LogcorrError
from logcorr.model import SYSTEMS
from logcorr.render.rows import iso
from logcorr.render.text import first_few
from logcorr.store.schema import dropped_span, stored_span

GAP_MS = 1000  # gaps longer than this are reported


class TraceNotFound(LogcorrError):
    exit_code = ExitCode.CHECK_FAILED


# Jaro-Winkler similarity from which a stored id counts as a close match of a wanted one: a digit or two off
# in one id of the same app scores over 0.9; "nosuch" against `trace_<ms>_<rand>` ids scores 0.4, and
# listing those five as "close matches" sent the user to unrelated requests. Compared in lower case: an id
# typed in capitals is that id (ids are matched exactly, so it is only named)
CLOSE = 0.85


def resolve(con: Any, wanted: str) -> str:
    """The full trace id for an id, a unique prefix, or the id of a request whose lines carry one trace;
    TraceNotFound (exit 1) names close matches."""
    if stored_span(con, wanted) is not None or dropped_span(con, wanted) is not None:
        return wanted
    matches = [
        r[0]
        for r in con.execute(
            """
            SELECT DISTINCT trace_id FROM (
                SELECT trace_id FROM trace_summary WHERE starts_with(trace_id, ?)
                UNION SELECT trace_id FROM drop_traces WHERE starts_with(trace_id, ?))
            ORDER BY trace_id LIMIT 6
            """,
            [wanted, wanted],
        ).fetchall()
    ]
    if len(matches) == 1:
        return str(matches[0])
    if len(matches) > 1:
        raise TraceNotFound(
            f"trace id prefix {wanted!r} is ambiguous: {first_few(matches)}", "give more characters"
        )
    if wanted.startswith(FALLBACK_PREFIX) and len(wanted) > len(FALLBACK_PREFIX):
        request_id = wanted[len(FALLBACK_PREFIX) :]
        return _by_request(
            con, wanted, request_id, f"the live webhook's id for Convex request {request_id!r}"
        )
    ray = _RAY_ID.fullmatch(wanted)
    request_id = ray.group(1).lower() if ray else wanted
    if con.execute("SELECT 1 FROM log_queue WHERE request_id = ? LIMIT 1", [request_id]).fetchone():
        # a request's id, as a user has it: a Cloudflare Ray ID (`cf-ray: 8a1f00bb33cc44dd-FRA`, an error
        # page's "Ray ID"), a Convex `request_id`, a Workers Logs `requestId`; stored as `request_id`
        what = "a request's id" if request_id == wanted else f"the Ray ID of request {request_id!r}"
        return _by_request(con, wanted, request_id, what)
    close = [
        r[0]
        for r in con.execute(
            """
            SELECT trace_id FROM trace_summary
            WHERE jaro_winkler_similarity(lower(trace_id), ?) >= ?
            ORDER BY jaro_winkler_similarity(lower(trace_id), ?) DESC, trace_id LIMIT 5
            """,
            [wanted.lower(), CLOSE, wanted.lower()],
        ).fetchall()
    ]
    if close:
        hint = "close matches: " + ", ".join(close)
    elif con.execute("SELECT 1 FROM trace_summary LIMIT 1").fetchone():
        hint = "no id is close to it; list traces with `logcorr traces`, or find one by its text: `logcorr search TEXT`"
    else:
        hint = "the database holds no traces yet"
    raise TraceNotFound(f"no trace {wanted!r} in the database", hint)


# the live Log Streams webhook's trace id for a Convex line that names none: `convex_req_<requestId>`. Ingest
# reads it as the request id it is (see sources/convex_snapshot.py); a user may still have it from the live UI
FALLBACK_PREFIX = "convex_req_"
# a Ray ID as Cloudflare shows it (16 hex digits, `-COLO` on the visitor's side); stored as its 16-hex part,
# lower case (sources/cloudflare.py `ray_id`)
_RAY_ID = re.compile(r"([0-9A-Fa-f]{16})(?:-[A-Za-z]{3})?")


def _by_request(con: Any, wanted: str, request_id: str, what: str) -> str:
    """The trace that the lines of request `request_id` belong to, for `wanted`, an id of that request (`what`
    it is: its own id, its Ray ID, or the live system's fallback id of a Convex request)."""
    found = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT trace_id FROM log_queue WHERE request_id = ? AND trace_id IS NOT NULL ORDER BY 1 LIMIT 2",
            [request_id],
        ).fetchall()
    ]
    if len(found) == 1:
        return str(found[0])
    quoted = request_id.replace("'", "''")
    sql = f"SELECT * FROM log_queue WHERE request_id = '{quoted}'"
    if found:
        raise TraceNotFound(
            f"{wanted!r} is {what}, whose lines are in more than one trace ({', '.join(found)})",
            f'logcorr sql "{sql}"',
        )
    raise TraceNotFound(
        f"no trace {wanted!r}: it is {what}, whose lines carry no trace id (or are not in the database)",
        f'see them: logcorr sql "{sql}"',
    )


def first_with_errors(con: Any) -> str:
    """The trace spanning the most systems, with errors, that started first (for demos)."""
    row = con.execute(
        """
        SELECT trace_id FROM trace_summary WHERE errors > 0 ORDER BY n_systems DESC, first_ts, trace_id LIMIT 1
        """
    ).fetchone()
    if row is None:
        raise TraceNotFound("no trace with errors in the database")
    return str(row[0])


_EVENTS_SQL = f"""
    SELECT event_id, ts, epoch_ms(ts) AS ts_ms, epoch_ms(client_ts) AS client_ts_ms, system, system_label, level,
           message, request_id, user_id, source_file, source_line, source_format, trace_source, stack,
           {CLOCK_SQL} AS clock, NULL AS rule, NULL AS reason
    FROM log_queue WHERE trace_id = ? AND ts BETWEEN ? AND ?
"""
_DROPPED_SQL = f"""
    SELECT event_id, ts, epoch_ms(ts), epoch_ms(client_ts), system, system_label, level, message, request_id,
           user_id, source_file, source_line, source_format, trace_source, stack, {CLOCK_SQL}, rule, reason
    FROM drop_ledger WHERE trace_id = ? AND ts BETWEEN ? AND ?
"""


# the keys of each of a trace's events (`build`), in order: the columns of `trace --format csv/jsonl`
EVENT_COLUMNS = (
    "event_id", "ts", "ts_corrected", "offset_ms", "system", "system_label", "level", "message", "request_id",
    "user_id", "source_file", "source_line", "source_format", "trace_source", "dropped_by", "drop_reason",
)  # fmt: skip


def build(con: Any, trace_id: str, *, skew: bool = True, include_dropped: bool = False) -> dict[str, Any]:
    """The trace model (the documented JSON schema of `logcorr trace --format json`)."""
    # each table's rows in the trace's span only (`stored_span`, `dropped_span`); none stored, a NULL span
    stored, span = stored_span(con, trace_id), dropped_span(con, trace_id) if include_dropped else None
    sql = _EVENTS_SQL + (f" UNION ALL {_DROPPED_SQL}" if span else "")
    params = [trace_id, *(stored or (None, None)), *([trace_id, *span] if span else [])]
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    events = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    if not events:  # resolved through drop_traces: every event of it was dropped
        whole = dropped_span(con, trace_id)
        n = 0
        if whole is not None:
            (n,) = con.execute(
                "SELECT count(*) FROM drop_events WHERE trace_id = ? AND ts BETWEEN ? AND ?",
                [trace_id, *whole],
            ).fetchone()
        raise TraceNotFound(
            f"trace {trace_id!r} has no stored events: the rules dropped all {n} of them",
            f"see them: logcorr trace {trace_id} --include-dropped",
        )

    skews: dict[str, Skew] = {}
    if skew:
        b = estimate_browser(con, trace_id, events)
        if b.offset_ms:
            skews["browser"] = b
        k = estimate_backend(events, b.offset_ms)
        if k.offset_ms:
            skews["backend"] = k
    for e in events:
        off = skews[e["clock"]].offset_ms if e["clock"] in skews else 0
        e["ts_corrected_ms"] = e["ts_ms"] - off
    # at one millisecond, in causal order: a Worker freezes its clock for an invocation, so its record of a
    # browser line and its own line about it share their time
    events.sort(key=lambda e: (e["ts_corrected_ms"], SYSTEMS.index(e["system"]), e["event_id"]))
    kept = [e for e in events if e["rule"] is None] or events
    start_ms = min(e["ts_corrected_ms"] for e in kept) if kept else 0
    end_ms = max(e["ts_corrected_ms"] for e in kept) if kept else 0
    epoch = datetime(1970, 1, 1)

    def at(ms: int) -> str | None:
        return iso(epoch + timedelta(milliseconds=ms))

    out_events: list[dict[str, Any]] = []
    for e in events:
        out_events.append(
            {
                "event_id": e["event_id"],
                "ts": iso(e["ts"]),
                "ts_corrected": at(e["ts_corrected_ms"]),
                "offset_ms": e["ts_corrected_ms"] - start_ms,
                "system": e["system"],
                "system_label": e["system_label"],
                "level": e["level"],
                "message": e["message"],
                "request_id": e["request_id"],
                "user_id": e["user_id"],
                "source_file": e["source_file"],
                "source_line": e["source_line"],
                "source_format": e["source_format"],
                "trace_source": e["trace_source"],
                "dropped_by": e["rule"],
                "drop_reason": e["reason"],
            }
        )
    spans = []
    for system in SYSTEMS:
        shown = [e for e in events if e["system"] == system]
        if not shown:
            continue
        # its time is its stored events' (a dropped flood would stretch it), or with none stored its dropped
        # ones'; its counts are of the events shown, as the header's (`--include-dropped`: dropped ones too)
        mine = [e for e in shown if e["rule"] is None] or shown
        first, last = mine[0]["ts_corrected_ms"], mine[-1]["ts_corrected_ms"]
        spans.append(
            {
                "system": system,
                "first": at(first),
                "last": at(last),
                "start_offset_ms": first - start_ms,
                "duration_ms": last - first,
                "events": len(shown),
                "dropped_count": sum(1 for e in shown if e["rule"] is not None),
                "errors": sum(1 for e in shown if e["level"] == "error"),
                "errors_dropped": sum(1 for e in shown if e["level"] == "error" and e["rule"] is not None),
            }
        )
    flow = [
        s["system"] for s in sorted(spans, key=lambda s: (s["start_offset_ms"], SYSTEMS.index(s["system"])))
    ]
    errors = [
        o for o, e in zip(out_events, events, strict=True) if e["level"] == "error" and e["rule"] is None
    ]
    chain: list[str] = []
    for o in errors:
        if o["system"] not in chain:
            chain.append(o["system"])
    gaps = []
    for before, after in itertools.pairwise(kept):
        d = after["ts_corrected_ms"] - before["ts_corrected_ms"]
        if d > GAP_MS:
            gaps.append(
                {"after_event_id": before["event_id"], "before_event_id": after["event_id"], "gap_ms": d}
            )
    gaps.sort(key=lambda g: (-g["gap_ms"], g["after_event_id"]))
    requests: dict[tuple[str, str], dict[str, Any]] = {}
    for e in kept:
        if e["request_id"]:
            key = (e["system"], e["request_id"])
            r = requests.setdefault(key, {"request_id": e["request_id"], "system": e["system"], "events": 0,
                                          "first_offset_ms": e["ts_corrected_ms"] - start_ms, "last_offset_ms": 0})  # fmt: skip
            r["events"] += 1
            r["last_offset_ms"] = e["ts_corrected_ms"] - start_ms
    return {
        "trace_id": trace_id,
        "systems": flow,
        "start": at(start_ms) if kept else None,
        "end": at(end_ms) if kept else None,
        "duration_ms": end_ms - start_ms,
        # what the events list: with --include-dropped the dropped ones too, counted in them (the header said
        # the stored events' errors alone above a timeline showing the dropped errors)
        "event_count": len(events),
        "dropped_count": sum(1 for e in events if e["rule"] is not None),
        "skew": {k: v.as_dict() for k, v in skews.items()},
        "skew_applied": skew,
        "spans": spans,
        "errors": {
            "count": sum(1 for e in events if e["level"] == "error"),
            "dropped_count": sum(1 for e in events if e["level"] == "error" and e["rule"] is not None),
            "first": errors[0] if errors else None,
            "chain": chain,
        },
        "gaps": gaps[:5],
        "requests": sorted(requests.values(), key=lambda r: (r["first_offset_ms"], r["request_id"])),
        "events": out_events,
    }
