"""Budget outputs: the projection and the check as a terminal table, Markdown, JSON and JUnit XML."""

from __future__ import annotations

import os
import sys
from typing import Any
from xml.etree import ElementTree as ET

from logcorr.budget.check import Threshold
from logcorr.model import SYSTEMS
from logcorr.render import markdown as md
from logcorr.render.text import xml_tree
from logcorr.sim.load import say_left_out
from logcorr.units import say_count


def _n(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _rows(result: dict[str, Any]) -> list[list[str]]:
    rows = []
    for s in SYSTEMS:
        v = result["systems"][s]
        drops = ", ".join(f"{k} {n:,}" for k, n in v["dropped"].items()) or "-"
        rows.append([s, _n(v["offered"]), _n(v["accepted"]), _n(v["quota"]), _n(v["used_pct_of_share"]) + " %",
                     _n(v["borrowed"]), _n(v["lent"]), drops])  # fmt: skip
    t = result["total"]
    rows.append(
        ["total", _n(t["offered"]), _n(t["accepted"]), _n(t["quota"]), _n(t["quota_pct"]) + " %", "", "", ""]
    )
    return rows


SYSTEM_COLS = [
    "system",
    "offered",
    "accepted",
    "quota",
    "used of share",
    "borrowed",
    "lent",
    "dropped by rule",
]
COST_COLS = ["pricing model", "as of", "base fee", "usage (billed)", "total", "usage at list price"]


def _cost_rows(result: dict[str, Any]) -> list[list[str]]:
    return [[c["model"], c["as_of"], f"${c['base_fee_usd']:,.2f}", f"${c['usage_usd']:,.2f}", f"${c['total_usd']:,.2f}",
             f"${c['list_usd']:,.2f}"] for c in result["costs"]]  # fmt: skip


def _threshold_lines(result: dict[str, Any]) -> list[str]:
    out = []
    for key, t in result["thresholds"].items():
        when = f"{t['reached']} (day {t['day']})" if t["reached"] else "not reached"
        out.append(f"{key} {t['pct']:g} %: {when}")
    return out


def _period(ms: int) -> str:
    """The tiling period as the header says it: whole days, hours or minutes, else seconds (`--period 30s` was
    "every 0 min", 45 days "every 64800 min")."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("min", 60_000)):
        if ms % size == 0:
            return f"{ms // size} {unit}"
    return f"{ms / 1000:g} s"


def _basis(result: dict[str, Any]) -> str:
    """What the month is projected from: the sample and how often it is repeated (not at all when it is as
    long as the month)."""
    o, m = result["observed"], result["month"]
    how = "not repeated" if m["copies"] <= 1 else f"repeated every {_period(m['period_ms'])}"
    left = "; ".join(say_left_out(g) for g in o.get("left_out", []))
    left = f" (left out: {left})" if left else ""
    return f"observed {say_count(o['events'], 'event')}, {o['first']} → {o['last']}, {how}{left}"


def report_notes(result: dict[str, Any]) -> list[str]:
    """Every note the terminal shows, for a report read where stderr is not (a CI step's summary, a JUnit
    report): how the input files were read — the zone of `npx convex logs` text, the lines rejected, counted by
    reason — then the projection's own (browser events left out of the span, the story's arithmetic). Bounded:
    the files' notes at most 20 in all, the rejected lines one note however many."""
    return [*result.get("source", {}).get("notes", []), *result.get("notes", [])]


