"""Slow clients: hundreds of connections trickling bytes must not lock new visitors out."""

from __future__ import annotations

import errno
import resource
import socket
import subprocess
import sys
import threading
import time

import pytest
from conftest import campaign_toml
from serverproc import LIMITS_FOR_LOAD, Client, Server, free_port, write_campaign

from pledgebox import ROOT

TRICKLERS = 500
PROMPT = 1.0  # seconds within which a new visitor must be served
HEADERS = b"POST /en/pledge HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: " + b"s" * 4000 + b"\r\n\r\n"
BODY_HEAD = (b"POST /en/pledge HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 4000\r\n\r\n")


def raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


class Tricklers:
    """`count` connections, half sending headers and half a body, one byte per connection per round."""

    def __init__(self, host: tuple[str, int], count: int, interval: float = 0.25):
        self.host, self.count, self.interval = host, count, interval
        self.socks: list[tuple[socket.socket, bytes]] = []
        self.sent: list[int] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Tricklers:
        for i in range(self.count):
            sock = socket.create_connection(self.host, timeout=5)
            sock.setblocking(False)
            payload = HEADERS if i % 2 == 0 else BODY_HEAD + b"amount=" + b"9" * 3993
            # Body tricklers send their headers at once: the server must wait on the body.
            first = 1 if i % 2 == 0 else len(BODY_HEAD)
            sock.send(payload[:first])
            self.socks.append((sock, payload))
            self.sent.append(first)
        self.thread.start()
        return self

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            for i, (sock, payload) in enumerate(self.socks):
                if self.sent[i] < len(payload) - 1:
                    try:
                        self.sent[i] += sock.send(payload[self.sent[i]:self.sent[i] + 1])
                    except OSError:
                        self.sent[i] = len(payload)  # closed by the server

    def still_open(self) -> int:
        """How many trickling connections the server still holds open."""
        alive = 0
        for sock, _ in self.socks:
            try:
                sock.recv(1)  # an answer or EOF: the server let go of this one
            except OSError as exc:
                alive += exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK)
        return alive

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(5)
        for sock, _ in self.socks:
            sock.close()


def timed(func, *args):
    start = time.monotonic()
    result = func(*args)
    return time.monotonic() - start, result


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_500_trickling_connections_do_not_delay_new_visitors(tmp_path, identity, workers):
    raise_fd_limit(4096)
    data = write_campaign(tmp_path / "data", campaign_toml([identity]) + LIMITS_FOR_LOAD)
    with (Server(data, log_dir=tmp_path, args=("--workers", str(workers))) as server,
          Tricklers(server.host, TRICKLERS) as slow):
        time.sleep(1.0)  # let every trickler be accepted and start dribbling
        waits = []
        for round_ in range(10):
            with Client(server.host, timeout=10) as visitor:
                seconds, (status, _, _) = timed(visitor.request, "GET", "/en/")
                assert status == 200
                waits.append(seconds)
                if round_ % 2 == 0:
                    seconds, hidden = timed(visitor.check, "de", {"amount": "5", "designation": "split",
                                                                  "method": "cash"})
                    waits.append(seconds)
                    seconds, reference = timed(visitor.confirm, "de", hidden)
                    assert reference
                    waits.append(seconds)
            time.sleep(0.3)
        assert max(waits) < PROMPT, f"slowest new visitor waited {max(waits):.2f} s"
        # The attack was real: the server still held (nearly) every trickling connection open.
        assert slow.still_open() >= TRICKLERS * 0.95
        assert server.proc.poll() is None


BARE_WAITRESS = """
import sys, waitress
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
waitress.serve(app, host="127.0.0.1", port=int(sys.argv[1]))
"""


@pytest.mark.slow
def test_the_same_attack_locks_out_visitors_of_waitress_with_defaults(tmp_path):
    """The control: without pledgebox's settings, 100 trickling connections are enough."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", BARE_WAITRESS, str(port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "bare waitress did not start"
                time.sleep(0.05)
        with Tricklers(("127.0.0.1", port), 100):
            time.sleep(1.0)
            with Client(("127.0.0.1", port), timeout=2 * PROMPT) as visitor, pytest.raises(OSError):
                visitor.request("GET", "/")
    finally:
        proc.kill()
        proc.wait(10)
