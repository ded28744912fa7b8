"""pledgebox: a no-JavaScript, Tor-friendly appeal with pledges sealed on arrival."""

from pathlib import Path

__version__ = "0.1.0"

# Every project path resolves from here, never from the current directory.
ROOT = Path(__file__).resolve().parent.parent
