"""The redactor's fast path: trigger words must cover every pattern, or a secret would slip through."""

from __future__ import annotations

import json
import re
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logcorr.rules.redact import FOLDING, TAIL, Redactor, contains_secret, might_hold_secret, trigger_words

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
    "pass=hunter2",
    "passphrase: correct-horse",
    "auth=abc123def456",
    '{"auth":"xyzabc1234"}',
    "signing_key=abc",
    "otp=123456",
    "glpat-xZ9kQ2mP7vL4bN8cR1tY",
    "shpat_0123456789abcdef0123456789abcdef",
    "https://discord.com/api/webhooks/123456789012345678/Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8",
    "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF0\n-----END PGP PRIVATE KEY BLOCK-----",
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
    """Every text one branch of `_SECRET_KEYS` matches (it uses only `[_.-]?` and `(?:or)?`)."""
    out = []
    for branch in alternation.split("|"):
        words = [""]
        rest = branch.replace("\\", "")
        while rest:
            for token, options in (("[_.-]?", ("", "_", ".", "-")), ("(?:or)?", ("", "or"))):
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
    from logcorr.rules.redact import _TEXT_KEYS

    spellings = _spellings(_TEXT_KEYS)
    assert "privatekey" in spellings and "aws_secret_access_key" in spellings and "password" in spellings
    assert "api.key" in spellings and "client.secret" in spellings and "pass.word" in spellings
    assert "credentials" in spellings
    r = Redactor()
    for key in spellings:
        for text in (f"login failed {key}=s3cr3tValue99", f'{{"{key.upper()}": "s3cr3tValue99"}}'):
            assert might_hold_secret(text), text
            assert "s3cr3tValue99" not in r.text(text), text


def _context_key_names() -> list[str]:
    """Every key name the context walk (`Redactor.value`) replaces the value of, as far as its lists go: each
    spelling of `_SECRET_KEYS`, and each stem of `_KEY_STEMS` with its words joined every way it knows, in
    three cases, alone and inside a longer name."""
    from logcorr.rules import redact as R

    names = _spellings(R._SECRET_KEYS)
    for words in R._KEY_STEM_WORDS:
        for join in R._KEY_JOINS:
            for stem in (join.join(words), join.join(words).upper(), join.join(w.title() for w in words)):
                names += [stem, f"db_{stem}", f"user{stem}", f"X-{stem}-Value", f"{stem}s"]
    return [
        *names,
        "pwd",
        "userPwd",
        "DB_PWD",
        "otp",
        "OTP",
        "otpCode",
        "user_otp",
        "TOTP",
        "one_time_password",
        "mfaCode",
        "backup_codes",
        "Recovery Code",
        "verification.code",
        "2fa-code",
    ]


def test_every_key_the_context_walk_replaces_is_flagged_by_the_probe() -> None:
    """A row reaches the redactor only when the probe flags it: a context key the walk would replace but no
    trigger word is in was stored as it came (`{"credentials": {…}}`, `{"credential": …}`). The probe is
    the compiled `flag_rows`, or DuckDB's predicate (`_flag_sql`), or `might_hold_secret` (text that is not
    ASCII): all three, on a context holding nothing but that key."""
    import duckdb
    import orjson
    import pyarrow as pa

    from logcorr.pipeline.stage import _EVENT_TEXT, STAGING_SCHEMA, _flag_sql, _probe
    from logcorr.rules.redact import trigger_words
    from logcorr.sources.fast import flag_rows

    # the names it does replace (not `tokens`: a name about secrets, `_KEY_ABOUT`)
    names = [
        n for n in _context_key_names() if Redactor().value({n: "s3cr3tValue99"}) != {n: "s3cr3tValue99"}
    ]
    assert {
        "credentials",
        "credential",
        "api.key",
        "Pass Word",
        "PRIVATE KEY",
        "Authorization",
        "otp",
        "backup_codes",
    } <= set(names)
    contexts = [orjson.dumps({name: "s3cr3tValue99"}).decode() for name in names]
    for text in contexts:
        assert might_hold_secret(text), text
    flag = flag_rows()
    probe = _probe(STAGING_SCHEMA, _EVENT_TEXT, trigger_words(), [], False)
    assert flag is not None and probe is not None
    at = STAGING_SCHEMA.get_field_index("context"), STAGING_SCHEMA.get_field_index("message")
    rows = []
    for text in contexts:
        row: list[Any] = [None] * len(STAGING_SCHEMA)
        row[at[0]], row[at[1]] = text, "signed in"
        rows.append(tuple(row))
    assert [(i, redact) for i, redact, _ in flag(rows, *probe)] == [(i, True) for i in range(len(rows))]
    sql_redact, _ = _flag_sql(_EVENT_TEXT, trigger_words(), [], False)
    table = pa.table({"message": ["signed in"] * len(contexts), "stack": pa.array([None] * len(contexts), pa.string()),
                      "context": contexts})  # fmt: skip
    con = duckdb.connect()
    con.register("_t", table)
    assert all(flagged for (flagged,) in con.execute(f"SELECT {sql_redact} FROM _t").fetchall())


