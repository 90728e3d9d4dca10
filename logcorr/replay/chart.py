"""Charts of a replay's series: offered vs accepted per system over time, as unicode-block rows for the
terminal and as a hand-written SVG file (no plotting library). Both use a log scale, so a flood and the
trickle the rules let through show on one chart."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape as _escape

BLOCKS = " ▁▂▃▄▅▆▇█"
COLORS = {"offered": "#d62728", "accepted": "#1f77b4"}


def rebucket(values: list[int], width: int) -> list[int]:
    """Sum consecutive values into at most `width` columns (unchanged when it already fits)."""
    n = len(values)
    if n <= width:
        return list(values)
    out = [0] * width
    for i, v in enumerate(values):
        out[i * width // n] += v
    return out


def _level(v: int, top: int) -> int:
    if v <= 0 or top <= 0:
        return 0
    return max(1, min(8, math.ceil(8 * math.log1p(v) / math.log1p(top))))


def _per(bucket_ms: int) -> str:
    if bucket_ms % 3_600_000 == 0:
        h = bucket_ms // 3_600_000
        return "/h" if h == 1 else f"/{h}h"
    m = bucket_ms // 60_000
    return "/min" if m == 1 else f"/{m}min"


def _when(iso: str) -> str:
    return iso.replace("T", " ")[:16]


def terminal(series: dict[str, Any], end_iso: str, width: int = 60) -> list[str]:
    """Lines of text: per system, an offered row and an accepted row sharing one log scale."""
    systems = series["systems"]
    if not systems:
        return ["(no events)"]
    nb = series["buckets"]
    cols = min(width, nb)
    bucket = series["bucket_ms"] * -(-nb // cols) if nb > cols else series["bucket_ms"]
    lines = [
        f"offered vs accepted per {_per(bucket)[1:]} (log scale), {_when(series['start'])} → {_when(end_iso)}"
    ]
    for system, s in systems.items():
        off, acc = rebucket(s["offered"], cols), rebucket(s["accepted"], cols)
        top = max(off, default=0)
        for label, vals in (("offered", off), ("accepted", acc)):
            row = "".join(BLOCKS[_level(v, top)] for v in vals)
            peak = max(vals, default=0)
            lines.append(
                f"{system if label == 'offered' else '':8} {label:8} {row}  max {peak:,}{_per(bucket)}"
            )
    return lines


def escape(text: str) -> str:
    """Text for the SVG: XML's special characters escaped, control characters written visibly (XML 1.0
    cannot hold them)."""
    from logcorr.render.text import visible

    return _escape(visible(text))


def svg(series: dict[str, Any], title: str, end_iso: str) -> str:
    """A standalone SVG: one panel per system, offered and accepted per bucket, log y axis."""
    systems = series["systems"]
    nb = max(1, series["buckets"])
    w, left, right, top_pad, panel_h, gap = 960, 70, 20, 50, 150, 40
    plot_w = w - left - right
    h = top_pad + max(1, len(systems)) * (panel_h + gap) + 20
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
        f'<text x="{left}" y="22" font-size="15" font-weight="bold">{escape(title)}</text>',
        f'<text x="{left}" y="40" fill="#555">{escape(_when(series["start"]))} → {escape(_when(end_iso))} UTC, '
        f"events per {escape(_per(series['bucket_ms'])[1:])}, log scale</text>",
    ]
    lx = w - right - 220
    for i, (name, color) in enumerate(COLORS.items()):
        out.append(f'<rect x="{lx + i * 110}" y="12" width="14" height="4" fill="{color}"/>')
        out.append(f'<text x="{lx + i * 110 + 20}" y="18">{name}</text>')
    for p, (system, s) in enumerate(systems.items()):
        y0 = top_pad + p * (panel_h + gap) + 10
        peak = max(s["offered"], default=0)
        decades = max(1, math.ceil(math.log10(peak + 1)))
        top = 10**decades

        def y(v: int, y0: int = y0, top: int = top) -> float:
            return y0 + panel_h - panel_h * math.log10(v + 1) / math.log10(top + 1)

        out.append(f'<text x="{left}" y="{y0 - 4}" font-weight="bold">{escape(system)}</text>')
        out.append(
            f'<rect x="{left}" y="{y0}" width="{plot_w}" height="{panel_h}" fill="none" stroke="#ccc"/>'
        )
        for v in (0, *(10**d for d in range(decades + 1))):
            yy = y(v)
            out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#eee"/>')
            out.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end" fill="#555">{v:,}</text>')
        for name, color in COLORS.items():
            pts = []
            for i, v in enumerate(s[name]):
                x0, x1 = left + plot_w * i / nb, left + plot_w * (i + 1) / nb
                yy = y(v)
                pts.append(f"{x0:.1f},{yy:.1f} {x1:.1f},{yy:.1f}")
            out.append(
                f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{" ".join(pts)}"/>'
            )
    for t, label in _time_ticks(series, nb):
        x = left + plot_w * t
        out.append(f'<text x="{x:.1f}" y="{h - 8}" text-anchor="middle" fill="#555">{escape(label)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _time_ticks(series: dict[str, Any], nb: int) -> list[tuple[float, str]]:
    start = datetime.fromisoformat(series["start"].replace("Z", "+00:00")).astimezone(UTC)
    span = nb * series["bucket_ms"]
    fmt = "%H:%M" if span <= 86_400_000 else "%m-%d"
    ticks = []
    for i in range(6):
        frac = i / 5
        t = datetime.fromtimestamp(start.timestamp() + span * frac / 1000, tz=UTC)
        ticks.append((frac, t.strftime(fmt)))
    return ticks
