"""What every bank statement reader shares: the bookings it finds, its errors, and the file's kind and bytes."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from .. import files
from ..errors import PledgeboxError

MAX_BYTES = 64 * 1024 * 1024  # a year of a busy account's statements is a few MB
EXTRA_HINT = "install the bank statement readers on this machine: pip install 'pledgebox[bank]'"


class StatementUnreadable(PledgeboxError):
    """The bank statement could not be read:"""

    hint = (
        "give the statement exactly as the bank exported it: CAMT.053 or CAMT.054 (XML), MT940, "
        "or CSV with a header row"
    )


class ExtraMissing(PledgeboxError):
    """Reading this bank statement needs a library that is not installed:"""

    hint = EXTRA_HINT


@dataclass(frozen=True)
class Booking:
    """One booking of a statement: money in (or, for a reversal, taken back) with its remittance text."""

    where: str  # where in the file: "entry 3", "entry 3, transaction 2", "line 41"
    amount: Decimal  # in the statement's currency; negative when a credit was reversed
    text: str  # the remittance text (and references) to search for pledge references
    day: str = ""  # the booking day, YYYY-MM-DD when the file says so
    ids: frozenset[str] = frozenset()  # the bank's references: the same booking in another file has one of them


@dataclass
class Statement:
    """What a reader found in one file."""

    kind: str  # e.g. "CAMT.053 (camt.053.001.08)", "MT940"
    currency: str
    bookings: list[Booking] = field(default_factory=list)
    outgoing: int = 0  # debits: not donations
    pending: int = 0  # entries not booked yet (PDNG, INFO): they may still change or vanish
    unreadable: list[str] = field(default_factory=list)  # where an amount could not be read

    @property
    def family(self) -> str:
        """'CAMT', 'MT940' or 'CSV'."""
        return self.kind.split(" ")[0].split(".")[0].rstrip(":")


def read_bytes(path: Path, limit: int = MAX_BYTES) -> bytes:
    """The file's bytes, refused before reading when larger than limit (or when it never ends)."""
    path = Path(path)
    return files.read_small(
        path,
        limit,
        lambda detail: StatementUnreadable(detail, hint="check the file name"),
        lambda: StatementUnreadable(
            f"{path} is larger than {limit // 2**20} MiB",
            hint="export a shorter period (a month or a quarter) from the bank",
        ),
    )


def decode(data: bytes) -> str:
    """Bank exports are UTF-8 (maybe with a BOM) or Windows-1252 (also Latin-1, which it extends)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


_XML_START = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*<")
_MT940_TAG = re.compile(rb"^:(?:20|25|28C?|60[FM]):", re.MULTILINE)


def kind(data: bytes) -> str:
    """'xml', 'mt940' or 'csv', from the content (never the file name)."""
    if _XML_START.match(data[:4096]):
        return "xml"
    head = data[:8192]
    # SWIFT messages may come wrapped in {1:…}{4: blocks; the statement tags start lines either way.
    if len(_MT940_TAG.findall(head)) >= 2 or (b"{4:" in head and _MT940_TAG.search(head)):
        return "mt940"
    return "csv"


_DOTTED = re.compile(r"([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{2}|[0-9]{4})")


def iso_day(text: str) -> str:
    """'24.11.2026', '24.11.26' or '2026-11-24' (maybe with a time) as '2026-11-24'; other text unchanged."""
    text = text.strip()
    try:
        if m := _DOTTED.fullmatch(text):
            year = int(m[3]) + (2000 if len(m[3]) == 2 else 0)
            return datetime.date(year, int(m[2]), int(m[1])).isoformat()
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ].*)?", text):
            return datetime.date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        pass
    return text


def without_placeholders(ids) -> frozenset[str]:
    """The bank references that name one booking (not 'NOTPROVIDED', 'NONREF' or empty)."""
    return frozenset(i.strip() for i in ids if i and i.strip() and i.strip().upper() not in _PLACEHOLDERS)


_PLACEHOLDERS = frozenset({"NOTPROVIDED", "NONREF", "NONE", "NOREF", "N/A", "0"})
