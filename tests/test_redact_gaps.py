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
    ("vercel_token", "vcp_" + _B[:24]),
    ("vercel_token", "vck_" + _B[:40]),
    ("google_refresh_token", "1//0g" + _B[:60] + "-_x"),
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
        "vcp_short",
        "VCP_Flag_column",
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


# --- a two-word secret name split by `.` or a space in text -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("api.key: abcd1234efgh5678", "api.key: [REDACTED:api_key]"),
     ("cfg client.secret=abcd1234efgh", "cfg client.secret=[REDACTED:client_secret]"),
     ("app.secret.key=whatever", "app.secret.key=[REDACTED:api_key]"),
     ("pass.word=hunter2", "pass.word=[REDACTED:password]"),
     ("API Key: abcd1234efgh5678", "API Key: [REDACTED:api_key]"),
     ("Pass Word: hunter22x", "Pass Word: [REDACTED:password]"),
     ("secret key = abcd1234efgh", "secret key = [REDACTED:api_key]"),
     ("access token: abcd1234efgh5678", "access token: [REDACTED:access_token]"),
     ("private key: abcd1234efgh5678", "private key: [REDACTED:api_key]"),
     ('{"Client Secret": "e4d3b1bb3a3f57fb"}', '{"Client Secret": "[REDACTED:client_secret]"}'),
     ("signing key: KtVq81xZ0a", "signing key: [REDACTED:api_key]")],
)  # fmt: skip
def test_a_two_word_secret_name_split_by_a_dot_or_a_space_in_text_is_redacted(
    text: str, expected: str
) -> None:
    """`api.key: …`, `API Key: …`, `Pass Word: …`, `secret key = …`, `private key: …` were stored as they came (a
    name's words had to be joined by `_`, `-` or nothing)."""
    assert _text(text) == expected


@pytest.mark.parametrize(
    "text",
    ["API key: invalid", "api key: missing or expired", "Pass word: hello", "private key: loaded from vault",
     "secret key = none", "the signing key: rotated", "api key=***", "master key: enabled", "API Key: required"],
)  # fmt: skip
def test_a_two_word_name_split_by_a_space_before_a_word_is_kept(text: str) -> None:
    """Split by a space the name is English as often as a key: its value must look like a credential."""
    assert Redactor().text(text) == text


@pytest.mark.parametrize(
    "text",
    ["Signing key: ed25519", "Encryption key: AES256", "Encryption key: AES-256-GCM", "Private key: RSA2048",
     "Master key: kms-key-1", "API key: prod-key-01", 'api key: "prod-key-01"', "hmac key: sha256"],
)  # fmt: skip
def test_a_key_named_by_its_algorithm_or_id_after_a_spaced_name_is_kept(text: str) -> None:
    """A key of a kind is named by its algorithm or id as often as it is shown: words and at most one number stay
    (each lost its value to `[REDACTED:api_key]`); a key's bytes mix them, and a token or a secret stays redacted."""
    assert Redactor().text(text) == text
    assert _text("hmac key: 3f9a2b7c") == "hmac key: [REDACTED:api_key]"
    assert _text("access token: sha256abc") == "access token: [REDACTED:access_token]"


# --- `auth = x` and `auth:x` ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("proxy auth = abc123def456", "proxy auth = [REDACTED:secret]"),
     ("auth =muO6RvvB7fOHZ1Fz", "auth =[REDACTED:secret]"),
     ("go {Auth:a5600ea69243d50c User:bob}", "go {Auth:[REDACTED:secret] User:bob}"),
     ("cfg {User:bob Auth:muO6RvvB7fOHZ1Fz}", "cfg {User:bob Auth:[REDACTED:secret]}"),
     ("headers map[auth:abc123def456 accept:json]", "headers map[auth:[REDACTED:secret] accept:json]"),
     ('sent auth:"abc123def"', 'sent auth:"[REDACTED:secret]"'),
     # a user and a password after a kind of auth (`_auth`), with no space after `:` too
     ("basic_auth:user:pass", "basic_auth:[REDACTED:secret]"),
     ("proxy_auth:bob:hunter2 set", "proxy_auth:[REDACTED:secret] set"),
     ("cfg proxy_auth: deploy:s3cret", "cfg proxy_auth: [REDACTED:secret]"),
     ('{"basic_auth": "user:pass"}', '{"basic_auth": "[REDACTED:secret]"}'),
     ("BASIC_AUTH=admin:admin", "BASIC_AUTH=[REDACTED:secret]"),
     ("http_auth:a5600ea69243d50c", "http_auth:[REDACTED:secret]"),
     # joined by a camel hump, as JavaScript objects are logged (`{"proxyAuth": "bob:pw"}` in context was replaced)
     ("cfg { basicAuth: 'alice:wonderland' }", "cfg { basicAuth: '[REDACTED:secret]' }"),
     ('{"proxyAuth":"deploy:secret"}', '{"proxyAuth":"[REDACTED:secret]"}'),
     ("BasicAuth=admin:admin", "BasicAuth=[REDACTED:secret]"),
     # `Basic` after `auth:` was caught already, and stays so
     ("auth: Basic dXNlcjpwYXNz", "auth: [REDACTED:basic_auth]")],
)  # fmt: skip
def test_auth_with_a_space_before_its_equals_or_no_space_after_its_colon_is_redacted(
    text: str, expected: str
) -> None:
    """`auth = x` and `auth:x` (as Go prints a struct or a map) were stored as they came."""
    assert _text(text) == expected


