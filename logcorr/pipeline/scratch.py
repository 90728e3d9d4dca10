"""Ingest's private temporary directories (`logcorr-stage-*` under `$TMPDIR`): made, held, and swept once
their owner is gone.

An ingest removes its directory when it ends, failed or interrupted. A process killed outright (SIGKILL,
the OOM killer, a lost machine) cannot, and at 5M records the directory holds 2.4 GB. So the owner holds an
exclusive `flock` on a file in it for as long as it lives (the kernel lets go of it when the process dies,
however it dies), and every ingest first removes the directories whose lock it can take. A directory
without the lock file (made by an older logcorr, or its owner is between `mkdtemp` and the lock) is
left alone until it is an hour old.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass

try:
    import fcntl
except ImportError:  # not on Windows: directories are neither locked nor swept there
    fcntl = None  # type: ignore[assignment]

PREFIX = "logcorr-stage-"
LOCK = ".owner"
# a directory without a lock file is swept only when older than this
UNLOCKED_AGE_S = 3600.0


@dataclass
class Scratch:
    """A directory this process made and holds (`lock`: the open lock file, None where unsupported)."""

    path: str
    lock: int | None

    def remove(self) -> None:
        """Remove the directory and everything in it, then let go of the lock."""
        shutil.rmtree(self.path, ignore_errors=True)
        if self.lock is not None:
            os.close(self.lock)
            self.lock = None


def make() -> Scratch:
    """A new private directory (mode 0700) under `$TMPDIR`, locked for this process's lifetime. Raises
    OSError when it cannot be made."""
    path = tempfile.mkdtemp(prefix=PREFIX)
    if fcntl is None:
        return Scratch(path, None)
    try:
        fd = os.open(os.path.join(path, LOCK), os.O_CREAT | os.O_RDWR, 0o600)
    except OSError:
        shutil.rmtree(path, ignore_errors=True)
        raise
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: nobody else holds it
    return Scratch(path, fd)


def sweep(tmp: str | None = None) -> list[tuple[str, int]]:
    """Remove the directories under `tmp` (default `$TMPDIR`) left by ingests that are no longer running:
    this user's `logcorr-stage-*` whose lock nobody holds. Returns each removed path with the bytes it held.
    Never raises: a directory that cannot be examined or removed is left as it is."""
    if fcntl is None:
        return []
    tmp = tmp or tempfile.gettempdir()
    removed: list[tuple[str, int]] = []
    try:
        entries = [e for e in os.scandir(tmp) if e.name.startswith(PREFIX)]
    except OSError:
        return removed
    uid = os.getuid()
    for entry in entries:
        with contextlib.suppress(OSError):
            st = entry.stat(follow_symlinks=False)
            if not entry.is_dir(follow_symlinks=False) or st.st_uid != uid:
                continue
            size = _stale_size(entry.path, st.st_mtime)
            if size is not None:
                removed.append((entry.path, size))
    return removed


def _stale_size(path: str, mtime: float) -> int | None:
    """Remove `path` if its owner is gone, returning the bytes it held; None when it is kept."""
    try:
        fd = os.open(os.path.join(path, LOCK), os.O_RDWR)
    except FileNotFoundError:
        if time.time() - mtime < UNLOCKED_AGE_S:
            return None
        size = _size(path)
        shutil.rmtree(path)
        return size
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # its owner is running
        size = _size(path)
        shutil.rmtree(path)  # held locked while it goes: no one else sweeps it meanwhile
        return size
    finally:
        os.close(fd)


def _size(path: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total
