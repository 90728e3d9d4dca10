"""`logcorr serve` under slow and hostile clients, through real sockets against a real server process:
a head sent a byte at a time, a body that never comes, a client that never reads, too many connections,
oversized heads, chunked and gzip bodies, and the `--allow-host` patterns that would admit a public suffix.

Timeouts are set short on the command line (0.5 s), so no test waits long; each wait is bounded."""

from __future__ import annotations

import contextlib
import gzip
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from tests import test_serve  # noqa: E402
from tests.test_serve import Server, browser, rows  # noqa: E402

serve = test_serve.serve  # the fixture: a `logcorr serve --port 0` process per test

JSON = b"Content-Type: application/json\r\n"


def _connect(server: Server, rcvbuf: int | None = None) -> socket.socket:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:  # before connecting, so the window is small from the start
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(5)
    s.connect((host, int(port)))
    return s


def _read_all(s: socket.socket, timeout: float = 5.0) -> bytes:
    """Everything the server sends until it closes the connection (bounded by `timeout`)."""
    s.settimeout(timeout)
    chunks = []
    while chunk := s.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _exchange(server: Server, request: bytes) -> bytes:
    with _connect(server) as s:
        s.sendall(request)
        return _read_all(s)


def _json_body(response: bytes) -> Any:
    return orjson.loads(response.split(b"\r\n\r\n", 1)[1])


def _health(server: Server) -> Any:
    with server.client() as c:
        return c.get("/health").json()


# --- slow clients ---------------------------------------------------------------------------------------


def test_a_head_sent_a_byte_at_a_time_is_cut_with_408_and_others_are_served_meanwhile(
    serve: Callable[..., Server],
) -> None:
    """Slowloris: uvicorn waits for a request's headers as long as a client likes, so 200 such clients
    held 200 connections for good (they were still open after 15 s of one byte a second)."""
    server = serve("--header-timeout", "0.5")
    slow = [_connect(server) for _ in range(20)]
    for s in slow:
        s.sendall(b"GET /health HTTP/1.1\r\nHo")
    silent = _connect(server)  # connects and sends nothing (a pre-connect, or an attacker's idle socket)
    started = time.monotonic()
    with server.client() as c:
        served = c.get("/health")
    served_in = time.monotonic() - started
    for s in slow:
        s.sendall(b"s")
    answers = [_read_all(s) for s in slow]  # each ends with the server closing it
    closed_in = time.monotonic() - started
    nothing = _read_all(silent)
    for s in [*slow, silent]:
        s.close()
    assert served.status_code == 200 and served_in < 0.5  # not held up by the slow ones
    assert closed_in < 3.0
    for a in answers:
        assert a.startswith(b"HTTP/1.1 408 ") and b"connection: close" in a.lower()
        assert _json_body(a) == {
            "success": False,
            "error": "the request's headers did not arrive within 0.5 s",
        }
    assert nothing == b""  # nothing was asked, so nothing is answered: closed
    health = _health(server)
    assert health["rejected"] == {"slow_headers": 20}
    assert health["connections"]["idle_closed"] >= 1 and health["connections"]["max"] == 512


def test_a_body_that_never_comes_is_408_and_the_connection_closed(serve: Callable[..., Server]) -> None:
    """`Content-Length: 1000000` and then nothing: answered after --body-timeout, and closed (it was kept
    open for uvicorn's keep-alive, where each further byte of the body restarted the wait)."""
    server = serve("--body-timeout", "0.5")
    started = time.monotonic()
    answer = _exchange(
        server, b"POST /log HTTP/1.1\r\nHost: localhost\r\n" + JSON + b"Content-Length: 1000000\r\n\r\n{"
    )
    took = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 ") and b"connection: close" in answer.lower()
    assert _json_body(answer)["error"] == "the body did not arrive within 0.5 s"
    assert 0.4 < took < 3.0  # _read_all returned: the server closed the connection after answering
    assert _health(server)["rejected"] == {"slow_body": 1}