def test_a_user_and_password_under_a_kind_of_auth_in_context_is_redacted() -> None:
    """As in text: `{"basic_auth": "user:pass"}` was kept (no digit, no capital); `auth` alone keeps a pair."""
    r = Redactor()
    assert r.value({"basic_auth": "user:pass", "proxyAuth": "bob:pw"}) == {
        "basic_auth": "[REDACTED:secret]",
        "proxyAuth": "[REDACTED:secret]",
    }
    kept = {"auth": "provider:google", "basic_auth": "enabled", "oauth": "user:pass", "ldapAuth": "bind:ok"}
    assert r.value(kept) == kept


@pytest.mark.parametrize(
    "text",
    ["auth:login", "[auth:login] trace_id: t1 ok", '{"path":"auth:login","type":"mutation"}', "calling auth:signIn",
     "users:auth", "auth: required", "auth=true", "auth = true", "run auth:migrate20240101", "call auth:oauth2Callback",
     "call auth:verify2fa", "auth:verify2fa at the start of a text", "basic_auth:login", "lib_auth:verify2fa",
     "email_auth:sendCode", "next-auth:session:update", "basic_auth: enabled", "basic_auth=true",
     "OAuth: 'google:callback'", "{ requireAuth: true }", "basicAuth: enabled",
     # a mode and a state, not a user and a password
     "ldap_auth: bind:ok", "client_auth: tls:required", "{ twoFactorAuth: 'totp:enabled' }",
     "auth: provider:google", "emit auth:user:created"],
)  # fmt: skip
def test_convex_function_paths_and_auth_words_are_kept(text: str) -> None:
    """A Convex function path (`auth:login`) and a name with a number in it are no credential."""
    assert Redactor().text(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [("auth:a5600ea69243d50c", "auth:[REDACTED:secret]"),
     ("auth:muO6RvvB7fOHZ1Fz1 rejected", "auth:[REDACTED:secret] rejected"),
     ("[auth:a5600ea69243d50c] trace_id: t1", "[auth:[REDACTED:secret]] trace_id: t1"),
     ("retry (auth:abc123XYZ456def) failed", "retry (auth:[REDACTED:secret]) failed"),
     ("Error\nauth:a5600ea69243d50c\n    at f (x.ts:1:2)", "Error\nauth:[REDACTED:secret]\n    at f (x.ts:1:2)")],
)  # fmt: skip
def test_auth_and_a_credential_at_the_start_of_a_text_or_after_a_bracket_is_redacted(
    text: str, expected: str
) -> None:
    """`auth:<token>` at the start of a text (or of a line of it), after `[` or `(` was stored as it came: no probe
    word saw it (`[auth:` would flag every `[auth:login]` line). The probe word `auth:` is found only before a
    run holding a digit, a letter and a digit, in message, stack and context alike."""
    assert _text(text) == expected
    r = Redactor()
    out = r.value({"message": text, "stack": text, "context": {"note": text}})
    assert out == {"message": expected, "stack": expected, "context": {"note": expected}}


