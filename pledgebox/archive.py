"""Canonical mirror archives: the one .tar.gz a set of files makes, and a bounded reader that refuses any other.

The canonical archive of a copy is a USTAR tar of its files under one top folder, every entry in
sorted order, folders 0755 and files 0644, owner 0:0 with empty names, time 0, compressed by gzip
at level 9 with a header that names no file and no time. `read` takes any .tar.gz apart the way
GNU tar would (past damaged headers, so nothing tar would unpack stays unseen), then builds the
canonical archive of what it found and compares the two byte for byte: an archive passes only if
it is exactly that archive, so unpacking it can yield nothing but those files.
"""

from __future__ import annotations

import io
import tarfile
import zlib

from .errors import PledgeboxError
from .safetext import terminal

MTIME = 0  # every entry's time: the archive must not depend on the clock
LEVEL = 9
# gzip's header as `write` makes it: deflate, no flags (so no name or comment), time 0, "best
# compression", unknown OS. Anything else here is not the canonical archive.
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
FILE_MODE, DIR_MODE = 0o644, 0o755
# A mirror is a dozen small pages; anything far larger is not one, and is not read.
MAX_FILES = 1000
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_TOTAL_BYTES = 32 * 1024 * 1024
_CHUNK = 64 * 1024


class NotCanonical(PledgeboxError):
    """This is not the canonical archive of a mirror copy, so it was not accepted:"""

    hint = "do not host it; get the bundle again from the organisers' site, or check the folder you unpacked"


class TooLarge(PledgeboxError):
    """The copy is far larger than any mirror, so it was not read further:"""

    hint = "do not host it; get the bundle again from the organisers' site"


class Unreadable(PledgeboxError):
    """The archive cannot be read:"""

    hint = "check the path and its permissions"


def load(path) -> bytes:
    """An archive's bytes, refusing one far larger than any mirror before reading all of it."""
    try:
        with open(path, "rb") as f:
            raw = f.read(tar_limit() + 1)
    except OSError as exc:
        raise Unreadable(f"{path}: {exc.strerror}") from None
    if len(raw) > tar_limit():
        raise TooLarge(f"{path} is larger than {tar_limit()} bytes")
    return raw


def tar_limit() -> int:
    """The most bytes a mirror's tar stream can hold: the files, a header per entry, the end blocks."""
    return MAX_TOTAL_BYTES + 1024 * (MAX_FILES + 16) + tarfile.RECORDSIZE


def check_sizes(name: str, size: int, total: int, count: int) -> None:
    """Refuse copies far larger than any mirror before reading more of them."""
    if size > MAX_FILE_BYTES:
        raise TooLarge(f"{terminal(name)} is larger than {MAX_FILE_BYTES} bytes")
    if total > MAX_TOTAL_BYTES:
        raise TooLarge(f"it holds more than {MAX_TOTAL_BYTES} bytes")
    if count > MAX_FILES:
        raise TooLarge(f"it holds more than {MAX_FILES} files")


# -- writing ----------------------------------------------------------------------------


def folders_of(paths) -> set[str]:
    """Every folder that holds one of the paths, at any depth (not the top)."""
    folders = set()
    for path in paths:
        while "/" in path:
            path = path.rsplit("/", 1)[0]
            folders.add(path)
    return folders


