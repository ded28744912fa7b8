"""The identity commands: `keygen` makes an organiser identity, `identity show` prints its public part again."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from . import keys, sealing
from .cliargs import command, no_passphrase_argument, refuse_passphrase_argument
from .errors import UsageError


def cmd_keygen(args) -> int:
    """Create a new organiser identity and print its public keys and the campaign.toml lines."""
    refuse_passphrase_argument(args)
    out = args.out
    # Everything that can be refused is refused before the passphrase is asked for.
    if os.path.lexists(out):
        raise sealing.IdentityExists(
            str(out), hint="choose another file name; keep the old file: it may be the only key to pledges sealed to it"
        )
    if not out.parent.is_dir():
        raise sealing.IdentityFileError(
            f"the folder {out.parent} does not exist.", hint=f"create it first: mkdir -p {out.parent}"
        )
    if keys.inside(out, args.data):
        raise UsageError(
            f"{out} is inside the data folder {args.data}, which goes to the server; "
            "the server refuses to start with a private key there.",
            hint="keep identities on the organisers' own machines, e.g. --out ~/pledgebox/me.identity",
        )
    name = args.name if args.name is not None else out.stem
    _check_name(name)
    if args.scrypt_work < keys.STRONG_SCRYPT_WORK:
        keys.warn(f"--scrypt-work {args.scrypt_work} is for tests only: this identity is weakly protected")
    files = [args.passphrase_file] if args.passphrase_file else None
    secret = keys.passphrase(files, 0, f"Passphrase for the new identity {out}: ", confirm=True)
    if len(secret.decode("utf-8", "replace")) < keys.SHORT_PASSPHRASE:
        keys.warn("this passphrase is short; five or six random words make a strong one")
    identity = keys.create(out, secret, scrypt_work=args.scrypt_work)
    print(
        f"Created the organiser identity {out} (mode 0600, scrypt N=2**{args.scrypt_work}).\n"
        "Keep it and its passphrase secret, and keep a backup of both (e.g. on a second USB stick).\n\n"
        + public_part(identity, name)
    )
    return 0


def add_keygen(sub) -> None:
    """`keygen --out FILE`: name, passphrase file and scrypt cost."""
    sp = command(
        sub,
        "keygen",
        cmd_keygen,
        "create an organiser identity (private, passphrase-protected) and print its public keys",
        """
python app.py keygen --out ~/pledgebox/anna.identity
python app.py keygen --out /media/usb/anna.identity --name "Anna"
python app.py keygen --out anna.identity --passphrase-file /dev/shm/pass   # for scripts""",
    )
    sp.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="FILE",
        help="the new identity file (never overwritten; created with mode 0600)",
    )
    sp.add_argument(
        "--name",
        help="the organiser's name in the printed [[organisers]] table (default: the file name without its extension)",
    )
    sp.add_argument(
        "--passphrase-file",
        type=Path,
        metavar="FILE",
        help="read the passphrase from FILE (its first line) instead of asking twice on the terminal",
    )
    sp.add_argument(
        "--scrypt-work",
        type=int,
        default=keys.DEFAULT_SCRYPT_WORK,
        metavar="LOG2N",
        choices=range(keys.TEST_SCRYPT_WORK, keys.MAX_SCRYPT_WORK + 1),
        help=f"scrypt cost as log2 of N (default {keys.DEFAULT_SCRYPT_WORK}: 256 MiB, about a second); "
        f"values below {keys.STRONG_SCRYPT_WORK} are for tests only",
    )
    no_passphrase_argument(sp)


def cmd_identity_show(args) -> int:
    """Print an identity's public keys, fingerprints and [[organisers]] table again."""
    refuse_passphrase_argument(args)
    name = args.name if args.name is not None else args.file.stem
    _check_name(name)
    files = [args.passphrase_file] if args.passphrase_file else None
    # The public keys are sealed inside the file with the secret ones (nothing in it names the campaign),
    # so showing them takes the passphrase.
    identity = keys.open_identity(args.file, files, 0)
    print(
        f"The identity {args.file} (its public keys are stored encrypted, so the passphrase was needed).\n\n"
        + public_part(identity, name)
    )
    return 0


def public_part(identity: sealing.Identity, name: str) -> str:
    """The public strings, their fingerprints and the [[organisers]] table, as keygen prints them."""
    return (
        "Public keys (safe to share; compare fingerprints by voice or in person):\n"
        f"  recipient  {identity.recipient.to_string()}\n"
        f"             fingerprint {identity.recipient.fingerprint}\n"
        f"  signer     {identity.signer.to_string()}\n"
        f"             fingerprint {identity.signer.fingerprint}\n\n"
        "Add these lines to data/campaign.toml on the server, then restart the server:\n\n"
        f"{keys.organisers_table(identity, name)}"
    )


def _check_name(name: str) -> None:
    """The organiser's name for the printed table: short and printable."""
    if not name.strip() or len(name) > 80 or not name.isprintable():
        raise UsageError(
            f"--name {name!r}: give a short, printable name (at most 80 characters).", hint='e.g. --name "Anna"'
        )


def add_identity(sub) -> None:
    """`identity show FILE`."""
    help_text = "show an identity's public keys again (see `identity show --help`)"
    sp = sub.add_parser(
        "identity",
        help=help_text,
        description=help_text,
        allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  python app.py identity show ~/Persistent/pledgebox/anna.identity",
    )
    actions = sp.add_subparsers(dest="action", required=True, metavar="ACTION")
    sp = command(
        actions,
        "show",
        cmd_identity_show,
        "print an identity's public keys, fingerprints and its [[organisers]] table for campaign.toml",
        """
python app.py identity show ~/Persistent/pledgebox/anna.identity
python app.py identity show anna.identity --name "Anna" --passphrase-file /dev/shm/pass""",
    )
    sp.add_argument("file", type=Path, metavar="FILE", help="the identity file keygen wrote")
    sp.add_argument("--name", help="the organiser's name in the table (default: the file name without its extension)")
    sp.add_argument(
        "--passphrase-file",
        type=Path,
        metavar="FILE",
        help="read the passphrase from FILE (its first line) instead of the terminal",
    )
    no_passphrase_argument(sp)
