"""Request checks that need no database: the `Host` allowlist (DNS-rebinding protection), CORS origin
matching, the Convex webhook signature (`x-webhook-signature: sha256=<hex HMAC-SHA256(secret, raw body)>`,
compared in constant time) and the replay window on a delivery's first event."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
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

    def refusal(self, origin: str) -> str:
        """Why a request from `origin` is refused, naming the flag that admits it. A browser hides this
        answer from the page (no `Access-Control-Allow-Origin`: devtools shows only a CORS error), so the
        server also prints it (`Collector`)."""
        shown = origin if len(origin) <= 100 else origin[:100] + "…"
        why = (
            f"Origin {shown!r} is not allowed: this server takes browser requests from "
            f"{', '.join(self.patterns)} (--allow-origin)"
        )
        if origin.strip().lower() == "null":  # a file:// page, a sandboxed frame: only `*` admits it
            return (
                why
                + "; to admit a page without an origin (file://, a sandboxed frame), start it with --allow-origin '*'"
            )
        parts = _split_origin(origin)
        if parts is None or not re.fullmatch(
            r"[a-z0-9._:-]+", parts[1]
        ):  # printed as it is: no odd characters
            return why + "; it is not an origin (scheme://host[:port])"
        scheme, host, port = parts
        default = port == _DEFAULT_PORTS[scheme]
        admit = f"{scheme}://{'[' + host + ']' if ':' in host else host}{'' if default else f':{port}'}"
        return why + f"; to admit this page, start it with --allow-origin {admit} (repeatable)"


_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")  # a DNS name as a Host header carries it (lowercased)
_ALLOW_HOST_HINT = (
    "use a host name such as abc.ngrok-free.app (no scheme, port or path), .example.com for example.com and "
    "its subdomains, *.example.com for its subdomains only, or * for any host"
)


# Suffixes under which anyone can register a name and set its DNS records, so a wildcard over one admits
# names an attacker can rebind to 127.0.0.1: second-level registries of common country domains (one-label
# suffixes, `.com` or `.uk`, are refused whatever they are), dynamic-DNS services, whose users set the
# address themselves, and public DNS-rebinding services. A short list, not the Public Suffix List: a
# tunnel's or host's domain (`.ngrok-free.app`, `.trycloudflare.com`) is not in it, as its provider alone
# sets the addresses of the names under it.
_PUBLIC_SUFFIXES = """
    co.uk org.uk me.uk ltd.uk plc.uk net.uk ac.uk gov.uk sch.uk
    com.au net.au org.au edu.au gov.au id.au asn.au
    co.nz net.nz org.nz ac.nz geek.nz
    co.jp ne.jp or.jp ac.jp go.jp gr.jp ed.jp ad.jp
    com.br net.br org.br gov.br com.cn net.cn org.cn gov.cn edu.cn
    com.hk org.hk net.hk com.tw org.tw net.tw idv.tw co.kr or.kr ne.kr go.kr ac.kr
    co.in net.in org.in firm.in gen.in ind.in co.za org.za net.za web.za
    com.sg com.my com.mx com.ar com.tr com.ua co.il org.il co.id com.ph com.vn com.pl com.es
    com.co com.pe com.ec co.th in.th com.pk com.ng com.eg com.sa co.ke co.at or.at
    duckdns.org ddns.net hopto.org zapto.org sytes.net no-ip.biz no-ip.info no-ip.org dyndns.org
    dynv6.net freeddns.org mooo.com dnsalias.com dnsalias.net dnsalias.org
    rbndr.us 1u.ms
"""
PUBLIC_SUFFIXES = frozenset(_PUBLIC_SUFFIXES.split())


def _ascii_name(name: str) -> str:
    """An internationalised name (`bücher.example`) as browsers send it in `Host` (`xn--bcher-kva.example`);
    other names as they are. A name IDNA cannot encode is returned as it is (and refused by the caller)."""
    if name.isascii():
        return name
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return name


def _ip_literal(text: str) -> str | None:
    """`text` as an IP address (IPv6 without brackets), normalised; None when it is not one."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def parse_host(value: str) -> tuple[str, bool] | None:
    """(host, is an IP literal) of a `Host` header value: the port dropped, the name lowercased and a
    trailing dot dropped (`localhost.` is `localhost`), an IPv6 literal without its brackets. None when the
    value is neither a name nor an IP literal (an empty name, a bad port, a stray character)."""
    text = value.strip().lower()
    if text.startswith("["):  # [v6] or [v6]:port
        end = text.find("]")
        rest = text[end + 1 :] if end > 0 else "!"
        if rest and not (rest.startswith(":") and (rest == ":" or rest[1:].isdigit())):
            return None
        address = _ip_literal(text[1:end])
        return (address, True) if address is not None and ":" in address else None
    if text.count(":") > 1:  # an IPv6 literal without brackets (not a browser's), or nonsense
        address = _ip_literal(text)
        return (address, True) if address is not None else None
    name, _, port = text.partition(":")
    if port and not port.isdigit():
        return None
    name = name[:-1] if name.endswith(".") else name
    if not _NAME.fullmatch(name):
        return None
    address = _ip_literal(name)
    return (address, True) if address is not None else (name, False)


