"""Running the app under waitress, with settings chosen for hostile clients."""

from __future__ import annotations

import gc
import ipaddress
import mmap
import os
import resource
import signal
import socket
import stat
import sys
import time

from .errors import PledgeboxError

# Measured (bench/run.py, and issue notes): 16 threads hold throughput at 64 keep-alive
# clients where waitress's default 4 collapse. CONNECTIONS per process with poll(): new GETs
# stay under a second with that many trickling connections held (bench/run.py); at the limit
# the longest-waiting connections are closed instead of accepting none (connections.py).
CONNECTIONS = 10000
FD_RESERVE = 256  # open files besides the connections: the store, pipes, libraries
WAITRESS = {
    "threads": 16,
    "connection_limit": CONNECTIONS,
    "asyncore_use_poll": True,
    "backlog": 1024,
    "channel_timeout": 30,  # drop connections silent for 30 s (connections.py: deadlines for trickling ones)
    "cleanup_interval": 1,  # how often deadlines are looked at
    "max_request_header_size": 16 * 1024,
    # The app answers bodies over 16 KB with its own 413 page; waitress refuses
    # anything larger than this outright, before reading it.
    "max_request_body_size": 64 * 1024,
    "ident": "",  # no Server header
    "expose_tracebacks": False,
    "log_socket_errors": False,
    "clear_untrusted_proxy_headers": True,
}


class WorkersFailing(PledgeboxError):
    """The worker processes keep exiting, so serving stopped:"""

    hint = "start it with --workers 1 to see the error, and check the data folder and the port"


