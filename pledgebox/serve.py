"""Running the app under waitress, with settings chosen for hostile clients."""

from __future__ import annotations

import ipaddress
import resource
import sys

from .errors import PledgeboxError

# Measured (bench/run.py, and issue notes): 16 threads hold throughput at 64 keep-alive
# clients where waitress's default 4 collapse; 1000 connections with poll() keep slow
# clients from locking out new visitors (the default 100 does not).
WAITRESS = {
    "threads": 16,
    "connection_limit": 1000,
    "asyncore_use_poll": True,
    "backlog": 1024,
    "channel_timeout": 30,  # drop idle or trickling connections after 30 s
    "cleanup_interval": 10,
    "max_request_header_size": 16 * 1024,
    # The app answers bodies over 16 KB with its own 413 page; waitress refuses
    # anything larger than this outright, before reading it.
    "max_request_body_size": 64 * 1024,
    "ident": "",  # no Server header
    "expose_tracebacks": False,
    "log_socket_errors": False,
    "clear_untrusted_proxy_headers": True,
}


class CannotListen(PledgeboxError):
    """Cannot listen on"""

    hint = ("another program may use that port (try --port 8081), or the socket's folder does not exist, "
            "or the address is not this machine's")


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost'."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def raise_fd_limit() -> None:
    """Allow enough open files for connection_limit sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, 4096) if hard != resource.RLIM_INFINITY else 4096
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def settings(*, host: str = "", port: int = 0, unix_socket: str = "", threads: int = 0,
             behind_https_proxy: bool = False) -> dict:
    """waitress keyword arguments for one listener."""
    kw = dict(WAITRESS)
    if threads:
        kw["threads"] = threads
    if unix_socket:
        kw.update(unix_socket=unix_socket, unix_socket_perms="660")  # shared with tor's group
    else:
        kw.update(host=host, port=port)
    if behind_https_proxy:
        # Only the local reverse proxy may say that a request came over HTTPS.
        kw.update(trusted_proxy="127.0.0.1", trusted_proxy_headers={"x-forwarded-proto"})
    return kw


def run(app, **kw) -> None:
    """Serve until interrupted; print only where it listens, never anything about clients."""
    import logging

    import waitress

    raise_fd_limit()
    # waitress logs only its own events (no access log); keep its queue warnings, nothing chattier.
    logging.getLogger("waitress").setLevel(logging.WARNING)
    where = f"unix:{kw['unix_socket']}" if "unix_socket" in kw else f"http://{kw['host']}:{kw['port']}/"
    try:
        server = waitress.create_server(app, **kw)  # binds now, so a busy port is an error, not a traceback
    except OSError as exc:
        raise CannotListen(f"{where}: {exc.strerror}.") from None
    print(f"pledgebox: serving on {where} (Ctrl+C stops)", file=sys.stderr, flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
