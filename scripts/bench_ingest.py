#!/usr/bin/env python3
"""Benchmark `logcorr ingest` against DuckDB `read_json_auto` on the same generated file.

Example: python scripts/bench_ingest.py --records 50000 --runs 3

Each pipeline runs as a fresh process on a freshly deleted DuckDB file; wall time is measured by
this script, peak RSS by `/usr/bin/time -v` (or `os.wait4`). It only prints figures.
Exit status: 1 if a logcorr run fails, 2 if a DuckDB baseline run fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _benchlib import BENCH_OUT, DUCKDB_CHILD, REPO, Measured, dataset, log, measure, remove_db

PIPELINES = ("logcorr ingest", "duckdb read_json_auto")


def _n(x: object) -> str:
    return f"{x:,}" if isinstance(x, int) else "?"


def _last_json(text: str) -> dict:  # type: ignore[type-arg]
    """The JSON document a child printed (whole stdout, else its last line)."""
    for chunk in (text, text.strip().rsplit("\n", 1)[-1]):
        try:
            doc = json.loads(chunk)
        except ValueError:
            continue
        if isinstance(doc, dict):
            return doc
    return {"stdout": text[-500:]}


def _fail(name: str, m: Measured, code: int) -> int:
    log(f"{name} failed with exit {m.returncode}; stderr (tail):")
    log("\n".join(m.stderr.splitlines()[-25:]) or "(empty)")
    return code


def _gz_files(path: Path, n: int) -> Path:
    """The lines of `path` cut into `n` gzip files of about one size (kept beside it, made once)."""
    import gzip

    out = path.with_name(f"{path.stem}-gz{n}")
    done = out.with_name(out.name + ".done")
    if done.exists():
        return out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    per = -(-path.stat().st_size // n)
    with path.open("rb") as f:
        for k in range(n):
            part = f.read(per)
            part += f.readline()  # to the end of the line the cut falls in
            if not part:
                break
            (out / f"part-{k:05d}.log.gz").write_bytes(gzip.compress(part, compresslevel=6))
    done.write_text("")
    log(f"wrote {n} gzip files of {path.name} to {out}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Time `logcorr ingest` vs DuckDB read_json_auto (fresh process each, peak RSS).",
        epilog="example: python scripts/bench_ingest.py --records 50000 --runs 3",
    )
    ap.add_argument("--records", type=int, default=1_000_000, help="input records (default 1000000)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--runs", type=int, default=1, help="runs per pipeline; the median time is shown")
    ap.add_argument("--keep", metavar="DIR", help="keep the DuckDB files of the last run in DIR")
    ap.add_argument("--json", action="store_true", help="print all figures as JSON on stdout")
    ap.add_argument("--gz-files", type=int, default=0, metavar="N",
                    help="the same records as N gzip files in a directory (as Logpush delivers them): logcorr "
                         "ingests the directory, read_json_auto reads DIR/*.log.gz")  # fmt: skip
    args = ap.parse_args(argv)

    BENCH_OUT.mkdir(exist_ok=True)
    data = dataset(args.records, args.seed, log=log)
    path, n_rec, n_bytes = Path(data["path"]).resolve(), data["records"], data["bytes"]
    source = str(path)  # what read_json_auto is given
    if args.gz_files:
        path = _gz_files(path, args.gz_files)
        source = str(path / "*.log.gz")

    work = (
        Path(args.keep).resolve()
        if args.keep
        else Path(tempfile.mkdtemp(prefix="bench-ingest-", dir=BENCH_OUT))
    )
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    cmds = {
        "logcorr ingest": (work / "logcorr.duckdb", lambda db: [sys.executable, "-m", "logcorr", "ingest", str(path),
                                                                 "--db", str(db), "--json", "-q"]),
        "duckdb read_json_auto": (work / "read_json_auto.duckdb", lambda db: [sys.executable, "-c", DUCKDB_CHILD,
                                                                              source, str(db)]),
    }  # fmt: skip
    results: dict[str, list[Measured]] = {name: [] for name in PIPELINES}
    reports: dict[str, dict] = {}  # type: ignore[type-arg]
    try:
        for run in range(1, args.runs + 1):
            for name in PIPELINES:  # alternate pipelines so drift hits both alike
                db, make_cmd = cmds[name]
                remove_db(db)
                m = measure(make_cmd(db), env=env, cwd=REPO)
                log(
                    f"run {run}/{args.runs} {name}: {m.wall_s:.2f} s, peak RSS {m.maxrss_kb / 1024:.0f} MB, exit {m.returncode}"
                )
                if m.returncode != 0:
                    return _fail(name, m, 1 if name == "logcorr ingest" else 2)
                results[name].append(m)
                reports[name] = _last_json(m.stdout)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    rows = []
    for name in PIPELINES:
        ms = results[name]
        secs = statistics.median(m.wall_s for m in ms)
        rows.append({
            "pipeline": name,
            "seconds": round(secs, 3),
            "runs_s": [round(m.wall_s, 3) for m in ms],
            "records_per_s": round(n_rec / secs),
            "mb_per_s": round(n_bytes / 1e6 / secs, 2),
            "cpu_s": round(statistics.median(m.cpu_s for m in ms), 3),
            "peak_rss_mb": round(max(m.maxrss_kb for m in ms) / 1024, 1),
            "internal_s": reports[name].get("elapsed_s"),
        })  # fmt: skip
    ratio = rows[0]["seconds"] / rows[1]["seconds"]
    cpu_ratio = rows[0]["cpu_s"] / rows[1]["cpu_s"] if rows[1]["cpu_s"] else None
    lc = reports["logcorr ingest"]
    figures = {
        "input": {
            "path": str(path),
            "records": n_rec,
            "bytes": n_bytes,
            "seed": args.seed,
            "kinds": data.get("kinds"),
            "flags": data.get("flags"),
        },
        "runs": args.runs,
        "rss_method": results["logcorr ingest"][0].rss_method,
        "python": sys.version.split()[0],
        "pipelines": rows,
        "ratio_ingest_to_read_json_auto": round(ratio, 2),
        "cpu_ratio_ingest_to_read_json_auto": round(cpu_ratio, 2) if cpu_ratio else None,
        "logcorr": {
            k: lc.get(k)
            for k in (
                "stored",
                "dropped",
                "rejected",
                "bytes",
                "elapsed_s",
                "stored_by_system",
                "dropped_by_rule",
                "redactions",
                "phases_s",
            )
        },
        "duckdb_rows": reports["duckdb read_json_auto"].get("rows"),
    }

    out = sys.stderr if args.json else sys.stdout

    def p(s: str = "") -> None:
        print(s, file=out)

    p(
        f"input: {path.name}  {n_rec:,} records  {n_bytes / 1e6:.1f} MB  ({n_bytes / max(n_rec, 1):.0f} B/record)"
    )
    p(
        f"runs: {args.runs} per pipeline (median wall s, fresh process incl. startup; max peak RSS via {figures['rss_method']})"
    )
    p()
    p(
        f"{'pipeline':<24}{'seconds':>10}{'records/s':>12}{'MB/s':>9}{'peak RSS MB':>13}{'in-process s':>14}{'CPU s':>9}"
    )
    for r in rows:
        internal = "-" if r["internal_s"] is None else f"{r['internal_s']:.2f}"
        p(f"{r['pipeline']:<24}{r['seconds']:>10.2f}{r['records_per_s']:>12,}{r['mb_per_s']:>9.1f}"
          f"{r['peak_rss_mb']:>13,.0f}{internal:>14}{r['cpu_s']:>9.2f}")  # fmt: skip
    p()
    cpu_note = f" (CPU time: {cpu_ratio:.2f}x)" if cpu_ratio else ""
    p(f"ratio ingest / read_json_auto: {ratio:.2f}x{cpu_note}")
    p(f"logcorr reported: stored {_n(lc.get('stored'))} · dropped {_n(lc.get('dropped'))} · "
      f"rejected {_n(lc.get('rejected'))} · bytes {_n(lc.get('bytes'))} · in-process {lc.get('elapsed_s')} s")  # fmt: skip
    if lc.get("phases_s"):
        p("  phases, s: " + " · ".join(f"{k} {v:.1f}" for k, v in lc["phases_s"].items()))
    if lc.get("dropped_by_rule"):
        p(
            "  dropped by rule: "
            + ", ".join(f"{rule} {sum(v.values()):,}" for rule, v in lc["dropped_by_rule"].items())
        )
    p(f"duckdb read_json_auto rows: {_n(figures['duckdb_rows'])}")
    if args.json:
        print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
