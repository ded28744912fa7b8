"""Both catalogs say the same things: the same keys, no empty value, the same placeholders."""

import re
import tomllib

import pytest

from pledgebox.i18n import CATALOG_DIR, LANGS, best_language, catalogs, flatten


def _flat(lang):
    with open(CATALOG_DIR / f"{lang}.toml", "rb") as fh:
        return flatten(tomllib.load(fh))


def test_same_keys_in_every_language():
    keys = {lang: set(_flat(lang)) for lang in LANGS}
    assert keys["en"] == keys["de"], keys["en"] ^ keys["de"]
    assert len(keys["en"]) > 100


@pytest.mark.parametrize("lang", LANGS)
def test_no_empty_value(lang):
    for key, value in _flat(lang).items():
        assert value, key
        if isinstance(value, list):
            assert all(item.strip() for item in value), key
        else:
            assert value.strip(), key


def test_same_placeholders():
    en, de = _flat("en"), _flat("de")
    for key, value in en.items():
        if isinstance(value, str):
            assert set(re.findall(r"\{[a-z_:-]+\}", value)) == set(re.findall(r"\{[a-z_:-]+\}", de[key])), key


def test_german_has_the_missing_sentence():
    # The source's German text lacks "The funds … will go to two groups."; we add it faithfully.
    assert catalogs()["de"]("appeal.p2") == "Die Gelder aus dieser Spendenkampagne gehen an zwei Gruppen."
    assert catalogs()["en"]("appeal.p2") == "The funds from this fundraising campaign will go to two groups."


@pytest.mark.parametrize(
    "header, lang",
    [
        ("de-DE,de;q=0.9,en;q=0.8", "de"),
        ("en-US,en;q=0.5", "en"),
        ("fr-FR", "en"),
        ("", "en"),
        ("en;q=0.2, de;q=0.8", "de"),
        ("de;q=bogus, en", "en"),
        ("x" * 5000, "en"),
    ],
)
def test_accept_language_is_only_a_hint(header, lang):
    assert best_language(header) == lang
