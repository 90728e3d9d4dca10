"""Framing: every physical line is counted, and bad bytes become reasons, never exceptions."""

from __future__ import annotations

import gzip
import io
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logcorr.sources.outcomes import RECORD, REJECT, SKIP, FileStats
from logcorr.sources.reader import iter_records


def read(data: bytes, **kw: int) -> tuple[FileStats, list[tuple[int, int, object]]]:
    stats = FileStats()
    return stats, list(iter_records(io.BytesIO(data), stats, **kw))  # type: ignore[arg-type]


def test_ndjson_lines_become_records_with_their_line_numbers() -> None:
    stats, out = read(b'{"a":1}\n\n{"b":2}\r\n')
    assert stats.mode == "ndjson"
    assert [(k, line) for k, line, _ in out] == [(RECORD, 1), (RECORD, 3)]
    assert stats.lines == 3 and stats.blank == 1


def test_a_json_array_line_yields_each_element_as_a_record() -> None:
    _, out = read(b'[{"a":1},{"b":2}]\n')
    assert [p for _, _, p in out] == [{"a": 1}, {"b": 2}]


def test_malformed_line_is_rejected_with_its_line_and_parsing_goes_on() -> None:
    _, out = read(b'{"a":1}\n{"a":\n{"c":3}\n')
    assert out[1][0] == REJECT and out[1][1] == 2
    assert "malformed JSON" in out[1][2][0]  # type: ignore[index]
    assert out[2] == (RECORD, 3, {"c": 3})


def test_invalid_utf8_is_rejected_by_name() -> None:
    _, out = read(b'{"a":"\xff\xfe"}\n')
    assert out[0][0] == REJECT
    assert "invalid UTF-8" in out[0][2][0]  # type: ignore[index]


def test_byte_order_mark_is_removed_and_noted() -> None:
    stats, out = read(b'\xef\xbb\xbf{"a":1}\n')
    assert out == [(RECORD, 1, {"a": 1})]
    assert any("byte-order mark" in n for n in stats.notes)


def test_last_line_without_newline_is_read() -> None:
    stats, out = read(b'{"a":1}\n{"b":2}')
    assert [p for _, _, p in out] == [{"a": 1}, {"b": 2}]
    assert stats.lines == 2


def test_values_written_back_to_back_on_a_line_are_each_read_with_that_line() -> None:
    # webhook bodies appended to a file with no newline between them (Convex's jsonl body has none at its end)
    stats, out = read(b'{"a":1}\n{"b":2}{"c":3} {"d":4}\r\n[{"e":5}][{"f":6}]\n{"g":7}{"h":8}')
    assert stats.mode == "ndjson"
    assert out == [(RECORD, 1, {"a": 1}), (RECORD, 2, {"b": 2}), (RECORD, 2, {"c": 3}), (RECORD, 2, {"d": 4}),
                   (RECORD, 3, {"e": 5}), (RECORD, 3, {"f": 6}), (RECORD, 4, {"g": 7}), (RECORD, 4, {"h": 8})]  # fmt: skip
    assert stats.lines == 4


@pytest.mark.parametrize(
    "line", [b'{"a":1}x', b'{"a":1} 42', b'{"a":1}{"b":', b'{"a":1}{"b":NaN}', b'{"a":1}\xff']
)
def test_a_line_that_is_not_values_back_to_back_is_rejected_whole(line: bytes) -> None:
    for data in (line + b"\n", line):  # also as the last line, without its newline
        _, out = read(b'{"z":0}\n' + data)
        assert out[0] == (RECORD, 1, {"z": 0})
        assert [(k, n) for k, n, _ in out[1:]] == [(REJECT, 2)], line


def test_a_line_cut_off_by_a_truncated_gzip_is_one_reject() -> None:
    cut = gzip.compress(b"".join(b'{"n":%d,"pad":"%s"}\n' % (i, b"x" * 40) for i in range(2000)))[:-40]
    stats, out = read(cut)
    rejects = [(n, p) for k, n, p in out if k == REJECT]
    assert len(rejects) == 1, rejects
    line, (reason, _) = rejects[0]  # type: ignore[misc]
    assert line == stats.lines and reason.startswith("truncated gzip file")
    assert "; its last line cut off (malformed JSON" in reason
    assert sum(k == RECORD for k, _, _ in out) == stats.lines - 1


def test_a_pretty_printed_value_cut_off_by_a_truncated_gzip_is_one_reject() -> None:
    # wrangler tail output (objects pretty-printed back to back), gzipped and cut: the cut-off object and the
    # truncation were two rejects for one value, where an NDJSON line gets one
    text = b"".join(b'{\n  "n": %d,\n  "pad": "%s"\n}\n' % (i, b"x" * 40) for i in range(2000))
    cut = gzip.compress(text)[:-40]
    stats, out = read(cut)
    rejects = [(n, p) for k, n, p in out if k == REJECT]
    assert len(rejects) == 1, rejects
    reason, _ = rejects[0][1]  # type: ignore[misc]
    assert (
        reason.startswith("truncated gzip file")
        and "; its last value cut off (malformed or truncated JSON" in reason
    )
    assert stats.notes.count("truncated gzip file: the compressed stream ends early") == 1
    assert sum(k == RECORD for k, _, _ in out) > 1000


