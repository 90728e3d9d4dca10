"""`npx convex logs` as text (without `--jsonl`): what `npx convex logs > backend.log` writes, and the only form
CLIs before ~2025-10 print (reference convex §2; the CLI's `formatLogLineMessage` / `prefixLog`):

    <new Date(ms).toLocaleString()> [CONVEX <Q|M|A|H>(<path>)] [<LEVEL>] <messages joined by a space>
    <time> [CONVEX M(path)] <error text>                      (a failed run: no level)
    <time> [CONVEX Q(path)] Function executed in <ms> ms      (a successful run, with --success)

A line that starts so begins a record; the lines after it that do not (an object printed over several lines,
a stack trace) are its continuation. The time is the CLI machine's locale and zone, to the second: the
day/month order is decided per file from the values (`DateOrder`), the zone is this machine's unless
`--local-tz` / `$LOGCORR_LOCAL_TZ` names another, and the k-th record of one second gets k ms (file order
kept, and identical lines of one second are not taken for a repeated delivery). `_Framer` turns the text
into `TextRecord`s (the reader's records for such a file); `parse` turns one into events, as the `--jsonl`
adapter does an entry.
"""

from __future__ import annotations

import difflib
import os
import re
import time
from collections import deque
from collections.abc import Iterator
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from logcorr.model import MAX_TS_MS, MIN_TS_MS, Event, Metric, RecordError
from logcorr.sources.convex_stream import backend_event, execution_message, split_level_prefix, udf_type
from logcorr.sources.outcomes import RECORD, REJECT, SKIP
from logcorr.units import say_count

# the time as `toLocaleString()` prints it in the locales seen (en-US `1/4/2026, 1:17:46 PM`, en-AU/en-IN
# `12/08/2025, 11:58:25 am`, en-GB/fr `04/01/2026, 13:17:46` (fr without the comma), de/ru `4.1.2026, 13:17:46`,
# nl `4-1-2026, 13:17:46`, sv-SE `2026-01-04 13:17:46`, ja/zh `2026/1/4 13:17:46`, en-CA `2026-01-04, 1:17:46
# p.m.`); Node 20+ puts a narrow no-break space before AM/PM. A four-digit year first or last is required.
_SPACE = "[ \u00a0\u202f]"
_TIME = (
    r"(?P<a>\d{1,4})(?P<sep>[./-]) ?(?P<b>\d{1,2})(?P=sep) ?(?P<c>\d{1,4})\.?,?" + _SPACE + r"+"
    r"(?P<h>\d{1,2}):(?P<mi>\d{2}):(?P<s>\d{2})"
    r"(?:" + _SPACE + r"?(?P<ap>[AaPp])\.?" + _SPACE + r"?[Mm]\.?)?"
)
# `]` then a space, or the end of the line (an error text that begins with a line break)
HEAD = re.compile(r"(?P<time>" + _TIME + r") \[CONVEX (?P<udf>[QMAH])\((?P<path>.*?)\)\](?: |$)")
# a legacy string line the CLI could not split: printed without time or text
_UNPARSED = re.compile(r"\[CONVEX [QMAH]\(.*?\)\] Could not parse console\.log$")
# what the CLI writes to stderr, found in a file captured with `2>&1`
_BANNER = re.compile(r"(?:Watching logs\b|Convex \[WARN\] Failed to fetch logs\b)")
_LEVEL_TAG = re.compile(r"\[(LOG|INFO|WARN|WARNING|ERROR|DEBUG)\](?: |$)")
_EXECUTED = re.compile(r"Function executed in (\S+) ?ms")
_STACK_LINE = re.compile(r"[ \t]+at \S")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
TRUNCATED = " (truncated due to length)"
UDF_TYPES = {"Q": "Query", "M": "Mutation", "A": "Action", "H": "HttpAction"}

# records held while a file has not told its day/month order (see `_Framer`); past it the default is taken
MAX_UNDECIDED = 50_000
ENV_ZONE = "LOGCORR_LOCAL_TZ"
# what a file's notes say of the zone its times were read in, named or this machine's: for people only. The
# zone a grown file's new lines are read in is the one `ingest_files.local_tz` (`local_tz_given`) records
ZONE_GIVEN_NOTE = "times read in {zone} (--local-tz / $" + ENV_ZONE + "), to the second"
ZONE_MACHINE_NOTE = (
    "times read in this machine's zone, {zone}, to the second (the CLI prints local time without a zone: give "
    "--local-tz or $" + ENV_ZONE + " if it ran elsewhere)"
)


