"""Scan a data folder (or a process's output) for anything that could identify a donor."""

from __future__ import annotations

import fnmatch
import functools
import ipaddress
import os
import re
import stat
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from . import filetimes, plaintext, sealing
from .ownership import SERVER_WRITES, writable_by
from .safetext import terminal
from .store import COLLECTED, PENDING, Damaged, scan_records

# What each finding means, as the command prints it. Never the value itself: it may be donor data.
KINDS = {
    "ip-address": "looks like an IP address",
    "circuit-id": "looks like a Tor circuit id as tor's PROXY line writes it (fc00:dead:beef:4dad::/64)",
    "user-agent": "looks like a browser's or HTTP client's User-Agent",
    "fine-timestamp": "a time of day or a Unix timestamp (nothing finer than a day may be stored)",
    "not-a-record": "a line of a records file that is not a sealed record (it could hold plaintext)",
    "record-size": "a sealed record not of the one record size (its length says something about the message)",
    "older-record-size": "a pledge sealed by an earlier pledgebox, padded to one of its sizes (which say roughly how "
    "long the message was): a real pledge, do not delete it; `collect --purge` takes it off "
    "the server, and review still opens it",
    "private-identity": "a private organiser identity (it belongs on the organisers' machines only)",
    "unexpected-file": "a file pledgebox does not write",
    "leftover-temporary": "a temporary file older than one heartbeat: pledgebox's own are gone within "
    "milliseconds, so this one was left by a crash or planted (it may hold anything)",
    "special-file": "a symlink, pipe, socket or device",
    "world-readable": "readable by every user of this machine",
    "bad-secret": "the token secret does not have its expected size",
    "file-time": "a modification time finer than the day, unchanged for longer than one heartbeat: it could date "
    "a pledge (a running `serve` sets every time under the data folder to the start of the day)",
    "not-writable": "the server's user (the owner of state/) cannot write it: pledges fail with 503",
}

# Paths relative to the data folder, as glob patterns, and how each is checked.
# Public by design (may be world-readable): organisers' settings and public keys, the signed mirror
# bundle, and the totals `raised` publishes (0644, so the server reads them whoever ran `raised`).
PUBLIC = (
    "campaign.toml",
    "campaign.example.toml",
    "mirror/pledgebox-mirror.tar.gz",
    "state/published.json",
    "state/mirror-version",
)
RECORDS = (f"state/{PENDING}", f"state/{COLLECTED}", "*.sealed", "*/*.sealed")
TEXT = ("state/published.json", "state/mirror-version", "state/.lock", ".gitignore")
SECRETS = ("state/token.key",)
OPAQUE = ("mirror/pledgebox-mirror.tar.gz",)  # the signed bundle, built on an organiser's machine
TRANSIENT = (".*.tmp", "*/.*.tmp")  # files.write_new's, left only mid-write
PRIVATE_DIRS = ("state",)
MAX_SHOWN = 20  # findings shown per file and kind: a file of garbage must not flood the terminal

_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_PATTERNS = [
    ("ip-address", re.compile(rb"(?<![0-9.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9.])")),
    (
        "ip-address",
        re.compile(
            rb"(?<![0-9A-Za-z:.])\[?[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}"
            rb"(?::(?:[0-9]{1,3}\.){3}[0-9]{1,3})?\]?(?![0-9A-Za-z:])"
        ),
    ),
    (
        "user-agent",
        re.compile(
            rb"(?i)\b(?:Mozilla|Opera|AppleWebKit|Gecko|KHTML|Chrome|Chromium|Firefox|Safari"
            rb"|Edge?|Trident|curl|Wget|python-requests|Python-urllib|python-httpx|aiohttp"
            rb"|okhttp|Go-http-client|libwww-perl|Java|HTTPie|Lynx|Links|w3m|ELinks|Dalvik"
            rb"|TorBrowser)/[0-9]"
        ),
    ),
    ("user-agent", re.compile(rb"\((?:Windows NT|X11|Macintosh|Linux|Android|iPhone|iPad)[;) ]")),
    ("fine-timestamp", re.compile(rb"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}")),
    ("fine-timestamp", re.compile(rb"(?<![0-9])(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9])(?![0-9])")),
    ("fine-timestamp", re.compile(rb"[0-9]{1,2}[ /]" + _MONTH.encode() + rb"[ /][0-9]{4}[ :][0-9]{2}:[0-9]{2}")),
    # Unix seconds (or milliseconds) from 2017 to 2033, standing alone.
    ("fine-timestamp", re.compile(rb"(?<![\w.])1[5-9][0-9]{8}(?:[0-9]{3})?(?:\.[0-9]+)?(?![\w.])")),
]


