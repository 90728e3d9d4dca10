"""The compiled staging batch (`StageBatch`): event rows built straight into Arrow buffers, probed and keyed
as they come, with the flagged rows held apart for the Python rules. The stager must stage exactly what the
row-tuple path (`column_buffers`, `flag_rows`, `stage_keys`) stages, for the rows the compiled parser
claims and for the rows the Python adapters build, mixed in any order."""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import logcorr.pipeline.stage as stage
from logcorr.model import Event
from logcorr.pipeline.parse import FileResult, parse_file
from logcorr.pipeline.stage import STAGING_SCHEMA, Stager, StageRules
from logcorr.rules.fingerprint import fingerprint
from logcorr.rules.policy import Policy, Redaction, Suppression
from logcorr.rules.redact import FOLDING
from logcorr.sources import fast
from logcorr.sources.reader import DEFAULT_MAX_RECORD_BYTES

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
POLICIES = [
    Policy(),
    Policy(redaction=Redaction(enabled=False)),
    Policy(suppression=Suppression(patterns=["[HMR]", "GET", "token"], case_sensitive=True)),
]


def _lines() -> bytes:
    """Every line-per-record fixture, each file's lines interleaved with the others' (the compiled parser's
    lines and the Python adapters' then alternate), a few times over."""
    files = sorted(FIXTURES.rglob("*.jsonl")) + sorted(FIXTURES.rglob("*.log.gz"))
    texts = [gzip.decompress(f.read_bytes()) if f.suffix == ".gz" else f.read_bytes() for f in files]
    per_file = [[ln for ln in text.splitlines() if ln.strip()] for text in texts]
    out: list[bytes] = []
    for copy in range(3):
        for i in range(max(len(lines) for lines in per_file)):
            for lines in per_file[copy:] + per_file[:copy]:
                if i < len(lines):
                    out.append(lines[i])
    return b"\n".join(out) + b"\n"


def _staged_batches(
    put: Callable[[Stager], None],
    batch: bool,
    batch_rows: int,
    monkeypatch: pytest.MonkeyPatch,
    policy: Policy | None = None,
) -> list[pa.RecordBatch]:
    """The staging batches a worker's stager writes for what `put` gives it, with the staging batch or with
    row tuples."""
    with monkeypatch.context() as m:
        if not batch:
            m.setattr(stage, "stage_batch", lambda: None)
        out: list[pa.RecordBatch] = []
        stager = Stager(None, StageRules.of(policy or Policy()), batch_rows=batch_rows,
                        sink=lambda t, b: out.append(b))  # fmt: skip
        assert (stager.batch is not None) == batch
        put(stager)
        stager.flush()
        stager.close()
    return [b for b in out if b.schema.names == stage.STAGED_SCHEMA.names]


def _parsed(data: bytes) -> Callable[[Stager], None]:
    def put(stager: Stager) -> None:
        result = FileResult(file_id=3, path="mixed.jsonl")
        parse_file(io.BytesIO(data), result, stager, max_record_bytes=DEFAULT_MAX_RECORD_BYTES, mode="ndjson")

    return put


def _stage(data: bytes, policy: Policy, batch: bool, monkeypatch: pytest.MonkeyPatch) -> pa.Table:
    staged = _staged_batches(_parsed(data), batch, 50, monkeypatch, policy)
    return pa.Table.from_batches(staged, schema=stage.STAGED_SCHEMA)


@pytest.mark.parametrize("policy", POLICIES, ids=["default", "no-redaction", "suppression"])
def test_the_batch_stages_what_the_row_tuples_stage(policy: Policy, monkeypatch: pytest.MonkeyPatch) -> None:
    assert fast.stage_batch() is not None, "the compiled staging batch did not build (logcorr/_fastparse.c)"
    data = _lines()
    with_batch = _stage(data, policy, True, monkeypatch)
    without = _stage(data, policy, False, monkeypatch)
    assert with_batch.num_rows == without.num_rows > 200
    assert with_batch.equals(without)
    # the input holds both kinds of rows, and rows the probe flags
    formats = set(with_batch.column("source_format").to_pylist())
    assert {"browser-v2", "cf-logpush", "convex-stream"} <= formats  # the compiled parser's
    assert {"convex-snapshot", "convex-stream-v1"} & formats  # the Python adapters'
    assert with_batch.column("seq").to_pylist() == list(range(1, with_batch.num_rows + 1))


