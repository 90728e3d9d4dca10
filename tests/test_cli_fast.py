"""The fast path of the read commands (logcorr.cli.params) parses exactly as typer does, and leaves
everything it does not fully understand to typer."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

import pytest
import typer

from logcorr.cli import export, ledger, query
from logcorr.cli.main import FAST_MODULES
from logcorr.cli.params import parse_fast, typer_command
from logcorr.errors import ExitCode
from tests.conftest import CliResult

COMMANDS: dict[str, Callable[..., Any]] = {**query.COMMANDS, **ledger.COMMANDS, **export.COMMANDS}

Cli = Callable[..., CliResult]


def _capturing(func: Callable[..., Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
    """A stand-in with `func`'s declarations that records the arguments it is called with."""
    seen: dict[str, Any] = {}

    def cap(**kw: Any) -> None:
        seen.clear()
        seen.update(kw)

    cap.__signature__ = inspect.signature(func)  # type: ignore[attr-defined]
    cap.__annotations__ = typing.get_type_hints(func)
    cap.__doc__ = func.__doc__
    return cap, seen


def _typer_parse(func: Callable[..., Any], argv: list[str]) -> dict[str, Any]:
    cap, seen = _capturing(func)
    app = typer.Typer()
    app.command("cmd")(typer_command(cap))

    @app.callback()
    def _group() -> None:
        pass

    app(["cmd", *argv], standalone_mode=False)
    return dict(seen)


VALID = [
    ("trace", ["trace_1"]),
    ("trace", ["trace_1", "--db", "x.duckdb", "--format", "json", "--no-skew", "--include-dropped"]),
    ("trace", ["--first-with-errors", "-f", "chrome", "--db=x.duckdb"]),
    ("trace", ["trace_1", "--limit", "0"]),
    ("trace", []),
    ("traces", []),
    ("traces", ["--has-errors", "--system", "worker", "--system", "browser", "--min-systems", "2"]),
    ("traces", ["--since", "2h", "--until", "2024-05-05T10:00:00Z", "--user", "u1", "--sort", "duration"]),
    ("traces", ["--slowest", "3", "--limit=7", "-f", "csv"]),
    ("traces", ["--limit", "-1"]),
    ("search", ["timeout", "--regex", "--level", "error", "--format", "jsonl", "--limit", "5"]),
    ("search", ["-E", "time.*out", "--has-errors"]),
    ("sql", ["SELECT 1", "--format", "json"]),
    ("stats", ["--json"]),
    ("stats", []),
    ("ledger", ["--rule", "loop", "--system", "worker", "--trace", "t", "-n", "0", "-f", "json"]),
    ("explain", ["file.jsonl:3", "--db", "a.duckdb"]),
    ("export", ["--parquet", "out", "--since", "7d", "--include-dropped", "--overwrite", "--json"]),
]


@pytest.mark.parametrize(("name", "argv"), VALID)
def test_the_fast_parser_reads_valid_arguments_as_typer_does(name: str, argv: list[str]) -> None:
    func = COMMANDS[name]
    cap, _ = _capturing(func)
    fast = parse_fast(cap, argv)
    assert fast is not None, "the fast path should accept this"
    assert fast == _typer_parse(func, argv)


def test_the_db_comes_from_the_environment_as_with_typer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGCORR_DB", "env.duckdb")
    func = COMMANDS["traces"]
    cap, _ = _capturing(func)
    assert parse_fast(cap, [])["db"] == "env.duckdb" == _typer_parse(func, [])["db"]  # type: ignore[index]
    assert parse_fast(cap, ["--db", "flag.duckdb"])["db"] == "flag.duckdb"  # type: ignore[index]


