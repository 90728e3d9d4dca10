"""The policy as data: defaults are the story's numbers, files are validated by field, and
`logcorr policy show` / `validate` print the effective policy and the errors."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from logcorr.errors import ConfigError, ExitCode
from logcorr.rules.policy import Policy, load_policy
from logcorr.rules.policy_toml import dumps
from tests.conftest import CliResult

Cli = Callable[..., CliResult]


def test_the_defaults_are_the_storys_numbers() -> None:
    p = Policy()
    assert (p.loop.max_identical, p.loop.window_ms) == (5, 1000)
    assert p.rate_limit.tiers == [50, 25, 12, 6] and p.rate_limit.window_ms == 60_000
    assert p.budget.monthly_writes == 125_000
    assert p.budget.shares == {"browser": 0.40, "worker": 0.30, "backend": 0.30}
    assert (p.budget.warn_pct, p.budget.essential_pct) == (80.0, 95.0)
    assert p.critical.trace_id_patterns == ["critical_"] and "[HMR]" in p.suppression.patterns


def test_the_toml_written_by_policy_show_reads_back_to_the_same_policy() -> None:
    custom = Policy.model_validate({"rate_limit": {"tiers": [40, 20]}, "budget": {"shares": {"browser": 0.5, "worker": 0.25, "backend": 0.25}},
                                    "suppression": {"patterns": ['say "hi"', "back\\slash", "ünï"]}})  # fmt: skip
    for policy in (Policy(), custom):
        assert Policy.model_validate(tomllib.loads(dumps(policy))) == policy


def test_a_policy_file_overrides_only_what_it_names(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text("[budget]\nmonthly_writes = 50000\n\n[rate_limit]\ntiers = [30, 10]\n")
    p = load_policy(str(path))
    assert p.budget.monthly_writes == 50_000 and p.rate_limit.tiers == [30, 10] and p.loop.max_identical == 5


def test_a_pyproject_tool_logcorr_table_is_a_policy(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "x"\n\n[tool.logcorr.loop]\nmax_identical = 3\n')
    assert load_policy(str(path)).loop.max_identical == 3


def test_a_pyproject_without_a_logcorr_table_is_refused_not_read_as_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "x"\n\n[tool.ruff]\nline-length = 100\n')
    with pytest.raises(ConfigError) as e:
        load_policy(str(path))
    assert "has no [tool.logcorr] table" in e.value.message and e.value.exit_code == ExitCode.USAGE
    path.write_text('[project]\nname = "x"\n\n[tool.logcorr]\n')  # present and empty: the defaults
    assert load_policy(str(path)) == Policy()


@pytest.mark.parametrize(
    "text, where",
    [
        ("[loop]\nmax_identical = 0\n", "loop.max_identical"),
        ("[rate_limit]\ntiers = [10, 20]\n", "rate_limit.tiers"),
        ("[budget]\nshares = {browser = 0.5, worker = 0.3, backend = 0.3}\n", "budget.shares"),
        ("[budget]\nwarn_pct = 99\nessential_pct = 90\n", "budget"),
        ('[budget]\nlending = "greedy"\n', "budget.lending"),
        ('[critical]\nlevels = ["fatal"]\n', "critical.levels"),
        # pydantic's "Extra inputs are not permitted" for a misspelt field: it names the field meant
        ("[loop]\nmax_identcal = 3\n", "loop.max_identcal: unknown field (did you mean max_identical?)"),
        ("[nonsense]\nx = 1\n", "nonsense: unknown field; fields here: redaction, suppression,"),
        (
            "[rate_limit]\nper_minute = 50\n",
            "rate_limit.per_minute: unknown field; fields here: enabled, tiers,",
        ),
        # every message contains "": it suppressed the rows the stager looked at closely and not the rest
        ('[suppression]\npatterns = ["webpack-internal", ""]\n', "suppression.patterns"),
        # NaN compares false, so a NaN share passed the check that the shares add up to 1
        ("[budget.shares]\nbrowser = nan\n", "budget.shares.browser"),
        ("[rate_limit]\ncalm_pct = inf\n", "rate_limit.calm_pct"),
        # a switch is true or false and a number a number, as written (pydantic read true as 1, "no" as false)
        ("[loop]\nmax_identical = true\n", "loop.max_identical: must be a number, not True"),
        ('[redaction]\nenabled = "no"\n', "redaction.enabled: must be true or false, not 'no'"),
        ("[loop]\nenabled = 0\n", "loop.enabled: must be true or false, not 0"),
        ('[rate_limit]\ntiers = [50, "25"]\n', "rate_limit.tiers: each item must be a number, not '25'"),
        ('[loop]\nwindow_ms = "1000"\n', "loop.window_ms: must be a number"),
        ("[budget.shares]\nbrowser = true\n", "budget.shares: browser: must be a number, not True"),
    ],
)
def test_invalid_policies_are_explained_by_field(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_policy(str(path))
    assert f"  {where}" in e.value.message and e.value.exit_code == ExitCode.USAGE


def test_policy_show_prints_the_effective_policy_as_toml_by_default(cli: Cli) -> None:
    r = cli("policy", "show")
    assert r.exit_code == ExitCode.OK and r.stderr == ""
    assert Policy.model_validate(tomllib.loads(r.stdout)) == Policy()
    assert "tiers = [50, 25, 12, 6]" in r.stdout


def test_policy_show_prints_a_files_policy_as_json(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("[cross_system]\nwindow_ms = 5000\n")
    r = cli("policy", "show", "--policy", str(path), "--format", "json")
    assert r.exit_code == ExitCode.OK
    doc = orjson.loads(r.stdout_bytes)
    assert doc["cross_system"]["window_ms"] == 5000 and doc["budget"]["monthly_writes"] == 125_000


def test_policy_validate_says_ok_for_a_valid_file(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("[budget]\nmonthly_writes = 10\n")
    r = cli("policy", "validate", str(path))
    assert (r.exit_code, r.stdout) == (ExitCode.OK, "ok\n")


def test_policy_validate_lists_every_error_by_field_and_exits_2(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("[loop]\nmax_identical = -1\n\n[budget]\nmonthly_writes = 0\n")
    r = cli("policy", "validate", str(path))
    assert r.exit_code == ExitCode.USAGE and r.stdout == ""
    assert "loop.max_identical:" in r.stderr and "budget.monthly_writes:" in r.stderr


@pytest.mark.parametrize("content, message", [(None, "not found"), ("[loop\n", "not valid TOML")])
def test_policy_validate_reports_unreadable_files(
    cli: Cli, tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "p.toml"
    if content is not None:
        path.write_text(content)
    r = cli("policy", "validate", str(path))
    assert r.exit_code == ExitCode.USAGE and message in r.stderr


def test_a_missing_policy_file_hint_names_no_option_that_was_not_given(cli: Cli, tmp_path: Path) -> None:
    # `policy validate F` and `replay --compare-policy F` were told to "check the --policy path"
    missing = str(tmp_path / "none.toml")
    for args in (
        ("policy", "validate", missing),
        ("replay", "--scenario", "steady", "--compare-policy", missing),
    ):
        r = cli(*args)
        assert r.exit_code == ExitCode.USAGE and f"policy file {missing} not found" in r.stderr
        assert "--policy" not in r.stderr, r.stderr


def test_ingest_uses_the_policy_file(cli: Cli, tmp_path: Path, write_jsonl: Callable[..., Path]) -> None:
    path = tmp_path / "p.toml"
    path.write_text("[loop]\nmax_identical = 2\n")
    recs = [
        {"message": "same", "level": "log", "context": {"timestamp": 1_717_200_000_000 + i}} for i in range(4)
    ]
    data = write_jsonl("in.jsonl", recs)
    r = cli("ingest", str(data), "--db", str(tmp_path / "db.duckdb"), "--policy", str(path), "--json", "-q")
    assert r.exit_code == ExitCode.OK and r.json()["dropped_by_rule"] == {"loop": {"browser": 2}}


def test_a_policy_files_bad_field_is_named_with_its_line(tmp_path: Path) -> None:
    p = tmp_path / "policy.toml"
    p.write_text("[loop]\nmax_identical = 5\n\n[budget]\nmonthy_writes = 1\n")
    with pytest.raises(ConfigError) as e:
        load_policy(str(p))
    assert "  budget.monthy_writes: unknown field (did you mean monthly_writes?) (line 5)" in str(e.value)


def test_a_field_is_found_in_tables_arrays_of_tables_and_inline_tables() -> None:
    from logcorr.datafiles import toml_line

    text = (
        'name = "m"\n'  # 1
        "[[resources]]\n"  # 2
        "price_usd = 2.0\n"  # 3
        "[[resources]]\n"  # 4
        "per = 5\n"  # 5
        "price_usd = -1\n"  # 6
        "[flows.a]\n"  # 7
        'steps = [{ system = "browser" },\n'  # 8
        '  { system = "x", after = "1s" }]\n'  # 9
    )
    assert toml_line(text, ("resources", 1, "price_usd")) == 6
    assert toml_line(text, ("resources", 0, "price_usd")) == 3
    assert toml_line(text, ("resources", 2, "price_usd")) is None
    assert toml_line(text, ("flows", "a", "steps", 1, "after")) == 9
    assert toml_line(text, ("flows", "a", "steps", 0)) == 8
    assert toml_line(text, ("flows", "a", "rate")) is None  # inherited or a default: no line holds it
    assert toml_line(text, ("flows", "a", "rate"), missing=True) == 7
    assert toml_line(text, ("name",)) == 1
