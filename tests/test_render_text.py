"""Text for a terminal: cut and measured by the columns it takes, not by its characters."""

from __future__ import annotations

import unicodedata

import pytest
from rich.cells import cell_len

from logcorr.render.text import cells, clip


@pytest.mark.parametrize(
    "text, width, expected",
    [
        ("abcdef", 5, "abcd…"),  # ASCII: as before
        ("abcde", 5, "abcde"),
        ("日本語のテキスト", 6, "日本…"),  # 2 columns a character: 16 columns, not 8
        ("日本", 4, "日本"),
        ("abc日本", 5, "abc…"),  # 日 would take columns 4 and 5: left out whole, the cut a column short
        ("ab日本", 5, "ab日…"),
        ("🎉 deployed", 6, "🎉 de…"),
        ("e\u0301" * 10, 5, "e\u0301" * 4 + "…"),  # combining acute: 0 columns, kept with its letter
        ("e\u0301" * 5, 5, "e\u0301" * 5),
        ("混合 mixed テキスト", 12, "混合 mixed …"),
        ("❤️❤️❤️", 5, "❤️❤️…"),  # the emoji variation selector draws ❤ in 2 columns
        ("👨\u200d👩\u200d👧abcd", 5, "👨\u200d👩\u200d👧ab…"),  # a joined family is one glyph
    ],
)
def test_clip_counts_terminal_columns(text: str, width: int, expected: str) -> None:
    """`clip` cut by characters: 120 CJK characters are 240 columns, so a cut cell folded over two lines of a
    table and the waterfall's lines wrapped; a message of letters with combining accents was cut at half its
    width."""
    assert clip(text, width) == expected
    assert cells(clip(text, width)) <= width


def test_clip_never_leaves_half_a_wide_character_or_a_mark_without_its_letter() -> None:
    texts = [
        "日本語" * 50,
        "a日本語" * 50,
        "🎉x" * 80,
        "ño\u0303" * 70,
        "한국어 텍스트 " * 30,
        "ｆｕｌｌ" * 40,
    ]
    for text in texts:
        for width in range(2, 130):
            cut = clip(text, width)
            assert cells(cut) <= width and cells(cut) >= width - 2, (text[:10], width)
            kept = cut.removesuffix("…")
            assert text.startswith(kept)
            rest = text[len(kept) :]
            # the cut is before a glyph: never before a combining mark
            assert not rest or unicodedata.combining(rest[0]) == 0, (text[:10], width)


@pytest.mark.parametrize(
    "text", ["plain ascii", "日本", "🎉", "e\u0301", "한국어", "ｆｕｌｌ", "❤️", "👍🏽", "a\u200bb"]
)
def test_cells_agrees_with_rich(text: str) -> None:
    assert cells(text) == cell_len(text)


def test_cells_agrees_with_rich_on_every_character_this_python_knows() -> None:
    """Rich lays out the tables the plain writer does not, by its own widths: a cut must fit those."""
    differ = []
    for o in range(0xA0, 0x110000):
        c = chr(o)
        if 0xD800 <= o < 0xE000 or unicodedata.category(c) == "Cn":
            continue
        if cells(c) != cell_len(c):
            differ.append(f"U+{o:04X}")
    assert differ == []
