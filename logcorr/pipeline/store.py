"""The store phase of ingest: accepted events into `log_queue` (and the recent window), dropped events
into `drop_ledger`, metrics and rejects into theirs; and the per-file counts read back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from logcorr.rules.policy import Policy
from logcorr.store.schema import EVENT_NAMES, refresh_trace_summary

if TYPE_CHECKING:
    from logcorr.pipeline.ingest import IngestResult


_LEDGER_SLICE = 1 << 20

_SELECT_EVENT = """
    {base} + o.pos, make_timestamp(s.ts_ms * 1000), make_timestamp(s.client_ts_ms * 1000), s.system,
    s.system_label, s.level, s.message, s.trace_id, s.trace_source, s.request_id, s.user_id,
    s.context::JSON, s.stack, f.path, s.source_line, s.source_format, s.fingerprint, s.event_key, {run_id}
"""


def store(con: Any, run_id: int, policy: Policy) -> None:
    base = con.execute(
        "SELECT greatest((SELECT coalesce(max(event_id), 0) FROM log_queue), "
        "(SELECT coalesce(max(event_id), 0) FROM drop_ledger))"
    ).fetchone()[0]
    cols = ", ".join(EVENT_NAMES)
    select = _SELECT_EVENT.format(base=int(base), run_id=int(run_id))
    con.execute(
        f"""
        INSERT INTO log_queue ({cols}, processed)
        SELECT {select}, false
        FROM staging s JOIN fate o USING (seq) JOIN files f USING (file_id)
        WHERE o.rule IS NULL
        ORDER BY o.pos
        """
    )
    refresh_trace_summary(con, run_id)
    # the ledger can take millions of rows: written in slices of input order, so that each join's build
    # side is one slice of `fate` and the decisions that slice names (decision numbers follow event
    # time, so a slice of time-ordered input names a narrow range of them); staging and fate are stored
    # in sequence order and the zone maps skip the other slices. Without the decision range every slice
    # built a hash table of all decisions: hundreds of MB at 5M events, spilled, ~30x the 1M time.
    # The decisions are a LEFT JOIN (every dropped event has one) so that it comes last: as an inner join
    # the optimizer may build the hash table of fate ⋈ decisions instead, a slice of reasons and rule
    # states that spilled under the store's memory limit and took 4x as long at 1M events.
    slices = con.execute(
        f"""
        SELECT seq // {_LEDGER_SLICE} AS k, min(decision), max(decision) FROM fate
        WHERE decision IS NOT NULL GROUP BY k ORDER BY k
        """
    ).fetchall()
    for k, first, last in slices:
        lo, hi = int(k) * _LEDGER_SLICE, (int(k) + 1) * _LEDGER_SLICE
        con.execute(
            f"""
            INSERT INTO drop_ledger ({cols}, rule, reason, rule_state)
            SELECT {select}, o.rule, x.reason, x.rule_state
            FROM staging s JOIN fate o USING (seq) JOIN files f USING (file_id)
                 LEFT JOIN (SELECT decision, reason, rule_state::JSON AS rule_state FROM decisions
                            WHERE decision BETWEEN {int(first)} AND {int(last)}) x USING (decision)
            WHERE s.seq >= {lo} AND s.seq < {hi} AND o.seq >= {lo} AND o.seq < {hi} AND o.rule IS NOT NULL
            """
        )
    con.execute(
        f"""
        INSERT INTO metrics
        SELECT make_timestamp(m.ts_ms * 1000), m.system, m.topic, m.data::JSON, f.path, m.source_line,
               m.source_format, {int(run_id)}
        FROM staged_metrics m JOIN files f USING (file_id)
        """
    )
    con.execute(
        f"""
        INSERT INTO rejects
        SELECT {int(run_id)}, f.path, r.source_line, r.source_format, r.reason, r.excerpt
        FROM staged_rejects r JOIN files f USING (file_id)
        """
    )
    # the recent window: accepted events newer than (newest event time − window), as in the live system
    window = int(policy.recent.window_minutes)
    con.execute("DELETE FROM recent_log_entries WHERE expires_at <= (SELECT max(ts) FROM log_queue)")
    con.execute(
        f"""
        INSERT INTO recent_log_entries ({cols}, expires_at)
        SELECT {cols}, ts + INTERVAL {window} MINUTE FROM log_queue
        WHERE run_id = {int(run_id)}
          AND ts + INTERVAL {window} MINUTE > (SELECT max(ts) FROM log_queue)
        """
    )


def count(con: Any, result: IngestResult) -> None:
    by_file = {f.file_id: f for f in result.files}
    rows = con.execute(
        "SELECT s.file_id, s.system, t.rule, count(*) FROM staging s JOIN fate t USING (seq) GROUP BY ALL"
    ).fetchall()
    for file_id, system, rule, n in rows:
        f = by_file[file_id]
        if rule is None:
            f.stored += int(n)
            result.stored_by_system[system] += int(n)
        else:
            f.dropped += int(n)
            result.drops[(rule, system)] += int(n)