def test_the_probe_takes_every_trigger_word() -> None:
    """`flag_rows` takes at most 192 words; with more the stager's probe would fall back to DuckDB for every
    batch, unnoticed but for the time."""
    from logcorr.pipeline.stage import _EVENT_TEXT, PROBE_WORDS, STAGING_SCHEMA, _probe
    from logcorr.rules.redact import trigger_words

    assert len(trigger_words()) <= PROBE_WORDS == 192
    assert _probe(STAGING_SCHEMA, _EVENT_TEXT, trigger_words(), [], False) is not None


def test_the_compiled_probe_finds_words_past_the_64th() -> None:
    """The compiled probe's words are bits of three 64-bit lanes: a word in the second or third lane (a one-byte
    word too) is found, flagged and given as its bit of the mask; 192 words are taken, 193 refused."""
    from logcorr.sources.fast import flag_rows

    flag = flag_rows()
    if flag is None:
        pytest.skip("the compiled fast path is not built")
    words = (*(f"w{k:03d}x" for k in range(190)), "#", "zq")
    assert len(words) == 192
    texts = ["w000x", "w063x w064x", "a zq b", "#", "W191X w189x", "none here", "w01", "w127x w128x"]
    rows = [(t,) for t in texts]
    hits = flag(rows, (0,), words, -1, False, (), False, True)
    got = {i: masks[0] for i, redact, masks in hits if redact}
    assert got == {0: 1, 1: 1 << 63 | 1 << 64, 2: 1 << 191, 3: 1 << 190, 4: 1 << 189, 7: 1 << 127 | 1 << 128}
    with pytest.raises(ValueError, match="at most 192"):
        flag(rows, (0,), (*words, "one more"), -1, False, (), False, True)


# --- the first-character guards of `pair`, `kv`, `jwt` and `scheme` (a lookahead before each pattern) -------


def _unguarded() -> list[Any]:
    """The group regexes without their first-character guards: what each pattern was before them."""
    from logcorr.rules import redact as R

    out = []
    for _, rx, _ in R._GROUPS:
        for guard in (
            R._QUOTE_FIRST,
            R._KEY_FIRST,
            R._JWT_FIRST,
            R._SCHEME_FIRST,
            R._AUTH_FIRST,
            R._WORD_FIRST,
            R._AUTH_KV_FIRST,
            R._OTP_KV_FIRST,
            R._NAMED_FIRST,
        ):
            if rx.startswith(guard):
                rx = rx[len(guard) :]
        out.append(re.compile(rx))
    return out


