"""Log text shown to a person: control characters made visible."""

from __future__ import annotations

import itertools
import re
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
    """`text`, or its first `width - 1` characters and `…` when it is longer than `width`: a long message in the
    trace waterfall, a long cell in a table."""
    return text if len(text) <= width else text[: width - 1] + "…"


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
