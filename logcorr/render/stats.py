"""`logcorr stats` for people."""

from __future__ import annotations

from typing import Any

from logcorr.render.rows import write_table


def render(data: dict[str, Any]) -> None:
    integ = data["trace_integrity"]
    pct = f"{integ['integrity'] * 100:.1f} %" if integ["integrity"] is not None else "n/a"
    print(
        f"events {data['events']} · dropped {data['dropped']} · rejected {data['rejected']} · "
        f"traces {data['traces']} · orphans (no trace id) {data['orphans']}"
    )
    print(f"trace integrity: {pct} of {integ['multi_system_traces']} multi-system traces not cut by rules")
    write_table(data["per_system"], ["system", "events", "with_trace", "orphans", "trace_pct", "errors", "first", "last"],
                "events per system")  # fmt: skip
    write_table(data["traces_by_systems"], ["n_systems", "traces"], "traces by number of systems")
    write_table(data["trace_sources"], ["trace_source", "events"], "how trace ids were found")
    write_table(data["top_errors"], ["n", "traces", "systems", "message"], "top error messages")
    if data["redactions"]:  # runs before schema v5 recorded none: no table rather than a wrong zero
        write_table(data["redactions"], ["kind", "replaced"], "secrets redacted (every ingest)")
