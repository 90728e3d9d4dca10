#!/usr/bin/env python3
"""Time the read commands on a large database, as whole processes (start-up included), against a floor.

Builds (once, cached in bench-out/) a database of N events in realistic shapes directly with SQL —
traces of 1–9 events across browser → worker → backend, 3 % errors, orphans — and its ingest run (in
`ingest_runs`, as an ingest records it; a cached database without it is rebuilt), then times
`logcorr --help`, `logcorr trace <id>`, `logcorr traces --has-errors` and `logcorr stats` as fresh
processes, each beside its floor measured in the same rounds: a bare `python -c` that imports duckdb,
opens the same file read-only and runs exactly the SQL statements that command runs (recorded from
logcorr itself), or, for `--help`, a bare `python -c pass`. The ratio is the command's median over its
floor's: what logcorr adds (imports, argument parsing, rendering) on top of DuckDB doing the same work.

Commands and floors alternate within each round so machine load hits both alike; the first round only
warms caches (and writes the .pyc files an installed package has) and is not counted. Peak RSS is the
largest over the counted runs. Prints figures only; nothing is asserted.

example: python scripts/bench_query.py --events 10000000 --runs 7
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench-out"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from _benchlib import measure  # noqa: E402

FLOOR = (
    "import duckdb, json, sys\n"
    "con = duckdb.connect(sys.argv[1], read_only=True)\n"
    "for sql, params in json.loads(sys.argv[2]):\n"
    "    con.execute(sql, params).fetchall()\n"
)


RUN = 1  # the ingest run the built events are stored by


def build(path: Path, events: int) -> None:
    """A database of `events` events stored by one ingest run, `RUN`, recorded in `ingest_runs` as an ingest
    records its run: without that row a later `logcorr ingest` into the database took run 1 again."""
    from datetime import UTC, datetime

    from logcorr import __version__
    from logcorr.rules.policy import Policy
    from logcorr.store.connection import connect

    con = connect(str(path))
    t0 = time.perf_counter()
    started = datetime.now(UTC).replace(tzinfo=None)
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
               'bench.jsonl', i + 1, 'browser-v2', left(md5((hash(i) % 5000)::VARCHAR), 16), (hash(i) >> 1)::BIGINT, {RUN}, false
        FROM range({events}) AS r(i)
        """
    )
    from logcorr.store.schema import summary_insert

    # what ingest keeps up to date as it stores events
    con.execute(summary_insert("trace_id IS NOT NULL"))
    # the run, as `ingest._open_run` opens it and `_finish_run` closes it: one input, every event stored
    con.execute(
        "INSERT INTO ingest_runs (run_id, started_at, finished_at, logcorr_version, policy_hash, files, "
        "events_stored, events_dropped, rejected, redactions) "
        "VALUES (?, ?, now(), ?, ?, 1, ?, 0, 0, map([]::VARCHAR[], []::BIGINT[]))",
        [RUN, started, __version__, Policy().digest(), events],
    )
    con.execute("CHECKPOINT")
    con.close()
    print(
        f"built {events:,} events in {time.perf_counter() - t0:.1f} s → {path} ({path.stat().st_size / 1e6:.0f} MB)"
    )


def has_run(path: Path) -> bool:
    """Whether a cached database records the run its events carry (one built before `build` wrote it does not)."""
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        row = con.execute("SELECT count(*) FROM ingest_runs WHERE run_id = ?", [RUN]).fetchone()
    return bool(row and row[0])


def _kept(params: list[Any] | dict[str, Any] | None) -> list[Any] | dict[str, Any]:
    """A statement's parameters as the floor passes them again: named ones by name, others in order."""
    return dict(params) if isinstance(params, dict) else list(params or [])


