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


# the metrics a replay reports (`run.py`): fixed names, per system and per rule, and families whose members
# depend on the run (`cost_usd.<model>`, `redactions.<kind>`)
_FIXED = (
    "events", "accepted", "dropped", "accepted_pct", "events_per_s", "quota_pct", "cost_usd", "replay_cost_usd",
    "trace_integrity", "traces.multi_system", "traces.cut", "traces.refused_whole", "max_identical_per_s",
    "essential.errors_offered", "essential.errors_accepted", "essential.errors_dropped_by_budget",
    "essential.errors_through", "redactions",
)  # fmt: skip
_PER_SYSTEM = ("offered", "accepted", "dropped", "used", "quota_pct", "borrowed", "lent")
_FAMILIES = ("cost_usd.", "redactions.")


def known_metrics() -> list[str]:
    """Every metric name a replay can report, its families as `family.*`."""
    names = [*_FIXED, *(f"dropped.{r}" for r in RULES), *(f"{f}*" for f in _FAMILIES)]
    for s in SYSTEMS:
        names += [f"{s}.{k}" for k in _PER_SYSTEM] + [f"{s}.dropped.{r}" for r in RULES]
    return names


def is_known(name: str) -> bool:
    """Whether a replay can report metric `name` (`compare.NAME` for the compared policy's)."""
    name = name.removeprefix("compare.")
    return name in known_metrics() or any(name.startswith(f) and len(name) > len(f) for f in _FAMILIES)


def validate(texts: list[str]) -> None:
    """Parse every threshold, and check that its metric is one a replay reports, now: a typo fails before a
    long replay runs, not after it."""
    for t in texts:
        a = parse(t)
        if not is_known(a.metric):
            close = difflib.get_close_matches(a.metric.removeprefix("compare."), known_metrics(), n=3)
            hint = f"did you mean {', '.join(close)}?" if close else "see the metrics in --format json"
            raise UsageError(f"unknown metric {a.metric!r} in --assert", hint)
