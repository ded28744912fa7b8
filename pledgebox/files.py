"""Durable files: how this project puts a file in place that must never be half-written or replace another."""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Callable
from pathlib import Path

# Errors of a file system without hard links (a FAT-formatted USB stick).
_NO_LINKS = (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK)


def fsync_dir(folder: Path) -> None:
    """Make new or removed entries in a folder durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    """Write all of data to fd, however many writes that takes."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_new(path: Path, data: bytes, *, mode: int = 0o600, replace: bool = False) -> None:
    """Put a file holding data at path, whole or not at all, durably, with exactly this mode.

    Written to a temporary file beside path (exclusive create, fsync), then linked into place, which never
    replaces a file (FileExistsError), or with replace=True renamed over the old one. Nothing is left
    behind on failure, not even on Ctrl-C. Raises FileExistsError or OSError unchanged, for the caller
    to turn into its own error.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.fchmod(fd, mode)  # whatever the umask: public totals must be readable, secrets must not
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if replace:
            os.replace(tmp, path)
        else:
            _link(tmp, path)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
    fsync_dir(path.parent)


def create(path: Path, data: bytes, exists: Callable[[str], Exception], failed: Callable[[str], Exception]) -> None:
    """write_new for a command's output, with the caller's own errors for a file already there and any other."""
    try:
        write_new(path, data)
    except FileExistsError:
        raise exists(str(path)) from None
    except OSError as exc:
        raise failed(f"{path}: {exc.strerror}") from None


def read_small(path: Path, limit: int, failed: Callable[[str], Exception], too_large: Callable[[], Exception]) -> bytes:
    """The whole of a file that must hold at most limit bytes (a hostile one may be huge), or the caller's errors."""
    try:
        with open(path, "rb") as file:
            # A regular file says its size: refused before a byte is read (a pipe or a device says 0).
            if os.fstat(file.fileno()).st_size > limit:
                raise too_large()
            data = file.read(limit + 1)
    except OSError as exc:
        raise failed(f"{path}: {exc.strerror}") from None
    if len(data) > limit:
        raise too_large()
    return data


def _link(tmp: Path, path: Path) -> None:
    """Give tmp the name path; link, unlike rename, refuses to replace a file that appeared meanwhile."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        # No hard links here: rename instead, after checking once more that path is still free.
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path)) from None
        os.rename(tmp, path)
