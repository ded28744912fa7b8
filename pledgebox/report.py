"""The review's output: the table, the totals, the CSV and JSON exports and the printed report."""

from __future__ import annotations

import csv
import functools
import io
import shutil
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from . import files
from .errors import OutputExists, PledgeboxError
from .payments import Matching, Payment
from .review import Entry, Result
from .safetext import csv_cell, fit, terminal, width

TABLE = ("reference", "day", "amount", "designation", "method", "pseudonym", "contact", "message")
STATUSES = ("received", "partly received", "open")
MAX_PROBLEMS_SHOWN = 20  # per file: a file of garbage must not flood the terminal
OUTPUT_HINT = "choose a new file name, or move the old file away first (it holds plaintext pledges)"


class OutputError(PledgeboxError):
    """The output file could not be written:"""

    hint = "check that the folder exists, that this user may write there, and that the disk is not full"


def write_private(path: Path, text: str, *, encoding: str = "utf-8") -> None:
    """Create path (mode 0600, never replacing a file) holding text; leave nothing on failure."""
    files.create(path, text.encode(encoding), functools.partial(OutputExists, hint=OUTPUT_HINT), OutputError)


def csv_text(result: Result, matching: Matching | None = None, *, german: bool = False) -> str:
    """The pledges as CSV for a spreadsheet, every cell neutralised against formulas.

    german: ';' between cells and ',' as the decimal mark, as German spreadsheet programs read numbers.
    """
    columns = [*TABLE[:3], "currency", *TABLE[3:], "language", "campaign", "copies"]
    if matching:
        columns += ["received", "status", "short"]
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=";" if german else ",", quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(columns)
    for entry in result.entries:
        values = {**entry.document(matching is not None), "copies": str(len(entry.sources))}
        # Amounts are written by review itself, never by a donor: numbers, not text to neutralise.
        writer.writerow(
            [
                values[name].replace(".", ",")
                if german and name in _AMOUNTS
                else values[name]
                if name in _AMOUNTS
                else csv_cell(values[name])
                for name in columns
            ]
        )
    return buffer.getvalue()


_AMOUNTS = frozenset({"amount", "received", "short"})


def _place(p: Payment) -> dict:
    """Where a payment is, as JSON values."""
    return {"file": p.file, "where": p.where, "day": p.day, "amount": f"{p.amount:.2f}"}


def json_document(result: Result, matching: Matching | None = None) -> dict:
    """The pledges, totals and problems as one JSON document for scripts."""
    doc = {
        "pledgebox-review": 1,
        "files": result.files,
        "pledges": [entry.document(matching is not None) for entry in result.entries],
        "totals": {
            kind: {
                key: {"pledges": n, "amount": f"{amount:.2f}", "received": f"{received:.2f}"}
                for key, (n, amount, received) in rows.items()
            }
            for kind, rows in totals(result.entries).items()
        },
        "records": result.records,
        "duplicates": result.duplicates,
        "other_keys": [{"key_ids": list(ids), "records": n} for ids, n in result.other_keys.items()],
        "damaged": [{"file": p.source.file, "line": p.source.line, "reason": p.reason} for p in result.damaged],
        "conflicts": [
            {
                "kind": c.what,
                "value": c.value,
                "first": {"file": c.first.file, "line": c.first.line},
                "second": {"file": c.second.file, "line": c.second.line},
            }
            for c in result.conflicts
        ],
    }
    if matching:
        doc["payments"] = {
            "files": [
                {
                    "file": name,
                    "kind": s.kind,
                    "currency": s.currency,
                    "incoming": len(s.bookings),
                    "outgoing": s.outgoing,
                    "pending": s.pending,
                    "unreadable": s.unreadable,
                }
                for name, s in matching.payments.statements
            ],
            "received": f"{matching.received:.2f}",
            "pledged": f"{result.pledged:.2f}",
            "fee_tolerance": f"{matching.fee_tolerance:.2f}",
            "accept_near": matching.accept_near,
            "counted_once": [_place(p) for p in matching.duplicates],
            "unknown": [
                _place(p) | {"text": p.text, "note": p.note, "probably": p.near or None} for p in matching.unknown
            ],
            "near": [_place(p) | {"reference": p.near, "counted": matching.accept_near} for p in matching.near],
            "raised": raised_command(result, matching),
        }
    return doc


def raised_command(result: Result, matching: Matching) -> str:
    """The command that publishes the amount received and pledged."""
    return f"python app.py raised {matching.received:.2f} --pledged {result.pledged:.2f}"


