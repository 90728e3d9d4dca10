"""Request checks that need no database: CORS origin matching, the Convex webhook signature
(`x-webhook-signature: sha256=<hex HMAC-SHA256(secret, raw body)>`, compared in constant time) and the
replay window on a delivery's first event."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import urlsplit

from logcorr.errors import UsageError

# browsers on this machine: any port, http or https
DEFAULT_ORIGINS: tuple[str, ...] = (
    "http://localhost:*",
    "https://localhost:*",
    "http://127.0.0.1:*",
    "https://127.0.0.1:*",
    "http://[::1]:*",
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class _Pattern:
    scheme: str  # "*" matches any
    host: str  # exact, or "*.example.com" (subdomains only), or "*"
    port: int | None  # None: any port ("*")


def _split_origin(origin: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a serialised origin; None when it is not one (path, query, bad port)."""
    try:
        u = urlsplit(origin)
        port = u.port
    except ValueError:
        return None
    if u.scheme not in _DEFAULT_PORTS or not u.hostname or u.path or u.query or u.fragment or u.username:
        return None
    return u.scheme, u.hostname.lower(), port if port is not None else _DEFAULT_PORTS[u.scheme]


def _parse_pattern(text: str) -> _Pattern:
    if text == "*":
        return _Pattern("*", "*", None)
    scheme, sep, rest = text.partition("://")
    if not sep or scheme not in (*_DEFAULT_PORTS, "*") or not rest or "/" in rest:
        raise UsageError(
            f"bad --allow-origin {text!r}",
            "use an origin such as http://localhost:3000, http://localhost:* (any port), https://*.example.com or *",
        )
    host, port_text = rest, None
    if rest.startswith("["):  # IPv6 literal
        end = rest.find("]")
        host, port_text = rest[: end + 1], rest[end + 2 :] if rest[end + 1 : end + 2] == ":" else None
    elif ":" in rest:
        host, port_text = rest.rsplit(":", 1)
    if port_text == "*":
        port: int | None = None
    elif port_text is None:
        port = _DEFAULT_PORTS.get(scheme)
    elif port_text.isdigit():
        port = int(port_text)
    else:
        raise UsageError(f"bad port in --allow-origin {text!r}", "a number, or * for any port")
    return _Pattern(scheme, host.strip("[]").lower(), port)


class OriginPolicy:
    """Which browser origins may post logs (exact origins, `*` port wildcards, `*.domain` hosts)."""

    def __init__(self, patterns: tuple[str, ...] | list[str] = DEFAULT_ORIGINS) -> None:
        self.patterns = tuple(patterns)
        self._parsed = [_parse_pattern(p) for p in self.patterns]

    def allows(self, origin: str) -> bool:
        """True when `origin` (the request's Origin header) matches a pattern."""
        if any(p.host == "*" and p.scheme == "*" for p in self._parsed):
            return True  # `*`: any page, `Origin: null` too (a file:// page, a sandboxed frame)
        parts = _split_origin(origin)
        if parts is None:
            return False
        scheme, host, port = parts
        for p in self._parsed:
            if p.scheme not in ("*", scheme) or (p.port is not None and p.port != port):
                continue
            if p.host == host or (p.host.startswith("*.") and host.endswith(p.host[1:])):
                return True
        return False


SIGNATURE_HEADER = "x-webhook-signature"


def signature_of(secret: str, body: bytes) -> str:
    """The header value Convex sends: `sha256=` and the lowercase hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """Whether `header` signs `body` with `secret`, compared in constant time."""
    if not header:
        return False
    return hmac.compare_digest(signature_of(secret, body).encode(), header.strip().lower().encode())


def first_event_ms(records: list[object]) -> int | None:
    """The first Convex event's time (format 2 `timestamp`, legacy `_timestamp`, `{"data": …}`, the live repo's
    `{logs: […]}`), in ms."""
    if not records or not isinstance(records[0], dict):
        return None
    first = records[0]
    data = first.get("data")
    if isinstance(data, dict) and "topic" not in first:
        first = data
    logs = first.get("logs")
    if isinstance(logs, list) and "topic" not in first:  # the live repo's body `{logs: [{timestamp, …}]}`
        if not logs or not isinstance(logs[0], dict):
            return None
        first = logs[0]
    value = first.get("timestamp", first.get("_timestamp"))
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)
