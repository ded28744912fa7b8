"""A donor through a real (private, loopback-only) Tor network to the app's onion service, end to end.

The app runs as in production: `python app.py serve --unix-socket PATH`, behind a v3 onion service
(`HiddenServicePort 80 unix:PATH`). A SOCKS client reads the appeal in both languages, pledges,
confirms and gets the receipt; the organisers then `collect` and `review` and find that pledge.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import time

import pytest

from browser.firefox import Firefox, decode_qr, fill_pledge, safest_problems
from helpers import FAST_SCRYPT, PASSPHRASE, campaign_toml
from pledgebox import ROOT, cli
from support.tornet import fetch, start_tor_network

pytestmark = pytest.mark.tor

MESSAGE = "Привет из Иркутска, Grüße 🙂"


@pytest.fixture(scope="module")
def onion_site(tmp_path_factory, identities):
    """The app on a UNIX socket and a private Tor network publishing it as an onion service."""
    base = tmp_path_factory.mktemp("onion")
    data = base / "data"
    data.mkdir()
    (data / "campaign.toml").write_text(campaign_toml(identities[:1]), encoding="utf-8")
    sock = base / "run" / "app.sock"
    sock.parent.mkdir()
    log = open(base / "serve.log", "wb")
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "serve", "--data", str(data), "--unix-socket", str(sock)],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not sock.exists():
            assert server.poll() is None and time.monotonic() < deadline, (base / "serve.log").read_text()
            time.sleep(0.05)
        net = start_tor_network(base / "tor", sock)
        try:
            yield net, data, base
        finally:
            net.stop()
    finally:
        server.terminate()
        server.wait(10)
        log.close()


def hidden_fields(body: str) -> dict[str, str]:
    """The check page's hidden fields (the pledge and its token)."""
    return {
        html.unescape(n): html.unescape(v)
        for n, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', body)
    }


@pytest.mark.parametrize(
    "lang, title, sentence",
    [
        ("en", "Support Antiauthoritarian Comrades in Russia!", "The funds from this fundraising campaign"),
        ("de", "Unterstützt Antiautoritäre Genoss*innen in Russland!", "Die Gelder aus dieser Spendenkampagne"),
    ],
)
def test_appeal_through_the_onion(onion_site, lang, title, sentence):
    net, _data, _base = onion_site
    status, headers, body = fetch(net.socks_port, f"{net.url}{lang}/")
    text = body.decode("utf-8")
    assert status == 200 and title in text and sentence in text
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")
    # Through the onion: no HSTS, no Onion-Location, no Server header, no cookie.
    for name in ("Strict-Transport-Security", "Onion-Location", "Server", "Set-Cookie"):
        assert headers.get(name) is None, name


def review_json(data, base, identities, name: str) -> list[dict]:
    """Collect the sealed pledges, review them with the organiser's key: the pledges as the JSON report gives them."""
    out, key, passfile, report = (
        base / f"{name}.sealed",
        base / f"{name}.identity",
        base / f"{name}.pass",
        base / f"{name}.json",
    )
    assert cli.main(["collect", "--data", str(data), "--out", str(out)]) == 0
    identities[0].save(key, PASSPHRASE, scrypt_n=FAST_SCRYPT)
    passfile.write_bytes(PASSPHRASE)
    assert (
        cli.main(
            ["review", str(out), "--identity", str(key), "--passphrase-file", str(passfile), "--json", str(report)]
        )
        == 0
    )
    return json.loads(report.read_text(encoding="utf-8"))["pledges"]


def test_pledge_through_the_onion_is_found_by_review(onion_site, identities):
    net, data, base = onion_site
    status, _h, body = fetch(
        net.socks_port,
        f"{net.url}de/pledge",
        method="POST",
        body={
            "amount": "1.234,50",
            "designation": "abc-irkutsk",
            "method": "sepa",
            "pseudonym": "Ёж",
            "message": MESSAGE,
        },
    )
    check = body.decode("utf-8")
    assert status == 200 and "Prüfe deine Zusage" in check and MESSAGE in check
    fields = hidden_fields(check)
    time.sleep(2.1)  # the token's minimum age: a person reads the check page first
    status, headers, body = fetch(net.socks_port, f"{net.url}de/pledge/confirm", method="POST", body=fields)
    receipt = body.decode("utf-8")
    assert status == 200, receipt
    assert headers["Cache-Control"] == "no-store"
    reference = re.search(r'class="reference"[^>]*>([^<]+)<', receipt).group(1)
    assert "data:image/png;base64," in receipt and "1.234,50" in receipt

    [pledge] = review_json(data, base, identities, "collected")
    assert pledge["reference"] == reference
    assert pledge["amount"] == "1234.50" and pledge["designation"] == "abc-irkutsk"
    assert pledge["message"] == MESSAGE and pledge["pseudonym"] == "Ёж"


def test_firefox_at_safest_pledges_through_the_onion(onion_site, identities, tmp_path):
    """Firefox ESR with the Safest profile, through the network's SOCKS port to the onion address: the donor
    pledges in German; the organisers collect and review, and the pledge is there, byte for byte."""
    net, data, base = onion_site
    typed = {
        "amount": "1.234,50",
        "designation": "solidarity-zone",
        "method": "sepa",
        "pseudonym": "Ёжик 🦔",
        "message": "Свободу! Grüße aus Tor, mit „Anführungszeichen“ – 🙂",
    }
    browser = Firefox(tmp_path / "profile", (1450, 960), {"network.proxy.socks_port": net.socks_port})
    try:
        m = browser.m
        browser.navigated(lambda: m.navigate(f"{net.url}de/"))
        assert m.get_url() == f"{net.url}de/" and m.title.startswith("Unterstützt Antiautoritäre")
        fill_pledge(m, **typed)
        browser.navigated(lambda: m.find_element("css selector", "form#pledge button").click())
        assert m.find_element("css selector", "h1").text == "Prüfe deine Zusage"
        time.sleep(2.1)  # the token's minimum age: a person reads the check page first
        browser.navigated(lambda: m.find_element("css selector", "main form button").click())
        assert m.get_url() == f"{net.url}de/pledge/confirm"
        reference = m.find_element("css selector", ".reference").text
        qr = m.find_element("css selector", "img.qr")
        assert decode_qr(m.screenshot(element=qr, format="binary"))[-1] == reference
        assert not safest_problems(m) and not browser.csp_violations()
    finally:
        browser.quit()

    [pledge] = [p for p in review_json(data, base, identities, "firefox") if p["reference"] == reference]
    assert (pledge["amount"], pledge["designation"], pledge["method"]) == ("1234.50", "solidarity-zone", "sepa")
    for field in ("pseudonym", "message"):
        assert pledge[field].encode("utf-8") == typed[field].encode("utf-8"), field