def totals(entries: Sequence[Entry]) -> dict[str, dict[str, tuple[int, Decimal, Decimal]]]:
    """Count, amount and received per designation, per method, and over all."""
    out: dict[str, dict[str, list]] = {"designation": {}, "method": {}, "all": {}}
    for entry in entries:
        for kind, key in (("designation", entry.designation), ("method", entry.method), ("all", "all")):
            row = out[kind].setdefault(key, [0, Decimal(0), Decimal(0)])
            row[0] += 1
            row[1] += entry.amount
            row[2] += entry.received
    return {kind: {key: tuple(rows[key]) for key in sorted(rows)} for kind, rows in out.items()}


# Maximum widths of the narrow text columns; the message takes what is left of the terminal.
_CAPS = {"designation": 20, "method": 12, "pseudonym": 20, "contact": 28}


def money(amount: Decimal) -> str:
    """1234.5 → '1,234.50'."""
    return f"{amount:,.2f}"


def table(
    entries: Sequence[Entry], *, payments: bool = False, columns: int | None = None, wide: bool = False
) -> list[str]:
    """The pledges as a readable, terminal-safe table: one line per pledge."""
    names = list(TABLE) + (["received", "status"] if payments else [])
    rows = []
    for entry in entries:
        cells = {name: terminal(str(getattr(entry, name))) for name in TABLE}
        cells["amount"] = money(entry.amount)
        if payments:
            short = f", {money(entry.short)} short" if entry.short else ""
            cells |= {"received": money(entry.received), "status": entry.status + short}
        rows.append(cells)
    widths = {name: max([width(name)] + [width(r[name]) for r in rows]) for name in names}
    if not wide:
        for name, cap in _CAPS.items():
            widths[name] = min(widths[name], max(cap, width(name)))
        total = columns or shutil.get_terminal_size((120, 24)).columns
        others = sum(widths[n] + 2 for n in names if n != "message")
        widths["message"] = min(widths["message"], max(20, total - others))
    right = {"amount", "received"}
    order = [n for n in names if n != "message"] + ["message"]

    def line(cells: dict[str, str]) -> str:
        parts = []
        for name in order:
            text = cells[name] if wide else fit(cells[name], widths[name])
            pad = " " * max(0, widths[name] - width(text))
            parts.append(pad + text if name in right else text + pad)
        return "  ".join(parts).rstrip()

    lines = [line({n: n.upper() for n in names})]
    lines += [line(r) for r in rows]
    return lines


def totals_lines(entries: Sequence[Entry], *, payments: bool = False) -> list[str]:
    """Totals per designation and per method, terminal-safe."""
    sums = totals(entries)
    n, amount, received = sums["all"].get("all", (0, Decimal(0), Decimal(0)))
    # Wide enough for the largest figure plus a space: planted records can make any total huge.
    w = 2 + max(12, len(money(amount)), len(money(received)))
    c = 2 + max(7, len(str(n)))
    head = f"{'':24}{'pledges':>{c}}{'amount':>{w}}" + (f"{'received':>{w}}" if payments else "")
    lines = []
    for kind, title in (("designation", "By designation"), ("method", "By method")):
        lines.append(f"{title:24}{head[24:]}")
        for key, (count, pledged, got) in sums[kind].items():
            extra = f"{money(got):>{w}}" if payments else ""
            lines.append(f"  {fit(terminal(key), 21):22}{count:>{c}}{money(pledged):>{w}}{extra}")
    extra = f"{money(received):>{w}}" if payments else ""
    lines.append(f"{'All':24}{n:>{c}}{money(amount):>{w}}{extra}")
    return lines


def report(result: Result, matching: Matching | None, out, err, *, wide: bool = False) -> None:
    """Print the table, the totals and the summary to out; problems as warnings to err."""
    payments = matching is not None
    columns = shutil.get_terminal_size((120, 24)).columns
    if result.entries:
        for text in table(result.entries, payments=payments, columns=columns, wide=wide):
            print(text, file=out)
        print(file=out)
        for text in totals_lines(result.entries, payments=payments):
            print(text, file=out)
        print(file=out)
    _warnings(result, err)
    summary = (
        f"{count(len(result.files), 'file')}, {count(result.records, 'record')}: {count(len(result.entries), 'pledge')}"
    )
    details = [
        (result.duplicates, "duplicates merged"),
        (sum(result.other_keys.values()), "sealed to other keys"),
        (len(result.damaged), "damaged and skipped"),
        (len(result.conflicts), "conflicting"),
    ]
    summary += "".join(f", {n} {what}" for n, what in details if n)
    currencies = {e.currency for e in result.entries}
    print(summary + ".", file=out)
    print(f"Pledged: {money(result.pledged)} {'/'.join(terminal(c) for c in sorted(currencies)) or 'EUR'}.", file=out)
    if matching:
        _payments_report(result, matching, out, err)


def count(n: int, noun: str) -> str:
    """'1 record', '2 records'."""
    return f"{n} {noun}{'s' * (n != 1)}"


