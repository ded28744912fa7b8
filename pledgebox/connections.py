"""How waitress reads connections here: a PROXY line first (with --proxy-protocol), a deadline for each
request's head and for its body, and accepting that never stops while slow connections are held.

waitress's channel_timeout closes only connections that send nothing at all, so one byte every
few seconds held a connection for ever, and at connection_limit waitress stopped accepting:
a thousand trickling connections locked every visitor out. Over Tor every connection comes
through the one socket, so nothing here may key on addresses.
"""

from __future__ import annotations

import heapq
import math
import time

from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer
from waitress.task import ErrorTask, WSGITask

from . import circuits, proxyline
from .render import SECURITY_HEADERS

HEAD_DEADLINE = 15.0  # seconds from a request's first byte (the PROXY line's, on a new connection) to its end of head
BODY_DEADLINE = 60.0  # seconds from the end of the head to the end of the body
EVICT_SHARE = 50  # at the limit, close the longest-waiting 1/50th of the connections at once
# Connections accepted per turn of the loop. waitress accepts one, and a turn over thousands of held
# connections takes milliseconds: a burst of new ones queued in the backlog, new visitors behind them.
ACCEPT_BATCH = 64


class CircuitTask(WSGITask):
    """waitress's task, with the connection's circuit label in the WSGI environ."""

    def get_environment(self):
        environ = super().get_environment()
        environ[circuits.ENVIRON_KEY] = self.channel.circuit  # a label, or None
        return environ


class HeadedErrorTask(ErrorTask):
    """waitress's own error answers (400, 413, 431, 501) with the security headers every response carries."""

    def execute(self):
        self.response_headers.extend(SECURITY_HEADERS)  # before execute() writes the head
        super().execute()


class Channel(HTTPChannel):
    """waitress's channel, reading the PROXY line first and closing a request that takes too long to arrive."""

    task_class = CircuitTask
    error_task_class = HeadedErrorTask
    proxy_protocol = False
    head_deadline = HEAD_DEADLINE
    body_deadline = BODY_DEADLINE
    circuit: bytes | None = None
    deadline = math.inf  # when the request being read must be complete; inf while none is begun
    _in_body = False

    def __init__(self, *args, **kwargs):
        self.since = time.monotonic()  # waiting since: accepted, or the last request read
        self._proxy = proxyline.Reader() if self.proxy_protocol else None
        super().__init__(*args, **kwargs)

    def received(self, data: bytes) -> bool:
        if not data:
            return False
        now = time.monotonic()
        if self.deadline == math.inf:
            self.deadline = now + self.head_deadline
        elif now > self.deadline:
            return self._drop()
        if self._proxy is not None:
            try:
                source, data = self._proxy.feed(data)
            except proxyline.BadProxyLine:
                return self._drop()
            if source is None:
                return True
            self._proxy = None
            self.circuit = circuits.label(source.key) if source.key else None
            if not data:
                return True  # the head's deadline runs on from the line's first byte
        result = super().received(data)
        request = self.request
        if request is None:
            self.deadline, self._in_body, self.since = math.inf, False, now
        elif request.headers_finished and not self._in_body:
            self._in_body = True
            self.deadline = now + self.body_deadline
        return result

    def _drop(self) -> bool:
        """Close without an answer: nothing about this connection deserves one."""
        self.will_close = True
        return False

    @property
    def idle(self) -> bool:
        """True while only reading (or waiting for) a request: no answer is owed or being sent."""
        return not (self.requests or self.total_outbufs_len or self.will_close or self.close_when_flushed)


def attach(
    socket_map: dict,
    *,
    proxy_protocol: bool = False,
    head: float = HEAD_DEADLINE,
    body: float = BODY_DEADLINE,
    housekeeping=None,
) -> None:
    """Give a waitress server's listeners these channels, the deadlines and accepting without pause.

    housekeeping: called from waitress's maintenance (every cleanup_interval seconds), e.g. to
    forget idle circuits while no request comes.
    """
    channel = type(
        "Channel", (Channel,), {"proxy_protocol": proxy_protocol, "head_deadline": head, "body_deadline": body}
    )
    listeners = [obj for obj in socket_map.values() if isinstance(obj, BaseWSGIServer)]
    for listener in listeners:
        listener.channel_class = channel
        listener.readable = _always_accepting(listener, socket_map, listeners)
        listener.handle_accept = _accept_many(listener.handle_accept, socket_map)
        listener.maintenance = _with_deadlines(listener.maintenance, listener, housekeeping)


def _with_deadlines(maintenance, listener, housekeeping):
    def with_deadlines(now: float) -> None:
        maintenance(now)  # waitress's own: connections silent for channel_timeout
        clock = time.monotonic()
        for channel in list(listener.active_channels.values()):
            if channel.deadline < clock and channel.idle:
                channel.will_close = True
        if housekeeping is not None:
            housekeeping()

    return with_deadlines


def _always_accepting(listener, socket_map: dict, listeners: list):
    """waitress's readable() without its pause at connection_limit: at the limit, the connections that
    have waited longest without a complete request are closed instead, so a new visitor always gets in.
    """

    def readable() -> bool:
        now = time.time()
        if now >= listener.next_channel_cleanup:
            listener.next_channel_cleanup = now + listener.adj.cleanup_interval
            listener.maintenance(now)
        limit = listener.adj.connection_limit
        if listener.accepting and len(socket_map) >= limit:
            _evict(listeners, len(socket_map) - limit + max(1, limit // EVICT_SHARE))
        return listener.accepting

    return readable


def _accept_many(accept_one, socket_map: dict):
    def accept_many() -> None:
        for _ in range(ACCEPT_BATCH):
            before = len(socket_map)
            accept_one()
            if len(socket_map) == before:
                return  # nothing more waiting (or a connection that failed at once)

    return accept_many


def _evict(listeners: list, count: int) -> None:
    """Mark the `count` longest-waiting idle connections to close (closed on the next turn of the loop)."""
    waiting, closing = [], 0
    for listener in listeners:
        for channel in listener.active_channels.values():
            if channel.will_close:
                closing += 1
            elif isinstance(channel, Channel) and channel.idle:
                waiting.append(channel)
    for channel in heapq.nsmallest(count - closing, waiting, key=lambda c: c.since):
        channel.will_close = True
