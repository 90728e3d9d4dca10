"""Fingerprints computed by DuckDB at staging time and by Python must be the same function."""

from __future__ import annotations

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from logcorr.rules.fingerprint import MACROS_SQL, fingerprint, normalise

CON = duckdb.connect()
CON.execute(MACROS_SQL)

# white space RE2 knows (\s there) and some it does not (Python's \s matches them too)
SPACES = st.text(alphabet=" \t\n\f\r\v\xa0\u2003\u3000", max_size=3)
texts = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60),
    st.builds(
        lambda fn, sp1, lvl, sp2, body, pad: f"[CONVEX {fn}(messages:send)]{sp1}[{lvl}]{sp2}'{body}'{pad}",
        st.sampled_from("QMAH"),
        SPACES,
        st.sampled_from(["LOG", "INFO", "WARN", "ERROR", "DEBUG"]),
        SPACES,
        st.text(alphabet="abc' \n\v\xa0", max_size=10),
        st.sampled_from(["", " ", "\n", "\v", "\xa0"]),
    ),
)


@settings(max_examples=400, deadline=None)
@given(texts)
def test_sql_and_python_fingerprints_agree(message: str) -> None:
    sql = CON.execute("SELECT lc_normalise(?), lc_fingerprint(?)", [message, message]).fetchall()[0]
    assert sql == (normalise(message), fingerprint(message))


def test_a_convex_line_echoed_in_the_browser_has_the_backend_lines_fingerprint() -> None:
    assert fingerprint("[CONVEX M(messages:send)] [LOG] 'Sent message!'") == fingerprint("Sent message!")
    assert fingerprint("Sent message!") != fingerprint("Sent message?")


def test_event_keys_differ_by_position_inside_a_record() -> None:
    a, b = CON.execute(
        "SELECT lc_event_key(1, 'worker', 'log', 'retry', NULL, 'ray', 0), lc_event_key(1, 'worker', 'log', 'retry', NULL, 'ray', 1)"
    ).fetchall()[0]
    assert a != b and a >= 0 and b >= 0
