"""Plain text into a GitHub step summary: each note and table cell, as GitHub's Markdown (CommonMark with GFM
tables) renders it, shows the text as written."""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

from logcorr.render import markdown as md

RENDER = MarkdownIt("commonmark").enable(["table", "strikethrough"])


@pytest.mark.parametrize(
    ("note", "html"),
    [
        ("# a.log: read", "<li># a.log: read</li>"),
        ("1. b.log: read", "<li>1. b.log: read</li>"),
        ("2) b.log", "<li>2) b.log</li>"),
        ("- c.log", "<li>- c.log</li>"),
        ("+ c.log", "<li>+ c.log</li>"),
        ("---", "<li>---</li>"),
        ("* * *", "<li>* * *</li>"),
        ("> quoted.log", "<li>&gt; quoted.log</li>"),
        ("```python.log", "<li>```python.log</li>"),
        ("~~~ x.log", "<li>~~~ x.log</li>"),
        ("     indented.log", "<li>     indented.log</li>"),
        ("[x](http://e.example) c.log", "<li>[x](http://e.example) c.log</li>"),
        ("![i](http://e.example/p.png)", "<li>![i](http://e.example/p.png)</li>"),
        ("[x]: http://e.example", "<li>[x]: http://e.example</li>"),
        ("*a* __b__ ~~c~~ my_file_name.log", "<li>*a* __b__ ~~c~~ my_file_name.log</li>"),
        ("C:\\[x](y)", "<li>C:\\[x](y)</li>"),
        ("<!--a.log <b>&amp;", "<li>&lt;!--a.log &lt;b&gt;&amp;amp;</li>"),
        ("a`b.log: see `logcorr ingest`", "<li>a<code>b.log: see </code>logcorr ingest`</li>"),
        ("`logcorr ingest` says where", "<li><code>logcorr ingest</code> says where</li>"),
        ("one\ntwo", "<li>one two</li>"),
    ],
)
def test_a_note_renders_as_its_text_in_a_list_item(note: str, html: str) -> None:
    """A note (a file name, text from a file) as a list item is its text: not a heading, a list in the list, a
    code block, a link, an image, emphasis or HTML; code spans as code; one line."""
    assert RENDER.render(f"- {md.block(note)}\n") == f"<ul>\n{html}\n</ul>\n"


def test_plain_notes_are_written_as_they_read() -> None:
    """The escaping is only where Markdown would act: the usual notes read as they did."""
    note = "backend.log: `npx convex logs` text; times read in UTC, 2026-11-29T13:00:00Z → $4.22 <= 10 %"
    assert md.block(note) == note
    assert md.block("1 browser event 2.1 d after the rest") == "1 browser event 2.1 d after the rest"
    assert md.block("# a.log") == "\\# a.log" and md.block("1. b.log") == "1\\. b.log"
    assert md.block("a $x$ b") == "a \\$x\\$ b"  # two make GitHub's inline math


def test_a_cell_with_a_pipe_stays_one_cell() -> None:
    """A pricing model named `a|b` (its TOML's `name`) split the row into one cell more; in a code span too."""
    row = "| " + " | ".join(md.inline(c, cell=True) for c in ["a|b", "`c|d`", "<= $10.00"]) + " |"
    html = RENDER.render(f"| x | y | z |\n|---|---|---|\n{row}\n")
    assert "<td>a|b</td>\n<td><code>c|d</code></td>\n<td>&lt;= $10.00</td>" in html, html
    assert row == "| a\\|b | `c\\|d` | <= $10.00 |"
