"""Replay scenarios and their generator: TOML validation, overrides, arrival counts of the k6-style
executors, windows that partition the events exactly, trace shapes, and the message pipeline."""

from __future__ import annotations

import re
from itertools import pairwise
from pathlib import Path
from typing import Any

import duckdb
import pytest

from logcorr.errors import ConfigError, ExitCode, UsageError
from logcorr.replay import synth
from logcorr.replay.scenario import BUILTIN, load_scenario
from logcorr.replay.synth import SyntheticLoad
from logcorr.rules.fingerprint import fingerprint
from logcorr.rules.policy import Policy
from logcorr.rules.redact import contains_secret

TRACE_RX = re.compile(r"^trace_\d+_[a-z0-9]+$")  # the live system's own test regex


def events(
    load: SyntheticLoad, windows: list[tuple[int, int]] | None = None, policy: Policy | None = None
) -> list[tuple[Any, ...]]:
    """Every generated row (ts, trace id, dup, template) over `windows` (default: the load's own)."""
    con = duckdb.connect()
    load.prepare(con, policy or Policy())
    out: list[tuple[Any, ...]] = []
    for c0, c1 in windows or load.windows():
        sql = load.chunk_sql(c0, c1)
        if sql is not None:
            out.extend(con.sql(sql).fetchall())
    con.close()
    return out


def scenario_file(tmp_path: Path, body: str, name: str = "s.toml") -> str:
    p = tmp_path / name
    p.write_text(body, encoding="utf-8")
    return str(p)


ONE_FLOW = """
name = "t"
seed = 7
start = "2025-06-02T00:00:00Z"
duration = "{duration}"
[flows.f]
{flow}
steps = [{{ system = "browser", message = "m {{v}}", variants = 3 }}]
"""


@pytest.mark.parametrize("name", BUILTIN)
def test_every_builtin_scenario_validates(name: str) -> None:
    sc, source, _ = load_scenario(name)
    assert sc.name == name
    assert source == f"built-in:{name}"
    assert sc.flows


def test_constant_arrival_rate_emits_rate_times_duration(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, ONE_FLOW.format(duration="10m", flow='rate = 30\ntime_unit = "1m"'))
    sc, _, _ = load_scenario(path)
    rows = events(SyntheticLoad(sc, path, {}))
    assert len(rows) == 300
    gaps = {b[0] - a[0] for a, b in pairwise(rows)}
    assert gaps == {2000}  # evenly spaced, as k6's constant-arrival-rate


def test_ramping_arrival_rate_follows_its_stages(tmp_path: Path) -> None:
    flow = ('executor = "ramping-arrival-rate"\nstart_rate = 0\ntime_unit = "1s"\n'
            'stages = [{ duration = "1m", target = 10 }, { duration = "2m", target = 10 }, { duration = "1m", target = 0 }]')  # fmt: skip
    path = scenario_file(tmp_path, ONE_FLOW.format(duration="4m", flow=flow))
    sc, _, _ = load_scenario(path)
    rows = events(SyntheticLoad(sc, path, {}))
    assert len(rows) == 300 + 1200 + 300  # the area under the rate: ramps count half
    per_min = [sum(1 for r in rows if m * 60_000 <= r[0] - sc.start_ms < (m + 1) * 60_000) for m in range(4)]
    assert per_min == [300, 600, 600, 300]