def test_the_probe_word_auth_colon_is_found_only_before_a_credential_like_run() -> None:
    """The compiled probe, DuckDB's and `might_hold_secret` alike: `auth:` flags `auth:a5600ea6…`, not a function
    path, and gives its bit in the masks only there."""
    import duckdb
    import pyarrow as pa

    from logcorr.pipeline.stage import _flag_sql
    from logcorr.rules.redact import TAIL, trigger_words, word_found
    from logcorr.sources.fast import flag_rows

    word = "auth:" + TAIL
    assert word in trigger_words()
    flagged = ["auth:a5600ea69243d50c", "[AUTH:muO6RvvB7fOHZ1Fz1]", "(auth:x.1a2)", "auth:1a2"]
    kept = [
        "auth:login",
        "[auth:verify2fa]",
        "(auth:migrate20240101)",
        "auth:abc 1a2",
        "auth:",
        "xauth:a1",
        "auth:1a-",
    ]
    assert [word_found(word, t.lower()) for t in flagged + kept] == [True] * 4 + [False] * 7
    texts = [f"{t}." for t in flagged + kept]
    assert [might_hold_secret(t) for t in texts] == [True] * 4 + [False] * 7
    flag = flag_rows()
    if flag is not None:
        hits = flag([(t,) for t in texts], (0,), (word,), -1, False, (), False, True)
        assert hits == [(i, True, (1,)) for i in range(4)]
    sql, _ = _flag_sql(("message",), (word,), [], False)
    con = duckdb.connect()
    con.register("_t", pa.table({"message": texts}))
    assert [f for (f,) in con.execute(f"SELECT {sql} FROM _t").fetchall()] == [True] * 4 + [False] * 7


def test_a_convex_function_path_alone_is_not_flagged_by_the_probe() -> None:
    """`auth:login` is in 3 % of the benchmark's lines: flagging it would send them all to the Python redactor."""
    assert not might_hold_secret('[auth:login] {"path":"auth:login","fn":\'auth:signIn\'} (auth:verify)')


# --- PINs, one-time and recovery codes, card security codes --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("pin=1234", "pin=[REDACTED:secret]"),
     ('{"pin": "4821"}', '{"pin": "[REDACTED:secret]"}'),
     ("PIN:0042 accepted", "PIN:[REDACTED:secret] accepted"),
     # a space before `=` or `:` (stored as it came: no probe word saw it)
     ("pin = 1234", "pin = [REDACTED:secret]"),
     ("card PIN : 1234 entered", "card PIN : [REDACTED:secret] entered"),
     ("set pin =0042", "set pin =[REDACTED:secret]"),
     ("card { userPin: '482913' }", "card { userPin: '[REDACTED:secret]' }"),
     ('raw {\\"pin\\":\\"4821\\"}', 'raw {\\"pin\\":\\"[REDACTED:secret]\\"}'),
     ("pin_code=123456 PIN code: 9876", "pin_code=[REDACTED:secret] PIN code: [REDACTED:secret]"),
     ("mfa_code=123456", "mfa_code=[REDACTED:secret]"),
     ('{"mfaCode":"918273"}', '{"mfaCode":"[REDACTED:secret]"}'),
     ("mfa: 551177", "mfa: [REDACTED:secret]"),
     ("2fa_code=123456 2FA code: 654321", "2fa_code=[REDACTED:secret] 2FA code: [REDACTED:secret]"),
     # `2fa` alone, as `mfa` (it was not looked for)
     ("2fa: 123456", "2fa: [REDACTED:secret]"),
     ('{"2FA":"654321"}', '{"2FA":"[REDACTED:secret]"}'),
     ("user_2fa = ab12cd", "user_2fa = [REDACTED:secret]"),
     ("recovery_code=ab12-cd34", "recovery_code=[REDACTED:secret]"),
     ('{"backup_codes": "1234-5678"}', '{"backup_codes": "[REDACTED:secret]"}'),
     ("backupCode: x7k2-9qpz", "backupCode: [REDACTED:secret]"),
     # a list of codes: the first one alone was replaced (a code with a `-` was taken for a count)
     ("backupCodes=ab12-cd34,ef56-gh78", "backupCodes=[REDACTED:secret]"),
     # `;` between codes, a trailing comma or an item that is no code in brackets: the rest leaked
     ("backup_codes=ab12-cd34;ef56-gh78", "backup_codes=[REDACTED:secret]"),
     ('backup_codes: ["ab12-cd34", "ef56-gh78",]', "backup_codes: [REDACTED:secret]"),
     ('backup_codes: ["ab12-cd34", "xyz"]', "backup_codes: [REDACTED:secret]"),
     ("recovery_codes: 1234-5678 2345-6789", "recovery_codes: [REDACTED:secret]"),
     ("backup_codes=ab12-cd34, ef56-gh78 user_id=42", "backup_codes=[REDACTED:secret] user_id=42"),
     ("recovery_codes: 1234-5678 2345-6789 generated", "recovery_codes: [REDACTED:secret] generated"),
     # numbers of 4 digits or more in a list are codes (Google's backup codes), a number alone a count
     ("recovery_codes: 12345678 87654321", "recovery_codes: [REDACTED:secret]"),
     ("backup_codes=1234,5678 used", "backup_codes=[REDACTED:secret] used"),
     ('{"backup_codes": ["ab12-cd34", "ef56-gh78"]}', '{"backup_codes": [REDACTED:secret]}'),
     ('{"backupCodes":[12345678,87654321]}', '{"backupCodes":[REDACTED:secret]}'),
     ('raw {\\"recovery_codes\\":[\\"ab12-cd34\\",\\"ef56-gh78\\"]}', 'raw {\\"recovery_codes\\":[REDACTED:secret]}'),
     ("SMS body: Your verification code: 654321", "SMS body: Your verification code: [REDACTED:secret]"),
     # the code after a space or `is`, in prose (only `:` and `=` were looked for)
     ("2FA code 123456", "2FA code [REDACTED:secret]"),
     ("Your 2FA code is 123456", "Your 2FA code is [REDACTED:secret]"),
     ("SMS: Your verification code is 654321.", "SMS: Your verification code is [REDACTED:secret]."),
     # a PIN in prose (it was looked for only before `=` or `:`)
     ("Your PIN is 4821", "Your PIN is [REDACTED:secret]"),
     ("Your PIN code is: 998877", "Your PIN code is: [REDACTED:secret]"),
     # ` is: ` as SMS templates write it (` is ` and `:` were looked for, not both)
     ("Your 2FA code is: 123456", "Your 2FA code is: [REDACTED:secret]"),
     ("Your backup code is: 12345678", "Your backup code is: [REDACTED:secret]"),
     ("mfa code 551177 accepted", "mfa code [REDACTED:secret] accepted"),
     ("verification_code=654321", "verification_code=[REDACTED:secret]"),
     ("security_code=123", "security_code=[REDACTED:secret]"),
     ('{"cvv":"123","cvc":"4242"}', '{"cvv":"[REDACTED:secret]","cvc":"[REDACTED:secret]"}'),
     ("card_cvv2: 987", "card_cvv2: [REDACTED:secret]")],
)  # fmt: skip
def test_a_pin_or_a_verification_recovery_or_card_code_in_text_is_redacted(text: str, expected: str) -> None:
    """Each was stored as it came: no such key was looked for."""
    assert _text(text) == expected


