"""The value helpers every adapter shares."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from logcorr.model import to_ms


@given(st.integers(min_value=-(10**19), max_value=10**19))
def test_an_integer_time_means_what_the_same_number_as_a_float_means(value: int) -> None:
    # integers in the epoch-ms range take a short cut past the float path; it must agree with it
    assert to_ms(value) == to_ms(float(value))


@given(st.sampled_from([99_999_999_999, 100_000_000_000, 99_999_999_999_999, 100_000_000_000_000]))
def test_the_edges_of_the_millisecond_range(value: int) -> None:
    assert to_ms(value) == to_ms(float(value))


def test_times_in_every_unit_and_spelling() -> None:
    ms = 1_754_384_400_731
    assert to_ms(ms) == ms
    assert to_ms(ms * 1000) == ms  # µs
    assert to_ms(ms * 1_000_000) == ms  # ns
    assert to_ms(1_754_384_400.731) == ms  # s with a fraction
    assert to_ms(str(ms)) == ms
    assert to_ms("2025-08-05T09:00:00.731Z") == ms
    assert to_ms(True) is None
    assert to_ms(None) is None
