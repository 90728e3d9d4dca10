"""Rule 6, the adaptive per-system rate limit: tumbling windows of event time (UTC minutes by default),
limits stepping 50 → 25 → 12 → 6 under sustained load and back up when calm. See docs/rules.md.

The engine inlines the per-event check (`count >= limit`); this module owns the window roll-over (the
tier steps), the trace-aware grace allowance and the drop's reason and snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from logcorr.rules.clock import iso_minute, json_str
from logcorr.rules.policy import Policy
from logcorr.rules.state import SystemState


@dataclass(frozen=True, slots=True)
class RateConfig:
    enabled: bool
    tiers: tuple[int, ...]
    window_ms: int
    calm_load: int  # a window whose load is at most this is calm
    calm_windows: int  # consecutive calm windows per step back up
    grace_pct: float  # trace-aware allowance, % of the current limit (0 when trace-awareness is off)
    per: str  # "min", or the window in ms, for reasons
    steps: str  # "50→25→12→6"
    tiers_json: str  # "[50,25,12,6]"

    @classmethod
    def from_policy(cls, policy: Policy) -> RateConfig:
        r = policy.rate_limit
        ta = policy.trace_aware
        return cls(
            enabled=r.enabled,
            tiers=tuple(r.tiers),
            window_ms=r.window_ms,
            calm_load=int(r.tiers[0] * r.calm_pct / 100 + 1e-9),
            calm_windows=r.calm_minutes_to_recover,
            grace_pct=ta.grace_pct if ta.enabled else 0.0,
            per="min" if r.window_ms == 60_000 else f"{r.window_ms} ms",
            steps="→".join(str(x) for x in r.tiers),
            tiers_json=orjson.dumps(r.tiers).decode(),
        )

    def limits(self, tier: int) -> tuple[int, int]:
        """The limit and the grace allowance of `tier`."""
        limit = self.tiers[tier]
        return limit, int(limit * self.grace_pct / 100 + 1e-9)


def set_tier(ss: SystemState, tier: int, cfg: RateConfig) -> None:
    """Put `ss` on `tier` (clamped to the policy's tiers, which may have changed since it was saved)."""
    ss.tier = min(max(tier, 0), len(cfg.tiers) - 1)
    ss.limit, ss.grace_limit = cfg.limits(ss.tier)


def roll(ss: SystemState, t: int, cfg: RateConfig) -> None:
    """Close the window(s) before the one holding `t`: step the tier, then start the new window.

    A window whose load (events offered to this rule, stored or not) was at most `calm_load` is calm;
    `calm_windows` calm windows in a row step the tier back up by one (calm wins, even where the tight
    tier had to drop). Otherwise a window whose load exceeded its limit steps the tier down by one.
    Windows without events are calm.
    """
    window = t // cfg.window_ms
    tier = ss.tier
    if ss.window < 0:
        set_tier(ss, tier, cfg)
    elif tier or ss.offered > cfg.calm_load:  # (tier 0 and calm: nothing to step)
        if ss.offered <= cfg.calm_load:
            ss.calm += 1
            if ss.calm >= cfg.calm_windows:
                tier -= 1
                ss.calm = 0
        elif ss.offered > ss.limit:
            tier = min(tier + 1, len(cfg.tiers) - 1)
            ss.calm = 0
        else:
            ss.calm = 0
        empty = window - ss.window - 1
        if empty > 0 and tier > 0:
            calm = ss.calm + empty
            tier = max(tier - calm // cfg.calm_windows, 0)
            ss.calm = calm % cfg.calm_windows
        if tier == 0:
            ss.calm = 0
        if tier != ss.tier:
            set_tier(ss, tier, cfg)
    ss.window = window
    ss.window_end = (window + 1) * cfg.window_ms
    ss.count = ss.offered = ss.grace = 0
    ss.drop_info = ss.grace_drop_info = None


def drop(ss: SystemState, cfg: RateConfig, admitted_elsewhere: bool) -> tuple[str, str]:
    """Reason and snapshot for an event over the limit; `admitted_elsewhere`: its trace was stored by
    another system, so only a used-up grace allowance stopped it. The same for every drop until the
    window's counters change (the engine caches it on the system's state)."""
    minute = iso_minute(ss.window * cfg.window_ms)
    reason = (
        f"{ss.name} already stored {ss.count} logs in the window from {minute}: "
        f"limit {ss.limit}/{cfg.per} at tier {ss.tier} ({cfg.steps})"
    )
    if admitted_elsewhere:
        reason += f"; trace grace for traces other systems stored used up ({ss.grace}/{ss.grace_limit})"
    state = (
        f'{{"system":{json_str(ss.name)},"minute":"{minute}","tier":{ss.tier},"limit":{ss.limit},'
        f'"count":{ss.count},"grace_used":{ss.grace},"grace_limit":{ss.grace_limit},"tiers":{cfg.tiers_json}}}'
    )
    return reason, state