@pytest.mark.parametrize(
    "text",
    ["Profile unchanged, skipping write", "pinned: 1234", "spinner=1234", "ping: 1234ms", "pin: true", "pin: 13", "GPIO pin = 13",
     "pin : 7 (LED)", "spin = 1234", "pin = true",
     "pin_count: 3", "pin: ****", "opinion: 4821", "mfa: enabled", "mfa=required", "backup_codes: 10",
     "recovery_codes=8", "recovery_codes: 8 left", "backup codes generated: 10",
     "backup_codes: 10 remaining of 10", "recovery_codes: []", "backup_codes: [1, 2]", "backup codes: none", "2fa: enabled", "call auth:verify2fa", "id 9c2fa1b3: ok", "verification code sent to +15550001234", "verification_code: sent", "2FA code sent", "2FA code expired", "MFA code 2 of 3",
     "2FA code is invalid", "Your 2FA code is 12", "backup code 2024-05-01 generated", "2FA enabled for user 1234",
     "mfa 123456", "cvv: match",
     "cvc_check: pass", "security_code: 12345", "total_backup_storage_bytes: 209715200", "recovery mode: 2"],
)  # fmt: skip
def test_pin_and_code_words_that_are_no_code_are_kept(text: str) -> None:
    """`pin` is a word (`pinned`, `spinner`, `ping`), a flag (`pin: true`) or a pin number (`pin: 13`); a plural
    name's bare number is a count; a card code is 3 or 4 digits."""
    assert Redactor().text(text) == text


