"""The secrets corpus (tests/data/secrets/corpus.json) written as native input files, one per format.

Every kind of secret is placed in every one of the 13 input formats: in the message, and in turn in a
JSON string inside the message, a stack trace / error text, an `Authorization` header in nested context,
a `[name, value]` header pair and a HAR-style `{name, value}` header. Each format's file also ends with
malformed lines that carry secrets: a record cut off mid-way, a text line, a record of unknown shape and a
record its adapter refuses — so rejected lines and their error messages are covered too (in `npx convex logs`
text they follow the last record, whose continuation lines they are).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parent / "data" / "secrets" / "corpus.json"
BASE_TS = 1_714_910_400_000


@dataclass(frozen=True)
class Kind:
    kind: str
    text: str  # the secret inside realistic surrounding text
    secret: str  # what must never appear


def load_kinds() -> list[Kind]:
    data = json.loads(CORPUS.read_text())
    return [Kind(k["kind"], k["text"].replace("{s}", k["secret"]), k["secret"]) for k in data["kinds"]]


@dataclass
class Placed:
    """One record to build: a message, optional stack/error text, optional extra context."""

    message: str
    stack: str | None = None
    ctx: dict[str, Any] | None = None
    trace: str = ""
    ts: int = BASE_TS


def placements(k: Kind, i: int) -> list[Placed]:
    """The kind in the message, and in one more place chosen in turn."""
    out = [Placed(k.text)]
    where = i % 5
    if where == 0:
        out.append(Placed("payload " + json.dumps({"data": k.text, "meta": {"attempt": i}})))
    elif where == 1:
        out.append(
            Placed(
                "request failed",
                stack=f"Error: upstream said no ({k.text})\n    at handler (src/api.ts:12:5)",
            )
        )
    elif where == 2:
        headers = {"Authorization": f"Bearer {k.secret}", "Accept": "application/json"}
        out.append(
            Placed(
                "outgoing request", ctx={"request": {"method": "POST", "headers": headers, "note": k.text}}
            )
        )
    elif where == 3:
        out.append(
            Placed(
                "outgoing request",
                ctx={"request": {"headers": [["Cookie", f"sid={k.secret}"], ["Accept", "*/*"]]}},
            )
        )
    else:
        out.append(
            Placed("har entry", ctx={"har": {"headers": [{"name": "Authorization", "value": k.secret}]}})
        )
    return out


def _ctx_text(ctx: dict[str, Any] | None) -> str:
    return "" if not ctx else " " + json.dumps(ctx)


# one builder per format: Placed → a native record of that format
def _browser_v1(p: Placed) -> dict[str, Any]:
    args: list[Any] = [p.message] + ([p.ctx] if p.ctx else [])
    return {"level": "error", "args": args, "trace_id": p.trace, "user_id": "user_1", "system_area": "browser",
            "timestamp": p.ts, "stack_trace": p.stack}  # fmt: skip


def _browser_v2(p: Placed) -> dict[str, Any]:
    ctx = {
        "timestamp": p.ts,
        "url": "http://localhost:3000/chat",
        "userAgent": "Mozilla/5.0",
        **(p.ctx or {}),
    }
    return {"trace_id": p.trace, "message": p.message, "level": "error", "system": "browser", "user_id": "user_1",
            "stack": p.stack, "context": ctx}  # fmt: skip


def _worker_record(p: Placed) -> dict[str, Any]:
    return {"id": f"{p.ts}_r8t2m9x0q", "trace_id": p.trace, "user_id": "user_1", "system": "worker", "level": "error",
            "message": p.message, "stack": p.stack, "timestamp": p.ts,
            "context": {"timestamp": p.ts - 20, "workflow": "send", **(p.ctx or {})}}  # fmt: skip


def _worker_logs(p: Placed) -> dict[str, Any]:
    rec = _worker_record(p)
    del rec["trace_id"]
    return {"trace_id": p.trace, "logs": [rec], "count": 1, "retrieved_at": "2024-05-05T12:05:00.412Z"}


def _logpush(p: Placed) -> dict[str, Any]:
    msg: list[Any] = [p.message] + ([p.ctx] if p.ctx else [])
    rec: dict[str, Any] = {
        "EventTimestampMs": p.ts, "EventType": "fetch", "Outcome": "exception" if p.stack else "ok",
        "ScriptName": "log-ingestion-worker", "CPUTimeMs": 1, "WallTimeMs": 3,
        "Event": {"RayID": "87f0a1b2c3d4e5f6", "Request": {"URL": "https://w.example.com/log", "Method": "POST",
                                                          "Headers": {"x-trace-id": p.trace}}},
        "Logs": [{"Level": "log", "Message": [*msg, f"trace_id: {p.trace}"], "TimestampMs": p.ts}],
        "Exceptions": [],
    }  # fmt: skip
    if p.stack:
        rec["Exceptions"] = [
            {"Name": "Error", "Message": p.stack.split("\n")[0], "TimestampMs": p.ts, "Stack": p.stack}
        ]
    return rec


def _tail(p: Placed) -> dict[str, Any]:
    msg: list[Any] = [p.message] + ([p.ctx] if p.ctx else [])
    rec: dict[str, Any] = {
        "outcome": "ok", "scriptName": "log-ingestion-worker", "diagnosticsChannelEvents": [], "exceptions": [],
        "logs": [{"message": [*msg, f"trace_id: {p.trace}"], "level": "log", "timestamp": p.ts}],
        "eventTimestamp": p.ts,
        "event": {"request": {"url": "https://w.example.com/log", "method": "POST",
                              "headers": {"cf-ray": "87f0a1ce4b5a6d79", "x-trace-id": p.trace}}},
    }  # fmt: skip
    if p.stack:
        rec["exceptions"] = [
            {"name": "Error", "message": p.stack.split("\n")[0], "timestamp": p.ts, "stack": p.stack}
        ]
    return rec


def _workers_logs(p: Placed) -> dict[str, Any]:
    source: dict[str, Any] = {"message": p.message, "trace_id": p.trace, "level": "error", "stack": p.stack,
                              "context": p.ctx}  # fmt: skip
    return {"dataset": "cloudflare-workers", "timestamp": p.ts, "source": source,
            "$workers": {"eventType": "fetch", "requestId": "8a1f2b3c4d5e6f70", "scriptName": "log-ingestion-worker",
                         "outcome": "ok"},
            "$metadata": {"id": "01HX4ZQ8J4M2V6B1C9D0E3F5G7", "requestId": "8a1f2b3c4d5e6f70",
                          "service": "log-ingestion-worker", "type": "cf-worker-console"}}  # fmt: skip


_CONVEX = {"deployment_name": "tremendous-otter-123", "deployment_type": "prod", "project_name": "app"}


def _convex_stream(p: Placed) -> dict[str, Any]:
    fn = {"path": "messages:send", "type": "mutation", "cached": None, "request_id": "d064ef901f7ec0b7"}
    if p.stack:
        return {"topic": "function_execution", "timestamp": p.ts, "function": fn, "execution_time_ms": 12,
                "status": "failure", "error_message": f"{p.stack} trace_id: {p.trace}", "usage": {},
                "convex": _CONVEX}  # fmt: skip
    return {"topic": "console", "timestamp": p.ts, "function": fn, "log_level": "ERROR",
            "message": f"'{p.message}' {{ traceId: '{p.trace}' }}{_ctx_text(p.ctx)}", "is_truncated": False,
            "system_code": None, "convex": _CONVEX}  # fmt: skip


def _convex_stream_v1(p: Placed) -> dict[str, Any]:
    if p.stack:
        return {"_topic": "_execution_record", "_timestamp": p.ts, "_functionType": "mutation",
                "_functionPath": "payments:charge", "status": "failure", "reason": f"{p.stack} trace_id: {p.trace}",
                "executionTimeMs": 7}  # fmt: skip
    return {"_topic": "_console", "_timestamp": p.ts, "_functionType": "query", "_functionPath": "auth:verify",
            "message": f"[ERROR] '{p.message} trace_id: {p.trace}'{_ctx_text(p.ctx)}"}  # fmt: skip


def _repo_webhook(p: Placed) -> dict[str, Any]:
    meta: dict[str, Any] = {"traceId": p.trace, "stack": p.stack, **(p.ctx or {})}
    entry = {"id": f"log-{p.ts}", "timestamp": p.ts, "level": "ERROR", "message": p.message,
             "context": {"functionName": "payments:charge", "requestId": f"req-{p.ts}"}, "metadata": meta}  # fmt: skip
    return {"logs": [entry], "source": "convex", "endpoint": "/webhook", "timestamp": p.ts}


def _convex_cli(p: Placed) -> dict[str, Any]:
    msgs: list[Any] = [f"'{p.message}'", f"{{ traceId: '{p.trace}' }}"] + ([p.ctx] if p.ctx else [])
    rec: dict[str, Any] = {
        "kind": "Progress", "udfType": "Action", "componentPath": None, "identifier": "ai:summarize",
        "timestamp": p.ts / 1000, "requestId": f"r{p.ts}", "executionId": "9c3f1e7a",
        "logLines": [{"messages": msgs, "isTruncated": False, "timestamp": p.ts, "level": "ERROR",
                      "systemMetadata": None}],
    }  # fmt: skip
    if p.stack:
        rec.update(kind="Completion", error=p.stack, success=None, executionTime=0.012, usageStats={})
    return rec


def _snapshot(p: Placed) -> dict[str, Any]:
    raw_args: list[Any] = [p.message] + ([json.dumps(p.ctx)] if p.ctx else [])
    return {"_creationTime": p.ts + 0.5, "_id": f"jh7a0x4v2m8q9c1e3k5n{p.ts}", "level": "error",
            "message": p.message, "trace_id": p.trace, "user_id": "user_1", "system_area": "browser",
            "timestamp": p.ts, "raw_args": raw_args, "stack_trace": p.stack, "processed": False}  # fmt: skip


def _convex_text(p: Placed) -> str:
    """`npx convex logs` text (no --jsonl): the time in this machine's zone, where ingest reads it, year first (no
    day/month order to decide); the stack's lines are the record's continuation lines."""
    when = datetime.fromtimestamp(p.ts / 1000).strftime("%Y-%m-%d %H:%M:%S")
    line = (
        f"{when} [CONVEX A(ai:summarize)] [ERROR] '{p.message}' {{ traceId: '{p.trace}' }}{_ctx_text(p.ctx)}"
    )
    return line + (f"\n{p.stack}" if p.stack else "")


BUILDERS: dict[str, Callable[[Placed], dict[str, Any] | str]] = {
    "browser-v1": _browser_v1,
    "browser-v2": _browser_v2,
    "worker-record": _worker_record,
    "worker-logs": _worker_logs,
    "cf-logpush": _logpush,
    "cf-tail": _tail,
    "cf-workers-logs": _workers_logs,
    "convex-stream": _convex_stream,
    "convex-stream-v1": _convex_stream_v1,
    "convex-repo-webhook": _repo_webhook,
    "convex-cli": _convex_cli,
    "convex-snapshot": _snapshot,
    "convex-text": _convex_text,
}
# formats written as pretty-printed objects back to back (the scanner), the rest as NDJSON
PRETTY = {"cf-tail"}


def records_for(fmt: str, kinds: list[Kind]) -> list[dict[str, Any] | str]:
    build = BUILDERS[fmt]
    out = []
    n = 0
    for i, k in enumerate(kinds):
        for p in placements(k, i):
            p.trace = f"trace_{BASE_TS + i}_{fmt.replace('-', '')[:10]}{i}"
            p.ts = BASE_TS + n * 1500
            n += 1
            out.append(build(p))
    return out


def malformed_lines(fmt: str, kinds: list[Kind]) -> list[str]:
    """Lines that must be rejected, each carrying a secret (five kinds of fault, in turn)."""
    build = BUILDERS[fmt]
    lines = []
    for i, k in enumerate(kinds):
        rec = _dumps(build(Placed(k.text, trace=f"trace_{BASE_TS}_bad{i}", ts=BASE_TS)))
        cut = rec.index(k.secret) + len(k.secret) + 3
        choice = i % 5
        if choice == 0:
            lines.append(rec[:cut])  # cut off after the secret
        elif choice == 1:
            lines.append(f"ERROR upstream rejected request: {k.text}")  # plain text between records
        elif choice == 2:
            lines.append(
                json.dumps({"unknown_shape": True, "note": k.text, "headers": {"authorization": k.secret}})
            )
        elif choice == 3:
            lines.append(json.dumps({"args": 42, "level": "log", "note": k.text}))  # adapter refuses it
        else:
            lines.append(json.dumps({"kind": k.text, "logLines": []}))  # a refusal that names a field's value
    return lines


def _dumps(record: dict[str, Any] | str) -> str:
    """A record as its file holds it: JSON, or a text format's lines as they are."""
    return record if isinstance(record, str) else json.dumps(record)


def write_format(directory: Path, fmt: str, kinds: list[Kind], *, malformed: bool = True) -> Path:
    recs = records_for(fmt, kinds)
    bad = malformed_lines(fmt, kinds) if malformed else []
    path = directory / f"{fmt}.json{'' if fmt in PRETTY else 'l'}"
    if fmt in PRETTY:
        parts = [" ⛅️ wrangler 3.53.1", "-------------------"]
        parts += [json.dumps(r, indent=2) for r in recs]
        # malformed lines end the file: a cut-off pretty object would swallow what follows it
        parts += bad
        text = "\n".join(parts) + "\n"
    else:
        text = "\n".join([_dumps(r) for r in recs] + bad) + "\n"
    path.write_text(text)
    return path
