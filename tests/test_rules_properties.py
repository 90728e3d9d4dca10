"""Invariants of the rules on random event streams (Hypothesis): the monthly quota is never exceeded,
no 1-second window holds more than 5 stored identical messages, cross-system copies are kept once,
decisions do not depend on batching and repeat byte for byte, and no secret reaches the database."""

from __future__ import annotations

import string
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logcorr.pipeline.ingest import ingest
from logcorr.rules.clock import month_of
from logcorr.rules.engine import RULES, Engine, hot_flags_sql
from logcorr.rules.persist import load_state, save_state
from logcorr.rules.policy import Policy
from logcorr.rules.redact import Redactor, contains_secret
from logcorr.store.schema import migrate_schema

T0 = 1_717_200_000_000 - 3 * 86_400_000  # a few days before a month boundary

SYSTEMS = ("browser", "worker", "backend")
LEVELS = ("log", "info", "warn", "error")
FPS = ("a", "b", "c", "d")
TRACES = (None, "t1", "t2", "t3", "critical_t4")


def events_after(gaps: st.SearchStrategy[int]) -> st.SearchStrategy[tuple[Any, ...]]:
    """An event `gaps` ms after the one before: (gap, system, level, trace, fingerprint, suppressed, dup)."""
    return st.tuples(
        gaps,
        st.sampled_from(SYSTEMS),
        st.sampled_from(LEVELS),
        st.sampled_from(TRACES),
        st.sampled_from(FPS),
        st.sampled_from((None,) * 20 + ("[HMR]",)),
        st.sampled_from((0,) * 20 + (1,)),
    )


event = events_after(
    st.one_of(st.just(0), st.integers(0, 400), st.integers(0, 5_000), st.integers(0, 2 * 86_400_000))
)
policies = st.builds(
    lambda q, tiers, grace, lending: Policy.model_validate(
        {
            "budget": {"monthly_writes": q, "lending": lending},
            "rate_limit": {"tiers": tiers},
            "trace_aware": {"grace_pct": grace},
        }
    ),
    st.integers(5, 80),
    st.sampled_from([[50, 25, 12, 6], [8, 4, 2, 1], [3]]),
    st.sampled_from([0.0, 50.0, 100.0]),
    st.sampled_from(["prorated", "unused"]),
)


def columns(events: list[tuple[Any, ...]]) -> list[dict[str, list[Any]]]:
    t = T0
    rows = []
    for pos, (gap, system, level, trace, fp, sup, dup) in enumerate(events, start=1):
        t += gap
        rows.append((pos, t, system, level, trace, fp, sup, dup))
    names = ("pos", "ts_ms", "system", "level", "trace_id", "fingerprint", "suppressed", "dup")
    return [{n: [r[i] for r in rows] for i, n in enumerate(names)}]


def run(policy: Policy, cols: dict[str, list[Any]], batch: int = 0) -> list[tuple[Any, ...]]:
    engine = Engine(policy)
    n = len(cols["pos"])
    size = batch or n or 1
    out = []
    for start in range(0, n, size):
        out.extend(engine.process({k: v[start : start + size] for k, v in cols.items()}))
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(event, max_size=250), policy=policies, batch=st.integers(1, 40))
def test_rules_hold_their_invariants_on_any_stream(
    events: list[tuple[Any, ...]], policy: Policy, batch: int
) -> None:
    (cols,) = columns(events)
    drops = run(policy, cols)
    dropped = {d[0] for d in drops}
    kept = [i for i, p in enumerate(cols["pos"]) if p not in dropped]

    # every drop names a rule and carries a JSON snapshot
    assert all(
        rule in RULES and reason and isinstance(orjson.loads(state), dict) for _, rule, reason, state in drops
    )

    # the monthly quota is never exceeded
    per_month = Counter(month_of(cols["ts_ms"][i])[0] for i in kept)
    assert all(n <= policy.budget.monthly_writes for n in per_month.values())

    # no window of 1000 ms holds more than 5 stored identical messages (system, level, text)
    copies: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for i in kept:
        copies[(cols["system"][i], cols["level"][i], cols["fingerprint"][i])].append(cols["ts_ms"][i])
    for times in copies.values():
        assert all(times[j + 5] - times[j] >= 1000 for j in range(len(times) - 5))

    # a message of one trace stored by two systems: the copies are more than the window apart
    by_trace: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
    for i in kept:
        if cols["trace_id"][i] is not None:
            by_trace[(cols["trace_id"][i], cols["fingerprint"][i])].append(
                (cols["ts_ms"][i], cols["system"][i])
            )
    for stored in by_trace.values():
        for a, (ta, sa) in enumerate(stored):
            assert all(tb - ta > 2000 for tb, sb in stored[a + 1 :] if sb != sa)

    # suppressed and redelivered events are never stored
    assert not any(cols["suppressed"][i] is not None or cols["dup"][i] for i in kept)

    # the same stream in other batches, and again: the same decisions, byte for byte
    assert run(policy, cols, batch) == drops
    assert run(policy, cols) == drops


