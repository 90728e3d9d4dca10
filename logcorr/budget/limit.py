"""What `budget simulate` says of a month the rule engine would decide too many events of (`sim.run.TooMuchWork`).

The limit is on the events the engine decides (`load.MAX_DECIDED`), what costs the time (about 2 µs each) and the
memory: copies of the observation it decides as the one before are counted, not decided (`sim.steady`), so a month
of billions of events may decide a few hundred thousand.
"""

from __future__ import annotations

from logcorr.errors import UsageError
from logcorr.sim.run import DAY_MS, TooMuchWork
from logcorr.sim.steady import FRACTIONAL
from logcorr.units import say_count


def too_much_work(e: TooMuchWork) -> UsageError:
    """The error for `e`: what was asked, how far it got, what to do."""
    t, limit = e.tiling, e.limit
    n, scale, copies = t.base_events, t.scale, t.copies
    asked = f"--scale {scale:g} would simulate about {t.copy_events * copies:,.3g} events ({n:,} observed, repeated {say_count(copies, 'time')} over the month)"  # fmt: skip
    most = f"a simulation decides at most {limit:,}"
    if e.copy is None and e.why is not None:
        hint = f"at most --scale {limit / (n * copies):.3g}"
        if e.why == FRACTIONAL:
            hint = f"a whole --scale (copies alike are then counted, not decided), or {hint}"
        return UsageError(
            f"{asked}, every one decided by the rules ({e.why}); {most}",
            f"{hint}, or a longer --period for these events",
        )
    if e.copy is None:
        first = min(copies, 2)
        which = "its one copy" if first == 1 else f"the first {first} copies at least"
        return UsageError(
            f"{asked}; the rules decide every event of {which}, about {e.at_least:,.3g}; {most}",
            f"at most --scale {limit / (n * first):.3g} for these events",
        )
    day = e.copy * t.period_ms // DAY_MS + 1
    return UsageError(
        f"{asked}: stopped in copy {e.copy + 1:,} (day {day}) with {e.decided:,} events decided by the rules and "
        f"{e.counted:,} counted (copies decided alike are counted, not decided again); {most}",
        "a smaller --scale, or a longer --period if these events represent more time",
    )