def test_a_pin_or_code_in_context_is_redacted_counts_and_flags_are_not() -> None:
    r = Redactor()
    out = r.value({"pin": "4821", "userPin": 123456, "pin_code": "0042", "mfaCode": 918273, "2fa_code": "654321",
                   "recovery_codes": ["ab12-cd34", "ef56-gh78"], "backupCodes": [12345678, 87654321],
                   "verificationCode": "654321", "card": {"cvv": "123", "cvc": 4242, "securityCode": "999"}})  # fmt: skip
    assert out == {"pin": "[REDACTED:secret]", "userPin": "[REDACTED:secret]", "pin_code": "[REDACTED:secret]",
                   "mfaCode": "[REDACTED:secret]", "2fa_code": "[REDACTED:secret]",
                   "recovery_codes": ["[REDACTED:secret]", "[REDACTED:secret]"],
                   "backupCodes": ["[REDACTED:secret]", "[REDACTED:secret]"],
                   "verificationCode": "[REDACTED:secret]",
                   "card": {"cvv": "[REDACTED:secret]", "cvc": "[REDACTED:secret]",
                            "securityCode": "[REDACTED:secret]"}}  # fmt: skip
    assert r.counts["secret"] == 13
    kept: dict[str, Any] = {"pin": 13, "pinned": True, "pin_count": 3, "spinner": "1234", "mfa": "enabled",
                            "mfa_enabled": True, "backup_codes": 10, "recovery_codes_left": 4, "cvc_check": "pass",
                            "verificationCode": "sent", "cvv": "match", "security_code": 12345,
                            "total_backup_storage_bytes": 209715200}  # fmt: skip
    assert r.value(kept) == kept


def test_every_code_key_the_context_walk_replaces_is_flagged_by_the_probe() -> None:
    """A row reaches the redactor only when the probe flags it: each code key, in each spelling, in a context."""
    names = [f"{a}{j}{b}" for a, b in (("pin", ""), ("pin", "code"), ("mfa", ""), ("mfa", "code"), ("2fa", ""), ("2fa", "code"),
                                        ("recovery", "code"), ("recovery", "codes"), ("backup", "codes"),
                                        ("verification", "code"), ("security", "code"), ("cvv", ""), ("cvc", ""))
             for j in (("", "_", "-", ".", " ") if b else ("",))]  # fmt: skip
    names += [
        "userPin",
        "mfaCode",
        "backupCodes",
        "securityCode",
        "card_cvv2",
        "PIN",
        "MFA_CODE",
        "2FA",
        "user2fa",
    ]
    r = Redactor()
    for name in names:
        ctx = {name: "4821"}
        assert r.value(ctx) == {name: "[REDACTED:secret]"}, name
        assert might_hold_secret(json_dumps(ctx)), name


def json_dumps(v: Any) -> str:
    import json

    return json.dumps(v)


# ordinary lines about pins, auth paths and codes, around today's fixes (a space before `=`, `_auth:`, lists, prose)
_ORDINARY = [
    "GPIO pin = 13 set to OUTPUT",
    "gpio: pin : 7 direction=in",
    "Configured pin = 4 as PWM, duty=50%",
    "pin = true (pin mode enabled)",
    "pin : high",
    "spin = 1234 rpm",
    "pinned = 1 message",
    "[auth:login] trace_id: trace_1754384 user signed in",
    "'[auth:login] trace_id: trace_1754384 ok",
    "(auth:signIn) completed in 34ms",
    "[CONVEX M(auth:login)] [LOG] 'user logged in'",
    "auth:migrate20240101 ran 3 batches",
    "auth:verify2fa returned false",
    '{"path":"auth:login","type":"mutation","cached":false}',
    "lib_auth:verify2fa scheduled",
    "basic_auth:login mutation failed: Error: Unauthorized",
    "next-auth:session:update debug",
    "emit auth:user:created for user_42",
    "2FA enabled for user user_42",
    "2FA code sent to +15550001234",
    "2FA code expired after 300s",
    "MFA code 2 of 3 rejected",
    "Your 2FA code is invalid, try again",
    "The 2FA code is: sent",
    "MFA code is: 2 of 3",
    "2fa: enabled",
    "mfa: required",
    "backup codes generated: 10",
    "backup_codes: 10 remaining",
    "recovery_codes=8",
    "recovery codes regenerated for user_42 (count: 10)",
    "backup code 2024-05-01 rotation complete",
    "verification code sent via sms",
    "PIN reset requested for card c_91",
    "basic_auth: enabled",
    "basic_auth=true",
    "auth: required",
    "auth = true",
    "auth: provider:google",
    "User-Agent: Mozilla/5.0 (auth: none)",
    "recovery_codes: [] for new user",
    "backup_codes: 10 20",
    "backup_codes: 1234 of 5000",
    "2FA code 3 attempts left",
    "the pin is 13",
    "pin is set",
    "spin is 1234 rpm",
    # a number with a unit or the noun of what it counts after it is a quantity, not a code
    "map pin = 1024 entries",
    "lru pin = 4096 bytes reserved",
    "pin: 2000 ms debounce",
    "pin_code: 1500 requests served",
    "Your PIN is 1234 characters too long",
    "mfa = 3000 ms timeout",
    "otp: 1000 times sent",
    "2FA code 5000 attempts blocked",
    "cvv = 250 rows",
    # a word and a number of 1 to 3 digits under `auth` is an id or a count (a namespaced key), not a user and password
    "session_auth:user:42",
    "cache hit session_auth:user:42 ttl=300",
    "rate_auth:ip:3 blocked",
    "auth: user:42",
    '{"auth": "user:7"}',
    # spaces or tabs before the separator, and a value that is no secret
    "auth  = true",
    "auth : required",
    "auth\t: none",
    "pin  = 13",
    "GPIO pin\t= 7",
    "2fa\tenabled",
    # a word naming what a short number is of, under `auth` or another kind of it: an id
    "auth: tenant:7",
    "rate_auth:user:9 limited",
    "acl auth=role:2 granted",
    # a quantity of a one-time code's length after `pin` (a memory pin), or a count of another length after `otp`
    "pin = 1048576 bytes locked",
    "otp: 100 times in 5 minutes",
    "mfa = 120000000 ns",
    # Convex paths after a tab or a quote, and a tab before a quoted word
    '"auth:login"',
    "\tauth:signIn ok",
    "'auth:verify2fa'",
    'x\tauth:"login"',
    "X-Proxy-Auth: required",
]


