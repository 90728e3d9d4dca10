"""Every user mistake gets one clear line naming the problem (and, where there is one, a `hint:` line
with the fix), the documented exit code (logcorr/errors.py: 2 usage/config, 3 input/database), and
never a traceback unless --debug."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from logcorr.errors import ExitCode
from logcorr.pipeline.ingest import ingest
from tests.conftest import FIXTURES, CliResult


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("errors")
    db = d / "ok.duckdb"
    ingest([str(FIXTURES / "browser")], str(db))
    (d / "notdb.duckdb").write_text("this is a text file, not a database\n")
    # DuckDB opens a file it reads as data as an in-memory database over it: an ingest there was lost
    (d / "data.json").write_text('{"a": 1}\n')
    (d / "corrupt.duckdb").write_bytes(db.read_bytes()[:4096] + b"\x00garbage" * 512)
    unreadable = d / "unreadable.duckdb"
    unreadable.write_bytes(db.read_bytes())
    unreadable.chmod(0)
    (d / "bad.toml").write_text("[rate_limit\nbroken = \n")
    (d / "values.toml").write_text("[budget]\nmonthly_writes = -5\n")
    (d / "unknown.toml").write_text("[no_such_section]\nx = 1\n")
    (d / "log.jsonl").write_text('{"message": "x", "level": "log", "timestamp": 1714910400000}\n')
    (d / "empty_dir").mkdir()
    return {"dir": str(d), "db": str(db), "log": str(d / "log.jsonl")}


# (id, args with {dir}/{db}/{log} placeholders, exit code, words the message must contain)
CASES: list[tuple[str, list[str], int, list[str]]] = [
    ("missing input file", ["ingest", "{dir}/nope.jsonl", "--db", "{dir}/new.duckdb"], 3, ["nope.jsonl", "not found"]),
    ("directory without logs", ["ingest", "{dir}/empty_dir", "--db", "{dir}/new.duckdb"], 3, ["no log files"]),
    ("stdin twice", ["ingest", "-", "-", "--db", "{dir}/new.duckdb"], 2, ["standard input"]),
    ("unknown format", ["ingest", "{log}", "--format", "nope", "--db", "{dir}/new.duckdb"], 2, ["unknown format", "choose one of"]),
    ("policy file missing", ["ingest", "{log}", "--policy", "{dir}/nope.toml", "--db", "{dir}/new.duckdb"], 2, ["nope.toml", "not found"]),
    ("policy not TOML", ["ingest", "{log}", "--policy", "{dir}/bad.toml", "--db", "{dir}/new.duckdb"], 2, ["not valid TOML"]),
    ("policy bad value", ["policy", "validate", "{dir}/values.toml"], 2, ["monthly_writes"]),
    ("policy unknown section", ["policy", "show", "--policy", "{dir}/unknown.toml"], 2, ["no_such_section"]),
    ("database missing", ["stats", "--db", "{dir}/nope.duckdb"], 3, ["does not exist", "logcorr ingest"]),
    ("database directory missing (read)", ["stats", "--db", "{dir}/nodir/x.duckdb"], 3, ["does not exist", "its directory", "nodir"]),
    ("database directory missing (ingest)", ["ingest", "{log}", "--db", "{dir}/nodir/x.duckdb"], 3, ["directory", "nodir", "does not exist", "mkdir -p"]),
    ("database is a directory (ingest)", ["ingest", "{log}", "--db", "{dir}"], 3, ["is a directory, not a database file", "logcorr.duckdb"]),
    ("database is a directory (read)", ["traces", "--db", "{dir}"], 3, ["is a directory, not a database file", "logcorr.duckdb"]),
    ("database is a directory ($LOGCORR_DB)", ["traces"], 3, ["database /tmp is a directory, not a database file", "$LOGCORR_DB"]),
    ("not a DuckDB file (read)", ["stats", "--db", "{dir}/notdb.duckdb"], 3, ["notdb.duckdb"]),
    ("not a DuckDB file (ingest)", ["ingest", "{log}", "--db", "{dir}/notdb.duckdb"], 3, ["notdb.duckdb"]),
    ("database is a data file (ingest)", ["ingest", "{log}", "--db", "{dir}/data.json"], 3, ["data.json", "not a database file"]),
    ("database is a data file (read)", ["stats", "--db", "{dir}/data.json"], 3, ["data.json", "not a database file"]),
    ("corrupt database", ["stats", "--db", "{dir}/corrupt.duckdb"], 3, ["corrupt.duckdb"]),
    ("unreadable database", ["stats", "--db", "{dir}/unreadable.duckdb"], 3, ["unreadable.duckdb"]),
    ("database is a directory", ["stats", "--db", "{dir}/empty_dir"], 3, ["empty_dir"]),
    ("unknown trace id", ["trace", "trace_0000_nope", "--db", "{db}"], 1, ["trace_0000_nope", "no id is close", "logcorr traces"]),
    ("mistyped trace id", ["trace", "trace_1714910398211_k3j9x2m1q", "--db", "{db}"], 1, ["close matches: trace_1714910398211_k3j9x2m1p"]),
    ("no trace id", ["trace", "--db", "{db}"], 2, ["trace id", "logcorr traces"]),
    ("bad sql", ["sql", "SELEC nonsense", "--db", "{db}"], 2, ["SQL error"]),
    ("sql write", ["sql", "DROP TABLE log_queue", "--db", "{db}"], 2, ["read-only"]),
    ("unknown option", ["ingest", "{log}", "--no-such-flag"], 2, ["--no-such-flag"]),
    ("bad option value", ["traces", "--min-systems", "many", "--db", "{db}"], 2, ["--min-systems"]),
    ("bad output format", ["traces", "--format", "xml", "--db", "{db}"], 2, ["xml"]),
    ("bad --since", ["traces", "--since", "yesterday-ish", "--db", "{db}"], 2, ["yesterday-ish"]),
    ("explain bad target", ["explain", "no-colon-here", "--db", "{db}"], 2, ["FILE:LINE"]),
    ("unknown scenario", ["replay", "--scenario", "nope"], 2, ["nope"]),
    ("bad LOGCORR_MEMORY_LIMIT", ["stats", "--db", "{db}"], 2, ["LOGCORR_MEMORY_LIMIT"]),
    ("bad LOGCORR_LOCK_WAIT", ["stats", "--db", "{db}"], 2, ["LOGCORR_LOCK_WAIT='abc'", "seconds"]),
    ("negative LOGCORR_LOCK_WAIT", ["ingest", "{log}", "--db", "{dir}/new.duckdb"], 2, ["LOGCORR_LOCK_WAIT='-1'"]),
    ("budget unknown pricing", ["budget", "simulate", "--pricing", "nope", "--db", "{db}"], 2, ["nope"]),
    ("serve port out of range", ["serve", "--port", "70000", "--db", "{dir}/serve.duckdb"], 2, ["--port 70000: must be 0-65535"]),
    ("serve negative batch wait", ["serve", "--batch-ms", "-1", "--db", "{dir}/serve.duckdb"], 2, ["--batch-ms -1: must be 0 or more"]),
    ("serve empty webhook secret", ["serve", "--webhook-secret", "", "--db", "{dir}/serve.duckdb"], 2, ["webhook secret", "is empty"]),
    ("serve empty webhook secret variable", ["serve", "--db", "{dir}/serve.duckdb"], 2, ["LOGCORR_WEBHOOK_SECRET", "is empty"]),
    ("serve body limit of zero", ["serve", "--max-body-kb", "0", "--db", "{dir}/serve.duckdb"], 2, ["--max-body-kb 0: must be 1 or more"]),
    ("search unknown level", ["search", "x", "--level", "fatal", "--db", "{db}"], 2, ["unknown level 'fatal'", "warn, error"]),
    ("ledger unknown system", ["ledger", "--system", "edge", "--db", "{db}"], 2, ["unknown system 'edge'", "browser, worker, backend"]),
    ("budget check negative limit", ["budget", "check", "--max-usd", "-1", "--db", "{db}"], 2, ["--max-usd -1: must be a finite number"]),
    ("budget check limit not a number", ["budget", "check", "--max-quota-pct", "nan", "--db", "{db}"], 2, ["--max-quota-pct nan"]),
    ("ingest line limit of zero", ["ingest", "{log}", "--max-line-mb", "0", "--db", "{dir}/new.duckdb"], 2, ["--max-line-mb 0 must be a positive number"]),
    ("ingest line limit not a number", ["ingest", "{log}", "--max-line-mb", "nan", "--db", "{dir}/new.duckdb"], 2, ["--max-line-mb nan"]),
    ("ingest gzip limit infinite", ["ingest", "{log}", "--max-decompressed-gb", "inf", "--db", "{dir}/new.duckdb"], 2, ["--max-decompressed-gb inf"]),
    ("gzip limit variable infinite", ["ingest", "{log}", "--db", "{dir}/new.duckdb"], 2, ["LOGCORR_MAX_DECOMPRESSED_GB='inf'"]),
    ("budget scale beyond a simulation", ["budget", "simulate", "--scale", "10000000000x", "--db", "{db}"], 2, ["the rules decide every event of the first 2 copies", "a simulation decides at most 250,000,000", "at most --scale"]),
    ("replay negative top", ["replay", "--scenario", "steady", "--param", "duration=2m", "--top", "-1"], 2, ["--top -1: must be 0 or more"]),
    ("replay scale beyond floats", ["replay", "--scenario", "steady", "--param", "scale=1e308"], 2, ["a replay takes at most 1,000,000,000"]),
    ("budget baseline is a directory", ["budget", "simulate", "--baseline", "{dir}/empty_dir", "--db", "{db}"], 3, ["cannot read baseline file", "empty_dir"]),
    ("memory limit too small (read)", ["traces", "--db", "{db}"], 3, ["ran out of memory", "LOGCORR_MEMORY_LIMIT=300KB"]),
    ("memory limit too small (ingest)", ["ingest", "{log}", "--db", "{dir}/new.duckdb"], 3, ["ran out of memory", "LOGCORR_MEMORY_LIMIT=1KB"]),
]  # fmt: skip
# the environment a case runs with, by name
CASE_ENV = {
    "database is a directory ($LOGCORR_DB)": {"LOGCORR_DB": "/tmp"},
    "bad LOGCORR_MEMORY_LIMIT": {"LOGCORR_MEMORY_LIMIT": "lots"},
    # read whenever a database is opened, not only when another process holds it (then it was exit 3)
    "bad LOGCORR_LOCK_WAIT": {"LOGCORR_LOCK_WAIT": "abc"},
    "negative LOGCORR_LOCK_WAIT": {"LOGCORR_LOCK_WAIT": "-1"},
    "gzip limit variable infinite": {"LOGCORR_MAX_DECOMPRESSED_GB": "inf"},
    "serve empty webhook secret variable": {"LOGCORR_WEBHOOK_SECRET": ""},
    "memory limit too small (read)": {"LOGCORR_MEMORY_LIMIT": "300KB"},
    "memory limit too small (ingest)": {"LOGCORR_MEMORY_LIMIT": "1KB"},
}


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["--max-line-mb", "1e308"], None),
        (["--max-decompressed-gb", "1e308"], None),
        ([], {"LOGCORR_MAX_DECOMPRESSED_GB": "1e308"}),
    ],
)
def test_a_limit_beyond_any_file_is_no_limit_not_an_overflow(
    env: dict[str, str],
    cli: Callable[..., CliResult],
    tmp_path: Path,
    args: list[str],
    extra: dict[str, str] | None,
) -> None:
    r = cli("ingest", env["log"], "--db", str(tmp_path / "db.duckdb"), "--json", *args, env=extra)
    assert r.exit_code == ExitCode.OK, r.stderr
    assert r.json()["stored"] == 1


def _fmt(args: list[str], env: dict[str, str]) -> list[str]:
    return [a.format(**env) for a in args]


@pytest.mark.parametrize("name, args, code, words", CASES, ids=[c[0] for c in CASES])
def test_user_mistake_gets_one_clear_line_and_the_documented_exit_code(
    name: str,
    args: list[str],
    code: int,
    words: list[str],
    env: dict[str, str],
    cli: Callable[..., CliResult],
) -> None:
    if name == "unreadable database" and os.geteuid() == 0:
        pytest.skip("root reads any file")
    res = cli(*_fmt(args, env), env=CASE_ENV.get(name))
    assert res.exit_code == code, (res.exit_code, res.stdout, res.stderr)
    assert code in (
        ExitCode.CHECK_FAILED,
        ExitCode.USAGE,
        ExitCode.INPUT,
    )  # README "Exit codes" (1: no such trace)
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr, res.stderr
    # click's usage errors print a usage box; ours print `error:` (+ `hint:`)
    if lines and lines[0].startswith("error: "):
        # one error line and a hint; an invalid policy adds one indented line per bad field
        assert lines[0].startswith("error: ") and sum(line.startswith("hint: ") for line in lines) <= 1
        assert all(line.startswith(("error: ", "hint: ", "  ")) for line in lines), res.stderr
    else:
        assert any("Error" in line or "error" in line for line in lines), res.stderr
    for w in words:
        assert w.lower() in res.stderr.lower(), (w, res.stderr)


def test_debug_shows_the_traceback(env: dict[str, str], cli: Callable[..., CliResult]) -> None:
    res = cli("--debug", "stats", "--db", f"{env['dir']}/nope.duckdb")
    assert res.exit_code == 3 and "Traceback" in res.stderr
    os.environ.pop("LOGCORR_DEBUG", None)  # --debug sets it for the process


def test_database_directory_missing_for_a_new_database(
    env: dict[str, str], cli: Callable[..., CliResult]
) -> None:
    res = cli("ingest", env["log"], "--db", f"{env['dir']}/no/such/dir/x.duckdb")
    assert res.exit_code == 3 and res.stderr.startswith("error: ") and "Traceback" not in res.stderr


def test_no_traceback_for_an_input_that_is_a_directory_of_non_logs(
    tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    (tmp_path / "readme.md").write_text("hi")
    res = cli("ingest", str(tmp_path), "--db", str(tmp_path / "x.duckdb"))
    assert res.exit_code == 3 and "no log files" in res.stderr


def _interrupt(args: list[str], after_s: float) -> tuple[int, str]:
    """Run `logcorr ARGS…` as its own process, send it SIGINT (as Ctrl-C does) after `after_s` seconds."""
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "logcorr", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a background shell ignores it
    )
    time.sleep(after_s)
    try:
        # again each second, as a user presses Ctrl-C again: a signal that lands while the process is still
        # starting (slow under load) must not leave the test waiting on the query
        for _ in range(30):
            proc.send_signal(signal.SIGINT)
            try:
                _, err = proc.communicate(timeout=1.0)
                break
            except subprocess.TimeoutExpired:
                continue
        else:
            raise AssertionError("the process did not stop on SIGINT within 30 s")
    finally:
        proc.kill()
    return proc.returncode, err.decode()


def test_ctrl_c_during_a_query_is_an_interruption_not_an_internal_error(env: dict[str, str]) -> None:
    # DuckDB stops a running statement on SIGINT and raises RuntimeError("Query interrupted"), but its
    # closing waits for the tasks on its own threads, which only Connection.interrupt() stops: four long
    # scans make sure some run there (without the interrupt the process runs on for minutes)
    long = " UNION ALL ".join(["SELECT x FROM range(100000000000) t(x)"] * 4)
    code, err = _interrupt(["sql", f"SELECT count(*) FROM ({long}) WHERE x % 7 = 3", "--db", env["db"]],
                           after_s=2.0)  # fmt: skip
    assert code == ExitCode.INTERRUPTED, err
    assert err.strip().splitlines()[-1] == "interrupted" and "internal error" not in err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="writes to /dev/full, a disk that is always full")
@pytest.mark.parametrize("args", [["traces"], ["stats"], ["sql", "SELECT 1", "-f", "json"], ["ledger"]])
def test_output_to_a_full_disk_says_so_not_internal_error(env: dict[str, str], args: list[str]) -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "logcorr", *args, "--db", env["db"]], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=120)  # fmt: skip
    assert done.returncode == ExitCode.INPUT, done.stderr
    assert done.stderr.splitlines() == [
        "error: cannot write standard output: No space left on device",
        "hint: free space on the disk it goes to",
    ]


def test_the_ingest_summary_prints_paths_reasons_and_notes_as_text(cli, tmp_path: Path) -> None:
    """File names and reject reasons are data: rich read "[/x]" in them as a closing tag and raised."""
    src = tmp_path / "logs["
    src.mkdir()
    f = src / "api] [bold]b.jsonl"  # the path holds "[/api]"
    f.write_bytes(b'{"level": "info", "message": "[/api/tasks] ok", "trace_id": "t1", "timestamp": 1714910400000}\n'
                  b"[/api/tasks] not json\n")  # fmt: skip
    res = cli("ingest", f, "--db", tmp_path / "[a].duckdb")
    assert res.exit_code == 0, res.stderr
    assert "logs[/api] [bold]b.jsonl" in res.stderr.replace("\n", "")
    assert "[a].duckdb" in res.stderr
    assert "rejected 1 ×" in res.stderr


def test_the_summary_sums_the_reasons_it_does_not_list_and_its_hints_name_the_database(
    cli, tmp_path: Path
) -> None:
    """Past five reasons a file's rejects were dropped from the summary without a word; and the hint's command
    pointed at ./logcorr.duckdb whatever --db said."""
    lines = [b'{"message": "ok", "level": "info", "trace_id": "t1", "timestamp": 1714910400000}', b"{broken", b"[5]",
             b'{"foo": 1}', b'{"message": "x", "timestamp": 7}', b"\xff\xfe", b'"str"', b'{"message": null}']  # fmt: skip
    f = tmp_path / "m.jsonl"
    f.write_bytes(b"\n".join(lines) + b"\n")
    db = tmp_path / "d b.duckdb"
    res = cli("ingest", f, "--db", db)
    assert res.exit_code == 0, res.stderr
    err = res.stderr
    listed = [ln for ln in err.splitlines() if ln.startswith("rejected ") and " × " in ln]
    assert len(listed) == 5
    more = [ln for ln in err.splitlines() if " more, for " in ln]
    assert len(more) == 1
    total = sum(int(ln.split()[1]) for ln in listed) + int(more[0].split()[1])
    assert total == 7
    hint = next(ln for ln in err.splitlines() if ln.startswith("see rejected lines: "))
    assert hint.endswith(f"--db '{db}'")
    query = hint.split('"')[1]
    out = cli("sql", query, "--db", db, "--format", "json")
    assert out.exit_code == 0 and len(out.json()) == 7


def test_ingest_refuses_a_duckdb_file_that_holds_someone_elses_tables(cli, tmp_path: Path) -> None:
    """It added logcorr's tables among theirs, and readers then called the file "not a logcorr database"."""
    import hashlib

    import duckdb

    db = tmp_path / "theirs.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE orders (id INTEGER)")
    con.close()
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    src = tmp_path / "a.jsonl"
    src.write_text('{"message": "x", "level": "info", "trace_id": "t1", "timestamp": 1714910400000}\n')
    r = cli("ingest", src, "--db", db)
    assert r.exit_code == 3
    assert (
        f"error: {db} is not a logcorr database (it holds other tables: orders); nothing was changed"
        in r.stderr
    )
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


