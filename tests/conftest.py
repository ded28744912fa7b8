"""Shared fixtures: a test campaign on tmp_path, fast test identities, an app and a WebTest client.

Helpers that tests import live in helpers.py, and the server and Tor harnesses in support/.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import webtest

from helpers import FAST_SCRYPT, PASSPHRASE, Clock, campaign_toml
from pledgebox import cli, config, sealing, web


@pytest.fixture(scope="session")
def identities() -> list[sealing.Identity]:
    """Three organiser identities, made once per test session."""
    return [sealing.Identity.generate() for _ in range(3)]


@pytest.fixture
def identity(identities) -> sealing.Identity:
    """The first organiser's identity."""
    return identities[0]


@pytest.fixture
def data_dir(tmp_path, identity) -> Path:
    """A data folder with a campaign sealing to one organiser."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "campaign.toml").write_text(campaign_toml([identity]), encoding="utf-8")
    return data


@pytest.fixture
def write(tmp_path):
    """write(text): tmp_path with text as its campaign.toml, for config tests."""

    def write(text):
        (tmp_path / "campaign.toml").write_text(text, encoding="utf-8")
        return tmp_path

    return write


@pytest.fixture
def cfg(data_dir) -> config.Config:
    """The loaded test campaign."""
    return config.load(data_dir)


@pytest.fixture
def passfile(tmp_path) -> Path:
    """A passphrase file as a script would write it (with a final newline)."""
    path = tmp_path / "passphrase"
    path.write_bytes(PASSPHRASE + b"\n")
    return path


@pytest.fixture
def clock() -> Clock:
    """A hand-moved clock, starting at noon on 2026-11-25 in Berlin."""
    return Clock(1795604400.0)  # 2026-11-25 12:00 Europe/Berlin


@pytest.fixture
def client(cfg, clock) -> webtest.TestApp:
    """A WebTest client of a fresh app on tmp_path."""
    return webtest.TestApp(web.build_app(cfg, clock=clock))


@pytest.fixture
def keyfile(tmp_path, identity):
    """The first organiser's identity file, with fast test scrypt."""
    path = tmp_path / "org.identity"
    identity.save(path, PASSPHRASE, scrypt_n=FAST_SCRYPT)
    return path


@pytest.fixture
def run(keyfile, passfile, capsys):
    """Run review through cli.main; return (exit code, stdout, stderr)."""

    def run(*args, identity=keyfile):
        code = cli.main(["review", *map(str, args), "--identity", str(identity), "--passphrase-file", str(passfile)])
        out, err = capsys.readouterr()
        return code, out, err

    return run
