"""Every page in both languages: the appeal, the privacy page, links, no scripts, no outside resources."""

import gzip
import re
from html.parser import HTMLParser

import pytest

from pledgebox.i18n import LANGS

PAGES = ["/{lang}/", "/{lang}/privacy", "/{lang}/mirror"]
ALLOWED_HREF = re.compile(
    r"^(/(en|de)/(privacy|mirror|pledge|pledge/confirm)?(#pledge)?$|#[a-z-]+$|data:,$"
    r"|https://www\.instagram\.com/solidarity\.zone$"
    r"|https://abc38\.noblogs\.org/category/%D0%B3%D0%BB%D0%B0%D0%B2%D0%BD%D0%B0%D1%8F/$)"
)

APPEAL_SENTENCES = {
    "en": [
        "Support Antiauthoritarian Comrades in Russia!",
        "Russia has been waging an imperialist war against Ukraine since February 2022.",
        "The funds from this fundraising campaign will go to two groups.",
        "Solidarity Zone only works with people who do not cooperate with the state",
        "which was founded in 2011 and is active in Siberia",
        "they see their task as abolishing the prison system",
    ],
    "de": [
        "Unterstützt Antiautoritäre Genoss*innen in Russland!",
        "Russland führt seit Februar 2022 einen imperialistischen Krieg gegen die Ukraine.",
        "Die Gelder aus dieser Spendenkampagne gehen an zwei Gruppen.",
        "Zum einen an Solidarity Zone",
        "das 2011 gegründet wurde und in Sibirien aktiv ist",
        "das Strafvollzugssystem abzuschaffen",
    ],
}


class Links(HTMLParser):
    """Collects every URL-bearing attribute and the html lang."""

    def __init__(self):
        super().__init__()
        self.urls, self.lang, self.alternates = [], None, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang")
        if tag == "link" and a.get("rel") == "alternate":
            self.alternates.append((a.get("hreflang"), a.get("href")))
        for name in ("href", "src", "action", "formaction", "poster", "srcset", "data"):
            if name in a:
                self.urls.append((tag, name, a[name]))


def parse(html):
    p = Links()
    p.feed(html)
    return p


@pytest.mark.parametrize("lang", LANGS)
def test_appeal_in_full(client, lang):
    body = client.get(f"/{lang}/").text
    for sentence in APPEAL_SENTENCES[lang]:
        assert sentence in body
    other = "de" if lang == "en" else "en"
    for sentence in APPEAL_SENTENCES[other][1:]:
        assert sentence not in body


@pytest.mark.parametrize("lang", LANGS)
def test_group_links_encoded_and_readable(client, lang):
    body = client.get(f"/{lang}/").text
    assert (
        '<a href="https://abc38.noblogs.org/category/%D0%B3%D0%BB%D0%B0%D0%B2%D0%BD%D0%B0%D1%8F/">'
        "abc38.noblogs.org/category/главная/</a>"
    ) in body
    assert '<a href="https://www.instagram.com/solidarity.zone">www.instagram.com/solidarity.zone</a>' in body


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("page", PAGES)
def test_every_page_links_its_twin_and_sets_lang(client, lang, page):
    res = client.get(page.format(lang=lang))
    assert res.status_int == 200
    p = parse(res.text)
    other = "de" if lang == "en" else "en"
    assert p.lang == lang
    assert p.alternates == [(other, page.format(lang=other))]
    assert ("a", "href", page.format(lang=other)) in p.urls


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("page", PAGES)
def test_no_script_no_outside_resources(client, lang, page):
    body = client.get(page.format(lang=lang)).text
    lower = body.lower()
    for bad in ("<script", "@font-face", "<svg", "<iframe", "<object", "<embed", "url("):
        assert bad not in lower
    assert not re.search(r"<[^>]+\son[a-z]+=", lower), "an event handler attribute"
    assert not re.search(r"=\s*[\"']?\s*javascript:", lower)
    for tag, attr, url in parse(body).urls:
        if attr in ("src", "srcset", "poster", "data"):
            raise AssertionError(f"{tag} loads {url}")
        if tag == "link":
            assert url == "data:," or url.startswith("/"), url
        else:
            assert ALLOWED_HREF.match(url), f"{tag} {attr}={url}"


