"""Every request has a deadline for its head and for its body, whatever trickles in; at the connection
limit, accepting goes on (the longest-waiting connections make room). Short deadlines here; the real
ones (15 s and 60 s) under 2,000 trickling connections in test_slow_clients.py."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from pledgebox import connections, serve
from support.inprocess import InProcessServer, echo_app, read_all

HEAD, BODY = 1.5, 3.0
CLEANUP = serve.WAITRESS["cleanup_interval"]  # deadlines are looked at this often
SLACK = CLEANUP + 1.0  # the loop's turn, this machine's noise
GET = b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n"
POST_HEAD = b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n"


def test_the_defaults_are_15_and_60_seconds():
    assert (connections.HEAD_DEADLINE, connections.BODY_DEADLINE) == (15.0, 60.0)
    assert serve.WAITRESS["connection_limit"] == serve.CONNECTIONS


@pytest.fixture(scope="module")
def server():
    seen: list = []
    with InProcessServer(echo_app(seen), head=HEAD, body=BODY) as running:
        yield running, seen


def trickle(sock: socket.socket, data: bytes, every: float, stop: threading.Event) -> None:
    """Send data one byte at a time until it is all sent, the server closes, or stop is set."""
    for byte in data:
        if stop.wait(every):
            return
        try:
            sock.send(bytes([byte]))
        except OSError:
            return


def closed_after(server, first: bytes, rest: bytes, every: float) -> tuple[float, bytes, str]:
    """Send `first` at once and `rest` a byte at a time: (seconds until the server closed, what it sent, how)."""
    stop = threading.Event()
    with server.connect() as sock:
        start = time.monotonic()
        sock.sendall(first)
        sender = threading.Thread(target=trickle, args=(sock, rest, every, stop), daemon=True)
        sender.start()
        answer, how = read_all(sock, limit=HEAD + BODY + 3 * SLACK)
        stop.set()
        sender.join(5)
        return time.monotonic() - start, answer, how


def test_a_trickling_head_is_closed_at_its_deadline_without_an_answer(server):
    running, seen = server
    before = len(seen)
    head = b"GET /x HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"s" * 2000 + b"\r\n\r\n"
    seconds, answer, how = closed_after(running, head[:1], head[1:], 0.1)  # a byte every 0.1 s: never silent
    assert how in ("closed", "reset") and answer == b""
    assert HEAD - 0.2 <= seconds <= HEAD + SLACK, seconds
    assert len(seen) == before  # no request reached the app


def test_a_trickling_body_is_closed_at_its_deadline_without_an_answer(server):
    running, seen = server
    before = len(seen)
    seconds, answer, how = closed_after(running, POST_HEAD, b"a" * 1000, 0.1)
    assert how in ("closed", "reset") and answer == b""
    assert BODY - 0.2 <= seconds <= BODY + SLACK, seconds
    assert len(seen) == before


def test_a_silent_half_request_is_closed_at_the_deadline_too(server):
    running, _seen = server
    seconds, answer, how = closed_after(running, b"GET /x HT", b"", 1)
    assert how in ("closed", "reset") and answer == b"" and seconds <= HEAD + SLACK


def test_a_slow_but_timely_request_is_answered(server):
    running, seen = server
    head = POST_HEAD.replace(b"1000", b"20")
    stop = threading.Event()
    with running.connect() as sock:
        trickle(sock, head + b"b" * 20, (HEAD - 0.5) / len(head), stop)  # the head in HEAD - 0.5 s
        answer, _ = read_all(sock, limit=0.5 + SLACK)
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"body=20")


def test_the_deadline_runs_from_a_requests_first_byte_not_from_the_connection(server):
    """A keep-alive connection idle between requests (Tor Browser keeps them) is no trickler."""
    running, _seen = server
    with running.connect() as sock:
        sock.sendall(GET)
        first, _ = read_all(sock, limit=0.5)
        time.sleep(HEAD + SLACK)  # idle, well past one head deadline
        sock.sendall(GET)
        second, _ = read_all(sock, limit=0.5)
    assert first.startswith(b"HTTP/1.1 200 ") and second.startswith(b"HTTP/1.1 200 ")


def test_the_proxy_line_counts_towards_the_heads_deadline():
    seen: list = []
    with InProcessServer(echo_app(seen), proxy_protocol=True, head=HEAD, body=BODY) as running:
        line = b"PROXY TCP6 fc00:dead:beef:4dad::0:29a ::1 666 80\r\n"
        seconds, answer, how = closed_after(running, line[:1], line[1:] + GET, 0.1)
        assert how in ("closed", "reset") and answer == b"" and HEAD - 0.2 <= seconds <= HEAD + SLACK
        assert seen == []


def test_at_the_connection_limit_the_longest_waiting_make_room_and_accepting_never_stops():
    limit = 40
    seen: list = []
    with InProcessServer(echo_app(seen), connection_limit=limit) as running:
        held = []
        try:
            for _ in range(limit + 20):  # more half-requests than the limit
                sock = running.connect()
                sock.sendall(b"GET /x HT")
                held.append(sock)
                time.sleep(0.005)
            for _ in range(5):
                start = time.monotonic()
                with running.connect() as visitor:
                    visitor.sendall(GET.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
                    answer, _ = read_all(visitor, limit=2)
                assert answer.startswith(b"HTTP/1.1 200 ") and time.monotonic() - start < 1.0
            # The oldest half-requests were closed to make room; the newest are still held.
            oldest_closed = sum(read_all(sock, limit=0.05)[1] != "timeout" for sock in held[:20])
            newest_open = sum(read_all(sock, limit=0.05)[1] == "timeout" for sock in held[-10:])
            assert oldest_closed == 20 and newest_open == 10
        finally:
            for sock in held:
                sock.close()
