"""Organiser identities on the command line: passphrases from the terminal or a file, never argv."""

from __future__ import annotations

import getpass
import json
import os
import sys
import unicodedata
import warnings
from pathlib import Path

from . import files, sealing
from .errors import PledgeboxError, UsageError

DEFAULT_SCRYPT_WORK = 18  # scrypt N = 2**18: 256 MiB and about a second, as age uses for passphrases
TEST_SCRYPT_WORK = 10  # the lowest --scrypt-work accepts: only for tests
STRONG_SCRYPT_WORK = 17  # below this keygen warns that the file is weakly protected
MAX_SCRYPT_WORK = 20  # sealing refuses identity files that ask for more memory than this
SHORT_PASSPHRASE = 12  # characters; shorter ones get a warning, not a refusal
_MAX_PASSPHRASE_FILE = 4096
PROMPT_TRIES = 3  # a typo at the prompt may be retried; a passphrase file is read once


class EmptyPassphrase(PledgeboxError):
    """An empty passphrase is not allowed: the identity file would be open to anyone who copies it."""

    hint = "choose a long passphrase, e.g. five or six random words"


class PassphraseMismatch(PledgeboxError):
    """The two passphrases do not match."""

    hint = "run the command again and type the same passphrase twice"


class NoTerminal(PledgeboxError):
    """There is no terminal to ask for the passphrase on."""

    hint = "give it in a file instead: --passphrase-file FILE (readable only by you, e.g. on a RAM disk)"


class PassphraseFileError(PledgeboxError):
    """The passphrase file could not be read:"""

    hint = (
        "give a file this user may read that holds the passphrase on its first line, "
        "e.g. --passphrase-file /dev/shm/pass"
    )


class PassphraseOnCommandLine(UsageError):
    """A passphrase is never taken from the command line: other users can read it (ps), shells keep it in history."""

    hint = (
        "type it when asked, or use --passphrase-file FILE; "
        "if that passphrase is a real one, choose a new one: it is in your shell history now"
    )


def _encode(text: str) -> bytes:
    """The same passphrase typed on any system gives the same bytes (NFC, UTF-8)."""
    return unicodedata.normalize("NFC", text).encode("utf-8")


def from_file(path: Path) -> bytes:
    """The passphrase in a file: its first line, without the line ending."""
    data = files.read_small(
        path,
        _MAX_PASSPHRASE_FILE,
        PassphraseFileError,
        lambda: PassphraseFileError(
            f"{path} is too large to be a passphrase file", hint="the file must hold the passphrase alone, on one line"
        ),
    )
    # Editors add a final newline; a passphrase never ends with one.
    line = data.split(b"\n", 1)[0].removesuffix(b"\r")
    try:
        passphrase = _encode(line.decode("utf-8"))
    except UnicodeDecodeError:
        passphrase = line
    if not passphrase:
        raise EmptyPassphrase(hint=f"{path} is empty: write the passphrase into it")
    return passphrase


def ask(prompt: str, *, confirm: bool = False, read=None) -> bytes:
    """Ask on the terminal (twice when confirm is set); never echo, never fall back to stdin."""
    read = read or getpass.getpass
    with warnings.catch_warnings():
        # getpass warns and reads stdin with echo when there is no terminal: refuse instead.
        warnings.simplefilter("error", getpass.GetPassWarning)
        try:
            first = read(prompt)
            if not first:
                raise EmptyPassphrase()
            if confirm and read("Type it again: ") != first:
                raise PassphraseMismatch()
        except getpass.GetPassWarning:
            raise NoTerminal() from None
        except EOFError:
            raise NoTerminal("(end of input)") from None
    return _encode(first)


def passphrase(files: list[Path] | None, index: int, prompt: str, *, confirm: bool = False) -> bytes:
    """The passphrase for the index-th identity: from --passphrase-file(s), else from the terminal."""
    if files:
        return from_file(files[index] if len(files) > 1 else files[0])
    return ask(prompt, confirm=confirm)


def warn(text: str) -> None:
    """A warning on stderr in the command line's style."""
    print(f"pledgebox: warning: {text}", file=sys.stderr)


def load(path: Path, secret: bytes) -> sealing.Identity:
    """Open an identity file, with a hint when the passphrase is wrong."""
    try:
        return sealing.Identity.load(path, secret)
    except sealing.WrongPassphrase as exc:
        exc.hint = (
            "check Caps Lock and the keyboard layout; a passphrase file must hold the passphrase "
            f"alone (identity: {path})"
        )
        raise


def open_identity(path: Path, files: list[Path] | None, index: int, *, read=None) -> sealing.Identity:
    """Open the index-th identity: its passphrase from a file (once), or typed, up to PROMPT_TRIES times."""
    check_identity_file(path)
    if files:
        return load(path, passphrase(files, index, ""))
    prompt = f"Passphrase for {path}: "
    for tries_left in range(PROMPT_TRIES - 1, 0, -1):
        try:
            return load(path, ask(prompt, read=read))
        except sealing.WrongPassphrase:
            warn(f"wrong passphrase; try again ({tries_left} {'try' if tries_left == 1 else 'tries'} left)")
    return load(path, ask(prompt, read=read))  # the last try: a wrong passphrase ends the command


def check_identity_file(path: Path) -> None:
    """Refuse a missing or unreadable identity file before anyone types a passphrase for it."""
    hint = "give the identity file that `pledgebox keygen` wrote, e.g. --identity ~/Persistent/pledgebox/anna.identity"
    if not os.path.exists(path):
        raise sealing.IdentityFileError(f"{path}: there is no such file.", hint=hint)
    if os.path.isdir(path):
        raise sealing.IdentityFileError(f"{path} is a folder.", hint=hint)
    if not os.access(path, os.R_OK):
        raise sealing.IdentityFileError(
            f"{path}: this user may not read it.",
            hint="run the command as the user who made the identity, or check its owner",
        )


def create(out: Path, secret: bytes, *, scrypt_work: int) -> sealing.Identity:
    """Generate a new identity and write it, passphrase-protected, to the new file out."""
    identity = sealing.Identity.generate()
    identity.save(out, secret, scrypt_n=2**scrypt_work)
    return identity


def organisers_table(identity: sealing.Identity, name: str) -> str:
    """The [[organisers]] table for data/campaign.toml (a valid TOML basic string for the name)."""
    # JSON string escapes are a subset of TOML basic-string escapes; TOML also forbids a raw DEL.
    quoted = json.dumps(name, ensure_ascii=False).replace("\x7f", "\\u007f")
    return "\n".join(
        [
            "[[organisers]]",
            f"name = {quoted}",
            f'recipient = "{identity.recipient.to_string()}"',
            f'signer = "{identity.signer.to_string()}"',
        ]
    )


def inside(path: Path, folder: Path) -> bool:
    """True if path is inside folder (both resolved), e.g. an identity in the server's data folder."""
    try:
        Path(os.path.abspath(path)).resolve().relative_to(Path(folder).resolve())
    except ValueError:
        return False
    return True
