"""What the running server tells the journal (stderr) when pledges fail: the cause, never what a donor sent."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from .errors import PledgeboxError

EVERY = 60  # seconds: the journal learns the cause, and is not flooded by every pledge


class StoreTrouble:
    """Says why the store cannot be written, once a minute at most for the same cause."""

    def __init__(self, folder: Path, clock=time.monotonic):
        self.folder = folder
        self.clock = clock
        self._lock = threading.Lock()
        self._last: tuple[str, float] = ("", float("-inf"))

    def report(self, exc: Exception) -> None:
        """One line on stderr naming the file and the cause (an errno text, never request data)."""
        if isinstance(exc, PledgeboxError):
            cause = exc.detail
        else:
            where = getattr(exc, "filename", None) or self.folder
            cause = f"{where}: {getattr(exc, 'strerror', None) or type(exc).__name__}"
        self._say(
            f"pledges cannot be stored, donors get 503 ({cause})",
            "check the data folder's owner and free space with `pledgebox audit --data DIR`",
        )

    def full(self) -> None:
        """One line when pledges are paused because the uncollected records reached their cap."""
        self._say(
            "pledges are paused, donors get 503: the uncollected records reached limits.max_pending or max_pending_mb",
            "collect them (as the service's user: `pledgebox collect --out - > FILE`) or raise the limit in [limits]",
        )

    def _say(self, text: str, hint: str) -> None:
        """Print text and hint, unless the same text was printed less than a minute ago."""
        now = self.clock()
        with self._lock:
            if text == self._last[0] and now - self._last[1] < EVERY:
                return
            self._last = (text, now)
        print(f"pledgebox: error: {text}; hint: {hint}", file=sys.stderr, flush=True)
