"""Payments: the bank statements review was given, merged, and matched to the pledges by reference."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING

from . import pledges, statements
from .errors import UsageError
from .statements import Booking, Statement, StatementUnreadable

if TYPE_CHECKING:
    from .review import Entry

_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]+")
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEALED = re.compile(rb'\A[^ \n]{1,100} \{"v":')
SIZE = pledges.REFERENCE_DATA + 1  # a reference's characters without its dash


@dataclass
class Payment:
    """One payment of a bank statement (negative: a credit taken back) and what matching made of it."""

    file: str
    where: str  # "row 12", "entry 3, transaction 2", "booking 7"
    amount: Decimal
    text: str  # the remittance text searched for references
    day: str = ""
    ids: frozenset[str] = frozenset()  # the bank's references, to find the same booking in another file
    family: str = ""  # "CAMT", "MT940" or "CSV": bank references compare only within one family
    statement: int = 0  # which of the statements given it comes from
    references: list[str] = field(default_factory=list)  # the known references it pays
    near: str = ""  # the known reference a mistyped one probably meant
    note: str = ""  # for a payment without a known reference: what review made of it

    @classmethod
    def from_booking(cls, file: str, booking: Booking, family: str, statement: int) -> Payment:
        """The payment of one booking of statement number `statement`, read from file."""
        return cls(file, booking.where, booking.amount, booking.text, booking.day, booking.ids, family, statement)


@dataclass
class Payments:
    """The statements review read, and their payments in file order."""

    statements: list[tuple[str, Statement]]
    payments: list[Payment]

    @property
    def currency(self) -> str:
        """The statements' currency ('' when only CSV files say nothing about it)."""
        return next((s.currency for _, s in self.statements if s.currency), "")


@dataclass
class Matching:
    """The outcome of matching payments to pledges."""

    payments: Payments
    counted: list[Payment]  # every payment, each booking once
    duplicates: list[Payment]  # the same booking found again in another file: not counted again
    received: Decimal  # money matched to a pledge
    unknown: list[Payment]
    fee_tolerance: Decimal = Decimal(0)
    accept_near: bool = False

    @property
    def unknown_total(self) -> Decimal:
        """The sum of the payments without a known reference."""
        return sum((p.amount for p in self.unknown), Decimal(0))

    @property
    def near(self) -> list[Payment]:
        """Payments whose reference has a typo: counted with --accept-near, else listed as unknown."""
        return [p for p in self.counted if p.near]

    @property
    def near_total(self) -> Decimal:
        """The sum of the payments with a mistyped reference."""
        return sum((p.amount for p in self.near), Decimal(0))


def read_payments(paths: Sequence[Path]) -> Payments:
    """Read every statement (CAMT, MT940 or CSV, by content); refuse a file of sealed pledges given by mistake."""
    for path in paths:
        if _looks_sealed(path):
            raise UsageError(
                f"{path} is a file of collected pledges, not a bank statement.",
                hint="give the files `collect` wrote before --payments, and the statements after it",
            )
    read = [(str(path), statements.read(path)) for path in paths]
    currencies = {s.currency for _, s in read if s.currency}
    if len(currencies) > 1:
        raise StatementUnreadable(
            "the statements are in different currencies: " + ", ".join(sorted(currencies)),
            hint="give the statements of one account at a time",
        )
    return Payments(
        read, [Payment.from_booking(name, b, s.family, i) for i, (name, s) in enumerate(read) for b in s.bookings]
    )


def _looks_sealed(path: Path) -> bool:
    """True if path starts like a file of collected pledges (given after --payments by mistake)."""
    try:
        with open(path, "rb") as file:
            return bool(_SEALED.match(file.read(200)))
    except OSError:
        return False


def find_references(text: str, known: dict[str, str]) -> list[str]:
    """The known references inside a remittance text: any case, any separators, anywhere."""
    # Banks break long remittance lines and donors add spaces or dashes: compare without them.
    compact = _NOT_ALNUM.sub("", text).upper().translate(_READ_AS)
    found = []
    for start in range(len(compact) - SIZE + 1):
        reference = known.get(compact[start : start + SIZE])
        if reference and reference not in found:
            found.append(reference)
    return found


class Typos:
    """Known references by every one-typo variant (one character wrong, two neighbours swapped)."""

    def __init__(self, known: dict[str, str]):
        self.known = known
        self._index: dict[str, str | None] | None = None

    def _build(self) -> dict[str, str | None]:
        """Every variant of every known reference → that reference (None when two share it)."""
        index: dict[str, str | None] = {}
        for code, reference in self.known.items():
            variants = [code[:i] + "?" + code[i + 1 :] for i in range(SIZE)]
            variants += ["~" + code[:i] + code[i + 1] + code[i] + code[i + 2 :] for i in range(SIZE - 1)]
            for variant in variants:
                # A variant two references share says nothing about which one was meant.
                index[variant] = reference if index.get(variant, reference) == reference else None
        return index

    def near(self, code: str) -> str | None:
        """The one known reference that code is a typo of, or None."""
        if self._index is None:
            self._index = self._build()  # built once, and only when some payment needs it
        found = {self._index.get(code[:i] + "?" + code[i + 1 :]) for i in range(SIZE)}
        found.add(self._index.get("~" + code))
        found.discard(None)
        return found.pop() if len(found) == 1 else None


