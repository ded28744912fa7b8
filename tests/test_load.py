"""Load without loss: 32 concurrent clients, 2,000 complete pledges, every one found byte for byte."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from helpers import campaign_toml
from pledgebox.store import read_problems
from support.serverproc import LIMITS_FOR_LOAD, Client, Server, stored_plaintexts, write_campaign

PLEDGES = 2000
CLIENTS = 32
GROUPS = ("split", "solidarity-zone", "abc-irkutsk")
METHODS = ("sepa", "cash", "xmr")


def pledge_fields(i: int) -> tuple[str, dict]:
    """The i-th pledge: its language and fields, each distinctive and full of non-ASCII text."""
    lang = "de" if i % 2 else "en"
    euros, cents = 1 + (i * 37) % 4000, i % 100
    amount = f"{euros:,}.{cents:02d}" if lang == "en" else f"{euros:,}".replace(",", ".") + f",{cents:02d}"
    return lang, {
        "amount": amount,
        "designation": GROUPS[i % 3],
        "method": METHODS[(i // 3) % 3],
        "pseudonym": f"Пётр №{i} Müßig" if i % 5 else "",
        "contact": f"signal: +49 151 {i:07d} · ✉ ö{i}@example.org" if i % 7 else "",
        "message": f'Свободу политзаключённым! #{i}\r\nGrüße aus Köln 🕊 <b>{i}</b> & "quotes"\ttab',
    }


def expected_amount(i: int) -> str:
    euros, cents = 1 + (i * 37) % 4000, i % 100
    return f"{Decimal(euros) + Decimal(cents) / 100:.2f}"


def run_clients(servers: list[Server], count: int) -> dict[str, int]:
    """`count` pledges from CLIENTS threads spread over the servers; reference -> pledge number."""
    acknowledged: dict[str, int] = {}
    lock = threading.Lock()
    numbers = iter(range(count))

    def worker(w: int) -> None:
        client = Client(servers[w % len(servers)].host)
        try:
            while True:
                with lock:
                    i = next(numbers, None)
                if i is None:
                    return
                lang, fields = pledge_fields(i)
                reference = client.pledge(lang, fields)
                with lock:
                    assert reference not in acknowledged, "two pledges got the same reference"
                    acknowledged[reference] = i
        finally:
            client.close()

    with ThreadPoolExecutor(CLIENTS) as pool:
        for future in [pool.submit(worker, w) for w in range(CLIENTS)]:
            future.result()
    return acknowledged


def assert_all_found(data, identity, out, acknowledged: dict[str, int]) -> None:
    """The organisers find exactly the acknowledged pledges, each exactly as its client sent it."""
    assert read_problems(data / "state" / "pending.sealed") == []
    found = stored_plaintexts(data, identity, out)
    assert len(found) == len(acknowledged)
    by_reference = {doc["reference"]: doc for doc in found}
    assert by_reference.keys() == acknowledged.keys()
    for reference, i in acknowledged.items():
        lang, fields = pledge_fields(i)
        doc = by_reference[reference]
        for name in ("pseudonym", "contact", "message", "designation", "method"):
            assert doc[name].encode("utf-8") == fields[name].encode("utf-8"), (i, name)
        assert doc["amount"] == expected_amount(i)
        assert doc["language"] == lang
        assert doc["currency"] == "EUR"


@pytest.mark.slow
def test_2000_pledges_from_32_clients_are_all_found(tmp_path, identity):
    data = write_campaign(tmp_path / "data", campaign_toml([identity]) + LIMITS_FOR_LOAD)
    with Server(data, log_dir=tmp_path) as server:
        acknowledged = run_clients([server], PLEDGES)
        assert server.proc.poll() is None, "the server died under load"
    assert len(acknowledged) == PLEDGES
    assert_all_found(data, identity, tmp_path / "collected.sealed", acknowledged)


@pytest.mark.slow
def test_two_server_processes_share_one_data_folder(tmp_path, identity):
    data = write_campaign(tmp_path / "data", campaign_toml([identity]) + LIMITS_FOR_LOAD)
    with Server(data, log_dir=tmp_path) as one, Server(data, log_dir=tmp_path) as two:
        acknowledged = run_clients([one, two], PLEDGES)
        assert one.proc.poll() is None and two.proc.poll() is None
    assert len(acknowledged) == PLEDGES
    assert_all_found(data, identity, tmp_path / "collected.sealed", acknowledged)
