#!/usr/bin/env python3
"""Benchmark `logcorr replay --scenario month`: a 30-day month (≥ 10 events/s, about 28M events) through
the rule engine on simulated time, as a fresh process; or, with --recorded, `logcorr replay --db DB --multiply N`
of a database ingested from the generated 1M-record file, for each N.

Example: python scripts/bench_replay.py [--param duration=3d] [--profile]
         python scripts/bench_replay.py --recorded [--multiply 1 5 20] [--db /tmp/replay-1m.duckdb]

Wall time is measured by this script, peak RSS by `/usr/bin/time -v` (or `os.wait4`). With --profile the
child runs under py-spy (slower) and the raw profile lands in bench-out/profiles/. It only prints figures
(with --recorded also the SHA-256 of each run's JSON, to compare two versions' results).
Exit status: 1 if the replay (or the ingest of the database) fails.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _benchlib import BENCH_OUT, REPO, dataset, log, measure

DEFAULT_DB = Path("/tmp/logcorr-bench-replay-1000000-s42.duckdb")


def recorded(db: Path, multiplies: list[float], records: int, src: Path | None) -> int:
    """`replay --db DB --multiply N` for each N as a fresh process; DB is ingested first when it does not exist,
    from `src` (else the generated file of `records` records)."""
    python = sys.executable
    if not db.exists():
        src = src or Path(dataset(records, log=log)["path"])
        cmd = [python, "-m", "logcorr", "ingest", str(src), "--db", str(db), "-q"]
        log(f"ingesting: {' '.join(cmd)}")
        m = measure(cmd, cwd=REPO)
        if m.returncode != 0:
            log(m.stderr[-2000:])
            return 1
        log(f"  {m.wall_s:.1f} s, {m.maxrss_kb / 1024:,.0f} MiB")
    print(
        f"{'multiply':>8}  {'events':>12}  {'windows':>7}  {'wall s':>7}  {'CPU s':>7}  {'peak RSS':>10}  json sha256"
    )
    for n in multiplies:
        cmd = [python, "-m", "logcorr", "replay", "--db", str(db), "--multiply", f"{n:g}", "--format", "json"]
        log(f"running: {' '.join(cmd)}")
        m = measure(cmd, cwd=REPO)
        if m.returncode != 0:
            log(m.stderr[-2000:])
            return 1
        result = json.loads(m.stdout[m.stdout.find("{") :])
        digest = hashlib.sha256(m.stdout.encode()).hexdigest()[:16]
        print(
            f"{n:>8g}  {result['metrics']['events']:>12,}  {result['replay']['windows']:>7}  {m.wall_s:>7.1f}  "
            f"{m.cpu_s:>7.1f}  {m.maxrss_kb / 1024:>6,.0f} MiB  {digest}",
            flush=True,
        )
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--scenario", default="month", help="built-in name or TOML file [default: month]")
    ap.add_argument("--param", action="append", default=[], help="scenario override, e.g. duration=3d")
    ap.add_argument("--profile", action="store_true", help="record a py-spy profile of the child")
    ap.add_argument("--recorded", action="store_true", help="replay a database with --multiply instead")
    ap.add_argument("--multiply", type=float, nargs="+", default=[1, 5, 20], help="with --recorded [1 5 20]")
    ap.add_argument(
        "--db", type=Path, default=DEFAULT_DB, help=f"with --recorded; made if missing [{DEFAULT_DB}]"
    )
    ap.add_argument(
        "--records", type=int, default=1_000_000, help="with --recorded: the generated file's records"
    )
    ap.add_argument("--input", type=Path, help="with --recorded: the file to ingest [the generated file]")
    args = ap.parse_args()
    if args.recorded:
        return recorded(args.db, args.multiply, args.records, args.input)

    python = sys.executable
    cmd = [python, "-m", "logcorr", "replay", "--scenario", args.scenario, "--format", "json", "--top", "5"]
    for p in args.param:
        cmd += ["--param", p]
    if args.profile:
        out = BENCH_OUT / "profiles" / f"pyspy-replay-{args.scenario}-raw.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        cmd = [
            str(Path(python).parent / "py-spy"),
            "record",
            "-r",
            "50",
            "-f",
            "raw",
            "-o",
            str(out),
            "--",
            *cmd,
        ]
        print(f"profiling into {out}", file=sys.stderr)
    print(f"running: {' '.join(cmd)}", file=sys.stderr, flush=True)
    m = measure(cmd, cwd=REPO)
    if m.returncode != 0:
        print(m.stderr[-2000:], file=sys.stderr)
        return 1
    start = m.stdout.find("{")
    result = json.loads(m.stdout[start:])
    events = result["metrics"]["events"]
    span_days = result["replay"]["span_ms"] / 86_400_000
    print(
        f"scenario      {result['replay']['name']} ({span_days:g} simulated days, {result['replay']['windows']} windows)"
    )
    print(f"events        {events:,} ({result['metrics']['events_per_s']:,.2f}/s of simulated time)")
    print(f"seconds       {m.wall_s:.1f} wall, {m.cpu_s:.1f} CPU")
    print(f"events/s      {events / m.wall_s:,.0f} (wall)")
    print(f"peak RSS      {m.maxrss_kb / 1024:,.0f} MiB ({m.rss_method})")
    m = result["metrics"]
    print(
        f"accepted      {m['accepted']:,}; quota {m['quota_pct']:g} %; cost_usd ${m['cost_usd']:,.2f} ({result['cost_model']})"
    )
    moments = ", ".join(
        f"{x['pct']:g} % {x['at'][:16]}" for x in result["quota"]["moments"] if x["scope"] == "total"
    )
    print(f"moments       {moments or 'none'}")
    print(f"rules         trace integrity {m['trace_integrity']}; max identical/s {m['max_identical_per_s']}; "
          f"errors through in essential-only {m['essential.errors_through']}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
