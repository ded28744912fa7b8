"""What the mirror tests share: a campaign with an onion address, publishing a bundle, a plain static web server."""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from helpers import campaign_toml, onion_address
from pledgebox import mirror

ONION = onion_address(b"mirror test")


@pytest.fixture
def data(tmp_path, identities) -> Path:
    """A campaign with an onion address and two organisers who sign (import it into a test module to use it)."""
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "campaign.toml").write_text(campaign_toml(identities[:2], onion=ONION), encoding="utf-8")
    return folder


def publish(data: Path, raw: bytes) -> None:
    """Put a bundle where the app (or a static server of the folder) hands it out: DATA/mirror/…tar.gz."""
    (data / mirror.BUNDLE_DIR).mkdir(parents=True, exist_ok=True)
    (data / mirror.BUNDLE_DIR / mirror.ARCHIVE).write_bytes(raw)


class QuietHandler(SimpleHTTPRequestHandler):
    """http.server's file handler, logging nothing."""

    def log_message(self, *args):
        pass

    def address_string(self):
        return "test"  # a UNIX socket's peer has no address


class StaticServer:
    """Python's plain http.server on 127.0.0.1 serving one folder from a thread (or any handler class)."""

    def __init__(self, folder: Path, handler=None):
        handler = handler or functools.partial(QuietHandler, directory=str(folder))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def withheld(capsys, data: Path) -> str:
    """Start the app on data: it must serve pledges and withhold the bundle. What it said on stderr."""
    import webtest

    from pledgebox import config, web

    capsys.readouterr()
    client = webtest.TestApp(web.build_app(config.load(data)))
    assert client.get("/en/").status_int == 200
    client.get(mirror.BUNDLE_URL, status=404)
    assert mirror.BUNDLE_URL not in client.get("/en/mirror").text
    err = capsys.readouterr().err
    assert err.startswith("pledgebox: warning: the mirror bundle is not handed out (pledges are served): "), err
    assert "\npledgebox: hint: " in err
    return err
