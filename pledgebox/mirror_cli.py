"""`pledgebox mirror build|verify|pull`: the organisers' and the mirror hosts' commands for static copies."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

from . import campaign, config, keys, mirror, pull, safetext, sealing, statement, verify
from .cliargs import command as _command
from .cliargs import no_passphrase_argument as _no_passphrase_argument
from .cliargs import refuse_passphrase_argument as _refuse_passphrase_argument


def cmd_mirror_build(args) -> int:
    """Build the signed static copy of the site and its archive."""
    _refuse_passphrase_argument(args)
    cfg = config.load(args.data, allow_demo=False)
    # Refused before the passphrase is asked for, not after.
    if not cfg.onion:
        raise mirror.NoOnion(
            hint=f'add onion = "….onion" to [campaign] in {cfg.data_dir / "campaign.toml"} (the '
            "address in the onion service's hostname file)"
        )
    mirror.check_output(args.out)
    version = args.version if args.version is not None else mirror.next_version(cfg)
    statement.make(
        cfg, version=version, built=statement.utc_today(), days=args.expires_in, manifest_sha256="0" * 64, signed_by=""
    )
    files = [args.passphrase_file] if args.passphrase_file else None
    identity = keys.open_identity(args.identity, files, 0)
    built = mirror.build(cfg, identity, args.out, version=version, days=args.expires_in)
    st = built.statement
    print(
        f"Built version {st.version} of the mirror ({built.files} files) for {st.onion}, signed by "
        f"{identity.signer.fingerprint}; built {st.built}, expires on {st.expires} (UTC):\n"
        f"  {built.folder}/  upload this folder's contents to any web server\n"
        f"  {built.archive}  the bundle: copy it to DATA/{mirror.BUNDLE_DIR}/ on the server and restart it\n"
        f"Build a new version before {st.expires}: hosts refuse an expired copy, and so does the server."
    )
    print(totals_line(cfg))
    return 0


def totals_line(cfg) -> str:
    """What the copy's widget shows, and where it came from: a copy built away from the server shows 0 unless told."""
    totals = campaign.read_totals(cfg.state_dir)
    source = cfg.state_dir / campaign.TOTALS_FILE
    if not source.exists():
        return (
            f"Warning: the copy shows {totals.raised} reached: nothing was published in {source}. Run "
            f"`python app.py raised AMOUNT --data {cfg.data_dir}` here (or copy the server's "
            f"{campaign.TOTALS_FILE} there), then build again."
        )
    pledged = f", {totals.pledged} pledged" if totals.pledged is not None else ""
    return f"The copy shows {totals.raised} reached{pledged}, as published in {source}."


def positive(text: str) -> int:
    """A whole number of at least 1, for --version and --expires-in."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def add_mirror_build(actions) -> None:
    """`mirror build OUT --identity KEYFILE [--version N] [--expires-in DAYS]`."""
    sp = _command(
        actions,
        "build",
        cmd_mirror_build,
        "build a signed static copy of the site and its canonical archive",
        """
python app.py mirror build ~/mirror --identity ~/keys/me.identity
python app.py mirror build ~/mirror --identity ~/keys/me.identity --passphrase-file /dev/shm/pass
python app.py mirror build ~/mirror --identity ~/keys/me.identity --version 12 --expires-in 14""",
    )
    sp.add_argument("out", type=Path, metavar="OUT", help="a new (or empty) folder for the copy and its archive")
    sp.add_argument(
        "--identity",
        type=Path,
        required=True,
        metavar="KEYFILE",
        help="an organiser's identity file (from keygen), to sign the copy",
    )
    sp.add_argument(
        "--passphrase-file",
        type=Path,
        metavar="FILE",
        help="read the identity's passphrase from FILE instead of the terminal",
    )
    sp.add_argument(
        "--version",
        type=positive,
        metavar="N",
        help="the copy's version (default: one more than the last built from this data folder "
        "or published in DATA/mirror/); hosts refuse a lower one",
    )
    sp.add_argument(
        "--expires-in",
        type=positive,
        default=statement.DEFAULT_DAYS,
        metavar="DAYS",
        help=f"days until the copy expires (default: {statement.DEFAULT_DAYS}, at most {statement.MAX_DAYS})",
    )
    _no_passphrase_argument(sp)


def signers_of(strings: list[str]) -> list[sealing.Signer]:
    """The pinned signer keys given with --signer."""
    return [sealing.Signer.from_string(s) for s in strings]


def cmd_mirror_verify(args) -> int:
    """Check a copy's signature, addresses, expiry and every byte; name each file changed, added or removed."""
    signers = signers_of(args.signer)
    report = verify.verify(args.source, signers)
    for label, paths in (("changed", report.changed), ("added", report.added), ("removed", report.removed)):
        for path in paths:
            print(f"{label}: {safetext.terminal(path)}")
    if not report.signature_ok:
        raise mirror.BadSignature(", ".join(s.fingerprint for s in signers))
    if not report.ok:
        raise mirror.MirrorDiffers(
            f"{len(report.changed)} changed, {len(report.added)} added, {len(report.removed)} removed"
        )
    st = report.statement
    st.check(statement.utc_today(), onion=args.onion or "")
    print(
        f"OK: signed by {safetext.terminal(st.signed_by)} ({report.signer.fingerprint}); version {st.version} for "
        f"{st.onion}, campaign {safetext.terminal(st.campaign)}; built {st.built}, expires on {st.expires} (UTC); "
        f"all {report.files} files match, byte for byte."
    )
    return 0


