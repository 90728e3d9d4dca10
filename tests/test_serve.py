"""`logcorr serve`: a real server process on a loopback port, driven by a real HTTP client (httpx).

Each test starts its own server on a free port (port 0) with its own database and waits, bounded, for
the "listening on" line. Reads go through the CLI (`logcorr trace`, `traces`) while the server runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from logcorr.serve.security import OriginPolicy, signature_of, signature_ok  # noqa: E402
from tests.conftest import convex_console  # noqa: E402

T0 = 1714910400000  # 2024-05-05 12:00:00 UTC
START_TIMEOUT_S = 30.0
SECRET = "5f0c5b5e0b1a4f3e9a7d2c1b0a9f8e7d"
ALLOWED = "http://localhost:3000"


@dataclass
class Server:
    url: str
    db: str
    proc: subprocess.Popen[bytes]

    def client(self) -> Any:
        return httpx.Client(base_url=self.url, timeout=30.0)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start `logcorr serve --port 0 ARGS…` in a subprocess; returns once it listens."""
    started: list[Server] = []

    def start(*args: str) -> Server:
        db = str(tmp_path / f"serve{len(started)}.duckdb")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("LOGCORR_WEBHOOK_SECRET", None)
        proc = subprocess.Popen(
            [sys.executable, "-m", "logcorr", "serve", "--port", "0", "--db", db, *args],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            env=env,
            cwd=tmp_path,
            # Ctrl-C as a terminal gives it: a test run started in the background (`.ci/run &`) ignores SIGINT,
            # its children inherit that, and uvicorn re-raises the signal it caught into the ignored disposition
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        line: list[bytes] = []
        reader = threading.Thread(target=lambda: line.append(proc.stderr.readline() if proc.stderr else b""))
        reader.start()
        reader.join(START_TIMEOUT_S)
        text = line[0].decode() if line else ""
        if "listening on " not in text:
            proc.kill()
            pytest.fail(f"server did not start within {START_TIMEOUT_S} s: {text!r}")
        server = Server(text.split("listening on ", 1)[1].split()[0], db, proc)
        started.append(server)
        return server

    yield start
    for s in started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait(timeout=30)


def browser(
    msg: str, *, trace: str = "trace_1714910400000_k3j", ts: int = T0, level: str = "info"
) -> dict[str, Any]:
    return {
        "trace_id": trace,
        "message": msg,
        "level": level,
        "system": "browser",
        "user_id": "user-1",
        "context": {"timestamp": ts, "url": "http://localhost:3000/checkout", "userAgent": "Mozilla/5.0"},
    }


def _nested_body(depth: int) -> bytes:
    """A browser payload whose context nests `depth` levels deep (written by hand: orjson stops at 255)."""
    body = orjson.dumps({**browser("deep"), "context": {"timestamp": T0, "deep": "HOLE"}})
    return body.replace(b'"HOLE"', b'{"a":' * depth + b"1" + b"}" * depth)


def rows(db: str, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(db, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


# --- CORS -----------------------------------------------------------------------------------------


def test_preflight_from_an_allowed_origin_is_answered_with_cors_headers(serve: Callable[..., Server]) -> None:
    with serve().client() as c:
        r = c.options("/log", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "POST"})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == ALLOWED
    assert "POST" in r.headers["access-control-allow-methods"]
    assert "Content-Type" in r.headers["access-control-allow-headers"]
    assert r.headers["vary"] == "Origin"


def test_a_refused_origin_gets_no_cors_headers_and_nothing_is_stored(serve: Callable[..., Server]) -> None:
    s = serve("--allow-origin", "https://app.example.com")
    with s.client() as c:
        pre = c.options("/log", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "POST"})
        post = c.post("/log", json=browser("from a refused origin"), headers={"Origin": ALLOWED})
        ok = c.post(
            "/log", json=browser("from the allowed origin"), headers={"Origin": "https://app.example.com"}
        )
        health = c.get("/health").json()
    assert pre.status_code == 403 and "access-control-allow-origin" not in pre.headers
    assert post.status_code == 403 and "access-control-allow-origin" not in post.headers
    assert post.headers["vary"] == "Origin"
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://app.example.com"
    assert health["rejected"]["origin_refused"] == 2
    s.stop()
    assert rows(s.db, "SELECT message FROM log_queue") == [("from the allowed origin",)]


def test_a_refused_origin_is_told_the_flag_and_said_on_stderr_once(serve: Callable[..., Server]) -> None:
    """A browser shows the page only a CORS error, never the 403's body: the server says on stderr which
    origin it refused and the flag that admits it (once per origin), and the answer says it too."""
    s = serve("--allow-origin", "http://localhost:3000")
    vite = "http://localhost:5173"
    with s.client() as c:
        pre = c.options("/log", headers={"Origin": vite, "Access-Control-Request-Method": "POST"})
        post = c.post("/log", json=browser("from vite"), headers={"Origin": vite})
        ok = c.post("/log", json=browser("from next"), headers={"Origin": ALLOWED})
        null = c.post("/log", json=browser("from a file"), headers={"Origin": "null"})
    assert pre.status_code == 403 and post.status_code == 403 and ok.status_code == 200
    for r in (pre, post):
        assert r.json()["error"] == (
            "Origin 'http://localhost:5173' is not allowed: this server takes browser requests from "
            "http://localhost:3000 (--allow-origin); to admit this page, start it with "
            "--allow-origin http://localhost:5173 (repeatable)"
        )
    assert "--allow-origin '*'" in null.json()["error"]
    assert s.stop(signal.SIGINT) == 130  # Ctrl-C: "interrupted" (README, exit codes)
    err = s.proc.stderr.read().decode() if s.proc.stderr else ""
    noted = [line for line in err.splitlines() if "refused a request" in line]
    assert noted[0] == f"logcorr serve: refused a request: {pre.json()['error']}"
    assert len(noted) == 2 and "Origin 'null'" in noted[1]  # the second 5173 refusal is not said again
    assert err.splitlines()[-2:] == [
        f"logcorr serve: stopped; 4 requests answered (3 refused), 1 event stored, 0 dropped, "
        f"in 1 batch (0 failed) to {s.db}",
        "interrupted",
    ]


def test_an_origin_refusal_prints_no_odd_characters() -> None:
    policy = OriginPolicy(("http://localhost:3000",))
    assert policy.refusal("http://a\x1b[31mb.example").endswith("it is not an origin (scheme://host[:port])")
    assert "\\x1b" in policy.refusal("http://a\x1b[31mb.example")  # escaped by repr, not the raw escape
    assert "\x1b" not in policy.refusal("http://a\x1b[31mb.example")
    assert policy.refusal("https://app.example.com:443").endswith(
        "--allow-origin https://app.example.com (repeatable)"
    )


def test_an_allowed_origin_posts_a_log_and_gets_the_workers_answer(serve: Callable[..., Server]) -> None:
    with serve().client() as c:
        r = c.post("/log", json=browser("User clicked checkout"), headers={"Origin": ALLOWED})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == ALLOWED and r.headers["vary"] == "Origin"
    assert r.json() == {"success": True, "trace_id": "trace_1714910400000_k3j", "remaining_quota": 49_999}


def test_the_older_payload_through_the_convex_http_api_path_is_stored(serve: Callable[..., Server]) -> None:
    call = {
        "path": "loggingAction:processLogs",
        "args": {"level": "log", "args": ["cart", '{"items":2}'], "trace_id": "trace_1714910400000_k3j",
                 "user_id": "user-1", "system_area": "browser", "timestamp": T0},
        "format": "json",
    }  # fmt: skip
    s = serve()
    with s.client() as c:
        r = c.post("/api/action", json=call, headers={"Origin": ALLOWED})
        unknown = c.post("/api/action", json={**call, "path": "users:delete"})
        # the 6th identical line within a second is refused: the function returns {success: false} and the
        # HTTP call still succeeds, as Convex answers a function's value (a 429 would make the client throw)
        again = [c.post("/api/action", json={**call, "args": {**call["args"], "timestamp": T0 + i}},
                        headers={"Origin": ALLOWED}) for i in range(1, 6)]  # fmt: skip
    assert r.status_code == 200
    assert r.json()["status"] == "success" and r.json()["value"]["success"] is True
    assert unknown.status_code == 404
    assert [a.status_code for a in again] == [200] * 5
    refused = [a.json()["value"] for a in again if not a.json()["value"]["success"]]
    assert refused and all(a.json()["status"] == "success" for a in again) and refused[0]["error"]
    s.stop()
    assert rows(s.db, "SELECT DISTINCT message, source_format FROM log_queue") == [
        ('cart {"items":2}', "browser-v1")
    ]


# --- Convex webhook ----------------------------------------------------------------------------------


def test_a_signed_webhook_is_stored_and_a_tampered_one_is_refused(serve: Callable[..., Server]) -> None:
    s = serve("--webhook-secret", SECRET)
    body = orjson.dumps([convex_console("'order created' trace_id: trace_1714910400000_k3j", T0 + 50)])
    tampered = body.replace(b"order created", b"order deleted")
    jsonl = (
        orjson.dumps(convex_console("'second line'", T0 + 60, "aa11"))
        + b"\n"
        + orjson.dumps(convex_console("'third line'", T0 + 70, "aa11"))
    )
    with s.client() as c:
        ok = c.post(
            "/convex/log-stream",
            content=body,
            headers={"content-type": "application/json", "x-webhook-signature": signature_of(SECRET, body)},
        )
        bad = c.post(
            "/convex/log-stream",
            content=tampered,
            headers={"content-type": "application/json", "x-webhook-signature": signature_of(SECRET, body)},
        )
        unsigned = c.post("/convex/log-stream", content=body, headers={"content-type": "application/json"})
        lines = c.post(
            "/convex/log-stream",
            content=jsonl,
            headers={"content-type": "application/json", "x-webhook-signature": signature_of(SECRET, jsonl)},
        )
        health = c.get("/health").json()
    assert ok.status_code == 200 and ok.json()["stored"] == 1
    assert bad.status_code == 401 and "x-webhook-signature" in bad.json()["error"]
    assert unsigned.status_code == 401
    assert lines.status_code == 200 and lines.json()["processed"] == 2
    assert health["rejected"]["bad_signature"] == 2
    s.stop()
    # the answer goes to Convex, not to the developer: which failure it was is said, and on stderr too
    assert bad.json()["error"].startswith("x-webhook-signature does not sign this body with the secret given")
    assert unsigned.json()["error"].startswith("no x-webhook-signature header, and this server checks one")
    err = s.proc.stderr.read().decode() if s.proc.stderr else ""
    assert f"logcorr serve: refused a Convex log-stream delivery (401): {bad.json()['error']}" in err
    assert f"logcorr serve: refused a Convex log-stream delivery (401): {unsigned.json()['error']}" in err
    assert (
        "logcorr serve: stopped; 5 requests answered (2 refused), 3 events stored, 0 dropped, in 2 batches"
        in err
    )
    assert sorted(m for (m,) in rows(s.db, "SELECT message FROM log_queue")) == [
        "'order created' trace_id: trace_1714910400000_k3j",
        "second line",
        "third line",
    ]


def test_a_replayed_old_delivery_is_refused_and_a_fresh_one_stored(serve: Callable[..., Server]) -> None:
    import time

    now = int(time.time() * 1000)
    s = serve("--webhook-secret", SECRET, "--max-event-age", "300")
    old = orjson.dumps([convex_console("'captured long ago'", now - 10 * 60_000)])
    fresh = orjson.dumps([convex_console("'just now'", now - 1_000)])
    headers = {"content-type": "application/json"}
    with s.client() as c:
        replayed = c.post(
            "/convex/log-stream",
            content=old,
            headers={**headers, "x-webhook-signature": signature_of(SECRET, old)},
        )
        ok = c.post(
            "/convex/log-stream",
            content=fresh,
            headers={**headers, "x-webhook-signature": signature_of(SECRET, fresh)},
        )
        # the live repo's own body shape, `{logs: [...]}`, is dated by its first entry too
        repo = orjson.dumps({"logs": [{"level": "INFO", "message": "captured long ago", "timestamp": now - 4_000_000,
                                       "context": {"requestId": "r1", "functionName": "f"}}], "source": "convex"})  # fmt: skip
        repo_replayed = c.post(
            "/convex/log-stream",
            content=repo,
            headers={**headers, "x-webhook-signature": signature_of(SECRET, repo)},
        )
        health = c.get("/health").json()
    assert replayed.status_code == 400 and "older than 300 s" in replayed.json()["error"]
    assert repo_replayed.status_code == 400 and "older than 300 s" in repo_replayed.json()["error"]
    assert ok.status_code == 200
    assert health["rejected"] == {"stale_event": 2}
    s.stop()
    assert rows(s.db, "SELECT message FROM log_queue") == [("just now",)]


def test_the_verification_event_is_answered_and_counted(serve: Callable[..., Server]) -> None:
    body = orjson.dumps([{"topic": "verification", "timestamp": T0, "message": "Convex connection test"}])
    with serve().client() as c:
        r = c.post("/convex/log-stream", content=body, headers={"content-type": "application/json"})
        health = c.get("/health").json()
    assert r.status_code == 200 and r.json() == {"success": True, "verification": True}
    assert health["verification_events"] == 1


# --- rules: a flood --------------------------------------------------------------------------------------


def test_a_flood_is_answered_with_429s_while_the_quota_holds(serve: Callable[..., Server]) -> None:
    s = serve()

    def post(i: int) -> int:
        with s.client() as c:
            return int(c.post("/log", json=browser(f"click {i}", ts=T0 + i * 100)).status_code)

    with ThreadPoolExecutor(8) as pool:
        statuses = Counter(pool.map(post, range(80)))  # 80 distinct logs in one minute of event time
    with s.client() as c:
        refused = c.post("/log", json=browser("one more", ts=T0 + 9_000))
        health = c.get("/health").json()
    assert statuses == {200: 50, 429: 30}  # the first minute's limit is 50
    assert refused.status_code == 429
    assert refused.json()["success"] is False and refused.json()["error"].startswith("rate_limit")
    assert health["events"] == {"stored": 50, "dropped": {"rate_limit": 31}}
    s.stop()
    assert rows(s.db, "SELECT count(*) FROM log_queue") == [(50,)]
    assert rows(s.db, "SELECT rule, count(*) FROM drop_ledger GROUP BY rule") == [("rate_limit", 31)]


# --- bad requests ----------------------------------------------------------------------------------------


def test_bad_requests_get_a_clear_4xx_each_are_counted_and_store_nothing(
    serve: Callable[..., Server],
) -> None:
    s = serve("--max-body-kb", "4", "--webhook-secret", SECRET)
    j = {"content-type": "application/json"}
    with s.client() as c:
        got = {
            "too_large": c.post("/log", content=b"[" + b"1," * 4000 + b"1]", headers=j),
            "content_type": c.post("/log", content=orjson.dumps(browser("x")), headers={"content-type": "text/html"}),
            "bad_json": c.post("/log", content=b'{"trace_id": "t", "message": ', headers=j),
            "bad_shape": c.post("/log", content=b'{"hello": "world"}', headers=j),
            "wrong_endpoint": c.post("/log", content=orjson.dumps(convex_console("'x'", T0)), headers=j),
            "bad_record": c.post("/worker", content=b'{"id": "1", "trace_id": "t", "message": "m", "timestamp": "soon"}', headers=j),
            # a context nested past what JSON staging takes: refused, not answered 200 and rejected later
            "unstorable": c.post("/log", content=_nested_body(300), headers=j),
            "bad_signature": c.post("/convex/log-stream", content=b"[]",
                                    headers={**j, "x-webhook-signature": "sha256=00"}),
            "empty": c.post("/log", content=b"  ", headers=j),
        }  # fmt: skip
        health = c.get("/health").json()
    status = {k: r.status_code for k, r in got.items()}
    assert status == {"too_large": 413, "content_type": 415, "bad_json": 400, "bad_shape": 422,
                      "wrong_endpoint": 422, "bad_record": 422, "unstorable": 422, "bad_signature": 401, "empty": 400}  # fmt: skip
    for r in got.values():
        assert r.json()["success"] is False and r.json()["error"] and "\n" not in r.json()["error"]
        assert "Traceback" not in r.text
    assert "record cannot be stored" in got["unstorable"].json()["error"]
    assert health["rejected"] == {**dict.fromkeys(set(got) - {"unstorable"}, 1), "bad_record": 2}
    assert health["batches"]["written"] == 0
    s.stop()
    assert rows(s.db, "SELECT (SELECT count(*) FROM log_queue) + (SELECT count(*) FROM drop_ledger)") == [
        (0,)
    ]


# --- one trace through every door, read back while the server runs --------------------------------------


def test_a_trace_posted_by_browser_worker_and_backend_reads_back_with_logcorr_trace(
    serve: Callable[..., Server], cli: Callable[..., Any]
) -> None:
    tid = "trace_1714910400000_flow1"
    s = serve()
    worker = {"id": f"{T0 + 40}_a1b2c3", "trace_id": tid, "user_id": "user-1", "system": "worker", "level": "info",
              "message": "forwarded to Convex", "timestamp": T0 + 40, "context": {"timestamp": T0 + 40}}  # fmt: skip
    backend = [convex_console(f"'order created' trace_id: {tid}", T0 + 90)]
    with s.client() as c:
        assert (
            c.post(
                "/log", json=browser("User clicked checkout", trace=tid), headers={"Origin": ALLOWED}
            ).status_code
            == 200
        )
        assert c.post("/worker", json=worker).status_code == 200
        assert c.post("/convex/log-stream", json=backend).status_code == 200
        recent = c.get("/traces/recent", params={"limit": 5}).json()
        # readers get in while the server runs (it holds the database only while it writes a batch)
        shown = cli("trace", tid, "--db", s.db, "--format", "json")
        listed = cli("traces", "--db", s.db, "--min-systems", "3", "--format", "json")
        after = c.post(
            "/log", json=browser("Order confirmed", trace=tid, ts=T0 + 200), headers={"Origin": ALLOWED}
        )
    assert shown.exit_code == 0, shown.stderr
    events = shown.json()["events"]
    assert [e["system"] for e in events] == ["browser", "worker", "backend"]
    assert tid in listed.stdout
    assert recent["traces"][0] == {"id": tid, "timestamp": T0 + 90, "logCount": 3,
                                   "systems": ["browser", "worker", "backend"], "hasErrors": False}  # fmt: skip
    assert after.status_code == 200  # the server writes again after the readers left
    s.stop()
    assert rows(s.db, f"SELECT count(*) FROM log_queue WHERE trace_id = '{tid}'") == [(4,)]


def test_proxy_mode_stores_browser_logs_as_worker_records_with_both_clocks(
    serve: Callable[..., Server],
) -> None:
    s = serve("--proxy")
    with s.client() as c:
        r = c.post("/log", json=browser("via the worker path"), headers={"Origin": ALLOWED})
    assert r.status_code == 200 and r.json()["success"] is True
    s.stop()
    [(system, fmt, client_ms, source)] = rows(
        s.db, "SELECT system, source_format, epoch_ms(client_ts), source_file FROM log_queue"
    )
    assert (system, fmt, client_ms) == ("browser", "worker-record", T0)
    assert source.startswith("serve:POST /worker#")


# --- durability ----------------------------------------------------------------------------------------


def test_a_killed_server_keeps_every_answered_log_and_the_database_opens(
    serve: Callable[..., Server],
) -> None:
    s = serve()
    with s.client() as c:
        for i in range(20):
            assert c.post("/log", json=browser(f"step {i}", ts=T0 + i)).status_code == 200
    assert s.stop(signal.SIGKILL) == -signal.SIGKILL
    assert rows(s.db, "SELECT count(*) FROM log_queue") == [(20,)]


def test_sigterm_stops_the_server_and_releases_the_database(serve: Callable[..., Server]) -> None:
    s = serve()
    with s.client() as c:
        assert c.post("/log", json=browser("last words")).status_code == 200
    assert s.stop(signal.SIGTERM) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after shutting down
    con = duckdb.connect(s.db)  # read-write: no process holds the lock any more
    assert con.execute("SELECT message FROM log_queue").fetchall() == [("last words",)]
    con.close()


def test_a_port_in_use_is_one_clear_line(cli: Callable[..., Any], tmp_path: Path) -> None:
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        r = cli("serve", "--port", str(port), "--db", str(tmp_path / "x.duckdb"))
    assert r.exit_code == 2
    assert r.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}") and "Traceback" not in r.stderr


