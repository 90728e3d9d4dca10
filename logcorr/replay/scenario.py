"""Scenarios as data: a TOML file (built-in under logcorr/data/scenarios, or the user's own) validated by
pydantic, with `--param key=value` overrides applied to the raw document before validation.

A scenario is a set of *flows*. Each flow is an open-model arrival process — k6's
`constant-arrival-rate` (`rate` per `time_unit`) or `ramping-arrival-rate` (`start_rate`, then
`stages` of `{duration, target}`, linear in between) — and every arrival emits the flow's *steps*: one
trace across systems (browser → worker → backend), each step a message template with variants,
an offset, a probability, repeats (loops) and redeliveries (Convex retries).
"""

from __future__ import annotations

import difflib
import tomllib
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from logcorr.datafiles import read_text
from logcorr.errors import ConfigError, UsageError
from logcorr.rules.policy import LEVELS, format_errors
from logcorr.units import EXAMPLES as DURATION_EXAMPLES
from logcorr.units import duration_ms

BUILTIN: tuple[str, ...] = (
    "steady",
    "flood-browser",
    "flood-worker",
    "flood-backend",
    "loop-storm",
    "dev-noise",
    "duplicate-delivery",
    "secrets",
    "month",
)
DAY_MS = 86_400_000
MAX_DURATION_MS = 366 * DAY_MS  # a replay's longest span, scenario or stretched recording


def _ms(v: Any) -> Any:
    """A duration: `500ms`, `90s`, `30m`, `2h`, `1d`, compounds like `1h30m` (as k6), or milliseconds."""
    if isinstance(v, bool):
        raise ValueError("a duration must be a number of ms or text like 90s")
    if isinstance(v, int | float):
        return v
    ms = duration_ms(v) if isinstance(v, str) else None
    if ms is None:
        raise ValueError(f"{v!r} is not a duration; write it like {DURATION_EXAMPLES}")
    return ms


Ms = Annotated[int, BeforeValidator(_ms), Field(ge=0)]
PositiveMs = Annotated[int, BeforeValidator(_ms), Field(gt=0)]


def _utc(v: Any) -> Any:
    if isinstance(v, str):
        try:
            v = datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError as e:
            raise ValueError(f"{v!r} is not an ISO date-time like 2025-06-02T09:00:00Z") from e
    if isinstance(v, datetime) and v.tzinfo is None:
        v = v.replace(tzinfo=UTC)
    return v


class _Model(BaseModel):
    # TOML and --param have inf and nan; no scenario number means either (an infinite rate crashed the replay)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Step(_Model):
    """One log line an arrival emits (or several, with `repeat`)."""

    system: Literal["browser", "worker", "backend"]
    level: str = "log"
    message: str = Field(min_length=1, description="template; {v} is replaced by the variant number")
    variants: int = Field(1, ge=1, le=100_000, description="distinct texts, chosen per arrival")
    after: Ms = Field(0, description="delay after the arrival")
    jitter: Ms = Field(0, description="extra random delay, uniform in [0, jitter)")
    probability: float = Field(1.0, ge=0, le=1, description="share of arrivals that emit this step")
    repeat: int = Field(1, ge=1, le=100_000, description="identical copies per arrival (a loop)")
    every: Ms = Field(0, description="spacing of the repeats")
    redeliver: float = Field(0.0, ge=0, le=1, description="share delivered twice (a Convex log-stream retry)")
    stack: str | None = None
    context: dict[str, Any] | None = None

    @field_validator("level")
    @classmethod
    def _level(cls, v: str) -> str:
        if v not in LEVELS:
            raise ValueError(f"unknown level {v!r}; use {', '.join(LEVELS)}")
        return v

    @property
    def span_ms(self) -> int:
        """How long after its arrival this step's last copy can be."""
        return self.after + self.jitter + (self.repeat - 1) * self.every


class Stage(_Model):
    duration: PositiveMs
    target: float = Field(ge=0, description="arrivals per time_unit at the end of the stage")


class Flow(_Model):
    """An arrival process and the trace each arrival emits."""

    description: str = ""
    enabled: bool = True
    executor: Literal["constant-arrival-rate", "ramping-arrival-rate"] = "constant-arrival-rate"
    rate: float | None = Field(None, ge=0, description="constant-arrival-rate: arrivals per time_unit")
    start_rate: float = Field(0.0, ge=0, description="ramping-arrival-rate: the rate before the first stage")
    stages: list[Stage] = Field(default_factory=list)
    cycle: bool = Field(False, description="ramping: repeat the stages until the flow ends (a daily shape)")
    time_unit: PositiveMs = 1000
    start: Ms = Field(0, description="offset from the scenario start")
    duration: Ms | None = Field(None, description="default: until the scenario ends")
    jitter: Ms = Field(0, description="each arrival moves later by a random [0, jitter)")
    trace: Literal["trace", "critical", "none"] = Field(
        "trace", description="trace_<ms>_<base36> ids, critical_<ms>_<base36> ids, or no trace id"
    )
    sessions: int | None = Field(None, ge=1, description="arrivals share this many trace ids (page sessions)")
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _executor(self) -> Flow:
        if self.executor == "constant-arrival-rate":
            if self.rate is None:
                raise ValueError("constant-arrival-rate needs `rate` (arrivals per time_unit)")
            if self.stages:
                raise ValueError("`stages` belong to ramping-arrival-rate")
        elif not self.stages:
            raise ValueError("ramping-arrival-rate needs `stages`, e.g. [{duration = '1m', target = 50}]")
        return self

    @property
    def span_ms(self) -> int:
        return self.jitter + max(s.span_ms for s in self.steps)


