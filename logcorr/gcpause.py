"""Pausing Python's cyclic garbage collector around work that makes no reference cycles.

Ingest, the rule engine and replay make millions of short-lived objects that reference counting frees,
and keep large live structures (rows being staged, the rules' state). The cyclic collector runs every few
thousand allocations and walks the live ones, finding nothing: over a 1M-record ingest that cost about a
third of the parse and more than doubled the drops' bookkeeping."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic collector off for the block, and on again after it if it was on before (so nested
    pauses end with the outermost)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
