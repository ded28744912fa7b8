"""The EPC QR code (GiroCode, EPC069-12) for a SEPA transfer, as a PNG data: URI."""

from __future__ import annotations

from decimal import Decimal

import segno.helpers

SCALE, BORDER = 4, 4


def girocode(beneficiary: str, iban: str, amount: Decimal, text: str, bic: str = ""):
    """The EPC QR code, made by segno (level M, at most version 13, as EPC069-12 requires)."""
    return segno.helpers.make_epc_qr(name=beneficiary[:70], iban=iban, amount=amount,
                                     text=text[:140], bic=bic or None, encoding="UTF-8")


def data_uri(beneficiary: str, iban: str, amount: Decimal, text: str, bic: str = "") -> tuple[str, int]:
    """(PNG data: URI, width in pixels) of the GiroCode: no second request, and no SVG."""
    qr = girocode(beneficiary, iban, amount, text, bic)
    return qr.png_data_uri(scale=SCALE, border=BORDER), qr.symbol_size(scale=SCALE, border=BORDER)[0]
