"""Redaction's worst cases made linear change no result: the redactor against its regex path as it was before
(each rewritten part of a pattern put back as it was written, each group replaced by its regex's `sub`)."""

from __future__ import annotations

import itertools
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from logcorr.rules import redact as R
from logcorr.rules.redact import Redactor
from logcorr.rules.runsub import Starts

_T = r"[A-Za-z0-9._~+/=:%-]"
_KINDS = R._BASIC_KINDS
_OLD_SUFFIX = r"(?:[_.-][a-z0-9]+|(?-i:(?<=[a-z0-9])[A-Z][A-Za-z0-9]*))+"
# each part as it is now, and as it was (the straightforward form: greedy, backtracking, one pass of `re.sub`)
_REWRITTEN = {
    R._KEY_SUFFIX: _OLD_SUFFIX + R._KEY_SUFFIX[len("(?>" + _OLD_SUFFIX + ")") :],
    R._NAMED_ID: r"(?!(?:[A-Za-z]{2,}[-_.]?)+[0-9]{0,5}(?:[-_.][A-Za-z]{2,})*(?![A-Za-z0-9._~+/=:%-]))",
    R._TOKEN_LIKE: r"(?=" + _T + r"{6})(?=[A-Za-z._~+/=:%-]{0,512}[0-9]|" + _T + r"{0,512}?[a-z][A-Z]|" + _T + r"{20})",
    R._RANDOM_LIKE: r"(?=" + _T + r"{8})(?=[A-Za-z._~+/=:%-]{0,512}[0-9][0-9._~+/=:%-]{0,512}[A-Za-z]"
    r"[A-Za-z._~+/=:%-]{0,512}[0-9])",
    R._BASIC_BEFORE: r"(?P<ak_basic>" + "|".join(rf"(?<={k}[_-])|(?<={k})(?-i:(?=A))" for k in _KINDS) + r")?",
    R._JWT: r"(?P<jwt>\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{8,})",
    R._CONVEX_KEY: r"(?P<convex_deploy_key>\b(?:prod|dev|preview|project):[a-z0-9-]+(?::[a-z0-9-]+)*\|"
    r"[A-Za-z0-9+/=_-]{20,})",
}  # fmt: skip


def _as_before() -> list[re.Pattern[str]]:
    out, used = [], set()
    for _, rx, _ in R._GROUPS:
        for new, old in _REWRITTEN.items():
            if new in rx:
                used.add(new)
                rx = rx.replace(new, old)
        out.append(re.compile(rx))
    assert used == set(_REWRITTEN), "a rewritten part is no longer in the patterns: update this reference"
    return out


_BEFORE = _as_before()


def _before(s: str) -> tuple[str, dict[str, int]]:
    """`Redactor().text(s)` and its counts, by the patterns as they were, each run by its regex's `sub`."""
    red = Redactor()
    low = s.lower()
    out = s
    for rx, (_, has_trigger, may) in zip(_BEFORE, R._TEXT_GROUPS, strict=True):
        if has_trigger(low) and (may is None or may(out)):
            out = rx.sub(red._sub, out)
    return out, dict(red.counts)


def _same(s: str) -> None:
    red = Redactor()
    assert (red.text(s), dict(red.counts)) == _before(s), s


def _words() -> list[str]:
    """The words the redactor knows (its trigger words, key words, spaced names, kinds of basic auth), and the
    characters around them in hostile lines: separators, quotes, runs of letters and digits, humps, text that is not
    ASCII and the characters that fold to ASCII letters."""
    words = {w.replace(R.TAIL, "") for w in R.trigger_words()} | {t for _, _, tr in R._GROUPS for t in tr}
    words |= {*R._KEY_ENDS, *R._SPACED_NAMES, *(f"{k}_auth" for k in _KINDS), *(f"{k}Auth" for k in _KINDS)}
    return sorted(
        {w.replace(R.TAIL, "") for w in words}
        | {"eyJ", "eyJhbGciOiJIUzI1NiJ9", "eyJabcd.", "abcdefgh", "eyJabcd.eyJabcd.abcdefgh", "prod:", "dev:",
           "preview:team:", "|", "|" + "A" * 20, "prod:a|" + "A" * 20,
           "SG.", "AKIA", "sk-", "Count",
           ":", "=", "-", ".", "_", " ", "\t", "\n", '"', "'", "\\", "@", "://", "+", "/", "a", "Ab", "1", "a1",
           "ab12", "x9Y", "é", "ſ", "\u212a", "İ", "ı", "ok", "user:42", "root:123", "[REDACTED:token]"}
    )  # fmt: skip


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(_words()), max_size=16).map("".join))
def test_redaction_is_what_the_patterns_as_they_were_found_on_any_text(s: str) -> None:
    _same(s)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(_words()),
    st.sampled_from(["", ":", "=", ": ", "-", ".", '"', "a1", "1"]),
    st.integers(1, 12),
    st.sampled_from(["", " ", "|" + "A" * 24, ".eyJabcd.abcdefgh", ": x", "+", "Count: x", " token: x"]),
)
def test_a_key_word_over_and_over_is_redacted_as_before(word: str, sep: str, times: int, end: str) -> None:
    _same((word + sep) * times + end)