@pytest.mark.parametrize("text", _ORDINARY)
def test_ordinary_lines_about_pins_auth_paths_and_codes_are_kept(text: str) -> None:
    """GPIO pins, Convex `auth:…` paths, 2FA prose and code counts are no secret."""
    assert Redactor().text(text) == text


def test_a_word_and_a_short_number_under_auth_in_context_is_kept() -> None:
    """As in text: `user:42` is an id (its word names what it numbers); a number of 4 digits or more can be a
    password."""
    kept = {"session_auth": "user:42", "auth": "ip:3", "rateAuth": "tenant:999"}
    assert Redactor().value(kept) == kept
    assert Redactor().value({"basic_auth": "admin:1234"}) == {"basic_auth": "[REDACTED:secret]"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("basic_auth: root:123", "basic_auth: [REDACTED:secret]"),
     ("cfg basicAuth: 'root:123'", "cfg basicAuth: '[REDACTED:secret]'"),
     ("proxy_auth:admin:42 set", "proxy_auth:[REDACTED:secret] set"),
     ("http_auth=bob:007", "http_auth=[REDACTED:secret]"),
     ('{"smtp_auth": "mailer:99"}', '{"smtp_auth": "[REDACTED:secret]"}'),
     # even a pair that reads as an id, and a pair of words after a `-` (a header's name)
     ("proxy_auth: user:42", "proxy_auth: [REDACTED:secret]"),
     ("X-Proxy-Auth: bob:pw", "X-Proxy-Auth: [REDACTED:secret]"),
     # `auth` alone, or another kind: a user and a password unless the word names what the number is of
     ("auth=bob:007", "auth=[REDACTED:secret]"),
     ("auth: admin:123", "auth: [REDACTED:secret]"),
     ("http.request { host: 'x', auth: 'admin:123' }", "http.request { host: 'x', auth: '[REDACTED:secret]' }"),
     ('{"auth":"root:12"}', '{"auth":"[REDACTED:secret]"}'),
     ("session_auth:admin:123", "session_auth:[REDACTED:secret]")],
)  # fmt: skip
def test_a_user_and_a_short_number_password_under_auth_is_redacted(text: str, expected: str) -> None:
    """`basic_auth: root:123`, `auth=bob:007`, `auth: admin:123` were kept: any word and 1 to 3 digits under `auth`
    was taken for an id (`session_auth:user:42`)."""
    assert _text(text) == expected


def test_a_user_and_a_short_number_password_under_auth_in_context_is_redacted() -> None:
    r = Redactor()
    out = r.value({"basic_auth": "root:123", "auth": "bob:007", "proxyAuth": "tenant:999",
                   "X-Proxy-Auth": "user:42", "opts": {"auth": "admin:123"}})  # fmt: skip
    assert out == {"basic_auth": "[REDACTED:secret]", "auth": "[REDACTED:secret]", "proxyAuth": "[REDACTED:secret]",
                   "X-Proxy-Auth": "[REDACTED:secret]", "opts": {"auth": "[REDACTED:secret]"}}  # fmt: skip
    kept = {"auth": "user:42", "session_auth": "tenant:7", "ldapAuth": "bind:ok", "basic_auth": "enabled"}
    assert r.value(kept) == kept


