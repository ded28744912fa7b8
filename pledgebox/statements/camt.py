"""ISO 20022 CAMT.052/.053/.054 statements (versions .001.02 to .001.13): booked credits and reversed credits."""

from __future__ import annotations

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
    """defusedxml's fromstring: no DTD at all, so no entity expansion (bombs) and no external entities."""
    try:
        from defusedxml import DefusedXmlException
        from defusedxml.ElementTree import fromstring
    except ImportError:
        raise ExtraMissing("defusedxml (for CAMT XML)") from None
    return fromstring, DefusedXmlException


class _Names:
    """Element paths in one CAMT namespace."""

    def __init__(self, uri: str):
        self.uri = uri
        self.cut = len(uri) + 2  # '{uri}' before each local name
        self._paths: dict[str, str] = {}

    def __call__(self, path: str) -> str:
        """'NtryDtls/TxDtls' → '{uri}NtryDtls/{uri}TxDtls'."""
        found = self._paths.get(path)
        if found is None:
            found = self._paths[path] = "/".join(f"{{{self.uri}}}{part}" for part in path.split("/"))
        return found


def read(path: Path, data: bytes) -> Statement:
    """The booked credits (and reversed credits) of a CAMT file whose bytes are data."""
    fromstring, defused = _parser()
    try:
        # The whole tree, then C-speed searches: iterparse's Python loop over every element took 3 times longer.
        # The size was checked before (statements.MAX_BYTES), so the tree's memory is bounded too.
        root = fromstring(data, forbid_dtd=True)
    except defused:
        raise StatementUnreadable(
            f"{path}: it declares a document type or entities, which no bank statement needs; it was not read",
            hint=_HINT,
        ) from None
    except ParseError as exc:
        raise StatementUnreadable(f"{path} is not well-formed XML ({exc})", hint=_HINT) from None
    except (LookupError, ValueError):  # an encoding Python does not know, declared by the file
        raise StatementUnreadable(f"{path} declares a character encoding that cannot be read", hint=_HINT) from None
    reader = _Reader(path, root)
    n = reader.names
    # Document / BkToCstmrStmt (or …DbtCdtNtfctn, …AcctRpt) / Stmt (or Ntfctn, Rpt) / Ntry
    for message in root:
        for part in message:
            if part.tag == n("GrpHdr"):
                continue
            currency = (part.findtext(n("Acct/Ccy")) or "").strip()
            reader.statement.currency = reader.statement.currency or currency
            for ntry in part.iterfind(n("Ntry")):
                reader.entries += 1
                reader.entry(ntry, reader.entries)
    return reader.statement


class _Reader:
    """Turns the entries of one CAMT document into bookings."""

    def __init__(self, path: Path, root: Element):
        self.path = path
        uri = root.tag[1:].partition("}")[0] if root.tag.startswith("{") else ""
        match = _NAMESPACE.fullmatch(uri)
        if not match:
            raise StatementUnreadable(f"{path} is XML, but not a CAMT.052, .053 or .054 statement", hint=_HINT)
        if int(match[2]) not in VERSIONS:
            raise StatementUnreadable(
                f"{path} is camt.{match[1]}.001.{match[2]}, a version review does not know yet", hint=_HINT
            )
        self.names = _Names(uri)
        self.statement = Statement(kind=f"CAMT.{match[1]} (camt.{match[1]}.001.{match[2]})", currency="")
        self.entries = 0

    def entry(self, ntry: Element, number: int) -> None:
        """One entry: skipped (pending, debit), one booking, or one booking per transaction of a batch."""
        statement, cut = self.statement, self.names.cut
        kids = _kids(ntry, cut)
        status = _text_of(kids.get("Sts"))
        if status != "BOOK" and _text_of(_kids(kids["Sts"], cut).get("Cd") if "Sts" in kids else None) != "BOOK":
            statement.pending += 1
            return
        amount = kids.get("Amt")
        currency = amount.get("Ccy", "") if amount is not None else ""
        statement.currency = statement.currency or currency
        reversal = _text_of(kids.get("RvslInd")).lower() in ("true", "1")
        sign = _sign(_text_of(kids.get("CdtDbtInd")), reversal)
        if sign == 0:
            statement.outgoing += 1
            return
        where = f"entry {number}"
        value = _amount(amount)
        if value is None or currency != statement.currency:
            statement.unreadable.append(
                where if value is None else f"{where} (in {currency}, not {statement.currency})"
            )
            return
        day = iso_day(
            next((_text_of(d[0]) for d in (kids.get("BookgDt"), kids.get("ValDt")) if d is not None and len(d)), "")
        )
        entry_ids = [_text_of(kids.get("AcctSvcrRef")), _text_of(kids.get("NtryRef"))]
        transactions = [tx for details in ntry.iterfind(self.names("NtryDtls")) for tx in details]
        parts = [_Transaction(tx, cut) for tx in transactions if tx.tag[cut:] == "TxDtls"]
        amounts = [part.amount(currency) for part in parts]
        if len(parts) <= 1 or None in amounts:
            # One transfer, or a batch whose parts are not all in the account's currency: one booking.
            text = " / ".join(part.text() for part in parts)
            ids = entry_ids + (parts[0].ids() if len(parts) == 1 else [])
            statement.bookings.append(Booking(where, sign * value, text, day, without_placeholders(ids)))
            return
        for i, (part, part_amount) in enumerate(zip(parts, amounts, strict=True), start=1):
            part_sign = _sign(_text_of(part.kids.get("CdtDbtInd")) or _text_of(kids.get("CdtDbtInd")), reversal)
            if part_sign == 0:
                statement.outgoing += 1
                continue
            # The parts of a batch share the entry's references: make them one part's by its position.
            ids = [*part.ids(), *(f"{ref}#{i}" for ref in entry_ids if ref)]
            statement.bookings.append(
                Booking(
                    f"{where}, transaction {i}", part_sign * part_amount, part.text(), day, without_placeholders(ids)
                )
            )


