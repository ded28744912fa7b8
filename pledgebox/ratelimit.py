"""A global token bucket: a cap on confirms per minute that needs no client address."""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
import threading
import time

_STATE = struct.Struct("dd")  # tokens left, when they were counted (the clock's seconds)


class RateLimit:
    """Allow `per_minute` events per minute overall, in bursts of up to that many.

    With shared=True the bucket lives in memory shared with processes forked later (the
    workers of `serve --workers N`), so the cap stays one cap, not one per worker.
    """

    def __init__(self, per_minute: int, clock=time.monotonic, *, shared: bool = False):
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self.lock = threading.Lock()
        self._fd: int | None = None
        if shared:
            # An in-memory file: nothing touches the disk, and a POSIX lock on it is
            # released by the kernel if a worker dies holding it (a semaphore would not be).
            self._fd = os.memfd_create("pledgebox-ratelimit", os.MFD_CLOEXEC)
            os.ftruncate(self._fd, _STATE.size)
            self._state = mmap.mmap(self._fd, _STATE.size)
        else:
            self._state = bytearray(_STATE.size)
        _STATE.pack_into(self._state, 0, self.capacity, clock())

    def allow(self) -> bool:
        """Take one token if there is one."""
        # POSIX locks belong to a process, so threads of one process also need the thread lock.
        with self.lock:
            if self._fd is not None:
                fcntl.lockf(self._fd, fcntl.LOCK_EX)
            try:
                tokens, stamp = _STATE.unpack_from(self._state, 0)
                now = self.clock()
                tokens = min(self.capacity, tokens + max(0.0, now - stamp) * self.rate)
                allowed = tokens >= 1
                _STATE.pack_into(self._state, 0, tokens - allowed, now)
                return allowed
            finally:
                if self._fd is not None:
                    fcntl.lockf(self._fd, fcntl.LOCK_UN)
