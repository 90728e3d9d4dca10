"""The protection policy as data: a pydantic model (extra keys forbidden) whose defaults are the
story's numbers, loaded from a TOML file or `[tool.logcorr]` in pyproject.toml."""

from __future__ import annotations

import hashlib
import tomllib
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from logcorr.errors import ConfigError

# the live system's suppression lists (reference: live-system-formats-and-rules.md §1.4, §2.2): the browser's
# base list and v8's lines, the Worker's two; not v7's Redis/Convex sync chatter (docs/rules.md rule 2 says why)
DEFAULT_SUPPRESS: tuple[str, ...] = (
    "[HMR]",
    "unexpected require",
    "disposed module",
    "webpack-internal",
    "webpack-hot-middleware",
    "hot-update",
    "[Fast Refresh]",
    "React DevTools",
    "DevTools detected",
    "Received an error",
    "Non-Error promise rejection",
    "Claude logging provider initialized",
    "Claude logging user context updated",
    "Claude logging user context reset",
    "Script will terminate",
    "Worker script error",
)


LEVELS: tuple[str, ...] = ("debug", "info", "log", "warn", "error")


class _Model(BaseModel):
    # TOML has nan and inf; no policy number means either (a NaN share passed the sum check: NaN compares false)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _as_written(cls, v: Any, info: ValidationInfo) -> Any:
        """A switch is true or false and a number is a number, as written: pydantic would read
        `max_identical = true` as 1, `enabled = "no"` as false and `tiers = [50, "25"]` as numbers."""
        _check_kind(cls.model_fields[info.field_name or ""].annotation, v)
        return v


def _check_kind(kind: Any, v: Any, what: str = "") -> None:
    if kind is bool and not isinstance(v, bool):
        raise ValueError(f"{what}must be true or false, not {v!r}")
    if kind in (int, float) and (isinstance(v, bool) or not isinstance(v, int | float)):
        raise ValueError(f"{what}must be a number, not {v!r}")
    args = get_args(kind)
    if get_origin(kind) in (list, tuple) and isinstance(v, list | tuple) and args:
        for x in v:
            _check_kind(args[0], x, "each item ")
    if get_origin(kind) is dict and isinstance(v, dict) and len(args) == 2:
        for k, x in v.items():
            _check_kind(args[1], x, f"{k}: ")


def _levels(v: list[str]) -> list[str]:
    bad = [x for x in v if x not in LEVELS]
    if bad:
        raise ValueError(f"unknown levels {bad}; use {', '.join(LEVELS)}")
    return v


class Redaction(_Model):
    enabled: bool = True


class Suppression(_Model):
    enabled: bool = True
    patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_SUPPRESS))
    case_sensitive: bool = False

    @field_validator("patterns")
    @classmethod
    def _not_empty(cls, v: list[str]) -> list[str]:
        # every message contains the empty text: such a pattern would drop every event
        empty = [i for i, p in enumerate(v) if not p]
        if empty:
            raise ValueError(f"pattern {empty[0] + 1} of {len(v)} is empty: it would suppress every message")
        return v


class Duplicates(_Model):
    enabled: bool = True


class Loop(_Model):
    enabled: bool = True
    max_identical: int = Field(
        default=5, ge=1, description="identical messages (system, level, text) stored per window"
    )
    window_ms: int = Field(default=1000, ge=1, description="sliding window, ms of event time")


class CrossSystem(_Model):
    enabled: bool = True
    window_ms: int = Field(
        default=2000, ge=0, description="same fingerprint, same trace, another system, within ms"
    )


class RateLimit(_Model):
    enabled: bool = True
    tiers: list[int] = Field(default_factory=lambda: [50, 25, 12, 6], min_length=1)
    window_ms: int = Field(
        default=60_000, ge=1000, description="tumbling windows aligned to the epoch (UTC minutes)"
    )
    calm_pct: float = Field(
        default=80.0,
        ge=0,
        le=100,
        description="a window is calm when its load is at most this % of the first tier",
    )
    calm_minutes_to_recover: int = Field(
        default=1, ge=1, description="consecutive calm windows per step back up"
    )

    @field_validator("tiers")
    @classmethod
    def _descending(cls, v: list[int]) -> list[int]:
        if any(t <= 0 for t in v) or any(a < b for a, b in pairwise(v)):
            raise ValueError("tiers must be positive and non-increasing, e.g. [50, 25, 12, 6]")
        return v