def test_a_client_that_hangs_up_during_its_body_is_counted_not_a_traceback(
    serve: Callable[..., Server],
) -> None:
    """It printed uvicorn's "Exception in ASGI application" and a 40-line traceback (ClientDisconnect)."""
    server = serve()
    with _connect(server) as s:
        s.sendall(b"POST /log HTTP/1.1\r\nHost: localhost\r\n" + JSON + b"Content-Length: 100\r\n\r\n{")
        time.sleep(0.2)  # the route is reading the body
    deadline = time.monotonic() + 3
    while (health := _health(server))["rejected"] == {} and time.monotonic() < deadline:
        time.sleep(0.05)
    server.stop()
    stderr = server.proc.stderr.read().decode() if server.proc.stderr else ""
    assert health["rejected"] == {"disconnected": 1} and health["requests"] == {"POST /log": 1}
    assert "Traceback" not in stderr and "Exception" not in stderr, stderr


def test_a_client_that_never_reads_its_answers_is_dropped(serve: Callable[..., Server]) -> None:
    """A client pipelining requests and reading none: once the socket's buffers are full the server waits
    to write; it waited for good, holding the connection (and the answers) as long as the client liked."""
    server = serve("--body-timeout", "0.5")
    s = _connect(server, rcvbuf=4096)
    s.setblocking(False)
    # the server reads them as it answers; what fits in the buffers is enough to fill them with answers
    with contextlib.suppress(BlockingIOError):
        s.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n" * 20_000)
    started = time.monotonic()
    error = 0
    while not error and time.monotonic() - started < 8:
        time.sleep(0.05)
        error = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    dropped_in = time.monotonic() - started
    with server.client() as c:
        other = c.get("/health")
    s.close()
    assert error != 0, "the connection of a client that reads nothing was not dropped"
    assert dropped_in < 5.0
    assert other.status_code == 200 and other.json()["rejected"] == {"slow_reader": 1}


# --- limits ------------------------------------------------------------------------------------------


def test_a_connection_over_the_limit_takes_the_place_of_the_longest_idle_one(
    serve: Callable[..., Server],
) -> None:
    """Sockets left idle (or sending a head slowly) cannot keep out a client that has a request: at
    --max-connections, the one that has waited longest for a head is closed to make room."""
    server = serve("--max-connections", "4", "--header-timeout", "5")
    oldest = _connect(server)
    time.sleep(0.05)
    slow = [_connect(server) for _ in range(3)]
    for s in slow:
        s.sendall(b"GET /health HTTP/1.1\r\nHo")
    time.sleep(0.1)  # accepted by the server
    with server.client() as c:
        served = c.get("/health")
    closed = _read_all(oldest, timeout=2)
    for s in [oldest, *slow]:
        s.close()
    assert served.status_code == 200 and served.json()["connections"]["max"] == 4
    assert closed == b""  # it had sent nothing: closed without an answer
    assert served.json()["connections"]["idle_closed"] == 1


def test_a_connection_over_the_limit_is_503_when_every_one_has_a_request(
    serve: Callable[..., Server],
) -> None:
    server = serve("--max-connections", "4", "--header-timeout", "5")
    busy = [_connect(server) for _ in range(4)]
    for s in busy:  # requests whose bodies are still coming: being answered, not waiting for a head
        s.sendall(b"POST /log HTTP/1.1\r\nHost: localhost\r\n" + JSON + b"Content-Length: 100\r\n\r\n{")
    time.sleep(0.1)
    started = time.monotonic()
    refused = _exchange(server, b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
    refused_in = time.monotonic() - started
    for s in busy:
        s.close()
    deadline = time.monotonic() + 3
    while True:  # the closed connections are given back
        with server.client() as c:
            r = c.get("/health")
        if r.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert refused.startswith(b"HTTP/1.1 503 ") and b"connection: close" in refused.lower()
    assert "--max-connections" in _json_body(refused)["error"] and refused_in < 1.0
    assert r.status_code == 200
    assert r.json()["connections"] == {"open": 1, "max": 4, "idle_closed": 0}
    assert r.json()["rejected"]["too_many_connections"] >= 1


def test_many_idle_connections_cost_no_thread_each(serve: Callable[..., Server]) -> None:
    """The server is one event loop and one writer thread: 300 open connections are not 300 threads."""
    server = serve("--header-timeout", "5")
    idle = [_connect(server) for _ in range(300)]
    with server.client() as c:
        health = c.get("/health").json()
    threads = len(os.listdir(f"/proc/{server.proc.pid}/task")) if os.path.isdir("/proc") else 0
    for s in idle:
        s.close()
    assert health["connections"]["open"] >= 250
    assert threads < 10


def test_heads_over_the_limits_are_431_with_a_json_error(serve: Callable[..., Server]) -> None:
    """h11 refuses a head over 16 KiB only while it is incomplete: one arriving whole was answered 200,
    one arriving in pieces got uvicorn's plain-text 400, and 3,000 header fields were answered 200."""
    server = serve()
    long_line = _exchange(
        server, b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"
    )
    many = _exchange(
        server,
        b"GET /health HTTP/1.1\r\nHost: localhost\r\n"
        + b"".join(b"X-%d: v\r\n" % i for i in range(150))
        + b"\r\n",
    )
    with _connect(server) as s:  # in pieces: h11's own limit
        s.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * 17_000)
        time.sleep(0.1)
        s.sendall(b"a" * 3_000 + b"\r\n\r\n")
        pieces = _read_all(s)
    for answer in (long_line, many, pieces):
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]
        assert _json_body(answer)["success"] is False
    assert _json_body(many)["error"] == "the request has 151 header fields, over the limit of 100"
    assert "16,384 bytes" in _json_body(pieces)["error"]
    health = _health(server)
    assert health["rejected"] == {"headers_too_large": 3} and health["responses"]["431"] == 3


