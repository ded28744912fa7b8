"""The pieces of a response the routes share: the headers every page carries, dynamic pages, the form as read."""

from __future__ import annotations

from typing import NamedTuple

from bottle import request, response

from . import pledges
from .render import SECURITY_HEADERS, transport_headers


class Reply(NamedTuple):
    """A page made for one request: its status, its HTML and any extra headers."""

    status: int
    html: str
    headers: tuple = ()


def headers(status: int, extra: tuple = (), *, cache: str = "no-store") -> None:
    """Put the security headers (and HSTS/Onion-Location where they belong) on this response."""
    response.status = status
    response.content_type = "text/html; charset=utf-8"
    for name, value in SECURITY_HEADERS:
        response.set_header(name, value)
    response.set_header("Cache-Control", cache)
    site = request.app.config["pledgebox.site"]
    env = request.environ
    for name, value in transport_headers(
        env.get("wsgi.url_scheme", "http"), env.get("HTTP_HOST", ""), env.get("PATH_INFO", "/"), site.config.onion
    ):
        response.set_header(name, value)
    for name, value in extra:
        response.set_header(name, value)


def dynamic(status: int, html: str, *extra) -> bytes:
    """A page that depends on the request: never cached, never compressed (it may hold a token)."""
    headers(status, extra)
    return html.encode("utf-8")


def send(reply: Reply) -> bytes:
    """A Reply from the site, as a dynamic page."""
    return dynamic(reply.status, reply.html, *reply.headers)


class _Nowhere:
    """A wsgi.errors stream that keeps nothing."""

    def write(self, _text):
        pass

    def writelines(self, _lines):
        pass

    def flush(self):
        pass


NOWHERE = _Nowhere()


def current_response() -> dict:
    """The status and headers set on the current response, to carry into an HTTPResponse."""
    return {"status": response.status_code, "headers": dict(response.headerlist)}


def read_values() -> dict[str, str]:
    """The form as typed, or empty fields when the body is not a URL-encoded form."""
    ctype = request.environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        # Never let Bottle's multipart parser spill a body into a temporary file.
        return dict.fromkeys(pledges.FORM_NAMES, "")
    return pledges.read_form(request.forms)
