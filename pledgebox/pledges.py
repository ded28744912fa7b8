"""Pledges: reading the form, validating it per language, reference codes and one-time tokens."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import struct
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from . import files
from .plaintext import FIELDS, MAX_LENGTH, SEALED_FIELDS, encode
from .sealing import b64url_decode, b64url_encode

HONEYPOT = "website"
FORM_NAMES = (*FIELDS, HONEYPOT, "token", "edit")  # "edit": the check page's "change something" button
# The largest honest form: every field at its limit in 3-byte characters (CJK), each byte sent as
# %XX, plus the token (≈ 28 KB); waitress refuses anything over 64 KB before reading it.
MAX_BODY = 32 * 1024
SPLIT = "split"

# Digits only in ASCII: \d would accept Arabic-Indic and other digits.
_AMOUNT = {
    "en": re.compile(r"^(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]{1,2})?$"),
    "de": re.compile(r"^(?:[0-9]{1,3}(?:\.[0-9]{3})+|[0-9]+)(?:,[0-9]{1,2})?$"),
}
_CURRENCY = re.compile(r"^(?:€|EUR)|(?:€|EUR|,-|,–)$", re.IGNORECASE)
_SPACES = re.compile(r"[\s\u00a0\u202f\u2009]+")


@dataclass(frozen=True)
class Pledge:
    """A validated pledge, as it will be sealed."""

    amount: Decimal
    designation: str
    method: str
    pseudonym: str
    contact: str
    message: str
    language: str

    def canonical(self) -> bytes:
        """A stable byte form of the pledge, for binding a token to exactly these values."""
        doc = asdict(self) | {"amount": f"{self.amount:.2f}"}
        return json.dumps(doc, ensure_ascii=False, sort_keys=True).encode()

    def plaintext(self, reference: str, currency: str, day: date) -> bytes:
        """The small JSON document that is sealed: nothing about the donor's connection."""
        doc = {
            "reference": reference,
            "amount": f"{self.amount:.2f}",
            "currency": currency,
            "designation": self.designation,
            "method": self.method,
            "pseudonym": self.pseudonym,
            "contact": self.contact,
            "message": self.message,
            "language": self.language,
            "day": day.isoformat(),
        }
        return encode(doc)


def read_form(forms) -> dict[str, str]:
    """Every field of a Bottle FormsDict as the donor typed it: the first value, decoded as UTF-8."""
    values = {}
    for name in FORM_NAMES:
        raw = forms.getall(name)
        text = raw[0] if raw else ""
        # Bottle keeps form values as latin-1 decoded text; recover the UTF-8 bytes the browser sent.
        try:
            text = text.encode("latin-1").decode("utf-8")
        except UnicodeEncodeError:
            pass  # already real text (e.g. from a test client)
        except UnicodeDecodeError:
            text = text.encode("latin-1").decode("utf-8", "replace")
        values[name] = text
    return values


def parse_amount(text: str, lang: str) -> Decimal | None:
    """Parse '1.000,50' (de) or '1,000.50' (en); None when the text is ambiguous or malformed."""
    text = _SPACES.sub("", text.strip())
    text = _CURRENCY.sub("", text)
    text = _SPACES.sub("", text)
    if not _AMOUNT[lang].match(text):
        return None
    group, decimal = (",", ".") if lang == "en" else (".", ",")
    return Decimal(text.replace(group, "").replace(decimal, "."))


# Category Cc (C0, DEL, C1) but tab and line breaks, Cs (lone surrogates), and U+FFFD.
_BAD_CHARACTER = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffd]")


def _bad_characters(text: str) -> bool:
    """Control characters other than tab and newlines, or a replacement for undecodable bytes."""
    return _BAD_CHARACTER.search(text) is not None


def printable(values: dict[str, str]) -> dict[str, str]:
    """The values for refilling a form: control characters (never typed by a person) shown as U+FFFD."""
    return {name: "".join("\ufffd" if _bad_characters(ch) else ch for ch in text) for name, text in values.items()}


