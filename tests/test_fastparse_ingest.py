"""The compiled fast path changes nothing an ingest stores or counts: the same file, ingested with it and
with the Python path alone (LOGCORR_NO_FASTPATH=1), gives the same tables row for row."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from logcorr.pipeline import parse
from logcorr.pipeline.ingest import ingest
from logcorr.sources import fast
from tests.test_shard import _mixed_file, _snapshot

if not fast.available() and os.environ.get("LOGCORR_ALLOW_NO_EXT"):
    pytest.skip("logcorr._fastparse is not built; LOGCORR_ALLOW_NO_EXT is set", allow_module_level=True)


def _same_with_and_without_the_fast_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, src: Path, *, rejects: int
) -> tuple[int, int]:
    """Ingests `src` with the fast path and with the Python path alone and asserts every count and table is
    the same; returns (records the fast path claimed, records)."""
    compiled = fast.lines_parser()
    assert compiled is not None, "the compiled fast path did not build (logcorr/_fastparse.c)"
    claimed = 0

    def counting(*args: Any) -> Any:
        nonlocal claimed
        out = compiled(*args)
        claimed += out[0]
        return out

    monkeypatch.setattr(parse, "lines_parser", lambda: counting)
    with_fast = ingest([str(src)], str(tmp_path / "fast.duckdb"), jobs=1, max_record_bytes=4096)
    monkeypatch.undo()
    monkeypatch.setenv("LOGCORR_NO_FASTPATH", "1")
    assert fast.line_parser() is None and fast.lines_parser() is None
    python = ingest([str(src)], str(tmp_path / "python.duckdb"), jobs=1, max_record_bytes=4096)
    monkeypatch.undo()

    a, b = with_fast.files[0], python.files[0]
    assert (a.stats.lines, a.stats.blank, a.records, a.records_with_events, a.records_metric_only,
            a.records_skipped, a.events, a.metrics, a.rejected, a.stored, a.dropped) == (
        b.stats.lines, b.stats.blank, b.records, b.records_with_events, b.records_metric_only,
        b.records_skipped, b.events, b.metrics, b.rejected, b.stored, b.dropped,
    )  # fmt: skip
    assert (
        a.formats == b.formats and a.reject_reasons == b.reject_reasons and a.skip_reasons == b.skip_reasons
    )
    assert a.stats.notes == b.stats.notes
    assert a.balanced and a.rejected >= rejects and a.dropped > 0
    assert with_fast.redactions == python.redactions and sum(python.redactions.values()) > 0
    snap_fast, snap_python = _snapshot(tmp_path / "fast.duckdb"), _snapshot(tmp_path / "python.duckdb")
    for table in snap_python:
        assert snap_fast[table] == snap_python[table], table
    return claimed, a.records


def test_ingest_with_and_without_the_fast_path_is_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    claimed, records = _same_with_and_without_the_fast_path(
        tmp_path, monkeypatch, _mixed_file(tmp_path), rejects=5
    )
    assert claimed > records // 2  # most generated lines take the compiled path


def test_spaced_lines_take_the_fast_path_and_store_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NDJSON written by Python's json.dumps (", " and ": " between tokens, inside contexts and object arguments
    too, `\\u` escapes for non-ASCII): read by the compiled parser, which writes the values it copies as orjson
    does, and stored exactly as the Python path stores them."""
    out = []
    for line in _mixed_file(tmp_path).read_bytes().removeprefix(b"\xef\xbb\xbf").splitlines(keepends=True):
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            out.append(line)  # the bad lines as they were
            continue
        out.append(json.dumps(value).encode() + b"\n")
    src = tmp_path / "spaced.jsonl"
    src.write_bytes(b"".join(out))
    claimed, records = _same_with_and_without_the_fast_path(tmp_path, monkeypatch, src, rejects=5)
    assert claimed > records * 3 // 4


