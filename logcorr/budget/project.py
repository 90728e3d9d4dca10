"""`budget simulate`: a month projected from observed logs through the same rule engine as ingest.

The observed events (stored and dropped: the offered load) are tiled over the month — whole days
when a day or more was observed, else the smallest period that divides a day — optionally scaled,
and decided by a fresh engine with the policy. The result has the quota view (writes per system,
borrowing, the 80 %/95 % dates) and the dollar view (resources per pricing model).
"""

from __future__ import annotations

import calendar
import math
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from logcorr.budget.amplification import Amplification, usage
from logcorr.budget.limit import too_much_work
from logcorr.budget.pricing import PricingModel, price
from logcorr.errors import InputError, UsageError
from logcorr.model import SYSTEMS
from logcorr.render.text import visible
from logcorr.rules.policy import Policy
from logcorr.sim import load
from logcorr.sim.run import DAY_MS, Tiling, TooMuchWork, run_tiled
from logcorr.units import is_positive, say_count, say_duration

# periods that divide a day, so day boundaries stay aligned when a short observation is repeated
_PERIODS_MIN = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 16, 20, 24, 30, 32, 40, 45, 48, 60, 72, 80, 90, 96, 120, 144,
                160, 180, 240, 288, 360, 480, 720, 1440)  # fmt: skip

STORY_NOTE = (
    "The story's arithmetic does not hold: it prices 125,000 writes at $10, but Convex bills $2 per million "
    "function calls, so 125,000 calls cost $0.25. The quota (writes) and the price (dollars) are shown separately; "
    "the dollars come from function calls, database I/O and storage per the amplification model."
)


def _iso_day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")


def choose_period(span_ms: int) -> int:
    """Whole days for a day or more of data; else the smallest day-divisor of at least the span."""
    if span_ms >= DAY_MS:
        return math.ceil(span_ms / DAY_MS) * DAY_MS
    for minutes in _PERIODS_MIN:
        if minutes * 60_000 >= span_ms:
            return minutes * 60_000
    return DAY_MS


def month_start(first_ms: int, days: int | None) -> tuple[int, int, list[str]]:
    """(start ms, days, notes): the first day of the first event's month, long enough for `days`."""
    d = datetime.fromtimestamp(first_ms / 1000, tz=UTC)
    notes: list[str] = []
    length = calendar.monthrange(d.year, d.month)[1]
    if days is None:
        days = length
    if not 1 <= days <= 31:
        raise UsageError("--days must be between 1 and 31 (one budget month)")
    start = datetime(d.year, d.month, 1, tzinfo=UTC)
    if days > length:
        start = datetime(d.year, 1, 1, tzinfo=UTC)
        notes.append(f"{d:%B} has {length} days; simulated in January {d.year} (31 days) instead")
    return int(start.timestamp() * 1000), days, notes


