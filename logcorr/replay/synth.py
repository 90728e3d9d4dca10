"""A scenario's events, generated in DuckDB SQL (`range()` and `hash()`, no Python loop per event), one
time window at a time, ready for the rule engine.

Every arrival of a flow is numbered (`k`); its time solves the flow's cumulative arrival count
(constant or linearly ramping rate per segment), so arrival k is the same wherever a window starts.
Every random choice (jitter, variant, probability, redelivery, trace id) is `hash(seed, flow, k, …)`,
so the same scenario and seed give the same events. A window emits the events whose *event* time
lies in it, from the arrivals that can reach it, so windows partition the events exactly.

Message text is redacted, matched against the suppression patterns and fingerprinted in Python once
per distinct template (step × variant), exactly as ingest stages an event, and joined in by id.
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa

from logcorr.errors import ConfigError
from logcorr.replay.scenario import Flow, Scenario
from logcorr.rules.fingerprint import fingerprint
from logcorr.rules.policy import Policy
from logcorr.rules.redact import Redactor, might_hold_secret
from logcorr.rules.suppress import Suppressor
from logcorr.sim.load import MAX_EVENTS
from logcorr.units import say_duration

MAX_TEMPLATES = 1_000_000
TARGET_CHUNK_EVENTS = 250_000
_P = 1_000_000  # probability resolution
_B36_SPACE = 36**9
PREFIX = {"trace": "trace_", "critical": "critical_"}


@dataclass(frozen=True)
class Segment:
    """A stretch of one flow with a linear rate: arrivals per ms `r0` at its start, slope `a` per ms²;
    it owns arrival numbers [k_lo, k_hi); `c0` is the flow's cumulative count at its start."""

    flow: int
    start: int
    dur: int
    r0: float
    a: float
    c0: float
    k_lo: int
    k_hi: int

    def count_at(self, t: float) -> float:
        t = min(max(t, 0.0), float(self.dur))
        return self.c0 + self.r0 * t + self.a * t * t / 2


@dataclass(frozen=True)
class Template:
    """One distinct message after redaction: what the engine and the report see of it."""

    system: str
    level: str
    message: str
    fingerprint: str
    suppressed: str | None
    redactions: Counter[str]


def segments(sc: Scenario) -> list[Segment]:
    """Every flow's rate segments, clipped to the scenario."""
    out: list[Segment] = []
    for fi, (_, flow) in enumerate(_enabled(sc)):
        out.extend(_flow_segments(fi, flow, sc))
    return out


def _enabled(sc: Scenario) -> list[tuple[str, Flow]]:
    return [(name, f) for name, f in sc.flows.items() if f.enabled]


def _flow_segments(fi: int, flow: Flow, sc: Scenario) -> list[Segment]:
    begin = sc.start_ms + flow.start
    end = sc.end_ms if flow.duration is None else min(sc.end_ms, begin + flow.duration)
    per_ms = sc.scale / flow.time_unit
    shapes: list[tuple[int, float, float]] = []  # (duration, rate at start, rate at end) per ms
    if flow.executor == "constant-arrival-rate":
        r = (flow.rate or 0.0) * per_ms
        shapes.append((end - begin, r, r))
    else:
        prev, t = flow.start_rate, begin
        while t < end:
            for st in flow.stages:
                shapes.append((st.duration, prev * per_ms, st.target * per_ms))
                prev, t = st.target, t + st.duration
                if t >= end:
                    break
            if not flow.cycle:
                break
    out: list[Segment] = []
    t, c = begin, 0.0
    for dur, r0, r1 in shapes:
        if t >= end:
            break
        a = (r1 - r0) / dur if dur else 0.0
        seg_dur = min(dur, end - t)
        c1 = c + r0 * seg_dur + a * seg_dur * seg_dur / 2
        # its arrivals alone are too many (and an infinite count has no integer bound for range())
        if not c1 <= MAX_EVENTS:
            _too_many(sc, c1)
        k_lo, k_hi = math.ceil(c - 1e-9), math.ceil(c1 - 1e-9)
        if seg_dur > 0:
            out.append(Segment(fi, t, seg_dur, r0, a, c, k_lo, k_hi))
        t, c = t + seg_dur, c1
    return out


def _too_many(sc: Scenario, events: float) -> None:
    about = f"about {events:,.3g}" if math.isfinite(events) else "an unbounded number of"
    raise ConfigError(
        f"scenario {sc.name} would generate {about} events; a replay takes at most {MAX_EVENTS:,}",
        "lower a flow's rate, the scale or the duration",
    )


