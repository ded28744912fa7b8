"""The pledge flow: form → check → confirm → receipt, and every way it can go wrong."""

import json
import re

import pytest
import webtest

from helpers import TEST_IBAN, campaign_toml, pledge_through, reference_of
from pledgebox import config, pledges, sealing, web
from pledgebox.store import read_records

GOOD = {"amount": "25", "designation": "split", "method": "sepa"}


def sealed_plaintexts(cfg, identity):
    """Open every pending record with identity."""
    path = cfg.state_dir / "pending.sealed"
    if not path.exists():
        return []
    return [json.loads(identity.open(r.record)) for r in read_records(path)]


@pytest.mark.parametrize(
    "lang, amount, shown", [("en", "1,000.50", "€1,000.50"), ("de", "1.000,50", "1.000,50\u00a0€")]
)
def test_whole_flow(client, clock, cfg, identity, lang, amount, shown):
    check = client.post(f"/{lang}/pledge", GOOD | {"amount": amount, "pseudonym": "Fuchs"})
    assert check.status_int == 200
    assert shown in check.text and "Fuchs" in check.text
    assert sealed_plaintexts(cfg, identity) == []  # nothing stored before the confirm
    clock.advance(5)
    receipt = check.forms[0].submit()
    assert receipt.status_int == 200
    assert receipt.headers["Cache-Control"] == "no-store"
    ref = reference_of(receipt.text)
    assert pledges.normalize_reference(ref) == ref
    assert shown in receipt.text
    assert "DE89 3704 0044 0532 0130 00" in receipt.text and "COBADEFFXXX" in receipt.text
    assert re.search(r'<img class="qr" src="data:image/png;base64,[A-Za-z0-9+/=]+"', receipt.text)
    [doc] = sealed_plaintexts(cfg, identity)
    assert doc["reference"] == ref and doc["amount"] == "1000.50" and doc["language"] == lang
    assert doc["day"] == "2026-11-25" and doc["pseudonym"] == "Fuchs" and doc["currency"] == "EUR"
    assert set(doc) == {
        "reference",
        "amount",
        "currency",
        "designation",
        "method",
        "pseudonym",
        "contact",
        "message",
        "language",
        "day",
    }


@pytest.mark.parametrize("method, text", [("cash", "Postfach 12, 10999 Berlin"), ("xmr", "4AdUndXHHZ6cfufTMvppY6Jw")])
def test_other_payment_methods(client, clock, method, text):
    receipt = pledge_through(client, clock, method=method)
    assert text in receipt.text and "data:image/png" not in receipt.text


def test_same_token_twice_same_reference_nothing_new(client, clock, cfg, identity):
    check = client.post("/en/pledge", GOOD)
    clock.advance(5)
    first = check.forms[0].submit()
    second = check.forms[0].submit()
    assert reference_of(first.text) == reference_of(second.text)
    assert len(sealed_plaintexts(cfg, identity)) == 1


def test_two_pledges_two_references(client, clock, cfg, identity):
    a = reference_of(pledge_through(client, clock).text)
    b = reference_of(pledge_through(client, clock).text)
    assert a != b and len(sealed_plaintexts(cfg, identity)) == 2


def test_edit_brings_back_the_filled_form(client):
    check = client.post("/de/pledge", GOOD | {"amount": "12,50", "message": "Grüße"})
    fields = dict(check.forms[0].submit_fields()) | {"edit": "1"}
    # Browsers send "edit" to the button's formaction; text browsers may send it to the form's action.
    for target in ("/de/pledge", "/de/pledge/confirm"):
        edit = client.post(target, fields)
        assert edit.status_int == 200
        assert 'value="12,50"' in edit.text and ">Grüße</textarea>" in edit.text
        assert "Fehler" not in edit.text


