"""The ingest summary: a table per file on stderr for people, and a JSON document for machines."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from rich.markup import escape as _markup_escape

from logcorr.pipeline.ingest import IngestResult
from logcorr.pipeline.parse import FileResult
from logcorr.pipeline.workers import INPUT_SUFFIXES
from logcorr.render.text import first_few, visible
from logcorr.rules.clock import iso
from logcorr.sources.bytestream import CONTAINER_FAULTS
from logcorr.sources.convex_snapshot import LOG_TABLES
from logcorr.units import say_count


def escape(text: str) -> str:
    """Text the summary shows (file names, reasons, notes): not read as Rich markup, and its control characters
    made visible: a file named `b\\x1b[2Jx.log` cleared the terminal from the table and from its notes."""
    return _markup_escape(visible(text))


def file_json(f: FileResult) -> dict[str, Any]:
    return {
        "path": f.name,
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
        "metrics_repeated": f.metrics_repeated,
        "rejected": f.rejected,
        "reject_reasons": dict(f.reject_reasons),
        "skip_reasons": dict(f.skip_reasons),
        "notes": f.stats.notes + f.earlier,
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
        "phases_s": r.phases,
        "bytes": r.bytes_in,
        "stored": r.stored,
        "dropped": r.dropped,
        "rejected": r.rejected,
        "earlier_rejected": r.earlier_rejected,
        "stored_by_system": dict(sorted(r.stored_by_system.items())),
        "dropped_by_rule": drops,
        "redactions": dict(sorted(r.redactions.items())),
        "quota": quota_json(r),
        "trace_integrity": integrity_json(r),
        "metrics_repeated": r.metrics_repeated,
        "files": [file_json(f) for f in r.files],
        "swept_temp_dirs": [{"path": path, "bytes": size} for path, size in r.swept],
        "passed_over": r.passed_over,
        "passed_over_tables": r.passed_over_tables,
        "passed_over_hidden": r.passed_over_hidden,
        "broken_links": [{"path": path, "target": target} for path, target in r.broken_links],
        "future_events": {name: {"count": n, "newest": iso(ms)} for name, (n, ms) in r.future.items()},
        "late_clocks": {name: iso(ms) for name, ms in sorted(r.late_clocks.items())},
    }


def quota_json(r: IngestResult) -> dict[str, Any] | None:
    """The month's writes per system against its share, and the threshold moments."""
    q = r.quota
    if q is None:
        return None
    return {
        "month": q.month,
        "used": q.used,
        "quota": q.quota,
        "pct": round(q.pct, 2),
        "systems": {
            u.system: {"used": u.used, "share": u.quota, "pct": round(u.pct, 2), "borrowed": u.borrowed, "lent": u.lent}
            for u in q.systems
        },
        "moments": [
            {"month": m.month, "scope": m.scope, "pct": m.pct, "reached_at": iso(m.ts_ms), "used": m.used, "quota": m.quota,
             "run_id": m.run_id if m.run_id is not None else r.run_id}
            for m in q.moments
        ],
    }  # fmt: skip


def integrity_json(r: IngestResult) -> dict[str, Any] | None:
    i = r.integrity
    if i is None:
        return None
    return {"multi_system_traces": i.multi_system, "cut": i.cut, "refused_whole": i.refused_whole,
            "pct_cut": round(i.pct_cut, 2), **i.stats}  # fmt: skip


# a file none of whose lines is a record logcorr reads: another tool's log (an nginx access log, a CSV, an app's
# own JSON lines), which the per-reason counts alone ("not JSON", "unknown record shape") do not say; not a file
# whose records are of a format logcorr reads, each refused for what it lacks (the reasons say what)
UNREADABLE = (
    "nothing in {where} is an export logcorr reads (the browser console override's JSON, Cloudflare Logpush, "
    "Workers Logs or wrangler tail JSON, Convex log streams, snapshot JSON, `npx convex logs` text or its --jsonl; "
    "README, Inputs)"
)

# the reject reasons of a record over --max-line-mb (sources/ndjson.py, scan.py, convex_text_lines.py): the file may
# well be an export logcorr reads, the hint says which flag reads it, and what it costs
TOO_LONG = ("line longer than", "JSON value longer than")
OVERLONG = (
    "records in {where} were rejected as longer than --max-line-mb (default 8 MiB): a higher --max-line-mb reads "
    "them, each held whole in memory while it is read (several times its size: a 150 MB line peaked at 1.1 GB)"
)


