"""Shared test helpers: a test campaign.toml, fast test identities' constants, a hand-moved clock, pledging."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time

from pledgebox import cli, pledges, sealing

TEST_IBAN = "DE89370400440532013000"  # the standard example IBAN from bank documentation
FAST_SCRYPT = 2**10
PASSPHRASE = b"correct horse battery staple"
XMR_ADDRESS = (
    "4AdUndXHHZ6cfufTMvppY6JwXNouMBzSkbLYfpAV5Usx3skxNgYeYTRj5UzqtReoS44qo9mt"
    "mXCqY45DJ852K5Jv2684Rge"
)  # a well-formed Monero address


def onion_address(seed: bytes) -> str:
    """A well-formed v3 onion address (valid checksum) for tests; no such service exists."""
    pubkey = hashlib.sha256(seed).digest()
    checksum = hashlib.sha3_256(b".onion checksum" + pubkey + b"\x03").digest()[:2]
    return base64.b32encode(pubkey + checksum + b"\x03").decode().lower() + ".onion"


class Clock:
    """A clock tests move by hand: `clock.advance(5)`."""

    def __init__(self, start: float | None = None):
        self.now = start if start is not None else time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def campaign_toml(recipients: list[sealing.Identity], **camp) -> str:
    """A campaign.toml for tests, sealing to the given identities."""
    fields = {
        "id": "test-campaign",
        "goal": "2500",
        "currency": "EUR",
        "timezone": "Europe/Berlin",
        "deadline": "2026-12-31",
    } | camp
    lines = ["[campaign]"]
    for key, value in fields.items():
        if value is None:
            continue
        lines.append(f"{key} = {value}" if key == "deadline" else f'{key} = "{value}"')
    lines += [
        "",
        "[[groups]]",
        'id = "solidarity-zone"',
        'name = "Solidarity Zone"',
        'url = "https://www.instagram.com/solidarity.zone"',
        "",
        "[[groups]]",
        'id = "abc-irkutsk"',
        'name = "ABC Irkutsk"',
        'url = "https://abc38.noblogs.org/category/главная/"',
        "",
        "[[methods]]",
        'id = "sepa"',
        'kind = "sepa"',
        'beneficiary = "Soli Kasse e.V."',
        f'iban = "{TEST_IBAN}"',
        'bic = "COBADEFFXXX"',
        "",
        "[[methods]]",
        'id = "cash"',
        'kind = "cash"',
        'address = "Postfach 12, 10999 Berlin"',
        "",
        "[[methods]]",
        'id = "xmr"',
        'kind = "crypto"',
        'label = "Monero"',
        f'address = "{XMR_ADDRESS}"',
    ]
    for i, identity in enumerate(recipients):
        lines += [
            "",
            "[[organisers]]",
            f'name = "Organiser {i + 1}"',
            f'recipient = "{identity.recipient.to_string()}"',
            f'signer = "{identity.signer.to_string()}"',
        ]
    return "\n".join(lines) + "\n"


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    """cli.main with string arguments: (exit code, stdout, stderr)."""
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def reference_of(html: str) -> str:
    """The reference code shown on a receipt."""
    match = re.search(r'class="reference"[^>]*>([^<]+)<', html)
    assert match, "no reference on the page"
    return match.group(1)


def pledge_through(client, clock, lang: str = "en", **fields):
    """Fill the form, check, wait like a person, confirm; return the receipt response."""
    values = {"amount": "25", "designation": "split", "method": "sepa"} | fields
    check = client.post(f"/{lang}/pledge", values)
    assert check.status_int == 200, check.text
    clock.advance(5)
    return check.forms[0].submit()


# -- sealed pledges for review and payments ---------------------------------------------------------

CAMPAIGN = "test-campaign"  # the campaign id of the review tests' sealed pledges


def ref(n: int) -> str:
    """A valid reference code for test pledge n."""
    return pledges.make_reference(b"test%d" % n)


def pledge_fields(n: int = 0, **fields) -> dict:
    """A pledge's sealed fields as the web app writes them; fields override."""
    return {
        "reference": ref(n),
        "amount": "25.00",
        "currency": "EUR",
        "designation": "split",
        "method": "sepa",
        "pseudonym": "",
        "contact": "",
        "message": "",
        "language": "en",
        "day": "2026-11-25",
    } | fields


def plaintext(n: int = 0, **fields) -> bytes:
    """A pledge's plaintext as the web app seals it."""
    return json.dumps(pledge_fields(n, **fields), ensure_ascii=False, separators=(",", ":")).encode()


def entry(n: int, amount: str, **fields):
    """A reviewed pledge (review.Entry) of amount with reference ref(n); fields override."""
    from decimal import Decimal

    from pledgebox import review

    doc = pledge_fields(n, amount=amount) | {"campaign": "test-campaign", "record_id": f"r{n}"} | fields
    return review.Entry(**{k: Decimal(v) if k in ("amount", "received") else v for k, v in doc.items()})


def sealed(identities, n: int = 0, **fields) -> bytes:
    """A sealed record of pledge n to the given identities."""
    return sealing.seal(plaintext(n, **fields), [i.recipient for i in identities], CAMPAIGN)


def write_records(path, items) -> None:
    """A collected file: RECORD_ID SP RECORD LF per record."""
    path.write_bytes(b"".join(record_id.encode() + b" " + record + b"\n" for record_id, record in items))


def rows(out: str) -> list[str]:
    """The table lines that show a pledge."""
    return [line for line in out.splitlines() if re.match(r"[0-9A-Z]{5}-[0-9A-Z]{5}  ", line)]
