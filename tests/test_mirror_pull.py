"""`mirror pull` over plain HTTP on loopback: the running app's bundle fetched, verified, swapped in atomically."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from helpers import campaign_toml
from helpers import run_cli as run
from pledgebox import archive, config, mirror, pull, statement, verify
from support import mirrorkit
from support.mirrorkit import ONION, StaticServer, publish
from support.serverproc import Server

data = mirrorkit.data  # the fixture: a campaign with an onion address


def build(data: Path, identity, out: Path, **kw) -> bytes:
    return mirror.build(config.load(data), identity, out, **kw).archive.read_bytes()


def pull_cli(capsys, source: str, out: Path, *signers):
    argv = ["mirror", "pull", source, out]
    for s in signers:
        argv += ["--signer", s.signer.to_string()]
    return run(capsys, *argv)


def in_place(out: Path, identity) -> statement.Statement:
    """The statement of the copy OUT points to, after checking that copy in full."""
    report = verify.verify(Path(os.path.realpath(out)), [identity.signer])
    assert report.ok, (report.changed, report.added, report.removed)
    return report.statement


def tampered(raw: bytes) -> bytes:
    """The same copy with one page changed, packed canonically: only the signed manifest can tell."""
    files = archive.read(raw, mirror.NAME)
    files["en/index.html"] = files["en/index.html"].replace(b"Tor Browser", b"any browser", 1)
    return archive.write(files, mirror.NAME)


def test_pull_follows_the_site_refuses_replays_and_tampering(capsys, tmp_path, data, identities):
    anna, ben = identities[:2]
    www = tmp_path / "www"
    www.mkdir()
    out = www / "pledgebox-mirror"
    publish(data, build(data, anna, tmp_path / "v1"))
    with Server(data, log_dir=tmp_path) as site:
        url = f"http://127.0.0.1:{site.port}/"
        code, stdout, err = pull_cli(capsys, url, out, anna, ben)
        assert code == 0, err
        assert stdout.startswith(f"Updated {out} to version 1,") and "signed by Organiser 1" in stdout
        assert out.is_symlink() and in_place(out, anna).version == 1
        # Nothing changed: exit 0, "up to date", the same folder.
        target = os.readlink(out)
        code, stdout, _ = pull_cli(capsys, url, out, anna, ben)
        assert code == 0 and stdout.startswith("Up to date: version 1,") and os.readlink(out) == target
    # The organisers publish new totals and build version 2 (the other organiser, this time).
    assert run(capsys, "raised", "777", "--data", data)[0] == 0
    v2 = build(data, ben, tmp_path / "v2")
    publish(data, v2)
    with Server(data, log_dir=tmp_path) as site:
        code, stdout, err = pull_cli(capsys, f"http://127.0.0.1:{site.port}/", out, anna, ben)
        assert code == 0 and stdout.startswith(f"Updated {out} to version 2,"), err
    assert in_place(out, ben).version == 2
    assert "€777 reached in total" in (out / "en" / "index.html").read_text(encoding="utf-8")
    # The site serves version 1 again (a replay, to freeze the totals): refused, version 2 stays.
    publish(data, (tmp_path / "v1" / mirror.ARCHIVE).read_bytes())
    with Server(data, log_dir=tmp_path) as site:
        code, stdout, err = pull_cli(capsys, f"http://127.0.0.1:{site.port}/", out, anna, ben)
    assert code == 1 and stdout == ""
    assert "serves an older copy" in err and "version 1, the copy in place is version 2" in err
    assert in_place(out, ben).version == 2
    # A tampered version 3 (the app refuses to serve it, so an attacker's server does): refused, version 2 stays.
    v3 = tampered(build(data, anna, tmp_path / "v3"))
    attacker = tmp_path / "attacker"
    publish(attacker, v3)
    with StaticServer(attacker) as evil:
        code, _, err = pull_cli(capsys, evil.url, out, anna, ben)
    assert code == 1 and "does not match its signed manifest" in err and "en/index.html" in err
    assert in_place(out, ben).version == 2
    assert not [p for p in out.parent.rglob(".incoming-*")]


@pytest.fixture
def pulled(tmp_path, data, identities):
    """A host that pulled version 5 from a static site (fast: no app process)."""
    site = tmp_path / "site"
    publish(site, build(data, identities[0], tmp_path / "v5", version=5))
    out = tmp_path / "www" / "copy"
    out.parent.mkdir()
    with StaticServer(site) as server:
        pull.pull(server.url, out, [identities[0].signer])
    return site, out


def serve_pull(site: Path, out: Path, signers, **kw):
    with StaticServer(site) as server:
        return pull.pull(server.url, out, signers, **kw)


def test_the_same_version_with_other_contents_is_refused(tmp_path, data, identities, pulled):
    site, out = pulled
    publish(site, build(data, identities[0], tmp_path / "again", version=5, days=10))
    with pytest.raises(pull.Replay, match="differs from the copy in place of the same version"):
        serve_pull(site, out, [identities[0].signer])


def test_an_expired_bundle_is_refused(tmp_path, data, identities, pulled):
    site, out = pulled
    publish(
        site, build(data, identities[0], tmp_path / "old", version=9, built=statement.utc_today() - timedelta(days=30))
    )
    with pytest.raises(statement.Expired):
        serve_pull(site, out, [identities[0].signer])
    assert in_place(out, identities[0]).version == 5


def test_a_bundle_for_another_campaign_is_refused(tmp_path, identities, pulled):
    site, out = pulled
    other = tmp_path / "other"
    other.mkdir()
    (other / "campaign.toml").write_text(campaign_toml(identities[:1], onion=ONION, id="another"), encoding="utf-8")
    publish(site, build(other, identities[0], tmp_path / "o", version=50))
    with pytest.raises(statement.WrongAddress, match="campaign another, not test-campaign"):
        serve_pull(site, out, [identities[0].signer])


def test_an_unpinned_signer_is_refused(capsys, tmp_path, data, identities):
    site = tmp_path / "site"
    publish(site, build(data, identities[1], tmp_path / "b"))
    with StaticServer(site) as server:
        code, _, err = pull_cli(capsys, server.url, tmp_path / "out", identities[0])
    assert code == 1 and "not signed by any signer key given (--signer)" in err
    assert not os.path.lexists(tmp_path / "out")


def test_plain_http_off_this_machine_is_refused_before_any_connection(capsys, tmp_path, identities):
    for source in ("http://example.org/", "http://10.0.0.1/", "ftp://example.org/", "http://user:pw@127.0.0.1/"):
        code, _, err = pull_cli(capsys, source, tmp_path / "out", identities[0])
        assert code == 2 and "hint:" in err, source


def test_pull_never_replaces_a_folder_it_did_not_make(capsys, tmp_path, data, identities):
    out = tmp_path / "www"
    out.mkdir()
    (out / "index.html").write_text("the host's own site")
    code, _, err = pull_cli(capsys, "http://127.0.0.1:9/", out, identities[0])
    assert code == 1 and "is not a link that `mirror pull` made" in err and "hint: move it away" in err
    assert (out / "index.html").read_text() == "the host's own site"


def test_a_failure_while_writing_leaves_the_old_copy_in_place(monkeypatch, tmp_path, data, identities, pulled):
    site, out = pulled
    publish(site, build(data, identities[0], tmp_path / "v6", version=6))

    def broken(folder, tree):
        (folder / "index.html").write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(mirror, "write_tree", broken)
    with pytest.raises(pull.WriteFailed, match="No space left"):
        serve_pull(site, out, [identities[0].signer])
    assert in_place(out, identities[0]).version == 5
    assert not list(out.parent.rglob(".incoming-*"))


def test_readers_never_see_half_a_copy(tmp_path, data, identities, pulled):
    site, out = pulled
    seen, stop, bad = set(), threading.Event(), []

    def reader():
        while not stop.is_set():
            target = Path(os.path.realpath(out))
            try:
                report = verify.verify(target, [identities[0].signer])
            except FileNotFoundError:  # an old version pruned while it was read: it was whole until then
                continue
            if not report.ok:
                bad.append((target, report.changed, report.added, report.removed))
            seen.add(report.statement.version)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for version in range(6, 10):
            publish(site, build(data, identities[0], tmp_path / f"v{version}", version=version))
            serve_pull(site, out, [identities[0].signer])
    finally:
        stop.set()
        thread.join(30)
    assert bad == [] and 9 in seen and seen <= {5, 6, 7, 8, 9}
    kept = sorted(p.name for p in pull.versions_dir(out).iterdir() if not p.name.startswith("."))
    assert kept == ["v8", "v9"]


def test_two_pulls_at_once_take_turns(tmp_path, data, identities, pulled):
    site, out = pulled
    publish(site, build(data, identities[0], tmp_path / "v6", version=6))
    results, errors = [], []

    def one():
        try:
            results.append(serve_pull(site, out, [identities[0].signer]).changed)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and sorted(results) == [False, False, True]
    assert in_place(out, identities[0]).version == 6


class Slow(BaseHTTPRequestHandler):
    """A site that answers, then trickles its body a byte at a time."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        for _ in range(100):
            self.wfile.write(b"\x1f")
            self.wfile.flush()
            time.sleep(0.05)


