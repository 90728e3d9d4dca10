"""The one way to open the DuckDB database: path resolution, read-only mode, clear errors, migrations."""

from __future__ import annotations

import contextlib
import math
import os
import re
import time
from pathlib import Path
from typing import Any

from logcorr.errors import ConfigError, DatabaseError

DEFAULT_DB = "logcorr.duckdb"
# DuckDB's own default is 80 % of RAM; staging then never spills and a large ingest holds gigabytes.
# Bounded, DuckDB spills sorts and temp tables to <db>.tmp/ and memory stays flat as input grows.
DEFAULT_MEMORY_LIMIT = "1GB"
# ingest stages everything it reads in TEMP tables that spill under this limit; at 400MB a 1M-record
# ingest peaked at 597-640 MB RSS and a 5M one at 685-767 MB, against 1.9 GB at 1M without a bound. Since
# staging's system and level are ENUMs, a 1M-record ingest peaks in the engine loop (about 485 MB) and at
# 400MB a 5M-record one while staging loads (540-546 MB, 1.13x); at 360MB there 501-509 MB
INGEST_MEMORY_LIMIT = "360MB"
# while ingest writes the persistent tables: DuckDB keeps their written buffers until the limit presses, and
# at 400MB that is the process's peak; at 300MB a 1M-record ingest peaks at 550 MB instead of 640 MB,
# for ~1 s more in the store phase. At 256MB a 5M-record ingest peaked at 570 MB instead of 613 MB (the
# ledger's slices), with the store phase no slower (28.2 s against 30.3 s; at 1M 5.5-6.1 s against 5.5 s).
# Since the store reads each event's payload from the spool's Arrow files (outside this limit), 224MB: at
# 256MB a 5M-record ingest peaked at 599 MB in the ledger, at 224MB 567 MB elsewhere (1M: store phase
# 2.13-2.16 s against 2.04-2.12 s). After the ENUMs (see INGEST_MEMORY_LIMIT), at 224MB the 5M ledger's
# slices peaked at 530-547 MB while the 1M one (a single slice) stayed under the limit, at 475 MB; at 192MB
# 5M peaks at 510-520 MB, the store phase 0.3-0.6 s longer (1M: the same)
STORE_MEMORY_LIMIT = "192MB"
# from the rule engine's loop to the end of the rules phase: the engine's state (Python objects) grows with
# the input's density while DuckDB only streams the engine's input once, appends drops and builds `fate`;
# at 400MB DuckDB kept the blocks it had read and a 5M-record ingest peaked there (650-660 MB RSS)
ENGINE_MEMORY_LIMIT = "200MB"


def keep_blocks(con: Any, size: str) -> None:
    """Let DuckDB keep up to `size` of the memory its blocks used, for its next blocks, until the connection
    closes: the store writes millions of rows through blocks that DuckDB otherwise hands back to the system
    and then faults in afresh, a page at a time (5M records: 1.9M page faults and 7-11 s of system time in
    the main process). Given while storing, under STORE_MEMORY_LIMIT: 5M records, the store phase 9.95 s
    against 10.7-10.9 s, 0.6M faults fewer, the peak up to 15 MB higher; from the rules phase on, the peak rose 70 MB
    (DuckDB keeps what the sort used). A DuckDB without the setting, or one that refuses the size (more than
    the machine's memory, from $LOGCORR_MEMORY_LIMIT), just runs as before. Not inside a transaction: the
    refusal would abort it."""
    import duckdb

    with contextlib.suppress(duckdb.Error):
        con.execute("SET block_allocator_memory = ?", [size])


def out_of_memory(e: BaseException) -> tuple[str, str, str]:
    """DuckDB's out-of-memory error, told apart: what ran out ("memory", or the disk space its temporary files
    need, when what did not fit in memory could not be written out), the error's first line, and the hint."""
    text = str(e)
    first = text.splitlines()[0] if text else type(e).__name__
    if "max_temp_directory_size" in text:  # "failed to offload data block …": the temporary directory is full
        return (
            "disk space for its temporary files",
            first,
            "free space on the disk that holds the database: DuckDB writes what does not fit in memory next to it "
            "(in <database>.tmp)",
        )
    given = os.environ.get("LOGCORR_MEMORY_LIMIT")
    if given:
        return "memory", first, f"LOGCORR_MEMORY_LIMIT={given} is too small: raise it (e.g. 1GB) or unset it"
    return "memory", first, "set LOGCORR_MEMORY_LIMIT (e.g. 2GB) to give DuckDB more memory"


def memory_limit_setting(default: str) -> str:
    """DuckDB's memory limit: $LOGCORR_MEMORY_LIMIT when the user set one (it then holds throughout),
    else `default`. Set empty (`LOGCORR_MEMORY_LIMIT= logcorr …`, a CI variable left blank) it is unset, as
    $LOGCORR_DB is: it was a configuration error ("Memory must have a number")."""
    return os.environ.get("LOGCORR_MEMORY_LIMIT") or default


# how long opening waits for another process's write lock ($LOGCORR_LOCK_WAIT seconds)
DEFAULT_LOCK_WAIT_S = 5.0
_LOCK_POLL_S = 0.02


def resolve_db(path: str | None) -> str:
    """--db, else $LOGCORR_DB, else ./logcorr.duckdb."""
    return path or os.environ.get("LOGCORR_DB") or DEFAULT_DB


