"""One replay request, end to end: load the policies, pricing and load (a scenario, input files ingested
into a throw-away database, or a database), run it (or compare two policies), clean up."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from logcorr.errors import UsageError
from logcorr.model import path_text

# `--local-tz` reads input files: a database's events were read (and their zone chosen) when ingested
LOCAL_TZ_WITHOUT_FILES = (
    "--local-tz applies to input files: a database's times were read when it was ingested"
)
LOCAL_TZ_HINT = "pass the input files, or ingest them again with --local-tz into a fresh database"


@dataclass(frozen=True)
class Request:
    """What `logcorr replay` was asked to do (library callers build one too)."""

    scenario: str | None = None
    params: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    db: str | None = None
    speed: float = 1.0
    multiply: float = 1.0
    policy: str | None = None
    compare_policy: str | None = None
    pricing: list[str] = field(default_factory=list)
    cost_model: str = "story"
    amplification: str | None = None
    bucket_ms: int | None = None
    top: int = 10
    # models whose `cost_usd.<model>` a threshold reads (`asserts.cost_models`): a built-in one is simulated too,
    # and any other must be a --pricing model's name, checked before the replay runs
    cost_metrics: list[str] = field(default_factory=list)
    # recorded input files: the zone of times written without one (`ingest --local-tz`)
    local_tz: str | None = None


def execute(req: Request, progress: Callable[[int, int, int], None] | None = None) -> dict[str, Any]:
    """Run the request; returns the result dict (see `logcorr.replay.run`)."""
    from logcorr.budget.amplification import load_amplification
    from logcorr.budget.pricing import BUILTIN, select_models
    from logcorr.replay.run import Options, compare, replay
    from logcorr.rules.policy import load_policy

    if req.top < 0:
        raise UsageError(f"--top {req.top}: must be 0 or more")
    if req.scenario and (req.inputs or req.db):
        raise UsageError("give either --scenario or recorded logs (files or --db), not both")
    if req.params and not req.scenario:
        raise UsageError("--param applies to --scenario only")
    if req.scenario and (req.speed != 1 or req.multiply != 1):
        raise UsageError(
            "--speed and --multiply apply to recorded logs", "scale a scenario with --param scale=N"
        )
    if req.local_tz is not None and req.scenario:
        # a scenario's times are simulated: "a database's times" named a database the user never gave
        raise UsageError(
            "--local-tz applies to recorded log files, not to a scenario (its times are simulated)"
        )
    if req.local_tz is not None and not req.inputs:
        raise UsageError(LOCAL_TZ_WITHOUT_FILES, LOCAL_TZ_HINT)
    models, names = select_models(
        req.pricing, [req.cost_model, *(m for m in req.cost_metrics if m in BUILTIN)]
    )
    cost_model = names[0]
    simulated = [m.name for m in models]
    for m in req.cost_metrics:
        if m not in simulated:
            raise UsageError(
                f"unknown metric 'cost_usd.{m}' in --assert: no pricing model of that name",
                f"models simulated: {', '.join(simulated)}; built-in: {', '.join(BUILTIN)}; "
                "add a file with --pricing",
            )
    opts = Options(models, load_amplification(req.amplification), cost_model, req.bucket_ms, req.top)
    policy = load_policy(req.policy)
    other = load_policy(req.compare_policy) if req.compare_policy else None
    con, cleanup, load = _open(req, policy)
    try:
        if other is not None:
            return compare(
                con, load, (policy, other), (req.policy, req.compare_policy), opts, progress=progress
            )
        return replay(con, load, policy, opts, policy_source=req.policy, progress=progress)
    finally:
        con.close()
        cleanup()


def _open(req: Request, policy: Any) -> tuple[Any, Callable[[], None], Any]:
    """(connection, cleanup, load) for a scenario, input files or a database."""
    if req.scenario:
        import duckdb

        from logcorr.replay.scenario import load_scenario
        from logcorr.replay.synth import SyntheticLoad
        from logcorr.store.connection import quiet
        from logcorr.store.interrupt import track

        sc, name, applied = load_scenario(req.scenario, req.params)
        return quiet(track(duckdb.connect(config={"threads": 1}))), _nothing, SyntheticLoad(sc, name, applied)
    from logcorr.replay.recorded import RecordedLoad

    source: dict[str, Any]
    cleanup: Callable[[], None]
    if req.inputs:
        from logcorr.budget.project import with_inputs

        con, tmp = with_inputs(req.inputs, policy, req.local_tz)
        source, cleanup = {"inputs": [path_text(p) for p in req.inputs]}, tmp.cleanup
    else:
        from logcorr.store.connection import resolve_db
        from logcorr.store.query import open_read_only

        path = resolve_db(req.db)
        con, source, cleanup = open_read_only(path), {"db": path}, _nothing
    try:
        return con, cleanup, RecordedLoad(con, source, speed=req.speed, multiply=req.multiply)
    except BaseException:
        con.close()
        cleanup()
        raise


def _nothing() -> None:
    """Nothing to clean up."""
