#!/usr/bin/env python3
"""Load test for `logcorr serve` on loopback: N browser logs from C concurrent clients, bounded in count
and time. Prints requests/s and latency percentiles; asserts nothing (figures vary by machine).

    .venv/bin/python scripts/bench_serve.py [--requests 2000] [--clients 32] [--max-seconds 60]

Each request is one console-override payload (`POST /log`), as the browser sends it; event times are
1.5 s apart so the per-minute rate limit stays below its 50/minute and every log is stored.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

T0 = 1714910400000


def start(db: str, extra: list[str]) -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "logcorr", "serve", "--port", "0", "--db", db, *extra],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    line: list[bytes] = []
    t = threading.Thread(target=lambda: line.append(proc.stderr.readline() if proc.stderr else b""))
    t.start()
    t.join(30)
    text = line[0].decode() if line else ""
    if "listening on " not in text:
        proc.kill()
        sys.exit(f"server did not start: {text!r}")
    return proc, text.split("listening on ", 1)[1].split()[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--max-seconds", type=float, default=60.0, help="stop sending after this long")
    ap.add_argument("serve_args", nargs="*", help="extra `logcorr serve` options, after --")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "bench.duckdb")
        proc, url = start(db, args.serve_args)
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        lock = threading.Lock()
        deadline = time.monotonic() + args.max_seconds
        counter = iter(range(args.requests))

        def client() -> None:
            with httpx.Client(base_url=url, timeout=30.0) as c:
                for i in counter:
                    if time.monotonic() > deadline:
                        return
                    body = {
                        "trace_id": f"trace_{T0 + i}_bench{i % 97}",
                        "message": f"bench click {i}",
                        "level": "info",
                        "system": "browser",
                        "user_id": f"user-{i % 13}",
                        "context": {
                            "timestamp": T0 + i * 1500,
                            "url": "http://localhost:3000/",
                            "userAgent": "bench",
                        },
                    }
                    t = time.perf_counter()
                    r = c.post("/log", json=body, headers={"Origin": "http://localhost:3000"})
                    dt = time.perf_counter() - t
                    with lock:
                        latencies.append(dt)
                        statuses[r.status_code] += 1

        began = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            for f in [pool.submit(client) for _ in range(args.clients)]:
                f.result()
        elapsed = time.perf_counter() - began
        health = httpx.get(f"{url}/health").json()
        proc.terminate()
        proc.wait(30)

    latencies.sort()
    n = len(latencies)

    def pct(p: float) -> float:
        return latencies[min(n - 1, int(p / 100 * n))] * 1000 if n else 0.0

    b = health["batches"]
    print(f"requests   {n} in {elapsed:.2f} s from {args.clients} clients  ({n / elapsed:.0f} requests/s)")
    print(
        f"latency    p50 {pct(50):.0f} ms   p99 {pct(99):.0f} ms   max {latencies[-1] * 1000 if n else 0:.0f} ms"
    )
    print(f"statuses   {dict(sorted(statuses.items()))}")
    print(f"batches    {b['written']} written, {n / max(1, b['written']):.0f} requests per batch on average")
    print(f"stored     {health['events']['stored']} events; dropped {health['events']['dropped']}")


if __name__ == "__main__":
    main()
