"""TOML models shipped in `logcorr/data` or given as files: read, parse and validate in one place."""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from logcorr.errors import ConfigError
from logcorr.rules.policy import format_errors

M = TypeVar("M", bound=BaseModel)


def builtin_text(relative: str) -> str:
    """The text of a file shipped in logcorr/data (e.g. `pricing/story.toml`)."""
    return resources.files("logcorr.data").joinpath(relative).read_text(encoding="utf-8")


def validate_toml(model: type[M], text: str, source: str, what: str) -> M:
    """`text` parsed as TOML and validated as `model` (`what` it is, for errors: "pricing model"); errors name
    `source` and each bad field."""
    try:
        return model.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source} is not valid TOML: {e}") from e
    except ValidationError as e:
        raise ConfigError(format_errors(e, source, what)) from e
