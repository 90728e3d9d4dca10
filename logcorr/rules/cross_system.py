"""Rule 5, cross-system duplicate: the same message fingerprint stored by another system for the same
trace within `window_ms` is kept once (e.g. a Convex line echoed in the browser console). Whichever
copy comes first in event-time order is kept; events without a trace id are never compared.

The engine inlines the check on `RuleState.cross` ((trace, fingerprint) → last stored (system, ts));
this module owns the drop's reason and snapshot.
"""

from __future__ import annotations

from logcorr.rules.clock import iso, json_str


def drop(
    trace_id: str, fp: str, kept: tuple[str, int], system: str, t: int, window_ms: int
) -> tuple[str, str]:
    """Reason and snapshot for the later copy."""
    kept_system, kept_at = kept
    # the kept copy may be the later one when its system's clock is ahead (exports ingested one by one)
    gap = f"{t - kept_at} ms earlier" if t >= kept_at else f"{kept_at - t} ms later"
    reason = (
        f"same message already stored by {kept_system} for trace {trace_id} {gap} "
        f"(kept once within {window_ms} ms)"
    )
    state = (
        f'{{"trace_id":{json_str(trace_id)},"fingerprint":{json_str(fp)},"system":{json_str(system)},'
        f'"kept_system":{json_str(kept_system)},"kept_at":"{iso(kept_at)}","gap_ms":{t - kept_at},'
        f'"window_ms":{window_ms}}}'
    )
    return reason, state