def validate(values: dict[str, str], lang: str, config, t) -> tuple[Pledge | None, dict[str, str]]:
    """Check the form; return the pledge, or the translated error for each field that is wrong."""
    errors: dict[str, str] = {}
    for name in FIELDS:
        # Browsers count a line break as one character for maxlength, but send it as CRLF.
        if len(values.get(name, "").replace("\r\n", "\n")) > MAX_LENGTH[name]:
            errors[name] = t("errors.too_long", max=MAX_LENGTH[name])
        elif _bad_characters(values.get(name, "")):
            errors[name] = t("errors.bad_characters")
    limits = config.limits
    amount = None
    if "amount" not in errors:
        if not values.get("amount", "").strip():
            errors["amount"] = t("errors.amount_required")
        elif (amount := parse_amount(values["amount"], lang)) is None:
            errors["amount"] = t("errors.amount_format")
        elif amount < limits.min_amount:
            errors["amount"] = t("errors.amount_too_small", min=t.money(limits.min_amount))
        elif amount > limits.max_amount:
            errors["amount"] = t("errors.amount_too_large", max=t.money(limits.max_amount))
    designation = values.get("designation", "")
    if "designation" not in errors and designation != SPLIT and not config.group(designation):
        errors["designation"] = t("errors.designation_invalid")
    if "method" not in errors and not config.method(values.get("method", "")):
        errors["method"] = t("errors.method_invalid")
    if errors:
        return None, errors
    return Pledge(
        amount=amount,
        designation=designation,
        method=values["method"],
        pseudonym=values.get("pseudonym", ""),
        contact=values.get("contact", ""),
        message=values.get("message", ""),
        language=lang,
    ), {}


# Reference codes: Crockford's base32 (no I, L, O, U), read aloud without doubt, with a
# Luhn mod 32 check character that catches every single wrong character and most swaps.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})
REFERENCE_DATA = 9


def luhn_check(code: str) -> str:
    """The Luhn mod N check character for code over ALPHABET."""
    n, total, factor = len(ALPHABET), 0, 2
    for ch in reversed(code):
        addend = factor * ALPHABET.index(ch)
        total += addend // n + addend % n
        factor = 1 if factor == 2 else 2
    return ALPHABET[(n - total % n) % n]


def make_reference(seed: bytes) -> str:
    """A reference like 'K7M2Q-9XH4V' (9 characters from seed, then the check character)."""
    value = int.from_bytes(hashlib.sha256(seed).digest()[:8], "big")
    chars = "".join(ALPHABET[(value >> (5 * i)) & 31] for i in range(REFERENCE_DATA))
    code = chars + luhn_check(chars)
    return f"{code[:5]}-{code[5:]}"


def normalize_reference(text: str) -> str | None:
    """Read a reference back in any case, with or without separators; None if its check fails."""
    code = re.sub(r"[\s\-_.]", "", str(text)).upper().translate(_READ_AS)
    if len(code) != REFERENCE_DATA + 1 or any(ch not in ALPHABET for ch in code):
        return None
    if luhn_check(code[:-1]) != code[-1]:
        return None
    return f"{code[:5]}-{code[5:]}"


# What Pledge.plaintext writes, field by field: a decrypted document is checked against it before review
# trusts a word of it (anyone with the public keys can seal a document of their own).
_SEALED_AMOUNT = re.compile(r"[0-9]{1,9}\.[0-9]{2}")  # two decimals always; review adds amounts up to 10**9
_CURRENCY_CODE = re.compile(r"[A-Z]{3}")
_CHOICE_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")  # a group's or payment method's id, as config allows them


