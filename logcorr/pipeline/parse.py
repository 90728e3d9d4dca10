"""Stage 1 of ingest: read one input, detect each record's format, run its adapter and stage the
results. Every record gets exactly one fate, counted per file: events, metric only, skipped or
rejected."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from logcorr.gcpause import gc_paused
from logcorr.model import Event, Metric, RecordError, path_text
from logcorr.pipeline.stage import Stager
from logcorr.sources.base import SHAPE_ERRORS, Format
from logcorr.sources.convex_text import LocalZone, TextRecord
from logcorr.sources.detect import FORMATS, describe_unknown, detect
from logcorr.sources.fast import lines_parser
from logcorr.sources.outcomes import CLAIMED, RECORD, REJECT, FileStats, excerpt, order_notes
from logcorr.sources.reader import DEFAULT_MAX_DECOMPRESSED, iter_records


@dataclass
class FileResult:
    """What happened to one input file."""

    file_id: int
    path: str
    size: int | None = None
    content_hash: str = ""
    status: str = "ingested"  # ingested | already-ingested | unreadable
    stats: FileStats = field(default_factory=FileStats)
    formats: Counter[str] = field(default_factory=Counter)
    records: int = 0  # JSON values taken as records (array elements count one each)
    records_with_events: int = 0
    records_metric_only: int = 0
    records_skipped: int = 0  # intentionally skipped (verification pings, empty lists)
    rejected_records: int = 0
    rejected_known: int = 0  # of `rejected_records`: taken as a format's records, then refused by its checks
    rejected_lines: int = 0  # lines that are not JSON, and file-level faults (truncated gzip)
    skipped_lines: int = 0  # known banner lines between records
    events: int = 0
    metrics: int = 0
    metrics_repeated: int = 0  # of `metrics`: delivered again, an earlier copy kept (counted, not stored)
    stored: int = 0
    dropped: int = 0
    skip_reasons: Counter[str] = field(default_factory=Counter)
    reject_reasons: Counter[str] = field(default_factory=Counter)
    # a grown file read from where an earlier ingest stopped: the lines before (the counts above are the rest's),
    # and the run that read them (`ingest_files.continues_run`)
    line_base: int = 0
    continues_run: int | None = None
    # an already-ingested file: what to know of that earlier read (`npx convex logs` text read in another zone)
    earlier: list[str] = field(default_factory=list)

    def merge(self, part: FileResult) -> None:
        """Add the counts of one shard of this file (shards are merged in file order)."""
        for name in ("records", "records_with_events", "records_metric_only", "records_skipped",
                     "rejected_records", "rejected_known", "rejected_lines", "skipped_lines", "events", "metrics"):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(part, name))
        self.formats.update(part.formats)
        self.skip_reasons.update(part.skip_reasons)
        self.reject_reasons.update(part.reject_reasons)
        st, other = self.stats, part.stats
        st.lines += other.lines
        st.blank += other.blank
        st.bytes_read += other.bytes_read
        st.mode = st.mode or other.mode
        st.limited = st.limited or other.limited
        st.notes.extend(n for n in other.notes if n not in st.notes)
        order_notes(st.notes)  # as the file read whole gives them

    @property
    def name(self) -> str:
        """The file's name as the tables and the summary give it (`-` is `<stdin>`; see `path_text`)."""
        return "<stdin>" if self.path == "-" else path_text(self.path)

    @property
    def rejected(self) -> int:
        return self.rejected_records + self.rejected_lines

    @property
    def balanced(self) -> bool:
        """The accounting invariant: every record has exactly one fate, every event is stored or dropped."""
        fates = (
            self.records_with_events + self.records_metric_only + self.records_skipped + self.rejected_records
        )
        return self.records == fates and self.events == self.stored + self.dropped


def _short(reason: str) -> str:
    """A reject reason without the per-line detail, for counting by kind."""
    return reason.split(" (", 1)[0].split(":", 1)[0]


def parse_file(
    stream: IO[bytes],
    result: FileResult,
    stager: Stager,
    *,
    forced: Format | None = None,
    hash_stream: bool = False,
    max_record_bytes: int,
    progress: Callable[[int], None] | None = None,
    mode: str | None = None,
    file_start: bool = True,
    max_decompressed: int = DEFAULT_MAX_DECOMPRESSED,
    line_base: int = 0,
    local_zone: LocalZone | None = None,
    text_before: tuple[int, int] = (0, 0),
) -> None:
    """Stage every record of one input (or one shard of it: see `iter_records`); fills `result`'s counters.
    `line_base`: the lines before the stream's first in its file (a file read from where an earlier ingest
    stopped), added to every line number staged. `local_zone`: the zone of times written without one
    (`npx convex logs` text; default: $LOGCORR_LOCAL_TZ, else this machine's). `text_before`: (lines, run) of
    `npx convex logs` text that grew: the lines that earlier run read, not staged again (see `iter_records`)."""
    if forced is not None and forced.name == "convex-text" and mode is None:
        mode = "convex-text"  # read as such text whatever its first line
    with gc_paused():
        _parse(stream, result, stager, forced, hash_stream, max_record_bytes, progress, mode, file_start,
               max_decompressed, line_base, local_zone, text_before)  # fmt: skip