def _lock_wait() -> float:
    """$LOGCORR_LOCK_WAIT seconds (`inf`: until the lock is free), else the default. A value that is not 0 or
    more seconds is a configuration error (exit 2), as a bad LOGCORR_MEMORY_LIMIT is."""
    raw = os.environ.get("LOGCORR_LOCK_WAIT")
    if not raw:
        return DEFAULT_LOCK_WAIT_S
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not seconds >= 0:  # NaN too
        raise ConfigError(f"LOGCORR_LOCK_WAIT={raw!r} is not a number of seconds (0 or more)",
                          "e.g. LOGCORR_LOCK_WAIT=5, or 0 not to wait for another process's lock")  # fmt: skip
    return seconds


def quiet(con: Any) -> Any:
    """`con` without DuckDB's progress bar: DuckDB draws it on stdout (even into a file or a pipe) for
    any statement over two seconds, which broke `ingest --json` output. logcorr shows its own progress
    on stderr."""
    con.execute("SET enable_progress_bar = false")
    return con


_HOLDER = re.compile(r"held in (.+?) \(PID (\d+)\)")


def _holder(text: str) -> str:
    """` (PID 123, /usr/bin/duckdb)` from DuckDB's lock error, which names the process holding the lock."""
    m = _HOLDER.search(text)
    return f" (PID {m.group(2)}, {m.group(1)})" if m else ""


def _data_file(path: str) -> DatabaseError:
    return DatabaseError(
        f"{path} is not a database file: DuckDB reads it as data, and anything written would be lost",
        "give --db a new path or a logcorr database (e.g. app.duckdb)",
    )


def connect(
    path: str, *, read_only: bool = False, migrate: bool = True, memory_limit: str = DEFAULT_MEMORY_LIMIT
) -> Any:
    """A DuckDB connection with the schema migrated (read-write) or checked (read-only). DuckDB may use
    $LOGCORR_MEMORY_LIMIT, else `memory_limit`, before it spills to disk."""
    import duckdb

    from logcorr.store.interrupt import track

    folder = Path(path).parent
    if Path(path).is_dir():
        # DuckDB said only "Could not read from file …: Is a directory"
        raise DatabaseError(
            f"database {path} is a directory, not a database file",
            f"name a file in it (--db, $LOGCORR_DB), e.g. --db {Path(path) / DEFAULT_DB}",
        )
    if read_only and not Path(path).exists():
        hint = f"run `logcorr ingest FILES --db {path}` first"
        if not folder.is_dir():
            hint = f"its directory {folder} does not exist either: check the path (--db, $LOGCORR_DB)"
        raise DatabaseError(f"database {path} does not exist", hint)
    if not read_only and not folder.is_dir():
        raise DatabaseError(
            f"cannot create database {path}: directory {folder} does not exist",
            f"create it first (mkdir -p {folder}), or choose another --db",
        )
    wait = _lock_wait()  # read whether or not the file is locked: a bad value is an error either way
    deadline: float | None = None
    while True:
        try:
            con = quiet(track(duckdb.connect(path, read_only=read_only)))
            break
        except duckdb.IOException as e:
            text = str(e)
            if "lock" not in text.lower():
                raise DatabaseError(f"cannot open database {path}: {text.splitlines()[0]}") from e
            # another process holds the write lock: wait a little, since `logcorr serve` holds it only
            # while it flushes a batch (tens of milliseconds) and readers get in between flushes
            if deadline is None:
                deadline = time.monotonic() + wait
            if time.monotonic() >= deadline:
                raise DatabaseError(
                    f"database {path} is in use by another process{_holder(text)} (it holds the write lock)",
                    "wait for it to finish (an ingest, `logcorr serve`, or a `duckdb` session that has the "
                    "file open), or use another --db",
                ) from e
            time.sleep(_LOCK_POLL_S)
        except duckdb.Error as e:
            if "in-memory database" in str(e):  # read-only, over a file DuckDB reads as data (see below)
                raise _data_file(path) from e
            raise DatabaseError(f"cannot open database {path}: {str(e).splitlines()[0]}",
                                "is it a DuckDB file written by logcorr?") from e  # fmt: skip
    (where,) = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    if where is None:
        # DuckDB opens an existing file it reads as data (`.json`, `.csv`, `.parquet` …) as an in-memory
        # database over it: an ingest there would commit into memory and lose everything
        con.close()
        raise _data_file(path)
    try:
        con.execute("SET memory_limit = ?", [memory_limit_setting(memory_limit)])
    except duckdb.Error as e:  # a setting the user gave: a configuration error (exit 2), as a bad flag is
        con.close()
        raise ConfigError(
            f"bad LOGCORR_MEMORY_LIMIT: {str(e).splitlines()[0]}", "e.g. LOGCORR_MEMORY_LIMIT=2GB"
        ) from e
    from logcorr.store.schema import check_schema, migrate_schema

    try:
        if read_only:
            check_schema(con, path)
        elif migrate:
            migrate_schema(con, path)
    except DatabaseError:
        con.close()
        raise
    except duckdb.OutOfMemoryException as e:
        con.close()
        what, first, hint = out_of_memory(e)
        raise DatabaseError(f"cannot open database {path}: DuckDB ran out of {what}: {first}", hint) from e
    return con