def is_head(line: bytes | str) -> bool:
    """Whether a line begins a record of `npx convex logs` text (its time and `[CONVEX X(path)]`)."""
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    return HEAD.match(text.lstrip("\ufeff")) is not None


def is_banner(line: bytes) -> bool:
    return _BANNER.match(line.decode("utf-8", "replace").strip()) is not None


class LocalZone:
    """The zone the CLI printed its times in: a named IANA zone, or this machine's (None)."""

    def __init__(self, name: str | None = None) -> None:
        self.zone: tzinfo | None = None
        if name:
            try:
                self.zone = ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError) as e:
                raise ValueError(f"unknown time zone {name!r}") from e
        self.label = name or _machine_zone()
        self.given = bool(name)

    def epoch_s(self, y: int, mo: int, d: int, h: int, mi: int, s: int, fold: int = 0) -> float:
        """Seconds since the epoch of that wall time here: of a repeated hour (clocks going back) its first
        pass, as JS reads it, or with `fold=1` its second."""
        if self.zone is None:  # this machine's zone, its DST rules included
            return datetime(y, mo, d, h, mi, s, fold=fold).timestamp()
        return datetime(y, mo, d, h, mi, s, tzinfo=self.zone, fold=fold).timestamp()


_OFFSET = re.compile(r"(?i)(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?")


def zone_hint(name: str) -> str:
    """What to give instead of an unknown zone `name`: the zone it misspells (`America/New_Yrok`,
    `america/new_york`), the `Etc/GMT` zone of a whole-hour offset (`+05:00`: POSIX signs are reversed), or an
    example."""
    zones = available_timezones()
    by_lower = {z.lower(): z for z in zones}
    if name.lower() in by_lower:
        return f"zone names are case-sensitive: did you mean {by_lower[name.lower()]}?"
    m = _OFFSET.fullmatch(name.strip())
    # a misspelt place only (`Area/Place`): a short name is as close to another zone's as to its own (`GMT+5` to
    # `GMT+0`, `CEST` to `EST`), whose times are hours off
    close = (
        []
        if m or "/" not in name
        else difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.8)
    )
    if close:
        return f"did you mean {by_lower[close[0]]}?"
    if m:
        said = (
            "give the zone name of the place the CLI ran in (e.g. America/New_York: it keeps that place's daylight "
            "saving time), not an offset"
        )
        hours = int(m.group(2))
        west = m.group(1) == "-"
        if hours <= (12 if west else 14) and m.group(3) in (None, "00"):  # Etc/GMT-14 … Etc/GMT+12
            etc = "Etc/GMT" if hours == 0 else f"Etc/GMT{'+' if west else '-'}{hours}"
            said += f"; a fixed UTC{m.group(1)}{hours} is {etc} (its sign reversed, as POSIX writes it)"
        return said
    return "give an IANA zone name, e.g. Europe/Berlin or UTC"


def zone_from_env(name: str | None) -> LocalZone:
    """`name`, else `$LOGCORR_LOCAL_TZ`, else this machine's zone; ValueError names an unknown zone."""
    return LocalZone(name or os.environ.get(ENV_ZONE) or None)


def _machine_zone() -> str:
    tz = os.environ.get("TZ")
    if tz:
        return tz.lstrip(":")
    try:
        link = os.path.realpath("/etc/localtime")
    except OSError:
        link = ""
    if "zoneinfo/" in link:
        return link.split("zoneinfo/", 1)[1]
    return "/".join(dict.fromkeys(time.tzname))


class TextRecord:
    """One record of `npx convex logs` text: its head line's fields, its continuation lines, its time."""

    __slots__ = ("_parts", "body", "date", "late", "line", "lines", "over", "path", "problem", "size", "time_text", "ts_ms", "udf")  # fmt: skip

    def __init__(self, line: int, m: re.Match[str], rest: str) -> None:
        self.line = line
        self.time_text = m.group("time")
        self.udf = m.group("udf")
        self.path = m.group("path")
        self._parts = [rest]
        self.lines = 1  # physical lines, blank ones inside it included
        self.size = len(rest)
        self.over = False  # longer than the record limit: its further lines passed over
        self.ts_ms: int | None = None
        self.problem: str | None = None  # why it cannot be read (an impossible date): the adapter rejects it
        self.date = (m.group("a"), m.group("sep"), m.group("b"), m.group("c"), m.group("h"), m.group("mi"),
                     m.group("s"), m.group("ap"))  # fmt: skip
        self.body = ""
        self.late = 0  # a grown file: the first of its lines an earlier ingest, which stored it, did not see

    def add(self, text: str, max_len: int) -> None:
        self.lines += 1
        if self.over:
            return
        self.size += len(text) + 1
        if self.size > max_len:
            self.over = True
            self._parts = self._parts[:1]  # its first line is the excerpt
            return
        self._parts.append(text)

    def close(self, max_len: int) -> None:
        self.body = "\n".join(self._parts)
        self._parts = []
        if self.over:
            self.problem = f"record longer than the {max_len}-byte limit ({self.lines} lines from here)"

    def excerpt(self) -> str:
        return f"{self.time_text} [CONVEX {self.udf}({self.path})] {self.body}"


