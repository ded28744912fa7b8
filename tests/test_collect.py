"""`collect`: sealed records move out of the server into one new file, atomically; --purge leaves nothing."""

from __future__ import annotations

import errno
import os
import stat
import threading

import pytest

from pledgebox import cli, sealing
from pledgebox import store as store_module
from pledgebox.store import Store, read_records


@pytest.fixture
def state(data_dir):
    """The server's state folder for the test campaign."""
    return data_dir / "state"


def sealed(identity, n: int) -> bytes:
    """A real sealed record (its plaintext need not be a pledge here)."""
    return sealing.seal(b'{"n": %d}' % n, [identity.recipient], "test-campaign")


def collect(data_dir, out, *extra) -> int:
    return cli.main(["collect", "--data", str(data_dir), "--out", str(out), *map(str, extra)])


def ids(path) -> list[str]:
    return [r.record_id for r in read_records(path)]


def test_collect_moves_every_record_into_a_new_private_file(data_dir, state, identity, tmp_path, capsys):
    store = Store(state)
    records = {f"id-{i}": sealed(identity, i) for i in range(5)}
    for record_id, record in records.items():
        assert store.append(record_id, record)
    out = tmp_path / "first.sealed"
    assert collect(data_dir, out) == 0
    printed = capsys.readouterr()
    assert {r.record_id: r.record for r in read_records(out)} == records
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert "Collected 5 sealed records" in printed.out
    # Counts only: never a record id, never ciphertext.
    assert not any(record_id in printed.out + printed.err for record_id in records)
    assert '"k"' not in printed.out and "v1" not in printed.out
    assert Store(state).count() == 0
    # A second collect finds nothing new, and says so.
    again = tmp_path / "second.sealed"
    assert collect(data_dir, again) == 0
    assert "Collected 0 sealed records" in capsys.readouterr().out
    assert again.read_bytes() == b""


def test_collect_refuses_an_existing_out_file(data_dir, state, identity, tmp_path, capsys):
    store = Store(state)
    store.append("a", sealed(identity, 1))
    out = tmp_path / "old.sealed"
    out.write_bytes(b"keep me\n")
    assert collect(data_dir, out) == 1
    err = capsys.readouterr().err
    assert err.startswith("pledgebox: error: The output file already exists")
    assert "pledgebox: hint:" in err
    assert out.read_bytes() == b"keep me\n"
    assert Store(state).count() == 1


def test_purge_leaves_no_sealed_record_on_the_server(data_dir, state, identity, tmp_path, capsys):
    store = Store(state)
    for i in range(3):
        store.append(f"early-{i}", sealed(identity, i))
    assert collect(data_dir, tmp_path / "1.sealed") == 0
    # Without --purge the server keeps a sealed safety copy.
    assert len(ids(state / store_module.COLLECTED)) == 3
    for i in range(4):
        store.append(f"late-{i}", sealed(identity, i))
    capsys.readouterr()
    assert collect(data_dir, tmp_path / "2.sealed", "--purge") == 0
    out = capsys.readouterr().out
    assert "Collected 4 sealed records" in out
    assert "Purged" in out and "3 collected earlier" in out
    assert sorted(ids(tmp_path / "2.sealed")) == [f"late-{i}" for i in range(4)]
    assert not (state / store_module.COLLECTED).exists()
    assert [p.name for p in state.glob("*.sealed") if p.stat().st_size] == []
    assert Store(state).count() == 0


def test_a_failed_collect_leaves_no_output_and_loses_nothing(data_dir, state, identity, tmp_path, monkeypatch, capsys):
    store = Store(state)
    for i in range(3):
        store.append(f"id-{i}", sealed(identity, i))
    real_fsync = os.fsync

    def failing_fsync(fd):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(store_module.os, "fsync", failing_fsync)
    out_folder = tmp_path / "usb"
    out_folder.mkdir()
    out = out_folder / "pledges.sealed"
    assert collect(data_dir, out) == 1
    monkeypatch.setattr(store_module.os, "fsync", real_fsync)
    assert "pledgebox: error:" in capsys.readouterr().err
    assert list(out_folder.iterdir()) == []  # no partial file, no temporary file
    assert Store(state).count() == 3
    assert collect(data_dir, out) == 0
    assert sorted(ids(out)) == ["id-0", "id-1", "id-2"]


