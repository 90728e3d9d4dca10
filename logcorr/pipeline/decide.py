"""The rule phase of ingest: staged events in event-time order through the rule engine (continuing
the saved rule state); each event's fate lands in TEMP tables `drops` and `decisions`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from logcorr.rules.engine import Engine, hot_flags_sql
from logcorr.rules.policy import Policy
from logcorr.rules.report import quota_report, trace_integrity
from logcorr.rules.state import RuleState

if TYPE_CHECKING:
    from logcorr.pipeline.ingest import IngestResult
    from logcorr.pipeline.parse import FileResult


def register_files(con: Any, files: list[FileResult]) -> None:
    table = pa.table(
        {
            "file_id": pa.array([f.file_id for f in files], pa.int32()),
            "path": pa.array(["<stdin>" if f.path == "-" else f.path for f in files], pa.string()),
        }
    )
    con.register("_files", table)
    con.execute("CREATE TEMP TABLE files AS SELECT * FROM _files")
    con.unregister("_files")


def propagate_request_traces(con: Any) -> None:
    """Lines of one request (Convex function run, Worker invocation) take the trace id a sibling carries."""
    con.execute(
        """
        UPDATE staging SET trace_id = t.trace_id, trace_source = 'request_id'
        FROM (
            SELECT request_id, arg_min(trace_id, ts_ms) AS trace_id
            FROM staging WHERE request_id IS NOT NULL AND trace_id IS NOT NULL
            GROUP BY request_id
        ) AS t
        WHERE staging.request_id = t.request_id AND staging.trace_id IS NULL
        """
    )


_ENGINE_BATCH = 16_384


def decide(con: Any, policy: Policy, state: RuleState, result: IngestResult) -> Engine:
    """Run the engine over staging in event-time order (ties in input order), continuing `state`;
    drops land in TEMP table `drops`. Fills the result's quota and trace-integrity fields."""
    con.execute(
        f"""
        CREATE TEMP TABLE ordered AS
        SELECT seq, pos, dup, {hot_flags_sql(policy)}
        FROM (
            SELECT seq, ts_ms, system, level, fingerprint, trace_id,
                   row_number() OVER (ORDER BY ts_ms, seq) AS pos,
                   CASE WHEN event_key IN (SELECT event_key FROM log_queue UNION ALL SELECT event_key FROM drop_ledger)
                        THEN 2
                        WHEN row_number() OVER (PARTITION BY event_key ORDER BY ts_ms, seq) > 1 THEN 1
                        ELSE 0 END::TINYINT AS dup
            FROM staging
        )
        """
    )
    engine = Engine(policy, state)
    sink = _DropSink(con)
    # the engine's input, materialised in position order so each batch is a complete range query:
    # drops can then be flushed into the same connection between batches (an open result forbids it)
    con.execute(
        """
        CREATE TEMP TABLE engine_in AS
        SELECT o.pos, s.ts_ms, s.system, s.level, s.trace_id, s.fingerprint, s.suppressed, o.dup, s.event_key,
               o.loop_hot, o.cross_hot
        FROM ordered o JOIN staging s USING (seq) ORDER BY o.pos
        """
    )
    total = con.execute("SELECT count(*) FROM engine_in").fetchall()[0][0]
    for lo in range(0, int(total), _ENGINE_BATCH):
        batch = con.sql(
            f"SELECT * FROM engine_in WHERE pos > {lo} AND pos <= {lo + _ENGINE_BATCH} ORDER BY pos"
        ).to_arrow_table()
        sink.add(engine.process(batch.to_pydict()))
    sink.close()
    con.execute("DROP TABLE engine_in")
    result.quota = quota_report(engine.state, engine.budget)
    result.integrity = trace_integrity(con, engine.stats)
    return engine


class _DropSink:
    """The engine's drops into TEMP tables `drops (pos, rule, decision)` and `decisions (decision, reason,
    rule_state)`. Drops of one flood or loop share their reason objects, so each distinct decision is
    written once per flush window and the drop rows stay two numbers and a rule name."""

    def __init__(self, con: Any) -> None:
        self.con = con
        self.ids: dict[tuple[str, str, str | None], int] = {}
        self.next_id = 0
        self.new: list[tuple[int, str, str | None]] = []
        self.pos: list[int] = []
        self.rule: list[str] = []
        self.did: list[int] = []
        con.execute("CREATE TEMP TABLE drops (pos BIGINT, rule VARCHAR, decision INTEGER)")
        con.execute("CREATE TEMP TABLE decisions (decision INTEGER, reason VARCHAR, rule_state VARCHAR)")

    def add(self, drops: list[tuple[int, str, str, str | None]]) -> None:
        ids, new = self.ids, self.new
        pos, rule, did = self.pos.append, self.rule.append, self.did.append
        for p, r, reason, state in drops:
            key = (r, reason, state)
            d = ids.get(key)
            if d is None:
                d = ids[key] = self.next_id
                self.next_id += 1
                new.append((d, reason, state))
            pos(p)
            rule(r)
            did(d)
        if len(self.pos) >= 65_536:
            self.flush()

    def flush(self) -> None:
        if self.pos:
            self._insert(
                "drops",
                pa.table({"pos": pa.array(self.pos, pa.int64()), "rule": pa.array(self.rule, pa.string()),
                          "decision": pa.array(self.did, pa.int32())}),
            )  # fmt: skip
            self.pos, self.rule, self.did = [], [], []
        if self.new:
            d, reason, state = zip(*self.new, strict=True)
            self._insert(
                "decisions",
                pa.table({"decision": pa.array(d, pa.int32()), "reason": pa.array(reason, pa.string()),
                          "rule_state": pa.array(state, pa.string())}),
            )  # fmt: skip
            self.new = []
        # a flood's drops are consecutive: deduplicating within one flush window keeps the table small
        # without holding every distinct reason of a long ingest in memory
        self.ids.clear()

    def close(self) -> None:
        self.flush()
        self.ids.clear()

    def _insert(self, table: str, data: pa.Table) -> None:
        self.con.register("_drops", data)
        self.con.execute(f"INSERT INTO {table} SELECT * FROM _drops")
        self.con.unregister("_drops")
