"""A global token bucket: a cap on confirms per minute that needs no client address."""

from __future__ import annotations

import threading
import time


class RateLimit:
    """Allow `per_minute` events per minute overall, in bursts of up to that many."""

    def __init__(self, per_minute: int, clock=time.monotonic):
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.tokens = self.capacity
        self.clock = clock
        self.stamp = clock()
        self.lock = threading.Lock()

    def allow(self) -> bool:
        """Take one token if there is one."""
        with self.lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False
