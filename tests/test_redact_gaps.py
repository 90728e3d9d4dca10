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


# --- `auth` and the `…_key` names of signing, encryption and master keys ------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("auth=abc123def456", "auth=[REDACTED:secret]"),
     ('{"auth": "xyzabc1234"}', '{"auth": "[REDACTED:secret]"}'),
     ("{'auth': 'xyzabc1234'}", "{'auth': '[REDACTED:secret]'}"),
     ('raw {\\"auth\\":\\"xyzabc1234\\"}', 'raw {\\"auth\\":\\"[REDACTED:secret]\\"}'),
     ("proxy auth: sEcReTvAlUe", "proxy auth: [REDACTED:secret]"),
     ("curl basic_auth=bob:hunter2", "curl basic_auth=[REDACTED:secret]"),
     ("X-Auth: 9f8e7d6c5b4a", "X-Auth: [REDACTED:secret]"),
     ("auth_key=abcdef", "auth_key=[REDACTED:api_key]"),
     ("cfg { authKey: 'k1' }", "cfg { authKey: '[REDACTED:api_key]' }"),
     ("X-Auth-Key: 0123456789abcdef0123456789abcdef01234", "X-Auth-Key: [REDACTED:api_key]"),
     ("signing_key=abc", "signing_key=[REDACTED:api_key]"),
     ('webhook {"signingKey":"whk"}', 'webhook {"signingKey":"[REDACTED:api_key]"}'),
     ("encryption_key: foo", "encryption_key: [REDACTED:api_key]"),
     ("ENCRYPT_KEY=foo DECRYPTION_KEY=bar", "ENCRYPT_KEY=[REDACTED:api_key] DECRYPTION_KEY=[REDACTED:api_key]"),
     ("RAILS_MASTER_KEY=0a1b2c", "RAILS_MASTER_KEY=[REDACTED:api_key]"),
     ("hmac_key=k jwtKey=k2 privKey=k3",
      "hmac_key=[REDACTED:api_key] jwtKey=[REDACTED:api_key] privKey=[REDACTED:api_key]")],
)  # fmt: skip
def test_an_auth_or_signing_encryption_master_key_in_text_has_its_value_redacted(
    text: str, expected: str
) -> None:
    """Each was stored as it came: `auth` and these `…_key` names were no secret keys."""
    assert _text(text) == expected


@pytest.mark.parametrize(
    "text",
    ["auth=true", "auth: required", "auth=ok", "auth: none", "auth:login finished in 12ms", "auth = optional",
     'auth_method: "password"', 'oauth_provider: "google"', "author: bob1234567", "authority=abc1234x",
     "authenticated user k123 in 40ms", "keyboard: qwerty", "monkey: george", "key_count: 3", "token_count: 12",
     "hotkey=ctrl", "the signing ceremony finished", "encryption enabled: true", "master branch at abc1234"],
)  # fmt: skip
def test_auth_and_key_words_that_are_no_secret_are_kept(text: str) -> None:
    assert Redactor().text(text) == text


def test_an_auth_or_signing_encryption_master_key_in_context_is_redacted() -> None:
    r = Redactor()
    out = r.value({"auth": "xyzabc1234", "auth_key": "zz", "authKey": "zz", "basicAuth": "bob:hunter22",
                   "signing_key": "k", "encryptionKey": "k", "masterKey": "k", "hmac_key": "k"})  # fmt: skip
    assert out == {"auth": "[REDACTED:secret]", "auth_key": "[REDACTED:api_key]", "authKey": "[REDACTED:api_key]",
                   "basicAuth": "[REDACTED:secret]", "signing_key": "[REDACTED:api_key]",
                   "encryptionKey": "[REDACTED:api_key]", "masterKey": "[REDACTED:api_key]",
                   "hmac_key": "[REDACTED:api_key]"}  # fmt: skip
    kept: dict[str, Any] = {"auth": "required", "authEnabled": True, "auth_method": "password",
                            "oauth_provider": "google", "author": "bob99x", "authority": "x1y2z3abc",
                            "keyboard": "qwerty", "monkey": "george", "key_count": 3, "token_count": 12,
                            "signing_key_id": "kid-1", "auth_type": "oauth2"}  # fmt: skip
    assert r.value(kept) == kept
    assert r.value({"auth": True}) == {"auth": True} and r.value({"auth": "password"}) == {"auth": "password"}


# --- a one-time password in text ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("verify otp=123456", "verify otp=[REDACTED:secret]"),
     ("otp: 482913", "otp: [REDACTED:secret]"),
     ('{"otp":"123456"}', '{"otp":"[REDACTED:secret]"}'),
     ('{"otpCode": "918273"}', '{"otpCode": "[REDACTED:secret]"}'),
     ("TOTP: 551177", "TOTP: [REDACTED:secret]"),
     ("user_otp=4821 hotp=12345678", "user_otp=[REDACTED:secret] hotp=[REDACTED:secret]"),
     ("Your OTP code: 123456", "Your OTP code: [REDACTED:secret]"),
     ('raw {\\"otp\\":\\"123456\\"}', 'raw {\\"otp\\":\\"[REDACTED:secret]\\"}')],
)  # fmt: skip
def test_a_one_time_password_in_text_is_redacted(text: str, expected: str) -> None:
    """`otp=123456` was not looked for in text (only in context)."""
    assert _text(text) == expected


@pytest.mark.parametrize(
    "text",
    ["otp: required", "otp sent to +15550001234", "otp_length: 6", "otp: 6", "otp=true", "footprint: 1234",
     "hotplug: 1234", "rootPath=/a1b2", "otp_expires_in=300", "pinned: 1234", "OTP verified for user 42"],
)  # fmt: skip
def test_otp_words_that_are_no_code_are_kept(text: str) -> None:
    assert Redactor().text(text) == text
