"""`logcorr replay` on the built-in scenarios: the story's guarantees under load, outputs, thresholds,
exit codes, JUnit read back, determinism and --compare-policy. Behaviour only, never timings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import duckdb
import pytest

from logcorr.budget.amplification import load_amplification
from logcorr.budget.pricing import load_model
from logcorr.cli.replay import ReplayFormat
from logcorr.errors import ExitCode
from logcorr.replay.run import Options, replay
from logcorr.replay.scenario import load_scenario
from logcorr.replay.synth import SyntheticLoad
from logcorr.rules.policy import Policy
from logcorr.rules.redact import contains_secret
from tests.conftest import CliResult

Cli = Callable[..., CliResult]
SYSTEMS = ("browser", "worker", "backend")
_cache: dict[tuple[str, ...], dict[str, Any]] = {}


def run_json(cli: Cli, *args: str) -> dict[str, Any]:
    """`logcorr replay ARGS --format json`, cached per argument list (scenarios are deterministic)."""
    key = tuple(args)
    if key not in _cache:
        r = cli("replay", *args, "--format", "json")
        assert r.exit_code == ExitCode.OK, r.stderr
        _cache[key] = r.json()
    return _cache[key]


def write_policy(tmp_path: Path, body: str, name: str = "policy.toml") -> str:
    p = tmp_path / name
    p.write_text(body, encoding="utf-8")
    return str(p)


# --- guarantees ------------------------------------------------------------------------------------


@pytest.mark.parametrize("flooder", SYSTEMS)
def test_a_flood_from_one_system_does_not_take_the_others_shares(cli: Cli, flooder: str) -> None:
    flood = run_json(cli, "--scenario", f"flood-{flooder}")
    calm = run_json(cli, "--scenario", f"flood-{flooder}", "--param", "flows.flood.enabled=false")
    fs = flood["systems"][flooder]
    assert fs["offered"] > 20_000 and fs["dropped"]["rate_limit"] > 20_000  # the flood met its own limit
    for other in set(SYSTEMS) - {flooder}:
        f, c = flood["systems"][other], calm["systems"][other]
        assert f["offered"] == c["offered"]
        # no rate-limit or budget refusal, no quota lent: the other systems' own limits and shares held
        assert set(f["dropped"]) <= {"trace"}, f["dropped"]
        assert f["lent"] == 0 and f["borrowed"] == 0
        # what they lost, if anything, went with whole traces the flooder refused (trace-aware)
        assert f["accepted"] + f["dropped"].get("trace", 0) == c["accepted"]
    assert flood["metrics"]["quota_pct"] <= 100


def test_the_quota_is_never_exceeded_under_sustained_overload(cli: Cli, tmp_path: Path) -> None:
    pol = write_policy(tmp_path, "[budget]\nmonthly_writes = 300\n")
    res = run_json(
        cli, "--scenario", "steady", "--param", "scale=20", "--param", "duration=3h", "--policy", pol
    )
    m = res["metrics"]
    assert m["events"] > 5 * 300
    assert m["accepted"] == 300 and m["quota_pct"] == 100.0
    assert m["dropped.budget"] > 0
    for s in SYSTEMS:
        v = res["systems"][s]
        assert v["used"] == v["accepted"] <= v["quota"] + v["borrowed"]
    assert sum(v["lent"] for v in res["systems"].values()) == sum(
        v["borrowed"] for v in res["systems"].values()
    )
    assert [x["pct"] for x in res["quota"]["moments"] if x["scope"] == "total"] == [80.0, 95.0, 100.0]


def test_a_loop_storm_is_cut_to_five_identical_lines_a_second(cli: Cli) -> None:
    res = run_json(cli, "--scenario", "loop-storm")
    m = res["metrics"]
    assert m["max_identical_per_s"] <= 5
    assert m["max_identical_per_s"] == 5  # the storms did reach the limit
    assert all(m[f"{s}.dropped.loop"] > 0 for s in SYSTEMS)
    storm = [x for x in res["messages"] if x["message"].startswith("Warning: Maximum update depth")]
    assert storm and storm[0]["dropped"]["loop"] > storm[0]["accepted"]


def test_at_95_percent_only_errors_get_through_until_the_cap(cli: Cli, tmp_path: Path) -> None:
    scenario = tmp_path / "errors.toml"
    scenario.write_text(
        'name = "errors"\nseed = 1\nstart = "2025-06-02T00:00:00Z"\nduration = "1h"\n'
        '[flows.f]\nrate = 30\ntime_unit = "1m"\n'
        'steps = [{ system = "browser", message = "click {v}", variants = 50 },\n'
        '         { system = "backend", level = "error", message = "failed {v}", variants = 50, after = "50ms", probability = 0.3 }]\n',
        encoding="utf-8",
    )
    pol = write_policy(tmp_path, '[budget]\nmonthly_writes = 1000\nlending = "unused"\n')
    res = run_json(cli, "--scenario", str(scenario), "--policy", pol)
    m, phases = res["metrics"], res["phases"]
    assert m["essential.errors_offered"] > 0
    assert m["essential.errors_through"] == 1.0 and m["essential.errors_dropped_by_budget"] == 0
    assert phases["essential"]["log"]["accepted"] == 0  # everything else waits for next month
    assert phases["essential"]["log"]["dropped"]["budget"] == phases["essential"]["log"]["offered"]
    assert m["accepted"] == 1000  # and the cap still holds


def test_dev_noise_like_the_16k_incident_leaves_a_handful_of_clean_entries(cli: Cli) -> None:
    res = run_json(cli, "--scenario", "dev-noise")
    m = res["metrics"]
    assert m["events"] > 16_000
    assert m["dropped.suppress"] >= 0.99 * m["events"]
    assert m["accepted"] < 10  # the story: "<10 entries during normal development"
    assert m["redactions"] > 0


def test_duplicate_deliveries_are_dropped_and_change_nothing_else(cli: Cli) -> None:
    dup = run_json(cli, "--scenario", "duplicate-delivery")
    once = run_json(cli, "--scenario", "duplicate-delivery", "--param", "flows.stream.steps.0.redeliver=0",
                    "--param", "flows.stream.steps.1.redeliver=0")  # fmt: skip
    copies = dup["metrics"]["events"] - once["metrics"]["events"]
    assert copies > 0
    assert dup["metrics"]["dropped.duplicate"] == copies
    assert dup["metrics"]["accepted"] == once["metrics"]["accepted"]


SECRET_FRAGMENTS = ("SecretAccess", "SecretRefresh", "c2VjcmV0U2lnbmF0dXJl", "SecretOpenAiKey", "correct-horse",
                    "SecretSessionCookie", "SecretBearerToken", "SecretUrlPassword", "SecretGithubToken",
                    "AKIAIOSFODNN7SECRETX", "SecretClientSecret")  # fmt: skip


@pytest.mark.parametrize("fmt", list(ReplayFormat))
def test_no_secret_reaches_any_output(cli: Cli, tmp_path: Path, fmt: ReplayFormat) -> None:
    svg = tmp_path / "chart.svg"
    r = cli("replay", "--scenario", "secrets", "--format", fmt.value, "--svg", str(svg), "--top", "50",
            "--assert", "redactions>0")  # fmt: skip
    assert r.exit_code == ExitCode.OK, r.stderr
    for text in (r.stdout, r.stderr, svg.read_text(encoding="utf-8")):
        assert not [f for f in SECRET_FRAGMENTS if f in text]  # every secret the scenario holds
    if fmt is ReplayFormat.json:  # and no string value looks like one (keys such as "password" are counts)
        assert not [v for v in strings(r.json()) if contains_secret(v)]
    if fmt is ReplayFormat.table:
        assert "[REDACTED:" in r.stdout  # the messages are shown, redacted


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def test_no_secret_is_stored_in_the_replay_tables() -> None:
    sc, source, params = load_scenario("secrets")
    load = SyntheticLoad(sc, source, params)
    con = duckdb.connect()
    opts = Options((load_model("story"),), load_amplification())
    res = replay(con, load, Policy(), opts)
    kinds = res["redactions"]
    for kind in (
        "password",
        "cookie",
        "jwt",
        "github_token",
        "aws_access_key",
        "url_credentials",
        "openai_key",
    ):
        assert kinds.get(kind, 0) > 0, kind
    tables = [t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
    assert "replay_templates" in tables
    for t in tables:
        cols = [c for c, ty in con.execute(f"SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = '{t}'").fetchall()
                if ty == "VARCHAR"]  # fmt: skip
        for c in cols:
            for (v,) in con.execute(f'SELECT DISTINCT "{c}" FROM {t} WHERE "{c}" IS NOT NULL').fetchall():
                assert not contains_secret(v) and not [f for f in SECRET_FRAGMENTS if f in v], (t, c, v)
    con.close()


def test_steady_keeps_every_trace_whole_and_fits_the_budget(cli: Cli) -> None:
    r = cli("replay", "--scenario", "steady", "--assert", "trace_integrity>=0.99", "--assert", "cost_usd<10",
            "--assert", "quota_pct<=100", "--assert", "browser.accepted>0")  # fmt: skip
    assert r.exit_code == ExitCode.OK, r.stderr
    assert "PASS cost_usd<10: " in r.stderr
    assert "trace integrity: 1" in r.stdout


# --- outputs, thresholds, exit codes ---------------------------------------------------------------


def test_the_same_seed_gives_identical_json(cli: Cli) -> None:
    a = cli("replay", "--scenario", "loop-storm", "--format", "json")
    b = cli("replay", "--scenario", "loop-storm", "--format", "json")
    c = cli("replay", "--scenario", "loop-storm", "--format", "json", "--param", "seed=9")
    assert a.exit_code == b.exit_code == c.exit_code == ExitCode.OK
    assert a.stdout_bytes == b.stdout_bytes
    assert a.stdout_bytes != c.stdout_bytes


@pytest.mark.parametrize(
    ("asserts", "code"),
    [
        (["quota_pct<=100", "trace_integrity>=0.99"], ExitCode.OK),
        (["quota_pct<=100", "events<10"], ExitCode.CHECK_FAILED),
        (["essential.errors_through>=1"], ExitCode.CHECK_FAILED),  # not measured: no essential phase
        (["no_such_metric<1"], ExitCode.USAGE),
        (["redactions.jwt==0", "redactions.private_key==0"], ExitCode.OK),  # a kind none was found of: 0
        (
            ["cost_usd.convex-starter<10", "cost_usd.cloudflare-workers-paid-2024<10"],
            ExitCode.OK,
        ),  # built-ins
        (["redactions.jtw==0"], ExitCode.USAGE),
        (["cost_usd.no-such-model<10"], ExitCode.USAGE),
        (["cost_usd is cheap"], ExitCode.USAGE),
    ],
)
def test_assert_exit_codes(cli: Cli, asserts: list[str], code: ExitCode) -> None:
    args = [a for x in asserts for a in ("--assert", x)]
    r = cli("replay", "--scenario", "steady", *args, "--format", "json")
    assert r.exit_code == code, r.stderr


def test_each_threshold_is_printed_beside_its_value(cli: Cli) -> None:
    r = cli(
        "replay", "--scenario", "steady", "--assert", "events<10", "--assert", "worker.dropped.rate_limit==0"
    )
    assert r.exit_code == ExitCode.CHECK_FAILED
    lines = r.stderr.splitlines()
    assert any(line.startswith("FAIL events<10: 146") for line in lines), r.stderr
    assert "PASS worker.dropped.rate_limit==0: 0" in lines
    assert "FAIL" in r.stdout and "events<10" in r.stdout  # and in the report's thresholds table


def test_junit_is_parsed_back_with_one_case_per_threshold(cli: Cli) -> None:
    r = cli("replay", "--scenario", "steady", "--format", "junit", "--assert", "quota_pct<=100",
            "--assert", "accepted<5")  # fmt: skip
    assert r.exit_code == ExitCode.CHECK_FAILED
    root = ET.fromstring(r.stdout_bytes)
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "1"
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert set(cases) == {"quota_pct<=100", "accepted<5"}
    assert cases["quota_pct<=100"].find("failure") is None
    failure = cases["accepted<5"].find("failure")
    assert failure is not None and "146" in (failure.get("message") or "")
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["events"] == "146"
    # numbers a CI script parses: a replay of over 999 events wrote `8,250`
    big = cli("replay", "--scenario", "steady", "--param", "scale=50", "--format", "junit")
    root = ET.fromstring(big.stdout_bytes)
    values = [p.get("value") or "" for p in root.iter("property")]
    assert values and not any("," in v for v in values)
    events = {p.get("name"): p.get("value") for p in root.iter("property")}["events"]
    assert events is not None and int(events) > 1000


@pytest.mark.parametrize("fmt", list(ReplayFormat))
def test_every_format_renders(cli: Cli, fmt: ReplayFormat) -> None:
    r = cli("replay", "--scenario", "steady", "--format", fmt.value)
    assert r.exit_code == ExitCode.OK, r.stderr
    assert r.stdout.strip()
    if fmt is ReplayFormat.table:
        assert "offered vs accepted" in r.stdout and ("▁" in r.stdout or "█" in r.stdout)


def test_json_has_the_per_minute_series_per_system(cli: Cli) -> None:
    res = run_json(cli, "--scenario", "flood-browser")
    s = res["series"]
    assert s["bucket_ms"] == 60_000 and s["buckets"] == 20
    browser = s["systems"]["browser"]
    assert sum(browser["offered"]) == res["systems"]["browser"]["offered"]
    assert sum(browser["accepted"]) == res["systems"]["browser"]["accepted"]
    assert sum(browser["dropped"]["rate_limit"]) == res["systems"]["browser"]["dropped"]["rate_limit"]
    assert max(browser["accepted"]) <= 50 + 25  # a minute's limit plus the trace-aware grace
    assert max(browser["offered"]) > 2500


def test_svg_chart_is_well_formed(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "c.svg"
    r = cli("replay", "--scenario", "flood-worker", "--svg", str(out), "--format", "json")
    assert r.exit_code == ExitCode.OK, r.stderr
    root = ET.fromstring(out.read_bytes())
    assert root.tag.endswith("svg")
    assert len(root.findall(".//{http://www.w3.org/2000/svg}polyline")) == 6  # offered + accepted × 3 systems


def test_compare_policy_runs_the_same_load_side_by_side(cli: Cli, tmp_path: Path) -> None:
    plain = write_policy(tmp_path, "[trace_aware]\nenabled = false\n", "no-trace-aware.toml")
    r = cli("replay", "--scenario", "flood-browser", "--compare-policy", plain, "--format", "json",
            "--assert", "compare.dropped.trace==0", "--assert", "dropped.trace>0")  # fmt: skip
    assert r.exit_code == ExitCode.OK, r.stderr
    res = r.json()
    other = res["compare"]["result"]
    assert other["metrics"]["events"] == res["metrics"]["events"]  # the same load
    assert other["policy"]["digest"] != res["policy"]["digest"]
    assert res["compare"]["delta"]["dropped.trace"] == -res["metrics"]["dropped.trace"]
    assert other["metrics"]["trace_integrity"] <= res["metrics"]["trace_integrity"]
    table = cli("replay", "--scenario", "flood-browser", "--compare-policy", plain)
    assert table.exit_code == ExitCode.OK and "side by side" in table.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("--scenario", "nope"),
        ("--scenario", "steady", "--speed", "2"),
        ("--param", "duration=1h"),
        ("--scenario", "steady", "--bucket", "soon"),
        ("--scenario", "steady", "--bucket", "10s"),  # it became 1 min without a word
        ("--scenario", "steady", "--bucket", "90s"),
        ("--scenario", "steady", "--model", "no-such-model"),
    ],
)
def test_usage_errors_exit_2(cli: Cli, args: tuple[str, ...]) -> None:
    r = cli("replay", *args)
    assert r.exit_code == ExitCode.USAGE, r.stderr
    assert r.stderr.startswith("error: ")


@pytest.mark.parametrize("how", ["name of a --pricing file", "path", "built-in name"])
def test_model_is_a_built_in_name_a_file_or_a_pricing_models_name(cli: Cli, tmp_path: Path, how: str) -> None:
    # replay --model wanted a path (the name of a --pricing file was "neither a built-in model nor a file");
    # budget check wanted a name: both take either now (`budget.pricing.select_models`)
    plan = tmp_path / "my.toml"
    plan.write_text(
        'name = "mine"\ntitle = "My plan"\nas_of = "2026-01-01"\nsources = ["me"]\n'
        '[[resources]]\nname = "writes"\nunit = "write"\nprice_usd = 2\nper = 1_000_000\n'
    )
    args = {
        "name of a --pricing file": ("--pricing", str(plan), "--model", "mine"),
        "path": ("--model", str(plan)),
        "built-in name": ("--model", "convex-starter"),
    }[how]
    res = run_json(cli, "--scenario", "steady", *args)
    name = "convex-starter" if how == "built-in name" else "mine"
    assert res["cost_model"] == name
    assert res["metrics"]["cost_usd"] == res["metrics"][f"cost_usd.{name}"]


def test_help_and_list(cli: Cli) -> None:
    r = cli("replay", "--help")
    assert r.exit_code == ExitCode.OK and "Example: logcorr replay" in r.stdout
    r = cli("replay", "--list")
    assert r.exit_code == ExitCode.OK
    assert [line.split()[0] for line in r.stdout.splitlines()] == [
        "steady", "flood-browser", "flood-worker", "flood-backend", "loop-storm", "dev-noise",
        "duplicate-delivery", "secrets", "month",
    ]  # fmt: skip


def test_month_scenario_shape_over_a_short_slice(cli: Cli) -> None:
    # the full month is scripts/bench_replay.py's job (its ≥ 10 events/s average: test_replay_synth);
    # the first night hours of it exercise floods, loops, noise and retries
    res = run_json(cli, "--scenario", "month", "--param", "duration=3h", "--bucket", "1h")
    m = res["metrics"]
    assert res["series"]["bucket_ms"] == 3_600_000 and res["series"]["buckets"] == 3
    assert m["browser.dropped.rate_limit"] > 10_000  # the 02:00 browser flood
    assert m["dropped.duplicate"] > 0 and m["dropped.suppress"] > 0 and m["dropped.loop"] > 0
    assert m["max_identical_per_s"] <= 5 and m["quota_pct"] <= 100


def test_every_metric_a_replay_reports_is_one_an_assert_may_name_before_the_run(cli: Cli) -> None:
    """An unknown metric in --assert fails before the replay runs (it failed after a month's replay, minutes
    later); so the names checked first must cover every metric a replay reports."""
    from logcorr.replay.asserts import is_known

    r = cli("replay", "--scenario", "secrets", "--format", "json")
    assert r.exit_code == ExitCode.OK, r.stderr
    metrics = r.json()["metrics"]
    assert any(k.startswith("redactions.") for k in metrics) and any(
        k.startswith("cost_usd.") for k in metrics
    )
    assert [k for k in metrics if not is_known(k)] == []
    assert not is_known("nosuch") and not is_known("browser.nosuch") and not is_known("cost_usd.")
    assert is_known("compare.quota_pct") and is_known("worker.dropped.loop")
    bad = cli("replay", "--scenario", "month", "--assert", "trace_integrty>=0.99")
    assert bad.exit_code == ExitCode.USAGE
    assert "unknown metric 'trace_integrty'" in bad.stderr and "trace_integrity" in bad.stderr


@pytest.mark.parametrize(
    ("metric", "says"),
    [
        ("cost_usd.no-such-model<10", "unknown metric 'cost_usd.no-such-model' in --assert"),
        ("redactions.jtw==0", "unknown metric 'redactions.jtw' in --assert"),
        ("compare.quota_pct<=100", "there is no --compare-policy result to read"),
    ],
)
def test_a_metric_no_replay_would_report_is_refused_before_the_run(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, metric: str, says: str
) -> None:
    # a cost model nobody simulates, or compare.* without --compare-policy, failed after the replay (minutes of
    # the month scenario)
    from logcorr.replay import run as replay_run

    def never(*_: Any, **__: Any) -> Any:
        raise AssertionError("the replay ran")

    monkeypatch.setattr(replay_run, "replay", never)
    r = cli("replay", "--scenario", "month", "--assert", metric)
    assert r.exit_code == ExitCode.USAGE and says in r.stderr, r.stderr


def test_every_redaction_kind_is_a_metric_zero_when_none() -> None:
    from logcorr.replay.asserts import redaction_kinds
    from logcorr.rules.redact import Redactor

    kinds = redaction_kinds()
    assert {"jwt", "password", "openai_key", "url_credentials", "cookie", "secret"} <= set(kinds)
    assert not {"kv", "pair", "url_user", "ck_key", "kv_val", "su_key"} & set(kinds)  # helper groups
    r = Redactor()
    r.value({"message": "token=abcdefgh12345678 eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.abcdefghijk", "pwd": "x1"})
    assert set(r.counts) <= set(kinds) and len(r.counts) == 3
    from logcorr.replay.asserts import is_known

    assert all(is_known(f"redactions.{k}") for k in kinds)


def test_no_redaction_metric_names_a_kind_the_redactor_never_writes() -> None:
    # a git remote's token is written and counted as `url_credentials`: a `redactions.url_token` metric
    # stayed 0 whatever was found, so `--assert 'redactions.url_token==0'` passed on a leak it had replaced
    from logcorr.replay.asserts import redaction_kinds
    from logcorr.rules.redact import Redactor

    r = Redactor()
    out = r.text("git push https://abcdEFGH1234ijklMNOP5678@github.com/o/r.git")
    assert out == "git push https://[REDACTED:url_credentials]@github.com/o/r.git"
    assert dict(r.counts) == {"url_credentials": 1}
    assert "url_token" not in redaction_kinds() and "url_credentials" in redaction_kinds()


def test_control_characters_of_a_name_leave_the_junit_report_and_the_chart_parseable() -> None:
    # XML 1.0 cannot hold them: a scenario named with one gave a report no JUnit reader could open
    from xml.etree import ElementTree as ET

    from logcorr.budget.check import Threshold
    from logcorr.render.budget import to_junit as budget_junit
    from logcorr.render.replay import to_junit as replay_junit
    from logcorr.replay.asserts import Check, parse
    from logcorr.replay.chart import svg

    result = {"replay": {"name": "steady\x1b[2J\x07"}, "metrics": {}}
    check = Check(parse("cost_usd<10"), 12.5, False)
    root = ET.fromstring(replay_junit(result, [check]))
    assert root.find("testsuite").get("name") == "logcorr replay steady\\x1b[2J\\x07"  # type: ignore[union-attr]
    threshold = Threshold("cost\x1b", "<= $10", "$1\x00", True, "detail\x0c", "usd", 1.0, 10.0)
    ET.fromstring(budget_junit([threshold], {"total": {"quota_pct": 1.0}, "costs": []}))
    series = {"systems": {}, "buckets": 1, "start": "2024-06-01T00:00:00Z", "bucket_ms": 60_000}
    assert "\\x1b" in ET.tostring(
        ET.fromstring(svg(series, "title\x1b", "2024-06-01T00:01:00Z")), encoding="unicode"
    )


def test_the_headline_gives_a_low_rate_in_a_unit_that_shows_it(cli: Cli) -> None:
    # `steady` said (0.04/s), a week's exports (0.00/s): a rate that rounds to nothing tells nothing
    r = cli("replay", "--scenario", "steady")
    assert r.exit_code == ExitCode.OK, r.stderr
    assert "146 events over 1 h from 2025-06-02 09:00 (2.43/min) · policy" in r.stdout.splitlines()[0]
    r = cli("replay", "--scenario", "flood-browser")
    assert "(22.5/s)" in r.stdout.splitlines()[0]


class _DistinctTraces:
    """A load of one browser event every 10 ms, each of its own trace, for `minutes`: past the rate limit,
    almost every trace is refused."""

    kind = "test"
    view = "SELECT ts_ms, system, level, trace_id, fingerprint, tpl, d FROM replay_chunk_raw"
    start_ms = 1_717_200_000_000

    def __init__(self, minutes: int) -> None:
        self.end_ms = self.start_ms + minutes * 60_000

    def prepare(self, con: Any, policy: Policy) -> None:
        """Nothing to prepare."""

    def windows(self) -> list[tuple[int, int]]:
        return [(t, t + 300_000) for t in range(self.start_ms, self.end_ms, 300_000)]

    def chunk_sql(self, c0: int, c1: int) -> str:
        return f"""SELECT ts_ms, 'browser' AS system, 'log' AS level, 't' || ts_ms AS trace_id, 'f' || ts_ms AS
            fingerprint, NULL::VARCHAR AS suppressed, false AS dup, NULL::INTEGER AS tpl
            FROM range({c0}, {c1}, 10) r(ts_ms)"""

    def columns(self, batch: Any) -> dict[str, list[Any]]:
        from logcorr.rules.engine import COLUMNS

        cols: dict[str, list[Any]] = batch.select(list(COLUMNS[1:])).to_pydict()
        return cols


def test_the_replay_forgets_a_refused_trace_minutes_after_its_refusal_not_an_hour() -> None:
    # the live traces grew with --multiply's density: 280,000 refused ones (1 KB each) at ×20 of a million events
    from logcorr.replay.drive import drive

    tally = drive(duckdb.connect(), _DistinctTraces(20), Policy())
    assert tally.events == 120_000 and tally.engine.stats["trace_refused"] > 110_000
    # those refused since the sweep before the last (every 5 minutes: 6 minutes' 36,000) and the few admitted,
    # not the 20 minutes' 120,000 traces
    assert len(tally.engine.state.traces) < 37_000
