"""`keygen`: a new organiser identity, passphrase-protected, exclusive, 0600; passphrases never from argv."""

from __future__ import annotations

import getpass
import os
import re
import stat
import tomllib
import unicodedata
import warnings

import pytest

from helpers import PASSPHRASE, campaign_toml
from pledgebox import cli, config, keys, sealing

FAST = str(keys.TEST_SCRYPT_WORK)


@pytest.fixture
def data(tmp_path):
    """The data folder the commands are told about (keygen must not write into it)."""
    path = tmp_path / "data"
    path.mkdir()
    return path


def keygen(*args, data):
    """Run keygen through cli.main; return its exit code."""
    return cli.main(["keygen", "--data", str(data), *map(str, args)])


def no_prompt(monkeypatch):
    """Fail the test if anything asks for a passphrase on the terminal."""

    def refuse(prompt=""):
        raise AssertionError("the passphrase was asked for")

    monkeypatch.setattr(getpass, "getpass", refuse)


def organisers_block(text: str) -> str:
    """The [[organisers]] table that keygen printed."""
    return text[text.index("[[organisers]]") :].strip()


def test_keygen_writes_a_private_identity_and_prints_the_public_keys(tmp_path, data, passfile, capsys):
    out = tmp_path / "anna.identity"
    assert keygen("--out", out, "--passphrase-file", passfile, "--scrypt-work", FAST, "--name", "Anna", data=data) == 0
    printed = capsys.readouterr()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    identity = sealing.Identity.load(out, PASSPHRASE)
    assert identity.recipient.to_string() in printed.out
    assert identity.signer.to_string() in printed.out
    assert identity.recipient.fingerprint in printed.out and identity.signer.fingerprint in printed.out
    # The printed table is exactly what data/campaign.toml needs.
    block = organisers_block(printed.out)
    assert tomllib.loads(block)["organisers"] == [
        {"name": "Anna", "recipient": identity.recipient.to_string(), "signer": identity.signer.to_string()}
    ]
    (data / "campaign.toml").write_text(campaign_toml([]) + "\n" + block + "\n", encoding="utf-8")
    cfg = config.load(data)
    assert [o.recipient for o in cfg.organisers] == [identity.recipient.to_string()]
    # Weak test parameters are named as such.
    assert "tests only" in printed.err
    # Nothing secret on the screen, nothing written into the data folder.
    assert "ciphertext" not in printed.out and PASSPHRASE.decode() not in printed.out
    assert sorted(p.name for p in data.iterdir()) == ["campaign.toml"]


def test_the_default_scrypt_work_is_strong(tmp_path, data, passfile, monkeypatch, capsys):
    used = []
    save = sealing.Identity.save

    def fast_save(self, path, passphrase, *, scrypt_n):
        used.append(scrypt_n)
        return save(self, path, passphrase, scrypt_n=2**10)

    monkeypatch.setattr(sealing.Identity, "save", fast_save)
    assert keygen("--out", tmp_path / "k", "--passphrase-file", passfile, data=data) == 0
    assert used == [2**keys.DEFAULT_SCRYPT_WORK]
    assert used[0] >= 2**17
    assert "tests only" not in capsys.readouterr().err


@pytest.mark.parametrize("existing", ["file", "empty", "symlink", "dangling"])
def test_refuses_an_existing_out_file_before_any_work(tmp_path, data, passfile, monkeypatch, capsys, existing):
    out = tmp_path / "old.identity"
    if existing == "file":
        out.write_text("precious\n")
    elif existing == "empty":
        out.touch()
    elif existing == "symlink":
        (tmp_path / "target").write_text("precious\n")
        out.symlink_to(tmp_path / "target")
    else:
        out.symlink_to(tmp_path / "nowhere")
    no_prompt(monkeypatch)
    monkeypatch.setattr(sealing.Identity, "generate", lambda: pytest.fail("a key was generated"))
    assert keygen("--out", out, data=data) == 1
    err = capsys.readouterr().err
    assert re.search(r"^pledgebox: error: .*already exists", err, re.M)
    assert re.search(r"^pledgebox: hint: choose another file name", err, re.M)
    if existing in ("file", "symlink"):
        assert out.read_text() == "precious\n"
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["--passphrase", "hunter2 correct horse"],
        ["--passphrase=hunter2 correct horse"],
        ["--passphrase"],
    ],
)
def test_a_passphrase_is_never_taken_from_argv(tmp_path, data, monkeypatch, capsys, argv):
    out = tmp_path / "k.identity"
    no_prompt(monkeypatch)
    assert keygen("--out", out, "--scrypt-work", FAST, *argv, data=data) == 2
    err = capsys.readouterr().err
    assert "pledgebox: error: A passphrase is never taken from the command line" in err
    assert "pledgebox: hint:" in err
    assert not out.exists()


def test_a_passphrase_is_not_a_positional_argument(tmp_path, data, capsys):
    with pytest.raises(SystemExit) as exc:
        keygen("--out", tmp_path / "k", "hunter2", data=data)
    assert exc.value.code == 2
    assert not (tmp_path / "k").exists()


def test_review_refuses_a_passphrase_in_argv_too(tmp_path, data, monkeypatch, capsys):
    no_prompt(monkeypatch)
    records = tmp_path / "c.sealed"
    records.write_bytes(b"")
    code = cli.main(["review", str(records), "--identity", str(tmp_path / "k"), "--passphrase", "x"])
    assert code == 2
    assert "never taken from the command line" in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"", b"\n", b"\r\n"])
