"""Redaction, rule 1: every kind of secret the story lists, in message, stack and nested context, is
replaced before anything is stored, and counted by kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from logcorr.pipeline.ingest import ingest
from logcorr.rules.redact import Redactor, contains_secret

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"

# (kind counted, text holding the secret, the secret that must disappear)
KINDS: list[tuple[str, str, str]] = [
    ("access_token", "oauth ok access_token=ya29_AbCdEf123456 expires_in=3599", "ya29_AbCdEf123456"),
    ("refresh_token", '{"refresh_token": "1//0gRefReshTok3n"}', "1//0gRefReshTok3n"),
    (
        "client_secret",
        "POST /token client_id=app&client_secret=GOCSPX-s3cr3tValu3&grant=x",
        "GOCSPX-s3cr3tValu3",
    ),
    ("password", "login failed for bob password=hunter2hunter2", "hunter2hunter2"),
    ("bearer", "calling api with Bearer abcDEF123456ghiJKL", "abcDEF123456ghiJKL"),
    ("basic_auth", "headers Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
    ("authorization", "proxy sent Authorization: Token 7f3a9c2e1b5d", "7f3a9c2e1b5d"),
    ("jwt", f"session {JWT} restored", JWT),
    ("openai_key", "using sk-proj-abcdefghijklmnopqrstuvwxyz123456", "abcdefghijklmnopqrstuvwxyz123456"),
    ("anthropic_key", "key sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123", "abcdefghijklmnopqrstuvwxyz0123"),
    ("openrouter_key", "router sk-or-v1-" + "0123456789abcdef" * 4 + " ok", "0123456789abcdef" * 4),
    ("stripe_key", "charge with sk_live_51HabcdefghijKLMN", "sk_live_51HabcdefghijKLMN"),
    (
        "github_token",
        "clone with ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    ),
    ("aws_access_key", "aws key AKIAIOSFODNN7EXAMPLE in env", "AKIAIOSFODNN7EXAMPLE"),
    (
        "google_api_key",
        "maps AIzaSyA-abcdefghijklmnopqrstuvwxyz12345",
        "AIzaSyA-abcdefghijklmnopqrstuvwxyz12345",
    ),
    ("slack_token", "notify xoxb-1234567890-abcdefghij", "xoxb-1234567890-abcdefghij"),
    ("api_key", "x-api-key: 9f8e7d6c5b4a39281706", "9f8e7d6c5b4a39281706"),
    ("cookie", "request Cookie: session=s3ss10nV4lue; theme=dark", "s3ss10nV4lue"),
    ("cookie", "response set-cookie: sid=abcSID123; Path=/; HttpOnly", "abcSID123"),
    ("url_credentials", "fetch https://admin:supers3cret@db.example.com/x failed", "supers3cret"),
    ("url_credentials", "redis redis://:p4ssw0rdX@cache.example.com:6379", "p4ssw0rdX"),
    # a token as a URL's user part, no password (a git remote)
    (
        "url_credentials",
        "git remote https://CANARY226abcdefghij0123@github.com/o/r.git",
        "CANARY226abcdefghij0123",
    ),
    # `=>` and `:=` between key and value: the value was stored, the `>` or `=` replaced
    ("password", "config password => CANARY110pw", "CANARY110pw"),
    ("password", "config password := CANARY218pw", "CANARY218pw"),
    ("password", "config password -> CANARY219pw", "CANARY219pw"),
    # `credentials` as a key in text, and a secret word with words after it (an env dump's key)
    ("secret", "vault answered credentials: CANARY222cred", "CANARY222cred"),
    ("secret", "login credentials=CANARY223cred&next=1", "CANARY223cred"),
    ("api_key", "env RAILS_ENV=production SECRET_KEY_BASE=CANARY224base PORT=3000", "CANARY224base"),
    # a header's whole value, not its first word
    ("authorization", 'Authorization: Digest username="bob", response="CANARY113abc"', "CANARY113abc"),
    (
        "authorization",
        "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240505/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=CANARY114abcdef",
        "CANARY114abcdef",
    ),
    ("authorization", "Authorization: Bearer abc,TAILX12", "TAILX12"),
    ("authorization", 'Proxy-Authorization: Digest username="u", response="CANARY115dig"', "CANARY115dig"),
    ("cookie", 'Cookie: theme="dark"; sid=CANARY116sid', "CANARY116sid"),
]

# context objects whose only secret-named key holds no trigger word of the text patterns: the stager looked
# at such a row only when something else in it did (`{"credentials": {…}}` alone was stored as it came)
CONTEXT_SECRETS: list[tuple[dict[str, Any], str]] = [
    ({"credentials": {"user": "u", "pass": "CANARY202"}}, "CANARY202"),
    ({"credentials": "user:CANARY201"}, "CANARY201"),
    ({"credential": "CANARY208"}, "CANARY208"),
    ({"api.key": "CANARY209"}, "CANARY209"),
    ({"Pass Word": "CANARY210"}, "CANARY210"),
    # an object under `tokens` (a count when it is a number), and a one-time password's keys
    ({"tokens": {"access": "CANARY228tok", "refresh": "CANARY231tok", "n": 2}}, "CANARY228tok"),
    ({"auth": {"otp": "CANARY229otp"}}, "CANARY229otp"),
    ({"otpCode": "CANARY232otp"}, "CANARY232otp"),
    ({"one_time_password": "CANARY230otp"}, "CANARY230otp"),
    ({"OTP": 73915482}, "73915482"),
]


@pytest.mark.parametrize("kind, text, secret", KINDS, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(KINDS)])
def test_each_kind_is_redacted_in_text_and_counted(kind: str, text: str, secret: str) -> None:
    r = Redactor()
    out = r.text(text)
    assert secret not in out and "[REDACTED:" in out
    assert r.counts[kind] >= 1, r.counts
    assert not contains_secret(out)
    assert r.text(out) == out  # redacting twice changes nothing


@pytest.mark.parametrize("kind, text, secret", KINDS, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(KINDS)])
def test_each_kind_is_redacted_inside_nested_context(kind: str, text: str, secret: str) -> None:
    ctx = {"request": {"log": [text, {"note": text}]}}
    out = Redactor().value(ctx)
    assert secret not in orjson.dumps(out).decode()


@pytest.mark.parametrize(
    "key",
    [
        "access_token",
        "refresh_token",
        "client_secret",
        "password",
        "Authorization",
        "Cookie",
        "apiKey",
        "token",
    ],
)
def test_values_under_secret_named_keys_are_replaced_whole(key: str) -> None:
    out = Redactor().value({"headers": {key: "plain value without a pattern"}, "deep": [{key: "x y z"}]})
    assert out["headers"][key].startswith("[REDACTED:") and out["deep"][0][key].startswith("[REDACTED:")


def test_ordinary_text_is_left_alone() -> None:
    text = "user clicked Save; tokenizer ready; cookie consent shown; passwordless login enabled"
    assert Redactor().text(text) == text


def test_no_secret_of_any_kind_reaches_the_database_from_message_stack_or_context(tmp_path: Path) -> None:
    lines: list[bytes] = []
    for i, (_, text, _) in enumerate(KINDS):
        ctx: dict[str, Any] = {"timestamp": 1_717_200_000_000 + i * 1000, "url": "http://localhost:3000/",
                               "nested": {"deeper": [text]}}  # fmt: skip
        lines.append(orjson.dumps({"message": text, "level": "error", "trace_id": f"t{i}", "stack": f"Error: {text}",
                                   "context": ctx}))  # fmt: skip
    for i, (secrets, _) in enumerate(CONTEXT_SECRETS):
        ctx = {"timestamp": 1_717_300_000_000 + i * 1000, **secrets}
        lines.append(
            orjson.dumps({"message": f"signed in {i}", "level": "info", "trace_id": f"c{i}", "context": ctx})
        )
    lines.append(f'{{"message": "{KINDS[0][1]}"'.encode())  # a broken line: its excerpt is redacted too
    digest = next(text for _, text, _ in KINDS if "Digest" in text)
    lines.append(orjson.dumps({"message": digest})[:-1])  # its header's value escaped in the raw line
    path = tmp_path / "secrets.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    db = tmp_path / "db.duckdb"
    result = ingest([str(path)], str(db))
    assert result.stored == len(KINDS) + len(CONTEXT_SECRETS) and result.rejected == 2
    assert {k for k, _, _ in KINDS} <= set(result.redactions)
    con = duckdb.connect(str(db), read_only=True)
    try:
        texts = [
            v
            for row in con.execute("SELECT message, stack, context::VARCHAR FROM log_queue").fetchall()
            + con.execute("SELECT excerpt, reason FROM rejects").fetchall()
            for v in row
            if v is not None
        ]
        # every text column of every table, the ledger and the summaries too
        everything = []
        for (table,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall():
            for (column,) in con.execute(f"SELECT column_name FROM information_schema.columns "
                                         f"WHERE table_name = '{table}'").fetchall():  # fmt: skip
                everything += [
                    v for (v,) in con.execute(f'SELECT "{column}"::VARCHAR FROM "{table}"').fetchall()
                ]
    finally:
        con.close()
    dump = "\n".join(v for v in everything if v is not None)
    for secret in [s for _, _, s in KINDS] + [s for _, s in CONTEXT_SECRETS]:
        assert secret not in dump, secret
    for text in texts:  # each text on its own (a header's value runs to the end of its line)
        assert not contains_secret(text), text


@pytest.mark.parametrize(
    ("key", "value"),
    [("X-Auth-Token", "u8jzPde0IgxLd6GncfBAepfJBd0K"), ("X-CSRF-Token", "h8oOOL8dKLzdocJ2isAjIhKtJ0Rl"),
     ("db_password", "gLKOmxgJTeKdNnFRIBXuDL7DxtpY"), ("newPassword", "hunter2-but-longer"),
     ("secretAccessKey", "wJalrXUtnFEMI/K7MDENG/bPxRfiCY"), ("stripeSecretKey", "abc123def456"),
     ("api_secret", "p9s8d7f6g5"), ("UPSTASH_REDIS_REST_TOKEN", "AXyzAAIjcDE"), ("apiToken", "tok-998877")],
)  # fmt: skip
def test_a_secret_word_inside_a_longer_key_name_redacts_its_text_value(key: str, value: str) -> None:
    """Only whole key names were matched: `db_password`, `X-Auth-Token`, `stripeSecretKey` kept their values."""
    out = Redactor().value(
        {"config": {key: value, "max_tokens": 1000, "token_count": 5, "secretName": "prod/db"}}
    )
    assert out["config"][key].startswith("[REDACTED:")
    assert (out["config"]["max_tokens"], out["config"]["token_count"]) == (1000, 5)  # numbers about a secret
    assert out["config"]["secretName"] == "prod/db"  # a name, not the secret


def test_an_object_under_tokens_and_a_one_time_password_are_redacted_counts_are_not() -> None:
    """`tokens` is a count (`_KEY_ABOUT`), and an object under it was stored as it came; `otp` held no stem."""
    r = Redactor()
    out = r.value({"tokens": {"access": "a1b2c3d4e5", "expires": 3600}, "auth": {"otp": 482913, "TOTP": "551177"},
                   "otp_code": "918273", "oneTimePassword": "x7y8z9"})  # fmt: skip
    assert out == {"tokens": {"access": "[REDACTED:token]", "expires": 3600},
                   "auth": {"otp": "[REDACTED:secret]", "TOTP": "[REDACTED:secret]"},
                   "otp_code": "[REDACTED:secret]", "oneTimePassword": "[REDACTED:password]"}  # fmt: skip
    kept = {"tokens": 5, "usage": {"tokens": {"input": 120, "output": 30}}, "max_tokens": 4096, "otp_length": 6,
            "otpEnabled": True, "footprint": "small", "rootPath": "/srv", "hotplug": "on", "token_count": {"a": "b"}}  # fmt: skip
    assert r.value(kept) == kept


def test_an_object_of_secrets_has_every_text_in_it_redacted() -> None:
    out = Redactor().value({"cookies": {"sessionid": "zzzzgEOzdmenCkhvMdgaKjIg8xNb", "n": 1}})
    assert out == {"cookies": {"sessionid": "[REDACTED:cookie]", "n": 1}}


@pytest.mark.parametrize(
    ("text", "secret"),
    [("env DB_PASSWORD=Zx9QwErTy7 UPSTASH_REDIS_REST_TOKEN=AXyzAAIjcDE5 JWT_SECRET=k8s7d6f5", "Zx9QwErTy7"),
     ("env DB_PASSWORD=Zx9QwErTy7 UPSTASH_REDIS_REST_TOKEN=AXyzAAIjcDE5 JWT_SECRET=k8s7d6f5", "AXyzAAIjcDE5"),
     ("env DB_PASSWORD=Zx9QwErTy7 UPSTASH_REDIS_REST_TOKEN=AXyzAAIjcDE5 JWT_SECRET=k8s7d6f5", "k8s7d6f5"),
     ("NEXTAUTH_SECRET: 9f8e7d6c5b4a", "9f8e7d6c5b4a"),
     ("aws { secretAccessKey: 'wJalrXUtnFEMI/K7MDENG' }", "wJalrXUtnFEMI/K7MDENG"),
     ("cfg { apiSecret: 'q1w2e3r4t5' }", "q1w2e3r4t5"),
     ("cookies: sessionid=JdpmrcXgGCJbW56eCuNGMGmSrCGI; theme=dark", "JdpmrcXgGCJbW56eCuNGMGmSrCGI"),
     ("GET https://api.example.com/v1/items?auth=8TPQxjq4i9DoV8gz4FkQ1okTBGzv", "8TPQxjq4i9DoV8gz4FkQ1okTBGzv"),
     ("slack socket xapp-1-A0123456789-1234567890123-08qzjI6GKFSufrdZSlB5er8bOfZq", "08qzjI6GKFSufrdZSlB5er8bOfZq")],
)  # fmt: skip
def test_environment_style_and_camel_case_keys_in_text_are_redacted(text: str, secret: str) -> None:
    out = Redactor().text(text)
    assert secret not in out and "[REDACTED:" in out


@pytest.mark.parametrize(
    "text",
    ["Falling back to basic implementation", "Bearer authentication failed", "max_tokens exceeded: 4096",
     "token_count: 12", "the token_type is Bearer", "passwordless login enabled", "secret_count=3",
     "token_type=bearer", "tokens=5", "access_token_expires_in=3600", "password_reset=true",
     "secret_rotation_days=30, credentials_path=/etc/app.json", "credentials=5", "Invalid credentials"],
)  # fmt: skip
def test_english_around_secret_words_is_kept(text: str) -> None:
    assert Redactor().text(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [("password => CANARY110", "password => [REDACTED:password]"),
     ("password := CANARY218", "password := [REDACTED:password]"),
     ("password => 'CANARY216'", "password => '[REDACTED:password]'"),
     ('{"token" => "abc"}', '{"token" => "[REDACTED:token]"}'),
     ("password -> CANARY219", "password -> [REDACTED:password]"),
     ("token->CANARY220abc next", "token->[REDACTED:token] next"),
     ("api_key -> 'CANARY221'", "api_key -> '[REDACTED:api_key]'"),
     ("state: idle -> busy", "state: idle -> busy"),  # an arrow after another word: left alone
     ("x => y; a := b", "x => y; a := b"),  # not a secret's key: left alone
     ("password==abc", "password=[REDACTED:password]")],  # as before: `=` and the rest
)  # fmt: skip
def test_an_arrow_or_walrus_between_key_and_value_is_the_separator(text: str, expected: str) -> None:
    """`password => x` was stored as `password =[REDACTED:password] x`: the `>` taken for the value; `password
    -> x` was stored as it came."""
    r = Redactor()
    assert r.text(text) == expected
    assert r.text(expected) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("push https://a94a8fe5ccb19ba61c4c0873d391e987982fbbd3@github.com/o/r.git",
      "push https://[REDACTED:url_credentials]@github.com/o/r.git"),
     ("https://glpat-CANARY227xyzABCDEFGH@gitlab.com/g/p", "https://[REDACTED:gitlab_token]@gitlab.com/g/p"),  # its own kind now
     # a token a provider pattern knows keeps its kind; a mark as the user part is done, not taken for a user
     ("https://ghp_abcdefghijklmnopqrstuvwxyz0123456789@github.com/o/r",
      "https://[REDACTED:github_token]@github.com/o/r"),
     ("https://x:[REDACTED:url_credentials]@h/", "https://x:[REDACTED:url_credentials]@h/"),
     # names: short, no digit, or a character tokens do not have
     ("git@github.com:o/r.git", "git@github.com:o/r.git"), ("https://user@host/", "https://user@host/"),
     ("https://deploy-bot-for-the-release-team@host/", "https://deploy-bot-for-the-release-team@host/"),
     ("https://ann.lee.1234567890123456789@host/", "https://ann.lee.1234567890123456789@host/"),
     ("https://bob2@host/ and mailto:abcdefghij0123456789xyz@x.com", "https://bob2@host/ and mailto:abcdefghij0123456789xyz@x.com")],
)  # fmt: skip
def test_a_token_as_the_user_part_of_a_url_is_redacted(text: str, expected: str) -> None:
    """`https://<token>@github.com/…` (a git remote) was stored as it came: only `user:password@` was looked for."""
    r = Redactor()
    assert r.text(text) == expected
    assert r.text(expected) == expected


JWT_HEADER = f"Authorization: Bearer {JWT}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [('Authorization: Digest username="bob", realm="r", uri="/a?b=1&c=2", response="CANARY113abc"',
      "Authorization: [REDACTED:authorization]"),
     ("Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240505/us-east-1/s3/aws4_request, "
      "SignedHeaders=host;x-amz-date, Signature=CANARY114abcdef\nnext line", "Authorization: [REDACTED:authorization]\nnext line"),
     ("Authorization: Bearer abc,TAILX12", "Authorization: [REDACTED:authorization]"),
     ("Authorization: Bearer abcdefghijk123, TAILX13", "Authorization: [REDACTED:authorization]"),
     ('HTTP_AUTHORIZATION=Digest username="x", response="CANARYH"', "HTTP_AUTHORIZATION=[REDACTED:authorization]"),
     # inside a JSON string: up to its closing quote, the escaped quotes inside it included
     ('{"message":"Authorization: Digest username=\\"bob\\", response=\\"CANARYR\\"","level":"info"}',
      '{"message":"Authorization: [REDACTED:authorization]","level":"info"}'),
     ('{"m":"Authorization: Token abc==","x":"y"}', '{"m":"Authorization: [REDACTED:authorization]","x":"y"}'),
     ('{"Authorization": "Digest username=\\"bob\\", response=\\"X\\""}', '{"Authorization": "[REDACTED:authorization]"}'),
     # a query parameter ends at `&`; one credential alone keeps its own kind, as before
     ("GET /x?authorization=abc123&foo=bar", "GET /x?authorization=[REDACTED:authorization]&foo=bar"),
     ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "Authorization: [REDACTED:basic_auth]"),
     (JWT_HEADER, "Authorization: [REDACTED:authorization] [REDACTED:jwt]"),
     ("authorization failed: token expired", "authorization failed: token expired"),
     # a one-word credential, then the log line's next argument: not the header's (it was eaten to its first
     # quote, 1,055 lines of the benchmark's file: `Authorization: [REDACTED:authorization]"page":…}`)
     ('Login Authorization: Bearer abcdefghijklmnop1234 {"page":"/login","ms":459}',
      'Login Authorization: [REDACTED:bearer] {"page":"/login","ms":459}'),
     ("Authorization: Basic dXNlcjpwYXNz more", "Authorization: [REDACTED:basic_auth] more"),
     # a cookie's quoted value, and a cookie after a JWT
     ('Cookie: theme="dark"; sid=CANARYC\nHost: x', "Cookie: [REDACTED:cookie]\nHost: x"),
     (f"Cookie: {JWT}; sid=CANARYD", "Cookie: [REDACTED:cookie]")],
)  # fmt: skip
def test_an_authorization_or_cookie_header_value_is_replaced_whole(text: str, expected: str) -> None:
    """Only the first word was: `Authorization: Digest username="bob", response="…"` kept all but `Digest`."""
    r = Redactor()
    assert r.text(text) == expected
    assert r.text(expected) == expected
    assert not contains_secret(expected)