def render_table(result: dict[str, Any], checks: list[Threshold] | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console(
        no_color="NO_COLOR" in os.environ, highlight=False, width=None if sys.stdout.isatty() else 160
    )
    m = result["month"]
    con.print(f"[bold]budget projection[/] for {m['days']} days from {m['start']} "
              f"({_basis(result)}, scale {m['scale']:g}×)")  # fmt: skip
    t = Table(show_edge=False, header_style="bold", title="quota view (writes)", title_justify="left")
    for name in SYSTEM_COLS:
        t.add_column(name, justify="left" if name in ("system", "dropped by rule") else "right")
    for r in _rows(result):
        t.add_row(*r)
    con.print(t)
    con.print("thresholds: " + " · ".join(_threshold_lines(result)))
    t = Table(show_edge=False, header_style="bold", title="dollar view", title_justify="left")
    for name in COST_COLS:
        t.add_column(name, justify="left" if name in ("pricing model", "as of") else "right")
    for r in _cost_rows(result):
        t.add_row(*r)
    con.print(t)
    u = result["usage"]
    con.print(f"[dim]usage: {u['function_calls']:,.0f} function calls, {u['document_writes']:,.0f} document writes, "
              f"{u['db_io_gb']:.3f} GB database I/O, {u['db_storage_gb_month']:.3f} GB-month storage, "
              f"{u['worker_requests']:,.0f} worker requests[/]")  # fmt: skip
    if "baseline" in result:
        d = result["baseline"]
        con.print(f"vs baseline: quota {_signed(d['quota_pct']['delta'])} points; " + "; ".join(
            f"{k} {_signed(v['delta'], '$')}" for k, v in d["costs"].items()))  # fmt: skip
    for note in result["notes"]:
        con.print(f"[yellow]note:[/] {note}")
    if checks:
        t = Table(show_edge=False, header_style="bold", title="budget check", title_justify="left")
        for col in ("", "threshold", "limit", "measured", "detail"):
            t.add_column(col)
        for c in checks:
            t.add_row("[green]PASS[/]" if c.passed else "[red]FAIL[/]", c.name, c.limit, c.measured, c.detail)
        con.print(t)


def _signed(v: float | None, unit: str = "") -> str:
    if v is None:
        return "n/a"
    return f"{'+' if v >= 0 else '-'}{unit}{abs(v):,.2f}"


def _md_table(cols: list[str], rows: list[list[str]]) -> str:
    # a cell's text as written: a pricing model named `a|b` (a TOML's `name`) split its row
    out = ["| " + " | ".join(md.inline(c, cell=True) for c in cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(md.inline(c, cell=True) for c in r) + " |" for r in rows]
    return "\n".join(out)


def to_markdown(result: dict[str, Any], checks: list[Threshold] | None = None) -> str:
    m = result["month"]
    parts = []
    # a list, one note an item: as `> ` lines they ran together into one paragraph. A note names input files, and
    # a file name's control characters, HTML and Markdown went raw into the summary (`# a.log` a heading, `1. b`
    # a list in the list, `[x](y)` a link); lines joined at line feeds only (`splitlines` also split a name at
    # its `\r`, written as a space)
    notes = ["#### Notes\n", *(f"- {md.block(n)}" for n in report_notes(result)), ""]
    if checks:
        ok = all(c.passed for c in checks)
        parts.append(f"### logcorr budget check: {'✅ pass' if ok else '❌ fail'}\n")
        parts.append(_md_table(["", "threshold", "limit", "measured"],
                               [["✅" if c.passed else "❌", c.name, c.limit, c.measured] for c in checks]))  # fmt: skip
        parts.append("")
        # after the verdict, before the projection's tables: what a passing gate rests on is read first
        parts += notes
        notes = []
    parts.append(f"#### Projection: {m['days']} days from {m['start']} (scale {m['scale']:g}×)\n")
    parts.append(f"{_basis(result)}\n")
    parts.append(_md_table(SYSTEM_COLS, _rows(result)))
    parts.append("\n" + "; ".join(_threshold_lines(result)) + "\n")
    parts.append(_md_table(COST_COLS, _cost_rows(result)))
    parts.append("")
    if "baseline" in result:
        parts.append("#### Against the baseline\n")
        parts.append(_md_table(["", "baseline", "current", "change"], _baseline_rows(result["baseline"])))
        parts.append("")
    parts += notes
    return "\n".join(parts).rstrip("\n") + "\n"


def _baseline_rows(d: dict[str, Any]) -> list[list[str]]:
    """`project.diff` as rows: the quota, each system's accepted writes, each model's dollars."""

    def num(v: Any, fmt: str, before: str = "", after: str = "") -> str:
        return "n/a" if not isinstance(v, int | float) else f"{before}{format(v, fmt)}{after}"

    q = d["quota_pct"]
    rows = [["quota used", num(q["baseline"], ".2f", after=" %"), num(q["current"], ".2f", after=" %"),
             _signed(q["delta"]) + " points"]]  # fmt: skip
    for s, v in d["systems"].items():
        a = v["accepted"]
        delta = "n/a" if a["delta"] is None else f"{a['delta']:+,.0f}"
        rows.append([f"{s} accepted", num(a["baseline"], ","), num(a["current"], ","), delta])
    for model, c in d["costs"].items():
        rows.append([f"{model} (total)", num(c["baseline"], ",.2f", "$"), num(c["current"], ",.2f", "$"),
                     _signed(c["delta"], "$")])  # fmt: skip
    return rows


def to_junit(checks: list[Threshold], result: dict[str, Any]) -> bytes:
    failures = sum(1 for c in checks if not c.passed)
    suites = ET.Element("testsuites", name="logcorr", tests=str(len(checks)), failures=str(failures))
    suite = ET.SubElement(suites, "testsuite", name="logcorr budget check", tests=str(len(checks)),
                          failures=str(failures), errors="0", skipped="0")  # fmt: skip
    # before the test cases, as the JUnit schema orders a suite's children (and replay's report does)
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="quota_pct", value=str(result["total"]["quota_pct"]))
    # what the figures rest on: a CI reviewer sees that two hours of an afternoon were repeated all month
    if "observed" in result:
        ET.SubElement(props, "property", name="projection", value=_basis(result))
    for cost in result["costs"]:
        ET.SubElement(props, "property", name=f"usd.{cost['model']}", value=str(cost["total_usd"]))
    # what the terminal says on stderr, which nobody reads of a passing CI step: counts for a program, and each
    # note in every case's system-out (what GitLab and Jenkins show of a case)
    source, observed = result.get("source", {}), result.get("observed", {})
    if "rejected" in source:
        ET.SubElement(props, "property", name="rejected_lines", value=str(source["rejected"]))
    if "left_out" in observed:
        left_out = sum(g["events"] for g in observed["left_out"])
        ET.SubElement(props, "property", name="left_out_events", value=str(left_out))
    notes = report_notes(result)
    for note in notes:
        ET.SubElement(props, "property", name="note", value=note)
    said = "".join(f"\nnote: {n}" for n in notes)
    for c in checks:
        case = ET.SubElement(suite, "testcase", classname="logcorr.budget", name=f"{c.name} {c.limit}")
        if not c.passed:
            f = ET.SubElement(case, "failure", message=f"{c.name}: measured {c.measured}, limit {c.limit}",
                              type="ThresholdBreached")  # fmt: skip
            f.text = c.detail
        out = ET.SubElement(case, "system-out")
        out.text = f"measured {c.measured}; {c.detail}{said}"
    body: bytes = ET.tostring(xml_tree(suites), encoding="utf-8")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body + b"\n"
