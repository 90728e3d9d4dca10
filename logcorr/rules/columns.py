"""The rule engine's input from an Arrow batch of events, and its numbered drops back as Arrow: what ingest's
rule phase, the simulations (`logcorr.sim.run`) and replay hand the engine and read from it."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from logcorr.rules.engine import Numbered

# the engine's text columns: few distinct values (systems, levels: ENUMs in staging, which the reader gives
# dictionary-encoded already) or each repeated over a trace or a loop
_ENCODED = frozenset(("system", "level", "trace_id", "fingerprint", "suppressed"))
# what the reader gives besides the engine's columns, for each event's fate
_NOT_ENGINE = frozenset(("seq", "file_id", "request_trace", "prior_system", "prior_ts"))


def engine_columns(batch: pa.RecordBatch, encode: bool) -> dict[str, Any]:
    """One batch of the engine's input as its columns: lists, and with `encode` (the compiled loop takes
    them) the text columns dictionary-encoded, `(int32 codes as bytes, values)`, so that equal values are
    one object. 1M-record ingest: the loop took 1.8-2.1 s instead of 2.5-2.6 s, and its text columns 0.24 s
    to build instead of 0.55 s."""
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
    return cols


def drop_numbers(drops: Numbered, n: int) -> pa.Array:
    """Each of a batch's `n` rows' number among the batch's distinct decisions (`Engine.decide_numbered`),
    null for a stored row: an int32 array over the engine's own buffers. `pc.take` of it from an array
    over the decisions gives each row's rule (or code)."""
    valid, numbers, _ = drops
    return pa.Array.from_buffers(pa.int32(), n, [pa.py_buffer(valid), pa.py_buffer(numbers)])
