"""Bank statements: read the incoming payments from a CSV export and match them to the pledges by reference."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING

from . import files, pledges
from .errors import PledgeboxError

if TYPE_CHECKING:
    from .review import Entry

MAX_PAYMENTS_BYTES = 64 * 1024 * 1024


class PaymentsUnreadable(PledgeboxError):
    """The payments file could not be read:"""

    hint = ("export the bank statement as CSV with a header row that has a reference column (e.g. "
            "'Verwendungszweck', 'Reference') and an amount column (e.g. 'Betrag', 'Amount')")


_REFERENCE_WORDS = frozenset({
    "reference", "referenz", "zahlungsreferenz", "kundenreferenz", "verwendungszweck", "vwz", "remittance",
    "purpose", "description", "beschreibung", "memo", "betreff", "buchungstext", "details"})
_AMOUNT_WORDS = ("amount", "betrag", "umsatz", "haben", "credit", "gutschrift", "received", "paid", "value")
_DAY_WORDS = frozenset({"date", "datum", "buchungstag", "buchungsdatum", "valuta", "valutadatum",
                        "wertstellung", "booking", "day"})
_WORD = re.compile(r"[a-zäöüß]+")
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]+")
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})
_MONEY_NOISE = re.compile(r"[\s\u00a0\u202f\u2009'’]|€|EUR", re.IGNORECASE)


@dataclass
class Payment:
    """One incoming payment from the bank statement."""

    row: int
    amount: Decimal
    text: str  # the remittance text: every reference-like column of the row
    day: str = ""
    references: list[str] = field(default_factory=list)  # known references found in text
    note: str = ""  # for a payment without a known reference: what review made of it


@dataclass
class Payments:
    """A bank statement as review reads it."""

    path: str
    payments: list[Payment]
    columns: str  # how the columns were understood, for the report
    outgoing: int = 0  # rows with an amount of zero or less: not donations
    unreadable: list[int] = field(default_factory=list)  # rows whose amount could not be read


@dataclass
class Matching:
    """The outcome of matching payments to pledges."""

    payments: Payments
    received: Decimal  # money matched to a pledge
    unknown: list[Payment]

    @property
    def unknown_total(self) -> Decimal:
        return sum((p.amount for p in self.unknown), Decimal(0))


def _words(header: str) -> list[str]:
    return _WORD.findall(header.lower())


def _columns(row: list[str]) -> tuple[list[int], int, int | None] | None:
    """(reference columns, amount column, day column) if row is a header row, else None."""
    names = [_words(cell) for cell in row]
    amount = None
    for word in _AMOUNT_WORDS:  # in order of preference: 'Betrag' before 'Haben'
        # The first word decides: 'Value date' is a date, not an amount.
        amount = next((i for i, words in enumerate(names)
                       if words[:1] == [word] and not _DAY_WORDS.intersection(words)), None)
        if amount is not None:
            break
    references = [i for i, words in enumerate(names) if _REFERENCE_WORDS.intersection(words) and i != amount]
    if not references or amount is None:
        return None
    day = next((i for i, words in enumerate(names) if _DAY_WORDS.intersection(words) and i != amount), None)
    return references, amount, day


def _decimal_mark(cells: Iterable[str], delimiter: str) -> str:
    """The file's decimal mark, from the amounts that are unambiguous ('1,5', '1.234,50', '12.30')."""
    votes = Counter()
    for cell in cells:
        cell = _MONEY_NOISE.sub("", cell)
        if re.search(r"[.,]", cell) is None:
            continue
        last = max(cell.rfind(","), cell.rfind("."))
        digits_after = len(cell) - last - 1
        if ("," in cell and "." in cell) or digits_after in (1, 2):
            votes[cell[last]] += 1
    if votes:
        return votes.most_common(1)[0][0]
    return "," if delimiter == ";" else "."


def parse_money(text: str, decimal_mark: str = ".") -> Decimal | None:
    """'1.234,50', '1,234.50', '-12,00', '25,00 €', '+25' → Decimal; None if it is not an amount."""
    text = _MONEY_NOISE.sub("", text)
    sign = 1
    if text and text[0] in "+-":
        sign, text = (-1 if text[0] == "-" else 1), text[1:]
    elif text.endswith("-"):  # '25,00-' in some German exports
        sign, text = -1, text[:-1]
    if not re.fullmatch(r"[0-9][0-9.,]*", text):
        return None
    if "," in text and "." in text:
        decimal = text[max(text.rfind(","), text.rfind("."))]
    elif "," in text or "." in text:
        mark = "," if "," in text else "."
        parts = text.split(mark)
        if len(parts) > 2 or (len(parts[1]) == 3 and mark != decimal_mark):
            decimal = ""  # only grouping: '1,234,567' or '1,234' in an English file
        else:
            decimal = mark
    else:
        decimal = ""
    group = {"": "", ",": ".", ".": ","}[decimal]
    whole, _, fraction = text.partition(decimal) if decimal else (text, "", "")
    if decimal and not re.fullmatch(r"[0-9]{1,2}", fraction):
        return None
    grouping = "," if not decimal and "," in whole else "." if not decimal and "." in whole else group
    if grouping and grouping in whole:
        if not re.fullmatch(rf"[0-9]{{1,3}}(?:{re.escape(grouping)}[0-9]{{3}})+", whole):
            return None
        whole = whole.replace(grouping, "")
    if not re.fullmatch(r"[0-9]+", whole):
        return None
    try:
        return sign * Decimal(f"{whole}.{fraction or '0'}").quantize(Decimal("0.01"))
    except InvalidOperation:
        return None


