"""Write amplification: what one offered and one accepted log cost the live system in billable resources
(function calls, database I/O, stored GB, worker requests and CPU, Workers Logs events), as data."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from logcorr.datafiles import builtin_text, read_text, validate_toml

GB = 1e9


class PerLog(BaseModel):
    """What one log costs; no amount is negative (a log never gives resources back)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    function_calls: float = Field(default=0, ge=0)
    documents_written: float = Field(default=0, ge=0)
    db_io_bytes: float = Field(default=0, ge=0)
    stored_documents: float = Field(default=0, ge=0)
    worker_requests: float = Field(default=0, ge=0)
    worker_cpu_ms: float = Field(default=0, ge=0)
    worker_log_events: float = Field(default=0, ge=0)
    worker_log_bytes: float = Field(default=0, ge=0)
    action_gb_seconds: float = Field(default=0, ge=0)


# the resources `usage` measures: what a pricing model's resources may be named
RESOURCES = (
    "writes", "document_writes", "function_calls", "db_io_gb", "db_storage_gb_month", "action_compute_gb_hours",
    "worker_requests", "worker_cpu_ms", "workers_logs_events", "observability_ingest_gb",
)  # fmt: skip


class SystemCost(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    offered: PerLog = PerLog()
    accepted: PerLog = PerLog()


class Amplification(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    avg_document_bytes: float = Field(500, gt=0)
    index_bytes_per_document: float = Field(150, ge=0)
    retention_days: float = Field(30, gt=0)
    browser: SystemCost = SystemCost()
    worker: SystemCost = SystemCost()
    backend: SystemCost = SystemCost()


def load_amplification(path: str | None = None) -> Amplification:
    """The shipped model, or a user's TOML file."""
    if path is None:
        return validate_toml(
            Amplification,
            builtin_text("amplification.toml"),
            "logcorr/data/amplification.toml",
            "amplification model",
        )
    return validate_toml(Amplification, read_text(path, "amplification model"), path, "amplification model")


def usage(
    amp: Amplification, offered: dict[str, float], accepted: dict[str, float], days: float
) -> dict[str, float]:
    """A month's resource usage for logs offered and accepted per system.

    Stored documents accumulate over the month; storage is billed as the month's average, i.e. half of
    what is stored by its end (the month starts empty), capped by the retention period.
    """
    totals: dict[str, float] = {k: 0.0 for k in PerLog.model_fields}
    for system in ("browser", "worker", "backend"):
        cost: SystemCost = getattr(amp, system)
        for per, n in ((cost.offered, offered.get(system, 0.0)), (cost.accepted, accepted.get(system, 0.0))):
            for k in PerLog.model_fields:
                totals[k] += getattr(per, k) * n
    doc = amp.avg_document_bytes + amp.index_bytes_per_document
    kept_fraction = min(1.0, amp.retention_days / days) if days > 0 else 1.0
    stored_gb_avg = totals["stored_documents"] * doc / GB * kept_fraction / 2
    out: dict[str, Any] = {
        "writes": sum(accepted.values()),
        "document_writes": totals["documents_written"],
        "function_calls": totals["function_calls"],
        "db_io_gb": totals["db_io_bytes"] / GB,
        "db_storage_gb_month": stored_gb_avg,
        "action_compute_gb_hours": totals["action_gb_seconds"] / 3600,
        "worker_requests": totals["worker_requests"],
        "worker_cpu_ms": totals["worker_cpu_ms"],
        "workers_logs_events": totals["worker_log_events"],
        "observability_ingest_gb": totals["worker_log_bytes"] / GB,
    }
    assert tuple(out) == RESOURCES
    return out