_TYPES = {"pos": pa.int64(), "ts_ms": pa.int64(), "dup": pa.int8()}


def with_hot_flags(cols: dict[str, list[Any]], policy: Policy) -> dict[str, list[Any]]:
    """`cols` plus the hot flags, computed by the SQL ingest uses."""
    table = pa.table({k: pa.array(v, _TYPES.get(k, pa.string())) for k, v in cols.items()})
    con = duckdb.connect()
    try:
        con.register("events", table)
        return (
            con.sql(f"SELECT *, {hot_flags_sql(policy)} FROM events ORDER BY pos")
            .to_arrow_table()
            .to_pydict()
        )
    finally:
        con.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(event, max_size=200), policy=policies, cut=st.integers(0, 200))
def test_hot_flags_from_sql_change_no_decision_even_across_ingests(
    events: list[tuple[Any, ...]], policy: Policy, cut: int
) -> None:
    (cols,) = columns(events)
    expected = run(policy, cols)
    # two "ingests": each computes its own flags; the second engine continues the first one's state
    first = {k: v[:cut] for k, v in cols.items()}
    second = {k: v[cut:] for k, v in cols.items()}
    engine = Engine(policy)
    got = engine.process(with_hot_flags(first, policy)) if first["pos"] else []
    later = Engine(policy, engine.state)
    got += later.process(with_hot_flags(second, policy)) if second["pos"] else []
    assert got == expected


# gaps that land exactly on the rules' edges: the loop and cross-system windows, a minute, a refusal, an hour
edge_event = events_after(
    st.one_of(st.just(0), st.integers(0, 400), st.sampled_from((999, 1000, 1999, 2000, 2001, 59_999, 60_000,
                                                                  3_599_999, 3_600_000, 2 * 86_400_000)))
)  # fmt: skip


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=st.lists(edge_event, max_size=150),
    policy=policies,
    cut=st.integers(0, 150),
    compiled=st.booleans(),
)
def test_an_ingest_split_in_two_through_the_saved_state_decides_as_one_run(
    events: list[tuple[Any, ...]], policy: Policy, cut: int, compiled: bool
) -> None:
    """What `save_state` writes and `load_state` reads back is all the rules need: the second half decided
    after a save and a load (an ingest after an ingest) drops what one run over both halves drops."""
    (cols,) = columns(events)
    whole = Engine(policy, compiled=compiled).process(cols)
    first = {k: v[:cut] for k, v in cols.items()}
    second = {k: v[cut:] for k, v in cols.items()}
    con = duckdb.connect()
    try:
        migrate_schema(con)
        engine = Engine(policy, compiled=compiled)
        got = engine.process(first) if first["pos"] else []
        save_state(con, engine.state, policy, 1)
        later = Engine(policy, load_state(con, policy), compiled=compiled)
        got += later.process(second) if second["pos"] else []
    finally:
        con.close()
    assert got == whole


