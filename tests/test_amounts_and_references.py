"""Amount parsing per language, and reference codes (Hypothesis where the input space is large)."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pledgebox import pledges
from pledgebox.i18n import catalogs


@pytest.mark.parametrize(
    "lang, text, value",
    [
        ("en", "25", "25"),
        ("en", "1,000.50", "1000.50"),
        ("en", "1000.5", "1000.5"),
        ("en", "€ 12", "12"),
        ("en", " 7 ", "7"),
        ("en", "1,234,567", "1234567"),
        ("en", "12 EUR", "12"),
        ("de", "25", "25"),
        ("de", "1.000,50", "1000.50"),
        ("de", "1000,5", "1000.5"),
        ("de", "25 €", "25"),
        ("de", "25,-", "25"),
        ("de", "1.234.567", "1234567"),
        ("de", "10\u00a0€", "10"),
    ],
)
def test_parses(lang, text, value):
    assert pledges.parse_amount(text, lang) == Decimal(value)


@pytest.mark.parametrize(
    "lang, text",
    [
        ("en", "1.000"),
        ("en", "1,00"),
        ("en", "1,0000"),
        ("en", "1.005"),
        ("en", ".5"),
        ("en", "1e3"),
        ("en", "1,000,00"),
        ("en", "--1"),
        ("en", "+1"),
        ("en", "Infinity"),
        ("en", "1 000 000x"),
        ("de", "1,000"),
        ("de", "1.5"),
        ("de", "1,005"),
        ("de", ",5"),
        ("de", "1.00,5"),
        ("de", "１２"),
    ],
)
def test_refuses_ambiguous_or_malformed(lang, text):
    assert pledges.parse_amount(text, lang) is None


@given(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999999"), places=2), st.sampled_from(["en", "de"]))
def test_what_we_format_we_parse_back(amount, lang):
    assert pledges.parse_amount(catalogs()[lang].money(amount), lang) == amount


@given(st.text(max_size=40), st.sampled_from(["en", "de"]))
@settings(max_examples=500)
def test_never_raises(text, lang):
    value = pledges.parse_amount(text, lang)
    assert value is None or (value.is_finite() and value >= 0 and value.as_tuple().exponent >= -2)


@given(st.binary(min_size=1, max_size=32))
def test_reference_shape(seed):
    ref = pledges.make_reference(seed)
    assert len(ref) <= 12 and len(ref.replace("-", "")) == 10
    assert set(ref.replace("-", "")) <= set(pledges.ALPHABET)
    assert not set(ref) & set("ILOU")
    assert pledges.normalize_reference(ref) == ref
    assert pledges.normalize_reference(ref.lower()) == ref
    assert pledges.normalize_reference(ref.replace("-", "")) == ref
    assert pledges.normalize_reference(" ".join(ref.replace("-", ""))) == ref


@given(st.binary(min_size=1, max_size=32), st.integers(0, 9), st.integers(1, 31))
def test_check_character_catches_any_single_typo(seed, position, shift):
    code = pledges.make_reference(seed).replace("-", "")
    wrong = pledges.ALPHABET[(pledges.ALPHABET.index(code[position]) + shift) % 32]
    assert pledges.normalize_reference(code[:position] + wrong + code[position + 1 :]) is None


def test_read_aloud_confusions_are_forgiven():
    ref = pledges.make_reference(b"seed")
    confused = ref.replace("0", "O").replace("1", "l")
    assert pledges.normalize_reference(confused) == ref


def test_references_rarely_collide():
    refs = {pledges.make_reference(i.to_bytes(4, "big")) for i in range(20000)}
    assert len(refs) == 20000