def expected_events(sc: Scenario, segs: list[Segment]) -> float:
    """Events the scenario emits on average (arrivals × steps × probability × repeats × deliveries)."""
    per_arrival = [
        sum(s.probability * s.repeat * (1 + s.redeliver) for s in f.steps) for _, f in _enabled(sc)
    ]
    return sum((g.k_hi - g.k_lo) * per_arrival[g.flow] for g in segs)


def silent_flows(sc: Scenario, segs: list[Segment]) -> list[str]:
    """Why each enabled flow emits no event in the scenario's time (`flow flood starts at 10.0 h, at or after
    the scenario's end (3.0 h)`), one line per such flow: a prefix of `month` is meant, a typo is not."""
    arrivals = Counter[int]()
    for g in segs:
        arrivals[g.flow] += g.k_hi - g.k_lo
    out = []
    for fi, (name, flow) in enumerate(_enabled(sc)):
        if flow.start >= sc.duration:
            why = f"starts at {say_duration(flow.start)}, at or after the scenario's end ({say_duration(sc.duration)})"
        elif flow.duration == 0:
            why = "lasts 0 ms (its duration)"
        elif not arrivals[fi]:
            why = "has no arrival in its time (its rate is 0, or too low for its duration)"
        elif not any(s.probability for s in flow.steps):
            why = "has no step of probability above 0"
        else:
            continue
        out.append(f"flow {name} emits no event: it {why}")
    return out


def no_event_error(sc: Scenario, source: str, silent: list[str]) -> ConfigError:
    """A scenario that offers no event at all: its thresholds would pass whatever the policy does."""
    why = "; ".join(silent) if silent else "every flow is switched off (enabled = false)"
    return ConfigError(
        f"scenario {sc.name} ({source}) offers no event to replay: {why}",
        "check the flows' start, duration, rate and enabled (and --param); a threshold on no events passes "
        "whatever the policy",
    )


def build_templates(sc: Scenario, policy: Policy) -> tuple[list[Template], list[int]]:
    """Every distinct message, redacted, suppression-matched and fingerprinted as ingest would (once
    each), and the first template id of each step in flow order."""
    suppressor = Suppressor(policy.suppression)
    redact = policy.redaction.enabled
    templates: list[Template] = []
    firsts: list[int] = []
    for _, flow in _enabled(sc):
        for step in flow.steps:
            firsts.append(len(templates))
            if len(templates) + step.variants > MAX_TEMPLATES:
                raise ConfigError(f"scenario {sc.name} has more than {MAX_TEMPLATES:,} message variants")
            extra = _side_redactions(step.stack, step.context) if redact else Counter()
            for v in range(step.variants):
                text = step.message.replace("{v}", str(v))
                red = Redactor()
                if redact:
                    text = red.text(text)
                counts = red.counts + extra
                templates.append(
                    Template(step.system, step.level, text, fingerprint(text), suppressor.match(text), counts)
                )
    return templates, firsts


def _side_redactions(stack: str | None, context: dict[str, Any] | None) -> Counter[str]:
    """What redaction replaces in a step's stack and context (the same for each of its events)."""
    red = Redactor()
    if stack is not None:
        red.text(stack)
    if context:
        raw = orjson.dumps(context, option=orjson.OPT_NON_STR_KEYS).decode()
        if might_hold_secret(raw):
            red.value(context)
    return red.counts


def templates_table(templates: list[Template]) -> pa.Table:
    return pa.table(
        {
            "tpl": pa.array(range(len(templates)), pa.int32()),
            "system": pa.array([t.system for t in templates], pa.string()),
            "level": pa.array([t.level for t in templates], pa.string()),
            "fingerprint": pa.array([t.fingerprint for t in templates], pa.string()),
            "suppressed": pa.array([t.suppressed for t in templates], pa.string()),
            "message": pa.array([t.message for t in templates], pa.string()),
        }
    )


