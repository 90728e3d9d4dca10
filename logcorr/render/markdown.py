"""Plain text into Markdown that GitHub renders (a CI step summary): a note or a table cell shows as written, its
code spans (`` `logcorr ingest` ``) as code, and nothing in it — a file name, a pricing model's name — becomes
a heading, a list, a link, emphasis, HTML or a new table cell."""

from __future__ import annotations

import re

from logcorr.render.text import visible

# a run of backticks: a code span is one run to the next of as many (CommonMark); the text is plain, so a
# backslash before a run is a backslash, written `\\`, and does not escape the run
_TICKS = re.compile(r"`+")
# outside code spans, each as a backslash escape: `\` itself (`C:\[x]` would escape the `[`), links and images
# `[`, `]`, emphasis `*`, strikethrough `~`; `_` unless inside a word (`my_file.log` cannot emphasise)
_INLINE = re.compile(r"[\\\[\]*~]|(?<![^\W_])_|_(?![^\W_])")
# `<` where it can open HTML, a comment or an autolink (`<= 10 %` stays as written); `&` and `>` always
_HTML = re.compile(r"&|>|<(?=[A-Za-z/!?])")
_ENTITY = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# what makes a line a block at its start: a heading, a list item (`-`, `+`, `1.`, `1)`), a thematic break; a
# blockquote's `>` is `&gt;`, a fence's backticks or tildes are escaped wherever they are
_BLOCK_START = re.compile(r"[#+-]|(\d{1,9})([.)])(?=[ \t]|$)")


def _plain(text: str, cell: bool, dollars: bool) -> str:
    out = _INLINE.sub(lambda m: "\\" + m.group(), text)
    out = _HTML.sub(lambda m: _ENTITY[m.group()[0]], out)
    if dollars:
        out = out.replace("$", "\\$")
    return out.replace("|", "\\|") if cell else out


def inline(text: str, *, cell: bool = False) -> str:
    """`text` as Markdown inline content, shown as written: code spans kept (their text is shown as it is), a
    backtick that opens none escaped; `cell`: in a table, `|` escaped, in code spans too (GFM splits cells
    first). Line feeds become spaces (one line, one list item or row); control characters written visible."""
    text = text.replace("\n", " ")
    dollars = text.count("$") > 1  # two make GitHub's inline math; one (`$4.22`) is shown as written
    runs = list(_TICKS.finditer(text))
    out, at, i = [], 0, 0
    while i < len(runs):
        run = runs[i]
        close = next((j for j in range(i + 1, len(runs)) if len(runs[j].group()) == len(run.group())), None)
        out.append(_plain(text[at : run.start()], cell, dollars))
        if close is None:  # literal backticks: escaped, so that a fence or a later run cannot pair with them
            out.append("\\`" * len(run.group()))
            at, i = run.end(), i + 1
        else:
            span = text[run.start() : runs[close].end()]
            out.append(span.replace("|", "\\|") if cell else span)
            at, i = runs[close].end(), close + 1
    out.append(_plain(text[at:], cell, dollars))
    return visible("".join(out))


def block(text: str) -> str:
    """`text` as `inline`, and what would make it a block at a line's start escaped (`# a.log` a heading, `1. a`
    a list, leading blanks code): the text of a list item or a paragraph."""
    out = inline(text)
    blanks = len(out) - len(out.lstrip(" \t"))
    if blanks:  # as entities: a block's indentation is counted in blanks only
        return "".join("&#9;" if c == "\t" else "&#32;" for c in out[:blanks]) + out[blanks:]
    m = _BLOCK_START.match(out)
    if m is None:
        return out
    if m.group(1):  # `1.` → `1\.`
        return f"{m.group(1)}\\{m.group(2)}{out[m.end() :]}"
    return "\\" + out
