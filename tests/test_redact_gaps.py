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


# --- tokens known by their format -----------------------------------------------------------------------------

_HEX32 = "0123456789abcdef0123456789abcdef"
_B = "Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0Uv1Wx2Yz3Ab4Cd5Ef6Gh7Ij8Kl9Mn0Op1Qr2St3"  # 70 letters and digits
TOKENS = [
    ("gitlab_token", "glpat-xZ9kQ2mP7vL4bN8cR1tY"),
    ("gitlab_token", "gldt-xZ9kQ2mP7vL4bN8cR1tY"),
    ("gitlab_token", "glrt-t1_xZ9kQ2mP7vL4bN8cR1tYabc.01abcdefg"),
    ("gitlab_token", "glptt-" + _HEX32 + "01234567"),
    ("huggingface_token", "hf_" + "abcdefghijKLMNOPQRSTuvwxyzABCDEFgh"),
    ("shopify_token", "shpat_" + _HEX32),
    ("shopify_token", "shpss_" + _HEX32),
    ("pypi_token", "pypi-AgEIcHlwaS5vcmc" + _B[:60]),
    ("doppler_token", "dp.pt." + _B[:43]),
    ("linear_key", "lin_api_" + _B[:40]),
    ("mailgun_key", "key-" + _HEX32),
    ("age_secret_key", "AGE-SECRET-KEY-1" + ("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L" * 2)[:58]),
    ("discord_webhook", "https://discord.com/api/webhooks/123456789012345678/" + _B[:68]),
    ("slack_webhook", "https://hooks.slack.com/workflows/T01ABCDEF/A02BCDEFG/123456789012/" + _B[:24]),
    ("convex_deploy_key", "preview:my-team:my-project|eyJ2MiI6ImFiY2RlZmdoaWprbG1ub3AifQ=="),
]


@pytest.mark.parametrize(("kind", "secret"), TOKENS, ids=[f"{k}-{i}" for i, (k, _) in enumerate(TOKENS)])
def test_a_token_known_by_its_format_is_redacted_in_text_json_and_context(kind: str, secret: str) -> None:
    """None of these was recognised (a GitLab token in a log line was stored as it came)."""
    for text in (
        f"deploy with {secret} now",
        f'cfg {{"value":"{secret}"}}',
        f'raw {{\\"v\\":\\"{secret}\\"}}',
    ):
        out = _text(text)
        assert secret not in out and f"[REDACTED:{kind}]" in out, out
    r = Redactor()
    note = r.value({"note": f"using {secret}"})["note"]
    assert secret not in note and note.endswith(f"[REDACTED:{kind}]")  # a webhook's scheme stays
    assert r.counts[kind] == 1


@pytest.mark.parametrize(
    "text",
    [
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF0abcdefg\n=abcd\n-----END PGP PRIVATE KEY BLOCK-----",
        '{"key":"-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\\n-----END PRIVATE KEY-----\\n"}',
    ],
)
def test_a_private_key_block_and_a_json_escaped_pem_are_redacted(text: str) -> None:
    """The PGP block (`PRIVATE KEY BLOCK-----`) was not recognised; the JSON-escaped PEM was, and stays so."""
    out = _text(text)
    assert "[REDACTED:private_key]" in out and "lQOYBF0" not in out and "MIIEvQ" not in out


@pytest.mark.parametrize(
    "text",
    [
        "cache key-miss for user 42",
        "hf_hub download ok",
        "see /api/webhooks/ docs",
        "glpat- prefix is gitlab's",
        "dp.pt. tokens rotate",
        "key-" + "0123456789abcdef" + " half a hex",
        "shp_ship_it",
        "preview:my-team ready",
        "discord.com/api/webhooks/123/short",
    ],
)
def test_token_prefixes_without_a_token_are_kept(text: str) -> None:
    assert Redactor().text(text) == text


# --- a secret word joined to the word before it without a separator ------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("dbpassword=hunter22", "dbpassword=[REDACTED:password]"),
     ("env JWTSECRET=abcdef123", "env JWTSECRET=[REDACTED:secret]"),
     ("GET /cb?oauthtoken=abc123def&x=1", "GET /cb?oauthtoken=[REDACTED:token]&x=1"),
     ('{"apisecret":"x1"}', '{"apisecret":"[REDACTED:secret]"}'),
     ("mycredentials: abc", "mycredentials: [REDACTED:secret]")],
)  # fmt: skip
def test_a_secret_word_joined_to_another_in_text_is_a_key(text: str, expected: str) -> None:
    """`jwtsecret=…` was stored as it came (a key's secret word had to start a word, follow `_` or a camel hump);
    in context `{"jwtsecret": …}` was replaced."""
    assert _text(text) == expected


@pytest.mark.parametrize("text", ["maxtokens: 5", "OLDPWD=/home/app", "topsecret project", "hotkey=ctrl"])
def test_joined_words_that_are_no_secret_key_are_kept(text: str) -> None:
    assert Redactor().text(text) == text
