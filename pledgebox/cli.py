"""`python app.py COMMAND`: the organisers' and hosts' command line."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from . import campaign, config, sealing, serve
from .errors import PledgeboxError, UsageError

PROG = "pledgebox"


class PrivateKeyInData(PledgeboxError):
    """A private organiser identity is in the data folder; the server must hold only public keys:"""

    hint = "move it to the organisers' own machine (and keep a backup there), then start again"


def cmd_serve(args) -> int:
    """Run the site under waitress."""
    from . import web

    data = args.data
    found = sealing.find_identities(data) if data.is_dir() else []
    if found:
        raise PrivateKeyInData(", ".join(str(p) for p in found))
    cfg = config.load(data)
    if cfg.demo and (args.unix_socket or not serve.is_loopback(args.host)):
        raise UsageError(f"there is no {data / 'campaign.toml'}, so this is the demo campaign, "
                         "which only serves on 127.0.0.1.",
                         hint="configure your campaign first: copy data/campaign.example.toml to data/campaign.toml")
    app = web.build_app(cfg)
    serve.run(app, **serve.settings(host=args.host, port=args.port, unix_socket=args.unix_socket,
                                    threads=args.threads, behind_https_proxy=args.behind_https_proxy))
    return 0


def cmd_raised(args) -> int:
    """Publish the amount reached (and optionally pledged) for the widget."""
    raised = campaign.parse_total(args.amount)
    pledged = campaign.parse_total(args.pledged) if args.pledged is not None else None
    cfg = config.load(args.data)
    campaign.write_totals(cfg.state_dir, campaign.Totals(raised, pledged))
    t_en = f"€{raised:,.2f}"
    extra = f", €{pledged:,.2f} pledged" if pledged is not None else ""
    print(f"Published: {t_en} reached{extra}. The running site shows it within a few seconds.")
    return 0


def _data_dir(text: str) -> Path:
    return Path(text).expanduser().resolve()


def parser() -> argparse.ArgumentParser:
    """The argument parser, with usage examples for every command."""
    p = argparse.ArgumentParser(
        prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="A Tor-friendly fundraising appeal whose pledges are sealed to the organisers' keys.",
        epilog="Run `python app.py COMMAND --help` for each command's options and examples.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, func, help_text, examples):
        sp = sub.add_parser(name, help=help_text, description=help_text,
                            formatter_class=argparse.RawDescriptionHelpFormatter,
                            epilog="examples:\n" + textwrap.indent(examples.strip(), "  "))
        sp.add_argument("--data", type=_data_dir, default=config.DEFAULT_DATA,
                        help="the data folder (default: the project's data/)")
        sp.set_defaults(func=func)
        return sp

    sp = command("serve", cmd_serve, "serve the site with waitress", """
python app.py serve                                  # http://127.0.0.1:8080/
python app.py serve --unix-socket /run/pledgebox/app.sock   # behind a Tor onion service
python app.py serve --host 127.0.0.1 --port 8081 --behind-https-proxy""")
    where = sp.add_mutually_exclusive_group()
    where.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    where.add_argument("--unix-socket", metavar="PATH", help="listen on a UNIX socket (mode 0660) instead")
    sp.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    sp.add_argument("--threads", type=int, default=0, help=f"worker threads (default {serve.WAITRESS['threads']})")
    sp.add_argument("--behind-https-proxy", action="store_true",
                    help="trust X-Forwarded-Proto from a reverse proxy on 127.0.0.1 (for HSTS and Onion-Location)")

    sp = command("raised", cmd_raised, "publish the amount reached, shown by the campaign widget", """
python app.py raised 1234.50
python app.py raised 1234.50 --pledged 2100""")
    sp.add_argument("amount", help="the amount received so far, e.g. 1234.50")
    sp.add_argument("--pledged", metavar="AMOUNT", help="also show the amount pledged")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command; errors go to stderr as `pledgebox: error: …` with a hint."""
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except PledgeboxError as exc:
        print(f"{PROG}: error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"{PROG}: hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
