"""`python app.py COMMAND`: the organisers' and hosts' command line."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from . import campaign, config, keys, ownership, safetext, serve, startup
from .cli_identity import add_identity, add_keygen
from .cli_review import add_review
from .cliargs import Parser, command
from .errors import PledgeboxError, UsageError
from .mirror_cli import add_mirror

PROG = "pledgebox"


def cmd_serve(args) -> int:
    """Run the site under waitress."""
    from . import web

    data = args.data
    cfg = config.load(data)
    if cfg.demo and (args.unix_socket or not serve.is_loopback(args.host)):
        # Not a usage error: the unit's RestartPreventExitStatus= keeps systemd from looping on it.
        raise config.missing(
            data / "campaign.toml", also="Without it this is the demo campaign, which only serves on 127.0.0.1."
        )
    ownership.refuse_other_user(data, ownership.invocation(args.argv))
    app = web.build_app(cfg)  # refuses a private identity under data/
    startup.refuse_unwritable(cfg.state_dir)
    for text in startup.warnings(cfg, campaign.today(cfg.tz)):
        keys.warn(text)
    app.site.prepare(workers=args.workers)
    where = serve.settings(
        host=args.host,
        port=args.port,
        unix_socket=args.unix_socket,
        threads=args.threads,
        workers=args.workers,
        behind_https_proxy=args.behind_https_proxy,
    )
    serve.run(
        app, workers=args.workers, proxy_protocol=args.proxy_protocol, housekeeping=app.site.circuits.sweep, **where
    )
    return 0


def add_serve(sub) -> None:
    """`serve`: where to listen, how many workers and threads."""
    sp = command(
        sub,
        "serve",
        cmd_serve,
        "serve the site with waitress",
        """
python app.py serve                                  # http://127.0.0.1:8080/
python app.py serve --unix-socket /run/pledgebox/app.sock   # behind a Tor onion service
python app.py serve --unix-socket /run/pledgebox/app.sock --proxy-protocol   # with HiddenServiceExportCircuitID
python app.py serve --host 127.0.0.1 --port 8081 --behind-https-proxy""",
    )
    where = sp.add_mutually_exclusive_group()
    where.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    where.add_argument("--unix-socket", metavar="PATH", help="listen on a UNIX socket (mode 0660) instead")
    sp.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    sp.add_argument(
        "--workers",
        type=_workers,
        default=1,
        metavar="N",
        help="processes sharing the listening socket, e.g. one per core (default 1)",
    )
    sp.add_argument(
        "--threads",
        type=int,
        default=0,
        help=f"threads per process (default {serve.WAITRESS['threads']}, "
        f"or {serve.WORKER_THREADS} per worker with --workers)",
    )
    sp.add_argument(
        "--behind-https-proxy",
        action="store_true",
        help="trust X-Forwarded-Proto from a reverse proxy on 127.0.0.1 (for HSTS and Onion-Location)",
    )
    sp.add_argument(
        "--proxy-protocol",
        action="store_true",
        help="every connection begins with a PROXY v1 line (tor's HiddenServiceExportCircuitID haproxy): "
        "limits apply per Tor circuit; a connection without a valid line is closed",
    )


MAX_WORKERS = 64


def _workers(text: str) -> int:
    """A worker count from 1 to MAX_WORKERS."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"give a whole number from 1 to {MAX_WORKERS}, e.g. 2 on a 2-core machine")
    return n


