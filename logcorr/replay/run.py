"""A replay's result: drive the engine over a load (`drive.drive`), then read the aggregates back as
one JSON-ready dict — totals, per-system quota use, a time series, budget phases, trace integrity,
the loop check, redactions, top messages, dollars — with a flat `metrics` map that `--assert` reads.
`compare` runs the same load under two policies."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from logcorr.budget.amplification import Amplification, usage
from logcorr.budget.pricing import PricingModel, price
from logcorr.model import SYSTEMS
from logcorr.replay.drive import LOOP_CHECK_MS, PHASES, Load, Tally, drive
from logcorr.rules.clock import iso
from logcorr.rules.engine import RULES
from logcorr.rules.policy import Policy
from logcorr.rules.redact import kinds as redact_kinds

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
MONTH_MS = 30 * DAY_MS
NOISE_RULES = ("suppress", "duplicate", "loop", "cross_system")


@dataclass(frozen=True)
class Options:
    """How to price and present a replay."""

    models: tuple[PricingModel, ...]
    amplification: Amplification
    cost_model: str = "story"
    bucket_ms: int | None = None  # None: a minute up to a day of load, else an hour
    top: int = 10


def replay(
    con: Any,
    load: Load,
    policy: Policy,
    opts: Options,
    *,
    policy_source: str | None = None,
    progress: Callable[[int, int, int], None] | None = None,
) -> dict[str, Any]:
    """Decide `load` under `policy` and return the result (see the module docstring)."""
    tally = drive(con, load, policy, progress=progress)
    return _result(con, load, policy, opts, tally, policy_source)


def compare(
    con: Any,
    load: Load,
    policies: tuple[Policy, Policy],
    sources: tuple[str | None, str | None],
    opts: Options,
    *,
    progress: Callable[[int, int, int], None] | None = None,
) -> dict[str, Any]:
    """The same load under two policies: the first result, with the second under `compare`."""
    a = replay(con, load, policies[0], opts, policy_source=sources[0], progress=progress)
    b = replay(con, load, policies[1], opts, policy_source=sources[1], progress=progress)
    delta = {}
    for k, va in a["metrics"].items():
        vb = b["metrics"].get(k)
        if isinstance(va, int | float) and isinstance(vb, int | float):
            delta[k] = round(vb - va, 6)
    a["compare"] = {"policy": b["policy"], "result": b, "delta": delta}
    return a


def _result(
    con: Any, load: Load, policy: Policy, opts: Options, tally: Tally, source: str | None
) -> dict[str, Any]:
    codes = tally.codes
    engine = tally.engine
    per: dict[str, dict[str, Any]] = {}
    for system, d, n in con.execute(
        "SELECT system, d, sum(n) FROM replay_agg_minute GROUP BY ALL ORDER BY ALL"
    ).fetchall():
        row = per.setdefault(system, {"offered": 0, "accepted": 0, "dropped": Counter()})
        row["offered"] += int(n)
        if d == 0:
            row["accepted"] += int(n)
        else:
            row["dropped"][codes[d]] += int(n)
    names = [*SYSTEMS, *sorted(set(per) - set(SYSTEMS))]
    systems: dict[str, Any] = {}
    for s in names:
        row = per.get(s, {"offered": 0, "accepted": 0, "dropped": Counter()})
        ss = engine.state.systems.get(s)
        quota = engine.budget.quotas.get(s, 0)
        used = ss.used if ss else 0
        systems[s] = {
            "offered": row["offered"],
            "accepted": row["accepted"],
            "dropped": {r: row["dropped"][r] for r in _rule_order(row["dropped"])},
            "quota": quota,
            "used": used,
            "borrowed": ss.borrowed if ss else 0,
            "lent": ss.lent if ss else 0,
            "quota_pct": round(100 * used / quota, 2) if quota else None,
        }
    dropped: Counter[str] = Counter()
    for v in systems.values():
        dropped.update(v["dropped"])
    offered = sum(v["offered"] for v in systems.values())
    accepted = sum(v["accepted"] for v in systems.values())
    start, end = load.start_ms, load.end_ms
    span = max(1, end - start)
    months = _months(con, policy)
    quota_pct = max((m["pct"] for m in months), default=0.0)
    integrity = 1.0 if tally.multi_system == 0 else round(1 - tally.cut / tally.multi_system, 6)
    phases = _phases(con, codes)
    essential = _essential(phases, policy)
    redactions = load.redactions(con)
    costs = _costs(systems, opts, policy, span)
    chosen = next((c for c in costs if c["model"] == opts.cost_model), None)
    totals = {
        "offered": offered,
        "accepted": accepted,
        "dropped": {r: dropped[r] for r in _rule_order(dropped)},
    }
    metrics: dict[str, Any] = {
        "events": offered,
        "accepted": accepted,
        "dropped": offered - accepted,
        "accepted_pct": round(100 * accepted / offered, 4) if offered else 0.0,
        "events_per_s": round(offered / (span / 1000), 4),
        **{f"dropped.{r}": dropped[r] for r in RULES},
        "quota_pct": quota_pct,
        "cost_usd": chosen["month_usd"] if chosen else None,
        "replay_cost_usd": chosen["replay_usd"] if chosen else None,
        **{f"cost_usd.{c['model']}": c["month_usd"] for c in costs},
        "trace_integrity": integrity,
        "traces.multi_system": tally.multi_system,
        "traces.cut": tally.cut,
        "traces.refused_whole": tally.refused_whole,
        "max_identical_per_s": tally.max_identical,
        "essential.errors_offered": essential["offered"],
        "essential.errors_accepted": essential["accepted"],
        "essential.errors_dropped_by_budget": essential["dropped_by_budget"],
        "essential.errors_through": essential["through"],
        "redactions": sum(redactions.values()),
        # every kind the redactor counts, 0 when none (`redactions.jwt==0` is the useful CI check), and any other
        # kind a recorded replay's `[REDACTED:kind]` markers name
        **{
            f"redactions.{k}": n
            for k, n in sorted({**dict.fromkeys(redact_kinds(), 0), **redactions}.items())
        },
    }
    for s, v in systems.items():
        metrics.update({f"{s}.offered": v["offered"], f"{s}.accepted": v["accepted"],
                        f"{s}.dropped": v["offered"] - v["accepted"], f"{s}.used": v["used"],
                        f"{s}.quota_pct": v["quota_pct"], f"{s}.borrowed": v["borrowed"], f"{s}.lent": v["lent"]})  # fmt: skip
        metrics.update({f"{s}.dropped.{r}": v["dropped"].get(r, 0) for r in RULES})
    header = {
        **load.header(),
        "start": iso(start),
        "end": iso(end),
        "span_ms": span,
        "windows": tally.windows,
    }
    moments = sorted(engine.state.moments, key=lambda m: (m.ts_ms, m.scope, m.pct))
    return {
        "replay": header,
        "policy": {
            "source": source or "default (the story's numbers)",
            "digest": policy.digest(),
            "monthly_writes": policy.budget.monthly_writes,
            "shares": dict(policy.budget.shares),
        },
        "metrics": metrics,
        "systems": systems,
        "totals": totals,
        "quota": {
            "monthly_writes": policy.budget.monthly_writes,
            "months": months,
            "moments": [
                {
                    "month": m.month,
                    "scope": m.scope,
                    "pct": m.pct,
                    "at": iso(m.ts_ms),
                    "used": m.used,
                    "quota": m.quota,
                }
                for m in moments
            ],
        },
        "phases": phases,
        "trace_integrity": {
            "integrity": integrity,
            "multi_system_traces": tally.multi_system,
            "cut": tally.cut,
            "refused_whole": tally.refused_whole,
            "engine": tally.stats,
        },
        "loop": {
            "max_identical_per_s": tally.max_identical,
            "window_ms": LOOP_CHECK_MS,
            "policy_max_identical": policy.loop.max_identical,
            "policy_window_ms": policy.loop.window_ms,
        },
        "redactions": dict(sorted(redactions.items())),
        "messages": _messages(con, load, codes, opts.top),
        "cost_model": opts.cost_model,
        "costs": costs,
        "series": _series(con, codes, start, end, opts.bucket_ms),
        "notes": [*getattr(load, "notes", []), *_notes(span)],
    }


def _rule_order(c: Counter[str]) -> list[str]:
    known = [r for r in RULES if c.get(r)]
    return known + sorted(r for r in c if r not in RULES and c[r])


def _months(con: Any, policy: Policy) -> list[dict[str, Any]]:
    rows = con.execute(
        """SELECT strftime(make_timestamp(minute * 60000000), '%Y-%m') AS month, sum(n) FILTER (WHERE d = 0)
           FROM replay_agg_minute GROUP BY 1 ORDER BY 1"""
    ).fetchall()
    monthly = policy.budget.monthly_writes
    return [
        {"month": m, "accepted": int(a or 0), "pct": round(100 * int(a or 0) / monthly, 4)} for m, a in rows
    ]


def _phases(con: Any, codes: list[str]) -> dict[str, Any]:
    """Per budget phase and level: offered, accepted, dropped by rule."""
    out: dict[str, Any] = {}
    rows = con.execute(
        "SELECT phase, level, d, sum(n) FROM replay_agg_phase GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    for phase, level, d, n in rows:
        row = out.setdefault(phase, {}).setdefault(level, {"offered": 0, "accepted": 0, "dropped": {}})
        row["offered"] += int(n)
        if d == 0:
            row["accepted"] += int(n)
        else:
            row["dropped"][codes[d]] = row["dropped"].get(codes[d], 0) + int(n)
    return {p: out[p] for p in PHASES if p in out}


def _essential(phases: dict[str, Any], policy: Policy) -> dict[str, Any]:
    """Error-level events (the policy's essential levels) while only essential logs pass (≥ 95 %, before
    the cap): offered net of the noise rules, stored, and refused by the budget."""
    offered = accepted = by_budget = 0
    for level, row in phases.get("essential", {}).items():
        if level not in policy.budget.essential_levels:
            continue
        offered += row["offered"] - sum(row["dropped"].get(r, 0) for r in NOISE_RULES)
        accepted += row["accepted"]
        by_budget += row["dropped"].get("budget", 0)
    through = round(accepted / offered, 6) if offered else None
    return {"offered": offered, "accepted": accepted, "dropped_by_budget": by_budget, "through": through}


def _messages(con: Any, load: Load, codes: list[str], top: int) -> list[dict[str, Any]]:
    """The `top` messages by offered events, with their (redacted) text and what happened to them."""
    rows = con.execute(
        f"""
        WITH m AS (SELECT system, level, fingerprint, min(tpl) AS tpl, sum(n) AS offered
                   FROM replay_agg_msg GROUP BY ALL ORDER BY offered DESC, system, level, fingerprint LIMIT {min(int(top), 1 << 62)})
        SELECT m.system, m.level, m.fingerprint, m.tpl, m.offered, a.d, sum(a.n)
        FROM m JOIN replay_agg_msg a USING (system, level, fingerprint)
        GROUP BY ALL ORDER BY m.offered DESC, m.system, m.level, m.fingerprint, a.d
        """
    ).fetchall()
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for system, level, fp, tpl, offered, d, n in rows:
        row = out.setdefault((system, level, fp), {"system": system, "level": level, "fingerprint": fp, "tpl": tpl,
                                                   "offered": int(offered), "accepted": 0, "dropped": {}})  # fmt: skip
        if d == 0:
            row["accepted"] += int(n)
        else:
            row["dropped"][codes[d]] = int(n)
    texts: dict[str, str] = {}
    templates = getattr(load, "templates", None)
    if not templates and hasattr(load, "texts"):
        texts = load.texts(con, [k[2] for k in out])
    result = []
    for row in out.values():
        tpl = row.pop("tpl")
        row["message"] = (
            templates[tpl].message if templates and tpl is not None else texts.get(row["fingerprint"], "")
        )
        result.append(row)
    return result


def _costs(systems: dict[str, Any], opts: Options, policy: Policy, span_ms: int) -> list[dict[str, Any]]:
    """Per pricing model: the replay's own usage, and the replay's rate held for a 30-day month with the
    stored writes capped at the monthly quota (the engine never exceeds it)."""
    offered = {s: float(v["offered"] - v["dropped"].get("suppress", 0)) for s, v in systems.items()}
    accepted = {s: float(v["accepted"]) for s, v in systems.items()}
    f = MONTH_MS / span_ms
    m_off = {s: v * f for s, v in offered.items()}
    m_acc = {s: v * f for s, v in accepted.items()}
    total = sum(m_acc.values())
    if policy.budget.enabled and total > policy.budget.monthly_writes:
        m_acc = {s: v * policy.budget.monthly_writes / total for s, v in m_acc.items()}
    u_replay = usage(opts.amplification, offered, accepted, span_ms / DAY_MS)
    u_month = usage(opts.amplification, m_off, m_acc, MONTH_MS / DAY_MS)
    out = []
    for model in opts.models:
        r, m = price(model, u_replay), price(model, u_month)
        out.append({"model": model.name, "title": model.title, "as_of": model.as_of.isoformat(),
                    "replay_usd": round(r.total_usd, 6), "month_usd": round(m.total_usd, 6),
                    "month_list_usd": round(m.list_usd, 6), "month_writes": round(u_month["writes"], 2)})  # fmt: skip
    return out


def bucket_for(span_ms: int, bucket_ms: int | None) -> int:
    """The series bucket: as given (whole minutes), else a minute up to a day of load, else an hour."""
    if bucket_ms is not None:
        return max(MINUTE_MS, bucket_ms // MINUTE_MS * MINUTE_MS)
    return MINUTE_MS if span_ms <= DAY_MS else HOUR_MS


def _series(con: Any, codes: list[str], start: int, end: int, bucket_ms: int | None) -> dict[str, Any]:
    """Per system and bucket: offered, accepted and dropped by rule (columnar arrays)."""
    bucket = bucket_for(end - start, bucket_ms)
    s0 = start // MINUTE_MS * MINUTE_MS
    nb = max(1, -(-(end - s0) // bucket))
    out: dict[str, Any] = {}
    rows = con.execute(
        f"SELECT (minute * 60000 - {s0}) // {bucket} AS b, system, d, sum(n) FROM replay_agg_minute GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    for b, system, d, n in rows:
        sys_row = out.setdefault(system, {"offered": [0] * nb, "accepted": [0] * nb, "dropped": {}})
        i = min(max(int(b), 0), nb - 1)
        sys_row["offered"][i] += int(n)
        if d == 0:
            sys_row["accepted"][i] += int(n)
        else:
            arr = sys_row["dropped"].setdefault(codes[d], [0] * nb)
            arr[i] += int(n)
    ordered = {s: out[s] for s in [*SYSTEMS, *sorted(set(out) - set(SYSTEMS))] if s in out}
    return {"start": iso(s0), "bucket_ms": bucket, "buckets": nb, "systems": ordered}


def _notes(span_ms: int) -> list[str]:
    notes = [
        "cost_usd is a 30-day month at the replay's rate: offered and stored events scaled by 30 days / "
        f"{span_ms / DAY_MS:.4g} days, stored writes capped at the monthly quota as the engine caps them; "
        "replay_cost_usd prices the replayed events alone.",
        "The story prices 125,000 writes at $10; at Convex's $2 per million function calls they cost $0.25. "
        "See docs/budget.md: the dollars of a real plan come from function calls, database I/O and fixed fees.",
    ]
    return notes
