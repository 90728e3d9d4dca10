"""The stderr console for people (progress, summaries, errors); stdout stays for data."""

from __future__ import annotations

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


def write_json(data: Any) -> None:
    """Machine output: orjson bytes on stdout, newline-terminated."""
    import orjson

    sys.stdout.buffer.write(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS) + b"\n")
    sys.stdout.buffer.flush()
