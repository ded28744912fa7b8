"""HSTS and Onion-Location only on HTTPS clearnet responses; the deploy files that set up onion and clearnet."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import socket
import subprocess
import sys

import pytest
import webtest
from webtest.http import StopableWSGIServer

from helpers import campaign_toml, onion_address
from pledgebox import ROOT, cli, config, serve, web

ONION = onion_address(b"transport test")
CLEARNET = "appeal.example.org"
HSTS = "max-age=31536000"


@pytest.fixture
def onion_app(tmp_path, identity, clock):
    """The app for a campaign with an onion address, as WSGI."""
    data = tmp_path / "onion-data"
    data.mkdir()
    (data / "campaign.toml").write_text(campaign_toml([identity], onion=ONION), encoding="utf-8")
    return web.build_app(config.load(data), clock=clock)


def client_for(app, scheme: str, host: str) -> webtest.TestApp:
    """A client whose requests arrive as they would over that scheme with that Host header."""
    return webtest.TestApp(app, extra_environ={"wsgi.url_scheme": scheme, "HTTP_HOST": host})


# Every kind of response the app gives: pre-rendered pages, redirects, errors, a refilled form.
RESPONSES = [
    ("GET", "/en/", 200),
    ("GET", "/de/privacy", 200),
    ("GET", "/en/mirror", 200),
    ("GET", "/", 303),
    ("GET", "/de", 303),
    ("GET", "/nowhere", 404),
    ("POST", "/en/pledge", 400),
]


def request(client, method: str, path: str, status: int):
    if method == "POST":
        return client.post(path, {"amount": ""}, status=status)
    return client.get(path, status=status)


@pytest.mark.parametrize("method, path, status", RESPONSES)
def test_https_clearnet_gets_hsts_and_the_onion_twin_of_the_same_path(onion_app, method, path, status):
    res = request(client_for(onion_app, "https", CLEARNET), method, path, status)
    assert res.headers["Strict-Transport-Security"] == HSTS
    assert res.headers["Onion-Location"] == f"http://{ONION}{path}"


@pytest.mark.parametrize("method, path, status", RESPONSES)
@pytest.mark.parametrize(
    "scheme, host",
    [
        ("http", ONION),  # how Tor hands requests to the app: plain HTTP, the onion as Host
        ("http", ONION.upper() + ":80"),
        ("https", ONION),  # an onion with a certificate
        ("http", CLEARNET),  # plain HTTP on the clearnet: HSTS would be ignored, Onion-Location too
        ("http", "127.0.0.1:8080"),
    ],
)
def test_no_transport_headers_off_https_clearnet(onion_app, scheme, host, method, path, status):
    res = request(client_for(onion_app, scheme, host), method, path, status)
    assert "Strict-Transport-Security" not in res.headers
    assert "Onion-Location" not in res.headers


def test_https_clearnet_without_an_onion_gets_hsts_only(cfg, clock):
    res = client_for(web.build_app(cfg, clock=clock), "https", CLEARNET).get("/en/")
    assert res.headers["Strict-Transport-Security"] == HSTS
    assert "Onion-Location" not in res.headers


def test_onion_location_is_percent_encoded_and_cannot_break_the_header(onion_app):
    client = client_for(onion_app, "https", CLEARNET)
    res = client.get("/en/%C3%A4%0d%0aSet-Cookie:%20x=1", status=404)
    assert res.headers["Onion-Location"] == f"http://{ONION}/en/%C3%A4%0D%0ASet-Cookie%3A%20x%3D1"
    assert "Set-Cookie" not in res.headers


def test_the_headers_are_sent_once(onion_app):
    res = client_for(onion_app, "https", CLEARNET).get("/en/")
    names = [name.lower() for name, _ in res.headerlist]
    assert names.count("strict-transport-security") == 1 and names.count("onion-location") == 1


# -- through waitress, as `serve --behind-https-proxy` runs it ---------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, path: str, headers: dict[str, str]) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.putheader("Connection", "close")
        conn.endheaders()
        res = conn.getresponse()
        res.read()
        return res
    finally:
        conn.close()


@pytest.mark.parametrize(
    "behind_proxy, forwarded, expected",
    [
        (True, "https", True),  # nginx terminated TLS and says so
        (True, "http", False),
        (True, None, False),
        (False, "https", False),  # without the flag nobody can claim HTTPS by sending the header
    ],
)
def test_waitress_trusts_x_forwarded_proto_only_behind_the_proxy(onion_app, behind_proxy, forwarded, expected):
    kw = serve.settings(host="127.0.0.1", port=free_port(), threads=2, behind_https_proxy=behind_proxy)
    server = StopableWSGIServer.create(onion_app, **kw)
    try:
        headers = {"Host": CLEARNET} | ({"X-Forwarded-Proto": forwarded} if forwarded else {})
        res = get(server.adj.port, "/de/privacy", headers)
        assert res.status == 200
        assert (res.getheader("Strict-Transport-Security") == HSTS) == expected
        assert res.getheader("Onion-Location") == (f"http://{ONION}/de/privacy" if expected else None)
        # Through the onion service the Host is the onion: never the headers, even if a header lies.
        res = get(server.adj.port, "/de/privacy", {"Host": ONION, "X-Forwarded-Proto": "https"})
        assert res.getheader("Strict-Transport-Security") is None and res.getheader("Onion-Location") is None
    finally:
        server.shutdown()
        server.runner.join(timeout=10)


# -- deploy/: the torrc and the systemd unit, checked by tor and systemd themselves -------------

DEPLOY = ROOT / "deploy"
SOCKET = "/run/pledgebox/app.sock"


def directives(text: str, sep: str) -> dict[str, list[str]]:
    """Every active `Key<sep>value` line of a config file (comments skipped)."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition(sep)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_torrc_serves_the_app_socket_with_dos_defences():
    torrc = directives((DEPLOY / "torrc").read_text(encoding="utf-8"), " ")
    assert torrc["HiddenServicePort"] == [f"80 unix:{SOCKET}"]
    assert torrc["HiddenServicePoWDefensesEnabled"] == ["1"]
    assert torrc["HiddenServiceEnableIntroDoSDefense"] == ["1"]
    assert torrc["HiddenServiceMaxStreamsCloseCircuit"] == ["1"]
    assert 0 < int(torrc["HiddenServiceMaxStreams"][0]) <= 100