def test_the_secrets_corpus_is_redacted_as_before() -> None:
    from tests.test_redact_triggers import _corpus_texts

    for s in _corpus_texts():
        _same(s)


def test_the_worst_cases_found_are_redacted_as_before_at_sizes_the_old_patterns_end() -> None:
    """The lines that took the old patterns exponential or quadratic time, short enough for them to finish."""
    for s in (
        "API key: " + "a" * 20 + "+ api key: x9Yq81",
        "tokenAb" + "Ab" * 10 + "Count: x token=1",
        "Signing key: AES" + "ab" * 9 + "-256",
        "eyJ-" * 200 + "eyJabcd.eyJabcd.abcdefghij",
        "prod:" * 200 + "|" + "A" * 30,
        "preview:team:" * 50 + "proj|" + "b" * 25,
        "basic_auth:" * 300 + "root:123",
        "proxyAuth: " + "a1" * 300,
        "x auth:" + "a" * 600 + "1b2",
    ):
        _same(s)


def test_the_named_id_is_the_pattern_it_was_on_every_short_text() -> None:
    """`_NAMED_ID` written with one way to match: the same answer as before on every text of up to 7 characters
    from letters of both cases, its separators, a digit, a token character and a space."""
    old = re.compile(_REWRITTEN[R._NAMED_ID])
    new = re.compile(R._NAMED_ID)
    for n in range(8):
        for t in itertools.product(["a", "B", "-", ".", "_", "1", "+", " "], repeat=n):
            s = "".join(t)
            assert (old.match(s) is None) == (new.match(s) is None), s


def test_the_folded_letters_are_those_case_folding_adds_to_ascii_letters() -> None:
    """`_RANDOM_LIKE` reads the key's text case-sensitively: its letters must be those (?i) matched, over all of
    Unicode."""
    folded = re.compile("(?i:[A-Za-z])")
    written = re.compile("[" + R._FOLDED_LETTERS + "]")
    got: list[Any] = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF and written.match(chr(c))]
    assert got == [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF and folded.match(chr(c))]


@settings(max_examples=2000, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "eyJ",
                "eyJabcd",
                "abcdefgh",
                ".",
                "-",
                "_",
                " ",
                "prod:",
                "dev:",
                "a",
                ":",
                "|",
                "A" * 20,
                "sk-",
                "1",
                "eyJabcd.eyJabcd.abcdefgh",
                "prod:a|" + "A" * 20,
            ]
        ),
        max_size=14,
    ).map("".join)
)
def test_the_linear_finders_find_what_the_patterns_search_finds_from_every_place(s: str) -> None:
    """`runsub.Starts` (each start tried only when no earlier one in its run was) finds the match `search` finds,
    from every place in the text; and the merged `provider` replaces what its one regex replaces."""
    for name in ("jwt", "provider"):
        rx = dict(zip((n for n, _, _ in R._GROUPS), (c for c, _, _ in R._COMPILED), strict=True))[name]
        a, b = Redactor(), Redactor()
        assert R._LINEAR_SUBS[name](a._sub, s) == rx.sub(b._sub, s), (name, s)
        assert a.counts == b.counts
    for pattern, start in ((R._JWT_FIRST + R._JWT, R._JWT_START), (R._CONVEX_KEY, R._CONVEX_START)):
        find = Starts(re.compile(pattern), re.compile(start))
        for pos in range(len(s) + 1):
            got, want = find(s, pos), re.compile(pattern).search(s, pos)
            assert (got and got.span()) == (want and want.span()), (pattern[:20], s, pos)
