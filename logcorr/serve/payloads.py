"""From a request body to the records the pipeline will read: JSON decoding (an object, an array, or
JSON lines), the endpoint's allowed formats, validation by the same adapters `ingest` uses, and the
proxy rewrite of a browser payload into the record the log-ingestion Worker would store."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import Enum
from typing import Any

import orjson

from logcorr.model import Event, Metric, RecordError
from logcorr.pipeline.stage import staged_rows
from logcorr.sources.base import SHAPE_ERRORS
from logcorr.sources.detect import FORMATS, describe_unknown, detect
from logcorr.sources.worker_formats import WORKER_FORMATS


class Endpoint(Enum):
    """Where a body arrived, and so which native formats it may hold."""

    BROWSER = "browser"  # POST /log, POST /api/action (the console override's payloads)
    WORKER = "worker"  # POST /worker (worker-forwarded records, Cloudflare exports)
    CONVEX = "convex"  # POST /convex/log-stream (Convex log-stream webhook)


ALLOWED: dict[Endpoint, frozenset[str]] = {
    Endpoint.BROWSER: frozenset({"browser-v1", "browser-v2"}),
    Endpoint.WORKER: frozenset(WORKER_FORMATS),
    Endpoint.CONVEX: frozenset({"convex-stream", "convex-stream-v1", "convex-repo-webhook"}),
}

# the Convex function the era A/B console override called through Convex's HTTP API
CONVEX_ACTION = "loggingAction:processLogs"


class BadRequest(Exception):
    """A request refused before anything is staged: HTTP status, counter name, one-line message."""

    def __init__(self, status: int, kind: str, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.close = close  # answered with `Connection: close`


@dataclass
class Checked:
    """A body that passed validation: its records and the events the adapters made of them."""

    records: list[dict[str, Any]]
    events: list[Event]
    verification_only: bool = False  # a Convex `verification` ping and nothing else

    @property
    def trace_id(self) -> str | None:
        return next((e.trace_id for e in self.events if e.trace_id), None)

    @property
    def system(self) -> str | None:
        return self.events[0].system if self.events else None


def decode(body: bytes) -> list[Any]:
    """The JSON values of a body: one object, an array's elements, or one value per line."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        values = []
        for n, line in enumerate(body.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                values.append(orjson.loads(line))
            except orjson.JSONDecodeError as e:
                raise BadRequest(400, "bad_json", f"body is not JSON or JSON lines (line {n}: {e})") from None
        if not values:
            raise BadRequest(400, "bad_json", "body holds no JSON value") from None
        return values
    return value if isinstance(value, list) else [value]


def convex_action_args(values: list[Any]) -> list[Any]:
    """The `args` of a Convex HTTP API call `{path: "loggingAction:processLogs", args: {…}}`."""
    if len(values) != 1 or not isinstance(values[0], dict):
        raise BadRequest(422, "bad_shape", "expected one Convex HTTP API call {path, args}")
    call = values[0]
    if call.get("path") != CONVEX_ACTION:
        raise BadRequest(
            404, "unknown_function", f"unknown Convex function {call.get('path')!r}; served: {CONVEX_ACTION}"
        )
    args = call.get("args")
    if isinstance(args, list) and len(args) == 1:  # the client may send [args]
        args = args[0]
    if not isinstance(args, dict):
        raise BadRequest(422, "bad_shape", "'args' must be the console-override payload object")
    return [args]


def check(values: list[Any], endpoint: Endpoint) -> Checked:
    """Validate every record with the adapter `ingest` would use; raises BadRequest on the first fault."""
    allowed = ALLOWED[endpoint]
    events: list[Event] = []
    metrics: list[Metric] = []
    records: list[dict[str, Any]] = []
    skipped = 0
    if not values:
        raise BadRequest(400, "empty", "the body holds no records")
    for i, value in enumerate(values):
        where = f"record {i + 1}: " if len(values) > 1 else ""
        if not isinstance(value, dict):
            raise BadRequest(422, "bad_shape", f"{where}not a JSON object")
        fmt = detect(value)
        if fmt is None:
            raise BadRequest(
                422, "bad_shape", where + describe_unknown(value).replace("; pass --format to force one", "")
            )
        if fmt.name not in allowed:
            raise BadRequest(
                422,
                "wrong_endpoint",
                f"{where}a {fmt.name} record; this endpoint takes {', '.join(sorted(allowed))}",
            )
        first_event, first_metric = len(events), len(metrics)
        try:
            skip = FORMATS[fmt.name].parse(value, events, metrics)
        except RecordError as e:
            raise BadRequest(422, "bad_record", f"{where}{e}") from None
        except SHAPE_ERRORS as e:
            raise BadRequest(
                422, "bad_record", f"{where}unexpected record shape ({type(e).__name__})"
            ) from None
        try:
            # what staging will write: a value JSON cannot hold (nested beyond 255 levels) would be rejected
            # there, after the answer had said the log was stored
            staged_rows(events[first_event:], metrics[first_metric:], 0, 0, 0, fmt.name)
        except TypeError as e:
            raise BadRequest(422, "bad_record", f"{where}record cannot be stored ({e})") from None
        if skip == "verification event":
            skipped += 1
        records.append(value)
    return Checked(records, events, verification_only=skipped == len(values))


def _rand36(n: int = 9) -> str:
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    return "".join(secrets.choice(alphabet) for _ in range(n))


def as_worker_records(checked: Checked, now_ms: int) -> list[dict[str, Any]]:
    """Proxy mode: each browser event as the record the log-ingestion Worker stores (reference §2.2):
    a fresh `id`, the receive time as `timestamp`, the client's time kept in `context.timestamp`."""
    out = []
    for ev in checked.events:
        context = dict(ev.context or {})
        context["timestamp"] = ev.ts_ms
        out.append(
            {
                "id": f"{now_ms}_{_rand36()}",
                "trace_id": ev.trace_id,
                "user_id": ev.user_id,
                "system": ev.system_label or ev.system,
                "level": ev.level,
                "message": ev.message,
                "stack": ev.stack,
                "timestamp": now_ms,
                "context": context,
            }
        )
    return out


def to_body(records: list[dict[str, Any]]) -> bytes:
    """Records as JSON lines, the input the pipeline reads."""
    return b"\n".join(orjson.dumps(r, option=orjson.OPT_NON_STR_KEYS) for r in records)
