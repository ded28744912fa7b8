"""Static mirrors: built, served by a plain web server, signed, verified byte by byte, reproducible."""

from __future__ import annotations

import base64
import gzip
import hashlib
import html
import json
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
from datetime import date, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag, urljoin

import pytest
import webtest

from helpers import FAST_SCRYPT, PASSPHRASE, campaign_toml
from helpers import run_cli as run
from pledgebox import ROOT, campaign, config, mirror, render, statement, verify, web
from support import mirrorkit
from support.mirrorkit import ONION, StaticServer, publish, withheld

data = mirrorkit.data  # the fixture: a campaign with an onion address

PAGES = [
    "index.html",
    "en/index.html",
    "en/privacy/index.html",
    "en/mirror/index.html",
    "de/index.html",
    "de/privacy/index.html",
    "de/mirror/index.html",
]


# -- fixtures and helpers -----------------------------------------------------------


@pytest.fixture
def keyfile(tmp_path, identity) -> Path:
    """The first organiser's identity, saved with fast key derivation."""
    path = tmp_path / "keys" / "organiser.identity"
    path.parent.mkdir()
    identity.save(path, PASSPHRASE, scrypt_n=FAST_SCRYPT)
    return path


@pytest.fixture
def built(tmp_path, data, identity) -> mirror.Build:
    """A mirror built with the library call (the CLI path has its own test)."""
    return mirror.build(config.load(data), identity, tmp_path / "out")


def signer_string(identity) -> str:
    return identity.signer.to_string()


class Links(HTMLParser):
    """Every href, src and action of a page, and every id."""

    def __init__(self):
        super().__init__()
        self.links: list[tuple[str, str, str]] = []
        self.ids: set[str] = set()
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        for name, value in attrs:
            if name in ("href", "src", "action") and value is not None:
                self.links.append((tag, name, value))
            if name == "id":
                self.ids.add(value)


def links_of(text: str) -> Links:
    parser = Links()
    parser.feed(text)
    return parser


# No proxy from the environment may come between the test and 127.0.0.1.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch(url: str) -> tuple[int, str]:
    try:
        with _opener.open(url, timeout=10) as res:
            return res.status, res.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def repack(tree: dict[str, bytes]) -> bytes:
    """The tree as an archive again, without touching the manifest or its signature."""
    return mirror.archive_of(tree)


def tree_of(built: mirror.Build) -> dict[str, bytes]:
    return verify.read_folder(built.folder)[0]


# -- building ---------------------------------------------------------------------


def test_build_and_verify_through_the_command_line(capsys, tmp_path, data, keyfile, passfile, identity):
    out = tmp_path / "mirror-out"
    code, stdout, stderr = run(
        capsys, "mirror", "build", out, "--identity", keyfile, "--passphrase-file", passfile, "--data", data
    )
    assert code == 0, stderr
    assert identity.signer.fingerprint in stdout
    assert "Built version 1 of the mirror" in stdout and f"for {ONION}" in stdout
    # Nothing was published on this (the organisers') machine: the build says the copy shows 0, and why.
    assert f"Warning: the copy shows 0 reached: nothing was published in {data / 'state'}" in stdout
    assert f"`python app.py raised AMOUNT --data {data}`" in stdout
    assert sorted(
        p.relative_to(out / mirror.NAME).as_posix() for p in (out / mirror.NAME).rglob("*") if p.is_file()
    ) == sorted(PAGES + ["README.txt", "MANIFEST.sha256", "MIRROR.json", "MIRROR.sig"])
    assert (out / mirror.ARCHIVE).is_file()
    for source in (out / mirror.ARCHIVE, out / mirror.NAME):
        code, stdout, stderr = run(capsys, "mirror", "verify", source, "--signer", signer_string(identity))
        assert code == 0, stderr
        today = statement.utc_today()
        assert stdout == (
            f"OK: signed by Organiser 1 ({identity.signer.fingerprint}); version 1 for {ONION}, campaign "
            f"test-campaign; built {today}, expires on {today + timedelta(days=30)} (UTC); "
            "all 8 files match, byte for byte.\n"
        )
    assert run(capsys, "raised", "1234.50", "--pledged", "2000", "--data", data)[0] == 0
    code, stdout, stderr = run(
        capsys,
        "mirror",
        "build",
        tmp_path / "again",
        "--identity",
        keyfile,
        "--passphrase-file",
        passfile,
        "--data",
        data,
    )
    assert code == 0 and "The copy shows 1234.50 reached, 2000.00 pledged, as published in" in stdout, stderr
    # The build's folder holds the copy and its archive: it is not the copy, and verify says where that is.
    code, stdout, stderr = run(capsys, "mirror", "verify", out, "--signer", signer_string(identity))
    assert code == 1 and f"holds the copy in {mirror.NAME}/" in stderr and "hint: verify the folder" in stderr


