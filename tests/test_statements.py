"""Bank statements: CAMT.053/.054 and MT940 read by content; hostile files refused with a clear error."""

from __future__ import annotations

import sys
import time
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import ref
from pledgebox import statements
from pledgebox.statements import StatementUnreadable, camt, iso_day, kind
from pledgebox.statements import mt940 as mt940_reader
from support.bankfiles import PAYER, Entry, Tx, camt_053, german_86, mt940, mt940_line
from support.bankfiles import camt as camt_file


def read(tmp_path, data: bytes, name: str = "statement") -> statements.Statement:
    """Write data to a file and read it as review does."""
    path = tmp_path / name
    path.write_bytes(data)
    return statements.read(path)


def summary(statement: statements.Statement) -> list[tuple[str, str, str]]:
    """(where, amount, text) per booking."""
    return [(b.where, f"{b.amount:.2f}", b.text) for b in statement.bookings]


@pytest.mark.parametrize("version", [2, 4, 8, 13])
def test_camt_053_credits_batches_reversals_and_what_is_left_out(tmp_path, version):
    statement = read(tmp_path, camt_053(version))
    assert statement.kind == f"CAMT.053 (camt.053.001.{version:02d})"
    assert statement.currency == "EUR"
    assert summary(statement) == [
        ("entry 1", "25.00", f"Spende {ref(1)}"),
        ("entry 2, transaction 1", "30.00", f"Spende {ref(2)}"),
        ("entry 2, transaction 2", "20.00", f"RF18{ref(3).replace('-', '')}"),
        ("entry 2, transaction 3", "30.00", f"für {ref(4).lower()}"),
        ("entry 5", "-25.00", f"Rueckbuchung {ref(1)}"),
        ("entry 6", "40.00", f"Spende {ref(6)[:4]} {ref(6)[4:]} danke"),
    ]
    assert (statement.outgoing, statement.pending, statement.unreadable) == (1, 1, [])
    assert sum(b.amount for b in statement.bookings) == Decimal("120.00")
    assert [b.day for b in statement.bookings][:2] == ["2026-11-24", "2026-11-25"]
    assert statement.bookings[0].ids == {"E-1", "TX-1"}
    assert statement.bookings[1].ids == {"E-2#1"}


def test_the_payer_is_never_kept(tmp_path):
    statement = read(tmp_path, camt_053())
    assert PAYER not in repr(statement) and "DE02120300000000202051" not in repr(statement)
    statement = read(
        tmp_path, mt940([mt940_line("2026-11-24", "C", "25,00", "B1", german_86("166", "GUTSCHRIFT", [ref(1)]))])
    )
    assert statement.bookings and PAYER[:27] not in repr(statement) and "DE0212030000" not in repr(statement)


def test_camt_054_is_read_like_053(tmp_path):
    data = camt_file([Entry("25.00", [Tx(ustrd=[ref(1)], acct_svcr_ref="TX-1")], ref="E-1")], message="054")
    statement = read(tmp_path, data)
    assert statement.kind == "CAMT.054 (camt.054.001.08)"
    assert summary(statement) == [("entry 1", "25.00", ref(1))]


def test_a_batch_whose_parts_have_no_amount_in_the_account_currency_is_one_booking(tmp_path):
    data = camt_file([Entry("50.00", [Tx(ustrd=[ref(1)]), Tx(ustrd=[ref(2)])], ref="E-1")])
    assert summary(read(tmp_path, data)) == [("entry 1", "50.00", f"{ref(1)} / {ref(2)}")]


def test_an_entry_in_another_currency_is_left_out_and_named(tmp_path):
    data = camt_file([Entry("25.00", [Tx(ustrd=[ref(1)])]), Entry("30.00", [Tx(ustrd=[ref(2)])], currency="USD")])
    statement = read(tmp_path, data)
    assert summary(statement) == [("entry 1", "25.00", ref(1))]
    assert statement.unreadable == ["entry 2 (in USD, not EUR)"]


