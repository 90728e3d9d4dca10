"""The rule engine's input from an Arrow batch of events, and its numbered drops back as Arrow: what ingest's
rule phase, the simulations (`logcorr.sim.run`) and replay hand the engine and read from it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from logcorr import native
from logcorr.rules.engine import Numbered

# the engine's text columns: few distinct values (systems, levels: ENUMs in staging, which the reader gives
# dictionary-encoded already) or each repeated over a trace or a loop
_ENCODED = frozenset(("system", "level", "trace_id", "fingerprint", "suppressed"))
# what the reader gives besides the engine's columns, for each event's fate
_NOT_ENGINE = frozenset(("seq", "file_id", "request_trace", "prior_system", "prior_ts"))


@dataclass(frozen=True)
class HotWindows:
    """What a batch's hot flags need besides the batch (`engine_columns`): the loop and cross-system windows,
    and where the input ends for the engine (the newest time of an event that reaches it, overall and per
    system), so that the events of the last windows are remembered for the next ingest."""

    loop_ms: int
    cross_ms: int
    newest: int
    newest_by_system: Mapping[str, int]


_FLAG_VALUES = [False, True]


def engine_columns(batch: pa.RecordBatch, encode: bool, hot: HotWindows | None = None) -> dict[str, Any]:
    """One batch of the engine's input as its columns: lists, and with `encode` (the compiled loop takes
    them) the text columns dictionary-encoded, `(int32 codes as bytes, values)`, so that equal values are
    one object. 1M-record ingest: the loop took 1.8-2.1 s instead of 2.5-2.6 s, and its text columns 0.24 s
    to build instead of 0.55 s.

    With `hot` and `encode`, and the batch in time order, the hot flags too (`loop_hot`, `cross_hot`, see
    `hot_flags_sql`), found in the batch by the compiled module: a superset of what the SQL flags over the
    whole input, which the engine only needs to be one (an event flagged cold has no neighbour of its key
    within the window). Where every line is stored and messages differ, the engine keeps no window entry
    per event: ingest of 1.2M backend lines, the engine 3.4-3.7 CPU-s without flags, 1.05 s with them."""
    cols: dict[str, Any] = {}
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if name in _NOT_ENGINE or (encode and name == "pos"):  # the compiled loop numbers rows itself
            continue
        if not encode or name not in _ENCODED:
            cols[name] = column.to_pylist()
            continue
        encoded = pc.dictionary_encode(column)
        values = encoded.dictionary.to_pylist()
        values.append(None)
        codes = pc.fill_null(encoded.indices, len(values) - 1).cast(pa.int32())
        data = codes.buffers()[1]
        cols[name] = (data[codes.offset * 4 : (codes.offset + len(codes)) * 4].to_pybytes(), values)
    names = batch.schema.names
    if "prior_system" in names:
        # rule 5's copies an earlier ingest stored (ingest's `decide`): (system, ts) or None, as the state's
        kept = batch.column(names.index("prior_system"))
        if kept.null_count < len(kept):
            at = batch.column(names.index("prior_ts")).to_pylist()
            cols["cross_prior"] = [
                None if k is None else (k, t) for k, t in zip(kept.to_pylist(), at, strict=True)
            ]
    if hot is not None and encode:
        flags = _hot_flags(batch, cols, hot)
        if flags is not None:
            cols["loop_hot"], cols["cross_hot"] = flags
    return cols


def _hot_flags(batch: pa.RecordBatch, cols: dict[str, Any], hot: HotWindows) -> tuple[Any, Any] | None:
    """The batch's (loop_hot, cross_hot) as encoded columns, or None (no compiled module, times missing or
    out of order: every event is then checked)."""
    ext = native.module("_fastrules")
    ts = batch.column(batch.schema.names.index("ts_ms"))
    if ext is None or ts.null_count or ts.type != pa.int64():
        return None
    data = ts.buffers()[1][ts.offset * 8 : (ts.offset + len(ts)) * 8]
    (sys_codes, systems), (lvl_codes, _), (fp_codes, _), (tid_codes, tids) = (
        cols[k] for k in ("system", "level", "fingerprint", "trace_id")
    )
    newest = [None if name is None else hot.newest_by_system.get(name) for name in systems]
    flags = ext.hot_flags(
        data,
        sys_codes,
        lvl_codes,
        fp_codes,
        tid_codes,
        len(tids) - 1,
        hot.loop_ms,
        newest,
        hot.cross_ms,
        hot.newest,
    )
    if flags is None:
        return None
    return (flags[0], _FLAG_VALUES), (flags[1], _FLAG_VALUES)


def drop_numbers(drops: Numbered, n: int) -> pa.Array:
    """Each of a batch's `n` rows' number among the batch's distinct decisions (`Engine.decide_numbered`),
    null for a stored row: an int32 array over the engine's own buffers. `pc.take` of it from an array
    over the decisions gives each row's rule (or code)."""
    valid, numbers, _ = drops
    return pa.Array.from_buffers(pa.int32(), n, [pa.py_buffer(valid), pa.py_buffer(numbers)])