_PLAIN = _unguarded()
_FRAGMENTS = st.sampled_from(
    ['"', "'", "\\", '\\"', "\\\\\\'", ":", "=", ",", " ", "\n", "{", "}", "[", "]", "name", "key", "value",
     "Authorization", "authorization", "token", "Token", "access_token", "PASSWORD", "passwd", "pwd",
     "x-api-key", "X-Api-Key", "privatekey", "cookie", "Set-Cookie", "bearer ", "Basic ", "secret",
     "sharedaccesskey", "ſecret", "İd_token", "ıd_token", "tOKEN", "abc123", "hunter2", "[REDACTED:x]", "é",
     "ĸey", "eyJ", "eyJhbGciOiJIUzI1NiJ9", ".", "-", "_", "beArer", "BASIC", "xBearer", "_basic", "ABCdef0123456789+/=",
     ">", "=>", ":=", "->", "credentials", "pass", "db_pass", "smtpPass", "passphrase", "ok", "3", "otp", "TOTP", "otpCode", "user_otp", " code", "123456", "hotplug", "footprint", "auth", "X-Auth", "basic_auth", "authKey", "auth_key", "abc123def", "Xy9zAbCdEf", "required", "oauth",
     "author", "signingKey", "ENCRYPTION_KEY", "master_key", "jwt_key", "privKey", "Credential", "SECRET_KEY_BASE", "_KEY", "_base", "Value", "_count",
     "_type", "_expires_in", "ExpiresAt", "true", "30", "3.5", ".json", "Digest ", "Proxy-", "HTTP_AUTHORIZATION", ";", "&", "\\n", "\\t", '="', "Cookie:",
     # spaces and tabs between a key and its separator (`pin  = 1234`, `auth\t: …`, `2fa\t= …`)
     "\t", "  ", "pin", "PIN", "2fa", "1234", "user:42",
     # a user and a short number under a kind of auth, a one-time code before a unit-like word
     "root:123", "proxy_auth", "Proxy-Auth", "basicAuth", "482913", " times", "mfa code"]
)  # fmt: skip


def _same_with_and_without_guards(s: str) -> None:
    from logcorr.rules import redact as R

    for (guarded, _, may), plain in zip(R._COMPILED, _PLAIN, strict=True):
        a, b = Redactor(), Redactor()
        assert guarded.sub(a._sub, s) == plain.sub(b._sub, s), (guarded.pattern[:40], s)
        assert a.counts == b.counts
        # a group is not run on text its cheaper test fails: it could not match there
        if may is not None and not may(s):
            assert plain.search(s) is None, (guarded.pattern[:40], s)


def _corpus_texts() -> list[str]:
    """The samples, and every placement of the secrets corpus: message, stack, context, and a raw line
    holding them as JSON inside JSON."""
    from tests.secrets_corpus import load_kinds, placements

    texts = list(SAMPLES)
    for i, k in enumerate(load_kinds()):
        texts.append(k.text)
        for p in placements(k, i):
            texts += [p.message, p.stack or "", json.dumps(p.ctx) if p.ctx else ""]
            texts.append(json.dumps({"line": json.dumps({"message": p.message, "context": p.ctx})}))
    return texts


def test_the_first_character_guards_change_no_match_on_the_secrets_corpus() -> None:
    for s in _corpus_texts():
        _same_with_and_without_guards(s)


@settings(max_examples=1500, deadline=None)
@given(st.lists(_FRAGMENTS, max_size=30).map("".join))
def test_the_first_character_guards_change_no_match_on_any_text(s: str) -> None:
    _same_with_and_without_guards(s)


@settings(max_examples=1500, deadline=None)
@given(st.lists(_FRAGMENTS, max_size=30).map("".join))
def test_a_pattern_matches_only_where_the_probe_finds_a_word(s: str) -> None:
    """Key names as text puts them together (`auth` with a quote, `: ` or `=`; `pass`, `db_pass`): a match
    the probe would not flag is a secret the stager never redacts. ASCII text: the stager flags any other whole
    (`ſecret` folds to `secret` in the patterns, not in `str.lower`)."""
    if s.isascii() and contains_secret(s):
        assert might_hold_secret(s), s


def test_the_scheme_guard_admits_exactly_what_its_words_can_start_with() -> None:
    """`(?i:bearer)` and `(?i:basic)` start with a character that folds to b: over all of Unicode, b and B."""
    from logcorr.rules import redact as R

    b = re.compile("(?i:b)")
    guard = re.compile(R._SCHEME_FIRST)
    assert [c for c in range(0x110000) if b.fullmatch(chr(c))] == [ord("B"), ord("b")]
    assert [c for c in range(0x110000) if guard.match(chr(c))] == [ord("B"), ord("b")]


