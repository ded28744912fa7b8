"""File times that never date a pledge: everything under the data folder, touched on a fixed beat.

An append sets the store's modification and change times to the moment of the pledge. While the app
serves, a heartbeat sets the access and modification times of every file and folder under the data
folder to the start of the day (UTC), at every multiple of HEARTBEAT seconds of the wall clock. The
change time cannot be set, but each beat makes it the time of that beat: afterwards it says only "the
server was running then", whether or not a pledge came.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from pathlib import Path

# Seconds between beats. 75 s after a pledge the latest beat is then at least 45 s after it, so no
# time is left within 30 s of it (a beat every 60 s could fall 16 s after it).
HEARTBEAT = 30.0
DAY = 86400


def day_start(now: float) -> int:
    """The start of the UTC day that now falls in, in Unix seconds."""
    return int(now // DAY * DAY)


def is_day_start(seconds: float) -> bool:
    """True for a time at the very start of a UTC day: what blur leaves."""
    return seconds == day_start(seconds)


def blur(folder: Path, now: float | None = None) -> int:
    """Set the access and modification times of everything under folder to the start of the day.

    Symlinks are neither followed nor touched; a path that vanished or is not ours is left alone.
    Returns how many paths were set.
    """
    day = day_start(time.time() if now is None else now)
    done = 0
    # Bottom-up: a folder's own times are set after its entries were listed (listing reads it).
    for root, dirs, names in os.walk(folder, topdown=False, followlinks=False):
        for name in (*names, *dirs):
            done += _set(os.path.join(root, name), day)
    return done + _set(os.fspath(folder), day)


def _set(path: str, day: int) -> int:
    """Set one path's times to day: 1 if done, 0 if it is a symlink, gone, or not ours."""
    try:
        if os.path.islink(path):
            return 0
        os.utime(path, (day, day), follow_symlinks=False)
    except OSError:
        return 0
    return 1


class _Beat:
    """One thread per process and interval that blurs every folder registered with it."""

    def __init__(self, interval: float):
        self.interval = interval
        self.pid = os.getpid()
        self.alive = True
        # owner -> folder: a folder is blurred as long as its owner (the app's Site) lives.
        self.folders: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.thread = threading.Thread(target=self._run, name="pledgebox-heartbeat", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(self.interval - time.time() % self.interval)
            with _lock:
                folders = set(self.folders.values())
                if not folders:  # every owner is gone: end, and let the next one start anew
                    self.alive = False
                    return
            for folder in folders:
                blur(folder)


_lock = threading.Lock()
_beats: dict[float, _Beat] = {}


def keep_blurred(owner: object, folder: Path, interval: float = HEARTBEAT) -> None:
    """Blur folder at every multiple of interval seconds in this process, for as long as owner lives."""
    with _lock:
        beat = _beats.get(interval)
        # A forked worker inherits the dict but not the thread: it starts its own.
        if beat is None or not beat.alive or beat.pid != os.getpid():
            beat = _beats[interval] = _Beat(interval)
        beat.folders[owner] = Path(folder)


class Heartbeat:
    """The data folder's times kept blurred in every process that serves the app."""

    def __init__(self, folder: Path, interval: float = HEARTBEAT):
        self.folder, self.interval, self._pid = Path(folder), interval, 0

    def ensure(self) -> None:
        """Beat in this process from now on: called on every request, so a forked worker starts its own."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            keep_blurred(self, self.folder, self.interval)
