"""Redaction of secrets in messages, stacks and (nested) context — rule 1, applied before anything
is stored, fingerprinted or printed, including rejected lines.

Speed matters: this runs on every message, stack, context and metric. A case-insensitive regex
alternation costs Python's engine one attempt per alternative per character (tens of µs per line),
so each pattern group has literal trigger words, checked with `in` on the lower-cased text (about a
microsecond), and only the groups whose triggers occur run their regex. Replacements read
`[REDACTED:<kind>]`, and no pattern matches its own output, so redacting twice changes nothing.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson

from logcorr.rules.runsub import Starts, Sub, merged_sub
from logcorr.sources.fast import kv_near as _compiled_kv_near

MARK = "[REDACTED"

# (a name's two words joined by `_`, `-`, `.` or nothing: `api.key` is a key path as `api_key` is an env name)
_BASE_KEYS = (
    r"access[_.-]?token|refresh[_.-]?token|id[_.-]?token|auth[_.-]?token|session[_.-]?token|csrf[_.-]?token|"
    r"client[_.-]?secret|app[_.-]?secret|secret[_.-]?key|secret|passw(?:or)?d|pass[_.-]?word|passwd|pwd|pass[_.-]?phrase|"
    r"api[_.-]?key|apikey|x-api-key|private[_.-]?key|aws_secret_access_key|secret[_.-]?access[_.-]?key|account[_.-]?key|sharedaccesskey|"
    r"authorization|proxy-authorization|cookie|set-cookie|token|bearer"
)
# keys of a kind of key (a signing, encryption, master key): in text looked for by a group of their own (`key_kv`),
# run only where one of their trigger words is: each alternative more in `kv` cost every row holding "token"
_NAMED_KEYS = (
    r"auth[_.-]?key|signing[_.-]?key|encryption[_.-]?key|encrypt[_.-]?key|decryption[_.-]?key|decrypt[_.-]?key|"
    r"master[_.-]?key|hmac[_.-]?key|priv[_.-]?key|jwt[_.-]?key"
)
_SECRET_KEYS = _BASE_KEYS + r"|" + _NAMED_KEYS
# the keys `kv` looks for in text: those, and `credentials` (a context key of that name is secret-named by its
# stem, `_secret_in_name`; as a whole key it is not one of `_SECRET_KEYS`, whose values are replaced whatever
# they are: a `credentials` object is walked, its texts replaced, its numbers kept)
_TEXT_KEYS = _SECRET_KEYS + r"|credentials|credential"
# a name about a secret, not the secret: a count, a type, a lifetime, a name, an id (`token_count`, `max_tokens`,
# `secretName`). A context key ending in one is not secret-named (`_secret_in_name`), nor is a key in text
# that has words after its secret word (`SECRET_KEY_BASE=…` is one, `secret_count=3` is not: `_KEY_SUFFIX`)
_KEY_ABOUT = ("count", "counts", "type", "limit", "length", "tokens", "expiresin", "expiresat", "expiry", "expires",
              "ttl", "name", "id", "url", "uri", "path", "endpoint", "used", "usage", "max", "min", "header")  # fmt: skip
# a quote may be JSON-escaped (`\\"`) when a JSON text sits inside another JSON string (a raw line)
_Q = r"(?:\\{1,8}[\"']|[\"'])"
_NOT_MARK = r"(?!" + _Q + r"?\[REDACTED)"
# a value opened by an escaped quote runs to the next quote or backslash (its escaped closing quote)
_ESCAPED_VAL = r"\\{1,8}[\"'][^\"'\\]*+"
# between a key and its value: `:` or `=`, or `=>` / `:=` / `->` whole (`password => x`: the value is `x`, not
# `>`, and no part of the arrow is taken for the value when the rest is not one), with white space around
_SEP = r"\s*(?:=>|:=|->|=(?!>)|:(?!=))\s*"
# a scheme word before a credential (the value after it may be quoted: `Authorization: Token "…"`)
_SCHEME_WORD = r"(?i:(?:bearer|basic|digest|token)\s+)"
# A header's value (Cookie, Set-Cookie, Authorization, Proxy-Authorization) is all of it: quoted, up to its closing
# quote; unquoted, the rest of the line with its spaces, commas and semicolons (`Digest username="bob",
# response="…"`, `AWS4-HMAC-SHA256 Credential=…, Signature=…`), up to a quote that closes the string it sits in
# (`"Cookie: sid=…"` in JSON text, a quote escaped when that is inside JSON text again) or an escaped line break
# (`\n` in raw JSON): other escapes (`\t`, `\\`) are part of it. A quote right after `=` opens a quoted parameter
# (`response="…"`, in JSON `response=\"…\"`) when its closing quote is not followed by a word (in JSON
# `"Basic dXM=","level":…` the quote after `=` closes the string, the next one opens a key).
_ESCAPE = r"\\++(?=[^\"'rn\r\n])"
_HEADER_PARAM = r"(?<==)(?:\"[^\"\\\r\n]*\"|\\{1,8}\"[^\"\\\r\n]*\\{1,8}\")(?!\w)"
# where a value ends: a line break, a quote (escaped or not), an escaped line break, the end
_VALUE_END = r"[\r\n\"']|\\++(?=[\"'rn\r\n]|$)|$"


def _header_val(first: str, stop: str = "", lead: str = "") -> str:
    """A header's value: quoted, or unquoted from a character of the class `first` to where `_VALUE_END` or a
    character of `stop` is; after an optional `lead` (a scheme word: `Bearer "…"`, or `Bearer` across a line
    break). A value that is nothing but marks, after `lead` or not, is done (an earlier pattern's, or its own:
    `Bearer [REDACTED:jwt]` stays for `kv`, as before); a mark with more after it (`Cookie: [REDACTED:jwt];
    sid=…`, `Authorization: [REDACTED:bearer], …`) is not."""
    lead_opt = f"(?:{lead})?" if lead else ""
    mark = r"(?:" + lead_opt + r"\[REDACTED[^\]\s]*\]?[^\S\r\n]*)+"
    unquoted_end = _VALUE_END + (f"|[{stop}]" if stop else "")
    # … or marks and then white space: a scheme's credential is one word (`Bearer [REDACTED:bearer] {"page":…}`:
    # what follows is the log line's other arguments, not the header's; `[REDACTED:bearer],TAIL` goes on)
    only_mark = (
        r"(?!" + _Q + mark + r"(?:" + _VALUE_END + r")|" + mark + r"(?:" + unquoted_end + r"|(?<=[^\S\r\n])))"
    )
    escaped = r"\\{1,8}[\"'](?:[^\"'\\]++|" + _ESCAPE + r")*+"
    quoted = escaped + r"|\"(?:[^\"\\]|\\.)*\"|'[^']*'"
    text = first + r"(?:[^\r\n\"'\\" + stop + r"]++|" + _ESCAPE + r"|" + _HEADER_PARAM + r")*"
    return only_mark + lead_opt + r"(?:" + quoted + r"|" + text + r")"


# an Authorization value: not empty (`authorization=&next=1`), and not past an `&` (`?authorization=…&next=1`: no
# scheme's value holds one outside a quoted parameter)
_AUTH_VAL = _header_val(r"[^\s,;&}\])\"'\\]", "&", _SCHEME_WORD)

# First-character guards. Python's regex engine tries a pattern at every position of the text; where a
# pattern begins with a group of alternatives, each failed position costs the whole alternation. A match of
# `pair` starts with a quote or a backslash, a match of `kv` with one of those or a key's first letter: a
# lookahead for that character first changes no match and fails most positions in one test (on the 1M
# benchmark's flagged texts: `pair` 86-95 → 26 ms, `kv` 152-155 → 79 ms; tests/test_redact_triggers.py).
_QUOTE_FIRST = r"(?=[\\\"'])"
_KV_TEXT_KEYS = _BASE_KEYS + r"|credentials|credential"  # `kv`'s (`_NAMED_KEYS` are `key_kv`'s)
_KEY_FIRST = r"(?i:(?=[\\\"'" + "".join(sorted({k[0] for k in _KV_TEXT_KEYS.split("|")})) + r"]))"
_NAMED_FIRST = r"(?i:(?=[\\\"'" + "".join(sorted({k[0] for k in _NAMED_KEYS.split("|")})) + r"]))"
# `jwt` and `scheme` begin with `\b`, which keeps the engine from searching for their literal start: a match
# of `jwt` starts "eyJ", one of `scheme` with a b of either case (nothing else folds to b). Flagged texts of
# the 1M benchmark, whole lines: jwt 5.2 → 2.6 µs, scheme 14.8 → 5.8 µs
_JWT_FIRST = r"(?=eyJ)"
# a match of `authorization` starts with a quote, a backslash or the a of its key (nothing else folds to a);
# without this the pattern cost 10-15 µs a text in the 1M benchmark's (most hold `Authorization: Bearer …`)
_AUTH_FIRST = r"(?=[\\\"'aA])"
_SCHEME_FIRST = r"(?=[bB])"
# where a secret-named key may start: a word's start, after `_` (`DB_PASSWORD`), or at a camelCase hump
# (`apiSecret`); the hump is case-sensitive inside the case-insensitive pattern
_KEY_START = r"(?:\b|(?<=_)|(?-i:(?<=[a-z])(?=[A-Z])))"
# …and for `kv`, also right after other letters or digits when the secret word is one no English word ends in
# (`jwtsecret=…`, `oauthtoken=…`, `dbpassword=…`, `mycredentials: …`, as lower-case env names and query parameters
# join them; `monkey`, `hotkey`, `cwd` are not such words)
_KV_START = r"(?:" + _KEY_START + r"|(?<=[A-Za-z0-9])(?=(?i:token|secret|passw|credential)))"
# words after a secret word in a key of text, as env dumps and configs print them: `SECRET_KEY_BASE=…`,
# `DB_PASSWORD_PROD=…`, `credentials.json=…`, `apiSecretValue: …` (joined by `_`, `.`, `-` or a camelCase hump);
# not when the key ends in a word of `_KEY_ABOUT`, written whole or with its parts joined (`token_type=bearer`,
# `secret_count=3`, `access_token_expires_in=3600`: what a context key is not secret-named for either). The
# suffix is all or nothing: a shorter one is followed by another character of the key, not by `:`/`=`/`->`. So it is
# an atomic group: where the key is refused at its end, its shorter splits (`AbAb…`: each hump a part, or part of
# the one before) are not tried, 2 ** humps of them (`token` + 18 humps + `Count: x` took 1.2 s, 30 humps an hour)
_ABOUT_SPELLINGS = tuple(
    dict.fromkeys(
        w[: len(w) - 2] + join + w[len(w) - 2 :] if w in ("expiresin", "expiresat") else w
        for w in _KEY_ABOUT
        for join in ("", "_", "-", ".")
    )
)
_KEY_SUFFIX = r"(?>(?:[_.-][a-z0-9]+|(?-i:(?<=[a-z0-9])[A-Z][A-Za-z0-9]*))+)" + "".join(
    f"(?<!{re.escape(w)})" for w in _ABOUT_SPELLINGS
)
# …and, as in context (where a longer name's text is replaced, not its number or flag, and an object's texts
# are looked at one by one), not when the value is a bare number, `true`, `false` or `null`
# (`password_reset=true`, `secret_rotation_days=30`; `"30"` is text), or opens an object or a list
# (`{"credentials":{"user":…}}`: its keys are looked at on their own)
_NOT_PLAIN = (
    r"(?!" + _Q + r"?" + _SEP + r"(?:[{\[]|(?:true|false|null|-?\d+(?:\.\d+)?)(?:[\s,;&}\]\)\"'\\]|$)))"
)
# the key of `kv`: a secret-named key, with words after it or not; `credentials` (with words after it or not)
_KV_KEY = (
    r"(?:(?:" + _BASE_KEYS + r")(?:" + _KEY_SUFFIX + _NOT_PLAIN + r")?"
    r"|credentials?(?:" + _KEY_SUFFIX + r")?" + _NOT_PLAIN + r")"
)
_NAMED_KEY = r"(?:" + _NAMED_KEYS + r")(?:" + _KEY_SUFFIX + _NOT_PLAIN + r")?"

# A key that is an ordinary word (`pass`: "test pass", "bypass"): a key only as a whole word of a name (`pass`,
# `db_pass`, `smtpPass`; not `passenger`, `bypass`, `compass`), with no words after it, and its value replaced
# only when it can be a secret: not a bare number, `true`, `false`, `null`, an object or a list (`pass=3 fail=0`
# is a test count)
_WORD_SEP = r"\s*(?:=>|=(?!>)|:(?!=))\s*"
_PLAIN_VALUE = r"(?:[{\[]|(?:true|false|null|-?\d+(?:\.\d+)?)(?:[\s,;&}\]\)\"'\\]|$))"
_ANY_VALUE = r"(?:" + _ESCAPED_VAL + r"|\"(?:[^\"\\]|\\.)*\"|'[^']*'|[^\s,;&}\]\)\"'\\]+)"
# …nor a word that says how things are, not what the secret is (`pass: ok`, `pass: required`, `pass=***`)
_STATE_WORDS = ("ok", "yes", "no", "none", "required", "optional", "enabled", "disabled", "missing", "invalid",
                "valid", "failed", "success", "set", "unset", "empty", "hidden", "masked", "redacted")  # fmt: skip
_STATE_WORD = re.compile(r"(?i:" + "|".join(_STATE_WORDS) + r"|\*+)")
_NOT_STATE = r"(?!" + _Q + r"?(?i:" + "|".join(_STATE_WORDS) + r"|\*+)(?:[\s,;&}\]\)\"'\\]|$))"
_WORD_KV = (
    r"(?P<word_kv>(?P<wk_key>(?i:" + _Q + r"?" + _KEY_START + r"pass" + _Q + r"?)" + _WORD_SEP + r")"
    r"(?P<wk_val>" + _NOT_MARK + r"(?!" + _PLAIN_VALUE + r")" + _NOT_STATE + _ANY_VALUE + r"))"
)
_WORD_FIRST = r"(?i:(?=[\\\"'p]))"
# `auth` (`auth=…`, `"auth": "…"`, `basic_auth: …`, `X-Auth: …`; not `author`, `oauth`, `auth_method`), an English
# word and a Convex module (`auth:login`): its value replaced only when it looks like a credential, not a word
# (`auth: required`, `auth=ok`, `auth=true`): six characters or more of a token's alphabet with a digit, a
# lower-case letter before an upper-case one, or twenty of them. Its key is looked for where the probe looks:
# `auth=`, `auth =`, `auth: ` or `auth` and a quote (its trigger words). `auth:` with no space after it is most often
# a Convex function path (`auth:login`, `auth:signIn`, `"path":"auth:login"`, `[auth:verify2fa]`, in 3 % of the
# benchmark's lines), and a key so written mostly as Go prints a struct or a map (`{Auth:… User:bob}`, `{User:bob
# Auth:…}`, `map[auth:…]`): it is looked for only there, the key `auth` alone after `{`, a space, a tab or `map[`
# (the probe's words ` auth:`, `\tauth:`, `{auth:`, `map[auth:`, which flag no function path but one in prose), or at
# the start of a text or a line, after `[`, `(` or a quote, or after an escaped line break or tab of JSON text
# (`[auth:a5600ea6…]`, `"auth:a5600ea6…"`: the probe's word `auth:` + TAIL, found only before a value that can be
# one), and its value must look random, not like a name (`_RANDOM_LIKE`)
_TOKEN_CHARS = r"[A-Za-z0-9._~+/=:%-]"
# (each scan reads at most `_SCAN` characters: a line of `basic_auth:` 8,000 times over, one run of token
# characters, was scanned to its end from each `auth`, 13 s; a credential has its digit, hump or mix long before)
_SCAN = "{0,512}"
# (twenty of them tested first: a long run is taken at once, not read up to 512 for a digit and a hump first, as
# after each `basic_auth:` of a line of them)
_TOKEN_LIKE = (
    r"(?=" + _TOKEN_CHARS + r"{6})(?=" + _TOKEN_CHARS + r"{20}|[A-Za-z._~+/=:%-]" + _SCAN + r"+[0-9]|"
    + _TOKEN_CHARS + _SCAN + r"?[a-z][A-Z])"
)  # fmt: skip
# … eight characters or more of a token's alphabet with a digit, a letter and a digit again in that order: a
# random token's characters are mixed (`a5600ea69243…`, `muO6RvvB7fOH…`), a function's name is words with at most a
# number at its end or in one place (`migrate20240101`, `oauth2Callback`, `verify2fa`)
# (each run up to the next character wanted holds none of it: one way to match, tried in linear time; with
# `_TOKEN_CHARS*?` before each, a run with no such order, `auth:` + 800 digits + 800 letters, took 14 s to refuse)
# (possessive: a run holding none of the character after it is refused without giving back, one at a time)


def _random_like(letters: str) -> str:
    """`_RANDOM_LIKE` with `letters` (a class's inside) for its letters."""
    return (
        r"(?=[" + letters + r"0-9._~+/=:%-]{8})(?=[" + letters + r"._~+/=:%-]" + _SCAN + r"+[0-9][0-9._~+/=:%-]"
        + _SCAN + r"+[" + letters + r"][" + letters + r"._~+/=:%-]" + _SCAN + r"+[0-9])"
    )  # fmt: skip


# (it is looked for in the key of `auth_kv`, which is case-insensitive: its letters are ASCII's and the characters
# beyond that fold to them there, İ, ı, ſ and the Kelvin sign, written out and read case-sensitively: the engine folds
# each character it reads under (?i), and this reads up to 512 after each `auth:`; `proxy_auth:` over 100 KB took 1 s)
# the characters beyond ASCII that case folding takes to an ASCII letter (`lower()`, a case-insensitive class,
# RE2's (?i)); the probes read text holding one whole (`stage._flag_sql`, `probe_text` in `_fastparse.c`)
FOLDING = "\u0130\u0131\u017f\u212a"
_FOLDED_LETTERS = "A-Za-z" + FOLDING
_RANDOM_LIKE = r"(?-i:" + _random_like(_FOLDED_LETTERS) + r")"

# A probe word ending in TAIL is found only where a run of a token's characters follows it holding a digit, then a
# letter, then a digit (`auth:` + TAIL: `auth:a5600ea6…`, `[auth:muO6RvvB7fOH…`; not `auth:login`, `[auth:verify2fa]`,
# `auth:migrate20240101`): what `_RANDOM_LIKE` asks but its length, so the probe finds every such value and flags
# no Convex function path. The compiled probe (`_fastparse.c`, `tail_found`), DuckDB's (`stage._flag_sql`, by
# `tail_pattern`) and `might_hold_secret` alike
TAIL = "\x01"


def tail_pattern(word: str) -> str:
    """The case-insensitive regex (Python's and RE2's) of what follows a probe word ending in TAIL."""
    assert word.endswith(TAIL)
    # each run up to the next character wanted holds none of it (`_RANDOM_LIKE`'s): Python's regex tries it in
    # linear time (`[a-z0-9._~+/=:%-]*` before each took 4.6 s to refuse `auth:` + 800 digits + 800 letters)
    return r"[a-z._~+/=:%-]*[0-9][0-9._~+/=:%-]*[a-z][a-z._~+/=:%-]*[0-9]"


# the run `tail_pattern` looks at: every character any part of it takes
_TAIL_RUN = re.compile(r"[a-z0-9._~+/=:%-]*", re.I)


@functools.cache
def _tail_finder(word: str) -> Callable[[str], bool]:
    """`re.search(word[:-1] + tail_pattern(word), low, re.I) is not None`, in time linear in `low`'s length. The
    search tried the run after each place the word is, to its end: in `auth:auth:auth:…` each run holds the next
    ones, and a line of 80,000 such characters took 11 s. The run after a later place inside a run refused is a part
    of it, without a digit, a letter and a digit in order either: it is not looked at again."""
    head = re.compile(re.escape(word[:-1]), re.I)
    tail = re.compile(tail_pattern(word), re.I)

    def search(low: str) -> bool:
        refused = 0  # a run starting before this is part of one refused
        m = head.search(low)
        while m is not None:
            at = m.end()
            if at >= refused:
                if tail.match(low, at):
                    return True
                refused = _TAIL_RUN.match(low, at).end()  # type: ignore[union-attr]
            # (a place whose run would end before `refused` is skipped: each `auth:` of `_auth:_auth:…` was one loop)
            m = head.search(low, max(m.start() + 1, refused - len(word) + 1))
        return False

    # the answer for the text last asked about, kept with it (one tuple: threads may share it): `Redactor.text` asks
    # for the probe and again for `auth_kv`'s trigger words, and a line of `\tauth:` over and over is one loop a
    # place (0.35 s a MB)
    last: list[tuple[str | None, bool]] = [(None, False)]

    def found(low: str) -> bool:
        text, answer = last[0]
        if text is not low:
            answer = search(low)
            last[0] = (low, answer)
        return answer

    return found


def word_found(word: str, low: str) -> bool:
    """Whether the probe finds `word` in `low` (lower-case text): as a substring, or ending in TAIL, followed
    by its run (`tail_pattern`)."""
    if not word.endswith(TAIL):
        return word in low
    return word[:-1] in low and _tail_finder(word)(low)


def _guarded(look: str, bare: str = "") -> str:
    """A value that `look` (a lookahead) admits: quoted (`"…"`, `'…'`, `\\"…`) or bare, to where values end; a bare
    one admitted by `bare` too (a lookahead: `_NOT_QUANTITY`)."""
    return (
        r"\"" + look + r"(?:[^\"\\]|\\.)*\"|'" + look + r"[^']*'|\\{1,8}[\"']" + look + r"[^\"'\\]*+|"
        + bare + look + r"[^\s,;&}\]\)\"'\\]+"
    )  # fmt: skip


# … or, after a key naming a kind of auth (`basic_auth`, `proxy_auth`, `http_auth`: `auth` after `_`), a user and
# a password (`basic_auth: user:pass`, `basic_auth:bob:hunter2`): one `:` between two words, nothing after them. A
# Convex function path holds one `:` only (`basic_auth:login` stays), a `debug` namespace joins with `-`
# (`next-auth:session:update`), not `_`. Such a key with no space after its `:` is the probe's word `_auth:`
# The second word no state (`ldap_auth: bind:ok`, `client_auth: tls:required`, `{ twoFactorAuth: 'totp:enabled' }`)
_USER_PASS = (
    r"(?=[A-Za-z0-9._~+%@!$-]+:(?!(?i:" + "|".join((*_STATE_WORDS, "true", "false", "on", "off"))
    + r")(?:[\s,;&}\]\)\"'\\]|$))[^\s:,;&}\]\)\"'\\]+(?:[\s,;&}\]\)\"'\\]|$))"
)  # fmt: skip
# between `auth` and its value, unquoted: spaces or tabs and `=` or `=>` (`auth=`, `auth  =`, `auth\t=>`), spaces or
# tabs and `:` (`auth : x`, `auth\t: x`), or `:` and a space or a tab (`auth: x`); `auth:x` is a path (above)
_AUTH_SEP = r"[ \t]*=>?\s*|[ \t]+:(?!=)\s*|:[ \t]\s*"
# A word and a number of 1 to 3 digits after `auth` (`user:42`, `ip:3`) is an id or a count when the word names the
# kind of thing it numbers, as a namespaced key or an access rule's subject reads (`session_auth:user:42`,
# `rate_auth:ip:3`, `{"auth": "tenant:7"}`): such a pair is kept. With any other word it is a user and a password
# (`auth=bob:007`, `auth: admin:123`: Node's `http.request` option `auth` and `url.parse()`'s are `'user:password'`,
# and `123` is a password as weak ones are), as a number of 4 digits or more always was (`basic_auth:admin:1234`)
_ID_WORDS = ("user", "users", "uid", "id", "ip", "tenant", "org", "team", "account", "group", "role", "session",
             "client", "app", "project", "device", "node", "host", "customer", "member", "workspace")  # fmt: skip
_ID_PAIR = r"(?i:" + "|".join(_ID_WORDS) + r"):[0-9]{1,3}"
# After a key naming a scheme or protocol that signs in with a user and a password (`basic_auth`, `basicAuth`,
# `proxy_auth`, `Proxy-Auth`, `http_auth`, `smtp_auth`, …) the value is that pair, whatever its words: no id is kept
# (`basic_auth: root:123`, `proxy_auth:user:42` are replaced), and a pair of words is one too (`Proxy-Auth: bob:pw`)
_BASIC_KINDS = ("basic", "proxy", "http", "https", "digest", "smtp", "imap", "ftp", "ldap")
# (after `_` or `-`, or before `A`, first: most places `auth` is are neither. Possessive: where the value after the
# key is refused with `ak_basic` set, it is refused without it, a narrower test)
_BASIC_BEFORE = (
    r"(?P<ak_basic>(?<=[_-])(?:" + "|".join(rf"(?<={k}[_-])" for k in _BASIC_KINDS) + r")"
    + r"|(?-i:(?=A))(?:" + "|".join(rf"(?<={k})" for k in _BASIC_KINDS) + r"))?+"
)  # fmt: skip
_AUTH_LOOK = (
    r"(?(ak_basic)(?:" + _USER_PASS + r"|" + _TOKEN_LIKE + r")|"
    + r"(?!" + _ID_PAIR + r"(?:[\s,;&}\]\)\"'\\]|$))"
    + r"(?(ak_q)(?:" + _USER_PASS + r"|" + _TOKEN_LIKE + r")|" + _TOKEN_LIKE + r"))"
)  # fmt: skip
# (`auth:` with no space after it: after a space, a tab, `{` or `map[` as Go prints a struct or a map, its value
# random-like or quoted; at the start of a text or a line, after `[`, `(` or a quote, or after an escaped line break
# or tab of JSON text (`"auth:a5600ea6…"`, `\tauth:a5600ea6…`), random-like only: the probe's word `auth:` + TAIL)
_AUTH_KV = (
    r"(?P<auth_kv>(?P<ak_key>(?i:" + _BASIC_BEFORE
    + r"(?:(?P<ak_q>(?<=_)|(?-i:(?<=[a-z])(?=A)))auth(?:" + _Q + _WORD_SEP + r"|" + _AUTH_SEP + r"|:(?=" + _RANDOM_LIKE + r"|" + _USER_PASS
    + r"|\\{0,8}[\"']))"
    + r"|" + _Q + r"?" + _KEY_START + r"auth(?:" + _Q + _WORD_SEP + r"|" + _AUTH_SEP + r")"
    + r"|(?:(?<=[ \t{])|(?<=map\[))auth:(?=" + _RANDOM_LIKE + r"|\\{0,8}[\"'])"
    + r"|(?:^|(?<=[\n\[(\"'])|(?<=\\[nt]))auth:(?=" + _RANDOM_LIKE + r"))))"
    r"(?P<ak_val>" + _guarded(_AUTH_LOOK) + r"))"
)  # fmt: skip
_AUTH_KV_FIRST = r"(?i:(?=[\\\"'a]))"
# A bare number followed by a unit or the plural noun of what it counts is a quantity, not a code (`map pin = 1024
# entries`, `pin: 4096 bytes`, `mfa = 3000 ms`, "2FA code 1000 times"): a code is followed by what became of it (`PIN:0042
# accepted`, `pin = 1234 entered`, "mfa code 551177 accepted"), if by anything. A quoted value is not looked at
# (`"pin": "1024"`), nor one in context (a number has no word after it). A word followed by `=` or `:` is the next
# key of a logfmt line, not a unit (`otp=482913 attempts=1`, `pin=4821 ms=12`: redacted)
_COUNT_WORDS = ("entries", "entry", "items", "elements", "records", "rows", "slots", "buckets", "pages", "blocks",
                "lines", "keys", "values", "objects", "nodes", "files", "users", "requests", "calls", "retries",
                "attempts", "tries", "times", "steps", "cycles", "ticks", "frames", "samples", "bytes", "bits",
                "chars", "characters", "kb", "mb", "gb", "kib", "mib", "gib", "ms", "ns", "sec", "secs", "seconds",
                "min", "mins", "minutes", "hours", "days", "hz", "khz", "mhz", "rpm", "px")  # fmt: skip
_NOT_QUANTITY = r"(?![0-9]+[ \t]+(?i:" + "|".join(_COUNT_WORDS) + r")(?![A-Za-z0-9_]|[ \t]*[=:]))"
# …but after the key of a one-time code (`otp`, `mfa`, `2fa`, `verification code`, `backup code`: not `pin`, a GPIO or
# a memory pin too, nor a card's code) a number of 6 to 8 digits is the code whatever follows it: a one-time password
# is that long (RFC 4226, 6238), a count after such a key is not ("otp: 482913 times out in 30s": `times` is a verb
# there; "otp: 1000 times sent", "mfa = 3000 ms timeout" stay)
_NOT_QUANTITY_BUT_CODE = r"(?:(?=[0-9]{6,8}(?![0-9]|\.[0-9]))|" + _NOT_QUANTITY + r")"
# a one-time password in text (`otp=123456`, `"otpCode": "482913"`, `TOTP: 551177`, `user_otp=…`): the key a word
# of the name as in context (`_OTP_WORDS`; not `footprint`, `hotplug`, `otp_length`), the value a code, four
# characters or more of letters, digits and `-` with a digit among them (`otp: required`, `otp: 6` stay)
_CODE_LIKE = r"(?=[A-Za-z0-9-]{4})(?=[A-Za-z-]*[0-9])"
_OTP_KV = (
    r"(?P<otp_kv>(?P<ok_key>(?i:"
    + _Q
    + r"?"
    + _KEY_START
    + r"[th]?otp(?:[ _-]?code)?"
    + _Q
    + r"?)"
    + _WORD_SEP
    + r")(?P<ok_val>\""
    + _CODE_LIKE
    + r"(?:[^\"\\]|\\.)*\"|'"
    + _CODE_LIKE
    + r"[^']*'|\\{1,8}[\"']"
    + _CODE_LIKE
    + r"[^\"'\\]*+|"
    + _NOT_QUANTITY_BUT_CODE
    + _CODE_LIKE
    + r"[^\s,;&}\]\)\"'\\]+))"
)
_OTP_KV_FIRST = r"(?i:(?=[\\\"'oth]))"


# A two-word secret name split by a space in text (`API Key: …`, `secret key = …`, `Pass Word: …`, `private key: …`):
# English as often as a key ("API key: invalid", "access token: expired"), so its value is replaced only when it looks
# like a credential (`_TOKEN_LIKE`, as `auth`'s). Joined by `_`, `-`, `.` or nothing the name is `kv`'s (any value)
# A key of a kind (`API key`, `signing key`, `Encryption key`) is named by its algorithm or its id as often as it is
# shown (`Signing key: ed25519`, `Encryption key: AES-256-GCM`, `Master key: kms-key-1`, `API key: prod-key-01`):
# after those names a value that is words and at most one number (`_NAMED_ID`) stays; a key's bytes mix them
_SPACED_KEYS = ("api key", "private key", "account key", "auth key", "signing key", "encryption key", "encrypt key",
                "decryption key", "decrypt key", "master key", "hmac key", "priv key", "jwt key")  # fmt: skip
_SPACED_NAMES = ("access token", "refresh token", "id token", "auth token", "session token", "csrf token",
                 "client secret", "app secret", "secret key", "secret access key", "pass word", "pass phrase",
                 *_SPACED_KEYS)  # fmt: skip
# (written with one way to match each text: words of two letters or more, one of `-_.` between two and one at their
# end; `(?:[A-Za-z]{2,}[-_.]?)+` split a run of letters every way before refusing it, `API key: ` + 36 letters + `+`
# took 3 s, 50 letters hours)
_NAMED_ID = r"(?![A-Za-z]{2,}+(?:[-_.][A-Za-z]{2,}+)*+[-_.]?+[0-9]{0,5}+(?:[-_.][A-Za-z]{2,}+)*+(?![A-Za-z0-9._~+/=:%-]))"
_SPACED_KV = (
    r"(?P<spaced_kv>(?P<sk_key>(?i:" + _Q + r"?" + _KEY_START + r"(?:(?P<sk_kind>" + "|".join(_SPACED_KEYS) + r")|"
    + "|".join(n for n in _SPACED_NAMES if n not in _SPACED_KEYS) + r")" + _Q + r"?)"
    + _WORD_SEP + r")(?P<sk_val>(?(sk_kind)(?:" + _guarded(_NAMED_ID + _TOKEN_LIKE) + r")|(?:"
    + _guarded(_TOKEN_LIKE) + r"))))"
)  # fmt: skip
_SPACED_FIRST = r"(?i:(?=[\\\"'" + "".join(sorted({n[0] for n in _SPACED_NAMES})) + r"]))"

# A PIN, a one-time or recovery code, a card's security code (`pin=1234`, `"pin": "4821"`, `mfaCode: 123456`,
# `backup_code=ab12-cd34`, `Your verification code: 654321`, `cvv: 123`). The key: a word of the name as in context
# (`_code_key`): `pin`, `pin code`, `mfa`, `mfa code`, `2fa code`, `recovery code(s)`, `backup code(s)`, `verification
# code`, `security code`, `cvv`, `cvc` (`cvv2`, `cvc2`), their words joined by nothing, `_`, `-`, `.` or a space; not
# `spin`, `pinned`, `pin_count` (a name about the code: it is not its last word). `pin` is an English word: its key
# is looked for only as the probe's words find it, with `:`, `=` or a quote right after it (`pin=`, `PIN:`, `"pin"`),
# or spaces or tabs before `:` or `=` (`pin = 1234`, `PIN : 1234`, `pin  = 1234`, `pin\t= 1234`; the probe's words
# `pin =`, `pin :`, `pin  `, `pin \t`, `pin\t` see each). `2fa` alone is followed by a space, a tab, a quote or the
# separator (no probe word sees it before a line break).
# The value: a PIN 4 to 12 digits, a card code 3 or 4 (`pin: 3`, `pin: true`, a GPIO `pin: 13` stay); any other code
# 4 characters or more of letters, digits and `-` with a digit among them (as `otp`'s: `mfa: enabled` stays), and not
# a bare number under a plural name (`backup_codes: 10` is a count; `"backup_codes": "1234-5678"` is not); nor a
# bare number with a unit or a counted noun after it (`_NOT_QUANTITY`: `map pin = 1024 entries`)
_CODE_JOIN = r"[ _.-]?"
_DIGITS_END = r"(?![A-Za-z0-9_]|\.[0-9])"


def _digits(lo: int, hi: int) -> str:
    """A value of `lo` to `hi` digits, quoted or bare (not a quantity: `_NOT_QUANTITY`)."""
    d = r"[0-9]{" + f"{lo},{hi}" + r"}"
    return r"\"" + d + r"\"|'" + d + r"'|\\{1,8}[\"']" + d + r"(?=\\)|" + _NOT_QUANTITY + d + _DIGITS_END


# a plural name's value is a list of codes: bare, the codes after the first one each after `,`, `, ` or spaces
# (`backupCodes=ab12-cd34,ef56-gh78`, `recovery_codes: 1234-5678 2345-6789`), every one letters, digits and `-`
# with a digit (a word after the list is none: `… used`, `user_id=42`), or in brackets, quoted or not
# (`"backup_codes": ["ab12-cd34", "ef56-gh78"]`). A bare number is a count (`backup_codes: 10`); a code holding
# a `-` is none (`1234-5678`)
_CODE_ITEM = r"(?=[A-Za-z-]*[0-9])[A-Za-z0-9-]{4,}"
_MORE_CODES = r"(?:(?:[,;][ ]?|[ ]+)" + _CODE_ITEM + r"(?![^\s,;&}\]\)\"'\\]))*"
_QUOTED_CODE = (
    r"\"" + _CODE_ITEM + r"\"|'" + _CODE_ITEM + r"'|\\{1,8}\"" + _CODE_ITEM + r"\\{1,8}\"|" + _CODE_ITEM
)
# in brackets, after a first code, any item (`["ab12-cd34", "xyz"]` leaked whole) and a trailing comma
_ANY_ITEM = r"\"(?:[^\"\\]|\\.)*\"|'[^']*'|\\{1,8}\"[^\"\\]*\\{1,8}\"|" + _CODE_ITEM
_CODE_LIST = r"\[\s*(?:" + _QUOTED_CODE + r")(?:\s*,\s*(?:" + _ANY_ITEM + r"))*\s*,?\s*\]"
_COUNT_END = r"(?![A-Za-z0-9_-]|\.[0-9])"
# …but a number of 4 digits or more with more codes after it is the list's first (`recovery_codes: 12345678
# 87654321`, as Google's backup codes read)
_NUMBER_LIST = r"[0-9]{4,}(?:(?:,[ ]?|[ ]+)" + _CODE_ITEM + r"(?![^\s,;&}\]\)\"'\\]))+"
# a code's name with the word `code` in prose, and the code after a space or `is` (`2FA code 123456`, "Your
# verification code is 654321"): only digits, 4 to 12 ("2FA code sent", "MFA code 2 of 3", "backup code
# 2024-05-01" stay)
_PROSE_CODE = _NOT_QUANTITY + r"[0-9]{4,12}(?![A-Za-z0-9_-]|[.:][0-9])"
# (the same after a one-time code's name: `2FA code 482913 times out`)
_PROSE_OTP = _NOT_QUANTITY_BUT_CODE + r"[0-9]{4,12}(?![A-Za-z0-9_-]|[.:][0-9])"
_CODE_KV = (
    r"(?P<code_kv>(?P<ck2_key>(?i:" + _Q + r"?" + _KEY_START
    + r"(?:(?P<pin>pin(?:" + _CODE_JOIN + r"code)?(?:" + _Q + r"\s*(?=[:=])|(?=[ \t]*[:=])))"
    + r"|(?P<pin_prose>pin(?:[ ]code)?(?=[ ](?i:is:?)[ ][0-9]))"
    + r"|(?P<card>(?:cvv|cvc)2?|security" + _CODE_JOIN + r"code)"
    + r"|(?P<codes>(?:mfa|2fa|recovery|backup|verification)" + _CODE_JOIN + r"codes)"
    + r"|(?P<code1>(?:mfa|2fa|recovery|backup|verification)" + _CODE_JOIN + r"code)|mfa|2fa(?![^\S \t]))"
    + r"(?(pin)|(?(pin_prose)|" + _Q + r"?))" + r")"
    + r"(?:(?(pin_prose)(?!)|" + _WORD_SEP + r")|(?(code1)(?P<prose>[ ](?i:is:?[ ])?)|(?(pin_prose)(?P<pin_is>[ ](?i:is:?)[ ])|(?!)))))"
    + r"(?P<ck2_val>(?(prose)" + _PROSE_OTP + r"|(?(pin_is)" + _PROSE_CODE + r"|(?(pin)(?:" + _digits(4, 12) + r")|(?(card)(?:" + _digits(3, 4) + r")|"
    + r"(?(codes)(?:(?![0-9]+" + _COUNT_END + r")(?:" + _CODE_LIST + r"|" + _guarded(_CODE_LIKE) + _MORE_CODES + r")"
    + r"|" + _NUMBER_LIST + r")|"
    + r"(?:" + _guarded(_CODE_LIKE, _NOT_QUANTITY_BUT_CODE) + r"))))))))"
)  # fmt: skip
_CODE_FIRST = r"(?i:(?=[\\\"'pcsmb2rv]))"
# every spelling of a key of `_CODE_KV` contains one of these
_CODE_TRIGGERS = (
    "pin=", "pin:", 'pin"', "pin'", "pin\\", "pin =", "pin :", "pin  ", "pin \t", "pin\t", "pin is ", "pin is:", "pin code is",
    *(f"pin{j}" for j in ("_", "-", ".", " code", "code")), "mfa", "cvv",
    "cvc", "recovery", "verification",
    # `2fa` alone as `mfa` is (`2fa: 123456`, `{"2FA": "…"}`), by what follows it: "2fa" is in hex ids
    "2fa:", "2fa=", '2fa"', "2fa'", "2fa\\", "2fa ", "2fa\t",
    *(f"{w}{j}code" for w in ("2fa", "backup", "security") for j in ("", "_", "-", ".", " ")),
)  # fmt: skip

# every spelling of a secret-named key contains one of these
_KV_TRIGGERS = ("token", "secret", "pass", "pwd", "api_key", "api-key", "api.key", "apikey", "authorization",
                "cookie", "private_key", "private-key", "private.key", "privatekey", "bearer", "accountkey",
                "account_key", "account-key", "account.key", "sharedaccesskey")  # fmt: skip
# every spelling of a key of `_NAMED_KEYS` contains one of these
_NAMED_TRIGGERS = ("auth_key", "auth-key", "auth.key", "authkey", "signing", "encrypt", "decrypt", "master_key",
                   "master-key", "master.key", "masterkey", "hmac", "priv_key", "priv-key", "priv.key", "privkey",
                   "jwt_key", "jwt-key", "jwt.key", "jwtkey")  # fmt: skip
# `kv`'s: those and `credential` (`credentials: …`; a trigger of the probe already, for context keys)
_KV_TEXT_TRIGGERS = (*_KV_TRIGGERS, "credential")

# A JWT's first part is read to the end of its run of characters, a '.' being none of them (possessive: no shorter
# part is followed by one), and so is a Convex deploy key's name (a '|' after it): from a later start in the same run
# the part ends where it did and the same text follows, a shorter first part, so where the first start fails the
# later ones do (`runsub.Starts`: tried at each, `eyJ-` 25,000 times took 5 s, `prod:` 20,000 times and `|` 132 s)
_JWT = r"(?P<jwt>\beyJ[A-Za-z0-9_-]{4,}+\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{8,})"
_JWT_START = r"\beyJ[A-Za-z0-9_-]*+"
# (a preview or project key names its team and project: `preview:team:project|…`)
_CONVEX_START = r"\b(?:prod|dev|preview|project):[a-z0-9-]++(?::[a-z0-9-]++)*+"
_CONVEX_KEY = r"(?P<convex_deploy_key>" + _CONVEX_START + r"\|[A-Za-z0-9+/=_-]{20,})"

# (group, regex, lower-case trigger words: the regex can only match text containing one of them)
_GROUPS: list[tuple[str, str, tuple[str, ...]]] = [
    (
        "private_key",
        # (a PGP key is a `PRIVATE KEY BLOCK`)
        r"(?P<private_key>-----BEGIN [A-Z ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
        r"(?:-----END [A-Z ]*PRIVATE KEY(?: BLOCK)?-----|$))",
        ("private key",),
    ),
    (
        "jwt",
        _JWT_FIRST + _JWT,
        ("eyj",),
    ),
    (
        "url_credentials",
        # (not a user part that is a mark: `https://[REDACTED:url_credentials]@host` is done)
        r"(?P<url_credentials>(?P<url_user>(?<=://)(?!\[REDACTED)[^/\s:@\"']{0,128}:)"
        + _NOT_MARK
        + r"[^/\s@\"']{1,256}(?=@))",
        ("@",),  # user:password@host — the "@" is rarer than "://" (every page url has that)
    ),
    (
        "scheme",
        # a credential, not a word: some character in it is not a lower-case letter, or it is longer than
        # English words are ("Bearer authentication failed", "basic implementation" are English)
        _SCHEME_FIRST
        + r"(?:(?P<bearer>(?i:\bbearer)\s+"
        + _NOT_MARK
        + r"(?=[a-z]*[A-Z0-9._~+/=-]|[a-z]{20})[A-Za-z0-9._~+/=-]{8,})"
        r"|(?P<basic_auth>(?i:\bbasic)\s+"
        + _NOT_MARK
        + r"(?=[a-z]*[A-Z0-9+/=]|[a-z]{20})[A-Za-z0-9+/]{12,}={0,2}))",
        ("bearer", "basic"),
    ),
    (
        "provider",
        r"(?P<anthropic_key>\bsk-ant-[a-z0-9]+-[A-Za-z0-9_-]{20,})"
        r"|(?P<openrouter_key>\bsk-or-v1-[A-Fa-f0-9]{32,})"
        r"|(?P<openai_key>\bsk-(?:proj-)?[A-Za-z0-9_-]{20,})"
        r"|(?P<stripe_key>\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{10,})"
        r"|(?P<webhook_secret>\bwhsec_[A-Za-z0-9+/=]{16,})"
        r"|(?P<github_token>\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,}))"
        r"|(?P<aws_access_key>\b(?:AKIA|ASIA)[0-9A-Z]{16}\b)"
        r"|(?P<google_api_key>\bAIza[0-9A-Za-z_-]{35})"
        r"|(?P<google_oauth_token>\bya29\.[0-9A-Za-z_-]{20,})"
        r"|(?P<slack_token>\bxox[abposr]-[0-9A-Za-z-]{10,}|\bxapp-\d-[0-9A-Za-z-]{10,})"
        r"|(?P<slack_webhook>hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]{20,})"
        r"|(?P<sendgrid_key>\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{20,})"
        r"|(?P<npm_token>\bnpm_[A-Za-z0-9]{30,})"
        r"|" + _CONVEX_KEY,
        (
            "sk-",
            "_live_",
            "_test_",
            "whsec_",
            "ghp_",
            "gho_",
            "ghu_",
            "ghs_",
            "ghr_",
            "github_pat_",
            "akia",
            "asia",
            "aiza",
            "ya29.",
            "xox",
            "xapp-",
            "hooks.slack.com",
            "sg.",
            "npm_",
            "|",
        ),
    ),
    (
        # more tokens known by their prefix, a group of its own: each alternative more in `provider` cost every
        # row holding one of its trigger words ("|", "sk-", "_test_")
        "token_prefix",
        # GitLab's tokens by their prefixes (personal, deploy, runner, trigger, OAuth app, CI job, feed, mail,
        # agent, SCIM, feature-flag client), GitHub's are above
        r"(?P<gitlab_token>\bgl(?:pat|dt|rt|ptt|oas|cbt|ft|imt|agent|soat|ffct)-[0-9A-Za-z_.-]{20,})"
        r"|(?P<huggingface_token>\b(?:hf|api_org)_[A-Za-z0-9]{30,})"
        r"|(?P<shopify_token>\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32})"
        r"|(?P<pypi_token>\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,})"
        r"|(?P<doppler_token>\bdp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9_.-]{40,})"
        r"|(?P<linear_key>\blin_api_[A-Za-z0-9]{40,})"
        r"|(?P<mailgun_key>\bkey-[0-9a-f]{32}\b)"
        r"|(?P<age_secret_key>\bAGE-SECRET-KEY-1[0-9A-Z]{58})"
        r"|(?P<discord_webhook>discord(?:app)?\.com/api/webhooks/\d+/[A-Za-z0-9_-]{20,})"
        # Vercel's prefixed credentials: personal, integration, app access and refresh tokens, API keys
        r"|(?P<vercel_token>\bvc[piark]_[A-Za-z0-9]{20,})"
        # Google's OAuth refresh tokens (`1//0` and base64url, about 100 characters), printed bare by `gcloud` and
        # token dumps; the access token (`ya29.`) is `provider`'s
        r"|(?P<google_refresh_token>(?<![A-Za-z0-9/])1//0[A-Za-z0-9_-]{30,})",
        (
            "glpat-",
            "gldt-",
            "glrt-",
            "glptt-",
            "gloas-",
            "glcbt-",
            "glft-",
            "glimt-",
            "glagent-",
            "glsoat-",
            "glffct-",
            "hf_",
            "api_org_",
            "shpat_",
            "shpca_",
            "shppa_",
            "shpss_",
            "pypi-ageichlwas5vcmc",
            "dp.pt.",
            "dp.st.",
            "dp.sa.",
            "dp.ct.",
            "dp.scim.",
            "dp.audit.",
            "lin_api_",
            "key-",
            "age-secret-key-1",
            "/api/webhooks/",
            "vcp_",
            "vci_",
            "vca_",
            "vcr_",
            "vck_",
            "1//0",
        ),
    ),
    (
        # a URL's user part with no password that is a token, as git remotes print them
        # (`https://<token>@github.com/…`): 20 characters or more of a token's alphabet, a digit among them. A
        # name is shorter, or has no digit, or has a character tokens do not (`git@`, `deploy-bot@`, `ann.lee@`);
        # a token a provider pattern knows (`ghp_…`) is that pattern's, run first
        "url_token",
        r"(?P<url_token>(?<=://)(?=[A-Za-z0-9_-]*[0-9])[A-Za-z0-9_-]{20,256}(?=@))",
        ("@",),
    ),
    (
        # a Cookie / Set-Cookie header's whole value (every cookie in it), quoted or to the end of the line
        "cookie",
        r"(?P<cookie>(?P<ck_key>(?i:" + _Q + r"?\b(?:set-)?cookies?" + _Q + r"?)" + _SEP + r")"
        r"(?P<ck_val>" + _header_val(r"[^\s\"'\\]", "") + r"))",
        ("cookie",),
    ),
    (
        # an Authorization / Proxy-Authorization header's whole value, whatever its scheme (Bearer and Basic
        # credentials alone are `scheme`'s, run first; Digest, AWS4-HMAC-SHA256, Token … are this one's)
        "authorization",
        _AUTH_FIRST
        + r"(?P<authorization>(?P<au_key>(?i:"
        + _Q
        + r"?"
        + _KEY_START
        + r"authorization"
        + _Q
        + r"?)"
        + _SEP
        + r")(?P<au_val>"
        + _AUTH_VAL
        + r"))",
        ("authorization",),
    ),
    (
        # a header written as a pair in JSON text: ["Cookie", "sid=…"] or {"name": "Authorization", "value": "…"}
        # (a headers object logged as a console argument, HAR entries; header names: not `_NAMED_KEYS`, whose
        # alternatives cost each of the many rows this runs on and which no header is named)
        "pair",
        _QUOTE_FIRST
        + r"(?P<pair>(?P<pair_key>"
        + _Q
        + r"(?i:name|key)"
        + _Q
        + r"\s*:\s*"
        + _Q
        + r"(?i:"
        + _BASE_KEYS
        + r")"
        + _Q
        + r"\s*,\s*"
        + _Q
        + r"value"
        + _Q
        + r"\s*:\s*"
        r"|" + _Q + r"(?i:" + _BASE_KEYS + r")" + _Q + r"\s*,\s*)"
        r"(?P<pair_val>"
        + _NOT_MARK
        + r"(?:"
        + _ESCAPED_VAL
        + r"|\"(?:[^\"\\]|\\.)*\"|'[^']*'))"
        # not when the "value" is itself a key (`"Authorization", "value": …` is the HAR form's middle)
        + r"(?!"
        + _Q
        + r"?\s*:))",
        _KV_TRIGGERS,
    ),
    ("spaced_kv", _SPACED_FIRST + _SPACED_KV, _SPACED_NAMES),
    (
        "kv",
        # the key starts a word, or a part of one: `DB_PASSWORD=…`, `JWT_SECRET: …`, `{ apiSecret: '…' }`
        _KEY_FIRST + r"(?P<kv>(?P<kv_key>(?i:" + _Q + r"?" + _KV_START + _KV_KEY + _Q + r"?)" + _SEP + r")"
        r"(?P<kv_val>"
        + _NOT_MARK
        + _SCHEME_WORD
        + r"?"
        + _NOT_MARK
        + r"(?:"
        + _ESCAPED_VAL
        + r"|\"(?:[^\"\\]|\\.)*\"|'[^']*'|[^\s,;&}\]\)\"'\\]+)))",
        _KV_TEXT_TRIGGERS,
    ),
    (
        # `kv` for the keys of `_NAMED_KEYS` (`SIGNING_KEY=…`, `{ authKey: '…' }`)
        "key_kv",
        _NAMED_FIRST
        + r"(?P<key_kv>(?P<kk_key>(?i:"
        + _Q
        + r"?"
        + _KEY_START
        + _NAMED_KEY
        + _Q
        + r"?)"
        + _SEP
        + r")"
        r"(?P<kk_val>" + _NOT_MARK + _SCHEME_WORD + r"?" + _NOT_MARK + _ANY_VALUE + r"))",
        _NAMED_TRIGGERS,
    ),
    ("word_kv", _WORD_FIRST + _WORD_KV, ("pass",)),
    (
        # capability urls: presigned S3 / GCS signatures, Azure SAS `sig`, OAuth authorization codes —
        # only as query parameters, where the name cannot mean anything else
        "signed_url",
        r"(?P<signed_url>(?P<su_key>(?<=[?&])(?i:x-amz-signature|x-amz-security-token|x-amz-credential|"
        r"x-goog-signature|x-goog-credential|signature|sig|code|auth)=)" + _NOT_MARK + r"[^&\s#\"'\\<>]{6,})",
        ("signature=", "sig=", "x-amz-", "x-goog-", "code=", "auth="),
    ),
    (
        "auth_kv",
        _AUTH_KV_FIRST + _AUTH_KV,
        (
            "auth=",
            "auth =",
            "auth :",
            "auth  ",
            "auth \t",
            "auth\t",
            "auth: ",
            "auth:\t",
            " auth:",
            "\tauth:",
            "{auth:",
            "map[auth:",
            "_auth:",
            # `auth:` anywhere (at the start of a text, `[auth:…`, `(auth:…`) before a credential-like value only
            "auth:" + TAIL,
            'auth"',
            "auth'",
            "auth\\",
        ),
    ),
    ("otp_kv", _OTP_KV_FIRST + _OTP_KV, ("otp",)),
    ("code_kv", _CODE_FIRST + _CODE_KV, _CODE_TRIGGERS),
]

# a cheaper test each match of a group passes: where it fails the group is not run. Every `kv` match holds a key
# ending in one of these words, its `:`, `=` or `->`, and after the white space there (a value never starts with it)
# no mark; every `pair` match a comma and a quote. In the 1M benchmark the two groups ran on 8 % of the rows
# (their trigger words are common: "token", "bearer"; mostly already redacted by then), changed 1 in 70, and
# took a tenth of a parse worker's time
_KEY_ENDS = (
    "token",
    "secret",
    "key",
    "pwd",
    "pass",
    "authorization",
    "cookie",
    "bearer",
    "credential",
)
# the same first-character guard as `kv`'s (without it this test cost more than the pattern)
_ENDS_FIRST = r"(?i:(?=[" + "".join(sorted({w[0] for w in _KEY_ENDS})) + r"]))"
# `_KV_NEAR`'s parts, which `_kv_near` also uses one by one: a key word, the run of a key's characters after
# it, and what must follow
_KV_WORD_RX = r"(?i:" + "|".join(_KEY_ENDS) + r")"
_KV_TAIL_RX = _Q + r"?\s*(?:[:=]|->)\s*+" + _NOT_MARK
_KV_NEAR = re.compile(_ENDS_FIRST + _KV_WORD_RX + r"(?i:[a-z0-9_.-]*)" + _KV_TAIL_RX)
_KV_WORD = re.compile(_KV_WORD_RX)
_KV_RUN = re.compile(r"(?i:[a-z0-9_.-]*+)")
_KV_TAIL = re.compile(_KV_TAIL_RX)


def _kv_near(s: str) -> bool:
    """`_KV_NEAR.search(s) is not None`, in linear time: the regex reads the run of a key's characters after a key
    word to its end and back again from each word in it, so a line repeating a key word took it cubic time (21 KB
    of `pwd` after an `é`: 4.9 s; the compiled `kv_near`, ASCII only, did it in linear time). What may follow the
    run can begin only where it ends, or at its last character when that is the `-` of `->` (no character of the
    run begins the rest); a word that ends inside a run already looked at ends where it ends."""
    looked = -1
    for m in _KV_WORD.finditer(s):
        end = m.end()
        if end <= looked:
            continue
        run = _KV_RUN.match(s, end).end()  # type: ignore[union-attr]  # (`*+` matches everywhere)
        if _KV_TAIL.match(s, run) or (run > end and s[run - 1] == "-" and _KV_TAIL.match(s, run - 1)):
            return True
        looked = run
    return False


def _kv_may_match() -> Callable[[str], object]:
    """`_kv_near` (`_KV_NEAR` in linear time), or where the fast path is built its compiled form for ASCII text
    (`_kv_near` for the rest): in the 1M benchmark it ran on 27,764 texts per six shards and passed 395, at 3.1 µs
    a text."""
    search = _kv_near
    near = _compiled_kv_near()
    if near is None:
        return search

    def may(s: str) -> object:
        found = near(s)
        return search(s) if found is None else found

    return may


# what follows an Authorization key in a match of `authorization`: most texts that hold one hold it with a value
# already replaced whole (`Authorization: [REDACTED:bearer]`, by `scheme`), where the pattern found nothing in
# 2.5 µs a text (the 1M benchmark's, 109 characters on average); this test looks at each key only, in 0.5 µs
_AUTH_TAIL = re.compile(_Q + r"?" + _SEP + _AUTH_VAL)


def _auth_may_match(s: str) -> bool:
    """False when `authorization` cannot match `s` (an ASCII text: the pattern's case folding could find the key
    where `str.lower` does not, in other text)."""
    if not s.isascii():
        return True
    low = s.lower()
    at = low.find("authorization")
    while at >= 0:
        if _AUTH_TAIL.match(s, at + 13):
            return True
        at = low.find("authorization", at + 13)
    return False


_MAY_MATCH: dict[str, Callable[[str], object]] = {
    "kv": _kv_may_match(),
    "key_kv": _kv_may_match(),  # its keys end in "key"
    # `pass`, a quote (escaped or not), white space and `:` or `=`: most rows holding "pass" hold "password"
    "word_kv": re.compile(r"(?i:pass)[\\\"']{0,9}\s*[:=]").search,
    "authorization": _auth_may_match,
    "pair": lambda s: "," in s and ('"' in s or "'" in s),
    # a space, a name's second word, a quote or not, white space and `:` or `=`: most rows holding "token" hold no
    # name of two words
    "spaced_kv": re.compile(r"(?i) (?:token|secret|key|word|phrase)[\\\"']{0,9}\s*[:=]").search,
}
_COMPILED: list[tuple[re.Pattern[str], tuple[str, ...], Callable[[str], object] | None]] = [
    (re.compile(rx), tr, _MAY_MATCH.get(name)) for name, rx, tr in _GROUPS
]
# the groups replaced in linear time by `runsub` (`_JWT`, `_CONVEX_KEY`: the last of `provider`'s alternatives), the
# others by their regex's `sub`
_PROVIDER = next(rx for name, rx, _ in _GROUPS if name == "provider")
assert _PROVIDER.endswith("|" + _CONVEX_KEY)
_LINEAR_SUBS: dict[str, Sub] = {
    "jwt": merged_sub([Starts(re.compile(_JWT_FIRST + _JWT), re.compile(_JWT_START))]),
    "provider": merged_sub([
        re.compile(_PROVIDER[: -len("|" + _CONVEX_KEY)]).search,
        Starts(re.compile(_CONVEX_KEY), re.compile(_CONVEX_START)),
    ]),
}  # fmt: skip
_SUBS: list[Sub] = [
    _LINEAR_SUBS.get(name, rx.sub) for (name, _, _), (rx, _, _) in zip(_GROUPS, _COMPILED, strict=True)
]
# A key of a context object is secret-named (its value replaced whole, `Redactor.value`) when it is one of
# `_SECRET_KEYS` (each spelling holds a `_KV_TRIGGERS` word), or its letters and digits hold a stem of
# `_KEY_STEMS` (`_secret_in_name`). The stager looks at a row only when its text holds a trigger word, so the
# stems are trigger words too, each as it is written in a key: a stem of two words joined by nothing, `_`, `-`,
# `.` or a space (`api.key`, `Pass Word`), camelCase folded. A `credentials` object alone was stored as it came
# (no trigger word in it). Not looked for: a stem split elsewhere (`to_ken`), or by another character
_KEY_STEM_WORDS: tuple[tuple[str, ...], ...] = (
    ("pass", "word"), ("passwd",), ("pass", "phrase"), ("secret",), ("token",), ("api", "key"), ("private", "key"), ("account", "key"),
    ("authorization",), ("cookie",), ("bearer",), ("credential",), ("auth", "key"), ("signing", "key"),
    ("encryption", "key"), ("encrypt", "key"), ("decryption", "key"), ("decrypt", "key"), ("master", "key"),
    ("hmac", "key"), ("priv", "key"), ("jwt", "key"),
)  # fmt: skip
_KEY_STEMS = tuple("".join(words) for words in _KEY_STEM_WORDS)
_KEY_JOINS = ("", "_", "-", ".", " ")
# a one-time password's key (`otp`, `otpCode`, `TOTP`; `one_time_password` holds a stem) is a word of the name,
# not a stem: "otp" is inside `footprint`, `rootPath`, `hotplug`. Its trigger word "otp" flags those rows too
_OTP_WORDS = frozenset(("otp", "totp", "hotp"))
_NAME_TRIGGERS = ("pwd", "otp", *(join.join(words) for words in _KEY_STEM_WORDS for join in _KEY_JOINS))
_GROUP_TRIGGERS = tuple(dict.fromkeys(t for _, _, tr in _GROUPS for t in tr))
# The probe's words (one list, derived): every group's trigger words and every name trigger, less each that holds
# another of them (`pass_word` holds `passw`, `private key-----` holds `private key`): a text holding the longer
# one holds the shorter, so the probe flags the same rows with fewer words (the compiled probe takes up to 192:
# `WORDS_MAX` in _fastparse.c)
_WANTED_TRIGGERS = tuple(dict.fromkeys((*_GROUP_TRIGGERS, *_NAME_TRIGGERS)))
_ALL_TRIGGERS: tuple[str, ...] = tuple(
    w for w in _WANTED_TRIGGERS if not any(t != w and t in w for t in _WANTED_TRIGGERS)
)


def _common_start(words: list[str]) -> str:
    start = words[0]
    for w in words[1:]:
        while not w.startswith(start):
            start = start[:-1]
    return start


def _nested_test(words: list[str], extra: tuple[str, ...] = ()) -> tuple[str, int]:
    """`any(w in low for w in (*words, *extra))` for words sharing a start (`_common_start`) and words holding it
    (`extra`), and how many `in` tests a text holding none of them costs. Each `in` scans the text, so three tests or
    more are made behind their common start, and within it each set sharing a longer start the same way (`'auth' in
    low and ('authorization' in low or … or ' auth:' in low)`); fewer are made as they are (`'basic' in low or
    ('backup' in low and (…))`)."""
    start = _common_start(words)
    if start in words and not extra:  # every other word holds it
        return f"{start!r} in low", 1
    tests = [f"{w!r} in low" for w in (*words, *extra)]
    if len(tests) < 3 or len(start) < 2:
        return " or ".join(tests), len(tests)
    by_next: dict[str, list[str]] = {}
    for w in words:
        by_next.setdefault(w[: len(start) + 1], []).append(w)
    if start in words:
        parts = [(f"{start!r} in low", 1)]
    elif len(by_next) == 1 and _common_start(words) != start:
        return _nested_test(words, extra)
    elif len(by_next) == 1:
        parts = [(t, 1) for t in tests[: len(words)]]
    else:
        parts = [_nested_test(group) for group in by_next.values()]
    parts += [(f"{w!r} in low", 1) for w in extra]
    inner = " or ".join(p for p, _ in parts)
    cost = sum(n for _, n in parts)
    if cost < 3:
        return inner, cost
    return f"({start!r} in low and ({inner}))", 1


def _any_trigger_source(words: tuple[str, ...]) -> str:
    """One expression of `in` tests (much faster than a regex alternation or a generator), words sharing their
    first two letters tested behind their common start (`'auth' in low and ('auth=' in low or …)`, `_nested_test`),
    and so are the words of a set of one or two that hold such a start of four letters or more (` auth:`, `map[auth:`
    behind `auth`): each `in` scans the text, and most texts hold no such start (109 words tested one by one cost
    10 µs a line more than 59 did, on the 1M benchmark's lines)."""
    by_start: dict[str, list[str]] = {}
    for w in words:
        by_start.setdefault(w[:2], []).append(w)
    hosts = {k: _common_start(g) for k, g in by_start.items() if len(g) >= 3}
    extra: dict[str, list[str]] = {k: [] for k in by_start}
    for k, group in by_start.items():
        for w in list(group) if k not in hosts or len(hosts[k]) < 4 else ():
            host = next((h for h, st in hosts.items() if h != k and len(st) >= 4 and st in w), None)
            if host is not None:
                group.remove(w)
                extra[host].append(w)
    return " or ".join(_nested_test(g, tuple(extra[k]))[0] for k, g in by_start.items() if g)


def _build_any_trigger(words: tuple[str, ...]) -> Callable[[str], bool]:
    """`any(word_found(w, low) for w in words)`, as one expression (`_any_trigger_source`). A word ending in TAIL is
    grouped as the others are (behind `'auth' in low`), its test `in` replaced by its regex's."""
    body = _any_trigger_source(words)
    ns: dict[str, Any] = {}
    for k, w in enumerate(w for w in words if w.endswith(TAIL)):
        ns[f"tail{k}"] = _tail_finder(w)
        assert body.count(f"{w!r} in low") == 1, w
        body = body.replace(f"{w!r} in low", f"tail{k}(low)")
    exec(f"def any_trigger(low):\n    return {body}\n", ns)  # built from our own literals
    fn: Callable[[str], bool] = ns["any_trigger"]
    return fn


_any_trigger = _build_any_trigger(_ALL_TRIGGERS)
# each pattern with the test of its own trigger words, for `Redactor.text` (tested before its cheaper test)
_TEXT_GROUPS = [
    (sub, _build_any_trigger(tr), may) for sub, (_, tr, may) in zip(_SUBS, _COMPILED, strict=True)
]
# each pattern with its trigger words as bits of `_ALL_TRIGGERS` (bit k: word k), for `Redactor.text_masked`: the
# probe's words inside its trigger words (`private key` for `private key-----`). Where one is found but not the
# trigger word the pattern runs and finds nothing, as it would have
_MASKED: list[tuple[Sub, int, Callable[[str], object] | None]] = [
    (sub, sum(1 << k for k, w in enumerate(_ALL_TRIGGERS) if any(w in t for t in tr)), may)
    for sub, (_, tr, may) in zip(_SUBS, _COMPILED, strict=True)
]
_KEY_RX = re.compile(r"(?i)^(?:" + _SECRET_KEYS + r")$")
# a key that names a secret inside a longer name (`db_password`, `X-Auth-Token`, `stripeSecretKey`,
# `UPSTASH_REDIS_REST_TOKEN`): its letters and digits hold one of `_KEY_STEMS` (above, with the trigger words)
# … unless the name says it is about the secret, not the secret (`_KEY_ABOUT`)
_NOT_ALNUM = re.compile(r"[^a-z0-9]")


# the words of a key: `userOtpCode` → user Otp Code, `OTPSecret` → OTP Secret, `otp_2` → otp 2
_KEY_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def _secret_in_name(key: str, holds: bool = False) -> bool:
    """Whether `key` names a secret as part of a longer name (see `_KEY_STEMS`), or a one-time password
    (`_OTP_WORDS`); its string value is the secret. `holds`: the value is an object or list, whose texts are
    the secrets under a plural name too (`tokens: {access: …}`; `tokens: 5` is a count)."""
    k = _NOT_ALNUM.sub("", key.lower())
    if k.endswith("pwd"):
        return True
    named = any(stem in k for stem in _KEY_STEMS) or (
        "otp" in k and not _OTP_WORDS.isdisjoint(w.lower() for w in _KEY_WORDS.findall(key))
    )
    return named and (not k.endswith(_KEY_ABOUT) or (holds and k.endswith("tokens")))


def _word_key_secret(key: str, x: Any) -> bool:
    """Whether `x` under `key` is a secret by the rule of `_WORD_KV` or `_AUTH_KV`: `key`'s last word is `pass`
    (`pass`, `db_pass`, `smtpPass`; not `passenger`, `bypass`) and `x` a text that is not a state word (`ok`,
    `required`), or it is `auth` (`auth`, `basicAuth`; not `oauth`, `author`) and `x` looks like a credential."""
    if not isinstance(x, str) or not _replaceable(x):
        return False
    low = key.lower()
    if "pass" not in low and "auth" not in low:
        return False
    words = _KEY_WORDS.findall(key)
    last = words[-1].lower() if words else ""
    if last == "pass":
        return _STATE_WORD.fullmatch(x) is None
    # (after a kind of auth, `basic_auth`, `proxyAuth`, a user and a password too: `user:pass`; after one that signs
    # in with a user and a password, `basic_auth`, `proxyAuth`, `X-Proxy-Auth`, even one that reads as an id, `_BASIC_KINDS`)
    if last != "auth":
        return False
    basic = len(words) > 1 and words[-2].lower() in _BASIC_KINDS
    return (basic or _ID_PAIR_VALUE.fullmatch(x) is None) and (
        _TOKEN_VALUE.match(x) is not None or (len(words) > 1 and _USER_PASS_VALUE.match(x) is not None)
    )


_TOKEN_VALUE = re.compile(_TOKEN_LIKE)
_USER_PASS_VALUE = re.compile(_USER_PASS)
_ID_PAIR_VALUE = re.compile(_ID_PAIR)


def _otp_key(key: str) -> bool:
    """A one-time password's own key (`otp`, `TOTP`, `one_time_password`): its value is the code, a number too."""
    return _NOT_ALNUM.sub("", key.lower()) in _OTP_KEYS


_OTP_KEYS = frozenset(("otp", "totp", "hotp", "onetimepassword", "otpcode"))

# the names of `_CODE_KV` as the last words of a key, joined (`userPin` → pin, `2fa_code` → 2facode), and the rule
# for their values
_CODE_NAMES = {
    "pin": "pin", "pincode": "pin", "cvv": "card", "cvc": "card", "cvv2": "card", "cvc2": "card",
    "securitycode": "card", "mfa": "code", "2fa": "code", "mfacode": "code", "2facode": "code", "recoverycode": "code",
    "backupcode": "code", "verificationcode": "code", "mfacodes": "codes", "2facodes": "codes",
    "recoverycodes": "codes", "backupcodes": "codes", "verificationcodes": "codes",
}  # fmt: skip
_CODE_VALUE = re.compile(r"[A-Za-z0-9-]{4,}")


def _code_key(key: str) -> str | None:
    """The rule of a key of `_CODE_KV` (`pin`, `card`, `code`, `codes`), or None: its last one, two or three words
    joined (`card_cvv`, `mfaCode`, `2fa_code`, `Backup Codes`; not `spinner`, `pin_count`, `pinned`)."""
    low = key.lower()
    if not any(w in low for w in ("pin", "cvv", "cvc", "code", "mfa", "2fa")):
        return None
    words = [w.lower() for w in _KEY_WORDS.findall(key)]
    for n in (1, 2, 3):
        rule = _CODE_NAMES.get("".join(words[-n:])) if len(words) >= n else None
        if rule is not None:
            return rule
    return None


def _code_secret(rule: str, x: Any, listed: bool = False) -> bool:
    """Whether `x` is a code by `rule` (`_CODE_KV`'s value rules): a PIN 4 to 12 digits, a card code 3 or 4, another
    code 4 characters or more of letters, digits and `-` with a digit; a number under a plural name is a count, unless
    it is one of a list's items (`listed`)."""
    if isinstance(x, bool) or not isinstance(x, str | int):
        return False
    text = str(x)
    if rule == "pin":
        return text.isdigit() and 4 <= len(text) <= 12
    if rule == "card":
        return text.isdigit() and 3 <= len(text) <= 4
    if isinstance(x, int) and rule == "codes" and not listed:
        return False
    return _CODE_VALUE.fullmatch(text) is not None and any(c.isdigit() for c in text)


_KV_KIND = (
    ("refresh", "refresh_token"),
    ("access", "access_token"),
    ("id_token", "id_token"),
    ("client", "client_secret"),
    ("pass", "password"),
    ("pwd", "password"),
    ("cookie", "cookie"),
    ("authorization", "authorization"),
    ("bearer", "bearer"),
    ("key", "api_key"),
    ("secret", "secret"),
    ("token", "token"),
)


def _kv_kind(key: str) -> str:
    k = key.lower()
    for needle, kind in _KV_KIND:
        if needle in k:
            return kind
    return "secret"


# the groups that replace a key's value, kept with the kind its key names (`_kv_kind`): key group, value group
_KEYED = {
    "kv": ("kv_key", "kv_val"),
    "pair": ("pair_key", "pair_val"),
    "key_kv": ("kk_key", "kk_val"),
    "word_kv": ("wk_key", "wk_val"),
    "auth_kv": ("ak_key", "ak_val"),
    "otp_kv": ("ok_key", "ok_val"),
    "spaced_kv": ("sk_key", "sk_val"),
    "code_kv": ("ck2_key", "ck2_val"),
}
# the groups that replace a header's value, of their own kind: key group, value group
_HEADERS = {"cookie": ("ck_key", "ck_val"), "authorization": ("au_key", "au_val")}
_ESCAPED_OPEN = re.compile(r"\\{1,8}[\"']")


def _reopen(val: str) -> str:
    """The opening quote of a replaced value (possibly escaped), kept so the text stays well-formed."""
    if val[:1] in ("'", '"'):
        return val[0]
    m = _ESCAPED_OPEN.match(val)
    return m.group(0) if m else ""


def _reclose(val: str) -> str:
    """The closing quote the match consumed (a plain quoted value); an escaped one stays in the text."""
    return val[0] if val[:1] in ("'", '"') else ""


def trigger_words() -> tuple[str, ...]:
    """The lower-case words without which no pattern can match (the test `might_hold_secret` makes); a word ending
    in TAIL is found only before a credential-like run (`word_found`)."""
    return _ALL_TRIGGERS


def might_hold_secret(s: str) -> bool:
    """False when no pattern can match `s` (cheap); True means: look closer."""
    return _any_trigger(s.lower())


def _replaceable(x: Any) -> bool:
    """A value under a secret-named key that is worth replacing (not empty, not a flag, not done)."""
    if x is None or x is True or x is False or x == "":
        return False
    return not (isinstance(x, str) and x.startswith(MARK))


def _dump(v: Any) -> str:
    try:
        return orjson.dumps(v, option=orjson.OPT_NON_STR_KEYS).decode()
    except (TypeError, ValueError):  # nested beyond orjson's limit, or not JSON at all
        return "[REDACTED:unreadable]"


def _outer_groups(rx: str) -> list[str]:
    """The named groups of regex source `rx` that no other named group encloses, in order."""
    out: list[str] = []
    stack: list[str | None] = []
    i, in_class = 0, False
    while i < len(rx):
        c = rx[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            i += 2 if rx[i + 1 : i + 2] == "]" else 3 if rx[i + 1 : i + 3] == "^]" else 1
            continue
        elif c == "(":
            m = re.match(r"\(\?P<(\w+)>", rx[i:])
            if m and not any(stack):
                out.append(m.group(1))
            stack.append(m.group(1) if m else None)
        elif c == ")" and stack:
            stack.pop()
        i += 1
    return out


# pattern groups whose matches are written and counted as another kind
_COUNTED_AS = {"url_token": "url_credentials"}  # a token as a URL's user part is a credential in a URL


@functools.cache
def kinds() -> tuple[str, ...]:
    """Every kind the redactor counts (`[REDACTED:<kind>]`), read from its patterns: each one's outermost named
    groups (a match's `lastgroup`, see `Redactor._sub`, renamed by `_COUNTED_AS`), except the keyed groups
    (`_KEYED`), whose kind is the key's (`_KV_KIND`, else `secret`). For replay's `redactions.<kind>` metrics."""
    found = [_COUNTED_AS.get(g, g) for _, rx, _ in _GROUPS for g in _outer_groups(rx) if g not in _KEYED]
    return tuple(sorted({*found, *(kind for _, kind in _KV_KIND), "secret"}))


class Redactor:
    """Applies the patterns and counts what it replaced, by kind."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def _sub(self, m: re.Match[str]) -> str:
        kind = m.lastgroup or "secret"
        if kind in _KEYED:
            key, val = m.group(_KEYED[kind][0]), m.group(_KEYED[kind][1])
            kind = _kv_kind(key)
            self.counts[kind] += 1
            return f"{key}{_reopen(val)}[REDACTED:{kind}]{_reclose(val)}"
        if kind in _COUNTED_AS:  # url_token: a credential in a URL, as a user and password are
            kind = _COUNTED_AS[kind]
            self.counts[kind] += 1
            return f"[REDACTED:{kind}]"
        self.counts[kind] += 1
        if kind == "url_credentials":
            return f"{m.group('url_user')}[REDACTED:{kind}]"
        if kind in _HEADERS:
            key, val = m.group(_HEADERS[kind][0]), m.group(_HEADERS[kind][1])
            return f"{key}{_reopen(val)}[REDACTED:{kind}]{_reclose(val)}"
        if kind == "signed_url":
            return f"{m.group('su_key')}[REDACTED:{kind}]"
        return f"[REDACTED:{kind}]"

    def text(self, s: str) -> str:
        """`s` with every secret replaced (the same object when there is nothing to replace)."""
        low = s.lower()
        if not _any_trigger(low):
            return s
        out = s
        for sub, has_trigger, may in _TEXT_GROUPS:
            if has_trigger(low) and (may is None or may(out)):
                out = sub(self._sub, out)
        return out

    def text_masked(self, s: str, found: int) -> str:
        """`text(s)` when the trigger words in `s` are known: `found` has bit k set when `trigger_words()[k]`
        occurs in `s.lower()` (the compiled probe finds them while flagging the row)."""
        out = s
        for sub, triggers, may in _MASKED:
            if found & triggers and (may is None or may(out)):
                out = sub(self._sub, out)
        return out

    def _every_text(self, v: Any, kind: str, depth: int) -> Any:
        """`v` (under a secret-named key) with every non-empty text in it replaced, the rest kept."""
        if isinstance(v, str):
            if not _replaceable(v):
                return v
            self.counts[kind] += 1
            return f"[REDACTED:{kind}]"
        if depth > 64 and isinstance(v, dict | list):
            return self.text(_dump(v))
        if isinstance(v, dict):
            return {k: self._every_text(x, kind, depth + 1) for k, x in v.items()}
        if isinstance(v, list):
            return [self._every_text(x, kind, depth + 1) for x in v]
        return v

    def _code(self) -> str:
        """A code of a list under a code's name (`_code_key`), replaced and counted."""
        self.counts["secret"] += 1
        return "[REDACTED:secret]"

    def value(self, v: Any, depth: int = 0) -> Any:
        """A JSON value with secrets replaced: whole values under secret-named keys, patterns elsewhere."""
        if isinstance(v, str):
            return self.text(v)
        if depth > 64 and isinstance(v, dict | list):
            # too deep to walk: the sub-tree as redacted JSON text (never unredacted)
            return self.text(_dump(v))
        if isinstance(v, dict):
            # a header given as {"name": "Authorization", "value": "…"} (HAR, fetch wrappers)
            name = v.get("name", v.get("key"))
            secret_named = isinstance(name, str) and _KEY_RX.match(name) is not None
            out: dict[str, Any] = {}
            for k, x in v.items():
                if isinstance(k, str) and (
                    ((_KEY_RX.match(k) or (secret_named and k == "value") or _otp_key(k)) and _replaceable(x))
                    # a longer name holding a secret word: its text is replaced, numbers are not (`max_tokens`)
                    or (isinstance(x, str) and _replaceable(x) and _secret_in_name(k))
                    or _word_key_secret(k, x)
                ):
                    kind = _kv_kind(name if k == "value" and isinstance(name, str) else k)
                    self.counts[kind] += 1
                    out[k] = f"[REDACTED:{kind}]"
                elif isinstance(k, str) and (rule := _code_key(k)) is not None and _code_secret(rule, x):
                    self.counts["secret"] += 1
                    out[k] = "[REDACTED:secret]"
                elif isinstance(k, str) and isinstance(x, list) and (rule := _code_key(k)) is not None:
                    # a list of codes (`backup_codes: ["ab12-cd34", …]`): each code in it
                    out[k] = [self._code() if _code_secret(rule, c, listed=True) else self.value(c, depth + 2)
                              for c in x]  # fmt: skip
                elif isinstance(k, str) and isinstance(x, dict | list) and _secret_in_name(k, holds=True):
                    # an object of secrets (`cookies`: {sessionid: …}, `credentials`: {…}): every text in it
                    out[k] = self._every_text(x, _kv_kind(k), depth + 1)
                else:
                    out[k] = self.value(x, depth + 1)
            return out
        if isinstance(v, list):
            # a header given as a pair ["Cookie", "sid=…"] (Headers entries, raw header lists)
            if len(v) == 2 and isinstance(v[0], str) and _KEY_RX.match(v[0]) and _replaceable(v[1]):
                kind = _kv_kind(v[0])
                self.counts[kind] += 1
                return [v[0], f"[REDACTED:{kind}]"]
            return [self.value(x, depth + 1) for x in v]
        return v


@functools.cache
def _all_groups() -> re.Pattern[str]:
    # compiled on first use: 23 ms, which every ingest and parse worker paid at import for tests' sake
    return re.compile("|".join(rx for _, rx, _ in _GROUPS))


def contains_secret(s: str) -> bool:
    """True when any pattern still matches `s` (used by tests and self-checks)."""
    return _all_groups().search(s) is not None
