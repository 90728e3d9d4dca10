"""Load-test replay: synthetic scenarios (TOML, seeded, open-model arrival rates) and recorded logs,
decided by the same rule engine as ingest on simulated time, measured per minute, per system, per
trace, against the quota and the pricing models, and checked against thresholds."""
