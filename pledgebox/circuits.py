"""A fair share per Tor circuit: token buckets keyed by a keyed hash of the circuit, in memory only.

The circuit comes from the PROXY line tor writes (`serve --proxy-protocol`). Only
HMAC(key, circuit) reaches the table, with a key made at start-up that never leaves memory,
so the table holds nothing that tor's circuit ids could be matched against. With `--workers`
the table lives in an in-memory file shared with the forked workers, like the global RateLimit.
An entry is forgotten once its circuit has been idle for FORGET_AFTER seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import time

from .ratelimit import SharedBytes

_KEY = os.urandom(32)  # made once per server start, inherited by forked workers, never written
LABEL_SIZE = 8
SLOTS = 4096  # circuits tracked at once; beyond that the longest idle one near a new one is forgotten
PROBE = 16  # slots looked at for one label
FORGET_AFTER = 180.0  # seconds: an idle circuit's buckets are full again after 60 s anyway
SWEEP_EVERY = 30.0
# Per slot: the label; tokens left for confirms and for check pages; when they were counted.
_SLOT = struct.Struct(f"{LABEL_SIZE}sddd")
_EMPTY = bytes(LABEL_SIZE)
CONFIRM, CHECK = 0, 1
ENVIRON_KEY = "pledgebox.circuit"  # where the WSGI environ carries a connection's label (connections.py)


def label(key: bytes) -> bytes:
    """The circuit's keyed hash: all that is kept of it."""
    return hmac.digest(_KEY, key, hashlib.sha256)[:LABEL_SIZE]


class CircuitLimits:
    """Allow per-minute numbers of confirms and of check pages per circuit, in bursts of up to that many."""

    def __init__(
        self,
        confirms_per_minute: int,
        checks_per_minute: int,
        clock=time.monotonic,
        *,
        shared: bool = False,
        slots: int = SLOTS,
    ):
        self.capacity = (float(confirms_per_minute), float(checks_per_minute))
        self.clock = clock
        self.slots = slots
        self._table = SharedBytes("pledgebox-circuits", _SLOT.size * slots, shared=shared)
        self._swept = clock()

    def allow(self, circuit: bytes | None, kind: int) -> bool:
        """Take one token of this kind from this circuit's bucket; a request without a circuit is not limited here."""
        if circuit is None:
            return True
        with self._table.locked() as table:
            now = self.clock()
            offset = self._slot_for(table, circuit, now)
            taken, *tokens, stamp = _SLOT.unpack_from(table, offset)
            if taken != circuit:
                tokens, stamp = list(self.capacity), now
            elapsed = max(0.0, now - stamp)
            tokens = [min(cap, have + elapsed * cap / 60.0) for cap, have in zip(self.capacity, tokens, strict=True)]
            allowed = tokens[kind] >= 1
            tokens[kind] -= allowed
            _SLOT.pack_into(table, offset, circuit, *tokens, now)
            return allowed

    def _slot_for(self, table, circuit: bytes, now: float) -> int:
        """This circuit's slot, else a free or stale one near it, else the longest idle one near it."""
        start = int.from_bytes(circuit[:4], "big") % self.slots
        free, oldest, oldest_stamp = None, 0, float("inf")
        for i in range(min(PROBE, self.slots)):
            offset = (start + i) % self.slots * _SLOT.size
            taken, _confirms, _checks, stamp = _SLOT.unpack_from(table, offset)
            if taken == circuit:
                return offset
            if free is None and (taken == _EMPTY or now - stamp >= FORGET_AFTER):
                free = offset
            if stamp < oldest_stamp:
                oldest, oldest_stamp = offset, stamp
        return free if free is not None else oldest

    def sweep(self) -> None:
        """Forget every circuit idle for FORGET_AFTER seconds (call it often: it works every SWEEP_EVERY)."""
        now = self.clock()
        if now - self._swept < SWEEP_EVERY:
            return
        self._swept = now
        with self._table.locked() as table:
            for slot in range(self.slots):
                offset = slot * _SLOT.size
                taken, _confirms, _checks, stamp = _SLOT.unpack_from(table, offset)
                if taken != _EMPTY and now - stamp >= FORGET_AFTER:
                    _SLOT.pack_into(table, offset, _EMPTY, 0.0, 0.0, 0.0)

    def snapshot(self) -> bytes:
        """The whole table's bytes: labels, token counts and clock readings, nothing else."""
        with self._table.locked() as table:
            return bytes(table)