def test_the_copy_works_on_a_plain_static_server(built):
    with StaticServer(built.folder) as server:
        seen: set[str] = set()
        queue = [server.url + "index.html"]
        for _ in range(100):  # a dozen pages: bounded well above
            if not queue:
                break
            url = queue.pop()
            if url in seen:
                continue
            seen.add(url)
            status, text = fetch(url)
            assert status == 200, url
            page = links_of(text)
            assert "script" not in page.tags and "iframe" not in page.tags
            for tag, attr, value in page.links:
                target, fragment = urldefrag(urljoin(url, value))
                if value.startswith("#"):
                    assert value[1:] in page.ids, (url, value)
                elif value.startswith("data:"):
                    assert (tag, attr) == ("link", "href")  # the empty favicon
                elif value.startswith("http://" + ONION):
                    assert value.endswith(("/pledge", mirror.BUNDLE_URL)), value
                elif value.startswith("https://"):
                    assert tag == "a"  # the groups' own sites, links only
                else:
                    assert "://" not in value and not value.startswith("/"), (url, value)
                    queue.append(target)
        assert not queue
    assert {u.removeprefix(server.url) for u in seen} == set(PAGES)


@pytest.mark.parametrize("path, lang", [("index.html", "en"), ("en/index.html", "en"), ("de/index.html", "de")])
def test_the_form_posts_to_the_onion_and_the_csp_allows_exactly_that(built, path, lang):
    text = (built.folder / path).read_text(encoding="utf-8")
    assert f'<html lang="{lang}">' in text
    forms = [value for tag, attr, value in links_of(text).links if tag == "form"]
    assert forms == [f"http://{ONION}/{lang}/pledge"]
    meta = text.split('<meta http-equiv="Content-Security-Policy" content="', 1)[1].split('"', 1)[0]
    assert html.unescape(meta) == render.csp(form_action=f"http://{ONION}")
    assert "form-action http://" + ONION + ";" in html.unescape(meta)
    # The meta comes before the style it governs.
    assert text.index("Content-Security-Policy") < text.index("<style>")


def test_every_page_says_that_pledging_needs_tor_browser(built):
    for path in PAGES:
        text = html.unescape((built.folder / path).read_text(encoding="utf-8"))
        lang = "de" if path.startswith("de/") else "en"
        note = {"en": "open this page in Tor Browser", "de": "öffne diese Seite im Tor Browser"}[lang]
        assert note in text, path


def test_the_widget_shows_the_totals_as_of_the_build_day_and_no_count_of_days(tmp_path, data, identity):
    (data / "campaign.toml").write_text(campaign_toml([identity], onion=ONION, deadline="2099-12-31"), encoding="utf-8")
    cfg = config.load(data)
    campaign.write_totals(cfg.state_dir, campaign.Totals(Decimal("1234.50")))
    built = mirror.build(cfg, identity, tmp_path / "w", built=date(2026, 11, 30))
    en = (built.folder / "en/index.html").read_text(encoding="utf-8")
    de = (built.folder / "de/index.html").read_text(encoding="utf-8")
    assert 'class="widget"' in en and "€1,234.50 reached in total" in en and "Figures as of 30 November 2026" in en
    assert "1.234,50\u00a0€" in de and "Stand: 30. November 2026" in de
    assert "days left" not in en and "Last day" not in en and "Noch " not in de


