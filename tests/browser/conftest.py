"""Browser fixtures: the app under waitress on loopback, and Debian's Chromium through chromedriver."""

from __future__ import annotations

import threading

import pytest
import waitress

from helpers import campaign_toml
from pledgebox import campaign, config, serve, web

from .harness import START, TOTALS, Browsers, Counted, RunningClock, Served


@pytest.fixture(scope="session")
def served(tmp_path_factory, identities):
    """waitress serving a test campaign (confirm without waiting, figures published) in a thread."""
    data = tmp_path_factory.mktemp("browser-data")
    # token_min_age = 0: the tests confirm as fast as a keyboard can, without sleeping.
    (data / "campaign.toml").write_text(
        campaign_toml(identities[:1]) + "\n[limits]\ntoken_min_age = 0\n", encoding="utf-8"
    )
    cfg = config.load(data)
    campaign.write_totals(cfg.state_dir, TOTALS)
    counted = Counted(web.build_app(cfg, clock=RunningClock(START)))
    server = waitress.create_server(counted, **serve.settings(host="127.0.0.1", port=0))
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    yield Served(f"http://127.0.0.1:{server.effective_port}", counted, cfg)
    server.close()
    thread.join(10)
    server.task_dispatcher.shutdown()


@pytest.fixture(scope="session")
def browsers(served, tmp_path_factory):
    """The session's Chromium instances (quit before the server closes)."""
    made = Browsers(tmp_path_factory.mktemp("chromium"))
    yield made
    made.quit()