def test_localhost_is_listened_on_at_each_address_it_names(monkeypatch: pytest.MonkeyPatch) -> None:
    # where `localhost` names ::1 and 127.0.0.1, only the first was bound: Node's fetch tries ::1 first
    import socket

    from logcorr.serve.run import _listen

    names = [
        (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", 0, 0, 0)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 0)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 0)),  # listed twice (hosts file and DNS)
    ]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: names)
    socks = _listen("localhost", 0)
    try:
        got = [(s.family, s.getsockname()[0]) for s in socks]
        assert (socket.AF_INET, "127.0.0.1") in got and len(got) == len(set(got))
        ports = {s.getsockname()[1] for s in socks}
        assert len(ports) == 1  # one port for all: the one the first socket picked
        for s in socks:  # each address answers (no create_connection: getaddrinfo is replaced)
            with socket.socket(s.family) as client:
                client.settimeout(2)
                client.connect(s.getsockname()[:2])
        try:
            v6 = socket.socket(socket.AF_INET6)
            v6.bind(("::1", 0))
            v6.close()
        except OSError:
            return  # no IPv6 here: ::1 is left out, 127.0.0.1 still served
        assert (socket.AF_INET6, "::1") in got
    finally:
        for s in socks:
            s.close()


# --- the pieces without a server -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://localhost:3000", True),
        ("http://127.0.0.1:8080", True),
        ("https://localhost", True),
        ("http://localhost:3000.evil.com", False),
        ("http://evil.com", False),
        ("http://localhost.evil.com:3000", False),
        ("null", False),
        ("http://localhost:3000/path", False),
    ],
)
def test_default_origins_are_this_machine_only(origin: str, allowed: bool) -> None:
    assert OriginPolicy().allows(origin) is allowed


