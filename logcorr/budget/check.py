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

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "limit": self.limit, "measured": self.measured, "passed": self.passed,
                "detail": self.detail}  # fmt: skip


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
        out.append(Threshold(f"cost ({model}, {basis})", f"<= ${max_usd:,.2f}", f"${usd:,.2f}", usd <= max_usd,
                             BASIS_HELP[basis]))  # fmt: skip
    if max_quota_pct is not None:
        pct = float(result["total"]["quota_pct"])
        worst = max(
            (
                (s, v["used_pct_of_share"])
                for s, v in result["systems"].items()
                if v["used_pct_of_share"] is not None
            ),
            key=lambda x: x[1],
            default=("-", 0.0),
        )
        out.append(Threshold("monthly quota used", f"<= {max_quota_pct:g} %", f"{pct:g} %", pct <= max_quota_pct,
                             f"{result['total']['accepted']:,} of {result['total']['quota']:,} writes; "
                             f"highest share: {worst[0]} {worst[1]:g} %"))  # fmt: skip
    if fail_on_degrade:
        t = result["thresholds"]["essential"]
        out.append(Threshold("no degradation to essential-only", f"< {t['pct']:g} % of quota",
                             f"reached {t['reached']} (day {t['day']})" if t["reached"] else "not reached",
                             t["reached"] is None, "at the essential threshold only errors and critical traces are stored"))  # fmt: skip
    if not out:
        raise UsageError("budget check needs at least one threshold",
                         "e.g. --max-usd 10 --max-quota-pct 100 --fail-on-degrade")  # fmt: skip
    return out
