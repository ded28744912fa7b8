"""The organisers' whole path: keygen → campaign.toml → pledges → collect → review → payments → raised → widget."""

from __future__ import annotations

import csv
import io
import json
import re
import threading
import time

import webtest

from helpers import FAST_SCRYPT, PASSPHRASE, Clock, campaign_toml, pledge_through, reference_of
from helpers import run_cli as run
from pledgebox import config, sealing, web
from pledgebox.store import read_records


class LockedClock(Clock):
    """The test clock, safe to advance from several threads (a lost update could move it backwards)."""

    def __init__(self, start: float):
        super().__init__(start)
        self._lock = threading.Lock()

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def table_references(out: str) -> list[str]:
    return [line[:11] for line in out.splitlines() if re.match(r"[0-9A-Z]{5}-[0-9A-Z]{5}  ", line)]


def test_from_keygen_to_the_published_amount(tmp_path, capsys):
    # 1. keygen on the organisers' machine.
    laptop = tmp_path / "laptop"
    laptop.mkdir()
    passfile = laptop / "pass"
    passfile.write_bytes(PASSPHRASE + b"\n")
    keyfile = laptop / "anna.identity"
    data = tmp_path / "server-data"
    data.mkdir()
    code, out, err = run(
        capsys,
        "keygen",
        "--data",
        data,
        "--out",
        keyfile,
        "--passphrase-file",
        passfile,
        "--scrypt-work",
        10,
        "--name",
        "Anna",
    )
    assert code == 0, err
    block = out[out.index("[[organisers]]") :].strip()

    # 2. The printed lines go into the server's campaign.toml; the server seals to that key.
    (data / "campaign.toml").write_text(campaign_toml([]) + "\n" + block + "\n", encoding="utf-8")
    cfg = config.load(data)
    assert not sealing.find_identities(data)
    clock = LockedClock(1795604400.0)
    client = webtest.TestApp(web.build_app(cfg, clock=clock))
    receipts = {}
    for lang, fields in (
        ("en", {"amount": "25", "pseudonym": "Аня", "message": "Солидарность!"}),
        ("de", {"amount": "1.000,50", "designation": "abc-irkutsk", "method": "cash"}),
        ("en", {"amount": "40", "designation": "solidarity-zone", "contact": "=1+1"}),
    ):
        receipt = pledge_through(client, clock, lang, **fields)
        assert receipt.status_int == 200
        receipts[reference_of(receipt.text)] = fields

    # 3. collect while more pledges arrive from several threads: none lost, none twice.
    first, second = tmp_path / "usb" / "1.sealed", tmp_path / "usb" / "2.sealed"
    first.parent.mkdir()
    threads_n, per_phase = 3, 4
    phase = threading.Barrier(threads_n + 1, timeout=120)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def donor(n: int) -> None:
        try:
            for part in range(2):
                for i in range(per_phase):
                    receipt = pledge_through(client, clock, "en", amount=str(5 + n), message=f"t{n}-{part}-{i}")
                    with lock:
                        receipts[reference_of(receipt.text)] = {"amount": str(5 + n)}
                if part == 0:
                    phase.wait()
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)
            phase.abort()

    threads = [threading.Thread(target=donor, args=(n,)) for n in range(threads_n)]
    for thread in threads:
        thread.start()
    phase.wait()
    code, out, err = run(capsys, "collect", "--data", data, "--out", first)
    assert code == 0, err
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive()
    assert not errors, errors
    code, out, err = run(capsys, "collect", "--data", data, "--out", second, "--purge")
    assert code == 0, err
    assert "Purged" in out
    assert len(receipts) == 3 + threads_n * per_phase * 2
    ids = [r.record_id for path in (first, second) for r in read_records(path)]
    assert len(ids) == len(set(ids)) == len(receipts)
    assert len(list(read_records(first))) >= 3 + threads_n * per_phase

    # 4. review on the laptop: both files, one of them given twice (as if also fetched from a mirror).
    out_csv, out_json = laptop / "pledges.csv", laptop / "pledges.json"
    code, out, err = run(
        capsys,
        "review",
        first,
        second,
        first,
        "--identity",
        keyfile,
        "--passphrase-file",
        passfile,
        "--csv",
        out_csv,
        "--json",
        out_json,
    )
    assert code == 0, err
    assert sorted(table_references(out)) == sorted(receipts)
    assert "Аня" in out and "Солидарность!" in out
    assert re.search(r"^  abc-irkutsk\s+1\s+1,000.50$", out, re.M)
    assert f"{len(list(read_records(first)))} duplicates merged" in out
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text(encoding="utf-8-sig"), newline="")))
    assert sorted(row["reference"] for row in rows) == sorted(receipts)
    assert next(row for row in rows if row["contact"].endswith("=1+1"))["contact"] == "'=1+1"
    doc = json.loads(out_json.read_text(encoding="utf-8"))
    assert {p["reference"] for p in doc["pledges"]} == set(receipts)
    german = next(p for p in doc["pledges"] if p["amount"] == "1000.50")
    assert (german["language"], german["method"], german["designation"]) == ("de", "cash", "abc-irkutsk")

    # 5. payments from the bank statement, matched by reference.
    by_amount = {fields["amount"]: reference for reference, fields in receipts.items()}
    statement = laptop / "kontoauszug.csv"
    statement.write_text(
        "Buchungstag;Verwendungszweck;Betrag\n"
        f"26.11.2026;Spende {by_amount['1.000,50'].lower()};1.000,50\n"
        f"26.11.2026;{by_amount['25'].replace('-', ' ')};20,00\n"
        "27.11.2026;ohne Referenz;15,00\n",
        encoding="utf-8",
    )
    code, out, err = run(
        capsys, "review", first, second, "--identity", keyfile, "--passphrase-file", passfile, "--payments", statement
    )
    assert code == 0, err
    lines = {line[:11]: line.rstrip() for line in out.splitlines() if line[:11] in receipts}
    assert re.search(r"  1,000.50  received$", lines[by_amount["1.000,50"]])
    assert "  20.00  partly received  Солидарность!" in lines[by_amount["25"]]
    assert re.search(r"  0.00  open$", lines[by_amount["40"]])
    assert "1 payment (15.00) has no known reference" in out
    command = re.search(r"^  (python app\.py raised (\S+))$", out, re.M)
    assert command and command.group(2) == "1020.50"

    # 6. publish with exactly the printed command; the running site shows it.
    argv = command.group(1).split()[2:]
    code, out, err = run(capsys, *argv, "--data", data)
    assert code == 0, err
    deadline = time.monotonic() + 5
    while "€1,020.50" not in (page := client.get("/en/").text) and time.monotonic() < deadline:
        time.sleep(0.2)  # the site looks at the published totals once a second
    assert "€1,020.50" in page


