"""Append-only files of sealed records: durable, shared safely by threads and processes."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import math
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple

from pledgebox import files
from pledgebox.errors import OutputExists, PledgeboxError

__all__ = [
    "COLLECTED",
    "PENDING",
    "Damaged",
    "Record",
    "RecordsUnreadable",
    "Store",
    "StoreFull",
    "StoreWriteError",
    "read_problems",
    "read_records",
    "scan_records",
]

PENDING = "pending.sealed"
COLLECTED = "collected.sealed"
LOCK = ".lock"
_CHUNK = 1 << 20  # every record is far smaller (about 14 KB per organiser key)

# RECORD_ID SP RECORD LF: the id is printable ASCII without spaces, the record
# printable ASCII that starts with a non-space.
_ID = re.compile(rb"[!-~]{1,256}")
_RECORD = re.compile(rb"[!-~][ -~]*")
_LINE = re.compile(rb"([!-~]{1,256}) ([!-~][ -~]*)")


class StoreWriteError(PledgeboxError):
    """The sealed records could not be written:"""

    hint = "check that the data folder is writable and the disk is not full"


class StoreFull(Exception):
    """The uncollected records reached their cap; nothing was written."""


class RecordsUnreadable(PledgeboxError):
    """The file of sealed records could not be read:"""

    hint = "check the name: give the files `pledgebox collect` wrote, e.g. /media/usb/pledges-2026-11-25.sealed"


class Record(NamedTuple):
    """One well-formed line of a records file."""

    line: int
    record_id: str
    record: bytes


@dataclass(frozen=True)
class Damaged:
    """A line of a records file that is not a well-formed record."""

    line: int
    reason: str

    def __str__(self) -> str:
        """What review prints about it."""
        return f"record {self.line} is damaged ({self.reason}), skipped"


def scan_records(path: Path) -> Iterator[Record | Damaged]:
    """Every line of a records file, in order: a Record, or Damaged with its line number."""
    try:
        file = open(path, "rb")
    except OSError as exc:
        raise RecordsUnreadable(f"{path}: {exc.strerror}") from None
    with file:
        for number, line in enumerate(file, start=1):
            if not line.endswith(b"\n"):
                yield Damaged(number, "incomplete last line, cut off while it was written")
                continue
            match = _LINE.fullmatch(line, 0, len(line) - 1)
            if match is None:
                yield Damaged(number, "malformed line")
                continue
            yield Record(number, match[1].decode("ascii"), match[2])


def read_records(path: Path) -> Iterator[Record]:
    """The well-formed records of a file, as (line number, record id, record)."""
    for item in scan_records(path):
        if isinstance(item, Record):
            yield item


def read_problems(path: Path) -> list[Damaged]:
    """The lines of a records file that read_records skips."""
    return [item for item in scan_records(path) if isinstance(item, Damaged)]


def record_ids(path: Path) -> Iterator[str]:
    """The ids of the complete records in a file, read in chunks (nothing if it is missing)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        offset, carry = 0, b""
        while chunk := os.pread(fd, _CHUNK, offset):
            offset += len(chunk)
            lines = (carry + chunk).split(b"\n")
            carry = lines.pop()
            for line in lines:
                yield line.partition(b" ")[0].decode("ascii", "replace")
    finally:
        os.close(fd)