# at most this many files get a row of their own (a Logpush bucket holds thousands of 30-second files): beyond
# it, the files with rejected lines or notes are listed and the others summed in one row
FILE_ROWS = 20


def render(r: IngestResult, console: Any) -> None:
    """Print the per-file table, drop and redaction counts, and problems, to the stderr console."""
    from rich.table import Table

    t = Table(title=f"ingest run {r.run_id} → {escape(r.db)}", title_justify="left", show_edge=False)
    for col, just in (("file", "left"), ("format", "left"), ("lines", "right"), ("records", "right"),
                      ("stored", "right"), ("dropped", "right"), ("rejected", "right"), ("metrics", "right"),
                      ("skipped", "right")):  # fmt: skip
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    many = len(r.files) > FILE_ROWS
    listed = [f for f in r.files if not many or (f.status == "ingested" and (f.rejected or f.stats.notes))]
    for f in listed[:FILE_ROWS]:
        name = escape(f.name)
        if f.status != "ingested":
            t.add_row(name, f"[dim]{f.status}[/]", "", "", "", "", "", "", "")
            continue
        t.add_row(name, _formats(f), *_counts([f]))
    shown = {id(f) for f in listed[:FILE_ROWS]}
    summed = [f for f in r.files if id(f) not in shown and f.status == "ingested"] if many else []
    if summed:
        label = f"{len(summed)} {'more ' if listed else ''}files"
        t.add_row(
            f"[dim]{label}[/]",
            ", ".join(sorted({k for f in summed for k in f.formats})) or "-",
            *_counts(summed),
        )
    if t.row_count:
        console.print(t)
    else:  # every file was ingested before
        console.print(f"ingest run {r.run_id} → {escape(r.db)}")
    mb = r.bytes_in / 1e6
    rate = f", {mb / r.elapsed_s:.1f} MB/s" if r.elapsed_s > 0 and mb > 1 else ""
    stored = (
        f"stored [bold]{r.stored}[/]"
        if r.committed
        else f"[red]nothing stored (--strict)[/]: would store {r.stored}"
    )
    # --strict: the lines an earlier run rejected in files already ingested, which fail it too
    earlier = f" (+{r.earlier_rejected} in files already ingested)" if r.earlier_rejected else ""
    console.print(
        f"{stored} · dropped {r.dropped} · rejected {r.rejected}{earlier} · {mb:.1f} MB in {r.elapsed_s:.2f} s{rate}"
    )
    if r.stored_by_system:
        console.print(
            f"{'stored' if r.committed else 'would store'} by system: "
            + ", ".join(f"{k} {v}" for k, v in sorted(r.stored_by_system.items()))
        )
    if r.drops:
        parts = [f"{rule}/{system} {n}" for (rule, system), n in sorted(r.drops.items())]
        console.print("dropped by rule: " + ", ".join(parts))
    if r.redactions:
        console.print("redacted: " + ", ".join(f"{k} {v}" for k, v in sorted(r.redactions.items())))
    _render_rules(r, console)
    if many:
        _render_problems_summed(r, console)
    else:
        for f in r.files:
            if f.status == "already-ingested":
                for note in f.earlier:
                    console.print(f"[yellow]note[/] {escape(f.name)}: {escape(note)}")
                continue  # read (stdin is read before it is known), then left out: nothing of it counts
            where = escape(f.name)
            top = f.reject_reasons.most_common(REASONS)
            for reason, n in top:
                console.print(f"[yellow]rejected[/] {n} × {escape(reason)} in {where}")
            if len(f.reject_reasons) > REASONS:
                rest = sum(f.reject_reasons.values()) - sum(n for _, n in top)
                console.print(
                    f"[yellow]rejected[/] {rest} more, for {say_count(len(f.reject_reasons) - REASONS, 'other reason')}, in {where}"
                )
            for note in f.stats.notes:
                console.print(f"[yellow]note[/] {where}: {escape(note)}")
            for reason, n in f.skip_reasons.most_common(REASONS):
                console.print(f"[dim]skipped {n} × {escape(reason)} in {where}[/]")
    read = [f for f in r.files if f.status == "ingested"]
    unreadable = [
        f.name
        for f in read
        if f.rejected
        and not f.events
        and not f.metrics
        and not f.rejected_known
        and not all(k.startswith(TOO_LONG) for k in f.reject_reasons)
        # a zip, an xz file, a gzip cut off before its first whole line: its reject says what it is and what
        # to do, which "nothing in it is an export logcorr reads" contradicted
        and not all(k.startswith(CONTAINER_FAULTS) for k in f.reject_reasons)
    ]
    # not in a file that is no export (a text log's long line would still be no JSON)
    too_long = [
        f.name
        for f in read
        if f.name not in unreadable and any(k.startswith(TOO_LONG) for k in f.reject_reasons)
    ]
    if unreadable:
        names = first_few((escape(n) for n in unreadable), 3)
        console.print(f"[yellow]hint[/]: {UNREADABLE.format(where=names)}", soft_wrap=True)
    if too_long:
        names = first_few((escape(n) for n in too_long), 3)
        console.print(f"[yellow]hint[/]: {OVERLONG.format(where=names)}", soft_wrap=True)
    already = [f.path for f in r.files if f.status == "already-ingested"]
    if already:
        console.print(f"[dim]{say_count(len(already), 'file')} already ingested, nothing changed for them[/]")
    if many:
        console.print(
            f"[dim]every file: {escape(sql_hint(r, f'SELECT * FROM ingest_files WHERE run_id = {r.run_id}'))}[/]",
            soft_wrap=True,  # a command to copy: the terminal may wrap it, rich must not break it
        )
    if r.rejected and r.committed:
        query = f"SELECT source_file, source_line, reason FROM rejects WHERE run_id = {r.run_id}"
        console.print(f"[dim]see rejected lines: {escape(sql_hint(r, query))}[/]", soft_wrap=True)
    if r.metrics_repeated:
        console.print(
            f"[dim]{say_count(r.metrics_repeated, 'metric record')} delivered again (retries, overlapping exports) "
            f"{'was' if r.metrics_repeated == 1 else 'were'} already kept: stored once[/]"
        )
    if r.passed_over or r.passed_over_hidden:
        said = []
        if r.passed_over:
            names = first_few((escape(p) for p in r.passed_over), 3)
            said.append(f"{say_count(len(r.passed_over), 'file')} in the input directories not named as logs "
                        f"({', '.join(INPUT_SUFFIXES)}): {names}")  # fmt: skip
        if r.passed_over_hidden:  # `.git`, `.cache`: not walked into, as ripgrep and fd pass them over
            names = first_few((escape(p) for p in r.passed_over_hidden), 3)
            where = "" if said else " in the input directories"
            said.append(
                f"{say_count(len(r.passed_over_hidden), 'hidden entry', 'hidden entries')}{where}: {names}"
            )
        console.print(f"[dim]passed over {' and '.join(said)}; give a path to read it[/]", soft_wrap=True)
    if r.broken_links:  # not "not named as logs" of a `dangling.jsonl`: there is nothing to read
        links = [f"{escape(path)} (→ {escape(target)})" for path, target in r.broken_links]
        what = (
            f"1 entry in the input directories: {escape(r.broken_links[0][0])} is a broken symbolic link "
            f"(→ {escape(r.broken_links[0][1])})"
            if len(links) == 1
            else f"{len(links):,} broken symbolic links in the input directories: {first_few(links, 3)}"
        )
        console.print(f"[dim]passed over {what}[/]", soft_wrap=True)
    if r.passed_over_tables:
        # the app's tables first (`users`), then Convex's own (`_storage`)
        tables = sorted({Path(p).parent.name for p in r.passed_over_tables if Path(p).name == "documents.jsonl"},
                        key=lambda t: (t.startswith("_"), t))  # fmt: skip
        docs = [p for p in r.passed_over_tables if Path(p).name == "documents.jsonl"]
        example = next((p for p in docs if Path(p).parent.name == tables[0]), r.passed_over_tables[0])
        console.print(
            f"[dim]passed over {say_count(len(r.passed_over_tables), 'file')} of a Convex export that hold no "
            f"logs: the tables {first_few((escape(t) for t in tables), 5)}, their schemas (logcorr reads "
            f"{', '.join(LOG_TABLES)}); give a file's path to read it ({escape(example)})[/]",
            soft_wrap=True,
        )
    if r.swept:
        size = sum(n for _, n in r.swept) / 1e6
        console.print(
            f"[dim]removed {say_count(len(r.swept), 'temporary directory', 'temporary directories')} "
            f"({size:.1f} MB) left by killed ingests, e.g. {escape(r.swept[0][0])}[/]"
        )
    for path, line, reason in r.first_rejects if not r.committed else ():
        console.print(f"[red]rejected[/] {escape(path)}:{line}: {escape(reason)}")