def _kids(element: Element, cut: int) -> dict[str, Element]:
    """An element's children by local name (the first of each name)."""
    kids: dict[str, Element] = {}
    for child in element:
        kids.setdefault(child.tag[cut:], child)
    return kids


def _text_of(element: Element | None) -> str:
    """An element's text without surrounding white space; '' for a missing element."""
    return (element.text or "").strip() if element is not None else ""


def _sign(indicator: str, reversal: bool) -> int:
    """+1 for money received, -1 for a received credit taken back, 0 for anything else."""
    if indicator == "CRDT" and not reversal:
        return 1
    # ISO 20022: a reversal booked as a debit undoes an earlier credit (a credit with RvslInd undoes a debit).
    if indicator == "DBIT" and reversal:
        return -1
    return 0


def _amount(element: Element | None) -> Decimal | None:
    """The amount of an <Amt Ccy="…"> element, or None when it is not a plain positive number."""
    text = _text_of(element)
    return Decimal(text) if _AMOUNT.fullmatch(text) else None


class _Transaction:
    """One TxDtls: its amount, remittance text and references."""

    def __init__(self, tx: Element, cut: int):
        self.cut = cut
        self.kids = _kids(tx, cut)
        self.refs = _kids(self.kids["Refs"], cut) if "Refs" in self.kids else {}

    def amount(self, currency: str) -> Decimal | None:
        """The amount in the account's currency (TxDtls/Amt, or AmtDtls/TxAmt/Amt), or None."""
        amount = self.kids.get("Amt")
        if amount is None and "AmtDtls" in self.kids:
            tx_amount = _kids(self.kids["AmtDtls"], self.cut).get("TxAmt")
            amount = _kids(tx_amount, self.cut).get("Amt") if tx_amount is not None else None
        if amount is not None and amount.get("Ccy", currency) == currency:
            return _amount(amount)
        return None

    def text(self) -> str:
        """Every Ustrd line, the structured creditor references (e.g. RF…) and the end-to-end id."""
        parts = []
        for item in self.kids.get("RmtInf", ()):
            if item.tag[self.cut :] == "Ustrd":
                parts.append(_text_of(item))
            elif item.tag[self.cut :] == "Strd":
                strd = _kids(item, self.cut)
                if "CdtrRefInf" in strd:
                    parts.append(_text_of(_kids(strd["CdtrRefInf"], self.cut).get("Ref")))
                parts.append(_text_of(strd.get("AddtlRmtInf")))
        parts += without_placeholders([_text_of(self.refs.get("EndToEndId"))])
        return " ".join(p for p in parts if p)

    def ids(self) -> list[str]:
        """The references a bank gives one transaction."""
        return [_text_of(self.refs.get(name)) for name in ("AcctSvcrRef", "TxId", "EndToEndId")]
