"""Recorded logs as a replay load: the events a database holds (stored and dropped alike: the offered
load), or input files ingested first into a throw-away database with the same pipeline and rules,
time-compressed by `speed` and multiplied by cloning traces with new ids (`sim.load.tiled`, one copy,
`multiply` clones spread across the recording so identical lines do not pile onto one millisecond), each
window's clones made in its own query (`sim.load.scaled_window`): memory holds the recording, not its multiple.

Suppression and duplicate-delivery flags are the ones the ingest decided; the engine re-decides
every rule from there (loop, cross-system, trace, rate limit, budget).
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any

import pyarrow as pa

from logcorr.errors import InputError, UsageError
from logcorr.replay.scenario import MAX_DURATION_MS
from logcorr.rules.engine import COLUMNS
from logcorr.rules.policy import Policy
from logcorr.sim import load as simload
from logcorr.units import is_positive

TARGET_CHUNK_EVENTS = 500_000
_MARK_RX = r"\[REDACTED:([a-z_]+)\]"


class RecordedLoad:
    """Events from the database behind `con` as a load for the replay driver."""

    kind = "recorded"
    view = None  # a window's query gives the columns the driver aggregates (`chunk_sql`'s `tpl` included)

    def __init__(
        self, con: Any, source: dict[str, Any], *, speed: float = 1.0, multiply: float = 1.0
    ) -> None:
        if not is_positive(speed):
            raise UsageError("--speed must be a positive number, e.g. --speed 60 replays an hour in a minute")
        if not is_positive(multiply):
            raise UsageError("--multiply must be a positive number, e.g. --multiply 10")
        self.con = con
        self.source = source
        self.speed = speed
        self.multiply = multiply
        try:
            # in time order, so that a window's query reads only the row groups its clones come from
            n, lo, hi = simload.recorded_base(con, in_time_order=True)
        except Exception as e:  # a database without logcorr's tables
            import duckdb

            if isinstance(e, duckdb.Error):
                raise InputError(f"cannot read recorded events: {e}", "is it a logcorr database?") from e
            raise
        if n == 0:
            raise InputError("no events to replay", simload.no_events_hint(source))
        # a browser clock days off stretched the replay's span, and its month's cost fell as much (as budget's)
        n, lo, hi, self.left_out = simload.leave_out_strays(con, n, lo, hi)
        self.notes: list[str] = []
        for g in self.left_out:
            when = g["first"] if g["first"] == g["last"] else f"{g['first']} → {g['last']}"
            said = f"{simload.say_left_out(g)}, on a browser's clock ({when})"
            sys.stderr.write(f"note: left out of the replay: {said}\n")
            self.notes.append(
                f"left out: {said}, which can be days off: it is no time the recording observed"
            )
        reach = simload.browser_only_reach(con)
        if reach:  # said as the stray clocks left out are: a CI log shows stderr, not a JSON report's notes
            sys.stderr.write(f"note: {reach}\n")
            self.notes.append(reach)
        self.recorded = n
        if (hi - lo) / speed > MAX_DURATION_MS:
            raise UsageError(
                f"--speed {speed:g} stretches the recording's {(hi - lo) / 1000:,.0f} s beyond 366 days",
                f"at least --speed {(hi - lo) / MAX_DURATION_MS:.3g} for this recording",
            )
        if n * multiply > simload.MAX_EVENTS:
            raise UsageError(
                f"--multiply {multiply:g} would replay about {n * multiply:,.3g} events; a replay takes at most "
                f"{simload.MAX_EVENTS:,}",
                f"at most --multiply {simload.MAX_EVENTS // n:,} for these {n:,} events",
            )
        self.first_ms, self.last_ms = lo, hi
        # with --speed, a copy in the same order (this connection preserves insertion order): times only shrink
        if speed != 1:
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE replay_base AS
                SELECT {lo} + CAST(floor((ts_ms - {lo}) / {float(speed)!r}) AS BIGINT) AS ts_ms, system, level,
                       trace_id, fingerprint, suppressed, dup, event_id FROM sim_base;
                CREATE OR REPLACE TEMP TABLE sim_base AS SELECT * FROM replay_base;
                DROP TABLE replay_base"""
            )
            hi = con.execute("SELECT max(ts_ms) FROM sim_base").fetchall()[0][0]
        self.period = int(hi) - lo + 1
        self.events = simload.scaled_count(con, multiply)
        self.start_ms, self.end_ms = lo, lo + self.period

    def header(self) -> dict[str, Any]:
        return {"kind": self.kind, "source": self.source, "recorded_events": self.recorded,
                "speed": self.speed, "multiply": self.multiply, "left_out": self.left_out}  # fmt: skip

    def prepare(self, con: Any, policy: Policy) -> None:
        """Nothing depends on the policy here: the base was built once."""

    def windows(self) -> list[tuple[int, int]]:
        span = self.end_ms - self.start_ms
        n = max(1, -(-self.events // TARGET_CHUNK_EVENTS))
        width = max(1, -(-span // n))
        return [(t, min(self.end_ms, t + width)) for t in range(self.start_ms, self.end_ms, width)]

    def chunk_sql(self, c0: int, c1: int) -> str | None:
        return simload.scaled_window(
            self.start_ms, self.period, self.multiply, c0, c1, ", NULL::INTEGER AS tpl"
        )

    def columns(self, batch: pa.RecordBatch) -> dict[str, list[Any]]:
        cols: dict[str, list[Any]] = batch.select(list(COLUMNS[1:])).to_pydict()
        return cols

    def redactions(self, con: Any) -> Counter[str]:
        """Redactions ingest made in the recorded events (markers in message, stack and context)."""
        rows = con.execute(
            f"""
            SELECT kind, count(*) FROM (
                SELECT unnest(regexp_extract_all(coalesce(message, '') || ' ' || coalesce(stack, '') || ' '
                                                 || coalesce(CAST(context AS VARCHAR), ''), '{_MARK_RX}', 1)) AS kind
                FROM (SELECT message, stack, context FROM log_queue
                      UNION ALL SELECT message, stack, context FROM drop_events)
            ) GROUP BY kind
            """
        ).fetchall()
        return Counter({str(k): int(n) for k, n in rows})

    def texts(self, con: Any, fingerprints: list[str]) -> dict[str, str]:
        """A stored (redacted) message for each fingerprint."""
        if not fingerprints:
            return {}
        rows = con.execute(
            """
            SELECT fingerprint, min(message) FROM (
                SELECT fingerprint, message FROM log_queue UNION ALL SELECT fingerprint, message FROM drop_events
            ) WHERE fingerprint IN (SELECT unnest(?)) GROUP BY fingerprint
            """,
            [fingerprints],
        ).fetchall()
        return {str(f): str(m) for f, m in rows}
