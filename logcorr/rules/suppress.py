"""Rule 2, suppression of development noise by substring pattern (the live system's lists by default)."""

from __future__ import annotations

import re

from logcorr.rules.policy import Suppression


class Suppressor:
    """Finds the first suppression pattern a message contains."""

    def __init__(self, cfg: Suppression) -> None:
        self.enabled = cfg.enabled and bool(cfg.patterns)
        flags = 0 if cfg.case_sensitive else re.IGNORECASE
        self._rx = re.compile("|".join(re.escape(p) for p in cfg.patterns), flags) if self.enabled else None
        self._by_text = {p.lower() if not cfg.case_sensitive else p: p for p in cfg.patterns}
        self._cs = cfg.case_sensitive

    def match(self, message: str) -> str | None:
        """The pattern that suppresses `message`, or None."""
        if self._rx is None:
            return None
        m = self._rx.search(message)
        if m is None:
            return None
        found = m.group(0)
        return self._by_text.get(found if self._cs else found.lower(), found)
