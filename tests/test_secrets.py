"""Secrets never stored, never printed: the corpus (tests/data/secrets/corpus.json, 80 kinds) in all 12
input formats, in messages, JSON strings inside messages, stacks, nested headers and malformed lines.

After one real ingest (through the CLI) no secret occurs in any table (rejects and ledger included), in the
checkpointed DuckDB file's bytes, in the output of any command in any format, or in any error message.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from logcorr.cli.main import cli_main
from logcorr.rules.redact import Redactor
from logcorr.sources.detect import FORMATS
from logcorr.sources.outcomes import EXCERPT
from tests.conftest import CliResult
from tests.secrets_corpus import BUILDERS, Kind, load_kinds, write_format

KINDS = load_kinds()


def _leaks(text: str | bytes) -> list[str]:
    if isinstance(text, bytes):
        return [k.kind for k in KINDS if k.secret.encode() in text]
    return [k.kind for k in KINDS if k.secret in text]


class Corpus:
    """One database holding every kind in every format, and everything logcorr printed making it."""

    def __init__(self, root: Path, cli: Callable[..., CliResult]) -> None:
        self.root = root
        self.cli = cli
        self.db = str(root / "secrets.duckdb")
        inputs = root / "inputs"
        inputs.mkdir()
        self.files = [write_format(inputs, fmt, KINDS) for fmt in BUILDERS]
        self.outputs: dict[str, str] = {}
        self.run("ingest --json", "ingest", *map(str, self.files), "--db", self.db, "--json")
        # the same inputs under --strict (refused, nothing stored) and forced to a wrong format: more errors
        self.run(
            "ingest --strict",
            "ingest",
            *map(str, self.files),
            "--db",
            str(root / "strict.duckdb"),
            "--strict",
        )
        self.run("ingest --format", "ingest", str(self.files[7]), "--db", str(root / "forced.duckdb"),
                 "--format", "browser-v1", "--json")  # fmt: skip

    def run(self, label: str, *args: str) -> CliResult:
        res = self.cli(*args)
        self.outputs[label] = res.stdout + "\n" + res.stderr
        return res


def _invoke(*args: str) -> CliResult:
    """`logcorr ARGS…` in-process through the real error boundary (the `cli` fixture, module-scoped)."""
    runner = CliRunner()
    with runner.isolation() as streams:
        code = cli_main([str(a) for a in args])
        sys.stdout.flush()
        sys.stderr.flush()
        out, err = streams[0].getvalue(), streams[1].getvalue()
    return CliResult(int(code), out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), out)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return Corpus(tmp_path_factory.mktemp("secrets"), _invoke)


def test_the_corpus_has_30_kinds_and_every_format_is_built() -> None:
    assert len({k.kind for k in KINDS}) >= 30
    assert set(BUILDERS) == set(FORMATS)
    # every secret really is in its text, and no secret is a substring of another kind's redaction output
    for k in KINDS:
        assert k.secret in k.text and len(k.secret) >= 12


def test_ingest_saw_every_format_and_redacted(corpus: Corpus) -> None:
    con = duckdb.connect(corpus.db, read_only=True)
    try:
        formats = {f for (f,) in con.execute("SELECT DISTINCT source_format FROM log_queue").fetchall()}
        dropped_formats = {
            f for (f,) in con.execute("SELECT DISTINCT source_format FROM drop_ledger").fetchall()
        }
        rejects = con.execute("SELECT count(*) FROM rejects").fetchone()[0]  # type: ignore[index]
        redacted = con.execute(
            "SELECT count(*) FROM log_queue WHERE message LIKE '%[REDACTED:%' OR stack LIKE '%[REDACTED:%' "
            "OR context::VARCHAR LIKE '%[REDACTED:%'"
        ).fetchone()[0]  # type: ignore[index]
    finally:
        con.close()
    assert formats | dropped_formats == set(FORMATS)
    assert rejects >= len(FORMATS) * len(KINDS) * 0.7  # the malformed lines were rejected, not lost
    assert redacted > 0


def _table_dump(db: str) -> str:
    con = duckdb.connect(db, read_only=True)
    try:
        parts = []
        for (table,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall():
            for row in con.execute(f'SELECT * FROM "{table}"').fetchall():
                parts.append(" ".join(map(str, row)))
        return "\n".join(parts)
    finally:
        con.close()


def test_no_secret_in_any_table(corpus: Corpus) -> None:
    dump = _table_dump(corpus.db)
    assert "[REDACTED:" in dump and len(dump) > 100_000
    assert _leaks(dump) == []


def _file_bytes(db: str) -> bytes:
    con = duckdb.connect(db)
    con.execute("CHECKPOINT")
    con.close()
    data = Path(db).read_bytes()
    wal = Path(db + ".wal")
    return data + (wal.read_bytes() if wal.exists() else b"")


def test_no_secret_in_the_database_file_bytes(corpus: Corpus) -> None:
    assert _leaks(_file_bytes(corpus.db)) == []


def test_the_byte_scan_finds_secrets_when_redaction_is_off(
    tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    """The control for the test above: the same scan does see secrets that were stored."""
    policy = tmp_path / "policy.toml"
    policy.write_text("[redaction]\nenabled = false\n")
    path = write_format(tmp_path, "browser-v2", KINDS, malformed=False)
    db = str(tmp_path / "plain.duckdb")
    assert cli("ingest", str(path), "--db", db, "--policy", str(policy)).exit_code == 0
    assert len(_leaks(_file_bytes(db))) >= len(KINDS) // 2


def _commands(corpus: Corpus, full: bool) -> list[tuple[str, list[str]]]:
    """Every command in every output format; by default the table renderer sees a sample of rows (it is
    slow on thousands), with --runslow everything."""
    per = 2 if full else 1
    limit = "1000" if full else "60"
    con = duckdb.connect(corpus.db, read_only=True)
    try:
        traces = [t for (t,) in con.execute(
            "SELECT trace_id FROM (SELECT trace_id, min(source_format) AS f FROM log_queue "
            "WHERE trace_id IS NOT NULL GROUP BY ALL) QUALIFY row_number() OVER (PARTITION BY f ORDER BY trace_id) <= ?"
        , [per]).fetchall()]  # fmt: skip
        lines = [f"{p}:{n}" for p, n in con.execute(
            "SELECT source_file, source_line FROM (SELECT source_file, source_line FROM rejects UNION ALL "
            "SELECT source_file, source_line FROM log_queue UNION ALL SELECT source_file, source_line FROM drop_ledger) "
            "QUALIFY row_number() OVER (PARTITION BY source_file ORDER BY source_line DESC) <= ?"
        , [per]).fetchall()]  # fmt: skip
    finally:
        con.close()
    db = ["--db", corpus.db]
    cmds: list[tuple[str, list[str]]] = []
    for t in traces if full else traces[::3]:
        for f in ("table", "json", "jsonl", "csv", "chrome"):
            cmds.append((f"trace {t} {f}", ["trace", t, "--format", f, "--include-dropped", *db]))
        cmds.append((f"search in trace {t}", ["search", "REDACTED", "--trace", t, "--format", "csv", *db]))
    for f in ("table", "json", "jsonl", "csv"):
        cmds.append((f"traces {f}", ["traces", "--format", f, "--limit", "1000", *db]))
        rows = limit if f == "table" else "1000"
        for text in ("request", "REDACTED", "token", "Authorization"):
            cmds.append((f"search {text} {f}", ["search", text, "--format", f, "--limit", rows, *db]))
        for table in ("log_queue", "drop_ledger", "rejects", "metrics", "recent_log_entries", "ingest_files"):
            sql = f"SELECT * FROM {table}" + (
                f" USING SAMPLE {limit} ROWS" if f == "table" and not full else ""
            )
            cmds.append((f"sql {table} {f}", ["sql", sql, "--format", f, *db]))
        cmds.append((f"ledger {f}", ["ledger", "--limit", "0", "--format", f, *db]))
    for i, line in enumerate(lines):
        cmds.append((f"explain {line}", ["explain", line, *db] + (["--format", "json"] if i % 2 else [])))
    cmds += [
        ("stats", ["stats", *db]),
        ("stats json", ["stats", "--json", *db]),
        ("trace first", ["trace", "--first-with-errors", *db]),
        (
            "search regex",
            ["search", "--regex", "[A-Za-z0-9]{20,}", "--format", "json", "--limit", "1000", *db],
        ),
    ]
    for f in ("table", "json", "markdown") if full else ("json",):
        cmds.append((f"budget simulate {f}", ["budget", "simulate", "--period", "1d", "--format", f, *db]))
    for f in ("table", "json", "markdown", "junit") if full else ("markdown", "junit"):
        cmds.append(
            (
                f"budget check {f}",
                ["budget", "check", "--period", "1d", "--max-usd", "10", "--format", f, *db],
            )
        )
    files = [str(p) for p in corpus.files]
    cmds.append(
        ("budget simulate files", ["budget", "simulate", *files, "--period", "1d", "--format", "json"])
    )
    cmds.append(("replay files", ["replay", *files, "--format", "json"]))
    return cmds


def test_no_secret_in_any_command_output_or_error_message(
    corpus: Corpus, request: pytest.FixtureRequest
) -> None:
    cmds = _commands(corpus, full=bool(request.config.getoption("--runslow")))
    assert len(cmds) > 60
    failures: dict[str, Any] = {}
    crashed = []
    for label, args in cmds:
        res = corpus.run(label, *args)
        if res.exit_code not in (0, 1) or "internal error" in res.stderr or "Traceback" in res.stderr:
            crashed.append((label, res.exit_code, res.stderr[-300:]))
    for label, text in corpus.outputs.items():
        leaks = _leaks(text)
        if leaks:
            failures[label] = leaks
    assert failures == {}
    assert crashed == []
    # the outputs were real: they show redacted events, trace waterfalls and reject reasons
    everything = "\n".join(corpus.outputs.values())
    assert "[REDACTED:" in everything and "rejected" in everything.lower()


def test_secrets_in_rejected_lines_never_reach_reasons_or_excerpts(corpus: Corpus) -> None:
    con = duckdb.connect(corpus.db, read_only=True)
    try:
        rows = con.execute("SELECT reason, excerpt FROM rejects").fetchall()
    finally:
        con.close()
    assert len(rows) >= len(FORMATS) * 30
    assert any("[REDACTED:" in (excerpt or "") for _, excerpt in rows)
    assert _leaks("\n".join(f"{r} {e}" for r, e in rows)) == []


def test_a_secret_cut_by_the_excerpt_limit_leaves_no_prefix(
    tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    secret = "ghp_" + "Q7xK2mVb9TzL4nRw8YcD3fHj6PaS1uEg5oNi"
    pad = "x" * (EXCERPT - 12 - len('{"message": "'))
    path = tmp_path / "cut.jsonl"
    path.write_text('{"message": "' + pad + " " + secret + ' more text"\n')  # malformed: never closed
    db = str(tmp_path / "cut.duckdb")
    cli("ingest", str(path), "--db", db)
    excerpt = duckdb.connect(db, read_only=True).execute("SELECT excerpt FROM rejects").fetchone()[0]  # type: ignore[index]
    assert secret[:10] not in excerpt


ORDINARY = [
    "Rate limit check passed, trace_id: trace_1714910415902_h7d2kq0zs",
    "Message persisted to channel general",
    "user clicked Save; tokenizer ready; cookie consent shown; passwordless login enabled",
    "GET https://app.example.com/chat?channel=general&page=2 200 in 35 ms",
    "traceparent 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "commit 9f8e7d6c5b4a39281706f5e4d3c2b1a0d4c3b2a1 deployed",
    "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 verified",
    "request id d064ef901f7ec0b7 ray 87f0a1ce4b5a6d79 uuid 9c3f1e7a-2b4d-4c6e-8f0a-1b3d5e7f9a2c",
    "user_8hQ3mz opened profile user_2fX9kq",
    "Uncaught ConvexError: Refresh token expired",
    "Session refresh rejected: token expired",
    "cloned git@github.com:acme/app.git and https://deploy-bot@github.com/acme/app.git",
    "settings secret_count=3, token_type=bearer, tokens=5, max_tokens=4096, access_token_expires_in=3600",
    "mutation messages:send success in 73 ms",
    "error code=E_TIMEOUT after 3 retries",
    "password reset email sent to ann@example.com",
    "Authorization failed: missing header",
    "the secret to good logs is structure",
    "signature verified for webhook delivery 42",
    "http://localhost:3000/_next/static/chunks/app/layout.js:412:29",
    "01HX4ZQ8J4M2V6B1C9D0E3F5G7 event stored",
    "critical_auth_1714910430512_x7y8z9 escalated",
    "Convex-Debug-Interface/1.0 fetched /traces/recent?limit=10",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_messages_ids_and_hashes_are_not_redacted(text: str) -> None:
    assert Redactor().text(text) == text


def test_ordinary_context_is_not_redacted() -> None:
    ctx = {"url": "http://localhost:3000/chat?tab=2", "headers": [["Accept", "*/*"], ["X-Request-Id", "abc123def456"]],
           "har": [{"name": "Content-Type", "value": "application/json"}], "tokens_used": 1200,
           "usage": {"tokens": {"input": 120, "output": 30}}, "otp_length": 6, "footprint": "small", "rootPath": "/srv",
           "trace_id": "trace_1714910398211_k3j9x2m1p", "nested": {"a": [{"b": "c"}] * 3}}  # fmt: skip
    assert Redactor().value(ctx) == ctx


@pytest.mark.parametrize("kind", KINDS, ids=[k.kind for k in KINDS])
def test_each_kind_is_redacted_in_text_escaped_json_and_python_repr(kind: Kind) -> None:
    r = Redactor()
    for form in (
        kind.text,
        json.dumps({"message": kind.text}),  # a raw NDJSON line (rejected lines are stored from raw text)
        json.dumps({"message": json.dumps({"payload": kind.text})}),  # JSON inside a JSON string
        repr({"payload": kind.text}),
    ):
        out = r.text(form)
        assert kind.secret not in out, form
        assert r.text(out) == out  # idempotent
    raw = json.dumps({"message": kind.text})
    json.loads(r.text(raw))  # redaction keeps a JSON line well-formed


def test_deep_nesting_is_redacted_not_skipped() -> None:
    value: Any = {"password": "deep-s3cret-value-1"}
    for _ in range(200):
        value = {"a": [value]}
    out = Redactor().value(value)
    assert "deep-s3cret-value-1" not in json.dumps(out)
