"""The campaign config refuses to start on anything wrong, naming the key; the example is safe."""

import pytest

from helpers import campaign_toml
from pledgebox import ROOT, config
from pledgebox.errors import ConfigError


@pytest.mark.parametrize(
    "change, key",
    [
        (lambda t: t.replace('goal = "2500"', 'goal = "lots"'), "campaign.goal"),
        (lambda t: t.replace('goal = "2500"', 'goal = "-1"'), "campaign.goal"),
        (lambda t: t.replace('id = "test-campaign"', 'id = "Test Campaign!"'), "campaign.id"),
        (lambda t: t.replace('timezone = "Europe/Berlin"', 'timezone = "Mars/Olympus"'), "campaign.timezone"),
        (lambda t: t.replace("deadline = 2026-12-31", 'deadline = "soon"'), "campaign.deadline"),
        (lambda t: t.replace('currency = "EUR"', 'currency = "USD"'), "campaign.currency"),
        (lambda t: t.replace('kind = "cash"', 'kind = "cheque"'), "methods[1].kind"),
        (lambda t: t.replace('iban = "DE89370400440532013000"', 'iban = ""'), "methods[0].iban"),
        (lambda t: t.replace('label = "Monero"', 'label = ""'), "methods[2].label"),
        (
            lambda t: t.replace('recipient = "pledgebox-recipient-v1:', 'recipient = "pledgebox-recipient-v1:x'),
            "organisers[0].recipient",
        ),
        (lambda t: t.split("[[organisers]]")[0], "organisers"),
        (lambda t: t.replace('url = "https://www.instagram.com/solidarity.zone"', 'url = "http://x"'), "groups[0].url"),
        (lambda t: t + "\n[limits]\nmax_pendng = 5\n", "max_pendng"),
        (lambda t: t + "\n[limits]\nmax_pending = -5\n", "limits.max_pending"),
        (lambda t: t.replace("[campaign]", "[campain]"), "[campaign]"),
        (lambda t: t.replace('goal = "2500"', 'goal = "2500"\nonion = "example.onion"'), "campaign.onion"),
    ],
)
def test_bad_config_names_the_key(write, identity, change, key):
    folder = write(change(campaign_toml([identity])))
    with pytest.raises(ConfigError) as err:
        config.load(folder)
    assert key in err.value.message + err.value.hint
    assert err.value.hint and err.value.exit_code == 78


def test_broken_toml_names_the_file(write):
    folder = write("[campaign\n")
    with pytest.raises(ConfigError) as err:
        config.load(folder)
    assert "campaign.toml" in err.value.message


def test_example_cannot_run_unfilled(write):
    folder = write((ROOT / "data" / "campaign.example.toml").read_text(encoding="utf-8"))
    with pytest.raises(ConfigError) as err:
        config.load(folder)
    assert "still holds the example's placeholder" in err.value.message


@pytest.mark.parametrize(
    "iban, ok",
    [
        ("DE89370400440532013000", True),
        ("GB82WEST12345698765432", True),
        ("DE89370400440532013001", False),
        ("DE00123456781234567800", False),
        ("FILL IN", False),
        ("DE89 3704", False),
    ],
)
def test_iban_check_digits(iban, ok):
    assert config.iban_ok(iban) is ok


def test_a_wrong_iban_or_a_placeholder_is_refused(write, identity):
    text = campaign_toml([identity])
    for bad, key in (
        (text.replace("DE89370400440532013000", "DE89370400440532013001"), "methods[0].iban"),
        (
            text.replace('address = "Postfach 12, 10999 Berlin"', 'address = "FILL IN: an address"'),
            "methods[1].address",
        ),
    ):
        with pytest.raises(ConfigError) as err:
            config.load(write(bad))
        assert key in err.value.message


def test_onion_checksum(write, identity):
    from helpers import onion_address

    good = onion_address(b"x")
    assert config.load(write(campaign_toml([identity], onion=good))).onion == good
    typo = good[:10] + ("a" if good[10] != "a" else "b") + good[11:]
    with pytest.raises(ConfigError) as err:
        config.load(write(campaign_toml([identity], onion=typo)))
    assert "checksum" in err.value.message


def test_missing_file_is_the_demo_or_an_error(tmp_path):
    assert config.load(tmp_path).demo
    with pytest.raises(ConfigError):
        config.load(tmp_path, allow_demo=False)


def test_demo_has_no_real_looking_payment_details():
    cfg = config.load(ROOT / "nonexistent")
    for method in cfg.methods:
        details = " ".join((method.beneficiary, method.iban, method.address))
        assert "DEMO" in details
        assert not method.iban or not method.iban[:2].isalpha() or method.iban.startswith("XX")


def test_the_example_shows_every_limit():
    # Config errors point to the example as showing every key: a limit missing there is a key nobody finds.
    import dataclasses
    import re

    text = (ROOT / "data" / "campaign.example.toml").read_text(encoding="utf-8")
    shown = set(re.findall(r"^#? ?(\w+) = ", text, re.M))
    assert {f.name for f in dataclasses.fields(config.Limits)} <= shown