# reject and skip reasons listed per file; the rest are summed
REASONS = 5


def sql_hint(r: IngestResult, query: str) -> str:
    """A `logcorr sql` command line for this run's database, to copy and paste."""
    return f'logcorr sql "{query}" --db {shlex.quote(r.db)}'


def _formats(f: FileResult) -> str:
    return ", ".join(sorted(f.formats)) or "-"


def _counts(files: list[FileResult]) -> list[str]:
    """The table's number columns, summed over `files`."""
    rejected = sum(f.rejected for f in files)
    return [
        str(sum(f.stats.lines for f in files)),
        str(sum(f.records for f in files)),
        str(sum(f.stored for f in files)),
        str(sum(f.dropped for f in files)),
        f"[red]{rejected}[/]" if rejected else "0",
        str(sum(f.metrics for f in files)),
        str(sum(f.records_skipped + f.skipped_lines + f.stats.blank for f in files)),
    ]


def _render_problems_summed(r: IngestResult, console: Any) -> None:
    """Rejected lines by reason over all files (with how many files and the first), then the notes, at most
    `FILE_ROWS` of them."""
    reasons: dict[str, list[Any]] = {}  # reason → [lines, files, first path]
    for f in r.files:
        for reason, n in f.reject_reasons.items():
            seen = reasons.setdefault(reason, [0, 0, f.name])
            seen[0] += n
            seen[1] += 1
    for reason, (n, files, first) in sorted(reasons.items(), key=lambda kv: -kv[1][0]):
        where = f"in {first}" if files == 1 else f"in {files} files (first {first})"
        console.print(f"[yellow]rejected[/] {n} × {escape(reason)} {escape(where)}")
    notes = [(f.name, note) for f in r.files for note in f.stats.notes]
    for path, note in notes[:FILE_ROWS]:
        console.print(f"[yellow]note[/] {escape(path)}: {escape(note)}")
    if len(notes) > FILE_ROWS:
        console.print(
            f"[yellow]note[/] … {len(notes) - FILE_ROWS} more notes (ingest --json lists every file's)"
        )


