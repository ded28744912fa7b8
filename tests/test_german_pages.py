"""Every page a German-speaking visitor can reach is German: no English catalog text on any of them."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
import webtest

from helpers import campaign_toml
from pledgebox import config, web
from pledgebox.i18n import catalogs

GOOD = {"amount": "25", "designation": "split", "method": "sepa"}
# Words the two languages share, or that are names: never evidence of an untranslated string.
SHARED = {"tor", "browser", "monero", "iban", "bic", "girocode", "javascript", "cookies", "onion"}


class Visible(HTMLParser):
    """The text a reader sees or a screen reader says: text nodes and the attributes shown as text."""

    def __init__(self):
        super().__init__()
        self.parts, self._skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "script"):
            self._skip += 1
        a = dict(attrs)
        for name in ("title", "alt", "aria-label", "placeholder"):
            if a.get(name):
                self.parts.append(a[name])
        if tag in ("input", "button") and a.get("type") in ("submit", "button") and a.get("value"):
            self.parts.append(a["value"])

    def handle_endtag(self, tag):
        if tag in ("style", "script"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.parts.append(data.strip())


def visible_text(html: str) -> str:
    parser = Visible()
    parser.feed(html)
    return "\n".join(parser.parts)


def words(text: str) -> set[str]:
    text = re.sub(r"\{[a-z_:-]+\}", " ", text)
    return {w.lower() for w in re.findall(r"[^\W\d_]{4,}", text)} - SHARED


def catalog_texts(lang: str) -> list[str]:
    out = []
    for value in catalogs()[lang].strings.values():
        out.extend(value if isinstance(value, list) else [value])
    return [v for v in out if isinstance(v, str)]


def english_only() -> tuple[set[str], list[str]]:
    """Words found only in the English catalog, and English sentences that differ from every German one."""
    de_texts = catalog_texts("de")
    de_words = set().union(*(words(t) for t in de_texts))
    en_texts = [t for t in catalog_texts("en") if t not in de_texts]
    return set().union(*(words(t) for t in en_texts)) - de_words, [t for t in en_texts if len(t) >= 12]


def german_pages(client, clock, methods) -> dict[str, str]:
    """Every page a visitor to /de/ can be shown, by the way they reach it."""
    pages = {path: client.get(path).text for path in ("/de/", "/de/privacy", "/de/mirror")}
    pages["404"] = client.get("/de/nirgends", status=404).text
    pages["405"] = client.put("/de/", status=405).text
    pages["413"] = client.post("/de/pledge", {"message": "x" * 70000}, status=413).text
    pages["form errors"] = client.post("/de/pledge", {"amount": "viel"}, status=400).text
    pages["honeypot"] = client.post("/de/pledge", GOOD | {"website": "x"}, status=400).text
    pages["edit"] = client.post("/de/pledge", GOOD | {"edit": "1"}).text
    for method in methods:
        check = client.post("/de/pledge", GOOD | {"method": method})
        pages[f"check {method}"] = check.text
        pages[f"too fast {method}"] = check.forms[0].submit(status=400).text
        clock.advance(5)
        pages[f"receipt {method}"] = check.forms[0].submit().text
    forged = client.post("/de/pledge", GOOD).forms[0]
    forged["token"] = "x" + forged["token"].value[1:]
    pages["bad token"] = forged.submit(status=400).text
    return pages


def config_words(cfg) -> set[str]:
    """Words the organisers wrote into campaign.toml (names, addresses): theirs, not the app's."""
    texts = [o.name for o in cfg.organisers] + [g.name for g in cfg.groups]
    texts += [value for m in cfg.methods for value in (m.label, m.beneficiary, m.address)]
    return set().union(*(words(t) for t in texts))


def assert_german(pages: dict[str, str], allowed: set[str] = frozenset()) -> None:
    only_en, sentences = english_only()
    only_en -= allowed
    for name, html in pages.items():
        text = visible_text(html)
        assert '<html lang="de">' in html, name
        found = sorted(words(text) & only_en)
        assert not found, f"English words on the German page {name!r}: {found}\n{text}"
        leaked = [s for s in sentences if s in text]
        assert not leaked, f"English catalog text on the German page {name!r}: {leaked}"


def test_every_page_of_a_campaign_is_german(client, clock, cfg):
    assert_german(german_pages(client, clock, ("sepa", "cash", "xmr")), config_words(cfg))


def test_every_page_of_the_demo_is_german(tmp_path, clock):
    cfg = config.load(tmp_path)  # no campaign.toml: the demo
    assert cfg.demo
    client = webtest.TestApp(web.build_app(cfg, clock=clock))
    pages = german_pages(client, clock, [m.id for m in cfg.methods])
    assert "Demo-Organisator*in (öffentlicher Demo-Schlüssel)" in pages["/de/"]
    assert "DEMO-PLATZHALTER – NICHTS ZAHLEN" in pages["receipt sepa"] + pages["receipt cash"]
    # The demo's settings are the project's own text, so only the groups' names are exempt.
    assert_german(pages, set().union(*(words(g.name) for g in cfg.groups)))


@pytest.mark.parametrize(
    "limits, status, name", [("confirms_per_minute = 1\n", 429, "busy"), ("max_pending = 1\n", 503, "full")]
)
def test_refusals_under_load_are_german(tmp_path, identity, clock, limits, status, name):
    (tmp_path / "campaign.toml").write_text(campaign_toml([identity]) + "\n[limits]\n" + limits, encoding="utf-8")
    client = webtest.TestApp(web.build_app(config.load(tmp_path), clock=clock))
    for expected in (200, status):
        check = client.post("/de/pledge", GOOD)
        clock.advance(5)
        page = check.forms[0].submit(status=expected).text
    assert_german({name: page}, config_words(config.load(tmp_path)))


def test_the_check_catches_an_english_string(client):
    # The check itself must fail on the footer text this test was written for.
    only_en, _ = english_only()
    assert words("Demo organiser (public demo key)") & only_en
