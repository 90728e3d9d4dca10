"""The Stager checks rows for secrets and suppression patterns in DuckDB, in batches, and runs the Python
rules only on the rows it flags. Its output must be exactly what the straightforward implementation —
every rule on every row, in Python — gives, on any input."""

from __future__ import annotations

from typing import Any

import duckdb
import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from logcorr.model import Event, Metric
from logcorr.pipeline.stage import Stager
from logcorr.rules.policy import Policy, Redaction, Suppression
from logcorr.rules.redact import Redactor
from logcorr.rules.suppress import Suppressor

SECRETS = [
    "Authorization: Bearer abcdefghijklmnop123",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abcdefghijklmnop",
    "password=hunter2&user=bob",
    "Cookie: session=abc123",
    "AKIAIOSFODNN7EXAMPLE",
    "postgres://admin:s3cr3t@db.example.com/app",
    "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "https://s3.example.com/x?X-Amz-Signature=abcdef0123456789",
]
NOISE = ["Download the React DevTools", "[HMR] connected", "[vite] hot updated", "webpack compiled"]
# text around them: plain ASCII, case changes, and the characters where lower-casing differs by library
PIECES = st.sampled_from(
    [
        *SECRETS,
        *NOISE,
        "ok",
        "TOKEN",
        "Secret",
        "İstanbul",
        "K",
        "ſecret",
        "straße",
        "\u00a0",
        "日本",
        "é",
        "|",
        "@",
        # the probe word `auth:` found only before a run with a digit, a letter and a digit
        "auth:a5600ea6",
        "[AUTH:1a2]",
        "(auth:verify2fa)",
        "auth:",
    ]
)
TEXT = st.lists(st.one_of(PIECES, st.text(max_size=12)), max_size=5).map(" ".join)
VALUE: Any = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), TEXT),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(
                ["a", "password", "token", "Authorization", "url", "x", "credentials", "api.key"]
            ),
            inner,
            max_size=3,
        ),
    ),
    max_leaves=8,
)
CONTEXT = st.one_of(
    st.none(),
    st.dictionaries(
        st.sampled_from(["url", "headers", "api_key", "n", "credentials", "credential"]), VALUE, max_size=3
    ),
)
EVENTS = st.lists(st.tuples(TEXT, st.one_of(st.none(), TEXT), CONTEXT), min_size=1, max_size=40)


def _reference(
    rows: list[tuple[str, str | None, dict[str, Any] | None]], policy: Policy
) -> list[tuple[Any, ...]]:
    """Every rule on every row, in Python: what staging held before the batch check existed."""
    red, sup = Redactor(), Suppressor(policy.suppression)
    out = []
    for message, stack, context in rows:
        if policy.redaction.enabled:
            message = red.text(message)
            stack = red.text(stack) if stack is not None else None
            # every context walked (no trigger-word test: that is what the stager's probe must get right)
            ctx = orjson.dumps(red.value(context)).decode() if context else None
        else:
            ctx = orjson.dumps(context).decode() if context else None
        out.append((message, stack, ctx, sup.match(message)))
    return out


def _staged(
    rows: list[tuple[str, str | None, dict[str, Any] | None]], policy: Policy
) -> list[tuple[Any, ...]]:
    con = duckdb.connect()
    stager = Stager(con, policy, batch_rows=7)  # several batches, so flushes mid-stream are covered too
    for i, (message, stack, context) in enumerate(rows):
        ev = Event(1_714_910_400_000 + i, "browser", "browser", "log", message, None, "none", None, None, context,
                   stack, None)  # fmt: skip
        metric = Metric(1_714_910_400_000, "worker", "worker_invocation", {"m": message})
        stager.record([ev], [metric], 1, i + 1, "browser-v2")
    stager.flush()
    got = stager.events("SELECT message, stack, context, suppressed FROM _spooled ORDER BY seq", fetch=True)
    metrics = [
        orjson.loads(d)["m"]
        for (d,) in con.execute("SELECT data FROM staged_metrics ORDER BY source_line").fetchall()
    ]
    # metric data is checked the same way: redacted by value when redaction is on, untouched when off
    red = Redactor()
    assert metrics == [red.text(m) if policy.redaction.enabled else m for m, _, _ in rows]
    return got


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(
    [("ok", None, {"credentials": {"user": "u", "pass": "p4ss"}}), ("ok", None, {"n": {"api.key": "k"}})]
)
@given(EVENTS)
def test_batched_checks_equal_every_rule_on_every_row(
    rows: list[tuple[str, str | None, dict[str, Any] | None]],
) -> None:
    policy = Policy()
    assert _staged(rows, policy) == _reference(rows, policy)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EVENTS, st.booleans(), st.booleans())