def onion_argument(text: str) -> str:
    """An onion address as --onion takes it: with or without http:// and a slash."""
    return text.strip().lower().removeprefix("http://").rstrip("/")


def add_mirror_verify(actions) -> None:
    """`mirror verify DIR_OR_ARCHIVE --signer STRING… [--onion ADDRESS]`."""
    sp = _command(
        actions,
        "verify",
        cmd_mirror_verify,
        "check a copy's signature, its onion address, its expiry and every byte",
        """
python app.py mirror verify pledgebox-mirror.tar.gz --signer pledgebox-signer-v1:… --onion ….onion
python app.py mirror verify /var/www/pledgebox-mirror --signer pledgebox-signer-v1:…""",
    )
    sp.add_argument(
        "source",
        type=Path,
        metavar="DIR_OR_ARCHIVE",
        help="the copy: the folder that holds exactly its files, or its .tar.gz",
    )
    sp.add_argument(
        "--signer",
        required=True,
        action="append",
        metavar="STRING",
        help="an organiser's signer key (pledgebox-signer-v1:…, shown on the mirror page); may be given more than once",
    )
    sp.add_argument(
        "--onion", type=onion_argument, metavar="ADDRESS", help="fail unless the copy was built for this onion address"
    )


def cmd_mirror_pull(args) -> int:
    """Fetch the bundle from the organisers' site; verify it; swap it into place if it is newer."""
    done = pull.pull(args.source, args.out, signers_of(args.signer), socks=args.socks)
    st = done.statement
    what = f"Updated {args.out} to" if done.changed else "Up to date:"
    print(
        f"{what} version {st.version}, built {st.built}, expires on {st.expires} (UTC), signed by "
        f"{safetext.terminal(st.signed_by)} ({done.signer.fingerprint})."
    )
    return 0


def add_mirror_pull(actions) -> None:
    """`mirror pull SOURCE OUT --signer STRING… [--socks HOST:PORT]`."""
    sp = _command(
        actions,
        "pull",
        cmd_mirror_pull,
        "fetch the bundle from the organisers' site, verify it and swap it into place atomically",
        """
pledgebox mirror pull http://….onion/ /var/www/pledgebox-mirror --signer pledgebox-signer-v1:…
pledgebox mirror pull https://example.org/ /var/www/pledgebox-mirror --signer pledgebox-signer-v1:…
Exit status 0: updated, or "up to date"; 1: refused (older, expired, altered, unreachable); the copy
in place stays. Run it from a systemd timer: deploy/pledgebox-mirror-pull.timer.""",
    )
    sp.add_argument(
        "source",
        metavar="SOURCE",
        help="the site: http://….onion/ (through Tor), https://…, or http:// on this machine only",
    )
    sp.add_argument(
        "out",
        type=Path,
        metavar="OUT",
        help="the link to the copy that the web server serves (made by pull; versions beside it)",
    )
    sp.add_argument(
        "--signer",
        required=True,
        action="append",
        metavar="STRING",
        help="an organiser's signer key to accept (pin it once); may be given more than once",
    )
    sp.add_argument(
        "--socks",
        default=pull.DEFAULT_SOCKS,
        metavar="HOST:PORT",
        help=f"Tor's SOCKS port, for onion addresses (default: {pull.DEFAULT_SOCKS})",
    )


def add_mirror(sub) -> None:
    """`mirror ACTION`: a group of its own, with `build`, `verify` and `pull`."""
    mirror_help = "build, check or fetch a signed static copy of the site (see `mirror ACTION --help`)"
    sp = sub.add_parser(
        "mirror",
        help=mirror_help,
        description=mirror_help,
        allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=textwrap.dedent("""\
                            examples:
                              python app.py mirror build ~/mirror --identity ~/keys/me.identity
                              python app.py mirror verify pledgebox-mirror.tar.gz --signer pledgebox-signer-v1:…
                              pledgebox mirror pull http://….onion/ /var/www/pledgebox-mirror --signer …"""),
    )
    actions = sp.add_subparsers(dest="action", required=True, metavar="ACTION")
    add_mirror_build(actions)
    add_mirror_verify(actions)
    add_mirror_pull(actions)
