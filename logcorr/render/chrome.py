"""Chrome trace-event JSON (opens in Perfetto / chrome://tracing): one process per system, a complete
event per system span and per request (Convex function run, Worker invocation), an instant event per
log line. Times are microseconds from the trace start."""

from __future__ import annotations

from typing import Any

from logcorr.model import SYSTEMS
from logcorr.render.text import clip


def to_chrome(model: dict[str, Any]) -> dict[str, Any]:
    events: list[dict[str, Any]] = []
    pid = {s: i + 1 for i, s in enumerate(SYSTEMS)}
    for s in SYSTEMS:
        events.append({"name": "process_name", "ph": "M", "pid": pid[s], "tid": 0, "args": {"name": s}})
        events.append(
            {"name": "process_sort_index", "ph": "M", "pid": pid[s], "tid": 0, "args": {"sort_index": pid[s]}}
        )
    for span in model["spans"]:
        events.append(
            {
                "name": f"{span['system']} span",
                "cat": "span",
                "ph": "X",
                "pid": pid[span["system"]],
                "tid": 0,
                "ts": span["start_offset_ms"] * 1000,
                "dur": max(span["duration_ms"], 0) * 1000,
                "args": {"events": span["events"], "errors": span["errors"]},
            }
        )
    tids: dict[tuple[str, str], int] = {}
    for r in model["requests"]:
        key = (r["system"], r["request_id"])
        tids[key] = len(tids) + 1
        events.append({"name": "thread_name", "ph": "M", "pid": pid[r["system"]], "tid": tids[key],
                       "args": {"name": f"request {r['request_id']}"}})  # fmt: skip
        events.append(
            {
                "name": f"request {r['request_id']}",
                "cat": "request",
                "ph": "X",
                "pid": pid[r["system"]],
                "tid": tids[key],
                "ts": r["first_offset_ms"] * 1000,
                "dur": max(r["last_offset_ms"] - r["first_offset_ms"], 0) * 1000,
                "args": {"events": r["events"]},
            }
        )
    for e in model["events"]:
        tid = tids.get((e["system"], e["request_id"] or ""), 0)
        name = clip(e["message"], 80)
        args = {
            "level": e["level"],
            "message": e["message"],
            "source": f"{e['source_file']}:{e['source_line']}",
            "ts": e["ts"],
            "ts_corrected": e["ts_corrected"],
        }
        if e["dropped_by"]:
            args["dropped_by"] = e["dropped_by"]
        events.append(
            {
                "name": name,
                "cat": "dropped" if e["dropped_by"] else e["level"],
                "ph": "i",
                "s": "t",
                "pid": pid[e["system"]],
                "tid": tid,
                "ts": e["offset_ms"] * 1000,
                "args": args,
            }
        )
    return {
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {"trace_id": model["trace_id"], "start": model["start"], "skew": model["skew"]},
    }