def test_twin_links_point_to_the_same_page_in_the_other_language(built):
    text = (built.folder / "de/privacy/index.html").read_text(encoding="utf-8")
    assert '<link rel="alternate" hreflang="en" href="../../en/privacy/index.html">' in text
    text = (built.folder / "index.html").read_text(encoding="utf-8")
    assert '<link rel="alternate" hreflang="de" href="de/index.html">' in text


def test_the_mirror_page_says_who_signed_and_shows_the_commands_that_fit(built, identities):
    text = html.unescape((built.folder / "en/mirror/index.html").read_text(encoding="utf-8"))
    signer = identities[0].signer
    assert (
        f"The current bundle is version 1, built on {statement.utc_today().day}" in text
        and f"signed by Organiser 1 (key fingerprint {signer.fingerprint})" in text
    )
    assert f"pledgebox mirror verify pledgebox-mirror.tar.gz --signer {signer.to_string()} --onion {ONION}" in text
    # pull trusts every organiser's key: the next version may be signed by another of them.
    pins = " ".join(f"--signer {i.signer.to_string()}" for i in identities[:2])
    assert f"pledgebox mirror pull http://{ONION}/ /var/www/pledgebox-mirror {pins}</pre>" in text
    assert text.count(identities[1].signer.to_string()) == 1  # verify names only the bundle's own signer
    for identity in identities[:2]:
        assert identity.signer.fingerprint in text  # every organiser's fingerprint, to compare elsewhere
    assert f'href="http://{ONION}{mirror.BUNDLE_URL}"' in text
    de = html.unescape((built.folder / "de/mirror/index.html").read_text(encoding="utf-8"))
    assert "Das aktuelle Paket ist Version 1" in de and "signiert von Organiser 1" in de


def test_manifest_format_and_the_signed_statement(built, identity):
    manifest = (built.folder / mirror.MANIFEST).read_bytes()
    lines = manifest.decode("ascii").splitlines()
    paths = [line.split("  ", 1)[1] for line in lines]
    assert paths == sorted(PAGES + ["README.txt"])
    for line in lines:
        digest, path = line.split("  ", 1)
        assert digest == hashlib.sha256((built.folder / path).read_bytes()).hexdigest()
    raw = (built.folder / mirror.STATEMENT).read_bytes()
    today = statement.utc_today()
    assert json.loads(raw) == {
        "campaign": "test-campaign",
        "onion": ONION,
        "clearnet": "",
        "version": 1,
        "built": today.isoformat(),
        "expires": (today + timedelta(days=30)).isoformat(),
        "manifest_sha256": hashlib.sha256(manifest).hexdigest(),
        "signed_by": "Organiser 1",
        "format": "pledgebox-mirror-statement-v1",
    }
    # Canonical JSON (RFC 8785): sorted keys, no spaces.
    assert raw == json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    text = (built.folder / mirror.SIGNATURE).read_bytes()
    assert text.endswith(b"==\n") and text.count(b"\n") == 1
    signature = base64.b64decode(text[:-1], validate=True)
    assert len(signature) == 64
    assert statement.DOMAIN == b"pledgebox-mirror-statement-v1\n"
    assert identity.signer.verify(statement.DOMAIN + raw, signature)
    assert not identity.signer.verify(raw, signature)  # never valid without the domain string


