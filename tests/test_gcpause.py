"""The collector pause: off inside, restored after, nested pauses end with the outermost."""

from __future__ import annotations

import gc

import pytest

from logcorr.gcpause import gc_paused


def test_the_collector_is_off_inside_and_back_on_after_even_when_the_block_raises() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner pause found it off: it leaves it off
    assert gc.isenabled()
    with pytest.raises(KeyError), gc_paused():
        raise KeyError("x")
    assert gc.isenabled()


def test_a_collector_someone_else_turned_off_stays_off() -> None:
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
