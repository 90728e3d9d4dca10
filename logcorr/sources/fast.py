"""The compiled fast path of the parse phase (`logcorr/_fastparse.c`), when it is built and wanted.

It turns the common lines (browser payloads, stored worker records, Logpush invocations, Convex console and
function-execution lines) straight into staging rows and leaves every other line to the Python adapters,
which stay the reference: `tests/test_fastparse_differential.py` holds the two to the same rows. `LOGCORR_NO_FASTPATH=1` turns
it off; a machine without a C compiler installs logcorr without it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

Rows = list[tuple[Any, ...]]
# (line, first sequence number - 1, file id, line number) -> (format name, event rows, metric rows) | None
LineParser = Callable[[bytes, int, int, int], tuple[str, Rows, Rows] | None]


def line_parser() -> LineParser | None:
    """The compiled line parser, or None when it is not built or turned off."""
    if os.environ.get("LOGCORR_NO_FASTPATH", "") not in ("", "0"):
        return None
    try:
        from logcorr._fastparse import parse_line
    except ImportError:
        return None
    return parse_line  # type: ignore[no-any-return]


def column_buffers() -> (
    Callable[[list[tuple[Any, ...]], list[tuple[int, str]]], list[tuple[Any, ...]]] | None
):
    """The compiled builder of Arrow buffers from staged rows, or None when it is not built or turned off."""
    if os.environ.get("LOGCORR_NO_FASTPATH", "") not in ("", "0"):
        return None
    try:
        from logcorr._fastparse import column_buffers as build
    except ImportError:
        return None
    return build  # type: ignore[no-any-return]


def available() -> bool:
    """Whether the compiled module was built (whatever the environment says)."""
    try:
        import logcorr._fastparse  # noqa: F401
    except ImportError:
        return False
    return True