class Redirect(Slow):
    def do_GET(self):
        self.send_response(302)
        self.send_header("Location", "http://example.org/pledgebox-mirror.tar.gz")
        self.end_headers()


def test_downloads_are_bounded_in_time_size_and_never_redirected(monkeypatch, tmp_path, identities):
    monkeypatch.setattr(pull, "TOTAL_TIMEOUT", 0.5)
    with StaticServer(tmp_path, handler=Slow) as slow:
        started = time.monotonic()
        with pytest.raises(pull.FetchFailed, match="longer than"):
            pull.pull(slow.url, tmp_path / "out", [identities[0].signer])
        assert time.monotonic() - started < 3
    with StaticServer(tmp_path, handler=Redirect) as redirect, pytest.raises(pull.FetchFailed, match="answered 302"):
        pull.pull(redirect.url, tmp_path / "out", [identities[0].signer])
    big = tmp_path / "big"
    (big / "mirror").mkdir(parents=True)
    (big / "mirror" / mirror.ARCHIVE).write_bytes(b"\0" * 2_000_000)
    monkeypatch.setattr(archive, "MAX_TOTAL_BYTES", 100_000)  # the limit is then about 1.1 MB
    with StaticServer(big) as server, pytest.raises(pull.FetchFailed, match="more than any mirror"):
        pull.pull(server.url, tmp_path / "out", [identities[0].signer])
    assert not os.path.lexists(tmp_path / "out")


