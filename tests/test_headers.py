"""The security headers on every response, whatever its status; never a cookie or a Server header."""

import base64
import hashlib
import re

import pytest

from pledgebox import render

REQUIRED = {
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def check(res):
    """Assert the full set of security headers on one response."""
    for name, value in REQUIRED.items():
        assert res.headers.get(name) == value, name
    csp = res.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert directives["form-action"] == "'self'"
    assert "camera=()" in res.headers["Permissions-Policy"]
    assert "Set-Cookie" not in res.headers
    assert "Server" not in res.headers
    assert "Strict-Transport-Security" not in res.headers  # plain HTTP here
    assert "Onion-Location" not in res.headers


def test_style_hash_matches_the_inline_style(client):
    body = client.get("/en/").text
    style = re.search(r"<style>(.*?)</style>", body, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in client.get("/en/").headers["Content-Security-Policy"]
    assert body.count("<style>") == 1 and 'style="' not in body


@pytest.mark.parametrize(
    "method, path, status, body",
    [
        ("GET", "/en/", 200, None),
        ("GET", "/de/privacy", 200, None),
        ("GET", "/", 303, None),
        ("GET", "/nowhere", 404, None),
        ("GET", "/de/nowhere", 404, None),
        ("POST", "/en/pledge", 400, {"amount": "abc"}),
        ("PUT", "/en/", 405, None),
        ("POST", "/en/pledge", 413, {"message": "x" * 40000}),
    ],
)
def test_headers_on_every_status(client, method, path, status, body):
    res = client.request(
        path,
        method=method,
        status=status,
        body=None if body is None else "&".join(f"{k}={v}" for k, v in body.items()).encode(),
        content_type="application/x-www-form-urlencoded" if body else None,
    )
    assert res.status_int == status
    check(res)


def test_413_is_a_clear_page(client):
    res = client.post("/de/pledge", {"message": "x" * 40000}, status=413)
    assert "Zu viele Daten" in res.text and "xxxx" not in res.text


def test_405_names_the_allowed_methods(client):
    res = client.request("/en/pledge", method="DELETE", status=405)
    assert "POST" in res.headers["Allow"]


def test_no_cookie_through_the_whole_flow(client, clock):
    from helpers import pledge_through

    receipt = pledge_through(client, clock)
    assert "Set-Cookie" not in receipt.headers
    assert not client.cookies


@pytest.mark.parametrize(
    "scheme, host, onion_location, hsts",
    [
        ("http", "example.org", False, False),
        ("https", "example.org", True, True),
        ("https", "example.org:8443", True, True),
        ("http", "a" * 56 + ".onion", False, False),
        ("https", "a" * 56 + ".onion", False, False),
    ],
)
def test_transport_headers(scheme, host, onion_location, hsts):
    onion = "b" * 56 + ".onion"
    headers = dict(render.transport_headers(scheme, host, "/de/privacy", onion))
    assert ("Onion-Location" in headers) == onion_location
    assert ("Strict-Transport-Security" in headers) == hsts
    if onion_location:
        assert headers["Onion-Location"] == f"http://{onion}/de/privacy"


def test_no_onion_location_without_an_onion():
    assert "Onion-Location" not in dict(render.transport_headers("https", "example.org", "/", ""))


def test_a_crash_is_a_plain_500_that_prints_no_request_data(client, clock, capfd, monkeypatch):
    site = client.app.config["pledgebox.site"]

    def boom(*_args):
        raise RuntimeError("secret-donor-text")

    monkeypatch.setattr(site, "seal_and_store", boom)
    check_page = client.post(
        "/en/pledge", {"amount": "5", "designation": "split", "method": "sepa", "message": "secret-donor-text"}
    )
    clock.advance(5)
    res = check_page.forms[0].submit(status=500)
    check(res)
    assert "secret-donor-text" not in res.text
    out = capfd.readouterr()
    assert "secret-donor-text" not in out.out + out.err
    assert "pledgebox: internal error (RuntimeError)" in out.err