def test_a_value_cut_off_in_a_string_names_its_line_once() -> None:
    # a pretty-printed file cut inside a string read "(Unterminated string starting at at line 3)": json's
    # message ends in "at", and the line was appended after another "at"
    _, out = read(b'{\n  "a": 1\n}\n{\n  "message": "cut off here')
    rejects = [p for k, _, p in out if k == REJECT]
    assert len(rejects) == 1, out
    reason = rejects[0][0]  # type: ignore[index]
    # the value begins on line 4 (the reject's line); the string on its second
    assert [n for k, n, _ in out if k == REJECT] == [4]
    assert "Unterminated string starting at the value's line 2" in reason, reason
    assert "at at" not in reason


def test_a_malformed_value_is_rejected_for_what_is_wrong_not_for_what_follows_it() -> None:
    """A value wrong where the text goes on is rejected at once, saying what is wrong and where in it: it was read on
    to the record limit and said "longer than the limit or malformed" in a long file, "malformed or truncated" near
    the end of one, so that a part of a file (a shard) could say otherwise than the whole."""
    bad = b'{\n  "message": "cut off",\n  "level": "log",\n{\n  "message": "next"\n}\n'
    good = b'{\n  "message": "m",\n  "level": "log"\n}\n'
    for after in (b"", good * 3, good * 3000):
        _, out = read(good + bad + after, max_record_bytes=4096)
        rejects = [(n, p[0]) for k, n, p in out if k == REJECT]  # type: ignore[index]
        assert rejects == [
            (5, "malformed JSON (Expecting property name enclosed in double quotes at the value's line 4)")
        ], after[:20]
        assert sum(k == RECORD for k, _, _ in out) == 2 + after.count(b"{")


@pytest.mark.parametrize(
    ("packed", "why"),
    [
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(256)) * 40, "a zip archive, unzip it"),
        (b"BZh91AY&SY" + b"\n\x00\xff" * 999, "a bzip2-compressed file, decompress it first"),
        (b"\xfd7zXZ\x00\x00\x04\xe6\xd6\xb4F\n", "an xz-compressed file"),
        (b"\x28\xb5\x2f\xfd\x04\x58\n\n", "a zstd-compressed file"),
    ],
)
def test_an_archive_or_another_compression_is_one_reject_saying_what_to_do(packed: bytes, why: str) -> None:
    stats, out = read(packed)
    assert [(k, n) for k, n, _ in out] == [(REJECT, 1)]
    assert out[0][2][0].startswith(why)  # type: ignore[index]
    assert stats.lines == 1 and stats.bytes_read == len(packed)


def test_text_that_begins_like_a_compression_magic_is_read_as_text() -> None:
    _, out = read(b'BZhello\n{"a":1}\n')
    assert out[-1] == (RECORD, 2, {"a": 1})


def test_an_overlong_text_line_in_a_scanned_file_is_passed_over_not_held() -> None:
    # not JSON, so the file is scanned: the line was held whole to find its end (150 MB peaked at 746 MB)
    data = b"x" * 5000 + b"\n" + b'{"a":1}\n' + b"Connected to x, waiting for logs...\n" + b'{"b":2}'
    stats, out = read(data, max_record_bytes=1000)
    assert stats.mode == "scan" and stats.lines == 4
    assert [(k, n) for k, n, _ in out] == [(REJECT, 1), (RECORD, 2), (SKIP, 3), (RECORD, 4)]
    assert out[0][2][0] == "line longer than the 1000-byte limit"  # type: ignore[index]
    assert out[0][2][1].startswith("xxxx")  # type: ignore[index]


def test_overlong_line_is_rejected_without_holding_it_in_memory() -> None:
    big = b'{"m":"' + b"x" * 3_000_000 + b'"}'
    stats, out = read(b'{"a":1}\n' + big + b'\n{"b":2}\n', max_record_bytes=1 << 20)
    kinds = [(k, line) for k, line, _ in out]
    assert kinds == [(RECORD, 1), (REJECT, 2), (RECORD, 3)]
    assert "longer than" in out[1][2][0]  # type: ignore[index]
    assert stats.lines == 3


