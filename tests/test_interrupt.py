"""Ctrl-C reaches the statements DuckDB runs on its own threads (logcorr.store.interrupt)."""

from __future__ import annotations

import signal
import threading
import time

import duckdb
import pytest

from logcorr.store import interrupt

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
