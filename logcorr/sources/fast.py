"""The compiled fast path of the parse phase (`logcorr/_fastparse.c`), when it is built and wanted.

It turns the common lines (browser payloads, stored worker records, Logpush invocations, Convex console and
function-execution lines) straight into staging rows and leaves every other line to the Python adapters,
which stay the reference: `tests/test_fastparse_differential.py` holds the two to the same rows. It also
writes staged rows into Arrow buffers (`column_buffers`), with their fingerprints and event keys
(`stage_keys`); the stager's `StageBatch` does all three for its event rows as they come, the rows the
compiled parser claims never becoming tuples. `LOGCORR_NO_FASTPATH=1` turns all of it off; a machine without a
C compiler installs logcorr without them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from logcorr import native

Rows = list[tuple[Any, ...]]
# (line, first sequence number - 1, file id, line number) -> (format name, event rows, metric rows) | None
LineParser = Callable[[bytes, int, int, int], tuple[str, Rows, Rows] | None]
# (text, position of the first line, end of the last, max line bytes, first sequence number - 1, file id,
# line number before the first[, a StageBatch]) -> (lines claimed, the position after them, event rows (with a
# StageBatch: their number, the rows in it), metric rows, records with events, records without, [(format name,
# records)]): `LineParser` over the lines of text[position:end] (each ending at a newline, the last at `end`),
# up to the first it declines or that is too long
LinesParser = Callable[..., tuple[int, int, Rows | int, Rows, int, int, list[tuple[str, int]]]]
# (rows, [(column index, 's' | 'l' | 'i')]) -> per column (null count, validity, [offsets,] data)
ColumnBuffers = Callable[[Rows, list[tuple[int, str]]], list[tuple[Any, ...]]]
# (rows, text column indices, trigger words, suppression column | -1, flag its non-ASCII text, patterns,
# case-sensitive) -> [(row index, needs redaction)]: the stager's probe (see `stage._probe`)
FlagRows = Callable[..., list[tuple[int, bool]]]
# (rows, indices of (ts_ms, system, level, message, trace_id, request_id, part), Python fingerprint) ->
# (offsets, fingerprints, event keys): the Arrow buffers of the stager's two computed columns
StageKeys = Callable[[Rows, tuple[int, ...], Callable[[str], str]], tuple[bytes, bytes, bytes]]


class StageBatch(Protocol):
    """The stager's event batch (`_fastparse.StageBatch`): STAGING_SCHEMA's columns as Arrow buffers, the
    rows the probe flags held apart as tuples for the Python rules."""

    nbytes: int  # the text it holds, the rows held apart too

    def __len__(self) -> int: ...

    def add_rows(self, rows: Rows) -> None:
        """Row tuples (as `stage.staged_rows` builds them), all or none: TypeError, ValueError or
        OverflowError for a value it does not take."""

    def pending(self) -> list[tuple[int, tuple[Any, ...], bool, tuple[int, ...] | None]]:
        """(row index, row, needs redaction, trigger words per text column) of each flagged row."""
        ...

    def finish(self, checked: Rows) -> list[Any]:
        """The batch's buffers (per column as `ColumnBuffers` gives them, then `StageKeys`' three, or None
        when a checked row's key needs the Python fingerprint and that raised), the pending rows replaced by
        `checked`; the batch is then empty."""
        ...


def _compiled(name: str) -> Any:
    """A function of the compiled module, or None when it is not built or turned off."""
    ext = native.module("_fastparse")
    return None if ext is None else getattr(ext, name)


def line_parser() -> LineParser | None:
    """The compiled line parser, or None when it is not built or turned off."""
    parse: LineParser | None = _compiled("parse_line")
    return parse


def lines_parser() -> LinesParser | None:
    """The compiled parser of a run of lines (one call for many lines), or None when it is not built or
    turned off."""
    parse: LinesParser | None = _compiled("parse_lines")
    return parse


def flag_rows() -> FlagRows | None:
    """The compiled probe for rows the redactor or suppressor must see, or None when it is not built or
    turned off."""
    flag: FlagRows | None = _compiled("flag_rows")
    return flag


def stage_keys() -> StageKeys | None:
    """The compiled fingerprints and event keys of staged rows, or None when it is not built or turned off."""
    keys: StageKeys | None = _compiled("stage_keys")
    return keys


def column_buffers() -> ColumnBuffers | None:
    """The compiled builder of Arrow buffers from staged rows, or None when it is not built or turned off."""
    build: ColumnBuffers | None = _compiled("column_buffers")
    return build


def stage_batch() -> Callable[..., StageBatch] | None:
    """The compiled staging batch's type (`StageBatch`: rows built straight into Arrow buffers, checked and
    keyed as they come; its arguments are the probe's, as `stage._probe` gives them, then the Python
    fingerprint), or None when it is not built or turned off."""
    cls: Callable[..., StageBatch] | None = _compiled("StageBatch")
    return cls


def kv_near() -> Callable[[str], bool | None] | None:
    """The compiled `redact._KV_NEAR` test of an ASCII text (None for other text), or None when it is not built
    or turned off."""
    near: Callable[[str], bool | None] | None = _compiled("kv_near")
    return near


def available() -> bool:
    """Whether the compiled module was built (whatever the environment says)."""
    return native.built("_fastparse") is not None
