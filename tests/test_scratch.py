"""Ingest's temporary directories: a killed ingest's is removed by the next one, a running one's never."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from logcorr.pipeline import scratch

pytestmark = pytest.mark.skipif(scratch.fcntl is None, reason="no flock on this platform")

# a process that makes a directory as ingest does, writes into it, says where, and waits to be killed
_OWNER = """
import sys, time
from logcorr.pipeline import scratch
s = scratch.make()
with open(s.path + "/0-000000.staging.arrow", "wb") as f:
    f.write(b"x" * 5000)
print(s.path, flush=True)
time.sleep(120)
"""


def _owner(tmp: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _OWNER],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp)},
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def test_the_directory_of_a_killed_owner_is_removed(tmp_path: Path) -> None:
    proc, path = _owner(tmp_path)
    try:
        assert Path(path).parent == tmp_path
        assert scratch.sweep(str(tmp_path)) == []  # its owner runs
        assert os.path.isdir(path)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert scratch.sweep(str(tmp_path)) == [(path, 5000)]
    assert not os.path.exists(path)
    assert scratch.sweep(str(tmp_path)) == []


def test_this_process_keeps_its_own_directory_until_it_removes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    mine = scratch.make()
    assert mine.path.startswith(str(tmp_path / scratch.PREFIX))
    assert oct(os.stat(mine.path).st_mode & 0o777) == "0o700"
    assert scratch.sweep(str(tmp_path)) == []  # the lock is per open file: this process's own sweep waits too
    assert os.path.isdir(mine.path)
    mine.remove()
    assert not os.path.exists(mine.path)
    assert scratch.sweep(str(tmp_path)) == []


def test_a_directory_without_a_lock_is_removed_only_when_old(tmp_path: Path) -> None:
    young = tmp_path / f"{scratch.PREFIX}young"
    old = tmp_path / f"{scratch.PREFIX}old"
    for d in (young, old):
        d.mkdir()
        (d / "a.arrow").write_bytes(b"y" * 300)
    hours_ago = time.time() - 2 * scratch.UNLOCKED_AGE_S
    os.utime(old, (hours_ago, hours_ago))
    assert scratch.sweep(str(tmp_path)) == [(str(old), 300)]
    assert young.is_dir()


def test_other_entries_are_left_alone(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / scratch.LOCK).write_bytes(b"")
    (tmp_path / f"{scratch.PREFIX}link").symlink_to(target)  # a link is not one of ours
    (tmp_path / f"{scratch.PREFIX}file").write_bytes(b"z")
    other = tmp_path / "other-dir"
    other.mkdir()
    (other / scratch.LOCK).write_bytes(b"")
    assert scratch.sweep(str(tmp_path)) == []
    assert target.is_dir() and other.is_dir() and (tmp_path / f"{scratch.PREFIX}file").exists()


def test_ingest_removes_what_a_killed_ingest_left_and_says_so(
    cli, write_jsonl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc, path = _owner(tmp)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    src = write_jsonl(
        "b.jsonl", [{"level": "info", "message": "hello", "trace_id": "t1", "timestamp": 1714910400000}]
    )
    db = tmp_path / "a.duckdb"
    res = cli("ingest", src, "--db", db)
    assert res.exit_code == 0, res.stderr
    assert "removed 1 temporary directory (0.0 MB) left by killed ingests" in res.stderr
    assert not os.path.exists(path)
    assert list(tmp.iterdir()) == []  # and the ingest removed its own

    proc, path = _owner(tmp)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    src2 = write_jsonl(
        "c.jsonl", [{"level": "info", "message": "again", "trace_id": "t2", "timestamp": 1714910460000}]
    )
    res = cli("ingest", src2, "--db", db, "--json")
    assert res.exit_code == 0, res.stderr
    assert res.json()["swept_temp_dirs"] == [{"path": path, "bytes": 5000}]
