"""The optional compiled modules (`logcorr/_fastparse.c`, `logcorr/_fastrules.c`): built by `setup.py` at
install when a C compiler is there, each standing in for Python code that stays the reference.
`LOGCORR_NO_FASTPATH=1` turns them all off."""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
from pathlib import Path
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
    """The compiled module `logcorr.<name>` whatever the environment says, or None when it is not built, or
    was built from another version of its source than the one beside it (`stale`)."""
    try:
        mod = importlib.import_module(f"logcorr.{name}")
    except ImportError:
        return None
    return None if stale(name, mod) else mod


_STALE: dict[str, bool] = {}  # per module, once a process


def source_digest(path: Path) -> str:
    """What setup.py stamps a module with: the first 16 hex digits of its source's SHA-256."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def stale(name: str, mod: Any) -> bool:
    """Whether `mod` was built from another version of `logcorr/<name>.c` than the one beside it (a checkout
    updated without reinstalling: its rows would differ from the Python path's). Said once on stderr. A module
    built by hand has no stamp, and an installed package no source: nothing to compare."""
    if name in _STALE:
        return _STALE[name]
    stamp = getattr(mod, "SOURCE", "")
    src = Path(__file__).with_name(f"{name}.c")
    _STALE[name] = bool(stamp) and src.is_file() and source_digest(src) != stamp
    if _STALE[name]:
        print(
            f"logcorr: warning: the compiled logcorr/{name} was built from another version of {src.name}; it is not "
            "used (everything runs, slower, in Python). Rebuild it: python3 dev.py demo, or pip install -e .",
            file=sys.stderr,
        )
    return _STALE[name]
