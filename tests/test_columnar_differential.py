"""The columnar (SQL) normaliser against the Python adapters: for any input, `ingest(columnar=True)` and
`ingest(columnar=False)` give the same database (every table, every column but the wall-clock ones) and
the same accounting. The harness and the generated inputs are in tests/columnar_cases.py.

Non-vacuity: on realistic inputs some records must really take the SQL path (`columnar_records > 0`).
Until the SQL path exists that check is skipped (see `require_columnar`), after the comparison passed.
"""

from __future__ import annotations

import gzip
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logcorr.pipeline.ingest import ingest
from logcorr.rules.policy import Budget, CrossSystem, Loop, Policy, RateLimit, Redaction, Suppression
from tests.columnar_cases import (
    SHAPES,
    Case,
    assert_same,
    cases,
    check_pair,
    cleanup,
    differences,
    gen_logs,
    ingest_pair,
    ingest_run,
)
from tests.conftest import FIXTURES
from tests.secrets_corpus import load_kinds, write_format

# the rules under pressure with few events: loop, rate limit, budget thresholds and borrowing all fire
TIGHT = Policy(
    loop=Loop(max_identical=2, window_ms=1000),
    cross_system=CrossSystem(window_ms=5000),
    rate_limit=RateLimit(tiers=[8, 4, 2, 1]),
    budget=Budget(monthly_writes=40),
)
LOOSE = Policy(
    redaction=Redaction(enabled=False),
    suppression=Suppression(patterns=["ok", "İstanbul", "[HMR]"], case_sensitive=True),
)
POLICIES = (None, TIGHT, LOOSE)

FIXTURE_FILES = sorted(p for p in FIXTURES.rglob("*") if p.is_file() and p.name != "README.md")
# line-per-record fixture files whose records are all of the five shapes the SQL path normalises
SQL_SHAPED_FIXTURES = {
    "console-override-v1.jsonl",
    "console-override-v2.jsonl",
    "redis-records.jsonl",
    "logpush-workers_trace_events.log.gz",
    "log-stream-v2.jsonl",
}


def _n(request: pytest.FixtureRequest, fast: int, slow: int) -> int:
    return slow if request.config.getoption("--runslow") else fast


@cache
def sql_path_active() -> bool:
    """Does any record take the SQL path at all? (A realistic file ingested once with columnar=True.)"""
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "probe.jsonl"
        gen_logs()(300, 11, src)
        result = ingest([str(src)], str(Path(d) / "probe.duckdb"), columnar=True, jobs=1)
        return any(f.columnar_records for f in result.files)


def require_columnar(n: int, what: str) -> None:
    """`n` records of `what` went through the SQL path. Skipped while the SQL path does not exist yet:
    remove the skip (keep the fail) when it lands."""
    if n > 0:
        return
    if not sql_path_active():
        pytest.skip("SQL path not active (columnar_records is 0 everywhere); the comparison passed")
    pytest.fail(
        f"{what}: no record went through the SQL path (columnar_records == 0), so nothing was compared"
    )


# --- the fixtures -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SQL_SHAPED_FIXTURES))
def test_each_sql_shaped_fixture_file(name: str, tmp_path: Path) -> None:
    """Each fixture file of the five shapes alone (the other fixtures are in the directory tests)."""
    (path,) = (p for p in FIXTURE_FILES if p.name == name)
    col = check_pair([[path]], tmp_path)
    require_columnar(col.columnar_records, name)


@pytest.mark.parametrize("policy", [None, TIGHT], ids=["default", "tight"])
def test_all_fixtures_in_one_ingest_then_again(policy: Policy | None, tmp_path: Path) -> None:
    """Every fixture file, one ingest: the fixtures tell one story across files and formats (cross-system
    duplicates, request-id propagation, snapshot re-deliveries); a second ingest of the same directory
    changes nothing (every file already ingested)."""
    col = check_pair([[FIXTURES], [FIXTURES]], tmp_path, policy)
    require_columnar(col.columnar_records, "fixtures/")


def test_secrets_corpus(tmp_path: Path) -> None:
    """Every kind of secret in every place of each of the five shapes, and malformed lines that carry
    secrets (one file per shape, one ingest)."""
    (tmp_path / "in").mkdir()
    paths = [write_format(tmp_path / "in", fmt, load_kinds()) for fmt in SHAPES]
    col, py = ingest_pair([paths], tmp_path / "db")
    assert_same(col, py, "the secrets corpus")
    require_columnar(col.columnar_records, "the secrets corpus")


