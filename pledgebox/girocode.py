"""The EPC QR code (GiroCode, EPC069-12 version 002) for a SEPA transfer, as a PNG data: URI."""

from __future__ import annotations

from decimal import Decimal

import segno

BORDER = 4  # the quiet zone the QR standard asks for
SHOWN_SCALE = 4  # CSS pixels per module on the receipt
# Any of the eight masks decodes; searching for the "best" one costs most of the time here.
MASK = 3


def payload(beneficiary: str, iban: str, amount: Decimal, text: str, bic: str = "") -> str:
    """The EPC069-12 text: service tag, version 002, UTF-8, SEPA credit transfer, then the fields."""
    return "\n".join(["BCD", "002", "1", "SCT", bic, beneficiary[:70], iban, f"EUR{amount:.2f}", "", "", text[:140]])


def girocode(beneficiary: str, iban: str, amount: Decimal, text: str, bic: str = ""):
    """The QR symbol: error correction M and at most version 13, as EPC069-12 requires."""
    qr = segno.make_qr(
        payload(beneficiary, iban, amount, text, bic), error="m", boost_error=False, mask=MASK, encoding="utf-8"
    )
    if qr.version > 13:
        raise ValueError("the GiroCode payload is too long for version 13")
    return qr


def data_uri(beneficiary: str, iban: str, amount: Decimal, text: str, bic: str = "") -> tuple[str, int]:
    """(PNG data: URI, width in CSS pixels): two pixels per module (small, and still decodable as
    it is), scaled up sharply by the style's image-rendering: pixelated."""
    qr = girocode(beneficiary, iban, amount, text, bic)
    return qr.png_data_uri(scale=2, border=BORDER), qr.symbol_size(scale=SHOWN_SCALE, border=BORDER)[0]