class Recorder:
    """A connection stand-in that runs statements and remembers them (the floor replays them)."""

    def __init__(self, con: Any) -> None:
        self.con = con
        self.statements: list[tuple[str, list[Any] | dict[str, Any]]] = []

    def execute(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> Any:
        self.statements.append((sql, _kept(params)))
        return self.con.execute(sql, params or [])

    def sql(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> Any:
        self.statements.append((sql, _kept(params)))
        return self.con.sql(sql, params=params)

    def cursor(self) -> Recorder:
        """A cursor whose statements are recorded here too (the listings stream their rows on one)."""
        rec = Recorder(self.con.cursor())
        rec.statements = self.statements
        return rec

    def close(self) -> None:
        if self.con is not None:
            self.con.close()

    def __getattr__(
        self, name: str
    ) -> Any:  # a result read from the recorder itself (description, fetchmany)
        return getattr(self.con, name)


def record_sql(db: Path, trace_id: str) -> dict[str, list[tuple[str, list[Any] | dict[str, Any]]]]:
    """The statements `trace`, `traces --has-errors` and `stats` run, recorded from the library."""
    import duckdb

    from logcorr.correlate import trace as tr
    from logcorr.correlate.filters import TraceFilter
    from logcorr.correlate.listing import list_traces, stats

    out = {}
    con = duckdb.connect(str(db), read_only=True)
    for name, run in (
        ("trace", lambda c: tr.build(c, tr.resolve(c, trace_id))),
        ("traces", lambda c: list_traces(c, TraceFilter(has_errors=True))),
        ("stats", stats),
    ):
        rec = Recorder(con)
        result = run(rec)
        if hasattr(result, "columns"):  # a RowStream: its statement runs as it is read
            list(result)
        out[name] = rec.statements
    con.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.rsplit("\n\n", 1)[-1])
    ap.add_argument("--events", type=int, default=10_000_000, help="events in the database (default: 10M)")
    ap.add_argument("--runs", type=int, default=5, help="counted rounds (default: 5; one more warms up)")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the cached database")
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    ap.add_argument("--src", metavar="DIR", help="run logcorr from this source tree instead (e.g. a `git archive` "
                    "of an earlier commit), to compare before and after")  # fmt: skip
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    from logcorr.store.schema import LATEST

    db = OUT / f"query-v{LATEST}-{args.events}.duckdb"  # rebuilt when the schema changes
    if db.exists() and not args.rebuild and not has_run(db):
        print(f"{db} was built without its ingest run: rebuilding it", flush=True)
        args.rebuild = True
    if args.rebuild and db.exists():
        db.unlink()
    if not db.exists():
        build(db, args.events)
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    trace_id = con.execute(
        "SELECT trace_id FROM log_queue WHERE event_id = ?", [args.events // 2 + 2]
    ).fetchall()[0][0]
    con.close()
    sql = record_sql(db, trace_id)

    py = sys.executable
    # --src runs without site: the editable install of this tree would otherwise win over PYTHONPATH
    py_s = [py, "-S"] if args.src else [py]
    exe = [*py_s, "-m", "logcorr"]
    on_db = ["--db", str(db)]

    def floor(name: str) -> list[str]:
        # parameters as JSON: timestamps as ISO text, which DuckDB casts back where a TIMESTAMP is compared
        return [*py_s, "-c", FLOOR, str(db), json.dumps(sql[name], default=str)]

    rows: list[tuple[str, list[str], str, list[str]]] = [
        ("logcorr --help", [*exe, "--help"], "python -c pass", [*py_s, "-c", "pass"]),
        ("logcorr trace ID", [*exe, "trace", trace_id, *on_db], "duckdb: trace SQL", floor("trace")),
        ("logcorr trace ID --format json", [*exe, "trace", trace_id, *on_db, "--format", "json"],
         "duckdb: trace SQL", floor("trace")),
        ("logcorr traces --has-errors", [*exe, "traces", "--has-errors", *on_db], "duckdb: traces SQL",
         floor("traces")),
        ("logcorr stats", [*exe, "stats", *on_db], "duckdb: stats SQL", floor("stats")),
    ]  # fmt: skip
    # an installed package has its .pyc files; this environment may say not to write them
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.pop("LOGCORR_DB", None)
    if args.src:
        env["PYTHONPATH"] = os.pathsep.join([str(Path(args.src).resolve()), sysconfig.get_paths()["purelib"]])
    times: dict[int, dict[str, list[float]]] = {i: {"cmd": [], "floor": []} for i in range(len(rows))}
    rss: dict[int, dict[str, int]] = {i: {"cmd": 0, "floor": 0} for i in range(len(rows))}
    codes: dict[int, int] = {}
    print(
        f"database: {args.events:,} events ({db.stat().st_size / 1e6:.0f} MB); {args.runs} counted rounds "
        f"(+1 warm-up), command and floor alternating; machine: {os.cpu_count()} cores; load average "
        f"{os.getloadavg()[0]:.2f} at start",
        flush=True,
    )
    for rnd in range(args.runs + 1):
        for i, (_, cmd, _, fcmd) in enumerate(rows):
            for kind, argv in (("cmd", cmd), ("floor", fcmd)):
                m = measure(argv, env=env, cwd=Path(args.src) if args.src else ROOT)
                if kind == "cmd":
                    codes[i] = m.returncode
                elif m.returncode:
                    sys.exit(f"floor failed: {m.stderr.strip()[-500:]}")
                if rnd:
                    times[i][kind].append(m.wall_s)
                    rss[i][kind] = max(rss[i][kind], m.maxrss_kb)
    print(f"load average {os.getloadavg()[0]:.2f} at end")
    head = f"{'command':<32} {'median s':>8} {'best s':>7} {'RSS MB':>7}  {'floor':<18} {'median s':>8} {'RSS MB':>7} {'ratio':>6} {'exit':>4}"
    print(head)
    print("-" * len(head))
    report = []
    for i, (name, _, fname, _) in enumerate(rows):
        med, best = statistics.median(times[i]["cmd"]), min(times[i]["cmd"])
        fmed = statistics.median(times[i]["floor"])
        print(
            f"{name:<32} {med:>8.3f} {best:>7.3f} {rss[i]['cmd'] / 1024:>7.0f}  {fname:<18} {fmed:>8.3f} "
            f"{rss[i]['floor'] / 1024:>7.0f} {med / fmed:>5.2f}× {codes[i]:>4}"
        )
        report.append({"command": name, "median_s": med, "best_s": best, "runs": len(times[i]["cmd"]),
                       "peak_rss_mb": rss[i]["cmd"] / 1024, "floor": fname, "floor_median_s": fmed,
                       "floor_peak_rss_mb": rss[i]["floor"] / 1024, "ratio": med / fmed, "exit": codes[i]})  # fmt: skip
    print("targets (issue 7): --help < 0.3 s; trace and traces --has-errors < 0.5 s at 10M events")
    if args.json:
        Path(args.json).write_text(json.dumps({"events": args.events, "rows": report}, indent=1) + "\n")


if __name__ == "__main__":
    main()