def test_the_authorization_guard_admits_exactly_what_a_match_can_start_with() -> None:
    """A match of `authorization` starts with a quote, a backslash, or a character that folds to a: over all of
    Unicode, a and A."""
    from logcorr.rules import redact as R

    a = re.compile("(?i:a)")
    guard = re.compile(R._AUTH_FIRST)
    assert [c for c in range(0x110000) if a.fullmatch(chr(c))] == [ord("A"), ord("a")]
    assert [c for c in range(0x110000) if guard.match(chr(c))] == sorted(map(ord, "\\\"'aA"))


@pytest.mark.parametrize("which", ["kv", "key_kv", "kv_near"])
def test_the_key_guard_admits_exactly_the_first_characters_of_the_key_alternatives(which: str) -> None:
    """Under (?i) a class and a literal could differ for characters with special case folds (ſ, İ, ı, K):
    the guard must admit every character any key alternative can start with (for `kv`, quotes and backslash
    too), and nothing else (over all of Unicode). `kv_near`: the guard of the test run before `kv`."""
    from logcorr.rules import redact as R

    if which == "kv":
        guard, alternatives, also = re.compile(R._KEY_FIRST), R._KV_TEXT_KEYS.split("|"), "\\\"'"
    elif which == "key_kv":
        guard, alternatives, also = re.compile(R._NAMED_FIRST), R._NAMED_KEYS.split("|"), "\\\"'"
    else:
        guard, alternatives, also = re.compile(R._ENDS_FIRST), list(R._KEY_ENDS), ""
    starts = [re.compile(f"(?i:{alt})") for alt in alternatives]
    firsts = {alt[0] for alt in alternatives}
    first_rx = [re.compile(f"(?i:{c})") for c in sorted(firsts)]
    for alt in starts:  # every alternative does begin with its first letter (no group or class there)
        assert alt.pattern[4].isalpha()
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        expected = ch in also or any(rx.match(ch) for rx in first_rx)
        assert (guard.match(ch) is not None) == expected, hex(cp)


# --- `text_masked`: the trigger words given (found by the compiled probe) instead of searched -------------


def _found(s: str) -> int:
    from logcorr.rules.redact import trigger_words, word_found

    low = s.lower()
    return sum(1 << k for k, word in enumerate(trigger_words()) if word_found(word, low))


def _masked_equals_text(s: str) -> None:
    a, b = Redactor(), Redactor()
    assert a.text_masked(s, _found(s)) == b.text(s), s
    assert a.counts == b.counts


def test_text_masked_equals_text_on_the_secrets_corpus() -> None:
    texts = _corpus_texts()
    assert sum(Redactor().text(s) != s for s in texts) > 50  # the corpus has secrets to replace
    for s in texts:
        _masked_equals_text(s)


@settings(max_examples=800, deadline=None)
@given(st.lists(st.one_of(_FRAGMENTS, st.sampled_from(SAMPLES)), max_size=12).map(" ".join))
def test_text_masked_equals_text_on_any_text(s: str) -> None:
    _masked_equals_text(s)


def test_text_masked_with_no_trigger_word_changes_nothing_and_a_missing_bit_skips_its_pattern() -> None:
    r = Redactor()
    assert (
        r.text_masked("Authorization: Bearer abcdefghijklmnop123", 0)
        == "Authorization: Bearer abcdefghijklmnop123"
    )
    assert "[REDACTED" in r.text_masked(
        "Authorization: Bearer abcdefghijklmnop123", _found("Authorization: Bearer x")
    )


# --- the compiled `kv_near` (the test run before `kv`) against its regex `_KV_NEAR` -------------------------

