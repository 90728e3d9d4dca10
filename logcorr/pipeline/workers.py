"""The parse worker processes, started without importing what ingest needs itself (pyarrow, DuckDB,
pydantic): `logcorr ingest` starts them first, so that they import while it does (see `early_pool`)."""

from __future__ import annotations

import os
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
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx)
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


def _warm() -> None:
    import logcorr.pipeline.parse
    import logcorr.pipeline.spool
    import logcorr.pipeline.stage
    import logcorr.sources.detect  # noqa: F401
