"""Simulation on event time: a load (recorded or synthetic) as an ordered DuckDB query, pushed through
the same rule engine as ingest, counted per system, per day and per minute."""