def instances_table(sc: Scenario, firsts: list[int]) -> pa.Table:
    """One row per (step, repeat, delivery): the step's offset, jitter, template range, odds. The
    moduli are UBIGINT like `hash()`, so `hash(…) % x` stays 64-bit (mixed types widen to HUGEINT, 7× slower);
    a jitter of 1 ms means none (x % 1 = 0), which keeps CASE out of the vectorised path."""
    cols: dict[str, list[Any]] = {k: [] for k in ("flow", "step", "inst", "dup", "dt", "jit", "tpl0", "variants",
                                                  "prob", "redeliver", "pre")}  # fmt: skip
    si = 0
    for fi, (_, flow) in enumerate(_enabled(sc)):
        inst = 0
        for step in flow.steps:
            for rep in range(step.repeat):
                for dup in (False, True) if step.redeliver > 0 else (False,):
                    row = (fi, si, inst, dup, step.after + rep * step.every, max(step.jitter, 1), firsts[si], step.variants,
                           round(step.probability * _P), round(step.redeliver * _P), PREFIX.get(flow.trace))  # fmt: skip
                    for k, v in zip(cols, row, strict=True):
                        cols[k].append(v)
                inst += 1
            si += 1
    types = {"flow": pa.int32(), "step": pa.int32(), "inst": pa.int32(), "dup": pa.bool_(), "dt": pa.int64(),
             "jit": pa.uint64(), "tpl0": pa.int32(), "variants": pa.uint64(), "prob": pa.uint64(),
             "redeliver": pa.uint64(), "pre": pa.string()}  # fmt: skip
    return pa.table({k: pa.array(v, types[k]) for k, v in cols.items()})


def _double(x: float) -> str:
    """A float literal DuckDB reads as DOUBLE (a plain decimal literal becomes DECIMAL, and overflows)."""
    return f"CAST({x!r} AS DOUBLE)"


def _segment_sql(g: Segment, flow: Flow, sc: Scenario, w0: int, w1: int) -> str | None:
    """Arrivals of segment `g` whose (unjittered) time can fall in [w0, w1)."""
    lo = max(g.k_lo, math.floor(g.count_at(w0 - g.start - flow.jitter)) - 1)
    hi = min(g.k_hi, math.ceil(g.count_at(w1 - g.start)) + 1)
    if hi <= lo:
        return None
    seed, fi = int(sc.seed), g.flow
    c0, r0, a = _double(g.c0), _double(g.r0), _double(g.a)
    x = f"(k - {c0})"
    # the arrival time solving c0 + r0·t + a·t²/2 = k, in the form that is stable as a → 0
    t = f"CASE WHEN {x} <= 0 THEN 0.0 ELSE 2 * {x} / ({r0} + sqrt(greatest(0.0, {r0} * {r0} + 2 * {a} * {x}))) END"
    ats = f"{g.start} + CAST(floor({t}) AS BIGINT)"
    if flow.jitter > 0:
        ats += f" + CAST(hash({seed}, {fi}, k, 11) % {flow.jitter} AS BIGINT)"
    if flow.trace == "none":
        tkey, tms = "NULL::BIGINT", "NULL::BIGINT"
    elif flow.sessions:
        flow_start = sc.start_ms + flow.start
        tkey = f"CAST(hash({seed}, {fi}, k, 12) % {flow.sessions} AS BIGINT)"
        tms = f"{flow_start} + {tkey}"
    else:
        tkey, tms = "k", "ats"
    return (
        f"SELECT {fi} AS flow, k, ats, {tkey} AS tkey, {tms} AS tms "
        f"FROM (SELECT k, {ats} AS ats FROM range({lo}, {hi}) r(k))"
    )