@pytest.mark.parametrize(
    ("name", "argv"),
    [
        ("traces", ["--help"]),
        ("traces", ["-h"]),
        ("traces", ["--limit", "many"]),
        ("traces", ["--limit", "5_000"]),
        ("traces", ["--format", "yaml"]),
        ("traces", ["--no-such-option"]),
        ("traces", ["--has-errors=yes"]),
        ("traces", ["--limit", "3", "--limit", "4"]),
        ("traces", ["--limit"]),
        ("traces", ["-fcsv"]),
        ("traces", ["--db", "--has-errors"]),
        ("traces", ["extra"]),
        ("search", []),
        ("search", ["--", "-x"]),
        ("sql", ["-"]),
        ("export", []),
    ],
)
def test_anything_unusual_is_left_to_typer(name: str, argv: list[str]) -> None:
    cap, _ = _capturing(COMMANDS[name])
    assert parse_fast(cap, argv) is None


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["traces", "--limit", "many"], ExitCode.USAGE),
        (["traces", "--format", "yaml"], ExitCode.USAGE),
        (["traces", "--no-such-option"], ExitCode.USAGE),
        (["search"], ExitCode.USAGE),
        (["export"], ExitCode.USAGE),
    ],
)
def test_usage_errors_still_come_from_typer(cli: Cli, argv: list[str], code: int) -> None:
    """Typer finds them; they print as every other error does: one `error:` line, then a `hint:`."""
    r = cli(*argv)
    assert r.exit_code == code and r.stdout == ""
    lines = r.stderr.splitlines()
    assert (
        len(lines) == 2 and lines[0].startswith("error: ") and lines[1] == f"hint: logcorr {argv[0]} --help"
    )
    assert "Usage:" not in r.stderr


def test_help_lists_every_command_and_each_read_command_has_help(cli: Cli) -> None:
    r = cli("--help")
    assert r.exit_code == ExitCode.OK
    for name in (*COMMANDS, "ingest", "budget", "policy", "replay"):
        assert f"  {name} " in r.stdout
    for name in COMMANDS:
        r = cli(name, "--help")
        assert r.exit_code == ExitCode.OK and "Example: logcorr" in r.stdout, name


@pytest.mark.parametrize(
    "argv",
    [["ingest"], ["trace"], ["traces"], ["search"], ["sql"], ["stats"], ["export"], ["ledger"], ["explain"],
     ["replay"], ["serve"], ["budget", "simulate"], ["budget", "check"], ["policy", "show"], ["policy", "validate"]],
)  # fmt: skip
def test_help_example_is_one_line_to_copy(cli: Cli, argv: list[str]) -> None:
    """The example is a command to paste: wrapped at 80 columns it broke inside `--fail-on-degrade`
    (`--fail-` / `on-degrade`) and ran as two commands."""
    from logcorr.cli.main import __getattr__ as app_of

    r = cli(*argv, "--help")
    assert r.exit_code == ExitCode.OK
    example = next(line.strip() for line in r.stdout.splitlines() if line.strip().startswith("Example: "))
    command = typer.main.get_command(app_of("app"))
    for name in argv:
        command = command.commands[name]  # type: ignore[attr-defined]
    doc = inspect.cleandoc(command.help or "")
    written = next(line for line in doc.splitlines() if line.startswith("Example: "))
    assert example == written


def test_every_command_a_help_text_names_exists(cli: Cli) -> None:
    # `ingest --help` once sent users to `logcorr formats`, which never existed
    import re

    top = cli("--help").stdout
    commands = set(re.findall(r"^  ([a-z]+) ", top, re.MULTILINE))
    groups = {"budget": ["simulate", "check"], "policy": ["show", "validate"]}
    pages = [[name] for name in sorted(commands)] + [[g, sub] for g, subs in groups.items() for sub in subs]
    for argv in pages:
        text = " ".join(cli(*argv, "--help").stdout.split())  # rewrapped: a name may have been split
        for named in re.findall(r"`logcorr ([a-z]+)", text):
            assert named in commands, (argv, named)


def test_every_fast_module_declares_its_commands() -> None:
    import importlib

    for module in FAST_MODULES:
        commands = importlib.import_module(f"logcorr.cli.{module}").COMMANDS
        assert commands and all(callable(f) for f in commands.values())