def _cut_torn_tail(fd: int) -> None:
    """Cut a file back to just after its last LF: what a power cut may leave is no record."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return
    end = size
    while end > 0:
        start = max(0, end - 65536)
        chunk = os.pread(fd, end - start, start)
        last = chunk.rfind(b"\n")
        if last >= 0:
            os.ftruncate(fd, start + last + 1)
            return
        end = start
    os.ftruncate(fd, 0)


class Store:
    """The server's sealed records: pending.sealed until collected, then collected.sealed."""

    def __init__(self, folder: Path):
        """Remember where the records live; nothing is created until the first append."""
        self.folder = Path(folder)
        self.pending = self.folder / PENDING
        self.collected = self.folder / COLLECTED
        self._lock_path = self.folder / LOCK
        # flock guards against other processes; this lock guards our own state.
        self._mutex = threading.Lock()
        # Every record id this process has seen, kept across collects so a
        # resubmitted token is refused even after its record moved out.
        self._seen: set[str] = set()
        # How far pending.sealed has been scanned, and which file that was.
        self._file: tuple[int, int, int] | None = None  # (st_dev, st_ino, generation)
        self._offset = 0
        self._count = 0

    @contextlib.contextmanager
    def _lock(self, kind: int, *, create: bool) -> Iterator[int | None]:
        """Hold flock(kind) on the lock file; yields its fd, or None if nothing was ever appended."""
        fd = self._locked(kind, create)
        try:
            yield fd
        finally:
            if fd is not None:
                os.close(fd)

    def _locked(self, kind: int, create: bool) -> int | None:
        """An fd holding flock(kind) on the lock file; None if nothing was ever appended."""
        if create:
            try:
                self.folder.mkdir(mode=0o700, parents=True)
            except FileExistsError:
                pass
            else:
                files.fsync_dir(self.folder.parent)
        # A fresh descriptor per operation: a descriptor inherited across fork
        # would share its flock with the parent.
        try:
            fd = os.open(self._lock_path, os.O_RDWR | (os.O_CREAT if create else 0), 0o600)
        except FileNotFoundError:
            if create:
                raise
            # The first append creates the lock file before anything else.
            return None
        try:
            fcntl.flock(fd, kind)
        except BaseException:
            os.close(fd)
            raise
        return fd

    @staticmethod
    def _generation(lock_fd: int) -> int:
        """The collect counter kept in the lock file (0 if none)."""
        text = os.pread(lock_fd, 32, 0).strip()
        return int(text) if text.isdigit() else 0

    def _catch_up(self, fd: int, lock_fd: int) -> int:
        """Scan what was appended to pending since we last looked; return its size."""
        st = os.fstat(fd)
        identity = (st.st_dev, st.st_ino, self._generation(lock_fd))
        if identity != self._file:
            # A fresh process, or a collect since we last looked: records we have not read may
            # have moved into the safety copy, and a resubmitted token may still carry their ids
            # (until a purge). Another process's records, too: read them all from there.
            self._seen.update(record_ids(self.collected))
        # A collect truncates the file (and bumps the generation): start over.
        if identity != self._file or st.st_size < self._offset:
            self._file = identity
            self._offset = 0
            self._count = 0
        while st.st_size > self._offset:
            # In chunks, keeping only ids: the store may be far larger than memory should hold.
            data = os.pread(fd, min(st.st_size - self._offset, _CHUNK), self._offset)
            end = data.rfind(b"\n") + 1
            if not data or not end:
                if len(data) < _CHUNK:
                    break  # a torn last record, never acknowledged
                raise OSError(errno.EFBIG, "a line longer than any record", str(self.pending))
            lines = data[:end].split(b"\n")
            lines.pop()
            self._seen.update(line.partition(b" ")[0].decode("ascii", "replace") for line in lines)
            self._count += len(lines)
            self._offset += end
        return st.st_size

    def append(
        self, record_id: str, record: bytes, *, max_records: float | None = None, max_bytes: float | None = None
    ) -> bool:
        """Store one sealed record durably; False (and nothing written) if its id was ever stored.

        max_records, max_bytes: the uncollected records at which a new record raises StoreFull
        instead; checked under the lock, so it needs no separate look at the store.
        """
        raw_id = record_id.encode("ascii") if record_id.isascii() else b""
        if not _ID.fullmatch(raw_id):
            raise ValueError("record_id must be 1 to 256 printable ASCII characters without spaces")
        if not isinstance(record, bytes) or not _RECORD.fullmatch(record):
            raise ValueError("record must be printable ASCII starting with a non-space")
        line = raw_id + b" " + record + b"\n"
        limits = (math.inf if max_records is None else max_records, math.inf if max_bytes is None else max_bytes)
        with self._mutex:
            if record_id in self._seen:
                return False
            try:
                stored = self._append_locked(record_id, line, limits)
            except OSError as exc:
                raise StoreWriteError(f"{exc.filename or self.pending}: {exc.strerror}") from None
            if stored:
                self._seen.add(record_id)
                self._offset += len(line)
                self._count += 1
            return stored

    def _append_locked(self, record_id: str, line: bytes, limits: tuple[float, float]) -> bool:
        """The part of append that holds the lock file."""
        with self._lock(fcntl.LOCK_EX, create=True) as lock_fd, _pending_fd(self.pending) as (fd, created):
            size = self._catch_up(fd, lock_fd)
            if record_id in self._seen:
                return False
            if self._count >= limits[0] or self._offset >= limits[1]:
                raise StoreFull()
            try:
                # Bytes after the last LF are a record torn by a crash, never acknowledged.
                if size > self._offset:
                    os.ftruncate(fd, self._offset)
                # One write on an O_APPEND descriptor: the whole line or an error.
                if os.write(fd, line) != len(line):
                    raise OSError(errno.ENOSPC, "short write, is the disk full?")
                os.fsync(fd)
                if created:
                    files.fsync_dir(self.folder)
            except OSError:
                # Leave no torn record behind for the next append or a reader.
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, self._offset)
                raise
        return True

    def prepare(self) -> None:
        """Create the folder and files before serving, so no timestamp records the first pledge."""
        with self._mutex, self._lock(fcntl.LOCK_EX, create=True):
            try:
                fd = os.open(self.pending, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return
            os.close(fd)
            files.fsync_dir(self.folder)

    def count(self) -> int:
        """The number of complete records waiting to be collected."""
        with self._mutex:
            self._refresh()
            return self._count

    def seen_here(self, record_id: str) -> bool:
        """Whether this process has seen the id already: memory only, no lock, no file read."""
        return record_id in self._seen

    def ever_stored(self, record_id: str) -> bool:
        """Whether a record with this id is stored (or was, before a collect), by any process: reads the files."""
        with self._mutex:
            if record_id not in self._seen:
                self._refresh()
            return record_id in self._seen

    def _refresh(self) -> None:
        """Catch up with other processes' appends, under a shared lock (caller holds the mutex)."""
        with self._lock(fcntl.LOCK_SH, create=False) as lock_fd:
            if lock_fd is None:
                return
            try:
                fd = os.open(self.pending, os.O_RDONLY)
            except FileNotFoundError:
                return
            try:
                self._catch_up(fd, lock_fd)
            finally:
                os.close(fd)

    def collect(self, out: Path | BinaryIO, *, purge: bool = False) -> int:
        """Move every pending record into the new file out (or a binary stream), atomically; return how many.

        The records leave pending.sealed only after they were written out in full.
        """
        to_stream = not isinstance(out, (str, os.PathLike))
        if not to_stream:
            out = Path(out)
            if os.path.lexists(out):
                raise OutputExists(str(out))
        # A pending file without its lock (a copy made with `cp state/*`, which skips dotfiles) still holds pledges.
        with self._mutex, self._lock(fcntl.LOCK_EX, create=self.pending.exists()) as lock_fd:
            try:
                data = b"" if lock_fd is None else self._complete_lines()
                if to_stream:
                    _write_stream(out, data)
                else:
                    files.create(out, data, OutputExists, StoreWriteError)
                if lock_fd is None:
                    return 0
                if purge:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self.collected)
                elif data:
                    self._append_collected(data)
                self._start_over(lock_fd)
                return data.count(b"\n")
            except OSError as exc:
                raise StoreWriteError(f"{exc.filename or self.folder}: {exc.strerror}") from None

    def _complete_lines(self) -> bytes:
        """Every complete line of pending.sealed (a torn tail was never acknowledged: it is not a record)."""
        try:
            with open(self.pending, "rb") as file:
                data = file.read()
        except FileNotFoundError:
            return b""
        return data[: data.rfind(b"\n") + 1]

    def _start_over(self, lock_fd: int) -> None:
        """Empty pending.sealed durably and tell every process that it starts over."""
        if os.path.exists(self.pending):
            with open(self.pending, "r+b") as file:
                os.ftruncate(file.fileno(), 0)
                os.fsync(file.fileno())
        files.fsync_dir(self.folder)
        generation = self._generation(lock_fd) + 1
        os.ftruncate(lock_fd, 0)
        os.pwrite(lock_fd, b"%d\n" % generation, 0)
        self._file = None

    def _append_collected(self, data: bytes) -> None:
        """Add collected lines to the server's safety copy, durably."""
        try:
            fd = os.open(self.collected, os.O_RDWR | os.O_APPEND)
        except FileNotFoundError:
            fd = os.open(self.collected, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            _cut_torn_tail(fd)
            files.write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _pending_fd(path: Path) -> Iterator[tuple[int, bool]]:
    """pending.sealed open for appending, created if missing: (fd, whether it was created now)."""
    try:
        fd, created = os.open(path, os.O_RDWR | os.O_APPEND), False
    except FileNotFoundError:
        fd, created = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600), True
    try:
        yield fd, created
    finally:
        os.close(fd)


def _write_stream(stream: BinaryIO, data: bytes) -> None:
    """Write data to a stream (collect --out -) and make it durable when the stream is a file."""
    try:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
    except io.UnsupportedOperation:
        pass  # an in-memory stream: nothing to make durable
    except OSError as exc:
        # A pipe or a terminal cannot be fsynced; anything else means the copy is not complete.
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ESPIPE):
            raise StoreWriteError(f"standard output: {exc.strerror or exc}") from None
