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
    # the styled echo the console override ships: "%c[CONVEX M(path)] [LOG] color:rgb(0, 145, 255) 'text'"
    st.builds(
        lambda fn, lvl, style, body: f"%c[CONVEX {fn}(a:b)] [{lvl}] {style}'{body}'",
        st.sampled_from("QMAH"),
        st.sampled_from(["LOG", "INFO", "WARN"]),
        st.sampled_from(["color:rgb(0, 145, 255) ", "color: #0091ff; ", "", "color:"]),
        st.text(alphabet="abc' \n\v\xa0()", max_size=10),
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


def test_a_convex_line_echoed_styled_as_the_console_override_ships_it_has_the_backend_lines_fingerprint() -> (
    None
):
    # console.log("%c[CONVEX M(path)] [LOG]", "color:rgb(0, 145, 255)", text), its arguments joined by a space
    styled = "%c[CONVEX M(messages:send)] [LOG] color:rgb(0, 145, 255) 'Sent message!'"
    assert fingerprint(styled) == fingerprint("Sent message!")
    several = "%c[CONVEX A(ai:chat)] [INFO] color:rgb(0, 145, 255) 'took' 1402 'ms'"
    assert fingerprint(several) == fingerprint("'took' 1402 'ms'")
    assert normalise("%c[CONVEX Q(a:b)] [WARN] color: #0091ff; 'w'") == "w"
    assert normalise("%cplain styled text") == "%cplain styled text"


def test_an_echo_of_a_line_of_several_arguments_keeps_their_quotes_as_the_backends_copy_does() -> None:
    # console.log('OpenAI call took', 1402, 'ms'): the stream's copy is stored as given, quotes and all
    assert fingerprint("[CONVEX A(ai:chat)] [INFO] 'OpenAI call took' 1402 'ms'") == fingerprint(
        "'OpenAI call took' 1402 'ms'"
    )
    assert normalise("[CONVEX M(a:b)] [LOG] 'it\\'s'") == "it's"


def test_event_keys_differ_by_position_inside_a_record() -> None:
    a, b = CON.execute(
        "SELECT lc_event_key(1, 'worker', 'log', 'retry', NULL, 'ray', 0), lc_event_key(1, 'worker', 'log', 'retry', NULL, 'ray', 1)"
    ).fetchall()[0]
    assert a != b and a >= 0 and b >= 0
