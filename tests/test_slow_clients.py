"""Slow clients: thousands of connections trickling bytes must not lock new visitors out."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from helpers import campaign_toml
from pledgebox import ROOT, connections, serve
from support.serverproc import LIMITS_FOR_LOAD, Client, Server, free_port, write_campaign
from support.trickle import Attack, raise_fd_limit, visit

TRICKLERS = 2000
EVERY = 10.0  # seconds between one trickling connection's bytes
ATTACK = 60.0  # seconds the attack lasts while visitors come
PROBES = 20  # new visitors' GET /en/, spread over the attack
PROMPT = 1.0  # seconds within which a new visitor must be served


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_2000_connections_trickling_for_a_minute_do_not_delay_new_visitors(tmp_path, identity, workers):
    raise_fd_limit(TRICKLERS + 1024)
    data = write_campaign(tmp_path / "data", campaign_toml([identity]) + LIMITS_FOR_LOAD)
    with (
        Server(data, log_dir=tmp_path, args=("--workers", str(workers))) as server,
        Attack(server.host, TRICKLERS, EVERY) as attack,
    ):
        started = time.monotonic()
        assert attack.held() >= TRICKLERS * 0.95  # every trickler was accepted and is held
        waits, references = [], []
        for probe in range(PROBES):
            time.sleep(max(0.0, started + (probe + 1) * ATTACK / (PROBES + 1) - time.monotonic()))
            waits.append(visit(server.host))
            if probe == PROBES // 2:
                with Client(server.host, timeout=10) as donor:
                    hidden = donor.check("de", {"amount": "5", "designation": "split", "method": "cash"})
                    references.append(donor.confirm("de", hidden))
        held = attack.held()
        closed = [t for trickler in attack.tricklers[::2] for t in trickler.lifetimes]  # head tricklers
        assert max(waits) < PROMPT, f"new visitors waited {[round(w, 2) for w in waits]} s"
        assert references and references[0]
        # The attack was real: the attacker held (nearly) all its connections all along, by opening
        # another whenever the server closed one at its deadline.
        assert held >= TRICKLERS * 0.9, held
        assert len(closed) >= TRICKLERS // 2 * 0.9  # each head trickler was closed at least once
        # Closed at the deadline (looked at every cleanup_interval), however many bytes were still to come.
        assert max(closed) <= connections.HEAD_DEADLINE + serve.WAITRESS["cleanup_interval"] + 2.0, max(closed)
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
    proc = subprocess.Popen(
        [sys.executable, "-c", BARE_WAITRESS, str(port)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "bare waitress did not start"
                time.sleep(0.05)
        with Attack(("127.0.0.1", port), 100, 0.25):
            time.sleep(1.0)
            with Client(("127.0.0.1", port), timeout=2 * PROMPT) as visitor, pytest.raises(OSError):
                visitor.request("GET", "/")
    finally:
        proc.kill()
        proc.wait(10)
