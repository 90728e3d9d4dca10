"""Budget: hand-computed projections, every exit code, JUnit read back, the baseline diff, the README example."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import orjson
import pytest

from logcorr.errors import ExitCode
from logcorr.pipeline.ingest import ingest
from tests.conftest import ROOT, CliResult

MAY1 = 1714521600000  # 2024-05-01 00:00:00 UTC, a 31-day month
DAY = 86_400_000


def spread(day: int, n: int, system: str, tag: str, error_every: int = 0) -> list[dict[str, Any]]:
    """n distinct logs of one system spread evenly over day `day` (0 = May 1)."""
    out = []
    for i in range(n):
        ts = MAY1 + day * DAY + i * (DAY // n)
        level = "error" if error_every and i % error_every == 0 else "log"
        msg = f"{tag} {system} {day} {i}"
        if system == "browser":
            out.append({"message": msg, "level": level, "system": "browser", "trace_id": f"tb-{tag}-{day}-{i}",
                        "context": {"timestamp": ts, "url": "http://localhost/", "userAgent": "M"}})  # fmt: skip
        elif system == "worker":
            out.append({"id": f"{ts}_{i}", "trace_id": f"tw-{tag}-{day}-{i}", "system": "worker", "level": level,
                        "message": msg, "timestamp": ts})  # fmt: skip
        else:
            out.append({"topic": "console", "timestamp": ts, "log_level": level.upper(), "message": f"'{msg}'",
                        "function": {"path": "a:b", "type": "mutation", "request_id": f"r{day}{i}"}})  # fmt: skip
    return out


def write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in records) + b"\n")
    return path


@pytest.fixture
def one_day(tmp_path: Path) -> str:
    """May 1: 1,000 browser, 500 worker and 200 backend logs, evenly spread (far below every rate limit)."""
    recs = spread(0, 1000, "browser", "d") + spread(0, 500, "worker", "d") + spread(0, 200, "backend", "d")
    db = str(tmp_path / "day.duckdb")
    assert ingest([str(write(tmp_path / "day.jsonl", recs))], db).stored == 1700
    return db


def test_one_day_at_a_known_rate_projects_the_month_by_hand(
    cli: Callable[..., CliResult], one_day: str
) -> None:
    r = cli("budget", "simulate", "--db", one_day, "--format", "json", "--pricing", "story",
            "--pricing", "convex-professional")  # fmt: skip
    assert r.exit_code == ExitCode.OK, r.stderr
    res = r.json()
    assert res["month"] == {"start": "2024-05-01", "days": 31, "period_ms": DAY, "copies": 31, "scale": 1.0}
    assert {s: v["accepted"] for s, v in res["systems"].items()} == {
        "browser": 31_000,
        "worker": 15_500,
        "backend": 6_200,
    }
    assert res["total"]["quota_pct"] == 42.16  # 52,700 / 125,000
    assert res["systems"]["browser"]["used_pct_of_share"] == 62.0  # 31,000 / 50,000
    assert all(t["reached"] is None for t in res["thresholds"].values())
    # calls: 3 per browser and worker log (HTTP action, limiter, insert), one webhook call per 128 backend logs
    assert res["usage"]["function_calls"] == pytest.approx(31_000 * 3 + 15_500 * 3 + 6_200 / 128)
    assert res["usage"]["db_io_gb"] == pytest.approx((2300 * 46_500 + 1300 * 6_200) / 1e9)
    costs = {c["model"]: c for c in res["costs"]}
    assert costs["story"]["total_usd"] == pytest.approx(52_700 * 10 / 125_000)  # $4.216
    assert costs["convex-professional"]["total_usd"] == 25.0  # seat fee; usage inside the included amounts
    calls_usd = (31_000 * 3 + 15_500 * 3 + 6_200 / 128) * 2 / 1e6
    assert costs["convex-professional"]["list_usd"] == pytest.approx(
        calls_usd + 0.2 * 0.11501 + 0.2 * 0.016575, rel=1e-3
    )
    assert any("does not hold" in n for n in res["notes"])


def test_a_flood_day_reaches_95_percent_that_day_and_the_quota_holds(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    # day 1 quiet, day 2 a flood from all three systems (60,000 each, 41.7 a minute: under the rate limit)
    recs = []
    for s in ("browser", "worker", "backend"):
        recs += spread(0, 100, s, "quiet") + spread(1, 60_000, s, "flood", error_every=100)
    db = str(tmp_path / "flood.duckdb")
    ingest([str(write(tmp_path / "flood.jsonl", recs))], db)
    res = cli("budget", "simulate", "--db", db, "--format", "json").json()
    assert res["month"]["period_ms"] == 2 * DAY
    assert res["thresholds"]["warn"]["day"] == 2
    assert res["thresholds"]["essential"]["day"] == 2
    assert res["thresholds"]["essential"]["reached"].startswith("2024-05-02")
    assert res["degraded"] is True
    assert res["total"]["accepted"] <= 125_000
    # 31 days = 15.5 two-day periods: 16 copies, the last one's flood day falls after May 31 and is cut
    assert res["total"]["offered"] == 15 * 180_300 + 300
    budget_drops = sum(v["dropped"].get("budget", 0) for v in res["systems"].values())
    assert budget_drops > 0
    errors_day3 = [d for d in res["daily"] if d["day"] == 4]  # the next flood day, fully essential-only
    assert errors_day3 and errors_day3[0]["browser_accepted"] <= 600 + 1


def test_scale_multiplies_the_offered_load(cli: Callable[..., CliResult], one_day: str) -> None:
    res = cli("budget", "simulate", "--db", one_day, "--format", "json", "--scale", "2x").json()
    assert res["total"]["offered"] == 2 * 52_700
    assert res["month"]["scale"] == 2.0


def test_days_shortens_the_month(cli: Callable[..., CliResult], one_day: str) -> None:
    res = cli("budget", "simulate", "--db", one_day, "--format", "json", "--days", "10").json()
    assert res["total"]["accepted"] == 10 * 1_700 and len(res["daily"]) == 10


def test_a_sample_longer_than_the_month_says_what_it_left_out(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """45 days observed: the month holds the first 31, and the result says so (it read as a projection of all)."""
    recs = [r for day in range(45) for r in spread(day, 10, "worker", "long")]
    db = str(tmp_path / "long.duckdb")
    assert ingest([str(write(tmp_path / "long.jsonl", recs))], db).stored == 450
    res = cli("budget", "simulate", "--db", db, "--format", "json").json()
    assert res["total"]["offered"] == 310
    assert any("span 45 days, more than the 31-day month" in n for n in res["notes"]), res["notes"]
    short = cli("budget", "simulate", "--db", db, "--format", "json", "--days", "10").json()
    assert short["total"]["offered"] == 100
    assert any("more than the 10-day month" in n for n in short["notes"])


def test_baseline_diff_reports_the_change(
    cli: Callable[..., CliResult], one_day: str, tmp_path: Path
) -> None:
    base = tmp_path / "base.json"
    base.write_bytes(cli("budget", "simulate", "--db", one_day, "--format", "json").stdout_bytes)
    res = cli(
        "budget", "simulate", "--db", one_day, "--format", "json", "--scale", "2", "--baseline", str(base)
    ).json()
    d = res["baseline"]
    assert d["systems"]["browser"]["accepted"] == {"baseline": 31_000, "current": 62_000, "delta": 31_000}
    assert d["quota_pct"]["delta"] == pytest.approx(42.16)
    assert d["costs"]["story"]["delta"] == pytest.approx(4.216)


@pytest.mark.parametrize(
    "args, code",
    [
        (("--max-usd", "10", "--max-quota-pct", "100", "--fail-on-degrade"), ExitCode.OK),
        (("--max-usd", "1"), ExitCode.CHECK_FAILED),
        (("--max-quota-pct", "40"), ExitCode.CHECK_FAILED),
        (("--max-usd", "1", "--model", "convex-professional", "--cost-basis", "list"), ExitCode.OK),
        (("--max-usd", "10", "--model", "convex-professional"), ExitCode.CHECK_FAILED),  # the $25 seat
        ((), ExitCode.USAGE),
        (("--max-usd", "10", "--scale", "ten"), ExitCode.USAGE),
        (("--max-usd", "10", "--cost-basis", "nope"), ExitCode.USAGE),
        (("--max-usd", "10", "--pricing", "no-such-model"), ExitCode.USAGE),
    ],
)
def test_check_exit_codes(
    cli: Callable[..., CliResult], one_day: str, args: tuple[str, ...], code: int
) -> None:
    r = cli("budget", "check", "--db", one_day, *args)
    assert r.exit_code == code, r.stderr


def test_check_on_missing_inputs_is_an_input_error(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    assert (
        cli("budget", "check", "--db", str(tmp_path / "none.duckdb"), "--max-usd", "10").exit_code
        == ExitCode.INPUT
    )
    assert cli("budget", "check", str(tmp_path / "none.jsonl"), "--max-usd", "10").exit_code == ExitCode.INPUT


def test_check_prints_each_threshold_beside_its_value(cli: Callable[..., CliResult], one_day: str) -> None:
    r = cli("budget", "check", "--db", one_day, "--max-quota-pct", "40", "--max-usd", "10")
    assert "FAIL monthly quota used: 42.16 % (limit <= 40 %)" in r.stderr
    assert "PASS cost (story, total): $4.22 (limit <= $10.00)" in r.stderr


def test_junit_output_parses_and_names_the_failure(cli: Callable[..., CliResult], one_day: str) -> None:
    r = cli(
        "budget", "check", "--db", one_day, "--max-quota-pct", "40", "--max-usd", "10", "--format", "junit"
    )
    assert r.exit_code == ExitCode.CHECK_FAILED
    root = ET.fromstring(r.stdout_bytes)
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "1"
    failures = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    assert len(failures) == 1 and "42.16 %" in (failures[0].find("failure").get("message") or "")  # type: ignore[union-attr]
    # the JUnit schema's order: a suite's properties before its test cases (they came last)
    assert [child.tag for child in suite] == ["properties", "testcase", "testcase"]
    # what the projection rests on, for a reviewer who sees only the report (the table alone said it)
    basis = {p.get("name"): p.get("value") for p in suite.iter("property")}["projection"]
    assert basis is not None and basis.startswith("observed ") and ", repeated every " in basis


@pytest.mark.parametrize(
    ("limit", "passed", "code"), [("10", True, ExitCode.OK), ("0.01", False, ExitCode.CHECK_FAILED)]
)
def test_check_json_carries_the_verdict(
    cli: Callable[..., CliResult], one_day: str, limit: str, passed: bool, code: int
) -> None:
    # each check had `passed`, the whole had none: a script read the exit code or every check
    r = cli("budget", "check", "--db", one_day, "--max-usd", limit, "--format", "json")
    assert r.exit_code == code
    body = r.json()
    assert body["passed"] is passed and [c["passed"] for c in body["checks"]] == [passed]


def test_check_json_gives_the_figures_as_numbers(cli: Callable[..., CliResult], one_day: str) -> None:
    # `measured` is "$0.42" and "3.5 %": a script comparing runs had to parse the report's text
    r = cli("budget", "check", "--db", one_day, "--max-usd", "0.01", "--max-quota-pct", "100",
            "--fail-on-degrade", "--format", "json")  # fmt: skip
    cost, quota, degrade = r.json()["checks"]
    usd = next(c["total_usd"] for c in r.json()["costs"] if c["model"] == "story")
    assert (cost["unit"], cost["value"], cost["max_value"]) == ("usd", usd, 0.01)
    assert cost["measured"] == f"${usd:,.2f}" and cost["passed"] is (usd <= 0.01)
    total = r.json()["total"]
    assert (quota["unit"], quota["max_value"]) == ("pct", 100.0)
    assert quota["value"] == pytest.approx(100 * total["accepted"] / total["quota"])
    reached = r.json()["thresholds"]["essential"]["reached"]
    assert degrade["unit"] == "day" and degrade["max_value"] is None
    assert degrade["value"] == (None if reached is None else r.json()["thresholds"]["essential"]["day"])


def test_check_limits_take_the_dollar_and_percent_signs_and_say_a_zero_limit(
    cli: Callable[..., CliResult], one_day: str
) -> None:
    # `--max-quota-pct 100%` was typer's "unable to parse string as a number"; `--max-usd $10` unquoted is
    # `--max-usd 0` by the time logcorr sees it, and failed with "limit <= $0.00" and no word why
    signs = cli(
        "budget", "check", "--db", one_day, "--max-usd", "$10", "--max-quota-pct", "100%", "-f", "json"
    )
    plain = cli("budget", "check", "--db", one_day, "--max-usd", "10", "--max-quota-pct", "100", "-f", "json")
    assert signs.exit_code == plain.exit_code == ExitCode.OK
    assert [(c["max_value"], c["value"]) for c in signs.json()["checks"]] == [
        (c["max_value"], c["value"]) for c in plain.json()["checks"]
    ]
    zero = cli("budget", "check", "--db", one_day, "--max-usd", "0")
    assert "a shell turns an unquoted $10 into 0" in zero.stderr
    assert "unquoted" not in plain.stderr
    bad = cli("budget", "check", "--db", one_day, "--max-usd", "1,5")
    assert bad.exit_code == ExitCode.USAGE and "--max-usd '1,5': not a number" in bad.stderr


def test_markdown_is_appended_to_the_github_step_summary(
    cli: Callable[..., CliResult], one_day: str, tmp_path: Path
) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    r = cli("budget", "check", "--db", one_day, "--max-usd", "10", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert r.exit_code == ExitCode.OK
    text = summary.read_text()
    assert (
        text.startswith("earlier step\n")
        and "logcorr budget check: ✅ pass" in text
        and "| browser |" in text
    )
    assert "observed " in text and ", repeated every " in text  # what the projection rests on


def test_simulate_straight_from_input_files_matches_the_database(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    path = write(tmp_path / "in.jsonl", spread(0, 300, "browser", "x"))
    from_files = cli("budget", "simulate", str(path), "--format", "json").json()
    db = str(tmp_path / "x.duckdb")
    ingest([str(path)], db)
    from_db = cli("budget", "simulate", "--db", db, "--format", "json").json()
    assert from_files["systems"] == from_db["systems"] and from_files["total"]["accepted"] == 9_300


def test_the_readme_ci_example_runs_as_written(
    cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    readme = (ROOT / "README.md").read_text()
    m = re.search(r"# logcorr-ci-example\n\s*- run: (logcorr budget check .+)\n", readme)
    assert m, "README has no CI example marked '# logcorr-ci-example'"
    argv = shlex.split(m.group(1))
    assert ">" in argv
    out_file = argv[argv.index(">") + 1]
    argv = argv[1 : argv.index(">")]
    monkeypatch.chdir(ROOT)
    r = cli(*argv)
    assert r.exit_code == ExitCode.OK, r.stderr
    assert out_file.endswith(".xml") and ET.fromstring(r.stdout_bytes).tag == "testsuites"


def test_period_says_how_much_time_the_sample_represents(cli: Callable[..., CliResult], one_day: str) -> None:
    res = cli("budget", "simulate", "--db", one_day, "--format", "json", "--period", "2d").json()
    assert res["month"]["period_ms"] == 2 * DAY and res["month"]["copies"] == 16
    assert res["total"]["accepted"] == 16 * 1_700  # one day of traffic every other day
    r = cli("budget", "simulate", "--db", one_day, "--period", "1h")
    assert r.exit_code == ExitCode.USAGE and "shorter than the observed span" in r.stderr


def test_a_period_under_a_minute_is_said_in_seconds(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    db = str(tmp_path / "one.duckdb")
    ingest([str(write(tmp_path / "one.jsonl", spread(0, 1, "worker", "x")))], db)
    r = cli("budget", "simulate", "--db", db, "--period", "30s", "--days", "1")
    assert r.exit_code == ExitCode.OK, r.stderr
    assert "repeated every 30 s," in r.stdout  # it said "every 0 min"


@pytest.mark.parametrize(
    ("option", "text", "first_line"),
    [
        ("--pricing", 'name = "p"\n', "error: invalid pricing model in {path}:"),
        ("--amplification", "x = 1\n", "error: invalid amplification model in {path}:"),
    ],
)
def test_an_invalid_model_file_is_named_for_what_it_is(
    cli: Callable[..., CliResult], tmp_path: Path, option: str, text: str, first_line: str
) -> None:
    path = tmp_path / "model.toml"
    path.write_text(text)
    r = cli("budget", "simulate", option, str(path), "--db", str(tmp_path / "none.duckdb"))
    assert r.exit_code == ExitCode.USAGE, r.stderr
    assert r.stderr.splitlines()[0] == first_line.format(path=path)


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_simulate_shows_its_progress_on_a_terminal_and_keeps_stdout_for_data(one_day: str) -> None:
    primary, secondary = os.openpty()
    done = subprocess.run([sys.executable, "-m", "logcorr", "budget", "simulate", "--db", one_day, "-f", "json"],
                          stdout=subprocess.PIPE, stderr=secondary, timeout=300)  # fmt: skip
    os.close(secondary)
    shown = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the terminal's other end is closed
            break
        if not chunk:
            break
        shown += chunk
    os.close(primary)
    assert done.returncode == 0
    assert b"simulate" in shown and b"events" in shown  # the bar, on the terminal
    assert orjson.loads(done.stdout)["total"]["offered"] == 1700 * 31  # the data, on stdout alone


def test_a_limit_just_under_the_measured_figure_fails_and_says_so_in_enough_digits(
    cli: Callable[..., CliResult], one_day: str
) -> None:
    """The quota share was compared rounded (76.37 % passed a 76.374 % limit at 76.3744 %), and a failed cost
    printed as "$9.26 (limit <= $9.26)"."""
    res = cli("budget", "simulate", "--db", one_day, "--format", "json").json()
    exact = 100.0 * res["total"]["accepted"] / res["total"]["quota"]
    usd = next(c for c in res["costs"] if c["model"] == "story")["total_usd"]
    under_pct, under_usd = exact - 0.00005, usd - 0.00005
    r = cli(
        "budget", "check", "--db", one_day, "--max-quota-pct", f"{under_pct!r}", "--max-usd", f"{under_usd!r}"
    )
    assert r.exit_code == ExitCode.CHECK_FAILED, r.stderr
    fails = [ln for ln in r.stderr.splitlines() if ln.startswith("FAIL")]
    assert len(fails) == 2
    for line in fails:  # measured and limit print differently
        measured, limit = line.split(": ", 1)[1].split(" (limit <= ")
        assert measured.rstrip(" %") != limit.rstrip(" %)")


def test_a_misspelt_resource_or_a_negative_amplification_is_a_clear_config_error(
    cli: Callable[..., CliResult], one_day: str, tmp_path: Path
) -> None:
    """A pricing resource named `functon_calls` was priced at $0 without a word; an amplification of -3 calls a
    log gave negative calls and dollars."""
    plan = tmp_path / "typo.toml"
    plan.write_text('name = "mine"\ntitle = "Mine"\nas_of = 2026-01-01\nsources = ["me"]\n'
                    '[[resources]]\nname = "functon_calls"\nunit = "calls"\nprice_usd = 2\nper = 1000000\n')  # fmt: skip
    r = cli("budget", "simulate", "--db", one_day, "--pricing", str(plan))
    assert r.exit_code == ExitCode.USAGE
    assert (
        "typo.toml" in r.stderr
        and "unknown resource 'functon_calls'" in r.stderr
        and "function_calls" in r.stderr
    )
    amp = tmp_path / "amp.toml"
    amp.write_text("[browser.offered]\nfunction_calls = -3\n")
    r = cli("budget", "simulate", "--db", one_day, "--amplification", str(amp))
    assert r.exit_code == ExitCode.USAGE
    assert "amp.toml" in r.stderr and "browser.offered.function_calls" in r.stderr


@pytest.mark.parametrize("where", ["a directory", "a missing directory"])
@pytest.mark.parametrize(("limit", "code"), [("10", ExitCode.OK), ("1", ExitCode.CHECK_FAILED)])
def test_an_unwritable_step_summary_is_a_warning_and_the_verdict_stands(
    cli: Callable[..., CliResult], one_day: str, tmp_path: Path, where: str, limit: str, code: int
) -> None:
    # it was an internal error (IsADirectoryError, FileNotFoundError), exit 3, after the report was written
    summary = tmp_path if where == "a directory" else tmp_path / "nodir" / "summary.md"
    r = cli("budget", "check", "--db", one_day, "--max-usd", limit, "--format", "junit",
            env={"GITHUB_STEP_SUMMARY": str(summary)})  # fmt: skip
    assert r.exit_code == code, r.stderr
    assert "internal error" not in r.stderr
    assert f"warning: cannot append the summary to $GITHUB_STEP_SUMMARY ({summary})" in r.stderr
    assert ET.fromstring(r.stdout_bytes).find("testsuite") is not None


MY_PLAN = """name = "mine"
title = "My plan"
as_of = "2026-01-01"
sources = ["me"]
base_fee_usd = 1

