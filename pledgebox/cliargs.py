"""The pieces every subcommand's parser is built from (cli and mirror_cli both use them)."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from . import config, keys


class Parser(argparse.ArgumentParser):
    """argparse, with a hint line after a usage error like every other error of the command line."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(
            2, f"{self.prog}: error: {message}\npledgebox: hint: `{self.prog} --help` shows the options and examples\n"
        )


def command(sub, name, func, help_text, examples) -> argparse.ArgumentParser:
    """A subcommand with its examples, `--data` and the function that runs it."""
    sp = sub.add_parser(
        name,
        help=help_text,
        description=help_text,
        allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n" + textwrap.indent(examples.strip(), "  "),
    )
    sp.add_argument(
        "--data", type=data_dir, default=config.DEFAULT_DATA, help="the data folder (default: the project's data/)"
    )
    sp.set_defaults(func=func)
    return sp


def data_dir(text: str) -> Path:
    """A `--data` folder as an absolute path."""
    return Path(text).expanduser().resolve()


def refuse_passphrase_argument(args) -> None:
    """`--passphrase SECRET` is refused: argv is readable by every user and kept in shell history."""
    if getattr(args, "passphrase_argv", None) is not None:
        raise keys.PassphraseOnCommandLine()


def no_passphrase_argument(sp) -> None:
    """A hidden `--passphrase`: only there to refuse a passphrase on the command line with a clear message."""
    sp.add_argument("--passphrase", dest="passphrase_argv", nargs="?", const="", help=argparse.SUPPRESS)
