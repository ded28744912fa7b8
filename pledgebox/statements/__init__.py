"""Bank statements as banks export them (CAMT.052/.053/.054 XML, MT940, CSV): the bookings review needs, no more.

Each reader keeps the amount, the remittance text, the day and the bank's references of a booking. It never
keeps the payer's name or account: review has no need of them, and they identify a donor.
"""

from __future__ import annotations

from pathlib import Path

# The readers (camt, mt940, bankcsv) import these from .base, so that none of them imports this package back.
from .base import (
    EXTRA_HINT,
    MAX_BYTES,
    Booking,
    ExtraMissing,
    Statement,
    StatementUnreadable,
    decode,
    iso_day,
    kind,
    read_bytes,
    without_placeholders,
)

__all__ = [
    "EXTRA_HINT",
    "MAX_BYTES",
    "Booking",
    "ExtraMissing",
    "Statement",
    "StatementUnreadable",
    "decode",
    "iso_day",
    "kind",
    "read",
    "read_bytes",
    "without_placeholders",
]


def read(path: Path) -> Statement:
    """The bookings of a bank statement file: CAMT XML, MT940 or CSV, recognised by content."""
    data = read_bytes(path)
    found = kind(data)
    if found == "xml":
        from . import camt

        return camt.read(path, data)
    if found == "mt940":
        from . import mt940

        return mt940.read(path, data)
    from . import bankcsv

    return bankcsv.read(path, data)