@pytest.mark.parametrize("args", [[], ["policy"], ["budget"]])
def test_a_command_group_alone_prints_its_help_not_an_error_line_holding_it(
    args: list[str], cli: Callable[..., CliResult]
) -> None:
    # `logcorr` alone printed "error: Usage: logcorr [OPTIONS] COMMAND …" and the whole help under it
    res = cli(*args)
    assert res.exit_code == ExitCode.USAGE
    assert res.stderr.startswith(f"Usage: logcorr {' '.join(args)}".rstrip() + " [OPTIONS] COMMAND")
    assert "error:" not in res.stderr and res.stdout == ""


@pytest.mark.parametrize(
    ("args", "wrong", "right"),
    [
        (["ingest", "x.json", "--source", "cf-tail"], "--source", "--format"),
        (["ingest", "x.json", "--database", "a.duckdb"], "--database", "--db"),
        (["traces", "--database", "a.duckdb"], "--database", "--db"),
        (["trace", "t1", "--type", "json"], "--type", "--format"),
        # where the command filters by system or level, that is what `--source` and `--type` mean: they were pointed
        # at the output --format (`search x --source worker` → "did you mean --format?", then an invalid choice)
        (["search", "x", "--source", "worker"], "--source", "--system"),
        (["traces", "--source", "worker"], "--source", "--system"),
        (["ledger", "--source", "worker"], "--source", "--system"),
        (["search", "x", "--type", "error"], "--type", "--level"),
    ],
)
def test_a_flag_named_as_users_guess_it_names_the_real_one(
    cli: Callable[..., CliResult], args: list[str], wrong: str, right: str
) -> None:
    # `ingest --source cf-tail` said "No such option: --source (Possible options: --strict)", and `--database`
    # named nothing: neither pointed at the flag the user meant
    r = cli(*args)
    assert r.exit_code == ExitCode.USAGE
    assert f"error: No such option: {wrong} (did you mean {right}?)" in r.stderr, r.stderr
    assert "--strict" not in r.stderr