def test_cycled_stages_repeat_until_the_flow_ends(tmp_path: Path) -> None:
    flow = ('executor = "ramping-arrival-rate"\ntime_unit = "1m"\ncycle = true\n'
            'stages = [{ duration = "30m", target = 0 }, { duration = "30m", target = 0 }, { duration = "1m", target = 60 }, '
            '{ duration = "1m", target = 0 }, { duration = "58m", target = 0 }]')  # fmt: skip
    path = scenario_file(tmp_path, ONE_FLOW.format(duration="6h", flow=flow))
    sc, _, _ = load_scenario(path)
    rows = events(SyntheticLoad(sc, path, {}))
    hours = sorted({(r[0] - sc.start_ms) // 3_600_000 for r in rows})
    assert hours == [1, 3, 5]  # one burst in the second hour of every two-hour cycle
    assert len(rows) == 3 * 60


def test_windows_partition_the_events_exactly() -> None:
    sc, source, params = load_scenario("loop-storm")
    load = SyntheticLoad(sc, source, params)
    whole = events(load, [(load.start_ms, load.end_ms)])
    minutes = [(t, t + 60_000) for t in range(load.start_ms, load.end_ms, 60_000)]
    odd = [(t, t + 7_919) for t in range(load.start_ms, load.end_ms, 7_919)]
    assert events(load, minutes) == whole
    assert events(load, odd) == whole
    assert len(whole) > 5000


def test_steady_traces_cross_the_three_systems_with_live_style_ids() -> None:
    sc, source, params = load_scenario("steady")
    load = SyntheticLoad(sc, source, params)
    rows = events(load)
    systems: dict[str, list[tuple[int, str]]] = {}
    for ts, tid, _dup, tpl in rows:
        if tid is not None:
            systems.setdefault(tid, []).append((ts, load.templates[tpl].system))
    assert all(TRACE_RX.match(t) for t in systems)
    full = [
        evs for evs in systems.values() if [s for _, s in sorted(evs)][:3] == ["browser", "worker", "backend"]
    ]
    assert len(full) >= 20
    for tid, evs in systems.items():
        assert int(tid.split("_")[1]) <= min(ts for ts, _ in evs)  # the id's ms is the trace's start


def test_same_seed_same_events_other_seed_other_events() -> None:
    def run(params: list[str]) -> list[tuple[Any, ...]]:
        sc, source, applied = load_scenario("steady", params)
        return events(SyntheticLoad(sc, source, applied))

    assert run([]) == run([])
    assert run(["seed=43"]) != run([])


def test_params_override_nested_fields_and_list_items() -> None:
    sc, _, applied = load_scenario("duplicate-delivery", ["duration=2h", "flows.stream.rate=8",
                                                          "flows.stream.steps.0.redeliver=0", "flows.cron.enabled=false"])  # fmt: skip
    assert sc.duration == 7_200_000
    assert sc.flows["stream"].rate == 8
    assert sc.flows["stream"].steps[0].redeliver == 0
    assert not sc.flows["cron"].enabled
    assert applied["duration"] == "2h"


@pytest.mark.parametrize(
    ("params", "error"),
    [
        (["nonsense"], UsageError),
        (["flows.stream.steps.9.rate=1"], UsageError),
        (["flows.stream.rate=-1"], ConfigError),
        (["flows.stream.bogus=1"], ConfigError),
        (["duration=forever"], ConfigError),
        (["flows.stream.rate=inf"], ConfigError),
        (["flows.stream.rate=nan"], ConfigError),
        (["scale=inf"], ConfigError),
    ],
)
def test_bad_params_are_usage_or_config_errors(params: list[str], error: type[Exception]) -> None:
    with pytest.raises(error):
        load_scenario("duplicate-delivery", params)


@pytest.mark.parametrize("rate", ["1e12", "1e308"])
def test_a_scenario_beyond_a_billion_events_is_refused_before_it_runs(rate: str) -> None:
    sc, source, params = load_scenario("steady", ["duration=1m", f"flows.action.rate={rate}"])
    with pytest.raises(
        ConfigError, match=r"would generate about .* events; a replay takes at most 1,000,000,000"
    ):
        SyntheticLoad(sc, source, params)


def test_a_user_scenario_extends_a_builtin_and_switches_flows_off(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, 'extends = "steady"\nname = "mine"\n[flows.cron]\nenabled = false\n'
                                   '[flows.extra]\nrate = 1\nsteps = [{ system = "worker", message = "x" }]\n')  # fmt: skip
    sc, _, _ = load_scenario(path)
    assert sc.name == "mine"
    assert set(sc.flows) == {"action", "page", "cron", "health", "extra"}
    load = SyntheticLoad(sc, path, {})
    assert "cron" not in load.header()["flows"]


def test_executor_fields_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs `rate`"):
        load_scenario(scenario_file(tmp_path, ONE_FLOW.format(duration="1m", flow="")))
    with pytest.raises(ConfigError, match="needs `stages`"):
        load_scenario(
            scenario_file(tmp_path, ONE_FLOW.format(duration="1m", flow='executor = "ramping-arrival-rate"'))
        )
    with pytest.raises(ConfigError, match="neither a built-in"):
        load_scenario(str(tmp_path / "missing.toml"))


def test_messages_go_through_redaction_suppression_and_fingerprint_like_ingest() -> None:
    sc, _, _ = load_scenario("dev-noise")
    templates, _ = synth.build_templates(sc, Policy())
    by_text = {t.message: t for t in templates}
    assert by_text["[HMR] connected"].suppressed == "[HMR]"
    assert by_text["Claude logging provider initialized"].suppressed == "Claude logging provider initialized"
    oauth = [t for t in templates if t.message.startswith("OAuth callback")]
    assert oauth and all(not contains_secret(t.message) and "[REDACTED:" in t.message for t in oauth)
    assert all(t.fingerprint == fingerprint(t.message) for t in templates)
    assert oauth[0].redactions["access_token"] == 1  # the context's token
    raw = Policy.model_validate({"redaction": {"enabled": False}, "suppression": {"enabled": False}})
    plain, _ = synth.build_templates(sc, raw)
    assert any("ya29." in t.message for t in plain) and all(t.suppressed is None for t in plain)


def test_month_averages_at_least_ten_events_a_second_over_one_budget_month() -> None:
    sc, source, params = load_scenario("month")
    load = SyntheticLoad(sc, source, params)
    assert sc.duration == 30 * 86_400_000
    assert sc.start.day == 1 and sc.start.hour == 0
    assert load.expected / (sc.duration / 1000) >= 10
    assert len(load.windows()) > 1


def test_a_scenario_that_offers_no_event_is_refused_not_passed(tmp_path: Path, cli: Any) -> None:
    # a flow started after the end replayed 0 events, exit 0, and `cost_usd<10` passed on nothing
    path = scenario_file(
        tmp_path, ONE_FLOW.format(duration="1h", flow='rate = 5\ntime_unit = "1m"\nstart = "2h"')
    )
    r = cli("replay", "--scenario", path, "--assert", "cost_usd<10")
    assert r.exit_code == ExitCode.USAGE
    assert r.stdout == ""
    assert "offers no event to replay: flow f emits no event: it starts at 2.0 h" in r.stderr
    for param in ("flows.f.rate=0", "flows.f.enabled=false", "flows.f.steps.0.probability=0"):
        r = cli("replay", "--scenario", "steady", "-p", "flows.action.enabled=false", "-p", "flows.page.enabled=false",
                "-p", "flows.cron.enabled=false", "-p", "flows.health.enabled=false",
                "-p", 'flows.f.steps=[{system="browser", message="m"}]', "-p", "flows.f.rate=1",
                "-p", param)  # fmt: skip
        assert r.exit_code == ExitCode.USAGE, (param, r.stderr)
        assert "offers no event to replay" in r.stderr


def test_a_flow_that_emits_nothing_is_said_on_stderr_and_in_the_notes(cli: Any) -> None:
    # a prefix of `month` is a fair question, but its floods that start later are not in it: say so
    r = cli("replay", "--scenario", "month", "-p", "duration=3h", "--format", "json")
    assert r.exit_code == ExitCode.OK, r.stderr
    said = "flow flood-backend emits no event: it starts at 18.0 h, at or after the scenario's end (3.0 h)"
    assert f"note: {said}" in r.stderr
    assert said in r.json()["notes"]
    assert "flood-browser emits" not in r.stderr


def test_a_param_of_no_flow_names_the_flows_there_are() -> None:
    # it said `flows.chekout.steps: Field required`, of a flow the user never meant to add
    with pytest.raises(
        UsageError,
        match=r"--param flows\.acton\.rate: the scenario has no flow 'acton' \(did you mean action\?\)",
    ) as e:
        load_scenario("steady", ["flows.acton.rate=1"])
    assert "its flows: action, cron, health, page" in (e.value.hint or "")
    sc, _, _ = load_scenario(
        "steady", ["flows.new.rate=1", 'flows.new.steps=[{system = "browser", message = "hi"}]']
    )
    assert sc.flows["new"].rate == 1  # a new flow, steps and all, is still one


@pytest.mark.parametrize(
    ("param", "said"),
    [
        ("flows.action.rat=1", "flows.action.rat: unknown field (did you mean rate?)"),
        (
            "flows.action.steps.0.levle=warn",
            "flows.action.steps.0.levle: unknown field (did you mean level?)",
        ),
    ],
)
def test_a_misspelt_field_inside_a_flow_names_the_one_meant(param: str, said: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_scenario("steady", [param])
    assert said in str(e.value)


LINED = """name = "checkout"
duration = "1h"

[flows.checkout]
rate = -5
time_unit = "1m"
steps = [
  { system = "browser", message = "checkout {v}", variants = 10 },
  { system = "worker", message = "POST /log 200", after = "35sec" },
]
"""


def test_a_scenario_files_bad_fields_are_named_with_their_lines(tmp_path: Path) -> None:
    # the field's path alone left the user to count a flow's steps in a long file
    path = scenario_file(tmp_path, LINED)
    with pytest.raises(ConfigError) as e:
        load_scenario(path)
    assert str(e.value).splitlines()[1:] == [
        "  flows.checkout.rate: Input should be greater than or equal to 0 (line 5)",
        "  flows.checkout.steps.1.after: '35sec' is not a duration; write it like 500ms, 90s, 30m, 2h, 1d "
        "or 1h30m (line 9)",
    ]
    # a value an override set is not in the file: said as such, not given the file's line
    with pytest.raises(ConfigError) as e:
        load_scenario(path, ["flows.checkout.steps.1.after=20ms", "flows.checkout.steps.0.variants=0"])
    assert str(e.value).splitlines()[1:] == [
        "  flows.checkout.rate: Input should be greater than or equal to 0 (line 5)",
        "  flows.checkout.steps.0.variants: Input should be greater than or equal to 1 (set by --param)",
    ]