class DateOrder:
    """The day/month order of a file's dates: decided by the first date whose first number is over 12
    (day first) or whose second is (month first); until then undecided. Year-first dates need none."""

    def __init__(self) -> None:
        self.order: str | None = None  # "dmy" | "mdy"
        self.decided_at = 0  # the line that decided it
        self.assumed = False  # taken by default, not from the values
        self.style: tuple[str, bool, bool] | None = (
            None  # the first ambiguous date's (separator, AM/PM, padded)
        )
        self.example = ""  # the time that decided it
        self.early = ""  # taken by default before the file's end: said how many records were held

    def see(self, rec: TextRecord) -> None:
        a, sep, b, _, _, _, _, ap = rec.date
        if len(a) == 4 or self.order is not None:
            return
        if self.style is None:
            self.style = (sep, bool(ap) and ap.isupper(), a.startswith("0") or b.startswith("0"))
        if int(a) > 12:
            self.order, self.decided_at, self.example = "dmy", rec.line, rec.time_text
        elif int(b) > 12:
            self.order, self.decided_at, self.example = "mdy", rec.line, rec.time_text

    def default(self) -> tuple[str, str]:
        """The order a file that never tells takes, and why: en-US, the one common locale that puts the month
        first, writes `/`, AM/PM in capitals and no leading zeros (`1/4/2026, 1:17:46 PM`); a `/` date with
        a 24-hour time or lower-case am/pm (en-GB, en-AU, en-IN, fr, es, it), a zero-padded one, and `.` or `-`
        dates (de, ru, pl, nl) put the day first."""
        sep, upper_ampm, padded = self.style or ("/", True, False)
        if sep == "/" and upper_ampm and not padded:
            return "mdy", "month first, as en-US writes `/` dates with AM/PM"
        if padded:
            how = "zero-padded dates"
        elif sep != "/":
            how = f"`{sep}` dates"
        else:
            how = "`/` dates with a 24-hour time or lower-case am/pm"
        return "dmy", f"day first, as the locales that write {how} do (en-GB, en-AU, fr, de …)"

    def said(self) -> str:
        """What the file's dates were read as, for its notes."""
        how = {"dmy": "day first", "mdy": "month first"}.get(self.order or "", "?")
        if not self.assumed:
            return f"dates read {how}, as line {self.decided_at} tells ({self.example!r})"
        why = self.default()[1]
        return f"no date told day from month (none has a number over 12): read {why}{self.early}"

    def resolve(self, rec: TextRecord, zone: LocalZone, near_ms: int = -1) -> None:
        """`rec.ts_ms` from its date (seconds), or `rec.problem` when the date or time cannot be. A wall time
        clocks going back repeat is read as the pass nearer `near_ms`, the record's before it: the CLI prints in
        time order, and the second pass read as the first put its records an hour early."""
        a, _, b, c, h, mi, s, ap = rec.date
        if len(a) == 4:
            y, mo, d = int(a), int(b), int(c)
        elif len(c) == 4:
            first, second = int(a), int(b)
            d, mo = (first, second) if self.order != "mdy" else (second, first)
            y = int(c)
        else:
            rec.problem = f"date {rec.time_text!r} has no four-digit year"
            return
        hour = int(h)
        if ap:
            if not 1 <= hour <= 12 and hour != 0:
                rec.problem = f"hour {hour} in a 12-hour time ({rec.time_text!r})"
                return
            hour = hour % 12 + (12 if ap in "Pp" else 0)
        try:
            secs = zone.epoch_s(y, mo, d, hour, int(mi), int(s))
            if near_ms >= 0 and secs * 1000 < near_ms:
                later = zone.epoch_s(y, mo, d, hour, int(mi), int(s), fold=1)
                if later > secs and abs(later * 1000 - near_ms) < near_ms - secs * 1000:
                    secs = later
        except (ValueError, OverflowError, OSError):
            order = {"dmy": "day first", "mdy": "month first"}.get(self.order or "", "")
            why = (
                f" read {order} (the file's order, from line {self.decided_at})"
                if order and len(a) != 4
                else ""
            )
            rec.problem = f"impossible date or time {rec.time_text!r}{why}"
            return
        ms = int(secs) * 1000
        if not MIN_TS_MS <= ms < MAX_TS_MS:
            rec.problem = f"time {rec.time_text!r} is outside 2000..2100"
            return
        rec.ts_ms = ms


