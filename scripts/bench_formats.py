#!/usr/bin/env python3
"""Ingest speed per input format: each bundled fixture grown into a large file of its own format.

The main benchmark's generated file holds the common lines, which the compiled fast path parses; real
exports come in a dozen formats, most of them parsed by the Python adapters. This script grows every
fixture under `fixtures/` into a file of about `--mb` MB of that format (its records repeated with their
times moved on by `--gap-s` seconds a copy and their trace ids made unique per copy, so that the rules see
traffic, not one repeated burst), then times `logcorr ingest` of each against DuckDB's `read_json_auto` of
the same file, both as fresh processes, with peak RSS.

Framing follows the fixture: line-per-record files stay line-per-record (gzip too), pretty-printed
`wrangler tail` output stays pretty-printed (without its banner lines, which DuckDB cannot read), and
whole-document fixtures (a `GET /logs` response, a query response, a webhook body) become one document
per line.

Example: python scripts/bench_formats.py                 # ~64 MB per format, ~2 min on 2 cores
         python scripts/bench_formats.py --mb 4 --only convex-logs-cli --only wrangler-tail
Prints a table (stdout); --json FILE keeps every figure. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _benchlib import BENCH_OUT, DUCKDB_CHILD, REPO, log, measure, remove_db

FIXTURES = REPO / "fixtures"

# epoch milliseconds / seconds of the years 2001-2096: what a time field holds
_MS = (1e12, 4e12)
_S = (1e9, 4e9)
_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?")
_VALUE_START = re.compile(r"^[{\[]", re.M)  # an object or array at a line's start (pretty-printed output)
_TRACE = re.compile(r"\b((?:trace|critical_\w+?)_\d{13}_[a-z0-9]+)")


def read_fixture(path: Path) -> tuple[str, list[Any]]:
    """(framing, records) of a fixture: 'lines' (one JSON value per line), 'pretty' (indented objects one
    after another, other lines skipped) or 'document' (one JSON value)."""
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    text = raw.decode()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    try:
        records = [orjson.loads(ln) for ln in lines]
        if len(records) > 1:
            return "lines", records
    except orjson.JSONDecodeError:
        pass
    try:
        return "document", [orjson.loads(raw)]
    except orjson.JSONDecodeError:
        pass
    dec, out, pos = json.JSONDecoder(), [], 0
    while (m := _VALUE_START.search(text, pos)) is not None:
        value, pos = dec.raw_decode(text, m.start())
        out.append(value)
    return "pretty", out


def _shift_text(s: str, ms: int, k: int) -> str:
    def iso(m: re.Match[str]) -> str:
        t = m.group(0)
        try:
            d = datetime.fromisoformat(t) + timedelta(milliseconds=ms)
        except ValueError:
            return t
        spec = "milliseconds" if "." in t else "seconds"
        out = d.isoformat(timespec=spec)
        return out.replace("+00:00", "Z") if t.endswith("Z") else out

    s = _ISO.sub(iso, s)
    return _TRACE.sub(lambda m: f"{m.group(1)}{k:x}", s)


def copy_of(value: Any, ms: int, k: int) -> Any:
    """`value` with every time moved on by `ms` milliseconds and every trace id given suffix `k`."""
    if isinstance(value, dict):
        return {key: copy_of(v, ms, k) for key, v in value.items()}
    if isinstance(value, list):
        return [copy_of(v, ms, k) for v in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and _MS[0] <= value < _MS[1]:
        return value + ms
    if isinstance(value, float) and _MS[0] <= value < _MS[1]:  # Convex `_creationTime`
        return value + ms
    if isinstance(value, float) and _S[0] <= value < _S[1]:
        return round(value + ms / 1000, 3)
    if isinstance(value, str):
        if value.isdigit() and _MS[0] <= int(value) < _MS[1]:
            return str(int(value) + ms)
        if value[:1] in "[{":  # JSON inside a string (Convex raw_args, snapshot context)
            try:
                inner = orjson.loads(value)
            except orjson.JSONDecodeError:
                return _shift_text(value, ms, k)
            return orjson.dumps(copy_of(inner, ms, k)).decode()
        return _shift_text(value, ms, k)
    return value


def grow(
    framing: str, records: list[Any], out: Path, target_bytes: int, gap_ms: int, gz: bool
) -> dict[str, int]:
    """Write copies of `records` to `out` until it holds `target_bytes` (uncompressed)."""

    def chunks() -> Iterator[bytes]:
        k = 0
        while True:
            for r in records:
                c = copy_of(r, k * gap_ms, k)
                if framing == "pretty":
                    yield json.dumps(c, indent=2).encode() + b"\n"
                else:
                    yield orjson.dumps(c) + b"\n"
            k += 1

    size = count = 0
    with gzip.open(out, "wb", compresslevel=1) if gz else open(out, "wb") as f:
        for chunk in chunks():
            f.write(chunk)
            size += len(chunk)
            count += 1
            if size >= target_bytes and count % len(records) == 0:
                break
    return {"records": count, "bytes": size, "file_bytes": out.stat().st_size}


def fixtures(only: list[str]) -> list[Path]:
    """Every fixture, or those whose path under fixtures/ contains one of `only`."""
    out = []
    for p in sorted(FIXTURES.rglob("*")):
        rel = str(p.relative_to(FIXTURES))
        if (
            p.is_file()
            and p.suffix in (".json", ".jsonl", ".gz")
            and (not only or any(o in rel for o in only))
        ):
            out.append(p)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=64, help="uncompressed MB per format (default 64)")
    ap.add_argument(
        "--gap-s", type=float, default=30, help="seconds between copies of a fixture (default 30)"
    )
    ap.add_argument(
        "--only", action="append", default=[], help="fixtures whose path contains this (repeatable)"
    )
    ap.add_argument("--json", metavar="FILE", help="also write every figure as JSON to FILE")
    ap.add_argument("--keep", metavar="DIR", help="write the grown files and databases to DIR and keep them")
    args = ap.parse_args(argv)

    BENCH_OUT.mkdir(exist_ok=True)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-formats-", dir=BENCH_OUT))
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    rows: list[dict[str, Any]] = []
    try:
        for fixture in fixtures(args.only):
            framing, records = read_fixture(fixture)
            fmt = fixture.stem.split(".")[0]
            gz = fixture.suffix == ".gz"
            data = work / (fixture.name if framing != "document" else f"{fixture.stem}.jsonl")
            grown = grow(framing, records, data, int(args.mb * 1e6), int(args.gap_s * 1000), gz)
            log(f"{fixture.relative_to(REPO)} ({framing}) → {grown['records']:,} records, "
                 f"{grown['bytes'] / 1e6:.1f} MB")  # fmt: skip
            db, base_db = work / f"{fmt}.duckdb", work / f"{fmt}.rja.duckdb"
            remove_db(db)
            remove_db(base_db)
            lc = measure([sys.executable, "-m", "logcorr", "ingest", str(data), "--db", str(db), "--json", "-q"],
                         env=env, cwd=REPO)  # fmt: skip
            if lc.returncode != 0:
                log(f"logcorr ingest of {data} failed (exit {lc.returncode}):\n{lc.stderr[-3000:]}")
                return 1
            report = json.loads(lc.stdout)
            base = measure([sys.executable, "-c", DUCKDB_CHILD, str(data), str(base_db)], env=env, cwd=REPO)
            base_s = base.wall_s if base.returncode == 0 else None
            mb = grown["bytes"] / 1e6
            rows.append({
                "format": "+".join(report["files"][0]["formats"]), "fixture": str(fixture.relative_to(REPO)), "framing": framing, "gzip": gz,
                "records": grown["records"], "mb": round(mb, 1),
                "events": report["stored"] + report["dropped"], "stored": report["stored"],
                "rejected": report["rejected"], "ingest_s": round(lc.wall_s, 3),
                "mb_per_s": round(mb / lc.wall_s, 1), "phases_s": report.get("phases_s"),
                "peak_rss_mb": round(lc.maxrss_kb / 1024), "read_json_auto_s": round(base_s, 3) if base_s else None,
                "ratio": round(lc.wall_s / base_s, 2) if base_s else None,
            })  # fmt: skip
            if not args.keep:
                for p in (data, db, base_db):
                    remove_db(p)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(table(rows))
    if args.json:
        Path(args.json).write_text(
            json.dumps({"rows": rows, "load_average": os.getloadavg()[0]}, indent=1) + "\n"
        )
    return 0


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'format':<22}{'MB':>7}{'records':>10}{'events':>10}{'s':>7}{'MB/s':>7}{'parse s':>9}{'peak MB':>9}"
    )
    head += f"{'read_json_auto s':>18}{'ratio':>7}"
    out = [head, "-" * len(head)]
    for r in rows:
        base = f"{r['read_json_auto_s']:.2f}" if r["read_json_auto_s"] else "(fails)"
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] else ""
        parse = (r["phases_s"] or {}).get("parse")
        out.append(
            f"{r['format'] + (' .gz' if r['gzip'] else ''):<22}{r['mb']:>7.1f}{r['records']:>10,}{r['events']:>10,}"
            f"{r['ingest_s']:>7.2f}{r['mb_per_s']:>7.1f}{parse if parse is not None else '':>9}"
            f"{r['peak_rss_mb']:>9}{base:>18}{ratio:>7}"
        )
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
