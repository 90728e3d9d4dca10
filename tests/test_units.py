"""Durations as people write them, one reading for every option that takes one (--since, --period, --bucket,
replay scenarios)."""

from __future__ import annotations

import pytest

from logcorr.errors import UsageError
from logcorr.units import duration_ms, parse_duration_ms, say_count


@pytest.mark.parametrize(
    ("text", "ms"),
    [("500ms", 500), ("90s", 90_000), ("30m", 1_800_000), ("2h", 7_200_000), ("1d", 86_400_000),
     ("1h30m", 5_400_000), (" 1h 30m ", 5_400_000), ("1.5s", 1500), ("2d12h", 216_000_000), ("0m", 0)],
)  # fmt: skip
def test_durations(text: str, ms: int) -> None:
    assert duration_ms(text) == ms
    assert parse_duration_ms(text, "--since") == ms


@pytest.mark.parametrize("text", ["", "2", "h", "1x", "-1h", "1h-30m", "abc", "1,5s"])
def test_what_is_not_a_duration(text: str) -> None:
    assert duration_ms(text) is None
    with pytest.raises(UsageError, match="--since"):
        parse_duration_ms(text, "--since")


def test_since_takes_a_compound_duration_as_replay_does(cli, tmp_path) -> None:
    from tests.conftest import FIXTURES

    db = str(tmp_path / "db.duckdb")
    assert cli("ingest", str(FIXTURES), "--db", db, "-q").exit_code == 0
    a = cli("search", "declined", "--since", "1h30m", "--db", db, "--format", "json")
    b = cli("search", "declined", "--since", "90m", "--db", db, "--format", "json")
    assert a.exit_code == b.exit_code == 0 and a.stdout == b.stdout and a.json()
    bad = cli("replay", "--scenario", "steady", "--bucket", "0m")
    assert bad.exit_code == 2 and "--bucket '0m' must be longer than 0" in bad.stderr


def test_a_count_of_one_takes_the_singular() -> None:
    assert say_count(1, "event") == "1 event"
    assert [say_count(n, "trace") for n in (0, 2, 1200)] == ["0 traces", "2 traces", "1,200 traces"]
    assert say_count(3, "temporary directory", "temporary directories") == "3 temporary directories"
