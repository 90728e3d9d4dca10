"""Ctrl-C stops a running DuckDB statement at once.

When SIGINT arrives during a statement, DuckDB's Python module notices it, raises, and closes the result;
closing waits for the statement's tasks on DuckDB's own threads, and in DuckDB 2.0.1 those are not told to
stop. A task that scans one long source (`range(…)`, or a big table taken by one thread) then runs to its
end before the process can exit, and a second Ctrl-C changes nothing. `Connection.interrupt()` does tell
them. So the CLI's SIGINT handler interrupts every connection this process opened, then raises
KeyboardInterrupt as Python's default handler does. DuckDB runs Python's signal handlers while it waits for
a statement, so this happens before the result is closed.
"""

from __future__ import annotations

import contextlib
import signal
import weakref
from collections.abc import Iterator
from types import FrameType
from typing import Any

_open: weakref.WeakSet[Any] = weakref.WeakSet()
_requested = False  # Ctrl-C came: a DuckDB error raised since is its consequence, not a database fault
_deferring = False  # inside `deferred()`: Ctrl-C waits for the block's end
_pending = False
_committed: int | None = None  # the ingest run committed before Ctrl-C came (see `deferred`)


def track(con: Any) -> Any:
    """Have Ctrl-C interrupt `con` (a DuckDB connection or cursor); returns it."""
    _open.add(con)
    return con


def interrupt_all() -> None:
    """Interrupt the statement running on each open tracked connection."""
    for con in list(_open):
        with contextlib.suppress(Exception):  # closed already: nothing runs there to stop
            con.interrupt()


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    global _requested, _pending
    _requested = True
    if _deferring:
        _pending = True
        return
    interrupt_all()
    signal.default_int_handler(signum, frame)


def requested() -> bool:
    """Whether Ctrl-C came during this command. DuckDB turns an interruption into errors of its own (an
    aborted transaction, a failed Arrow stream): they mean the user stopped it."""
    return _requested


@contextlib.contextmanager
def deferred(run_id: int) -> Iterator[None]:
    """Ctrl-C inside the block (an ingest's COMMIT) is held until it ends; the KeyboardInterrupt raised then
    carries that run `run_id` was committed (`committed_run`), so nobody is told an ingest that is in the
    database was stopped."""
    global _deferring, _pending, _committed
    _deferring = True
    try:
        yield
    finally:
        _deferring = False
    _committed = run_id  # from here on, a Ctrl-C (closing, printing the summary) finds the run stored
    if _pending:
        _pending = False
        raise KeyboardInterrupt


def reset() -> None:
    """Forget an earlier command's Ctrl-C (commands run one after another in one process, as in tests)."""
    global _requested, _pending, _committed
    _requested = _pending = False
    _committed = None


def committed_run() -> int | None:
    """The ingest run this command committed (see `deferred`), else None: Ctrl-C after it stopped nothing of it."""
    return _committed


def install() -> None:
    """Take over SIGINT from Python's default handler. An ignored SIGINT (a background job's) stays ignored,
    and a handler someone else installed stays theirs. Main thread only."""
    reset()
    if signal.getsignal(signal.SIGINT) in (signal.default_int_handler, _on_sigint):
        signal.signal(signal.SIGINT, _on_sigint)