def test_a_malformed_request_is_a_json_400(serve: Callable[..., Server]) -> None:
    server = serve()
    answer = _exchange(server, b"GET /health HTTP/1.1\r\nHost: localhost\r\nno colon here\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert _json_body(answer)["error"].startswith("not a valid HTTP/1.1 request: ")
    assert _health(server)["rejected"] == {"bad_http": 1}


def _chunked(body: bytes, size: int) -> bytes:
    return b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size]) for i in range(0, len(body), size)
    )


def test_chunked_bodies_are_read_within_the_body_limit(serve: Callable[..., Server]) -> None:
    """A Worker's `fetch` with a stream body, or a log stream, may send `Transfer-Encoding: chunked` (no
    Content-Length): read and stored as any body, gzip too; over --max-body-kb it is 413 while reading."""
    server = serve("--max-body-kb", "4")
    head = (
        b"POST /log HTTP/1.1\r\nHost: localhost\r\n"
        + JSON
        + b"Transfer-Encoding: chunked\r\nConnection: close\r\n"
    )
    plain = _exchange(
        server, head + b"\r\n" + _chunked(orjson.dumps(browser("sent in chunks")), 16) + b"0\r\n\r\n"
    )
    zipped = gzip.compress(orjson.dumps(browser("gzip in chunks", ts=1714910400001)))
    gz = _exchange(server, head + b"Content-Encoding: gzip\r\n\r\n" + _chunked(zipped, 16) + b"0\r\n\r\n")
    big = _exchange(server, head + b"\r\n" + _chunked(b" " * 8192, 1024) + b"0\r\n\r\n")
    assert plain.startswith(b"HTTP/1.1 200 ") and _json_body(plain)["success"] is True
    assert gz.startswith(b"HTTP/1.1 200 ") and _json_body(gz)["success"] is True
    assert big.startswith(b"HTTP/1.1 413 ") and "4096-byte limit" in _json_body(big)["error"]
    server.stop()
    assert rows(server.db, "SELECT message FROM log_queue ORDER BY message") == [
        ("gzip in chunks",),
        ("sent in chunks",),
    ]


def test_bad_limits_are_one_clear_line(cli: Callable[..., Any], tmp_path: Path) -> None:
    for args, says in (
        (("--header-timeout", "0"), "--header-timeout 0: must be over 0"),
        (("--body-timeout", "-1"), "--body-timeout -1: must be over 0"),
        (("--max-connections", "0"), "--max-connections 0: must be 1 or more"),
    ):
        r = cli("serve", "--port", "0", "--db", str(tmp_path / "x.duckdb"), *args)
        assert r.exit_code == 2 and r.stderr.startswith(f"error: {says}"), r.stderr
    assert not (tmp_path / "x.duckdb").exists()