def test_every_organiser_key_opens_new_pledges_and_rotation_keeps_old_ones_readable(tmp_path, identities, capsys):
    anna, boris, clara = identities
    passfile = tmp_path / "pass"
    passfile.write_bytes(PASSPHRASE + b"\n")
    keyfiles = {}
    for name, identity in (("anna", anna), ("boris", boris), ("clara", clara)):
        keyfiles[name] = tmp_path / f"{name}.identity"
        identity.save(keyfiles[name], PASSPHRASE, scrypt_n=FAST_SCRYPT)
    data = tmp_path / "data"
    data.mkdir()

    def serve_and_pledge(organisers, out, n):
        """Configure the organisers, (re)start the app, take n pledges, collect them into out."""
        (data / "campaign.toml").write_text(campaign_toml(organisers), encoding="utf-8")
        clock = Clock(1795604400.0)
        client = webtest.TestApp(web.build_app(config.load(data), clock=clock))
        references = [reference_of(pledge_through(client, clock, "en", amount=str(10 + i)).text) for i in range(n)]
        code, _, err = run(capsys, "collect", "--data", data, "--out", out)
        assert code == 0, err
        return references

    def review(*files, who):
        argv = ["review", *files]
        for name in who:
            argv += ["--identity", keyfiles[name]]
        code, out, err = run(capsys, *argv, "--passphrase-file", passfile)
        assert code == 0, err
        return sorted(table_references(out)), out, err

    before = tmp_path / "before.sealed"
    old_refs = serve_and_pledge([anna, boris], before, 2)
    # Every key in campaign.toml opens every new pledge on its own.
    assert review(before, who=["anna"])[0] == sorted(old_refs)
    assert review(before, who=["boris"])[0] == sorted(old_refs)
    assert review(before, who=["clara"])[0] == []

    # Rotation: Anna's key is removed, Clara's added; the server restarts with the new campaign.toml.
    after = tmp_path / "after.sealed"
    new_refs = serve_and_pledge([boris, clara], after, 3)
    for record in read_records(after):
        assert sealing.record_key_ids(record.record) == [boris.recipient.key_id, clara.recipient.key_id]
    refs, out, err = review(after, who=["anna"])
    assert refs == [] and "3 sealed to other keys" in out
    assert review(after, who=["clara"])[0] == sorted(new_refs)
    assert review(after, who=["boris"])[0] == sorted(new_refs)
    # The old identity still opens the old records; with both identities, everything opens.
    assert review(before, who=["anna"])[0] == sorted(old_refs)
    assert review(before, after, who=["clara", "anna"])[0] == sorted(old_refs + new_refs)
