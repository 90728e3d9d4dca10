"""Tables on a pipe: the plain writer prints exactly what rich would, or leaves the table to rich."""

from __future__ import annotations

import csv
import io
import random
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
from rich.cells import cell_len

from logcorr.render.rows import (
    CELL_WIDTH,
    PIPE_WIDTH,
    RowFormat,
    _plain_wide_ok,
    iso,
    plain_table,
    rich_table,
    table_cells,
    write_rows,
)
from logcorr.render.text import cells
from logcorr.store.query import RowStream

ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789 _-.:/→"
TRICKY = ["[bold]x[/]", "a [red]b", ":smile:", "x:100:y", "12:00:30.540Z", "é", "日本", "tab\there", "two\nlines",
          "emoji 🎉", "trailing ", " leading", "", "e\u0301", "\u0301x", "注文の処理に失敗しました", "한국어", "ｆｕｌｌ",
          "cut…", "👍🏽", "❤️", "👨\u200d👩", "混合 mixed テキスト", "a\u200bb"]  # fmt: skip


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
    assert plain_table([["[bold]x"]], ["m"], None) == " m       \n━━━━━━━━━\n [bold]x \n"  # text, not markup
    assert plain_table([["ok :smile:"]], ["m"], None) is not None  # nor an emoji code
    assert plain_table([["tab\there"]], ["m"], None) is None  # rich lays out a tab
    assert plain_table([["❤️"]], ["m"], None) is None  # rich widens only the symbols it lists
    assert plain_table([["👨\u200d👩"]], ["m"], None) is None  # format characters: the zero-width joiner


