"""Durable private files: how this project creates a file that must never be half-written."""

from __future__ import annotations

import os
from pathlib import Path


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
        view = view[os.write(fd, view):]


def create_private(path: Path, data: bytes) -> None:
    """Create path with mode 0600 holding data, fsynced; never replace a file, leave nothing on failure.

    Raises FileExistsError or OSError unchanged, for the caller to turn into its own error.
    """
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_dir(path.parent)
    except BaseException:
        # Not even Ctrl-C may leave a partial secret or a half-written output behind.
        try:
            os.unlink(path)
        except OSError:
            pass
        raise
