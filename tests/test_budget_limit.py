"""`budget simulate`'s limit is on the events the rule engine decides, not on those it counts: copies decided alike
are counted (`logcorr.sim.steady`), so a month of billions of events runs in seconds; a load that would decide too
many is refused before deciding any when that is certain, else stopped, saying how far it got and what to do."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from logcorr.errors import ExitCode
from logcorr.pipeline.ingest import ingest
from logcorr.sim import load
from tests.conftest import FIXTURES, CliResult

SYSTEMS = ("browser", "worker", "backend")


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The bundled sample (`fixtures/`): 92 events in a minute, 44,640 copies in May's 31 days."""
    db = str(tmp_path_factory.mktemp("limit") / "sample.duckdb")
    ingest([str(FIXTURES)], db)
    return db


def _simulate(cli: Callable[..., CliResult], db: str, scale: str) -> CliResult:
    return cli("budget", "simulate", "--db", db, "--scale", scale, "--format", "json")


def _offered(res: dict[str, Any]) -> dict[str, Any]:
    return {
        "systems": {s: res["systems"][s]["offered"] for s in SYSTEMS},
        "daily": [[d[f"{s}_offered"] for s in SYSTEMS] for d in res["daily"]],
    }


def test_a_scale_beyond_a_billion_events_counted_runs_and_offers_each_copy_that_many_times(
    cli: Callable[..., CliResult], sample: str
) -> None:
    # 300x is 1.2 billion events: refused while the limit was on the events counted (at most --scale 243); it
    # decides 662,400
    once, many = _simulate(cli, sample, "1x"), _simulate(cli, sample, "300x")
    assert once.exit_code == many.exit_code == ExitCode.OK, many.stderr
    one, res = once.json(), many.json()
    assert res["total"]["offered"] == 300 * one["total"]["offered"] == 300 * 92 * 44_640 > 10**9
    scaled = _offered(one)
    scaled["systems"] = {s: 300 * n for s, n in scaled["systems"].items()}
    scaled["daily"] = [[300 * n for n in day] for day in scaled["daily"]]
    assert _offered(res) == scaled
    # the rules still hold: the month's writes within its quota, the rest dropped
    assert res["total"]["accepted"] <= res["total"]["quota"] and res["degraded"]


def test_a_fractional_scale_beyond_the_limit_is_refused_before_any_event_is_decided(
    cli: Callable[..., CliResult], sample: str
) -> None:
    # a fractional scale keeps another share of each copy: every copy is decided, 276M events
    r = _simulate(cli, sample, "67.5x")
    assert r.exit_code == ExitCode.USAGE and r.stdout == ""
    error, hint = r.stderr.splitlines()
    assert error == (
        "error: --scale 67.5 would simulate about 2.77e+08 events (92 observed, repeated 44,640 times over the "
        "month), every one decided by the rules (a fractional scale keeps another share of each copy); a "
        "simulation decides at most 250,000,000"
    )
    assert hint == (
        "hint: a whole --scale (copies alike are then counted, not decided), or at most --scale 60.9, or a longer "
        "--period for these events"
    )


def test_a_scale_whose_first_copies_alone_pass_the_limit_is_refused_before_any_event_is_decided(
    cli: Callable[..., CliResult], sample: str
) -> None:
    r = _simulate(cli, sample, "10000000x")
    assert r.exit_code == ExitCode.USAGE and r.stdout == ""
    assert r.stderr.splitlines() == [
        "error: --scale 1e+07 would simulate about 4.11e+13 events (92 observed, repeated 44,640 times over the "
        "month); the rules decide every event of the first 2 copies at least, about 1.84e+09; a simulation "
        "decides at most 250,000,000",
        "hint: at most --scale 1.36e+06 for these events",
    ]


def test_a_month_whose_copies_keep_changing_is_stopped_at_the_limit_saying_how_far_it_got(
    cli: Callable[..., CliResult], sample: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # at 300x the rules decide 662,400 of the month's 1.2 billion events (27,600 a copy), its state changing
    # from copy to copy until the quota is used up: under a limit of 200,000 it stops in copy 17
    monkeypatch.setattr(load, "MAX_DECIDED", 200_000)
    r = _simulate(cli, sample, "300x")
    assert r.exit_code == ExitCode.USAGE and r.stdout == ""
    error, hint = r.stderr.splitlines()
    assert error.startswith(
        "error: --scale 300 would simulate about 1.23e+09 events (92 observed, repeated 44,640 times over the "
        "month): stopped in copy "
    )
    where, decided, counted = re.fullmatch(
        r".*: stopped in copy (\d+) \(day 1\) with ([\d,]+) events decided by the rules and ([\d,]+) counted "
        r"\(copies decided alike are counted, not decided again\); a simulation decides at most 200,000",
        error,
    ).groups()  # type: ignore[union-attr]
    assert where == "17" and 200_000 - 131_072 < int(decided.replace(",", "")) <= 200_000
    assert int(counted.replace(",", "")) > int(decided.replace(",", ""))
    assert hint == "hint: a smaller --scale, or a longer --period if these events represent more time"


def test_a_limit_the_decided_events_stay_under_gives_the_month_unchanged(
    cli: Callable[..., CliResult], sample: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 100x decides 294,400 of its 411M events
    free = _simulate(cli, sample, "100x")
    monkeypatch.setattr(load, "MAX_DECIDED", 300_000)
    bound = _simulate(cli, sample, "100x")
    assert free.exit_code == bound.exit_code == ExitCode.OK, bound.stderr
    assert free.stdout == bound.stdout