@pytest.mark.parametrize(
    "lang, field, value, message",
    [
        ("en", "amount", "", "Enter the amount you want to pledge."),
        ("en", "amount", "abc", "Enter the amount as a number"),
        ("en", "amount", "1.000", "Enter the amount as a number"),  # a German thousand on the English page: ambiguous
        ("de", "amount", "1,000", "Gib den Betrag als Zahl ein"),
        ("de", "amount", "1.5", "Gib den Betrag als Zahl ein"),
        ("en", "amount", "12.345", "Enter the amount as a number"),
        ("en", "amount", "-5", "Enter the amount as a number"),
        ("en", "amount", "0", "The smallest pledge is €1."),
        ("de", "amount", "0,50", "Die kleinste Zusage ist 1\u00a0€."),
        ("en", "amount", "1000000", "The largest pledge here is €100,000."),
        ("en", "amount", "1e5", "Enter the amount as a number"),
        ("en", "amount", "NaN", "Enter the amount as a number"),
        ("en", "amount", "٣٠", "Enter the amount as a number"),
        ("en", "designation", "somebody-else", "Choose who should receive your donation."),
        ("de", "designation", "", "Wähle, wer deine Spende bekommen soll."),
        ("en", "method", "paypal", "Choose how you will pay."),
        ("en", "pseudonym", "x" * 81, "This is too long: at most 80 characters."),
        ("en", "contact", "x" * 201, "This is too long: at most 200 characters."),
        ("de", "message", "ü" * 2001, "Das ist zu lang: höchstens 2000 Zeichen."),
        ("en", "message", "bell \x07", "This contains characters that cannot be stored."),
        ("en", "pseudonym", "nul \x00", "This contains characters that cannot be stored."),
    ],
)
def test_bad_input_gets_a_translated_message_and_a_refilled_form(client, lang, field, value, message):
    values = GOOD | {"pseudonym": "Лиса ü", "message": "keep me"} | {field: value}
    res = client.post(f"/{lang}/pledge", values, status=400)
    assert message in res.text
    assert res.text.count(message) == 2  # once in the summary, once by its field
    assert f'href="#{field}"' in res.text
    assert "<title>" + ("Error: " if lang == "en" else "Fehler: ") in res.text
    if field in ("amount", "pseudonym", "contact", "message") and "\x00" not in value and "\x07" not in value:
        described = (f'aria-describedby="{field}-hint {field}-error"', f'aria-describedby="{field}-error"')
        assert any(attribute in res.text for attribute in described)
        assert 'aria-invalid="true"' in res.text
    if field != "pseudonym":
        assert "Лиса ü" in res.text
    if field != "message":
        assert "keep me" in res.text
    assert "\x00" not in res.text and "\x07" not in res.text  # refilled as U+FFFD: the page stays valid HTML


def test_umlauts_and_cyrillic_survive_a_real_utf8_body(client, clock, cfg, identity):
    # Bottle's forms.get() would hand back latin-1 mojibake; the app must not.
    text = "Grüße aus Иркутск 😀\r\nzweite Zeile"
    body = "amount=25&designation=split&method=sepa&message=" + __import__("urllib.parse").parse.quote(text)
    check = client.post("/de/pledge", body.encode(), content_type="application/x-www-form-urlencoded")
    assert "Grüße aus Иркутск 😀" in check.text
    clock.advance(5)
    check.forms[0].submit()
    assert sealed_plaintexts(cfg, identity)[0]["message"] == text


def test_round_trip_byte_for_byte_to_every_organiser(tmp_path, identities, clock):
    data = tmp_path / "data"
    data.mkdir()
    (data / "campaign.toml").write_text(campaign_toml(identities[:2]), encoding="utf-8")
    cfg = config.load(data)
    client = webtest.TestApp(web.build_app(cfg, clock=clock))
    fields = {"pseudonym": "Ёжик в тумане", "contact": "fuchs@example.org", "message": "Ä\nö\nü 🙂 ß\r\n\tende"}
    pledge_through(client, clock, "de", **fields)
    [record] = list(read_records(cfg.state_dir / "pending.sealed"))
    for organiser in identities[:2]:
        doc = json.loads(organiser.open(record.record))
        assert {k: doc[k] for k in fields} == fields
    with pytest.raises(sealing.NotForThisIdentity):
        identities[2].open(record.record)
    tampered = bytearray(record.record)
    tampered[-10] = ord("A") if tampered[-10] != ord("A") else ord("B")  # inside the last key's ciphertext
    with pytest.raises(sealing.DamagedRecord):
        identities[1].open(bytes(tampered))


@pytest.mark.parametrize("change", ["forged", "other-pledge", "garbage", "empty"])
def test_forged_token_brings_back_the_check_page(client, clock, cfg, identity, change):
    check = client.post("/en/pledge", GOOD | {"message": "still here"})
    form = check.forms[0]
    clock.advance(5)
    token = form["token"].value
    if change == "forged":
        form["token"] = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    elif change == "other-pledge":
        form["amount"] = "26"
    elif change == "garbage":
        form["token"] = "<script>"
    else:
        form["token"] = ""
    res = form.submit(status=400)
    assert "We could not confirm this pledge" in res.text
    assert "still here" in res.text and 'name="token"' in res.text
    assert "<script>" not in res.text
    assert sealed_plaintexts(cfg, identity) == []
    clock.advance(5)
    receipt = res.forms[0].submit()  # the page it brought back works
    assert reference_of(receipt.text)


