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
from types import FrameType
from typing import Any

_open: weakref.WeakSet[Any] = weakref.WeakSet()


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
    interrupt_all()
    signal.default_int_handler(signum, frame)


def install() -> None:
    """Take over SIGINT from Python's default handler. An ignored SIGINT (a background job's) stays ignored,
    and a handler someone else installed stays theirs. Main thread only."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)