class Budget(_Model):
    enabled: bool = True
    monthly_writes: int = Field(default=125_000, ge=1)
    shares: dict[str, float] = Field(
        default_factory=lambda: {"browser": 0.40, "worker": 0.30, "backend": 0.30}
    )
    borrowing: bool = True
    lending: Literal["prorated", "unused"] = Field(
        default="prorated",
        description="prorated: a lender lends only the part of its share allotted to the elapsed month and unused; "
        "unused: all of its unused share",
    )
    warn_pct: float = Field(default=80.0, gt=0, le=100)
    essential_pct: float = Field(default=95.0, gt=0, le=100)
    essential_levels: list[str] = Field(default_factory=lambda: ["error"])

    _check_levels = field_validator("essential_levels")(_levels)

    @field_validator("shares")
    @classmethod
    def _shares(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = set(v) - {"browser", "worker", "backend"}
        if unknown:
            raise ValueError(f"unknown systems {sorted(unknown)}; use browser, worker, backend")
        if any(x < 0 for x in v.values()):
            raise ValueError("shares must not be negative")
        if abs(sum(v.values()) - 1.0) > 1e-6:
            raise ValueError(f"shares must add up to 1.0 (they add up to {sum(v.values()):.3f})")
        return v

    @model_validator(mode="after")
    def _order(self) -> Budget:
        if self.warn_pct > self.essential_pct:
            raise ValueError("warn_pct must not exceed essential_pct")
        return self


class Critical(_Model):
    """Events that bypass the per-minute limit (never the monthly cap)."""

    trace_id_patterns: list[str] = Field(
        default_factory=lambda: ["critical_"],
        description="substrings of the trace id, as the live `includes`",
    )
    levels: list[str] = Field(
        default_factory=list,
        description="levels that bypass the limit too; none by default: the story names critical traces only, "
        "and an error flood with changing text is what the limit is there to stop",
    )

    _check_levels = field_validator("levels")(_levels)

    @field_validator("trace_id_patterns")
    @classmethod
    def _non_empty(cls, v: list[str]) -> list[str]:
        if any(not p for p in v):
            raise ValueError("an empty pattern would match every trace id")
        return v


class TraceAware(_Model):
    """Decisions under pressure (rate limit, budget) that keep multi-system traces whole."""

    enabled: bool = True
    grace_pct: float = Field(
        default=50.0,
        ge=0,
        le=1000,
        description="extra events per window, as % of the current limit, for traces another "
        "system already stored",
    )
    refuse_ms: int = Field(
        default=60_000, ge=0, description="how long a refused trace stays refused in every system"
    )
    idle_ms: int = Field(
        default=3_600_000, ge=1000, description="a trace is forgotten after this long without events"
    )


class Recent(_Model):
    window_minutes: int = Field(default=60, ge=1)


class Policy(_Model):
    """Every number the rules use; defaults are the story's."""

    redaction: Redaction = Redaction()
    suppression: Suppression = Suppression()
    duplicates: Duplicates = Duplicates()
    loop: Loop = Loop()
    cross_system: CrossSystem = CrossSystem()
    rate_limit: RateLimit = RateLimit()
    budget: Budget = Budget()
    critical: Critical = Critical()
    trace_aware: TraceAware = TraceAware()
    recent: Recent = Recent()

    def digest(self) -> str:
        """A short stable hash of the effective policy (recorded with each ingest run)."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


def format_errors(
    err: ValidationError,
    source: str,
    what: str = "policy",
    model: Any = None,
    text: str | None = None,
    given: tuple[str, ...] = (),
) -> str:
    """One line per invalid field: `  section.field: message`, under `invalid {what} in {source}:`. With the
    pydantic `model` validated, a misspelt field names the one meant; with the file's `text`, the line that
    holds it (`  flows.checkout.steps.1.after: … (line 12)`), or `(set by --param)` for a field a `given` override set."""
    from logcorr.datafiles import toml_line

    lines = [f"invalid {what} in {source}:"]
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")  # pydantic's words for a ValueError our checks raise
        if e["type"] == "extra_forbidden":  # pydantic says "Extra inputs are not permitted"
            msg = "unknown field" + _did_you_mean(model, e["loc"])
        if any(where == g or where.startswith(g + ".") or g.startswith(where + ".") for g in given):
            msg += " (set by --param)"
        elif text is not None and (n := toml_line(text, tuple(e["loc"]), e["type"] == "missing")):
            msg += f" (line {n})"
        lines.append(f"  {where}: {msg}")
    return "\n".join(lines)


def _did_you_mean(model: Any, loc: tuple[Any, ...]) -> str:
    """` (did you mean X?)` for a field name `loc[-1]` not in the model's section `loc[:-1]`, or ''."""
    import difflib

    for part in loc[:-1]:
        if hasattr(model, "model_fields"):
            field = model.model_fields.get(part)
            model = _optional_model(field.annotation) if field is not None else None
        else:  # a key or an index: a scenario's `flows.checkout.rat`, through dict[str, Flow] to Flow
            model = _item_model(model)
    names = list(getattr(model, "model_fields", {}))
    close = difflib.get_close_matches(str(loc[-1]), names, n=1) if loc else []
    return (
        f" (did you mean {close[0]}?)" if close else (f"; fields here: {', '.join(names)}" if names else "")
    )


def _item_model(annotation: Any) -> Any:
    """What a `dict[str, Flow]` or `list[Step]` holds under a key or an index (None when it is not one)."""
    from typing import get_args, get_origin

    if get_origin(annotation) in (dict, list) and get_args(annotation):
        return _optional_model(get_args(annotation)[-1])
    return None


def _optional_model(annotation: Any) -> Any:
    """`Flow` of `Flow | None`; any other annotation as it is."""
    from typing import get_args

    models = [a for a in get_args(annotation) if hasattr(a, "model_fields")]
    return models[0] if len(models) == 1 and type(None) in get_args(annotation) else annotation


def load_policy(path: str | None) -> Policy:
    """The policy from a TOML file (or a pyproject.toml's [tool.logcorr]); defaults when path is None."""
    if path is None:
        return Policy()
    from logcorr.datafiles import read_text

    p = Path(path)
    text = read_text(p, "policy file", "check the path")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"policy file {path} is not valid TOML: {e}") from e
    data: Any = raw
    if p.name == "pyproject.toml":
        data = raw.get("tool", {}).get("logcorr")
        if data is None:  # given on purpose: the defaults in its place would go unnoticed
            raise ConfigError(
                f"{path} has no [tool.logcorr] table",
                "put the policy under [tool.logcorr] (see `logcorr policy show`), or give a policy TOML file",
            )
    try:
        return Policy.model_validate(data)
    except ValidationError as e:
        raise ConfigError(
            # a pyproject's fields lie under [tool.logcorr], which the lines are not looked up in
            format_errors(e, path, model=Policy, text=None if p.name == "pyproject.toml" else text),
            "see `logcorr policy show` for every field and its default",
        ) from e
