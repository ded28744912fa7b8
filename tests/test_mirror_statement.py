"""What a mirror's signature binds: campaign, onion address, a growing version, the build and expiry days."""

from __future__ import annotations

import html
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import webtest

from helpers import FAST_SCRYPT, PASSPHRASE, Clock, campaign_toml, onion_address
from helpers import run_cli as run
from pledgebox import config, mirror, statement, verify, web
from support import mirrorkit
from support.mirrorkit import ONION, withheld

data = mirrorkit.data  # the fixture: a campaign with an onion address

OTHER_ONION = onion_address(b"a seized key")


def build_for(tmp_path, identities, name: str, **camp) -> mirror.Build:
    """A copy built from another campaign.toml (another onion address or campaign id)."""
    folder = tmp_path / f"data-{name}"
    folder.mkdir()
    (folder / "campaign.toml").write_text(campaign_toml(identities[:2], **({"onion": ONION} | camp)), encoding="utf-8")
    return mirror.build(config.load(folder), identities[0], tmp_path / f"out-{name}")


def publish(data: Path, built: mirror.Build) -> None:
    mirrorkit.publish(data, built.archive.read_bytes())


def verify_cli(capsys, source, identity, *extra):
    return run(capsys, "mirror", "verify", source, "--signer", identity.signer.to_string(), *extra)


# -- binding: onion address, campaign, expiry ------------------------------------------------


def test_a_copy_for_another_onion_fails_verify_with_onion_and_the_server_refuses_it(capsys, tmp_path, data, identities):
    old = build_for(tmp_path, identities, "old-onion", onion=OTHER_ONION)
    for source in (old.archive, old.folder):
        code, out, err = verify_cli(capsys, source, identities[0], "--onion", ONION)
        assert code == 1 and out == ""
        assert f"made for another campaign or address: it is for {OTHER_ONION}, not {ONION}" in err
        assert "hint: its form would send pledges elsewhere" in err
        assert verify_cli(capsys, source, identities[0], "--onion", f"http://{OTHER_ONION}/")[0] == 0
    publish(data, old)
    err = withheld(capsys, data)
    assert f"it is for {OTHER_ONION}, not {ONION}" in err and "the server does not hand it out" in err


def test_a_copy_for_another_campaign_is_refused_by_the_server(capsys, tmp_path, data, identities):
    other = build_for(tmp_path, identities, "campaign", id="another-campaign")
    publish(data, other)
    assert "campaign another-campaign, not test-campaign" in withheld(capsys, data)


def test_an_expired_copy_fails_verify_and_the_server_refuses_it(capsys, tmp_path, data, identities):
    cfg = config.load(data)
    built_on = statement.utc_today() - timedelta(days=31)
    old = mirror.build(cfg, identities[0], tmp_path / "old", built=built_on)
    expired_on = built_on + timedelta(days=30)
    for source in (old.archive, old.folder):
        code, out, err = verify_cli(capsys, source, identities[0])
        assert code == 1 and out == ""
        assert f"This copy has expired: version 1 expired on {expired_on}" in err and "hint: get the current" in err
    publish(data, old)
    assert "This copy has expired" in withheld(capsys, data)


def test_the_last_valid_day_and_the_first_expired_day(tmp_path, data, identities):
    built_on = statement.utc_today() - timedelta(days=5)
    copy = mirror.build(config.load(data), identities[0], tmp_path / "c", built=built_on, days=6)
    st = verify.verify(copy.archive, [identities[0].signer]).statement
    st.check(built_on + timedelta(days=5))
    with pytest.raises(statement.Expired):
        st.check(built_on + timedelta(days=6))


def test_the_server_stops_handing_out_a_bundle_the_day_it_expires(tmp_path, data, identities):
    today = statement.utc_today()
    copy = mirror.build(config.load(data), identities[0], tmp_path / "c", built=today, days=1)
    publish(data, copy)
    clock = Clock()  # the conftest clock: a fixed moment, advanced by hand
    clock.now = float(date_to_noon(today))
    client = webtest.TestApp(web.build_app(config.load(data), clock=clock))
    assert client.get(mirror.BUNDLE_URL).body == copy.archive.read_bytes()
    assert "The current bundle is version 1" in client.get("/en/mirror").text
    clock.advance(24 * 3600)
    client.get(mirror.BUNDLE_URL, status=404)
    page = client.get("/en/mirror").text
    assert "The current bundle" not in page and mirror.BUNDLE_URL not in page


def date_to_noon(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, 12, tzinfo=UTC).timestamp())


