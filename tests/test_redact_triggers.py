"""The redactor's fast path: trigger words must cover every pattern, or a secret would slip through."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from logcorr.rules.redact import Redactor, contains_secret, might_hold_secret

SAMPLES = [
    "Authorization: Bearer abcdefghijklmnop123",
    "basic dXNlcjpwYXNzd29yZDEyMw==",
    '{"access_token":"ya29.a0AfH6SMBxxxxxxxxxxxxxxxxxxx"}',
    "postgres://admin:s3cr3t@db.example.com/app",
    "sk-proj-abcdefghijklmnopqrstuvwxyz123456",
    "rk_live_abcdefghij12345",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abcdefghijklmnop",
    "AKIAIOSFODNN7EXAMPLE",
    "AIzaSyA1234567890abcdefghijklmnopqrstuv",
    "xoxb-123456789012-abcdefghij",
    "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX",
    "SG.abcdefghijklmnopqrstuv.abcdefghijklmnopqrstuvwxyz0123456789",
    "npm_abcdefghijklmnopqrstuvwxyz0123456789",
    "prod:happy-otter-123|eyJ2MiI6ImFiY2RlZmdoaWprbG1ub3AifQ==",
    "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
    "password=hunter2&user=bob",
    "Cookie: session=abc123",
    "client_secret: 'abc'",
]


def test_every_sample_secret_is_seen_by_the_trigger_words_and_replaced() -> None:
    r = Redactor()
    for s in SAMPLES:
        assert contains_secret(s), s
        assert might_hold_secret(s), s
        out = r.text(s)
        assert not contains_secret(out), (s, out)
        assert r.text(out) == out


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80),
    st.sampled_from(SAMPLES),
    st.text(max_size=20),
)
def test_trigger_words_never_miss_a_match_in_random_text(prefix: str, secret: str, suffix: str) -> None:
    s = prefix + " " + secret + " " + suffix
    if contains_secret(s):
        assert might_hold_secret(s)
    assert not contains_secret(Redactor().text(s))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_whenever_a_pattern_matches_a_trigger_word_is_present(s: str) -> None:
    if contains_secret(s):
        assert might_hold_secret(s)


def _spellings(alternation: str) -> list[str]:
    """Every text one branch of `_SECRET_KEYS` matches (it uses only `[_-]?` and `(?:or)?`)."""
    out = []
    for branch in alternation.split("|"):
        words = [""]
        rest = branch.replace("\\", "")
        while rest:
            for token, options in (("[_-]?", ("", "_", "-")), ("(?:or)?", ("", "or"))):
                if rest.startswith(token):
                    words = [w + o for w in words for o in options]
                    rest = rest[len(token) :]
                    break
            else:
                assert rest[0] not in "[]()?*+{}", f"unexpected syntax in {branch!r}"
                words = [w + rest[0] for w in words]
                rest = rest[1:]
        out.extend(words)
    return out


def test_every_spelling_of_a_secret_named_key_is_seen_by_the_trigger_words() -> None:
    # the rows the trigger words miss are never redacted: "privatekey=…" was stored as it came
    from logcorr.rules.redact import _SECRET_KEYS

    spellings = _spellings(_SECRET_KEYS)
    assert "privatekey" in spellings and "aws_secret_access_key" in spellings and "password" in spellings
    r = Redactor()
    for key in spellings:
        for text in (f"login failed {key}=s3cr3tValue99", f'{{"{key.upper()}": "s3cr3tValue99"}}'):
            assert might_hold_secret(text), text
            assert "s3cr3tValue99" not in r.text(text), text
