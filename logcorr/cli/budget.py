"""`logcorr budget simulate` and `logcorr budget check` (the CI gate)."""

from __future__ import annotations

import math
import os
import re
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from logcorr.errors import ExitCode, UsageError

budget_app = typer.Typer(help="Project monthly writes and dollars; gate CI on them.", no_args_is_help=True)

DB_OPT = typer.Option(
    None, "--db", envvar="LOGCORR_DB", help="DuckDB file to project from (default: ./logcorr.duckdb)."
)
INPUTS = typer.Argument(None, help="Project straight from these input files instead of the database.")
PRICING = typer.Option(
    None,
    "--pricing",
    help="Pricing model name or TOML file (repeatable) (default: story, convex-professional, cloudflare-workers-paid).",
)

# options shared by simulate and check
POLICY_OPT = typer.Option(None, "--policy", help="Policy TOML (default: the story's numbers).")
AMPLIFICATION_OPT = typer.Option(
    None, "--amplification", help="Write-amplification TOML (default: built-in)."
)
DAYS_OPT = typer.Option(None, "--days", help="Length of the simulated month (default: the month's length).")
SCALE_OPT = typer.Option("1x", "--scale", help="Multiply the observed load, e.g. 10x.")
PERIOD_OPT = typer.Option(
    None, "--period", help="How much time the input represents, e.g. 1d (default: its span)."
)
LOCAL_TZ_OPT = typer.Option(
    None,
    "--local-tz",
    help="Input files: IANA zone of times written without one, as `npx convex logs` text prints them, as for "
    "ingest (default: this machine's; env LOGCORR_LOCAL_TZ).",
)


class SimFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


class CheckFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"
    junit = "junit"


def register(app: typer.Typer) -> None:
    budget_app.command("simulate")(simulate_cmd)
    budget_app.command("check")(check_cmd)
    app.add_typer(budget_app, name="budget")