def test_an_overlong_lines_excerpt_is_its_own_wherever_the_chunks_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A line too long to hold is rejected with an excerpt of its own first bytes, the same whether it was
    read whole or across chunk ends (then it is dropped as it goes), never with bytes of the lines after it."""
    from logcorr.sources import bytestream

    data = b'{"a":1}\n{"m":"' + b"abcdefghij" * 20 + b'"}\n{"b":2}\n{"c":"next line"}\n'
    whole = read(data, max_record_bytes=40)[1]
    monkeypatch.setattr(bytestream, "CHUNK", 64)  # the long line spans four chunks
    cut = read(data, max_record_bytes=40)[1]
    assert cut == whole
    reason, text = cut[1][2]  # type: ignore[misc]
    assert cut[1][:2] == (REJECT, 2) and "longer than the 40-byte limit" in reason
    assert text.startswith('{"m":"abcdefghij') and "next line" not in text and '"b"' not in text


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(["banner", "blank", "spaces", "pretty", "compact"]), min_size=1, max_size=12),
    st.sampled_from(["\n", "\r\n"]),
    st.booleans(),
)
def test_every_line_of_a_scanned_file_is_in_a_record_skipped_rejected_or_blank(
    items: list[str], eol: str, last_eol: bool
) -> None:
    """The blank lines of a scanned file (a `wrangler tail` capture's empty line after its banner, between its
    objects) were counted nowhere: the file's lines did not add up."""
    parts = {
        "banner": "Connected to worker, waiting for logs...",
        "blank": "",
        "spaces": " \t ",
        "pretty": '{\n  "outcome": "ok",\n  "logs": []\n}'.replace("\n", eol),
        "compact": '{"outcome": "ok"}',
    }
    text = (
        "Successfully created tail, expires at 2024-05-05T12:00:00Z" + eol + eol.join(parts[i] for i in items)
    )
    if last_eol:
        text += eol
    stats, out = read(text.encode())
    assert stats.mode == "scan"
    in_records = sum(parts[i].count("\n") + 1 for i in items if i in ("pretty", "compact"))
    skipped = sum(1 for k, _, _ in out if k == SKIP)
    assert sum(1 for k, _, _ in out if k == REJECT) == 0
    assert stats.blank == sum(1 for i in items if i in ("blank", "spaces")) - (
        not last_eol and items[-1] == "blank"
    )
    assert stats.lines == in_records + skipped + stats.blank


def test_pretty_printed_objects_with_banner_lines_are_scanned() -> None:
    data = (
        b"Successfully created tail, expires at 2024-05-05T12:00:00Z\n"
        b"Connected to worker, waiting for logs...\n"
        b'{\n  "outcome": "ok",\n  "logs": []\n}\n'
        b'{\n  "outcome": "exception"\n}\n'
    )
    stats, out = read(data)
    assert stats.mode == "scan"
    assert [(k, line) for k, line, _ in out] == [(SKIP, 1), (SKIP, 2), (RECORD, 3), (RECORD, 7)]
    assert stats.lines == 9


def test_a_pretty_printed_object_the_fast_path_leaves_is_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """`wrangler tail --format json` objects, which the compiled parser does not read: each was read by orjson to
    be offered to it, then decoded again by the scanner (ingest's parse phase 1.12 s → 1.37 s on 40,000 of
    them). What orjson read is the record; the scanner decodes only what orjson refuses (`NaN`)."""
    from logcorr.sources import scan

    decoded: list[int] = []
    real = scan._decode_one
    monkeypatch.setattr(scan, "_decode_one", lambda *a: decoded.append(1) or real(*a))
    offered: list[bytes] = []

    def leave(buf: bytes, pos: int, end: int, line_no: int) -> tuple[int, int, None]:
        offered.append(buf[pos:end])
        return 0, pos, None

    data = (
        b"Connected to worker, waiting for logs...\n"
        b'{\n  "outcome": "ok",\n  "logs": [\n    {\n      "message": ["hi"]\n    }\n  ]\n}\n'
        b'{\n  "outcome": "exception",\n  "n": 1.5\n}\n'
        b'{\n  "outcome": "ok",\n  "n": NaN\n}\n'
    )
    stats = FileStats()
    out = list(iter_records(io.BytesIO(data), stats, claim=leave))
    assert [(k, line) for k, line, _ in out] == [(SKIP, 1), (RECORD, 2), (RECORD, 10), (REJECT, 14)]
    assert out[1][2] == {"outcome": "ok", "logs": [{"message": ["hi"]}]}
    assert out[2][2] == {"outcome": "exception", "n": 1.5}
    assert offered == [b'{"outcome":"ok","logs":[{"message":["hi"]}]}', b'{"outcome":"exception","n":1.5}']
    assert len(decoded) == 1  # the NaN one only
    assert stats.lines == 17


def _read_from_a_stack_deeper_by(frames: int, data: bytes) -> list[tuple[int, int, object]]:
    if frames:
        return _read_from_a_stack_deeper_by(frames - 1, data)
    return list(iter_records(io.BytesIO(data), FileStats(), max_record_bytes=1 << 20))


def test_how_deeply_nested_a_scanned_value_may_be_does_not_depend_on_the_callers_stack() -> None:
    """A parse worker calls the reader from fewer frames than the ingesting process: a value nested about 990 deep
    was rejected as "JSON nested too deeply" by one and read (then rejected as unsupported, as orjson refuses to
    write it) by the other, so `--jobs 2` and `--jobs 1` gave its line different reasons."""
    data = b"\n".join(
        b'{\n  "message": "deep %d",\n  "x": ' % d + b"[" * d + b"]" * d + b"\n}"
        for d in (300, 850, 900, 950, 1050, 1200)
    )
    shallow = _read_from_a_stack_deeper_by(0, data)
    assert shallow == _read_from_a_stack_deeper_by(200, data)
    assert [(kind, line, reason.split(" (")[0]) for kind, line, (reason, _) in shallow] == [
        (REJECT, 1, "unsupported JSON value"),
        (REJECT, 5, "unsupported JSON value"),
        (REJECT, 9, "unsupported JSON value"),
        (REJECT, 13, "unsupported JSON value"),
        (REJECT, 17, "unsupported JSON value"),
        (REJECT, 21, "JSON nested too deeply"),
    ]


