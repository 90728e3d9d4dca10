#!/usr/bin/env python3
"""Seeded generator of a realistic mixed JSON-lines log file (browser, worker, Cloudflare, Convex).

Usage: python scripts/gen_logs.py --records 100000 --seed 42 --out bench-out/logs.jsonl [--gzip]

The file interleaves, in event-time order over a few hours, the record shapes logcorr ingests:
  ~35% browser console-override payloads (older `{level,args[],…,stack_trace}` and newer
       `{trace_id,message,level,system,user_id,stack,context{timestamp,url,userAgent}}` forms),
  ~15% stored worker records `{id,trace_id,user_id,system,level,message,timestamp,context{timestamp}}`,
  ~20% Cloudflare Logpush `workers_trace_events` (PascalCase, `Logs[].Message[]`, some `Exceptions`),
  ~30% Convex log stream format-2 events (`console`, `function_execution` with `usage`, other topics).
One user action is one trace: browser lines, then the worker, then Convex lines, sharing a
`trace_<ms>_<base36>` id (a field, a Logpush object argument, `trace_id: X` in text, or only
`function.request_id`). Loop bursts, duplicate deliveries, secrets, dev noise and errors are mixed in.
Streams with bounded memory (a small time-ordered heap); deterministic for a seed.
`generate(n, seed, path)` is importable and returns the counts it wrote.

Records average ~400 bytes: the real envelopes are large (Logpush invocation ~500 B, browser
userAgent/url, `function_execution` with the full `usage` object ~1 KB). The event-time span is
fixed (`--hours`, default 3.6), so more records mean a higher rate per minute; use a longer span
to stay under the live system's rate limits.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import heapq
import random
import sys
import time
from pathlib import Path
from typing import Any

import orjson

START_MS = 1_754_384_400_000  # 2025-08-05T09:00:00Z
DEFAULT_HOURS = 3.6

# Share of each kind, reached through the per-action probabilities below (checked by --stats).
#   browser ≈ 35%, worker-record ≈ 15%, cf-logpush ≈ 20%, convex ≈ 30%
P_BROWSER_V2 = 0.65  # sessions on the era-C console override (others: older args[] form)
P_WORKER_COPY = 0.6  # era-C browser line stored by the worker as a record
P_CONVEX_FORWARD = 0.07  # Convex internal logger line also stored by the worker (system 'convex')
P_LOGPUSH_2LINES = 0.3
P_LOGPUSH_EXC = 0.03
P_CONVEX_EXEC = 0.16  # a Convex function run also emits its function_execution event
P_CONVEX_TRACE_TEXT = 0.45  # a Convex console line names the trace id in its text
P_DUP = 0.017  # a Convex event delivered twice (≈0.5% of all records)
P_BURST = 0.028  # a line repeats 3–8 times, 10–120 ms apart (≈10% of records)
P_NOISE = 0.7  # a request in a localhost (dev) session also logs a dev-noise line (≈2% of records)
P_BEARER = 0.035
P_JWT = 0.024
P_PASSWORD = 0.01
MAX_CLOCK_SKEW_MS = 1500

B36 = "0123456789abcdefghijklmnopqrstuvwxyz"

KIND_NAMES = ("browser-v1", "browser-v2", "worker-record", "cf-logpush", "convex-console",
              "convex-function_execution", "convex-other")  # fmt: skip
K_B1, K_B2, K_WR, K_LP, K_CC, K_CX, K_CO = range(7)
FLAG_NAMES = ("burst", "duplicate", "bearer", "jwt", "password", "dev_noise", "error")
F_BURST, F_DUP, F_BEARER, F_JWT, F_PASSWORD, F_NOISE, F_ERROR = (1 << i for i in range(7))

USER_AGENTS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:141.0) Gecko/20100101 Firefox/141.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/137.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Safari/605.1.15",
)
ORIGINS = ("https://app.starter-ai.dev",) * 8 + (
    "https://preview-42.starter-ai.pages.dev",
    "http://localhost:3000",
)
# the webhook's deployment object (`convex`), with the fields the docs list as always set
CONVEX_META = {"deployment_name": "fearless-otter-482", "deployment_type": "prod"}
SCRIPT_VERSIONS = {
    "api-gateway": {"ID": "1e7519b3-08e2-441d-ae10-7c8c6d3b7e17", "Message": "", "Tag": ""},
    "log-ingestion-worker": {"ID": "6f0c2a9d-4b1e-4e57-9a3c-2d8f1b7e5c40", "Message": "", "Tag": ""},
}
WORKER_HOSTS = {
    "api-gateway": "https://api.starter-ai.dev",
    "log-ingestion-worker": "https://log-ingestion-worker.starter.workers.dev",
}

# (name, page, method, api path, [(convex path, type)], browser templates, convex templates, worker templates)
ACTIONS: tuple[tuple[str, str, str, str, tuple[tuple[str, str], ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...] = (
    ("chat", "/chat", "POST", "/api/chat", (("agent:generateResponse", "action"), ("messages:send", "mutation")),
     ("Sending chat message {n} chars", "Chat stream started", "Received {n} tokens from stream",
      "ChatInput submit {{\"chatId\":\"{cid}\",\"length\":{n}}}", "Rendering message list ({n} messages)"),
     ("Generating response for chat {cid}", "OpenRouter request model=anthropic/claude-3.5-sonnet tokens={n}",
      "Stored assistant message {mid}", "Context window: {n} knowledge chunks", "Sent message!"),
     ("chat proxied to convex in {ms}ms", "upstream status 200 after {ms}ms")),
    ("search", "/knowledge", "GET", "/api/knowledge/search", (("knowledge:search", "query"),),
     ("Search query submitted: \"{q}\"", "Showing {n} results", "Search debounce fired"),
     ("vector search q=\"{q}\" topK=5", "Found {n} chunks above threshold 0.72", "Search cache miss for {cid}"),
     ("search cache hit ratio {n}%", "knowledge search forwarded in {ms}ms")),
    ("profile", "/profile", "GET", "/api/me", (("users:getCurrentUser", "query"), ("users:updateProfile", "mutation")),
     ("Loading user profile", "Profile form dirty: {n} fields", "Avatar uploaded ({n} KB)"),
     ("getCurrentUser for {uid}", "Updated profile fields: name, avatarUrl", "Profile unchanged, skipping write"),
     ("session lookup in {ms}ms",)),
    ("login", "/login", "POST", "/api/auth/login", (("auth:login", "mutation"),),
     ("Login form submitted", "Auth state changed: authenticated", "Redirecting to /dashboard"),
     ("Login attempt for {email}", "Session created {mid} expires in 3600s", "Password check ok for {uid}"),
     ("auth request {ms}ms",)),
    ("debug", "/debug-logs", "POST", "/api/debug/sync", (("debugLogs:syncFromRedis", "action"), ("debugLogs:list", "query")),
     ("Debug panel opened", "Fetching recent traces (limit {n})", "Trace list refreshed: {n} traces"),
     ("Syncing current Redis state for {n} traces", "Synced {n} logs from Redis", "Fetched {n} logs from Convex"),
     ("logs fetched from redis in {ms}ms", "traces/recent returned {n} traces")),
    ("upload", "/knowledge/upload", "POST", "/api/files", (("files:generateUploadUrl", "mutation"), ("knowledge:ingestDocument", "action")),
     ("Uploading {q}.pdf ({n} KB)", "Upload progress {n}%", "Upload finished"),
     ("Generated upload URL for {uid}", "Chunked document into {n} chunks", "Embedding batch {n}/12 done"),
     ("upload url issued in {ms}ms",)),
    ("dashboard", "/dashboard", "GET", "/api/dashboard", (("dashboard:stats", "query"),),
     ("Dashboard mounted", "Fetched stats in {ms}ms", "Chart rendered with {n} points"),
     ("Computing stats over {n} documents", "Stats cache warm"),
     ("dashboard served in {ms}ms",)),
)  # fmt: skip

ERROR_BROWSER = (
    "TypeError: Cannot read properties of undefined (reading 'map')",
    "Failed to fetch: NetworkError when attempting to fetch resource.",
    "Unhandled promise rejection: ConvexError: Not authenticated",
    "Error: Hydration failed because the initial UI does not match what was rendered on the server.",
    "ChunkLoadError: Loading chunk 742 failed.",
)
ERROR_CONVEX = (
    "Uncaught Error: Rate limit exceeded for OpenRouter",
    "ConvexError: Document not found: {mid}",
    "Uncaught TypeError: Cannot read properties of null (reading '_id')",
    "Error: fetch to https://openrouter.ai/api/v1/chat/completions failed with 502",
)
WARN_TEMPLATES = ("Slow render: {ms}ms", "Retrying request (attempt {n})", "Deprecated prop used: size",
                  "Large payload: {n} KB")  # fmt: skip
EXCEPTIONS = (
    ("TypeError", "Cannot read properties of undefined (reading 'trace_id')"),
    ("Error", "Upstash Redis request failed: 503 Service Unavailable"),
    ("SyntaxError", "Unexpected token '<', \"<!DOCTYPE \"... is not valid JSON"),
)
NOISE = (
    "[HMR] connected",
    "[HMR] bundle rebuilt in {ms}ms",
    "[Fast Refresh] rebuilding",
    "[Fast Refresh] done in {ms}ms",
    "webpack-hot-middleware: checking for updates",
    "[HMR] Updated modules: ./app/chat/page.tsx",
    "Download the React DevTools for a better development experience: https://reactjs.org/link/react-devtools",
    "GET /_next/static/webpack/{cid}.webpack.hot-update.json 404",
)
CONVEX_ECHO = ("[CONVEX M(messages:send)] [LOG] 'Sent message!'", "[CONVEX A(agent:generateResponse)] [LOG] 'Generating response'",
               "[CONVEX Q(knowledge:search)] [LOG] 'vector search topK=5'")  # fmt: skip
STACK_TOP = "Error\n    at console.log (console-override.ts:112:23)"
STACK_FRAMES = (
    "at ChatInput.handleSubmit (page-3f2a9c.js:1:20431)",
    "at callCallback (framework-8e1c.js:9:15201)",
    "at commitHookEffectListMount (framework-8e1c.js:9:76412)",
    "at async fetchTraces (debug-logs/page-71bd.js:1:4410)",
    "at useChat.onFinish (chat-hooks-02c1.js:1:8812)",
)


def _b36(x: int, width: int = 9) -> str:
    """`Math.random().toString(36).substr(2, 9)`-like suffix from random bits."""
    out = []
    for _ in range(width):
        x, r = divmod(x, 36)
        out.append(B36[r])
    return "".join(out)


class _Gen:
    """All state of one generation run: the random source, pools, sessions and the time-ordered heap."""

    def __init__(self, n: int, seed: int, hours: float) -> None:
        self.n = n
        self.rnd = rnd = random.Random(seed)
        self.heap: list[tuple[int, int, bytes]] = []
        self.seq = 0
        self.count = 0
        self.kinds = [0] * len(KIND_NAMES)
        self.flags = [0] * len(FLAG_NAMES)
        self.bytes_pushed = 0
        self.span_ms = int(hours * 3_600_000)
        rb = rnd.getrandbits

        def hexid(bits: int = 64) -> str:
            return f"{rb(bits):0{bits // 4}x}"

        self.hexid = hexid
        # users: mostly Convex ids, some anonymous sessions
        self.users = [f"k{_b36(rb(160), 31)}" for _ in range(1500)] + ["anonymous"] * 300
        self.emails = [f"{w}{i}@example.{t}" for i, (w, t) in enumerate(
            (rnd.choice(("anna", "ben", "chen", "dara", "eli", "fatima", "gus")), rnd.choice(("com", "org", "io")))
            for _ in range(200))]  # fmt: skip
        self.queries = ["convex rate limiter", "trace correlation", "redis ttl", "worker logs pricing", "next.js hydration",
                        "embedding model", "vector search threshold", "cloudflare logpush"]  # fmt: skip
        self.bearers = [
            "".join(
                rnd.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
                for _ in range(40)
            )
            for _ in range(300)
        ]
        self.jwts = [self._jwt() for _ in range(300)]
        self.passwords = [
            "hunter2",
            "Summer2025!",
            "correct horse battery staple",
            "p@ssw0rd123",
            "letmein!!",
        ]
        self.stacks = []
        for _ in range(40):
            k = rnd.randint(1, 2)
            self.stacks.append(STACK_TOP + "\n    " + "\n    ".join(rnd.sample(STACK_FRAMES, k)))
        # message pools: every template pre-filled with a few variants
        self.pools: list[tuple[list[str], list[str], list[str]]] = []
        for action in ACTIONS:
            self.pools.append(tuple([self._fill(t) for t in tpls for _ in range(12)] for tpls in action[5:8]))  # type: ignore[arg-type]
        self.errors_browser = [self._fill(t) for t in ERROR_BROWSER for _ in range(4)]
        self.errors_convex = [self._fill(t) for t in ERROR_CONVEX for _ in range(6)]
        self.warns = [self._fill(t) for t in WARN_TEMPLATES for _ in range(8)]
        self.noise = [self._fill(t) for t in NOISE for _ in range(6)]
        self.urls = [f"{o}{a[1]}" for o in ORIGINS for a in ACTIONS]
        # sessions: a page load keeps its trace id across several actions
        self.sessions: list[dict[str, Any]] = [self._session(START_MS) for _ in range(400)]

    def _jwt(self) -> str:
        rnd = self.rnd
        head = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode()
        body = orjson.dumps(
            {"sub": rnd.choice(self.users), "iat": 1754380000 + rnd.randint(0, 9999), "exp": 1754390000}
        )
        sig = base64.urlsafe_b64encode(rnd.randbytes(32)).rstrip(b"=").decode()
        return f"{head}.{base64.urlsafe_b64encode(body).rstrip(b'=').decode()}.{sig}"

    def _fill(self, t: str) -> str:
        rnd = self.rnd
        return t.format(
            n=rnd.randint(1, 400),
            ms=rnd.randint(3, 2500),
            cid=f"j{_b36(rnd.getrandbits(120), 20)}",
            mid=f"m{_b36(rnd.getrandbits(120), 20)}",
            uid=rnd.choice(self.users),
            email=rnd.choice(self.emails),
            q=rnd.choice(self.queries),
        )

    def _session(self, t: int) -> dict[str, Any]:
        rnd = self.rnd
        origin = ORIGINS[int(rnd.random() * len(ORIGINS))]
        return {
            "trace": f"trace_{t}_{_b36(self.rnd.getrandbits(47), 9 if rnd.random() > 0.03 else 8)}",
            "user": self.users[int(rnd.random() * len(self.users))],
            "v2": rnd.random() < P_BROWSER_V2,
            "skew": int((rnd.random() * 2 - 1) * MAX_CLOCK_SKEW_MS),
            "ua": USER_AGENTS[int(rnd.random() * len(USER_AGENTS))],
            "origin": origin,
            "dev": origin.startswith("http://localhost"),
        }

    # -- output ---------------------------------------------------------------------------------

    def emit(self, ts: int, obj: dict[str, Any], kind: int, flags: int = 0, dup: bool = False) -> None:
        if self.count >= self.n:
            return
        line = orjson.dumps(obj)
        self._push(ts, line, kind, flags)
        if dup and self.count < self.n:
            self._push(ts, line, kind, flags | F_DUP)

    def _push(self, ts: int, line: bytes, kind: int, flags: int) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (ts, self.seq, line))
        self.count += 1
        self.bytes_pushed += len(line) + 1
        self.kinds[kind] += 1
        if flags:
            for i in range(len(FLAG_NAMES)):
                if flags >> i & 1:
                    self.flags[i] += 1

    # -- message helpers ------------------------------------------------------------------------

    def secretize(self, msg: str) -> tuple[str, int]:
        r = self.rnd.random()
        if r < P_BEARER:
            tok = self.bearers[int(self.rnd.random() * 300)]
            return f"{msg} Authorization: Bearer {tok}", F_BEARER
        if r < P_BEARER + P_JWT:
            tok = self.jwts[int(self.rnd.random() * 300)]
            return f"{msg} token={tok}", F_JWT
        return msg, 0

    def burst_times(self, ts: int) -> list[int]:
        """Times of one line: usually just ts, sometimes a loop burst of 3–8 copies."""
        rnd = self.rnd
        if rnd.random() >= P_BURST:
            return [ts]
        out = [ts]
        for _ in range(rnd.randint(3, 8) - 1):
            ts += rnd.randint(10, 120)
            out.append(ts)
        return out

    # -- record builders ------------------------------------------------------------------------

    def browser_line(self, s: dict[str, Any], t: int, level: str, msg: str, flags: int, page: str) -> None:
        """One console line captured in the browser (client clock t + skew), and its worker copy."""
        rnd = self.rnd
        msg, sflags = self.secretize(msg)
        flags |= sflags
        if level == "error":
            flags |= F_ERROR
        times = self.burst_times(t + s["skew"])
        if len(times) > 1:
            flags |= F_BURST
        url = s["origin"] + page
        if s["v2"]:
            stack = self.stacks[int(rnd.random() * 40)] if level in ("error", "warn") else None
            context: dict[str, Any] = {"timestamp": 0, "url": url, "userAgent": s["ua"]}
            if rnd.random() < P_PASSWORD:
                context["form"] = {
                    "email": self.emails[int(rnd.random() * 200)],
                    "password": rnd.choice(self.passwords),
                }
                flags |= F_PASSWORD
            system = "convex" if msg.startswith("[CONVEX ") else "browser"
            copy = rnd.random() < P_WORKER_COPY
            for ct in times:
                context["timestamp"] = ct
                obj = {"trace_id": s["trace"], "message": msg, "level": level, "system": system, "user_id": s["user"],
                       "context": context}  # fmt: skip
                if stack:
                    obj["stack"] = stack
                self.emit(ct, obj, K_B2, flags)
                if copy:
                    wt = ct - s["skew"] + 20 + int(rnd.random() * 180)
                    rec = {"id": f"{wt}_{_b36(rnd.getrandbits(47))}", "trace_id": s["trace"], "user_id": s["user"],
                           "system": system, "level": level, "message": msg, "timestamp": wt,
                           "context": {"timestamp": ct}}  # fmt: skip
                    if stack:
                        rec["stack"] = stack
                    self.emit(wt, rec, K_WR, flags & ~F_PASSWORD)
        else:
            args = [msg]
            if rnd.random() < 0.25:
                args.append(f'{{"page":"{page}","ms":{int(rnd.random() * 900)}}}')
            if rnd.random() < P_PASSWORD:
                args.append(
                    f'{{"email":"{self.emails[int(rnd.random() * 200)]}","password":"{rnd.choice(self.passwords)}"}}'
                )
                flags |= F_PASSWORD
            stack = self.stacks[int(rnd.random() * 40)]
            for ct in times:
                obj = {"level": level, "args": args, "trace_id": s["trace"], "user_id": s["user"], "system_area": "browser",
                       "timestamp": ct, "stack_trace": stack}  # fmt: skip
                self.emit(ct, obj, K_B1, flags)

    def logpush(self, s: dict[str, Any], t: int, script: str, method: str, path: str, pool: list[str]) -> int:
        """One Workers invocation as a Logpush workers_trace_events record; returns its end time."""
        rnd = self.rnd
        flags = 0
        wall = 5 + int(rnd.random() * 160)
        trace = s["trace"]
        r = rnd.random()
        msg = pool[int(rnd.random() * len(pool))]
        if r < 0.45:
            first = [f"{method} {path}", {"trace_id": trace, "ms": wall}]
        elif r < 0.6:
            first = [{"trace_id": trace, "user_id": s["user"]}, f"{method} {path}"]  # reversed argument order
        else:
            text, f = self.secretize(f"[{script}] {method} {path} trace_id={trace}")
            first = [text]
            flags |= f
        logs = [{"Level": "log", "Message": first, "TimestampMs": t + 1}]
        exceptions: list[dict[str, Any]] = []
        status, outcome = 200, "ok"
        if rnd.random() < P_LOGPUSH_2LINES:
            if rnd.random() < 0.12:
                logs.append({"Level": "error", "Message": [f"upstream convex error after {wall}ms", "status=502"],
                             "TimestampMs": t + wall})  # fmt: skip
                status = 502
                flags |= F_ERROR
            else:
                text, f = self.secretize(msg)
                flags |= f
                logs.append(
                    {
                        "Level": "log" if rnd.random() < 0.8 else "warn",
                        "Message": [text],
                        "TimestampMs": t + wall - 1,
                    }
                )
        if rnd.random() < P_LOGPUSH_EXC:
            name, text = EXCEPTIONS[int(rnd.random() * len(EXCEPTIONS))]
            exceptions.append({"Name": name, "Message": text, "TimestampMs": t + wall})
            status, outcome = 500, "exception"
            flags |= F_ERROR
        times = self.burst_times(t) if rnd.random() < 0.15 else [t]
        if len(times) > 1:
            flags |= F_BURST
        for et in times:
            event = {
                "RayID": self.hexid(),
                "Request": {"URL": WORKER_HOSTS[script] + path, "Method": method},
                "Response": {"Status": status},
            }
            if script == "api-gateway":
                # newer job (after 2025-04-09) with a lean `field_names` list, including CPU and wall time
                obj = {"CPUTimeMs": 1 + int(rnd.random() * 12), "Event": event, "EventTimestampMs": et,
                       "EventType": "fetch", "Exceptions": exceptions, "Logs": logs, "Outcome": outcome,
                       "ScriptName": script, "WallTimeMs": wall}  # fmt: skip
            else:
                # older job with every field of the 2024 dataset (as in the real sample records)
                obj = {"DispatchNamespace": "", "Entrypoint": "", "Event": event, "EventTimestampMs": et,
                       "EventType": "fetch", "Exceptions": exceptions, "Logs": logs, "Outcome": outcome,
                       "ScriptName": script, "ScriptTags": [], "ScriptVersion": SCRIPT_VERSIONS[script]}  # fmt: skip
            self.emit(et, obj, K_LP, flags)
        return t + wall

    def convex_function(self, s: dict[str, Any], t: int, path: str, ftype: str, pool: list[str]) -> int:
        """Console lines of one Convex function run (+ often its function_execution); returns its end."""
        rnd = self.rnd
        rid = self.hexid()
        fn = {
            "path": path,
            "type": ftype,
            "cached": (rnd.random() < 0.3) if ftype == "query" else None,
            "request_id": rid,
        }
        nlines = 1 + (rnd.random() < 0.25)
        failed = rnd.random() < 0.02
        ct = t
        error_message = None
        for i in range(nlines):
            ct += 1 + int(rnd.random() * 40)
            flags = 0
            if failed and i == nlines - 1:
                level = "ERROR"
                text = self.errors_convex[int(rnd.random() * len(self.errors_convex))]
                error_message = text + "\n    at handler (../convex/" + path.split(":")[0] + ".ts:42:11)"
                flags |= F_ERROR
            else:
                r = rnd.random()
                level = "LOG" if r < 0.75 else "INFO" if r < 0.9 else "WARN" if r < 0.97 else "DEBUG"
                text = (
                    pool[int(rnd.random() * len(pool))]
                    if level != "WARN"
                    else self.warns[int(rnd.random() * 32)]
                )
            if rnd.random() < P_CONVEX_TRACE_TEXT:
                text = f"[{path}] trace_id: {s['trace']} {text}"
            text, f = self.secretize(text)
            flags |= f
            if rnd.random() < 0.2:
                message = f"'{text}' {{ userId: '{s['user']}', count: {int(rnd.random() * 50)} }}"
            else:
                message = "'" + text.replace("'", "\\'") + "'"
            times = self.burst_times(ct)
            if len(times) > 1:
                flags |= F_BURST
            dup = rnd.random() < P_DUP
            for lt in times:
                obj = {"topic": "console", "timestamp": lt, "function": fn, "log_level": level, "message": message,
                       "is_truncated": False, "convex": CONVEX_META}  # fmt: skip
                self.emit(lt, obj, K_CC, flags, dup)
                dup = False
            if rnd.random() < P_CONVEX_FORWARD:  # convex internalLogging → worker `POST /log` → stored record
                wt = lt + 30 + int(rnd.random() * 150)
                rec = {"id": f"{wt}_{_b36(rnd.getrandbits(47))}", "trace_id": s["trace"], "user_id": s["user"],
                       "system": "convex", "level": level.lower() if level != "DEBUG" else "log", "message": text,
                       "timestamp": wt, "context": {"timestamp": lt}}  # fmt: skip
                self.emit(wt, rec, K_WR, flags & ~F_BURST)
        end = ct + 2 + int(rnd.random() * 300)
        if rnd.random() < P_CONVEX_EXEC or failed:
            ms = end - t
            usage = {
                "database_io_read_bytes": int(rnd.random() * 20000),
                "database_io_write_bytes": int(rnd.random() * 3000) if ftype != "query" else 0,
                "database_read_bytes": int(rnd.random() * 20000),
                "database_write_bytes": int(rnd.random() * 3000) if ftype != "query" else 0,
                "database_read_documents": int(rnd.random() * 40),
                "database_write_documents": int(rnd.random() * 4) if ftype != "query" else 0,
                "file_storage_read_bytes": 0,
                "file_storage_write_bytes": 0,
                "vector_storage_read_bytes": 0,
                "vector_storage_write_bytes": 0,
                "text_search_query_bytes": 0,
                "text_search_write_query_bytes": 0,
                "vector_search_query_bytes": int(rnd.random() * 6144) if "search" in path else 0,
                "vector_search_write_query_bytes": 0,
                "network_egress_bytes": int(rnd.random() * 9000) if ftype == "action" else 0,
                "audit_log_egress_bytes": 0,
                "memory_used_mb": 32 + int(rnd.random() * 96),
                "action_memory_used_mb": 64 if ftype == "action" else None,
                "function_args_bytes": int(rnd.random() * 400),
                "function_returns_bytes": None if failed else int(rnd.random() * 4000),
            }
            obj = {
                "topic": "function_execution",
                "timestamp": end,
                "function": {
                    **fn,
                    "mutation_queue_length": 0 if ftype == "mutation" else None,
                    "mutation_retry_count": 0 if ftype == "mutation" else None,
                },
                "execution_time_ms": ms,
                "user_execution_time_ms": max(0, ms - 3),
                "status": "failure" if failed else "success",
                "error_message": error_message,
                "occ_info": None,
                "will_retry": False,
                "scheduler_info": None,
                "run_reason": "httpApi" if ftype == "action" else "webSocket",
                "usage": usage,
                "convex": CONVEX_META,
            }
            self.emit(end, obj, K_CX, F_ERROR if failed else 0, rnd.random() < P_DUP)
        return end

    def periodic(self, t: int) -> None:
        """Occasional other Convex topics (scheduler, concurrency, storage, audit, verification)."""
        rnd = self.rnd
        r = rnd.random()
        if r < 0.4:
            obj = {"topic": "scheduler_stats", "timestamp": t, "lag_seconds": int(rnd.random() * 3),
                   "num_running_jobs": int(rnd.random() * 5), "convex": CONVEX_META}  # fmt: skip
        elif r < 0.75:
            obj = {"topic": "concurrency_stats", "timestamp": t, "convex": CONVEX_META,
                   **{k: {"num_running": int(rnd.random() * 8), "num_queued": 0}
                      for k in ("query", "mutation", "action", "node_action", "http_action")}}  # fmt: skip
        elif r < 0.9:
            obj = {"topic": "current_storage_usage", "timestamp": t, "total_document_size_bytes": 104857600 + int(rnd.random() * 1e6),
                   "total_index_size_bytes": 10485760, "total_vector_storage_bytes": 5242880, "total_text_storage_bytes": 1048576,
                   "total_file_storage_bytes": 52428800, "total_backup_storage_bytes": 209715200,
                   "total_system_table_document_size_bytes": {"_storage": 1048576, "_scheduled_functions": 2097152},
                   "convex": CONVEX_META}  # fmt: skip
        elif r < 0.97:
            obj = {"topic": "audit_log", "timestamp": t, "audit_log_action": "push_config",
                   "audit_log_metadata": '{"auth":{"added":[],"removed":[]},"crons":{"added":[],"deleted":[],"updated":[]}}',
                   "convex": CONVEX_META}  # fmt: skip
        else:
            obj = {
                "topic": "verification",
                "timestamp": t,
                "message": "Convex connection test",
                "convex": CONVEX_META,
            }
        self.emit(t, obj, K_CO)

    # -- one user action ------------------------------------------------------------------------

    def request(self, t0: int) -> None:
        rnd = self.rnd
        si = int(rnd.random() * len(self.sessions))
        s = self.sessions[si]
        if rnd.random() < 0.25:  # page load: new trace id
            s = self.sessions[si] = self._session(t0)
        ai = int(rnd.random() * len(ACTIONS))
        _, page, method, api, fns, _, _, _ = ACTIONS[ai]
        bpool, cpool, wpool = self.pools[ai]
        t = t0
        # browser lines
        nb = 1 + int(rnd.random() * 2.2) + (rnd.random() < 0.15)
        for _ in range(nb):
            r = rnd.random()
            if r < 0.025:
                level, msg = "error", self.errors_browser[int(rnd.random() * len(self.errors_browser))]
            elif r < 0.1:
                level, msg = "warn", self.warns[int(rnd.random() * 32)]
            else:
                level = "log" if r < 0.8 else "info"
                if s["v2"] and r > 0.97:
                    msg = CONVEX_ECHO[int(rnd.random() * len(CONVEX_ECHO))]
                else:
                    msg = bpool[int(rnd.random() * len(bpool))]
            self.browser_line(s, t, level, msg, 0, page)
            t += 2 + int(rnd.random() * 60)
        if s["dev"] and rnd.random() < P_NOISE:
            self.browser_line(s, t, "log", self.noise[int(rnd.random() * len(self.noise))], F_NOISE, page)
        # worker invocation(s)
        t += 15 + int(rnd.random() * 60)
        t = self.logpush(s, t, "api-gateway", method, api, wpool)
        if s["v2"] and rnd.random() < 0.3:
            self.logpush(s, t0 + int(rnd.random() * 200), "log-ingestion-worker", "POST", "/log", wpool)
        # convex function runs
        for path, ftype in fns:
            if rnd.random() < 0.7:
                t = self.convex_function(s, t + 3, path, ftype, cpool)

    def run(self, out: Any, records_per_request: float = 6.0) -> None:
        rnd = self.rnd
        gap = self.span_ms / max(1.0, self.n / records_per_request)
        t = START_MS
        next_periodic = START_MS + 5000
        heap = self.heap
        buf: list[bytes] = []
        size = 0
        while self.count < self.n:
            t += int(rnd.expovariate(1.0 / gap)) + 1
            while t >= next_periodic:
                self.periodic(next_periodic)
                next_periodic += 3000 + int(rnd.random() * 60000)
            self.request(t)
            horizon = t - MAX_CLOCK_SKEW_MS - 10  # nothing later can be earlier than this
            while heap and heap[0][0] < horizon:
                line = heapq.heappop(heap)[2]
                buf.append(line)
                size += len(line) + 1
                if size > 1 << 20:
                    buf.append(b"")
                    out.write(b"\n".join(buf))
                    buf, size = [], 0
        while heap:
            buf.append(heapq.heappop(heap)[2])
        if buf:
            buf.append(b"")
            out.write(b"\n".join(buf))
        self.end_ms = t


def generate(n: int, seed: int = 42, path: str | Path = "logs.jsonl", *, gzip_out: bool | None = None,
             hours: float = DEFAULT_HOURS) -> dict[str, Any]:  # fmt: skip
    """Write `n` records to `path` (gzip when `gzip_out`, or when the name ends in .gz); return counts."""
    path = Path(path)
    if gzip_out is None:
        gzip_out = path.suffix == ".gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    g = _Gen(n, seed, hours)
    tmp = path.with_name(path.name + ".tmp")
    t0 = time.perf_counter()
    with open(tmp, "wb", buffering=1 << 20) as raw:
        if gzip_out:
            with gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=6, mtime=0) as gz:
                g.run(gz)
        else:
            g.run(raw)
    tmp.replace(path)
    return {
        "path": str(path),
        "records": g.count,
        "bytes": g.bytes_pushed,  # uncompressed JSON-lines bytes
        "file_bytes": path.stat().st_size,
        "seed": seed,
        "span_h": round((g.end_ms - START_MS) / 3_600_000, 2),
        "elapsed_s": round(time.perf_counter() - t0, 2),
        "kinds": dict(zip(KIND_NAMES, g.kinds, strict=True)),
        "flags": dict(zip(FLAG_NAMES, g.flags, strict=True)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Write a seeded, realistic mixed JSON-lines log file (browser, worker, Cloudflare, Convex).",
        epilog="example: python scripts/gen_logs.py --records 1000000 --seed 42 --out bench-out/logs-1m.jsonl",
    )
    ap.add_argument("--records", type=int, default=100_000, help="number of lines (default 100000)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", required=True, help="output path (.gz implies --gzip)")
    ap.add_argument("--gzip", action="store_true", help="gzip the output")
    ap.add_argument("--hours", type=float, default=DEFAULT_HOURS, help="event-time span (default 3.6)")
    ap.add_argument("--stats", action="store_true", help="print the mix (kinds, flags) as JSON on stderr")
    args = ap.parse_args(argv)
    info = generate(args.records, args.seed, args.out, gzip_out=args.gzip or None, hours=args.hours)
    n = info["records"]
    print(f"wrote {n} records, {info['bytes'] / 1e6:.1f} MB ({info['bytes'] / max(n, 1):.0f} B/record), "
          f"{info['span_h']} h, in {info['elapsed_s']} s → {info['path']}", file=sys.stderr)  # fmt: skip
    if args.stats:
        pct = {
            k: f"{v} ({100 * v / max(n, 1):.1f}%)"
            for k, v in (*info["kinds"].items(), *info["flags"].items())
        }
        sys.stderr.write(orjson.dumps(pct, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
