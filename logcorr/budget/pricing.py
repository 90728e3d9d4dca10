"""Pricing models as data (TOML files shipped in logcorr/data/pricing, or the user's own), and the
dollar cost of a month's resource usage under one model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from logcorr.budget.amplification import RESOURCES
from logcorr.datafiles import builtin_text, read_text, validate_toml
from logcorr.errors import ConfigError

BUILTIN = (
    "story",
    "convex-starter",
    "convex-professional",
    "cloudflare-workers-paid",
    "cloudflare-workers-paid-2024",
)
DEFAULT_MODELS = ("story", "convex-professional", "cloudflare-workers-paid")


class Resource(BaseModel):
    # TOML has inf and nan; no price or amount means either (`price_usd = inf` was priced as $inf)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str
    unit: str
    included: float = Field(0, ge=0)
    price_usd: float = Field(ge=0)
    per: float = Field(1, gt=0, description="price_usd is per this many units")

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        """A misspelt resource would be priced at nothing, silently."""
        if name not in RESOURCES:
            raise ValueError(f"unknown resource {name!r}; the resources measured are: {', '.join(RESOURCES)}")
        return name


class PricingModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str
    title: str
    as_of: date
    sources: list[str] = Field(min_length=1)
    notes: str = ""
    base_fee_usd: float = Field(0, ge=0)
    base_fee_label: str = "base fee"
    resources: list[Resource] = Field(min_length=1)


@dataclass(frozen=True)
class CostLine:
    resource: str
    unit: str
    usage: float
    included: float
    billable: float
    usd: float
    list_usd: float  # the usage at the overage price with nothing included

    def as_dict(self) -> dict[str, Any]:
        return {"resource": self.resource, "unit": self.unit, "usage": round(self.usage, 6),
                "included": self.included, "billable": round(self.billable, 6), "usd": round(self.usd, 6),
                "list_usd": round(self.list_usd, 6)}  # fmt: skip


@dataclass(frozen=True)
class Cost:
    model: str
    title: str
    as_of: str
    base_fee_usd: float
    lines: list[CostLine]

    @property
    def usage_usd(self) -> float:
        return sum(line.usd for line in self.lines)

    @property
    def total_usd(self) -> float:
        return self.base_fee_usd + self.usage_usd

    @property
    def list_usd(self) -> float:
        return sum(line.list_usd for line in self.lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "title": self.title,
            "as_of": self.as_of,
            "base_fee_usd": self.base_fee_usd,
            "usage_usd": round(self.usage_usd, 6),
            "total_usd": round(self.total_usd, 6),
            "list_usd": round(self.list_usd, 6),
            "resources": [line.as_dict() for line in self.lines],
        }


def load_model(name_or_path: str) -> PricingModel:
    """A built-in model by name, or a TOML file by path."""
    if name_or_path in BUILTIN:
        return validate_toml(
            PricingModel,
            builtin_text(f"pricing/{name_or_path}.toml"),
            f"logcorr/data/pricing/{name_or_path}.toml",
            "pricing model",
        )
    p = Path(name_or_path)
    if not p.is_file():
        raise ConfigError(
            f"pricing model {name_or_path!r} is neither a built-in model nor a file",
            f"built-in models: {', '.join(BUILTIN)}",
        )
    return validate_toml(PricingModel, read_text(p, "pricing model"), str(p), "pricing model")


def select_models(
    pricing: Sequence[str] | None, wanted: Sequence[str] = ()
) -> tuple[tuple[PricingModel, ...], list[str]]:
    """The models to simulate and the names of the `wanted` ones, for `budget simulate`/`check` and `replay`
    alike: `pricing` (built-in names or TOML paths; default `DEFAULT_MODELS`), plus each wanted model not among
    them. A wanted model is the name of one of those models (a file's `name`), a built-in name or a TOML path:
    whatever `--model` or a `cost_usd.<model>` threshold names is simulated. Two different models of one name
    are refused: which one a check or a metric means would be a guess."""
    models: list[PricingModel] = []
    specs: dict[str, str] = {}  # model name → where it came from

    def add(model: PricingModel, spec: str) -> str:
        same = next((m for m in models if m.name == model.name), None)
        if same is None:
            models.append(model)
            specs[model.name] = spec
        elif same != model:
            raise ConfigError(
                f"two different pricing models are named {model.name!r}: {specs[model.name]} and {spec}",
                "give each pricing file its own name",
            )
        return model.name

    for spec in dict.fromkeys(pricing or DEFAULT_MODELS):
        add(load_model(spec), spec)
    names = []
    for spec in wanted:
        known = next((m.name for m in models if m.name == spec), None)
        names.append(known if known is not None else add(load_model(spec), spec))
    return tuple(models), names


def price(model: PricingModel, usage: dict[str, float]) -> Cost:
    """The month's dollars under `model` for `usage` (resource name → amount, see `RESOURCES`)."""
    lines = []
    for r in model.resources:
        amount = float(usage.get(r.name, 0.0))
        billable = max(0.0, amount - r.included)
        lines.append(CostLine(r.name, r.unit, amount, r.included, billable, billable / r.per * r.price_usd,
                              amount / r.per * r.price_usd))  # fmt: skip
    return Cost(model.name, model.title, model.as_of.isoformat(), model.base_fee_usd, lines)
