"""The Worker's format names are defined once (`logcorr.sources.worker_formats`): the registry, serve's
`/worker` endpoint, the event key, the clock and the SQL over stored rows all name the same formats, and the
SQL reads as it did when the names were written out in each place."""

from __future__ import annotations

import re

from logcorr.correlate.skew import CLOCK_SQL
from logcorr.pipeline.store import _other_export
from logcorr.rules.fingerprint import MACROS_SQL
from logcorr.serve.payloads import ALLOWED, Endpoint
from logcorr.sources import worker_formats as wf
from logcorr.sources.detect import FORMATS
from logcorr.store import schema
from tests.conftest import ROOT


def test_the_worker_formats_are_the_registrys_worker_formats_and_serves() -> None:
    assert [n for n, f in FORMATS.items() if f.system == "worker"] == list(wf.WORKER_FORMATS)
    assert ALLOWED[Endpoint.WORKER] == frozenset(wf.WORKER_FORMATS)
    assert set(wf.RAY_ID_EXPORTS) <= set(wf.WORKER_FORMATS)


def test_the_sql_naming_the_cloudflare_exports_is_unchanged() -> None:
    """The migration that rewrote stored keys (v6) and the macros must produce the same SQL as before."""
    assert "FROM log_queue WHERE source_format IN ('cf-logpush', 'cf-tail')" in schema._REKEY_CLOUDFLARE
    assert "source_format IN ('cf-logpush', 'cf-tail') THEN NULL ELSE trace_id END" in MACROS_SQL
    assert _other_export("m") == (
        "CASE m.source_format WHEN 'cf-logpush' THEN 'cf-tail' WHEN 'cf-tail' THEN 'cf-logpush' END"
    )
    assert CLOCK_SQL.startswith(
        "CASE WHEN source_format IN ('worker-record', 'worker-logs', 'cf-logpush', 'cf-tail', 'cf-workers-logs')"
    )


def test_the_compiled_event_key_names_the_same_two_exports() -> None:
    """`_fastparse.c` cannot import the names: its `key_without_trace` is held to `RAY_ID_EXPORTS`."""
    c = (ROOT / "logcorr/_fastparse.c").read_text()
    body = c[c.index("static int key_without_trace(") :].split("}", 1)[0]
    assert re.findall(r'memcmp\(fmt, "([^"]+)", (\d+)\)', body) == [
        (n, str(len(n))) for n in wf.RAY_ID_EXPORTS
    ]