# every part of `_KV_NEAR` and what borders it: the key words in any case, quotes escaped up to 9 deep, Python's
# ASCII white space (\x1c-\x1f are white space to `\s`), the mark, and text that is not ASCII
_KV_PARTS = st.sampled_from(
    ["token", "TOKEN", "Secret", "key", "KEY", "monkey", "pwd", "password", "passwd", "PassWord", "passw", "tok",
     "pass", "PASS", "pas", "bypass", "passphrase", "auth", "Auth", "authKey", "signing_key", "hmac", "jwtKey",
     "authorization", "cookie", "Bearer", "'", '"', "\\", "\\\\", "\\" * 8, "\\" * 9, " ", "\t", "\x0b", "\x1c",
     "\x1f", "\n", ":", "=", "->", "-", ">", "credential", "s", "_", ".", "_base", "Key9", "[REDACTED", "[REDACTED:token]", "[redacted", "x", ",", "é", "ſecret", "\u212aey"]
)  # fmt: skip


def _compiled_kv_near() -> Any:
    from logcorr import native

    ext = native.built("_fastparse")
    if ext is None:
        pytest.skip("the compiled fast path is not built")
    return ext.kv_near


@settings(max_examples=3000, deadline=None)
@given(st.lists(_KV_PARTS, max_size=10).map("".join))
def test_compiled_kv_near_is_the_regex_on_ascii_text_and_defers_on_the_rest(s: str) -> None:
    from logcorr.rules import redact as R

    near = _compiled_kv_near()
    expected = R._KV_NEAR.search(s) is not None
    if s.isascii():
        assert near(s) is expected, s
    else:
        assert near(s) is None, s
    assert bool(R._MAY_MATCH["kv"](s)) is expected, s


@settings(max_examples=3000, deadline=None)
@given(st.lists(_KV_PARTS, max_size=12).map("".join))
def test_kv_near_in_python_is_the_regex_on_any_text(s: str) -> None:
    """The linear `_kv_near` (every text where the compiled one defers: not ASCII, or no build) answers as
    `_KV_NEAR.search`, case folding beyond ASCII (`ſecret`, the Kelvin sign's `Key`) and `->` included."""
    from logcorr.rules import redact as R

    assert R._kv_near(s) is (R._KV_NEAR.search(s) is not None), s


@pytest.mark.parametrize("unit", ["pwd", "token", "secretkey-", "key->"])
def test_a_line_repeating_a_key_word_with_text_not_ascii_is_redacted_in_linear_time(unit: str) -> None:
    """Text that is not ASCII is tested by the regex, not the compiled `kv_near`: `_KV_NEAR` read the run after each
    key word to its end and back, cubic (`é` and 21 KB of `pwd`: 4.9 s, 40 KB: 18 s). 1 MB here, in a child process
    killed after 20 s."""
    import subprocess
    import sys

    text = "é " + (unit * (1_000_000 // len(unit) + 1))[:1_000_000]
    code = "import sys; from logcorr.rules.redact import Redactor; t = sys.stdin.read(); Redactor().text(t); print('done')"
    try:
        out = subprocess.run([sys.executable, "-c", code], input=text, capture_output=True, text=True, timeout=20,
                             encoding="utf-8")  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"é and {unit!r} over 1 MB: not redacted in 20 s")
    assert out.stdout.split() == ["done"], out.stderr


def test_compiled_kv_near_on_the_edges_of_each_part() -> None:
    near = _compiled_kv_near()
    assert near("token: abc") and near('"Token" = abc') and near("x\\\\\\'pwd\\\\\\': v")
    assert near("api_key\x1c=\x1fv") and near("password:") and near("Cookie:")
    assert not near("token: [REDACTED:token]") and not near("token= '[REDACTED:token]'")
    assert near("token" + "\\" * 8 + "': v") and not near("token" + "\\" * 9 + "': v")  # 1-8 escape a quote
    assert not near("tok: en") and not near("token - x") and not near("")
    assert near("password -> x") and near("token->x") and not near("token-> [REDACTED:token]")
    assert not near("token -x") and not near("token >x") and not near("token-")
    assert (
        near("SECRET_KEY_BASE=x")
        and near("credentials: x")
        and near("token_type-->x")
        and near("token.x-y->z")
    )
    assert not near("SECRET_KEY BASE=x") and not near("token_type/x=y") and not near("credentia: x")


def test_the_probe_words_cover_every_trigger_word_and_none_holds_another() -> None:
    """One list: every group's trigger words and every name trigger hold a probe word (so the probe flags every
    row a pattern or a key name could need), and no probe word holds another (it would flag nothing more)."""
    from logcorr.rules import redact as R

    words = R.trigger_words()
    wanted = [t for _, _, tr in R._GROUPS for t in tr] + list(R._NAME_TRIGGERS)
    assert all(any(w in t for w in words) for t in wanted)
    assert not [(a, b) for a in words for b in words if a != b and a in b]
    assert "private key-----" not in words and "private key" in words


def _word_parts() -> list[str]:
    from logcorr.rules import redact as R

    words = {t for _, _, tr in R._GROUPS for t in tr} | set(R.trigger_words())
    # (and runs a word ending in TAIL is found before, or not: `auth:` + `a5600ea6`, `1a`, `verify2fa`)
    return sorted(
        {w[:k] for w in words for k in range(1, len(w) + 1)}
        | {" ", "x", "A", "1", "a5600ea6", "1a", "verify2fa"}
    )


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(_word_parts()), max_size=8).map("".join))
def test_the_grouped_trigger_tests_are_any_word_in_the_text(s: str) -> None:
    """The probe tests words sharing a start behind that start (`'auth' in low and (…)`): the same answer as
    testing each word, for the probe and for each pattern's own trigger words."""
    from logcorr.rules import redact as R

    low = s.lower()
    assert R.might_hold_secret(s) == any(R.word_found(w, low) for w in R.trigger_words()), s
    for (_, _, tr), (_, has_trigger, _) in zip(R._GROUPS, R._TEXT_GROUPS, strict=True):
        assert has_trigger(low) == any(R.word_found(t, low) for t in tr), (tr, s)


