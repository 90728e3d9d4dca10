"""The names of the Worker's input formats, as `source_format` stores them: one definition for the format
registry, the event key, the SQL over stored rows (and the migration that rewrote their keys) and serve's
`/worker` endpoint. (`_fastparse.c` spells `cf-logpush` and `cf-tail` itself; a test holds it to these.)"""

from __future__ import annotations

WORKER_RECORD = "worker-record"
WORKER_LOGS = "worker-logs"
CF_LOGPUSH = "cf-logpush"
CF_TAIL = "cf-tail"
CF_WORKERS_LOGS = "cf-workers-logs"

# the two Cloudflare exports that give each line its invocation's Ray ID: a line or an invocation of one is
# recognised in the other (the event key without the trace id, the invocation metrics paired)
RAY_ID_EXPORTS = (CF_LOGPUSH, CF_TAIL)
# every format of the Worker's records, on the Worker's clock
WORKER_FORMATS = (WORKER_RECORD, WORKER_LOGS, CF_LOGPUSH, CF_TAIL, CF_WORKERS_LOGS)