def test_sha256sum_checks_the_copy_without_pledgebox(built):
    if shutil.which("sha256sum") is None:
        pytest.fail("sha256sum is missing: apt-get install coreutils")
    done = subprocess.run(
        ["sha256sum", "--check", "--strict", mirror.MANIFEST],
        cwd=built.folder,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(": OK") == 8


def test_two_builds_are_identical_and_other_organisers_agree(tmp_path, data, identities):
    cfg = config.load(data)
    day = date(2026, 11, 30)
    first = mirror.build(cfg, identities[0], tmp_path / "a", version=7, built=day)
    again = mirror.build(cfg, identities[0], tmp_path / "b", version=7, built=day)
    other = mirror.build(cfg, identities[1], tmp_path / "c", version=7, built=day)
    assert first.archive.read_bytes() == again.archive.read_bytes()
    assert tree_of(first) == tree_of(again)
    # Another organiser's copy differs only where it says who signed it.
    mine, theirs = tree_of(first), tree_of(other)
    differ = {p for p in mine if mine[p] != theirs[p]}
    assert differ == {"en/mirror/index.html", "de/mirror/index.html", "README.txt", *mirror.SIGNED}
    assert verify.verify(other.archive, [identities[1].signer]).ok
    either = verify.verify(other.archive, [identities[0].signer, identities[1].signer])
    assert either.signer.fingerprint == identities[1].signer.fingerprint


def test_builds_in_separate_processes_are_identical(tmp_path, data, keyfile, passfile):
    # Another interpreter, another hash seed, another working folder: the same bytes.
    digests = set()
    for seed in ("1", "4242"):
        out = tmp_path / f"proc-{seed}"
        done = subprocess.run(
            [
                sys.executable,
                str(ROOT / "app.py"),
                "mirror",
                "build",
                str(out),
                "--identity",
                str(keyfile),
                "--passphrase-file",
                str(passfile),
                "--data",
                str(data),
                "--version",
                "3",
            ],
            cwd=tmp_path,
            env=os.environ | {"PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        digests.add(hashlib.sha256((out / mirror.ARCHIVE).read_bytes()).hexdigest())
    assert len(digests) == 1


def test_the_archive_has_no_times_owners_or_order_of_its_own(built):
    raw = built.archive.read_bytes()
    assert raw[:3] == b"\x1f\x8b\x08" and raw[3] == 0  # gzip, no file name or other optional fields
    assert raw[4:8] == b"\0\0\0\0"  # gzip mtime 0
    with tarfile.open(built.archive) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names) and names[0] == mirror.NAME
    for m in members:
        assert (m.mtime, m.uid, m.gid, m.uname, m.gname) == (0, 0, 0, "", "")
        assert m.mode == (0o755 if m.isdir() else 0o644) and (m.isdir() or m.isreg())


def test_build_refuses_without_an_onion_address(capsys, tmp_path, identities, keyfile, passfile):
    data = tmp_path / "plain"
    data.mkdir()
    (data / "campaign.toml").write_text(campaign_toml(identities[:1]), encoding="utf-8")
    out = tmp_path / "out"
    code, _, err = run(
        capsys, "mirror", "build", out, "--identity", keyfile, "--passphrase-file", passfile, "--data", data
    )
    assert code == 1
    assert "onion address" in err and "hint: add onion =" in err and f"[campaign] in {data / 'campaign.toml'}" in err
    assert not out.exists()


def test_build_refuses_the_demo_campaign(capsys, tmp_path, keyfile, passfile):
    out = tmp_path / "out"
    code, _, err = run(
        capsys,
        "mirror",
        "build",
        out,
        "--identity",
        keyfile,
        "--passphrase-file",
        passfile,
        "--data",
        tmp_path / "empty",
    )
    assert code == 78 and "campaign.toml is missing" in err
    assert not out.exists()


def test_build_refuses_a_key_that_is_not_an_organisers(capsys, tmp_path, data, identities, passfile):
    stranger = tmp_path / "stranger.identity"
    identities[2].save(stranger, PASSPHRASE, scrypt_n=FAST_SCRYPT)
    out = tmp_path / "out"
    code, _, err = run(
        capsys, "mirror", "build", out, "--identity", stranger, "--passphrase-file", passfile, "--data", data
    )
    assert code == 1
    assert "not one of the organisers'" in err and identities[2].signer.fingerprint in err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".pledgebox-mirror")] == []


def test_build_refuses_a_wrong_passphrase_and_leaves_nothing(capsys, tmp_path, data, keyfile):
    wrong = tmp_path / "wrong"
    wrong.write_bytes(b"not the passphrase\n")
    out = tmp_path / "out"
    code, _, err = run(
        capsys, "mirror", "build", out, "--identity", keyfile, "--passphrase-file", wrong, "--data", data
    )
    assert code == 1 and "Wrong passphrase" in err
    assert not out.exists()


def test_build_refuses_a_passphrase_on_the_command_line(capsys, tmp_path, data, keyfile):
    out = tmp_path / "out"
    code, _, err = run(capsys, "mirror", "build", out, "--identity", keyfile, "--passphrase", "secret", "--data", data)
    assert code == 2 and "never taken from the command line" in err and "secret" not in err
    assert not out.exists()