def test_the_open_files_limit_is_raised_to_hold_the_connections_or_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past the open-files limit the server can accept no connection at all, not even `/health`."""
    import resource

    from logcorr.errors import UsageError
    from logcorr.serve import run

    set_to: list[tuple[int, int]] = []
    monkeypatch.setattr(resource, "setrlimit", lambda kind, limits: set_to.append(limits))
    monkeypatch.setattr(resource, "getrlimit", lambda kind: (256, 4096))
    run._fd_room(512)
    assert set_to == [(512 + run.FD_RESERVE, 4096)]
    monkeypatch.setattr(resource, "getrlimit", lambda kind: (256, 300))
    with pytest.raises(UsageError, match=r"--max-connections 512 needs 576 open files") as refused:
        run._fd_room(512)
    assert "--max-connections 236 or less" in (refused.value.hint or "")


# --- --allow-host and the Host forms -------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern", [".co.uk", "*.co.uk", ".CO.UK.", ".com.au", "*.co.jp", ".duckdns.org", ".рф", "*.xn--p1ai"]
)
def test_allow_host_refuses_a_public_suffix(pattern: str) -> None:
    """`.co.uk` passed the one-label check (`.com` was refused): anyone can register a name under it and
    point it at 127.0.0.1, which is what the Host check is there to stop."""
    from logcorr.errors import UsageError
    from logcorr.serve.security import HostPolicy

    with pytest.raises(UsageError, match=r"would admit every name under .*, a public suffix") as refused:
        HostPolicy([pattern])
    assert "127.0.0.1" in refused.value.message


def test_a_public_suffix_given_to_serve_is_a_usage_error(tmp_path: Path) -> None:
    """Exit 2 and one line, before anything listens (it listened, for every name under co.uk)."""
    import subprocess
    import sys

    db = tmp_path / "x.duckdb"
    args = ["serve", "--port", "0", "--db", str(db), "--allow-host", ".co.uk"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "logcorr", *args], stderr=subprocess.PIPE, stdout=subprocess.PIPE, cwd=tmp_path
    )
    try:
        out, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("logcorr serve --allow-host .co.uk started serving")
    assert proc.returncode == 2 and out == b""
    assert err.decode().startswith(
        "error: --allow-host '.co.uk' would admit every name under .co.uk, a public suffix"
    )
    assert b"Traceback" not in err and not db.exists()


def test_allow_host_takes_a_domain_under_a_public_suffix_and_an_idn() -> None:
    from logcorr.serve.security import HostPolicy

    p = HostPolicy([".shop.co.uk", ".ngrok-free.app", ".Bücher.example"])
    assert p.refusal(["api.shop.co.uk:443"]) is None and p.refusal(["other.co.uk"]) is not None
    assert p.refusal(["abc.ngrok-free.app"]) is None  # the tunnel provider alone sets its names' addresses
    # a browser sends an internationalised name in its ASCII form (IDNA), in any case, maybe with a dot
    assert p.refusal(["xn--bcher-kva.example"]) is None
    assert p.refusal(["WWW.XN--BCHER-KVA.EXAMPLE.:8787"]) is None
    assert p.refusal(["xn--bcher-kva.example.evil"]) is not None


def test_a_real_server_reads_host_forms_as_browsers_send_them(serve: Callable[..., Server]) -> None:
    server = serve("--allow-host", "bücher.example")
    answered = {
        host: _exchange(
            server, f"GET /health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
        )[:12]
        for host in (
            "LOCALHOST.",
            "localhost:8080",
            "LocalHost.:8080",
            "[::1]:8080",
            "127.0.0.1.",
            "xn--bcher-kva.example:8787",
            "Evil.Example.",
            "localhost..",
        )
    }
    assert answered == {
        "LOCALHOST.": b"HTTP/1.1 200",
        "localhost:8080": b"HTTP/1.1 200",
        "LocalHost.:8080": b"HTTP/1.1 200",
        "[::1]:8080": b"HTTP/1.1 200",
        "127.0.0.1.": b"HTTP/1.1 200",
        "xn--bcher-kva.example:8787": b"HTTP/1.1 200",
        "Evil.Example.": b"HTTP/1.1 403",
        "localhost..": b"HTTP/1.1 400",
    }
