#!/usr/bin/env python3
"""Per-event cost of the rule engine (`Engine.process`) on 1M realistic events.

    .venv/bin/python scripts/bench_rules.py [--events 1000000] [--days 180] [--seed 42] [--repeat 1]

Builds column batches the way ingest hands them over: DuckDB orders the events and computes the hot
flags with the same SQL as `_decide()`, Arrow record batches are converted with `to_pydict()` (so
every string is a fresh object whose hash is not cached). The data: 3 systems, many multi-system
traces with browser echoes of backend lines, loops, per-system floods, errors, critical traces,
suppressed noise and redelivered duplicates, spread over `--days` of event time (180 by default, about
the monthly budget's rate; a few days makes the budget saturate). Conversion happens before timing;
only `Engine.process` is timed. Prints µs/event and events/s; asserts nothing. `--no-hot-flags` times
the path callers without the flags take (e.g. `budget simulate`).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pyarrow as pa

from logcorr.rules.engine import Engine, hot_flags_sql
from logcorr.rules.policy import Policy

T0 = 1_717_200_000_000  # 2024-06-01T00:00:00Z
SYSTEMS = ("browser", "worker", "backend")
BATCH = 65_536


def _fp(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def generate(n: int, seed: int, days: float = 180.0) -> list[tuple[Any, ...]]:
    """Rows (ts_ms, system, level, trace_id, fingerprint, suppressed, dup), sorted by time, spread
    over about `days` of event time (default: six months, roughly the monthly budget's rate)."""
    rnd = random.Random(seed)
    gap = int(days * 86_400_000 / (n / 11.2) * 2)  # ~11.2 events per episode below; mean gap = gap / 2
    rows: list[tuple[Any, ...]] = []
    t = T0
    vocab = [f"message template {i}" for i in range(4000)]
    fps = [_fp(m) for m in vocab]
    while len(rows) < n:
        kind = rnd.random()
        t += rnd.randint(100, gap)
        if kind < 0.80:  # a request flow across systems, echoes of backend lines in the browser
            trace = f"{'critical_' if rnd.random() < 0.005 else ''}trace_{t}_{rnd.randrange(36**6):x}"
            at = t
            for _ in range(rnd.randint(2, 9)):
                system = rnd.choice(SYSTEMS)
                level = "error" if rnd.random() < 0.03 else rnd.choice(("log", "info", "info", "warn"))
                fp = fps[rnd.randrange(len(fps))]
                sup = "[HMR]" if rnd.random() < 0.02 else None
                rows.append((at, system, level, trace, fp, sup, 0))
                if system == "backend" and rnd.random() < 0.3:
                    rows.append((at + rnd.randint(5, 400), "browser", level, trace, fp, None, 0))
                if rnd.random() < 0.01:
                    rows.append((at, system, level, trace, fp, sup, 1))
                at += rnd.randint(1, 300)
        elif kind < 0.90:  # a loop: one message repeated fast
            system = rnd.choice(SYSTEMS)
            fp = fps[rnd.randrange(len(fps))]
            trace = f"trace_{t}_{rnd.randrange(36**6):x}"
            at = t
            for _ in range(rnd.randint(10, 60)):
                rows.append((at, system, "log", trace, fp, None, 0))
                at += rnd.randint(5, 60)
        elif kind < 0.999:  # an orphan line (no trace id)
            rows.append((t, rnd.choice(SYSTEMS), "info", None, fps[rnd.randrange(len(fps))], None, 0))
        else:  # a flood: one system, many distinct lines for a few minutes
            system = rnd.choice(SYSTEMS)
            trace = f"trace_{t}_{rnd.randrange(36**6):x}"
            at = t
            for k in range(rnd.randint(500, 5000)):
                rows.append((at, system, "log", trace if k % 3 else None, _fp(f"flood {t} {k}"), None, 0))
                at += rnd.randint(5, 120)
            t = at
    rows = rows[:n]
    rows.sort(key=lambda r: r[0])
    return rows


def batches(
    rows: list[tuple[Any, ...]], policy: Policy, hot_flags: bool = True
) -> list[dict[str, list[Any]]]:
    """Column dicts as ingest builds them: the same SQL (DuckDB computes the hot flags), Arrow record
    batches converted with to_pydict()."""
    import duckdb

    cols = list(zip(*rows, strict=True))
    table = pa.table(
        {
            "pos": pa.array(range(1, len(rows) + 1), pa.int64()),
            "ts_ms": pa.array(cols[0], pa.int64()),
            "system": pa.array(cols[1], pa.string()),
            "level": pa.array(cols[2], pa.string()),
            "trace_id": pa.array(cols[3], pa.string()),
            "fingerprint": pa.array(cols[4], pa.string()),
            "suppressed": pa.array(cols[5], pa.string()),
            "dup": pa.array(cols[6], pa.int8()),
        }
    )
    con = duckdb.connect()
    con.register("events", table)
    flags = f", {hot_flags_sql(policy)}" if hot_flags else ""
    reader = con.sql(f"SELECT *{flags} FROM events ORDER BY pos").to_arrow_reader(BATCH)
    out = [batch.to_pydict() for batch in reader]
    con.close()
    return out


def interpreter_speed() -> float:
    """ns per iteration of an empty Python loop: this machine's speed right now (it is shared)."""
    started = time.perf_counter()
    for _ in range(2_000_000):
        pass
    return (time.perf_counter() - started) / 2_000_000 * 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--days", type=float, default=180.0, help="span of event time [default: 180]")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs (fresh engine each); the best is shown")
    ap.add_argument(
        "--no-hot-flags", action="store_true", help="omit the SQL-computed hot flags (slower path)"
    )
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = ap.parse_args()

    rows = generate(args.events, args.seed, args.days)
    span_h = (rows[-1][0] - rows[0][0]) / 3_600_000
    best = best_cpu = float("inf")
    drops: Counter[str] = Counter()
    engine = None
    for _ in range(args.repeat):
        policy = Policy()
        data = batches(rows, policy, not args.no_hot_flags)  # fresh strings every run
        engine = Engine(policy)
        gc.collect()
        started, cpu = time.perf_counter(), time.process_time()
        out = [engine.decide(b) for b in data]
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        if elapsed < best:
            best, best_cpu = elapsed, cpu
            drops = Counter(d[0] for batch in out for _, d in batch)
    n = len(rows)
    print(
        f"events        {n:,} over {span_h / 24:.1f} days of event time, {len(set(r[3] for r in rows)):,} traces"
    )
    print(f"engine        {best:.2f} s  →  {best / n * 1e6:.2f} µs/event, {n / best:,.0f} events/s (wall)")
    print(
        f"              {best_cpu:.2f} s CPU  →  {best_cpu / n * 1e6:.2f} µs/event (process time; the machine is shared)"
    )
    print(f"calibration   empty Python loop {interpreter_speed():.0f} ns/iteration (≈15–25 on an idle core)")
    print(f"stored        {n - sum(drops.values()):,}")
    print("dropped       " + ", ".join(f"{k} {v:,}" for k, v in sorted(drops.items())))
    if args.json:
        import json
        import resource

        figures = {
            "events": n,
            "wall_s": round(best, 3),
            "cpu_s": round(best_cpu, 3),
            "us_per_event": round(best / n * 1e6, 3),
            "cpu_us_per_event": round(best_cpu / n * 1e6, 3),
            "empty_loop_ns": round(interpreter_speed(), 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "dropped": dict(sorted(drops.items())),
        }
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")
    if engine is not None:
        print("engine stats  " + ", ".join(f"{k} {v:,}" for k, v in sorted(engine.stats.items())))
        st = engine.state
        print(
            f"state at end  {len(st.loop):,} loop keys, {len(st.cross):,} fingerprints, {len(st.traces):,} traces"
        )


if __name__ == "__main__":
    main()