# --- the benchmark's realistic mixed data -----------------------------------------------------------------

_SLOW = pytest.mark.slow


@pytest.mark.parametrize(
    ("seed", "records", "gz", "policy"),
    [
        (1, 2500, False, None),
        (2, 1500, True, None),
        (3, 1500, False, TIGHT),
        pytest.param(4, 3000, False, LOOSE, marks=_SLOW),
        pytest.param(5, 20_000, False, None, marks=_SLOW),
        pytest.param(6, 20_000, True, TIGHT, marks=_SLOW),
    ],
    ids=["seed1", "seed2-gz", "seed3-tight", "seed4-loose", "seed5-20k", "seed6-20k-gz-tight"],
)
def test_generated_mixed_logs(
    seed: int, records: int, gz: bool, policy: Policy | None, tmp_path: Path
) -> None:
    """scripts/gen_logs.py: the benchmark's realistic mix of the five shapes, with bursts, duplicate
    deliveries, secrets, dev noise and errors."""
    src = tmp_path / f"logs-{seed}.jsonl{'.gz' if gz else ''}"
    gen_logs()(records, seed, src)
    col = check_pair([[src]], tmp_path / "db", policy)
    require_columnar(col.columnar_records, src.name)


def test_generated_logs_over_files_and_runs(tmp_path: Path) -> None:
    """One generated file cut in three: two files in one ingest, then the third in a later ingest (which
    continues the rule state: rate windows, fingerprints, budget, traces)."""
    src = tmp_path / "all.jsonl"
    gen_logs()(1200, 5, src)
    lines = src.read_bytes().splitlines(keepends=True)
    parts = []
    for i, chunk in enumerate((lines[:500], lines[500:800], lines[800:])):
        part = tmp_path / f"part{i}.jsonl"
        part.write_bytes(b"".join(chunk))
        parts.append(part)
    col = check_pair([parts[:2], parts[2:]], tmp_path / "db")
    require_columnar(col.columnar_records, "split generated file")


def test_small_record_limit(tmp_path: Path) -> None:
    """A small --max-record-bytes rejects the long lines: the SQL path must reject the same ones."""
    src = tmp_path / "logs.jsonl"
    gen_logs()(600, 9, src)
    col = check_pair([[src]], tmp_path / "db", max_record_bytes=420)
    assert col.results[0].rejected > 0
    require_columnar(col.columnar_records, "small record limit")


def test_strict_rolls_back_alike(tmp_path: Path) -> None:
    """--strict with a rejected line: both runs roll back and report the same counts."""
    src = tmp_path / "logs.jsonl"
    gen_logs()(200, 10, src)
    with src.open("ab") as f:
        f.write(b"{not json\n")
    col = check_pair([[src]], tmp_path / "db", strict=True)
    assert not col.results[0].committed


# --- generated files of the five shapes, with every edge ----------------------------------------------------

_NO_HEALTH = list(HealthCheck)  # slow by nature (two real ingests per example)
_SHAPE_SETS = st.sampled_from([tuple(SHAPES), *((s,) for s in SHAPES)])
_FORCED = st.sampled_from([None, None, None, None, *SHAPES])
_LIMIT = st.sampled_from([None, None, None, 400, 2000])


def _examples(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Path]:
    root = tmp_path_factory.mktemp(name)
    n = 0
    while True:
        n += 1
        yield root / f"ex{n}"


def _kwargs(forced: str | None, limit: int | None) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    if forced is not None:
        kw["format_name"] = forced
    if limit is not None:
        kw["max_record_bytes"] = limit
    return kw


# examples per Hypothesis test: (default run, --runslow); each example is two ingests and a comparison
FILES_EXAMPLES = (12, 300)
RUNS_EXAMPLES = (4, 100)