def _parse(
    stream: IO[bytes],
    result: FileResult,
    stager: Stager,
    forced: Format | None,
    hash_stream: bool,
    max_record_bytes: int,
    progress: Callable[[int], None] | None,
    mode: str | None,
    file_start: bool,
    max_decompressed: int,
    line_base: int = 0,
    local_zone: LocalZone | None = None,
    text_before: tuple[int, int] = (0, 0),
) -> None:
    events: list[Event] = []
    metrics: list[Metric] = []
    file_id = result.file_id
    stats = result.stats
    formats = result.formats
    stage_record = stager.record
    stage_rows = stager.record_rows if stager.batch is None else stager.record_claimed
    parse_lines = lines_parser() if forced is None else None
    claim = None
    if parse_lines is not None:

        def claim(buf: bytes, pos: int, end: int, line_no: int) -> tuple[int, int, Any]:
            # with the stager's batch, the event rows go into it and their number comes back
            taken, after, *rest = parse_lines(
                buf, pos, end, max_record_bytes, stager.seq, file_id, line_no + line_base, stager.batch
            )
            return taken, after, rest

    tick = 0
    for kind, line, payload in iter_records(
        stream,
        stats,
        hash_stream=hash_stream,
        max_record_bytes=max_record_bytes,
        mode=mode,
        file_start=file_start,
        max_decompressed=max_decompressed,
        claim=claim,
        local_zone=local_zone,
        text_before=text_before,
    ):
        line += line_base
        if kind == CLAIMED:
            # the compiled fast path built the rows of a run of records (see sources/fast.py): each has
            # events, or a metric only
            rows, metric_rows, with_events, metric_only, by_format = payload
            stage_rows(rows, metric_rows)
            result.records += with_events + metric_only
            result.records_with_events += with_events
            result.records_metric_only += metric_only
            result.events += rows if type(rows) is int else len(rows)
            result.metrics += len(metric_rows)
            for name, n in by_format:
                formats[name] += n
            tick += with_events + metric_only
            if progress is not None and tick >= 16384:
                tick = 0
                progress(stats.bytes_read)
        elif kind == RECORD:
            result.records += 1
            fmt: Format | None
            if type(payload) is TextRecord:
                # a record of `npx convex logs` text: its own format, whatever --format says (a JSON one would
                # reject each)
                fmt = FORMATS["convex-text"]
            elif forced is not None and forced.name != "convex-text":
                fmt = forced
            else:
                # a JSON line among `npx convex logs` text (an export joined on with `cat`) is read as JSON even
                # under --format convex-text, as the file's note says
                fmt = detect(payload) if type(payload) is dict else None
            if fmt is None:
                reason = describe_unknown(payload) if type(payload) is dict else "not a JSON object"
                _reject(result, stager, line, None, reason, payload, record=True)
                continue
            try:
                skip = fmt.parse(payload, events, metrics)
            except RecordError as e:
                events.clear()
                metrics.clear()
                _reject(result, stager, line, fmt.name, str(e), payload, record=True)
                continue
            except SHAPE_ERRORS as e:
                # an adapter met a shape it did not expect: reject the record, never the file
                events.clear()
                metrics.clear()
                _reject(result, stager, line, fmt.name, f"unexpected record shape ({type(e).__name__}: {e})",
                        payload, record=True)  # fmt: skip
                continue
            name = fmt.name
            if events or metrics:
                try:
                    stage_record(events, metrics, file_id, line, name, fmt.own_records)
                except TypeError as e:  # a value JSON cannot hold (nested beyond 255 levels)
                    events.clear()
                    metrics.clear()
                    _reject(
                        result, stager, line, name, f"record cannot be stored ({e})", payload, record=True
                    )
                    continue
            formats[name] += 1
            if events:
                result.records_with_events += 1
                result.events += len(events)
                events.clear()
            elif metrics:
                result.records_metric_only += 1
            else:
                result.records_skipped += 1
                result.skip_reasons[skip or "record holds no log lines"] += 1
            if metrics:
                result.metrics += len(metrics)
                metrics.clear()
            tick += 1
            if progress is not None and tick >= 16384:
                tick = 0
                progress(stats.bytes_read)
        elif kind == REJECT:
            reason, text = payload
            _reject(result, stager, line, None, reason, text, record=False)
        else:
            result.skipped_lines += 1
            result.skip_reasons[payload[0]] += 1
    if progress is not None:
        progress(stats.bytes_read)


def _reject(
    result: FileResult, stager: Stager, line: int, fmt: str | None, reason: str, payload: Any, *, record: bool
) -> None:
    if record:
        result.rejected_records += 1
        if fmt is not None:
            result.rejected_known += 1
    else:
        result.rejected_lines += 1
    result.reject_reasons[_short(reason)] += 1
    if isinstance(payload, str):
        text = payload
    elif isinstance(payload, TextRecord):
        text = excerpt(payload.excerpt())
    else:
        try:
            import orjson

            text = excerpt(orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS))
        except TypeError:
            text = excerpt(repr(payload))
    stager.reject(result.file_id, line, fmt, reason, text)