@dataclass(frozen=True)
class Finding:
    """One thing that should not be there: where, and what kind; never the value."""

    path: str
    kind: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        where = f":{self.line}:{self.column}" if self.line else ""
        return f"{self.path}{where}: {self.kind} ({KINDS[self.kind]})"


@dataclass
class Report:
    """What a scan found, and how much it looked at."""

    findings: list[Finding]
    files: int = 0
    records: int = 0
    notes: list[str] | None = None

    @property
    def clean(self) -> bool:
        return not self.findings


def _is_address(candidate: bytes) -> bool:
    """True for a real IPv4 or IPv6 address that is not loopback or unspecified (the server's own)."""
    text = candidate.decode("ascii", "replace").strip("[]")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return not (address.is_loopback or address.is_unspecified)


# Where tor's HiddenServiceExportCircuitID puts a circuit's id: `serve --proxy-protocol` keeps only a
# keyed hash of it, in memory, for minutes (pledgebox/circuits.py); it never belongs in a file.
TOR_CIRCUITS = ipaddress.IPv6Network("fc00:dead:beef:4dad::/64")


def scan_line(name: str, line: bytes, number: int) -> Iterator[Finding]:
    """Findings in one line of text: addresses, Tor circuit ids, user agents, fine timestamps."""
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(line):
            found = kind
            if kind == "ip-address":
                if not _is_address(match.group()):
                    continue
                if ipaddress.ip_address(match.group().decode("ascii").strip("[]")) in TOR_CIRCUITS:
                    found = "circuit-id"
            yield Finding(name, found, number, match.start() + 1)


def scan_bytes(name: str, data: bytes) -> list[Finding]:
    """Findings in any text, e.g. everything a server process printed."""
    return [f for number, line in enumerate(data.split(b"\n"), start=1) for f in scan_line(name, line, number)]


@functools.cache
def hpke_overhead() -> int:
    """Bytes a sealed ciphertext adds to the padded plaintext (KEM encapsulation and AEAD tag)."""
    sample = sealing.parse_record(sealing.seal(b"", [sealing.Identity.generate().recipient], "audit"))
    return sample.sizes[0] - plaintext.PADDED_SIZE


def check_record(record: bytes) -> str | None:
    """None if record is a well-formed sealed record of the one record size; else the kind of finding."""
    try:
        sealed = sealing.parse_record(record)
    except sealing.DamagedRecord:
        return "not-a-record"
    padded = {size - hpke_overhead() for size in sealed.sizes}
    if padded == {plaintext.PADDED_SIZE}:
        return None
    return "older-record-size" if len(padded) == 1 and padded <= set(sealing.OLDER_SIZES) else "record-size"


def _matches(rel: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(rel, pattern) for pattern in patterns)


def _records_findings(rel: str, path: Path, report: Report) -> Iterator[Finding]:
    """Check every line of a records file: sealed, padded, and nothing readable around it."""
    items = list(scan_records(path))
    for item in items:
        if isinstance(item, Damaged):
            if item is items[-1] and "incomplete" in item.reason:
                # Cut off by a crash mid-write; never acknowledged, and the next append removes it.
                report.notes.append(
                    f"{terminal(rel)}:{item.line}: an incomplete last record (left by a crash; "
                    "the next pledge cuts it off)"
                )
            else:
                yield Finding(rel, "not-a-record", item.line, 1)
            continue
        report.records += 1
        kind = check_record(item.record)
        if kind:
            yield Finding(rel, kind, item.line, len(item.record_id) + 2)
        yield from scan_line(rel, item.record_id.encode() + b" " + item.record, item.line)


def _text_findings(rel: str, path: Path) -> Iterator[Finding]:
    with open(path, "rb") as file:
        for number, line in enumerate(file, start=1):
            yield from scan_line(rel, line, number)


