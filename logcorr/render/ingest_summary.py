"""The ingest summary: a table per file on stderr for people, and a JSON document for machines."""

from __future__ import annotations

from typing import Any

from logcorr.pipeline.ingest import IngestResult
from logcorr.pipeline.parse import FileResult


def file_json(f: FileResult) -> dict[str, Any]:
    return {
        "path": "<stdin>" if f.path == "-" else f.path,
        "status": f.status,
        "size": f.size,
        "content_hash": f.content_hash,
        "mode": f.stats.mode or None,
        "formats": dict(f.formats),
        "lines": f.stats.lines,
        "blank_lines": f.stats.blank,
        "skipped_lines": f.skipped_lines,
        "rejected_lines": f.rejected_lines,
        "records": f.records,
        "records_with_events": f.records_with_events,
        "records_metric_only": f.records_metric_only,
        "records_skipped": f.records_skipped,
        "rejected_records": f.rejected_records,
        "events": f.events,
        "stored": f.stored,
        "dropped": f.dropped,
        "metrics": f.metrics,
        "rejected": f.rejected,
        "reject_reasons": dict(f.reject_reasons),
        "skip_reasons": dict(f.skip_reasons),
        "notes": f.stats.notes,
        "balanced": f.balanced,
    }


def to_json(r: IngestResult) -> dict[str, Any]:
    """The machine summary printed by `ingest --json`."""
    drops: dict[str, dict[str, int]] = {}
    for (rule, system), n in sorted(r.drops.items()):
        drops.setdefault(rule, {})[system] = n
    return {
        "db": r.db,
        "run_id": r.run_id,
        "committed": r.committed,
        "elapsed_s": round(r.elapsed_s, 3),
        "bytes": r.bytes_in,
        "stored": r.stored,
        "dropped": r.dropped,
        "rejected": r.rejected,
        "stored_by_system": dict(sorted(r.stored_by_system.items())),
        "dropped_by_rule": drops,
        "redactions": dict(sorted(r.redactions.items())),
        "files": [file_json(f) for f in r.files],
    }


def render(r: IngestResult, console: Any) -> None:
    """Print the per-file table, drop and redaction counts, and problems, to the stderr console."""
    from rich.table import Table

    t = Table(title=f"ingest run {r.run_id} → {r.db}", title_justify="left", show_edge=False)
    for col, just in (("file", "left"), ("format", "left"), ("lines", "right"), ("records", "right"),
                      ("stored", "right"), ("dropped", "right"), ("rejected", "right"), ("metrics", "right"),
                      ("skipped", "right")):  # fmt: skip
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for f in r.files:
        name = "<stdin>" if f.path == "-" else f.path
        if f.status != "ingested":
            t.add_row(name, f"[dim]{f.status}[/]", "", "", "", "", "", "", "")
            continue
        fmts = ", ".join(sorted(f.formats)) or "-"
        t.add_row(
            name,
            fmts,
            str(f.stats.lines),
            str(f.records),
            str(f.stored),
            str(f.dropped),
            f"[red]{f.rejected}[/]" if f.rejected else "0",
            str(f.metrics),
            str(f.records_skipped + f.skipped_lines + f.stats.blank),
        )
    console.print(t)
    mb = r.bytes_in / 1e6
    rate = f", {mb / r.elapsed_s:.1f} MB/s" if r.elapsed_s > 0 and mb > 1 else ""
    console.print(
        f"stored [bold]{r.stored}[/] · dropped {r.dropped} · rejected {r.rejected} · "
        f"{mb:.1f} MB in {r.elapsed_s:.2f} s{rate}"
    )
    if r.stored_by_system:
        console.print("stored by system: " + ", ".join(f"{k} {v}" for k, v in sorted(r.stored_by_system.items())))
    if r.drops:
        parts = [f"{rule}/{system} {n}" for (rule, system), n in sorted(r.drops.items())]
        console.print("dropped by rule: " + ", ".join(parts))
    if r.redactions:
        console.print("redacted: " + ", ".join(f"{k} {v}" for k, v in sorted(r.redactions.items())))
    for f in r.files:
        for reason, n in f.reject_reasons.most_common(5):
            console.print(f"[yellow]rejected[/] {n} × {reason} in {f.path}")
        for note in f.stats.notes:
            console.print(f"[yellow]note[/] {f.path}: {note}")
    already = [f.path for f in r.files if f.status == "already-ingested"]
    if already:
        console.print(f"[dim]{len(already)} file(s) already ingested, nothing changed for them[/]")
    if r.rejected:
        console.print("[dim]see rejected lines: logcorr sql \"SELECT * FROM rejects\"[/]")
    if not r.committed:
        console.print("[red]--strict: rejected records found; nothing was stored[/]")
