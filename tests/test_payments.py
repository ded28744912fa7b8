"""`review --payments`: CAMT, MT940 and CSV statements matched to pledges; fees, typos, files that overlap."""

from __future__ import annotations

import csv
import io
import json
import sys
from decimal import Decimal

import pytest

from helpers import CAMPAIGN, entry, ref, rows, sealed, write_records
from pledgebox import keys, payments, pledges, report, review
from pledgebox.statements import bankcsv
from support.bankfiles import PAYER, Entry, Tx, camt, camt_053, german_86, mt940, mt940_line

# -- CSV statements ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, mark, amount",
    [
        ("1.234,50", ",", "1234.50"),
        ("1,234.50", ".", "1234.50"),
        ("25,00", ",", "25.00"),
        ("25.5", ".", "25.50"),
        ("1.234", ",", "1234.00"),
        ("1,234", ".", "1234.00"),
        ("1.234.567,89", ",", "1234567.89"),
        ("-12,00", ",", "-12.00"),
        ("25,00-", ",", "-25.00"),
        ("+25,00 €", ",", "25.00"),
        ("EUR 1 234,50", ",", "1234.50"),
        ("1\u00a0234,50 EUR", ",", "1234.50"),
        ("100", ".", "100.00"),
        ("1,234", ",", None),
        ("12,3456", ",", None),
        ("1,23,456", ".", None),
        ("", ",", None),
        ("abc", ".", None),
        ("1.2.3,4,5", ",", None),
        ("-", ".", None),
    ],
)
def test_amounts_from_bank_statements(text, mark, amount):
    assert bankcsv.parse_money(text, mark) == (Decimal(amount) if amount else None)


GERMAN = """Kontonummer:;DE89 3704 0044 0532 0130 00;
Zeitraum:;01.11.2026 - 30.11.2026;

Buchungstag;Valuta;Auftraggeber / Begünstigter;Buchungstext;Verwendungszweck;Betrag (EUR);Währung
24.11.2026;24.11.2026;Max Muster;Gutschrift;{ref1};25,00;EUR
24.11.2026;24.11.2026;Erika;Gutschrift;"Spende {ref2_loose} danke";1.000,00;EUR
25.11.2026;25.11.2026;Jemand;Gutschrift;SPENDE {ref3_spaced};5,00;EUR
25.11.2026;25.11.2026;Miete;Lastschrift;Miete November;-800,00;EUR
26.11.2026;26.11.2026;Unbekannt;Gutschrift;{typo};10,00;EUR
26.11.2026;26.11.2026;Fremd;Gutschrift;{unknown};7,50;EUR
26.11.2026;26.11.2026;Ohne;Gutschrift;Für die Gefangenen;20,00;EUR
27.11.2026;27.11.2026;Max Muster;Gutschrift;Rest {ref1};5,00;EUR
"""


def _typo(reference: str) -> str:
    """reference with one character changed: its check character no longer fits."""
    code = reference.replace("-", "")
    wrong = pledges.ALPHABET[(pledges.ALPHABET.index(code[2]) + 1) % 32]
    return code[:2] + wrong + code[3:]


