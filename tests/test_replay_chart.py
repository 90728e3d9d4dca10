"""Replay charts and threshold parsing, without running a replay."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from logcorr.errors import ExitCode, UsageError
from logcorr.replay.asserts import evaluate, parse
from logcorr.replay.chart import BLOCKS, rebucket, svg, terminal

SERIES = {
    "start": "2025-06-02T09:00:00Z",
    "bucket_ms": 60_000,
    "buckets": 4,
    "systems": {
        "browser": {"offered": [10, 3000, 3000, 0], "accepted": [10, 50, 25, 0], "dropped": {}},
        "worker": {"offered": [2, 2, 2, 2], "accepted": [2, 2, 2, 2], "dropped": {}},
    },
}


def test_rebucket_sums_into_at_most_width_columns() -> None:
    assert rebucket([1, 2, 3, 4, 5, 6], 3) == [3, 7, 11]
    assert rebucket([1, 2], 10) == [1, 2]
    assert sum(rebucket(list(range(1000)), 7)) == sum(range(1000))


def test_terminal_chart_puts_offered_and_accepted_on_one_log_scale() -> None:
    lines = terminal(SERIES, "2025-06-02T09:04:00Z")
    assert lines[0].startswith("offered vs accepted per min (log scale)")
    browser_offered, browser_accepted = lines[1], lines[2]
    assert browser_offered.startswith("browser  offered ")
    assert "max 3,000/min" in browser_offered and "max 50/min" in browser_accepted
    row = browser_accepted.split()[1]
    assert row[0] in BLOCKS and BLOCKS.index(row[1]) < 8  # 50 of 3,000 is a low block, but not empty
    assert terminal({**SERIES, "systems": {}}, "x") == ["(no events)"]


def test_svg_has_a_panel_per_system_and_escapes_text() -> None:
    doc = svg(SERIES, "replay <a & b>", "2025-06-02T09:04:00Z")
    root = ET.fromstring(doc)
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f"{ns}polyline")) == 4
    assert "replay <a & b>" in [t.text for t in root.iter(f"{ns}text")]


@pytest.mark.parametrize(
    ("text", "metric", "op", "limit"),
    [
        ("cost_usd<10", "cost_usd", "<", 10.0),
        (" trace_integrity >= 0.99 ", "trace_integrity", ">=", 0.99),
        ("quota_pct<=100%", "quota_pct", "<=", 100.0),
        ("cost_usd.convex-professional<$30", "cost_usd.convex-professional", "<", 30.0),
        ("browser.dropped.rate_limit==0", "browser.dropped.rate_limit", "==", 0.0),
        ("compare.events!=1e3", "compare.events", "!=", 1000.0),
    ],
)
def test_thresholds_parse(text: str, metric: str, op: str, limit: float) -> None:
    a = parse(text)
    assert (a.metric, a.op, a.limit) == (metric, op, limit)


@pytest.mark.parametrize("text", ["", "cost_usd", "cost_usd < ten", "<10", "cost_usd =< 10"])
def test_malformed_thresholds_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse(text)


def test_thresholds_check_values_and_fail_when_not_measured() -> None:
    result = {"metrics": {"a": 5, "b": None, "c": 0.5}}
    checks = evaluate(result, ["a<=5", "a<5", "b>=1", "c>0.4"])
    assert [c.passed for c in checks] == [True, False, False, True]
    with pytest.raises(UsageError, match="unknown metric 'aa'") as e:
        evaluate(result, ["aa<1"])
    assert e.value.hint is not None and "did you mean a" in e.value.hint
    with pytest.raises(UsageError, match="compare-policy"):
        evaluate(result, ["compare.a<1"])


def test_an_svg_path_that_cannot_be_written_is_refused_before_the_replay_runs(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # it failed after the replay: two minutes of `month` and its report lost to a typo in the path
    from logcorr.replay import session

    def ran(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the replay ran")

    monkeypatch.setattr(session, "execute", ran)
    for target, said in ((tmp_path / "no" / "flood.svg", "does not exist"), (tmp_path, "is a directory")):
        r = cli("replay", "--scenario", "month", "--svg", str(target))
        assert r.exit_code == ExitCode.INPUT, r.stderr
        assert f"cannot write --svg {target}: " in r.stderr and said in r.stderr
        assert r.stdout == ""