class CannotListen(PledgeboxError):
    """Cannot listen on"""

    hint = (
        "another program may use that port (try --port 8081), or the socket's folder does not exist, "
        "or the address is not this machine's"
    )


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost'."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def raise_fd_limit(connections: int = CONNECTIONS) -> int:
    """Allow open files for `connections` sockets if the hard limit lets us; the connections that fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + FD_RESERVE
    if hard != resource.RLIM_INFINITY:
        wanted = min(hard, wanted)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        soft = wanted
    return max(1, min(connections, soft - FD_RESERVE))


# Per worker of `serve --workers N`: the work is mostly CPU (sealing, the QR code), and more
# threads than this only queue for the worker's GIL (bench/run.py: 64 clients ran 15-30 %
# faster with 4 threads per worker than with 16).
WORKER_THREADS = 4


def settings(
    *,
    host: str = "",
    port: int = 0,
    unix_socket: str = "",
    threads: int = 0,
    workers: int = 1,
    behind_https_proxy: bool = False,
) -> dict:
    """waitress keyword arguments for one listener (for each worker, when there are several)."""
    kw = dict(WAITRESS)
    if threads:
        kw["threads"] = threads
    elif workers > 1:
        kw["threads"] = WORKER_THREADS
    if unix_socket:
        kw.update(unix_socket=unix_socket, unix_socket_perms="660")  # shared with tor's group
    else:
        kw.update(host=host, port=port)
    if behind_https_proxy:
        # Only the local reverse proxy may say that a request came over HTTPS.
        kw.update(trusted_proxy="127.0.0.1", trusted_proxy_headers={"x-forwarded-proto"})
    return kw


def run(app, *, workers: int = 1, proxy_protocol: bool = False, housekeeping=None, **kw) -> None:
    """Serve until interrupted; print only where it listens, never anything about clients.

    proxy_protocol: every connection must begin with a PROXY v1 line (tor's
    HiddenServiceExportCircuitID haproxy); housekeeping: called every second or so.
    """
    import logging

    import waitress

    from . import connections

    kw["connection_limit"] = raise_fd_limit(kw.get("connection_limit", CONNECTIONS))
    reading = {"proxy_protocol": proxy_protocol, "housekeeping": housekeeping}
    # waitress logs only its own events (no access log), and only warnings are kept. Not even its
    # "Task queue depth" warnings: one comes whenever every thread is busy, and the journal's time
    # stamp on each would record when visitors came.
    logging.getLogger("waitress").setLevel(logging.WARNING)
    logging.getLogger("waitress.queue").setLevel(logging.CRITICAL)
    where = f"unix:{kw['unix_socket']}" if "unix_socket" in kw else f"http://{kw['host']}:{kw['port']}/"
    # Everything made so far (the app, its pages, keys, libraries) lives as long as the process:
    # keep it out of the garbage collector's full scans (and, after a fork, out of its writes).
    gc.freeze()
    if workers > 1:
        try:
            socks = listen(kw)
        except OSError as exc:
            raise CannotListen(f"{where}: {exc.strerror}.") from None
        print(
            f"pledgebox: serving on {where} with {workers} worker processes (Ctrl+C stops)", file=sys.stderr, flush=True
        )
        supervise(app, socks, {k: v for k, v in kw.items() if k not in _WHERE}, workers, reading)
        return
    socket_map: dict = {}
    try:
        # Binds now, so a busy port is an error, not a traceback.
        server = waitress.create_server(app, map=socket_map, **kw)
    except OSError as exc:
        raise CannotListen(f"{where}: {exc.strerror}.") from None
    connections.attach(socket_map, **reading)
    print(f"pledgebox: serving on {where} (Ctrl+C stops)", file=sys.stderr, flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


# -- several worker processes on one listening socket -------------------------------------------

_WHERE = ("host", "port", "unix_socket", "unix_socket_perms")
RESPAWN_PAUSE = 1.0  # seconds before replacing a worker that died young, so a crash loop stays slow
# This many workers dead within CRASH_WINDOW seconds: something is wrong that a restart won't fix.
GIVE_UP_AFTER = 5
CRASH_WINDOW = 30.0


def listen(kw: dict) -> list[socket.socket]:
    """Bind and listen where waitress would, before forking, so every worker accepts on the same sockets.

    Like waitress: every address the host name gives ("localhost" may give 127.0.0.1 and ::1),
    "*" for all of them, "[::1]" for an IPv6 address.
    """
    if "unix_socket" in kw:
        path = kw["unix_socket"]
        try:
            if stat.S_ISSOCK(os.stat(path).st_mode):
                os.remove(path)  # a socket left by an earlier run, as waitress does
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(path)
            os.chmod(path, int(kw["unix_socket_perms"], 8))
            sock.listen(kw["backlog"])
        except OSError:
            sock.close()
            raise
        return [sock]
    host = kw["host"].removeprefix("[").removesuffix("]")
    found = socket.getaddrinfo(
        None if host == "*" else host,
        kw["port"],
        socket.AF_UNSPEC,
        socket.SOCK_STREAM,
        socket.IPPROTO_TCP,
        socket.AI_PASSIVE,
    )
    socks: list[socket.socket] = []
    seen = set()
    try:
        for family, kind, proto, _, address in found:
            key = (address[0].split("%", 1)[0], address[1])
            if key in seen:
                continue  # getaddrinfo may repeat itself
            seen.add(key)
            sock = socket.socket(family, kind, proto)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(kw["backlog"])
    except OSError:
        for sock in socks:
            sock.close()
        raise
    return socks


class Balance:
    """Each worker's count of open connections, in memory shared by the workers.

    A keep-alive connection stays with the worker that accepted it, and whichever worker
    wakes first accepts, so 8 visitors could land 7 on one worker and 1 on the other. Only
    the workers holding the fewest connections accept; one that falls behind while it is
    asleep (not listening) is woken through its pipe, so someone always accepts.
    """

    GONE = 2**31 - 1  # a dead worker's slot, until its replacement counts for itself

    def __init__(self, workers: int):
        self.workers = workers
        # counts[0:workers], then listening[0:workers]: shared with the forked workers.
        self._shared = memoryview(mmap.mmap(-1, 8 * workers)).cast("i")
        for slot in range(workers):
            self._shared[slot] = self.GONE
        self._wake = [os.pipe() for _ in range(workers)]
        for fds in self._wake:
            for fd in fds:
                os.set_blocking(fd, False)

    def set(self, slot: int, count: int) -> None:
        """Publish one worker's count (each slot has one writer, so no lock)."""
        self._shared[slot] = count
        self._shared[self.workers + slot] = 0

    def may_accept(self, slot: int, count: int) -> bool:
        """Publish this worker's count; True if no worker holds fewer connections."""
        shared, n = self._shared, self.workers
        shared[slot] = count
        # "Not listening" goes out before the counts are read: of two workers deciding at once,
        # at least one then sees the other's fresh count or flag, and wakes it if it must.
        shared[n + slot] = 0
        fewest = min(shared[:n])
        if count <= fewest:
            shared[n + slot] = 1
            return True
        # Whoever holds the fewest must be listening: wake any that went to sleep not listening.
        for other in range(n):
            if shared[other] == fewest and not shared[n + other]:
                try:
                    os.write(self._wake[other][1], b"\0")
                except BlockingIOError:
                    pass  # its pipe is full of wake-ups already
        return False

    def attach(self, socket_map: dict, slot: int) -> None:
        """Make a worker's waitress listeners accept only while it holds the fewest connections."""
        from waitress import wasyncore
        from waitress.server import BaseWSGIServer

        listeners = [obj for obj in socket_map.values() if isinstance(obj, BaseWSGIServer)]

        def balanced(readable):
            # waitress asks readable() before every poll: accept or not.
            def balanced_readable() -> bool:
                held = sum(len(listener.active_channels) for listener in listeners)
                return readable() and self.may_accept(slot, held)

            return balanced_readable

        for listener in listeners:
            listener.readable = balanced(listener.readable)

        class Wake(wasyncore.file_dispatcher):
            """This worker's end of its wake pipe: reading it is enough to look again."""

            def writable(self):
                return False

            def handle_read(self):
                try:
                    os.read(self._fileno, 4096)
                except BlockingIOError:
                    pass

        Wake(self._wake[slot][0], map=socket_map)  # waitress keeps its own copy of the fd


