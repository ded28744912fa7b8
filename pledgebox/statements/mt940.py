"""SWIFT MT940 statements, read by the `mt-940` library: booked credits and reversed credits.

German banks put the remittance text in the `:86:` subfields ?20–?29 (with SEPA keywords such as SVWZ+ and
EREF+) and the payer's name and account in ?30–?33: review keeps the text and drops the rest.
"""

from __future__ import annotations

import logging
import re
from decimal import Decimal
from pathlib import Path

from .base import Booking, ExtraMissing, Statement, StatementUnreadable, decode, without_placeholders

_HINT = "export the statement again from the bank (MT940, or CAMT.053 if the bank offers it)"
# SWIFT's structured :86: (Dutch banks, /ORDP/ …) is /KEY/value pairs: /NAME/, /IBAN/, /ADDR/ and the like
# name and locate the payer, so only the remittance keys are kept.
_SWIFT_KEY = re.compile(
    r"/(TRTP|IBAN|BIC|NAME|REMI|EREF|ORDP|BENM|ADDR|CSID|MARF|PURP|CNTP|RTRN|ULTC|ULTD|ID|"
    r"CDTRREFTP|CDTRREF|ISDT|PREF|EXCH|CHGS|SVCL|MREF|OCMT)/"
)
_REMITTANCE = {"REMI", "EREF", "CDTRREF"}


def _library():
    """The mt-940 library, its logging silenced: it logs the text of lines it cannot parse (names, accounts)."""
    try:
        import mt940
    except ImportError:
        raise ExtraMissing("mt-940 (for MT940 statements)") from None
    logger = logging.getLogger("mt940")
    logger.setLevel(logging.CRITICAL + 1)
    logger.propagate = False
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    return mt940


def read(path: Path, data: bytes) -> Statement:
    """The booked credits (and reversed credits) of an MT940 file whose bytes are data."""
    mt940 = _library()
    try:
        statements = mt940.parse_statements(decode(data).replace("\r\n", "\n"), options=mt940.Options.all())
    except Exception as exc:  # the library raises RuntimeError, ValueError, KeyError … on a damaged file
        raise StatementUnreadable(f"{path}: a line is not valid MT940 ({type(exc).__name__})", hint=_HINT) from None
    currency = next((c for s in statements if (c := _currency(s))), "")
    result = Statement(kind="MT940", currency=currency)
    number = 0
    for transactions in statements:
        for transaction in transactions:
            number += 1
            _booking(result, transaction.data, f"booking {number}")
    if not number and not any(s.data for s in statements):
        raise StatementUnreadable(f"{path} holds no MT940 statement", hint=_HINT)
    return result


def _currency(transactions) -> str:
    """The statement's currency, from its opening balance."""
    for name in ("final_opening_balance", "intermediate_opening_balance", "opening_balance"):
        balance = transactions.data.get(name)
        currency = getattr(getattr(balance, "amount", None), "currency", None)
        if currency:
            return str(currency)
    return ""


def _booking(result: Statement, data: dict, where: str) -> None:
    """Add one :61: line (with its :86:) to result, or count it as outgoing or unreadable."""
    status = str(data.get("status") or "")
    if status not in ("C", "RD", "D", "RC"):
        result.unreadable.append(where)
        return
    if status in ("D", "RD"):  # a debit, or a reversed debit (our own money coming back): not a donation
        result.outgoing += 1
        return
    amount = getattr(data.get("amount"), "amount", None)
    currency = getattr(data.get("amount"), "currency", None) or result.currency
    if not isinstance(amount, Decimal) or not amount.is_finite() or (result.currency and currency != result.currency):
        result.unreadable.append(where)
        return
    result.currency = result.currency or currency
    # Options.reversal_sign makes an RC (a credit taken back) negative already.
    amount = -abs(amount) if status == "RC" else abs(amount)
    end_to_end = data.get("end_to_end_reference") or ""
    parts = [data.get("purpose"), data.get("additional_purpose"), *without_placeholders([end_to_end])]
    if not data.get("purpose") and isinstance(data.get("transaction_details"), str):
        parts.append(data["transaction_details"])  # an :86: without ?-subfields is all remittance text
    parts = [_remittance(str(p)) for p in parts if p]
    day = data.get("entry_date") or data.get("date")
    ids = without_placeholders([data.get("bank_reference"), end_to_end])
    result.bookings.append(
        Booking(
            where,
            amount,
            " ".join(p.strip() for p in parts if p.strip()),
            day.isoformat() if hasattr(day, "isoformat") else "",
            ids,
        )
    )


def _remittance(text: str) -> str:
    """The remittance text of an :86: field: in SWIFT's /KEY/value layout only /REMI/ and /EREF/, else all of it."""
    flat = text.replace("\n", "")  # the field's 65-character lines may break inside a key
    if not _SWIFT_KEY.match(flat):
        return text
    parts = _SWIFT_KEY.split(flat)  # "", key, value, key, value, …
    return " ".join(
        value.strip("/ ") for key, value in zip(parts[1::2], parts[2::2], strict=True) if key in _REMITTANCE
    )
