"""The value helpers every adapter shares."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from logcorr.model import to_ms


def _number_ms(value: int | float) -> int:
    """Epoch ms from a number by its magnitude (s, ms, µs, ns): the definition `to_ms` short-cuts for ints."""
    v = float(value)
    a = abs(v)
    if a >= 1e17:
        return int(v // 1_000_000)
    if a >= 1e14:
        return int(v // 1_000)
    if a >= 1e11:
        return int(v)
    return round(v * 1000)


@given(st.integers(min_value=-(10**19), max_value=10**19))
def test_an_integer_time_means_what_its_magnitude_says(value: int) -> None:
    assert to_ms(value) == _number_ms(value)


@given(st.sampled_from([99_999_999_999, 100_000_000_000, 99_999_999_999_999, 100_000_000_000_000]))
def test_the_edges_of_the_millisecond_range(value: int) -> None:
    assert to_ms(value) == _number_ms(value)


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
