"""The optional compiled modules (`logcorr/_fastparse.c`, `logcorr/_fastrules.c`): built by `setup.py` at
install when a C compiler is there, each standing in for Python code that stays the reference.
`LOGCORR_NO_FASTPATH=1` turns them all off."""

from __future__ import annotations

import importlib
import os
from typing import Any


def wanted() -> bool:
    """Whether the environment allows the compiled modules."""
    return os.environ.get("LOGCORR_NO_FASTPATH", "") in ("", "0")


def module(name: str) -> Any:
    """The compiled module `logcorr.<name>`, or None when it is not built or turned off."""
    if not wanted():
        return None
    return built(name)


def built(name: str) -> Any:
    """The compiled module `logcorr.<name>` whatever the environment says, or None when it is not built."""
    try:
        return importlib.import_module(f"logcorr.{name}")
    except ImportError:
        return None
