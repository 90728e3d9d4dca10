"""`logcorr serve`: thin command over `logcorr.serve.run.serve`."""

from __future__ import annotations

import os
import sys

import typer


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_cmd)


def serve_cmd(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (default: 127.0.0.1)."),
    port: int = typer.Option(8787, "--port", help="Port (default: 8787; 0 picks a free one)."),
    db: str = typer.Option(None, "--db", envvar="LOGCORR_DB", help="DuckDB file (default: ./logcorr.duckdb)."),
    policy: str = typer.Option(None, "--policy", help="Policy TOML (or pyproject.toml) (default: story defaults)."),
    allow_origin: list[str] = typer.Option(
        None, "--allow-origin", help="Browser origin allowed by CORS; repeatable; http://localhost:* = any port, * = any "
        "(default: localhost and 127.0.0.1 origins)."
    ),
    allow_host: list[str] = typer.Option(
        None, "--allow-host", help="Host name the server answers besides localhost and IP addresses (a tunnel's, "
        "a LAN name); repeatable; .example.com = it and its subdomains (not a public suffix: .co.uk), * = any "
        "(default: none)."
    ),
    webhook_secret: str = typer.Option(
        None, "--webhook-secret", envvar="LOGCORR_WEBHOOK_SECRET", show_envvar=True,
        help="Convex log-stream secret; deliveries without a valid x-webhook-signature are refused (default: not checked).",
    ),
    max_event_age: float = typer.Option(
        0.0, "--max-event-age", help="Refuse webhook deliveries whose first event is older, in seconds; Convex "
        "recommends 300 (default: 0, off)."
    ),
    proxy: bool = typer.Option(False, "--proxy", help="Store browser logs as the log-ingestion Worker would "
                               "(worker record, receive time + client time) (default: off)."),
    max_body_kb: int = typer.Option(1024, "--max-body-kb", help="Largest request body (default: 1024 KiB)."),
    max_held_mb: int = typer.Option(64, "--max-held-mb", help="Request bodies held in memory at once, waiting "
                                    "for the writer; more are answered 503 (default: 64 MiB)."),
    max_connections: int = typer.Option(512, "--max-connections", help="Connections served at once; one more "
                                        "takes the place of the one waiting longest for a request's head, or is "
                                        "answered 503 and closed when each has a request (default: 512)."),
    header_timeout: float = typer.Option(10.0, "--header-timeout", help="Seconds a client may take to send a "
                                         "request's line and headers; then 408 and closed (default: 10)."),
    body_timeout: float = typer.Option(30.0, "--body-timeout", help="Seconds a client may take to send a request "
                                       "body (then 408), or leave a response unread (then dropped) (default: 30)."),
    batch_ms: int = typer.Option(50, "--batch-ms", help="Wait this long for requests to join a batch (default: 50)."),
    batch_max: int = typer.Option(512, "--batch-max", help="Requests per batch at most (default: 512)."),
) -> None:  # fmt: skip
    """Collect logs over HTTP into DuckDB with the live system's endpoints and the same rules as ingest.

    \b
    Example: logcorr serve --db app.duckdb --allow-origin http://localhost:3000 --webhook-secret "$SECRET"
    Through a tunnel: logcorr serve --db app.duckdb --allow-host abc.ngrok-free.app
    """
    from logcorr.errors import UsageError
    from logcorr.rules.policy import load_policy
    from logcorr.serve.run import serve
    from logcorr.store.connection import resolve_db

    for option, value, ok, wanted in (
        ("--port", port, 0 <= port <= 65535, "0-65535 (0 picks a free port)"),
        ("--max-body-kb", max_body_kb, max_body_kb >= 1, "1 or more"),
        ("--max-held-mb", max_held_mb, max_held_mb * 1024 >= max_body_kb, "at least --max-body-kb"),
        ("--batch-ms", batch_ms, batch_ms >= 0, "0 or more"),
        ("--batch-max", batch_max, batch_max >= 1, "1 or more"),
        ("--max-event-age", max_event_age, max_event_age >= 0, "0 (off) or more"),
        ("--max-connections", max_connections, max_connections >= 1, "1 or more"),
        ("--header-timeout", header_timeout, 0 < header_timeout <= 3600, "over 0 and at most 3600 s"),
        ("--body-timeout", body_timeout, 0 < body_timeout <= 3600, "over 0 and at most 3600 s"),
    ):
        if not ok:
            raise UsageError(f"{option} {value:g}: must be {wanted}")
    if webhook_secret is None:
        webhook_secret = os.environ.get(
            "LOGCORR_WEBHOOK_SECRET"
        )  # click passes a set but empty variable as unset
    if webhook_secret is not None and not webhook_secret.strip():
        # `--webhook-secret "$SECRET"` with $SECRET unset: the user asked for signed deliveries
        raise UsageError(
            "the webhook secret (--webhook-secret or $LOGCORR_WEBHOOK_SECRET) is empty: deliveries would not be checked",
            "set it to the secret the Convex dashboard shows for the log stream, or leave both out",
        )
    from logcorr.serve.config import ServeConfig
    from logcorr.serve.security import DEFAULT_ORIGINS, HostPolicy, OriginPolicy, is_loopback_bind

    hosts = HostPolicy(allow_host or (), listen_host=host)
    cfg = ServeConfig(
        db=resolve_db(db), policy=load_policy(policy), origins=OriginPolicy(allow_origin or DEFAULT_ORIGINS),
        hosts=hosts,
        webhook_secret=webhook_secret, max_event_age_s=max_event_age or None, max_body_bytes=max_body_kb * 1024,
        max_held_bytes=max_held_mb * 1_048_576,
        proxy=proxy, batch_ms=batch_ms, batch_max=batch_max, max_connections=max_connections,
        header_timeout_s=header_timeout, body_timeout_s=body_timeout, send_timeout_s=body_timeout,
    )  # fmt: skip

    def ready(url: str) -> None:
        sys.stderr.write(f"logcorr serve: listening on {url} (db {cfg.db}); Ctrl-C to stop\n")
        if hosts.any:
            sys.stderr.write(
                "logcorr serve: --allow-host '*': the Host check is off, so a web page whose DNS name is rebound to "
                "this machine can read /health and /traces/recent\n"
            )
        elif not is_loopback_bind(host):
            # reached by other machines, by a name this process cannot know: say how to admit it
            sys.stderr.write(
                "logcorr serve: answering requests for localhost, IP addresses"
                + "".join(f", {name}" for name in hosts.names)
                + "; another name (a LAN name, a tunnel's, a reverse proxy's) needs --allow-host NAME\n"
            )
        sys.stderr.flush()

    serve(cfg, host, port, ready)
