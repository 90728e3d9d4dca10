"""The compiled modules are used only when built from the source beside them."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from logcorr import native

PACKAGE = Path(native.__file__).parent


@pytest.mark.parametrize("name", ["_fastparse", "_fastrules"])
def test_a_module_set_up_built_carries_its_source_s_digest(name: str) -> None:
    """setup.py stamps each module with its source's digest; the module in use is the one built from this
    source (a hand build has no stamp and is not compared)."""
    import importlib

    try:
        mod = importlib.import_module(f"logcorr.{name}")
    except ImportError:
        pytest.skip(f"{name} is not built (no C compiler)")
    stamp = mod.SOURCE
    if not stamp:
        pytest.skip(f"{name} was built by hand, without the stamp")
    assert stamp == native.source_digest(PACKAGE / f"{name}.c")
    assert native.built(name) is mod


def test_a_module_built_from_another_source_is_not_used_and_said_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A checkout updated without reinstalling kept its old module, whose rows differ from the Python path's
    (a trace id rule, an event key): it was used silently."""
    monkeypatch.setattr(native, "_STALE", {})
    old = types.SimpleNamespace(SOURCE="0123456789abcdef")
    assert native.stale("_fastparse", old) is True
    assert native.stale("_fastparse", old) is True
    err = capsys.readouterr().err
    assert err.count("built from another version of _fastparse.c") == 1 and "pip install -e ." in err
    fresh = types.SimpleNamespace(SOURCE=native.source_digest(PACKAGE / "_fastrules.c"))
    assert native.stale("_fastrules", fresh) is False
    unstamped = types.SimpleNamespace(SOURCE="")
    monkeypatch.setattr(native, "_STALE", {})
    assert native.stale("_fastparse", unstamped) is False
    assert capsys.readouterr().err == ""
