"""The one writer: request bodies queue here and are written in batches, each batch one `ingest_streams`
run in one transaction (group commit). A request is answered only after its batch committed, so an
answered log is on disk; a crash loses only requests that were never answered (the batch being written
and those queued behind it), and the transaction leaves the database as it was.

The database is open only while a batch is written: between batches other processes (`logcorr trace`,
`traces`, the `duckdb` CLI) can open it; `connect` waits for the lock on both sides.
"""

from __future__ import annotations

import contextlib
import io
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from logcorr.errors import LogcorrError
from logcorr.pipeline.ingest import ingest_streams
from logcorr.rules.budget import BudgetConfig
from logcorr.rules.persist import load_state
from logcorr.rules.policy import Policy
from logcorr.rules.report import QuotaReport, quota_report
from logcorr.store.connection import connect


@dataclass
class Outcome:
    """What the pipeline did with one request body."""

    events: int = 0
    stored: int = 0
    rejected: int = 0
    skipped: int = 0
    drops: list[tuple[str, str]] = field(default_factory=list)  # (rule, reason) per dropped event
    remaining: dict[str, int] = field(default_factory=dict)  # system → writes left in its monthly share


@dataclass
class _Job:
    name: str
    body: bytes
    future: Future[Outcome]


@dataclass
class _Read:
    fn: Callable[[Any], Any]
    future: Future[Any]


@dataclass
class WriterStats:
    batches: int = 0
    requests: int = 0
    failed_batches: int = 0
    last_batch_requests: int = 0
    last_batch_ms: float = 0.0
    stored: int = 0
    dropped: Counter[str] = field(default_factory=Counter)  # rule → events
    quota: QuotaReport | None = None
    # when `close` gave up waiting (after `gave_up_s`): the requests then queued or being written, which the
    # process ending may leave unstored
    unwritten: int = 0
    gave_up_s: float = 0.0


def _remaining(report: QuotaReport | None) -> dict[str, int]:
    if report is None:
        return {}
    return {q.system: max(0, q.quota - q.used) for q in report.systems}


class BatchWriter:
    """A thread that writes queued bodies in batches of up to `batch_max`, waiting `batch_ms` after the
    first body of a batch for others to join it."""

    def __init__(self, db: str, policy: Policy, *, batch_ms: int = 50, batch_max: int = 512) -> None:
        self.db = db
        self.policy = policy
        self.batch_s = batch_ms / 1000.0
        self.batch_max = batch_max
        self.stats = WriterStats()
        self._queue: queue.Queue[_Job | _Read | None] = queue.Queue()
        self._seq = 0
        self._writing = 0  # requests of the batch being gathered or written
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="logcorr-writer", daemon=True)

    def start(self) -> None:
        """Create or migrate the database, read the saved quota use, start the thread (once)."""
        if self._thread.is_alive():
            return
        con = connect(self.db)
        try:
            state = load_state(con, self.policy)
            self.stats.quota = quota_report(state, BudgetConfig.from_policy(self.policy))
        finally:
            con.close()
        self._thread.start()

    def submit(self, endpoint: str, body: bytes) -> Future[Outcome]:
        """Queue one body; the future resolves once its batch committed (or fails with its error)."""
        with self._lock:
            self._seq += 1
            name = f"serve:{endpoint}#{self._seq}"
        fut: Future[Outcome] = Future()
        self._queue.put(_Job(name, body, fut))
        return fut

    def read(self, fn: Callable[[Any], Any]) -> Future[Any]:
        """Run `fn(connection)` on the writer thread between batches (the database's one user)."""
        fut: Future[Any] = Future()
        self._queue.put(_Read(fn, fut))
        return fut

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def close(self, timeout: float = 30.0) -> bool:
        """Write what is queued, then stop the thread; False when it has not finished within `timeout` s (then
        `stats.unwritten` counts the requests still queued or being written)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)
        if not self._thread.is_alive():
            return True
        with self._queue.mutex:
            queued = sum(isinstance(i, _Job) for i in self._queue.queue)
        self.stats.unwritten, self.stats.gave_up_s = queued + self._writing, timeout
        return False

    def _loop(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                break
            items = [first]
            self._writing = isinstance(first, _Job)  # taken off the queue: counted by `close` from here
            deadline = time.monotonic() + self.batch_s
            while len(items) < self.batch_max:
                left = deadline - time.monotonic()
                try:
                    item = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                items.append(item)
                self._writing += isinstance(item, _Job)
            # a request whose answer timed out while it queued was cancelled: it is not written (its client
            # was told nothing was stored); the others can no longer be cancelled from here on
            items = [i for i in items if i.future.set_running_or_notify_cancel()]
            jobs = [i for i in items if isinstance(i, _Job)]
            self._writing = len(jobs)
            try:
                self._run(jobs, [i for i in items if isinstance(i, _Read)])
            except Exception as e:  # a fault in one batch must not stop the only writer: fail it, go on
                err = LogcorrError(
                    f"internal error writing the batch ({type(e).__name__}); nothing of it was stored"
                )
                self.stats.failed_batches += 1
                for i in items:
                    if not i.future.done():
                        i.future.set_exception(err)
            self._writing = 0

    def _run(self, jobs: list[_Job], reads: list[_Read]) -> None:
        started = time.perf_counter()
        try:
            con = connect(self.db)
        except LogcorrError as e:
            for job in jobs:
                job.future.set_exception(e)
            for r in reads:
                r.future.set_exception(e)
            self.stats.failed_batches += bool(jobs)
            return
        try:
            if jobs:
                self._write(con, jobs, started)
            for r in reads:
                try:
                    r.future.set_result(r.fn(con))
                except Exception as e:
                    r.future.set_exception(e)
        finally:
            con.close()

    def _write(self, con: Any, jobs: list[_Job], started: float) -> None:
        import duckdb

        try:
            con.execute("BEGIN TRANSACTION")
            result = ingest_streams(con, self.db, [(j.name, io.BytesIO(j.body)) for j in jobs], self.policy)
            drops: dict[str, list[tuple[str, str]]] = {}
            for source, rule, reason in con.execute(
                "SELECT source_file, rule, reason FROM drop_ledger WHERE run_id = ? ORDER BY event_id",
                [result.run_id],
            ).fetchall():
                drops.setdefault(source, []).append((rule, reason))
            con.execute("COMMIT")
        except (duckdb.Error, LogcorrError, OSError) as e:
            with contextlib.suppress(Exception):
                con.execute("ROLLBACK")
            self.stats.failed_batches += 1
            err = (
                e
                if isinstance(e, LogcorrError)
                else LogcorrError(f"database error: {str(e).splitlines()[0]}")
            )
            for j in jobs:
                j.future.set_exception(err)
            return
        st = self.stats
        st.batches += 1
        st.requests += len(jobs)
        st.last_batch_requests = len(jobs)
        st.last_batch_ms = (time.perf_counter() - started) * 1000.0
        st.stored += result.stored
        for (rule, _system), n in result.drops.items():
            st.dropped[rule] += n
        if result.quota is not None:
            st.quota = result.quota
        remaining = _remaining(st.quota)
        for job, fr in zip(jobs, result.files, strict=True):
            job.future.set_result(
                Outcome(
                    events=fr.events,
                    stored=fr.stored,
                    rejected=fr.rejected,
                    skipped=fr.records_skipped,
                    drops=drops.get(job.name, []),
                    remaining=remaining,
                )
            )