def test_origin_patterns_take_exact_origins_subdomains_and_any() -> None:
    p = OriginPolicy(["https://*.example.com", "http://app.test:8080"])
    assert p.allows("https://a.example.com") and p.allows("http://app.test:8080")
    assert not p.allows("https://example.com") and not p.allows("http://a.example.com")
    assert not p.allows("http://app.test:8081")
    assert OriginPolicy(["*"]).allows("https://anything.example")
    # a file:// page or a sandboxed frame sends `Origin: null`: `*` said any page, and refused it
    assert OriginPolicy(["*"]).allows("null") and not OriginPolicy(["https://*.example.com"]).allows("null")


def test_signature_is_the_convex_header_and_compares_the_whole_value() -> None:
    body = b'[{"topic":"console"}]'
    sig = signature_of(SECRET, body)
    assert sig.startswith("sha256=") and len(sig) == 7 + 64
    assert signature_ok(SECRET, body, sig) and signature_ok(
        SECRET, body, sig.upper().replace("SHA256", "sha256")
    )
    assert not signature_ok(SECRET, body + b" ", sig)
    assert not signature_ok(SECRET, body, sig[:-2]) and not signature_ok(SECRET, body, None)


# --- the writer, in process (no server: a tight answer timeout and a busy writer) -------------------------


