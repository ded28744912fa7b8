"""The privacy pages say exactly what holds: every sentence names the tests that prove it, and they exist."""

from __future__ import annotations

import html
import json
import re

import pytest

from helpers import pledge_through
from pledgebox import ROOT
from pledgebox.i18n import LANGS, catalogs
from pledgebox.store import PENDING, read_records

THREATS = ("seized", "running", "network", "mirror", "bank")
# Not sentences: the title, headings and the "What you can do:" label.
UNCLAIMED = re.compile(r"title|you|\w+_heading")
_LINE = re.compile(r'^(\w+) = "(?:[^"\\]|\\.)*"\s*(?:#\s*proof:\s*(.*))?$')


def privacy_lines(lang: str) -> dict[str, list[str]]:
    """Each key of the catalog's [privacy] table -> the tests its comment names."""
    found, inside = {}, False
    for line in (ROOT / "i18n" / f"{lang}.toml").read_text(encoding="utf-8").splitlines():
        if line.startswith("["):
            inside = line == "[privacy]"
        elif inside and line and not line.startswith("#"):
            match = _LINE.match(line)
            assert match, f"{lang}: a [privacy] line this test cannot read: {line[:60]!r}"
            found[match[1]] = [p.strip() for p in (match[2] or "").split(",") if p.strip()]
    return found


def test_every_privacy_sentence_names_tests_that_exist():
    proofs = {lang: privacy_lines(lang) for lang in LANGS}
    assert set(proofs["en"]) == {
        key.removeprefix("privacy.") for key in catalogs()["en"].strings if key.startswith("privacy.")
    }
    for key, named in proofs["en"].items():
        assert proofs["de"][key] == named, f"privacy.{key}: German and English name other tests"
        if UNCLAIMED.fullmatch(key):
            continue
        assert named, f"privacy.{key} names no test that proves it"
        for proof in named:
            path, _, name = proof.partition("::")
            source = ROOT / path
            assert source.is_file(), f"privacy.{key}: {path} does not exist"
            assert re.search(rf"^def {re.escape(name)}\(", source.read_text(encoding="utf-8"), re.M), (
                f"privacy.{key}: {path} has no test {name}"
            )


@pytest.mark.parametrize("lang", LANGS)
def test_the_page_has_a_section_for_every_threat(client, lang):
    t = catalogs()[lang]
    page = html.unescape(client.get(f"/{lang}/privacy").text)
    for threat in THREATS:
        assert t(f"privacy.{threat}_heading") in page
        assert t.numbered(f"privacy.{threat}"), f"no sentence about {threat}"
    shown = [key for key in t.strings if key.startswith("privacy.") and key != "privacy.title"]
    for key in shown:  # every sentence is on the page: none waits in the catalog unseen
        assert t(key) in page, key
    # The promise no design can keep is gone: a server taken over while it runs can read new pledges.
    assert "hacked" not in page and "gehackt" not in page


def test_a_pledge_needs_only_an_amount_and_keeps_nothing_else(client, clock, cfg, identity):
    receipt = pledge_through(client, clock, amount="5", designation="split", method="cash")
    assert receipt.status_int == 200
    [record] = list(read_records(cfg.state_dir / PENDING))
    doc = json.loads(identity.open(record.record))
    assert doc["pseudonym"] == doc["contact"] == doc["message"] == ""
    assert set(doc) == {
        "reference",
        "amount",
        "currency",
        "designation",
        "method",
        "pseudonym",
        "contact",
        "message",
        "language",
        "day",
    }
    assert doc["amount"] == "5.00" and len(doc["day"]) == len("2026-11-25")
