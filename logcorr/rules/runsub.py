"""`re.sub` in linear time for patterns that Python's engine tries in quadratic time: those whose match reads a run
of characters to its end from each place it may start, when many such places lie in one run (`eyJ-eyJ-eyJ-…` for
a JWT, `prod:prod:…|` for a Convex deploy key: the run from each start was read to its end, 100 KB in 5 s and 132 s).

A `Starts` finder gives the leftmost match of its pattern from a position, as `pattern.search` would; where the
match fails at a start, the later starts inside the run that start's `run` regex reads fail too (the pattern's
author shows why, for each pattern), so they are not tried. `merged_sub` replaces the matches of several finders
as one alternation of their patterns would, the first finder's match winning a tie as the first alternative does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

Finder = Callable[[str, int], "re.Match[str] | None"]
Sub = Callable[[Callable[["re.Match[str]"], str], str], str]


class Starts:
    """The leftmost match of `pattern` at or after a position, trying it only at the first start of each run:
    `start` finds where a match may begin, its match's end is where that start's run ends."""

    def __init__(self, pattern: re.Pattern[str], start: re.Pattern[str]) -> None:
        self.pattern = pattern
        self.start = start

    def __call__(self, s: str, pos: int) -> re.Match[str] | None:
        while (c := self.start.search(s, pos)) is not None:
            m = self.pattern.match(s, c.start())
            if m is not None:
                return m
            pos = max(c.end(), c.start() + 1)
        return None


def merged_sub(finders: Sequence[Finder]) -> Sub:
    """`sub(fn, s)`: `s` with each match of the alternation of the finders' patterns replaced by `fn(match)`,
    leftmost first, none overlapping (as `re.sub`; the patterns match no empty text)."""

    def sub(fn: Callable[[re.Match[str]], str], s: str) -> str:
        found: list[re.Match[str] | None] = [f(s, 0) for f in finders]
        parts: list[str] = []
        pos = 0
        while True:
            best: re.Match[str] | None = None
            for k, f in enumerate(finders):
                m = found[k]
                if (
                    m is not None and m.start() < pos
                ):  # overlapped by the match taken: look again from its end
                    m = found[k] = f(s, pos)
                if m is not None and (best is None or m.start() < best.start()):
                    best = m
            if best is None:
                break
            assert best.end() > best.start(), best.re.pattern
            parts += (s[pos : best.start()], fn(best))
            pos = best.end()
        if not parts:
            return s
        parts.append(s[pos:])
        return "".join(parts)

    return sub
