"""Every error says what to do: each error class has a hint, and every refusal of every command prints one."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import socket
from pathlib import Path

import pytest

import pledgebox
from helpers import FAST_SCRYPT, PASSPHRASE, campaign_toml, onion_address, run_cli
from pledgebox import ROOT
from pledgebox.errors import PledgeboxError


def all_error_classes() -> list[type[PledgeboxError]]:
    for module in pkgutil.walk_packages(pledgebox.__path__, "pledgebox."):
        importlib.import_module(module.name)
    found, todo = [], [PledgeboxError]
    while todo:
        for sub in todo.pop().__subclasses__():
            found.append(sub)
            todo.append(sub)
    return found


def test_there_are_error_classes_to_check():
    names = {cls.__name__ for cls in all_error_classes()}
    assert {
        "ConfigError",
        "UsageError",
        "DamagedRecord",
        "IdentityFileError",
        "PassphraseFileError",
        "NotAMirror",
        "RecordsUnreadable",
        "WrongUser",
        "StateNotWritable",
    } <= names


@pytest.mark.parametrize("cls", all_error_classes(), ids=lambda cls: f"{cls.__module__}.{cls.__name__}")
def test_every_error_class_has_a_message_and_a_hint(cls):
    assert (cls.__doc__ or "").strip(), "the docstring is the message"
    assert cls.hint.strip(), f"{cls.__name__} has no hint: add one saying what to do"
    assert isinstance(cls.exit_code, int) and cls.exit_code > 0


def raises_with_empty_hint(path: Path) -> list[int]:
    """Lines that raise an error passing hint="" (which would hide the class's hint)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg == "hint" and isinstance(kw.value, ast.Constant) and not str(kw.value.value).strip():
                    lines.append(node.lineno)
    return lines


def test_no_raise_blanks_out_a_hint():
    offenders = {
        str(p.relative_to(ROOT)): lines
        for p in (ROOT / "pledgebox").rglob("*.py")
        if (lines := raises_with_empty_hint(p))
    }
    assert offenders == {}


# -- every refusal of every command, through the command line ---------------------------------------


@pytest.fixture
def world(tmp_path, identities, data_dir):
    """Files the refusals below need: an identity, passphrase files, sealed and broken files, a mirror campaign."""
    w = type("World", (), {})()
    w.tmp, w.data = tmp_path, data_dir
    w.key = tmp_path / "anna.identity"
    identities[0].save(w.key, PASSPHRASE, scrypt_n=FAST_SCRYPT)
    w.other_key = tmp_path / "bert.identity"
    identities[2].save(w.other_key, PASSPHRASE, scrypt_n=FAST_SCRYPT)
    w.pass_ = tmp_path / "pass"
    w.pass_.write_bytes(PASSPHRASE + b"\n")
    w.wrong_pass = tmp_path / "wrong-pass"
    w.wrong_pass.write_bytes(b"not it\n")
    w.empty_pass = tmp_path / "empty-pass"
    w.empty_pass.write_bytes(b"\n")
    w.sealed = tmp_path / "p.sealed"
    w.sealed.write_bytes(b"")
    w.not_json = tmp_path / "notes.identity"
    w.not_json.write_text("my passphrase is …\n")
    w.public = tmp_path / "anna.pub"
    w.public.write_text(identities[0].recipient.to_string() + "\n")
    w.exists = tmp_path / "exists.csv"
    w.exists.write_text("")
    w.damaged = tmp_path / "pledgebox-mirror.tar.gz"
    w.damaged.write_bytes(b"\x1f\x8b\x08\x00" + b"cut off here")
    w.bank = tmp_path / "bank.csv"
    w.bank.write_text("no header here\n")
    w.mirror_data = tmp_path / "mirror-data"
    w.mirror_data.mkdir()
    (w.mirror_data / "campaign.toml").write_text(campaign_toml(identities[:1], onion=onion_address(b"m")))
    w.demo = tmp_path / "demo-data"
    w.demo.mkdir()
    w.bad_config = tmp_path / "bad-data"
    w.bad_config.mkdir()
    (w.bad_config / "campaign.toml").write_text("[campaign]\nid = “x”\n")
    w.private_in_data = tmp_path / "private-data"
    w.private_in_data.mkdir()
    (w.private_in_data / "campaign.toml").write_text(campaign_toml(identities[:1]))
    identities[0].save(w.private_in_data / "me.identity", PASSPHRASE, scrypt_n=FAST_SCRYPT)
    w.signer = identities[0].signer.to_string()
    w.busy = socket.socket()
    w.busy.bind(("127.0.0.1", 0))
    w.busy.listen()
    yield w
    w.busy.close()


# (command line, exit status, words of the error); {name} is a file of the world above.
REFUSALS = [
    # serve
    ("serve --data {demo} --unix-socket {tmp}/s", 78, "campaign.toml is missing"),
    ("serve --data {bad_config}", 78, "line 2, column 6"),
    ("serve --data {private_in_data}", 78, "A private organiser identity is in the data folder"),
    # raised
    ("raised 1e3 --data {data}", 2, "not an amount"),
    ("raised 10 --pledged inf --data {data}", 2, "not an amount"),
    ("raised 10 --data {bad_config}", 78, "not usable"),
    # keygen
    ("keygen --out {key} --passphrase-file {pass_}", 1, "already exists"),
    ("keygen --out {tmp}/no/such/x.identity --passphrase-file {pass_}", 1, "does not exist"),
    ("keygen --out {data}/x.identity --data {data} --passphrase-file {pass_}", 2, "inside the data folder"),
    ("keygen --out {tmp}/n.identity --name = --passphrase-file {empty_pass}", 1, "empty passphrase"),
    ("keygen --out {tmp}/n.identity --passphrase-file {tmp}/missing-pass", 1, "passphrase file could not be read"),
    ("keygen --out {tmp}/n.identity --passphrase secret", 2, "never taken from the command line"),
    # identity show
    ("identity show {tmp}/missing.identity --passphrase-file {pass_}", 1, "there is no such file"),
    ("identity show {not_json} --passphrase-file {pass_}", 1, "is not JSON"),
    ("identity show {public} --passphrase-file {pass_}", 1, "holds a public key"),
    ("identity show {key} --passphrase-file {wrong_pass}", 1, "Wrong passphrase"),
    ("identity show {key} --passphrase-file {tmp}/missing-pass", 1, "passphrase file could not be read"),
    ("identity show {key} --passphrase-file {pass_} --name \x1b[31m", 2, "printable name"),
    # collect
    ("collect --data {tmp}/no-such-data --out {tmp}/c.sealed", 2, "there is no data folder"),
    ("collect --data {data} --out {tmp}/no/such/c.sealed", 2, "does not exist"),
    ("collect --data {data} --out {exists}", 1, "already exists"),
    ("collect --data {data} --out - --purge", 2, "needs standard output to be a file"),
    # review
    ("review {tmp}/missing.sealed --identity {key} --passphrase-file {pass_}", 1, "no such file"),
    ("review {key} --identity {key} --passphrase-file {pass_}", 2, "an identity file, not a file of collected"),
    ("review {sealed} --identity {tmp}/missing.identity --passphrase-file {pass_}", 1, "there is no such file"),
    ("review {sealed} --identity {not_json} --passphrase-file {pass_}", 1, "is not JSON"),
    ("review {sealed} --identity {key} --passphrase-file {wrong_pass}", 1, "Wrong passphrase"),
    ("review {sealed} --identity {key} --passphrase-file {tmp}/missing-pass", 1, "could not be read"),
    (
        "review {sealed} --identity {key} --identity {other_key} --passphrase-file {pass_} --passphrase-file "
        "{pass_} --passphrase-file {pass_}",
        2,
        "one --passphrase-file for all",
    ),
    ("review {sealed} --identity {key} --passphrase-file {pass_} --csv {exists}", 1, "already exists"),
    ("review {sealed} --identity {key} --passphrase-file {pass_} --csv {tmp}/x --json {tmp}/x", 2, "same file"),
    ("review {sealed} --identity {key} --passphrase-file {pass_} --json -", 2, "a file named '-'"),
    ("review {sealed} --identity {key} --passphrase-file {pass_} --payments {bank}", 1, "statement could not be read"),
    (
        "review {sealed} --identity {key} --passphrase-file {pass_} --payments {tmp}/missing.csv",
        1,
        "statement could not be read",
    ),
    ("review {sealed} --identity {key} --passphrase x", 2, "never taken from the command line"),
    # audit
    ("audit --data {tmp}/no-such-data", 2, "is not a folder"),
    # mirror
    ("mirror build {tmp}/m --identity {key} --passphrase-file {pass_} --data {demo}", 78, "campaign.toml is missing"),
    ("mirror build {tmp}/m --identity {key} --passphrase-file {pass_} --data {data}", 1, "onion"),
    ("mirror build {tmp} --identity {key} --passphrase-file {pass_} --data {mirror_data}", 1, "not empty"),
    (
        "mirror build {tmp}/m --identity {other_key} --passphrase-file {pass_} --data {mirror_data}",
        1,
        "not one of the organisers",
    ),
    (
        "mirror build {tmp}/m --identity {tmp}/missing.identity --passphrase-file {pass_} --data {mirror_data}",
        1,
        "there is no such file",
    ),
    ("mirror verify {damaged} --signer {signer}", 1, "not the canonical archive of a mirror copy"),
    ("mirror verify {tmp}/missing.tar.gz --signer {signer}", 1, "not a pledgebox mirror"),
    ("mirror verify {damaged} --signer pledgebox-signer-v1:xyz", 1, "not a usable signer key"),
    ("mirror pull ftp://x.example/ {tmp}/pulled --signer {signer}", 2, "not an http:// or https:// address"),
    ("mirror pull http://127.0.0.1:9/ {tmp}/pulled --signer {signer}", 1, "could not be fetched"),
    # usage errors argparse finds
    ("raised", 2, "the following arguments are required"),
    ("serve --workers 0", 2, "argument --workers"),
    ("nonsense", 2, "invalid choice"),
]


@pytest.mark.parametrize(
    "line, code, words", REFUSALS, ids=[r[0].split(" {")[0] + f" [{i}]" for i, r in enumerate(REFUSALS)]
)
def test_every_refusal_prints_an_error_and_a_hint(world, capsys, line, code, words):
    values = {k: v for k, v in vars(world).items() if isinstance(v, (str, Path))}
    values["busy_port"] = world.busy.getsockname()[1]
    argv = [part.format(**values) for part in line.split(" ")]
    try:
        got, out, err = run_cli(capsys, *argv)
    except SystemExit as exc:  # argparse exits by itself
        got = exc.code
        out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert got == code, err
    assert words in err, err
    errors = [i for i, text in enumerate(lines) if ": error: " in text]
    assert errors, err
    assert lines[-1].startswith("pledgebox: hint: ") and len(lines[-1]) > len("pledgebox: hint: ") + 10, err