def _warnings(result: Result, err) -> None:
    """Damaged records, other keys and conflicts, as `pledgebox: warning: …` lines."""
    shown: Counter = Counter()
    for problem in result.damaged:
        shown[problem.source.file] += 1
        if shown[problem.source.file] <= MAX_PROBLEMS_SHOWN:
            print(f"pledgebox: warning: {problem}", file=err)
    for name, n in shown.items():
        if n > MAX_PROBLEMS_SHOWN:
            print(
                f"pledgebox: warning: {terminal(name)}: {n - MAX_PROBLEMS_SHOWN} more damaged "
                "records skipped (the JSON output lists them all)",
                file=err,
            )
    for ids, n in sorted(result.other_keys.items()):
        keys = ", ".join(" ".join(k[i : i + 4] for i in range(0, len(k), 4)) for k in ids)
        print(
            f"pledgebox: warning: {n} record{'s' * (n != 1)} sealed only to other keys ({keys}): "
            "give the matching --identity to open them",
            file=err,
        )
    for conflict in result.conflicts:
        print(f"pledgebox: warning: {conflict}", file=err)
    campaigns = result.campaigns
    if len(campaigns) > 1:
        print(
            "pledgebox: warning: the pledges come from several campaigns: " + ", ".join(terminal(c) for c in campaigns),
            file=err,
        )
    if result.records and not result.entries and result.other_keys:
        print("pledgebox: hint: none of the records is sealed to the identity given: is it the right one?", file=err)


def _payments_report(result: Result, matching: Matching, out, err) -> None:
    """Which pledges are paid, which payments are unknown, and the command that publishes the total."""
    print(file=out)
    for name, statement in matching.payments.statements:
        left_out = [(statement.outgoing, "outgoing"), (statement.pending, "not booked yet")]
        print(
            f"Payments from {terminal(name)} ({terminal(statement.kind)}): {len(statement.bookings)} incoming"
            + "".join(f", {n} {what} left out" for n, what in left_out if n)
            + ".",
            file=out,
        )
        if statement.unreadable:
            where = ", ".join(statement.unreadable[:10]) + (" …" if len(statement.unreadable) > 10 else "")
            print(
                f"pledgebox: warning: {terminal(name)}: the amount of {terminal(where)} could not be read, left out",
                file=err,
            )
    if matching.duplicates:
        n = len(matching.duplicates)
        print(f"{count(n, 'payment')} found in two files {'was' if n == 1 else 'were'} counted once.", file=out)
    counted = matching.counted
    print(f"{len(counted)} incoming, {len(counted) - len(matching.unknown)} matched to pledges.", file=out)
    several = len(matching.payments.statements) > 1
    if matching.unknown:
        print(
            f"{count(len(matching.unknown), 'payment')} ({money(matching.unknown_total)}) "
            f"{'has' if len(matching.unknown) == 1 else 'have'} no known reference:",
            file=out,
        )
        for p in matching.unknown:
            print(
                f"  {_where(p, several)} {fit(terminal(p.day), 10):10} {money(p.amount):>12}  {terminal(p.note)}  "
                f'"{fit(terminal(p.text), 60)}"',
                file=out,
            )
    if matching.near and matching.accept_near:
        print(
            f"{count(len(matching.near), 'payment')} ({money(matching.near_total)}) counted for the reference "
            "a typo probably meant (--accept-near):",
            file=out,
        )
        for p in matching.near:
            print(f"  {_where(p, several)} {money(p.amount):>12}  → {p.near}", file=out)
    elif matching.near:
        print(
            f"{count(len(matching.near), 'payment')} ({money(matching.near_total)}) with a mistyped reference: "
            "check them, then --accept-near counts them for the reference they probably meant.",
            file=out,
        )
    _received(result, matching, out)


def _where(payment: Payment, with_file: bool) -> str:
    """Where a payment is: 'row 12', or 'camt.xml: entry 3' when review was given several statements."""
    where = f"{Path(payment.file).name}: {payment.where}" if with_file else payment.where
    return f"{fit(terminal(where), 30):30}"


def _received(result: Result, matching: Matching, out) -> None:
    """The total received, the statuses, and the command that publishes the total."""
    counts = Counter(entry.status for entry in result.entries)
    short = sum(1 for entry in result.entries if entry.short)
    fees = f" ({short} of them less than pledged, within --fee-tolerance {matching.fee_tolerance:.2f})" if short else ""
    print(
        f"Received: {money(matching.received)} of {money(result.pledged)} pledged: "
        + ", ".join(f"{counts.get(s, 0)} {s}" + (fees if s == "received" else "") for s in STATUSES)
        + ".",
        file=out,
    )
    print("To publish the amount received, run on the server:", file=out)
    print(f"  python app.py raised {matching.received:.2f}", file=out)
    print(f"  (or, to show the amount pledged as well: {raised_command(result, matching)})", file=out)
