"""`logcorr serve`: a local HTTP collector with the live system's endpoints (browser `POST /log` and the
Convex HTTP API path, the Convex log-stream webhook, worker forwarding). A new front door to the same
pipeline as `ingest`: request bodies go through the same adapters, rules and store, in batches.

Needs the optional extra: `pip install 'logcorr[serve]'`.
"""
