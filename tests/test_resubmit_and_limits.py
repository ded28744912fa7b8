"""A token resubmitted after a collect, a restart or midnight; limits in bytes; honest long messages."""

import json
import os
import stat
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import webtest

from helpers import Clock, campaign_toml, reference_of
from pledgebox import cli, config, render, web
from pledgebox.store import read_records

GOOD = {"amount": "25", "designation": "split", "method": "sepa"}


def fresh_app(cfg, clock):
    """Another app on the same data folder: what a restart or a second process sees."""
    return webtest.TestApp(web.build_app(cfg, clock=clock))


def test_resubmitted_token_after_collect_and_restart_stores_nothing(client, clock, cfg, tmp_path):
    check = client.post("/en/pledge", GOOD)
    clock.advance(5)
    fields = dict(check.forms[0].submit_fields())
    first = reference_of(client.post("/en/pledge/confirm", fields).text)
    from pledgebox.store import Store

    assert Store(cfg.state_dir).collect(tmp_path / "out.sealed") == 1
    again = fresh_app(cfg, clock).post("/en/pledge/confirm", fields)
    assert reference_of(again.text) == first
    assert Store(cfg.state_dir).count() == 0


def test_after_a_purge_and_midnight_the_copy_is_identical_so_review_merges_it(cfg, identity, tmp_path):
    berlin = ZoneInfo("Europe/Berlin")
    clock = Clock(datetime(2026, 11, 25, 23, 59, 50, tzinfo=berlin).timestamp())
    client = fresh_app(cfg, clock)
    check = client.post("/de/pledge", GOOD)
    clock.advance(5)
    fields = dict(check.forms[0].submit_fields())
    client.post("/de/pledge/confirm", fields)
    from pledgebox.store import Store

    Store(cfg.state_dir).collect(tmp_path / "a.sealed", purge=True)
    clock.advance(60)  # now 2026-11-26
    fresh_app(cfg, clock).post("/de/pledge/confirm", fields)
    Store(cfg.state_dir).collect(tmp_path / "b.sealed", purge=True)
    [a] = read_records(tmp_path / "a.sealed")
    [b] = read_records(tmp_path / "b.sealed")
    opened = [json.loads(identity.open(r.record)) for r in (a, b)]
    assert opened[0] == opened[1] and opened[0]["day"] == "2026-11-25"


def _limited(tmp_path, identity, clock, limits):
    data = tmp_path / "limited"
    data.mkdir()
    (data / "campaign.toml").write_text(campaign_toml([identity]) + "\n[limits]\n" + limits, encoding="utf-8")
    cfg = config.load(data)
    return cfg, fresh_app(cfg, clock)


def test_a_stored_pledge_gets_its_receipt_again_whatever_the_limits(tmp_path, identity, clock):
    cfg, client = _limited(tmp_path, identity, clock, "max_pending = 1\nconfirms_per_minute = 1\n")
    check = client.post("/en/pledge", GOOD)
    clock.advance(5)
    first = check.forms[0].submit()
    again = check.forms[0].submit()  # the answer was lost over Tor: the donor sends it again
    assert again.status_int == 200 and reference_of(again.text) == reference_of(first.text)


def test_a_token_stored_through_another_process_gets_its_receipt_after_a_collect(tmp_path, identity, clock):
    """Two workers on one data folder: the token went through one, its resubmission comes to the
    other after a collect, with the rate limit spent: the same receipt, nothing stored twice."""
    cfg, one = _limited(tmp_path, identity, clock, "confirms_per_minute = 1\n")
    other = fresh_app(cfg, clock)
    other.post("/en/pledge/confirm", {"token": "x"}, status=400)  # the other worker has looked once
    assert other.app.site.store.append("seen-once", b"r")  # ... and stored something before
    check = one.post("/en/pledge", GOOD)
    clock.advance(5)
    first = check.forms[0].submit()
    assert cli.main(["collect", "--data", str(cfg.data_dir), "--out", str(tmp_path / "out.sealed")]) == 0
    assert other.app.site.limit.allow() is True  # its one confirm a minute is used up now
    again = other.post("/en/pledge/confirm", dict(check.forms[0].submit_fields()))
    assert again.status_int == 200 and reference_of(again.text) == reference_of(first.text)
    assert not list(read_records(cfg.state_dir / "pending.sealed"))


def test_a_resubmission_uses_up_no_rate_limit(tmp_path, identity, clock):
    cfg, client = _limited(tmp_path, identity, clock, "confirms_per_minute = 2\n")
    check = client.post("/en/pledge", GOOD)
    clock.advance(5)
    first = check.forms[0].submit()
    for _ in range(5):  # a donor reloading the receipt
        assert reference_of(check.forms[0].submit().text) == reference_of(first.text)
    second = client.post("/en/pledge", GOOD | {"amount": "30"})
    clock.advance(5)
    assert second.forms[0].submit().status_int == 200  # the second of two a minute


def test_the_store_is_capped_in_bytes_too(tmp_path, identity, clock, capsys):
    cfg, client = _limited(tmp_path, identity, clock, "max_pending_mb = 0\n")
    check = client.post("/en/pledge", GOOD | {"message": "kept"})
    clock.advance(5)
    res = check.forms[0].submit(status=503)
    pending = cfg.state_dir / "pending.sealed"
    assert "kept" in res.text and (not pending.exists() or pending.read_bytes() == b"")
    check.forms[0].submit(status=503)
    # The journal learns why pledges are paused, once a minute at most, and nothing the donor sent.
    err = capsys.readouterr().err
    assert err.count("pledgebox: error: pledges are paused") == 1 and "hint: collect them" in err
    assert "kept" not in err and "25" not in err


def test_an_honest_long_message_is_not_a_413(client, clock, cfg, identity):
    message = "漢" * 2000  # at the limit, in 3-byte characters: over 18 KB once URL-encoded
    check = client.post("/en/pledge", GOOD | {"message": message, "contact": "連" * 200, "pseudonym": "名" * 80})
    assert check.status_int == 200
    clock.advance(5)
    check.forms[0].submit()
    [record] = read_records(cfg.state_dir / "pending.sealed")
    assert json.loads(identity.open(record.record))["message"] == message


def test_line_breaks_count_as_one_character_as_in_the_browser(client, clock, cfg, identity):
    message = "abcd\r\n" * 400  # 2,000 characters for the browser's maxlength, 2,400 sent
    check = client.post("/en/pledge", GOOD | {"message": message})
    assert check.status_int == 200
    clock.advance(5)
    check.forms[0].submit()
    [record] = read_records(cfg.state_dir / "pending.sealed")
    assert json.loads(identity.open(record.record))["message"] == message  # kept exactly as sent


@pytest.mark.parametrize(
    "header, gzip",
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("deflate, gzip;q=0.5", True),
        ("gzip;q=0", False),
        ("GZIP;q=0.0", False),
        ("identity", False),
        ("", False),
        ("x-gzip", True),
        ("gzip;q=bogus", False),
    ],
)
def test_accept_encoding(header, gzip):
    assert render.accepts_gzip(header) is gzip


def test_published_totals_are_readable_by_the_server_user(cfg):
    from decimal import Decimal

    from pledgebox import campaign

    path = campaign.write_totals(cfg.state_dir, campaign.Totals(Decimal("10")))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
