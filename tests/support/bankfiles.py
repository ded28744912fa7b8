"""Bank statements made by the tests and bench/ (never real bank data): CAMT.053/.054 XML and MT940 as banks write
them."""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from helpers import ref

# A payer's name is in every statement, so tests can prove review never shows or writes it.
PAYER = "Zinaida Testowa-Namenlos"


@dataclass
class Tx:
    """One transaction inside an entry (TxDtls)."""

    amount: str | None = None  # the part's own amount (batch bookings); None: the entry's
    ustrd: list[str] = field(default_factory=list)
    rf: str = ""  # a structured creditor reference (Strd/CdtrRefInf/Ref)
    end_to_end: str = "NOTPROVIDED"
    acct_svcr_ref: str = ""
    amount_path: str = "AmtDtls"  # "AmtDtls" (AmtDtls/TxAmt/Amt) or "Amt" (TxDtls/Amt, version 08 on)


@dataclass
class Entry:
    """One Ntry."""

    amount: str
    txs: list[Tx] = field(default_factory=list)
    indicator: str = "CRDT"
    status: str = "BOOK"
    reversal: bool = False
    day: str = "2026-11-24"
    ref: str = ""  # AcctSvcrRef
    currency: str = "EUR"


def _tx(tx: Tx, currency: str) -> str:
    """A TxDtls element."""
    amount = ""
    if tx.amount is not None:
        amount = (
            f'<Amt Ccy="{currency}">{tx.amount}</Amt>'
            if tx.amount_path == "Amt"
            else f'<AmtDtls><TxAmt><Amt Ccy="{currency}">{tx.amount}</Amt></TxAmt></AmtDtls>'
        )
    refs = (
        f"<Refs>{f'<AcctSvcrRef>{tx.acct_svcr_ref}</AcctSvcrRef>' if tx.acct_svcr_ref else ''}"
        f"<EndToEndId>{escape(tx.end_to_end)}</EndToEndId></Refs>"
    )
    remittance = "".join(f"<Ustrd>{escape(line)}</Ustrd>" for line in tx.ustrd)
    if tx.rf:
        remittance += (
            f"<Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry><Issr>ISO</Issr></Tp>"
            f"<Ref>{escape(tx.rf)}</Ref></CdtrRefInf></Strd>"
        )
    return (
        f"<TxDtls>{refs}{amount}<RltdPties><Dbtr><Nm>{PAYER}</Nm></Dbtr><DbtrAcct><Id>"
        f"<IBAN>DE02120300000000202051</IBAN></Id></DbtrAcct></RltdPties><RmtInf>{remittance}</RmtInf></TxDtls>"
    )


def _entry(entry: Entry, version: int) -> str:
    """An Ntry element; the status written as newer versions write it from .08 on."""
    status = f"<Sts><Cd>{entry.status}</Cd></Sts>" if version >= 8 else f"<Sts>{entry.status}</Sts>"
    details = "".join(_tx(tx, entry.currency) for tx in entry.txs)
    return (
        f"<Ntry>{f'<NtryRef>{entry.ref}</NtryRef>' if entry.ref else ''}"
        f'<Amt Ccy="{entry.currency}">{entry.amount}</Amt><CdtDbtInd>{entry.indicator}</CdtDbtInd>'
        f"{'<RvslInd>true</RvslInd>' if entry.reversal else ''}{status}"
        f"<BookgDt><Dt>{entry.day}</Dt></BookgDt><ValDt><Dt>{entry.day}</Dt></ValDt>"
        f"{f'<AcctSvcrRef>{entry.ref}</AcctSvcrRef>' if entry.ref else ''}"
        f"<BkTxCd/>{f'<NtryDtls>{details}</NtryDtls>' if details else ''}</Ntry>"
    )