def sealed_problem(doc: object) -> str | None:
    """Why a decrypted document is not one that Pledge.plaintext could have written; None if it could be."""
    if not isinstance(doc, dict) or set(doc) != set(SEALED_FIELDS):
        return "its contents are not a pledge's fields"
    for name in SEALED_FIELDS:
        if type(doc[name]) is not str:
            return f"its {name} is not text"
    if normalize_reference(doc["reference"]) != doc["reference"]:
        return "its reference is not a valid reference code"
    if not _SEALED_AMOUNT.fullmatch(doc["amount"]):
        return "its amount is not an amount"
    if not _CURRENCY_CODE.fullmatch(doc["currency"]):
        return "its currency is not a currency code"
    if doc["language"] not in _AMOUNT:
        return "its language is not one of the site's"
    if not _is_day(doc["day"]):
        return "its day is not a date"
    if not (doc["designation"] == SPLIT or _CHOICE_ID.fullmatch(doc["designation"])):
        return "its designation is not a group's id"
    if not _CHOICE_ID.fullmatch(doc["method"]):
        return "its method is not a payment method's id"
    for name in ("pseudonym", "contact", "message"):
        if len(doc[name].replace("\r\n", "\n")) > MAX_LENGTH[name] or _bad_characters(doc[name]):
            return f"its {name} is not what the form accepts"
    return None


def _is_day(text: str) -> bool:
    """True for a day as date.isoformat writes it."""
    try:
        return date.fromisoformat(text).isoformat() == text
    except ValueError:
        return False


class TokenProblem(Exception):
    """Why a confirm token was refused: 'expired', 'invalid' or 'too_fast'."""


@dataclass(frozen=True)
class Tokens:
    """One-time, HMAC-signed confirm tokens bound to a pledge's exact values."""

    secret: bytes
    min_age: int
    max_age: int

    def issue(self, pledge: Pledge, now: float) -> str:
        """A token for this pledge, issued at `now` (seconds)."""
        head = struct.pack(">BQ", 1, int(now)) + secrets.token_bytes(16)
        return b64url_encode(head + self._mac(head, pledge))

    def check(self, token: str, pledge: Pledge, now: float) -> tuple[bytes, int]:
        """(nonce, issued at) if the token is genuine, fresh and for this pledge; else TokenProblem."""
        try:
            raw = b64url_decode(token)
        except ValueError:
            raise TokenProblem("invalid") from None
        if len(raw) != 41 or raw[0] != 1:
            raise TokenProblem("invalid")
        head, mac = raw[:25], raw[25:]
        if not hmac.compare_digest(mac, self._mac(head, pledge)):
            raise TokenProblem("invalid")
        issued = struct.unpack(">Q", head[1:9])[0]
        age = now - issued
        if age > self.max_age or age < -60:
            raise TokenProblem("expired")
        if age < self.min_age:
            raise TokenProblem("too_fast")
        return head[9:], issued

    def reference(self, nonce: bytes) -> str:
        """The pledge's reference: the same token always gives the same reference."""
        return make_reference(hmac.digest(self.secret, b"reference" + nonce, "sha256"))

    def record_id(self, nonce: bytes) -> str:
        """An opaque id that lets the store refuse the same token twice; it reveals nothing."""
        return b64url_encode(hmac.digest(self.secret, b"record" + nonce, "sha256")[:16])

    def _mac(self, head: bytes, pledge: Pledge) -> bytes:
        return hmac.digest(self.secret, b"pledgebox-token-v1" + head + pledge.canonical(), "sha256")[:16]


def load_secret(path) -> bytes:
    """The token secret: made once per data folder (0600), shared by every process that uses it."""
    path = Path(path)
    try:
        secret = path.read_bytes()
        if len(secret) == 32:
            return secret
        raise ValueError(f"{path} is not a 32-byte secret")
    except FileNotFoundError:
        pass
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        files.write_new(path, secrets.token_bytes(32))
    except FileExistsError:
        pass  # another process made it first: every process must use the same secret
    return path.read_bytes()
