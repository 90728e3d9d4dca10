"""Redaction of secrets in messages, stacks and (nested) context — rule 1, applied before anything
is stored, fingerprinted or printed, including rejected lines.

One compiled alternation finds every kind; a cheap case-insensitive pre-check skips the regex for
the large majority of lines that cannot hold a secret. Replacements read `[REDACTED:<kind>]`, and
the patterns never match their own output, so redacting twice changes nothing.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

MARK = "[REDACTED"

_SECRET_KEYS = (
    r"access[_-]?token|refresh[_-]?token|id[_-]?token|auth[_-]?token|session[_-]?token|csrf[_-]?token|"
    r"client[_-]?secret|app[_-]?secret|secret[_-]?key|secret|passw(?:or)?d|passwd|pwd|"
    r"api[_-]?key|apikey|x-api-key|private[_-]?key|aws_secret_access_key|"
    r"authorization|proxy-authorization|cookie|set-cookie|token|bearer"
)
_NOT_MARK = r"(?![\"']?\[REDACTED)"

_PARTS: list[tuple[str, str]] = [
    ("private_key", r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"),
    ("jwt", r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{8,}"),
    ("url_credentials", r"(?P<url_user>(?<=://)[^/\s:@\"']{1,128}:)" + _NOT_MARK + r"[^/\s@\"']{1,256}(?=@)"),
    ("bearer", r"(?i:\bbearer)\s+" + _NOT_MARK + r"[A-Za-z0-9._~+/=-]{8,}"),
    ("basic_auth", r"(?i:\bbasic)\s+" + _NOT_MARK + r"[A-Za-z0-9+/]{12,}={0,2}"),
    ("openai_key", r"\bsk-(?:proj-|ant-[a-z0-9]+-)?[A-Za-z0-9_-]{20,}"),
    ("stripe_key", r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{10,}"),
    ("github_token", r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})"),
    ("aws_access_key", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    ("google_api_key", r"\bAIza[0-9A-Za-z_-]{35}"),
    ("google_oauth_token", r"\bya29\.[0-9A-Za-z_-]{20,}"),
    ("slack_token", r"\bxox[abposr]-[0-9A-Za-z-]{10,}"),
    ("slack_webhook", r"hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,}"),
    ("sendgrid_key", r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{20,}"),
    ("npm_token", r"\bnpm_[A-Za-z0-9]{30,}"),
    ("convex_deploy_key", r"\b(?:prod|dev|preview|project):[a-z0-9-]+\|[A-Za-z0-9+/=_-]{20,}"),
    (
        "kv",
        r"(?P<kv_key>(?i:[\"']?\b(?:" + _SECRET_KEYS + r")[\"']?)\s*[:=]\s*)"
        r"(?P<kv_val>" + _NOT_MARK + r"(?i:(?:bearer|basic|digest|token)\s+)?" + _NOT_MARK + r"(?:\"(?:[^\"\\]|\\.)*\"|'[^']*'|[^\s,;&}\]\)\"']+))",
    ),
]

_RX = re.compile("|".join(f"(?P<{name}>{rx})" for name, rx in _PARTS))
_QUICK = re.compile(
    r"(?i)token|secret|passw|pwd|key|auth|cookie|bearer|basic|sk[-_]|[rp]k_|gh[pousr]_|github_pat|"
    r"AKIA|ASIA|AIza|ya29|xox|eyJ|@|SG\.|npm_|\|"
)
_KEY_RX = re.compile(r"(?i)^(?:" + _SECRET_KEYS + r")$")

_KV_KIND = (
    ("refresh", "refresh_token"),
    ("access", "access_token"),
    ("id_token", "id_token"),
    ("client", "client_secret"),
    ("pass", "password"),
    ("pwd", "password"),
    ("cookie", "cookie"),
    ("authorization", "authorization"),
    ("bearer", "bearer"),
    ("key", "api_key"),
    ("secret", "secret"),
    ("token", "token"),
)


def _kv_kind(key: str) -> str:
    k = key.lower()
    for needle, kind in _KV_KIND:
        if needle in k:
            return kind
    return "secret"


class Redactor:
    """Applies the patterns and counts what it replaced, by kind."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def _sub(self, m: re.Match[str]) -> str:
        kind = m.lastgroup or "secret"
        if kind == "kv":
            key = m.group("kv_key")
            kind = _kv_kind(key)
            self.counts[kind] += 1
            val = m.group("kv_val")
            q = val[0] if val[:1] in ("'", '"') else ""
            return f"{key}{q}[REDACTED:{kind}]{q}"
        self.counts[kind] += 1
        if kind == "url_credentials":
            return f"{m.group('url_user')}[REDACTED:{kind}]"
        return f"[REDACTED:{kind}]"

    def text(self, s: str) -> str:
        """`s` with every secret replaced."""
        if _QUICK.search(s) is None:
            return s
        return _RX.sub(self._sub, s)

    def value(self, v: Any, depth: int = 0) -> Any:
        """A JSON value with secrets replaced: whole values under secret-named keys, patterns elsewhere."""
        if isinstance(v, str):
            return self.text(v)
        if depth > 64:
            return v
        if isinstance(v, dict):
            out: dict[str, Any] = {}
            for k, x in v.items():
                if isinstance(k, str) and _KEY_RX.match(k) and x not in (None, "", True, False) and not (
                    isinstance(x, str) and x.startswith(MARK)
                ):
                    kind = _kv_kind(k)
                    self.counts[kind] += 1
                    out[k] = f"[REDACTED:{kind}]"
                else:
                    out[k] = self.value(x, depth + 1)
            return out
        if isinstance(v, list):
            return [self.value(x, depth + 1) for x in v]
        return v


def contains_secret(s: str) -> bool:
    """True when any pattern still matches `s` (used by tests and self-checks)."""
    return _RX.search(s) is not None
