"""Command options declared once, usable two ways.

The read commands (`trace`, `traces`, `stats`, …) are run many times a day and must start fast, but
importing typer costs ~0.1 s and running it ~0.2 s more (it validates every value through pydantic).
So those commands declare their options with `Option` / `Argument` from this module — plain data,
nothing imported — and the same declaration serves:

- `typer_command(func)`: the typer command (help, shell-completion-free parsing, usage errors), used for
  `--help`, every error and every command not declared here;
- `parse_fast(func, argv)`: a strict parser for the common, valid invocations. It accepts only what it
  fully understands (`--opt value`, `--opt=value`, `-o value`, flags, repeatable options, positional
  arguments, env vars) and returns None for anything else, so typer handles that case with its own
  messages. Valid input means the same values either way.
"""

from __future__ import annotations

import inspect
import os
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

_INT = re.compile(r"-?\d+")
_FLOAT = re.compile(r"-?\d+(\.\d+)?")


@dataclass(frozen=True)
class Param:
    """One option or argument, as typer.Option / typer.Argument would declare it."""

    default: Any
    decls: tuple[str, ...] = ()
    help: str | None = None
    envvar: str | None = None
    argument: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_typer(self) -> Any:
        import typer

        if self.argument:
            return typer.Argument(self.default, help=self.help, **self.extra)
        return typer.Option(self.default, *self.decls, help=self.help, envvar=self.envvar, **self.extra)


def Option(
    default: Any, *decls: str, help: str | None = None, envvar: str | None = None, **extra: Any
) -> Any:
    """Like typer.Option (same arguments); returns a declaration typed Any, as typer's is."""
    return Param(default, decls, help, envvar, False, extra)


def Argument(default: Any, *, help: str | None = None, **extra: Any) -> Any:
    """Like typer.Argument."""
    return Param(default, (), help, None, True, extra)


def _params(func: Callable[..., Any]) -> list[tuple[str, Param]]:
    out = []
    for p in inspect.signature(func).parameters.values():
        if not isinstance(p.default, Param):
            raise TypeError(f"{func.__qualname__}: parameter {p.name} is not declared with cli.params")
        out.append((p.name, p.default))
    return out


def typer_command(func: Callable[..., Any]) -> Callable[..., Any]:
    """A callable typer can register: `func` with typer.Option/Argument defaults and resolved types."""
    import functools

    hints = typing.get_type_hints(func)
    specs = dict(_params(func))
    sig = inspect.signature(func)
    params = [
        p.replace(default=specs[p.name].to_typer(), annotation=hints[p.name]) for p in sig.parameters.values()
    ]

    @functools.wraps(func)
    def command(**kwargs: Any) -> Any:
        return func(**kwargs)

    command.__signature__ = sig.replace(parameters=params, return_annotation=None)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    return command


def _flags(name: str, spec: Param) -> tuple[str, ...]:
    return spec.decls or ("--" + name.replace("_", "-"),)


def _convert(tp: Any, raw: str) -> Any:
    """`raw` as `tp`; ValueError for anything the fast path leaves to typer."""
    if raw.startswith("-") and not _FLOAT.fullmatch(raw):
        raise ValueError(raw)  # click would take it as the value; typer decides what that means
    if tp is str:
        return raw
    if tp is int and _INT.fullmatch(raw):
        return int(raw)
    if tp is float and _FLOAT.fullmatch(raw):
        return float(raw)
    if isinstance(tp, type) and issubclass(tp, Enum):
        return tp(raw)
    raise ValueError(raw)


def _unwrap(tp: Any) -> tuple[Any, bool]:
    """(element type, repeatable) for `X`, `X | None`, `list[X]`."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) is list and len(args) == 1:
        return args[0], True
    if len(args) == 1 and typing.get_origin(tp) is not list:
        return args[0], False
    return tp, False


def parse_fast(func: Callable[..., Any], argv: list[str]) -> dict[str, Any] | None:
    """Keyword arguments for `func` from `argv`, or None when typer should parse it."""
    hints = typing.get_type_hints(func)
    specs = _params(func)
    by_flag: dict[str, str] = {}
    kinds: dict[str, tuple[Any, bool, bool]] = {}  # name -> (type, repeatable, is_flag)
    positional: list[str] = []
    for name, spec in specs:
        tp, many = _unwrap(hints[name])
        if spec.argument:
            if many:
                return None
            positional.append(name)
        else:
            if any("/" in d or " " in d for d in spec.decls) or spec.extra:
                return None
            is_flag = tp is bool
            if (is_flag and spec.default is not False) or (spec.envvar and (many or is_flag)):
                return None
            for flag in _flags(name, spec):
                by_flag[flag] = name
        kinds[name] = (tp, many, tp is bool)
    given: dict[str, Any] = {}
    args: list[str] = []
    i = 0
    try:
        while i < len(argv):
            tok = argv[i]
            i += 1
            if not tok.startswith("-") or tok == "-":
                if tok == "-":
                    return None
                args.append(tok)
                continue
            value: str | None = None
            if tok.startswith("--") and "=" in tok:
                tok, value = tok.split("=", 1)
            dest = by_flag.get(tok)
            if dest is None:
                return None  # --help, --, -xVALUE, unknown options: typer's job
            tp, many, is_flag = kinds[dest]
            if is_flag:
                if value is not None or dest in given:
                    return None
                given[dest] = True
                continue
            if value is None:
                if i >= len(argv):
                    return None
                value = argv[i]
                i += 1
            converted = _convert(tp, value)
            if many:
                given.setdefault(dest, []).append(converted)
            elif dest in given:
                return None
            else:
                given[dest] = converted
        if len(args) > len(positional):
            return None
        for name, raw in zip(positional, args, strict=False):
            given[name] = _convert(kinds[name][0], raw)
        out: dict[str, Any] = {}
        for name, spec in specs:
            if name in given:
                out[name] = given[name]
                continue
            env = os.environ.get(spec.envvar) if spec.envvar else None
            if env:
                tp, many, _ = kinds[name]
                out[name] = [_convert(tp, env)] if many else _convert(tp, env)
            elif spec.default is ...:
                return None  # a missing required argument: typer says so
            else:
                out[name] = spec.default
        return out
    except ValueError:
        return None


def run_fast(commands: dict[str, Callable[..., Any]], argv: list[str]) -> tuple[bool, Any]:
    """Run argv[0]'s command from `commands` when the fast parser accepts the rest; (ran, result)."""
    func = commands.get(argv[0]) if argv else None
    if func is None:
        return False, None
    kwargs = parse_fast(func, argv[1:])
    if kwargs is None:
        return False, None
    return True, func(**kwargs)
