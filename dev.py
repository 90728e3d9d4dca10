#!/usr/bin/env python3
"""Project tasks with nothing but Python 3.11+ installed.

    python3 dev.py demo    set up .venv, ingest the bundled fixtures into sample.duckdb, show the result
    python3 dev.py test    set up .venv, run ruff, mypy and the test suite (what CI runs)
    python3 dev.py bench   set up .venv, run the ingest benchmark (scripts/bench_ingest.py)

Set-up is idempotent: the virtualenv is (re)installed only when pyproject.toml, setup.py or the C source
of the compiled fast paths (logcorr/_fastparse.c, logcorr/_fastrules.c) changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".logcorr-setup"
DEMO_DB = ROOT / "sample.duckdb"
# what the installed package is built from: a change to any of them reinstalls (and recompiles)
BUILD_INPUTS = ("pyproject.toml", "setup.py", "logcorr/_fastparse.c", "logcorr/_fastrules.c")


def sh(*args: str | Path, check: bool = True, env: dict[str, str] | None = None) -> int:
    cmd = [str(a) for a in args]
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    rc = subprocess.call(cmd, cwd=ROOT, env=env)
    if check and rc != 0:
        sys.exit(rc)
    return rc


def setup() -> None:
    digest = hashlib.sha256()
    for name in BUILD_INPUTS:
        digest.update((ROOT / name).read_bytes())
    want = digest.hexdigest()
    if STAMP.exists() and STAMP.read_text() == want and PY.exists():
        return
    if not PY.exists():
        sh(sys.executable, "-m", "venv", VENV)
    sh(PY, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--upgrade", "pip")
    sh(PY, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", ".[dev]")
    STAMP.write_text(want)
    probe = "import logcorr.native as n; print(' '.join(m for m in ('_fastparse', '_fastrules') if n.built(m) is None))"
    missing = subprocess.run([str(PY), "-c", probe], cwd=ROOT, capture_output=True, text=True).stdout.split()
    if missing:  # optional: everything works without them, ingest is just slower
        print(f"note: the compiled fast paths were not built ({', '.join(missing)}; no working C compiler?): "
              "logcorr runs them in Python, ingest about 2.5× slower. Install gcc and the Python headers, then "
              "delete .venv/.logcorr-setup and run this again.", file=sys.stderr)  # fmt: skip


def logcorr(*args: str | Path, check: bool = True) -> int:
    return sh(BIN / "logcorr", *args, check=check)


def demo() -> None:
    setup()
    for suffix in ("", ".wal"):
        Path(f"{DEMO_DB}{suffix}").unlink(missing_ok=True)
    logcorr("ingest", "fixtures/", "--db", DEMO_DB)
    logcorr("stats", "--db", DEMO_DB)
    logcorr("traces", "--db", DEMO_DB, "--min-systems", "3")
    logcorr("trace", "--db", DEMO_DB, "--first-with-errors")
    logcorr("budget", "check", "--db", DEMO_DB, "--period", "1d", "--max-usd", "10", "--max-quota-pct", "100")
    print(f"\nThe database is {DEMO_DB.name}; try: .venv/bin/logcorr --help", file=sys.stderr)


def test() -> None:
    setup()
    sh(PY, "-m", "ruff", "check", "logcorr", "tests", "scripts", "dev.py", "setup.py")
    # the whole tree: the Python examples in README.md and docs/ too, which ruff formats as it formats code
    sh(PY, "-m", "ruff", "format", "--check", ".")
    sh(PY, "-m", "mypy", "logcorr")
    sh(BIN / "logcorr", "--help")  # clean-install smoke: the console script starts
    rc = sh(PY, "-m", "pytest", *sys.argv[2:], check=False)
    if rc == 5:
        sys.exit("pytest collected no tests: that is a failure")
    sys.exit(rc)


def bench() -> None:
    setup()
    sys.exit(sh(PY, "scripts/bench_ingest.py", *sys.argv[2:], check=False))


TASKS = {"demo": demo, "test": test, "bench": bench}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in TASKS:
        sys.exit(__doc__)
    TASKS[sys.argv[1]]()