def test_build_never_overwrites(capsys, tmp_path, data, keyfile, passfile):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, _, err = run(
        capsys, "mirror", "build", out, "--identity", keyfile, "--passphrase-file", passfile, "--data", data
    )
    assert code == 1 and "already exists" in err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    empty = tmp_path / "empty-out"
    empty.mkdir()
    assert (
        run(capsys, "mirror", "build", empty, "--identity", keyfile, "--passphrase-file", passfile, "--data", data)[0]
        == 0
    )


# -- verifying --------------------------------------------------------------------


def tamper(folder: Path, how: str) -> str:
    """Change the copy in one way; return the path verify must name."""
    if how == "changed":
        page = folder / "en/index.html"
        raw = bytearray(page.read_bytes())
        raw[len(raw) // 2] ^= 0x01  # one bit of one byte
        page.write_bytes(bytes(raw))
        return "en/index.html"
    if how == "added":
        (folder / "en/extra.html").write_text("<p>not from the organisers</p>")
        return "en/extra.html"
    (folder / "de/privacy/index.html").unlink()
    return "de/privacy/index.html"


@pytest.mark.parametrize("how", ["changed", "added", "removed"])
@pytest.mark.parametrize("form", ["folder", "archive"])
def test_verify_names_what_differs(capsys, tmp_path, built, identity, how, form):
    name = tamper(built.folder, how)
    source = built.folder
    if form == "archive":
        source = tmp_path / "repacked.tar.gz"
        source.write_bytes(repack(verify.read_folder(built.folder)[0]))
    code, out, err = run(capsys, "mirror", "verify", source, "--signer", signer_string(identity))
    assert code == 1
    assert out.splitlines() == [f"{how}: {name}"]
    assert "does not match its signed manifest" in err and f"1 {how}" in err


def test_verify_lists_every_difference_at_once(built, identity):
    names = [tamper(built.folder, how) for how in ("changed", "added", "removed")]
    report = verify.verify(built.folder, [identity.signer])
    assert (report.changed, report.added, report.removed) == ([names[0]], [names[1]], [names[2]])
    assert report.signature_ok and not report.ok


def test_a_wrong_signer_fails(capsys, built, identities):
    for source in (built.folder, built.archive):
        code, out, err = run(capsys, "mirror", "verify", source, "--signer", signer_string(identities[2]))
        assert code == 1 and out == ""
        assert "not signed by any signer key given (--signer): " + identities[2].signer.fingerprint in err


def test_a_rewritten_manifest_fails_the_signature(capsys, built, identity):
    # Change a page and its manifest line consistently: only the signature can tell.
    page = built.folder / "en/index.html"
    page.write_bytes(page.read_bytes().replace(b"Tor Browser", b"any browser", 1))
    manifest = built.folder / mirror.MANIFEST
    manifest.write_bytes(
        mirror.manifest_of({p: d for p, d in verify.read_folder(built.folder)[0].items() if p not in mirror.SIGNED})
    )
    # The signed statement names the manifest's digest.
    assert verify.verify(built.folder, [identity.signer]).changed == [mirror.MANIFEST]
    # And a statement naming the new digest is no longer the one that was signed.
    path = built.folder / mirror.STATEMENT
    doc = json.loads(path.read_bytes())
    doc["manifest_sha256"] = hashlib.sha256(manifest.read_bytes()).hexdigest()
    path.write_bytes(statement.Statement(**doc).to_bytes())
    code, _, err = run(capsys, "mirror", "verify", built.folder, "--signer", signer_string(identity))
    assert code == 1 and "not signed by any signer key given (--signer): " + identity.signer.fingerprint in err


@pytest.mark.parametrize(
    "change",
    [
        lambda sig: b"not base64 at all\n",
        lambda sig: b" " + sig,
        lambda sig: sig + b"\n",
        lambda sig: sig[:-1],
        lambda sig: sig[:10] + sig[11:],
    ],
)
def test_the_signature_file_must_be_exactly_as_signed(built, identity, change):
    path = built.folder / mirror.SIGNATURE
    path.write_bytes(change(path.read_bytes()))
    assert not verify.verify(built.folder, [identity.signer]).signature_ok


@pytest.mark.parametrize(
    "text, message",
    [
        (repack({"index.html": b"<p>hi</p>"}), "no MANIFEST.sha256"),
        (b"garbage", "no .tar.gz at all"),
        (mirror.archive.GZIP_HEADER + gzip.compress(b"not a tar file" * 100, mtime=0)[10:], "no readable tar"),
    ],
)
def test_not_a_mirror(capsys, tmp_path, identity, text, message):
    path = tmp_path / "thing.tar.gz"
    path.write_bytes(text)
    code, _, err = run(capsys, "mirror", "verify", path, "--signer", signer_string(identity))
    assert code == 1 and message in err


def test_odd_file_names_are_printed_safely(capsys, built, identity):
    (built.folder / "en" / "x\x1b[31m\n.html").write_bytes(b"")
    code, out, _ = run(capsys, "mirror", "verify", built.folder, "--signer", signer_string(identity))
    assert code == 1 and out == "added: en/x\\x1b[31m\\n.html\n"


def test_a_malformed_manifest_is_refused(built, identity):
    (built.folder / mirror.MANIFEST).write_bytes(b"../../etc/passwd  " + b"0" * 64 + b"\n")
    with pytest.raises(mirror.NotAMirror, match="line 1"):
        verify.verify(built.folder, [identity.signer])


def test_a_bad_signer_string_is_explained(capsys, built):
    code, _, err = run(capsys, "mirror", "verify", built.archive, "--signer", "pledgebox-signer-v1:abc")
    assert code == 1 and "not a usable signer key" in err


# -- the app hands out the bundle ------------------------------------------------------------


def test_the_app_serves_the_published_bundle(data, built, clock):
    publish(data, built.archive.read_bytes())
    client = webtest.TestApp(web.build_app(config.load(data), clock=clock))
    for lang in ("en", "de"):
        page = client.get(f"/{lang}/mirror")
        assert f'href="{mirror.BUNDLE_URL}"' in page.text
    res = client.get(mirror.BUNDLE_URL, headers={"Accept-Encoding": "gzip"})
    assert res.status_int == 200
    assert res.body == built.archive.read_bytes()
    assert res.headers["Content-Type"] == "application/gzip"
    assert res.headers["Content-Disposition"] == f'attachment; filename="{mirror.ARCHIVE}"'
    assert "Content-Encoding" not in res.headers  # the browser must save it as it is
    assert res.headers["X-Content-Type-Options"] == "nosniff"
    assert res.headers["Content-Security-Policy"] == render.CSP
    assert "Set-Cookie" not in res.headers
    head = client.head(mirror.BUNDLE_URL)
    assert head.status_int == 200 and head.headers["Content-Type"] == "application/gzip"


def test_without_a_bundle_the_page_says_so_and_the_url_is_404(client):
    page = client.get("/en/mirror")
    assert "No signed bundle is published here yet." in page.text
    assert mirror.BUNDLE_URL not in page.text
    client.get(mirror.BUNDLE_URL, status=404)


def test_the_app_withholds_a_tampered_bundle(capsys, data, built):
    tree = tree_of(built)
    tree["en/index.html"] = tree["en/index.html"].replace(b"Tor Browser", b"any browser", 1)
    publish(data, repack(tree))
    assert "not signed by any organiser" in withheld(capsys, data)


def test_the_app_withholds_a_bundle_signed_by_someone_else(capsys, tmp_path, data, identities):
    # A campaign whose organisers are identities[1:]: a bundle signed by identities[0] is foreign to it.
    (data / "campaign.toml").write_text(campaign_toml(identities[:1], onion=ONION), encoding="utf-8")
    foreign = mirror.build(config.load(data), identities[0], tmp_path / "foreign")
    (data / "campaign.toml").write_text(campaign_toml(identities[1:], onion=ONION), encoding="utf-8")
    publish(data, foreign.archive.read_bytes())
    assert "not signed by any organiser" in withheld(capsys, data)