def test_expired_token_refills_and_works_again(client, clock, cfg, identity):
    check = client.post("/de/pledge", GOOD | {"message": "noch da"})
    clock.advance(cfg.limits.token_max_age + 1)
    res = check.forms[0].submit(status=400)
    assert "abgelaufen" in res.text and "noch da" in res.text
    clock.advance(5)
    assert reference_of(res.forms[0].submit().text)


def test_too_fast_confirm_is_refused_kindly(client, clock, cfg, identity):
    check = client.post("/en/pledge", GOOD)
    res = check.forms[0].submit(status=400)  # no time passed
    assert "very fast" in res.text and sealed_plaintexts(cfg, identity) == []
    clock.advance(5)
    assert reference_of(res.forms[0].submit().text)


def test_honeypot(client, clock, cfg, identity):
    res = client.post("/en/pledge", GOOD | {"website": "http://spam.example", "message": "keep"}, status=400)
    assert "could not be accepted as sent" in res.text and "keep" in res.text
    assert "spam.example" not in res.text
    assert sealed_plaintexts(cfg, identity) == []


def _limited(tmp_path, identity, clock, limits):
    data = tmp_path / "limited"
    data.mkdir()
    (data / "campaign.toml").write_text(campaign_toml([identity]) + "\n[limits]\n" + limits, encoding="utf-8")
    cfg = config.load(data)
    return cfg, webtest.TestApp(web.build_app(cfg, clock=clock))


def test_rate_limit_answers_429_and_keeps_the_pledge(tmp_path, identity, clock):
    cfg, client = _limited(tmp_path, identity, clock, "confirms_per_minute = 1\n")
    pledge_through(client, clock)
    check = client.post("/en/pledge", GOOD | {"message": "wait for me"})
    clock.advance(5)
    res = check.forms[0].submit(status=429)
    assert res.headers["Retry-After"] == "60"
    assert "wait a minute" in res.text and "wait for me" in res.text
    assert len(sealed_plaintexts(cfg, identity)) == 1


def test_full_store_answers_503_and_keeps_the_pledge(tmp_path, identity, clock):
    cfg, client = _limited(tmp_path, identity, clock, "max_pending = 2\n")
    pledge_through(client, clock)
    pledge_through(client, clock)
    check = client.post("/de/pledge", GOOD | {"message": "später"})
    clock.advance(5)
    res = check.forms[0].submit(status=503)
    assert "Retry-After" in res.headers and "Zusagen sind pausiert" in res.text and "später" in res.text
    assert len(sealed_plaintexts(cfg, identity)) == 2


def test_wrong_content_type_is_a_400_not_a_500(client):
    res = client.post("/en/pledge", b'{"amount": 5}', content_type="application/json", status=400)
    assert "Enter the amount" in res.text
    res = client.post("/en/pledge", upload_files=[("message", "a.txt", b"x")], params=GOOD, status=400)
    assert "Enter the amount" in res.text


def test_get_on_post_routes_goes_back_to_the_form(client):
    assert client.get("/en/pledge").headers["Location"].endswith("/en/#pledge")
    assert client.get("/de/pledge/confirm").headers["Location"].endswith("/de/#pledge")


def test_girocode_on_the_receipt_decodes_to_the_epc069_12_payload(client, clock, tmp_path):
    import base64
    import shutil
    import subprocess

    assert shutil.which("zbarimg"), "zbarimg is missing: run scripts/install-system-deps.sh (Debian zbar-tools)"
    receipt = pledge_through(client, clock, "de", amount="1.025,50")
    ref = reference_of(receipt.text)
    uri = re.search(r'<img class="qr" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', receipt.text).group(1)
    (tmp_path / "qr.png").write_bytes(base64.b64decode(uri))
    decoded = subprocess.run(
        ["zbarimg", "-q", "--raw", str(tmp_path / "qr.png")], capture_output=True, text=True, timeout=30
    )
    assert decoded.returncode == 0, decoded.stderr
    assert decoded.stdout.rstrip("\n").split("\n") == [
        "BCD",
        "002",
        "1",
        "SCT",
        "COBADEFFXXX",
        "Soli Kasse e.V.",
        TEST_IBAN,
        "EUR1025.50",
        "",
        "",
        ref,
    ]


def test_girocode_symbol_follows_epc069_12():
    from decimal import Decimal

    from pledgebox import girocode

    qr = girocode.girocode("Soli Kasse e.V.", TEST_IBAN, Decimal("25.5"), "K7M2Q-9XH4C", "COBADEFFXXX")
    assert qr.error == "M" and qr.version <= 13
    longest = girocode.girocode("B" * 200, TEST_IBAN, Decimal("99999.99"), "x" * 300, "COBADEFFXXX")
    assert longest.version <= 13  # names and texts are cut to the standard's 70 and 140 characters
