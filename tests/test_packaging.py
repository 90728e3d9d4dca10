"""Every file under logcorr/data must ship in the wheel (package-data globs), or installs break."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch

from tests.conftest import ROOT


def test_package_data_globs_cover_every_data_file() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["logcorr"]
    data = ROOT / "logcorr" / "data"
    files = [
        p.relative_to(ROOT / "logcorr").as_posix()
        for p in data.rglob("*")
        if p.is_file() and p.suffix != ".py"
    ]
    files = [f for f in files if "__pycache__" not in f]
    assert files, "no data files found"
    missing = [f for f in files if not any(fnmatch(f, g) for g in globs)]
    assert missing == []
