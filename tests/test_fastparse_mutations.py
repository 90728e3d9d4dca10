"""The compiled fast path against the Python adapters on mutated real shapes: generated lines of every
format (and the fixtures) with values deleted, retyped and replaced by the awkward ones (placeholders,
trace ids in text, non-ASCII, floats, odd timestamps, object-inspect quoting, headers), serialised
canonically and not (spaces, `\\u` and `\\/` escapes, trailing whitespace). Wherever the compiled path
claims a line, it must give exactly the Python path's rows; it must claim a fair share of them."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from typing import Any

import orjson
import pytest

from logcorr.sources import fast
from tests.conftest import ROOT
from tests.test_fastparse_differential import reference

if not fast.available() and os.environ.get("LOGCORR_ALLOW_NO_EXT"):
    pytest.skip("logcorr._fastparse is not built; LOGCORR_ALLOW_NO_EXT is set", allow_module_level=True)
parse_line = fast.line_parser()
COMPILED = {"browser-v1", "browser-v2", "worker-record", "convex-stream", "cf-logpush"}  # what it claims

AWKWARD: list[Any] = [
    None, True, False, 0, -1, 1.5, 1e300, 2**63 - 1, "", " ", "null", "N/A", "x", "é", "\u2028", "\u212a",
    "İNFO", "WARN", "Error", "trace_id: abc.", 'traceId="q1"', "TRACE-ID X", "a trace_1754384400000_abc b",
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "00-00000000000000000000000000000000-b7ad6b7169203331-01 trace_id=zz", "'quoted'", "'it\\'s'", "'a\\\\'",
    "'", "''", "x\ny", "\x1ctid\x1c", 1754384400000, 1754384400, 1754384400000000, 1754384400000000000,
    "2025-08-05T09:00:00Z", "2025-08-05T09:00:00.123+01:00", "2025-08-05 09:00:00",
    "2025-08-05T09:00:00.1234567Z", "2026-02-30T00:00:00Z", "1754384400000", " 2025-08-05T09:00:00Z ",
    "2025-08-05T09:00:00 UTC", [], {}, [1, "a", None], {"trace_id": "in-obj"}, {"a": 1.5},
    {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}, "convex", "manual", "edge",
    "BACKEND", "server", "-abc", "ABC-DEF", "failure", "success", 'x"y', "a\\b",
]  # fmt: skip
KEYS = ["trace_id", "traceId", "correlation_id", "headers", "url", "userAgent", "id", "system", "data", "logs",
        "topic", "args", "Level", "level", "Message", "message", "Stack", "Name", "timestampms", "TimestampMs",
        "is_truncated", "system_code", "RayID", "Headers", "status", "error_message", "execution_time_ms",
        "usage", "request_id", "type", "path", "cached"]  # fmt: skip


def _mutate(rng: random.Random, v: Any) -> Any:
    if isinstance(v, dict) and v and rng.random() < 0.6:
        v = dict(v)
        k = rng.choice(list(v))
        r = rng.random()
        if r < 0.2:
            del v[k]
        elif r < 0.7:
            v[k] = _mutate(rng, v[k])
        else:
            v[k] = rng.choice(AWKWARD)
        if rng.random() < 0.1:
            v[rng.choice(KEYS)] = rng.choice(AWKWARD)
        return v
    if isinstance(v, list) and v and rng.random() < 0.6:
        v = list(v)
        i = rng.randrange(len(v))
        if rng.random() < 0.3:
            del v[i]
        else:
            v[i] = _mutate(rng, v[i])
        return v
    if isinstance(v, str) and rng.random() < 0.5:
        s = rng.choice(AWKWARD)
        if isinstance(s, str):
            i = rng.randrange(len(v) + 1)
            return v[:i] + s + v[i:]
    return rng.choice(AWKWARD)


def _serialise(rng: random.Random, v: Any) -> bytes:
    r = rng.random()
    if r < 0.6:
        return orjson.dumps(v)
    if r < 0.7:
        return json.dumps(v).encode()  # spaces, \u escapes
    if r < 0.8:
        return json.dumps(v, ensure_ascii=False, separators=(",", ":")).encode()
    if r < 0.9:
        return json.dumps(v, separators=(",", ":")).replace("/", "\\/").encode()
    return orjson.dumps(v) + rng.choice([b" ", b"\r", b"\t", b""])


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    out = tmp_path_factory.mktemp("gen") / "gen.jsonl"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_logs.py"), "--records", "3000", "--seed", "11",
                    "--out", str(out)], check=True, capture_output=True)  # fmt: skip
    lines = out.read_bytes().splitlines()
    for path in sorted((ROOT / "fixtures").rglob("*.jsonl")):
        lines += [ln for ln in path.read_bytes().splitlines() if ln.startswith(b"{")]
    return lines


def test_the_compiled_module_is_built() -> None:
    assert parse_line is not None, "logcorr/_fastparse.c did not build (or LOGCORR_NO_FASTPATH is set)"


@pytest.mark.parametrize("seed", range(4))
def test_mutated_lines_give_the_python_rows(shapes: list[bytes], seed: int) -> None:
    assert parse_line is not None
    rng = random.Random(seed)
    claimed, formats, tried = 0, set(), 0
    for _ in range(6000):
        value: Any = orjson.loads(rng.choice(shapes))
        for _ in range(rng.randint(1, 3)):
            value = _mutate(rng, value)
        try:
            line = _serialise(rng, value)
        except (TypeError, ValueError, OverflowError):
            continue  # a value JSON cannot hold: not a line anyone could ingest
        tried += 1
        got = parse_line(line, 5, 2, 9)
        if got is not None:
            assert got == reference(line, 5, 2, 9), line
            claimed += 1
            formats.add(got[0])
    assert claimed > tried // 10  # mutation leaves many lines the compiled path still takes
    assert formats == COMPILED


def test_unmutated_generated_lines_are_claimed_and_equal(shapes: list[bytes]) -> None:
    """The shapes the live system writes take the compiled path (Convex: console and execution lines)."""
    assert parse_line is not None
    wanted: Counter[str] = Counter()
    claimed: Counter[str] = Counter()
    for line in shapes:
        want = reference(line, 5, 2, 9)
        if isinstance(want, tuple) and want[0] in COMPILED:
            # Convex: console and function_execution lines, not wrapped in {"data": …} (the Python path's)
            topic = orjson.loads(line).get("topic")
            wanted[want[0]] += want[0] != "convex-stream" or topic in ("console", "function_execution")
        got = parse_line(line, 5, 2, 9)
        if got is not None:
            assert got == want, line
            claimed[got[0]] += 1
    assert set(wanted) == COMPILED
    assert claimed == wanted


@pytest.mark.parametrize("seed", range(2))
def test_mutated_lines_stage_the_same_with_or_without_the_staging_batch(
    shapes: list[bytes], seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same mutated lines staged through the compiled staging batch (rows straight into Arrow buffers)
    and through row tuples: every table the stager writes is the same."""
    import io

    import pyarrow as pa

    import logcorr.pipeline.stage as stage
    from logcorr.pipeline.parse import FileResult, parse_file
    from logcorr.pipeline.stage import Stager, StageRules
    from logcorr.rules.policy import Policy
    from logcorr.sources.reader import DEFAULT_MAX_RECORD_BYTES

    rng = random.Random(100 + seed)
    lines = []
    for _ in range(4000):
        value: Any = orjson.loads(rng.choice(shapes))
        for _ in range(rng.randint(0, 2)):
            value = _mutate(rng, value)
        try:
            lines.append(_serialise(rng, value))
        except (TypeError, ValueError, OverflowError):
            continue
    data = b"\n".join(lines) + b"\n"

    def staged(batch: bool) -> dict[str, pa.Table]:
        with monkeypatch.context() as m:
            if not batch:
                m.setattr(stage, "stage_batch", lambda: None)
            out: dict[str, list[pa.RecordBatch]] = {}
            stager = Stager(None, StageRules.of(Policy()), batch_rows=300,
                            sink=lambda t, b: out.setdefault(t, []).append(b))  # fmt: skip
            assert (stager.batch is not None) == batch
            result = FileResult(file_id=2, path="mutated.jsonl")
            parse_file(
                io.BytesIO(data), result, stager, max_record_bytes=DEFAULT_MAX_RECORD_BYTES, mode="ndjson"
            )
            stager.flush()
            stager.close()
        return {t: pa.Table.from_batches(bs) for t, bs in out.items()}

    with_batch, without = staged(True), staged(False)
    assert with_batch.keys() == without.keys() and with_batch["staging"].num_rows > 1000
    for table in with_batch:
        assert with_batch[table].equals(without[table]), table
