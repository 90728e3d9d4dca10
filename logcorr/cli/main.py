"""The `logcorr` command: the typer app, its sub-commands, and the one error boundary where
exceptions become messages and exit codes."""

from __future__ import annotations

import os
import sys

import typer

from logcorr.errors import ExitCode, LogcorrError

app = typer.Typer(
    name="logcorr",
    help="Correlate browser, Cloudflare Worker and Convex logs offline, with the live system's protection rules.\n\n"
    "Example: logcorr ingest fixtures/ --db sample.duckdb",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
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


def _register() -> None:
    from logcorr.cli import budget, ingest, ledger, policy, query, replay, serve

    ingest.register(app)
    query.register(app)
    budget.register(app)
    ledger.register(app)
    policy.register(app)
    replay.register(app)
    serve.register(app)


_register()


def cli_main(argv: list[str] | None = None) -> int:
    """Run the app on `argv` and return the documented exit code (the one error boundary)."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or os.environ.get("LOGCORR_DEBUG") == "1"
    try:
        rv = app(args=args, prog_name="logcorr", standalone_mode=False)
    except LogcorrError as e:
        return _fail(e.message, e.hint, e.exit_code, debug, e)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return ExitCode.INTERRUPTED
    except typer.Exit as e:
        return int(e.exit_code)
    except typer.Abort:
        sys.stderr.write("aborted\n")
        return ExitCode.INTERRUPTED
    except Exception as e:
        if hasattr(e, "show") and hasattr(e, "exit_code"):  # a click usage error (bad flag, missing argument)
            e.show()
            return ExitCode.USAGE
        return _fail(f"internal error: {type(e).__name__}: {e}", "re-run with --debug and report it",
                     ExitCode.INPUT, debug, e)  # fmt: skip
    return int(rv) if isinstance(rv, int) else ExitCode.OK


def run() -> None:
    """Console-script entry point."""
    sys.exit(cli_main())


def _fail(message: str, hint: str | None, code: int, debug: bool, exc: BaseException) -> int:
    if debug:
        import traceback

        traceback.print_exception(exc)
    sys.stderr.write(f"error: {message}\n")
    if hint:
        sys.stderr.write(f"hint: {hint}\n")
    return code