# non-ASCII text put into the generated records: accents, CJK, emoji above the BMP (a surrogate pair escaped)
WORDS = [
    "Café",
    "naïve façade",
    "Zürich",
    "日本語のテキスト",
    "emoji 😀",
    "✓ fertig",
    "„Senden“ – ok",
    "🚀 los",
]
# secrets spelled with escapes (`\\u0042earer` is `Bearer`), in a message and in a context
ESCAPED_SECRETS = [
    b'{"trace_id": "trace_1754384400000_esc1", "message": "Authorization: \\u0042earer P1nWJxGH6Fr9qfnAw2i9C2eXnUf5'
    b'45k3RfLw6gRZ \\ud83d\\ude00", "level": "log", "system": "browser", "context": {"timestamp": 1754384400100}}\n',
    b'{"trace_id": "trace_1754384400000_esc2", "message": "Login {\\"email\\":\\"ann@example.com\\",\\"p\\u0061ssword'
    b'\\":\\"h\\u00fcnter2-Secret!\\"}", "level": "log", "system": "browser", "context": {"timestamp": 1754384400200'
    b', "form": {"password": "h\\u00fcnter2", "api_key": "sk_live_\\u0031234567890abcdefghij"}}}\n',
]


def _with_text(value: Any, word: str) -> Any:
    """A generated record with `word` in its message, first console argument or Logpush part, and its context."""
    if isinstance(value.get("message"), str):
        m = value["message"]
        value["message"] = m[:1] + word + " " + m[1:] if m.startswith("'") else f"{m} ({word})"
    if isinstance(value.get("context"), dict):
        value["context"]["title"] = f"Chat — {word}"
    if isinstance(value.get("args"), list) and value["args"] and isinstance(value["args"][0], str):
        value["args"][0] += f" ({word})"
    for item in value.get("Logs") or []:
        parts = item.get("Message") if isinstance(item, dict) else None
        if isinstance(parts, list) and parts and isinstance(parts[0], str):
            parts[0] += f" ({word})"
    return value


def test_escaped_non_ascii_lines_take_the_fast_path_and_store_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NDJSON written by json.dumps with its default ensure_ascii=True, non-ASCII text in messages, console
    arguments and contexts (so `\\uXXXX` escapes, surrogate pairs for emoji), and secrets spelled with escapes:
    read by the compiled parser, which decodes the escapes and writes the values it copies as orjson does (raw
    UTF-8), and stored and redacted exactly as the Python path stores them."""
    out = []
    lines = _mixed_file(tmp_path).read_bytes().removeprefix(b"\xef\xbb\xbf").splitlines(keepends=True)
    for n, line in enumerate(lines):
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            out.append(line)  # the bad lines as they were
            continue
        if type(value) is dict:
            value = _with_text(value, WORDS[n % len(WORDS)])
        out.append(json.dumps(value).encode() + b"\n")
    out[10:10] = ESCAPED_SECRETS
    src = tmp_path / "escaped.jsonl"
    src.write_bytes(b"".join(out))
    assert b"\\ud83d\\ude00" in src.read_bytes()
    claimed, records = _same_with_and_without_the_fast_path(tmp_path, monkeypatch, src, rejects=5)
    assert claimed > records * 4 // 5


def _pretty(value: Any, indent: str = "") -> bytes:
    text = orjson.dumps(value, option=orjson.OPT_INDENT_2)
    return text.replace(b"\n", b"\n" + indent.encode())


@pytest.mark.parametrize("layout", ["stream", "array", "crlf", "tabs", "joined"])
def test_pretty_printed_records_take_the_fast_path_and_store_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: str
) -> None:
    """`wrangler tail --format json`, `jq .`, a pretty JSON array, and pretty values after an NDJSON line
    (`cat a.jsonl b.json`): each object is offered to the compiled parser as one compact line (its end found
    by its indentation, then proven by the parser), so it is read at NDJSON's speed, and what is stored is
    what the Python path stores, bad values among them too: one whose pretty form is over the record limit
    (4096 bytes here) is rejected, though compact it is under it."""
    lines = _mixed_file(tmp_path).read_bytes().removeprefix(b"\xef\xbb\xbf").splitlines()
    values, parts = [], []
    for line in lines:
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            if layout == "stream" and line.strip():
                parts.append(line)  # a bad line between the values: rejected either way
            continue
        values.append(value)
        if layout != "array":
            parts.append(_pretty(value))
    # a browser payload with a deep list in its context: 2,300 bytes compact, 8,400 pretty
    wide = next(v for v in values if type(v) is dict and "url" in (v.get("context") or {}))
    wide = dict(wide, context=dict(wide["context"], deep={"a": {"b": {"c": list(range(400))}}}))
    compact = orjson.dumps(wide)
    compiled = fast.lines_parser()
    assert compiled is not None and compiled(compact, 0, len(compact), 4096, 0, 1, 0)[0] == 1
    values.append(wide)
    if layout != "array":
        parts.append(_pretty(wide))
    if layout == "joined":
        parts.insert(0, lines[1])
    if layout == "array":
        body = b",\n".join(b"  " + _pretty(v, "  ") for v in values)
        data = b"[\n" + body + b"\n]\n"
    else:
        data = b"\n".join(parts) + b"\n"
    if layout == "crlf":
        data = data.replace(b"\n", b"\r\n")
    if layout == "tabs":
        data = data.replace(b"\n  ", b"\n\t")
    src = tmp_path / "pretty.json"
    src.write_bytes(data)
    claimed, records = _same_with_and_without_the_fast_path(
        tmp_path, monkeypatch, src, rejects=6 if layout == "stream" else 1
    )
    assert claimed > records // 2


def test_a_forced_format_skips_the_fast_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--format` means the user's adapter for every line: the compiled detection is not asked."""
    line = b'{"trace_id":"t1","message":"hi","level":"log","timestamp":1754384400000}\n'
    src = tmp_path / "one.jsonl"
    src.write_bytes(line)

    def refuse(*_: Any) -> Any:
        raise AssertionError("the fast path was asked about a file with a forced format")

    monkeypatch.setattr(parse, "lines_parser", lambda: refuse)
    with pytest.raises(AssertionError):
        ingest([str(src)], str(tmp_path / "a.duckdb"))
    result = ingest([str(src)], str(tmp_path / "b.duckdb"), format_name="browser-v2")
    assert result.files[0].formats == {"browser-v2": 1}


