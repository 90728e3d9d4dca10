#!/usr/bin/env python3
"""Redaction's speed on hostile lines against its speed on realistic ones, measured in the same run.

Example: python scripts/bench_redact.py --size 1000000 --top 25

The hostile lines are built from the words the redactor itself knows (its trigger words, the probe's words, the
key words of its patterns; none is listed here): each word repeated, with its separators (`:`, `=`, a quote), after
a character that is not ASCII, and runs of key characters, base64- and hex-like tokens, JWT-like runs, URL
userinfo, quotes and backslashes. The baseline is the bench generator's mixed lines (`gen_logs.py`, as
`bench_ingest.py` makes them), each redacted as a text. Prints per case MB/s and how many times slower per byte
than the baseline (stdout); progress on stderr. Each case is cut off after `--timeout` seconds.
"""

from __future__ import annotations

import argparse
import random
import re
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gen_logs

from logcorr.rules import redact as R

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def key_words() -> list[str]:
    """Every word the redactor looks for: the probe's, each pattern group's trigger words, the name triggers,
    the words a `kv` key ends in, the spaced names and the kinds of basic auth (a TAIL word without its TAIL),
    each also as a pattern spells it when that differs (`eyJ`, `AKIA`, `SG.`: the trigger words are lower-case)."""
    words = [
        *R.trigger_words(),
        *(t for _, _, tr in R._GROUPS for t in tr),
        *R._NAME_TRIGGERS,
        *R._KEY_ENDS,
        *R._SPACED_NAMES,
        *(f"{k}_auth:" for k in R._BASIC_KINDS),
    ]
    words = [w.replace(R.TAIL, "") for w in words]
    source = "".join(rx for _, rx, _ in R._GROUPS).replace("\\", "")
    spelled = [m.group(0) for w in words if (m := re.search(re.escape(w), source, re.I)) is not None]
    return sorted(dict.fromkeys((*words, *spelled)))


