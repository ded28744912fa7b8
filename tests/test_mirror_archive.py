"""Canonical mirror archives: every forged archive fails `mirror verify` and is refused by the server."""

from __future__ import annotations

import gzip
import io
import shutil
import subprocess
import tarfile

import pytest

from helpers import run_cli as run
from pledgebox import archive, config, mirror, verify
from support import mirrorkit
from support.mirrorkit import publish, withheld

data = mirrorkit.data  # the fixture: a campaign with an onion address

TOP = mirror.NAME


@pytest.fixture
def built(tmp_path, data, identity) -> mirror.Build:
    return mirror.build(config.load(data), identity, tmp_path / "out")


@pytest.fixture
def files(built) -> dict[str, bytes]:
    """The signed copy's files, by path inside the copy."""
    return verify.read_folder(built.folder)[0]


def entry(name: str, data: bytes | None = b"", kind=tarfile.REGTYPE, **attrs) -> tuple[tarfile.TarInfo, bytes | None]:
    """One tar entry as `write` would make it, changed by attrs."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    info.mode = archive.DIR_MODE if kind == tarfile.DIRTYPE else archive.FILE_MODE
    if kind == tarfile.REGTYPE:
        info.size = len(data)
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, data if kind == tarfile.REGTYPE else None


def canonical_entries(files: dict[str, bytes]) -> list:
    """The entries of the canonical archive, in its order."""
    names = [TOP] + [f"{TOP}/{d}" for d in archive.folders_of(files)] + [f"{TOP}/{p}" for p in files]
    return [
        entry(n, kind=tarfile.DIRTYPE) if n[len(TOP) + 1 :] not in files else entry(n, files[n[len(TOP) + 1 :]])
        for n in sorted(names)
    ]


def tar_of(entries) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def gz(stream: bytes) -> bytes:
    """gzip exactly as the canonical archive wraps its tar (so only the tar differs)."""
    return archive.GZIP_HEADER + gzip.compress(stream, compresslevel=9, mtime=0)[10:]


def with_corrupt_header(files):
    """The signed files, a header whose checksum fails, then evil.html: GNU tar skips the header, unpacks the rest."""
    stream = bytearray(
        tar_of(
            canonical_entries(files)
            + [entry(f"{TOP}/zz-bad.html", b"x" * 600), entry(f"{TOP}/zz-evil.html", b"<script>")]
        )
    )
    at = stream.index(b"pledgebox-mirror/zz-bad.html")
    stream[at + 148 : at + 156] = b"0000000\0"  # a checksum that no header has
    return gz(bytes(stream))


def appended(files, *extra):
    return gz(tar_of(canonical_entries(files) + list(extra)))


FORGERIES = {
    "corrupt header, then more files": (with_corrupt_header, "no valid entry (a damaged header"),
    "folder entry shadowing a file": (
        lambda f: appended(f, entry(f"{TOP}/en/index.html", kind=tarfile.DIRTYPE)),
        "shadows an entry",
    ),
    "set-uid mode": (
        lambda f: gz(
            tar_of(
                [
                    (i, d) if i.name != f"{TOP}/index.html" else entry(i.name, d, mode=0o6777)
                    for i, d in canonical_entries(f)
                ]
            )
        ),
        "has mode 6777, not 0644",
    ),
    "other owner": (
        lambda f: gz(
            tar_of(
                [
                    (i, d)
                    if i.name != f"{TOP}/README.txt"
                    else entry(i.name, d, uid=1000, gid=1000, uname="mallory", gname="mallory")
                    for i, d in canonical_entries(f)
                ]
            )
        ),
        "belongs to 1000:1000",
    ),
    "symlink": (
        lambda f: appended(f, entry(f"{TOP}/zz.html", kind=tarfile.SYMTYPE, linkname="/etc/passwd")),
        "zz.html is a symbolic link",
    ),
    "hard link": (
        lambda f: appended(f, entry(f"{TOP}/zz.html", kind=tarfile.LNKTYPE, linkname=f"{TOP}/index.html")),
        "zz.html is a hard link",
    ),
    "device": (
        lambda f: appended(f, entry(f"{TOP}/zz", kind=tarfile.CHRTYPE, devmajor=1, devminor=3)),
        "special entry",
    ),
    "trailing bytes after the gzip stream": (lambda f: archive.write(f, TOP) + b"<script>", "8 bytes follow"),
    "second gzip member": (
        lambda f: archive.write(f, TOP) + gzip.compress(tar_of([entry(f"{TOP}/evil.html", b"x")])),
        "a second gzip member",
    ),
    "entries out of order": (lambda f: gz(tar_of(canonical_entries(f)[::-1])), "not in canonical (sorted) order"),
    "a file twice": (lambda f: appended(f, entry(f"{TOP}/index.html", b"<p>other</p>")), "shadows an entry"),
    "a path outside": (lambda f: appended(f, entry(f"{TOP}/../escape.html", b"x")), "points outside"),
    "a file beside the copy's folder": (
        lambda f: appended(f, entry("zz-evil.html", b"x")),
        "zz-evil.html lies outside the copy's folder pledgebox-mirror/",
    ),
    "an empty folder": (lambda f: appended(f, entry(f"{TOP}/zz", kind=tarfile.DIRTYPE)), "holds no file of the copy"),
    "a time on an entry": (
        lambda f: gz(
            tar_of(
                [
                    (i, d) if i.name != f"{TOP}/index.html" else entry(i.name, d, mtime=1)
                    for i, d in canonical_entries(f)
                ]
            )
        ),
        "carries a time",
    ),
    "pax headers": (lambda f: gz(pax(f)), "differs from the canonical one"),
    "a name in the gzip header": (lambda f: named_gzip(f), "gzip header is not the canonical one"),
    "compressed at another level": (lambda f: gz_level(f, 1), "compressed differently"),
    "cut short": (lambda f: archive.write(f, TOP)[:-100], "cut short"),
}


def pax(files):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in canonical_entries(files):
            info.pax_headers = {"comment": "hello"}
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def named_gzip(files):
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="evil.tar", mode="wb", fileobj=buffer, mtime=0) as out:
        out.write(archive.canonical_tar(files, TOP))
    return buffer.getvalue()


def gz_level(files, level):
    return archive.GZIP_HEADER + gzip.compress(archive.canonical_tar(files, TOP), compresslevel=level, mtime=0)[10:]


@pytest.mark.parametrize("name", list(FORGERIES))
def test_a_forged_archive_fails_verify_and_the_server_refuses_it(capsys, tmp_path, data, identity, files, name):
    forge, reason = FORGERIES[name]
    raw = forge(files)
    path = tmp_path / "forged.tar.gz"
    path.write_bytes(raw)
    before = sorted(tmp_path.rglob("*"))
    code, out, err = run(capsys, "mirror", "verify", path, "--signer", identity.signer.to_string())
    assert code == 1 and out == ""
    assert reason in err, err
    assert "pledgebox: hint: " in err
    assert sorted(tmp_path.rglob("*")) == before  # nothing was unpacked anywhere
    publish(data, raw)
    assert reason in withheld(capsys, data)


def test_the_corrupt_header_forgery_is_real_gnu_tar_unpacks_the_file_behind_it(tmp_path, files):
    if shutil.which("tar") is None:
        pytest.fail("tar is missing: apt-get install tar")
    path = tmp_path / "forged.tar.gz"
    path.write_bytes(with_corrupt_header(files))
    listed = subprocess.run(["tar", "-tzf", str(path)], capture_output=True, text=True, timeout=30).stdout
    assert "pledgebox-mirror/zz-evil.html" in listed.splitlines()


def test_the_canonical_archive_verifies_and_is_what_build_wrote(built, files, identity):
    assert built.archive.read_bytes() == archive.write(files, TOP)
    assert verify.verify(built.archive, [identity.signer]).ok


def test_tar_unpacks_a_verified_archive_to_exactly_the_manifests_files(tmp_path, built, identity):
    assert verify.verify(built.archive, [identity.signer]).ok
    into = tmp_path / "unpacked"
    into.mkdir()
    done = subprocess.run(["tar", "-xzf", str(built.archive), "-C", str(into)], capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr
    listed = [line.split("  ", 1)[1] for line in (built.folder / mirror.MANIFEST).read_text().splitlines()]
    found = sorted(p.relative_to(into / TOP).as_posix() for p in (into / TOP).rglob("*") if not p.is_dir())
    assert found == sorted(listed + list(mirror.SIGNED))
    assert [p.name for p in into.iterdir()] == [TOP]
    assert verify.verify(into / TOP, [identity.signer]).ok


def test_a_bomb_is_refused_after_reading_about_the_cap(monkeypatch, files):
    monkeypatch.setattr(archive, "MAX_TOTAL_BYTES", 256 * 1024)
    bomb = gz(tar_of(canonical_entries(files) + [entry(f"{TOP}/zz{i}.html", b"\0" * 60000) for i in range(40)]))
    assert len(bomb) < 40000
    with pytest.raises(archive.TooLarge, match="more than"):
        archive.read(bomb, TOP)


def test_a_file_larger_than_any_page_is_refused(monkeypatch, files):
    monkeypatch.setattr(archive, "MAX_FILE_BYTES", 64 * 1024)
    with pytest.raises(archive.TooLarge, match="zz.html is larger than"):
        archive.read(appended(files, entry(f"{TOP}/zz.html", b"\0" * (65 * 1024))), TOP)


# -- a folder is the copy ------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra, named",
    [
        ("index.js", "index.js"),
        ("de/privacy/deep/inside/evil.html", "de/privacy/deep/inside/evil.html"),
        ("en/empty-folder/", "en/empty-folder/"),
        (".hidden", ".hidden"),
    ],
)
def test_folder_verify_names_anything_not_in_the_manifest(capsys, built, identity, extra, named):
    target = built.folder / extra
    target.parent.mkdir(parents=True, exist_ok=True)
    if extra.endswith("/"):
        target.mkdir()
    else:
        target.write_bytes(b"<script>alert(1)</script>")
    code, out, err = run(capsys, "mirror", "verify", built.folder, "--signer", identity.signer.to_string())
    assert code == 1
    assert out.splitlines() == [f"added: {named}"]
    assert "1 added" in err


def test_a_folder_with_a_symlink_is_refused(built, identity):
    (built.folder / "en" / "passwd.html").symlink_to("/etc/passwd")
    with pytest.raises(mirror.UnsafeContent, match="passwd.html is a link"):
        verify.verify(built.folder, [identity.signer])
