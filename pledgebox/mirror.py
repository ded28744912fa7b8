"""Static mirrors: a signed, reproducible copy of the site for any web host, and its check.

Layout of `mirror build OUT`:

    OUT/pledgebox-mirror/           the copy: upload this folder's contents to any web server
        index.html                  the English appeal (the same as en/index.html, linked from the root)
        en/index.html, en/privacy/index.html, en/mirror/index.html, and the same under de/
        README.txt                  what this is and how to check it
        MANIFEST.sha256             every other file's SHA-256, in `sha256sum` format, sorted
        MANIFEST.sig                base64 Ed25519 signature of DOMAIN + the manifest's bytes
    OUT/pledgebox-mirror.tar.gz     the same folder as one archive (the "bundle")

Links are relative and name index.html explicitly, so the copy works on any
static host, in a subfolder, and opened from disk. The pledge form posts to the
campaign's onion address, which the page's <meta> CSP allows as its only
form-action. The build is reproducible: the same code, catalogs and
campaign.toml give the same bytes, whoever builds it and whenever (no date or
published total goes into the copy, so the widget is left out).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import os
import re
import shutil
import stat
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from . import render, sealing
from .errors import OutputExists, PledgeboxError
from .i18n import LANGS
from .safetext import terminal

NAME = "pledgebox-mirror"  # the copy's folder, and the archive's top folder
ARCHIVE = NAME + ".tar.gz"
MANIFEST = "MANIFEST.sha256"
SIGNATURE = "MANIFEST.sig"
# Signed before the manifest, so a signature made for anything else can never pass as one.
DOMAIN = b"pledgebox-mirror-manifest-v1\n"
BUNDLE_DIR = "mirror"  # DATA/mirror/pledgebox-mirror.tar.gz: the bundle the app hands out
BUNDLE_URL = f"/mirror/{ARCHIVE}"
PAGES = {"appeal": "", "privacy": "privacy/", "mirror": "mirror/"}
MTIME = 0  # every archive entry's time: the build must not depend on the clock
# A mirror is a dozen small pages; anything far larger is not one, and is not read.
MAX_FILES = 1000
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_TOTAL_BYTES = 32 * 1024 * 1024
_SIGNATURE_FILE = re.compile(rb"[A-Za-z0-9+/]{85}[AQgw]==\n")  # 64 bytes in base64, one newline
_MANIFEST_LINE = re.compile(rb"([0-9a-f]{64})  ([A-Za-z0-9_][A-Za-z0-9._-]*(?:/[A-Za-z0-9_][A-Za-z0-9._-]*)*)\n")


class NoOnion(PledgeboxError):
    """A static mirror's pledge form posts to the campaign's onion address, and none is configured."""

    hint = ('add onion = "….onion" to [campaign] in data/campaign.toml '
            "(the address in the onion service's hostname file)")


class NotAnOrganiser(PledgeboxError):
    """This identity's signer key is not one of the organisers' in campaign.toml, so nobody could check the copy:"""

    hint = "sign with an organiser's identity, or add its signer line to [[organisers]] in data/campaign.toml"


class NotAMirror(PledgeboxError):
    """This is not a pledgebox mirror copy or archive:"""


class UnsafeContent(PledgeboxError):
    """The copy holds something a mirror never contains, so it was not read further:"""


class BadSignature(PledgeboxError):
    """The manifest is not signed by this signer key:"""

    hint = ("compare the --signer string with the one the organisers publish; "
            "if it is theirs, this copy was altered: do not host it")


class MirrorDiffers(PledgeboxError):
    """The copy does not match its signed manifest:"""

    hint = "do not host this copy; get the bundle again from the organisers' onion service"


# -- building ---------------------------------------------------------------------


def page_path(lang: str, page: str) -> str:
    """Where a page lives in the copy: en/index.html, en/privacy/index.html, …"""
    return f"{lang}/{PAGES[page]}index.html"


def static_links(at: str, onion: str):
    """The link builder for a page of the copy at path `at`: relative links, the form to the onion."""
    up = "../" * at.count("/")

    def links(lang: str):
        paths = {page: up + page_path(lang, page) for page in PAGES}
        paths["pledge"] = f"http://{onion}/{lang}/pledge"
        paths["confirm"] = f"http://{onion}/{lang}/pledge/confirm"
        return paths.__getitem__
    return links


def render_files(config) -> dict[str, bytes]:
    """Every file of the copy but the manifest and its signature, by relative path."""
    from .web import Site  # web imports this module for the bundle route

    if not config.onion:
        raise NoOnion()
    site = Site(config)
    values = {"csp_meta": render.csp(form_action=f"http://{config.onion}"), "static_note": True}
    bundle = f"http://{config.onion}{BUNDLE_URL}"

    def page(lang: str, name: str, at: str) -> bytes:
        links = static_links(at, config.onion)
        if name == "appeal":
            html = site.render("appeal", lang, links=links, paragraphs=site.paragraphs(lang), w=None,
                               defaults=site.form_defaults(), **site.form_context(lang), **values)
        else:
            html = site.render(name, lang, page=name, links=links, signers=site.signers, bundle=bundle, **values)
        return html.encode("utf-8")

    files = {page_path(lang, name): page(lang, name, page_path(lang, name)) for lang in LANGS for name in PAGES}
    files["index.html"] = page("en", "appeal", "index.html")
    files["README.txt"] = readme(config).encode("utf-8")
    return files


def readme(config) -> str:
    """The README.txt inside the copy, for the people who host it."""
    signers = "".join(f"  {o.name}: {o.signer}\n" for o in config.organisers if o.signer)
    return (f"pledgebox mirror: a static copy of the appeal at http://{config.onion}/\n\n"
            "Host the files of this folder on any web server: plain HTML, no scripts, nothing to\n"
            "configure. The pledge form sends pledges to the organisers' onion service, so donors\n"
            "pledge with Tor Browser. Please do not change or add files: the copy is signed.\n\n"
            "Check the copy (signature and every byte), unpacked or as the archive:\n"
            "  python app.py mirror verify FOLDER_OR_ARCHIVE --signer SIGNER\n"
            "or check the bytes only:\n"
            "  sha256sum -c MANIFEST.sha256\n\n"
            f"The organisers' signer keys:\n{signers}")


def manifest_of(files: dict[str, bytes]) -> bytes:
    """The manifest: one `SHA256  PATH` line per file, sorted by path (sha256sum's format)."""
    lines = [f"{hashlib.sha256(files[p]).hexdigest()}  {p}\n" for p in sorted(files)]
    return "".join(lines).encode("ascii")


def archive_of(tree: dict[str, bytes]) -> bytes:
    """The copy as one .tar.gz, byte-for-byte the same for the same files."""
    dirs = {NAME} | {f"{NAME}/{p.rsplit('/', 1)[0]}" for p in tree if "/" in p}
    for d in list(dirs):  # and every parent of a nested folder
        while "/" in d:
            d = d.rsplit("/", 1)[0]
            dirs.add(d)
    entries = sorted([(d, None) for d in dirs] + [(f"{NAME}/{p}", data) for p, data in tree.items()],
                     key=lambda entry: entry[0])
    buffer = io.BytesIO()
    # filename="" and mtime=0: the gzip header names no file and no time.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name, data in entries:
                info = tarfile.TarInfo(name)
                info.mtime, info.uid, info.gid, info.uname, info.gname = MTIME, 0, 0, "", ""
                if data is None:
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
                else:
                    info.mode, info.size = 0o644, len(data)
                    tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def sign(manifest: bytes, identity: sealing.Identity) -> bytes:
    """MANIFEST.sig: the base64 Ed25519 signature of DOMAIN + manifest, and a newline."""
    return base64.b64encode(identity.sign(DOMAIN + manifest)) + b"\n"


@dataclass(frozen=True)
class Build:
    """What `build` wrote."""

    folder: Path
    archive: Path
    files: int
    manifest_sha256: str


def build_tree(config, identity: sealing.Identity) -> dict[str, bytes]:
    """The whole copy in memory: the pages, the manifest and its signature."""
    signers = {o.signer.strip() for o in config.organisers if o.signer}
    if identity.signer.to_string() not in signers:
        raise NotAnOrganiser(identity.signer.fingerprint)
    files = render_files(config)
    manifest = manifest_of(files)
    return files | {MANIFEST: manifest, SIGNATURE: sign(manifest, identity)}


def check_output(out: Path) -> None:
    """Refuse an output folder that exists and holds anything: a build never overwrites."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OutputExists(f"{out} (a folder that is not empty)",
                           hint="choose a new folder, or remove the old build first")


def build(config, identity: sealing.Identity, out: Path) -> Build:
    """Write the copy and its archive to a new folder `out`; nothing is left behind on failure."""
    out = Path(out)
    check_output(out)
    tree = build_tree(config, identity)
    archive = archive_of(tree)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Written beside `out` and renamed into place, so a failure leaves no half-built copy.
    work = Path(tempfile.mkdtemp(prefix=".pledgebox-mirror-", dir=out.parent))
    try:
        work.chmod(0o755)
        for path, data in tree.items():
            target = work / NAME / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        (work / ARCHIVE).write_bytes(archive)
        if out.exists():
            out.rmdir()
        work.rename(out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return Build(out / NAME, out / ARCHIVE, len(tree) - 2, hashlib.sha256(tree[MANIFEST]).hexdigest())


# -- verifying --------------------------------------------------------------------


@dataclass
class Report:
    """The result of checking a copy against its signed manifest."""

    signature_ok: bool
    files: int
    changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the signature is good and every byte matches."""
        return self.signature_ok and not (self.changed or self.added or self.removed)


def verify(source: Path, signer: sealing.Signer) -> Report:
    """Check a copy (folder or .tar.gz) against its manifest and the manifest against the signer."""
    source = Path(source)
    if source.is_dir():
        tree = read_folder(copy_root(source))
    elif source.is_file():
        tree = strip_top(read_archive(source))
    else:
        raise NotAMirror(f"{source} is neither a folder nor a file")
    return compare(tree, signer)


def compare(tree: dict[str, bytes], signer: sealing.Signer) -> Report:
    """Compare a copy read into memory with its own manifest and signature."""
    if MANIFEST not in tree or SIGNATURE not in tree:
        raise NotAMirror(f"it has no {MANIFEST} and {SIGNATURE} at its top")
    manifest = tree[MANIFEST]
    listed = parse_manifest(manifest)
    # Exactly what sign writes, so that every byte of a copy that verifies is the organisers'.
    signature = b""
    if _SIGNATURE_FILE.fullmatch(tree[SIGNATURE]):
        signature = base64.b64decode(tree[SIGNATURE][:-1], validate=True)
    report = Report(signer.verify(DOMAIN + manifest, signature), len(listed))
    present = {p: data for p, data in tree.items() if p not in (MANIFEST, SIGNATURE)}
    for path, digest in listed.items():
        if path not in present:
            report.removed.append(path)
        elif hashlib.sha256(present[path]).hexdigest() != digest:
            report.changed.append(path)
    report.added = sorted(p for p in present if p not in listed)
    return report


def parse_manifest(manifest: bytes) -> dict[str, str]:
    """{path: sha256 hex} from a manifest, refusing anything but the exact format build writes."""
    listed: dict[str, str] = {}
    lines = manifest.splitlines(keepends=True)
    for number, line in enumerate(lines, start=1):
        match = _MANIFEST_LINE.fullmatch(line)
        if match is None:
            raise NotAMirror(f"line {number} of {MANIFEST} is malformed")
        path = match[2].decode("ascii")
        if path in listed or path in (MANIFEST, SIGNATURE):
            raise NotAMirror(f"{MANIFEST} lists {path} twice or lists itself")
        listed[path] = match[1].decode("ascii")
    return listed


def copy_root(folder: Path) -> Path:
    """The copy inside a folder: the folder itself, or the pledgebox-mirror/ that build wrote in it."""
    if (folder / MANIFEST).is_file() or not (folder / NAME / MANIFEST).is_file():
        return folder
    return folder / NAME


def read_folder(root: Path) -> dict[str, bytes]:
    """Every file under root, by relative path; symlinks and special files are refused."""
    tree: dict[str, bytes] = {}
    total = 0
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        for name in dirs + sorted(files):
            path = Path(folder, name)
            rel = path.relative_to(root).as_posix()
            st = path.lstat()
            if name in dirs and stat.S_ISDIR(st.st_mode):
                continue
            if not stat.S_ISREG(st.st_mode):
                raise UnsafeContent(f"{terminal(rel)} is a link or a special file, never part of a mirror")
            total += st.st_size
            _check_sizes(rel, st.st_size, total, len(tree) + 1)
            tree[rel] = path.read_bytes()
    return tree


def _check_sizes(name: str, size: int, total: int, count: int) -> None:
    """Refuse copies far larger than any mirror before reading more of them."""
    if size > MAX_FILE_BYTES:
        raise UnsafeContent(f"{terminal(name)} is larger than {MAX_FILE_BYTES} bytes")
    if total > MAX_TOTAL_BYTES:
        raise UnsafeContent(f"it holds more than {MAX_TOTAL_BYTES} bytes")
    if count > MAX_FILES:
        raise UnsafeContent(f"it holds more than {MAX_FILES} files")


class _Capped:
    """A reader that refuses to hand out more than `limit` bytes: a gzip bomb stops here."""

    def __init__(self, raw, limit: int):
        self.raw, self.left, self.limit = raw, limit, limit

    def read(self, size: int = -1) -> bytes:
        """Up to size bytes; raises once more than the limit was asked for and found."""
        if size is None or size < 0 or size > self.left + 1:
            size = self.left + 1
        data = self.raw.read(size)
        self.left -= len(data)
        if self.left < 0:
            raise UnsafeContent(f"it unpacks to more than {self.limit} bytes")
        return data


def read_archive(path: Path) -> dict[str, bytes]:
    """The regular files of a .tar.gz in memory, read as a stream, by hand: nothing is extracted."""
    # The tar stream holds a 512-byte header per entry and two end blocks beside the data.
    limit = MAX_TOTAL_BYTES + 1024 * (MAX_FILES + 16)
    try:
        size = path.stat().st_size
        raw = open(path, "rb")
    except OSError as exc:
        raise NotAMirror(f"{path}: {exc.strerror}") from None
    if size > limit:
        raw.close()
        raise UnsafeContent(f"{path} is larger than {limit} bytes")
    tree: dict[str, bytes] = {}
    total = 0
    try:
        with raw, gzip.GzipFile(fileobj=raw, mode="rb") as gz, \
                tarfile.open(fileobj=_Capped(gz, limit), mode="r|") as tar:
            for member in tar:
                name = safe_member_name(member.name)
                if member.isdir():
                    continue
                if not member.isreg():
                    raise UnsafeContent(f"{terminal(name)} is a link or a special file, never part of a mirror")
                total += member.size
                _check_sizes(name, member.size, total, len(tree) + 1)
                if name in tree:
                    raise UnsafeContent(f"{terminal(name)} appears twice")
                tree[name] = tar.extractfile(member).read()
    except (OSError, EOFError, zlib.error, tarfile.TarError) as exc:
        raise NotAMirror(f"{path} is not a readable .tar.gz ({exc})") from None
    return tree


def safe_member_name(name: str) -> str:
    """An archive member's path if it stays inside the archive; UnsafeContent otherwise."""
    clean = name.removeprefix("./").rstrip("/")
    parts = clean.split("/")
    if (not clean or name.startswith("/") or "\\" in name or "\x00" in name
            or any(part in ("", ".", "..") for part in parts)):
        raise UnsafeContent(f"the member {terminal(name)} points outside the archive")
    return clean


def strip_top(tree: dict[str, bytes]) -> dict[str, bytes]:
    """The archive's files relative to the copy's top: the archive's top, or its one top folder."""
    if MANIFEST in tree:
        return tree
    tops = sorted({p.split("/", 1)[0] for p in tree if p.count("/") == 1 and p.endswith("/" + MANIFEST)})
    if len(tops) != 1:
        raise NotAMirror(f"it has no {MANIFEST} at its top or in one top folder")
    top = tops[0] + "/"
    outside = sorted(p for p in tree if not p.startswith(top))
    if outside:
        raise NotAMirror(f"{terminal(outside[0])} lies outside the copy's folder {terminal(top)}")
    return {p[len(top):]: data for p, data in tree.items()}


# -- the bundle the app hands out ------------------------------------------------------


def published_bundle(config) -> bytes | None:
    """DATA/mirror/pledgebox-mirror.tar.gz if the organisers put one there, checked against their keys."""
    path = Path(config.data_dir) / BUNDLE_DIR / ARCHIVE
    if not path.is_file():
        return None
    signers = [sealing.Signer.from_string(o.signer) for o in config.organisers if o.signer]
    tree = strip_top(read_archive(path))
    if not any(compare(tree, signer).ok for signer in signers):
        raise MirrorDiffers(f"{path} is not signed by any organiser in campaign.toml, or was altered",
                            hint="build it again with `python app.py mirror build` and copy the new archive")
    return path.read_bytes()
