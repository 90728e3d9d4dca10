"""Secrets that reached storage unredacted (found by running common secret key names and token formats
through `Redactor.text` and `Redactor.value`), and the ordinary text and field names around them that must
stay as they are."""

from __future__ import annotations

from typing import Any

import pytest

from logcorr.rules.redact import Redactor, contains_secret, might_hold_secret


def _text(s: str) -> str:
    """`s` redacted, checked to be seen by the probe first (a row the probe misses is never redacted)."""
    assert might_hold_secret(s), s
    r = Redactor()
    out = r.text(s)
    assert not contains_secret(out) and r.text(out) == out, out  # nothing left, redacting twice the same
    return out


# --- `pass` and `passphrase` ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("pass=hunter2", "pass=[REDACTED:password]"),
     ("login user=bob pass=hunter2 ok", "login user=bob pass=[REDACTED:password] ok"),
     ('{"user":"bob","pass":"hunter2"}', '{"user":"bob","pass":"[REDACTED:password]"}'),
     ("{ pass: 'hunter2' }", "{ pass: '[REDACTED:password]' }"),
     ('raw {\\"pass\\":\\"hunter2\\"}', 'raw {\\"pass\\":\\"[REDACTED:password]\\"}'),
     ("DB_PASS=s3cr3t SMTP_PASS=x9", "DB_PASS=[REDACTED:password] SMTP_PASS=[REDACTED:password]"),
     ("mail { smtpPass: 'abc' }", "mail { smtpPass: '[REDACTED:password]' }"),
     ("passphrase=foo", "passphrase=[REDACTED:password]"),
     ("GPG_PASSPHRASE: correct-horse", "GPG_PASSPHRASE: [REDACTED:password]"),
     ('{"pass_phrase":"foo"}', '{"pass_phrase":"[REDACTED:password]"}'),
     ("keyPassphrase=foo", "keyPassphrase=[REDACTED:password]")],
)  # fmt: skip
def test_a_pass_or_passphrase_key_in_text_has_its_value_redacted(text: str, expected: str) -> None:
    """`pass=hunter2` and `passphrase=foo` were stored as they came: `pass` was no key, the stem `passw` missed
    `passphrase`."""
    assert _text(text) == expected


@pytest.mark.parametrize(
    "text",
    ["test pass=3 fail=0 skip=1", "pass: true", "pass=null", "Check pass: ok", "pass: required",
     'pass: "*****"', "bypass=yes", "compass: north", "passenger: bob", "pass_through=yes", "first pass done",
     "all tests passed: 12", "bypass_cache: true", "password reset sent"],
)  # fmt: skip
def test_pass_as_an_english_word_or_a_count_is_kept(text: str) -> None:
    assert Redactor().text(text) == text


def test_a_pass_or_passphrase_key_in_context_has_its_text_redacted() -> None:
    r = Redactor()
    out = r.value({"auth": {"user": "bob", "pass": "hunter2"}, "passphrase": "foo", "DB_PASS": "s3cr3t",
                   "smtpPass": "abc", "keyPassphrase": "x y"})  # fmt: skip
    assert out == {"auth": {"user": "bob", "pass": "[REDACTED:password]"}, "passphrase": "[REDACTED:password]",
                   "DB_PASS": "[REDACTED:password]", "smtpPass": "[REDACTED:password]",
                   "keyPassphrase": "[REDACTED:password]"}  # fmt: skip
    kept: dict[str, Any] = {"pass": 3, "fail": 0, "passenger": "bob", "bypass": "cdn", "compass": "north",
                            "pass_count": 2, "pass_rate": "0.9", "passed": "yes", "status": {"pass": "ok"},
                            "pass_through": "all"}  # fmt: skip
    assert r.value(kept) == kept
