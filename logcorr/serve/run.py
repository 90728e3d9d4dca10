"""Start the collector: check the extra is installed, bind the socket (port 0 picks a free one), start
the writer, then run uvicorn until SIGINT/SIGTERM, which drains the queued requests first."""

from __future__ import annotations

import socket
from collections.abc import Callable

from logcorr.errors import UsageError
from logcorr.serve.config import ServeConfig

SHUTDOWN_GRACE_S = 5


def serve(cfg: ServeConfig, host: str, port: int, ready: Callable[[str], None]) -> None:
    """Serve `cfg` (a ServeConfig) on host:port; `ready(url)` is called once the socket listens."""
    try:
        import uvicorn

        from logcorr.serve.app import Collector
    except ImportError as e:
        raise UsageError(
            f"logcorr serve needs its optional dependencies ({e.name} is missing)",
            "pip install 'logcorr[serve]'",
        ) from None
    sock = _listen(host, port)
    collector = Collector(cfg)
    try:
        collector.writer.start()
        server = uvicorn.Server(
            uvicorn.Config(
                collector.app(),
                log_level="warning",
                access_log=False,
                lifespan="on",
                # on SIGINT/SIGTERM, requests still in flight after this long are cut (a client trickling
                # its body held the server up indefinitely); what they queued is still written
                timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
            )
        )
        bound = sock.getsockname()[1]
        ready(f"http://{'[' + host + ']' if ':' in host else host}:{bound}")
        server.run(sockets=[sock])
    finally:
        collector.writer.close()
        sock.close()


def _listen(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(1024)
    except OSError as e:
        raise UsageError(
            f"cannot listen on {host}:{port}: {e.strerror or e}", "choose another --port, or --port 0"
        ) from None
    sock.set_inheritable(True)
    return sock