@pytest.mark.parametrize(
    ("text", "secret"),
    [("otp: 482913 times out in 30s", "482913"), ("otp=48291377 retries left", "48291377"),
     ("mfa: 551177 attempts remaining", "551177"), ("verification code 482913 times out", "482913"),
     ("Your 2FA code is 654321 times out in 5 minutes", "654321"), ("mfa_code = 918273 ms", "918273"),
     ("TOTP: 123456 seconds left", "123456")],
)  # fmt: skip
def test_a_one_time_code_of_its_length_with_a_unit_like_word_after_it_is_redacted(
    text: str, secret: str
) -> None:
    """The quantity rule read `times` in "otp: 482913 times out" as the code's unit and kept it: after a one-time
    code's key a number of 6 to 8 digits (RFC 4226 / 6238) is the code."""
    out = _text(text)
    assert secret not in out and "[REDACTED:secret]" in out, out


@pytest.mark.parametrize(
    ("text", "expected"),
    [("\tauth:abc123XYZ456def", "\tauth:[REDACTED:secret]"),
     ("level=warn\tauth:a5600ea69243d50c\tok", "level=warn\tauth:[REDACTED:secret]\tok"),
     ('"auth:abc123XYZ456def"', '"auth:[REDACTED:secret]"'),
     ("'auth:abc123XYZ456def'", "'auth:[REDACTED:secret]'"),
     ('{"message":"auth:muO6RvvB7fOHZ1Fz1","level":"warn"}', '{"message":"auth:[REDACTED:secret]","level":"warn"}'),
     ('raw {\\"note\\":\\"auth:a5600ea69243d50c\\"}', 'raw {\\"note\\":\\"auth:[REDACTED:secret]\\"}'),
     # a tab as a space: a quoted value too (probe word `\tauth:`)
     ('cfg\tauth:"abc123def"', 'cfg\tauth:"[REDACTED:secret]"'),
     # a JSON text's escaped tab or line break (a raw line)
     ('{"message":"x\\tauth:abc123XYZ456def"}', '{"message":"x\\tauth:[REDACTED:secret]"}'),
     ('{"stack":"Error\\nauth:a5600ea69243d50c"}', '{"stack":"Error\\nauth:[REDACTED:secret]"}')],
)  # fmt: skip
def test_auth_and_a_credential_after_a_tab_or_a_quote_is_redacted(text: str, expected: str) -> None:
    """`auth:<token>` after a tab or a quote was stored as it came: the probe's word `auth:` + TAIL flagged it, the
    pattern looked for it only at the start of a line, after `[`, `(`, a space or `{`."""
    assert _text(text) == expected


def test_the_three_probes_flag_auth_after_a_tab_or_a_quote_alike() -> None:
    """The compiled probe, DuckDB's and `might_hold_secret` give the same answer on each, with every trigger word:
    flagged wherever the pattern redacts (and where it may: `\tauth:"login"`), a path alone not."""
    import duckdb
    import pyarrow as pa

    from logcorr.pipeline.stage import _flag_sql
    from logcorr.rules.redact import trigger_words
    from logcorr.sources.fast import flag_rows

    redacted = ["\tauth:abc123XYZ456def", '"auth:abc123XYZ456def"', "'auth:abc123XYZ456def'", 'cfg\tauth:"abc123def"',
                '{"m":"x\\tauth:abc123XYZ456def"}', '{"m":"Error\\nauth:a5600ea69243d50c"}',
                "basic_auth: root:123", "auth=bob:007", "otp: 482913 times out"]  # fmt: skip
    kept = ['"auth:login"', "'auth:signIn'", '{"m":"x\\tauth:signIn"}', '"auth:migrate20240101"']
    also = ['x\tauth:"login"']  # flagged, kept: the probe may flag more than the patterns redact
    texts = redacted + kept + also
    expected = [True] * len(redacted) + [False] * len(kept) + [True] * len(also)
    for t in redacted:
        assert Redactor().text(t) != t, t
    for t in kept + also:
        assert Redactor().text(t) == t, t
    words = trigger_words()
    assert [might_hold_secret(t) for t in texts] == expected
    flag = flag_rows()
    if flag is not None:
        hits = flag([(t,) for t in texts], (0,), words, -1, False, (), False, True)
        assert [i for i, redact, _ in hits if redact] == [i for i, e in enumerate(expected) if e]
    sql, _ = _flag_sql(("message",), words, [], False)
    con = duckdb.connect()
    con.register("_t", pa.table({"message": texts}))
    assert [f for (f,) in con.execute(f"SELECT {sql} FROM _t").fetchall()] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("pin = 1234 entered", "pin = [REDACTED:secret] entered"),
     ("pin=1234 entries_total=3", "pin=[REDACTED:secret] entries_total=3"),
     ("PIN: 4821 accepted, 3 entries left", "PIN: [REDACTED:secret] accepted, 3 entries left"),
     ('{"pin": "1024"} entries', '{"pin": "[REDACTED:secret]"} entries'),
     ("mfa code 551177 accepted", "mfa code [REDACTED:secret] accepted"),
     ("basic_auth:admin:1234", "basic_auth:[REDACTED:secret]"),
     ("session_auth:user:4821x", "session_auth:[REDACTED:secret]")],
)  # fmt: skip
def test_a_code_with_a_word_after_it_or_a_pair_with_a_long_number_is_still_redacted(
    text: str, expected: str
) -> None:
    """The quantity rule takes only a bare number with a unit or a counted noun right after it; the id rule only a
    number of 1 to 3 digits."""
    assert _text(text) == expected


