"""The plaintext that is sealed: its fields, their limits, its one encoding, and the one size it is padded to.

Below both pledges (which fills it in) and sealing (which pads it), so neither imports the other for it.
"""

from __future__ import annotations

import json
from datetime import date

# The form's free fields and the most characters each may hold (a CRLF counts as one, as browsers count).
FIELDS = ("amount", "designation", "method", "pseudonym", "contact", "message")
MAX_LENGTH = {"amount": 24, "designation": 40, "method": 40, "pseudonym": 80, "contact": 200, "message": 2000}
# What is sealed, in this order.
SEALED_FIELDS = (
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
)
REFERENCE_LENGTH = 11  # "K7M2Q-9XH4V": nine characters, a check character and a dash
CURRENCY_LENGTH = 3  # an ISO 4217 code; the config accepts only EUR
LANGUAGE_LENGTH = 2  # "en", "de"


def encode(doc: dict) -> bytes:
    """The one encoding of the sealed document: compact JSON, UTF-8, non-ASCII as it is."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def largest() -> int:
    """Bytes in the plaintext of the largest valid pledge.

    Every free field at its limit in characters that take 4 bytes in this encoding: a 4-byte UTF-8
    character, or a CRLF (one character to the limit, written as the 4 bytes `\\r\\n`); nothing else
    takes more (other control characters are refused, a quote or backslash takes 2). The amount at its
    longest: the longest typed amount, all digits, plus ".00".
    """
    widest = "\U0001f600"
    doc = {
        "reference": "X" * REFERENCE_LENGTH,
        "amount": "9" * MAX_LENGTH["amount"] + ".00",
        "currency": "X" * CURRENCY_LENGTH,
        **{name: widest * MAX_LENGTH[name] for name in FIELDS if name != "amount"},
        "language": "x" * LANGUAGE_LENGTH,
        "day": date.max.isoformat(),
    }
    return len(encode({name: doc[name] for name in SEALED_FIELDS}))


# Every plaintext is padded to this one size, which holds the largest valid pledge and its 0x80 padding
# mark, so no record's length tells anything about the donor's message.
PADDED_SIZE = largest() + 1