def supervise(app, socks: list[socket.socket], kw: dict, workers: int, reading: dict | None = None) -> None:
    """Fork `workers` processes serving on socks; replace any that dies; stop them all on a signal.

    Forking after the app is built shares its pages and keys; the store, tokens and rate
    limit are already safe across processes. Each worker has its own threads and GIL, so the
    sealing and the receipt's QR code use every core.
    """
    _Supervisor(app, socks, kw, workers, reading or {}).run()


class _Supervisor:
    """The parent of the workers: it forks them, waits for them, replaces them and stops them."""

    SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP})

    def __init__(self, app, socks: list[socket.socket], kw: dict, workers: int, reading: dict):
        self.app, self.socks, self.kw, self.workers, self.reading = app, socks, kw, workers, reading
        # Workers hold the read end; it reads end-of-file when this process is gone, even by kill -9.
        self.alive_r, self.alive_w = os.pipe()
        self.balance = Balance(workers)
        self.children: dict[int, tuple[int, float]] = {}  # pid -> (slot, started)
        self.stopping = False

    def spawn(self, slot: int) -> None:
        """Fork the worker for this slot."""
        # Signals wait while forking: the new worker must not run this process's handler,
        # and this process must know the new worker before it handles a stop.
        signal.pthread_sigmask(signal.SIG_BLOCK, self.SIGNALS)
        try:
            if self.stopping:  # a stop was handled just now, before the block
                return
            pid = os.fork()
            if pid == 0:
                self._worker(slot)
            self.children[pid] = (slot, time.monotonic())
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, self.SIGNALS)

    def _worker(self, slot: int) -> None:
        """In the forked child: serve with the default signal handlers, then exit (never return)."""
        code = 1
        try:
            os.close(self.alive_w)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGHUP, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, self.SIGNALS)
            _serve_worker(self.app, self.socks, self.kw, self.alive_r, self.balance, slot, self.reading)
            code = 0
        finally:
            os._exit(code)

    def stop(self, _signum, _frame) -> None:
        """The signal handler: stop every worker, and start no new one."""
        self.stopping = True
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def run(self) -> None:
        """Start the workers and wait for them; give up after GIVE_UP_AFTER deaths within CRASH_WINDOW."""
        # The handlers first: a Ctrl+C as soon as the workers answer must find them in place.
        for signum in self.SIGNALS:
            signal.signal(signum, self.stop)
        for slot in range(self.workers):
            self.spawn(slot)
        deaths: list[float] = []
        while self.children:
            try:
                pid, _status = os.wait()
            except ChildProcessError:
                break
            if pid not in self.children:
                continue
            slot, started = self.children.pop(pid)
            self.balance.set(slot, Balance.GONE)
            if self.stopping:
                continue
            now = time.monotonic()
            deaths = [t for t in deaths if now - t < CRASH_WINDOW] + [now]
            if len(deaths) >= GIVE_UP_AFTER:
                self.stop(None, None)
                continue
            if now - started < RESPAWN_PAUSE:
                time.sleep(RESPAWN_PAUSE)
            if not self.stopping:
                self.spawn(slot)
        for sock in self.socks:
            sock.close()
        if len(deaths) >= GIVE_UP_AFTER:
            raise WorkersFailing(f"{len(deaths)} exited within {CRASH_WINDOW:g} s.")


def _serve_worker(
    app, socks: list[socket.socket], kw: dict, alive_fd: int, balance: Balance, slot: int, reading: dict
) -> None:
    """One worker: waitress on the shared socket until told to stop or the supervisor is gone."""
    import threading

    import waitress

    from . import connections

    def watch_supervisor() -> None:
        while os.read(alive_fd, 1):
            pass
        os._exit(0)

    threading.Thread(target=watch_supervisor, daemon=True).start()
    socket_map: dict = {}
    # Should a wake-up (Balance) ever cross with a change of counts, the worker still looks
    # again within waitress's poll time-out (1 s, whole seconds only: 0 would spin).
    server = waitress.create_server(app, map=socket_map, sockets=socks, **kw)
    connections.attach(socket_map, **reading)
    balance.set(slot, 0)
    balance.attach(socket_map, slot)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
