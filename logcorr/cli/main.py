"""The `logcorr` command: the typer app, its sub-commands, and the one error boundary where
exceptions become messages and exit codes.

Start-up time is part of the product (`logcorr trace` should answer in well under half a second), so
nothing heavy is imported here. The commands of `FAST_MODULES` declare their options with
`logcorr.cli.params` and run without typer when their arguments are plain (the common case); `--help`,
usage errors and every other command go through the typer app, built on first use.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from collections.abc import Callable
from typing import Any

from logcorr.errors import ExitCode, LogcorrError

HELP = (
    "Correlate browser, Cloudflare Worker and Convex logs offline, with the live system's protection rules.\n\n"
    "Example: logcorr ingest fixtures/ --db sample.duckdb"
)

# modules whose COMMANDS ({name: function}) are declared with logcorr.cli.params
FAST_MODULES = ("query", "ledger", "export")


def _register(app: Any) -> None:
    """Add every sub-command to the typer app (the order is the order of `logcorr --help`)."""
    from logcorr.cli import budget, export, ingest, ledger, policy, query, replay, serve

    ingest.register(app)
    query.register(app)
    export.register(app)
    budget.register(app)
    ledger.register(app)
    policy.register(app)
    replay.register(app)
    serve.register(app)


def build_app() -> Any:
    """The typer app: every command, its help and its usage errors."""
    import typer

    app = typer.Typer(
        name="logcorr",
        help=HELP,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,  # plain help: rendering it with rich costs ~0.2 s of start-up
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    def _version(value: bool) -> None:
        if value:
            from logcorr import __version__

            typer.echo(f"logcorr {__version__}")
            raise typer.Exit()

    @app.callback()
    def main(
        debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
        version: bool = typer.Option(
            False, "--version", callback=_version, is_eager=True, help="Print the version."
        ),
    ) -> None:
        """Correlate browser, Cloudflare Worker and Convex logs offline."""
        if debug:
            os.environ["LOGCORR_DEBUG"] = "1"

    _register(app)
    return app


_app: Any = None


def __getattr__(name: str) -> Any:
    """`logcorr.cli.main.app`: the typer app, built on first access."""
    global _app
    if name == "app":
        if _app is None:
            _app = build_app()
        return _app
    raise AttributeError(name)


def register_commands(app: Any, commands: dict[str, Callable[..., Any]]) -> None:
    """Register commands declared with logcorr.cli.params on a typer app."""
    from logcorr.cli.params import typer_command

    for name, func in commands.items():
        app.command(name)(typer_command(func))


def _run_fast(args: list[str]) -> tuple[bool, Any]:
    if not args or args[0].startswith("-"):
        return False, None
    import importlib

    from logcorr.cli.params import run_fast

    for module in FAST_MODULES:
        commands = importlib.import_module(f"logcorr.cli.{module}").COMMANDS
        if args[0] in commands:
            return run_fast(commands, args)
    return False, None


def cli_main(argv: list[str] | None = None) -> int:
    """Run the app on `argv` and return the documented exit code (the one error boundary)."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or os.environ.get("LOGCORR_DEBUG") == "1"
    _open_missing_streams()
    try:
        ran, rv = _run_fast(args)
        if not ran:
            rv = __getattr__("app")(args=args, prog_name="logcorr", standalone_mode=False)
    except LogcorrError as e:
        return _fail(e.message, e.hint, e.exit_code, debug, e)
    except KeyboardInterrupt:
        _interrupted(args)
        return ExitCode.INTERRUPTED
    except Exception as e:
        return _other(e, debug, args)
    code = int(rv) if isinstance(rv, int) else ExitCode.OK
    if code == ExitCode.INTERRUPTED:  # typer returns 130 for Ctrl-C in a command, and says nothing
        _interrupted(args)
    return code