def _file_findings(rel: str, path: Path, st: os.stat_result, report: Report, now: float) -> Iterator[Finding]:
    """Everything wrong with one regular file."""
    if st.st_mode & stat.S_IROTH and not _matches(rel, PUBLIC):
        yield Finding(rel, "world-readable")
    if sealing.looks_like_identity(path):
        yield Finding(rel, "private-identity")
        return
    if _matches(rel, SECRETS):
        if st.st_size != 32:
            yield Finding(rel, "bad-secret")
        return  # random bytes: any pattern found in them would be chance
    if _matches(rel, OPAQUE):
        return
    if _matches(rel, RECORDS):
        yield from _records_findings(rel, path, report)
        return
    if _matches(rel, TRANSIENT):
        if st.st_ctime < now - RECENT:
            yield Finding(rel, "leftover-temporary")
    elif not _matches(rel, (*PUBLIC, *TEXT)):
        yield Finding(rel, "unexpected-file")
    yield from _text_findings(rel, path)


# A change this recent may be a pledge the next beat has yet to blur (plus a little for a busy machine).
RECENT = filetimes.HEARTBEAT + 5


def _time_findings(rel: str, st: os.stat_result, server_uid: int, now: float, report: Report) -> Iterator[Finding]:
    """A modification time that could date a pledge: finer than the day, and older than one heartbeat."""
    if st.st_uid != server_uid or stat.S_ISLNK(st.st_mode) or filetimes.is_day_start(st.st_mtime):
        return  # what the server cannot touch, it cannot have written either
    if st.st_ctime >= now - RECENT:
        report.notes.append(
            f"{terminal(rel)}: changed within the last heartbeat; the next one sets its time to the start of the day"
        )
    else:
        yield Finding(rel, "file-time")


def _writable_findings(rel: str, st: os.stat_result, server_uid: int) -> Iterator[Finding]:
    """A file or folder the server writes that its user may not write (a root-run command made it)."""
    if _matches(rel, SERVER_WRITES) and not stat.S_ISLNK(st.st_mode) and not writable_by(st, server_uid):
        yield Finding(rel + "/" if stat.S_ISDIR(st.st_mode) and rel != "." else rel, "not-writable")


def scan(data: Path, now: float | None = None) -> Report:
    """Scan every file and folder under the data folder, without following symlinks."""
    data = Path(data)
    now = time.time() if now is None else now
    report = Report(findings=[], notes=[])
    # The server's files are those of its user, who owns the state folder (or else the data folder).
    server_uid = (data / "state" if (data / "state").is_dir() else data).lstat().st_uid
    report.findings.extend(_time_findings(".", data.lstat(), server_uid, now, report))
    report.findings.extend(_writable_findings(".", data.lstat(), server_uid))
    for root, dirs, files in os.walk(data, followlinks=False):
        dirs.sort()
        for name in sorted(dirs):
            path = Path(root, name)
            rel = path.relative_to(data).as_posix()
            st = path.lstat()
            report.findings.extend(_time_findings(rel, st, server_uid, now, report))
            report.findings.extend(_writable_findings(rel, st, server_uid))
            if stat.S_ISLNK(st.st_mode):
                report.findings.append(Finding(rel, "special-file"))
            elif rel in PRIVATE_DIRS and st.st_mode & (stat.S_IROTH | stat.S_IXOTH):
                report.findings.append(Finding(rel + "/", "world-readable"))
        for name in sorted(files):
            path = Path(root, name)
            rel = path.relative_to(data).as_posix()
            st = path.lstat()
            report.files += 1
            report.findings.extend(_time_findings(rel, st, server_uid, now, report))
            report.findings.extend(_writable_findings(rel, st, server_uid))
            if not stat.S_ISREG(st.st_mode):
                report.findings.append(Finding(rel, "special-file"))
                continue
            try:
                report.findings.extend(_file_findings(rel, path, st, report, now))
            except OSError:
                report.notes.append(f"{terminal(rel)}: could not be read")
    return report


def lines(report: Report) -> list[str]:
    """The findings as printable lines, at most MAX_SHOWN per file and kind."""
    out, shown = [], Counter()
    for finding in report.findings:
        key = (finding.path, finding.kind)
        shown[key] += 1
        if shown[key] <= MAX_SHOWN:
            out.append(terminal(str(finding)))
    for (path, kind), count in shown.items():
        if count > MAX_SHOWN:
            out.append(f"{terminal(path)}: … and {count - MAX_SHOWN} more {kind}")
    return out