def test_mt940_as_german_banks_write_it(tmp_path):
    split = ref(2)
    data = mt940(
        [
            mt940_line(
                "2026-11-24", "C", "25,00", "BANK0001", german_86("166", "GUTSCHR. UEBERWEISUNG", [f"Spende {ref(1)}"])
            ),
            # ?21 and ?22 break the reference in two, as a bank cuts a long line.
            mt940_line(
                "2026-11-25",
                "C",
                "1000,00",
                "BANK0002",
                german_86("166", "GUTSCHRIFT", [f"Spende {split[:7]}", f"{split[7:]} danke"], end_to_end="E2E-77"),
            ),
            mt940_line("2026-11-25", "D", "800,00", "BANK0003", german_86("105", "LASTSCHRIFT", ["Miete"])),
            mt940_line(
                "2026-11-26", "RC", "25,00", "BANK0004", german_86("159", "RUECKUEBERWEISUNG", [f"Storno {ref(1)}"])
            ),
            mt940_line("2026-11-27", "C", "5,50", "", german_86("166", "GUTSCHRIFT", ["Für die Gefangenen"])),
        ]
    )
    statement = read(tmp_path, data)
    assert statement.kind == "MT940" and statement.currency == "EUR"
    assert summary(statement) == [
        ("booking 1", "25.00", f"Spende {ref(1)}"),
        ("booking 2", "1000.00", f"Spende {split} danke E2E-77"),
        ("booking 4", "-25.00", f"Storno {ref(1)}"),
        ("booking 5", "5.50", "Für die Gefangenen"),
    ]
    assert statement.outgoing == 1
    assert statement.bookings[1].ids == {"BANK0002", "E2E-77"}
    assert statement.bookings[1].day == "2026-11-25"


@pytest.mark.parametrize(
    "data, expected",
    [
        (b'<?xml version="1.0"?><Document/>', "xml"),
        (b"\xef\xbb\xbf  \n<Document>", "xml"),
        (b":20:STARTUMSE\r\n:25:1/2\r\n:28C:1\r\n", "mt940"),
        (b"{1:F01X}{2:O940}{4:\r\n:20:X\r\n", "mt940"),
        (b"Buchungstag;Verwendungszweck;Betrag\n", "csv"),
        (b"Reference,Amount\n:20: in a cell,1\n", "csv"),
    ],
)
def test_the_format_is_recognised_by_content(data, expected):
    assert kind(data) == expected


@pytest.mark.parametrize(
    "text, day",
    [
        ("24.11.2026", "2026-11-24"),
        ("1.2.26", "2026-02-01"),
        ("2026-11-24T10:00:00+01:00", "2026-11-24"),
        ("31.02.2026", "31.02.2026"),
        ("11/24/2026", "11/24/2026"),
        ("", ""),
    ],
)
def test_days_in_iso_form(text, day):
    assert iso_day(text) == day


# -- hostile files ---------------------------------------------------------------------------------

BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><Stmt><Ntry>
<Amt Ccy="EUR">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
<NtryDtls><TxDtls><RmtInf><Ustrd>&lol9;</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry></Stmt></BkToCstmrStmt></Document>
"""


def _external(target) -> bytes:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM "file://{target}">]>\n'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt><Stmt><Ntry>'
        '<Amt Ccy="EUR">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><NtryDtls><TxDtls>'
        "<RmtInf><Ustrd>&x;</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry></Stmt></BkToCstmrStmt></Document>"
    ).encode()


def test_an_xml_bomb_is_refused_at_once(tmp_path):
    start = time.perf_counter()
    with pytest.raises(StatementUnreadable, match="declares a document type or entities"):
        read(tmp_path, BOMB)
    assert time.perf_counter() - start < 10  # refused before anything is expanded (a hang, not a speed goal)


def test_an_external_entity_is_never_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text(f"SECRET {ref(1)}")
    with pytest.raises(StatementUnreadable, match="declares a document type or entities") as raised:
        read(tmp_path, _external(secret))
    assert "SECRET" not in raised.value.message


def test_a_file_over_the_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "huge.xml"
    with open(path, "wb") as file:
        file.write(camt_053()[:-30])
        file.seek(100 * 1024 * 1024)  # 100 MB, without writing them to the disk
        file.write(b"</Document>\n")
    monkeypatch.setattr(camt, "read", lambda *a: pytest.fail("a file over the limit was parsed"))
    with pytest.raises(StatementUnreadable, match="larger than 64 MiB") as raised:
        statements.read_bytes(path)
    assert "shorter period" in raised.value.hint


def test_a_stream_over_the_limit_is_refused_without_reading_it_all(tmp_path):
    with pytest.raises(StatementUnreadable, match="larger than 1 MiB"):
        statements.read_bytes("/dev/zero", limit=2**20)


@pytest.mark.parametrize(
    "data, message",
    [
        (b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><Stmt>', "not well-formed XML"),
        (b"<Document><Stmt/></Document>", "not a CAMT.052, .053 or .054"),
        (b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"/>', "not a CAMT.052, .053 or .054"),
        (b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.99"/>', "camt.053.001.99, a version"),
        (b'<?xml version="1.0"?><!DOCTYPE Document><Document/>', "declares a document type"),
    ],
)
def test_broken_xml_is_a_clear_error(tmp_path, data, message):
    with pytest.raises(StatementUnreadable, match=message):
        read(tmp_path, data)


@pytest.mark.parametrize(
    "data",
    [
        b":20:X\r\n:25:1/2\r\n:61:garbage " + PAYER.encode() + b"\r\n:86:x\r\n",
        b":20:X\r\n:25:1/2\r\n:60F:C261123EUR1000,00\r\n:61:26112411X4CR25,00NMSC\r\n",
        b":20:\r\n:25:\r\n:61:\r\n",
    ],
)
def test_a_malformed_mt940_is_a_clear_error_that_names_no_payer(tmp_path, data, capfd):
    with pytest.raises(StatementUnreadable, match="a line is not valid MT940"):
        read(tmp_path, data)
    out, err = capfd.readouterr()
    assert out == "" and err == ""  # the library logs the lines it cannot parse: silenced


def test_without_the_bank_extra_a_clear_error_with_the_install_hint(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "defusedxml", None)
    monkeypatch.setitem(sys.modules, "defusedxml.ElementTree", None)
    with pytest.raises(statements.ExtraMissing) as raised:
        read(tmp_path, camt_053())
    assert "pledgebox[bank]" in raised.value.hint
    monkeypatch.setitem(sys.modules, "mt940", None)
    with pytest.raises(statements.ExtraMissing, match="mt-940"):
        read(tmp_path, mt940([]))


def _valid_mt940() -> bytes:
    return mt940(
        [
            mt940_line("2026-11-24", "C", "25,00", "BANK0001", german_86("166", "GUTSCHRIFT", [ref(1)])),
            mt940_line("2026-11-25", "RC", "5,00", "", german_86("159", "STORNO", [ref(2)])),
        ]
    )


def _damaged(data: bytes, cuts) -> bytes:
    """data with each (where, how many bytes, replacement) cut applied."""
    data = bytearray(data)
    for at, length, insert in cuts:
        data[at : at + length] = insert
    return bytes(data)


_CUTS = st.lists(st.tuples(st.integers(0, 1500), st.integers(0, 60), st.binary(max_size=12)), max_size=4)


@settings(max_examples=150, deadline=None)
@given(cuts=_CUTS, reader=st.sampled_from(["camt", "mt940"]))
def test_no_damaged_statement_crashes_or_hangs(cuts, reader):
    module, valid = {"camt": (camt, camt_053), "mt940": (mt940_reader, _valid_mt940)}[reader]
    start = time.perf_counter()
    try:
        statement = module.read("fuzz", _damaged(valid(), cuts))
    except StatementUnreadable:
        pass
    else:
        assert all(isinstance(b.amount, Decimal) and b.amount.is_finite() for b in statement.bookings)
    assert time.perf_counter() - start < 10  # a hang, not a speed goal


def test_an_mt940_without_subfields_keeps_all_of_86_as_remittance(tmp_path):
    data = mt940([f":61:2611241124CR25,00NTRFNONREF//B1\n:86:Spende {ref(1)[:6]}\n{ref(1)[6:]} danke\n"])
    assert summary(read(tmp_path, data)) == [("booking 1", "25.00", f"Spende {ref(1)[:6]}\n{ref(1)[6:]} danke")]


@pytest.mark.parametrize(
    "details",
    [
        # SWIFT's structured :86:, as Dutch banks write it, and with an ordering party (/ORDP/): the payer's name,
        # account and address sit beside the remittance, and only the remittance may be kept.
        f"/TRTP/SEPA OVERBOEKING/IBAN/NL20INGB0001234567/BIC/INGBNL2A/NAME/{PAYER}/REMI/USTD//{{ref}}/EREF/NOTPROVIDED",
        f"/ORDP//NAME/{PAYER}/ADDR/Lenina 1 Moskva/REMI/{{ref}}",
    ],
)
def test_an_mt940_in_swift_key_layout_keeps_only_the_remittance(tmp_path, details):
    text = details.replace("{ref}", ref(1))
    data = mt940([f":61:2611241124CR25,00NTRFNONREF//B1\n:86:{text[:65]}\n{text[65:]}\n"])
    [booking] = read(tmp_path, data).bookings
    assert ref(1) in booking.text.replace("\n", "")
    for kept in (PAYER[:12], "NL20INGB", "INGBNL2A", "Lenina"):
        assert kept not in repr(booking)


def test_a_camt_file_in_an_unknown_encoding_is_a_clear_error(tmp_path):
    data = b'<?xml version="1.0" encoding="x-nope"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"/>'
    with pytest.raises(StatementUnreadable):
        read(tmp_path, data)


def test_a_csv_cell_beyond_the_csv_modules_limit_is_a_clear_error(tmp_path):
    head = b"Buchungstag;Verwendungszweck;Betrag (EUR)\n26.11.2026;x;25,00\n"
    data = head + b'26.11.2026;"' + b"x" * 140_000 + b'";5,00\n'
    with pytest.raises(StatementUnreadable, match="not a CSV file a bank writes"):
        read(tmp_path, data)
