"""The connection layer under the ASGI app: uvicorn's h11 protocol with the limits it lacks for slow and
hostile clients. uvicorn (h11 or httptools) waits for a request's head as long as a client likes — a
client sending its headers a byte a second, or connecting and sending nothing, held its connection
forever — and writes to a client that does not read for as long as it likes; it neither bounds the number
of connections (`limit_concurrency` answers 503 only once a request's head arrived, while the connection is
held anyway) nor answers an oversized head with anything but a plain-text 400. Here:

- `header_timeout_s`: a request's line and headers must arrive within this of the connection opening (or
  of the previous response, on a kept-alive connection); a client that sent part of a head is answered
  408 and the connection closed, one that sent nothing is closed (uvicorn closes an idle kept-alive
  connection after 5 s itself);
- `send_timeout_s`: a response the client does not read (the socket's buffers full) for this long is
  dropped with its connection;
- `max_connections`: a connection over it takes the place of the one that has waited longest for a
  request's head (idle, or sending one slowly: closed as by the header timeout), or, when every connection
  has a request being answered, is answered 503 and closed at once;
- a head that h11 refuses gets a JSON answer: 431 when it is over `MAX_HEAD_BYTES` while incomplete (h11's
  own hint), 400 otherwise; a complete head over the limits is refused by the app (`Collector`).

Each refusal is counted by `reject(kind, status)` (`/health`'s `rejected`). The class is built per server
by `guarded_protocol` and passed to uvicorn as its `http` protocol, so it is h11 whatever else is
installed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import h11
import orjson
from uvicorn.protocols.http.h11_impl import H11Protocol

from logcorr.serve.config import MAX_HEAD_BYTES

REFUSED_LINGER_S = 1.0  # how long a connection over `max_connections` may take to send its request

Reject = Callable[[str, int], None]  # (kind, HTTP status, 0 for a connection dropped without an answer)


def error_response(status: int, reason: str, message: str) -> bytes:
    """A complete HTTP/1.1 answer `{success: false, error}` that closes the connection, for answers
    written below the ASGI app (no request parsed, or none that can be)."""
    body = orjson.dumps({"success": False, "error": message})
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    ).encode() + body


class _Connection(h11.Connection):
    """h11's connection, keeping the error it raised on a bad request (uvicorn answers every one 400)."""

    last_error: h11.RemoteProtocolError | None = None

    def next_event(self) -> Any:
        try:
            return super().next_event()
        except h11.RemoteProtocolError as e:
            self.last_error = e
            raise


