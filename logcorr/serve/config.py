"""The collector's configuration: a plain value the CLI builds and the HTTP layer reads (no web
framework imported here, so `logcorr serve --help` works without the extra)."""

from __future__ import annotations

from dataclasses import dataclass, field

from logcorr.rules.policy import Policy
from logcorr.serve.security import HostPolicy, OriginPolicy

MAX_HEAD_BYTES = 16 * 1024  # a request's line and headers, as h11's default and Node's (431 over it)
MAX_HEADERS = 100  # header fields per request, as Apache's LimitRequestFields (431 over it)


@dataclass(frozen=True)
class ServeConfig:
    """Everything `logcorr serve` is configured with (defaults as documented in docs/serve.md)."""

    db: str
    policy: Policy = field(default_factory=Policy)
    origins: OriginPolicy = field(default_factory=OriginPolicy)
    hosts: HostPolicy = field(default_factory=HostPolicy)  # Host header allowlist (DNS rebinding)
    webhook_secret: str | None = None
    max_event_age_s: float | None = None  # reject webhook deliveries whose first event is older
    max_body_bytes: int = 1_048_576
    proxy: bool = False  # browser payloads are rewritten to worker records and take the worker path
    batch_ms: int = 50
    batch_max: int = 512
    answer_timeout_s: float = 30.0
    max_held_bytes: int = 64 * 1_048_576  # request bodies in memory at once; more are answered 503 `busy`
    body_timeout_s: float = 30.0  # the whole request body must arrive within this (slow clients get 408)
    header_timeout_s: float = 10.0  # the request line and headers must arrive within this (408, closed)
    send_timeout_s: float = 30.0  # a response the client does not read for this long is dropped
    max_connections: int = 512  # connections served at once; see protocol.py for one more
