"""TOML models shipped in `logcorr/data` or given as files: read, parse and validate in one place."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import TypeVar

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

        raise ConfigError(format_errors(e, source, what, model)) from e