def canonical_tar(files: dict[str, bytes], top: str) -> bytes:
    """The files under folder `top` as a tar stream: the same bytes for the same files, always."""
    entries = [(top, None)] + [(f"{top}/{d}", None) for d in folders_of(files)]
    entries += [(f"{top}/{p}", data) for p, data in files.items()]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in sorted(entries, key=lambda entry: entry[0]):
            info = tarfile.TarInfo(name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = MTIME, 0, 0, "", ""
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, DIR_MODE
                tar.addfile(info)
            else:
                info.mode, info.size = FILE_MODE, len(data)
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def write(files: dict[str, bytes], top: str) -> bytes:
    """The canonical .tar.gz of the files under folder `top`."""
    stream = canonical_tar(files, top)
    # The 10-byte header is written here, not by the gzip module, whose OS byte differs between
    # Python versions: the same files must give the same archive whoever builds it.
    deflate = zlib.compressobj(LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = deflate.compress(stream) + deflate.flush()
    return GZIP_HEADER + body + zlib.crc32(stream).to_bytes(4, "little") + len(stream).to_bytes(4, "little")


# -- reading ----------------------------------------------------------------------------


def unzip(raw: bytes) -> bytes:
    """The tar stream inside a canonical gzip wrapper: one member, no name or time, nothing after it."""
    if raw[: len(GZIP_HEADER)] != GZIP_HEADER:
        raise NotCanonical(
            "its gzip header is not the canonical one (it names a file, a time or other flags), "
            "or it is no .tar.gz at all"
        )
    inflate = zlib.decompressobj(-zlib.MAX_WBITS)
    out, left, rest = [], tar_limit(), raw[len(GZIP_HEADER) :]
    try:
        while rest and not inflate.eof:
            piece = inflate.decompress(rest, min(_CHUNK, left + 1))
            rest = inflate.unconsumed_tail
            left -= len(piece)
            if left < 0:
                raise TooLarge(f"it unpacks to more than {tar_limit()} bytes")
            out.append(piece)
    except zlib.error as exc:
        raise NotCanonical(f"its gzip stream is damaged ({exc})") from None
    if not inflate.eof:
        raise NotCanonical("its gzip stream is cut short")
    data, after = b"".join(out), inflate.unused_data
    trailer = zlib.crc32(data).to_bytes(4, "little") + (len(data) & 0xFFFFFFFF).to_bytes(4, "little")
    if after[:8] != trailer:
        raise NotCanonical("its gzip checksum or length does not match its contents")
    if after[8:10] == b"\x1f\x8b":
        raise NotCanonical("a second gzip member follows the first (gunzip and tar would unpack it too)")
    if after[8:]:
        raise NotCanonical(f"{len(after) - 8} bytes follow the gzip stream")
    return data


def members(stream: bytes) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    """Every entry GNU tar would see, with each file's bytes; damaged headers are refused, not skipped."""
    found: list[tuple[tarfile.TarInfo, bytes | None]] = []
    expected, total = 0, 0
    try:
        # ignore_zeros: read on past a damaged header or end blocks, as GNU tar does.
        with tarfile.open(fileobj=io.BytesIO(stream), mode="r:", ignore_zeros=True) as tar:
            for member in tar:
                if member.offset != expected:
                    raise NotCanonical(
                        f"{member.offset - expected} bytes before {terminal(member.name)} are no "
                        "valid entry (a damaged header, which tar skips to unpack what follows)"
                    )
                expected = member.offset_data + -(-member.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
                data = None
                if member.isreg():
                    total += member.size
                    check_sizes(member.name, member.size, total, len(found) + 1)
                    data = tar.extractfile(member).read()
                found.append((member, data))
                if len(found) > 2 * MAX_FILES:
                    raise TooLarge(f"it holds more than {2 * MAX_FILES} entries")
    except tarfile.TarError as exc:
        raise NotCanonical(f"it is no readable tar archive ({exc})") from None
    if not found:
        raise NotCanonical("it is no readable tar archive (no entry found)")
    return found


def check_member(member: tarfile.TarInfo) -> None:
    """Refuse an entry that is not a plain file or folder as `write` makes it, naming what is wrong."""
    name = terminal(member.name)
    if member.issym():
        raise NotCanonical(f"{name} is a symbolic link")
    if member.islnk():
        raise NotCanonical(f"{name} is a hard link")
    if not (member.isreg() or member.isdir()):
        raise NotCanonical(f"{name} is a device, pipe or other special entry")
    mode = DIR_MODE if member.isdir() else FILE_MODE
    if member.mode != mode:
        raise NotCanonical(f"{name} has mode {member.mode:04o}, not {mode:04o}")
    if (member.uid, member.gid, member.uname, member.gname) != (0, 0, "", ""):
        raise NotCanonical(
            f"{name} belongs to {member.uid}:{member.gid} ({terminal(member.uname)}:"
            f"{terminal(member.gname)}), not to 0:0 with no names"
        )
    if member.mtime != MTIME:
        raise NotCanonical(f"{name} carries a time")


def safe_name(name: str, top: str) -> str:
    """An entry's path inside folder `top`, refusing anything that could point elsewhere."""
    clean = name.rstrip("/")
    parts = clean.split("/")
    if name.startswith("/") or "\\" in name or "\x00" in name or any(part in ("", ".", "..") for part in parts):
        raise NotCanonical(f"the entry {terminal(name)} points outside the archive")
    if parts[0] != top:
        raise NotCanonical(f"{terminal(name)} lies outside the copy's folder {top}/")
    return "/".join(parts[1:])


def read(raw: bytes, top: str) -> dict[str, bytes]:
    """The files of a canonical archive under folder `top`, by path; NotCanonical names any difference."""
    stream = unzip(raw)
    files: dict[str, bytes] = {}
    folders: set[str] = set()
    names = []
    for member, data in members(stream):
        check_member(member)
        path = safe_name(member.name, top)
        names.append(member.name.rstrip("/"))
        if path in files or path in folders:
            kind = "folder" if member.isdir() else "file"
            raise NotCanonical(f"the {kind} entry {terminal(member.name)} shadows an entry of the same name")
        if member.isdir():
            folders.add(path)
        else:
            files[path] = data
    if names != sorted(names):
        first = next(a for a, b in zip(names, names[1:], strict=False) if a > b)
        raise NotCanonical(f"its entries are not in canonical (sorted) order, from {terminal(first)} on")
    extra = sorted(folders - folders_of(files) - {""})
    if extra:
        raise NotCanonical(f"the folder {terminal(top + '/' + extra[0])}/ holds no file of the copy")
    if canonical_tar(files, top) != stream:
        raise NotCanonical(
            "its tar stream differs from the canonical one for the same files (extra headers, fields or bytes)"
        )
    if write(files, top) != raw:
        # Byte for byte, as promised; zlib-ng (Fedora 40 and later) codes the same stream differently.
        raise NotCanonical(
            f"its files and tar stream are canonical, but they are compressed differently from "
            f"`mirror build` (gzip level {LEVEL} by zlib {zlib.ZLIB_VERSION} here)",
            hint="if this Python uses zlib-ng, unpack it with tar -xzf and verify the folder",
        )
    return files
