"""Crash safety: kill -9 under load, a torn last record, a full disk: no acknowledged pledge is lost."""

from __future__ import annotations

import errno
import html
import http.client
import json
import os
import random
import resource
import threading
import time

import pytest
import webtest

from helpers import campaign_toml, reference_of
from pledgebox import config, web
from pledgebox.i18n import catalogs
from pledgebox.store import PENDING, Damaged, Store, read_problems, read_records, scan_records
from support.serverproc import (
    LIMITS_FOR_LOAD,
    Client,
    PledgeRefused,
    Server,
    hidden_fields,
    stored_plaintexts,
    write_campaign,
)

KILLS = 6
CLIENTS = 8


def fields_for(n: int) -> dict:
    """A pledge whose message names it, so the organisers' copy can be matched to what was sent."""
    return {
        "amount": str(10 + n % 90),
        "designation": "split",
        "method": ("sepa", "cash")[n % 2],
        "pseudonym": f"Ёжик {n}",
        "message": f"crash-test pledge {n}: Grüße",
    }


def opened(data, identity) -> dict[str, dict]:
    """Every complete record in the store, opened: reference -> plaintext."""
    docs = [json.loads(identity.open(item.record)) for item in read_records(data / "state" / PENDING)]
    return {doc["reference"]: doc for doc in docs}


@pytest.mark.slow
def test_kill_9_at_random_moments_loses_no_acknowledged_pledge(tmp_path, identity):
    data = write_campaign(tmp_path / "data", campaign_toml([identity]) + LIMITS_FOR_LOAD)
    server = Server(data, log_dir=tmp_path).start()
    acknowledged: dict[str, int] = {}
    lock = threading.Lock()
    stop = threading.Event()
    counter = iter(range(10**9))

    def worker() -> None:
        client = Client(server.host, timeout=5)
        while not stop.is_set():
            with lock:
                n = next(counter)
            try:
                reference = client.pledge("en", fields_for(n))
            except (OSError, http.client.HTTPException, PledgeRefused):
                # The server died under us: no receipt, so nothing was promised.
                client.close()
                time.sleep(0.02)
                continue
            with lock:
                acknowledged[reference] = n
        client.close()

    threads = [threading.Thread(target=worker) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    rng = random.Random(os.environ.get("CRASH_SEED", "pledgebox"))
    try:
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.2, 1.5))
            before = len(acknowledged)
            server.kill()
            # Receipts that were on their way when the process died still count: they were fsynced.
            server.start()
            assert len(acknowledged) >= before
            # The restarted server appends after whatever the crash left.
            with Client(server.host) as visitor:
                assert visitor.pledge("de", fields_for(10**8 + _))
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        server.stop()
    assert not any(thread.is_alive() for thread in threads)
    assert len(acknowledged) > 50, "the clients barely got through; the test proved nothing"
    # The appends after each restart cut off any torn record: the store is clean.
    assert read_problems(data / "state" / PENDING) == []
    # What the organisers find with `collect` and `review`.
    stored = {doc["reference"]: doc for doc in stored_plaintexts(data, identity, tmp_path / "collected.sealed")}
    missing = [ref for ref in acknowledged if ref not in stored]
    assert missing == [], f"{len(missing)} acknowledged pledges were lost"
    for reference, n in acknowledged.items():
        assert stored[reference]["message"] == fields_for(n)["message"]
    assert server.output().count(b"Traceback") == 0


@pytest.fixture
def app_for(tmp_path, identity, clock):
    """A fresh in-process app (as after a restart) on one data folder."""
    data = write_campaign(tmp_path / "data", campaign_toml([identity]))

    def make() -> webtest.TestApp:
        return webtest.TestApp(web.build_app(config.load(data), clock=clock))

    make.data = data
    return make


def pledge_in_process(client, clock, n: int):
    check = client.post("/en/pledge", fields_for(n))
    assert check.status_int == 200
    clock.advance(5)
    return check, check.forms[0].submit(expect_errors=True)