@settings(max_examples=200, deadline=None)
@given(events=st.lists(event, min_size=1, max_size=200))
def test_non_critical_events_stay_within_the_first_tier_plus_grace_per_system_minute(
    events: list[tuple[Any, ...]],
) -> None:
    policy = Policy.model_validate({"rate_limit": {"tiers": [4, 2, 1]}, "budget": {"enabled": False}})
    (cols,) = columns(events)
    dropped = {d[0] for d in run(policy, cols)}
    per_minute: Counter[tuple[str, int]] = Counter()
    for i, p in enumerate(cols["pos"]):
        critical = cols["level"][i] == "error" or "critical_" in (cols["trace_id"][i] or "")
        if p not in dropped and not critical:
            per_minute[(cols["system"][i], cols["ts_ms"][i] // 60_000)] += 1
    assert all(n <= 4 + 2 for n in per_minute.values())  # limit 4 + grace 50 %


# -- redaction ----------------------------------------------------------------------------------------

token = st.text("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789", min_size=24, max_size=40)
# filler around a secret: any text but ASCII letters and digits, so it never holds a secret's value itself
filler = st.text(
    st.characters(
        codec="utf-8", exclude_categories=("Cs",), exclude_characters=string.ascii_letters + string.digits
    ),
    max_size=30,
)

SECRET_TEMPLATES = (
    "access_token={t}",
    '"refresh_token": "{t}"',
    "client_secret={t}",
    "password: {t}",
    "Authorization: Bearer {t}",
    "eyJhbGciOiJIUzI1NiJ9.eyJ{t}.{t}",
    "sk-proj-{t}",
    "ghp_{t36}",
    "AKIA{u}",
    "AIza{t35}",
    "Cookie: sid={t}; theme=dark",
    "https://admin:{t}@db.example.com/x",
)


@st.composite
def secret_text(draw: st.DrawFn) -> tuple[str, str]:
    """(text with one secret between random filler, the secret's value)."""
    t = draw(token)
    template = draw(st.sampled_from(SECRET_TEMPLATES))
    value = t.upper()[:16].ljust(16, "A") if "{u}" in template else t[:20]
    secret = template.format(t=t, u=value, t35=(t * 2)[:35], t36=(t * 2)[:36])
    return f"{draw(filler)} {secret} {draw(filler)}", value


@settings(max_examples=400, deadline=None)
@given(case=secret_text())
def test_redacted_text_holds_no_secret_and_redacting_again_changes_nothing(case: tuple[str, str]) -> None:
    text, value = case
    out = Redactor().text(text)
    assert not contains_secret(out)
    assert value not in out
    assert Redactor().text(out) == out


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cases=st.lists(secret_text(), min_size=1, max_size=6))
def test_no_redaction_pattern_matches_anything_stored(
    cases: list[tuple[str, str]], tmp_path_factory: Any
) -> None:
    tmp = tmp_path_factory.mktemp("secrets")
    lines = []
    for i, (text, t) in enumerate(cases):  # t: the secret's value, also put under secret keys and in a URL
        ctx = {"timestamp": 1_717_200_000_000 + i * 7, "url": f"https://u:{t}@app.example.com/",
               "headers": {"Authorization": f"Bearer {t}", "Cookie": f"a={t}"}, "deep": [{"password": t, "note": text}]}  # fmt: skip
        lines.append(orjson.dumps({"message": text, "level": "error" if i % 2 else "log", "trace_id": f"t{i}",
                                   "stack": f"Error: {text}\n at f", "context": ctx}))  # fmt: skip
    lines.append(
        f'{{"message": "{cases[0][0][:5]} broken access_token={cases[0][1]}'.encode()
    )  # a rejected line
    path = Path(tmp) / "in.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    db = str(Path(tmp) / "db.duckdb")
    ingest([str(path)], db)
    con = duckdb.connect(db, read_only=True)
    try:
        rows = con.execute(
            """
            SELECT message, stack, context::VARCHAR FROM log_queue
            UNION ALL SELECT message, stack, context::VARCHAR FROM drop_ledger
            UNION ALL SELECT reason, excerpt, NULL FROM rejects
            """
        ).fetchall()
    finally:
        con.close()
    assert rows
    for row in rows:
        for value in row:
            if value is not None:
                assert not contains_secret(value), value
                assert all(secret not in value for _, secret in cases)