@pytest.mark.parametrize(
    "key",
    ["auth:", "[auth:", " auth:", "{auth:", "map[auth:", "basic_auth:",
     # after a tab, a quote, or a JSON text's escaped tab or line break
     "\tauth:", '"auth:', "'auth:", '\\"auth:', "\\tauth:", "\\nauth:"],
)  # fmt: skip
def test_a_long_run_with_no_digit_letter_digit_after_auth_is_refused_in_linear_time(key: str) -> None:
    """`auth:` + 1,500 digits + 1,500 letters (no digit after a letter: not credential-like) took the probe's word
    `auth:` + TAIL and `_RANDOM_LIKE` cubic time to refuse, each of their runs of token characters able to end at
    any of the digits and letters (800 + 800: 4.6 s in `might_hold_secret`, 14 s in `Redactor().text`); a client
    could stall an ingest with one such line. Run in a child process, killed after 20 s."""
    import subprocess
    import sys

    text = f"x {key}" + "1" * 1500 + "a" * 1500 + " end"
    code = (
        "import sys; from logcorr.rules.redact import Redactor, might_hold_secret; t = sys.argv[1]; "
        "might_hold_secret(t); assert Redactor().text(t) == t; print('done')"
    )
    try:
        out = subprocess.run([sys.executable, "-c", code, text], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{key!r} + a long run: not refused in 20 s")
    assert out.stdout.strip() == "done", out.stderr


@settings(max_examples=1500, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["auth:", "AUTH:", "auth", ":", "1", "a", "Z", "_", ".", " ", "[", '"', "\\", "x1a", "ſ", "é"]
        ),
        max_size=16,
    ).map("".join)
)
def test_the_tail_word_is_found_where_its_regex_searched(s: str) -> None:
    """A word ending in TAIL is found where `re.search(word + tail_pattern)` finds it, though a run inside a run
    refused is not looked at again (`auth:auth:…`); by the compiled probe on ASCII text too."""
    from logcorr.rules.redact import TAIL, tail_pattern, word_found
    from logcorr.sources.fast import flag_rows

    word = "auth:" + TAIL
    low = s.lower()
    expected = re.search(re.escape("auth:") + tail_pattern(word), low, re.I) is not None
    assert word_found(word, low) is expected, s
    flag = flag_rows()
    if flag is not None:  # beyond ASCII too, but for the four characters that fold to ASCII letters
        hits = flag([(s,)], (0,), (word,), -1, False, (), False, True)
        assert hits == ([(0, True, (-1,))] if "ſ" in s else [(0, True, (1,))] if expected else []), s


