"""The parse worker processes, started without importing what ingest needs itself (pyarrow, DuckDB,
pydantic): `logcorr ingest` starts them first, so that they import while it does (see `early_pool`)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor

# files smaller than this are parsed in-process (starting workers costs ~0.5 s)
MIN_SPLIT_BYTES = 48 << 20


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


def early_pool(paths: Iterable[str], jobs: int) -> ProcessPoolExecutor | None:
    """The workers, started before the caller's own imports (0.27 s) and its database connection, when one
    of `paths` is a regular file large enough to be parsed in shards (a directory's files are looked at
    later: ingest starts the workers then); None otherwise."""
    if jobs < 2:
        return None
    for p in paths:
        try:
            if p != "-" and os.path.isfile(p) and os.path.getsize(p) >= MIN_SPLIT_BYTES:
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