class SyntheticLoad:
    """A scenario as a load for the replay driver (see `logcorr.replay.drive`). Its connection is its
    own in-memory database, so its two tables are plain tables that a second cursor can read."""

    kind = "scenario"
    prefetch = True

    def __init__(self, sc: Scenario, source: str, params: dict[str, str]) -> None:
        self.scenario = sc
        self.source = source
        self.params = params
        self.start_ms = sc.start_ms
        self.end_ms = sc.end_ms
        self.segments = segments(sc)
        self.flows = [f for _, f in _enabled(sc)]
        self.horizon = max((f.span_ms for f in self.flows), default=0)
        self.expected = expected_events(sc, self.segments)
        if not self.expected <= MAX_EVENTS:
            _too_many(sc, self.expected)
        # a flow started after the end replayed 0 events, exit 0, and `cost_usd<10` passed on nothing
        self.notes = silent_flows(sc, self.segments)
        if not self.expected:
            raise no_event_error(sc, source, self.notes)
        for note in self.notes:
            sys.stderr.write(f"note: {note}\n")
        self.templates: list[Template] = []
        self._by_tpl: tuple[list[Any], ...] = ([], [], [], [])
        self.view = """SELECT c.ts_ms, t.system, t.level, c.trace_id, t.fingerprint, c.tpl, c.d
                       FROM replay_chunk_raw c JOIN replay_templates t ON t.tpl = c.tpl"""

    def header(self) -> dict[str, Any]:
        sc = self.scenario
        return {"kind": self.kind, "name": sc.name, "description": sc.description, "source": self.source,
                "seed": sc.seed, "params": self.params, "scale": sc.scale,
                "flows": [name for name, _ in _enabled(sc)]}  # fmt: skip

    def prepare(self, con: Any, policy: Policy) -> None:
        """Templates (for this policy's redaction and suppression) and step instances as tables."""
        self.templates, firsts = build_templates(self.scenario, policy)
        intern: dict[str, str] = {}
        self._by_tpl = tuple(
            [intern.setdefault(v, v) if v is not None else None for v in vals]
            for vals in zip(
                *((t.system, t.level, t.fingerprint, t.suppressed) for t in self.templates), strict=True
            )
        )
        for name, table in (("replay_templates", templates_table(self.templates)),
                            ("replay_inst", instances_table(self.scenario, firsts))):  # fmt: skip
            con.register("_replay_arrow", table)
            con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _replay_arrow")
            con.unregister("_replay_arrow")

    def windows(self) -> list[tuple[int, int]]:
        """Time windows of about TARGET_CHUNK_EVENTS events each, whole minutes, covering the scenario."""
        span = self.end_ms - self.start_ms
        per_ms = self.expected / span if span else 0.0
        width = int(TARGET_CHUNK_EVENTS / per_ms) if per_ms > 0 else span
        width = max(60_000, min(span, width // 60_000 * 60_000 or 60_000))
        out, t = [], self.start_ms
        while t < self.end_ms:
            out.append((t, min(self.end_ms, t + width)))
            t += width
        return out

    def chunk_sql(self, c0: int, c1: int) -> str | None:
        """The events in [c0, c1), in event-time order (ties: flow, arrival, step, original first)."""
        parts = []
        for g in self.segments:
            flow = self.flows[g.flow]
            if g.start >= c1 or g.start + g.dur + self.horizon < c0:
                continue
            sql = _segment_sql(g, flow, self.scenario, c0 - self.horizon, c1)
            if sql is not None:
                parts.append(sql)
        if not parts:
            return None
        seed = int(self.scenario.seed)
        arrivals = "\nUNION ALL\n".join(parts)
        return f"""
        WITH arr AS ({arrivals}),
        ev AS (
            SELECT a.flow, a.k, a.tkey, a.tms, i.inst, i.dup, i.pre,
                   a.ats + i.dt + CAST(hash({seed}, a.flow, a.k, i.inst, 21) % i.jit AS BIGINT) AS ts_ms,
                   i.tpl0 + CAST(hash({seed}, a.flow, a.k, 22) % i.variants AS INTEGER) AS tpl
            FROM arr a JOIN replay_inst i ON i.flow = a.flow
            WHERE (i.prob >= {_P} OR hash({seed}, a.flow, a.k, i.step, 23) % {_P} < i.prob)
              AND (NOT i.dup OR hash({seed}, a.flow, a.k, i.inst, 24) % {_P} < i.redeliver)
        ),
        win AS (
            SELECT *, CAST(hash({seed}, flow, tkey, 13) % {_B36_SPACE} AS BIGINT) AS th
            FROM ev WHERE ts_ms >= {int(c0)} AND ts_ms < {int(c1)}
        )
        SELECT ts_ms, CASE WHEN tkey IS NULL OR pre IS NULL THEN NULL
                           ELSE pre || tms || '_' || lower(to_base(th, 36, 9)) END AS trace_id, dup, tpl
        FROM win
        ORDER BY ts_ms, flow, k, inst, dup
        """

    def columns(self, batch: pa.RecordBatch) -> dict[str, list[Any]]:
        """Engine columns: the template's strings are shared objects (their hashes computed once)."""
        tpl = batch.column("tpl").to_pylist()
        get = self._by_tpl
        return {
            "ts_ms": batch.column("ts_ms").to_pylist(),
            "system": list(map(get[0].__getitem__, tpl)),
            "level": list(map(get[1].__getitem__, tpl)),
            "trace_id": batch.column("trace_id").to_pylist(),
            "fingerprint": list(map(get[2].__getitem__, tpl)),
            "suppressed": list(map(get[3].__getitem__, tpl)),
            "dup": batch.column("dup").to_pylist(),
        }

    def redactions(self, con: Any) -> Counter[str]:
        """Redactions over every generated event: each template's counts times its events."""
        out: Counter[str] = Counter()
        for tpl, n in con.execute(
            "SELECT tpl, sum(n) FROM replay_agg_msg WHERE tpl IS NOT NULL GROUP BY tpl"
        ).fetchall():
            for kind, c in self.templates[tpl].redactions.items():
                out[kind] += c * int(n)
        return out