def test_a_german_bank_statement_is_matched_by_reference(tmp_path, identity, run):
    amounts = {1: "50.00", 2: "1000.00", 3: "10.00", 4: "30.00"}
    write_records(tmp_path / "a.sealed", [(f"r{n}", sealed([identity], n, amount=a)) for n, a in amounts.items()])
    unknown = pledges.make_reference(b"nobody")
    statement = GERMAN.format(
        ref1=ref(1),
        ref2_loose=ref(2).replace("-", "").lower(),
        ref3_spaced=ref(3)[:3] + " " + ref(3)[3:].replace("-", " "),
        typo=_typo(ref(4)),
        unknown=unknown,
    )
    bank = tmp_path / "umsaetze.csv"
    bank.write_bytes(statement.encode("cp1252"))  # German banks often export Windows-1252
    out_json = tmp_path / "p.json"
    code, out, err = run(tmp_path / "a.sealed", "--payments", bank, "--json", out_json)
    assert code == 0, err
    status = {line[:11]: line for line in rows(out)}
    assert status[ref(1)].rstrip().endswith("30.00  partly received")
    assert status[ref(2)].rstrip().endswith("1,000.00  received")
    assert status[ref(3)].rstrip().endswith("5.00  partly received")
    assert status[ref(4)].rstrip().endswith("0.00  open")
    assert "7 incoming, 4 matched to pledges" in out
    assert ": 7 incoming, 1 outgoing left out." in out
    assert "3 payments (37.50) have no known reference:" in out
    assert f"a typo of {ref(4)}?" in out
    assert f"reference {unknown} is not among the pledges" in out
    assert "no reference found" in out
    assert "Received: 1,035.00 of 1,090.00 pledged: 1 received, 2 partly received, 1 open." in out
    assert "\n  python app.py raised 1035.00\n" in out
    assert "python app.py raised 1035.00 --pledged 1090.00" in out
    doc = json.loads(out_json.read_text())
    assert doc["payments"]["received"] == "1035.00"
    assert {p["reference"]: p["status"] for p in doc["pledges"]}[ref(2)] == "received"


def test_an_english_statement_with_commas(tmp_path, identity, run):
    write_records(
        tmp_path / "a.sealed",
        [("r1", sealed([identity], 1, amount="1234.50")), ("r2", sealed([identity], 2, amount="20.00"))],
    )
    bank = tmp_path / "statement.csv"
    bank.write_text(
        "Date,Description,Reference,Amount,Balance\n"
        f'2026-11-24,Transfer,"Donation, ref {ref(1).lower()}","1,234.50","9,999.00"\n'
        f'2026-11-25,Transfer,{ref(2)},25.00,"10,024.00"\n'
        '2026-11-25,Card,Coffee,-3.20,"10,020.80"\n',
        encoding="utf-8",
    )
    code, out, err = run(tmp_path / "a.sealed", "--payments", bank)
    assert code == 0, err
    status = {line[:11]: line.rstrip() for line in rows(out)}
    assert status[ref(1)].endswith("1,234.50  received")
    assert status[ref(2)].endswith("25.00  received")  # paid more than pledged: received
    assert "python app.py raised 1259.50" in out


def test_a_payments_file_without_the_columns_is_an_error_before_any_work(tmp_path, identity, run, monkeypatch):
    write_records(tmp_path / "a.sealed", [("r1", sealed([identity], 1))])
    bank = tmp_path / "bank.csv"
    bank.write_text("Datum;Name;Summe\n01.01.2026;X;5,00\n", encoding="utf-8")
    monkeypatch.setattr(keys, "load", lambda *a: pytest.fail("the identity was opened"))
    code, _, err = run(tmp_path / "a.sealed", "--payments", bank)
    assert code == 1
    assert "no header row with a reference column and an amount column" in err
    assert "Verwendungszweck" in err  # the hint names the expected columns


def test_one_transfer_for_two_pledges_fills_both(identity):
    entries = [entry(n, a, campaign=CAMPAIGN) for n, a in ((1, "20"), (2, "30"))]
    statement = payments.Payments([], [payments.Payment("bank.csv", "row 2", Decimal("60"), f"{ref(1)} und {ref(2)}")])
    matching = payments.match(entries, statement)
    assert matching.received == Decimal("60")
    assert [(e.received, e.status) for e in entries] == [(Decimal("20"), "received"), (Decimal("40"), "received")]


def test_a_reference_is_found_in_any_case_with_any_separators():
    reference = ref(7)
    known = {reference.replace("-", ""): reference}
    code = reference.replace("-", "")
    for text in (
        reference,
        reference.lower(),
        code,
        f"{code[:5]} {code[5:]}",
        f"{code[:5]}.{code[5:]}",
        f"Spende:{code}/danke",
        " ".join(code),
        f"x{code}y",
    ):
        assert payments.find_references(text, known) == [reference], text
    assert payments.find_references(_typo(reference), known) == []