def _render_rules(r: IngestResult, console: Any) -> None:
    """Quota use per system, the budget's threshold moments, and trace integrity."""
    q = r.quota
    if q is not None:
        parts = [f"{u.system} {u.used:,}/{u.quota:,} ({u.pct:.1f} %)" + (f", borrowed {u.borrowed:,}" if u.borrowed else "")
                 for u in q.systems]  # fmt: skip
        # under --strict nothing was stored: the figures are what this run would have used (`quota` alone read
        # as the database's)
        had = "" if r.committed else " had it been stored"
        console.print(f"quota {q.month}{had}: {q.used:,}/{q.quota:,} ({q.pct:.1f} %) · " + ", ".join(parts))
        for m in q.moments:
            run = m.run_id if m.run_id is not None else r.run_id
            what = "monthly quota" if m.scope == "total" else f"{m.scope} share"
            if m.month != q.month:
                what += f" of {m.month}"
            verb = "reached" if r.committed or m.run_id is not None else "would have reached"
            console.print(f"[yellow]budget[/] {what} {verb} {m.pct:g} % at {iso(m.ts_ms)} (run {run})")
    i = r.integrity
    if i is not None and i.multi_system:
        console.print(
            f"trace integrity: {i.multi_system} multi-system traces, {i.cut} cut by rules ({i.pct_cut:.1f} %), "
            f"{i.refused_whole} refused whole"
        )
    for name, (n, ms) in r.future.items():
        console.print(
            f"[yellow]note[/] {say_count(n, f'{name} event')} {'is' if n == 1 else 'are'} dated over a day after this machine's "
            f"clock (the newest {iso(ms)}): a client clock set ahead? One the rules decided (not suppressed, not a "
            f"repeat) moved the {name} rule clock and the budget month, so a later ingest of {name} logs is decided "
            "at that time (docs/rules.md, Late events)"
        )
    if i is not None and i.stats.get("late"):
        at = ", ".join(f"{name} {iso(ms)}" for name, ms in sorted(r.late_clocks.items()))
        were, their, they = ("was", "its", "it") if i.stats["late"] == 1 else ("were", "their", "they")
        console.print(f"[yellow]note[/] {say_count(i.stats['late'], 'event')} {were} older than what an earlier ingest decided for "
                      f"{their} system; {they} {were} decided at that system's clock{f' ({at})' if at else ''} (ingest each "
                      "system's exports in time order, see docs/rules.md)")  # fmt: skip
