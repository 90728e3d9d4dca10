"""Thresholds on a replay's metrics: `--assert 'cost_usd<10'`, `'trace_integrity>=0.99'`,
`'browser.accepted>0'`, `'compare.quota_pct<=100'` (the compared policy's metric), parsed and checked."""

from __future__ import annotations

import difflib
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from logcorr.errors import UsageError
from logcorr.model import SYSTEMS
from logcorr.rules.engine import RULES

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
    "=": operator.eq,
}
_EXPR = re.compile(
    r"^\s*(?P<metric>[A-Za-z_][A-Za-z0-9_.\-]*)\s*(?P<op><=|>=|==|!=|<|>|=)\s*\$?\s*"
    r"(?P<value>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*%?\s*$"
)


@dataclass(frozen=True)
class Assertion:
    """One parsed threshold."""

    text: str
    metric: str
    op: str
    limit: float

    def check(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return (
                False  # not measured in this replay (e.g. no essential-only phase): a threshold cannot hold
            )
        return _OPS[self.op](float(value), self.limit)


@dataclass(frozen=True)
class Check:
    """A threshold and the value it met."""

    assertion: Assertion
    value: Any
    passed: bool

    def as_dict(self) -> dict[str, Any]:
        a = self.assertion
        return {"assert": a.text, "metric": a.metric, "op": a.op, "limit": a.limit, "value": self.value,
                "passed": self.passed}  # fmt: skip


def parse(text: str) -> Assertion:
    """`metric op number`; ops `< <= > >= == !=`; a `%` after or `$` before the number is allowed."""
    m = _EXPR.match(text or "")
    if not m:
        raise UsageError(
            f"--assert {text!r} is not `metric op number`",
            "e.g. --assert 'cost_usd<10' --assert 'trace_integrity>=0.99' --assert 'quota_pct<=100'",
        )
    return Assertion(text.strip(), m.group("metric"), m.group("op"), float(m.group("value")))


def metric_value(result: dict[str, Any], name: str) -> Any:
    """A metric by name; `compare.NAME` reads the compared policy's result."""
    metrics = result["metrics"]
    if name.startswith("compare.") and name not in metrics:
        other = result.get("compare")
        if other is None:
            raise UsageError(f"--assert {name}: there is no --compare-policy result to read")
        return metric_value(other["result"], name.removeprefix("compare."))
    if name not in metrics:
        close = difflib.get_close_matches(name, list(metrics), n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "see the metrics in --format json"
        raise UsageError(f"unknown metric {name!r} in --assert", hint)
    return metrics[name]


def evaluate(result: dict[str, Any], texts: list[str]) -> list[Check]:
    """Every threshold against the result, in the order given."""
    checks = []
    for text in texts:
        a = parse(text)
        value = metric_value(result, a.metric)
        checks.append(Check(a, value, a.check(value)))
    return checks


# the metrics a replay reports (`run.py`): fixed names, per system and per rule, one per redaction kind
# (`redactions.<kind>`, 0 when none), and one per pricing model simulated (`cost_usd.<model>`)
_FIXED = (
    "events", "accepted", "dropped", "accepted_pct", "events_per_s", "quota_pct", "cost_usd", "replay_cost_usd",
    "trace_integrity", "traces.multi_system", "traces.cut", "traces.refused_whole", "max_identical_per_s",
    "essential.errors_offered", "essential.errors_accepted", "essential.errors_dropped_by_budget",
    "essential.errors_through", "redactions",
)  # fmt: skip
_PER_SYSTEM = ("offered", "accepted", "dropped", "used", "quota_pct", "borrowed", "lent")


def redaction_kinds() -> tuple[str, ...]:
    """Every kind the redactor counts (`logcorr.rules.redact.kinds`), imported when a threshold is checked."""
    from logcorr.rules.redact import kinds

    return kinds()


def known_metrics() -> list[str]:
    """Every metric name a replay can report, the `cost_usd.<model>` family as `cost_usd.*` (its members are
    the models simulated: `cost_models`)."""
    names = [
        *_FIXED,
        *(f"dropped.{r}" for r in RULES),
        "cost_usd.*",
        *(f"redactions.{k}" for k in redaction_kinds()),
    ]
    for s in SYSTEMS:
        names += [f"{s}.{k}" for k in _PER_SYSTEM] + [f"{s}.dropped.{r}" for r in RULES]
    return names


def is_known(name: str) -> bool:
    """Whether a replay can report metric `name` (`compare.NAME` for the compared policy's)."""
    name = name.removeprefix("compare.")
    return name in known_metrics() or (name.startswith("cost_usd.") and len(name) > len("cost_usd."))


def cost_models(texts: list[str]) -> list[str]:
    """The pricing models whose `cost_usd.<model>` the thresholds read: they must be simulated (a built-in
    name is added to the models; any other must be a `--pricing` model's name)."""
    out = []
    for t in texts:
        metric = parse(t).metric.removeprefix("compare.")
        if metric.startswith("cost_usd.") and len(metric) > len("cost_usd."):
            out.append(metric.removeprefix("cost_usd."))
    return list(dict.fromkeys(out))


def validate(texts: list[str], compare: bool = True) -> None:
    """Parse every threshold, and check that its metric is one a replay reports, now: a typo fails before a
    long replay runs, not after it. `compare`: whether there will be a --compare-policy result to read."""
    for t in texts:
        a = parse(t)
        if a.metric.startswith("compare.") and not compare:
            raise UsageError(f"--assert {a.metric}: there is no --compare-policy result to read")
        if not is_known(a.metric):
            close = difflib.get_close_matches(a.metric.removeprefix("compare."), known_metrics(), n=3)
            hint = f"did you mean {', '.join(close)}?" if close else "see the metrics in --format json"
            raise UsageError(f"unknown metric {a.metric!r} in --assert", hint)