class Framer:
    """Lines of `npx convex logs` text → (kind, line, payload), as `reader.iter_records` yields them:
    RECORD → a `TextRecord` (its first line's number), SKIP/REJECT → (reason, excerpt). Records are held
    while the file has not told its day/month order (at most `MAX_UNDECIDED`), then given in file order."""

    def __init__(
        self, stats: Any, zone: LocalZone, max_len: int, before: int = 0, run_before: int = 0
    ) -> None:
        self.stats = stats
        self.zone = zone
        self.max_len = max_len
        self.order = DateOrder()
        self.current: TextRecord | None = None
        self.blanks = 0  # blank lines after the current record's last line: its own if a line of it follows
        self.blanks_before = 0  # of them, lines of the earlier read (`before`)
        self.held: deque[tuple[int, int, Any]] = deque()
        self.second = -1  # the second of the last record given a time, and how many records had it
        self.in_second = 0
        self.ambiguous = False  # a date whose order was unknown was read
        # a file that grew: its first `before` lines were read by run `run_before`. They are framed again, so
        # that their dates decide the order as they did then and their seconds count in the new records' ms,
        # but not given (nor counted): they were that run's
        self.before = before
        self.run_before = run_before
        self.crossed = before == 0
        self.then: tuple[str, bool] | None = (
            None  # the order that run read them in, and whether it assumed it
        )
        self.swapped = 0  # of its records, those whose date the order now told reads otherwise
        self.swapped_example = ""

    def line(self, line_no: int, text: str) -> Iterator[tuple[int, int, Any]]:
        if not self.crossed and line_no > self.before:
            self._cross()
        if "\x1b" in text:
            text = _ANSI.sub("", text)  # colours, when the CLI was made to print them (FORCE_COLOR)
        m = HEAD.match(text)
        if m is not None:
            yield from self._end()
            rec = TextRecord(line_no, m, text[m.end() :])
            self.current = rec
            return
        stripped = text.strip()
        if not stripped:
            if self.current is not None:
                self.blanks += 1
                self.blanks_before += line_no <= self.before
            elif line_no > self.before:
                self.stats.blank += 1
            return
        if _UNPARSED.match(stripped) or _BANNER.match(stripped):
            # not a line of the record before it: the CLI's own (a legacy line it could not split, its stderr)
            why = (
                "the CLI could not parse a console line (it printed no time and no text)"
                if _UNPARSED.match(stripped)
                else "npx convex logs banner line"
            )
            yield from self._end()
            yield from self._out(SKIP, line_no, (why, stripped[:160]))
            return
        if self.current is None:
            yield from self._out(REJECT, line_no, (NOT_A_LINE, stripped))
            return
        self._take_blanks(line_no)
        self.current.add(text, self.max_len)

    def _take_blanks(self, line_no: int) -> None:
        """The blank lines before a line (`line_no`) of the current record are its own."""
        rec = self.current
        assert rec is not None
        if rec.line <= self.before < line_no and not rec.late:
            rec.late = max(self.before + 1, line_no - self.blanks)  # written after the earlier read
        for _ in range(self.blanks):
            rec.add("", self.max_len)
        self.blanks = self.blanks_before = 0

    def _cross(self) -> None:
        """At the first line after those an earlier ingest read: the order it read their dates in."""
        self.crossed = True
        rec = self.current
        if rec is not None:
            self.order.see(rec)  # its last record (seen again when it ends)
        if self.order.order is not None:
            self.then = (self.order.order, self.order.assumed)
        elif self.ambiguous or (rec is not None and len(rec.date[0]) != 4):
            self.then = (self.order.default()[0], True)  # what it took at its end

    def overlong(self, line_no: int, reason: str, head: str) -> Iterator[tuple[int, int, Any]]:
        """A line longer than the record limit (passed over, not held): the current record's, which it makes
        too long, or rejected alone."""
        if not self.crossed and line_no > self.before:
            self._cross()
        if self.current is None:
            yield from self._out(REJECT, line_no, (reason, head))
            return
        self._take_blanks(line_no)
        self.current.lines += 1
        if (
            not self.current.over
        ):  # the record is rejected as too long, this line its own; its first line the excerpt
            self.current.over = True
            self.current._parts = self.current._parts[:1]

    def foreign(self, items: list[tuple[int, int, Any]]) -> Iterator[tuple[int, int, Any]]:
        """What a line of another format among the text gave (the reader's records of a JSON line): it ends the
        current record, and is given in file order."""
        if not self.crossed and items and items[0][1] > self.before:
            self._cross()
        yield from self._end()
        for kind, line_no, payload in items:
            yield from self._out(kind, line_no, payload)

    def end(self) -> Iterator[tuple[int, int, Any]]:
        yield from self._end()
        if self.held:
            yield from self._decide(by_default=True)
        said = [self.order.said()] if self.ambiguous else []
        if self.then is not None and self.then[1] and self.order.order != self.then[0]:
            said = [self._contradicted(self.then[0])]
            self.stats.swapped = self.swapped
        said.append((ZONE_GIVEN_NOTE if self.zone.given else ZONE_MACHINE_NOTE).format(zone=self.zone.label))
        self.stats.notes.append("npx convex logs text: " + "; ".join(said))
        self.stats.local_tz, self.stats.local_tz_given = self.zone.label, self.zone.given

    def _end(self) -> Iterator[tuple[int, int, Any]]:
        """Close the current record: into the held ones, or out with its time."""
        rec = self.current
        if rec is None:
            return
        self.current = None
        self.stats.blank += self.blanks - self.blanks_before
        self.blanks = self.blanks_before = 0
        rec.close(self.max_len)
        self.order.see(rec)
        if len(rec.date[0]) != 4:
            self.ambiguous = True
        yield from self._out(RECORD, rec.line, rec)
        if rec.late:
            # lines of a record the earlier ingest stored whole as it then was: they are not added to it
            lines = rec.line + rec.lines - rec.late
            rest = rec.body.split("\n")[rec.late - rec.line :] if not rec.over else []
            why = (
                f"continuation of a record read before it was written (line {rec.line}'s, {say_count(lines, 'line')} "
                f"more, written after run {self.run_before} read the file): not added to it"
            )
            yield from self._out(
                REJECT, rec.late, (why, next((x.strip() for x in rest if x.strip()), "")[:160])
            )

    def _out(self, kind: int, line_no: int, payload: Any) -> Iterator[tuple[int, int, Any]]:
        text_record = type(payload) is TextRecord
        if self.order.order is None and (self.held or (text_record and len(payload.date[0]) != 4)):
            self.held.append((kind, line_no, payload))
            if len(self.held) >= MAX_UNDECIDED:
                yield from self._decide(by_default=True)
            return
        if self.held:
            yield from self._decide(by_default=False)
        item = self._timed(kind, line_no, payload)
        if line_no > self.before:
            yield item
        elif text_record:
            self._read_before(payload)

    def _decide(self, by_default: bool) -> Iterator[tuple[int, int, Any]]:
        if self.order.order is None and by_default:
            self.order.order, self.order.assumed = self.order.default()[0], True
            self.order.decided_at = self.held[0][1] if self.held else 0
            if len(self.held) >= MAX_UNDECIDED:
                self.order.early = (
                    f" (taken after {len(self.held):,} records; a later date may contradict it)"
                )
        while self.held:
            kind, line_no, payload = self.held.popleft()
            item = self._timed(kind, line_no, payload)
            if line_no > self.before:
                yield item
            elif type(payload) is TextRecord:
                self._read_before(payload)

    def _read_before(self, rec: TextRecord) -> None:
        """A record the earlier ingest read (and stored): not given again. Counted when its date, read in the
        order now known, is not the one that read gave it (its day and month swapped, were the order other)."""
        a, _, b, c = rec.date[:4]
        if rec.ts_ms is not None and len(a) != 4 and int(a) != int(b):
            self.swapped += 1
            if not self.swapped_example:
                d, mo = (int(b), int(a)) if self.order.order == "mdy" else (int(a), int(b))
                self.swapped_example = (
                    f"line {rec.line}, {rec.time_text!r}, is {c}-{mo:02}-{d:02}, stored as {c}-{d:02}-{mo:02}"
                )

    def _contradicted(self, then: str) -> str:
        """The note on a grown file whose earlier lines were read in an order assumed, that its new lines
        contradict."""
        how = {"dmy": "day first", "mdy": "month first"}
        n = self.swapped
        read = (
            f"{say_count(n, 'record')} it read {'has its' if n == 1 else 'have their'} day and month "
            f"swapped ({self.swapped_example})"
            if n
            else "no record it read is misdated by it (each has the same day and month number)"
        )
        return (
            f"dates read {how[self.order.order or '']}, as line {self.order.decided_at:,} tells "
            f"({self.order.example!r}); run {self.run_before} read the {self.before:,} lines before line "
            f"{self.before + 1:,} {how[then]}, assumed (none of them told day from month): {read}"
        )

    def _timed(self, kind: int, line_no: int, payload: Any) -> tuple[int, int, Any]:
        if kind == RECORD and type(payload) is TextRecord and payload.problem is None:
            self.order.resolve(payload, self.zone, self.second)
            if payload.ts_ms is not None:
                # the k-th record of one second gets k ms: file order kept (the rules order by time), and
                # two identical lines of one second are two events, not one delivered twice
                if payload.ts_ms == self.second:
                    self.in_second += 1
                else:
                    self.second, self.in_second = payload.ts_ms, 0
                payload.ts_ms += min(self.in_second, 999)
        return kind, line_no, payload


