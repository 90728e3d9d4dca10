"""The parse worker processes, started without importing what ingest needs itself (pyarrow, DuckDB,
pydantic): `logcorr ingest` starts them first, so that they import while it does (see `early_pool`)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

# files smaller than this are parsed in-process (starting workers costs ~0.5 s)
MIN_SPLIT_BYTES = 48 << 20
# the names of the files a directory given to ingest is read for
INPUT_SUFFIXES = (".json", ".jsonl", ".ndjson", ".log", ".txt", ".gz")
# whole files go to the workers (one each, see `ingest._whole_files`) when there are two or more that hold
# this much to read together, a gzip counted at `GZIP_RATIO` times its size (as logs compress)
WHOLE_FILES_MIN_BYTES = 32 << 20
GZIP_RATIO = 6


def walk_dir(top: str | os.PathLike[str], hidden: list[Path] | None = None) -> list[Path]:
    """Every entry under the directory `top` at any depth (files, directories, symbolic links: those to a
    directory not walked into), sorted: the one walk of an input directory (`ingest.expand_inputs`,
    `early_pool`). An entry whose name starts with `.` (`.git`, `.cache`, `.DS_Store`) is passed over with all
    it holds, as ripgrep and fd do, and added to `hidden` (sorted): no one's logs, and reading them rejected a
    `.git/config.json` as an "unknown record shape". `top` itself is walked whatever its name."""
    out: list[Path] = []
    passed: list[Path] = []
    for root, dirs, names in os.walk(top):
        for name in (*dirs, *names):
            (passed if name.startswith(".") else out).append(Path(root, name))
        dirs[:] = [d for d in dirs if not d.startswith(".")]
    if hidden is not None:
        hidden.extend(sorted(passed))
    return sorted(out)


def default_jobs() -> int:
    """Worker processes to use: the cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def worker_pool(jobs: int) -> ProcessPoolExecutor:
    """`jobs` worker processes, started now: each imports what a shard needs (0.3 s) while the caller goes on."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")  # never fork a process holding a DuckDB connection
    pool = ProcessPoolExecutor(
        max_workers=jobs, mp_context=ctx, initializer=_started, initargs=(os.getpid(),)
    )
    for _ in range(jobs):
        pool.submit(_warm)
    return pool


def work_of(path: str, size: int) -> int:
    """What a whole file holds to read, for `WHOLE_FILES_MIN_BYTES`: a gzip (by its name) `GZIP_RATIO` times
    its size."""
    return size * (GZIP_RATIO if path.lower().endswith(".gz") else 1)


def enough_whole(count: int, work: int) -> bool:
    """Whether `count` whole files holding `work` (`work_of`) are worth parsing on the workers."""
    return count >= 2 and work >= WHOLE_FILES_MIN_BYTES


def early_pool(paths: Iterable[str], jobs: int) -> ProcessPoolExecutor | None:
    """The workers, started before the caller's own imports (0.27 s) and its database connection, when
    `paths` (files, and the log files of directories) hold one file large enough to be parsed in shards, or
    files enough to be parsed whole on the workers (`WHOLE_FILES_MIN_BYTES`); None otherwise."""
    if jobs < 2:
        return None
    count = work = 0
    for p in paths:
        try:
            if p == "-":
                continue
            found: Iterable[str]
            if os.path.isdir(p):
                found = (
                    str(f) for f in walk_dir(p) if f.name.lower().endswith(INPUT_SUFFIXES) and f.is_file()
                )
            else:
                found = (p,) if os.path.isfile(p) else ()
            for f in found:
                size = os.path.getsize(f)
                if size >= MIN_SPLIT_BYTES:
                    return worker_pool(jobs)
                count += 1
                work += work_of(f, size)
                if enough_whole(count, work):
                    return worker_pool(jobs)
        except OSError:
            continue
    return None


def _started(parent: int) -> None:
    """Each worker, as it starts. Ctrl-C reaches the whole process group: the parent handles it (it stops the
    pool), and a worker's own KeyboardInterrupt printed a traceback. And a worker ends when its parent is
    gone, however that ended (kill -9, SIGTERM): it would wait for tasks forever, holding the parent's
    stdout open (`logcorr ingest … | cat` never ended)."""
    import signal
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_WATCH_S)
        os._exit(1)

    threading.Thread(target=watch, name="logcorr-parent-watch", daemon=True).start()


_WATCH_S = 0.5


def _warm() -> None:
    import logcorr.pipeline.parse
    import logcorr.pipeline.spool
    import logcorr.pipeline.stage
    import logcorr.sources.detect  # noqa: F401