[[resources]]
name = "writes"
unit = "write"
price_usd = 2
per = 1_000_000
"""


@pytest.mark.parametrize(
    ("args", "measured"),
    [
        (
            ("--model", "convex-starter"),
            "cost (convex-starter, total)",
        ),  # was: 'convex-starter' was not simulated
        (("--pricing", "{plan}"), "cost (story, total)"),  # was: 'story' was not simulated (a .txt passed)
        (("--pricing", "{plan}", "--model", "mine"), "cost (mine, total)"),
        (("--pricing", "{plan}", "--model", "{plan}"), "cost (mine, total)"),
        (("--model", "{plan}"), "cost (mine, total)"),
        (("--pricing", "convex-starter", "--model", "{plan}"), "cost (mine, total)"),
    ],
)
def test_the_model_a_check_names_is_simulated(
    cli: Callable[..., CliResult], one_day: str, tmp_path: Path, args: tuple[str, ...], measured: str
) -> None:
    plan = tmp_path / "my.toml"
    plan.write_text(MY_PLAN)
    r = cli("budget", "check", "--db", one_day, "--max-usd", "100", *(a.format(plan=plan) for a in args))
    assert r.exit_code == ExitCode.OK, r.stderr
    assert f"PASS {measured}:" in r.stderr


def test_two_different_pricing_models_of_one_name_are_refused(
    cli: Callable[..., CliResult], one_day: str, tmp_path: Path
) -> None:
    plan = tmp_path / "story.toml"
    plan.write_text(MY_PLAN.replace('"mine"', '"story"'))
    r = cli(
        "budget", "check", "--db", one_day, "--max-usd", "10", "--pricing", str(plan), "--pricing", "story"
    )
    assert r.exit_code == ExitCode.USAGE, r.stderr
    assert f"two different pricing models are named 'story': {plan} and story" in r.stderr


def test_markdown_shows_the_baseline_comparison_as_table_and_json_do(
    cli: Callable[..., CliResult], one_day: str, tmp_path: Path
) -> None:
    base = tmp_path / "base.json"
    base.write_bytes(cli("budget", "simulate", "--db", one_day, "--format", "json").stdout_bytes)
    args = ("budget", "simulate", "--db", one_day, "--scale", "2", "--baseline", str(base))
    assert "vs baseline: quota +42.16 points" in cli(*args).stdout
    md = cli(*args, "--format", "markdown").stdout  # it had no word of the baseline
    assert "#### Against the baseline" in md
    assert "| quota used | 42.16 % | 84.32 % | +42.16 points |" in md
    assert "| browser accepted | 31,000 | 62,000 | +31,000 |" in md
    assert "| story (total) | $4.22 | $8.43 | +$4.22 |" in md


@pytest.mark.parametrize(
    "text",
    [
        '{"systems": [1, 2]}',
        "[1]",
        '{"systems": {"browser": 1}}',
        '{"systems": {}, "costs": [1]}',
        '{"systems": {}, "total": 3}',
        '{"systems": {"browser": {"offered": 1}}, "costs": []}',  # no total
        '{"systems": {}, "total": {"quota_pct": "5"}, "costs": []}',
    ],
)
def test_a_malformed_baseline_is_an_input_error_naming_the_file(
    cli: Callable[..., CliResult], one_day: str, tmp_path: Path, text: str
) -> None:
    base = tmp_path / "weird.json"
    base.write_text(text)
    r = cli("budget", "simulate", "--db", one_day, "--baseline", str(base))
    assert r.exit_code == ExitCode.INPUT, r.stderr  # it was an internal error (AttributeError), exit 3 too
    assert r.stderr.startswith(f"error: baseline file {base} is not a budget simulate JSON result")


def test_a_replay_result_is_not_taken_as_a_baseline(
    cli: Callable[..., CliResult], one_day: str, tmp_path: Path
) -> None:
    # `replay --format json` has `systems` and `costs` too: it was read as a baseline whose every change
    # was "n/a", exit 0, so a CI diff against the wrong file said nothing
    base = tmp_path / "replay.json"
    base.write_bytes(cli("replay", "--db", one_day, "--format", "json").stdout_bytes)
    r = cli("budget", "simulate", "--db", one_day, "--baseline", str(base))
    assert r.exit_code == ExitCode.INPUT, r.stdout
    assert r.stderr.startswith(f"error: baseline file {base} is not a budget simulate JSON result")
    # a check's JSON is a simulate result with its checks: still a baseline
    check = tmp_path / "check.json"
    check.write_bytes(
        cli("budget", "check", "--db", one_day, "--max-usd", "10", "--format", "json").stdout_bytes
    )
    ok = cli(
        "budget", "simulate", "--db", one_day, "--scale", "2", "--baseline", str(check), "--format", "json"
    )
    assert ok.exit_code == 0, ok.stderr
    assert ok.json()["baseline"]["quota_pct"]["delta"] == pytest.approx(42.16)


@pytest.mark.parametrize(
    ("option", "what"),
    [("--pricing", "pricing model"), ("--amplification", "amplification model"), ("--policy", "policy file")],
)
def test_a_file_that_is_not_utf8_is_a_config_error_for_every_option(
    cli: Callable[..., CliResult], tmp_path: Path, option: str, what: str
) -> None:
    # --pricing and --amplification were an internal error (UnicodeDecodeError), exit 3; --policy was exit 2
    path = tmp_path / "bin.toml"
    path.write_bytes(b"\xff\xfe")
    r = cli("budget", "simulate", option, str(path), "--db", str(tmp_path / "none.duckdb"))
    assert r.exit_code == ExitCode.USAGE, r.stderr
    assert r.stderr.startswith(f"error: cannot read {what} {path}: not UTF-8 text")


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("price_usd = inf", "resources.0.price_usd"),
        ("price_usd = nan", "resources.0.price_usd"),
        ("included = inf", "resources.0.included"),
        ("per = inf", "resources.0.per"),
        ("base_fee_usd = inf", "base_fee_usd"),
    ],
)
def test_a_pricing_number_that_is_not_finite_is_refused(
    cli: Callable[..., CliResult], tmp_path: Path, line: str, field: str
) -> None:
    # the table showed `$inf`; policy and amplification files refuse inf and nan already
    key = line.split(" =")[0]
    text = "\n".join(x for x in MY_PLAN.splitlines() if not x.startswith(f"{key} ="))
    text = text.replace(
        'sources = ["me"]', f'sources = ["me"]\n{line}' if key == "base_fee_usd" else 'sources = ["me"]'
    )
    if key != "base_fee_usd":
        text += f"\n{line}\n"
    path = tmp_path / "plan.toml"
    path.write_text(text)
    r = cli("budget", "simulate", "--pricing", str(path), "--db", str(tmp_path / "none.duckdb"))
    assert r.exit_code == ExitCode.USAGE, r.stderr
    assert f"{field}: Input should be a finite number" in r.stderr


def test_input_lines_that_could_not_be_read_are_said_to_be_left_out(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    # a gate passed on half an export without a word about the other half
    src = tmp_path / "mixed.jsonl"
    src.write_text('{"message":"ok","level":"log","timestamp":1714910400000}\nnot json\n{bad\n')
    r = cli("budget", "check", str(src), "--max-usd", "10")
    assert r.exit_code == ExitCode.OK, r.stderr
    assert "note: 2 input lines could not be read and are left out (2 × malformed JSON)" in r.stderr


def test_durations_in_the_basis_and_the_period_error_read_in_days(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """45 days observed: the header said "repeated every 64800 min" (it is not repeated at all), the --period
    error "shorter than the observed span (64440.0 min)" without the period given."""
    recs = [r for day in range(45) for r in spread(day, 2, "worker", "long")]
    db = str(tmp_path / "long.duckdb")
    ingest([str(write(tmp_path / "long.jsonl", recs))], db)
    r = cli("budget", "simulate", "--db", db)
    assert r.exit_code == ExitCode.OK, r.stderr
    assert "not repeated" in r.stdout and "64800 min" not in r.stdout
    one_day = cli(
        "budget", "simulate", "--db", str(tmp_path / "long.duckdb"), "--days", "3", "--period", "1d"
    )
    assert one_day.exit_code == ExitCode.USAGE
    assert "--period (1.0 d) is shorter than the observed span (44.5 d)" in one_day.stderr, one_day.stderr


def test_a_period_just_under_the_span_says_by_how_much(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    """A span 20 s over an hour and `--period 1h` read "--period (1.0 h) is shorter than the observed span
    (1.0 h)": both rounded alike."""
    recs = spread(0, 2, "worker", "edge")
    recs[1]["timestamp"] = recs[0]["timestamp"] + 3_620_000 - 1  # the span counts both ends
    db = str(tmp_path / "edge.duckdb")
    ingest([str(write(tmp_path / "edge.jsonl", recs))], db)
    r = cli("budget", "simulate", "--db", db, "--period", "1h")
    assert r.exit_code == ExitCode.USAGE
    said = " ".join(r.stderr.split())
    assert "--period (1.0 h) is shorter than the observed span (1.0 h, 20.0 s longer)" in said, r.stderr