def test_generated_files(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> None:
    """One to three generated NDJSON files (each of one shape or all five mixed) in one ingest, under one
    of three policies, sometimes with a forced --format or a small record limit."""
    dirs = _examples(tmp_path_factory, "columnar-files")
    total = [0, 0]

    @settings(max_examples=_n(request, *FILES_EXAMPLES), deadline=None, suppress_health_check=_NO_HEALTH)
    @given(
        st.lists(_SHAPE_SETS.flatmap(lambda shapes: cases(shapes)), min_size=1, max_size=3),
        st.sampled_from(POLICIES),
        _FORCED,
        _LIMIT,
    )
    def run(files: list[Case], policy: Policy | None, forced: str | None, limit: int | None) -> None:
        work = next(dirs)
        work.mkdir()
        try:
            paths = [c.write(work / f"in{i}") for i, c in enumerate(files)]
            col = check_pair([paths], work, policy, **_kwargs(forced, limit))
            total[0] += 1
            total[1] += col.columnar_records
        finally:
            cleanup(work)

    run()
    assert total[0] > 0
    require_columnar(total[1], "generated files")


def test_generated_files_over_several_ingests(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Two or three generated files: some in one ingest, the rest in a later one (rule state carried over),
    and sometimes a file given twice (already ingested)."""
    dirs = _examples(tmp_path_factory, "columnar-runs")
    total = [0]

    @settings(max_examples=_n(request, *RUNS_EXAMPLES), deadline=None, suppress_health_check=_NO_HEALTH)
    @given(
        st.lists(cases(max_size=20), min_size=2, max_size=3),
        st.sampled_from(POLICIES),
        st.integers(1, 2),
        st.booleans(),
    )
    def run(files: list[Case], policy: Policy | None, cut: int, repeat: bool) -> None:
        work = next(dirs)
        work.mkdir()
        try:
            paths = [c.write(work / f"in{i}") for i, c in enumerate(files)]
            batches = [paths[:cut], paths[cut:] + (paths[:1] if repeat else [])]
            col = check_pair(batches, work, policy)
            total[0] += col.columnar_records
        finally:
            cleanup(work)

    run()
    require_columnar(total[0], "generated files over several ingests")


# --- the harness itself ---------------------------------------------------------------------------------------


def _two_lines(tmp_path: Path, message: str) -> Path:
    path = tmp_path / f"{message}.jsonl"
    path.write_text(
        f'{{"message": "{message}", "level": "info", "trace_id": "t1", "context": {{"timestamp": 1714910400000}}}}\n'
        '{"topic": "console", "timestamp": 1714910400100, "function": {"request_id": "r1"}, '
        '"log_level": "LOG", "message": "\'x\'"}\n'
    )
    return path


def test_the_harness_reports_different_inputs(tmp_path: Path) -> None:
    """Guard against a harness that passes everything: different inputs must be reported, naming the
    table, the row and the column."""
    a = ingest_run([[_two_lines(tmp_path, "hello")]], tmp_path / "a.duckdb", columnar=True)
    b = ingest_run([[_two_lines(tmp_path, "hullo")]], tmp_path / "b.duckdb", columnar=False)
    diff = differences(a, b)
    text = "\n".join(diff)
    assert any(line.startswith("table log_queue:") for line in diff), text
    assert "message: columnar='hello'" in text and "python='hullo'" in text, text
    assert "ingest #1 result files[1].content_hash" in text, text  # the result counters are compared too
    with pytest.raises(AssertionError, match="columnar and Python ingest differ"):
        assert_same(a, b)


def test_the_harness_reports_one_changed_value_extra_rows_and_counters(tmp_path: Path) -> None:
    col, py = ingest_pair([[_two_lines(tmp_path, "same")]], tmp_path)
    assert differences(col, py) == []
    con = duckdb.connect(py.db)
    con.execute("UPDATE log_queue SET context = '{\"timestamp\": 1714910400000}' WHERE system = 'browser'")
    con.execute("INSERT INTO rejects VALUES (1, 'f', 9, NULL, 'made up', NULL)")
    con.execute("UPDATE ingest_runs SET started_at = TIMESTAMP '1999-01-01'")  # wall clock: not compared
    con.close()
    f = py.results[0].files[0]
    f.stored += 1
    f.reject_reasons["made up"] += 1
    f.columnar_records += 5  # the one counter allowed to differ
    text = "\n".join(differences(col, py))
    assert "table log_queue:" in text and "context:" in text and "same JSON value, different text" in text, (
        text
    )
    assert "table rejects:" in text and "row only in python" in text and "made up" in text, text
    assert "files[1].stored: columnar=" in text and "files[1].reject_reasons" in text, text
    assert "ingest_runs" not in text and "columnar_records" not in text, text


def test_generated_case_files_are_what_they_say(tmp_path: Path) -> None:
    """The Case writer: BOM, CRLF and gzip are really there (so the strategies exercise them)."""
    case = Case([b'{"a": 1}', b"[]"], crlf=True, bom=True, gz=True, final_newline=False)
    raw = gzip.decompress(case.write(tmp_path / "x").read_bytes())
    assert raw == b'\xef\xbb\xbf{"a": 1}\r\n[]'