def _fill(unit: str, size: int, prefix: str = "") -> str:
    """`prefix` and then `unit` over and over, `size` characters in all."""
    return (prefix + unit * (size // max(len(unit), 1) + 1))[:size]


def hostile(size: int, seed: int = 1) -> Iterator[tuple[str, str]]:
    """(name, text) of each hostile case, `size` characters long."""
    for w in key_words():
        for name, unit, prefix in (
            ("{w}", w, ""),
            ("{w}:", w + ":", ""),
            ("{w}=", w + "=", ""),
            ("{w}: x", w + ": x ", ""),
            ('"{w}":"', f'"{w}":"', ""),
            ("{w}-", w + "-", ""),
            ("{w}.", w + ".", ""),
            ("{w}a1", w + "a1", ""),
            ("é {w}", w, "é "),
        ):
            yield name.format(w=w), _fill(unit, size, prefix)
        # one key word and a long run after it that the pattern refuses at its end, then one it takes
        end = f"+ {w}: x"
        yield f"{w}Ab…+", _fill("Ab", size - len(end), w) + end
        yield f"{w}: a…+", _fill("a", size - len(end), w + ": ") + end
    rnd = random.Random(seed)
    runs = {
        "a": "a", "a1": "a1", "a_": "a_", "Aa": "Aa", "_": "_", ".": ".", "-": "-", "1": "1", " ": " ",
        '"': '"', "'": "'", "\\": "\\", '\\"': '\\"', ":": ":", "=": "=", "@": "@",
    }  # fmt: skip
    for name, unit in runs.items():
        yield f"run {name!r}", _fill(unit, size)
    yield "base64", "".join(rnd.choice(B64) for _ in range(size))
    yield "hex", "".join(rnd.choice("0123456789abcdef") for _ in range(size))
    yield "1…1a…a", "1" * (size // 2) + "a" * (size - size // 2)
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abcdefghijklmnop"
    for name, unit, prefix in (
        ("jwt ", jwt + " ", ""),
        ("jwt.", jwt + ".", ""),
        ("eyJabcd.", "eyJabcd.", ""),
        ("eyJabcd-", "eyJabcd-", ""),
        ("eyJ+base64", "", "eyJ"),
        ("a:b@", "a:b@", ""),
        ("https://a:b@", "https://a:b@", ""),
        ("://a…", "a", "://"),
        ("://a:b…", "b", "://a:"),
        ("Cookie: a=b; …", "a=b; ", "Cookie: "),
        ('Authorization: Digest x="y", …', 'x="y", ', "Authorization: Digest "),
        ("Authorization: Bearer a1…", "a1", "Authorization: Bearer "),
        ("backup_codes: ab12-cd34 …", "ab12-cd34 ", "backup_codes: "),
        ('recovery_codes: ["ab12", …', '"ab12", ', "recovery_codes: ["),
        ("-----BEGIN RSA PRIVATE KEY-----", "-----BEGIN RSA PRIVATE KEY-----\n", ""),
        ("token=abc123 …", "x=1 token=abc123 ", ""),
        ("[REDACTED:token]", "token: [REDACTED:token] ", ""),
    ):
        text = (
            prefix + "".join(rnd.choice(B64[:-2]) for _ in range(size))
            if not unit
            else _fill(unit, size, prefix)
        )
        yield name, text[:size]
    # a Convex deploy key's name over and over before its `|` (its words are no trigger words: `|` is)
    yield "prod:…|", _fill("prod:", size - 1) + "|"


def baseline(records: int) -> list[str]:
    """The bench generator's mixed lines (`gen_logs.generate`, seed 42)."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "logs.jsonl"
        gen_logs.generate(records, 42, path)
        return path.read_text(encoding="utf-8").splitlines()


class _Slow(Exception):
    pass


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise _Slow


def timed(texts: list[str], timeout: float) -> float | None:
    """Seconds `Redactor().text` takes over `texts`, or None past `timeout` (the regex engine checks signals)."""
    red = R.Redactor()
    signal.setitimer(signal.ITIMER_REAL, timeout)
    t0 = time.perf_counter()
    try:
        for t in texts:
            red.text(t)
    except _Slow:
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Time redaction of hostile lines built from the redactor's own key words against mixed lines.",
        epilog="example: python scripts/bench_redact.py --size 1000000 --top 25",
    )
    ap.add_argument(
        "--size", type=int, default=1_000_000, help="characters per hostile line (default 1000000)"
    )
    ap.add_argument("--records", type=int, default=50_000, help="baseline lines (default 50000)")
    ap.add_argument("--top", type=int, default=0, help="print only the N slowest cases (default: all)")
    ap.add_argument("--only", default="", help="only cases whose name this regex finds (default: every case)")
    ap.add_argument(
        "--timeout", type=float, default=20.0, help="seconds before a case is cut off (default 20)"
    )
    args = ap.parse_args(argv)
    signal.signal(signal.SIGALRM, _alarm)

    lines = baseline(args.records)
    base_bytes = sum(len(s.encode()) for s in lines)
    base_s = timed(lines, args.timeout * 10) or float("nan")
    flagged = [s for s in lines if R.might_hold_secret(s)]
    flag_bytes = sum(len(s.encode()) for s in flagged)
    flag_s = timed(flagged, args.timeout * 10) or float("nan")
    base_rate = base_bytes / 1e6 / base_s
    print(
        f"baseline: {len(lines):,} mixed lines, {base_bytes / 1e6:.1f} MB, {base_s:.2f} s, {base_rate:.2f} MB/s"
    )
    print(f"  of them flagged by the probe: {len(flagged):,} lines, {flag_bytes / 1e6:.2f} MB, {flag_s:.2f} s, "
          f"{flag_bytes / 1e6 / flag_s:.2f} MB/s")  # fmt: skip

    rows: list[tuple[float, str, float, float]] = []
    cases = [(n, t) for n, t in hostile(args.size) if re.search(args.only, n)]
    for k, (name, text) in enumerate(cases, 1):
        size = len(text.encode())
        s = timed([text], args.timeout)
        print(
            f"[{k}/{len(cases)}] {name!r}: {'cut off' if s is None else f'{s:.3f} s'}",
            file=sys.stderr,
            flush=True,
        )
        rate = 0.0 if s is None else size / 1e6 / s
        rows.append(
            (base_rate / rate if rate else float("inf"), name, float("inf") if s is None else s, rate)
        )
    rows.sort(reverse=True)
    print(
        f"hostile lines of {args.size:,} characters, slowest first (× = per-byte time over the baseline's):"
    )
    for ratio, name, secs, rate in rows[: args.top or None]:
        print(f"  {ratio:7.1f}×  {rate:8.2f} MB/s  {secs:8.3f} s  {name!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