def _event(i: int, message: str) -> Event:
    return Event(
        1_714_910_400_000 + i, "worker", None, "log", message, None, "none", None, None, None, None, None
    )


def _staged_records(
    put: Callable[[Stager], None], batch: bool, batch_rows: int, monkeypatch: pytest.MonkeyPatch
) -> list[dict[str, Any]]:
    """The staged event rows of what `put` gives a worker's stager (see `_staged_batches`)."""
    return [r for b in _staged_batches(put, batch, batch_rows, monkeypatch) for r in b.to_pylist()]


# --- StageBatch itself ---------------------------------------------------------------------------------


def _batch(patterns: tuple[str, ...] = ()) -> Any:
    cls = fast.stage_batch()
    assert cls is not None
    kinds = "".join(stage._KINDS[f.type] for f in STAGING_SCHEMA)
    return cls(kinds, (7, 13, 12), ("password", "bearer"), 7 if patterns else -1, bool(patterns), patterns,
               False, fingerprint)  # fmt: skip


def _row(seq: int, message: Any, context: str | None = None) -> tuple[Any, ...]:
    return (seq, 1, 1_714_910_400_000 + seq, None, "worker", "worker", "log", message, None, "none", None, None,
            context, None, seq, "worker-record", 0, None)  # fmt: skip


def test_the_probe_holds_the_rows_to_check_apart() -> None:
    batch = _batch(("[hmr]",))
    rows = [_row(1, "ok"), _row(2, "password=x"), _row(3, "[HMR] up"), _row(4, "fine", '{"Bearer":1}')]
    batch.add_rows(rows)
    assert len(batch) == 4
    pending = batch.pending()
    assert [(i, row, needs) for i, row, needs, _ in pending] == [
        (1, rows[1], True),
        (2, rows[2], False),
        (3, rows[3], True),
    ]
    # the trigger words found, per text column (message, stack, context), as flag_rows gives them
    assert pending[0][3] == (1, 0, 0) and pending[1][3] is None and pending[2][3] == (0, 0, 2)


def test_finish_puts_the_checked_rows_in_their_places() -> None:
    batch = _batch()
    rows = [_row(1, "ok"), _row(2, "password=x"), _row(3, "done")]
    batch.add_rows(rows)
    with pytest.raises(ValueError):
        batch.finish([])  # one checked row per pending row
    checked = [(*rows[1][:7], "password=[REDACTED]", *rows[1][8:17], "why")]
    *built, keys = batch.finish(checked)
    assert len(batch) == 0 and batch.pending() == []
    columns = stage.from_buffers(list(STAGING_SCHEMA), 3, built)
    table = pa.Table.from_arrays(columns, schema=STAGING_SCHEMA)
    assert table.column("message").to_pylist() == ["ok", "password=[REDACTED]", "done"]
    assert table.column("suppressed").to_pylist() == [None, "why", None]
    assert table.column("seq").to_pylist() == [1, 2, 3]
    # the keys are those of the rows as checked
    compiled = fast.stage_keys()
    assert compiled is not None
    final = [rows[0], checked[0], rows[2]]
    assert keys == compiled(final, stage.KEY_COLUMNS, fingerprint)


def test_a_row_it_refuses_leaves_the_batch_as_it_was() -> None:
    batch = _batch()
    batch.add_rows([_row(1, "ok")])
    for odd in ([_row(2, "fine"), _row(3, 42)], [_row(2, "fine"), (*_row(3, "x")[:2], 1.5, *_row(3, "x")[3:])],
                [_row(2, "\ud800")], [_row(2, "fine")[:5]]):  # fmt: skip
        with pytest.raises((TypeError, ValueError)):
            batch.add_rows(odd)
        assert len(batch) == 1
    with pytest.raises(ValueError):
        type(batch)("lll", (7,), (), -1, False, (), False, fingerprint)  # not the staging columns


