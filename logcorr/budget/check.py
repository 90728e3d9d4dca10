"""`budget check`: thresholds compared with a projection; each printed beside its measured value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from logcorr.errors import UsageError

BASES = ("total", "billed", "list")
BASIS_HELP = {
    "total": "plan base fee + usage beyond the included amounts",
    "billed": "usage beyond the included amounts",
    "list": "all usage at the overage price, nothing included (what logging adds when the app already uses the allowances)",
}


@dataclass(frozen=True)
class Threshold:
    name: str
    limit: str
    measured: str
    passed: bool
    detail: str
    # the same two figures as numbers, for a program reading `--format json` (`limit`/`measured` are text)
    unit: str  # "usd", "pct" or "day" (the day of the month essential-only mode is reached)
    value: float | None  # None: not reached
    max_value: float | None  # None: reaching it at all fails

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "limit": self.limit, "measured": self.measured, "passed": self.passed,
                "detail": self.detail, "unit": self.unit, "value": self.value, "max_value": self.max_value}  # fmt: skip


def cost_of(result: dict[str, Any], model: str, basis: str) -> float:
    """The projected dollars under one pricing model and basis."""
    if basis not in BASES:
        raise UsageError(f"unknown cost basis {basis!r}", f"choose from {', '.join(BASES)}")
    for c in result["costs"]:
        if c["model"] == model:
            return float({"total": c["total_usd"], "billed": c["usage_usd"], "list": c["list_usd"]}[basis])
    names = ", ".join(c["model"] for c in result["costs"])
    raise UsageError(
        f"pricing model {model!r} was not simulated", f"add --pricing {model} (simulated: {names})"
    )


def _apart(value: float, limit: float, money: bool) -> tuple[str, str]:
    """`value` and `limit` as the report prints them (dollars to the cent, percentages as `g`), or with as
    many more digits as it takes for two different numbers not to print alike ($9.26 against a $9.26
    limit, failed)."""
    for digits in range(2 if money else 4, 17):
        a, b = (
            (f"{value:,.{digits}f}", f"{limit:,.{digits}f}")
            if money
            else (f"{value:.{digits}g}", f"{limit:.{digits}g}")
        )
        if a != b or value == limit:
            return a, b
    return repr(value), repr(limit)


def evaluate(
    result: dict[str, Any],
    *,
    max_usd: float | None,
    model: str,
    basis: str,
    max_quota_pct: float | None,
    fail_on_degrade: bool,
) -> list[Threshold]:
    """The verdict of every requested threshold, in a stable order."""
    out: list[Threshold] = []
    if max_usd is not None:
        usd = cost_of(result, model, basis)
        shown, limit = _apart(usd, max_usd, money=True)
        out.append(Threshold(f"cost ({model}, {basis})", f"<= ${limit}", f"${shown}", usd <= max_usd,
                             BASIS_HELP[basis], "usd", usd, max_usd))  # fmt: skip
    if max_quota_pct is not None:
        total = result["total"]
        # the exact share, not the rounded figure the report shows: 76.3744 % is over a 76.374 % limit
        pct = 100.0 * total["accepted"] / total["quota"] if total["quota"] else float(total["quota_pct"])
        worst = max(
            (
                (s, v["used_pct_of_share"])
                for s, v in result["systems"].items()
                if v["used_pct_of_share"] is not None
            ),
            key=lambda x: x[1],
            default=("-", 0.0),
        )
        shown_pct, limit_pct = _apart(pct, max_quota_pct, money=False)
        out.append(Threshold("monthly quota used", f"<= {limit_pct} %", f"{shown_pct} %", pct <= max_quota_pct,
                             f"{result['total']['accepted']:,} of {result['total']['quota']:,} writes; "
                             f"highest share: {worst[0]} {worst[1]:g} %", "pct", pct, max_quota_pct))  # fmt: skip
    if fail_on_degrade:
        t = result["thresholds"]["essential"]
        out.append(Threshold("no degradation to essential-only", f"< {t['pct']:g} % of quota",
                             f"reached {t['reached']} (day {t['day']})" if t["reached"] else "not reached",
                             t["reached"] is None, "at the essential threshold only errors and critical traces are stored",
                             "day", None if t["reached"] is None else float(t["day"]), None))  # fmt: skip
    if not out:
        raise UsageError("budget check needs at least one threshold",
                         "e.g. --max-usd 10 --max-quota-pct 100 --fail-on-degrade")  # fmt: skip
    return out