def cmd_raised(args) -> int:
    """Publish the amount reached (and optionally pledged) for the widget."""
    raised = campaign.parse_total(args.amount)
    pledged = campaign.parse_total(args.pledged) if args.pledged is not None else None
    ownership.refuse_other_user(args.data, ownership.invocation(args.argv))
    if not (args.data / "campaign.toml").is_file():
        # A folder without a campaign is the demo's: publishing there would change no real site, silently.
        raise config.ConfigError(
            f"there is no campaign.toml in {args.data}, so no campaign's site shows totals published there.",
            hint="give the data folder of the server (or of the machine "
            "that builds the mirror) with --data DIR, e.g. --data /var/lib/pledgebox",
        )
    cfg = config.load(args.data)
    before = campaign.read_totals(cfg.state_dir).pledged
    kept = pledged is None and before is not None
    if kept:
        pledged = before  # `raised AMOUNT` alone changes only the amount reached
    campaign.write_totals(cfg.state_dir, campaign.Totals(raised, pledged))
    extra = f", €{pledged:,.2f} pledged" if pledged is not None else ""
    print(
        f"Published in {cfg.state_dir / campaign.TOTALS_FILE}: €{raised:,.2f} reached{extra}. The running site "
        "shows it within a few seconds."
    )
    if kept:
        print(f"The pledged figure €{pledged:,.2f} published before is kept; change it with --pledged AMOUNT.")
    return 0


def add_raised(sub) -> None:
    """`raised AMOUNT [--pledged AMOUNT]`."""
    sp = command(
        sub,
        "raised",
        cmd_raised,
        "publish the amount reached, shown by the campaign widget",
        """
python app.py raised 1234.50
python app.py raised 1234.50 --pledged 2100""",
    )
    sp.add_argument("amount", help="the amount received so far, e.g. 1234.50")
    sp.add_argument("--pledged", metavar="AMOUNT", help="also show the amount pledged")


def cmd_collect(args) -> int:
    """Move the sealed records out of the server's store into one new file for the organisers."""
    from . import store

    if not args.data.is_dir():
        # A mistyped --data would otherwise give an empty file and the false news of no pledges.
        raise UsageError(f"there is no data folder {args.data}.", hint="give the server's data folder with --data DIR")
    to_stdout = str(args.out) == "-"
    if to_stdout:
        _check_stdout_for_collect(args.purge)
    elif not args.out.parent.is_dir():
        raise UsageError(
            f"the folder {args.out.parent} does not exist.",
            hint="is the USB stick mounted? the output's folder must exist",
        )
    # The server's user usually may not write the USB stick: the hint collects to stdout instead.
    again = ownership.invocation(_out_to_stdout(args.argv)) + ("" if to_stdout else f" > {shlex.quote(str(args.out))}")
    ownership.refuse_other_user(args.data, again)
    cfg = config.load(args.data)
    records = store.Store(cfg.state_dir)
    # Only for the message: the safety copy that --purge deletes (its records went out in earlier collects).
    earlier = sum(1 for _ in store.read_records(records.collected)) if args.purge and records.collected.exists() else 0
    moved = records.collect(sys.stdout.buffer if to_stdout else args.out, purge=args.purge)
    # With --out -, standard output carries the records: the messages go to stderr.
    say = (lambda text: print(text, file=sys.stderr)) if to_stdout else print
    where = "standard output" if to_stdout else f"{args.out} (mode 0600)"
    say(f"Collected {moved} sealed record{'s' * (moved != 1)} into {where}.")
    if args.purge:
        say(
            f"Purged: no sealed record is left on the server ({moved} moved now"
            + (f"; the safety copy of {earlier} collected earlier was deleted" if earlier else "")
            + ")."
        )
    elif moved:
        say(f"The server keeps a sealed safety copy in {records.collected} until you collect with --purge.")
    say("Take the file to the organisers' machine and open it there with `python app.py review`.")
    return 0


def _out_to_stdout(argv: list[str]) -> list[str]:
    """The same arguments with `--out -`."""
    out, after_out = [], False
    for arg in argv:
        out.append("-" if after_out else "--out=-" if arg.startswith("--out=") else arg)
        after_out = arg == "--out"
    return out