# the characters Python's `lower()` or a case-insensitive class take to an ASCII letter (`redact._FOLDED_LETTERS`)


def test_only_four_characters_beyond_ascii_fold_to_what_the_probe_looks_for() -> None:
    """The compiled probe searches text beyond ASCII byte by byte, each such character one byte no word holds
    (`probe_text`); that finds what `word_found` finds in `s.lower()` only where no character beyond ASCII
    lowers to ASCII or is taken by the tail's case-insensitive class. Those it does not search are these four."""
    import sys

    run = re.compile(r"[a-z0-9._~+/=:%-]", re.I)
    folding = [
        chr(cp)
        for cp in range(0x80, sys.maxunicode + 1)
        if not 0xD800 <= cp <= 0xDFFF
        and (any(ord(x) < 128 or run.fullmatch(x) for x in chr(cp).lower()) or run.fullmatch(chr(cp)))
    ]
    assert "".join(folding) == FOLDING
    # and DuckDB's probe (RE2's case folding) takes no other to one either
    ((re2,),) = duckdb.sql(
        "SELECT list(chr(cp::INTEGER)) FROM range(128, 1114112) t(cp) WHERE NOT cp BETWEEN 55296 AND 57343 "
        "AND regexp_matches(chr(cp::INTEGER), '(?i)[a-z0-9._~+/=:%-]')"
    ).fetchall()
    assert set(re2) <= set(FOLDING)


_BEYOND = st.sampled_from(
    ["é", "ß", "µ", "ÿ", "日本", "→", "—", "\u00a0", "😀", "\U0010fffd", "Ω", "ĸ", *FOLDING]
)


@settings(max_examples=3000, deadline=None)
@given(
    st.lists(
        st.one_of(st.sampled_from([w.replace(TAIL, "") for w in trigger_words()] + ["Bearer ", "PASSWORD", "a5600ea6",
                                                                        "Secret", "x", "1", ":", " "]),
                  _BEYOND),
        max_size=10,
    ).map("".join)
)  # fmt: skip
def test_the_compiled_probe_finds_the_trigger_words_in_text_beyond_ascii(s: str) -> None:
    """Text beyond ASCII was flagged whole, and the redactor read it all in Python (a 200k-line export of
    `json.dumps` payloads: 1.3-2.8 s of its parse). Now each column's mask is the words `word_found` finds in
    `s.lower()`, but for text holding one of the four folding characters, still flagged whole (-1)."""
    from logcorr.rules.redact import word_found
    from logcorr.sources.fast import flag_rows

    flag = flag_rows()
    if flag is None:
        pytest.skip("the compiled fast path is not built")
    words = trigger_words()
    expected = sum(1 << k for k, w in enumerate(words) if word_found(w, s.lower()))
    hits = flag([(s, None)], (0, 1), words, -1, False, (), False, True)
    if any(c in s for c in FOLDING):
        assert hits == [(0, True, (-1, 0))], s
    else:
        assert hits == ([(0, True, (expected, 0))] if expected else []), s