@pytest.mark.parametrize(
    ("text", "secret"),
    [("verify otp=482913 attempts=1", "482913"), ("login user=bob pin=4821 ms=12", "4821"),
     ("mfa_code=551177 retries=0 ok", "551177"), ("pin: 4821 keys: 3", "4821"), ("card cvv=123 items=2", "123"),
     ("verification_code=847261 users=1", "847261"), ("otp=482913\tms=12", "482913"),
     ("pin = 4821 bytes =100", "4821")],
)  # fmt: skip
def test_a_code_followed_by_a_key_named_like_a_unit_is_still_redacted(text: str, secret: str) -> None:
    """A logfmt line's next key (`attempts=1`, `ms=12`, `retries=0`) is no unit of the code before it: the quantity
    rule took `otp=482913 attempts=1` for 482913 attempts and kept the code."""
    out = _text(text)
    assert secret not in out and "[REDACTED:secret]" in out, out


# --- spaces and tabs between a key and its separator ---------------------------------------------------------------

_SPACINGS = [("", ""), (" ", " "), ("  ", " "), ("\t", " "), (" \t", " "), ("  ", "  "), ("\t", "\t"), ("\t", ""),
             ("  ", ""), ("", "\t")]  # fmt: skip
_SPACED_SECRETS = [("pin", "1234"), ("PIN", "482913"), ("pin code", "1234"), ("pin_code", "1234"),
                   ("auth", "abc123def456"), ("basic_auth", "abc123def456"), ("2fa", "123456"),
                   ("password", "hunter2"), ("pass", "hunter2"), ("token", "abc123"), ("otp", "123456"),
                   ("mfa", "123456"), ("api key", "abc123def")]  # fmt: skip


@pytest.mark.parametrize(("key", "value"), _SPACED_SECRETS)
@pytest.mark.parametrize("sep", ["=", ":"])
def test_a_key_with_spaces_or_tabs_around_its_separator_has_its_value_redacted(
    key: str, value: str, sep: str
) -> None:
    """`pin  = 1234`, `pin\t= 1234`, `auth  = …`, `auth : …` and `2fa\t= …` were stored as they came: the patterns
    took one space before `=` (`auth`, `pin`) or `:` (`pin`), and no probe word saw a tab after `2fa`. Each
    spacing is seen by the compiled probe too (the stager redacts only the rows it flags)."""
    from logcorr.pipeline.stage import _EVENT_TEXT, STAGING_SCHEMA, _probe
    from logcorr.rules.redact import trigger_words
    from logcorr.sources.fast import flag_rows

    texts = [f"cfg {key}{a}{sep}{b}{value} end" for a, b in _SPACINGS]
    for text in texts:
        out = _text(text)
        assert value not in out and out.endswith(" end"), text
    flag, probe = flag_rows(), _probe(STAGING_SCHEMA, _EVENT_TEXT, trigger_words(), [], False)
    if flag is None or probe is None:
        pytest.skip("the compiled fast path is not built")
    at = STAGING_SCHEMA.get_field_index("message")
    rows = [tuple(text if k == at else None for k in range(len(STAGING_SCHEMA))) for text in texts]
    assert [(i, redact) for i, redact, _ in flag(rows, *probe)] == [(i, True) for i in range(len(rows))]