def test_pretty_printed_array_elements_keep_their_own_line_numbers() -> None:
    _stats, out = read(b'[\n  {"topic": "console"},\n  {"topic": "x"}\n]\n')
    assert [(k, line) for k, line, _ in out] == [(RECORD, 2), (RECORD, 3)]


def test_scanner_resyncs_after_a_broken_object() -> None:
    data = b'{\n "a": 1,\n "b": \n}\n{"ok": 1}\n'
    _, out = read(data)
    assert out[0][0] == REJECT and out[0][1] == 1
    assert out[-1] == (RECORD, 5, {"ok": 1})


def test_gzip_is_detected_by_magic_bytes_not_by_name() -> None:
    _, out = read(gzip.compress(b'{"a":1}\n{"b":2}\n'))
    assert [p for _, _, p in out] == [{"a": 1}, {"b": 2}]


def test_concatenated_gzip_members_are_all_read() -> None:
    _, out = read(gzip.compress(b'{"a":1}\n') + gzip.compress(b'{"b":2}\n'))
    assert [p for _, _, p in out] == [{"a": 1}, {"b": 2}]


def test_truncated_gzip_keeps_every_complete_line_and_reports_the_cut() -> None:
    payload = b"".join(b'{"n":%d}\n' % i for i in range(200_000))
    cut = gzip.compress(payload)[:-5000]
    _stats, out = read(cut)
    records = [p for k, _, p in out if k == RECORD]
    rejects = [p for k, _, p in out if k == REJECT]
    assert len(records) > 100_000
    assert records == [{"n": i} for i in range(len(records))]
    assert any("truncated" in r[0] for r in rejects)  # type: ignore[index]


def test_corrupt_gzip_is_a_reason_not_an_exception() -> None:
    _, out = read(b"\x1f\x8bnot really gzip at all")
    assert out and out[-1][0] == REJECT
    assert "gzip" in out[-1][2][0]  # type: ignore[index]


def test_gzip_bomb_is_stopped_at_the_limit() -> None:
    bomb = gzip.compress(b'{"a":1}\n' * 2_000_000)  # 16 MB unpacked
    from logcorr.sources import reader

    _, out = read(bomb, max_decompressed=1 << 20)
    assert out[-1][0] == REJECT
    assert "limit" in out[-1][2][0]  # type: ignore[index]
    assert reader.DEFAULT_MAX_DECOMPRESSED > 1 << 30


def test_a_gzip_bomb_is_inflated_a_few_megabytes_at_a_time() -> None:
    # 256 MB of zeros in 250 KB: the whole compressed megabyte was inflated at once before the limit was
    # looked at (a 1 MB file with a 1 MB limit peaked at 2.2 GB)
    from logcorr.sources.bytestream import CHUNK, TruncatedInput, _Source

    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = b"".join([z.compress(b'{"a":1}\n'), *(z.compress(bytes(1 << 20)) for _ in range(256)), z.flush()])
    src = _Source(io.BytesIO(bomb), False, 1 << 20)
    with pytest.raises(TruncatedInput, match="limit"):
        while src.read(CHUNK):
            assert src.decompressed <= (1 << 20) + 5 * CHUNK
    assert src.decompressed <= (1 << 20) + 5 * CHUNK


def test_empty_input_has_no_records_and_no_lines() -> None:
    stats, out = read(b"")
    assert out == [] and stats.lines == 0


@pytest.mark.parametrize(
    ("tail", "note"), [(b"\x00" * 512, "zero padding"), (b"junk after it\n", "bytes after")]
)
def test_bytes_after_the_last_gzip_member_are_passed_over_with_a_note(tail: bytes, note: str) -> None:
    """`gzip -t` accepts a stream padded with zeros (and warns of junk); every line was lost with it."""
    payload = b"".join(b'{"n":%d}\n' % i for i in range(3000))
    stats, out = read(gzip.compress(payload) + tail)
    assert [p for k, _, p in out if k == RECORD] == [{"n": i} for i in range(3000)]
    assert not [p for k, _, p in out if k == REJECT]
    assert any(note in n for n in stats.notes)