def test_equal_under_other_policies(
    rows: list[tuple[str, str | None, dict[str, Any] | None]], redact: bool, case_sensitive: bool
) -> None:
    policy = Policy(
        redaction=Redaction(enabled=redact),
        suppression=Suppression(patterns=["[HMR]", "it's", "İstanbul", "ok"], case_sensitive=case_sensitive),
    )
    assert _staged(rows, policy) == _reference(rows, policy)


def test_a_secret_in_any_column_is_redacted() -> None:
    rows = [
        ("login with password=hunter2", "at f (Bearer abcdefghijklmnop123)", {"headers": {"Cookie": "sid=1"}})
    ]
    ((message, stack, ctx, _),) = _staged(rows, Policy())
    assert "hunter2" not in message and "abcdefghijklmnop123" not in stack and "sid=1" not in ctx


# --- the compiled probe (`flag_rows`) against the DuckDB one --------------------------------------------

PATTERN_SETS = st.sampled_from(
    [
        [],
        ["[HMR]", "it's", "İstanbul", "ok"],
        ["Download the React DevTools", "[vite]", "webpack"],
        ["İstanbul"],
        ["!", "Ok"],  # a one-byte pattern (matched at a text's first and last byte too)
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(  # one-byte words ('@', '|', '!') alone, first and last; words at a text's end, cut short, cased
    [
        ("@", "|", "x@"),
        ("@x", "a|b", ""),
        ("!", None, "TOKEN"),
        ("x!", "Ok", "tok"),
        ("Bearer", "eyj", "xEyJ"),
    ],
    True,
    True,
    ["!", "Ok"],
)
@given(
    st.lists(st.tuples(TEXT, st.one_of(st.none(), TEXT), st.one_of(st.none(), TEXT)), max_size=30),
    st.booleans(),
    st.booleans(),
    PATTERN_SETS,
)
def test_the_compiled_probe_flags_exactly_the_rows_duckdb_flags(
    texts: list[tuple[str, str | None, str | None]], redact: bool, case_sensitive: bool, patterns: list[str]
) -> None:
    """Not only no secret missed (the tests above): the same rows flagged, the same redaction flag."""
    import pyarrow as pa

    from logcorr.pipeline.stage import _EVENT_TEXT, STAGING_SCHEMA, _flag_sql, _probe
    from logcorr.rules.redact import FOLDING, trigger_words, word_found
    from logcorr.sources.fast import flag_rows

    flag = flag_rows()
    assert flag is not None, "logcorr/_fastparse.c did not build (or LOGCORR_NO_FASTPATH is set)"
    triggers = trigger_words() if redact else ()
    sql_redact, sql_other = _flag_sql(_EVENT_TEXT, triggers, patterns, case_sensitive)
    probe = _probe(STAGING_SCHEMA, _EVENT_TEXT, triggers, patterns, case_sensitive)
    assert probe is not None
    at = [STAGING_SCHEMA.get_field_index(c) for c in _EVENT_TEXT]
    rows = []
    for values in texts:
        row: list[Any] = [None] * len(STAGING_SCHEMA)
        for i, v in zip(at, values, strict=True):
            row[i] = v
        rows.append(tuple(row))
    table = pa.table({c: pa.array([t[k] for t in texts], pa.string()) for k, c in enumerate(_EVENT_TEXT)})
    con = duckdb.connect()
    con.register("_probe", table.append_column("_i", pa.array(range(len(texts)), pa.int32())))
    expected = con.execute(
        f"SELECT _i, {sql_redact} FROM _probe WHERE ({sql_redact}) OR ({sql_other}) ORDER BY _i"
    ).fetchall()
    hits = flag(rows, *probe)
    assert [(i, redact) for i, redact, _ in hits] == expected
    # and, for a row to redact, the trigger words in each column: what `Redactor.text_masked` is given
    for i, redact, found in hits:
        if not redact:
            assert found is None
            continue
        want = []
        for text in texts[i]:
            if text is None:
                want.append(0)
            elif any(c in text for c in FOLDING):
                want.append(-1)
            else:
                want.append(sum(1 << k for k, word in enumerate(triggers) if word_found(word, text.lower())))
        assert found == tuple(want)


def test_without_the_compiled_probe_duckdb_flags_the_rows(monkeypatch: Any) -> None:
    """When the compiled probe is missing or refuses a batch (a value that is not text), DuckDB's probe
    decides, with the same result."""
    import logcorr.pipeline.stage as stage

    rows = [("login with password=hunter2", None, None), ("[HMR] connected", None, None), ("ok", None, None)]
    expected = _reference(rows, Policy())

    def refuses(*args: Any) -> Any:
        raise TypeError("not text")

    for replacement in (lambda: None, lambda: refuses):
        monkeypatch.setattr(stage, "flag_rows", replacement)
        assert _staged(rows, Policy()) == expected