@pytest.mark.parametrize("unit", ["auth:", "auth:a", "auth:1", ".auth:", "AUTH:"])
def test_many_tail_words_in_one_run_are_refused_in_linear_time(unit: str) -> None:
    """`auth:` 16,000 times (80,000 characters, one run with no digit, letter, digit in order) took
    `might_hold_secret` 10.8 s, `Redactor().text` 11.4 s and the compiled probe 0.5 s, quadratic: the run after each
    `auth:` was looked at to its end. 40,000 times here, in a child process killed after 20 s; the compiled probe
    and the Python one agree."""
    import subprocess
    import sys

    text = unit * 40000 + "x end"  # (not `auth: `, a word of its own)
    code = (
        "import sys; from logcorr.rules.redact import Redactor, might_hold_secret, trigger_words; "
        "from logcorr.sources.fast import flag_rows; t = sys.stdin.read(); m = might_hold_secret(t); "
        "f = flag_rows(); c = m if f is None else bool(f([(t,)], (0,), trigger_words(), -1, False, (), False, True)); "
        "Redactor().text(t); print('done', m, c)"
    )
    try:
        out = subprocess.run(
            [sys.executable, "-c", code], input=text, capture_output=True, text=True, timeout=20
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{unit!r} * 40000: not refused in 20 s")
    assert out.stdout.split()[:1] == ["done"], out.stderr
    _, python, compiled = out.stdout.split()
    assert python == compiled, out.stdout


def test_the_compiled_probe_refuses_many_tail_words_in_one_run_in_linear_time() -> None:
    """The compiled probe alone (the stager's, on every row): `auth:` 16,000 times took it 0.5 s, quadratic, so a
    line of a megabyte of them over a minute. 200,000 times (1 MB) here, in a child process killed after 20 s."""
    import subprocess
    import sys

    from logcorr.sources.fast import flag_rows

    if flag_rows() is None:
        pytest.skip("the compiled fast path is not built")
    code = (
        "import sys; from logcorr.rules.redact import trigger_words; from logcorr.sources.fast import flag_rows; "
        "t = sys.stdin.read(); print('done', flag_rows()([(t,)], (0,), trigger_words(), -1, False, (), False, True))"
    )
    try:
        out = subprocess.run(
            [sys.executable, "-c", code],
            input="auth:" * 200000 + "x",
            capture_output=True,
            text=True,
            timeout=20,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("'auth:' * 200000: not refused in 20 s")
    assert out.stdout.strip() == "done []", out.stdout + out.stderr


@pytest.mark.parametrize(
    "unit", ["pwd", "pass", "xtoken", "bearer", "secretkey-", "basic_auth:", "proxy_auth:"]
)
def test_a_megabyte_line_of_one_key_word_over_and_over_is_redacted_in_linear_time(unit: str) -> None:
    """A line that repeats a key word (one run of a key's characters): from each word the compiled `kv_near` read
    the run to its end (`pwd` 53,000 times, 160 KB: 3.9 s; a 1 MB line, the default record limit, some minutes),
    and the token tests after `basic_auth:` did the same (8,000 times, 88 KB: 13 s). A client can send such a
    line. 1 MB of each here, in a child process killed after 20 s (0.1-2.3 s now)."""
    _redacted_in_a_child_within_20_s((unit * (1_000_000 // len(unit) + 1))[:1_000_000], f"{unit!r} over 1 MB")


def _redacted_in_a_child_within_20_s(text: str, what: str) -> None:
    """`Redactor().text(text)` in a child process killed after 20 s: a hostile line stalls no test run."""
    import subprocess
    import sys

    code = "import sys; from logcorr.rules.redact import Redactor; t = sys.stdin.read(); Redactor().text(t); print('done')"
    try:
        out = subprocess.run(
            [sys.executable, "-c", code], input=text, capture_output=True, text=True, timeout=20
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what}: not redacted in 20 s")
    assert out.stdout.split() == ["done"], out.stderr


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("API key: " + "a" * 60 + "+", id="named-id"),
        pytest.param("token" + "Ab" * 40 + "Count: x", id="key-suffix-humps"),
        pytest.param("eyJ-" * 250_000, id="jwt-starts"),
        pytest.param("prod:" * 200_000 + "|", id="convex-key-starts"),
        pytest.param("ldap_auth:" * 800_000, id="ldap_auth-8MB"),
    ],
)
def test_the_worst_hostile_lines_found_by_the_bench_are_redacted_in_linear_time(text: str) -> None:
    """The worst cases `scripts/bench_redact.py` found: a spaced key's value of 60 letters refused at its end
    (`_NAMED_ID` split the letters every way: 36 took 3 s, each 4 more about 8 times that), a key with 40 camelCase
    humps (`_KEY_SUFFIX` tried 2 ** humps splits: 18 took 1.2 s), a JWT's or a Convex deploy key's start over and over
    in one run (read to its end from each: 100 KB in 5 s and 132 s; 1 MB here), and `ldap_auth:` over 8 MB, ingest's
    record limit (3.7 s a MB before, 0.5 s now). In a child process killed after 20 s."""
    _redacted_in_a_child_within_20_s(text, f"{text[:20]!r}… ({len(text):,} characters)")
