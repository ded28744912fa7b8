"""A global token bucket: a cap on confirms per minute that needs no client address."""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
import struct
import threading
import time

_STATE = struct.Struct("dd")  # tokens left, when they were counted (the clock's seconds)


class SharedBytes:
    """A few bytes of state, optionally in memory shared with processes forked later, and their lock.

    shared=True: an in-memory file (memfd), so nothing touches the disk, and a POSIX lock on it
    is released by the kernel if a worker dies holding it (a semaphore would not be).
    """

    def __init__(self, name: str, size: int, *, shared: bool):
        self.lock = threading.Lock()
        self._fd: int | None = None
        if shared:
            self._fd = os.memfd_create(name, os.MFD_CLOEXEC)
            os.ftruncate(self._fd, size)
            self.data = mmap.mmap(self._fd, size)
        else:
            self.data = bytearray(size)

    @contextlib.contextmanager
    def locked(self):
        """Hold the state alone: POSIX locks belong to a process, so its threads also need the thread lock."""
        with self.lock:
            if self._fd is not None:
                fcntl.lockf(self._fd, fcntl.LOCK_EX)
            try:
                yield self.data
            finally:
                if self._fd is not None:
                    fcntl.lockf(self._fd, fcntl.LOCK_UN)


class RateLimit:
    """Allow `per_minute` events per minute overall, in bursts of up to that many.

    With shared=True the bucket lives in memory shared with processes forked later (the
    workers of `serve --workers N`), so the cap stays one cap, not one per worker.
    """

    def __init__(self, per_minute: int, clock=time.monotonic, *, shared: bool = False):
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self._state = SharedBytes("pledgebox-ratelimit", _STATE.size, shared=shared)
        _STATE.pack_into(self._state.data, 0, self.capacity, clock())

    def allow(self) -> bool:
        """Take one token if there is one."""
        with self._state.locked() as state:
            tokens, stamp = _STATE.unpack_from(state, 0)
            now = self.clock()
            tokens = min(self.capacity, tokens + max(0.0, now - stamp) * self.rate)
            allowed = tokens >= 1
            _STATE.pack_into(state, 0, tokens - allowed, now)
            return allowed
