"""The `review` command: open collected files on the organisers' machine, export them, match bank payments."""

from __future__ import annotations

import argparse
import os
import re
import sys
from decimal import Decimal
from pathlib import Path

from . import keys, safetext, sealing
from .cliargs import command, no_passphrase_argument, refuse_passphrase_argument
from .errors import OutputExists, UsageError


def cmd_review(args) -> int:
    """Open collected files with the organisers' identities; print, export and match payments."""
    from . import payments, report, review, store

    refuse_passphrase_argument(args)
    # Refused before any passphrase is asked for or any record opened.
    outputs = [path for path in (args.csv, args.json) if path is not None]
    if any(str(path) == "-" for path in outputs):
        # Not standard output: plaintext pledges belong in a private file (0600), never in a pipe or a scrollback.
        raise UsageError(
            "--csv and --json write a new file; '-' would be a file named '-'.",
            hint="name the file, e.g. --csv pledges.csv (it is written with mode 0600)",
        )
    for path in outputs:
        if os.path.lexists(path):
            raise OutputExists(str(path), hint=report.OUTPUT_HINT)
    if len(outputs) == 2 and os.path.abspath(outputs[0]) == os.path.abspath(outputs[1]):
        raise UsageError("--csv and --json name the same file.")
    for path in args.files:
        if not path.is_file():
            raise store.RecordsUnreadable(f"{path}: no such file")
        if sealing.looks_like_identity(path):
            raise review.NotRecords(str(path))
    passphrase_files = args.passphrase_file or []
    if len(passphrase_files) not in (0, 1, len(args.identity)):
        raise UsageError("give one --passphrase-file for all identities, or one per --identity, in the same order.")
    if args.csv_format != "en" and not args.csv:
        raise UsageError("--csv-format only means something with --csv.", hint="add --csv OUT, or leave it out")
    if not args.payments and (args.fee_tolerance or args.accept_near):
        raise UsageError(
            "--fee-tolerance and --accept-near only mean something with --payments.",
            hint="add --payments with the bank statements, or leave those options out",
        )
    statement = payments.read_payments(args.payments) if args.payments else None
    for path in args.identity:
        keys.check_identity_file(path)  # all of them, before the first passphrase is typed
    identities = [keys.open_identity(path, passphrase_files, i) for i, path in enumerate(args.identity)]
    result = review.open_files(args.files, identities, progress_stream=sys.stderr)
    matching = (
        payments.match(result.entries, statement, fee_tolerance=args.fee_tolerance, accept_near=args.accept_near)
        if statement
        else None
    )
    if args.csv:
        # With a byte order mark, spreadsheet programs read the UTF-8 (Cyrillic, umlauts) correctly.
        text = report.csv_text(result, matching, german=args.csv_format == "de")
        report.write_private(args.csv, text, encoding="utf-8-sig")
    if args.json:
        report.write_private(args.json, safetext.json_text(report.json_document(result, matching)) + "\n")
    if hasattr(sys.stdout, "reconfigure"):
        # A terminal that cannot show a character gets an escape, not a crash halfway through the table.
        sys.stdout.reconfigure(errors="backslashreplace")
    report.report(result, matching, sys.stdout, sys.stderr, wide=args.wide)
    for path in outputs:
        print(
            f"Wrote {safetext.terminal(str(path))} (mode 0600). "
            "It holds the pledges in plaintext: keep it on this machine."
        )
    return 0


def add_review(sub) -> None:
    """`review FILE… --identity KEYFILE`: passphrases, exports, payments, width."""
    sp = command(
        sub,
        "review",
        cmd_review,
        "on the organisers' machine: open collected files, merge duplicates, show, export and match payments",
        """
python app.py review /media/usb/*.sealed --identity ~/pledgebox/anna.identity
python app.py review server.sealed mirror1.sealed --identity anna.identity --csv pledges.csv --json pledges.json
python app.py review *.sealed --identity anna.identity --payments camt053.xml --fee-tolerance 0.50
python app.py review *.sealed --identity anna.identity --payments kontoauszug.sta umsaetze.csv --accept-near
python app.py review *.sealed --identity anna.identity --csv pledges.csv --csv-format de   # for German spreadsheets
python app.py review *.sealed --identity new.identity --identity old.identity   # after a key rotation

Bank statements are recognised by content: CAMT.053/.054 XML and MT940 (both need
pip install 'pledgebox[bank]'), or a CSV export with a header row: a column for the amount
('Betrag', 'Amount', 'Umsatz', 'Haben', 'Credit') and one or more for the remittance text
('Verwendungszweck', 'Reference', 'Description', 'Buchungstext', …). A reference is found
anywhere in that text, in any case, with or without separators; the same payment in two files
counts once.""",
    )
    sp.add_argument("files", type=Path, nargs="+", metavar="FILE", help="files written by `collect`")
    sp.add_argument(
        "--identity",
        type=Path,
        action="append",
        required=True,
        metavar="KEYFILE",
        help="an organiser's identity file (repeat it to open records sealed to older keys)",
    )
    sp.add_argument(
        "--passphrase-file",
        type=Path,
        action="append",
        metavar="FILE",
        help="read the passphrase from FILE instead of the terminal (once for all identities, or once per --identity)",
    )
    sp.add_argument(
        "--csv", type=Path, metavar="OUT", help="also write the pledges as CSV for a spreadsheet (new file, mode 0600)"
    )
    sp.add_argument(
        "--json", type=Path, metavar="OUT", help="also write pledges, totals and problems as JSON (new file, mode 0600)"
    )
    sp.add_argument(
        "--csv-format",
        choices=("en", "de"),
        default="en",
        help="en: ',' between cells, '.' in amounts (default); de: ';' and ',' for German spreadsheets",
    )
    add_payment_options(sp)
    sp.add_argument("--wide", action="store_true", help="show every cell in full instead of fitting the terminal")
    no_passphrase_argument(sp)


def add_payment_options(sp) -> None:
    """review's bank-statement options: the files, fees and typos."""
    sp.add_argument(
        "--payments",
        type=Path,
        nargs="+",
        action="extend",
        metavar="FILE",
        help="bank statements (CAMT.053/.054, MT940 or CSV): mark each pledge received, partly received or open",
    )
    sp.add_argument(
        "--fee-tolerance",
        type=_fee,
        default=Decimal(0),
        metavar="AMOUNT",
        help="count a pledge as received when at most AMOUNT is missing (bank fees; default 0)",
    )
    sp.add_argument(
        "--accept-near",
        action="store_true",
        help="count a payment whose reference has a typo for the reference it probably meant",
    )


def _fee(text: str) -> Decimal:
    """A fee tolerance such as 0.50 or 0,50: from 0 to 999.99."""
    if not re.fullmatch(r"[0-9]{1,3}(?:[.,][0-9]{1,2})?", text.strip()):
        raise argparse.ArgumentTypeError("give an amount such as 0.50 (from 0 to 999.99)")
    return Decimal(text.strip().replace(",", "."))
