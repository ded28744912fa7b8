"""Fuzzing the whole pledge flow in-process: only expected statuses, never a 500 or a hang, nothing reflected raw."""

from __future__ import annotations

import time
from urllib.parse import quote, quote_plus

import pytest
import webtest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from helpers import Clock, campaign_toml
from pledgebox import config, pledges, web
from support.serverproc import hidden_fields, write_campaign

pytestmark = pytest.mark.slow  # 10,000 examples: about a minute

ALLOWED = {200, 303, 400, 404, 405, 413, 429, 503}
SLOWEST = 5.0  # seconds: an in-process request taking longer than this is a hang
FIELDS = (*pledges.FIELDS, pledges.HONEYPOT, "token", "edit")
PATHS = (
    "/",
    "/en",
    "/de",
    "/en/",
    "/de/",
    "/en/privacy",
    "/de/mirror",
    "/en/pledge",
    "/de/pledge",
    "/en/pledge/confirm",
    "/de/pledge/confirm",
    "/fr/",
    "/en/pledge/",
    "/EN/",
    "//en/",
    "/en//pledge",
    "/en/./pledge",
    "/en/../de/",
    "/favicon.ico",
    "/robots.txt",
)
METHODS = ("GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND", "get")
CONTENT_TYPES = (
    None,
    "",
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=utf-8",
    "application/x-www-form-urlencoded; charset=latin-1",
    "APPLICATION/X-WWW-FORM-URLENCODED",
    "multipart/form-data; boundary=xyz",
    "multipart/form-data",
    "application/json",
    "text/plain",
    "text/html; charset=utf-16",
    "application/octet-stream",
    "x/\u00ff",
    ";;;",
    "application/x-www-form-urlencoded;",
)
COMMON = settings(
    deadline=None,
    database=None,
    derandomize=False,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
)


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory, identities):
    """One app for all examples (a fresh one per example would cost more than the request)."""
    data = write_campaign(
        tmp_path_factory.mktemp("fuzz") / "data",
        campaign_toml(identities[:1]) + "\n[limits]\nconfirms_per_minute = 1000000\n",
    )
    clock = Clock(1795604400.0)
    # No lint: it rejects the malformed requests (odd methods, bad Content-Length) this test is about.
    return webtest.TestApp(web.build_app(config.load(data), clock=clock), lint=False), clock


# -- what the donor (or an attacker) might type --------------------------------------------------

markers = st.text("abcdefghjkmnpqrstvwxyz23456789", min_size=6, max_size=6).map(lambda s: "zq" + s)
INJECTIONS = ("<b>{}", '"{}', "'{}", "</textarea><b>{}", '"><b>{}', "<script>{}", "<!--{}", "]]><b>{}")


@st.composite
def hostile_text(draw) -> tuple[str, str | None]:
    """(text, marker): any Unicode, sometimes with markup around a marker that must never come back raw."""
    base = draw(
        st.one_of(
            st.text(max_size=40),
            st.text(st.characters(codec="utf-8"), max_size=300),
            st.text(st.characters(min_codepoint=0, max_codepoint=0x7F), max_size=60),
            st.sampled_from(
                [
                    "25",
                    "1.000,50",
                    "1,000.50",
                    "€ 5",
                    "0",
                    "-3",
                    "1e9",
                    "NaN",
                    "١٢٣",
                    "５",
                    "",
                    "Пётр",
                    "Grüße",
                    "\u202e\u202d",
                    "\ufeff",
                    "\x00",
                    "\r\n",
                    "\ud800".encode("utf-8", "surrogatepass").decode("latin-1"),
                    "a" * 3000,
                ]
            ),
        )
    )
    if not draw(st.booleans()):
        return base, None
    marker = draw(markers)
    text = draw(st.sampled_from(INJECTIONS)).format(marker)
    return draw(st.sampled_from([base + text, text + base, text])), marker


