"""Replay outputs: a terminal report (tables, a unicode chart, thresholds), JSON, and JUnit XML."""

from __future__ import annotations

import os
import sys
from typing import Any
from xml.etree import ElementTree as ET

from logcorr.render.text import clip, xml_tree
from logcorr.replay.asserts import Check
from logcorr.replay.chart import terminal
from logcorr.units import say_count

KEY_METRICS = ("events", "accepted", "dropped", "quota_pct", "cost_usd", "replay_cost_usd", "trace_integrity",
               "traces.multi_system", "traces.cut", "max_identical_per_s", "essential.errors_through", "redactions",
               "browser.accepted", "worker.accepted", "backend.accepted")  # fmt: skip


def _n(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:,.4f}".rstrip("0").rstrip(".") if abs(v) < 1000 else f"{v:,.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _raw(v: Any) -> str:
    """A JUnit property's value: the number as a CI script parses it (no thousands separator), as the budget
    report writes its own."""
    if isinstance(v, float) and not isinstance(v, bool):
        return f"{v:.4f}".rstrip("0").rstrip(".") if abs(v) < 1000 else f"{v:.2f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    return _n(v)


def _span(ms: int) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        if ms >= size:
            return f"{ms / size:.4g} {unit}"
    return f"{ms} ms"


def rate(per_s: float) -> str:
    """Events per second as people read them: `22.54/s`, `2.43/min` or `34.8/h` (a week's exports at `0.00/s`
    said nothing)."""
    if per_s <= 0:
        return "0/s"
    for unit, size in (("s", 1), ("min", 60), ("h", 3600)):
        if per_s * size >= 1:
            return f"{per_s * size:,.3g}/{unit}" if per_s * size < 100 else f"{per_s * size:,.0f}/{unit}"
    return f"{per_s * 86_400:,.3g}/d"


def headline(result: dict[str, Any]) -> str:
    r, m = result["replay"], result["metrics"]
    what = f"scenario {r['name']} ({r['source']}, seed {r['seed']})" if r["kind"] == "scenario" else (
        f"recorded {say_count(r['recorded_events'], 'event')} ×{r['multiply']:g} at {r['speed']:g}× speed")  # fmt: skip
    return (f"replay {what}: {say_count(m['events'], 'event')} over {_span(r['span_ms'])} from {r['start'][:16].replace('T', ' ')} "
            f"({rate(m['events'] / max(1, r['span_ms']) * 1000)}) · policy {result['policy']['source']} [{result['policy']['digest']}]")  # fmt: skip


def chart_title(result: dict[str, Any]) -> str:
    """A short title for a chart: what was replayed, under which policy."""
    r = result["replay"]
    what = r["name"] if r["kind"] == "scenario" else f"recorded ×{r['multiply']:g} at {r['speed']:g}× speed"
    return f"logcorr replay: {what} · {say_count(result['metrics']['events'], 'event')} · policy {result['policy']['digest']}"


def system_rows(result: dict[str, Any]) -> list[list[str]]:
    rows = []
    for s, v in result["systems"].items():
        drops = ", ".join(f"{k} {n:,}" for k, n in v["dropped"].items()) or "-"
        share = f"{v['used']:,} / {v['quota']:,} ({_n(v['quota_pct'])} %)" if v["quota"] else f"{v['used']:,}"
        rows.append([s, _n(v["offered"]), _n(v["accepted"]), drops, share, _n(v["borrowed"]), _n(v["lent"])])
    t = result["totals"]
    rows.append(["total", _n(t["offered"]), _n(t["accepted"]),
                 ", ".join(f"{k} {n:,}" for k, n in t["dropped"].items()) or "-",
                 f"{result['metrics']['quota_pct']:g} % of {result['quota']['monthly_writes']:,}", "", ""])  # fmt: skip
    return rows


def fact_lines(result: dict[str, Any]) -> list[str]:
    m, ti, lp = result["metrics"], result["trace_integrity"], result["loop"]
    lines = []
    moments = "; ".join(
        f"{x['scope']} {x['pct']:g} % at {x['at'][:19].replace('T', ' ')}" for x in result["quota"]["moments"]
    )
    lines.append(
        f"quota: {m['quota_pct']:g} % of the month's writes" + (f" · reached {moments}" if moments else "")
    )
    lines.append(f"trace integrity: {_n(ti['integrity'])} ({ti['cut']:,} of {ti['multi_system_traces']:,} multi-system "
                 f"traces cut by pressure rules; {ti['refused_whole']:,} refused whole)")  # fmt: skip
    lines.append(f"loop check: copies of one message stored in any second, at most {lp['max_identical_per_s']} "
                 f"(policy: {lp['policy_max_identical']} per {lp['policy_window_ms']} ms)")  # fmt: skip
    if m["essential.errors_through"] is not None:
        lines.append(f"essential-only phase: {m['essential.errors_accepted']:,} of {m['essential.errors_offered']:,} "
                     f"errors stored ({m['essential.errors_dropped_by_budget']:,} refused by the budget)")  # fmt: skip
    red = ", ".join(f"{k} {n:,}" for k, n in result["redactions"].items()) or "none"
    lines.append(f"redactions: {red}")
    return lines


def cost_rows(result: dict[str, Any]) -> list[list[str]]:
    return [[c["model"] + (" *" if c["model"] == result["cost_model"] else ""), c["as_of"], f"${c['replay_usd']:,.4f}",
             f"${c['month_usd']:,.2f}", f"{c['month_writes']:,.0f}"] for c in result["costs"]]  # fmt: skip


def message_rows(result: dict[str, Any]) -> list[list[str]]:
    rows = []
    for m in result["messages"]:
        text = clip(m["message"], 72)
        drops = ", ".join(f"{k} {n:,}" for k, n in m["dropped"].items()) or "-"
        rows.append([m["system"], m["level"], text, _n(m["offered"]), _n(m["accepted"]), drops])
    return rows


def render_table(result: dict[str, Any], checks: list[Check] | None = None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    con = Console(
        no_color="NO_COLOR" in os.environ, highlight=False, width=None if sys.stdout.isatty() else 160
    )

    def table(title: str, cols: list[str], rows: list[list[str]], left: tuple[str, ...]) -> None:
        t = Table(show_edge=False, header_style="bold", title=title, title_justify="left")
        for c in cols:
            t.add_column(c, justify="left" if c in left else "right", overflow="fold")
        for r in rows:
            t.add_row(*(escape(x) for x in r))
        con.print(t)

    con.print(f"[bold]{escape(headline(result))}[/]")
    table("per system", ["system", "offered", "accepted", "dropped by rule", "writes / share", "borrowed", "lent"],
          system_rows(result), ("system", "dropped by rule"))  # fmt: skip
    for line in fact_lines(result):
        con.print(escape(line))
    table("dollars (* = cost_usd)", ["pricing model", "as of", "this replay", "30-day month", "month writes"],
          cost_rows(result), ("pricing model", "as of"))  # fmt: skip
    table("top messages", ["system", "level", "message", "offered", "accepted", "dropped"], message_rows(result),
          ("system", "level", "message", "dropped"))  # fmt: skip
    for line in terminal(result["series"], result["replay"]["end"]):
        con.print(escape(line))
    if "compare" in result:
        _compare_table(con, result, table)
    for note in result["notes"]:
        con.print(f"[dim]note: {escape(note)}[/]")
    if checks:
        t = Table(show_edge=False, header_style="bold", title="thresholds", title_justify="left")
        for col in ("", "assert", "value"):
            t.add_column(col)
        for c in checks:
            t.add_row("[green]PASS[/]" if c.passed else "[red]FAIL[/]", escape(c.assertion.text), _n(c.value))
        con.print(t)


def _compare_table(con: Any, result: dict[str, Any], table: Any) -> None:
    other = result["compare"]["result"]
    con.print(f"[bold]compared with policy {other['policy']['source']} [{other['policy']['digest']}][/]")
    rows = []
    for k in KEY_METRICS:
        a, b = result["metrics"].get(k), other["metrics"].get(k)
        d = result["compare"]["delta"].get(k)
        rows.append([k, _n(a), _n(b), "" if d is None else (f"+{_n(d)}" if d > 0 else _n(d))])
    for rule in result["totals"]["dropped"].keys() | other["totals"]["dropped"].keys():
        k = f"dropped.{rule}"
        a, b = result["metrics"][k], other["metrics"][k]
        rows.append([k, _n(a), _n(b), f"{'+' if b - a > 0 else ''}{_n(b - a)}"])
    table("side by side", ["metric", "this policy", "compared policy", "change"], rows, ("metric",))


def to_json(result: dict[str, Any], checks: list[Check] | None) -> dict[str, Any]:
    out = dict(result)
    if checks is not None:
        out["asserts"] = [c.as_dict() for c in checks]
        out["passed"] = all(c.passed for c in checks)
    return out


def to_junit(result: dict[str, Any], checks: list[Check]) -> bytes:
    """A test suite: one case per threshold (or one for the replay itself when there are none)."""
    name = result["replay"].get("name") or "recorded"
    failures = sum(1 for c in checks if not c.passed)
    tests = max(1, len(checks))
    suites = ET.Element("testsuites", name="logcorr", tests=str(tests), failures=str(failures))
    suite = ET.SubElement(suites, "testsuite", name=f"logcorr replay {name}", tests=str(tests),
                          failures=str(failures), errors="0", skipped="0")  # fmt: skip
    props = ET.SubElement(suite, "properties")
    for k in KEY_METRICS:
        ET.SubElement(props, "property", name=k, value=_raw(result["metrics"].get(k)))
    if not checks:
        case = ET.SubElement(suite, "testcase", classname="logcorr.replay", name=f"replay {name}")
        ET.SubElement(case, "system-out").text = headline(result)
    for c in checks:
        case = ET.SubElement(suite, "testcase", classname="logcorr.replay", name=c.assertion.text)
        if not c.passed:
            f = ET.SubElement(case, "failure", message=f"{c.assertion.text}: measured {_n(c.value)}",
                              type="ThresholdBreached")  # fmt: skip
            f.text = f"{c.assertion.metric} = {_n(c.value)}, required {c.assertion.op} {c.assertion.limit:g}"
        ET.SubElement(case, "system-out").text = f"measured {_n(c.value)}"
    body: bytes = ET.tostring(xml_tree(suites), encoding="utf-8")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body + b"\n"


def check_lines(checks: list[Check]) -> list[str]:
    """One line per threshold for stderr: PASS/FAIL, the assert, the value."""
    return [f"{'PASS' if c.passed else 'FAIL'} {c.assertion.text}: {_n(c.value)}" for c in checks]