NOT_A_LINE = (
    "not a line of npx convex logs (no time and [CONVEX …] before it, and no record above it to continue)"
)


def frame(
    lines: Iterator[tuple[int, str]], stats: Any, zone: LocalZone, max_len: int
) -> Iterator[tuple[int, int, Any]]:
    """(line number, text) → what the reader yields for a file of `npx convex logs` text."""
    framer = Framer(stats, zone, max_len)
    for line_no, text in lines:
        yield from framer.line(line_no, text)
    yield from framer.end()


def parse(rec: Any, events: list[Event], metrics: list[Metric]) -> str | None:
    """One `TextRecord` → its event (and, for a run's error or success line, a `function_execution`
    metric, as the `--jsonl` adapter gives for a Completion)."""
    if not isinstance(rec, TextRecord):
        raise RecordError("not a line of npx convex logs text (this format reads only such files)")
    if rec.problem is not None or rec.ts_ms is None:
        raise RecordError(rec.problem or "no time")
    ts = rec.ts_ms
    ftype = udf_type(UDF_TYPES[rec.udf])
    lines = rec.body.split("\n")
    while len(lines) > 1 and not lines[0].strip():
        del lines[0]  # the text began with a line break: `<time> [CONVEX Q(f)]` alone on its line
    cut = next((i for i in range(1, len(lines)) if _STACK_LINE.match(lines[i])), len(lines))
    text = "\n".join(lines[:cut]).rstrip()
    stack = "\n".join(lines[cut:]) or None
    context: dict[str, Any] = {"function": rec.path, "function_type": ftype, "local_time": rec.time_text}
    tag = _LEVEL_TAG.match(text)
    if tag is not None:
        if text.endswith(TRUNCATED):
            text = text[: -len(TRUNCATED)]
            context["is_truncated"] = True
        level, message = split_level_prefix(text)
        events.append(backend_event(ts, level, message, None, context, stack, cut="is_truncated" in context))
        return None
    done = _EXECUTED.fullmatch(text)
    if done is not None and stack is None:
        try:
            ms: float | None = float(done.group(1))
        except ValueError:
            ms = None
        if ms is not None and ms != ms:  # `NaN`: a run without an execution time
            ms = None
        elif ms is not None and ms.is_integer():
            ms = int(ms)  # the CLI prints whole ms (rounded up)
        message = execution_message(ftype, rec.path, True, ms, None)
        events.append(backend_event(ts, "info", message, None, context))
        metrics.append(_metric(ts, ftype, rec.path, "success", ms))
        return None
    # a failed run: the error as the CLI printed it (no level)
    message = execution_message(ftype, rec.path, False, None, text)
    events.append(backend_event(ts, "error", message, None, context, stack))
    metrics.append(_metric(ts, ftype, rec.path, "failure", None))
    return None


def _metric(ts: int, ftype: str, path: str, status: str, ms: float | None) -> Metric:
    data: dict[str, Any] = {"type": ftype, "path": path, "status": status}
    if ms is not None:
        data["execution_time_ms"] = ms
    return Metric(ts, "backend", "function_execution", data)