def encode_value(text: str, how: str) -> bytes:
    """The value as it would appear in a URL-encoded body, in one of several (mis)encodings."""
    if how == "utf-8":
        return quote_plus(text.encode("utf-8", "surrogatepass")).encode("ascii")
    if how == "latin-1":
        return quote_plus(text.encode("latin-1", "replace")).encode("ascii")
    if how == "utf-16":
        return quote_plus(text.encode("utf-16")).encode("ascii")
    if how == "raw":  # not percent-encoded at all, as a broken client might send it
        return text.encode("utf-8", "surrogatepass")
    if how == "overlong":  # '<' and '"' as overlong UTF-8, which must never decode to markup
        return quote_plus(
            text.encode("utf-8", "surrogatepass").replace(b"<", b"\xc0\xbc").replace(b'"', b"\xc0\xa2")
        ).encode("ascii")
    return (quote_plus(text.encode("utf-8", "surrogatepass")) + "%zz%").encode("ascii")  # "broken"


ENCODINGS = ("utf-8", "utf-8", "utf-8", "latin-1", "utf-16", "raw", "overlong", "broken")


@st.composite
def form_body(draw, valid_ratio: float = 0.5) -> tuple[bytes, list[str], dict]:
    """(body, markers, values): a form, each field hostile or plausible, some duplicated or missing."""
    plausible = {"amount": "25", "designation": "split", "method": draw(st.sampled_from(["cash", "xmr", "sepa"]))}
    pairs, found, values = [], [], {}
    for name in FIELDS[:-2]:
        kind = "hostile"
        if name in plausible and draw(st.floats(0, 1)) < valid_ratio:
            text, marker, kind = plausible[name], None, "plausible"
        elif name == pledges.HONEYPOT and draw(st.floats(0, 1)) < 0.8:
            text, marker = "", None
        else:
            text, marker = draw(hostile_text())
        if marker:
            found.append(marker)
        values[name] = text
        if kind == "plausible":  # sent as a browser would, so that many forms get through to confirm
            pairs.append((name.encode(), encode_value(text, "utf-8")))
            continue
        for _ in range(draw(st.sampled_from([1, 1, 1, 1, 0, 2, 3]))):
            pairs.append((quote_plus(name).encode(), encode_value(text, draw(st.sampled_from(ENCODINGS)))))
    if draw(st.booleans()):
        name, marker = draw(hostile_text())
        pairs.append((encode_value(name, "utf-8"), encode_value(marker or "x", "utf-8")))
    order = draw(st.permutations(pairs))
    return b"&".join(k + b"=" + v for k, v in order), found, values


def send(
    app,
    method: str,
    path: str,
    body: bytes = b"",
    content_type: str | None = None,
    headers: dict | None = None,
    length: str | None = None,
) -> webtest.TestResponse:
    """One request with nothing tidied up by the test client; it must finish quickly."""
    req = webtest.TestRequest.blank(path, method=method)
    if body or method in ("POST", "PUT", "PATCH"):
        req.body = body
    if content_type is not None:
        req.environ["CONTENT_TYPE"] = content_type
    if length is not None:
        req.environ["CONTENT_LENGTH"] = length
    for name, value in (headers or {}).items():
        req.environ["HTTP_" + name.upper().replace("-", "_")] = value
    start = time.monotonic()
    res = app.do_request(req, status="*", expect_errors=True)
    assert time.monotonic() - start < SLOWEST, f"{method} {path!r} took too long"
    return res


def assert_safe(res: webtest.TestResponse, found: list[str]) -> None:
    """An expected status, and no marker reflected where markup could break out."""
    assert res.status_int in ALLOWED, res.status
    assert res.status_int != 500
    assert "Set-Cookie" not in res.headers
    text = res.body.decode("utf-8", "replace")
    for marker in found:
        for injection in INJECTIONS:
            assert injection.format(marker) not in text, (injection.format(marker), res.status)


# -- the tests: 3,000 + 2,500 + 2,500 + 2,000 = 10,000 examples -----------------------------------