def _check_stdout_for_collect(purge: bool) -> None:
    """`--out -` needs a file or a pipe; with --purge, a file (only a file can be made durable)."""
    import stat

    if sys.stdout.isatty():
        raise UsageError(
            "--out - writes the sealed records to standard output, which is this terminal.",
            hint="redirect it into a file: … collect --out - > /media/usb/pledges.sealed",
        )
    try:
        is_file = stat.S_ISREG(os.fstat(sys.stdout.fileno()).st_mode)
    except (OSError, ValueError):
        is_file = False  # no descriptor at all (stdout replaced inside Python)
    if purge and not is_file:
        raise UsageError(
            "--purge with --out - needs standard output to be a file: through a pipe, nothing "
            "confirms that the records arrived before they are deleted from the server.",
            hint="redirect into a file (… --out - --purge > /media/usb/pledges.sealed), or collect without --purge",
        )


def add_collect(sub) -> None:
    """`collect --out FILE [--purge]`."""
    sp = command(
        sub,
        "collect",
        cmd_collect,
        "on the server: move the sealed pledges into one new file for the organisers",
        """
python app.py collect --out /media/usb/pledges-2026-11-25.sealed
python app.py collect --out /media/usb/pledges-2026-12-01.sealed --purge   # leave nothing on the server
sudo -u pledgebox pledgebox collect --data /var/lib/pledgebox --out - > /media/usb/pledges.sealed""",
    )
    sp.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="FILE",
        help="the new file (never overwritten; mode 0600), or - for standard output; it holds sealed records only",
    )
    sp.add_argument(
        "--purge",
        action="store_true",
        help="leave no sealed record on the server, not even the safety copy of earlier collects",
    )


def cmd_audit(args) -> int:
    """Scan a data folder for anything that could identify a donor; exit 1 if anything is found."""
    from . import audit

    if not args.data.is_dir():
        raise UsageError(f"{args.data} is not a folder.", hint="give the server's data folder with --data DIR")
    report = audit.scan(args.data)
    where = safetext.terminal(str(args.data))
    for note in report.notes:
        print(f"note: {note}")
    if report.clean:
        print(
            f"No findings in {where}: {report.files} files and {report.records} sealed records checked; "
            "no address, Tor circuit id, user agent, time of day, plaintext or private key. (The server never "
            "writes a circuit id: with --proxy-protocol it keeps a keyed hash of each in memory, for minutes.)"
        )
        return 0
    for line in audit.lines(report):
        print(line)
    print(
        f"{len(report.findings)} finding{'s' * (len(report.findings) != 1)} in {where} "
        f"({report.files} files, {report.records} sealed records checked). Values are not shown: "
        "they could be donors' data. Look at each place, remove what must not be there, then run audit again.",
        file=sys.stderr,
    )
    return 1


def add_audit(sub) -> None:
    """`audit [--data DIR]`."""
    command(
        sub,
        "audit",
        cmd_audit,
        "scan a data folder for anything that could identify a donor "
        "(addresses, user agents, times of day, plaintext, private keys, loose permissions)",
        """
python app.py audit                          # the project's data/
python app.py audit --data /srv/pledgebox/data   # a live server's data folder (or a full-copy host's)
Exit status 0: nothing found; 1: findings, listed as FILE: KIND or FILE:LINE:COLUMN: KIND
(never the value itself). A static mirror needs no audit: `mirror verify` checks every byte of it.""",
    )


def parser() -> argparse.ArgumentParser:
    """The argument parser, with usage examples for every command."""
    # allow_abbrev=False: `--passphrase x` must never be read as `--passphrase-file x`.
    p = Parser(
        allow_abbrev=False,
        prog=PROG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="A Tor-friendly fundraising appeal whose pledges are sealed to the organisers' keys.",
        epilog="Run `python app.py COMMAND --help` for each command's options and examples.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (add_serve, add_raised, add_keygen, add_identity, add_collect, add_review, add_audit, add_mirror):
        add(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command; errors go to stderr as `pledgebox: error: …` with a hint."""
    args = parser().parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]  # to repeat it in a hint
    try:
        return args.func(args)
    except PledgeboxError as exc:
        print(f"{PROG}: error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"{PROG}: hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `review … | head` closed the pipe: stop quietly, as other terminal tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
