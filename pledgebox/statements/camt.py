"""ISO 20022 CAMT.052/.053/.054 statements (versions .001.02 to .001.13): booked credits and reversed credits."""

from __future__ import annotations

import io
import re
from decimal import Decimal
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

from .base import Booking, ExtraMissing, Statement, StatementUnreadable, iso_day, without_placeholders

_NAMESPACE = re.compile(r"urn:iso:std:iso:20022:tech:xsd:camt\.(05[234])\.001\.([0-9]{2})")
VERSIONS = range(2, 14)  # .001.02 … .001.13: the entry elements review reads are the same in all of them
_AMOUNT = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,5})?")
_HINT = "export the statement again as CAMT.053 (camt.053.001.02 to .13), or as MT940 or CSV"


def _parser():
    """defusedxml's iterparse: no DTD at all, so no entity expansion (bombs) and no external entities."""
    try:
        from defusedxml import DefusedXmlException
        from defusedxml.ElementTree import iterparse
    except ImportError:
        raise ExtraMissing("defusedxml (for CAMT XML)") from None
    return iterparse, DefusedXmlException


class _Names:
    """Element paths in one CAMT namespace."""

    def __init__(self, uri: str):
        self.uri = uri
        self._paths: dict[str, str] = {}

    def __call__(self, path: str) -> str:
        """'NtryDtls/TxDtls' → '{uri}NtryDtls/{uri}TxDtls'."""
        found = self._paths.get(path)
        if found is None:
            found = self._paths[path] = "/".join(f"{{{self.uri}}}{part}" for part in path.split("/"))
        return found


def read(path: Path, data: bytes) -> Statement:
    """The booked credits (and reversed credits) of a CAMT file whose bytes are data."""
    iterparse, defused = _parser()
    reader = _Reader(path)
    try:
        for event, element in iterparse(io.BytesIO(data), events=("start", "end"), forbid_dtd=True):
            if event == "start":
                if reader.names is None:
                    reader.begin(element)
            else:
                reader.end(element)
    except defused:
        raise StatementUnreadable(f"{path}: it declares a document type or entities, which no bank statement "
                                  "needs; it was not read", hint=_HINT) from None
    except ParseError as exc:
        raise StatementUnreadable(f"{path} is not well-formed XML ({exc})", hint=_HINT) from None
    if reader.names is None:
        raise StatementUnreadable(f"{path} holds no XML element", hint=_HINT)
    return reader.statement