def camt(entries: list[Entry], *, message: str = "053", version: int = 8, currency: str = "EUR") -> bytes:
    """A CAMT.053 (or .054, .052) document holding entries."""
    root, part = {
        "053": ("BkToCstmrStmt", "Stmt"),
        "054": ("BkToCstmrDbtCdtNtfctn", "Ntfctn"),
        "052": ("BkToCstmrAcctRpt", "Rpt"),
    }[message]
    body = "".join(_entry(e, version) for e in entries)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.{message}.001.{version:02d}" '
        f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        f"<{root}><GrpHdr><MsgId>TEST-1</MsgId><CreDtTm>2026-11-30T08:00:00</CreDtTm></GrpHdr>"
        f"<{part}><Id>S1</Id><CreDtTm>2026-11-30T08:00:00</CreDtTm>"
        f"<Acct><Id><IBAN>DE89370400440532013000</IBAN></Id><Ccy>{currency}</Ccy></Acct>\n"
        f"{body}\n</{part}></{root}></Document>\n"
    ).encode()


def mt940_line(day: str, mark: str, amount: str, bank_ref: str, details: list[str]) -> str:
    """A :61: statement line and its :86: (details are the ?-subfields, cut into 65-character lines)."""
    yymmdd = day[2:4] + day[5:7] + day[8:10]
    text = "".join(details)
    lines = [text[i : i + 65] for i in range(0, len(text), 65)] or [""]
    return (
        f":61:{yymmdd}{yymmdd[2:]}{mark}R{amount}NMSCNONREF{'//' + bank_ref if bank_ref else ''}\n"
        f":86:" + "\n".join(lines) + "\n"
    )


def german_86(code: str, posting: str, remittance: list[str], end_to_end: str = "NOTPROVIDED") -> list[str]:
    """:86: subfields as German banks write them: ?00 posting text, ?20–?29 SEPA remittance, ?30–?33 payer."""
    purpose = [f"EREF+{end_to_end}", "SVWZ+" + remittance[0], *remittance[1:]]
    fields = [f"{code}?00{posting}?109251"]
    fields += [f"?{20 + i}{line}" for i, line in enumerate(purpose[:10])]
    fields += ["?30COBADEFFXXX", "?31DE02120300000000202051", f"?32{PAYER[:27]}", f"?33{PAYER[27:]}", "?34000"]
    return fields


def mt940(lines: list[str], *, currency: str = "EUR") -> bytes:
    """An MT940 statement (Windows-1252, CRLF, as German banks export it) holding the :61:/:86: lines."""
    text = (
        ":20:STARTUMSE\n:25:37040044/0532013000\n:28C:00001/001\n"
        f":60F:C261123{currency}1000,00\n" + "".join(lines) + f":62F:C261130{currency}1000,00\n-\n"
    )
    return text.replace("\n", "\r\n").encode("cp1252")


def camt_053(version: int = 8) -> bytes:
    """A CAMT.053 with a batch booking, a reversal, a debit, a pending entry, an RF reference, a broken line."""
    broken = ref(6)
    return camt(
        [
            Entry("25.00", [Tx(ustrd=["Spende", ref(1)], acct_svcr_ref="TX-1")], ref="E-1"),
            Entry(
                "80.00",
                [
                    Tx("30.00", [f"Spende {ref(2)}"]),
                    Tx("20.00", rf=f"RF18{ref(3).replace('-', '')}"),
                    Tx("30.00", [f"für {ref(4).lower()}"], amount_path="Amt" if version >= 8 else "AmtDtls"),
                ],
                ref="E-2",
                day="2026-11-25",
            ),
            Entry("800.00", [Tx(ustrd=["Miete November"])], indicator="DBIT", ref="E-3"),
            Entry("50.00", [Tx(ustrd=[ref(5)])], status="PDNG", ref="E-4"),
            Entry(
                "25.00",
                [Tx(ustrd=["Rueckbuchung", ref(1)])],
                indicator="DBIT",
                reversal=True,
                ref="E-5",
                day="2026-11-26",
            ),
            Entry("40.00", [Tx(ustrd=[f"Spende {broken[:4]}", f"{broken[4:]} danke"])], ref="E-6"),
        ],
        version=version,
    )
