"""Translations and per-language formats of money and dates.

Locale precedence: the language is the first path segment (/en/, /de/) and
nothing else. Accept-Language is only a hint for the redirect from `/`, because
Tor Browser spoofs it to en-US for everyone; no cookie ever remembers a choice.
"""

from __future__ import annotations

import datetime
import re
import tomllib
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cache

from . import ROOT

LANGS = ("en", "de")
DEFAULT_LANG = "en"
CATALOG_DIR = ROOT / "i18n"
NBSP = "\u00a0"
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def flatten(doc: dict, prefix: str = "") -> dict:
    """Turn nested TOML tables into dotted keys: {"form": {"amount": …}} → {"form.amount": …}."""
    out = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


@dataclass(frozen=True)
class Catalog:
    """One language's strings and formats; calling it translates a key."""

    lang: str
    strings: dict

    def __call__(self, key: str, **values) -> str:
        """The translated text for key, with {placeholders} filled in."""
        text = self.strings[key]
        if values:
            text = _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), m.group(0))), text)
        return text

    def numbered(self, stem: str) -> list[str]:
        """The keys stem_1, stem_2, … that the catalog has, in order (a page's list of sentences)."""
        keys = []
        while f"{stem}_{len(keys) + 1}" in self.strings:
            keys.append(f"{stem}_{len(keys) + 1}")
        return keys

    @property
    def other(self) -> str:
        """The twin language of this page."""
        return "de" if self.lang == "en" else "en"

    def number(self, amount: Decimal) -> str:
        """1,000.5 → '1,000.50' (en) or '1.000,50' (de); whole amounts without decimals."""
        amount = Decimal(amount).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        text = f"{amount:,.0f}" if amount == amount.to_integral_value() else f"{amount:,.2f}"
        if self.lang == "de":
            text = text.translate(str.maketrans(",.", ".,"))
        return text

    def money(self, amount: Decimal, currency: str = "EUR") -> str:
        """€2,500 (en) or 2.500 € (de), with a no-break space where one belongs."""
        symbol = "€" if currency == "EUR" else currency
        if self.lang == "de":
            return f"{self.number(amount)}{NBSP}{symbol}"
        return f"{symbol}{self.number(amount)}"

    def date(self, day: datetime.date) -> str:
        """25 November 2026 (en) or 25. November 2026 (de)."""
        month = self.strings["meta.month_names"][day.month - 1]
        dot = "." if self.lang == "de" else ""
        return f"{day.day}{dot} {month} {day.year}"

    def plural(self, stem: str, n: int, **values) -> str:
        """Choose `stem_one` or `stem_other`: English and German share these two forms."""
        return self(f"{stem}_one" if n == 1 else f"{stem}_other", n=n, **values)


@cache
def catalogs() -> dict[str, Catalog]:
    """Every language's catalog, read once from i18n/*.toml."""
    out = {}
    for lang in LANGS:
        with open(CATALOG_DIR / f"{lang}.toml", "rb") as fh:
            out[lang] = Catalog(lang, flatten(tomllib.load(fh)))
    return out


def best_language(accept_language: str) -> str:
    """Pick /en/ or /de/ from an Accept-Language header; only a hint, never trusted further."""
    best, best_q = DEFAULT_LANG, -1.0
    for part in (accept_language or "")[:200].split(","):
        tag, _, params = part.strip().partition(";")
        lang = tag.strip().lower().split("-")[0]
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if lang in LANGS and q > best_q:
            best, best_q = lang, q
    return best