def test_privacy_page_content(client):
    en = client.get("/en/privacy").text
    assert "No IP address" in en and "not your name" in en and "Tor Browser" in en
    de = client.get("/de/privacy").text
    assert "keine IP-Adressen" in de and "Verwendungszweck" in de


@pytest.mark.parametrize("header, where", [("de-DE,de;q=0.9", "/de/"), ("en-US,en;q=0.5", "/en/"), (None, "/en/")])
def test_root_redirects_by_hint(client, header, where):
    res = client.get("/", headers={"Accept-Language": header} if header else {})
    assert res.status_int == 303 and res.headers["Location"].endswith(where)


def test_language_path_without_slash(client):
    assert client.get("/de").headers["Location"].endswith("/de/")


@pytest.mark.parametrize(
    "path",
    [
        "/nope",
        "/en/nope",
        "/fr/",
        "/de/<script>alert(1)</script>",
        "/en/privacy/extra",
        "/%F0%9F%92%A3",
        "/en/..%2f..%2fetc/passwd",
    ],
)
def test_unknown_paths_reflect_nothing(client, path):
    res = client.get(path, status=404)
    assert "Page not found" in res.text or "Seite nicht gefunden" in res.text
    for piece in ("nope", "script", "alert", "privacy/extra", "passwd", "💣"):
        if piece in path:
            assert piece not in res.text.replace("/en/privacy", "").replace("/de/privacy", "")


def test_static_pages_are_rendered_once(client, monkeypatch):
    site = client.app.config["pledgebox.site"]
    client.get("/en/")
    calls = []
    original = site._render_static
    monkeypatch.setattr(site, "_render_static", lambda *a: calls.append(a) or original(*a))
    for _ in range(5):
        client.get("/en/")
        client.get("/en/", headers={"Accept-Encoding": "gzip"})
    assert calls == []


def wsgi_get(app, path, **headers):
    """Call the WSGI app directly (WebTest would undo the gzip encoding we want to see)."""
    from wsgiref.util import setup_testing_defaults

    env = {"PATH_INFO": path} | {"HTTP_" + k.upper(): v for k, v in headers.items()}
    setup_testing_defaults(env)
    seen = {}
    body = b"".join(app(env, lambda status, hdrs, exc=None: seen.update(status=status, headers=dict(hdrs))))
    return seen["status"], seen["headers"], body


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("page", PAGES)
def test_gzip_and_size(client, lang, page):
    status, headers, body = wsgi_get(client.app, page.format(lang=lang), accept_encoding="gzip, deflate")
    assert status == "200 OK" and headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in headers["Vary"]
    _, plain_headers, raw = wsgi_get(client.app, page.format(lang=lang))
    assert "Content-Encoding" not in plain_headers
    assert gzip.decompress(body) == raw
    assert len(body) <= 14 * 1024


def test_demo_campaign_is_marked(tmp_path):
    import webtest

    from pledgebox import config, web

    cfg = config.load(tmp_path / "empty")
    assert cfg.demo
    body = webtest.TestApp(web.build_app(cfg)).get("/en/").text
    assert "Demo:" in body and "Do not pay anything" in body
    assert "DEMO PLACEHOLDER" not in body and "PLATZHALTER" not in body  # payment details appear only on a receipt


@pytest.mark.parametrize("path", ["/en/", "/de/privacy", "/de/mirror"])
@pytest.mark.parametrize("encoding", ["gzip", ""])
def test_fast_path_answers_exactly_like_bottle(client, path, encoding):
    # The pre-rendered pages skip Bottle's routing; what the donor gets must not differ at all.
    from wsgiref.util import setup_testing_defaults

    app = client.app

    def call(handler):
        env = {"PATH_INFO": path, "HTTP_ACCEPT_ENCODING": encoding}
        setup_testing_defaults(env)
        seen = {}
        body = b"".join(handler(env, lambda status, hdrs, exc=None: seen.update(status=status, headers=hdrs)))
        return seen["status"], sorted(seen["headers"]), body

    assert call(app) == call(app.wsgi)
