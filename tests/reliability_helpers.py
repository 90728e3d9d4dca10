"""Shared by the crash, concurrency and resource tests: real `logcorr` processes, a content digest of
every table, and generated inputs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb

from tests.conftest import ROOT


def logcorr_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "logcorr", *args]


def env() -> dict[str, str]:
    e = dict(os.environ)
    e.pop("LOGCORR_DB", None)
    e.pop("LOGCORR_DEBUG", None)
    e["PYTHONPATH"] = str(ROOT)
    return e


def run(*args: str, input: bytes | None = None, timeout: float = 300,
        extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    return subprocess.run(
        logcorr_cmd(*args), input=input.decode() if input else None, capture_output=True, text=True,
        env={**env(), **(extra_env or {})}, timeout=timeout, cwd=ROOT,
    )  # fmt: skip


def start(*args: str, stdin: Any = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        logcorr_cmd(*args), stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env(), cwd=ROOT
    )


def digest(db: str) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent hash of the rows of every table and view, and the schema itself."""
    con = duckdb.connect(db, read_only=True)
    try:
        out: dict[str, tuple[int, str]] = {}
        for name, sql in con.execute(
            "SELECT table_name, sql FROM duckdb_tables() WHERE NOT temporary UNION ALL "
            "SELECT view_name, sql FROM duckdb_views() WHERE NOT internal AND NOT temporary ORDER BY 1"
        ).fetchall():
            n, h = con.execute(
                f"SELECT count(*), coalesce(md5(string_agg(h, ',' ORDER BY h)), '') "
                f'FROM (SELECT md5(CAST(t AS VARCHAR)) AS h FROM "{name}" AS t)'
            ).fetchone()  # type: ignore[misc]
            out[name] = (int(n), f"{h}:{hash(sql)}")
        return out
    finally:
        con.close()


def generated(path: Path, records: int, seed: int = 7) -> Path:
    """A realistic mixed-format file from scripts/gen_logs.py (cached by name)."""
    if not path.exists():
        sys.path.insert(0, str(ROOT / "scripts"))
        try:
            from gen_logs import generate  # type: ignore[import-not-found]
        finally:
            sys.path.pop(0)
        generate(records, seed, path)
    return path


def one_line_error(stderr: str) -> list[str]:
    """The `error:` / `hint:` lines of a failed command (and nothing else may be there)."""
    return [line for line in stderr.splitlines() if line.strip()]