def guarded_protocol(
    *,
    header_timeout_s: float,
    send_timeout_s: float,
    max_connections: int,
    reject: Reject,
    opened: Callable[[int], None] = lambda n: None,
) -> type[H11Protocol]:
    """An `H11Protocol` subclass with these limits; `opened(±1)` follows the connections being served."""

    class GuardedH11Protocol(H11Protocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.conn = self._h11 = _Connection(h11.SERVER, MAX_HEAD_BYTES)
            self._head_timer: asyncio.TimerHandle | None = None
            self._send_timer: asyncio.TimerHandle | None = None
            self._refused = False
            self._refused_until = 0.0
            self._waiting_since = 0.0  # loop time the connection began waiting for a request's head
            self._counted = False

        # --- connections over the limit --------------------------------------------------------------

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            if len(self.connections) >= max_connections and not self._evict_one():
                # every connection has a request being answered: this one is answered at once, before its
                # request arrives (that would take a slot); the request is read and dropped for a moment
                # so that closing does not reset the connection before the client read the answer
                self._refused = True
                self.transport = transport
                reject("too_many_connections", 503)
                transport.write(
                    error_response(
                        503,
                        "Service Unavailable",
                        f"the server has {max_connections} connections open (--max-connections); retry",
                    )
                )
                self._refused_until = self.loop.time() + REFUSED_LINGER_S
                self._head_timer = self.loop.call_later(REFUSED_LINGER_S, transport.close)
                return
            super().connection_made(transport)
            self._counted = True
            opened(1)
            self._arm_head_timer()

        def _evict_one(self) -> bool:
            """Close the connection that has waited longest for a request's head (idle, or sending one
            slowly), so that a flood of idle or slow sockets cannot keep out a client with a request;
            False when every connection has a request being answered."""
            waiting = [
                c
                for c in self.connections
                if isinstance(c, GuardedH11Protocol)
                and c._head_timer is not None
                and not c.transport.is_closing()
            ]
            if not waiting:
                return False
            oldest = min(waiting, key=lambda c: c._waiting_since)
            oldest._cancel_head_timer()
            oldest._close_waiting(
                "the request's headers had not arrived when another connection needed the place (--max-connections)"
            )
            return True

        def data_received(self, data: bytes) -> None:
            if self._refused:  # closed once the request stops coming (closing sooner would reset it)
                if self._head_timer is not None:
                    self._head_timer.cancel()
                left = self._refused_until - self.loop.time()
                self._head_timer = self.loop.call_later(min(0.05, max(0.0, left)), self.transport.close)
                return
            super().data_received(data)
            if not self._awaiting_head():  # the head arrived
                self._cancel_head_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_head_timer()
            if self._send_timer is not None:
                self._send_timer.cancel()
                self._send_timer = None
            if self._counted:
                self._counted = False
                opened(-1)
            if self._refused:
                self.transport.close()
                return
            super().connection_lost(exc)

        # --- the request head ------------------------------------------------------------------------

        def _awaiting_head(self) -> bool:
            """No request is being answered: the connection waits for the next request's head."""
            return self.cycle is None or self.cycle.response_complete

        def _arm_head_timer(self) -> None:
            self._cancel_head_timer()
            self._waiting_since = self.loop.time()
            self._head_timer = self.loop.call_later(header_timeout_s, self._head_timed_out)

        def _cancel_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self.transport.is_closing() or not self._awaiting_head():
                return
            self._close_waiting(f"the request's headers did not arrive within {header_timeout_s:g} s")

        def _close_waiting(self, why: str) -> None:
            """Close a connection waiting for a request's head: 408 when part of one came."""
            if self.conn.their_state is h11.IDLE and self.conn.trailing_data[0].strip():
                reject("slow_headers", 408)  # part of a head: say why it is closed
                self.transport.write(error_response(408, "Request Timeout", why))
            else:
                # nothing sent (a browser's pre-connect), or the rest of a body the answer did not need
                # still trickling in (a refused request's): closed as uvicorn closes an idle connection
                reject("idle_closed", 0)
            self.transport.close()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            # the next request on this connection (unless one pipelined behind it is answered already);
            # uvicorn's keep-alive timer closes an idle connection, but any byte (of a head, or of a body
            # the answer did not read) restarts it
            if not self.transport.is_closing() and self._awaiting_head():
                self._arm_head_timer()

        def send_400_response(self, msg: str) -> None:
            self._cancel_head_timer()
            error = self._h11.last_error
            if error is not None and error.error_status_hint == 431:
                reject("headers_too_large", 431)
                answer = error_response(
                    431,
                    "Request Header Fields Too Large",
                    f"the request line and headers are over {MAX_HEAD_BYTES:,} bytes",
                )
            else:
                reject("bad_http", 400)
                detail = str(error)[:200] if error is not None and str(error) else "malformed request"
                answer = error_response(400, "Bad Request", f"not a valid HTTP/1.1 request: {detail}")
            self.transport.write(answer)
            self.transport.close()

        # --- a client that does not read --------------------------------------------------------------

        def pause_writing(self) -> None:
            super().pause_writing()
            if self._send_timer is None:
                self._send_timer = self.loop.call_later(send_timeout_s, self._send_timed_out)

        def resume_writing(self) -> None:
            super().resume_writing()
            if self._send_timer is not None:
                self._send_timer.cancel()
                self._send_timer = None

        def _send_timed_out(self) -> None:
            self._send_timer = None
            reject("slow_reader", 0)
            self.transport.abort()  # it does not read: nothing more can be said to it

    return GuardedH11Protocol
