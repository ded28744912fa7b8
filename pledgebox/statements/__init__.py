"""Bank statements as banks export them (CAMT.052/.053/.054 XML, MT940): the bookings review needs, nothing more.

Each reader keeps the amount, the remittance text, the day and the bank's references of a booking. It never
keeps the payer's name or account: review has no need of them, and they identify a donor.
"""

from __future__ import annotations

from pathlib import Path

# The readers (camt, mt940) import these from .base, so that none of them imports this package back.
from .base import (
    EXTRA_HINT,
    MAX_BYTES,
    Booking,
    ExtraMissing,
    Statement,
    StatementUnreadable,
    iso_day,
    kind,
    read_bytes,
    without_placeholders,
)

__all__ = ["EXTRA_HINT", "MAX_BYTES", "Booking", "ExtraMissing", "Statement", "StatementUnreadable", "iso_day", "kind",
           "read", "read_bytes", "without_placeholders"]


def read(path: Path, data: bytes) -> Statement:
    """The bookings of a CAMT or MT940 file whose bytes are data (kind(data) is 'xml' or 'mt940')."""
    if kind(data) == "xml":
        from . import camt

        return camt.read(path, data)
    from . import mt940

    return mt940.read(path, data)