def test_the_read_path_imports_neither_typer_nor_pydantic(tmp_path: Any) -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from logcorr.cli.main import cli_main\n"
        f"rc = cli_main(['stats', '--db', {str(tmp_path / 'missing.duckdb')!r}])\n"
        "heavy = sorted(m for m in ('typer', 'pydantic', 'rich') if m in sys.modules)\n"
        "print(rc, heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"{int(ExitCode.INPUT)} []"


def test_a_read_command_run_as_a_program_prints_everything_and_keeps_its_exit_code(
    tmp_path: Any, cli: Cli
) -> None:
    """The console script ends the read commands without the interpreter's teardown: what they printed
    must all reach a pipe first, and the exit code must be the command's."""
    import subprocess
    import sys

    from logcorr.pipeline.ingest import ingest
    from tests.conftest import FIXTURES

    db = str(tmp_path / "s.duckdb")
    ingest([str(FIXTURES)], db)
    for argv in (
        ["trace", "--first-with-errors", "--db", db, "--format", "json"],
        ["trace", "--first-with-errors", "--db", db],
        ["traces", "--db", db, "--format", "csv"],
        ["stats", "--db", db],
        ["trace", "no-such-trace", "--db", db],
    ):
        inproc = cli(*argv)
        proc = subprocess.run(
            [sys.executable, "-m", "logcorr", *argv], capture_output=True, env={"NO_COLOR": "1", "PATH": ""}
        )
        assert proc.returncode == inproc.exit_code, (argv, proc.stderr)
        assert proc.stdout == inproc.stdout_bytes, argv
        assert proc.stderr.decode().splitlines()[:1] == inproc.stderr.splitlines()[:1], argv


def test_duckdb_draws_no_progress_bar_on_stdout(tmp_path: Any, cli: Cli) -> None:
    """DuckDB draws its progress bar on stdout (into a file or a pipe too) for any statement over two
    seconds; it once landed in the middle of `ingest --json`. Every connection logcorr opens turns it off:
    what a query on it sees, and what an ingest's workers and a replay scenario run on."""
    import duckdb

    from logcorr.pipeline.ingest import ingest
    from logcorr.store.connection import connect, quiet
    from tests.conftest import FIXTURES

    db = str(tmp_path / "s.duckdb")
    ingest([str(FIXTURES)], db)
    out = cli("sql", "--db", db, "--format", "csv", "SELECT current_setting('enable_progress_bar') AS bar")
    assert out.exit_code == 0 and out.stdout.split() == ["bar", "false"]
    for opened in (lambda: connect(db), lambda: connect(db, read_only=True), lambda: quiet(duckdb.connect())):
        con = opened()
        try:
            assert con.execute("SELECT current_setting('enable_progress_bar')").fetchone() == (False,)
        finally:
            con.close()


def test_a_missing_database_names_itself_in_the_hint(tmp_path: Any, cli: Cli) -> None:
    db = str(tmp_path / "nothing.duckdb")
    out = cli("stats", "--db", db)
    assert out.exit_code == int(ExitCode.INPUT)
    assert f"logcorr ingest FILES --db {db}" in out.stderr


@pytest.mark.parametrize(
    ("argv", "option", "says"),
    [
        # one connection over the limit evicts the one longest idle; 503 only when each has a request
        (["serve"], "--max-connections", "takes the place of the one waiting longest for a request's head"),
        # a directory of small files is parsed on the workers too, each file whole
        (["ingest"], "--jobs", "many smaller ones each whole"),
    ],
)
def test_an_options_help_says_what_it_does_now(cli: Cli, argv: list[str], option: str, says: str) -> None:
    text = " ".join(cli(*argv, "--help").stdout.split())  # rewrapped
    start = text.index(option)
    assert says in text[start : start + 400], text[start : start + 400]