def test_systemd_accepts_the_pull_service_and_timer(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing: run scripts/install-system-deps.sh (Debian package systemd)")
    deploy = Path(__file__).resolve().parent.parent / "deploy"
    service = (deploy / "pledgebox-mirror-pull.service").read_text(encoding="utf-8")
    command = next(line for line in service.splitlines() if line.startswith("ExecStart="))
    assert " mirror pull http://" in command and " --signer pledgebox-signer-v1:" in command
    assert "Type=oneshot" in service and "IPAddressAllow=localhost" in service
    # verify insists that ExecStart's program exists: this Python stands in for the venv's console script.
    (tmp_path / "pledgebox-mirror-pull.service").write_text(
        service.replace("/opt/pledgebox/.venv/bin/pledgebox", sys.executable), encoding="utf-8"
    )
    timer = (deploy / "pledgebox-mirror-pull.timer").read_text(encoding="utf-8")
    assert "OnUnitActiveSec=1h" in timer and "WantedBy=timers.target" in timer
    (tmp_path / "pledgebox-mirror-pull.timer").write_text(timer, encoding="utf-8")
    for name in ("pledgebox-mirror-pull.service", "pledgebox-mirror-pull.timer"):
        done = subprocess.run([analyze, "verify", str(tmp_path / name)], capture_output=True, text=True, timeout=60)
        complaints = [line for line in (done.stdout + done.stderr).splitlines() if "pledgebox-mirror-pull" in line]
        assert done.returncode == 0 and complaints == [], done.stdout + done.stderr