# -- CAMT and MT940 -------------------------------------------------------------------------------

# The pledges the CAMT.053 of tests.bank_files pays: (n, amount, designation, method).
PLEDGES = [
    (1, "25.00", "group-a", "sepa"),
    (2, "30.00", "group-a", "sepa"),
    (3, "20.00", "group-b", "sepa"),
    (4, "50.00", "group-b", "paypal"),
    (5, "50.00", "split", "sepa"),
    (6, "40.00", "split", "sepa"),
]


@pytest.fixture
def pledged(tmp_path, identity):
    """A collected file holding PLEDGES."""
    path = tmp_path / "a.sealed"
    write_records(path, [(f"r{n}", sealed([identity], n, amount=a, designation=d, method=m)) for n, a, d, m in PLEDGES])
    return path


def statuses(out: str) -> dict[str, str]:
    """reference → the end of its table line (received and status)."""
    return {line[:11]: line.rstrip() for line in rows(out)}


def test_a_camt_053_gives_the_exact_totals_per_designation_and_method(tmp_path, pledged, run):
    bank = tmp_path / "camt.xml"
    bank.write_bytes(camt_053())
    out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
    code, out, err = run(pledged, "--payments", bank, "--json", out_json, "--csv", out_csv)
    assert code == 0, err
    status = statuses(out)
    assert status[ref(1)].endswith("0.00  open")  # paid, then the bank took it back (reversal)
    assert status[ref(2)].endswith("30.00  received")  # one part of a batch booking
    assert status[ref(3)].endswith("20.00  received")  # a structured RF creditor reference
    assert status[ref(4)].endswith("30.00  partly received")
    assert status[ref(5)].endswith("0.00  open")  # its payment is still pending
    assert status[ref(6)].endswith("40.00  received")  # the reference broken across two Ustrd lines
    assert "camt.xml (CAMT.053 (camt.053.001.08)): 6 incoming, 1 outgoing left out, 1 not booked yet left out." in out
    assert "Received: 120.00 of 215.00 pledged: 3 received, 1 partly received, 2 open." in out
    assert "\n  python app.py raised 120.00\n" in out
    totals = [
        line.split()
        for line in out.splitlines()
        if line.startswith("  group-")
        or line.startswith("  split")
        or line.startswith("  sepa")
        or line.startswith("  paypal")
    ]
    assert totals == [
        ["group-a", "2", "55.00", "30.00"],
        ["group-b", "2", "70.00", "50.00"],
        ["split", "2", "90.00", "40.00"],
        ["paypal", "1", "50.00", "30.00"],
        ["sepa", "5", "165.00", "90.00"],
    ]
    doc = json.loads(out_json.read_text())
    assert doc["payments"]["received"] == "120.00"
    assert doc["payments"]["raised"] == "python app.py raised 120.00 --pledged 215.00"
    assert doc["totals"]["designation"]["group-b"] == {"pledges": 2, "amount": "70.00", "received": "50.00"}
    assert doc["totals"]["method"]["paypal"] == {"pledges": 1, "amount": "50.00", "received": "30.00"}
    assert doc["payments"]["files"][0] | {"file": ""} == {
        "file": "",
        "kind": "CAMT.053 (camt.053.001.08)",
        "currency": "EUR",
        "incoming": 6,
        "outgoing": 1,
        "pending": 1,
        "unreadable": [],
    }
    for text in (out, err, out_json.read_text(), out_csv.read_text(encoding="utf-8-sig")):
        assert PAYER not in text and "DE02120300000000202051" not in text


