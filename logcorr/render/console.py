"""The stderr console for people (progress, summaries, errors); stdout stays for data."""

from __future__ import annotations

import errno
import os
import sys
from typing import Any


def stderr_console() -> Any:
    """A rich Console on stderr that respects NO_COLOR and non-TTY output."""
    from rich.console import Console

    tty = sys.stderr.isatty()
    return Console(
        stderr=True,
        no_color="NO_COLOR" in os.environ,
        highlight=False,
        soft_wrap=False,
        width=None if tty else 160,
    )


def stdout_console(width: int) -> Any:
    """A rich Console on stdout for data (tables, the trace waterfall) that respects NO_COLOR; `width`
    columns when stdout is not a terminal. A reader that goes away (`logcorr trace ID | head -1`) raises
    BrokenPipeError, as a plain write does, and the CLI's error boundary ends the command quietly for
    both: rich's own answer was exit 1, which `trace` documents as "no such trace"."""
    from rich.console import Console

    class _Stdout(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True  # nothing more to write
            raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))

    return _Stdout(no_color="NO_COLOR" in os.environ, highlight=False,
                   width=None if sys.stdout.isatty() else width)  # fmt: skip


def counted_progress(label: str) -> tuple[Any, Any]:
    """A progress bar on stderr (TTY only) over a run's steps, with the events done: `update(events, done,
    total)`, and `stop`. Elsewhere `update` is None and `stop` does nothing."""
    if not sys.stderr.isatty():
        return None, lambda: None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[events]} events"),
                   TimeRemainingColumn(), console=stderr_console(), transient=True)  # fmt: skip
    task = bar.add_task(label, total=None, events="0")
    bar.start()

    def update(events: int, done: int, total: int) -> None:
        bar.update(task, completed=done, total=total, events=f"{events:,}")

    return update, bar.stop


def write_json(data: Any) -> None:
    """Machine output: orjson bytes on stdout, newline-terminated."""
    import orjson

    sys.stdout.buffer.write(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS) + b"\n")
    sys.stdout.buffer.flush()
