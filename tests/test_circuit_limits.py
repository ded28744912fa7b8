"""A fair share per Tor circuit: limits on confirms and check pages per circuit, in memory only, for minutes."""

from __future__ import annotations

import http.client
import os
import socket

import pytest
import webtest

from helpers import campaign_toml
from pledgebox import audit, circuits, config, web
from pledgebox.circuits import CHECK, CONFIRM, CircuitLimits
from support.serverproc import Client, PledgeRefused, Server, write_campaign

GOOD = {"amount": "25", "designation": "split", "method": "sepa", "pseudonym": "Аня", "message": "Grüße 🙂"}
RAW = bytes.fromhex("fc00deadbeef4dad000000000000029a")  # what the PROXY line says: circuit 666


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_each_circuit_has_its_own_bucket_of_each_kind():
    clock = Clock()
    limits = CircuitLimits(10, 30, clock)
    one, two = circuits.label(RAW), circuits.label(RAW[:-1] + b"\x9b")
    assert sum(limits.allow(one, CONFIRM) for _ in range(15)) == 10
    assert limits.allow(two, CONFIRM)  # another circuit is not held back
    assert sum(limits.allow(one, CHECK) for _ in range(40)) == 30  # check pages count apart from confirms
    clock.now += 6.0  # ten a minute: one more after six seconds
    assert sum(limits.allow(one, CONFIRM) for _ in range(5)) == 1
    assert limits.allow(None, CONFIRM)  # no circuit (no PROXY line): only the global limit applies


def test_a_circuit_is_forgotten_after_a_few_minutes_and_nothing_else_is_kept():
    clock = Clock()
    limits = CircuitLimits(10, 30, clock)
    one = circuits.label(RAW)
    assert sum(limits.allow(one, CONFIRM) for _ in range(11)) == 10
    table = limits.snapshot()
    assert one in table
    # Neither the circuit id nor the address tor encodes it in, in any form, reaches the table.
    for raw in (RAW, RAW[-4:], (666).to_bytes(4, "little"), b"666", b"29a", b"fc00:dead"):
        assert raw not in table
    clock.now += circuits.FORGET_AFTER - 1
    limits.sweep()
    assert one in limits.snapshot()
    clock.now += circuits.SWEEP_EVERY  # swept at most this often: gone within FORGET_AFTER + SWEEP_EVERY
    limits.sweep()
    assert circuits.FORGET_AFTER + circuits.SWEEP_EVERY <= 300  # "a few minutes"
    assert limits.snapshot() == bytes(len(table))  # all zeros: nothing left at all


def test_a_full_table_forgets_the_longest_idle_circuit_not_a_busy_one():
    clock = Clock()
    limits = CircuitLimits(2, 2, clock, slots=4)
    labels = [circuits.label(bytes([i])) for i in range(5)]
    for label in labels[:4]:
        clock.now += 1
        assert limits.allow(label, CONFIRM) and limits.allow(label, CONFIRM) and not limits.allow(label, CONFIRM)
    clock.now += 1
    assert limits.allow(labels[4], CONFIRM)  # a fifth circuit: the longest idle (the first) makes room
    assert labels[0] not in limits.snapshot()
    for label in labels[1:4]:
        assert not limits.allow(label, CONFIRM)  # the others' spent buckets are kept


def test_workers_share_one_table():
    clock = Clock()
    limits = CircuitLimits(10, 30, clock, shared=True)
    one = circuits.label(RAW)
    pids = []
    for _ in range(4):
        pid = os.fork()
        if pid == 0:
            os._exit(sum(limits.allow(one, CONFIRM) for _ in range(5)))
        pids.append(pid)
    allowed = sum(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids)
    assert allowed == 10 and not limits.allow(one, CONFIRM)


def test_limits_are_set_in_campaign_toml(tmp_path, identity):
    data = tmp_path / "data"
    data.mkdir()
    (data / "campaign.toml").write_text(
        campaign_toml([identity]) + "\n[limits]\ncircuit_confirms_per_minute = 3\ncircuit_check_pages_per_minute = 4\n",
        encoding="utf-8",
    )
    limits = config.load(data).limits
    assert (limits.circuit_confirms_per_minute, limits.circuit_check_pages_per_minute) == (3, 4)
    assert (config.Limits().circuit_confirms_per_minute, config.Limits().circuit_check_pages_per_minute) == (10, 30)


@pytest.fixture
def app(cfg, clock):
    return webtest.TestApp(web.build_app(cfg, clock=clock))


def on(label):
    return {"extra_environ": {circuits.ENVIRON_KEY: label}}


