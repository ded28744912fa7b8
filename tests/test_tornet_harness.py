"""Self-test of tests/support/tornet.py: a real v3 onion on a private loopback Tor network.

A tiny http.server on a UNIX socket stands in for the app; the network puts an
onion in front of it and we talk to it through the client's SOCKS port.

    pytest -p no:cacheprovider tests/test_tornet_harness.py -q -s   # -s prints timings
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import re
import shutil
import socketserver
import tempfile
import threading
import time
from pathlib import Path

import pytest

from support import tornet

pytestmark = pytest.mark.tor

PAGE = "<!doctype html><title>pledgebox</title><p>Tor harness self-test: ünïcödé ✓</p>\n".encode()
ONION_RE = re.compile(r"^[a-z2-7]{56}\.onion$")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen_hosts: list[str] = []

    def address_string(self) -> str:  # UNIX sockets have no peer address
        return "unix"

    def log_message(self, format, *args) -> None:
        pass

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Set-Cookie", "a=1; HttpOnly")
        self.send_header("Set-Cookie", "b=2; HttpOnly")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.seen_hosts.append(self.headers.get("Host", ""))
        if self.path == "/":
            self._send(200, PAGE, "text/html; charset=utf-8")
        else:
            self._send(404, b"not found\n", "text/plain")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        reply = {
            "method": self.command,
            "path": self.path,
            "host": self.headers.get("Host"),
            "connection": self.headers.get("Connection"),
            "content_type": self.headers.get("Content-Type"),
            "length": length,
            "sha256": hashlib.sha256(body).hexdigest(),
            "body": body.decode("utf-8", "replace") if length < 4096 else None,
        }
        self._send(201, json.dumps(reply).encode(), "application/json")


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        request, _ = super().get_request()
        return request, ("unix", 0)


@pytest.fixture(scope="module")
def app_socket():
    """A fixed-page HTTP server on a UNIX socket (a short path: sun_path holds 107 bytes)."""
    sockdir = Path(tempfile.mkdtemp(prefix="tornet-app-"))
    path = sockdir / "app.sock"
    server = _UnixHTTPServer(str(path), _Handler)
    thread = threading.Thread(target=server.serve_forever, name="tornet-app", daemon=True)
    thread.start()
    try:
        yield path
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        shutil.rmtree(sockdir, ignore_errors=True)


@pytest.fixture(scope="module")
def net(app_socket, tmp_path_factory):
    network = tornet.start_tor_network(tmp_path_factory.mktemp("tornet"), app_socket)
    try:
        yield network
    finally:
        network.stop()


def test_get_through_onion(net):
    assert ONION_RE.match(net.onion), net.onion
    assert net.url == f"http://{net.onion}/"
    _Handler.seen_hosts.clear()
    t0 = time.monotonic()
    status, headers, body = tornet.fetch(net.socks_port, f"http://{net.onion}/")
    elapsed = time.monotonic() - t0
    assert status == 200
    assert body == PAGE
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers.get_all("Set-Cookie") == ["a=1; HttpOnly", "b=2; HttpOnly"]
    assert _Handler.seen_hosts == [net.onion]
    print(f"\nreadiness timings (s since start): {net.timings}")
    print(f"first GET through the onion: {elapsed:.3f} s")
    # A second request on a fresh SOCKS stream reuses the rendezvous circuit.
    t0 = time.monotonic()
    status, _, body = net.fetch("/")
    print(f"second GET through the onion: {time.monotonic() - t0:.3f} s")
    assert (status, body) == (200, PAGE)
    status, _, body = net.fetch("/missing")
    assert (status, body) == (404, b"not found\n")


def test_post_round_trip(net):
    form = {"amount": "25", "note": "für die Solidarität ✓ & more"}
    status, headers, body = tornet.fetch(net.socks_port, net.url + "pledge?x=1", method="POST", body=form)
    assert status == 201
    assert headers["content-type"] == "application/json"
    reply = json.loads(body)
    assert reply["method"] == "POST"
    assert reply["path"] == "/pledge?x=1"
    assert reply["host"] == net.onion
    assert reply["connection"] == "close"
    assert reply["content_type"] == "application/x-www-form-urlencoded"
    assert reply["body"] == "amount=25&note=f%C3%BCr+die+Solidarit%C3%A4t+%E2%9C%93+%26+more"

    # A body much larger than a Tor cell (498 bytes) makes it across intact.
    blob = os.urandom(200_000)
    status, _, body = net.fetch("/blob", method="POST", body=blob, headers={"Content-Type": "application/octet-stream"})
    assert status == 201
    reply = json.loads(body)
    assert reply["length"] == len(blob)
    assert reply["sha256"] == hashlib.sha256(blob).hexdigest()
    assert reply["content_type"] == "application/octet-stream"


def _fake_onion() -> str:
    """A well-formed v3 address that no service publishes.

    Its key is the ed25519 base point (a valid key tor accepts; a random 32
    bytes would be refused at once as 0xF6 "invalid address").
    """
    pubkey = bytes([0x58]) + bytes([0x66]) * 31
    version = b"\x03"
    checksum = hashlib.sha3_256(b".onion checksum" + pubkey + version).digest()[:2]
    return base64.b32encode(pubkey + checksum + version).decode().lower() + ".onion"


def test_unknown_onion_is_a_clear_socks_error(net):
    t0 = time.monotonic()
    with pytest.raises(tornet.SocksError) as err:
        tornet.fetch(net.socks_port, f"http://{_fake_onion()}/", timeout=60)
    print(f"unknown onion: {err.value} after {time.monotonic() - t0:.3f} s")
    assert err.value.code == 0xF0, err.value  # descriptor not found on the HSDirs
    assert "onion service" in str(err.value)


def test_logs_name_every_node(net):
    text = net.logs(lines=5)
    for name in ("auth0", "auth1", "auth2", "exit0", "exit1", "relay0", "hs", "client"):
        assert f"===== {name} (" in text
    assert "running" in text
    assert net.timings["total"] > 0


def test_missing_tor_raises_with_install_hint(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    network = tornet.TorNetwork(tmp_path / "w", tmp_path / "app.sock")
    with pytest.raises(tornet.TorNotInstalledError, match="apt-get install -y --no-install-recommends tor"):
        network.start()
