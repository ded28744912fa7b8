"""`mirror pull`: fetch the bundle from the organisers' site, verify it, and swap it into place atomically.

OUT is a symbolic link to one of the versioned folders in `.OUT.versions/` beside it. A new copy is
written there, read back and verified, and only then does a new link replace OUT in one rename: a
web server pointed at OUT serves the old copy or the new one, never half of one, never an unverified
one. The copy that OUT points to is the one a replay is measured against.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

from . import archive, files, mirror, sealing, statement, verify
from .errors import PledgeboxError, UsageError

DEFAULT_SOCKS = "127.0.0.1:9050"
CONNECT_TIMEOUT = 120.0  # an onion circuit can take a minute to build
READ_TIMEOUT = 60.0
TOTAL_TIMEOUT = 600.0  # however slowly the bytes trickle in, a pull ends
KEEP = 2  # versioned folders kept: the current one and the one before (a web server may still read it)


class MissingExtra(PledgeboxError):
    """`mirror pull` needs HTTP through SOCKS, which is an optional extra that is not installed."""

    hint = "pip install 'pledgebox[mirror]' (urllib3 and PySocks)"


class FetchFailed(PledgeboxError):
    """The bundle could not be fetched:"""

    hint = "check the address, and that tor runs (systemctl status tor) when it is an onion address; try again later"


class Replay(PledgeboxError):
    """The site serves an older copy than the one in place, so it was refused (a replay would freeze the copy):"""

    hint = (
        "the copy in place stays; if the organisers really went back, "
        "they must build a new bundle with a higher --version"
    )


class NotManaged(PledgeboxError):
    """OUT exists and is not a link that `mirror pull` made:"""

    hint = "move it away (or choose another OUT); pull then makes OUT a link to the verified copy"


class WriteFailed(PledgeboxError):
    """The new copy could not be put in place; the old one stays:"""

    hint = "check that OUT's folder exists and that this user may write to it"


@dataclass(frozen=True)
class Pulled:
    """What a pull did: the statement now in place, and whether it changed."""

    statement: statement.Statement
    signer: sealing.Signer
    changed: bool


def bundle_url(source: str) -> tuple[str, bool]:
    """The bundle's URL on a site, and whether it goes through Tor; refuses plain HTTP off this machine."""
    parts = urlsplit(source.strip())
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host or parts.username or parts.password:
        raise UsageError(
            f"{source!r} is not an http:// or https:// address of a site",
            hint="give the organisers' site, e.g. http://….onion/",
        )
    onion = host.endswith(".onion")
    if parts.scheme == "http" and not onion and not is_loopback(host):
        raise UsageError(
            f"{host} would be fetched in plain HTTP over the internet",
            hint="use the onion address (through Tor) or an https:// address",
        )
    path = parts.path if parts.path.endswith(".tar.gz") else parts.path.rstrip("/") + mirror.BUNDLE_URL
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{path}", onion


def is_loopback(host: str) -> bool:
    """Whether a host name or address is this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def socks_address(text: str) -> str:
    """HOST:PORT of a SOCKS proxy, checked."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--socks {text!r} is not HOST:PORT", hint=f"e.g. --socks {DEFAULT_SOCKS}")
    return text


def fetch(url: str, *, socks: str | None, limit: int) -> bytes:
    """GET url (through the SOCKS proxy when given, names resolved by it), at most `limit` bytes, bounded in time."""
    try:
        import urllib3
        from urllib3.contrib.socks import SOCKSProxyManager
    except ImportError:
        raise MissingExtra() from None
    timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT)
    # socks5h: tor resolves the name, so an onion address never reaches a DNS server.
    pool = (
        SOCKSProxyManager(f"socks5h://{socks}/", timeout=timeout, retries=False)
        if socks
        else urllib3.PoolManager(timeout=timeout, retries=False)
    )
    deadline = time.monotonic() + TOTAL_TIMEOUT
    try:
        with pool:
            response = pool.request(
                "GET",
                url,
                preload_content=False,
                redirect=False,
                headers={"Accept-Encoding": "identity", "User-Agent": "pledgebox-mirror-pull"},
            )
            try:
                return _read_body(response, limit, deadline)
            finally:
                response.release_conn()
    except urllib3.exceptions.HTTPError as exc:
        raise FetchFailed(f"{url}: {type(exc).__name__}") from None


def _read_body(response, limit: int, deadline: float) -> bytes:
    """The body of a 200 response, refused past `limit` bytes or the deadline."""
    if response.status != 200:
        raise FetchFailed(
            f"the site answered {response.status}" + (" (it publishes no bundle)" if response.status == 404 else "")
        )
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > limit:
        raise FetchFailed(f"the bundle is {length} bytes, more than any mirror ({limit})")
    chunks, size = [], 0
    while True:
        chunk = response.read1(64 * 1024)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise FetchFailed(f"the bundle is larger than any mirror ({limit} bytes)")
        if time.monotonic() > deadline:
            raise FetchFailed(f"the download took longer than {TOTAL_TIMEOUT:g} seconds")
        chunks.append(chunk)