class _Reader:
    """Turns the entries of one CAMT file into bookings as the parser finishes each."""

    def __init__(self, path: Path):
        self.path = path
        self.names: _Names | None = None
        self.statement = Statement(kind="CAMT", currency="")
        self.entries = 0

    def begin(self, root: Element) -> None:
        """Check the root element's namespace: a CAMT message, in a version review knows."""
        uri = root.tag[1:].partition("}")[0] if root.tag.startswith("{") else ""
        match = _NAMESPACE.fullmatch(uri)
        if not match:
            raise StatementUnreadable(f"{self.path} is XML, but not a CAMT.052, .053 or .054 statement",
                                      hint=_HINT)
        if int(match[2]) not in VERSIONS:
            raise StatementUnreadable(f"{self.path} is camt.{match[1]}.001.{match[2]}, a version review does not "
                                      "know yet", hint=_HINT)
        self.names = _Names(uri)
        self.statement.kind = f"CAMT.{match[1]} (camt.{match[1]}.001.{match[2]})"

    def end(self, element: Element) -> None:
        """Read an account's currency or an entry as soon as it is complete, then let it go."""
        names = self.names
        if element.tag == names("Acct"):
            currency = element.findtext(names("Ccy"))
            if currency and not self.statement.currency:
                self.statement.currency = currency.strip()
        elif element.tag == names("Ntry"):
            self.entries += 1
            self.entry(element, self.entries)
            element.clear()  # memory stays flat however many entries the file has

    def entry(self, ntry: Element, number: int) -> None:
        """One entry: skipped (pending, debit), one booking, or one booking per transaction of a batch."""
        n, statement = self.names, self.statement
        status = (ntry.findtext(n("Sts/Cd")) or ntry.findtext(n("Sts")) or "").strip()
        if status != "BOOK":
            statement.pending += 1
            return
        amount = ntry.find(n("Amt"))
        currency = amount.get("Ccy", "") if amount is not None else ""
        statement.currency = statement.currency or currency
        reversal = (ntry.findtext(n("RvslInd")) or "").strip().lower() in ("true", "1")
        sign = _sign(ntry.findtext(n("CdtDbtInd")), reversal)
        if sign == 0:
            statement.outgoing += 1
            return
        where = f"entry {number}"
        value = _amount(amount)
        if value is None or currency != statement.currency:
            statement.unreadable.append(where if value is None else f"{where} (in {currency}, not "
                                        f"{statement.currency})")
            return
        day = iso_day(ntry.findtext(n("BookgDt/Dt")) or ntry.findtext(n("BookgDt/DtTm"))
                      or ntry.findtext(n("ValDt/Dt")) or "")
        entry_ids = [ntry.findtext(n("AcctSvcrRef")), ntry.findtext(n("NtryRef"))]
        transactions = ntry.findall(n("NtryDtls/TxDtls"))
        amounts = [_transaction_amount(tx, n, currency) for tx in transactions]
        if len(transactions) <= 1 or None in amounts:
            # One transfer, or a batch whose parts are not all in the account's currency: one booking.
            text = " / ".join(_text(tx, n) for tx in transactions)
            ids = entry_ids + [i for tx in transactions for i in _ids(tx, n)] if len(transactions) <= 1 else entry_ids
            statement.bookings.append(Booking(where, sign * value, text, day, without_placeholders(ids)))
            return
        for i, (tx, part) in enumerate(zip(transactions, amounts, strict=True), start=1):
            tx_sign = _sign(tx.findtext(n("CdtDbtInd")) or ntry.findtext(n("CdtDbtInd")), reversal)
            if tx_sign == 0:
                statement.outgoing += 1
                continue
            # The parts of a batch share the entry's references: make them one part's by its position.
            ids = [*_ids(tx, n), *(f"{ref}#{i}" for ref in entry_ids if ref)]
            statement.bookings.append(Booking(f"{where}, transaction {i}", tx_sign * part, _text(tx, n), day,
                                              without_placeholders(ids)))


def _sign(indicator: str | None, reversal: bool) -> int:
    """+1 for money received, -1 for a received credit taken back, 0 for anything else."""
    indicator = (indicator or "").strip()
    if indicator == "CRDT" and not reversal:
        return 1
    # ISO 20022: a reversal booked as a debit undoes an earlier credit (a credit with RvslInd undoes a debit).
    if indicator == "DBIT" and reversal:
        return -1
    return 0


def _amount(element: Element | None) -> Decimal | None:
    """The amount of an <Amt Ccy="…"> element, or None when it is not a plain positive number."""
    text = (element.text or "").strip() if element is not None else ""
    return Decimal(text) if _AMOUNT.fullmatch(text) else None


def _transaction_amount(tx: Element, n: _Names, currency: str) -> Decimal | None:
    """A batch part's amount in the account's currency (TxDtls/Amt, or AmtDtls/TxAmt/Amt), or None."""
    for path in ("Amt", "AmtDtls/TxAmt/Amt"):
        element = tx.find(n(path))
        if element is not None and element.get("Ccy", currency) == currency:
            return _amount(element)
    return None


def _text(tx: Element, n: _Names) -> str:
    """The remittance information: every Ustrd line, the structured creditor references, the end-to-end id."""
    parts = [t for t in (e.text for e in tx.iterfind(n("RmtInf/Ustrd"))) if t]
    for strd in tx.iterfind(n("RmtInf/Strd")):
        parts += [t for t in (strd.findtext(n("CdtrRefInf/Ref")), strd.findtext(n("AddtlRmtInf"))) if t]
    end_to_end = tx.findtext(n("Refs/EndToEndId"))
    if end_to_end and without_placeholders([end_to_end]):
        parts.append(end_to_end)
    return " ".join(p.strip() for p in parts)


def _ids(tx: Element, n: _Names) -> list[str | None]:
    """The references a bank gives one transaction."""
    return [tx.findtext(n(f"Refs/{name}")) for name in ("AcctSvcrRef", "TxId", "EndToEndId")]
