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
from .payments import Matching
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


def csv_text(result: Result, matching: Matching | None = None) -> str:
    """The pledges as CSV for a spreadsheet, every cell neutralised against formulas."""
    columns = [*TABLE[:3], "currency", *TABLE[3:], "language", "campaign", "copies"]
    if matching:
        columns += ["received", "status"]
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(columns)
    for entry in result.entries:
        values = {**entry.document(matching is not None), "copies": str(len(entry.sources))}
        writer.writerow([csv_cell(values[name]) for name in columns])
    return buffer.getvalue()


def json_document(result: Result, matching: Matching | None = None) -> dict:
    """The pledges, totals and problems as one JSON document for scripts."""
    doc = {
        "pledgebox-review": 1,
        "files": result.files,
        "pledges": [entry.document(matching is not None) for entry in result.entries],
        "totals": {kind: {key: {"pledges": n, "amount": f"{amount:.2f}", "received": f"{received:.2f}"}
                          for key, (n, amount, received) in rows.items()}
                   for kind, rows in totals(result.entries).items()},
        "records": result.records,
        "duplicates": result.duplicates,
        "other_keys": [{"key_ids": list(ids), "records": n} for ids, n in result.other_keys.items()],
        "damaged": [{"file": p.source.file, "line": p.source.line, "reason": p.reason} for p in result.damaged],
        "conflicts": [{"kind": c.what, "value": c.value, "first": {"file": c.first.file, "line": c.first.line},
                       "second": {"file": c.second.file, "line": c.second.line}} for c in result.conflicts],
    }
    if matching:
        doc["payments"] = {
            "file": matching.payments.path,
            "received": f"{matching.received:.2f}",
            "unknown": [{"row": p.row, "day": p.day, "amount": f"{p.amount:.2f}", "text": p.text, "note": p.note}
                        for p in matching.unknown],
        }
    return doc


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


def table(entries: Sequence[Entry], *, payments: bool = False, columns: int | None = None,
          wide: bool = False) -> list[str]:
    """The pledges as a readable, terminal-safe table: one line per pledge."""
    names = list(TABLE) + (["received", "status"] if payments else [])
    rows = []
    for entry in entries:
        cells = {name: terminal(str(getattr(entry, name))) for name in TABLE}
        cells["amount"] = money(entry.amount)
        if payments:
            cells |= {"received": money(entry.received), "status": entry.status}
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
    head = f"{'':24}{'pledges':>9}{'amount':>14}" + (f"{'received':>14}" if payments else "")
    lines = []
    for kind, title in (("designation", "By designation"), ("method", "By method")):
        lines.append(f"{title:24}{head[24:]}")
        for key, (n, amount, received) in sums[kind].items():
            extra = f"{money(received):>14}" if payments else ""
            lines.append(f"  {fit(terminal(key), 21):22}{n:>9}{money(amount):>14}{extra}")
    n, amount, received = sums["all"].get("all", (0, Decimal(0), Decimal(0)))
    extra = f"{money(received):>14}" if payments else ""
    lines.append(f"{'All':24}{n:>9}{money(amount):>14}{extra}")
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
    summary = (f"{count(len(result.files), 'file')}, {count(result.records, 'record')}: "
               f"{count(len(result.entries), 'pledge')}")
    details = [(result.duplicates, "duplicates merged"), (sum(result.other_keys.values()), "sealed to other keys"),
               (len(result.damaged), "damaged and skipped"), (len(result.conflicts), "conflicting")]
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
            print(f"pledgebox: warning: {terminal(name)}: {n - MAX_PROBLEMS_SHOWN} more damaged "
                  "records skipped (the JSON output lists them all)", file=err)
    for ids, n in sorted(result.other_keys.items()):
        keys = ", ".join(" ".join(k[i:i + 4] for i in range(0, len(k), 4)) for k in ids)
        print(f"pledgebox: warning: {n} record{'s' * (n != 1)} sealed only to other keys ({keys}): "
              "give the matching --identity to open them", file=err)
    for conflict in result.conflicts:
        print(f"pledgebox: warning: {conflict}", file=err)
    campaigns = result.campaigns
    if len(campaigns) > 1:
        print("pledgebox: warning: the pledges come from several campaigns: "
              + ", ".join(terminal(c) for c in campaigns), file=err)
    if result.records and not result.entries and result.other_keys:
        print("pledgebox: hint: none of the records is sealed to the identity given: is it the right one?",
              file=err)


def _payments_report(result: Result, matching: Matching, out, err) -> None:
    """Which pledges are paid, which payments are unknown, and the command that publishes the total."""
    payments = matching.payments
    counts = Counter(entry.status for entry in result.entries)
    matched = len(payments.payments) - len(matching.unknown)
    print(file=out)
    print(f"Payments from {terminal(payments.path)} ({terminal(payments.columns)}): "
          f"{len(payments.payments)} incoming, {matched} matched to pledges.", file=out)
    if payments.outgoing:
        print(f"  {count(payments.outgoing, 'row')} with an amount of zero or less "
              f"{'was' if payments.outgoing == 1 else 'were'} left out (outgoing).", file=out)
    if payments.unreadable:
        rows = ", ".join(str(n) for n in payments.unreadable[:10]) + (" …" if len(payments.unreadable) > 10 else "")
        print(f"pledgebox: warning: {terminal(payments.path)}: the amount of rows {rows} could not be read, "
              "they were left out", file=err)
    if matching.unknown:
        print(f"{count(len(matching.unknown), 'payment')} ({money(matching.unknown_total)}) "
              f"{'has' if len(matching.unknown) == 1 else 'have'} no known reference:",
              file=out)
        for p in matching.unknown:
            print(f"  row {p.row:<5} {fit(terminal(p.day), 10):10} {money(p.amount):>12}  {terminal(p.note)}  "
                  f"\"{fit(terminal(p.text), 60)}\"", file=out)
    print(f"Received: {money(matching.received)} of {money(result.pledged)} pledged: "
          + ", ".join(f"{counts.get(s, 0)} {s}" for s in STATUSES) + ".", file=out)
    print("To publish the amount received, run on the server:", file=out)
    print(f"  python app.py raised {matching.received:.2f}", file=out)
    print(f"  (or, to show the amount pledged as well: python app.py raised {matching.received:.2f} "
          f"--pledged {result.pledged:.2f})", file=out)
