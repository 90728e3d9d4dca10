"""The Markdown the project ships renders as written: every code block it opens is closed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
DOCS = sorted([*(ROOT / "docs").glob("*.md"), ROOT / "README.md", ROOT / "CHANGELOG.md"])


def unclosed_fences(text: str) -> list[str]:
    """What is wrong with the code fences of `text`: a fence line with text after it inside a block (not a
    closing fence: the block runs on, taking the prose with it), or a block never closed."""
    wrong, opened = [], None
    for number, line in enumerate(text.split("\n"), start=1):
        m = _FENCE.match(line)
        if not m:
            continue
        fence, rest = m.groups()
        if opened is None:
            opened = (fence, number)
        elif fence[0] == opened[0][0] and len(fence) >= len(opened[0]) and not rest.strip():
            opened = None
        else:
            wrong.append(f"line {number}: {line[:40]!r} inside the block opened at line {opened[1]}")
    if opened is not None:
        wrong.append(f"the block opened at line {opened[1]} is never closed")
    return wrong


def test_a_fence_with_text_after_it_does_not_close_its_block() -> None:
    assert unclosed_fences("a\n```\ncode\n```\nb\n") == []
    assert unclosed_fences("```\ncode\n``` then prose\n") == [
        "line 3: '``` then prose' inside the block opened at line 1",
        "the block opened at line 1 is never closed",
    ]


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_every_code_block_of_the_docs_is_closed(path: Path) -> None:
    # docs/budget.md's notes example ended "``` `--baseline FILE` (simulate) diffs …": the rest of the page
    # rendered as code
    assert unclosed_fences(path.read_text()) == []
