"""Bank statements exported as CSV: a header row (found by its column names), then one row per booking."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from pathlib import Path

from .base import Booking, Statement, StatementUnreadable, decode, iso_day

HINT = (
    "export the bank statement as CSV with a header row that has a reference column (e.g. "
    "'Verwendungszweck', 'Reference') and an amount column (e.g. 'Betrag', 'Amount'), or as CAMT.053 or MT940"
)

_REFERENCE_WORDS = frozenset(
    {
        "reference",
        "referenz",
        "zahlungsreferenz",
        "kundenreferenz",
        "verwendungszweck",
        "vwz",
        "remittance",
        "purpose",
        "description",
        "beschreibung",
        "memo",
        "betreff",
        "buchungstext",
        "details",
    }
)
_AMOUNT_WORDS = ("amount", "betrag", "umsatz", "haben", "credit", "gutschrift", "received", "paid", "value")
_DAY_WORDS = frozenset(
    {"date", "datum", "buchungstag", "buchungsdatum", "valuta", "valutadatum", "wertstellung", "booking", "day"}
)
_WORD = re.compile(r"[a-zäöüß]+")
_MONEY_NOISE = re.compile(r"[\s\u00a0\u202f\u2009'’]|€|EUR", re.IGNORECASE)


def _words(header: str) -> list[str]:
    """The lower-case words of a header cell."""
    return _WORD.findall(header.lower())


def _columns(row: list[str]) -> tuple[list[int], int, int | None] | None:
    """(reference columns, amount column, day column) if row is a header row, else None."""
    names = [_words(cell) for cell in row]
    amount = None
    for word in _AMOUNT_WORDS:  # in order of preference: 'Betrag' before 'Haben'
        # The first word decides: 'Value date' is a date, not an amount.
        amount = next(
            (i for i, words in enumerate(names) if words[:1] == [word] and not _DAY_WORDS.intersection(words)), None
        )
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


def read(path: Path, data: bytes) -> Statement:
    """The incoming payments of a CSV export whose bytes are data: rows of zero or less are outgoing."""
    text = decode(data)
    readings = []
    for delimiter in (";", ",", "\t"):
        try:
            rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
        except csv.Error as exc:  # e.g. a cell over the csv module's 128 KiB limit: no bank writes one
            raise StatementUnreadable(f"{path}: not a CSV file a bank writes ({exc})", hint=HINT) from None
        # Some banks put account details above the header: look at the first rows.
        index, found = next(((i, f) for i, row in enumerate(rows[:30]) if (f := _columns(row))), (0, None))
        if found:
            readings.append((len(rows[index]), delimiter, index, rows, found))
    if not readings:
        raise StatementUnreadable(f"{path}: no header row with a reference column and an amount column", hint=HINT)
    # The delimiter that splits the header into the most columns is the file's.
    _, delimiter, index, rows, (reference_columns, amount_column, day_column) = max(readings, key=lambda r: r[0])
    header = rows[index]
    body = [(number, row) for number, row in enumerate(rows[index + 1 :], start=index + 2) if any(row)]
    mark = _decimal_mark((row[amount_column] for _, row in body if amount_column < len(row)), delimiter)
    result = Statement(
        kind=(
            f"CSV: amount from {header[amount_column]!r}, references from "
            + ", ".join(repr(header[i]) for i in reference_columns)
            + f"; {'decimal comma' if mark == ',' else 'decimal point'}"
        ),
        currency="",
    )
    for number, row in body:
        cell = row[amount_column] if amount_column < len(row) else ""
        amount = parse_money(cell, mark)
        if amount is None:
            result.unreadable.append(f"row {number}")
            continue
        if amount <= 0:
            result.outgoing += 1
            continue
        remittance = " ".join(row[i] for i in reference_columns if i < len(row))
        day = row[day_column] if day_column is not None and day_column < len(row) else ""
        result.bookings.append(Booking(f"row {number}", amount, remittance, iso_day(day)))
    return result