def simulate(
    con: Any,
    policy: Policy,
    amp: Amplification,
    models: list[PricingModel],
    *,
    days: int | None = None,
    scale: float = 1.0,
    period_ms: int | None = None,
    source: dict[str, Any] | None = None,
    progress: Callable[[int, int, int], None] | None = None,
) -> dict[str, Any]:
    """Project a month from the events in the database behind `con` (see the module docstring).
    `period_ms` says how much time the observed events represent (default: their span, rounded up)."""
    if not is_positive(scale):
        raise UsageError("--scale must be positive, e.g. 10x or 0.5")
    n, lo, hi = load.recorded_base(con)
    if n == 0:
        raise InputError("no events to simulate from", load.no_events_hint(source))
    whole_span = hi - lo + 1
    n, lo, hi, strays = load.leave_out_strays(con, n, lo, hi)
    start, days, notes = month_start(lo, days)
    span = hi - lo + 1
    if period_ms is not None and period_ms < span:
        said, over = say_duration(span), span - period_ms
        if said == say_duration(period_ms):  # `1.0 h` both: say by how much the span is longer
            said += f", {over} ms longer" if over < 1000 else f", {say_duration(over)} longer"
        if strays:
            said += f", without {'; '.join(load.say_left_out(g) for g in strays)}"
        raise UsageError(
            f"--period ({say_duration(period_ms)}) is shorter than the observed span ({said})",
            "give a period at least as long as the data, or leave it out",
        )
    for g in strays:
        first_last = g["first"] if g["first"] == g["last"] else f"{g['first']} → {g['last']}"
        them = "it" if g["events"] == 1 else "them"
        # with --period the span does not set the tiling: "the span the month is tiled from would be 2.1 d" was
        # untrue of `--period 1d`, which the 2.1 d would have refused
        why = (
            f"with {them} the observed span the month is tiled from would be {say_duration(whole_span)}, not "
            f"{say_duration(span)}, and the load diluted as much"
            if period_ms is None
            else f"with {them} the observed span would be {say_duration(whole_span)}, not {say_duration(span)}; the "
            f"month is tiled from --period {say_duration(period_ms)}"
        )
        notes.append(
            f"left out: {load.say_left_out(g)} ({first_last}), on a browser's clock, which can be days off: {why}"
        )
    reach = load.browser_only_reach(con)
    if reach:
        notes.append(reach)
    period = period_ms or choose_period(span)
    end = start + days * DAY_MS
    copies = max(1, math.ceil(days * DAY_MS / period))
    if period > days * DAY_MS:
        # the tiling cuts at the month's end: say so, else the offered count reads as a projection of them all
        notes.append(
            f"the observed events span {period / DAY_MS:g} days, more than the {days}-day month: the month holds "
            f"the first {days} days of them, the rest are not simulated (--days, or fewer input files, to choose)"
        )
    tiling = Tiling(start, lo, period, copies, scale, end, n)
    try:
        res = run_tiled(con, tiling, policy, progress=progress, max_decided=load.MAX_DECIDED)
    except TooMuchWork as e:
        raise too_much_work(e) from None
    engine = res.engine
    st = engine.state
    systems: dict[str, Any] = {}
    offered_backend: dict[str, float] = {}
    for s in SYSTEMS:
        ss = st.systems.get(s)
        suppressed = res.dropped.get(("suppress", s), 0)
        offered_backend[s] = res.offered[s] - suppressed
        quota = engine.budget.quotas.get(s, 0)
        used = ss.used if ss else 0
        systems[s] = {
            "offered": res.offered[s],
            "accepted": res.accepted[s],
            "dropped": {rule: n for (rule, sys), n in sorted(res.dropped.items()) if sys == s},
            "quota": quota,
            "used": used,
            "borrowed": ss.borrowed if ss else 0,
            "lent": ss.lent if ss else 0,
            "used_pct_of_share": round(100 * used / quota, 2) if quota else None,
        }
    total_accepted = sum(res.accepted.values())
    monthly = policy.budget.monthly_writes
    thresholds = {}
    for key, pct in (
        ("warn", policy.budget.warn_pct),
        ("essential", policy.budget.essential_pct),
        ("cap", 100.0),
    ):
        m = next((m for m in st.moments if m.scope == "total" and m.pct == pct), None)
        thresholds[key] = {
            "pct": pct,
            "reached": load.iso_seconds(m.ts_ms) if m else None,
            "day": (m.ts_ms - start) // DAY_MS + 1 if m else None,
        }
    per_system_moments = [
        {
            "system": m.scope,
            "pct": m.pct,
            "reached": load.iso_seconds(m.ts_ms),
            "day": (m.ts_ms - start) // DAY_MS + 1,
        }
        for m in st.moments
        if m.scope != "total"
    ]
    use = usage(amp, offered_backend, dict(res.accepted), days)
    daily = []
    for day in range(days):
        row: dict[str, Any] = {"day": day + 1, "date": _iso_day(start + day * DAY_MS)}
        for s in SYSTEMS:
            off, acc = res.daily.get((day, s), (0, 0))
            row[f"{s}_offered"], row[f"{s}_accepted"] = off, acc
        daily.append(row)
    return {
        "source": source or {},
        "observed": {
            "events": n,
            "first": load.iso_seconds(lo),
            "last": load.iso_seconds(hi),
            "span_ms": span,
            "left_out": strays,
        },
        "month": {
            "start": _iso_day(start),
            "days": days,
            "period_ms": period,
            "copies": copies,
            "scale": scale,
        },
        "policy": {
            "monthly_writes": monthly,
            "shares": dict(policy.budget.shares),
            "digest": policy.digest(),
        },
        "systems": systems,
        "total": {
            "offered": sum(res.offered.values()),
            "accepted": total_accepted,
            "quota": monthly,
            "quota_pct": round(100 * total_accepted / monthly, 2),
        },
        "thresholds": thresholds,
        "system_thresholds": per_system_moments,
        "degraded": thresholds["essential"]["reached"] is not None,
        "usage": {k: round(v, 6) for k, v in use.items()},
        "costs": [price(m, use).as_dict() for m in models],
        "daily": daily,
        "notes": [*notes, STORY_NOTE],
    }


_NOTES_SHOWN = 20  # as many as the ingest summary lists