def is_loopback_name(name: str) -> bool:
    """`localhost` and the names under it (which browsers and resolvers keep on this machine, RFC 6761)."""
    return name == "localhost" or name.endswith(".localhost")


def is_loopback_bind(host: str) -> bool:
    """Whether `--host` listens on this machine only (127.0.0.0/8, ::1, localhost)."""
    parsed = parse_host(f"[{host}]" if ":" in host and not host.startswith("[") else host)
    if parsed is None:
        return False
    name, is_ip = parsed
    return ipaddress.ip_address(name).is_loopback if is_ip else is_loopback_name(name)


class HostPolicy:
    """Which `Host` header values are answered: the defence against DNS rebinding, where a page on an
    attacker's name that later resolves to 127.0.0.1 reads this server as same-origin (no CORS check
    applies, and its GET requests carry no `Origin`). Always admitted: loopback names (`localhost`,
    `*.localhost`) and IP literals (a page can only be served from an address by that address, which
    cannot be rebound), and `listen_host` when it is a name. Others only by `patterns` (`--allow-host`):
    an exact name, `.example.com` (the name and its subdomains, as webpack-dev-server's and Vite's
    `allowedHosts`), `*.example.com` (subdomains only, as `--allow-origin`) or `*` (any host); a wildcard
    over a public suffix (`.com`, `.co.uk`, `PUBLIC_SUFFIXES`) is refused, and a name is taken in the
    ASCII form browsers send (IDNA). Ports are not compared. A request without `Host` (HTTP/1.0) or with an empty one is answered: every browser sends
    the name it connected to, and a client that sends none can name 127.0.0.1 as well."""

    def __init__(self, patterns: tuple[str, ...] | list[str] = (), listen_host: str = "127.0.0.1") -> None:
        self.patterns = tuple(patterns)
        self.any = "*" in self.patterns
        self.exact: set[str] = set()
        self.suffixes: list[str] = []  # ".example.com": a name ends with it
        for pattern in self.patterns:
            if pattern == "*":
                continue
            wildcard = pattern.startswith(("*.", "."))
            body = _ascii_name(pattern.removeprefix("*").removeprefix(".") if wildcard else pattern)
            parsed = parse_host(body) if body and not any(c in body for c in "/:@[") else None
            if parsed is None or (wildcard and parsed[1]):
                raise UsageError(f"bad --allow-host {pattern!r}", _ALLOW_HOST_HINT)
            name = parsed[0]
            if is_loopback_name(name):  # admitted anyway
                continue
            # `.com`, `.co.uk`: anyone can buy a name under it and point it at 127.0.0.1
            if wildcard and ("." not in name or name in PUBLIC_SUFFIXES):
                raise UsageError(
                    f"--allow-host {pattern!r} would admit every name under .{name}, a public suffix: anyone "
                    "can register a name under it and point its DNS at 127.0.0.1 (DNS rebinding)",
                    "list the names you use (abc.ngrok-free.app), or a domain whose DNS you control (.example.com)",
                )
            if wildcard:
                self.suffixes.append("." + name)
            if not pattern.startswith("*."):  # an exact name, or `.example.com`: example.com itself too
                self.exact.add(name)
        parsed = parse_host(listen_host if ":" not in listen_host else f"[{listen_host.strip('[]')}]")
        self.names = [p for p in self.patterns if p != "*"]  # what is admitted beyond the defaults, as given
        if parsed is not None and not parsed[1] and not is_loopback_name(parsed[0]):
            self.exact.add(parsed[0])  # `--host mybox.lan`: clients use that name
            self.names.append(parsed[0])

    def allows(self, name: str, is_ip: bool) -> bool:
        """Whether a parsed Host (`parse_host`) is answered."""
        if self.any or is_ip or is_loopback_name(name) or name in self.exact:
            return True
        return any(name.endswith(s) for s in self.suffixes)

    def refusal(self, values: list[str]) -> tuple[int, str, str] | None:
        """(status, kind, message) refusing a request with these `Host` header values, or None to answer it."""
        if self.any or [v.strip() for v in values] in (
            [],
            [""],
        ):  # no Host (HTTP/1.0), or empty: not a browser
            return None
        shown = values[0] if len(values[0]) <= 100 else values[0][:100] + "…"
        if len(values) > 1:
            return 400, "bad_host", "the request has more than one Host header"
        parsed = parse_host(values[0])
        if parsed is None:
            return 400, "bad_host", f"Host {shown!r} is not a host name or IP address"
        if self.allows(*parsed):
            return None
        return (
            403,
            "host_refused",
            f"Host {shown!r} is not allowed: this server answers requests for localhost, IP addresses and the "
            f"names given with --allow-host (DNS-rebinding protection); to admit this name, start it with "
            f"--allow-host {parsed[0]}",
        )


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