def _decode(data: bytes) -> str:
    """Bank exports are UTF-8 (maybe with a BOM) or Windows-1252."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def read_payments(path: Path) -> Payments:
    """Read a bank statement exported as CSV: a header row, then one row per booking."""
    path = Path(path)
    data = files.read_small(path, MAX_PAYMENTS_BYTES, PaymentsUnreadable,
                            lambda: PaymentsUnreadable(f"{path} is larger than {MAX_PAYMENTS_BYTES // 2**20} MiB"))
    text = _decode(data)
    readings = []
    for delimiter in (";", ",", "\t"):
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
        # Some banks put account details above the header: look at the first rows.
        index, found = next(((i, f) for i, row in enumerate(rows[:30]) if (f := _columns(row))), (0, None))
        if found:
            readings.append((len(rows[index]), delimiter, index, rows, found))
    if not readings:
        raise PaymentsUnreadable(f"{path}: no header row with a reference column and an amount column")
    # The delimiter that splits the header into the most columns is the file's.
    _, delimiter, index, rows, (reference_columns, amount_column, day_column) = max(readings, key=lambda r: r[0])
    header = rows[index]
    body = [(number, row) for number, row in enumerate(rows[index + 1:], start=index + 2) if any(row)]
    mark = _decimal_mark((row[amount_column] for _, row in body if amount_column < len(row)), delimiter)
    result = Payments(str(path), [], columns=(
        f"amount from {header[amount_column]!r}, references from "
        + ", ".join(repr(header[i]) for i in reference_columns)
        + f"; {'decimal comma' if mark == ',' else 'decimal point'}"))
    for number, row in body:
        cell = row[amount_column] if amount_column < len(row) else ""
        amount = parse_money(cell, mark)
        if amount is None:
            result.unreadable.append(number)
            continue
        if amount <= 0:
            result.outgoing += 1
            continue
        remittance = " ".join(row[i] for i in reference_columns if i < len(row))
        day = row[day_column] if day_column is not None and day_column < len(row) else ""
        result.payments.append(Payment(number, amount, remittance, day))
    return result


def find_references(text: str, known: dict[str, str]) -> list[str]:
    """The known references inside a remittance text: any case, any separators, anywhere."""
    # Banks break long remittance lines and donors add spaces or dashes: compare without them.
    compact = _NOT_ALNUM.sub("", text).upper().translate(_READ_AS)
    size = pledges.REFERENCE_DATA + 1
    found = []
    for start in range(len(compact) - size + 1):
        reference = known.get(compact[start:start + size])
        if reference and reference not in found:
            found.append(reference)
    return found


def _near(code: str, known: dict[str, str]) -> str | None:
    """A known reference one typo away from code (one character wrong, or two neighbours swapped)."""
    for compact, reference in known.items():
        diff = [i for i in range(len(code)) if code[i] != compact[i]]
        if len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                              and code[diff[0]] == compact[diff[1]] and code[diff[1]] == compact[diff[0]]):
            return reference
    return None


def explain_unknown(text: str, known: dict[str, str]) -> str:
    """What a remittance text without a known reference seems to hold."""
    tokens = _NOT_ALNUM.split(text.upper())
    size = pledges.REFERENCE_DATA + 1
    for i in range(len(tokens)):
        joined = ""
        for token in tokens[i:i + 4]:
            joined += token
            if len(joined) >= size:
                break
        if len(joined) != size or not any(ch.isdigit() for ch in joined):
            continue
        code = joined.translate(_READ_AS)
        reference = pledges.normalize_reference(code)
        if reference:
            return f"reference {reference} is not among the pledges"
        near = _near(code, known)
        if near:
            return f"{code[:5]}-{code[5:]} has a wrong check character: a typo of {near}?"
    return "no reference found"


def match(entries: Sequence[Entry], payments: Payments) -> Matching:
    """Mark each pledge with the money received for its reference; list payments nobody pledged."""
    by_reference: dict[str, Entry] = {}
    for entry in entries:
        entry.received = Decimal(0)
        by_reference.setdefault(entry.reference, entry)
    known = {reference.replace("-", ""): reference for reference in by_reference}
    received, unknown = Decimal(0), []
    for payment in payments.payments:
        payment.references = find_references(payment.text, known)
        if not payment.references:
            payment.note = explain_unknown(payment.text, known)
            unknown.append(payment)
            continue
        received += payment.amount
        # One transfer for several pledges: fill each in turn, the rest goes to the last.
        left = payment.amount
        for i, reference in enumerate(payment.references):
            entry = by_reference[reference]
            share = left if i == len(payment.references) - 1 else min(left, max(entry.amount - entry.received, 0))
            entry.received += share
            left -= share
    return Matching(payments, received, unknown)