@pytest.mark.parametrize("lang, busy", [("en", "send the form again"), ("de", "sende das Formular erneut")])
def test_the_31st_check_page_a_minute_on_one_circuit_is_refused_with_the_input_kept(app, lang, busy):
    one, two = circuits.label(RAW), circuits.label(b"another circuit")
    for _ in range(30):
        assert app.post(f"/{lang}/pledge", GOOD, **on(one)).status_int == 200
    refused = app.post(f"/{lang}/pledge", GOOD, status=429, **on(one))
    assert refused.headers["Retry-After"] == "60" and busy in refused.text
    assert "Аня" in refused.text and "Grüße 🙂" in refused.text and 'name="token"' not in refused.text
    assert app.post(f"/{lang}/pledge", GOOD, **on(two)).status_int == 200


@pytest.mark.parametrize("lang, busy", [("en", "Too many pledges right now"), ("de", "Gerade kommen zu viele")])
def test_the_11th_confirm_a_minute_on_one_circuit_is_refused_with_the_pledge_kept(app, clock, lang, busy):
    one, two = circuits.label(RAW), circuits.label(b"another circuit")
    checks = [app.post(f"/{lang}/pledge", GOOD, **on(one)) for _ in range(12)]
    clock.advance(5)
    for check in checks[:10]:
        assert check.forms[0].submit(**on(one)).status_int == 200
    refused = checks[10].forms[0].submit(status=429, **on(one))
    assert refused.headers["Retry-After"] == "60" and busy in refused.text
    assert "Аня" in refused.text and "Grüße 🙂" in refused.text
    # The refused page still carries the same pledge and token: confirming later works.
    assert refused.forms[0]["token"].value == checks[10].forms[0]["token"].value
    # Another circuit still confirms; so does a resubmission on the spent one (it stores nothing new).
    assert checks[11].forms[0].submit(**on(two)).status_int == 200
    assert checks[0].forms[0].submit(**on(one)).status_int == 200
    assert app.app.site.store.count() == 11


class ProxiedClient(Client):
    """A visitor whose every connection begins with the PROXY line tor would write for `circuit`."""

    def __init__(self, host, circuit: int):
        super().__init__(host, timeout=30)
        self.line = (
            f"PROXY TCP6 fc00:dead:beef:4dad::{circuit >> 16:x}:{circuit & 0xFFFF:x} ::1 {circuit & 0xFFFF} 80\r\n"
        ).encode()

    def request(self, *args, **kwargs):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(*self.host, timeout=self.timeout)
            self.conn.sock = socket.create_connection(self.host, timeout=self.timeout)
            self.conn.sock.sendall(self.line)
        return super().request(*args, **kwargs)


@pytest.mark.slow
def test_through_serve_proxy_protocol_with_two_workers_one_circuit_is_refused_another_is_not(tmp_path, identity):
    data = write_campaign(tmp_path / "data", campaign_toml([identity]) + "\n[limits]\ntoken_min_age = 0\n")
    with Server(data, log_dir=tmp_path, args=("--workers", "2", "--proxy-protocol")) as server:
        circuit = 0x12345678
        checks = []
        for _ in range(11):
            with ProxiedClient(server.host, circuit) as visitor:  # a new connection each time: either worker
                checks.append(visitor.check("en", GOOD))
        for hidden in checks[:10]:
            with ProxiedClient(server.host, circuit) as visitor:
                assert visitor.confirm("en", hidden)
        with ProxiedClient(server.host, circuit) as visitor, pytest.raises(PledgeRefused) as refused:
            visitor.confirm("en", checks[10])
        assert refused.value.status == 429 and "Аня".encode() in refused.value.body
        with ProxiedClient(server.host, circuit + 1) as visitor:
            assert visitor.confirm("en", checks[10])
        # Without the line, nothing: the connection is closed unanswered.
        with Client(server.host, timeout=10) as bare, pytest.raises((http.client.HTTPException, OSError)):
            bare.request("GET", "/en/")
        output = server.output()
    for trace in (b"12345678", str(0x12345678).encode(), b"1234:5678", b"fc00", b"dead:beef"):
        assert trace not in output
    assert audit.scan_bytes("server output", output) == []


@pytest.mark.parametrize(
    "lang, words",
    [
        ("en", ["No Tor circuit", "keyed hash", "few minutes", "never writes"]),
        ("de", ["Kein Tor-Kanal", "Arbeitsspeicher", "wenige Minuten", "schreibt ihn nirgends hin"]),
    ],
)
def test_the_privacy_page_says_what_is_kept_of_a_circuit(app, lang, words):
    page = app.get(f"/{lang}/privacy").text
    for word in words:
        assert word in page
    assert circuits.FORGET_AFTER + circuits.SWEEP_EVERY <= 5 * 60  # what "a few minutes" stands for