def explain_unknown(text: str, typos: Typos) -> tuple[str, str]:
    """What a remittance text without a known reference seems to hold, and the reference a typo probably meant."""
    tokens = _NOT_ALNUM.split(text.upper())
    for i in range(len(tokens)):
        joined = ""
        for token in tokens[i : i + 4]:
            joined += token
            if len(joined) >= SIZE:
                break
        if len(joined) != SIZE or not any(ch.isdigit() for ch in joined):
            continue
        code = joined.translate(_READ_AS)
        reference = pledges.normalize_reference(code)
        if reference:
            return f"reference {reference} is not among the pledges", ""
        near = typos.near(code)
        if near:
            return f"{code[:5]}-{code[5:]} has a wrong check character: a typo of {near}?", near
    return "no reference found", ""


def _keys(payment: Payment) -> list[tuple]:
    """What identifies a booking in another file: a bank reference, or its day, amount and what it pays.

    The last also names the kind of references the payment has: bank references decide when both files have
    them in one format (a CAMT.054 beside its CAMT.053), but across formats a bank may number its bookings
    differently, and a CSV export has none; there day, amount and the references paid decide.
    """
    keys: list[tuple] = [("id", payment.day, payment.amount, i) for i in sorted(payment.ids)]
    paid = tuple(payment.references) or _NOT_ALNUM.sub("", payment.text).upper()
    if payment.day:
        keys.append(("paid", payment.day, payment.amount, paid, payment.family if payment.ids else ""))
    return keys


def _wanted(payment: Payment, families: list[str]) -> list[tuple]:
    """The keys under which an earlier copy of payment would be found."""
    keys = _keys(payment)
    if keys and keys[-1][0] == "paid":
        paid = keys.pop()[:-1]
        keys += [(*paid, kind) for kind in ["", *families] if not (payment.ids and kind == payment.family)]
    return keys


def merge_duplicates(payments: Sequence[Payment]) -> tuple[list[Payment], list[Payment]]:
    """(each booking once, the copies found in later files: a CAMT.054 beside its CAMT.053, an MT940 …)."""
    seen: dict[tuple, list[Payment]] = {}  # the payments of the files done, by key
    families = sorted({p.family for p in payments})
    kept, copies = [], []
    for _, group in groupby(payments, key=lambda p: p.statement):
        # Each earlier payment stands for one copy per later file: two equal transfers in one file are two.
        used: set[int] = set()
        cursor: dict[tuple, int] = {}  # per key, how many earlier payments this file has used up
        new = []
        for payment in group:
            earlier = None
            for key in _wanted(payment, families):
                candidates = seen.get(key, ())
                i = cursor.get(key, 0)
                while i < len(candidates) and id(candidates[i]) in used:
                    i += 1
                cursor[key] = i
                if i < len(candidates):
                    earlier = candidates[i]
                    break
            if earlier is None:
                new.append(payment)
            else:
                used.add(id(earlier))
                copies.append(payment)
        for payment in new:
            for key in _keys(payment):
                seen.setdefault(key, []).append(payment)
        kept += new
    return kept, copies


def match(
    entries: Sequence[Entry], payments: Payments, *, fee_tolerance: Decimal = Decimal(0), accept_near: bool = False
) -> Matching:
    """Mark each pledge with the money received for its reference; list payments nobody pledged."""
    by_reference: dict[str, Entry] = {}
    for entry in entries:
        entry.received, entry.tolerance = Decimal(0), fee_tolerance
        by_reference.setdefault(entry.reference, entry)
    known = {reference.replace("-", ""): reference for reference in by_reference}
    typos = Typos(known)
    for payment in payments.payments:
        payment.references = find_references(payment.text, known)
        if not payment.references:
            payment.note, payment.near = explain_unknown(payment.text, typos)
    counted, duplicates = merge_duplicates(payments.payments)
    received, unknown = Decimal(0), []
    for payment in counted:
        references = payment.references or ([payment.near] if accept_near and payment.near else [])
        if not references:
            unknown.append(payment)
            continue
        received += payment.amount
        _allocate(payment.amount, [by_reference[r] for r in references])
    return Matching(payments, counted, duplicates, received, unknown, fee_tolerance, accept_near)


def _allocate(amount: Decimal, entries: list[Entry]) -> None:
    """One transfer for several pledges fills each in turn, the rest to the last; a reversal undoes the first."""
    if amount < 0:
        entries[0].received += amount
        return
    for i, entry in enumerate(entries):
        share = amount if i == len(entries) - 1 else min(amount, max(entry.amount - entry.received, 0))
        entry.received += share
        amount -= share
