"""A fair share per circuit through a real (private, loopback-only) Tor network: tor writes each stream's
circuit in a PROXY line (HiddenServiceExportCircuitID haproxy), `serve --proxy-protocol` limits per circuit.

One client on one circuit confirms until it is refused; a second client on another circuit (another
SOCKS user name: tor's IsolateSOCKSAuth builds it a circuit of its own) still confirms.
"""

from __future__ import annotations

import html
import re
import subprocess
import sys
import time

import pytest

from helpers import campaign_toml
from pledgebox import ROOT, audit
from support.tornet import fetch, start_tor_network

pytestmark = pytest.mark.tor

PER_CIRCUIT = 3
FORM = {"amount": "12", "designation": "split", "method": "cash", "pseudonym": "Ёж", "message": "Grüße 🙂"}


@pytest.fixture(scope="module")
def onion(tmp_path_factory, identities):
    base = tmp_path_factory.mktemp("circuits")
    data = base / "data"
    data.mkdir()
    (data / "campaign.toml").write_text(
        campaign_toml(identities[:1]) + f"\n[limits]\ntoken_min_age = 0\ncircuit_confirms_per_minute = {PER_CIRCUIT}\n",
        encoding="utf-8",
    )
    sock = base / "run" / "app.sock"
    sock.parent.mkdir()
    log_path = base / "serve.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "app.py"),
                "serve",
                "--data",
                str(data),
                "--unix-socket",
                str(sock),
                "--workers",
                "2",
                "--proxy-protocol",
            ],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 20
        while not sock.exists():
            assert server.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
        net = start_tor_network(base / "tor", sock, export_circuit_id=True)
        try:
            yield net, log_path
        finally:
            net.stop()
    finally:
        server.terminate()
        server.wait(10)


def check_page(net, circuit: str) -> dict[str, str]:
    status, _h, body = fetch(net.socks_port, f"{net.url}en/pledge", method="POST", body=FORM, isolation=circuit)
    assert status == 200, status
    return {
        html.unescape(n): html.unescape(v)
        for n, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', body.decode())
    }


def confirm(net, circuit: str, fields: dict) -> tuple[int, str]:
    status, _h, body = fetch(
        net.socks_port, f"{net.url}en/pledge/confirm", method="POST", body=fields, isolation=circuit
    )
    return status, body.decode()


def test_one_circuit_is_refused_while_another_still_confirms(onion):
    net, log_path = onion
    pledges = [check_page(net, "abuser") for _ in range(PER_CIRCUIT + 1)]
    for fields in pledges[:PER_CIRCUIT]:
        status, _ = confirm(net, "abuser", fields)
        assert status == 200
    status, page = confirm(net, "abuser", pledges[PER_CIRCUIT])
    assert status == 429 and "Too many pledges right now" in page and "Grüße 🙂" in page
    # The same pledge, from a donor on another circuit: confirmed.
    status, page = confirm(net, "donor", pledges[PER_CIRCUIT])
    assert status == 200 and 'class="reference"' in page
    # Nothing about the circuits in what the server printed.
    output = log_path.read_bytes()
    assert b"fc00" not in output and b"PROXY" not in output and audit.scan_bytes("serve.log", output) == []
