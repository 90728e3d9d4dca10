"""`logcorr policy show` and `logcorr policy validate`: the effective protection policy, and a policy
file's errors by field."""

from __future__ import annotations

import sys
from enum import StrEnum

import typer

policy_app = typer.Typer(
    help="Show or validate the protection policy (rules and their numbers).", no_args_is_help=True
)


class PolicyFormat(StrEnum):
    toml = "toml"
    json = "json"


POLICY_OPT = typer.Option(None, "--policy", help="Policy TOML (or pyproject.toml) (default: story defaults).")
FORMAT_OPT = typer.Option(PolicyFormat.toml, "--format", "-f", help="toml or json (default: toml).")


def register(app: typer.Typer) -> None:
    policy_app.command("show")(show_cmd)
    policy_app.command("validate")(validate_cmd)
    app.add_typer(policy_app, name="policy")


def show_cmd(policy: str = POLICY_OPT, fmt: PolicyFormat = FORMAT_OPT) -> None:
    """Print the effective policy: every rule's numbers, defaults filled in.

    \b
    Example: logcorr policy show --policy policy.toml --format json
    """
    from logcorr.render.console import write_json
    from logcorr.rules.policy import load_policy
    from logcorr.rules.policy_toml import dumps

    effective = load_policy(policy)
    if fmt is PolicyFormat.json:
        write_json(effective.model_dump(mode="json"))
    elif fmt is PolicyFormat.toml:
        sys.stdout.write(dumps(effective))
    else:  # pragma: no cover - exhaustive
        raise AssertionError(fmt)


def validate_cmd(
    path: str = typer.Argument(..., help="Policy TOML, or a pyproject.toml with [tool.logcorr]."),
) -> None:
    """Check a policy file: prints "ok" (exit 0) or its errors by field (exit 2).

    \b
    Example: logcorr policy validate policy.toml
    """
    from logcorr.rules.policy import load_policy

    load_policy(path)
    sys.stdout.write("ok\n")
