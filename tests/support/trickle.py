"""An attacker holding thousands of connections that each send one byte every few seconds (tests and bench)."""

from __future__ import annotations

import heapq
import http.client
import resource
import selectors
import socket
import threading
import time

HEADERS = b"POST /en/pledge HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: " + b"s" * 4000 + b"\r\n\r\n"
BODY_HEAD = (
    b"POST /en/pledge HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 4000\r\n\r\n"
)


def raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


class Trickler:
    """One attacking connection: half send a request head a byte at a time, half a head at once and then
    the body a byte at a time. When the server closes it, the attacker opens another at once."""

    def __init__(self, host: tuple[str, int], body: bool):
        self.host, self.body = host, body
        self.payload = BODY_HEAD + b"amount=" + b"9" * 3993 if body else HEADERS
        self.sock: socket.socket | None = None
        self.opened = 0.0
        self.lifetimes: list[float] = []  # seconds from the first byte to the server's close, per connection

    def open(self) -> socket.socket:
        self.sock = socket.create_connection(self.host, timeout=10)
        self.sock.setblocking(False)
        self.sent = len(BODY_HEAD) if self.body else 1
        self.sock.send(self.payload[: self.sent])
        self.opened = time.monotonic()
        return self.sock

    def reopen(self) -> socket.socket:
        """The server closed this connection (or answered): note how long it lived, open another."""
        self.lifetimes.append(time.monotonic() - self.opened)
        self.sock.close()
        return self.open()

    def step(self) -> None:
        """Send the next byte."""
        if self.sent < len(self.payload) - 1:
            try:
                self.sent += self.sock.send(self.payload[self.sent : self.sent + 1])
            except OSError:
                pass  # closed: the selector says so


class Attack:
    """`count` trickling connections, each sending a byte every `every` seconds, their phases spread out."""

    def __init__(self, host: tuple[str, int], count: int, every: float):
        self.tricklers = [Trickler(host, body=i % 2 == 1) for i in range(count)]
        self.every = every
        self.selector = selectors.DefaultSelector()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Attack:
        for i, trickler in enumerate(self.tricklers):
            self.selector.register(trickler.open(), selectors.EVENT_READ, i)
        self.thread.start()
        return self

    def _run(self) -> None:
        due = [(time.monotonic() + self.every * i / len(self.tricklers), i) for i in range(len(self.tricklers))]
        heapq.heapify(due)
        while not self.stop.is_set():
            for key, _ in self.selector.select(timeout=max(0.0, min(0.2, due[0][0] - time.monotonic()))):
                trickler = self.tricklers[key.data]
                self.selector.unregister(key.fileobj)
                self.selector.register(trickler.reopen(), selectors.EVENT_READ, key.data)
            while due[0][0] <= time.monotonic():
                when, i = due[0]
                heapq.heapreplace(due, (when + self.every, i))
                self.tricklers[i].step()

    def held(self) -> int:
        """How many trickling connections are open right now (the server has not closed them)."""
        alive = 0
        for trickler in self.tricklers:
            try:
                trickler.sock.recv(1, socket.MSG_PEEK)
            except BlockingIOError:
                alive += 1
            except OSError:
                pass
        return alive

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(10)
        for trickler in self.tricklers:
            trickler.sock.close()
        self.selector.close()


def visit(host: tuple[str, int], path: str = "/en/") -> float:
    """A new visitor's GET on a new connection: seconds until the whole page arrived."""
    start = time.monotonic()
    conn = http.client.HTTPConnection(*host, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    assert response.status == 200 and body
    return time.monotonic() - start
