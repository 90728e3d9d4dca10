"""Staged rows become Arrow columns through the compiled `column_buffers` when it is built; the arrays
must equal pyarrow's own conversion of the same values, and any value it does not take (a float, a
bool, an int beyond the column's type, a lone surrogate) must leave the whole batch to pyarrow."""

from __future__ import annotations

import os
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logcorr.pipeline.stage import STAGING_SCHEMA, arrow_columns
from logcorr.sources import fast

if not fast.available() and os.environ.get("LOGCORR_ALLOW_NO_EXT"):
    pytest.skip("logcorr._fastparse is not built; LOGCORR_ALLOW_NO_EXT is set", allow_module_level=True)
buffers = fast.column_buffers()
SCHEMA = pa.schema([("a", pa.int64()), ("b", pa.string()), ("c", pa.int32()), ("d", pa.string())])

texts = st.one_of(st.none(), st.text(), st.sampled_from(["", "é", "💥", "a\x00b", "\u2028"]))
int64s = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1))
int32s = st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1))
rows_of = st.lists(st.tuples(int64s, texts, int32s, texts), max_size=70)


def _pyarrow(rows: list[tuple[Any, ...]], names: list[str]) -> list[pa.Array]:
    return arrow_columns(rows, SCHEMA, names, None)


def test_the_compiled_builder_is_built() -> None:
    assert buffers is not None, "logcorr/_fastparse.c did not build (or LOGCORR_NO_FASTPATH is set)"


@settings(max_examples=300)
@given(rows=rows_of, names=st.lists(st.sampled_from(SCHEMA.names), min_size=1, unique=True))
def test_compiled_columns_equal_pyarrow(rows: list[tuple[Any, ...]], names: list[str]) -> None:
    got = arrow_columns(rows, SCHEMA, names, buffers)
    want = _pyarrow(rows, names)
    for g, w in zip(got, want, strict=True):
        g.validate(full=True)
        assert g.type == w.type and g.null_count == w.null_count
        assert g.equals(w)


@pytest.mark.parametrize(
    "odd",
    [
        (1.5, "x", 1, "y"),  # a float in an int64 column
        (True, "x", 1, "y"),  # a bool is not an int here
        (1, "x", 2**31, "y"),  # beyond int32
        (1, 5, 1, "y"),  # an int in a string column
    ],
)
def test_values_the_builder_refuses_go_to_pyarrow(odd: tuple[Any, ...]) -> None:
    """pyarrow decides (converts or raises) exactly as it did without the compiled builder."""
    rows = [(1, "a", 1, None), odd]
    try:
        want: Any = _pyarrow(rows, SCHEMA.names)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError) as e:
        want = type(e)
    try:
        got: Any = arrow_columns(rows, SCHEMA, SCHEMA.names, buffers)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError) as e:
        got = type(e)
    if isinstance(want, type):
        assert got is want
    else:
        assert all(g.equals(w) for g, w in zip(got, want, strict=True))


def test_a_lone_surrogate_is_refused_as_pyarrow_refuses_it() -> None:
    rows = [(1, "ok\ud800", 1, None)]
    with pytest.raises((pa.ArrowInvalid, UnicodeEncodeError)):
        _pyarrow(rows, ["b"])
    with pytest.raises((pa.ArrowInvalid, UnicodeEncodeError)):
        arrow_columns(rows, SCHEMA, ["b"], buffers)


def test_a_whole_staging_batch_round_trips() -> None:
    row = (1, 2, 1754384400000, None, "browser", "browser", "log", "héllo", "t1", "field", None, "u", '{"a":1}',
           None, 7, "browser-v2", 0, None)  # fmt: skip
    rows = [row, (*row[:7], "", *row[8:])]
    got = pa.Table.from_arrays(arrow_columns(rows, STAGING_SCHEMA, STAGING_SCHEMA.names, buffers),
                               schema=STAGING_SCHEMA)  # fmt: skip
    assert got.to_pylist() == [dict(zip(STAGING_SCHEMA.names, r, strict=True)) for r in rows]
