"""The HTTP layer (Starlette): routes, CORS, body limits and checks, and the live system's response
shapes. It validates a request, hands its body to the `BatchWriter` and answers from the outcome; it
never touches the database itself."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from logcorr import __version__
from logcorr.errors import LogcorrError
from logcorr.serve.config import MAX_HEAD_BYTES, MAX_HEADERS, ServeConfig
from logcorr.serve.payloads import (
    BadRequest,
    Checked,
    Endpoint,
    as_worker_records,
    check,
    convex_action_args,
    decode,
    to_body,
)
from logcorr.serve.security import SIGNATURE_HEADER, first_event_ms, signature_ok
from logcorr.serve.writer import BatchWriter, Outcome
from logcorr.sources.bytestream import TruncatedInput, gunzip
from logcorr.units import say_count

# rules whose drop means "refused under pressure": answered 429, as the live Worker does
REFUSING_RULES = frozenset({"loop", "trace", "rate_limit", "budget"})
_HELD = "logcorr.held"  # the ASGI scope's key for a request's held body bytes (a one-item list)
JSON_TYPES = frozenset(
    {"application/json", "application/x-ndjson", "application/jsonl", "application/x-jsonlines"}
)
CORS_METHODS = "POST, OPTIONS"
CORS_HEADERS = "Content-Type, Origin, User-Agent, Authorization"


@dataclass
class Counters:
    requests: Counter[str] = field(default_factory=Counter)  # route → n
    responses: Counter[int] = field(default_factory=Counter)  # status → n
    rejected: Counter[str] = field(default_factory=Counter)  # kind → n (nothing stored)
    verification: int = 0
    connections: int = 0  # open now (served, not refused)
    idle_closed: int = 0  # connections closed by the header timeout before a byte of a request
    started: float = field(default_factory=time.time)


def _head_too_large(scope: Scope) -> str | None:
    """Why a request's head is refused (431), or None: more than `MAX_HEADERS` fields, or over
    `MAX_HEAD_BYTES` — h11 refuses a head over that size only while it is incomplete, so one that arrives
    in one piece (up to the 256 KiB a read takes) passed."""
    headers = scope["headers"]
    if len(headers) > MAX_HEADERS:
        return f"the request has {len(headers)} header fields, over the limit of {MAX_HEADERS}"
    size = len(scope["method"]) + len(scope["raw_path"]) + len(scope["query_string"]) + 12
    size += sum(len(k) + len(v) + 4 for k, v in headers)
    if size > MAX_HEAD_BYTES:
        return f"the request line and headers are over {MAX_HEAD_BYTES:,} bytes"
    return None


# the rejected kinds that are the server's failure, not a refusal of the request (`stop_summary`)
_SERVER_FAILURES = frozenset({"database", "timeout"})

MAX_NOTED_ORIGINS = 20  # refused origins said on stderr, each once: a page cannot flood the terminal


def _stderr_line(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type="application/json")


class Collector:
    """The routes, bound to one configuration and one writer."""

    def __init__(self, cfg: ServeConfig, writer: BatchWriter | None = None) -> None:
        self.cfg = cfg
        self.writer = writer or BatchWriter(
            cfg.db, cfg.policy, batch_ms=cfg.batch_ms, batch_max=cfg.batch_max
        )
        self.counters = Counters()
        self.held = 0  # bytes of request bodies held now (read, queued or being written): `max_held_bytes`
        self.refused_origins: set[str] = set()  # origins said on stderr (at most MAX_NOTED_ORIGINS)
        self.noted_signatures: set[str] = set()  # "missing" / "wrong": said on stderr once each
        self.note: Callable[[str], None] = _stderr_line

    # --- plumbing ----------------------------------------------------------------------------------

    def _cors(self, request: Request) -> tuple[dict[str, str], bool]:
        """Headers for a browser route's answer, and whether the request's origin is refused."""
        headers = {"Vary": "Origin"}
        origin = request.headers.get("origin")
        if origin is None:  # not a browser (curl, a server): CORS does not apply
            return headers, False
        if not self.cfg.origins.allows(origin):
            return headers, True
        headers["Access-Control-Allow-Origin"] = origin
        return headers, False

    def _server_route_origin(self, request: Request) -> None:
        """Server-to-server routes take no browser requests: Convex, Workers and curl send no `Origin`, and a
        web page's request carries its own (a page that rebinds its DNS name to 127.0.0.1 posts
        same-origin, where no pre-flight stops it)."""
        origin = request.headers.get("origin")
        if origin is not None and not self.cfg.origins.allows(origin):
            raise self._origin_refused(origin)

    def _origin_refused(self, origin: str) -> BadRequest:
        """403 `origin_refused`, saying which flag admits the origin; the first refusals of each origin are
        also said on stderr: the browser shows the page only a CORS error, never this answer, and the
        server was silent, so a page on another port (Vite's 5173) looked like a server that got nothing."""
        message = self.cfg.origins.refusal(origin)
        if origin not in self.refused_origins and len(self.refused_origins) < MAX_NOTED_ORIGINS:
            self.refused_origins.add(origin)
            more = (
                "; further refused origins are only counted (/health: rejected.origin_refused)"
                if len(self.refused_origins) == MAX_NOTED_ORIGINS
                else ""
            )
            self.note(f"logcorr serve: refused a request: {message}{more}")
        return BadRequest(403, "origin_refused", message)

    def _bad_signature(self, header: str | None) -> BadRequest:
        """401 `bad_signature`, saying whether the header was missing or did not match; the first of each
        is also said on stderr: the answer goes to Convex, which retries and then drops the delivery, so
        a stream created before Convex signed deliveries, or a secret mistyped, lost every log silently."""
        if not header or not header.strip():
            kind, message = (
                "missing",
                (
                    f"no {SIGNATURE_HEADER} header, and this server checks one (--webhook-secret or "
                    "LOGCORR_WEBHOOK_SECRET): a log stream created before Convex signed its deliveries (2025-11-24) "
                    "sends none; start the server without a secret to take it"
                ),
            )
        else:
            kind, message = (
                "wrong",
                (
                    f"{SIGNATURE_HEADER} does not sign this body with the secret given (--webhook-secret or "
                    "LOGCORR_WEBHOOK_SECRET): give the one the Convex dashboard shows for this log stream"
                ),
            )
        if kind not in self.noted_signatures:
            self.noted_signatures.add(kind)
            self.note(f"logcorr serve: refused a Convex log-stream delivery (401): {message}")
        return BadRequest(401, "bad_signature", message)

    def stop_summary(self) -> str:
        """What the server did, said when it stops (after the writer wrote what was queued): a Ctrl-C
        otherwise ended it without a word, leaving the user to wonder whether the last logs were written."""
        c, w = self.counters, self.writer.stats
        answered = sum(c.responses.values())
        # a request the database failed (503, retry) is no refusal of the client's: said apart
        failed = sum(n for kind, n in c.rejected.items() if kind in _SERVER_FAILURES)
        refused = sum(c.rejected.values()) - failed
        dropped = sum(w.dropped.values())
        rules = ", ".join(f"{rule} {n}" for rule, n in sorted(w.dropped.items()))
        # `batches` counts the written ones only: "in 1 batch (1 failed)" was said of one written and one failed
        batches, lost = w.batches + w.failed_batches, w.failed_batches
        them = "it" if lost == 1 else "them"
        # the writer given up on (`BatchWriter.close`): what it had not written is said, not passed over as stored
        unwritten = (
            f"; the writer did not finish within {w.gave_up_s:g} s: {say_count(w.unwritten, 'request')} queued or "
            "being written may not be stored"
            if w.unwritten
            else ""
        )
        return (
            f"logcorr serve: stopped; {say_count(answered, 'request')} answered ({refused} refused"
            f"{f', {failed} failed' if failed else ''}), "
            f"{say_count(w.stored, 'event')} stored, {dropped} dropped{f' ({rules})' if rules else ''}, "
            f"in {say_count(batches, 'batch', 'batches')} ({lost} failed"
            f"{f', nothing of {them} stored' if lost else ''}) to {self.cfg.db}{unwritten}"
        )

    def connection_event(self, kind: str, status: int) -> None:
        """A connection refused or closed below the app (`protocol.guarded_protocol`): counted as a refused
        request (`status` 0: dropped without an answer), or as an idle connection closed."""
        if kind == "idle_closed":
            self.counters.idle_closed += 1
            return
        self.counters.rejected[kind] += 1
        if status:
            self.counters.responses[status] += 1

    def connection_opened(self, n: int) -> None:
        self.counters.connections += n

    def _fail(self, e: BadRequest, headers: dict[str, str] | None = None) -> Response:
        self.counters.rejected[e.kind] += 1
        self.counters.responses[e.status] += 1
        if e.close:
            headers = {**(headers or {}), "Connection": "close"}
        return _json(e.status, {"success": False, "error": e.message}, headers)

    def _ok(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
        self.counters.responses[status] += 1
        return _json(status, body, headers)

    async def _body(self, request: Request) -> tuple[bytes, bytes]:
        """The body as it came (what a webhook signature covers) and as JSON text (gzip inflated)."""
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media not in JSON_TYPES:
            raise BadRequest(
                415, "content_type", f"content type {media or '(none)'!r} is not JSON; send application/json"
            )
        encoding = request.headers.get("content-encoding", "").strip().lower()
        if encoding not in ("", "identity", "gzip", "x-gzip"):
            raise BadRequest(
                415, "content_encoding", f"content encoding {encoding!r} is not supported; send gzip or none"
            )
        limit = self.cfg.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise BadRequest(413, "too_large", f"body of {declared} bytes is over the {limit}-byte limit")
        chunks, size = [], 0
        try:
            # a client that trickles its body (or stops sending it) would hold its connection, and a
            # graceful shutdown, for as long as it likes
            async with asyncio.timeout(self.cfg.body_timeout_s):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise BadRequest(413, "too_large", f"body is over the {limit}-byte limit")
                    self._hold(request, len(chunk))
                    chunks.append(chunk)
        except ClientDisconnect:  # nobody to answer: counted (as nginx logs it, 499), not a traceback
            raise BadRequest(
                499, "disconnected", "the client closed the connection before its body arrived"
            ) from None
        except TimeoutError:
            raise BadRequest(
                408,
                "slow_body",
                f"the body did not arrive within {self.cfg.body_timeout_s:g} s",
                close=True,  # the rest of it would hold the connection: uvicorn skips it as it comes
            ) from None
        raw = body = b"".join(chunks)
        if (
            encoding in ("gzip", "x-gzip") or raw[:2] == b"\x1f\x8b"
        ):  # gzip also by content, as ingest reads it
            try:
                inflated = gunzip(raw, limit)
            except TruncatedInput as e:
                raise BadRequest(400, "bad_gzip", f"body is not valid gzip: {e}") from None
            if inflated is None:
                raise BadRequest(413, "too_large", f"body inflates to over the {limit}-byte limit")
            self._hold(request, len(inflated))
            body = inflated
        # a UTF-8 BOM, as some HTTP clients write one (ingest drops it too)
        if body.startswith(b"\xef\xbb\xbf"):
            body = body[3:]
        if not body.strip():
            raise BadRequest(400, "empty", "empty body")
        return raw, body

    def _hold(self, request: Request, n: int) -> None:
        """Count `n` more bytes of `request`'s body as held until its answer is sent, or refuse it
        (503 `busy`) when the bodies held together would pass `max_held_bytes`: many large bodies at once
        would otherwise all wait in memory for the one writer. The app's wrapper (`_cut_at_shutdown`) gives
        them back when the request ends."""
        if self.held + n > self.cfg.max_held_bytes:
            raise BadRequest(
                503, "busy", f"over {self.cfg.max_held_bytes:,} bytes of request bodies are waiting; retry"
            )
        self.held += n
        request.scope[_HELD][0] += n

    async def _store(self, route: str, body: bytes) -> Outcome:
        fut = self.writer.submit(route, body)
        outcome = asyncio.wrap_future(fut)
        try:
            try:
                return await asyncio.wait_for(asyncio.shield(outcome), self.cfg.answer_timeout_s)
            except (TimeoutError, asyncio.CancelledError) as cut:  # out of time, or cut at shutdown
                if fut.cancel():  # still queued: the writer skips it, so nothing of it is stored
                    if isinstance(cut, asyncio.CancelledError):
                        raise
                    raise BadRequest(
                        503, "timeout", "the database did not accept the batch in time; retry"
                    ) from None
                return await outcome  # its batch is being written: answer what became of it
        except LogcorrError as e:
            raise BadRequest(503, "database", e.message) from None

    def _answer(
        self, checked: Checked, out: Outcome, headers: dict[str, str], *, batch: bool, system: str
    ) -> Response:
        """The live Worker's answer `{success, trace_id, remaining_quota}`; 429 when every event of the
        body was refused by a pressure rule (loop, trace, rate limit, budget)."""
        tid = checked.trace_id
        remaining = out.remaining.get(checked.system or system)  # a body of metrics only: the route's system
        refused = [d for d in out.drops if d[0] in REFUSING_RULES]
        if not batch and out.stored == 0 and refused:
            rule, reason = refused[0]
            return self._ok(
                429,
                {
                    "success": False,
                    "trace_id": tid,
                    "error": f"{rule}: {reason}",
                    "remaining_quota": remaining,
                },
                headers,
            )
        body: dict[str, Any] = {"success": True, "trace_id": tid, "remaining_quota": remaining}
        if out.stored == 0 and out.drops and out.drops[0][0] == "suppress":
            body["message"] = "Log suppressed (noise filtering)"
        elif out.stored == 0 and out.drops:
            body["message"] = f"not stored: {out.drops[0][0]}: {out.drops[0][1]}"
        if batch or out.events > 1:
            body.update(
                processed=out.events, stored=out.stored, dropped=dict(Counter(r for r, _ in out.drops))
            )
        return self._ok(200, body, headers)

    # --- routes ------------------------------------------------------------------------------------

    async def preflight(self, request: Request) -> Response:
        self.counters.requests[f"OPTIONS {request.url.path}"] += 1
        headers, refused = self._cors(request)
        if refused:
            return self._fail(self._origin_refused(request.headers["origin"]), headers)
        if "Access-Control-Allow-Origin" in headers:
            headers.update(
                {
                    "Access-Control-Allow-Methods": CORS_METHODS,
                    "Access-Control-Allow-Headers": CORS_HEADERS,
                    "Access-Control-Max-Age": "86400",
                }
            )
        headers["Allow"] = CORS_METHODS
        self.counters.responses[204] += 1
        return Response(status_code=204, headers=headers)

    async def browser_log(self, request: Request) -> Response:
        """POST /log and POST /api/action: one console-override payload (either form)."""
        route = request.url.path
        self.counters.requests[f"POST {route}"] += 1
        headers, refused = self._cors(request)
        try:
            if refused:
                raise self._origin_refused(request.headers["origin"])
            _, body = await self._body(request)
            values = decode(body)
            if route == "/api/action":
                values = convex_action_args(values)
            checked = check(values, Endpoint.BROWSER)
            if self.cfg.proxy:  # the story's fallback: the Worker receives and stores it
                route = "/worker"
                body = to_body(as_worker_records(checked, int(time.time() * 1000)))
            elif route == "/api/action":
                body = to_body(checked.records)
            out = await self._store(f"POST {route}", body)
        except BadRequest as e:
            return self._fail(e, headers)
        response = self._answer(checked, out, headers, batch=False, system="browser")
        if request.url.path == "/api/action":  # Convex's HTTP API envelope around the function's value
            value = orjson.loads(response.body)
            response.body = orjson.dumps({"status": "success", "value": value})
            response.headers["content-length"] = str(len(response.body))
            # the function *returned* {success: false, …} (reference §3.2): the HTTP call itself succeeded, so a
            # ConvexHttpClient reads the value instead of throwing on a 429
            if response.status_code != 200:
                self.counters.responses[response.status_code] -= 1
                self.counters.responses[200] += 1
                response.status_code = 200
        return response

    async def worker(self, request: Request) -> Response:
        """POST /worker: records forwarded by a Worker (stored records, `{trace_id, logs}`, CF exports)."""
        self.counters.requests["POST /worker"] += 1
        try:
            self._server_route_origin(request)
            _, body = await self._body(request)
            checked = check(decode(body), Endpoint.WORKER)
            out = await self._store("POST /worker", body)
        except BadRequest as e:
            return self._fail(e)
        return self._answer(checked, out, {}, batch=len(checked.records) > 1, system="worker")

    async def convex_stream(self, request: Request) -> Response:
        """POST /convex/log-stream: a Convex log-stream delivery (JSON array or JSON lines)."""
        self.counters.requests["POST /convex/log-stream"] += 1
        try:
            self._server_route_origin(request)
            raw, body = await self._body(request)
            secret = self.cfg.webhook_secret
            if secret is not None and not signature_ok(secret, raw, request.headers.get(SIGNATURE_HEADER)):
                raise self._bad_signature(request.headers.get(SIGNATURE_HEADER))
            values = decode(body)
            checked = check(values, Endpoint.CONVEX)
            if checked.verification_only:
                self.counters.verification += 1
                return self._ok(200, {"success": True, "verification": True})
            max_age = self.cfg.max_event_age_s
            first = first_event_ms(values)
            if max_age is not None and first is not None and first < (time.time() - max_age) * 1000:
                raise BadRequest(
                    400, "stale_event", f"first event is older than {max_age:g} s (replay protection)"
                )
            out = await self._store("POST /convex/log-stream", body)
        except BadRequest as e:
            return self._fail(e)
        return self._answer(checked, out, {}, batch=True, system="backend")

    async def health(self, request: Request) -> Response:
        """GET /health: counters, batches and the month's quota use."""
        c, w = self.counters, self.writer.stats
        quota: dict[str, Any] | None = None
        if w.quota is not None:
            q = w.quota
            quota = {
                "month": q.month,
                "used": q.used,
                "quota": q.quota,
                "pct": round(q.pct, 2),
                "systems": {
                    s.system: {
                        "used": s.used,
                        "quota": s.quota,
                        "pct": round(s.pct, 2),
                        "remaining": max(0, s.quota - s.used),
                    }
                    for s in q.systems
                },
            }
        return self._ok(
            200,
            {
                "status": "healthy",
                "service": "logcorr serve",
                "version": __version__,
                "db": self.cfg.db,
                "uptime_s": round(time.time() - c.started, 1),
                "requests": dict(c.requests),
                "responses": {str(k): v for k, v in sorted(c.responses.items())},
                "rejected": dict(c.rejected),
                "verification_events": c.verification,
                "connections": {
                    "open": c.connections,
                    "max": self.cfg.max_connections,
                    "idle_closed": c.idle_closed,
                },
                "events": {"stored": w.stored, "dropped": dict(w.dropped)},
                "batches": {
                    "written": w.batches,
                    "failed": w.failed_batches,
                    "pending_requests": self.writer.pending,
                    "last_requests": w.last_batch_requests,
                    "last_ms": round(w.last_batch_ms, 1),
                },
                "quota": quota,
            },
        )

    async def recent_traces(self, request: Request) -> Response:
        """GET /traces/recent?limit=N (default 10, at most 50), newest first, as the live Worker lists them."""
        raw = request.query_params.get("limit", "10")
        if not raw.isdigit() or int(raw) < 1:
            return self._fail(BadRequest(400, "bad_query", "limit must be a positive integer"))
        limit = min(int(raw), 50)

        def query(con: Any) -> list[tuple[Any, ...]]:
            rows: list[tuple[Any, ...]] = con.execute(
                "SELECT trace_id, epoch_ms(last_ts), events, systems, errors > 0 FROM trace_summary "
                "ORDER BY last_ts DESC, trace_id LIMIT ?",
                [limit],
            ).fetchall()
            return rows

        try:
            rows = await asyncio.wait_for(
                asyncio.wrap_future(self.writer.read(query)), self.cfg.answer_timeout_s
            )
        except (TimeoutError, LogcorrError) as e:
            return self._fail(BadRequest(503, "database", getattr(e, "message", "database busy")))
        traces = [
            {
                "id": t,
                "timestamp": ts,
                "logCount": n,
                "systems": s.split("→") if s else [],
                "hasErrors": bool(err),
            }
            for t, ts, n, s, err in rows
        ]
        return self._ok(
            200, {"traces": traces, "count": len(traces), "retrieved_at": int(time.time() * 1000)}
        )

    def app(self) -> ASGIApp:
        """The ASGI application; its lifespan starts and drains the writer."""

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            self.writer.start()
            try:
                yield
            finally:
                await asyncio.to_thread(self.writer.close)
                # stopped (Ctrl-C, SIGTERM), the queue written: what was done. Here, not after uvicorn returns:
                # it raises SIGTERM again once stopped, and that ends the process (exit 143) before then
                self.note(self.stop_summary())

        routes = [
            Route("/log", self.browser_log, methods=["POST"]),
            Route("/log", self.preflight, methods=["OPTIONS"]),
            Route("/api/action", self.browser_log, methods=["POST"]),
            Route("/api/action", self.preflight, methods=["OPTIONS"]),
            Route("/worker", self.worker, methods=["POST"]),
            Route("/convex/log-stream", self.convex_stream, methods=["POST"]),
            Route("/health", self.health, methods=["GET"]),
            Route("/traces/recent", self.recent_traces, methods=["GET"]),
        ]

        async def http_error(request: Request, exc: Exception) -> Response:
            """An unknown path (404) or method (405) answered as every other refusal: JSON, counted."""
            assert isinstance(exc, HTTPException)
            kind = {404: "unknown_path", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
            return self._fail(
                BadRequest(exc.status_code, kind, f"{exc.detail}: {request.method} {request.url.path}"),
                dict(exc.headers or {}),
            )

        app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: http_error})
        return self._cut_at_shutdown(self._check_host(app))

    def _check_host(self, app: ASGIApp) -> ASGIApp:
        """`app`, refusing a request whose head is over the limits (431), or whose `Host` the policy does not
        admit, before any route sees it (GET
        and POST alike, unknown paths too): a page on a name rebound to 127.0.0.1 is same-origin for its
        browser, so neither CORS nor the `Origin` check stops it reading `/health` or `/traces/recent`."""

        async def checked(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                too_large = _head_too_large(scope)
                if too_large is not None:
                    await self._fail(BadRequest(431, "headers_too_large", too_large, close=True))(
                        scope, receive, send
                    )
                    return
                values = [v.decode("latin-1") for k, v in scope["headers"] if k == b"host"]
                refusal = self.cfg.hosts.refusal(values)
                if refusal is not None:
                    await self._fail(BadRequest(*refusal))(scope, receive, send)
                    return
            await app(scope, receive, send)

        return checked

    def _cut_at_shutdown(self, app: ASGIApp) -> ASGIApp:
        """`app`, answering 503 instead of leaving a traceback when the server cuts a request that is still
        running at the end of its graceful shutdown (a client trickling its body, a batch still waiting), and
        giving back the body bytes a request held (`_hold`) when it ends, answered or cut."""

        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            started = False
            scope[_HELD] = held = [0]  # this request's body bytes counted in `self.held`

            async def tracking(message: Message) -> None:
                nonlocal started
                started = started or message["type"] == "http.response.start"
                await send(message)

            try:
                await app(scope, receive, tracking)
            except asyncio.CancelledError:
                if scope["type"] != "http" or started:
                    raise
                e = BadRequest(503, "shutting_down", "the server is shutting down; retry")
                with contextlib.suppress(Exception):
                    await self._fail(e)(scope, receive, send)
            finally:
                self.held -= held[0]

        return wrapped
