"""The one exception hierarchy and the documented exit codes.

Library code raises `LogcorrError` subclasses (wrapping library errors with `raise … from e`);
only the CLI's error boundary turns them into a printed message and an exit code.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, documented in the README."""

    OK = 0
    CHECK_FAILED = 1  # a check or threshold failed (budget check, replay asserts)
    USAGE = 2  # bad flags, bad policy/config
    INPUT = 3  # unreadable input or database, rejected records under --strict
    INTERRUPTED = 130


class LogcorrError(Exception):
    """Base error: a one-line message and an optional hint telling the user how to fix it."""

    exit_code: ExitCode = ExitCode.INPUT

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(LogcorrError):
    exit_code = ExitCode.USAGE


class ConfigError(LogcorrError):
    exit_code = ExitCode.USAGE


class InputError(LogcorrError):
    exit_code = ExitCode.INPUT


class DatabaseError(LogcorrError):
    exit_code = ExitCode.INPUT


class CheckFailed(LogcorrError):
    exit_code = ExitCode.CHECK_FAILED
