"""Tables on a pipe: the plain writer prints exactly what rich would, or leaves the table to rich."""

from __future__ import annotations

import random

import pytest

from logcorr.render.rows import PIPE_WIDTH, plain_table, rich_table

ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789 _-.:/→"
TRICKY = ["[bold]x[/]", "a [red]b", ":smile:", "x:100:y", "12:00:30.540Z", "é", "日本", "tab\there", "two\nlines",
          "emoji 🎉", "trailing ", " leading", ""]  # fmt: skip


def _rich(
    rows: list[list[str]], cols: list[str], title: str | None, capsys: pytest.CaptureFixture[str]
) -> str:
    capsys.readouterr()
    rich_table([dict(zip(cols, r, strict=True)) for r in rows], cols, title)
    return capsys.readouterr().out


def _random_table(rnd: random.Random) -> tuple[list[list[str]], list[str], str | None]:
    ncols = rnd.randint(1, 9)
    cols = [f"c{i}_{''.join(rnd.choices('abcxyz_', k=rnd.randint(0, 8)))}" for i in range(ncols)]
    wide = rnd.random() < 0.2
    rows = []
    for _ in range(rnd.randint(0, 6)):
        row = []
        for _ in cols:
            if rnd.random() < 0.08:
                row.append(rnd.choice(TRICKY))
            else:
                row.append("".join(rnd.choices(ALPHABET, k=rnd.randint(0, 60 if wide else 18))))
        rows.append(row)
    title = rnd.choice([None, "", "12 traces", "drop ledger", "file.jsonl:3", "[x]"])
    return rows, cols, title


@pytest.mark.parametrize("seed", range(300))
def test_plain_tables_match_rich_on_a_pipe(seed: int, capsys: pytest.CaptureFixture[str]) -> None:
    rows, cols, title = _random_table(random.Random(seed))
    plain = plain_table(rows, cols, title)
    if plain is not None:
        assert plain == _rich(rows, cols, title, capsys)


def test_the_plain_writer_takes_the_common_tables_and_declines_the_rest() -> None:
    cols = ["trace_id", "systems", "start"]
    row = ["trace_1714910400000_k3j", "browser→worker→backend", "2024-05-05T12:00:30.540Z"]
    assert plain_table([row], cols, "1 traces") is not None
    assert plain_table([], cols, "0 traces") is not None
    assert plain_table([], [], "0 traces") is not None
    assert plain_table([["[bold]x"]], ["m"], None) is None  # markup
    assert plain_table([["ok :smile:"]], ["m"], None) is None  # an emoji code
    assert plain_table([["日本"]], ["m"], None) is None  # wide characters
    assert plain_table([["x" * PIPE_WIDTH]], ["m"], None) is None  # rich would fold it


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_the_width_boundary_agrees_with_rich(extra: int, capsys: pytest.CaptureFixture[str]) -> None:
    cols = ["a", "b"]
    rows = [["x" * 50, "y" * (PIPE_WIDTH - 50 - 5 + extra)]]  # 2 × 2 padding + 1 separator
    plain = plain_table(rows, cols, None)
    assert (plain is None) == (extra > 0)
    if plain is not None:
        assert plain == _rich(rows, cols, None, capsys)