@pytest.fixture
def in_process(tmp_path: Path) -> Iterator[Callable[..., tuple[Any, Callable[..., Any]]]]:
    """A Collector on its own database and `post(path, json)` driving its ASGI app through httpx; the
    writer is stopped afterwards."""
    import asyncio

    from logcorr.serve.app import Collector
    from logcorr.serve.config import ServeConfig

    made: list[Any] = []

    def make(**options: Any) -> tuple[Any, Callable[..., Any]]:
        collector = Collector(ServeConfig(db=str(tmp_path / "inproc.duckdb"), **options))
        collector.writer.start()
        made.append(collector)
        app = collector.app()

        def post(path: str, method: str = "POST", **kwargs: Any) -> Any:
            async def go() -> Any:
                async with httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://localhost:8787"
                ) as c:
                    return await asyncio.wait_for(c.request(method, path, **kwargs), 30)

            return asyncio.run(go())

        return collector, post

    yield make
    for collector in made:
        collector.writer.close()


def test_a_request_whose_answer_timed_out_in_the_queue_is_not_stored_and_the_writer_lives_on(
    in_process: Callable[..., tuple[Any, Any]],
) -> None:
    import time

    collector, post = in_process(answer_timeout_s=0.3, batch_ms=0)
    started = threading.Event()

    def hold(con: Any) -> None:
        started.set()
        time.sleep(1.5)

    busy = collector.writer.read(hold)  # the writer is busy for 1.5 s
    assert started.wait(10)
    late = post("/log", json=browser("queued too long"))
    busy.result(timeout=10)
    after = post("/log", json=browser("after the busy spell", ts=T0 + 1))
    collector.writer.close()
    assert late.status_code == 503 and "retry" in late.json()["error"]
    assert after.status_code == 200  # the writer thread survived the cancelled request
    assert rows(collector.cfg.db, "SELECT message FROM log_queue") == [("after the busy spell",)]


