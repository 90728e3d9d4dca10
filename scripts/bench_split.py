#!/usr/bin/env python3
"""Benchmark one system's export ingested after another's of the same requests: the backend's log stream, then
the browser's console payloads, into one database; then both exports in one ingest into a fresh one (each file
in time order, the two together not). The rate limit and the budget are off (everything is stored, so in the
first shape every request's trace is written twice: new, then joined). `scripts/bench.py` measures one mixed
file whose events the rules mostly drop; this is the other shape, where the trace summaries and the rule
engine's windows grow with the input.

Example: python scripts/bench_split.py                       # 600,000 requests: 1.2M lines per export
         python scripts/bench_split.py --requests 100000 --json bench-out/split.json

Each ingest and `read_json_auto` of the same file (the baseline; for both in one ingest, the two files'
baselines summed) run as fresh processes in the same run; wall and CPU time from this script, peak RSS from
`/usr/bin/time -v` (or `os.wait4`). It prints the figures only.
Exit status: 1 if an ingest fails (before the twenty-fifth session the second one ran out of memory at 600,000).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _benchlib import BENCH_OUT, DUCKDB_CHILD, REPO, log, measure, remove_db

T0 = 1714910400000  # 2024-05-05 12:00 UTC
GAP_MS = 50  # a request every 50 ms: 600,000 span 8.3 hours
POLICY = "[rate_limit]\nenabled = false\n[budget]\nenabled = false\n"


def write_exports(requests: int, out: Path) -> tuple[Path, Path]:
    """The two exports of `requests` requests, two lines each: the browser's console payloads (compact JSON, as
    the console override's `JSON.stringify` sends them) and the backend's Convex log-stream console events
    naming the trace in their text. Written once per size."""
    backend, browser = out / f"split-{requests}-backend.jsonl", out / f"split-{requests}-browser.jsonl"
    if backend.exists() and browser.exists():
        return backend, browser
    log(f"writing {requests:,} requests → {backend.name}, {browser.name} …")
    with open(backend, "w") as k, open(browser, "w") as b:
        for i in range(requests):
            ts = T0 + i * GAP_MS
            trace = f"trace_{ts}_{i:08x}"
            for j in range(2):
                page = {"timestamp": ts + j, "url": "https://app.example.com/chat"}
                line = {"trace_id": trace, "message": f"click {j} on item {i}", "level": "info", "system": "browser",
                        "user_id": f"user_{i % 5000}", "context": page}  # fmt: skip
                b.write(json.dumps(line, separators=(",", ":")) + "\n")
                fn = {"path": "messages:send", "type": "mutation", "cached": None, "request_id": f"{i:016x}"}
                event = {"topic": "console", "timestamp": ts + 100 + j, "function": fn, "log_level": "INFO",
                         "message": f"'send {j}' {{ traceId: '{trace}', n: {i} }}", "is_truncated": False,
                         "system_code": None}  # fmt: skip
                k.write(json.dumps(event, separators=(",", ":")) + "\n")
    return backend, browser


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=600_000)
    ap.add_argument(
        "--out", type=Path, default=BENCH_OUT, help="where the exports are written (default bench-out/)"
    )
    ap.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    backend, browser = write_exports(args.requests, args.out)
    python = sys.executable
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="bench-split-") as tmp:
        policy, db = Path(tmp, "policy.toml"), Path(tmp, "split.duckdb")
        policy.write_text(POLICY)
        remove_db(db)
        # each export into one database, the backend's then the browser's; then both in one ingest into a fresh
        # one (each file in time order, the two together not: the usual way to ingest a period's exports)
        for name, paths in (
            ("backend export", [backend]),
            ("browser export after it", [browser]),
            ("both in one ingest", [backend, browser]),
        ):
            if len(paths) > 1:
                db = Path(tmp, "together.duckdb")
                remove_db(db)
            cmd = [python, "-m", "logcorr", "ingest", *map(str, paths), "--db", str(db)]
            cmd += ["--policy", str(policy), "-q", "--json"]
            log(f"running: {' '.join(cmd)}")
            m = measure(cmd, cwd=REPO)
            if m.returncode != 0:
                log(m.stderr[-2000:])
                return 1
            stored = json.loads(m.stdout)["stored"]
            if len(paths) == 1:
                base_db = Path(tmp, "baseline.duckdb")
                remove_db(base_db)
                b = measure([python, "-c", DUCKDB_CHILD, str(paths[0]), str(base_db)], cwd=REPO)
                remove_db(base_db)
                base_s, base_cpu = round(b.wall_s, 2), round(b.cpu_s, 2)
            else:  # the two files' baselines of this run, summed (their fields differ: one table each)
                base_s = round(sum(float(r["read_json_auto_s"]) for r in rows), 2)  # type: ignore[arg-type]
                base_cpu = round(sum(float(r["read_json_auto_cpu_s"]) for r in rows), 2)  # type: ignore[arg-type]
            rows.append({"export": name, "lines": stored, "mb": round(sum(p.stat().st_size for p in paths) / 1e6, 1),
                         "wall_s": round(m.wall_s, 2), "cpu_s": round(m.cpu_s, 2),
                         "peak_rss_mb": round(m.maxrss_kb / 1024), "read_json_auto_s": base_s,
                         "read_json_auto_cpu_s": base_cpu})  # fmt: skip
    print(
        f"{'export':<26} {'stored':>9} {'MB':>6} {'wall s':>7} {'CPU s':>6} {'peak RSS':>9}  read_json_auto (ratio)"
    )
    for r in rows:
        ratio = float(r["wall_s"]) / float(r["read_json_auto_s"])  # type: ignore[arg-type]
        print(f"{r['export']:<26} {r['lines']:>9,} {r['mb']:>6} {r['wall_s']:>7} {r['cpu_s']:>6} "
              f"{r['peak_rss_mb']:>6} MB  {r['read_json_auto_s']} s ({ratio:.2f}x)")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"requests": args.requests, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
