"""Log text shown to a person: control characters made visible."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from typing import Any

# C0 but tab and line feed (a table lays those out), DEL and C1: bytes a terminal acts on. Log text is
# untrusted: `\x1b[2J` in a browser message would clear the reader's screen, `\x1b]8;;…` plant a link
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _escape(m: re.Match[str]) -> str:
    c = m.group()
    return "\\r" if c == "\r" else f"\\x{ord(c):02x}"


def visible(text: str) -> str:
    """`text` with each control character but tab and line feed written as Python writes it (`\\x1b`,
    `\\r`), for tables, the trace waterfall and error lines. Data formats (JSON, CSV) keep the exact text."""
    return text if _CONTROL.search(text) is None else _CONTROL.sub(_escape, text)


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
