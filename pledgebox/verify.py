"""Checking a mirror copy (a folder that is the copy, or its archive) against its signed statement and manifest.

Used by `mirror verify`, by `mirror pull` before it swaps a copy in, and by the app before it hands
out its bundle. A copy passes only if one of the pinned signer keys signed its statement, the
statement names the manifest's digest, and the manifest lists exactly the copy's files, no more.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from . import archive, sealing, statement
from .errors import PledgeboxError
from .mirror import (
    ARCHIVE,
    BUNDLE_DIR,
    MANIFEST,
    NAME,
    SIGNATURE,
    SIGNED,
    STATEMENT,
    MirrorDiffers,
    NotAMirror,
    Signed,
    UnsafeContent,
)
from .safetext import terminal

_MANIFEST_LINE = re.compile(rb"([0-9a-f]{64})  ([A-Za-z0-9_][A-Za-z0-9._-]*(?:/[A-Za-z0-9_][A-Za-z0-9._-]*)*)\n")


@dataclass
class Report:
    """The result of checking a copy against its signed statement and manifest."""

    signer: sealing.Signer | None  # the pinned signer whose signature the statement holds, if any
    statement: statement.Statement | None
    files: int
    changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def signature_ok(self) -> bool:
        """True when one of the pinned signers signed the statement."""
        return self.signer is not None

    @property
    def ok(self) -> bool:
        """True when the signature is good and every byte matches."""
        return self.signature_ok and not (self.changed or self.added or self.removed)


def verify(source: Path, signers: list[sealing.Signer]) -> Report:
    """Check a copy (a folder that is the copy, or its canonical .tar.gz) against its signed statement."""
    source = Path(source)
    if source.is_dir():
        return compare(*read_folder(source), signers=signers)
    if source.is_file():
        return compare(read_archive(source), signers=signers)
    raise NotAMirror(f"{source} is neither a folder nor a file")


def compare(tree: dict[str, bytes], folders: set[str] = frozenset(), *, signers: list[sealing.Signer]) -> Report:
    """Compare a copy read into memory (its files, and its folders if known) with its signed statement."""
    missing = [name for name in SIGNED if name not in tree]
    if missing:
        raise NotAMirror(f"it has no {', '.join(missing)} at its top")
    manifest = tree[MANIFEST]
    listed = parse_manifest(manifest)
    signer = statement.signed_by(tree[STATEMENT], tree[SIGNATURE], signers)
    # Parsed only once it is known to be the organisers': its checks then name their mistakes.
    signed = statement.parse(tree[STATEMENT]) if signer else None
    report = Report(signer, signed, len(listed))
    if signed and signed.manifest_sha256 != hashlib.sha256(manifest).hexdigest():
        report.changed.append(MANIFEST)
    present = {p: data for p, data in tree.items() if p not in SIGNED}
    for path, digest in listed.items():
        if path not in present:
            report.removed.append(path)
        elif hashlib.sha256(present[path]).hexdigest() != digest:
            report.changed.append(path)
    # A folder that holds no file at all is as foreign as a file: it is named with a trailing slash.
    extra = [f"{f}/" for f in folders - archive.folders_of(listed) - archive.folders_of(present)]
    report.added = sorted([p for p in present if p not in listed] + extra)
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
        if path in listed or path in SIGNED:
            raise NotAMirror(f"{MANIFEST} lists {path} twice or lists itself")
        listed[path] = match[1].decode("ascii")
    return listed


def read_folder(root: Path) -> tuple[dict[str, bytes], set[str]]:
    """Every file under root by relative path, and every folder; symlinks and special files are refused."""
    tree: dict[str, bytes] = {}
    folders: set[str] = set()
    total = 0
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        for name in dirs + sorted(files):
            path = Path(folder, name)
            rel = path.relative_to(root).as_posix()
            st = path.lstat()
            if name in dirs and stat.S_ISDIR(st.st_mode):
                folders.add(rel)
                continue
            if not stat.S_ISREG(st.st_mode):
                raise UnsafeContent(f"{terminal(rel)} is a link or a special file, never part of a mirror")
            total += st.st_size
            archive.check_sizes(rel, st.st_size, total, len(tree) + 1)
            tree[rel] = path.read_bytes()
    if MANIFEST not in tree and (root / NAME / MANIFEST).is_file():
        raise NotAMirror(
            f"{root} holds the copy in {NAME}/, not at its top",
            hint=f"verify the folder that is the copy: {root / NAME}",
        )
    return tree, folders


def read_archive(path: Path) -> dict[str, bytes]:
    """The files of a canonical mirror archive, read into memory (nothing is extracted)."""
    return archive.read(archive.load(path), NAME)


# -- the bundle the app hands out ------------------------------------------------------


@dataclass(frozen=True)
class Bundle:
    """The bundle the app hands out: its bytes, checked, and who signed it."""

    raw: bytes
    statement: statement.Statement
    signed: Signed


def published_bundle(config, today: date | None = None) -> Bundle | None:
    """DATA/mirror/pledgebox-mirror.tar.gz if the organisers put one there, checked as `mirror verify` would.

    Refused (raised) unless it is canonical, signed by an organiser, unaltered, for this campaign
    and onion address, and not expired.
    """
    path = Path(config.data_dir) / BUNDLE_DIR / ARCHIVE
    if not path.is_file():
        return None
    organisers = [(o.name, sealing.Signer.from_string(o.signer)) for o in config.organisers if o.signer]
    raw = archive.load(path)  # read once: the bytes checked are the bytes served
    report = compare(archive.read(raw, NAME), signers=[s for _, s in organisers])
    rebuild = "build it again with `python app.py mirror build` and copy the new archive"
    if not report.ok:
        raise MirrorDiffers(f"{path} is not signed by any organiser in campaign.toml, or was altered", hint=rebuild)
    try:
        report.statement.check(today or statement.utc_today(), onion=config.onion, campaign=config.campaign_id)
    except PledgeboxError as exc:
        raise type(exc)(f"{path}: {exc.detail}", hint=f"the server does not hand it out: {rebuild}") from None
    name = next(n for n, s in organisers if s.fingerprint == report.signer.fingerprint)
    st = report.statement
    return Bundle(
        raw,
        st,
        Signed(name, report.signer.to_string(), report.signer.fingerprint, st.version, st.built, st.expires, st.onion),
    )


def served_bundle(config, today: date):
    """DATA/mirror/pledgebox-mirror.tar.gz, checked once as `mirror verify` would; None if absent or refused.

    A refused bundle is withheld, not fatal: a stale or foreign mirror copy must never take the pledge site
    down with it. The one line on stderr (the journal) says why and what to do.
    """
    try:
        return published_bundle(config, today)
    except PledgeboxError as problem:
        print(
            f"pledgebox: warning: the mirror bundle is not handed out (pledges are served): {problem.message}",
            file=sys.stderr,
            flush=True,
        )
        if problem.hint:
            print(f"pledgebox: hint: {problem.hint}", file=sys.stderr, flush=True)
        return None
