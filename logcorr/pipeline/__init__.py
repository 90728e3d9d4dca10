"""Ingest orchestration: parse files into staging, run the rule engine in event-time order, store."""