def test_tor_accepts_the_torrc(tmp_path):
    tor = shutil.which("tor")
    if tor is None:
        pytest.fail("tor is missing: run scripts/install-system-deps.sh (Debian package tor)")
    hs, data = tmp_path / "hs", tmp_path / "tor-data"
    hs.mkdir(mode=0o700)
    data.mkdir(mode=0o700)
    text = (DEPLOY / "torrc").read_text(encoding="utf-8")
    assert "/var/lib/tor/pledgebox/" in text and SOCKET in text
    # The same file with this test's folders: tor checks their owners and modes too.
    text = text.replace("/var/lib/tor/pledgebox/", f"{hs}/").replace(SOCKET, str(tmp_path / "app.sock"))
    torrc = tmp_path / "torrc"
    torrc.write_text(text + f"\nDataDirectory {data}\n", encoding="utf-8")
    done = subprocess.run(
        [tor, "--verify-config", "--defaults-torrc", os.devnull, "-f", str(torrc)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "Configuration was valid" in done.stdout, done.stdout + done.stderr


def test_the_unit_runs_the_app_on_the_torrc_socket_and_is_hardened():
    unit = directives((DEPLOY / "pledgebox.service").read_text(encoding="utf-8"), "=")
    command = unit["ExecStart"][0]
    assert re.search(rf" serve --data (\S+) --unix-socket {re.escape(SOCKET)} --workers \d+ --proxy-protocol$", command)
    # Arguments the command line accepts (argparse exits on anything else).
    args = cli.parser().parse_args(command.split("app.py ", 1)[1].split())
    assert args.workers >= 1 and str(args.unix_socket) == SOCKET
    # The PROXY line: tor writes it exactly when the app expects it (either alone fails every connection).
    torrc = directives((DEPLOY / "torrc").read_text(encoding="utf-8"), " ")
    assert args.proxy_protocol and torrc["HiddenServiceExportCircuitID"] == ["haproxy"]
    # Open files for every connection a worker holds (bench/run.py measures how many stay prompt).
    assert unit["LimitNOFILE"] == [str(serve.CONNECTIONS + serve.FD_RESERVE)]
    data = command.split(" --data ", 1)[1].split()[0]
    assert unit["RuntimeDirectory"] == ["pledgebox"] and unit["Group"] == ["debian-tor"]
    assert unit["ReadWritePaths"] == [data]  # the data folder, nothing else
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateNetwork": "yes",
        "RestrictAddressFamilies": "AF_UNIX",
        "CapabilityBoundingSet": "",
    }.items():
        assert unit[key] == [value], key
    # Tor's group may open the app's socket, but must not reach tor's control socket through it.
    assert "/run/tor" in unit["InaccessiblePaths"][0]


def test_systemd_accepts_the_unit(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing: run scripts/install-system-deps.sh (Debian package systemd)")
    text = (DEPLOY / "pledgebox.service").read_text(encoding="utf-8")
    # verify insists that ExecStart's program exists: this Python stands in for the venv's.
    unit = tmp_path / "pledgebox.service"
    unit.write_text(text.replace("/opt/pledgebox/.venv/bin/python", sys.executable), encoding="utf-8")
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    # Unknown keys and bad values are only warnings: any line naming the unit is a failure.
    complaints = [line for line in (done.stdout + done.stderr).splitlines() if "pledgebox.service" in line]
    assert done.returncode == 0 and complaints == [], done.stdout + done.stderr


def test_nginx_example_forwards_only_the_scheme_to_the_app():
    nginx = (DEPLOY / "nginx-clearnet.conf").read_text(encoding="utf-8")
    assert "proxy_set_header X-Forwarded-Proto https;" in nginx
    assert 'proxy_set_header X-Forwarded-For "";' in nginx and "access_log off;" in nginx
    assert "--behind-https-proxy" in nginx and "server 127.0.0.1:8081;" in nginx
    assert serve.settings(host="127.0.0.1", port=8081, behind_https_proxy=True)["trusted_proxy"] == "127.0.0.1"
