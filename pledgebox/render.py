"""Templates, the inline style and its CSP hash, security headers, and pre-rendered pages."""

from __future__ import annotations

import base64
import gzip
import hashlib
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

from bottle import SimpleTemplate

from . import ROOT

VIEWS = ROOT / "views"
if not VIEWS.is_dir():
    # views/, i18n/ and data/ live beside the package, in the checkout.
    raise ImportError(
        f"{VIEWS} is missing: run pledgebox from its checkout (pip install -e .), not a copy installed without it"
    )
STYLE = (VIEWS / "style.css").read_text(encoding="utf-8").strip()
STYLE_HASH = "sha256-" + base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()


def csp(form_action: str = "'self'") -> str:
    """The Content-Security-Policy: nothing may load but the hashed inline style and data: images."""
    return (
        "default-src 'none'; "
        f"style-src '{STYLE_HASH}'; "
        "img-src data:; "  # the GiroCode on the receipt, and the empty favicon
        f"form-action {form_action}; "
        "frame-ancestors 'none'; base-uri 'none'"
    )


CSP = csp()
SECURITY_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("Referrer-Policy", "same-origin"),  # no-referrer would make form posts arrive with Origin: null
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=(), browsing-topics=()"),
)


def transport_headers(scheme: str, host: str, path: str, onion: str) -> list[tuple[str, str]]:
    """HSTS and Onion-Location, only for HTTPS requests that did not come through the onion."""
    hostname = host.rsplit(":", 1)[0].lower() if host and not host.startswith("[") else host
    if scheme != "https" or not hostname or hostname.endswith(".onion"):
        return []
    headers = [("Strict-Transport-Security", "max-age=31536000")]
    if onion:
        headers.append(("Onion-Location", f"http://{onion}{quote(path, safe='/')}"))
    return headers


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header allows gzip (and does not refuse it with q=0)."""
    for part in accept_encoding.lower().split(","):
        name, _, params = part.partition(";")
        if name.strip() in ("gzip", "x-gzip"):
            q = params.strip().removeprefix("q=").strip() if params.strip().startswith("q=") else "1"
            try:
                return float(q) > 0
            except ValueError:
                return False
    return False


def display_url(url: str) -> tuple[str, str]:
    """(href, text) for a link: the path percent-encoded in href, shown readably as text."""
    parts = urlsplit(url)
    href = urlunsplit(
        (
            parts.scheme,
            parts.netloc.encode("idna").decode("ascii"),
            quote(parts.path, safe="/%:@!$&'()*+,;="),
            quote(parts.query, safe="=&%"),
            "",
        )
    )
    text = parts.netloc + parts.path
    return href, text.rstrip("/") if parts.path in ("", "/") else text


class Templates:
    """The compiled views/*.tpl files, each compiled once."""

    def __init__(self):
        self._cache: dict[str, SimpleTemplate] = {}

    def render(self, name: str, **values) -> str:
        """Render views/NAME.tpl with the given values (escaped output only)."""
        tpl = self._cache.get(name)
        if tpl is None:
            tpl = self._cache[name] = SimpleTemplate(name=name, lookup=[str(VIEWS)])
        return tpl.render(style=STYLE, **values)


@dataclass(frozen=True)
class Page:
    """A rendered page kept in memory: the bytes, and their gzip form made once."""

    body: bytes
    gzipped: bytes

    @classmethod
    def of(cls, html: str) -> Page:
        """Encode and compress a page once."""
        body = html.encode("utf-8")
        # mtime=0: the same page always compresses to the same bytes, and no time leaks.
        return cls(body, gzip.compress(body, compresslevel=9, mtime=0))