def test_the_plain_writer_pads_wide_and_combining_text_by_its_columns(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A cell of CJK text or emoji, with combining accents or a cut cell's `…`, sent the table to rich, which
    costs ~0.1 s to import and ~4 ms a row; the plain writer padded by characters and could not take them."""
    rows = [["日本", "e\u0301t\u00e9"], ["🎉 ok", "cut…"]]
    plain = plain_table(rows, ["m", "n"], "2 rows 日本")
    assert plain == (
        "2 rows 日本\n m     ┃ n    \n━━━━━━━╇━━━━━━\n 日本  │ e\u0301t\u00e9  \n 🎉 ok │ cut… \n"
    )
    assert plain == _rich(rows, ["m", "n"], "2 rows 日本", capsys)


def test_the_plain_writer_measures_every_character_it_takes_as_rich_does() -> None:
    differ = []
    for o in range(0x80, 0x110000):
        c = chr(o)
        if not 0xD800 <= o < 0xE000 and _plain_wide_ok(c) and cells(c) != cell_len(c):
            differ.append(f"U+{o:04X}")
    assert differ == []


def test_a_unicode_version_rich_is_told_leaves_wide_text_to_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich measures by `$UNICODE_VERSION` when it is set: an emoji is 1 column under Unicode 8."""
    assert plain_table([["日本"]], ["m"], None) is not None
    monkeypatch.setenv("UNICODE_VERSION", "8.0.0")
    assert plain_table([["日本"]], ["m"], None) is None
    assert plain_table([["ascii"]], ["m"], None) is not None


@pytest.mark.parametrize(
    "text, cut",
    [
        ("注" * 61, True),  # 122 columns in 61 characters: cut, though under 120 characters
        ("注" * 60, False),
        ("e\u0301" * 120, False),  # 240 characters in 120 columns: whole
        ("e\u0301" * 121, True),
        ("🎉" * 59 + "ab", False),
        ("🎉" * 59 + "abc", True),
        ("x" * 121, True),
    ],
    ids=["61 CJK", "60 CJK", "120 accented", "121 accented", "59 emoji ab", "59 emoji abc", "121 ASCII"],
)
def test_table_cells_are_cut_at_120_columns(text: str, cut: bool) -> None:
    table, was_cut = table_cells([{"message": text}], ["message"])
    shown = table[0]["message"]
    assert was_cut == cut
    assert shown == text if not cut else (shown.endswith("…") and 119 <= cells(shown) <= CELL_WIDTH)
    assert cells(shown) == cell_len(shown)
    assert plain_table([["x" * PIPE_WIDTH]], ["m"], None) is None  # rich would fold it


@pytest.mark.parametrize(
    "text",
    ["[/api/tasks] request failed with 500", "[bold]Payment[/bold] failed", "[padded] value", "x [/] y"],
)
@pytest.mark.parametrize("wide", [False, True])
def test_cells_and_titles_are_text_not_markup(
    text: str, wide: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """A log line is data: rich printed "[bold]x[/bold]" as a bold x, and raised on a closing tag it had not
    opened ("[/api/tasks] …", an ordinary route prefix), which failed `search`, `stats` and `sql`."""
    cell = text + " 日本" if wide else text  # wide characters: rich lays the table out, not the plain writer
    out = _rich([[cell, "[admin]"]], ["message", "user_id"], f"1 rows {text}", capsys)
    assert f"1 rows {text}" in out
    assert cell in out and "[admin]" in out


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_the_width_boundary_agrees_with_rich(extra: int, capsys: pytest.CaptureFixture[str]) -> None:
    cols = ["a", "b"]
    rows = [["x" * 50, "y" * (PIPE_WIDTH - 50 - 5 + extra)]]  # 2 × 2 padding + 1 separator
    plain = plain_table(rows, cols, None)
    assert (plain is None) == (extra > 0)
    if plain is not None:
        assert plain == _rich(rows, cols, None, capsys)


class _Stdout:
    """A stdout with a bytes buffer, as `write_rows` writes to."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()

    def write(self, text: str) -> int:
        return self.buffer.write(text.encode())

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def _rows(rnd: random.Random, n: int) -> list[dict[str, Any]]:
    values = [None, 0, -7, 2**40, 1.25, "", "x,y", 'q"uote', "two\nlines", "日本", [1, "a"], {"k": [None]},
              datetime(2024, 5, 5, 12, 0, 30, 540000), True]  # fmt: skip
    return [{c: rnd.choice(values) for c in ("a", "b", "c")} for _ in range(n)]


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("fmt", [RowFormat.json, RowFormat.jsonl, RowFormat.csv])
def test_streamed_rows_are_the_bytes_of_the_whole_list(
    monkeypatch: pytest.MonkeyPatch, seed: int, fmt: RowFormat
) -> None:
    rows = _rows(random.Random(seed), random.Random(seed).choice([0, 1, 2, 7, 5000]))
    cols = ["a", "b", "c"]
    streamed, whole = _Stdout(), _Stdout()
    monkeypatch.setattr(sys, "stdout", streamed)
    write_rows(RowStream(cols, iter([rows[:3], rows[3:]])), fmt)
    monkeypatch.setattr(sys, "stdout", whole)
    write_rows(rows, fmt, cols)
    assert streamed.buffer.getvalue() == whole.buffer.getvalue()
    if fmt is RowFormat.json:  # what orjson writes for the whole list at once
        plain = [{c: iso(v) if isinstance(v, datetime) else v for c, v in r.items()} for r in rows]
        assert whole.buffer.getvalue() == orjson.dumps(plain, option=orjson.OPT_INDENT_2) + b"\n"


def test_rows_are_written_while_they_are_still_being_read(monkeypatch: pytest.MonkeyPatch) -> None:
    # a --limit 0 search over 10M events held every row (10.3 GB): the writer must not wait for the last
    out = _Stdout()
    monkeypatch.setattr(sys, "stdout", out)
    written_before_the_last_batch: list[int] = []

    def batches() -> Iterator[list[dict[str, Any]]]:
        for k in range(10):
            if k == 9:
                written_before_the_last_batch.append(len(out.buffer.getvalue()))
            yield [{"n": k * 1000 + i} for i in range(1000)]

    for fmt in (RowFormat.csv, RowFormat.jsonl, RowFormat.json):
        written_before_the_last_batch.clear()
        out.buffer = io.BytesIO()
        write_rows(RowStream(["n"], batches()), fmt)
        assert written_before_the_last_batch[0] > 0
        assert out.buffer.getvalue().count(b"8999") == 1 and out.buffer.getvalue().count(b"9999") == 1


def test_an_empty_stream_still_names_its_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    out = _Stdout()
    monkeypatch.setattr(sys, "stdout", out)
    write_rows(RowStream(["ts", "message"], iter([])), RowFormat.csv)
    assert out.buffer.getvalue() == b"ts,message\n"


def test_booleans_are_spelt_alike_in_csv_tables_and_json(monkeypatch: pytest.MonkeyPatch) -> None:
    """CSV wrote `False`/`True` where JSON and DuckDB write `false`/`true`."""
    rows = [{"flag": True, "other": False}]
    for fmt, want in (
        (RowFormat.csv, b"flag,other\ntrue,false\n"),
        (RowFormat.jsonl, b'{"flag":true,"other":false}\n'),
    ):
        out = _Stdout()
        monkeypatch.setattr(sys, "stdout", out)
        write_rows(rows, fmt, ["flag", "other"])
        assert out.buffer.getvalue() == want


def test_csv_quotes_every_field_a_reader_would_split(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A field holding a bare CR was written unquoted (the writer ends rows with LF), so csv readers and
    DuckDB split the row there."""
    values = ["cr\rreturn", "crlf\r\nend", "lf\nend", 'q"uote', "a,b", "tab\there", "plain", "\r"]
    out = _Stdout()
    monkeypatch.setattr(sys, "stdout", out)
    write_rows([{"v": v, "n": i} for i, v in enumerate(values)], RowFormat.csv, ["v", "n"])
    data = out.buffer.getvalue()
    assert data.startswith(b"v,n\n") and data.endswith(b"\n") and not data.endswith(b"\r\n")
    parsed = list(csv.reader(io.StringIO(data.decode(), newline="")))
    assert parsed == [["v", "n"], *([v, str(i)] for i, v in enumerate(values))]
    path = tmp_path / "rows.csv"
    path.write_bytes(data)
    got = duckdb.sql(
        f"SELECT v, n FROM read_csv('{path}', header = true, quote = '\"', escape = '\"')"
    ).fetchall()
    assert got == list(zip(values, range(len(values)), strict=True))