def test_the_stager_stages_a_row_the_batch_refuses_in_its_place(monkeypatch: pytest.MonkeyPatch) -> None:
    """A value the batch does not take (a float time) goes the pyarrow way, after the rows before it."""

    def put(stager: Stager) -> None:
        for i in range(6):
            rows, _ = stage.staged_rows([_event(i, f"m{i}")], [], stager.seq, 1, i + 1, "worker-record")
            if i == 3:
                rows = [(*rows[0][:2], float(rows[0][2]), *rows[0][3:])]
            stager.record_rows(rows, [])

    got = _staged_records(put, True, 10, monkeypatch)
    assert [r["message"] for r in got] == ["m0", "m1", "m2", "m3", "m4", "m5"]
    assert got == _staged_records(put, False, 10, monkeypatch)


def test_a_batch_of_long_records_is_written_out_by_its_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """However few rows it holds, a batch holding `BATCH_BYTES` of text goes to the sink (memory stays flat
    with records of megabytes); the rows are the same."""
    data = _lines()
    whole = _stage(data, Policy(), True, monkeypatch)
    monkeypatch.setattr(stage, "BATCH_BYTES", 4096)
    staged = _staged_batches(_parsed(data), True, 1_000_000, monkeypatch)
    assert len(staged) > 10
    assert pa.Table.from_batches(staged).equals(whole)


# --- a key the batch cannot compute: the Python fingerprint of a "[CONVEX " message raising ------------------


def _raising_fingerprint(monkeypatch: pytest.MonkeyPatch) -> None:
    def fp(message: str) -> str:
        if "boom" in message:
            raise ValueError("no fingerprint for this one")
        return fingerprint(message)

    monkeypatch.setattr(stage, "fingerprint", fp)


def _browser_line(i: int, message: str) -> bytes:
    return (b'{"id":"1754384404508_%d","trace_id":"trace_%d","system":"browser","level":"log","message":"%s",'
            b'"timestamp":%d}' % (i, i, message.encode(), 1754384404508 + i))  # fmt: skip


