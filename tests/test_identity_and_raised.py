"""Organisers' slips forgiven or refused with a hint: a mistyped passphrase, a lost campaign.toml table, odd amounts."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import subprocess
import sys
import termios
import time
import tomllib

import pytest

from helpers import FAST_SCRYPT, PASSPHRASE, run_cli
from pledgebox import ROOT, campaign, sealing

APP = str(ROOT / "app.py")


@pytest.fixture
def keyfile(tmp_path, identity):
    path = tmp_path / "anna.identity"
    identity.save(path, PASSPHRASE, scrypt_n=FAST_SCRYPT)
    return path


def on_terminal(argv, answers: list[bytes], timeout: float = 60) -> tuple[int, str]:
    """Run app.py on a pseudo-terminal (its controlling terminal, as getpass wants) and type the answers."""
    master, slave = pty.openpty()

    def controlling_terminal():
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        [sys.executable, APP, *map(str, argv)], stdin=slave, stdout=slave, stderr=slave, preexec_fn=controlling_terminal
    )
    os.close(slave)
    output, deadline = b"", time.monotonic() + timeout
    pending = list(answers)
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the program exited and closed the terminal
                break
            if not chunk:
                break
            output += chunk
            asked = output.count(b"Passphrase for")
            if pending and output.rstrip().endswith(b":") and asked > len(answers) - len(pending):
                os.write(master, pending.pop(0) + b"\n")
    os.close(master)
    return proc.wait(timeout=10), output.decode("utf-8", "replace").replace("\r\n", "\n")


def test_a_mistyped_passphrase_may_be_typed_again(keyfile, identity):
    code, output = on_terminal(["identity", "show", keyfile], [b"wrong one", b"wrong two", PASSPHRASE])
    assert code == 0, output
    assert output.count("Passphrase for") == 3
    assert "wrong passphrase; try again (2 tries left)" in output and "(1 try left)" in output
    assert identity.recipient.to_string() in output


def test_three_wrong_passphrases_end_it(keyfile):
    code, output = on_terminal(["identity", "show", keyfile], [b"one", b"two", b"three", PASSPHRASE])
    assert code == 1 and output.count("Passphrase for") == 3
    assert "pledgebox: error: Wrong passphrase" in output and "pledgebox: hint: check Caps Lock" in output


def test_a_passphrase_file_gets_one_try(keyfile, tmp_path, capsys):
    wrong = tmp_path / "wrong"
    wrong.write_bytes(b"not it\n")
    code, out, err = run_cli(capsys, "identity", "show", keyfile, "--passphrase-file", wrong)
    assert code == 1 and "Wrong passphrase" in err and "try again" not in err and "Passphrase for" not in out + err


def test_identity_show_prints_the_public_part_and_a_table_campaign_toml_reads(keyfile, identity, passfile, capsys):
    code, out, err = run_cli(capsys, "identity", "show", keyfile, "--passphrase-file", passfile)
    assert code == 0, err
    assert "stored encrypted, so the passphrase was needed" in out
    for key in (identity.recipient, identity.signer):
        assert key.to_string() in out and f"fingerprint {key.fingerprint}" in out
    table = tomllib.loads(out[out.index("[[organisers]]") :])["organisers"][0]
    assert table == {"name": "anna", "recipient": identity.recipient.to_string(), "signer": identity.signer.to_string()}
    code, out, _ = run_cli(capsys, "identity", "show", keyfile, "--passphrase-file", passfile, "--name", "Anna B.")
    assert code == 0 and 'name = "Anna B."' in out


@pytest.mark.parametrize(
    "make, says",
    [
        (lambda p: None, "there is no such file"),
        (lambda p: p.mkdir(), "is a folder"),
    ],
)
def test_a_missing_identity_is_refused_before_any_passphrase(tmp_path, make, says):
    path = tmp_path / "gone.identity"
    make(path)
    code, output = on_terminal(["identity", "show", path], [])
    assert code == 1 and says in output and "Passphrase for" not in output
    assert "pledgebox: hint: give the identity file that `pledgebox keygen` wrote" in output


def test_review_checks_every_identity_file_before_the_first_passphrase(tmp_path, keyfile):
    sealed = tmp_path / "p.sealed"
    sealed.write_bytes(b"")
    code, output = on_terminal(["review", sealed, "--identity", keyfile, "--identity", tmp_path / "old.identity"], [])
    assert code == 1 and "old.identity: there is no such file" in output and "Passphrase for" not in output


def test_identity_show_refuses_a_passphrase_argument(keyfile, capsys):
    code, _, err = run_cli(capsys, "identity", "show", keyfile, "--passphrase", "secret")
    assert code == 2 and "never taken from the command line" in err


# -- raised ---------------------------------------------------------------------------------------


def published(data_dir) -> dict:
    return json.loads((data_dir / "state" / "published.json").read_text())


def test_raised_alone_keeps_the_published_pledged_figure_and_says_so(data_dir, capsys):
    assert run_cli(capsys, "raised", "100", "--pledged", "2100", "--data", data_dir)[0] == 0
    code, out, _ = run_cli(capsys, "raised", "150", "--data", data_dir)
    assert code == 0 and published(data_dir) == {"raised": "150.00", "pledged": "2100.00"}
    assert "The pledged figure €2,100.00 published before is kept" in out
    assert campaign.read_totals(data_dir / "state") == campaign.Totals(
        campaign.parse_total("150"), campaign.parse_total("2100")
    )


def test_a_published_pledged_figure_of_zero_is_kept_too(data_dir, capsys):
    assert run_cli(capsys, "raised", "0", "--pledged", "0", "--data", data_dir)[0] == 0
    code, out, _ = run_cli(capsys, "raised", "5", "--data", data_dir)
    assert code == 0 and published(data_dir) == {"raised": "5.00", "pledged": "0.00"} and "is kept" in out


def test_raised_without_a_published_pledged_figure_publishes_none(data_dir, capsys):
    code, out, _ = run_cli(capsys, "raised", "150", "--data", data_dir)
    assert code == 0 and published(data_dir) == {"raised": "150.00"} and "kept" not in out


@pytest.mark.parametrize(
    "bad", ["1e3", "1E3", "inf", "Infinity", "nan", "NaN", "sNaN", "0x10", "1.5e2", "١٢٣", "12,50", "-1", "", " "]
)
def test_raised_refuses_what_is_not_plain_digits(data_dir, capsys, bad):
    code, _, err = run_cli(capsys, "raised", bad, "--data", data_dir)
    assert code == 2 and "pledgebox: hint: write it like 1234.50" in err
    assert not (data_dir / "state" / "published.json").exists()
    code, _, err = run_cli(capsys, "raised", "10", "--pledged", bad, "--data", data_dir)
    assert code == 2 and not (data_dir / "state" / "published.json").exists()


def test_sealed_identity_keeps_its_public_keys_encrypted(keyfile, identity):
    # Why `identity show` needs the passphrase: nothing in the file links it to a campaign.
    text = keyfile.read_text()
    assert identity.recipient.to_string().split(":")[1][:40] not in text
    assert sealing.looks_like_identity(keyfile)


def test_raised_refuses_a_folder_without_a_campaign_and_names_where_it_publishes(tmp_path, data_dir, capsys):
    # The checkout's data/ on a server whose campaign lives elsewhere: publishing there would change nothing.
    empty = tmp_path / "checkout-data"
    empty.mkdir()
    code, out, err = run_cli(capsys, "raised", "99", "--data", empty)
    assert code == 78 and out == "" and not (empty / "state").exists()
    assert f"there is no campaign.toml in {empty}" in err and "hint: give the data folder of the server" in err
    code, out, _ = run_cli(capsys, "raised", "99", "--data", data_dir)
    assert code == 0 and f"Published in {data_dir / 'state' / 'published.json'}: €99.00 reached." in out
