"""Ctrl-C reaches the statements DuckDB runs on its own threads (logcorr.store.interrupt)."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from logcorr.pipeline import ingest as ingest_module
from logcorr.store import interrupt
from tests.conftest import FIXTURES

LONG = " UNION ALL ".join(["SELECT x FROM range(100000000000) t(x)"] * 4)


def test_interrupt_all_stops_a_statement_on_every_tracked_connection() -> None:
    con = interrupt.track(duckdb.connect())
    cur = interrupt.track(con.cursor())  # a cursor has its own client context
    for target in (con, cur):
        timer = threading.Timer(0.5, interrupt.interrupt_all)
        timer.start()
        t0 = time.monotonic()
        with pytest.raises(duckdb.InterruptException):
            target.sql(f"SELECT count(*) FROM ({LONG}) WHERE x % 7 = 3").fetchall()
        timer.join()
        assert time.monotonic() - t0 < 30  # the query alone would run for minutes
    con.close()


def test_a_closed_or_collected_connection_is_skipped() -> None:
    closed = interrupt.track(duckdb.connect())
    closed.close()
    interrupt.track(duckdb.connect())  # no reference kept: gone from the set
    interrupt.interrupt_all()  # neither raises


@pytest.mark.parametrize("before", [signal.SIG_IGN, signal.default_int_handler])
def test_install_takes_over_only_pythons_default_handler(before: object) -> None:
    saved = signal.signal(signal.SIGINT, before)  # type: ignore[arg-type]
    try:
        interrupt.install()
        now = signal.getsignal(signal.SIGINT)
        if before is signal.SIG_IGN:
            assert now is signal.SIG_IGN  # a background job's Ctrl-C stays ignored
        else:
            assert now is interrupt._on_sigint
            with pytest.raises(KeyboardInterrupt):
                signal.raise_signal(signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, saved)


class _Connection:
    """A DuckDB connection whose statements can be made to meet Ctrl-C (or fail) as they run."""

    def __init__(self, con: Any, on: str, act: Callable[[], None]) -> None:
        self._con, self._on, self._act = con, on, act

    def execute(self, sql: str, *args: Any) -> Any:
        if sql.strip().startswith(self._on):
            self._act()
        return self._con.execute(sql, *args)

    def close(self) -> None:
        self._con.close()
        if self._on == "<close>":
            self._act()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def _wrap(monkeypatch: pytest.MonkeyPatch, on: str, act: Callable[[], None]) -> None:
    real = ingest_module.connect
    monkeypatch.setattr(ingest_module, "connect", lambda *a, **k: _Connection(real(*a, **k), on, act))


@pytest.mark.parametrize("when", ["COMMIT", "<close>"])
def test_ctrl_c_during_the_commit_says_the_ingest_was_committed(
    tmp_path: Path, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    # Python's default first: a test run started in the background inherits SIGINT ignored, and install()
    # keeps an ignored SIGINT ignored
    saved = signal.signal(signal.SIGINT, signal.default_int_handler)
    interrupt.install()
    try:
        _wrap(monkeypatch, when, lambda: signal.raise_signal(signal.SIGINT))
        db = tmp_path / "db.duckdb"
        r = cli("ingest", str(FIXTURES / "browser"), "--db", str(db))
    finally:
        signal.signal(signal.SIGINT, saved)
    assert r.exit_code == 130 and "interrupted after ingest run 1 was committed" in r.stderr
    monkeypatch.undo()
    whole = tmp_path / "whole.duckdb"
    assert cli("ingest", str(FIXTURES / "browser"), "--db", str(whole)).exit_code == 0
    tables = "SELECT (SELECT count(*) FROM log_queue), (SELECT count(*) FROM drop_ledger), (SELECT count(*) FROM ingest_runs WHERE finished_at IS NOT NULL)"
    counts = [duckdb.connect(str(p), read_only=True).execute(tables).fetchone() for p in (db, whole)]
    assert counts[0] == counts[1] and counts[0][0] > 0  # it is all there


def test_a_duckdb_error_after_ctrl_c_is_reported_as_the_interruption(
    tmp_path: Path, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # DuckDB turns an interruption into its own errors (an aborted transaction, a failed Arrow stream)
    def aborted() -> None:
        monkeypatch.setattr(interrupt, "_requested", True)
        raise duckdb.TransactionException("Current transaction is aborted (please ROLLBACK)")

    _wrap(monkeypatch, "INSERT INTO ingest_runs", aborted)
    db = tmp_path / "db.duckdb"
    r = cli("ingest", str(FIXTURES / "browser"), "--db", str(db))
    # an ingest is one transaction: the message says nothing of it was stored
    assert r.exit_code == 130
    assert r.stderr.strip() == "interrupted: this ingest stored nothing, the database is as it was before it"
    # without Ctrl-C the same error is the database's
    monkeypatch.setattr(interrupt, "_requested", False)
    _wrap(
        monkeypatch, "INSERT INTO ingest_runs", lambda: (_ for _ in ()).throw(duckdb.IOException("disk full"))
    )
    r = cli("ingest", str(FIXTURES / "browser"), "--db", str(tmp_path / "other.duckdb"))
    assert r.exit_code == 3 and "database error during ingest: disk full" in r.stderr