def test_a_synonym_is_not_offered_where_the_command_has_no_such_option(cli: Callable[..., CliResult]) -> None:
    r = cli("policy", "validate", "p.toml", "--database", "a.duckdb")  # policy validate takes no --db
    assert r.exit_code == ExitCode.USAGE
    assert "No such option: --database" in r.stderr and "did you mean" not in r.stderr, r.stderr
    # an output format is no source: `budget simulate --source x` was pointed at --format (table, json, markdown)
    r = cli("budget", "simulate", "--source", "x")
    assert r.exit_code == ExitCode.USAGE
    assert "No such option: --source" in r.stderr and "did you mean" not in r.stderr, r.stderr


def test_an_empty_memory_limit_is_no_limit_set(env: dict[str, str], cli: Callable[..., CliResult]) -> None:
    """`LOGCORR_MEMORY_LIMIT=` (a CI variable left blank) was "bad LOGCORR_MEMORY_LIMIT: Memory must have a
    number", exit 2, where an empty $LOGCORR_DB is unset."""
    res = cli(
        "ingest", env["log"], "--db", f"{env['dir']}/blank.duckdb", "-q", env={"LOGCORR_MEMORY_LIMIT": ""}
    )
    assert res.exit_code == 0, res.stderr
    assert cli("stats", "--db", f"{env['dir']}/blank.duckdb", env={"LOGCORR_MEMORY_LIMIT": ""}).exit_code == 0
