"""TOML models shipped in `logcorr/data` or given as files: read, parse and validate in one place."""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from logcorr.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def builtin_text(relative: str) -> str:
    """The text of a file shipped in logcorr/data (e.g. `pricing/story.toml`)."""
    return resources.files("logcorr.data").joinpath(relative).read_text(encoding="utf-8")


def read_text(path: str | Path, what: str, hint: str | None = None) -> str:
    """A user's file (`what` it is, for errors: "policy file", "pricing model") as UTF-8 text. A missing or
    unreadable file, a directory or bytes that are not UTF-8 are a configuration error naming it (a
    non-UTF-8 pricing file was an internal error); `hint` goes with "not found"."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError(f"{what} {path} not found", hint) from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"cannot read {what} {path}: not UTF-8 text ({e})") from e
    except OSError as e:  # a directory, no permission
        raise ConfigError(f"cannot read {what} {path}: {e.strerror or e}") from e


def validate_toml(model: type[M], text: str, source: str, what: str) -> M:
    """`text` parsed as TOML and validated as `model` (`what` it is, for errors: "pricing model"); errors name
    `source` and each bad field."""
    try:
        return model.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source} is not valid TOML: {e}") from e
    except ValidationError as e:
        from logcorr.rules.policy import format_errors

        raise ConfigError(format_errors(e, source, what, model, text)) from e


_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")


def toml_line(text: str, loc: tuple[Any, ...], missing: bool = False) -> int | None:
    """The line (from 1) of `text` that holds the field at pydantic location `loc` (`flows.checkout.rate`,
    `flows.checkout.steps.1.after`: a table header, then a key in it, then the n-th inline table of an array,
    one a line), or None when it is not written there (an inherited or a default value). A `missing` field is
    at its table's header."""
    lines = text.splitlines()
    headers = [(i, tuple(p.strip().strip("\"'") for p in m.group(1).split("."))) for i, line in enumerate(lines)
               if (m := _HEADER.match(line))]  # fmt: skip
    keys = tuple(str(p) for p in loc)
    start, depth = -1, 0
    for i, parts in headers:
        if keys[: len(parts)] == parts and len(parts) > depth:
            start, depth = i, len(parts)
    rest = loc[depth:]
    if start >= 0 and rest and isinstance(rest[0], int) and lines[start].lstrip().startswith("[["):
        # an array of tables (a pricing model's [[resources]]): its n-th header
        same = [i for i, parts in headers if parts == keys[:depth]]
        if rest[0] >= len(same):
            return None
        start, rest = same[rest[0]], rest[1:]
    end = next((i for i, _ in headers if i > start), len(lines))
    if not rest or not isinstance(rest[0], str):
        return start + 1 if start >= 0 else None
    key = re.escape(rest[0])
    rx = re.compile(rf"^\s*(?:\"{key}\"|'{key}'|{key})\s*=")
    hit = next((j for j in range(start + 1, end) if rx.match(lines[j])), None)
    if hit is None:
        return start + 1 if missing and start >= 0 else None
    if len(rest) < 2 or not isinstance(rest[1], int):
        return hit + 1
    items = [hit] if re.search(r"=\s*\[\s*\{", lines[hit]) else []
    items += [j for j in range(hit + 1, end) if lines[j].lstrip().startswith("{")]
    return items[rest[1]] + 1 if rest[1] < len(items) else hit + 1