class Scenario(_Model):
    """A named, seeded load: flows over a time span."""

    name: str = Field(min_length=1)
    description: str = ""
    seed: int = 0
    start: Annotated[datetime, BeforeValidator(_utc)] = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
    duration: PositiveMs = 3_600_000
    scale: float = Field(1.0, gt=0, description="multiplies every arrival rate")
    flows: dict[str, Flow] = Field(min_length=1)

    @field_validator("duration")
    @classmethod
    def _duration(cls, v: int) -> int:
        if v > MAX_DURATION_MS:
            raise ValueError("a scenario may last at most 366 days")
        return v

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.duration


def _set(doc: dict[str, Any], dotted: str, value: Any) -> None:
    """Set `a.b.c` in a nested dict; list items by index (`flows.page.steps.0.rate`)."""
    parts = dotted.split(".")
    node: Any = doc
    for i, key in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise UsageError(f"--param {dotted}: {'.'.join(parts[:i])} has no item {key}")
            if last:
                node[int(key)] = value
                return
            node = node[int(key)]
        elif isinstance(node, dict):
            if last:
                node[key] = value
                return
            if key not in node:
                node[key] = {}
            node = node[key]
        else:
            raise UsageError(f"--param {dotted}: {'.'.join(parts[:i])} is a value, not a table")


def parse_value(text: str) -> Any:
    """A --param value as TOML would read it (number, bool, quoted string, list), else the bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_params(doc: dict[str, Any], params: list[str]) -> dict[str, str]:
    """Apply `key=value` overrides in order; returns them as given (for the result's header)."""
    applied: dict[str, str] = {}
    flows = doc.get("flows")
    known = set(flows) if isinstance(flows, dict) else set()
    for p in params:
        key, sep, value = p.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(
                f"--param {p!r} is not key=value", "e.g. --param duration=2h --param flows.page.rate=5"
            )
        _set(doc, key, parse_value(value.strip()))
        applied[key] = value.strip()
    _new_flows_have_steps(doc, known, list(applied))
    return applied


def _new_flows_have_steps(doc: dict[str, Any], known: set[str], keys: list[str]) -> None:
    """A `--param flows.NAME.…` of no flow the scenario has, giving no steps, is a misspelt flow: say so, with the
    flows there are (it was `flows.nosuch.steps: Field required`, of a flow the user never meant to add)."""
    flows = doc.get("flows")
    for name, flow in flows.items() if isinstance(flows, dict) else ():
        if name in known or not isinstance(flow, dict) or "steps" in flow:
            continue
        key = next(k for k in keys if k.startswith(f"flows.{name}.") or k == f"flows.{name}")
        close = difflib.get_close_matches(name, sorted(known), n=1)
        raise UsageError(
            f"--param {key}: the scenario has no flow {name!r}"
            + (f" (did you mean {close[0]}?)" if close else ""),
            f"its flows: {', '.join(sorted(known)) or 'none'}; a new flow needs its steps too, e.g. "
            f'--param \'flows.{name}.steps=[{{system = "browser", message = "hello"}}]\'',
        )


def _read_one(name_or_path: str, base_dir: Path | None) -> tuple[dict[str, Any], str, Path | None]:
    if name_or_path in BUILTIN:
        path = resources.files("logcorr.data").joinpath(f"scenarios/{name_or_path}.toml")
        text, source, where = path.read_text(encoding="utf-8"), f"built-in:{name_or_path}", None
    else:
        p = Path(name_or_path)
        if base_dir is not None and not p.is_absolute():
            p = base_dir / p
        if not p.is_file():
            raise ConfigError(
                f"scenario {name_or_path!r} is neither a built-in scenario nor a file",
                f"built-in scenarios: {', '.join(BUILTIN)}",
            )
        text = read_text(p, "scenario")
        source, where = str(p), p.parent
    try:
        return tomllib.loads(text), source, where
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"scenario {source} is not valid TOML: {e}") from e


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """`top` over `base`: tables merge key by key, anything else is replaced."""
    out = dict(base)
    for k, v in top.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def read_document(name_or_path: str) -> tuple[dict[str, Any], str]:
    """The raw TOML of a built-in scenario or a file, and where it came from. `extends = "steady"`
    (a built-in name or a path relative to the file) starts from another scenario: tables merge,
    other values are replaced, `enabled = false` switches an inherited flow off."""
    doc, source, where = _read_one(name_or_path, None)
    seen = {source}
    while "extends" in doc:
        parent = doc.pop("extends")
        if not isinstance(parent, str):
            raise ConfigError(f"scenario {source}: extends must be a scenario name or path")
        base, base_source, where = _read_one(parent, where)
        if base_source in seen:
            raise ConfigError(f"scenario {source}: extends makes a cycle through {base_source}")
        seen.add(base_source)
        doc = _merge(base, doc)
    return doc, source


def load_scenario(name_or_path: str, params: list[str] | None = None) -> tuple[Scenario, str, dict[str, str]]:
    """(scenario, source, applied params): a built-in name or a TOML path, with overrides."""
    doc, source = read_document(name_or_path)
    applied = apply_params(doc, params or [])
    try:
        return Scenario.model_validate(doc), source, applied
    except ValidationError as e:
        # the user's own file: each bad field's line (a built-in's lines are no use to a user)
        text = None if source.startswith("built-in:") else read_text(Path(source), "scenario")
        raise ConfigError(
            format_errors(e, source, "scenario", Scenario, text, tuple(applied)),
            "see docs/replay.md for every field",
        ) from e
