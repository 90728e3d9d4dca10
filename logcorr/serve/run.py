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
        from logcorr.serve.protocol import guarded_protocol
    except ImportError as e:
        raise UsageError(
            f"logcorr serve needs its optional dependencies ({e.name} is missing)",
            "pip install 'logcorr[serve]'",
        ) from None
    _fd_room(cfg.max_connections)
    socks = _listen(host, port)
    collector = Collector(cfg)
    protocol = guarded_protocol(
        header_timeout_s=cfg.header_timeout_s,
        send_timeout_s=cfg.send_timeout_s,
        max_connections=cfg.max_connections,
        reject=collector.connection_event,
        opened=collector.connection_opened,
    )
    try:
        collector.writer.start()
        server = uvicorn.Server(
            uvicorn.Config(
                collector.app(),
                http=protocol,  # h11 with header and send timeouts and a connection limit
                log_level="warning",
                access_log=False,
                lifespan="on",
                # on SIGINT/SIGTERM, requests still in flight after this long are cut (a client trickling
                # its body held the server up indefinitely); what they queued is still written
                timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
            )
        )
        bound = socks[0].getsockname()[1]
        ready(f"http://{'[' + host + ']' if ':' in host else host}:{bound}")
        server.run(sockets=socks)
    finally:
        collector.writer.close()
        for sock in socks:
            sock.close()


FD_RESERVE = 64  # file descriptors besides the connections: the database, its WAL, listening sockets, stdio


def _fd_room(max_connections: int) -> None:
    """Raise the soft limit on open files to hold `max_connections` (up to the hard limit): past it the
    server could accept no connection at all, not even a `/health`. Refused (exit 2) when even the hard
    limit is too low."""
    try:
        import resource
    except ImportError:  # not POSIX
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = max_connections + FD_RESERVE
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise UsageError(
            f"--max-connections {max_connections} needs {needed} open files, and this process may open "
            f"{hard} (ulimit -Hn)",
            f"use --max-connections {max(1, hard - FD_RESERVE)} or less, or raise the limit",
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def _listen(host: str, port: int) -> list[socket.socket]:
    """A listening socket on each address `host` names (`localhost`: 127.0.0.1 and ::1 where it names both,
    as clients such as Node's fetch try ::1 first), all on one port: `port`, or the one the first picked
    (port 0). An address after the first that cannot be bound (no IPv6) is left out."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as e:
        raise UsageError(f"cannot listen on {host}:{port}: {e.strerror or e}", "check --host") from None
    socks: list[socket.socket] = []
    seen: set[tuple[int, str]] = set()
    for family, kind, proto, _, addr in infos:
        if (family, str(addr[0])) in seen:
            continue
        seen.add((family, str(addr[0])))
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:  # ::1 and 127.0.0.1 on one port: each socket its own family
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((addr[0], socks[0].getsockname()[1], *addr[2:]) if socks else addr)
            sock.listen(1024)
        except OSError as e:
            sock.close()
            if socks:
                continue
            raise UsageError(
                f"cannot listen on {host}:{port}: {e.strerror or e}", "choose another --port, or --port 0"
            ) from None
        sock.set_inheritable(True)
        socks.append(sock)
    return socks