def test_corrupt_gzip_keeps_every_line_inflated_before_the_fault() -> None:
    """A fault in the middle threw away all a 1 MiB chunk had inflated before it."""
    payload = b"".join(b'{"n":%d,"pad":"%s"}\n' % (i, b"x" * (i % 50)) for i in range(200_000))
    packed = bytearray(gzip.compress(payload, compresslevel=1))
    at = len(packed) // 2
    packed[at : at + 40] = bytes(40)
    _stats, out = read(bytes(packed))
    records = [p for k, _, p in out if k == RECORD]
    assert records == [p for p in records if isinstance(p, dict)] and len(records) > 0
    assert [r["n"] for r in records[:1000]] == list(range(1000))  # type: ignore[index]
    # all but the lines inflated from the last ~512 compressed bytes before the fault
    good_bytes = sum(len(b'{"n":%d,"pad":"%s"}\n' % (i, b"x" * (i % 50))) for i in range(len(records)))
    assert good_bytes > len(payload) * (at - 1024 - 20) / len(packed)
    assert any("corrupt gzip" in p[0] for k, _, p in out if k == REJECT)  # type: ignore[index]


def test_a_byte_order_mark_in_the_middle_of_a_file_is_removed_as_at_its_start() -> None:
    """`cat a.jsonl b.jsonl` puts b's byte-order mark at the start of a line: it was rejected as invalid UTF-8."""
    stats, out = read(b'{"n":1}\n\xef\xbb\xbf{"n":2}\n{"n":3}\n')
    assert [p for k, _, p in out if k == RECORD] == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert "UTF-8 byte-order mark removed" in stats.notes


def test_a_bad_element_of_a_pretty_printed_array_costs_that_element_only() -> None:
    """Reading resumed only at a line starting with `{`, and an indented array's elements never do: the six
    good elements after a broken one vanished without a reject."""
    import json

    elements = [json.dumps({"n": i, "ctx": {"a": [1, 2]}}, indent=2) for i in range(10)]
    text = "[\n" + ",\n".join("  " + e.replace("\n", "\n  ") for e in elements) + "\n]\n"
    broken = text.replace('"n": 3,', '"n": 3', 1)  # a comma missing inside element 3
    _stats, out = read(broken.encode())
    assert [p["n"] for k, _, p in out if k == RECORD] == [0, 1, 2, 4, 5, 6, 7, 8, 9]  # type: ignore[index]
    (reject,) = [line for k, line, _ in out if k == REJECT]
    start = broken.rfind("{", 0, broken.index('"n": 3'))  # the broken element's first line
    assert reject == broken[:start].count("\n") + 1


