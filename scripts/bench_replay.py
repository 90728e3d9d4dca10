#!/usr/bin/env python3
"""Benchmark `logcorr replay --scenario month`: a 30-day month (≥ 10 events/s, about 28M events) through
the rule engine on simulated time, as a fresh process.

Example: python scripts/bench_replay.py [--param duration=3d] [--profile]

Wall time is measured by this script, peak RSS by `/usr/bin/time -v` (or `os.wait4`). With --profile the
child runs under py-spy (slower) and the raw profile lands in bench-out/profiles/. It only prints figures.
Exit status: 1 if the replay fails.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _benchlib import BENCH_OUT, REPO, measure


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--scenario", default="month", help="built-in name or TOML file [default: month]")
    ap.add_argument("--param", action="append", default=[], help="scenario override, e.g. duration=3d")
    ap.add_argument("--profile", action="store_true", help="record a py-spy profile of the child")
    args = ap.parse_args()

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