def parse_scale(text: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*[x×]?\s*", text or "")
    if not m or float(m.group(1)) <= 0:
        raise UsageError(f"--scale {text!r} is not a positive factor", "e.g. --scale 10x or --scale 0.5")
    return float(m.group(1))


def _limit(option: str, text: str | None, prefix: str, suffix: str) -> float | None:
    """A threshold as written: a number, with the `$` or `%` a user may write around it (`$10`, `100%`)."""
    if text is None:
        return None
    bare = text.strip().removeprefix(prefix).removesuffix(suffix).strip()
    try:
        return float(bare)
    except ValueError:
        raise UsageError(
            f"{option} {text!r}: not a number", "e.g. --max-usd 10 --max-quota-pct 100"
        ) from None


def _project(inputs: list[str] | None, db: str | None, policy: str | None, pricing: list[str] | None,
             amplification: str | None, days: int | None, scale: str, baseline: str | None,
             period: str | None, wanted: list[str] | None = None,
             local_tz: str | None = None) -> tuple[dict[str, Any], list[str]]:  # fmt: skip
    """The projection, and the simulated names of the `wanted` pricing models (see `select_models`)."""
    from logcorr.budget.amplification import load_amplification
    from logcorr.budget.pricing import select_models
    from logcorr.budget.project import diff, read_inputs, simulate
    from logcorr.model import path_text
    from logcorr.rules.policy import load_policy
    from logcorr.sim.load import say_left_out
    from logcorr.store.connection import resolve_db
    from logcorr.store.query import open_read_only
    from logcorr.units import parse_duration_ms

    pol = load_policy(policy)
    models, names = select_models(pricing, wanted or [])
    amp = load_amplification(amplification)
    base = _read_baseline(baseline) if baseline else None
    tmp = None
    if local_tz is not None and not inputs:
        from logcorr.replay.session import LOCAL_TZ_HINT, LOCAL_TZ_WITHOUT_FILES

        raise UsageError(LOCAL_TZ_WITHOUT_FILES, LOCAL_TZ_HINT)
    if inputs:
        con, tmp, read = read_inputs(inputs, pol, local_tz)
        # how the files were read goes with the result: a CI reader sees the reports, not stderr
        source: dict[str, Any] = {"inputs": [path_text(p) for p in inputs], **read}
    else:
        path = resolve_db(db)
        con, source = open_read_only(path), {"db": path}
    from logcorr.render.console import counted_progress

    progress, stop = counted_progress("simulate")
    try:
        period_ms = parse_duration_ms(period, "--period") if period else None
        result = simulate(con, pol, amp, list(models), days=days, scale=parse_scale(scale), period_ms=period_ms,
                          source=source, progress=progress)  # fmt: skip
    finally:
        stop()
        con.close()
        if tmp is not None:
            tmp.cleanup()
    for g in result["observed"]["left_out"]:
        # on stderr too: a CI log shows why a gate's figures rest on fewer events than the inputs hold
        sys.stderr.write(f"note: left out of the projection: {say_left_out(g)}, on a browser's clock "
                         f"({g['first']}{'' if g['first'] == g['last'] else ' → ' + g['last']}); see the notes\n")  # fmt: skip
    if base is not None:
        result["baseline"] = diff(result, base)
    return result, names


def _read_baseline(path: str) -> dict[str, Any]:
    import orjson

    from logcorr.errors import InputError

    try:
        data = orjson.loads(Path(path).read_bytes())
    except FileNotFoundError as e:
        raise InputError(f"baseline file {path} not found") from e
    except OSError as e:  # a directory, no permission
        raise InputError(f"cannot read baseline file {path}: {e.strerror or e}") from e
    except orjson.JSONDecodeError as e:
        raise InputError(
            f"baseline file {path} is not JSON: {e}", "write one with budget simulate --format json"
        ) from e
    # the parts `project.diff` reads, of the shapes it reads them in (`{"systems": [1, 2]}` was an internal error);
    # `total.quota_pct` and `costs` are required: a `replay --format json` result has `systems` too, and was
    # taken as a baseline with nothing to compare (every change "n/a", exit 0)
    result: dict[str, Any] = data if isinstance(data, dict) else {}
    systems, total, costs = (result.get(k) for k in ("systems", "total", "costs"))
    if (
        not isinstance(systems, dict)
        or not all(isinstance(v, dict) for v in systems.values())
        or not isinstance(total, dict)
        or type(total.get("quota_pct")) not in (int, float)
        or not isinstance(costs, list)
        or not all(isinstance(c, dict) and isinstance(c.get("model"), str) for c in costs)
    ):
        raise InputError(
            f"baseline file {path} is not a budget simulate JSON result",
            "write one with budget simulate --format json",
        )
    return result


def simulate_cmd(
    inputs: list[str] = INPUTS,
    db: str = DB_OPT,
    policy: str = POLICY_OPT,
    pricing: list[str] = PRICING,
    amplification: str = AMPLIFICATION_OPT,
    days: int = DAYS_OPT,
    scale: str = SCALE_OPT,
    period: str = PERIOD_OPT,
    local_tz: str = LOCAL_TZ_OPT,
    baseline: str = typer.Option(None, "--baseline", help="An earlier --format json result to diff against."),
    fmt: SimFormat = typer.Option(SimFormat.table, "--format", "-f", help="table, json or markdown."),
) -> None:
    """Project a month of writes and dollars per system from observed logs.

    \b
    Example: logcorr budget simulate --db app.duckdb --scale 10x --format markdown
    """
    result, _ = _project(
        inputs, db, policy, pricing, amplification, days, scale, baseline, period, local_tz=local_tz
    )
    _emit(result, fmt.value, None)


def check_cmd(
    inputs: list[str] = INPUTS,
    db: str = DB_OPT,
    policy: str = POLICY_OPT,
    pricing: list[str] = PRICING,
    amplification: str = AMPLIFICATION_OPT,
    days: int = DAYS_OPT,
    scale: str = SCALE_OPT,
    period: str = PERIOD_OPT,
    local_tz: str = LOCAL_TZ_OPT,
    max_usd_text: str = typer.Option(
        None,
        "--max-usd",
        metavar="<float>",
        help="Fail when the projected dollars exceed this (10 or '$10').",
    ),
    model: str = typer.Option(
        "story",
        "--model",
        help="Pricing model --max-usd is checked against: a built-in name, a TOML file, or the name of a "
        "--pricing model (default: story).",
    ),
    basis: str = typer.Option(
        "total", "--cost-basis", help="total, billed or list (see docs/budget.md) (default: total)."
    ),
    max_quota_pct_text: str = typer.Option(
        None,
        "--max-quota-pct",
        metavar="<float>",
        help="Fail when the month uses more of the quota (100 or 100%).",
    ),
    fail_on_degrade: bool = typer.Option(
        False, "--fail-on-degrade", help="Fail when essential-only mode (95 %) is reached."
    ),
    fmt: CheckFormat = typer.Option(
        CheckFormat.table, "--format", "-f", help="table, json, markdown or junit."
    ),
) -> None:
    """Gate CI on the projected month: exit 0 pass, 1 breached, 2 usage error, 3 input error.

    \b
    Example: logcorr budget check logs/ --max-usd 10 --max-quota-pct 100 --fail-on-degrade --format junit
    """
    from logcorr.budget.check import evaluate

    max_usd = _limit("--max-usd", max_usd_text, "$", "")
    max_quota_pct = _limit("--max-quota-pct", max_quota_pct_text, "", "%")
    if max_usd == 0:  # `--max-usd $10` unquoted: the shell makes it `--max-usd 0`
        sys.stderr.write(
            "note: --max-usd 0 fails any cost above $0.00; a shell turns an unquoted $10 into 0 "
            "(write --max-usd 10)\n"
        )
    if max_usd is None and max_quota_pct is None and not fail_on_degrade:
        raise UsageError(
            "budget check needs at least one threshold",
            "e.g. --max-usd 10 --max-quota-pct 100 --fail-on-degrade",
        )
    for option, limit in (("--max-usd", max_usd), ("--max-quota-pct", max_quota_pct)):
        # a negative or not-a-number limit fails every run: a mistake in the CI config, not a budget
        if limit is not None and not (math.isfinite(limit) and limit >= 0):
            raise UsageError(
                f"{option} {limit:g}: must be a finite number, 0 or more",
                "e.g. --max-usd 10 --max-quota-pct 100",
            )
    result, names = _project(inputs, db, policy, pricing or None, amplification, days, scale, None, period,
                             [model] if max_usd is not None else [], local_tz)  # fmt: skip
    checks = evaluate(result, max_usd=max_usd, model=names[0] if names else model, basis=basis, max_quota_pct=max_quota_pct,
                      fail_on_degrade=fail_on_degrade)  # fmt: skip
    _emit(result, fmt.value, checks)
    _append_step_summary(result, checks)
    failed = [c for c in checks if not c.passed]
    for c in checks:
        sys.stderr.write(f"{'PASS' if c.passed else 'FAIL'} {c.name}: {c.measured} (limit {c.limit})\n")
    if failed:
        raise typer.Exit(ExitCode.CHECK_FAILED)


def _append_step_summary(result: dict[str, Any], checks: Any) -> None:
    """The Markdown summary appended to `$GITHUB_STEP_SUMMARY`, when set. A courtesy: a path that cannot be
    written (a directory, a missing directory) is a warning, and the exit code stays the check's verdict."""
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if not summary:
        return
    from logcorr.render.budget import to_markdown

    try:
        with open(summary, "a", encoding="utf-8") as f:
            f.write(to_markdown(result, checks))
    except OSError as e:
        sys.stderr.write(
            f"warning: cannot append the summary to $GITHUB_STEP_SUMMARY ({summary}): {e.strerror or e}\n"
        )


def _emit(result: dict[str, Any], fmt: str, checks: Any) -> None:
    from logcorr.render import budget as out
    from logcorr.render.console import write_json

    if fmt == "json":
        if checks is None:
            write_json(result)
        else:  # `passed`: the verdict, as the exit code gives it (and as replay's JSON has it)
            write_json(
                {**result, "checks": [c.as_dict() for c in checks], "passed": all(c.passed for c in checks)}
            )
    elif fmt == "markdown":
        sys.stdout.write(out.to_markdown(result, checks))
    elif fmt == "junit":
        sys.stdout.buffer.write(out.to_junit(checks, result))
    elif fmt == "table":
        out.render_table(result, checks)
    else:  # pragma: no cover - exhaustive
        raise AssertionError(fmt)