def test_a_request_whose_batch_is_being_written_when_its_answer_times_out_gets_its_outcome(
    in_process: Callable[..., tuple[Any, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    import logcorr.serve.writer as writer_module

    real = writer_module.ingest_streams

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(1.0)  # a batch slower than the answer timeout (a large database, a long queue)
        return real(*args, **kwargs)

    monkeypatch.setattr(writer_module, "ingest_streams", slow)
    collector, post = in_process(answer_timeout_s=0.3, batch_ms=0)
    r = post("/log", json=browser("written slowly"))
    again = post("/log", json=browser("next one", ts=T0 + 1))
    collector.writer.close()
    assert r.status_code == 200 and r.json()["success"] is True  # stored, so not "503: retry"
    assert again.status_code == 200
    assert rows(collector.cfg.db, "SELECT message FROM log_queue ORDER BY message") == [
        ("next one",),
        ("written slowly",),
    ]


def test_an_unexpected_error_fails_its_batch_and_the_writer_goes_on(
    in_process: Callable[..., tuple[Any, Callable[..., Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import logcorr.serve.writer as writer_module

    real = writer_module.ingest_streams
    calls: list[int] = []

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("a bug in the pipeline")
        return real(*args, **kwargs)

    monkeypatch.setattr(writer_module, "ingest_streams", flaky)
    collector, post = in_process(answer_timeout_s=5.0, batch_ms=0)
    failed = post("/log", json=browser("hits the bug"))
    after = post("/log", json=browser("after the bug", ts=T0 + 1))
    collector.writer.close()
    assert failed.status_code == 503 and "Traceback" not in failed.text
    assert "ValueError" in failed.json()["error"] and "a bug in" not in failed.json()["error"]
    assert after.status_code == 200
    assert collector.writer.stats.failed_batches == 1
    assert rows(collector.cfg.db, "SELECT message FROM log_queue") == [("after the bug",)]
    # the stop summary counts both batches: it said "in 1 batch (1 failed)" of one written and one failed, and
    # the request the database failed (503, retry) among the refused
    assert collector.stop_summary() == (
        "logcorr serve: stopped; 2 requests answered (0 refused, 1 failed), 1 event stored, 0 dropped, "
        f"in 2 batches (1 failed, nothing of it stored) to {collector.cfg.db}"
    )


def test_the_stop_summary_says_what_a_writer_given_up_on_may_not_have_stored(
    in_process: Callable[..., tuple[Any, Callable[..., Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer has 30 s to write the queue when serve stops; past that the process ends, and the summary
    said "N events stored … in B batches (0 failed)" as if everything was written. It now counts the requests
    still queued or being written. (The writer is slowed by waiting on an event, not by a clock.)"""
    import logcorr.serve.writer as writer_module

    real, release, writing = writer_module.ingest_streams, threading.Event(), threading.Event()

    def slow(*args: Any, **kwargs: Any) -> Any:
        writing.set()
        release.wait()
        return real(*args, **kwargs)

    monkeypatch.setattr(writer_module, "ingest_streams", slow)
    collector, _ = in_process(batch_ms=0)
    first = collector.writer.submit("POST /log", orjson.dumps(browser("being written")))
    assert writing.wait(30)  # the first body is being written; two more queue behind it
    queued = [
        collector.writer.submit("POST /log", orjson.dumps(browser(f"queued {i}", ts=T0 + i))) for i in (1, 2)
    ]
    assert collector.writer.close(timeout=0) is False
    assert collector.stop_summary() == (
        "logcorr serve: stopped; 0 requests answered (0 refused), 0 events stored, 0 dropped, in 0 batches "
        f"(0 failed) to {collector.cfg.db}; the writer did not finish within 0 s: 3 requests queued or being "
        "written may not be stored"
    )
    release.set()
    assert collector.writer.close() is True and all(f.result(30).stored == 1 for f in [first, *queued])


def test_a_gzip_body_is_inflated_within_the_body_limit(
    in_process: Callable[..., tuple[Any, Callable[..., Any]]],
) -> None:
    """Cloudflare Logpush's HTTP destination posts gzipped NDJSON; a bomb stops at the body limit."""
    import gzip

    logpush = (
        Path(__file__).parent.parent / "fixtures/worker/logpush-workers_trace_events.log.gz"
    ).read_bytes()
    collector, post = in_process(max_body_bytes=64 * 1024)
    j = {"content-type": "application/json"}
    labelled = post("/worker", content=logpush, headers={**j, "content-encoding": "gzip"})
    unlabelled = post("/log", content=gzip.compress(orjson.dumps(browser("by content"))), headers=j)
    bomb = post("/log", content=gzip.compress(b" " * 10_000_000 + orjson.dumps(browser("x"))), headers=j)
    corrupt = post("/worker", content=logpush[:-20], headers={**j, "content-encoding": "gzip"})
    brotli = post("/worker", content=b"\x0b\x02\x80{}\x03", headers={**j, "content-encoding": "br"})
    collector.writer.close()
    assert labelled.status_code == 200 and labelled.json()["processed"] == 8, labelled.text
    assert (
        unlabelled.status_code == 200
    )  # no content-encoding: gzip by its first bytes, as ingest reads files
    assert bomb.status_code == 413 and "inflates" in bomb.json()["error"]
    assert corrupt.status_code == 400 and "gzip" in corrupt.json()["error"]
    assert brotli.status_code == 415
    assert collector.counters.rejected == {
        "too_large": 1,
        "bad_gzip": 1,
        "content_encoding": 1,
    }
    assert rows(collector.cfg.db, "SELECT count(*) FROM log_queue WHERE source_format = 'cf-logpush'") == [
        (8,)
    ]


def test_a_body_with_a_utf8_bom_is_read_as_ingest_reads_a_file_with_one(
    in_process: Callable[..., tuple[Any, Callable[..., Any]]],
) -> None:
    # PowerShell's Invoke-RestMethod and .NET clients may write one: it was a 400 "not JSON"
    collector, post = in_process()
    j = {"content-type": "application/json"}
    one = post("/log", content=b"\xef\xbb\xbf" + orjson.dumps(browser("after a BOM")), headers=j)
    lines = b"\xef\xbb\xbf" + orjson.dumps(browser("line one")) + b"\n" + orjson.dumps(browser("line two"))
    many = post("/log", content=lines, headers=j)
    collector.writer.close()
    assert one.status_code == 200, one.text
    assert many.status_code == 200 and many.json()["processed"] == 2, many.text
    stored = rows(collector.cfg.db, "SELECT message FROM log_queue ORDER BY message")
    assert stored == [("after a BOM",), ("line one",), ("line two",)]


def test_a_body_that_trickles_in_is_cut_off_with_408(
    in_process: Callable[..., tuple[Any, Callable[..., Any]]],
) -> None:
    import asyncio

    async def trickle() -> AsyncIterator[bytes]:
        yield b'{"trace_id": "t", '
        await asyncio.sleep(3)  # a slowloris client: the rest never comes in time
        yield b'"message": "late"}'

    collector, post = in_process(body_timeout_s=0.5)
    r = post("/log", content=trickle(), headers={"content-type": "application/json"})
    collector.writer.close()
    assert r.status_code == 408 and "0.5 s" in r.json()["error"]
    assert collector.counters.rejected == {"slow_body": 1}


def test_bodies_held_at_once_are_bounded_and_given_back(
    in_process: Callable[..., tuple[Any, Callable[..., Any]]],
) -> None:
    # each body waits in memory for the one writer: a thousand 1 MiB posts at once held a GiB
    import asyncio

    collector, _ = in_process(max_held_bytes=3000)
    app = collector.app()
    j = {"content-type": "application/json"}
    first = orjson.dumps(browser("x" * 2500))
    release = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield first[:2000]  # held while the rest is awaited
        await release.wait()
        yield first[2000:]

    async def go() -> tuple[Any, Any, Any, int, Any]:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://localhost:8787"
        ) as c:
            held = asyncio.create_task(c.post("/log", content=slow(), headers=j))
            async with asyncio.timeout(10):
                while collector.held < 2000:
                    await asyncio.sleep(0.01)
            refused = await c.post("/log", content=orjson.dumps(browser("y" * 1500)), headers=j)
            small = await c.post("/log", content=orjson.dumps(browser("fits")), headers=j)
            release.set()
            done = await held
            after = collector.held
            again = await c.post("/log", content=orjson.dumps(browser("y" * 1500)), headers=j)
            return refused, small, done, after, again

    refused, small, done, after, again = asyncio.run(asyncio.wait_for(go(), 30))
    collector.writer.close()
    assert refused.status_code == 503
    assert refused.json()["error"].startswith("over 3,000 bytes of request bodies are waiting")
    assert small.status_code == 200 and done.status_code == 200, (small.text, done.text)
    assert after == 0 and collector.held == 0
    assert again.status_code == 200, again.text
    assert collector.counters.rejected == {"busy": 1}
    stored = rows(collector.cfg.db, "SELECT length(message) FROM log_queue ORDER BY 1")
    assert stored == [(4,), (1500,), (2500,)]


def test_sigterm_cuts_stalled_requests_after_a_grace_and_every_answer_matches_the_database(
    tmp_path: Path,
) -> None:
    """A client trickling its body and a request queued behind a batch that waits for the database lock
    do not hold the server up: after the grace they get 503 (and are not stored); the request whose batch
    was being written gets its 200 when the batch ends; the server exits."""
    import socket
    import time

    from logcorr.serve.run import SHUTDOWN_GRACE_S

    db = str(tmp_path / "grace.duckdb")
    duckdb.connect(db).close()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "LOGCORR_LOCK_WAIT": "60"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "logcorr", "serve", "--port", "0", "--db", db, "--batch-ms", "0"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        url = proc.stderr.readline().decode().split("listening on ", 1)[1].split()[0]
        host, port = url.removeprefix("http://").rsplit(":", 1)
        holder = duckdb.connect(db)  # the writer's next batch waits for this lock
        answers: dict[str, Any] = {}

        def post(name: str) -> None:
            with httpx.Client(base_url=url, timeout=60) as c:
                answers[name] = c.post("/log", json=browser(name, ts=T0 + len(name)))

        first = threading.Thread(target=post, args=("being written",))
        first.start()
        time.sleep(1.0)  # the writer has taken it and waits for the lock
        second = threading.Thread(target=post, args=("queued behind",))
        second.start()
        slow = socket.create_connection((host, int(port)), timeout=30)
        slow.sendall(
            b"POST /log HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 999\r\n\r\n{"
        )
        time.sleep(1.0)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        slow_answer = b""
        while chunk := slow.recv(4096):  # until the server closes it (headers and body may come apart)
            slow_answer += chunk
        time.sleep(0.5)
        holder.close()  # the batch being written can now go through
        first.join(30)
        second.join(30)
        proc.wait(timeout=30)
        took = time.monotonic() - started
        err = proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert took < SHUTDOWN_GRACE_S + 10
    assert slow_answer.startswith(b"HTTP/1.1 503") and b"shutting down" in slow_answer
    assert answers["being written"].status_code == 200
    assert answers["queued behind"].status_code == 503
    assert "Traceback" not in err
    assert rows(db, "SELECT message FROM log_queue") == [("being written",)]


def test_server_routes_refuse_a_web_page_and_take_servers(
    in_process: Callable[..., tuple[Any, Callable[..., Any]]],
) -> None:
    """A page whose name was rebound to 127.0.0.1 posts same-origin (no pre-flight stops it) and its
    browser sends the page's Origin; Workers, Convex and curl send none."""
    record = {"id": f"{T0}_abc", "trace_id": "trace_1714910400000_k3j", "system": "worker", "level": "info",
              "message": "forwarded", "timestamp": T0}  # fmt: skip
    delivery = orjson.dumps([convex_console("'from convex'", T0 + 5)])
    page = {"origin": "http://rebound.example:8787", "content-type": "application/json"}
    collector, post = in_process()
    injected = post("/worker", json={**record, "message": "injected"}, headers=page)
    injected_backend = post("/convex/log-stream", content=delivery, headers=page)
    forwarded = post("/worker", json=record)
    local_page = post(
        "/worker", json={**record, "id": f"{T0}_abd", "message": "local"}, headers={"origin": ALLOWED}
    )
    webhook = post("/convex/log-stream", content=delivery, headers={"content-type": "application/json"})
    collector.writer.close()
    assert injected.status_code == 403 and injected_backend.status_code == 403
    assert "access-control-allow-origin" not in injected.headers
    assert forwarded.status_code == 200 and local_page.status_code == 200 and webhook.status_code == 200
    assert collector.counters.rejected == {"origin_refused": 2}
    assert rows(collector.cfg.db, "SELECT message FROM log_queue ORDER BY message") == [
        ("forwarded",),
        ("from convex",),
        ("local",),
    ]


def test_a_delivery_of_metrics_only_reports_the_backend_quota(
    in_process: Callable[..., tuple[Any, Callable[..., Any]]],
) -> None:
    usage = {"topic": "current_storage_usage", "timestamp": T0, "total_document_size_bytes": 1024}
    collector, post = in_process()
    logs = post(
        "/convex/log-stream",
        content=orjson.dumps([convex_console("'a line'", T0)]),
        headers={"content-type": "application/json"},
    )
    metrics = post(
        "/convex/log-stream", content=orjson.dumps([usage]), headers={"content-type": "application/json"}
    )
    collector.writer.close()
    assert logs.json()["remaining_quota"] == 37_499  # the backend's share, one write used
    assert metrics.json()["processed"] == 0 and metrics.json()["remaining_quota"] == 37_499


def test_unknown_paths_and_methods_are_answered_in_json_and_counted(
    in_process: Callable[..., tuple[Any, Callable[..., Any]]],
) -> None:
    collector, call = in_process()
    unknown = call("/logs", json=browser("x"))
    wrong_method = call("/log", method="GET")
    collector.writer.close()
    assert unknown.status_code == 404 and unknown.json() == {
        "success": False,
        "error": "Not Found: POST /logs",
    }
    assert wrong_method.status_code == 405 and wrong_method.json()["success"] is False
    assert wrong_method.headers["allow"] == "POST"
    assert collector.counters.rejected == {"unknown_path": 1, "method_not_allowed": 1}
    assert collector.counters.responses == {404: 1, 405: 1}


# --- the Host allowlist (DNS rebinding) ----------------------------------------------------------------

REBOUND = "evil.example:8787"  # a page's name whose DNS now answers 127.0.0.1: its browser sends this Host


ACTION = {
    "path": "loggingAction:processLogs",
    "args": {"level": "log", "args": ["via the action"], "trace_id": "trace_1714910400000_k3j",
             "user_id": "user-1", "system_area": "browser", "timestamp": T0 + 9},
}  # fmt: skip


def _every_route(post: Callable[..., Any], host: str) -> dict[str, Any]:
    """One request to each route (and an unknown path) with `Host: host` and no `Origin`: GET requests from a
    same-origin page carry none, so only the Host tells a rebound page from this machine's own."""
    j = {"content-type": "application/json", "host": host}
    record = {"id": f"{T0}_abc", "trace_id": "trace_1714910400000_k3j", "system": "worker", "level": "info",
              "message": "forwarded", "timestamp": T0}  # fmt: skip
    return {
        "GET /health": post("/health", method="GET", headers={"host": host}),
        "GET /traces/recent": post("/traces/recent", method="GET", headers={"host": host}),
        "POST /log": post("/log", content=orjson.dumps(browser("from a page")), headers=j),
        "POST /api/action": post("/api/action", content=orjson.dumps(ACTION), headers=j),
        "POST /worker": post("/worker", content=orjson.dumps(record), headers=j),
        "POST /convex/log-stream": post(
            "/convex/log-stream", content=orjson.dumps([convex_console("'from convex'", T0 + 5)]), headers=j
        ),
        "OPTIONS /log": post("/log", method="OPTIONS", headers={"host": host}),
        "GET /nowhere": post("/nowhere", method="GET", headers={"host": host}),
    }


def test_a_rebound_host_is_refused_on_every_route_and_nothing_is_stored(
    in_process: Callable[..., tuple[Any, Callable[..., Any]]],
) -> None:
    collector, post = in_process()
    answers = _every_route(post, REBOUND)
    collector.writer.close()
    for route, r in answers.items():
        assert r.status_code == 403, route
        assert r.headers["content-type"] == "application/json", route
        assert "access-control-allow-origin" not in r.headers, route
        assert r.json() == {
            "success": False,
            "error": "Host 'evil.example:8787' is not allowed: this server answers requests for localhost, IP "
            "addresses and the names given with --allow-host (DNS-rebinding protection); to admit this name, "
            "start it with --allow-host evil.example",
        }, route
    assert collector.counters.rejected == {"host_refused": len(answers)}
    assert collector.counters.responses == {403: len(answers)}
    assert collector.counters.requests == {}  # no route ran
    assert not Path(collector.cfg.db).exists() or rows(
        collector.cfg.db, "SELECT count(*) FROM log_queue"
    ) == [(0,)]


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "localhost:8787",
        "LOCALHOST:8787",
        "localhost.:8787",  # the absolute form of the name
        "app.localhost:3000",
        "127.0.0.1:8787",
        "127.0.0.2",
        "[::1]:8787",
        "[::1]",
        "[0:0:0:0:0:0:0:1]:8787",
        "[::ffff:127.0.0.1]:8787",
        "192.168.1.20:8787",  # this machine by its LAN address: an IP literal cannot be rebound
        "[fe80::1]:8787",
        "[2001:db8::5]",
    ],
)
def test_loopback_names_and_ip_literals_are_answered(
    in_process: Callable[..., tuple[Any, Callable[..., Any]]], host: str
) -> None:
    collector, get = in_process()
    r = get("/health", method="GET", headers={"host": host})
    collector.writer.close()
    assert r.status_code == 200 and r.json()["status"] == "healthy"


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("localhost.evil.example:8787", 403),  # not a name under localhost
        ("evillocalhost", 403),
        ("127.0.0.1.evil.example", 403),
        ("127.1", 403),  # not how a browser writes an address (it sends 127.0.0.1): a name
        ("[::1", 400),  # IPv6 forms a browser never sends
        ("[::1]x", 400),
        ("[::1]:port", 400),
        ("[evil.example]:8787", 400),
        ("[127.0.0.1]", 400),
        ("evil.example:port", 400),
        ("evil example", 400),
        ("user@evil.example", 400),
    ],
)
def test_other_hosts_and_malformed_ones_are_refused(
    in_process: Callable[..., tuple[Any, Callable[..., Any]]], host: str, status: int
) -> None:
    collector, get = in_process()
    r = get("/traces/recent", method="GET", headers={"host": host})
    collector.writer.close()
    assert r.status_code == status and r.json()["success"] is False
    assert collector.counters.rejected == {"host_refused" if status == 403 else "bad_host": 1}


def test_allow_host_admits_a_tunnel_name_on_every_route(
    in_process: Callable[..., tuple[Any, Callable[..., Any]]],
) -> None:
    """A tunnel (ngrok, cloudflared) passes the public name on as `Host` unless told to rewrite it; a
    Convex log stream or a deployed Worker posts through it."""
    from logcorr.serve.security import HostPolicy

    collector, post = in_process(hosts=HostPolicy(["abc.ngrok-free.app", ".tunnel.example"]))
    tunnel = _every_route(post, "abc.ngrok-free.app")
    subdomain = post("/health", method="GET", headers={"host": "a.b.tunnel.example:443"})
    apex = post("/health", method="GET", headers={"host": "tunnel.example"})
    other = post("/health", method="GET", headers={"host": "xyz.ngrok-free.app"})
    collector.writer.close()
    expected = {"OPTIONS /log": 204, "GET /nowhere": 404, "POST /api/action": 200}
    assert {k: r.status_code for k, r in tunnel.items()} == {k: expected.get(k, 200) for k in tunnel}
    assert subdomain.status_code == 200 and apex.status_code == 200
    assert other.status_code == 403 and other.json()["error"].endswith("--allow-host xyz.ngrok-free.app")
    assert rows(collector.cfg.db, "SELECT message FROM log_queue ORDER BY message") == [
        ("forwarded",),
        ("from a page",),
        ("from convex",),
        ("via the action",),
    ]


def test_allow_host_star_admits_any_host(in_process: Callable[..., tuple[Any, Callable[..., Any]]]) -> None:
    from logcorr.serve.security import HostPolicy

    collector, get = in_process(hosts=HostPolicy(["*"]))
    r = get("/traces/recent", method="GET", headers={"host": REBOUND})
    collector.writer.close()
    assert r.status_code == 200 and r.json()["count"] == 0


def test_allow_host_patterns_and_the_listen_name() -> None:
    from logcorr.errors import UsageError
    from logcorr.serve.security import HostPolicy, is_loopback_bind, parse_host

    p = HostPolicy(["Abc.Ngrok-Free.App.", "*.lan.example", ".corp.example"], listen_host="mybox.home.arpa")
    assert p.refusal(["abc.ngrok-free.app:443"]) is None and p.refusal(["mybox.home.arpa:8787"]) is None
    assert p.refusal(["pc.lan.example"]) is None and p.refusal(["lan.example"]) is not None  # subdomains only
    assert p.refusal(["corp.example"]) is None and p.refusal(["x.corp.example"]) is None
    assert p.refusal(["xcorp.example"]) is not None
    assert p.names == ["Abc.Ngrok-Free.App.", "*.lan.example", ".corp.example", "mybox.home.arpa"]
    assert HostPolicy(listen_host="0.0.0.0").names == [] and HostPolicy(listen_host="::").names == []
    for bad in (
        "https://abc.ngrok-free.app",
        "abc.ngrok-free.app:443",
        "a/b",
        ".",
        "*.",
        "*.10.0.0.1",
        "[::1]",
    ):
        with pytest.raises(UsageError, match="bad --allow-host"):
            HostPolicy([bad])
    for public_suffix in (".com", "*.app"):  # anyone can register a name under it and resolve it to 127.0.0.1
        with pytest.raises(UsageError, match="would admit every name under"):
            HostPolicy([public_suffix])
    assert parse_host("[::1]:8787") == ("::1", True) and parse_host("LocalHost.:80") == ("localhost", False)
    assert [
        is_loopback_bind(h) for h in ("127.0.0.1", "::1", "localhost", "0.0.0.0", "::", "192.168.1.5")
    ] == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]


def _raw(url: str, request: bytes) -> bytes:
    import socket

    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host.strip("[]"), int(port)), timeout=30) as s:
        s.sendall(request)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_a_real_server_refuses_a_rebound_host_and_answers_http10_without_one(
    serve: Callable[..., Server],
) -> None:
    """Through uvicorn's own parser: the Host as the socket carries it, an HTTP/1.0 request without one
    (not a browser: every browser sends the name it connected to)."""
    server = serve()
    rebound = _raw(
        server.url, f"GET /traces/recent HTTP/1.1\r\nHost: {REBOUND}\r\nConnection: close\r\n\r\n".encode()
    )
    no_host = _raw(server.url, b"GET /traces/recent HTTP/1.0\r\n\r\n")
    by_address = _raw(
        server.url, f"GET /health HTTP/1.1\r\nHost: {server.url[7:]}\r\nConnection: close\r\n\r\n".encode()
    )
    assert rebound.startswith(b"HTTP/1.1 403") and b"--allow-host evil.example" in rebound
    assert b'"traces"' not in rebound
    assert no_host.startswith(b"HTTP/1.1 200") and b'"traces":[]' in no_host
    assert by_address.startswith(b"HTTP/1.1 200")
    with server.client() as c:
        health = c.get("/health", headers={"host": "localhost:1"}).json()
    assert health["rejected"] == {"host_refused": 1} and health["responses"]["403"] == 1


def test_a_real_server_admits_the_names_given_with_allow_host(serve: Callable[..., Server]) -> None:
    server = serve("--allow-host", "abc.trycloudflare.com", "--allow-host", ".tunnel.example")
    with server.client() as c:
        stored = c.post(
            "/convex/log-stream",
            content=orjson.dumps([convex_console("'through the tunnel'", T0)]),
            headers={"content-type": "application/json", "host": "abc.trycloudflare.com"},
        )
        listed = c.get("/traces/recent", headers={"host": "x.tunnel.example"})
        refused = c.get("/traces/recent", headers={"host": "other.trycloudflare.com"})
    assert stored.status_code == 200 and stored.json()["stored"] == 1
    assert listed.status_code == 200 and listed.json()["traces"] == []  # the event carries no trace id
    assert refused.status_code == 403


def test_a_bad_allow_host_is_one_clear_line(cli: Callable[..., Any], tmp_path: Path) -> None:
    r = cli(
        "serve",
        "--port",
        "0",
        "--db",
        str(tmp_path / "x.duckdb"),
        "--allow-host",
        "https://abc.ngrok-free.app",
    )
    assert r.exit_code == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("error: bad --allow-host 'https://abc.ngrok-free.app'")
    assert not (tmp_path / "x.duckdb").exists()


def test_a_browser_line_of_level_verbose_is_stored_as_debug_as_ingest_stores_it(
    serve: Callable[..., Server], tmp_path: Path
) -> None:
    """The console override sends `log`, `info`, `warn` or `error`; Chrome DevTools calls debug "verbose", and a
    capture of it is kept as `debug`, by serve as by `ingest` of the same record in a file (not refused by one
    and stored by the other, and not `log`, which an unknown level is)."""
    s = serve()
    with s.client() as c:
        r = c.post("/log", json=browser("from devtools", level="verbose"), headers={"Origin": ALLOWED})
    assert r.status_code == 200, r.text
    s.stop()
    from logcorr.pipeline.ingest import ingest

    path = tmp_path / "verbose.jsonl"
    path.write_bytes(orjson.dumps(browser("from devtools", level="verbose")) + b"\n")
    db = tmp_path / "ingested.duckdb"
    assert ingest([str(path)], str(db)).stored == 1
    assert (
        rows(s.db, "SELECT level FROM log_queue")
        == rows(str(db), "SELECT level FROM log_queue")
        == [("debug",)]
    )
