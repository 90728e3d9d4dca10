"""Shared helpers for the benchmark scripts: a cached generated dataset and fresh-process measurement."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
REPO = SCRIPTS.parent
BENCH_OUT = REPO / "bench-out"
GNU_TIME = "/usr/bin/time"

# the baseline: DuckDB's own JSON reader loading a file into a table (argv: file, database); prints its JSON
DUCKDB_CHILD = """\
import sys, time, json, duckdb
path, db = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
con = duckdb.connect(db)
con.execute("CREATE TABLE t AS SELECT * FROM read_json_auto('" + path.replace("'", "''") + "')")
rows = con.execute("SELECT count(*) FROM t").fetchone()[0]
con.close()
print(json.dumps({"rows": rows, "elapsed_s": round(time.perf_counter() - t0, 3)}))
"""


def log(msg: str) -> None:
    """Progress for the reader, on stderr: stdout is for the figures."""
    print(msg, file=sys.stderr, flush=True)


def _generator_version() -> str:
    """A short hash of gen_logs.py, so a changed generator invalidates cached files."""
    return hashlib.sha256((SCRIPTS / "gen_logs.py").read_bytes()).hexdigest()[:12]


def dataset(records: int, seed: int = 42, out_dir: Path = BENCH_OUT, log=print) -> dict:  # type: ignore[type-arg]
    """The generated JSON-lines file for (records, seed), generated once and reused.

    Returns the generator's summary (path, records, bytes, kinds, flags, …) from a sidecar file.
    A cached file is read once so the page cache is warm for every pipeline alike.
    """
    path = out_dir / f"logs-{records}-s{seed}.jsonl"
    meta_path = path.with_suffix(".meta.json")
    version = _generator_version()
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("generator") == version and meta.get("file_bytes") == path.stat().st_size:
            with open(path, "rb") as f:  # warm the page cache
                while f.read(8 << 20):
                    pass
            log(f"using cached {path} ({meta['records']:,} records, {meta['bytes'] / 1e6:.1f} MB)")
            return meta
    sys.path.insert(0, str(SCRIPTS))
    from gen_logs import generate

    log(f"generating {records:,} records (seed {seed}) → {path} …")
    meta = generate(records, seed, path, gzip_out=False)
    meta["generator"] = version
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    log(f"  {meta['bytes'] / 1e6:.1f} MB in {meta['elapsed_s']} s")
    return meta


@dataclass
class Measured:
    """One child process: exit code, wall seconds, peak RSS (KiB), and its output."""

    returncode: int
    wall_s: float
    cpu_s: float  # user + system CPU of the child and its descendants
    maxrss_kb: int
    stdout: str
    stderr: str
    rss_method: str


def measure(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> Measured:
    """Run `cmd` as a fresh process; wall time from the parent, peak RSS from `/usr/bin/time -v`
    when present, else from `os.wait4` of the child."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        out_p, err_p, time_p = Path(tmp, "out"), Path(tmp, "err"), Path(tmp, "time")
        use_time = os.access(GNU_TIME, os.X_OK)
        full = [GNU_TIME, "-v", "-o", str(time_p), *cmd] if use_time else cmd
        with open(out_p, "wb") as out, open(err_p, "wb") as err:
            t0 = time.perf_counter()
            proc = subprocess.Popen(full, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=cwd)
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        maxrss = usage.ru_maxrss  # KiB on Linux: the child and its reaped descendants
        method = "wait4"
        if use_time:
            method = "/usr/bin/time -v"
            for line in time_p.read_text(errors="replace").splitlines():
                line = line.strip()
                if line.startswith("Maximum resident set size"):
                    maxrss = int(line.rsplit(":", 1)[1])
        return Measured(
            proc.returncode,
            wall,
            usage.ru_utime + usage.ru_stime,
            maxrss,
            out_p.read_text(errors="replace"),
            err_p.read_text(errors="replace"),
            method,
        )


def remove_db(path: Path) -> None:
    """Delete a DuckDB file and its WAL / temp directory."""
    for p in (path, Path(f"{path}.wal"), Path(f"{path}.tmp")):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists():
            p.unlink()
