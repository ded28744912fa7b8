"""waitress with pledgebox's connection handling (pledgebox.connections), in this process, for tests
that need short deadlines or a small connection limit and a WSGI app that reports what it saw."""

from __future__ import annotations

import socket
import threading
import time

import waitress

from pledgebox import circuits, connections, serve


def echo_app(seen: list):
    """A WSGI app answering 200 with the circuit label (hex) and the body's length; it notes every call."""

    def app(environ, start_response):
        body = environ["wsgi.input"].read()
        label = environ.get(circuits.ENVIRON_KEY)
        seen.append((environ["PATH_INFO"], label, len(body)))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"circuit={label.hex() if label else '-'} body={len(body)}".encode()]

    return app


class InProcessServer:
    """A loopback waitress server on a free port, run by a thread, with connections.attach applied."""

    def __init__(
        self,
        app,
        *,
        proxy_protocol: bool = False,
        head: float = connections.HEAD_DEADLINE,
        body: float = connections.BODY_DEADLINE,
        **overrides,
    ):
        kw = serve.settings(host="127.0.0.1", port=0) | {"threads": 4} | overrides
        self.map: dict = {}
        self.server = waitress.create_server(app, map=self.map, **kw)
        connections.attach(self.map, proxy_protocol=proxy_protocol, head=head, body=body)
        self.address = ("127.0.0.1", self.server.effective_port)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> InProcessServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.task_dispatcher.shutdown(timeout=2)
        for obj in list(self.map.values()):
            obj.close()
        self.thread.join(5)

    def connect(self, timeout: float = 5.0) -> socket.socket:
        return socket.create_connection(self.address, timeout=timeout)


def read_all(sock: socket.socket, limit: float = 5.0) -> tuple[bytes, str]:
    """Everything the server sends until it closes: (bytes, "closed" | "reset" | "timeout")."""
    sock.settimeout(limit)
    out = b""
    end = time.monotonic() + limit
    try:
        while time.monotonic() < end:
            chunk = sock.recv(65536)
            if not chunk:
                return out, "closed"
            out += chunk
    except ConnectionResetError:
        return out, "reset"
    except TimeoutError:
        pass
    return out, "timeout"