def test_a_torn_last_record_is_skipped_and_the_next_append_succeeds(app_for, clock, identity):
    client = app_for()
    references = [reference_of(pledge_in_process(client, clock, n)[1].text) for n in range(3)]
    pending = app_for.data / "state" / PENDING
    whole = pending.read_bytes()
    last = whole.splitlines(keepends=True)[-1]
    # What a power cut in the middle of a write leaves: part of a record, no newline.
    with open(pending, "ab") as file:
        file.write(last[: len(last) // 2])
    items = list(scan_records(pending))
    assert [type(item) for item in items] == [type(items[0])] * 3 + [Damaged]
    assert set(opened(app_for.data, identity)) == set(references)

    restarted = app_for()
    references.append(reference_of(pledge_in_process(restarted, clock, 3)[1].text))
    assert read_problems(pending) == []
    assert set(opened(app_for.data, identity)) == set(references)
    assert pending.read_bytes().startswith(whole)


def test_a_torn_record_from_another_process_is_cut_by_this_one(app_for, clock, identity):
    client = app_for()
    first = reference_of(pledge_in_process(client, clock, 0)[1].text)
    pending = app_for.data / "state" / PENDING
    with open(pending, "ab") as file:
        file.write(b"c2VhbGVk " + b'{"v":1,"c":"test-campaign","k":[["00112233')
    # The same, still running process appends next: it must notice the tail it did not write.
    second = reference_of(pledge_in_process(client, clock, 1)[1].text)
    assert read_problems(pending) == []
    assert set(opened(app_for.data, identity)) == {first, second}


def _failing(real, name: str, pending_name: str):
    """os.write or os.fsync that fails with ENOSPC on the pledge store only, like a full disk."""

    def fake(fd, *args):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = ""
        if target.endswith(pending_name):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, *args)

    fake.__name__ = name
    return fake


@pytest.mark.parametrize("call", ["write", "fsync"])
def test_a_full_disk_gives_a_clear_error_keeps_the_input_and_shows_no_receipt(
    app_for, clock, identity, monkeypatch, call
):
    client = app_for()
    check = client.post("/de/pledge", fields_for(7) | {"message": "Bitte <b>nicht</b> verlieren: Ё"})
    clock.advance(5)
    form = check.forms[0]
    with monkeypatch.context() as patch:
        patch.setattr(os, call, _failing(getattr(os, call), call, PENDING))
        failed = form.submit(expect_errors=True)
    assert failed.status_int == 503
    assert 'class="reference"' not in failed.text
    assert html.escape(catalogs()["de"]("errors.store_failed_text"), quote=False) in failed.text
    # Everything the donor typed comes back, with the same token, ready to confirm again.
    assert dict(hidden_fields(failed.body)) == dict(hidden_fields(check.body))
    pending = app_for.data / "state" / PENDING
    assert Store(app_for.data / "state").count() == 0
    assert not pending.exists() or pending.read_bytes() == b""

    # Space freed: the same confirm now stores the pledge, once.
    done = failed.forms[0].submit()
    assert done.status_int == 200
    reference = reference_of(done.text)
    stored = opened(app_for.data, identity)
    assert list(stored) == [reference]
    assert stored[reference]["message"] == "Bitte <b>nicht</b> verlieren: Ё"
    assert read_problems(pending) == []


@pytest.mark.slow
def test_a_file_size_limit_on_the_real_server_refuses_cleanly(tmp_path, identity):
    """A real process hitting a real write error (RLIMIT_FSIZE: EFBIG and short writes) mid-record."""
    data = write_campaign(tmp_path / "data", campaign_toml([identity]) + LIMITS_FOR_LOAD)
    with Server(data, log_dir=tmp_path) as server, Client(server.host) as client:
        first = client.pledge("en", fields_for(0))
        record_size = (data / "state" / PENDING).stat().st_size
        # Room for one more whole record and half of the next: the third write is cut short.
        soft, hard = resource.prlimit(server.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(server.pid, resource.RLIMIT_FSIZE, (int(record_size * 2.5), hard))
        second = client.pledge("en", fields_for(1))
        hidden = client.check("en", fields_for(2))
        status, _, body = client.post("/en/pledge/confirm", hidden)
        assert status == 503, (status, server.output()[-2000:])
        assert b'class="reference"' not in body
        assert hidden_fields(body) == hidden
        assert read_problems(data / "state" / PENDING) == []
        # The disk has room again: confirming the kept form stores it.
        resource.prlimit(server.pid, resource.RLIMIT_FSIZE, (soft, hard))
        third = client.confirm("en", hidden)
        assert server.proc.poll() is None
    assert set(opened(data, identity)) == {first, second, third}
    assert read_problems(data / "state" / PENDING) == []