def test_expires_in_sets_the_expiry_and_is_bounded(capsys, tmp_path, data, identities, passfile):
    key = tmp_path / "k.identity"
    identities[0].save(key, PASSPHRASE, scrypt_n=FAST_SCRYPT)
    code, out, err = run(
        capsys,
        "mirror",
        "build",
        tmp_path / "o",
        "--identity",
        key,
        "--passphrase-file",
        passfile,
        "--data",
        data,
        "--expires-in",
        "7",
        "--version",
        "41",
    )
    assert code == 0, err
    st = json.loads((tmp_path / "o" / mirror.NAME / mirror.STATEMENT).read_bytes())
    assert st["version"] == 41 and st["expires"] == (statement.utc_today() + timedelta(days=7)).isoformat()
    argv = ["mirror", "build", tmp_path / "x", "--identity", key, "--passphrase-file", passfile, "--data", data]
    code, _, err = run(capsys, *argv, "--expires-in", "367")
    assert code == 1 and "valid for 1 to 366 days, not 367" in err and "hint: use --expires-in DAYS" in err
    for bad in ("0", "-1", "1.5"):
        with pytest.raises(SystemExit) as exc:
            run(capsys, *argv, "--expires-in", bad)
        assert exc.value.code == 2 and "is not a whole number of at least 1" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_the_apps_mirror_page_says_who_signed_and_shows_the_commands_that_fit(tmp_path, data, identities):
    built_on = date(2026, 11, 20)
    publish(data, mirror.build(config.load(data), identities[1], tmp_path / "b", version=4, built=built_on))
    client = webtest.TestApp(web.build_app(config.load(data), clock=Clock(float(date_to_noon(built_on)))))
    signer = identities[1].signer
    en = html.unescape(client.get("/en/mirror").text)
    assert (
        "The current bundle is version 4, built on 20 November 2026, expires on 20 December 2026, signed by "
        f"Organiser 2 (key fingerprint {signer.fingerprint})."
    ) in en
    assert f"pledgebox mirror verify pledgebox-mirror.tar.gz --signer {signer.to_string()} --onion {ONION}" in en
    pins = " ".join(f"--signer {i.signer.to_string()}" for i in identities[:2])
    assert f"pledgebox mirror pull http://{ONION}/ /var/www/pledgebox-mirror {pins}</pre>" in en
    assert en.count(identities[0].signer.to_string()) == 1  # in pull's pins only: verify names the bundle's signer
    de = html.unescape(client.get("/de/mirror").text)
    assert (
        "Das aktuelle Paket ist Version 4, erstellt am 20. November 2026, läuft am 20. Dezember 2026 ab und ist "
        f"signiert von Organiser 2 (Fingerabdruck des Schlüssels {signer.fingerprint})."
    ) in de
    assert "Eine Kopie aktuell halten" in de and f"--signer {signer.to_string()} --onion {ONION}" in de


# -- versions ------------------------------------------------------------------------------------


def test_the_version_grows_by_itself_and_version_sets_it(tmp_path, data, identities):
    cfg = config.load(data)
    assert mirror.build(cfg, identities[0], tmp_path / "a").statement.version == 1
    assert mirror.build(cfg, identities[1], tmp_path / "b").statement.version == 2
    assert mirror.build(cfg, identities[0], tmp_path / "c", version=10).statement.version == 10
    assert mirror.build(cfg, identities[0], tmp_path / "d").statement.version == 11
    # A lower --version never lowers the counter.
    assert mirror.build(cfg, identities[0], tmp_path / "e", version=3).statement.version == 3
    assert mirror.build(cfg, identities[0], tmp_path / "f").statement.version == 12


def test_the_default_version_is_above_the_published_bundle(tmp_path, data, identities):
    cfg = config.load(data)
    publish(data, mirror.build(cfg, identities[0], tmp_path / "a", version=20))
    (cfg.state_dir / mirror.VERSION_FILE).unlink()  # another organiser's machine: no counter
    assert mirror.build(cfg, identities[0], tmp_path / "b").statement.version == 21


# -- the statement's form ------------------------------------------------------------------------


def good_statement() -> statement.Statement:
    return statement.Statement(
        campaign="c",
        onion=ONION,
        clearnet="",
        version=3,
        built="2026-11-30",
        expires="2026-12-30",
        manifest_sha256="ab" * 32,
        signed_by="Anna",
    )


@pytest.mark.parametrize(
    "change, reason",
    [
        (lambda raw: raw.replace(b'"version":3', b'"version":3.0'), "only whole numbers"),
        (lambda raw: raw.replace(b'"version":3', b'"version":"3"'), "version must be a whole number"),
        (lambda raw: raw.replace(b'"version":3', b'"version":true'), "version must be a whole number"),
        (lambda raw: raw.replace(b'"version":3', b'"version":0'), "version must be a whole number"),
        (lambda raw: raw.replace(b'{"built"', b'{ "built"'), "not in canonical form"),
        (lambda raw: raw.replace(b'"version":3', b'"version":3,"version":4'), "names a field twice"),
        (lambda raw: raw.replace(b'"version":3', b'"version":3,"extra":1'), "exactly the fields"),
        (lambda raw: raw.replace(b'"version":3', b'"version":NaN'), "not JSON"),
        (lambda raw: raw.replace(b'"2026-12-30"', b'"2027-12-31"'), "within a year"),
        (lambda raw: raw.replace(b'"2026-12-30"', b'"2026-11-29"'), "within a year"),
        (lambda raw: raw.replace(b'"2026-12-30"', b'"2026-02-30"'), "not a date"),
        (lambda raw: raw.replace(b'"Anna"', b'"Anna\\u0041"'), "not in canonical form"),
        (lambda raw: raw + b"\n", "not in canonical form"),
        (lambda raw: b"\xef\xbb\xbf" + raw, "not JSON"),
        (lambda raw: raw.replace(b".onion", b".onion.evil.example"), "malformed"),
    ],
)
def test_only_the_canonical_statement_is_read(change, reason):
    raw = good_statement().to_bytes()
    assert statement.parse(raw) == good_statement()
    with pytest.raises(statement.BadStatement, match=reason):
        statement.parse(change(raw))


def test_the_statement_is_canonical_json_with_sorted_keys():
    raw = good_statement().to_bytes()
    assert raw.startswith(b'{"built":"2026-11-30","campaign":"c","clearnet":"","expires":"2026-12-30",')
    assert b" " not in raw and b"\n" not in raw


def test_the_version_counter_is_no_finding_for_audit(capsys, tmp_path, data, identities):
    mirror.build(config.load(data), identities[0], tmp_path / "a")
    assert (data / "state" / mirror.VERSION_FILE).read_text() == "1\n"
    code, out, err = run(capsys, "audit", "--data", data)
    assert code == 0, out + err