def current(out: Path) -> statement.Statement | None:
    """The statement of the copy in place, None if there is none; NotManaged if OUT is not pull's link."""
    if not os.path.lexists(out):
        return None
    if not out.is_symlink() or not os.readlink(out).startswith(versions_dir(out).name + "/"):
        raise NotManaged(str(out))
    try:
        return statement.parse((out / mirror.STATEMENT).read_bytes())
    except OSError as exc:
        raise NotManaged(f"{out}: {exc.strerror}") from None


def versions_dir(out: Path) -> Path:
    """Where the versioned copies live: `.OUT.versions/` beside OUT."""
    return out.parent / f".{out.name}.versions"


def check_newer(new: statement.Statement, old: statement.Statement | None) -> bool:
    """True if `new` should replace `old`; False if it is the same copy; Replay if it is older or forked."""
    if old is None or new.version > old.version:
        return True
    if new.version == old.version and new.to_bytes() == old.to_bytes():
        return False
    if new.version == old.version:
        raise Replay(f"the site's version {new.version} differs from the copy in place of the same version")
    raise Replay(f"the site serves version {new.version}, the copy in place is version {old.version}")


def install(out: Path, tree: dict[str, bytes], signers: list[sealing.Signer], version: int) -> None:
    """Write the copy to a new versioned folder, verify what is on disk, then point OUT at it in one rename."""
    folder = versions_dir(out)
    work = Path(tempfile.mkdtemp(prefix=".incoming-", dir=folder))
    try:
        work.chmod(0o755)
        mirror.write_tree(work, tree)
        sync_tree(work)  # on disk before the link names it: a crash never leaves OUT on empty files
        if not verify.verify(work, signers).ok:  # what the web server will read, read back
            raise mirror.MirrorDiffers(f"{work} differs from the bundle after writing it")
        target = folder / f"v{version}"
        if target.exists():  # left by a pull that stopped before its swap: never the one in place
            shutil.rmtree(target)
        work.rename(target)
        link = folder / ".link"
        if os.path.lexists(link):
            link.unlink()
        link.symlink_to(f"{folder.name}/{target.name}")
        os.replace(link, out)
        files.fsync_dir(out.parent)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    prune(folder, keep={target.name})


def sync_tree(folder: Path) -> None:
    """fsync every file and folder under folder."""
    for root, _dirs, names in os.walk(folder):
        for name in names:
            fd = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        files.fsync_dir(Path(root))


def prune(folder: Path, keep: set[str]) -> None:
    """Remove old versioned folders but the newest KEEP (and those in `keep`)."""
    versions = sorted(
        (p for p in folder.iterdir() if p.name.startswith("v") and p.name[1:].isdigit()),
        key=lambda p: int(p.name[1:]),
        reverse=True,
    )
    for old in versions[KEEP:]:
        if old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)


def pull(
    source: str,
    out: Path,
    signers: list[sealing.Signer],
    *,
    socks: str = DEFAULT_SOCKS,
    today: date | None = None,
    fetcher=fetch,
) -> Pulled:
    """Fetch, verify and (if newer) install the bundle from a site; the copy in place stays on any failure."""
    out = Path(out).absolute()
    url, onion = bundle_url(source)
    current(out)  # refuse a folder pull did not make before fetching anything
    raw = fetcher(url, socks=socks_address(socks) if onion else None, limit=archive.tar_limit())
    tree = archive.read(raw, mirror.NAME)
    report = verify.compare(tree, signers=signers)
    if not report.signature_ok:
        raise mirror.BadSignature(", ".join(s.fingerprint for s in signers))
    if not report.ok:
        raise mirror.MirrorDiffers(", ".join(report.changed + report.added + report.removed))
    try:
        versions_dir(out).mkdir(mode=0o755, exist_ok=True)
        lock = open(versions_dir(out) / ".lock", "a")
    except OSError as exc:
        raise WriteFailed(f"{exc.filename or out}: {exc.strerror}") from None
    with lock:
        # One pull at a time (a timer's and one by hand): each compares with the copy in place when it swaps.
        fcntl.flock(lock, fcntl.LOCK_EX)
        old = current(out)
        new = report.statement
        host = urlsplit(url).hostname or ""
        new.check(today or statement.utc_today(), onion=host if onion else "", campaign=old.campaign if old else "")
        changed = check_newer(new, old)
        if changed:
            try:
                install(out, tree, signers, new.version)
            except OSError as exc:
                raise WriteFailed(f"{exc.filename or out}: {exc.strerror}") from None
    return Pulled(new, report.signer, changed)
