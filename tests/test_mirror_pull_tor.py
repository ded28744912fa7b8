"""`mirror pull` end to end through the private Tor network: versions follow the site, replays and tampering don't.

The app serves its bundle on a UNIX socket behind a real v3 onion service (tests/support/tornet.py); the
host pulls `http://<onion>/` through the network's SOCKS port, as it would through its own tor.
"""

from __future__ import annotations

import functools
import os
import socketserver
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helpers import campaign_toml
from helpers import run_cli as run
from pledgebox import ROOT, archive, config, mirror, verify
from support.mirrorkit import QuietHandler, publish
from support.tornet import TorNetwork

pytestmark = pytest.mark.tor


class App:
    """`python app.py serve --unix-socket PATH`, the onion service's target, restarted to serve a new bundle."""

    def __init__(self, data: Path, sock: Path, logs: Path):
        self.data, self.sock, self.logs, self.proc = data, sock, logs, None

    def start(self) -> None:
        with open(self.logs / "serve.log", "ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    str(ROOT / "app.py"),
                    "serve",
                    "--data",
                    str(self.data),
                    "--unix-socket",
                    str(self.sock),
                ],
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + 20
        while not self.ready():
            assert self.proc.poll() is None and time.monotonic() < deadline, (self.logs / "serve.log").read_text()
            time.sleep(0.05)

    def ready(self) -> bool:
        import socket

        with socket.socket(socket.AF_UNIX) as s:
            try:
                s.connect(str(self.sock))
                return True
            except OSError:
                return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class Attacker(socketserver.ThreadingUnixStreamServer):
    """Whoever holds the onion key now: a plain file server on the onion service's socket."""

    daemon_threads = True


def in_place(out: Path, signers) -> int:
    report = verify.verify(Path(os.path.realpath(out)), signers)
    assert report.ok
    return report.statement.version


def test_pull_through_tor(capsys, tmp_path, identities):
    anna, ben = identities[:2]
    signers = [anna.signer, ben.signer]
    sock = tmp_path / "run" / "app.sock"
    sock.parent.mkdir()
    net = TorNetwork(tmp_path / "tor", sock)
    net.start(probe=False)  # the onion address must be known before the bundle is built for it
    app = App(tmp_path / "data", sock, tmp_path)
    try:
        data = app.data
        data.mkdir()
        (data / "campaign.toml").write_text(campaign_toml(identities[:2], onion=net.onion), encoding="utf-8")
        out = tmp_path / "www" / "pledgebox-mirror"
        out.parent.mkdir()
        argv = [
            "mirror",
            "pull",
            net.url,
            out,
            "--signer",
            anna.signer.to_string(),
            "--signer",
            ben.signer.to_string(),
            "--socks",
            f"127.0.0.1:{net.socks_port}",
        ]

        def pull():
            return run(capsys, *argv)

        v1 = mirror.build(config.load(data), anna, tmp_path / "v1").archive.read_bytes()
        publish(data, v1)
        app.start()
        code, stdout, err = pull()
        assert code == 0, err + net.logs()
        assert stdout.startswith(f"Updated {out} to version 1,") and in_place(out, signers) == 1
        assert pull()[1].startswith("Up to date: version 1,")

        # New totals, version 2, and the site restarted with it: the host follows.
        assert run(capsys, "raised", "777", "--data", data)[0] == 0
        publish(data, mirror.build(config.load(data), ben, tmp_path / "v2").archive.read_bytes())
        app.stop()
        app.start()
        code, stdout, err = pull()
        assert code == 0 and stdout.startswith(f"Updated {out} to version 2,"), err
        assert in_place(out, signers) == 2
        assert "€777 reached in total" in (out / "en" / "index.html").read_text(encoding="utf-8")

        # The site serves version 1 again: a replay, refused; version 2 stays.
        publish(data, v1)
        app.stop()
        app.start()
        code, stdout, err = pull()
        assert code == 1 and "version 1, the copy in place is version 2" in err
        assert in_place(out, signers) == 2

        # Whoever holds the onion key serves a tampered version 3: refused; version 2 stays.
        app.stop()
        files = archive.read(mirror.build(config.load(data), anna, tmp_path / "v3").archive.read_bytes(), mirror.NAME)
        files["en/index.html"] = files["en/index.html"].replace(b"Tor Browser", b"any browser", 1)
        site = tmp_path / "attacker"
        publish(site, archive.write(files, mirror.NAME))
        sock.unlink(missing_ok=True)
        with Attacker(str(sock), functools.partial(QuietHandler, directory=str(site))) as evil:
            thread = threading.Thread(target=evil.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            thread.start()
            try:
                code, stdout, err = pull()
            finally:
                evil.shutdown()
                thread.join(10)
        assert code == 1 and "does not match its signed manifest" in err, err
        assert in_place(out, signers) == 2
    finally:
        app.stop()
        net.stop()
