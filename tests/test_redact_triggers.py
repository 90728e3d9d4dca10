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