def test_a_camt_054_gives_the_exact_total(tmp_path, pledged, run):
    bank = tmp_path / "notification.xml"
    # A line break inside one Ustrd line, in the middle of the reference.
    bank.write_bytes(
        camt(
            [
                Entry("30.00", [Tx(ustrd=[f"Spende {ref(2)[:7]}\n{ref(2)[7:]}"])], ref="N-1"),
                Entry("12.50", [Tx(ustrd=[ref(4)])], ref="N-2"),
                Entry("50.00", [Tx(ustrd=[ref(5)])], status="PDNG", ref="N-3"),
            ],
            message="054",
            version=2,
        )
    )
    code, out, err = run(pledged, "--payments", bank)
    assert code == 0, err
    assert "(CAMT.054 (camt.054.001.02)): 2 incoming, 1 not booked yet left out." in out
    assert "Received: 42.50 of 215.00 pledged: 1 received, 1 partly received, 4 open." in out
    assert "python app.py raised 42.50" in out


def mt940_statement() -> bytes:
    """An MT940 as a German bank writes it, paying pledges 2, 3 and 6."""
    return mt940(
        [
            mt940_line(
                "2026-11-25",
                "C",
                "30,00",
                "BANK0002",
                german_86("166", "GUTSCHR. UEBERWEISUNG", [f"Spende {ref(2)} danke"]),
            ),
            mt940_line(
                "2026-11-25",
                "C",
                "20,00",
                "BANK0003",
                german_86("166", "GUTSCHRIFT", ["Spende " + ref(3)[:8], ref(3)[8:]]),
            ),
            mt940_line("2026-11-25", "D", "800,00", "BANK0004", german_86("105", "LASTSCHRIFT", ["Miete"])),
            mt940_line("2026-11-26", "C", "39,50", "BANK0006", german_86("166", "AUSLANDSUEBERWEISUNG", [ref(6)])),
        ]
    )


def test_an_mt940_gives_the_exact_total_and_fees_can_be_tolerated(tmp_path, pledged, run):
    bank = tmp_path / "umsaetze.sta"
    bank.write_bytes(mt940_statement())
    code, out, err = run(pledged, "--payments", bank)
    assert code == 0, err
    assert "(MT940): 3 incoming, 1 outgoing left out." in out
    assert statuses(out)[ref(6)].endswith("39.50  partly received")
    assert "Received: 89.50 of 215.00 pledged: 2 received, 1 partly received, 3 open." in out
    assert PAYER[:20] not in out + err
    code, out, err = run(pledged, "--payments", bank, "--fee-tolerance", "0,50", "--json", tmp_path / "r.json")
    assert code == 0, err
    assert statuses(out)[ref(6)].endswith("39.50  received, 0.50 short")
    assert (
        "Received: 89.50 of 215.00 pledged: 3 received (1 of them less than pledged, within --fee-tolerance "
        "0.50), 0 partly received, 3 open."
    ) in out
    assert "python app.py raised 89.50" in out  # the money that arrived, not the money pledged
    pledge = {p["reference"]: p for p in json.loads((tmp_path / "r.json").read_text())["pledges"]}[ref(6)]
    assert (pledge["status"], pledge["received"], pledge["short"]) == ("received", "39.50", "0.50")


def test_one_cent_more_than_the_tolerance_is_partly_received(tmp_path, pledged, run):
    bank = tmp_path / "umsaetze.sta"
    bank.write_bytes(mt940_statement())
    code, out, err = run(pledged, "--payments", bank, "--fee-tolerance", "0.49")
    assert statuses(out)[ref(6)].endswith("39.50  partly received")