def test_collect_into_a_missing_folder_is_an_error(data_dir, state, identity, tmp_path, capsys):
    Store(state).append("a", sealed(identity, 1))
    assert collect(data_dir, tmp_path / "nowhere" / "x.sealed") == 2
    err = capsys.readouterr().err
    assert "pledgebox: error:" in err and "does not exist" in err and "mounted" in err
    assert Store(state).count() == 1


def test_a_pending_file_copied_without_its_lock_is_still_collected(data_dir, state, identity, tmp_path, capsys):
    # `cp state/* elsewhere/state/` skips the dotfile .lock: the pledges in pending.sealed must not read as none.
    store = Store(state)
    records = {f"id-{i}": sealed(identity, i) for i in range(3)}
    for record_id, record in records.items():
        assert store.append(record_id, record)
    (state / store_module.LOCK).unlink()
    out = tmp_path / "copied.sealed"
    assert collect(data_dir, out) == 0
    assert "Collected 3 sealed records" in capsys.readouterr().out
    assert {r.record_id: r.record for r in read_records(out)} == records


def test_collect_before_any_pledge_writes_an_empty_file(data_dir, tmp_path, capsys):
    out = tmp_path / "empty.sealed"
    assert collect(data_dir, out) == 0
    assert out.read_bytes() == b""
    assert "Collected 0 sealed records" in capsys.readouterr().out


def test_pledges_arriving_during_collects_are_neither_lost_nor_duplicated(data_dir, state, identity, tmp_path, capsys):
    writers, per_phase = 4, 30
    record = sealed(identity, 0)  # the content is irrelevant to the store; ids tell records apart
    stored: list[str] = []
    lock = threading.Lock()
    errors: list[BaseException] = []
    # Phases make sure collects run while pledges arrive, and that more than one collect gets some.
    phase = threading.Barrier(writers + 1, timeout=60)

    def write(n: int) -> None:
        # Each writer has its own Store, like a separate server process sharing the folder.
        store = Store(state)
        try:
            for part in range(3):
                for i in range(per_phase):
                    record_id = f"w{n}-{part}-{i}"
                    assert store.append(record_id, record)
                    with lock:
                        stored.append(record_id)
                if part < 2:
                    phase.wait()
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)
            phase.abort()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    outputs = []

    def collect_round() -> None:
        out = tmp_path / f"round-{len(outputs)}.sealed"
        assert collect(data_dir, out) == 0
        outputs.append(out)

    phase.wait()
    collect_round()  # while the second phase arrives
    phase.wait()
    for _ in range(50):  # bounded: collect while the third phase arrives
        collect_round()
        if not any(t.is_alive() for t in threads):
            break
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()
    final = tmp_path / "final.sealed"
    assert collect(data_dir, final, "--purge") == 0
    outputs.append(final)
    assert not errors
    collected = [record_id for out in outputs for record_id in ids(out)]
    assert len(collected) == len(set(collected)), "a record was collected twice"
    assert sorted(collected) == sorted(stored), "a record was lost"
    assert len(stored) == writers * per_phase * 3
    # More than one collect actually took records: the race was exercised.
    assert sum(1 for out in outputs if out.stat().st_size) >= 2
    capsys.readouterr()


def test_a_missing_data_folder_is_an_error_not_an_empty_file(tmp_path, capsys):
    out = tmp_path / "x.sealed"
    assert collect(tmp_path / "typo", out) == 2
    assert "there is no data folder" in capsys.readouterr().err
    assert not out.exists()