def _open_missing_streams() -> None:
    """Standard output or error the process was started without (`logcorr stats >&-`, a job with no
    stdout) is None in Python, and the first write was an internal error: what goes there goes to the null
    device instead, as it does once a reader has gone away (which takes the closed descriptor's number)."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115 (the process's own)


def _interrupted(args: list[str]) -> None:
    from logcorr.store.interrupt import committed_run

    run = committed_run()  # Ctrl-C during an ingest's COMMIT: that ingest is in the database
    if run is not None:
        sys.stderr.write(f"interrupted after ingest run {run} was committed: its data is stored\n")
    elif next((a for a in args if not a.startswith("-")), None) == "ingest":
        # one ingest is one transaction: say so, a user who stopped it wonders what half of it is stored
        sys.stderr.write("interrupted: this ingest stored nothing, the database is as it was before it\n")
    else:
        sys.stderr.write("interrupted\n")


def _other(e: Exception, debug: bool, args: list[str]) -> int:
    if isinstance(e, BrokenPipeError):
        # the reader went away (`logcorr traces | head`): it has what it wanted. Nothing more to stdout, and
        # no complaint at exit when Python flushes it
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return ExitCode.OK
    if _query_interrupted(e):
        _interrupted(args)
        return ExitCode.INTERRUPTED
    typer = sys.modules.get("typer")
    if typer is not None and isinstance(e, typer.Exit):
        return int(e.exit_code)
    if typer is not None and isinstance(e, typer.Abort):
        sys.stderr.write("aborted\n")
        return ExitCode.INTERRUPTED
    if type(e).__name__ == "NoArgsIsHelpError":
        # `logcorr` or `logcorr policy` alone: the help it asks for, not an error line holding it
        sys.stderr.write(e.format_message() + "\n")  # type: ignore[attr-defined]
        return ExitCode.USAGE
    if hasattr(e, "format_message") and hasattr(e, "exit_code"):
        # a click usage error (bad flag, missing argument): one `error:` line and a `hint:` as every other
        # error, not click's Usage/Try/Error block
        ctx = getattr(e, "ctx", None)
        where = ctx.command_path if ctx is not None else "logcorr"
        return _fail(_synonym(e, ctx) or e.format_message(), f"{where} --help", ExitCode.USAGE, debug, e)
    if isinstance(e, OSError) and e.errno in _DISK_FULL:
        # the library names the files it reads and writes itself: a full disk reaching here was hit while
        # writing the output (standard output redirected to a file, a chart, …)
        where = e.filename if isinstance(e.filename, str) else "standard output"
        return _fail(f"cannot write {where}: {os.strerror(e.errno)}", "free space on the disk it goes to",
                     ExitCode.INPUT, debug, e)  # fmt: skip
    if type(e).__name__ == "OutOfMemoryException" and type(e).__module__.endswith("duckdb"):
        from logcorr.store.connection import out_of_memory

        what, first, hint = out_of_memory(e)
        return _fail(f"DuckDB ran out of {what}: {first}", hint, ExitCode.INPUT, debug, e)
    return _fail(f"internal error: {type(e).__name__}: {e}", "re-run as `logcorr --debug COMMAND …` (or with LOGCORR_DEBUG=1) and report it",
                 ExitCode.INPUT, debug, e)  # fmt: skip


# a write that found no room: the disk, the user's quota, the file size limit
_DISK_FULL = frozenset((errno.ENOSPC, errno.EDQUOT, errno.EFBIG))


def _query_interrupted(e: Exception) -> bool:
    """Ctrl-C while DuckDB runs a statement: DuckDB stops it and raises one of these, not KeyboardInterrupt
    (which one depends on whether its wait or its tasks saw the interruption first)."""
    if type(e) is RuntimeError:
        return str(e).startswith("Query interrupted")
    return type(e).__name__ == "InterruptException" and type(e).__module__.endswith("duckdb")


def run() -> None:
    """Console-script entry point."""
    from logcorr.store.interrupt import install

    install()
    code = cli_main()
    if _reads_only(sys.argv[1:]):
        _exit_now(code)
    sys.exit(code)


def _reads_only(args: list[str]) -> bool:
    """True for the read-side commands (`trace`, `traces`, `search`, `sql`, `stats`): they open the
    database read-only and write nothing but stdout and stderr."""
    query = sys.modules.get("logcorr.cli.query")
    return bool(args) and query is not None and args[0] in query.COMMANDS


def _exit_now(code: int) -> None:
    """Flush stdout and stderr and end the process without the interpreter's teardown: unloading DuckDB
    and the modules a query imported took 50-80 ms of a `trace` that answers in ~0.4 s. Only for commands
    that read: nothing of theirs waits for a destructor or an exit handler."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe or stream: leave it to the normal exit to report
        return
    os._exit(code)


# flags users type for an option logcorr spells otherwise: click's spelling suggestions miss them (`--source`,
# which DESIGN.md names beside --format, was answered "Possible options: --strict"). The first the command has is
# offered: `search --source worker` means the event's system and `search --type error` its level, not the output
# --format (table, json, …) that `--source` and `--type` were pointed at; `--source` means ingest's input --format
SYNONYMS: dict[str, tuple[str, ...]] = {
    "--source": ("--system", "--format"),
    "--type": ("--level", "--format"),
    "--database": ("--db",),
    "--db-path": ("--db",),
}


def _synonym(e: BaseException, ctx: Any) -> str | None:
    """ "No such option: --source (did you mean --format?)" when the command has an option a known synonym
    stands for, else None."""
    name = getattr(e, "option_name", None)
    if not isinstance(name, str) or ctx is None:
        return None
    for target in SYNONYMS.get(name, ()):
        param = next((p for p in ctx.command.params if target in getattr(p, "opts", ())), None)
        if param is None:
            continue
        if name == "--source" and target == "--format" and ctx.command.name != "ingest":
            continue  # an output format (table, json, …): only ingest's --format names a source's
        return f"No such option: {name} (did you mean {target}?)"
    return None


def _fail(message: str, hint: str | None, code: int, debug: bool, exc: BaseException) -> int:
    if debug:
        import traceback

        traceback.print_exception(exc)
    from logcorr.render.text import visible

    # a message may quote the database's text (a hint's close trace ids): shown, not sent to the terminal
    sys.stderr.write(f"error: {visible(message)}\n")
    if hint:
        sys.stderr.write(f"hint: {visible(hint)}\n")
    return code