def test_input_files_without_a_log_event_are_not_told_to_pass_input_files(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    # `budget check access.log` (or an empty export) said "no events to simulate from", "hint: ingest some logs
    # first, or pass input files": the files had been passed
    access = tmp_path / "access.log"
    access.write_text('127.0.0.1 - - [30/Nov/2026:15:00:01 +0000] "GET / HTTP/1.1" 200 5\n')
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    for args in (
        ("budget", "check", str(access), "--max-usd", "10"),
        ("budget", "simulate", str(empty)),
        ("replay", str(empty)),
    ):
        r = cli(*args)
        assert r.exit_code == ExitCode.INPUT, (args, r.stderr)
        assert "pass input files" not in r.stderr, (args, r.stderr)
        assert "none of the input files holds a log event logcorr reads" in r.stderr, (args, r.stderr)
    # without files, the database's emptiness keeps its hint
    from logcorr.store.connection import connect

    db = tmp_path / "empty.duckdb"
    connect(str(db)).close()
    r = cli("budget", "simulate", "--db", str(db))
    assert r.exit_code == ExitCode.INPUT and "ingest some logs first" in r.stderr, r.stderr


@pytest.mark.parametrize(
    ("command", "first"),
    [
        (("budget", "simulate"), lambda r: r["observed"]["first"]),
        (("budget", "check", "--max-quota-pct", "100"), lambda r: r["observed"]["first"]),
        (("replay",), lambda r: r["replay"]["start"]),
    ],
)
def test_input_files_take_the_zone_of_npx_convex_logs_text_as_ingest_does_and_say_it(
    cli: Callable[..., CliResult], tmp_path: Path, command: tuple[str, ...], first: Callable[[Any], str]
) -> None:
    # `npx convex logs > backend.log` on a machine in Tokyo: local times without a zone. A CI runner is in UTC;
    # read there, every event moved 9 h and the observed span the month is tiled from with it, and nothing
    # said so (the zone was only named by `ingest`'s summary) — nor could another zone be given but by env
    log = tmp_path / "backend.log"
    log.write_text(
        "5/2/2024, 9:00:00 AM [CONVEX M(orders:checkout)] [LOG] 'checkout start'\n"
        "5/2/2024, 9:00:05 AM [CONVEX M(orders:checkout)] [LOG] 'reserving inventory'\n"
    )
    env = {"LOGCORR_LOCAL_TZ": "UTC"}
    r = cli(*command, str(log), "--format", "json", env=env)
    assert r.exit_code == ExitCode.OK, r.stderr
    assert first(r.json()).startswith("2024-05-02T09:00:00")
    assert f"note: {log}: npx convex logs text:" in r.stderr and "times read in UTC" in r.stderr
    r = cli(*command, str(log), "--format", "json", "--local-tz", "Asia/Tokyo", env=env)
    assert r.exit_code == ExitCode.OK, r.stderr
    assert first(r.json()).startswith("2024-05-02T00:00:00")
    assert "times read in Asia/Tokyo" in r.stderr
    r = cli(*command, str(log), "--local-tz", "Asia/Tokio", env=env)
    assert r.exit_code == ExitCode.USAGE and "Asia/Tokyo" in r.stderr
    # a database's times were read when it was ingested: the option is refused there, not passed over
    db = str(tmp_path / "d.duckdb")
    ingest([str(log)], db, local_tz="UTC")
    r = cli(*command, "--db", db, "--local-tz", "Asia/Tokyo", env=env)
    assert r.exit_code == ExitCode.USAGE and "--local-tz applies to input files" in r.stderr


HOUR = 3_600_000
NOV29_13H = 1795957200000  # 2026-11-29 13:00:00 UTC


def afternoon(n: int, systems: tuple[str, ...] = ("browser", "worker", "backend")) -> list[dict[str, Any]]:
    """n distinct logs per system over four hours of 2026-11-29, each its own trace: an afternoon's exports."""
    out = []
    for system in systems:
        for i in range(n):
            ts = NOV29_13H + i * (4 * HOUR // n)
            msg = f"afternoon {system} {i}"
            if system == "browser":  # a console line: the browser's own clock is its only time
                out.append({"message": msg, "level": "log", "system": "browser", "trace_id": f"tb-{i}", "user_id": "u1",
                            "context": {"timestamp": ts, "url": "http://localhost/", "userAgent": "M"}})  # fmt: skip
            elif system == "worker":
                out.append({"id": f"{ts}_{i}", "trace_id": f"tw-{i}", "system": "worker", "level": "log",
                            "message": msg, "timestamp": ts})  # fmt: skip
            else:
                out.append({"topic": "console", "timestamp": ts, "log_level": "LOG", "message": f"'{msg}'",
                            "function": {"path": "a:b", "type": "mutation", "request_id": f"r{i}"}})  # fmt: skip
    return out


# one visitor whose clock runs 2 days ahead
SKEWED = {"message": "Page view /cart", "level": "info", "system": "browser", "trace_id": "tb-skewed",
          "user_id": "u_9999", "context": {"timestamp": NOV29_13H + 2 * DAY + 2 * HOUR, "url": "http://localhost/",
                                           "userAgent": "M"}}  # fmt: skip


@pytest.mark.parametrize("systems", [("browser", "worker", "backend"), ("browser",)])
def test_one_browser_line_days_ahead_does_not_flip_the_gate(
    cli: Callable[..., CliResult], tmp_path: Path, systems: tuple[str, ...]
) -> None:
    """An afternoon that reaches essential-only mode, plus one console line of a browser 2 days ahead: the span
    stretched to 2.1 d, the afternoon was repeated every 3 days and the gate passed at a fraction of the quota.
    The line is left out, and said; the projection is the afternoon's alone (also with browser lines only)."""
    n = 800 // len(systems)
    clean = write(tmp_path / "clean.jsonl", afternoon(n, systems))
    skewed = write(tmp_path / "skewed.jsonl", [*afternoon(n, systems), SKEWED])
    gate = ("budget", "check", "--fail-on-degrade", "--max-quota-pct", "100", "--format", "json")
    want = cli(*gate, str(clean))
    assert want.exit_code == ExitCode.CHECK_FAILED, want.stderr  # the afternoon's load fails the gate
    got = cli(*gate, str(skewed))
    assert got.exit_code == ExitCode.CHECK_FAILED, got.stderr
    a, b = want.json(), got.json()
    assert b["month"] == a["month"] and a["month"]["period_ms"] == 4 * HOUR
    assert b["total"] == a["total"] and b["thresholds"] == a["thresholds"] and b["checks"] == a["checks"]
    assert a["observed"]["left_out"] == []
    (group,) = b["observed"]["left_out"]
    gap = group.pop("gap_ms")  # after the afternoon's last event (n-1 steps of 4 h / n in)
    assert abs(gap - (2 * DAY + 2 * HOUR - (n - 1) * (4 * HOUR // n))) < 1000, gap
    assert group == {"side": "after", "events": 1, "systems": {"browser": 1}, "first": "2026-12-01T15:00:00Z",
                     "last": "2026-12-01T15:00:00Z"}  # fmt: skip
    assert b["observed"]["events"] == a["observed"]["events"]
    assert "note: left out of the projection: 1 browser event 1.9 d after the rest" in got.stderr, got.stderr
    assert any(note.startswith("left out: 1 browser event 1.9 d after the rest") for note in b["notes"])
    table = cli("budget", "simulate", str(skewed))
    assert "(left out: 1 browser event 1.9 d after the rest)" in " ".join(table.stdout.split()), table.stdout


def test_a_period_may_be_shorter_than_a_span_a_stray_browser_line_stretched(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """`--period 1d` was refused: "shorter than the observed span (2.1 d)", the span of the one stray line."""
    skewed = str(write(tmp_path / "skewed.jsonl", [*afternoon(50), SKEWED]))
    r = cli("budget", "simulate", skewed, "--period", "1d", "--format", "json")
    assert r.exit_code == ExitCode.OK, r.stderr
    assert r.json()["month"]["period_ms"] == DAY and r.json()["observed"]["left_out"][0]["events"] == 1
    # the note said "the observed span the month is tiled from would be 2.1 d", untrue of --period 1d
    (note,) = [n for n in r.json()["notes"] if n.startswith("left out:")]
    assert note.endswith(
        "with it the observed span would be 2.1 d, not 3.9 h; the month is tiled from --period 1.0 d"
    )
    short = cli("budget", "simulate", skewed, "--period", "1h")
    assert short.exit_code == ExitCode.USAGE
    assert "observed span (3.9 h, without 1 browser event 1.9 d after the rest)" in " ".join(
        short.stderr.split()
    )


@pytest.mark.parametrize(
    ("late", "why"),
    [
        # a server's clock keeps NTP time: what it saw 2 days later was observed
        ([{"id": "late", "trace_id": "tw-late", "system": "worker", "level": "log", "message": "late",
           "timestamp": NOV29_13H + 2 * DAY}], "a Worker's event"),
        # 20 browser lines of 150 events (13 %) are no stray clock: a second afternoon of a console export
        ([{**SKEWED, "message": f"next day {i}", "trace_id": f"tn-{i}"} for i in range(20)], "many"),
        # 50 min after a 4 h afternoon: a silence under an hour is no stray clock's
        ([{**SKEWED, "context": {**SKEWED["context"], "timestamp": NOV29_13H + 4 * HOUR + 50 * 60_000}}], "near"),
    ],
)  # fmt: skip
def test_what_is_not_a_stray_browser_clock_stays_in_the_span(
    cli: Callable[..., CliResult], tmp_path: Path, late: list[dict[str, Any]], why: str
) -> None:
    src = str(write(tmp_path / "late.jsonl", [*afternoon(50), *late]))
    res = cli("budget", "simulate", src, "--format", "json").json()
    assert res["observed"]["left_out"] == [], why
    assert res["observed"]["events"] == 150 + len(late) and res["observed"]["span_ms"] > 4 * HOUR, why
    # too many to leave out, but said: a span mostly observed by browser clocks alone dilutes the load if one is wrong
    reach = [n for n in res["notes"] if "on the browsers' own clocks" in n]
    if why == "many":
        assert reach == [
            "the Worker's and Convex's events span 3.9 h; 20 browser events reach 1.9 d after them, on the browsers' "
            "own clocks: if a browser clock is wrong, the observed span is mostly empty and the load diluted: "
            "check those events' times"
        ]
    else:
        assert reach == [], why


def test_a_browser_line_hours_after_an_afternoon_without_such_a_quiet_is_left_out(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """One console line 3 h after a 4 h afternoon whose events are never more than 5 min apart: apart from the
    rest by less than its span, it was kept (and only said), and the afternoon was tiled from 7 h, not 4 h."""
    near = {**SKEWED, "context": {**SKEWED["context"], "timestamp": NOV29_13H + 7 * HOUR}}
    gate = ("budget", "simulate", "--format", "json")
    want = cli(*gate, str(write(tmp_path / "clean.jsonl", afternoon(50)))).json()
    r = cli(*gate, str(write(tmp_path / "near.jsonl", [*afternoon(50), near])))
    assert r.exit_code == ExitCode.OK, r.stderr
    got = r.json()
    assert got["month"] == want["month"] and got["total"] == want["total"]
    (group,) = got["observed"]["left_out"]
    assert (group["side"], group["events"], group["first"]) == ("after", 1, "2026-11-29T20:00:00Z")
    assert "note: left out of the projection: 1 browser event 3.1 h after the rest" in r.stderr, r.stderr
    assert not [n for n in got["notes"] if "on the browsers' own clocks" in n]


def week_with_nights(systems: tuple[str, ...] = ("browser", "worker")) -> list[dict[str, Any]]:
    """A week's exports with nightly 8 h lulls: every 10 min from 06:00 to 22:00 UTC, one log per system."""
    out: list[dict[str, Any]] = []
    start = NOV29_13H - 7 * HOUR  # 2026-11-29 06:00 UTC
    for d in range(7):
        for m in range(0, 16 * 60, 10):
            ts, i = start + d * DAY + m * 60_000, d * 1000 + m
            for system in systems:
                if system == "browser":
                    out.append({"message": f"click {i}", "level": "log", "system": "browser", "trace_id": f"tb-{i}",
                                "user_id": "u1",
                                "context": {"timestamp": ts, "url": "http://localhost/", "userAgent": "M"}})  # fmt: skip
                else:
                    out.append({"id": f"w{i}", "trace_id": f"tw-{i}", "system": "worker", "level": "log",
                                "message": f"POST /log {i}", "timestamp": ts})  # fmt: skip
    return out


@pytest.mark.parametrize(
    ("after_hours", "left_out"),
    [(6, None), (9, "9.0 h"), (48, "2.0 d")],
    ids=["inside-a-night", "past-a-night", "two-days"],
)
def test_browser_lines_beyond_a_week_are_strays_past_its_longest_quiet(
    cli: Callable[..., CliResult], tmp_path: Path, after_hours: int, left_out: str | None
) -> None:
    """A week's exports (nightly 8 h lulls) and 3 console lines some hours after its last event. Apart from the
    rest by less than the week, 3 lines 2 days ahead were kept: the span went from 7 d to 9 d and the month's
    load was diluted by 22 %, so a cost gate could pass that should fail. Past a silence longer than the week's
    own longest quiet (a night) they are left out, and said; inside one they are the recording's rhythm.
    `replay` leaves out the same events (both read sim.load)."""
    week = week_with_nights()
    last = max(int(r.get("timestamp") or r["context"]["timestamp"]) for r in week)
    lines = [{**SKEWED, "message": f"resumed {k}", "trace_id": f"tr-{k}",
              "context": {**SKEWED["context"], "timestamp": last + after_hours * HOUR + k * 1000}}
             for k in range(3)]  # fmt: skip
    clean = str(write(tmp_path / "clean.jsonl", week))
    late = str(write(tmp_path / "late.jsonl", [*week, *lines]))
    want = cli("budget", "simulate", clean, "--format", "json").json()
    r = cli("budget", "simulate", late, "--format", "json")
    assert r.exit_code == ExitCode.OK, r.stderr
    got = r.json()
    assert want["observed"]["left_out"] == [] and want["month"]["period_ms"] == 7 * DAY
    replayed = cli("replay", late, "--format", "json")
    assert replayed.exit_code == ExitCode.OK, replayed.stderr
    assert replayed.json()["replay"]["left_out"] == got["observed"]["left_out"]
    if left_out is None:
        assert got["observed"]["left_out"] == [] and got["observed"]["events"] == len(week) + 3
        assert not [n for n in got["notes"] if "on the browsers' own clocks" in n], got["notes"]
        return
    assert got["month"] == want["month"] and got["total"] == want["total"]
    (group,) = got["observed"]["left_out"]
    assert (group["side"], group["events"], group["systems"]) == ("after", 3, {"browser": 3})
    assert group["gap_ms"] == after_hours * HOUR
    said = f"note: left out of the projection: 3 browser events {left_out} after the rest"
    assert said in " ".join(r.stderr.split()), r.stderr


@pytest.mark.parametrize(
    ("hours", "offered"), [([0, 1], 1_200), ([0, 1 / 60, 2], 900)], ids=["2-events", "3-events"]
)
def test_a_sample_under_100_events_leaves_no_browser_event_out(
    cli: Callable[..., CliResult], tmp_path: Path, hours: list[float], offered: int
) -> None:
    """1 % of fewer than 100 events is none: a browser-only sample of 2 console lines 1 h apart lost its second
    (half the input), and the one left was tiled every minute: 43,200 events in the month, not 1,200."""
    lines = [{**SKEWED, "message": f"click {i}", "trace_id": f"tc-{i}",
              "context": {**SKEWED["context"], "timestamp": NOV29_13H + round(h * HOUR)}}
             for i, h in enumerate(hours)]  # fmt: skip
    r = cli("budget", "simulate", str(write(tmp_path / "few.jsonl", lines)), "--format", "json")
    assert r.exit_code == ExitCode.OK, r.stderr
    res = r.json()
    assert res["observed"]["left_out"] == [] and "left out" not in r.stderr
    assert (res["observed"]["events"], res["total"]["offered"]) == (len(hours), offered)


def test_a_browser_line_a_month_behind_does_not_move_the_month(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """A clock 30 days behind put the first event in October: the month simulated was October, from a span of
    30 days, not repeated at all."""
    behind = {**SKEWED, "context": {**SKEWED["context"], "timestamp": NOV29_13H - 30 * DAY}}
    res = cli(
        "budget", "simulate", str(write(tmp_path / "b.jsonl", [*afternoon(50), behind])), "--format", "json"
    )
    assert res.exit_code == ExitCode.OK, res.stderr
    got = res.json()
    assert got["month"]["start"] == "2026-11-01" and got["month"]["period_ms"] == 4 * HOUR
    (group,) = got["observed"]["left_out"]
    assert group["side"] == "before" and group["first"] == "2026-10-30T13:00:00Z" and group["events"] == 1
    assert "note: left out of the projection: 1 browser event 30.0 d before the rest" in res.stderr, (
        res.stderr
    )


def _ci_inputs(tmp_path: Path) -> list[str]:
    """An afternoon with one console line of a browser 2 days ahead and one line that is not JSON, beside
    `npx convex logs` text: each says a note on stderr (a stray clock, a rejected line, the zone read in)."""
    src = write(tmp_path / "afternoon.jsonl", [*afternoon(50), SKEWED])
    with src.open("a") as f:
        f.write("not json\n")
    log = tmp_path / "backend.log"
    log.write_text("11/29/2026, 1:00:00 PM [CONVEX M(orders:checkout)] [LOG] 'checkout start'\n")
    return [str(src), str(log)]


CI_NOTES = (
    "npx convex logs text: dates read month first",
    "1 input line could not be read and is left out (1 × malformed JSON)",
    "left out: 1 browser event 1.9 d after the rest (2026-12-01T15:00:00Z), on a browser's clock",
    "The story's arithmetic does not hold",
)


def _said(notes: list[str]) -> list[str]:
    """Which of CI_NOTES each note is, in order (a note not one of them is said as itself)."""
    return [next((w for w in CI_NOTES if w in n), n) for n in notes]


@pytest.mark.parametrize("output", ["junit", "markdown", "step-summary", "json"])
def test_ci_outputs_carry_the_notes_the_terminal_prints_on_stderr(
    cli: Callable[..., CliResult], tmp_path: Path, output: str
) -> None:
    """In CI nobody reads the stderr of a passing step: the zone `npx convex logs` text was read in, the rejected
    lines and the browser event left out of the span were on stderr only (the JUnit report had no note at all,
    the Markdown summary only the projection's own two, as one `> ` paragraph; the JSON had no word of the
    files)."""
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    fmt = "markdown" if output == "step-summary" else output
    r = cli("budget", "check", *_ci_inputs(tmp_path), "--max-quota-pct", "100", "--format", fmt,
            env={"LOGCORR_LOCAL_TZ": "UTC", "GITHUB_STEP_SUMMARY": str(summary)})  # fmt: skip
    assert r.exit_code == ExitCode.OK, r.stderr
    for note in CI_NOTES[:3]:  # the terminal's, unchanged
        assert note.split(" (2026")[0].replace("left out:", "left out of the projection:") in r.stderr, (
            r.stderr
        )
    if output == "junit":
        suite = ET.fromstring(r.stdout_bytes).find("testsuite")
        assert suite is not None
        props = [(p.get("name"), p.get("value") or "") for p in suite.iter("property")]
        assert ("rejected_lines", "1") in props and ("left_out_events", "1") in props
        assert _said([v for k, v in props if k == "note"]) == list(CI_NOTES)
        (case,) = suite.iter("testcase")
        out = case.findtext("system-out") or ""
        assert out.startswith("measured ") and _said(out.split("\nnote: ")[1:]) == list(CI_NOTES), out
        assert [child.tag for child in suite] == ["properties", "testcase"]
        return
    if output == "json":
        source = r.json()["source"]
        assert source["rejected"] == 1 and source["reject_reasons"] == {"malformed JSON": 1}
        assert _said(source["notes"] + r.json()["notes"]) == list(CI_NOTES)
        return
    text = summary.read_text() if output == "step-summary" else r.stdout
    if output == "step-summary":  # appended after what an earlier step wrote, not over it
        assert text.startswith("earlier step\n### logcorr budget check: ✅ pass\n"), text
        assert text.count("#### Notes") == 1 and text == "earlier step\n" + r.stdout, text
    # a list after the verdict's table, one note an item, before the projection's tables
    after_table = text.split("| ✅ | monthly quota used | <= 100 % |")[1]
    notes, projection = after_table.split("#### Notes\n\n")[1].split("\n\n#### Projection", 1)
    items = notes.split("\n")
    assert all(i.startswith("- ") for i in items) and _said(items) == list(CI_NOTES), notes
    assert "| browser |" in projection


def test_a_file_names_control_characters_are_made_visible_in_the_markdown_notes(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """A note names its file: `b\\x1b[2Jx.log`'s escape went raw into the Markdown summary (the JUnit report made it
    visible), where a terminal acts on it."""
    log = tmp_path / "b\x1b[2Jx.log"
    log.write_text("11/29/2026, 1:00:00 PM [CONVEX M(orders:checkout)] [LOG] 'checkout start'\n")
    r = cli(
        "budget",
        "check",
        str(log),
        "--max-usd",
        "10",
        "--format",
        "markdown",
        env={"LOGCORR_LOCAL_TZ": "UTC"},
    )
    assert r.exit_code == ExitCode.OK, r.stderr
    (note,) = [line for line in r.stdout.splitlines() if "npx convex logs text" in line]
    assert "\x1b" not in note and note.startswith(f"- {tmp_path}/b\\x1b\\[2Jx.log: npx convex logs text"), (
        note
    )  # `[` escaped


def test_ci_outputs_count_ten_thousand_rejected_lines_in_one_note(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """10,000 lines that cannot be read, for 4 reasons, and 22 files of `npx convex logs` text: the notes are
    as many as the terminal's (a file's at most 20, the rejected lines counted by reason in one)."""
    src = write(tmp_path / "afternoon.jsonl", afternoon(50))
    bad = ["not json", '"a string"', "[1]", "{"]
    with src.open("a") as f:
        f.writelines(f"{bad[i % 4]} {i}\n" if i % 4 == 0 else f"{bad[i % 4]}\n" for i in range(10_000))
    logs = []
    for i in range(22):
        log = tmp_path / f"backend{i}.log"
        log.write_text(f"11/29/2026, 1:00:{i:02d} PM [CONVEX M(a:b)] [LOG] 'start {i}'\n")
        logs.append(str(log))
    env = {"LOGCORR_LOCAL_TZ": "UTC"}
    md = cli("budget", "check", str(src), *logs, "--max-quota-pct", "100", "--format", "markdown", env=env)
    assert md.exit_code == ExitCode.OK, md.stderr
    items = [line for line in md.stdout.splitlines() if line.startswith("- ")]
    rejected = [i for i in items if "could not be read and" in i]
    assert len(items) == 20 + 3 and items[20].startswith("- … 2 more notes"), items
    # four reasons, 2,500 lines each: the first three named, the fourth counted (ties in the files' order)
    (note,) = rejected
    assert re.fullmatch(
        r"- 10,000 input lines could not be read and are left out \((2500 × [a-zA-Z ]+; ){3}2500 more for 1 "
        r"other reason\), the first at \S+afternoon\.jsonl:\d+ \(.+\); `logcorr ingest` of the same files "
        r"says where each is",
        note,
    ), note
    junit = cli("budget", "check", str(src), *logs, "--max-quota-pct", "100", "--format", "junit", env=env)
    suite = ET.fromstring(junit.stdout_bytes).find("testsuite")
    assert suite is not None
    assert len([p for p in suite.iter("property") if p.get("name") == "note"]) == 23
    assert len(junit.stdout_bytes) < 20_000


def test_a_file_names_html_is_shown_as_text_in_the_markdown_notes(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """A note names its file, and GitHub renders a step summary's HTML: a file `<!--x.log` hid every note after
    it (a comment left open), and `<script>x.log` went raw into the summary. `<`, `>` and `&` are written as
    entities outside code spans; inside one (`npx convex logs`) Markdown shows them as they are."""
    names = ["<!--a.log", "<script>b&c.log"]
    logs = []
    for i, name in enumerate(names):
        (tmp_path / "d").mkdir(exist_ok=True)
        log = tmp_path / "d" / name
        log.write_text(f"11/29/2026, 1:00:0{i} PM [CONVEX M(orders:checkout)] [LOG] 'checkout start'\n")
        logs.append(str(log))
    r = cli(
        "budget", "check", *logs, "--max-usd", "10", "--format", "markdown", env={"LOGCORR_LOCAL_TZ": "UTC"}
    )
    assert r.exit_code == ExitCode.OK, r.stderr
    notes = [line for line in r.stdout.splitlines() if "npx convex logs text" in line]
    assert [n.split(": npx convex logs text")[0] for n in notes] == [
        f"- {tmp_path}/d/&lt;!--a.log",
        f"- {tmp_path}/d/&lt;script&gt;b&amp;c.log",
    ], notes
    assert not any(c in r.stdout for c in ("<!--", "<script", "b&c")), r.stdout
    # a code span's text is left as it is (an entity in one is shown as typed); the text is plain, so a backslash
    # is one (written `\\`) and does not escape the backtick after it; a backtick opening no span is escaped
    from logcorr.render.markdown import block

    assert block("`a<b` & ``x`<y`` <z> \\`<w`") == "`a<b` &amp; ``x`<y`` &lt;z&gt; \\\\`<w`"
    assert block("`open <b") == "\\`open &lt;b"


def test_a_file_names_control_characters_are_visible_in_the_stderr_note_and_a_carriage_return_in_markdown(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """The note naming `b\\x1b[2Jc\\rd.log` went raw to stderr (the terminal cleared its screen), and the Markdown
    note split the name at its `\\r` and wrote a space there (`b\\x1b[2Jc d.log`: no such file)."""
    log = tmp_path / "b\x1b[2Jc\rd.log"
    log.write_text("11/29/2026, 1:00:00 PM [CONVEX M(orders:checkout)] [LOG] 'checkout start'\n")
    env = {"LOGCORR_LOCAL_TZ": "UTC"}
    r = cli("budget", "check", str(log), "--max-usd", "10", "--format", "markdown", env=env)
    assert r.exit_code == ExitCode.OK, r.stderr
    (said,) = [line for line in r.stderr.splitlines() if "npx convex logs text" in line]
    assert said.startswith(f"note: {tmp_path}/b\\x1b[2Jc\\rd.log: npx convex logs text"), said
    (note,) = [line for line in r.stdout.splitlines() if "npx convex logs text" in line]
    assert note.startswith(f"- {tmp_path}/b\\x1b\\[2Jc\\rd.log: npx convex logs text"), note  # `[` escaped


def test_a_note_or_model_name_of_markdown_renders_as_its_text_in_the_summary(
    cli: Callable[..., CliResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A note starting with its file's name `# a.log` was a heading in GitHub's step summary (`1. b.log` a list
    in the list, `[x](y)` a link), and a pricing model named `a|b` split its table row: each is written so
    that it renders as the text."""
    monkeypatch.chdir(tmp_path)
    for name in ("# a.log", "[x](y) 1.log"):
        (tmp_path / name).write_text(
            f"11/29/2026, 1:00:0{len(name) % 10} PM [CONVEX M(a:{len(name)})] [LOG] 'x'\n"
        )
    story = (ROOT / "logcorr/data/pricing/story.toml").read_text()
    (tmp_path / "ab.toml").write_text(story.replace('name = "story"', 'name = "a|b"', 1))
    summary = tmp_path / "summary.md"
    r = cli("budget", "check", "# a.log", "[x](y) 1.log", "--pricing", "ab.toml", "--model", "a|b",
            "--max-usd", "10", env={"LOGCORR_LOCAL_TZ": "UTC", "GITHUB_STEP_SUMMARY": str(summary)})  # fmt: skip
    assert r.exit_code == ExitCode.OK, r.stderr
    text = summary.read_text()
    assert "| ✅ | cost (a\\|b, total) | <= $10.00 |" in text, text
    notes = [
        line.split(": npx convex logs text")[0] for line in text.splitlines() if "npx convex logs" in line
    ]
    assert notes == ["- \\# a.log", "- \\[x\\](y) 1.log"], notes