@pytest.mark.parametrize("boom", ["[CONVEX Q(x)] boom", "[CONVEX Q(x)] boom password=hunter2"])
def test_a_key_it_cannot_compute_leaves_the_rows_to_duckdb_as_before(
    boom: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Python fingerprint raising for one message (a claimed line, a row the Python adapters built, a row
    the probe holds apart): every row is staged once, in order, keyed by DuckDB's macros as the tuple path
    keys them; nothing of a row that failed is left in the batch."""
    _raising_fingerprint(monkeypatch)
    lines = [_browser_line(i, boom if i in (3, 7) else f"line {i}") for i in range(1, 11)]
    data = b"\n".join(lines) + b"\n"
    with_batch = _stage(data, Policy(), True, monkeypatch)
    without = _stage(data, Policy(), False, monkeypatch)
    assert with_batch.column("seq").to_pylist() == list(range(1, 11))
    assert with_batch.equals(without)
    assert "hunter2" not in str(with_batch.column("message").to_pylist())

    def put(stager: Stager) -> None:
        for i in range(1, 8):
            stager.record([_event(i, boom if i == 3 else f"m{i}")], [], 1, i, "worker-record")

    got = _staged_records(put, True, 4, monkeypatch)
    assert [r["seq"] for r in got] == list(range(1, 8))
    assert got == _staged_records(put, False, 4, monkeypatch)


def test_pending_is_a_copy() -> None:
    batch = _batch()
    rows = [_row(1, "ok"), _row(2, "password=x")]
    batch.add_rows(rows)
    held = batch.pending()
    held.append((1 << 40, rows[1], False, None))  # what a caller does to its copy does not reach the batch
    *built, _ = batch.finish([(*rows[1][:7], "password=[REDACTED]", *rows[1][8:])])
    table = pa.Table.from_arrays(stage.from_buffers(list(STAGING_SCHEMA), 2, built), schema=STAGING_SCHEMA)
    assert table.column("message").to_pylist() == ["ok", "password=[REDACTED]"]


_PIECES = st.sampled_from(
    ["password", "Bearer ", "auth:", "a5600ea6", "token", "secret", "x", "1", ":", " ", "é", "ß", "日本", "→", "😀",
     "\u00a0", "ĸ", *FOLDING]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.tuples(*(st.one_of(st.none(), st.lists(_PIECES, max_size=8).map("".join)),) * 3), max_size=12)
)
def test_the_batch_finds_the_trigger_words_flag_rows_finds_beyond_ascii_too(
    texts: list[tuple[str | None, str | None, str | None]],
) -> None:
    """The batch searches a row's UTF-8 text as `flag_rows` its characters: the same rows to redact, the same
    words in each column (-1 for text holding a character that folds to an ASCII letter)."""
    from logcorr.rules.redact import trigger_words, word_found

    cls, flag = fast.stage_batch(), fast.flag_rows()
    assert cls is not None and flag is not None
    kinds = "".join(stage._KINDS[f.type] for f in STAGING_SCHEMA)
    batch = cls(kinds, (7, 13, 12), trigger_words(), -1, False, (), False, fingerprint)
    rows = [_row(i + 1, m or "", c) for i, (m, _, c) in enumerate(texts)]
    rows = [(*r[:13], s, *r[14:]) for r, (_, s, _) in zip(rows, texts, strict=True)]
    batch.add_rows(rows)
    got = [(i, needs, masks) for i, _, needs, masks in batch.pending()]
    assert got == flag(rows, (7, 13, 12), trigger_words(), -1, False, (), False, True)
    # … which are the words `word_found` finds in each text lowered (text beyond ASCII was not searched: -1)
    expected = []
    for i, row in enumerate(rows):
        masks = tuple(
            0 if t is None
            else -1 if any(c in t for c in FOLDING)
            else sum(1 << k for k, w in enumerate(trigger_words()) if word_found(w, t.lower()))
            for t in (row[7], row[13], row[12])
        )  # fmt: skip
        if any(masks):
            expected.append((i, True, masks))
    assert got == expected


@pytest.mark.parametrize("case_sensitive", [False, True])
def test_text_beyond_ascii_is_searched_for_ascii_suppression_patterns(case_sensitive: bool) -> None:
    """Every message beyond ASCII went to the Python suppressor, whatever the patterns. With ASCII patterns only,
    the probes search it as they search ASCII text (one holding a FOLDING character still goes: `lower()` takes
    `İ` to `i`); a pattern beyond ASCII sends them all, as before."""
    from logcorr.rules.suppress import Suppressor

    cls, flag = fast.stage_batch(), fast.flag_rows()
    assert cls is not None and flag is not None
    messages = [
        "café [HMR] ok",
        "café ok",
        "日本 webpack-internal:///x",
        "[hmr] 😀",
        "\u0130 [hmr]",
        "plain",
        "[HMR]",
    ]
    kinds = "".join(stage._KINDS[f.type] for f in STAGING_SCHEMA)
    for patterns in (["[HMR]", "webpack-internal"], ["[HMR]", "Zeitüberschreitung"]):
        probe = stage._probe(STAGING_SCHEMA, ("message",), (), patterns, case_sensitive)
        assert probe is not None
        _, words, _, sup_non_ascii, ascii_patterns, cs, _ = probe
        assert sup_non_ascii is not all(p.isascii() for p in patterns)
        rows = [_row(i + 1, m) for i, m in enumerate(messages)]
        flagged = [i for i, _ in flag(rows, (7,), words, 7, sup_non_ascii, ascii_patterns, cs)]
        batch = cls(kinds, (7,), words, 7, sup_non_ascii, ascii_patterns, cs, fingerprint)
        batch.add_rows(rows)
        assert [i for i, *_ in batch.pending()] == flagged
        suppressor = Suppressor(Suppression(enabled=True, patterns=patterns, case_sensitive=case_sensitive))
        matched = [i for i, m in enumerate(messages) if suppressor.match(m)]
        if sup_non_ascii:  # a pattern beyond ASCII: every message beyond ASCII, and the ASCII ones it matches
            assert flagged == sorted({0, 1, 2, 3, 4} | set(matched))
        else:  # those it matches, and the one holding İ
            assert flagged == sorted({4} | set(matched))
