"""Crash safety: an ingest killed with SIGKILL at random points leaves the database exactly as it was,
and the same ingest afterwards succeeds.

The ingest reads a generated file from a pipe, so the test decides where the process is when it dies:
after a random number of input bytes (reading and staging) or a random moment after the input ended
(rules, storing, commit). Each kill hits the same database, whose content digest must not move.
Fast default: 3 kills; --runslow: 12 kills on a larger file.
"""

from __future__ import annotations

import contextlib
import random
import signal
import subprocess
import time

import pytest

from logcorr.pipeline.ingest import ingest
from tests.conftest import FIXTURES
from tests.reliability_helpers import digest, generated, run, start


def _feed(proc: subprocess.Popen[bytes], data: bytes) -> None:
    assert proc.stdin is not None
    view = memoryview(data)
    for i in range(0, len(view), 1 << 16):
        proc.stdin.write(view[i : i + (1 << 16)])
    proc.stdin.flush()


def _eof(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    proc.stdin = None  # so communicate() does not flush it


def _kill(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGKILL)
    if proc.stdin is not None:
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
        proc.stdin = None
    proc.communicate(timeout=60)
    return proc.returncode


def test_sigkill_at_random_points_leaves_the_database_unchanged(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> None:
    slow = bool(request.config.getoption("--runslow"))
    kills_wanted = 12 if slow else 3
    root = tmp_path_factory.mktemp("crash")
    big = generated(root / "big.jsonl", 40_000 if slow else 5_000)
    data = big.read_bytes()
    db = str(root / "crash.duckdb")
    ingest([str(FIXTURES)], db)  # the database has content before the killed ingests
    before = digest(db)
    assert before["log_queue"][0] > 0

    # one complete ingest of the same input from a pipe on a copy, to learn how long the part after
    # the end of input takes (so later kills land in it)
    probe = str(root / "probe.duckdb")
    ingest([str(FIXTURES)], probe)
    proc = start("ingest", "-", "--db", probe, "-q", stdin=subprocess.PIPE)
    _feed(proc, data)
    _eof(proc)
    t0 = time.monotonic()
    proc.communicate(timeout=600)
    after_eof = time.monotonic() - t0
    assert proc.returncode == 0
    complete = {table: n for table, (n, _) in digest(probe).items()}

    rng = random.Random(20240505)
    kills = 0
    points: list[str] = []
    attempts = 0
    while kills < kills_wanted and attempts < kills_wanted * 3:
        attempts += 1
        proc = start("ingest", "-", "--db", db, "-q", stdin=subprocess.PIPE)
        if attempts % 2:  # while reading: a random number of bytes taken from the pipe
            n = rng.randrange(len(data) // 20, len(data))
            _feed(proc, data[:n])
            point = f"after {n} of {len(data)} input bytes"
        else:  # after the input ended: rules, storing, commit
            _feed(proc, data)
            _eof(proc)
            delay = rng.uniform(0.02, 0.9) * after_eof
            time.sleep(delay)
            point = f"{delay:.2f}s after end of input"
        finished = proc.poll() is not None
        if finished:
            proc.communicate()
            code = proc.returncode
        else:
            code = _kill(proc)  # the process may still finish between poll() and the signal
        if code == 0:  # it finished before the kill: not a kill; go on with a fresh database
            db = str(root / f"fresh{attempts}.duckdb")
            ingest([str(FIXTURES)], db)
            before = digest(db)
            continue
        assert code == -signal.SIGKILL, code
        now = digest(db)
        if now != before:
            # all or nothing: a kill after COMMIT (the process was closing) leaves the complete ingest,
            # with the same rows as the probe; anything in between is a torn write
            assert {t: n for t, (n, _) in now.items()} == complete, f"partial ingest after SIGKILL {point}"
            db = str(root / f"fresh{attempts}.duckdb")
            ingest([str(FIXTURES)], db)
            before = digest(db)
            continue
        kills += 1
        points.append(point)
    assert kills >= kills_wanted, points

    # the same ingest afterwards succeeds, and again changes nothing
    done = run("ingest", str(big), "--db", db, "--json", "-q")
    assert done.returncode == 0, done.stderr
    after = digest(db)
    assert after["log_queue"][0] > before["log_queue"][0]
    again = run("ingest", str(big), "--db", db, "-q")
    assert again.returncode == 0
    events = ("log_queue", "drop_ledger", "rejects", "metrics", "recent_log_entries")
    assert {t: digest(db)[t] for t in events} == {t: after[t] for t in events}