def test_parse_lines_is_parse_line_over_a_run_of_lines(tmp_path: Path) -> None:
    """One call for a run of lines gives what `parse_line` gives line by line, numbered on, and stops at the
    first line it declines or that is longer than the limit (which the Python path then reads)."""
    one, many = fast.line_parser(), fast.lines_parser()
    assert one is not None and many is not None
    lines = _mixed_file(tmp_path).read_bytes().split(b"\n")[:-1]
    lines[10] = b'{"x": "' + b"y" * 300 + b'"}'  # declined
    lines[20] = lines[21] + b" " * 200  # claimable, but over the limit below
    # the lines read where they are: each ends at a newline, the last at the end given (here: none)
    text = b"\n".join(lines)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    rows: list[Any] = []
    metric_rows: list[Any] = []
    i = seq = runs = 0
    taken_at = [0] * len(lines)
    while i < len(lines):
        taken, after, got, got_metrics, with_events, without, by_format = many(
            text, starts[i], len(text), 512, seq, 3, i
        )
        assert after == min(starts[i + taken], len(text))
        taken_at[i] = taken
        want: list[Any] = []
        want_metrics: list[Any] = []
        formats: Counter[str] = Counter()
        records_with_events = 0
        for j in range(i, i + taken):
            out = one(lines[j], seq + len(want), 3, j + 1)
            assert out is not None and len(lines[j]) <= 512
            want += out[1]
            want_metrics += out[2]
            formats[out[0]] += 1
            records_with_events += bool(out[1])
        assert (got, got_metrics) == (want, want_metrics)
        assert (with_events, without, dict(by_format)) == (records_with_events, taken - records_with_events,
                                                            dict(formats))  # fmt: skip
        rows += got
        metric_rows += got_metrics
        seq += len(got)
        runs += taken > 0
        i += taken
        if i < len(lines):  # the line it stopped at: declined, or too long
            assert len(lines[i]) > 512 or one(lines[i], seq, 3, i + 1) is None
            i += 1
    assert runs > 5 and len(rows) > 2000 and metric_rows
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))  # numbered on across runs
    assert many(b"", 0, 0, 512, 0, 3, 0) == (0, 0, [], [], 0, 0, [])
    # a run ends at `end`, not at the text's end; a position outside the text is refused
    at = next(k for k, run in enumerate(taken_at) if run >= 3)
    assert many(text, starts[at], starts[at + 2], 512, 0, 3, at)[:2] == (2, starts[at + 2])
    with pytest.raises(ValueError):
        many(text, 0, len(text) + 1, 512, 0, 3, 0)