def with_inputs(
    paths: list[str], policy: Policy, local_tz: str | None = None
) -> tuple[Any, tempfile.TemporaryDirectory[str]]:
    """Ingest input files into a throw-away database (same pipeline, same rules); returns a connection.
    `local_tz`: the zone of times written without one, as `ingest --local-tz` takes it."""
    con, tmp, _ = read_inputs(paths, policy, local_tz)
    return con, tmp


_REASONS_SHOWN = 3  # as many as the ingest summary lists a file's


def read_inputs(
    paths: list[str], policy: Policy, local_tz: str | None = None
) -> tuple[Any, tempfile.TemporaryDirectory[str], dict[str, Any]]:
    """`with_inputs`, and how the files were read, as said on stderr: `notes` (the lines after `note: `, at
    most `_NOTES_SHOWN` of the files' own and one for the rejected lines, counted by reason), `rejected` and
    `reject_reasons` — for the reports a CI reader sees instead of stderr (`source` in the projection)."""
    from logcorr.pipeline.ingest import ingest
    from logcorr.store.query import open_read_only

    tmp = tempfile.TemporaryDirectory(prefix="logcorr-sim-")
    db = str(Path(tmp.name) / "sim.duckdb")
    result = ingest(paths, db, policy, local_tz=local_tz)
    con = open_read_only(db)
    # how the files were read, as ingest's summary says it: the zone `npx convex logs` text was read in moves
    # every backend event of the file, and with them the observed span the month is tiled from
    file_notes = [f"{f.name}: {note}" for f in result.files for note in f.stats.notes]
    said = file_notes[:_NOTES_SHOWN]
    if len(file_notes) > _NOTES_SHOWN:
        said.append(
            f"… {len(file_notes) - _NOTES_SHOWN} more notes (`logcorr ingest --json` lists every file's)"
        )
    reasons: Counter[str] = Counter()
    for f in result.files:
        reasons.update(f.reject_reasons)
    if result.rejected:
        # the projection leaves them out: said, so that a gate passing on half an export does not look whole
        top = reasons.most_common(_REASONS_SHOWN)
        why = "; ".join(f"{n} × {r}" for r, n in top)
        if len(reasons) > _REASONS_SHOWN:
            rest = sum(reasons.values()) - sum(n for _, n in top)
            why += f"; {rest} more for {say_count(len(reasons) - _REASONS_SHOWN, 'other reason')}"
        said.append(f"{say_count(result.rejected, 'input line')} could not be read and {'is' if result.rejected == 1 else 'are'} left out ({why}){_first_reject(con)}; "
                    "`logcorr ingest` of the same files says where each is")  # fmt: skip
    for note in said:  # a note names its file: a name's control characters made visible, not acted on
        sys.stderr.write(f"note: {visible(note)}\n")
    read = {"notes": said, "rejected": result.rejected, "reject_reasons": dict(reasons.most_common())}
    return con, tmp, read


def _first_reject(con: Any) -> str:
    """`, the first at exports/app.log:3 (not JSON)`: the file and line a reader can open (the note named neither)."""
    row = con.execute(
        "SELECT f.path, r.source_line, r.reason FROM rejects r JOIN ingest_files f "
        "ON f.run_id = r.run_id AND f.path = r.source_file ORDER BY r.run_id, f.file_id, r.source_line LIMIT 1"
    ).fetchone()
    if not row:
        return ""
    where = f"{row[0]}:{row[1]}" if row[1] > 0 else row[0]  # line 0: the file itself (a gzip cut off)
    return f", the first at {where} ({row[2]})"


def diff(current: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """What changed against an earlier `budget simulate --format json` result."""
    out: dict[str, Any] = {"systems": {}, "costs": {}}
    for s, cur in current["systems"].items():
        base = baseline.get("systems", {}).get(s, {})
        out["systems"][s] = {
            k: {"baseline": base.get(k), "current": cur.get(k), "delta": _delta(cur.get(k), base.get(k))}
            for k in ("offered", "accepted", "used")
        }
    out["quota_pct"] = {
        "baseline": baseline.get("total", {}).get("quota_pct"),
        "current": current["total"]["quota_pct"],
        "delta": _delta(current["total"]["quota_pct"], baseline.get("total", {}).get("quota_pct")),
    }
    base_costs = {c["model"]: c for c in baseline.get("costs", [])}
    for c in current["costs"]:
        b = base_costs.get(c["model"], {})
        out["costs"][c["model"]] = {
            "baseline": b.get("total_usd"),
            "current": c["total_usd"],
            "delta": _delta(c["total_usd"], b.get("total_usd")),
        }
    return out


def _delta(cur: Any, base: Any) -> float | None:
    if isinstance(cur, int | float) and isinstance(base, int | float):
        return round(cur - base, 6)
    return None
