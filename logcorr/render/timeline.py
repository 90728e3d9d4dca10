"""The terminal waterfall of one trace: per-system span bars, then every event with its offset from the
trace start, one colour per system, the first error highlighted and dropped events greyed."""

from __future__ import annotations

import os
from typing import Any

from logcorr.units import say_count, say_duration

COLOURS = {"browser": "cyan", "worker": "magenta", "backend": "green"}
LEVEL_STYLE = {"error": "bold red", "warn": "yellow", "debug": "dim", "info": "", "log": ""}
BAR = 40


def _fmt_offset(ms: int) -> str:
    sign = "-" if ms < 0 else "+"
    ms = abs(ms)
    if ms < 1000:
        return f"{sign}{ms}ms"
    if ms < 60_000:
        return f"{sign}{ms / 1000:.3f}s"
    return f"{sign}{ms // 60_000}m{(ms % 60_000) / 1000:06.3f}s"


def _bar(start: int, dur: int, total: int) -> str:
    if total <= 0:
        return "█" + " " * (BAR - 1)
    a = max(
        0, min(BAR - 1, int(start * BAR / total))
    )  # a system's dropped events may lie before the trace's start
    b = max(a + 1, min(BAR, round((start + dur) * BAR / total)))
    return " " * a + "█" * (b - a) + " " * (BAR - b)


def _dropped(n: int) -> str:
    """` (2 dropped)`: how many of the events counted before it are dropped ones (`--include-dropped`)."""
    return f" ({n} dropped)" if n else ""


def render(
    model: dict[str, Any], width: int | None = None, first_error_at: tuple[int | None, int] | None = None
) -> None:
    """Print the waterfall to stdout (it is the data the user asked for). `first_error_at`: the first error's
    index among all the trace's events and their number, when `model["events"]` lists only the first of them:
    an error past them is shown after them."""
    from rich.markup import escape

    from logcorr.render.console import stdout_console
    from logcorr.render.text import cells, clip, visible

    con = stdout_console(160)
    if width:
        con.width = width
    flow = " → ".join(f"[{COLOURS[s]}]{s}[/]" for s in model["systems"]) or "(no systems)"
    con.print(f"[bold]trace {escape(visible(model['trace_id']))}[/]  {flow}")
    con.print(
        f"start {model['start']}  duration {_fmt_offset(model['duration_ms']).lstrip('+')}  "
        f"events {model['event_count']}{_dropped(model['dropped_count'])}  "
        f"errors {model['errors']['count']}{_dropped(model['errors']['dropped_count'])}"
    )
    for system, s in model["skew"].items():
        off = s["offset_ms"]
        # a clock set an hour wrong reads +3719965 ms: said in minutes, hours or days too
        said = f" ({say_duration(abs(off))} {'ahead' if off > 0 else 'behind'})" if abs(off) >= 60_000 else ""
        con.print(
            f"[dim]skew: {system} clock {'+' if off >= 0 else ''}{off} ms{said} vs worker "
            f"({s['method']}, {escape(visible(s['scope']))}, {say_count(s['samples'], 'sample')}); times corrected[/]"
        )
    if not model["skew_applied"]:
        con.print("[dim]skew correction off (--no-skew): raw clock times[/]")
    con.print()
    total = model["duration_ms"]
    for s in model["spans"]:
        colour = COLOURS[s["system"]]
        con.print(
            f"  [{colour}]{s['system']:<8}[/] [{colour}]{_bar(s['start_offset_ms'], s['duration_ms'], total)}[/] "
            f"{_fmt_offset(s['start_offset_ms']):>10} {s['duration_ms']:>7} ms  {say_count(s['events'], 'event')}"
            f"{_dropped(s['dropped_count'])}"
            + (
                f", [red]{say_count(s['errors'], 'error')}[/]{_dropped(s['errors_dropped'])}"
                if s["errors"]
                else ""
            )
        )
    if model["errors"]["chain"]:
        con.print("  error chain: " + " → ".join(f"[red]{s}[/]" for s in model["errors"]["chain"]))
    con.print()
    first_error = model["errors"]["first"]["event_id"] if model["errors"]["first"] else None

    def line(e: dict[str, Any]) -> None:
        colour = COLOURS.get(e["system"], "white")
        where = visible(f"{os.path.basename(e['source_file'])}:{e['source_line']}")
        # offset, system, level and spacing take 29 columns; the dropped note up to 30 more
        msg_width = max(30, (con.width or 160) - 29 - cells(where) - (30 if e["dropped_by"] else 2))
        msg = clip(visible(e["message"].replace("\n", " ⏎ ")), msg_width)
        if e["dropped_by"]:
            con.print(
                f"[dim]{_fmt_offset(e['offset_ms']):>11} {e['system']:<8} {e['level']:<5} {escape(msg)}  "
                f"(dropped: {e['dropped_by']}) {escape(where)}[/]"
            )
            return
        marker = "[bold red]▶[/]" if e["event_id"] == first_error else " "
        style = LEVEL_STYLE.get(e["level"], "")
        level = f"[{style}]{e['level']:<5}[/]" if style else f"{e['level']:<5}"
        text = f"[{style}]{escape(msg)}[/]" if style else escape(msg)
        con.print(
            f"{marker}{_fmt_offset(e['offset_ms']):>10} [{colour}]{e['system']:<8}[/] {level} {text}  [dim]{escape(where)}[/]"
        )

    for e in model["events"]:
        line(e)
    at, n_events = first_error_at or (None, len(model["events"]))
    listed = len(model["events"])
    if model["errors"]["first"] is not None and at is not None and at >= listed:
        con.print(f"[dim]  … the first error, event {at + 1} of {n_events}, past the {listed} listed:[/]")
        line(model["errors"]["first"])
