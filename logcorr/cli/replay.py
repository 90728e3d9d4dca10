"""`logcorr replay`: load-test the rules with a scenario or recorded logs, on simulated time."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Any

import typer

from logcorr.errors import ExitCode


class ReplayFormat(StrEnum):
    table = "table"
    json = "json"
    junit = "junit"


def register(app: typer.Typer) -> None:
    app.command("replay")(replay_cmd)


def replay_cmd(
    inputs: list[str] = typer.Argument(None, help="Recorded log files or directories to replay (else --db)."),
    scenario: str = typer.Option(
        None, "--scenario", "-s", help="Built-in scenario name or TOML file (see --list)."
    ),
    param: list[str] = typer.Option(
        None,
        "--param",
        "-p",
        help="Override a scenario field, e.g. duration=2h or flows.page.rate=5 (repeatable).",
    ),
    db: str = typer.Option(
        None,
        "--db",
        help="Replay the events of this database (default: $LOGCORR_DB, else ./logcorr.duckdb).",
    ),
    speed: float = typer.Option(1.0, "--speed", help="Recorded logs: compress time N×."),
    multiply: float = typer.Option(
        1.0, "--multiply", help="Recorded logs: N× the rate by cloning traces with new ids."
    ),
    local_tz: str = typer.Option(
        None,
        "--local-tz",
        help="Recorded log files: IANA zone of times written without one, as `npx convex logs` text prints "
        "them, as for ingest (default: this machine's; env LOGCORR_LOCAL_TZ).",
    ),
    policy: str = typer.Option(None, "--policy", help="Policy TOML (default: the story's numbers)."),
    compare_policy: str = typer.Option(
        None, "--compare-policy", help="Run the same load under this policy too, side by side."
    ),
    asserts: list[str] = typer.Option(
        None, "--assert", "-a", help="Threshold, e.g. 'cost_usd<10' (repeatable); exit 1 if one fails."
    ),
    pricing: list[str] = typer.Option(
        None,
        "--pricing",
        help="Pricing model name or TOML, repeatable (default: story, convex-professional, cloudflare-workers-paid).",
    ),
    model: str = typer.Option(
        "story",
        "--model",
        help="Pricing model behind cost_usd: a built-in name, a TOML file, or the name of a --pricing model.",
    ),
    amplification: str = typer.Option(
        None, "--amplification", help="Write-amplification TOML (default: the built-in model)."
    ),
    bucket: str = typer.Option(
        None, "--bucket", help="Series bucket, e.g. 1m or 1h (default: 1m up to a day of load, else 1h)."
    ),
    top: int = typer.Option(10, "--top", help="Top messages listed."),
    svg: str = typer.Option(
        None, "--svg", help="Also write an SVG chart of offered vs accepted per system to this file."
    ),
    fmt: ReplayFormat = typer.Option(
        ReplayFormat.table, "--format", "-f", help="Output: table, json or junit."
    ),
    list_scenarios: bool = typer.Option(False, "--list", help="List the built-in scenarios and exit."),
) -> None:
    """Replay a scenario or recorded logs through the rules on simulated time; check thresholds.

    \b
    Example: logcorr replay --scenario steady --assert 'cost_usd<10' --assert 'trace_integrity>=0.99'
    """
    from logcorr.replay.asserts import cost_models, evaluate, validate
    from logcorr.replay.session import Request, execute

    if list_scenarios:
        return _list()
    validate(asserts or [], compare=bool(compare_policy))
    if svg:
        _check_svg_target(svg)
    req = Request(scenario, list(param or []), list(inputs or []), db, speed, multiply, policy, compare_policy,
                  list(pricing or []), model, amplification, _bucket(bucket), top,
                  cost_models(list(asserts or [])), local_tz)  # fmt: skip
    from logcorr.render.console import counted_progress

    progress, stop = counted_progress("replay")
    try:
        result = execute(req, progress)
    finally:
        stop()
    checks = evaluate(result, list(asserts or []))
    _emit(result, fmt, checks, svg)
    if any(not c.passed for c in checks):
        raise typer.Exit(ExitCode.CHECK_FAILED)


def _bucket(text: str | None) -> int | None:
    from logcorr.errors import UsageError
    from logcorr.units import parse_duration_ms

    if not text:
        return None
    ms = parse_duration_ms(text, "--bucket")
    if ms <= 0:  # it fell back to a minute without a word
        raise UsageError(f"--bucket {text!r} must be longer than 0", "e.g. --bucket 1m or --bucket 1h")
    if ms % 60_000:  # the series is kept per minute: 10s became 1 min, 90s 1 min, without a word
        raise UsageError(
            f"--bucket {text!r} must be whole minutes (the series is counted per minute)",
            "e.g. --bucket 1m, 5m or 1h",
        )
    return ms


def _list() -> None:
    from logcorr.replay.scenario import BUILTIN, load_scenario

    for name in BUILTIN:
        sc, _, _ = load_scenario(name)
        sys.stdout.write(f"{name:20} {sc.description}\n")


def _emit(result: dict[str, Any], fmt: ReplayFormat, checks: list[Any], svg: str | None) -> None:
    from logcorr.render import replay as out
    from logcorr.render.console import write_json

    if svg:
        _write_svg(result, svg)
    if fmt is ReplayFormat.json:
        write_json(out.to_json(result, checks if checks else None))
    elif fmt is ReplayFormat.junit:
        sys.stdout.buffer.write(out.to_junit(result, checks))
    elif fmt is ReplayFormat.table:
        out.render_table(result, checks)
    else:  # pragma: no cover - exhaustive
        raise AssertionError(fmt)
    for line in out.check_lines(checks):
        sys.stderr.write(line + "\n")


def _check_svg_target(path: str) -> None:
    """Refuse an --svg path that cannot be written before the replay runs: it failed after it, and a month's
    two minutes of replay and its report were lost with it."""
    import os
    from pathlib import Path

    from logcorr.errors import InputError

    p = Path(path)
    folder = p.parent
    if p.is_dir():
        raise InputError(f"cannot write --svg {path}: it is a directory", "name a file, e.g. --svg chart.svg")
    if not folder.is_dir():
        raise InputError(f"cannot write --svg {path}: directory {folder} does not exist",
                         f"create it first (mkdir -p {folder}), or choose another path")  # fmt: skip
    if not os.access(folder, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise InputError(f"cannot write --svg {path}: permission denied")


def _write_svg(result: dict[str, Any], path: str) -> None:
    from logcorr.errors import InputError
    from logcorr.render.replay import chart_title
    from logcorr.replay.chart import svg

    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(svg(result["series"], chart_title(result), result["replay"]["end"]))
    except OSError as e:
        raise InputError(f"cannot write {path}: {e}") from e
