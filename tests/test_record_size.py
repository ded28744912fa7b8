"""Every sealed record has the same size: the longest pledge in any script, the shortest, all alike."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import pledge_through
from pledgebox import audit, plaintext, pledges, sealing
from pledgebox.i18n import catalogs
from pledgebox.store import PENDING, read_records

# One character of each UTF-8 width, and the two that JSON writes with an escape (CRLF counts as one).
WIDTHS = {"1-byte": "a", "2-byte": "Ж", "3-byte": "€", "4-byte": "\U0001f54a", "CRLF": "\r\n", "quote": '"'}
FREE = ("pseudonym", "contact", "message")


def stored_lines(cfg) -> list[bytes]:
    """Every stored line of the pending store, as it is on disk."""
    return (cfg.state_dir / PENDING).read_bytes().splitlines()


def test_the_longest_pledges_in_every_width_and_the_shortest_store_lines_of_one_length(client, clock, cfg, identity):
    for char in WIDTHS.values():
        receipt = pledge_through(
            client,
            clock,
            amount=f"{cfg.limits.max_amount:,.2f}",
            **{name: char * pledges.MAX_LENGTH[name] for name in FREE},
        )
        assert receipt.status_int == 200, receipt.text
    assert pledge_through(client, clock, amount="1").status_int == 200
    lines = stored_lines(cfg)
    assert len(lines) == len(WIDTHS) + 1
    assert len({len(line) for line in lines}) == 1
    opened = [json.loads(identity.open(r.record)) for r in read_records(cfg.state_dir / PENDING)]
    assert [doc["message"] for doc in opened[:-1]] == [c * pledges.MAX_LENGTH["message"] for c in WIDTHS.values()]
    assert audit.scan(cfg.data_dir).clean


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("field", FREE)
def test_one_character_more_than_a_limit_is_refused(client, clock, cfg, field, width):
    limit = pledges.MAX_LENGTH[field]
    res = client.post(
        "/en/pledge",
        {"amount": "25", "designation": "split", "method": "sepa", field: WIDTHS[width] * (limit + 1)},
        status=400,
    )
    assert f"at most {limit}" in res.text
    assert not (cfg.state_dir / PENDING).exists() or stored_lines(cfg) == []
    at_limit = client.post(
        "/en/pledge", {"amount": "25", "designation": "split", "method": "sepa", field: WIDTHS[width] * limit}
    )
    assert at_limit.status_int == 200


def test_an_amount_one_character_too_long_is_refused(client):
    res = client.post(
        "/en/pledge",
        {"amount": "9" * (pledges.MAX_LENGTH["amount"] + 1), "designation": "split", "method": "sepa"},
        status=400,
    )
    assert f"at most {pledges.MAX_LENGTH['amount']}" in res.text


def largest_pledge(char: str) -> pledges.Pledge:
    """Every field at its limit in one character, the amount at its longest."""
    return pledges.Pledge(
        amount=Decimal("9" * pledges.MAX_LENGTH["amount"]),
        language="de",
        **{name: char * pledges.MAX_LENGTH[name] for name in pledges.FIELDS if name != "amount"},
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_the_one_size_holds_the_largest_pledge_exactly(identity, width):
    sealed_text = largest_pledge(WIDTHS[width]).plaintext("K7M2Q-9XH4V", "EUR", date(2026, 11, 25))
    assert len(sealed_text) <= plaintext.PADDED_SIZE - 1
    if width in ("4-byte", "CRLF"):  # the widest characters fill it to the byte: no size was guessed
        assert len(sealed_text) == plaintext.PADDED_SIZE - 1 == plaintext.largest()
    assert identity.open(sealing.seal(sealed_text, [identity.recipient], "test-campaign")) == sealed_text


def test_the_size_changes_only_with_the_old_one_kept():
    # Derived from the field limits; pinned here so that changing a limit is noticed: records sealed
    # before must still open, so the old size goes into sealing.OLDER_SIZES.
    assert plaintext.PADDED_SIZE == 9629, "a field limit changed: add 9629 to sealing.OLDER_SIZES, then update this"


def test_a_plaintext_one_byte_over_the_size_is_refused():
    with pytest.raises(sealing.PlaintextTooLarge):
        sealing.pad(bytes(plaintext.PADDED_SIZE))
    assert len(sealing.pad(bytes(plaintext.PADDED_SIZE - 1))) == plaintext.PADDED_SIZE


# Any character validation lets through (control characters other than tab and line breaks are refused).
_ANY_CHAR = st.one_of(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs"), exclude_characters="\ufffd"),
    st.just("\r\n"),
    st.sampled_from('"\\\t\r\n'),
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)  # cfg is only read
@given(
    st.fixed_dictionaries({name: st.lists(_ANY_CHAR, max_size=pledges.MAX_LENGTH[name]).map("".join) for name in FREE}),
    st.sampled_from(["1", "9" * 24, "1.000.000,99", "999999999999999999999,99"]),
)
def test_every_valid_pledge_fits_the_one_size(cfg, values, amount):
    config = dataclasses.replace(cfg, limits=dataclasses.replace(cfg.limits, max_amount=Decimal("1e30")))
    pledge, errors = pledges.validate(
        values | {"amount": amount, "designation": "solidarity-zone", "method": "sepa"}, "de", config, catalogs()["de"]
    )
    assert errors == {}
    sealed_text = pledge.plaintext("K7M2Q-9XH4V", "EUR", date(2026, 11, 25))
    assert len(sealed_text) < plaintext.PADDED_SIZE


def test_audit_flags_a_record_of_another_size(data_dir, identity):
    state = data_dir / "state"
    state.mkdir(mode=0o700)
    doc = json.dumps({"message": "x"}).encode()
    right = sealing.seal(doc, [identity.recipient], "test-campaign")
    legacy = sealing.seal(doc, [identity.recipient], "test-campaign", size=sealing.OLDER_SIZES[0])
    longer = sealing.seal(doc, [identity.recipient], "test-campaign", size=plaintext.PADDED_SIZE + 1)
    (state / PENDING).write_bytes(b"a " + right + b"\nb " + legacy + b"\nc " + longer + b"\n")
    (state / PENDING).chmod(0o600)
    report = audit.scan(data_dir)
    # An earlier version's size is a real pledge to collect, not something to delete; any other size is foreign.
    assert [(f.kind, f.line) for f in report.findings] == [("older-record-size", 2), ("record-size", 3)]
    assert identity.open(legacy) == doc  # records sealed before the one size still open for review