@settings(COMMON, max_examples=3000)
@given(form=form_body(valid_ratio=0.85), lang=st.sampled_from(["en", "de"]), wait=st.sampled_from([0, 5, 5, 5, 10**6]))
def test_pledge_then_confirm_with_hostile_fields(fuzz, form, lang, wait):
    app, clock = fuzz
    body, found, _values = form
    res = send(app, "POST", f"/{lang}/pledge", body, "application/x-www-form-urlencoded")
    assert_safe(res, found)
    if res.status_int != 200 or b'name="token"' not in res.body:
        return
    clock.advance(wait)
    hidden = hidden_fields(res.body)
    confirm_body = "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in hidden).encode()
    done = send(app, "POST", f"/{lang}/pledge/confirm", confirm_body, "application/x-www-form-urlencoded")
    assert_safe(done, found)
    event(f"confirm answered {done.status_int}")
    if wait == 5:
        assert done.status_int == 200, done.status
        assert b'class="reference"' in done.body


@settings(COMMON, max_examples=2500)
@given(
    form=form_body(valid_ratio=0.9),
    lang=st.sampled_from(["en", "de"]),
    token=st.one_of(
        st.text(max_size=80),
        st.binary(max_size=60).map(lambda b: b.hex()),
        st.just("AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    ),
)
def test_confirm_with_forged_tokens_never_stores(fuzz, form, lang, token):
    app, _clock = fuzz
    body, found, _values = form
    body += b"&token=" + quote_plus(token.encode("utf-8", "surrogatepass")).encode()
    res = send(app, "POST", f"/{lang}/pledge/confirm", body, "application/x-www-form-urlencoded")
    assert_safe(res, found)
    assert res.status_int != 200 or b'class="reference"' not in res.body


@settings(COMMON, max_examples=2500)
@given(
    method=st.sampled_from(METHODS),
    path=st.sampled_from(PATHS),
    content_type=st.sampled_from(CONTENT_TYPES),
    body=st.one_of(
        st.binary(max_size=200),
        st.binary(min_size=16000, max_size=17000),
        st.integers(0, 3).map(lambda k: b"a=" + b"x" * (pledges.MAX_BODY + 1 + k * 40000)),
        st.just(b""),
        st.just(b'--xyz\r\nContent-Disposition: form-data; name="amount"\r\n\r\n5\r\n--xyz--\r\n'),
        st.just(b'{"amount": "25"}'),
    ),
    length=st.sampled_from([None, None, None, "abc", "-1", "99999999999", "0", "1", " 12 "]),
    extra=st.dictionaries(
        st.sampled_from(
            [
                "Accept-Language",
                "Accept-Encoding",
                "Host",
                "X-Forwarded-For",
                "Transfer-Encoding",
                "Expect",
                "Origin",
                "Referer",
            ]
        ),
        st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=60),
        max_size=3,
    ),
)
def test_odd_methods_bodies_and_content_types(fuzz, method, path, content_type, body, length, extra):
    app, _clock = fuzz
    res = send(app, method, path, body, content_type, extra, length)
    assert_safe(res, [])
    if len(body) > pledges.MAX_BODY and length is None and method == "POST" and res.status_int not in (404, 405):
        assert res.status_int == 413


segment = st.one_of(
    st.sampled_from(["en", "de", "pledge", "confirm", "privacy", "mirror", "..", ".", "", "%00"]),
    st.text(max_size=30),
    st.binary(max_size=30).map(lambda b: quote(b, safe="")),
)


@settings(COMMON, max_examples=2000)
@given(
    segments=st.lists(segment, min_size=1, max_size=6),
    marker=markers,
    method=st.sampled_from(["GET", "POST", "HEAD"]),
    inject=st.booleans(),
)
def test_any_path_reflects_nothing(fuzz, segments, marker, method, inject):
    app, _clock = fuzz
    if inject:
        segments = [*segments, quote(f"<b>{marker}", safe="")]
    path = "/" + "/".join(quote(s, safe="%") for s in segments)
    res = send(
        app,
        method,
        path,
        b"amount=1" if method == "POST" else b"",
        "application/x-www-form-urlencoded" if method == "POST" else None,
    )
    assert_safe(res, [marker])
    if res.status_int == 404:
        assert marker.encode() not in res.body
