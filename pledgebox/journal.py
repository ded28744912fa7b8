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
        now = self.clock()
        with self._lock:
            if cause == self._last[0] and now - self._last[1] < EVERY:
                return
            self._last = (cause, now)
        print(
            f"pledgebox: error: pledges cannot be stored, donors get 503 ({cause}); hint: check the data "
            "folder's owner and free space with `pledgebox audit --data DIR`",
            file=sys.stderr,
            flush=True,
        )
