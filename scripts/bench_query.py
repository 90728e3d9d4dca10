#!/usr/bin/env python3
"""Time the read commands on a large database, as whole processes (start-up included).

Builds (once, cached in bench-out/) a database of N events in realistic shapes directly with SQL —
traces of 1–9 events across browser → worker → backend, 3 % errors, orphans — then times
`logcorr trace <id>`, `logcorr traces --has-errors`, `logcorr stats` and `logcorr --help`.
Prints figures only; nothing is asserted.

example: python scripts/bench_query.py --events 10000000 --runs 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench-out"
sys.path.insert(0, str(ROOT))


def build(path: Path, events: int) -> None:
    from logcorr.store.connection import connect

    con = connect(str(path))
    t0 = time.perf_counter()
    con.execute(
        f"""
        INSERT INTO log_queue
        SELECT i + 1 AS event_id,
               make_timestamp(1714521600000000 + i * 250000) AS ts,  -- 4 events/s over the whole set
               NULL AS client_ts,
               ['browser', 'worker', 'backend'][1 + (i % 7) % 3] AS system,
               ['browser', 'worker', 'convex'][1 + (i % 7) % 3] AS system_label,
               CASE WHEN hash(i) % 100 < 3 THEN 'error' WHEN hash(i) % 100 < 10 THEN 'warn' ELSE 'log' END AS level,
               'message ' || (hash(i) % 5000)::VARCHAR || ' for request ' || (i // 5)::VARCHAR AS message,
               CASE WHEN i % 50 = 0 THEN NULL ELSE 'trace_' || (1714521600000 + (i // 5))::VARCHAR || '_' || (hash(i // 5) % 100000)::VARCHAR END AS trace_id,
               'field', NULL, 'u' || (hash(i // 5) % 20000)::VARCHAR, NULL, NULL,
               'bench.jsonl', i + 1, 'browser-v2', left(md5((hash(i) % 5000)::VARCHAR), 16), (hash(i) >> 1)::BIGINT, 1, false
        FROM range({events}) AS r(i)
        """
    )
    from logcorr.store.schema import TRACE_SUMMARY_SELECT

    # what ingest keeps up to date as it stores events
    con.execute(
        f"INSERT INTO trace_summary {TRACE_SUMMARY_SELECT} WHERE trace_id IS NOT NULL GROUP BY trace_id"
    )
    con.execute("CHECKPOINT")
    con.close()
    print(
        f"built {events:,} events in {time.perf_counter() - t0:.1f} s → {path} ({path.stat().st_size / 1e6:.0f} MB)"
    )


def timed(argv: list[str], runs: int) -> tuple[float, float, int]:
    """Median and best wall seconds over `runs` fresh processes, and the last exit code."""
    times = []
    code = 0
    for _ in range(runs):
        t0 = time.perf_counter()
        code = subprocess.run(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
        ).returncode
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times), code


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.rsplit("\n\n", 1)[-1])
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    db = OUT / f"query-v3-{args.events}.duckdb"
    if not db.exists():
        build(db, args.events)
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    trace_id = con.execute(
        "SELECT trace_id FROM log_queue WHERE event_id = ?", [args.events // 2 + 2]
    ).fetchall()[0][0]
    con.close()
    exe = [sys.executable, "-m", "logcorr"]
    env_db = ["--db", str(db)]
    rows = [
        ("logcorr --help", [*exe, "--help"]),
        (f"logcorr trace {trace_id[:22]}…", [*exe, "trace", trace_id, *env_db]),
        ("logcorr trace (json)", [*exe, "trace", trace_id, *env_db, "--format", "json"]),
        ("logcorr traces --has-errors", [*exe, "traces", "--has-errors", *env_db]),
        ("logcorr traces --slowest 10", [*exe, "traces", "--slowest", "10", *env_db]),
        ("logcorr stats", [*exe, "stats", *env_db]),
    ]
    print(
        f"database: {args.events:,} events; {args.runs} fresh processes each; machine: {os.cpu_count()} cores"
    )
    print(f"{'command':<34} {'median s':>9} {'best s':>8} {'exit':>5}")
    for name, argv in rows:
        med, best, code = timed(argv, args.runs)
        print(f"{name:<34} {med:>9.3f} {best:>8.3f} {code:>5}")


if __name__ == "__main__":
    main()