def test_an_empty_passphrase_file_is_refused(tmp_path, data, capsys, content):
    passfile = tmp_path / "pass"
    passfile.write_bytes(content)
    out = tmp_path / "k.identity"
    assert keygen("--out", out, "--passphrase-file", passfile, "--scrypt-work", FAST, data=data) == 1
    assert "pledgebox: error: An empty passphrase is not allowed" in capsys.readouterr().err
    assert not out.exists()


def test_a_missing_passphrase_file_is_an_error(tmp_path, data, capsys):
    out = tmp_path / "k.identity"
    assert keygen("--out", out, "--passphrase-file", tmp_path / "nope", "--scrypt-work", FAST, data=data) == 1
    assert "The passphrase file could not be read" in capsys.readouterr().err
    assert not out.exists()


def test_the_terminal_is_asked_twice(tmp_path, data, monkeypatch, capsys):
    answers = iter(["mein geheimes Passwort", "mein geheimes Passwort"])
    prompts = []

    def fake_getpass(prompt=""):
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    out = tmp_path / "k.identity"
    assert keygen("--out", out, "--scrypt-work", FAST, data=data) == 0
    assert len(prompts) == 2
    assert sealing.Identity.load(out, b"mein geheimes Passwort")


@pytest.mark.parametrize(
    "answers, message",
    [
        (["one passphrase here", "another one here"], "The two passphrases do not match."),
        (["", ""], "An empty passphrase is not allowed"),
    ],
)
def test_bad_terminal_answers_are_refused(tmp_path, data, monkeypatch, capsys, answers, message):
    it = iter(answers)
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": next(it))
    out = tmp_path / "k.identity"
    assert keygen("--out", out, "--scrypt-work", FAST, data=data) == 1
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_no_terminal_means_an_error_not_reading_stdin(tmp_path, data, monkeypatch, capsys):
    def fallback(prompt=""):
        # What getpass does when there is no /dev/tty: warn, then read stdin with echo.
        warnings.warn("Can not control echo on the terminal.", getpass.GetPassWarning, stacklevel=2)
        return "read from stdin"

    monkeypatch.setattr(getpass, "getpass", fallback)
    out = tmp_path / "k.identity"
    assert keygen("--out", out, "--scrypt-work", FAST, data=data) == 1
    err = capsys.readouterr().err
    assert "no terminal to ask for the passphrase" in err
    assert "--passphrase-file" in err
    assert not out.exists()


def test_the_same_passphrase_opens_the_file_whatever_its_unicode_form(tmp_path, data, monkeypatch):
    composed = "Jörg heißt Пётр"
    passfile = tmp_path / "pass"
    passfile.write_text(unicodedata.normalize("NFD", composed) + "\n", encoding="utf-8")
    out = tmp_path / "k.identity"
    assert keygen("--out", out, "--passphrase-file", passfile, "--scrypt-work", FAST, data=data) == 0
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": composed)
    assert keys.load(out, keys.ask("Passphrase: ")).recipient == sealing.Identity.load(out, composed.encode()).recipient


def test_refuses_to_write_an_identity_into_the_data_folder(data, passfile, monkeypatch, capsys):
    out = data / "state" / "me.identity"
    (data / "state").mkdir()
    no_prompt(monkeypatch)
    assert keygen("--out", out, "--passphrase-file", passfile, "--scrypt-work", FAST, data=data) == 2
    err = capsys.readouterr().err
    assert "inside the data folder" in err and "pledgebox: hint:" in err
    assert not out.exists()


def test_a_missing_folder_is_an_error_before_any_work(tmp_path, data, passfile, monkeypatch, capsys):
    no_prompt(monkeypatch)
    assert keygen("--out", tmp_path / "no" / "k", "--passphrase-file", passfile, data=data) == 1
    err = capsys.readouterr().err
    assert "does not exist" in err and "mkdir -p" in err


def test_an_unusual_name_is_quoted_for_toml(tmp_path, data, passfile, capsys):
    name = 'Anna "die Kassiererin" \\ Ёлка'
    out = tmp_path / "k.identity"
    assert keygen("--out", out, "--passphrase-file", passfile, "--scrypt-work", FAST, "--name", name, data=data) == 0
    assert tomllib.loads(organisers_block(capsys.readouterr().out))["organisers"][0]["name"] == name


@pytest.mark.parametrize("work", ["5", "9", "21", "x"])
def test_scrypt_work_is_bounded(tmp_path, data, capsys, work):
    with pytest.raises(SystemExit) as exc:
        keygen("--out", tmp_path / "k", "--scrypt-work", work, data=data)
    assert exc.value.code == 2
    assert not (tmp_path / "k").exists()


@pytest.mark.parametrize("command", ["keygen", "collect", "review"])
def test_help_shows_examples(capsys, command):
    with pytest.raises(SystemExit) as exc:
        cli.main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"python app.py {command} " in out


def test_the_identity_file_is_created_with_mode_0600_whatever_the_umask(tmp_path, data, passfile):
    old = os.umask(0)
    try:
        out = tmp_path / "k.identity"
        assert keygen("--out", out, "--passphrase-file", passfile, "--scrypt-work", FAST, data=data) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
