"""Resource bounds: a huge line is rejected without holding it, a gzip bomb stops at a limit, and a large
input streams in bounded memory (peak RSS of a real `logcorr ingest` process, measured by a fresh parent
so no other child's peak counts)."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import zlib
from pathlib import Path

import duckdb
import pytest

from logcorr.pipeline.ingest import ingest
from logcorr.sources.outcomes import REJECT, FileStats
from logcorr.sources.reader import iter_records
from tests.reliability_helpers import ROOT, env, generated, logcorr_cmd

GOOD = b'{"message": "ok", "level": "log", "trace_id": "t1", "timestamp": 1714910400000}'


def _peak_rss_mb(args: list[str], extra_env: dict[str, str] | None = None) -> tuple[int, float, str]:
    """Run `logcorr ARGS` under a fresh parent; (exit code, peak RSS of the child in MB, stderr)."""
    probe = (
        "import json, resource, subprocess, sys\n"
        "p = subprocess.run(json.loads(sys.argv[1]), capture_output=True, text=True)\n"
        "print(json.dumps([p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, p.stderr]))\n"
    )
    e = env() | (extra_env or {})
    out = subprocess.run([sys.executable, "-c", probe, json.dumps(logcorr_cmd(*args))], capture_output=True,
                         text=True, env=e, cwd=ROOT, timeout=3600, check=True)  # fmt: skip
    code, kb, err = json.loads(out.stdout)
    return int(code), kb / 1024, err


def test_a_50mb_line_is_rejected_cleanly_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "huge.jsonl"
    with path.open("wb") as f:
        f.write(GOOD + b"\n")
        f.write(b'{"message": "' + b"A" * (50 << 20) + b'", "level": "log", "timestamp": 1714910400000}\n')
        f.write(GOOD.replace(b"t1", b"t2") + b"\n")
    db = str(tmp_path / "huge.duckdb")
    code, rss, err = _peak_rss_mb(["ingest", str(path), "--db", db, "--json", "-q"])
    assert code == 0, err
    con = duckdb.connect(db, read_only=True)
    rejects = con.execute("SELECT source_line, reason, length(excerpt) FROM rejects").fetchall()
    stored = con.execute("SELECT count(*) FROM log_queue").fetchone()[0]  # type: ignore[index]
    con.close()
    assert stored == 2
    assert (
        len(rejects) == 1 and rejects[0][0] == 2 and "longer than" in rejects[0][1] and rejects[0][2] < 1000
    )
    assert rss < 350, f"peak RSS {rss:.0f} MB for a 50 MB line"  # the line is never held whole


def test_a_gzip_bomb_is_stopped_at_the_readers_limit() -> None:
    comp = zlib.compressobj(1, zlib.DEFLATED, 31)
    bomb = comp.compress(b"0" * (64 << 20)) + comp.flush()  # 64 MB of zeros in ~64 KB
    assert len(bomb) < 1 << 20
    stats = FileStats()
    out = list(iter_records(io.BytesIO(bomb), stats, max_decompressed=8 << 20, max_record_bytes=1 << 20))
    reasons = [payload[0] for kind, _, payload in out if kind == REJECT]
    assert any("exceeds the limit" in r for r in reasons), reasons
    assert stats.bytes_read < len(bomb) + 1  # it stopped reading, it did not inflate everything


def test_the_gzip_limit_is_user_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bomb.jsonl.gz"
    path.write_bytes(gzip.compress((GOOD + b"\n") * 200_000, compresslevel=1))  # ~16 MB inflated
    monkeypatch.setenv("LOGCORR_MAX_DECOMPRESSED_GB", "0.001")
    result = ingest([str(path)], str(tmp_path / "bomb.duckdb"))
    assert any("exceeds the limit" in r for r in result.files[0].reject_reasons)


@pytest.mark.slow
def test_a_2gb_input_streams_in_bounded_memory(tmp_path: Path) -> None:
    base = generated(tmp_path / "base.jsonl", 100_000)
    data = base.read_bytes()
    path = tmp_path / "big.jsonl"
    with path.open("wb") as f:
        written = 0
        i = 0
        while written < 2 << 30:
            # each copy shifted to its own traces, so the rules see new events, not duplicates
            chunk = data.replace(b"trace_", b"trace_%03d" % i) if i else data
            f.write(chunk)
            written += len(chunk)
            i += 1
    code, rss, err = _peak_rss_mb(
        ["ingest", str(path), "--db", str(tmp_path / "big.duckdb"), "-q"], {"LOGCORR_MEMORY_LIMIT": "512MB"}
    )
    assert code == 0, err
    assert rss < 1500, f"peak RSS {rss:.0f} MB for a {written >> 20} MB input"