def test_the_same_payments_in_camt_and_mt940_are_counted_once(tmp_path, pledged, run):
    # The bank's references tie them together (AcctSvcrRef in the CAMT, the // reference in the MT940);
    # where the bank numbers them differently in the two formats, day, amount and the reference paid do.
    bank_camt = tmp_path / "camt.xml"
    bank_camt.write_bytes(
        camt(
            [
                Entry("30.00", [Tx(ustrd=[f"Spende {ref(2)}"], acct_svcr_ref="BANK0002")], day="2026-11-25"),
                Entry("20.00", [Tx(ustrd=[f"Spende {ref(3)}"], acct_svcr_ref="C-2026-0003")], day="2026-11-25"),
                Entry("39.50", [Tx(ustrd=[ref(6)], acct_svcr_ref="BANK0006")], day="2026-11-26"),
                # Another payment of the same amount for the same pledge on the same day, with its own reference.
                Entry("30.00", [Tx(ustrd=[f"Spende {ref(2)}"], acct_svcr_ref="BANK0099")], day="2026-11-25"),
            ]
        )
    )
    bank_mt940 = tmp_path / "umsaetze.sta"
    bank_mt940.write_bytes(mt940_statement())
    code, out, err = run(pledged, "--payments", bank_camt, bank_mt940)
    assert code == 0, err
    assert "3 payments found in two files were counted once." in out
    assert "Received: 119.50 of 215.00" in out
    code, out, err = run(pledged, "--payments", bank_mt940, "--payments", bank_camt)  # either order
    assert "Received: 119.50 of 215.00" in out


def test_a_camt_054_beside_its_camt_053_is_counted_once(tmp_path, pledged, run):
    statement, notification = tmp_path / "053.xml", tmp_path / "054.xml"
    statement.write_bytes(camt_053())
    # The notification of the batch booking: the same entry reference, the same transactions.
    notification.write_bytes(
        camt(
            [
                Entry(
                    "80.00",
                    [
                        Tx("30.00", [f"Spende {ref(2)}"]),
                        Tx("20.00", rf=f"RF18{ref(3).replace('-', '')}"),
                        Tx("30.00", [f"für {ref(4).lower()}"]),
                    ],
                    ref="E-2",
                    day="2026-11-25",
                )
            ],
            message="054",
        )
    )
    code, out, err = run(pledged, "--payments", statement, notification)
    assert code == 0, err
    assert "3 payments found in two files were counted once." in out
    assert "Received: 120.00 of 215.00" in out


def test_two_camt_files_with_different_bank_references_are_two_payments(tmp_path, pledged, run):
    first, second = tmp_path / "1.xml", tmp_path / "2.xml"
    first.write_bytes(camt([Entry("30.00", [Tx(ustrd=[ref(2)], acct_svcr_ref="A-1")])]))
    second.write_bytes(camt([Entry("30.00", [Tx(ustrd=[ref(2)], acct_svcr_ref="A-2")])]))
    code, out, err = run(pledged, "--payments", first, second)
    assert "counted once" not in out and "Received: 60.00 of 215.00" in out


def test_overlapping_csv_and_camt_without_common_references_count_once(tmp_path, pledged, run):
    csv_file, camt_file = tmp_path / "umsaetze.csv", tmp_path / "camt.xml"
    csv_file.write_text(
        "Buchungstag;Buchungstext;Verwendungszweck;Betrag\n"
        f"25.11.2026;Gutschrift;Spende {ref(2)};30,00\n"
        f"25.11.2026;Gutschrift;Spende {ref(2)};30,00\n"  # paid twice: both are real
        f"26.11.2026;Gutschrift;{ref(3)};20,00\n",
        encoding="utf-8",
    )
    camt_file.write_bytes(
        camt(
            [
                Entry("30.00", [Tx(ustrd=[f"{ref(2)}"])], day="2026-11-25", ref="X-1"),
                Entry("40.00", [Tx(ustrd=[ref(6)])], day="2026-11-26", ref="X-2"),
            ]
        )
    )
    code, out, err = run(pledged, "--payments", csv_file, camt_file)
    assert code == 0, err
    assert "1 payment found in two files was counted once." in out
    assert statuses(out)[ref(2)].endswith("60.00  received")
    assert "Received: 120.00 of 215.00" in out


