"""Static mirrors: a signed, reproducible copy of the site for any web host, and its check.

Layout of `mirror build OUT`:

    OUT/pledgebox-mirror/           the copy: upload this folder's contents to any web server
        index.html                  the English appeal (the same as en/index.html, linked from the root)
        en/index.html, en/privacy/index.html, en/mirror/index.html, and the same under de/
        README.txt                  what this is and how to check it
        MANIFEST.sha256             every page's SHA-256, in `sha256sum` format, sorted
        MIRROR.json                 the signed statement: campaign, onion (and clearnet) address,
                                    version, build and expiry day, the manifest's SHA-256 (statement.py)
        MIRROR.sig                  base64 Ed25519 signature of the statement
    OUT/pledgebox-mirror.tar.gz     the same folder as one canonical archive (the "bundle", archive.py)

Links are relative and name index.html explicitly, so the copy works on any
static host, in a subfolder, and opened from disk. The pledge form posts to the
campaign's onion address, which the page's <meta> CSP allows as its only
form-action. The build is reproducible: the same code, catalogs, campaign.toml,
published totals, version and build day give the same bytes, whoever builds it.
The widget shows the totals as of the build day, without a count of days left
that would go stale.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from . import archive, campaign, render, sealing, statement
from .errors import OutputExists, PledgeboxError
from .files import write_new
from .i18n import LANGS
from .pages import Pages, site_links

NAME = "pledgebox-mirror"  # the copy's folder, and the archive's top folder
ARCHIVE = NAME + ".tar.gz"
MANIFEST = "MANIFEST.sha256"
STATEMENT, SIGNATURE = statement.FILE, statement.SIGNATURE
SIGNED = (MANIFEST, STATEMENT, SIGNATURE)  # the files that are not pages
BUNDLE_DIR = "mirror"  # DATA/mirror/pledgebox-mirror.tar.gz: the bundle the app hands out
BUNDLE_URL = f"/mirror/{ARCHIVE}"
PAGES = {"appeal": "", "privacy": "privacy/", "mirror": "mirror/"}
VERSION_FILE = "mirror-version"  # DATA/state/mirror-version: the last version built from this data folder


class NoOnion(PledgeboxError):
    """A static mirror's pledge form posts to the campaign's onion address, and none is configured."""

    hint = (
        'add onion = "….onion" to [campaign] in data/campaign.toml (the address in the onion service\'s hostname file)'
    )


class NotAnOrganiser(PledgeboxError):
    """This identity's signer key is not one of the organisers' in campaign.toml, so nobody could check the copy:"""

    hint = "sign with an organiser's identity, or add its signer line to [[organisers]] in data/campaign.toml"


class NotAMirror(PledgeboxError):
    """This is not a pledgebox mirror copy or archive:"""

    hint = (
        "download the bundle again from the organisers' mirror page (a cut-off download is the usual cause), "
        "or give the unpacked folder"
    )


class UnsafeContent(PledgeboxError):
    """The copy holds something a mirror never contains, so it was not read further:"""

    hint = "do not host this copy; get the bundle again from the organisers' onion service"


class BadSignature(PledgeboxError):
    """The copy is not signed by any signer key given (--signer):"""

    hint = (
        "another organiser may have signed it: pin every organiser's key (one --signer each, as the mirror "
        "page lists them) and compare them with the fingerprints the organisers publish; if it is signed by "
        "none of them, this copy was altered: do not host it"
    )


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

    def links(lang: str) -> dict[str, str]:
        live = site_links(lang)
        return {page: up + page_path(lang, page) for page in PAGES} | {
            form: f"http://{onion}{live[form]}" for form in ("pledge", "confirm")
        }

    return links


@dataclass(frozen=True)
class Signed:
    """Who signed a copy, and its version and days: what the mirror page says about a bundle."""

    name: str
    signer: str  # pledgebox-signer-v1:…
    fingerprint: str
    version: int
    built: str
    expires: str
    onion: str

    @property
    def built_day(self) -> date:
        """The build day as a date, for formatting."""
        return date.fromisoformat(self.built)

    @property
    def expires_day(self) -> date:
        """The expiry day as a date, for formatting."""
        return date.fromisoformat(self.expires)


def render_files(config, signed: Signed, totals: campaign.Totals) -> dict[str, bytes]:
    """Every page of the copy and its README, by relative path; the widget as of the build day."""
    if not config.onion:
        raise NoOnion()
    pages = Pages(config)
    values = {"csp_meta": render.csp(form_action=f"http://{config.onion}"), "static_note": True}
    bundle = f"http://{config.onion}{BUNDLE_URL}"
    day = date.fromisoformat(signed.built)
    # No count of days left: it would be wrong a day later. The day the figures are from instead.
    w = campaign.widget(config.goal, totals, None, day)

    def page(lang: str, name: str, at: str) -> bytes:
        links = static_links(at, config.onion)
        if name == "appeal":
            html = pages.appeal(lang, w, links=links, as_of=day, **values)
        else:
            html = pages.about(name, lang, bundle=bundle, links=links, signed=signed, **values)
        return html.encode("utf-8")

    files = {page_path(lang, name): page(lang, name, page_path(lang, name)) for lang in LANGS for name in PAGES}
    files["index.html"] = page("en", "appeal", "index.html")
    files["README.txt"] = readme(config, signed).encode("utf-8")
    return files


def readme(config, signed: Signed) -> str:
    """The README.txt inside the copy, for the people who host it."""
    signers = "".join(f"  {o.name}: {o.signer}\n" for o in config.organisers if o.signer)
    return (
        f"pledgebox mirror: a static copy of the appeal at http://{config.onion}/\n"
        f"Version {signed.version}, built {signed.built}, expires on {signed.expires} (UTC days).\n\n"
        "Host the files of this folder on any web server: plain HTML, no scripts, nothing to\n"
        "configure. The pledge form sends pledges to the organisers' onion service, so donors\n"
        "pledge with Tor Browser. Please do not change or add files: the copy is signed.\n\n"
        "Check the copy (signature, addresses, expiry and every byte), unpacked or as the archive:\n"
        f"  pledgebox mirror verify FOLDER_OR_ARCHIVE --signer {signed.signer} --onion {config.onion}\n"
        "Keep it current (from cron or a systemd timer: see the project's deploy/ folder):\n"
        f"  pledgebox mirror pull http://{config.onion}/ /var/www/pledgebox-mirror --signer {signed.signer}\n"
        "or check the bytes only:\n"
        "  sha256sum -c MANIFEST.sha256\n\n"
        f"The organisers' signer keys:\n{signers}"
    )


def manifest_of(files: dict[str, bytes]) -> bytes:
    """The manifest: one `SHA256  PATH` line per file, sorted by path (sha256sum's format)."""
    lines = [f"{hashlib.sha256(files[p]).hexdigest()}  {p}\n" for p in sorted(files)]
    return "".join(lines).encode("ascii")


def archive_of(tree: dict[str, bytes]) -> bytes:
    """The copy as its canonical .tar.gz: byte-for-byte the same for the same files."""
    return archive.write(tree, NAME)


@dataclass(frozen=True)
class Build:
    """What `build` wrote."""

    folder: Path
    archive: Path
    files: int
    statement: statement.Statement


def organiser_name(config, identity: sealing.Identity) -> str:
    """The name campaign.toml gives this identity's signer key; NotAnOrganiser if it gives none."""
    mine = identity.signer.to_string()
    for organiser in config.organisers:
        if organiser.signer and organiser.signer.strip() == mine:
            return organiser.name
    raise NotAnOrganiser(identity.signer.fingerprint)


def build_tree(
    config, identity: sealing.Identity, *, version: int, built: date, days: int = statement.DEFAULT_DAYS
) -> tuple[dict[str, bytes], statement.Statement]:
    """The whole copy in memory (pages, manifest, signed statement) and its statement."""
    name = organiser_name(config, identity)
    # Checked before anything is rendered: the pages show these figures.
    draft = statement.make(config, version=version, built=built, days=days, manifest_sha256="0" * 64, signed_by=name)
    signed = Signed(
        name,
        identity.signer.to_string(),
        identity.signer.fingerprint,
        version,
        draft.built,
        draft.expires,
        config.onion,
    )
    files = render_files(config, signed, campaign.read_totals(config.state_dir))
    manifest = manifest_of(files)
    final = statement.make(
        config,
        version=version,
        built=built,
        days=days,
        manifest_sha256=hashlib.sha256(manifest).hexdigest(),
        signed_by=name,
    )
    return files | {MANIFEST: manifest, STATEMENT: final.to_bytes(), SIGNATURE: statement.sign(final, identity)}, final


def last_built(config) -> int:
    """The last version built from this data folder (DATA/state/mirror-version), 0 if none."""
    try:
        text = (config.state_dir / VERSION_FILE).read_text(encoding="ascii").strip()
    except OSError:
        return 0
    return int(text) if text.isdigit() else 0


def next_version(config) -> int:
    """One more than the last version built from this data folder, or than the bundle it publishes."""
    last = last_built(config)
    published = Path(config.data_dir) / BUNDLE_DIR / ARCHIVE
    if published.is_file():
        try:
            last = max(last, statement.parse(archive.read(archive.load(published), NAME)[STATEMENT]).version)
        except (PledgeboxError, KeyError):
            pass  # not readable: the counter decides, and --version can always
    return last + 1


def remember_version(config, version: int) -> None:
    """Record the version just built, so the next build's default is one more."""
    config.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = f"{max(last_built(config), version)}\n"
    write_new(config.state_dir / VERSION_FILE, text.encode("ascii"), mode=0o644, replace=True)


def check_output(out: Path) -> None:
    """Refuse an output folder that exists and holds anything: a build never overwrites."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OutputExists(
            f"{out} (a folder that is not empty)", hint="choose a new folder, or remove the old build first"
        )


def write_tree(folder: Path, tree: dict[str, bytes]) -> None:
    """Write the copy's files under a new folder: files 0644, folders 0755, whatever the umask."""
    for path, data in sorted(tree.items()):
        target = folder / path
        for parent in reversed(target.relative_to(folder).parents):
            (folder / parent).mkdir(mode=0o755, exist_ok=True)
            (folder / parent).chmod(0o755)
        target.write_bytes(data)
        target.chmod(0o644)


def build(
    config,
    identity: sealing.Identity,
    out: Path,
    *,
    version: int | None = None,
    days: int = statement.DEFAULT_DAYS,
    built: date | None = None,
) -> Build:
    """Write the copy and its archive to a new folder `out`; nothing is left behind on failure."""
    out = Path(out)
    check_output(out)
    version = version if version is not None else next_version(config)
    tree, final = build_tree(config, identity, version=version, built=built or statement.utc_today(), days=days)
    raw = archive_of(tree)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Written beside `out` and renamed into place, so a failure leaves no half-built copy.
    work = Path(tempfile.mkdtemp(prefix=".pledgebox-mirror-", dir=out.parent))
    try:
        work.chmod(0o755)
        write_tree(work / NAME, tree)
        (work / ARCHIVE).write_bytes(raw)
        if out.exists():
            out.rmdir()
        work.rename(out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    remember_version(config, version)
    return Build(out / NAME, out / ARCHIVE, len(tree) - len(SIGNED), final)