@pytest.mark.parametrize("value", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
def test_a_pretty_printed_record_with_a_non_finite_number_is_rejected_as_its_ndjson_line_is(
    value: bytes,
) -> None:
    """The scanner stored NaN, Infinity and 1e400 as null; orjson, which reads NDJSON lines, rejects them."""
    record = b'{\n  "message": "m",\n  "n": ' + value + b"\n}\n"
    _stats, out = read(b'{\n  "ok": 1\n}\n' + record)
    assert [p for k, _, p in out if k == RECORD] == [{"ok": 1}]
    assert [p[0] for k, _, p in out if k == REJECT] == [  # type: ignore[index]
        "unsupported JSON value (NaN, Infinity or a number beyond the float range)"
    ]
    _stats, nd = read(b'{"ok": 1}\n' + record.replace(b"\n", b"") + b"\n")
    assert [k for k, _, _ in nd] == [RECORD, REJECT]


def test_a_pretty_printed_record_over_the_size_limit_is_rejected_and_the_next_one_read() -> None:
    big = b'{\n  "message": "' + "€".encode() * 400 + b'"\n}\n'
    _stats, out = read(big + b'{\n  "n": 2\n}\n', max_record_bytes=1000)
    assert [p for k, _, p in out if k == RECORD] == [{"n": 2}]
    assert ["longer than the 1000-byte limit" in p[0] for k, _, p in out if k == REJECT] == [True]  # type: ignore[index]


def test_a_huge_integer_is_read_as_orjson_reads_it_in_both_framings() -> None:
    _stats, out = read(b'{\n  "n": 123456789012345678901234567890\n}\n')
    _stats, nd = read(b'{"n": 123456789012345678901234567890}\n')
    assert (
        [p for k, _, p in out if k == RECORD]
        == [p for k, _, p in nd if k == RECORD]
        == [{"n": 1.2345678901234568e29}]
    )


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
def test_the_line_limit_counts_the_line_not_its_ending(ending: bytes) -> None:
    """A line of exactly the limit was stored with LF and rejected with CRLF."""
    limit = 3000
    body = b'{"m":"' + b"x" * (limit - 8) + b'"}'
    assert len(body) == limit
    _stats, out = read(body + ending + body + b"x" + ending, max_record_bytes=limit)
    assert [k for k, _, _ in out] == [RECORD, REJECT]
    # across read chunks too: the line longer than a chunk
    from logcorr.sources.bytestream import CHUNK

    big = b'{"m":"' + b"y" * (CHUNK + 100) + b'"}'
    _stats, out = read(big + ending, max_record_bytes=len(big))
    assert [k for k, _, _ in out] == [RECORD]


def test_an_ndjson_file_whose_first_record_is_longer_than_a_chunk_is_read_line_by_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The mode is picked from the first line whole: a first record over the first chunk (a megabyte) made the
    whole file scanned, 2.4× slower (and never split between workers)."""
    from logcorr.sources import bytestream

    monkeypatch.setattr(bytestream, "CHUNK", 64)
    big = b'{"message":"' + b"x" * 300 + b'","level":"log"}'
    stats, out = read(big + b'\n{"a":1}\n{"b":2}\n')
    assert stats.mode == "ndjson"
    assert [(k, n) for k, n, _ in out] == [(RECORD, 1), (RECORD, 2), (RECORD, 3)]


@pytest.mark.parametrize("pad", [0, 1, 10, 29])  # 10, 29: the first 64 bytes end with a `}`
def test_a_one_line_json_array_is_read_element_by_element_wherever_the_first_chunk_ends(
    monkeypatch: pytest.MonkeyPatch, pad: int
) -> None:
    """A JSON array on one line (an API dump): within the detection window it is one NDJSON line; beyond it
    it is scanned element by element (never held whole). It was rejected whole as one overlong line when the
    first chunk happened to end with a `}` (then it looked like a complete NDJSON line), and scanned when not."""
    from logcorr.sources import bytestream, reader

    monkeypatch.setattr(bytestream, "CHUNK", 64)
    monkeypatch.setattr(reader, "DETECT_BYTES", 256, raising=False)
    items = [b'{"n":%d,"pad":"%s"}' % (i, b"y" * (i % 5)) for i in range(60)]
    data = b" " * pad + b"[" + b",".join(items) + b"]\n"
    stats, out = read(data, max_record_bytes=1000)
    assert stats.mode == "scan" and stats.lines == 1
    assert [p["n"] for k, _, p in out if k == RECORD] == list(range(60))  # type: ignore[index]
    assert all(k == RECORD for k, _, _ in out)
    # within the window: one NDJSON line of records
    monkeypatch.setattr(reader, "DETECT_BYTES", 1 << 20)
    stats, out = read(data, max_record_bytes=1 << 20)
    assert stats.mode == "ndjson" and [p["n"] for _, _, p in out] == list(range(60))  # type: ignore[index]


def test_a_gzip_file_cut_off_in_its_first_line_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from logcorr.sources import bytestream

    monkeypatch.setattr(bytestream, "CHUNK", 64)
    cut = gzip.compress(b'{"message":"' + bytes(range(65, 91)) * 40 + b'"}\n{"a":1}\n')[:-30]
    stats, out = read(cut)
    # the mode is picked while the first line is read on: the cut met then is still said, as the last reject
    assert stats.lines == 1 and out[-1][0] == REJECT and out[-1][2][0].startswith("truncated gzip file")  # type: ignore[index]


PRETTY = b'{\n  "a": 1,\n  "ctx": {\n    "b": [\n      2\n    ]\n  }\n}\n'


def test_pretty_printed_values_after_ndjson_lines_are_read_whole() -> None:
    """An NDJSON export and a pretty-printed one joined with `cat`: each line of the pretty part was rejected as
    malformed JSON (a dozen rejects per record, and the records lost). Each value is read whole, its records
    with its first line's number, and a note says so."""
    from logcorr.sources import ndjson

    data = (
        b'{"n":1}\n'
        + PRETTY
        + b"\n"
        + b'{"n":2}\r\n'
        + b'[\n  {"e": 1},\n  {"e": 2}\n]\n'
        + PRETTY.replace(b"\n", b"\r\n")
    )
    stats, out = read(data)
    assert stats.mode == "ndjson" and stats.lines == 23
    value = {"a": 1, "ctx": {"b": [2]}}
    assert out == [(RECORD, 1, {"n": 1}), (RECORD, 2, value), (RECORD, 11, {"n": 2}), (RECORD, 12, {"e": 1}),
                   (RECORD, 12, {"e": 2}), (RECORD, 16, value)]  # fmt: skip
    assert ndjson.PRETTY_NOTE in stats.notes


def test_a_pretty_printed_value_cut_off_is_one_reject_for_its_lines_and_the_next_record_is_read() -> None:
    cut = b"{\n" + b'  "a": 1,\n' * 5
    stats, out = read(b'{"n":1}\n' + cut + b'{"n":2}\n' + cut)
    assert [(k, n) for k, n, _ in out] == [(RECORD, 1), (REJECT, 2), (RECORD, 8), (REJECT, 9)]
    assert out[1][2][0] == "malformed or truncated pretty-printed JSON value (6 lines from here)"  # type: ignore[index]
    assert out[3][2][0] == "malformed or truncated pretty-printed JSON value (6 lines from here)"  # type: ignore[index]
    assert stats.lines == 14


def test_a_pretty_printed_value_that_is_not_json_or_too_long_is_one_reject() -> None:
    _, out = read(b'{"n":1}\n{\n  "a": 1,\n}\n{"n":2}\n')
    assert [(k, n) for k, n, _ in out] == [(RECORD, 1), (REJECT, 2), (RECORD, 5)]
    assert out[1][2][0].startswith("malformed JSON (") and out[1][2][0].endswith(
        "; pretty-printed, 3 lines from here)"
    )  # type: ignore[index]
    long = b"{\n" + b'  "a": "%s",\n' % (b"x" * 100) * 20 + b'  "z": 1\n}\n'
    _, out = read(b'{"n":1}\n' + long + b'{"n":2}\n', max_record_bytes=1000)
    assert [(k, n) for k, n, _ in out] == [(RECORD, 1), (REJECT, 2), (RECORD, 25)]
    assert out[1][2][0] == "JSON value longer than the 1000-byte limit (23 lines from here)"  # type: ignore[index]


@pytest.mark.parametrize("chunk", [7, 64])
def test_pretty_printed_values_are_read_the_same_wherever_the_chunks_end(
    monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    from logcorr.sources import bytestream

    data = b'{"n":1}\n' + PRETTY * 3 + b'{"n":2}\n{\n  "cut": 1\n' + PRETTY + b'{"n":3}'
    whole = read(data)
    monkeypatch.setattr(bytestream, "CHUNK", chunk)
    assert read(data) == whole


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_a_utf16_file_is_read_as_text_with_a_note(monkeypatch: pytest.MonkeyPatch, codec: str) -> None:
    """Windows PowerShell 5's `>` writes UTF-16 with a byte-order mark: each line was rejected as "not JSON" (every
    other byte a NUL) and the file called no export logcorr reads."""
    from logcorr.sources import bytestream, reader

    text = '{"m":"caf\u00e9 \U0001f600"}\r\n{\n  "n": 2\n}\n{"o":3}'
    data = "\ufeff".encode(codec) + text.encode(codec)
    expected = [(RECORD, 1, {"m": "caf\u00e9 \U0001f600"}), (RECORD, 2, {"n": 2}), (RECORD, 5, {"o": 3})]
    for raw in (data, gzip.compress(data)):
        stats, out = read(raw)
        assert out == expected and stats.lines == 5
        assert reader.UTF16_NOTE in stats.notes and stats.bytes_read == len(raw)
    monkeypatch.setattr(
        bytestream, "CHUNK", 3
    )  # odd reads: half a character, half a surrogate pair at a chunk's end
    assert read(data)[1] == expected


def test_an_arrays_trailing_comma_is_passed_over_on_a_line_as_in_a_pretty_printed_array() -> None:
    """`[{…},{…},]` on a line was rejected whole (its records lost, the file called no export); the scanner read
    the same array pretty-printed. A trailing comma anywhere else still rejects the line."""
    stats, out = read(b'[{"a":1},{"b":2},]\n[{"c":3} , ]\r\n{"d":[1,]}\n[{"e":[1,]}]\n[\n  {"f":6},\n]\n')
    assert out[:3] == [(RECORD, 1, {"a": 1}), (RECORD, 1, {"b": 2}), (RECORD, 2, {"c": 3})]
    assert [(k, n) for k, n, _ in out[3:]] == [(REJECT, 3), (REJECT, 4), (RECORD, 5)]
    assert "trailing comma" in out[3][2][0] and "trailing comma" in out[4][2][0]  # type: ignore[index]
    stats, out = read(b'[\n  {"a":1},\n  {"b":2},\n]\n')
    assert stats.mode == "scan" and [p for _, _, p in out] == [{"a": 1}, {"b": 2}]


@pytest.mark.parametrize(
    ("data", "expected", "lines"),
    [
        # a log cut by `logrotate copytruncate` while written to: the writer's next line lands after a hole
        (b"\0" * 5000 + b'{"a":1}\n{"b":2}\n', [(RECORD, 1, {"a": 1}), (RECORD, 2, {"b": 2})], 2),
        (b'{"a":1}\n' + b"\0" * 300 + b'{"b":2}\n', [(RECORD, 1, {"a": 1}), (RECORD, 2, {"b": 2})], 2),
        # a crash: NUL-filled blocks, on a line of their own or at the end
        (b'{"a":1}\n\0\0\0\0\n{"b":2}\n\0\0\0', [(RECORD, 1, {"a": 1}), (RECORD, 3, {"b": 2})], 4),
        (b"\0" * 50 + b'{\n  "a": 1\n}\n', [(RECORD, 1, {"a": 1})], 3),  # before a pretty-printed file
    ],
)
def test_nul_bytes_before_a_line_are_passed_over_with_a_note(
    data: bytes, expected: list[tuple[int, int, object]], lines: int
) -> None:
    from logcorr.sources import outcomes

    stats, out = read(data)
    assert out == expected and stats.lines == lines
    assert outcomes.NUL_NOTE in stats.notes


@pytest.mark.parametrize("chunk", [16, 1 << 20])
def test_a_run_of_nul_bytes_longer_than_the_limit_is_not_held_nor_the_record_after_it_lost(
    monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    # a copytruncate hole is as long as the file was: it was one overlong line, with the record ending it
    from logcorr.sources import bytestream, outcomes

    monkeypatch.setattr(bytestream, "CHUNK", chunk)
    data = b'{"a":1}\n' + b"\0" * 5000 + b'{"b":2}\n' + b"\0" * 3000
    stats, out = read(data, max_record_bytes=1000)
    assert out == [(RECORD, 1, {"a": 1}), (RECORD, 2, {"b": 2})] and stats.lines == 3 and stats.blank == 1
    assert outcomes.NUL_NOTE in stats.notes


def test_npx_convex_logs_text_is_read_as_such_and_among_json_lines_rejected_with_the_hint() -> None:
    # a file of it is read (sources/convex_text.py); its lines after a JSON line are rejected, saying why
    from logcorr.sources import outcomes
    from logcorr.sources.convex_text import TextRecord

    text = (
        b"8/5/2025, 9:00:01 AM [CONVEX Q(messages:list)] [LOG] 'listing'\n"
        b"8/5/2025, 9:00:02 AM [CONVEX M(messages:send)] Uncaught Error: boom\n"
    )
    stats, out = read(text)
    assert stats.mode == "convex-text" and [(k, type(p)) for k, _, p in out] == [(RECORD, TextRecord)] * 2
    _, out = read(b'{"a":1}\n' + text)
    assert [p[0] for k, _, p in out if k == REJECT] == [outcomes.CONVEX_TEXT] * 2  # type: ignore[index]


def test_a_last_line_without_a_line_feed_is_read_as_any_line_after_a_byte_order_mark() -> None:
    # `cat a.jsonl b.jsonl`, b a one-record file with a byte-order mark and no line feed at its end: its record was
    # rejected ("BOM is not supported"), read when a line feed followed it
    stats, out = read(b'{"n":1}\n\xef\xbb\xbf{"n":2}')
    assert out == [(RECORD, 1, {"n": 1}), (RECORD, 2, {"n": 2})] and stats.lines == 2


@pytest.mark.parametrize("chunk", [64, 1 << 20])
def test_a_line_longer_than_the_limit_inside_a_pretty_printed_value_rejects_the_value_wherever_the_chunks_end(
    monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    # a line too long that runs past a chunk's end was rejected alone and the value read without it (a record
    # stored without its field), the reject's line before the value's; within a chunk the value was one reject
    from logcorr.sources import bytestream

    monkeypatch.setattr(bytestream, "CHUNK", chunk)
    long = b'  "x": "' + b"x" * 2000 + b'",\n'
    stats, out = read(b'{"n":1}\n{\n  "a": 1,\n' + long + b'  "z": 2\n}\n{"n":2}\n', max_record_bytes=1000)
    assert [(k, n) for k, n, _ in out] == [(RECORD, 1), (REJECT, 2), (RECORD, 7)] and stats.lines == 7
    assert out[1][2][0] == "JSON value longer than the 1000-byte limit (5 lines from here)"  # type: ignore[index]
    # at column 0 it is no line of the value: the value is cut off before it, then it is rejected as too long
    stats, out = read(b'{"n":1}\n{\n  "a": 1,\n' + long[2:] + b'{"n":2}\n', max_record_bytes=1000)
    assert [(k, n) for k, n, _ in out] == [(RECORD, 1), (REJECT, 2), (REJECT, 4), (RECORD, 5)]
    assert out[1][2][0] == "malformed or truncated pretty-printed JSON value (2 lines from here)"  # type: ignore[index]
    assert out[2][2][0] == "line longer than the 1000-byte limit"  # type: ignore[index]


@pytest.mark.parametrize("chunk", [16, 1 << 20])
def test_nul_bytes_before_a_line_of_a_pretty_printed_value_are_passed_over_wherever_the_chunks_end(
    monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    # the NULs of a line begun in an earlier chunk were passed over, those of a line within one were not: the
    # same line was the value's, or cut it off, as the chunks happened to end
    from logcorr.sources import bytestream, outcomes

    monkeypatch.setattr(bytestream, "CHUNK", chunk)
    stats, out = read(
        b'{"n":1}\n{\n' + b"\0" * 40 + b'  "a": 1\n}\n' + b"\0" * 40 + b"{\n" + b'  "b": 2\n}\n'
    )
    assert out == [(RECORD, 1, {"n": 1}), (RECORD, 2, {"a": 1}), (RECORD, 5, {"b": 2})] and stats.lines == 7
    assert outcomes.NUL_NOTE in stats.notes


def test_a_stream_that_begins_mid_file_is_never_taken_for_gzip() -> None:
    # a shard (or the lines a grown log gained) that begins with gzip's magic bytes: a line of them (`cat a.jsonl
    # b.jsonl.gz`) was inflated as gzip, its records read where the whole file rejects the line
    member = gzip.compress(b'{"b":2}\n', mtime=0)  # no line feed in it (a time in the header could be one)
    assert b"\n" not in member
    stats, out = read(member + b'\n{"a":1}\n', mode="ndjson", file_start=False)  # type: ignore[arg-type]
    assert [(k, n) for k, n, _ in out] == [(REJECT, 1), (RECORD, 2)] and out[1][2] == {"a": 1}
    assert stats.lines == 2