def test_the_german_csv_statement_of_the_review_tests_gives_its_total(tmp_path, identity, run):
    amounts = {1: "50.00", 2: "1000.00", 3: "10.00", 4: "30.00"}
    write_records(tmp_path / "a.sealed", [(f"r{n}", sealed([identity], n, amount=a)) for n, a in amounts.items()])
    bank = tmp_path / "umsaetze.csv"
    bank.write_bytes(
        GERMAN.format(
            ref1=ref(1),
            ref2_loose=ref(2).replace("-", "").lower(),
            ref3_spaced=ref(3)[:3] + " " + ref(3)[3:].replace("-", " "),
            typo=_typo(ref(4)),
            unknown="",
        ).encode("cp1252")
    )
    code, out, err = run(tmp_path / "a.sealed", "--payments", bank)
    assert "Received: 1,035.00 of 1,090.00" in out
    assert "1 payment (10.00) with a mistyped reference: check them, then --accept-near counts them" in out
    code, out, err = run(tmp_path / "a.sealed", "--payments", bank, "--accept-near", "--json", tmp_path / "r.json")
    assert code == 0, err
    assert "1 payment (10.00) counted for the reference a typo probably meant (--accept-near):" in out
    assert f"row 9                                 10.00  → {ref(4)}" in out
    assert statuses(out)[ref(4)].endswith("10.00  partly received")
    assert "Received: 1,045.00 of 1,090.00" in out
    assert "\n  python app.py raised 1045.00\n" in out
    doc = json.loads((tmp_path / "r.json").read_text())["payments"]
    assert doc["near"] == [
        {
            "file": str(bank),
            "where": "row 9",
            "day": "2026-11-26",
            "amount": "10.00",
            "reference": ref(4),
            "counted": True,
        }
    ]
    assert doc["raised"] == "python app.py raised 1045.00 --pledged 1090.00"


def test_without_accept_near_a_typo_is_unknown_and_names_the_reference_it_probably_meant(tmp_path, pledged, run):
    bank = tmp_path / "camt.xml"
    bank.write_bytes(camt([Entry("30.00", [Tx(ustrd=[f"Spende {_typo(ref(2))}"])])]))
    code, out, err = run(pledged, "--payments", bank, "--json", tmp_path / "r.json")
    assert f"a typo of {ref(2)}?" in out
    assert "Received: 0.00 of 215.00" in out
    unknown = json.loads((tmp_path / "r.json").read_text())["payments"]["unknown"]
    assert [(u["where"], u["probably"]) for u in unknown] == [("entry 1", ref(2))]


def test_a_typo_as_close_to_two_references_is_no_guess():
    first = "ABCDEFGHJK"
    known = {first: "ABCDE-FGHJK", "ABCDEFGHJM": "ABCDE-FGHJM"}
    typos = payments.Typos(known)
    assert typos.near("ABCDEFGHJX") is None  # one character from both
    assert typos.near("ABCDEFGHKJ") == "ABCDE-FGHJK"  # two neighbours swapped
    assert typos.near("ABXDEFGHJK") == "ABCDE-FGHJK"
    assert typos.near("ABXDEFGHJX") is None  # two typos: too far


def test_german_and_english_csv_exports(tmp_path, pledged, run):
    bank = tmp_path / "camt.xml"
    bank.write_bytes(camt_053())
    code, _, err = run(
        pledged, "--payments", bank, "--csv", tmp_path / "de.csv", "--csv-format", "de", "--fee-tolerance", "1"
    )
    assert code == 0, err
    code, _, err = run(pledged, "--payments", bank, "--csv", tmp_path / "en.csv")
    assert code == 0, err
    german = list(csv.DictReader(io.StringIO((tmp_path / "de.csv").read_text("utf-8-sig")), delimiter=";"))
    english = list(csv.DictReader(io.StringIO((tmp_path / "en.csv").read_text("utf-8-sig"))))
    by_ref = {row["reference"]: row for row in german}
    assert (by_ref[ref(4)]["amount"], by_ref[ref(4)]["received"], by_ref[ref(4)]["short"]) == ("50,00", "30,00", "0,00")
    assert {row["reference"]: row["amount"] for row in english}[ref(4)] == "50.00"
    assert [row["status"] for row in german] == [row["status"] for row in english]
    assert (tmp_path / "de.csv").read_text("utf-8-sig").splitlines()[0].startswith('"reference";"day";"amount"')


