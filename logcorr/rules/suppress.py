"""Rule 2, suppression of development noise by substring pattern (the live system's lists by default)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import orjson


class SuppressionConfig(Protocol):
    """What a suppressor is made from: the policy's `Suppression`, or a parse worker's copy of it (which
    spares the worker importing pydantic)."""

    @property
    def enabled(self) -> bool: ...
    @property
    def patterns(self) -> Sequence[str]: ...
    @property
    def case_sensitive(self) -> bool: ...


class Suppressor:
    """Finds the first suppression pattern (in policy order) a message contains.

    Substring tests on the lower-cased message: a case-insensitive regex alternation would cost an
    attempt per pattern per character on every event."""

    def __init__(self, cfg: SuppressionConfig) -> None:
        self.enabled = cfg.enabled and bool(cfg.patterns)
        self._cs = cfg.case_sensitive
        self._patterns = (
            [(p if cfg.case_sensitive else p.lower(), p) for p in cfg.patterns] if self.enabled else []
        )

    def match(self, message: str, lowered: str | None = None) -> str | None:
        """The pattern that suppresses `message`, or None; pass `lowered` if you have it already."""
        if not self._patterns:
            return None
        text = message if self._cs else (lowered if lowered is not None else message.lower())
        for needle, pattern in self._patterns:
            if needle in text:
                return pattern
        return None


def drop(pattern: str) -> tuple[str, str]:
    """Reason and snapshot for a suppressed event."""
    return f"matches suppression pattern {pattern!r}", orjson.dumps({"pattern": pattern}).decode()
