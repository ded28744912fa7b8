"""`files.write_new`: the one way a file is put in place, whole or not at all, never replacing another."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from pledgebox import files


def test_a_new_file_is_private_and_whole(tmp_path):
    path = tmp_path / "out"
    files.write_new(path, b"data")
    assert path.read_bytes() == b"data"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["out"]


def test_an_existing_file_is_never_replaced(tmp_path):
    path = tmp_path / "out"
    path.write_bytes(b"keep")
    with pytest.raises(FileExistsError):
        files.write_new(path, b"new")
    assert path.read_bytes() == b"keep"
    assert os.listdir(tmp_path) == ["out"]


def test_replace_puts_the_new_file_in_place_with_exactly_its_mode(tmp_path):
    path = tmp_path / "published.json"
    path.write_bytes(b"old")
    old = os.umask(0o077)
    try:
        files.write_new(path, b"new", mode=0o644, replace=True)
    finally:
        os.umask(old)
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert os.listdir(tmp_path) == ["published.json"]


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()])
def test_a_failed_write_leaves_nothing(tmp_path, monkeypatch, error):
    def fail(fd):
        raise error

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(type(error)):
        files.write_new(tmp_path / "out", b"data")
    assert os.listdir(tmp_path) == []


def test_without_hard_links_the_file_is_renamed_into_place_but_never_over_another(tmp_path, monkeypatch):
    def no_links(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    files.write_new(tmp_path / "out", b"data")
    assert (tmp_path / "out").read_bytes() == b"data"
    with pytest.raises(FileExistsError):
        files.write_new(tmp_path / "out", b"other")
    assert (tmp_path / "out").read_bytes() == b"data"
    assert os.listdir(tmp_path) == ["out"]