def test_a_german_csv_without_csv_is_a_usage_error(tmp_path, pledged, run):
    code, _, err = run(pledged, "--csv-format", "de")
    assert code == 2 and "--csv-format only means something with --csv" in err and "hint:" in err


@pytest.mark.parametrize("value", ["-1", "1e3", "nan", "inf", "1000", "0.001", "abc", ""])
def test_a_fee_tolerance_that_is_not_an_amount_is_refused(tmp_path, pledged, run, value, capsys):
    bank = tmp_path / "camt.xml"
    bank.write_bytes(camt_053())
    with pytest.raises(SystemExit) as exited:
        run(pledged, "--payments", bank, "--fee-tolerance", value)
    assert exited.value.code == 2
    assert "give an amount such as 0.50" in capsys.readouterr().err


def test_fee_tolerance_or_accept_near_without_payments_is_a_usage_error(pledged, run):
    code, _, err = run(pledged, "--accept-near")
    assert code == 2 and "only mean something with --payments" in err


def test_a_sealed_file_given_as_a_statement_is_refused(tmp_path, pledged, run):
    code, _, err = run(pledged, "--payments", pledged)
    assert code == 2 and "is a file of collected pledges, not a bank statement" in err


def test_statements_in_two_currencies_are_refused(tmp_path, pledged, run):
    euro, dollar = tmp_path / "eur.xml", tmp_path / "usd.xml"
    euro.write_bytes(camt([Entry("30.00", [Tx(ustrd=[ref(2)])])]))
    dollar.write_bytes(camt([Entry("30.00", [Tx(ustrd=[ref(2)])], currency="USD")], currency="USD"))
    code, _, err = run(pledged, "--payments", euro, dollar)
    assert code == 1 and "different currencies: EUR, USD" in err and "one account at a time" in err


def test_a_hostile_statement_is_refused_before_any_identity_is_opened(tmp_path, pledged, run, monkeypatch):
    from test_statements import BOMB

    bank = tmp_path / "camt.xml"
    bank.write_bytes(BOMB)
    monkeypatch.setattr(keys, "load", lambda *a: pytest.fail("the identity was opened"))
    code, out, err = run(pledged, "--payments", bank)
    assert code == 1
    assert "declares a document type or entities" in err and "hint:" in err


def test_without_the_bank_extra_review_says_how_to_install_it(tmp_path, pledged, run, monkeypatch):
    monkeypatch.setitem(sys.modules, "mt940", None)
    bank = tmp_path / "umsaetze.sta"
    bank.write_bytes(mt940_statement())
    code, _, err = run(pledged, "--payments", bank)
    assert code == 1
    assert "needs a library that is not installed: mt-940" in err
    assert "hint: install the bank statement readers on this machine: pip install 'pledgebox[bank]'" in err


def test_a_reversal_without_a_reference_is_listed_as_unknown(pledged, identity):
    entries = review.open_files([pledged], [identity]).entries
    statement = payments.Payments([], [payments.Payment("b.xml", "entry 1", Decimal("-25.00"), "Storno")])
    matching = payments.match(entries, statement)
    assert matching.received == 0 and matching.unknown_total == Decimal("-25.00")
    out, err = io.StringIO(), io.StringIO()
    report._payments_report(review.open_files([pledged], [identity]), matching, out, err)
    assert "1 payment (-25.00) has no known reference" in out.getvalue()


def test_the_same_statement_given_twice_counts_once(tmp_path, pledged, run):
    bank = tmp_path / "camt.xml"
    bank.write_bytes(camt_053())
    code, out, err = run(pledged, "--payments", bank, bank)
    assert code == 0, err
    assert "6 payments found in two files were counted once." in out
    assert "Received: 120.00 of 215.00" in out
