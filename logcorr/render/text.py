"""Log text shown to a person: control characters made visible, and its width in terminal columns."""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

# C0 but tab and line feed (a table lays those out), DEL and C1: bytes a terminal acts on. Log text is
# untrusted: `\x1b[2J` in a browser message would clear the reader's screen, `\x1b]8;;…` plant a link. And the
# bidirectional controls (ALM, LRM, RLM, the embeddings, overrides and isolates): a terminal that lays out
# bidirectional text (VTE, Konsole) shows the text after a right-to-left override reversed, so a line can
# read as another ("Trojan Source", CVE-2021-42574)
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(m: re.Match[str]) -> str:
    c = m.group()
    if c == "\r":
        return "\\r"
    return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"


def visible(text: str) -> str:
    """`text` with each control character but tab and line feed, and each bidirectional control, written as
    Python writes it (`\\x1b`, `\\r`, `\\u202e`), for tables, the trace waterfall and error lines. Data formats
    (JSON, CSV) keep the exact text."""
    return text if _CONTROL.search(text) is None else _CONTROL.sub(_escape, text)


def clip(text: str, width: int) -> str:
    """`text`, or as much of it as fits `width - 1` columns and `…` when it takes more than `width` columns
    (`cells`): a long message in the trace waterfall, a long cell in a table. A character is never split
    from its combining marks, nor a wide one halved: the cut text may be a column short."""
    if text.isascii():
        return text if len(text) <= width else text[: width - 1] + "…"
    end, used = _scan(text, width)
    return text if used <= width else text[:end] + "…"


def cells(text: str) -> int:
    """The terminal columns `text` takes, as rich counts them: 2 for an East Asian wide or fullwidth character
    (CJK, most emoji), 0 for a combining mark or a format character (zero-width space, joiner), 1 for any
    other; the character after a zero-width joiner joins the glyph before it, and an emoji variation selector
    (U+FE0F) draws a 1-column character in 2 (`❤️`; rich widens only the ~200 it lists, `a️` stays 1 there).
    Python's `len` counts characters: `日本` is 2 of them and 4 columns."""
    return len(text) if text.isascii() else _scan(text, -1)[1]


def _scan(text: str, width: int) -> tuple[int, int]:
    """Where `text` is cut to fit `width - 1` columns (the start of the first glyph past them, its length if
    none is) and the columns counted: all of them when `width` < 0, else up to the first glyph past `width`."""
    cut, used = len(text), 0
    start = glyph = 0  # where the glyph being read starts, and its columns
    joined = False
    for i, c in enumerate(text):
        if joined:  # the character a zero-width joiner joins to the glyph before it
            joined = False
            continue
        if c == "\u200d":
            joined = True
            continue
        if c == "\ufe0f":  # emoji presentation: a 1-column symbol drawn in 2
            w = 1 if glyph == 1 else 0
            glyph += w
        else:
            w = _WIDTHS.get(c, -1)
            if w < 0:
                w = _WIDTHS[c] = _char_cells(c)
            if w:  # a new glyph; a zero-width character belongs to the one before it
                start, glyph = i, w
        used += w
        if 0 <= width - 1 < used:
            cut = min(cut, start)
            if used > width:
                break
    return cut, used


_WIDTHS: dict[str, int] = {}
# format characters a terminal shows (the prepended concatenation marks and the soft hyphen): 1 column
_SHOWN_FORMAT = frozenset(
    "\u00ad\u0600\u0601\u0602\u0603\u0604\u0605\u06dd\u070f\u0890\u0891\u08e2\U000110bd\U000110cd"
)
# 2 columns since Unicode 16 (Python 3.11 knows 14; rich 16 and later): Yijing and Tai Xuan Jing symbols,
# counting rod numerals
_WIDE_SINCE_16 = (
    (0x2630, 0x2637),
    (0x268A, 0x268F),
    (0x4DC0, 0x4DFF),
    (0x1D300, 0x1D356),
    (0x1D360, 0x1D376),
)
# Hangul vowels and finals that join a syllable (jungseong, jongseong), the fillers, emoji skin tones: 0
_JOINING = ((0x1160, 0x11FF), (0xD7B0, 0xD7FF), (0x3164, 0x3164), (0xFFA0, 0xFFA0), (0x1F3FB, 0x1F3FF))


def _char_cells(c: str) -> int:
    """The columns of one character (not ASCII), by Unicode's categories and East Asian widths."""
    o = ord(c)
    category = unicodedata.category(c)
    if category in ("Mn", "Me", "Mc", "Zl", "Zp", "Cc") or (category == "Cf" and c not in _SHOWN_FORMAT):
        return 0
    if any(a <= o <= b for a, b in _JOINING):
        return 0
    if category == "Cn":  # unassigned in this Python's Unicode
        return 1
    if unicodedata.east_asian_width(c) in ("W", "F") or any(a <= o <= b for a, b in _WIDE_SINCE_16):
        return 2
    return 1


def first_few(items: Iterable[str], n: int = 5) -> str:
    """The first `n` of `items`, comma-separated, and `…` when there are more: names in a message."""
    taken = list(itertools.islice(items, n + 1))
    return ", ".join(taken[:n]) + (", …" if len(taken) > n else "")


def xml_tree(root: Any) -> Any:
    """Every text and attribute value of an ElementTree `root` through `visible`, in place; returns it. XML 1.0
    cannot hold control characters: a replay scenario named with one made the JUnit report unparseable."""
    for el in root.iter():
        if el.text:
            el.text = visible(el.text)
        if el.tail:
            el.tail = visible(el.tail)
        for k, v in el.attrib.items():
            el.attrib[k] = visible(v)
    return root
