"""Tests for the append-only store of sealed records."""

import multiprocessing
import stat
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pledgebox import store as store_module
from pledgebox.errors import OutputExists
from pledgebox.store import (
    Damaged,
    Record,
    RecordsUnreadable,
    Store,
    StoreWriteError,
    read_problems,
    read_records,
    scan_records,
)


def _record(n: int) -> bytes:
    """A stand-in for a sealed record: one line of printable ASCII."""
    return b'{"v":1,"c":"test","k":[["0011223344556677","' + str(n).encode() * 40 + b'"]]}'


def _ids(path: Path) -> list[str]:
    """The record ids in a records file, in order."""
    return [r.record_id for r in read_records(path)]


def _append_many(folder: str, prefix: str, count: int, shared: int) -> int:
    """Append count own records and shared common ones from a fresh Store; return how many were stored."""
    store = Store(Path(folder))
    stored = 0
    for i in range(count):
        stored += store.append(f"{prefix}-{i}", _record(i))
        if i < shared:
            stored += store.append(f"shared-{i}", _record(i))
    return stored


@pytest.fixture
def folder(tmp_path):
    """A state folder that does not exist yet."""
    return tmp_path / "data" / "state"


@pytest.fixture
def store(folder):
    """A store in a fresh folder."""
    return Store(folder)


def test_append_and_read(store, folder):
    assert store.append("a1", _record(1)) is True
    assert store.append("b2", _record(2)) is True
    records = list(read_records(folder / "pending.sealed"))
    assert records == [(1, "a1", _record(1)), (2, "b2", _record(2))]
    assert records[0] == Record(line=1, record_id="a1", record=_record(1))
    assert (folder / "pending.sealed").read_bytes() == b"a1 " + _record(1) + b"\nb2 " + _record(2) + b"\n"
    assert store.count() == 2


def test_nothing_is_created_before_the_first_append(store, folder, tmp_path):
    assert store.count() == 0
    assert store.collect(tmp_path / "out.sealed") == 0
    assert not folder.exists()
    assert (tmp_path / "out.sealed").read_bytes() == b""


def test_nothing_is_created_in_an_existing_folder_before_the_first_append(tmp_path):
    store = Store(tmp_path)
    assert store.count() == 0
    assert list(tmp_path.iterdir()) == []


def test_modes_of_what_the_first_append_creates(store, folder):
    store.append("a", _record(1))
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "pending.sealed").stat().st_mode) == 0o600
    assert sorted(p.name for p in folder.iterdir()) == [".lock", "pending.sealed"]


def test_duplicate_id_returns_false_and_writes_nothing(store, folder):
    assert store.append("token-1", _record(1))
    before = (folder / "pending.sealed").read_bytes()
    assert store.append("token-1", _record(2)) is False
    assert (folder / "pending.sealed").read_bytes() == before
    # A fresh process knows the id from the file alone.
    assert Store(folder).append("token-1", _record(3)) is False
    assert (folder / "pending.sealed").read_bytes() == before


def test_duplicate_id_is_refused_after_a_collect(store, folder, tmp_path):
    store.append("token-1", _record(1))
    assert store.collect(tmp_path / "out.sealed") == 1
    assert store.append("token-1", _record(1)) is False
    assert store.count() == 0


@pytest.mark.parametrize("record_id", ["", "has space", "new\nline", "ünïcode", "x" * 257])
def test_bad_record_ids_are_refused(store, folder, record_id):
    with pytest.raises(ValueError):
        store.append(record_id, _record(1))
    assert not (folder / "pending.sealed").exists()


@pytest.mark.parametrize("record", [b"", b"two\nlines", b" leading space", "ä".encode(), b"tab\there", b"cr\r"])
def test_bad_records_are_refused(store, folder, record):
    with pytest.raises(ValueError):
        store.append("id", record)
    assert not (folder / "pending.sealed").exists()


def test_torn_last_line_is_skipped_then_cut_off(store, folder):
    store.append("a", _record(1))
    store.append("b", _record(2))
    pending = folder / "pending.sealed"
    intact = pending.read_bytes()
    # What a power cut in the middle of a write leaves behind.
    with open(pending, "ab") as file:
        file.write(b"c " + _record(3)[:25])
    assert _ids(pending) == ["a", "b"]
    assert read_problems(pending) == [Damaged(3, read_problems(pending)[0].reason)]
    assert "record 3 is damaged" in str(read_problems(pending)[0])
    assert Store(folder).count() == 2
    # The torn record was never acknowledged, so its id may be stored again.
    assert Store(folder).append("c", _record(3))
    assert store.append("d", _record(4))
    assert pending.read_bytes() == intact + b"c " + _record(3) + b"\n" + b"d " + _record(4) + b"\n"
    assert _ids(pending) == ["a", "b", "c", "d"]
    assert read_problems(pending) == []


def test_torn_line_seen_by_the_same_store_is_cut_off(store, folder):
    store.append("a", _record(1))
    store.count()
    with open(folder / "pending.sealed", "ab") as file:
        file.write(b"torn-without-newline")
    assert store.count() == 1
    assert store.append("b", _record(2))
    assert _ids(folder / "pending.sealed") == ["a", "b"]
    assert read_problems(folder / "pending.sealed") == []


def test_damaged_lines_are_reported_by_position(tmp_path):
    path = tmp_path / "collected.sealed"
    path.write_bytes(
        b"a "
        + _record(1)
        + b"\n"
        + b"no-record-here\n"
        + b"b "
        + _record(2)
        + b"\n"
        + b"\xff\xfe garbage\n"
        + b"c "
        + _record(3)
        + b"\n"
        + b"d {cut"
    )
    items = list(scan_records(path))
    kinds = [type(item).__name__ for item in items]
    assert kinds == ["Record", "Damaged", "Record", "Damaged", "Record", "Damaged"]
    assert [r.line for r in read_records(path)] == [1, 3, 5]
    assert [d.line for d in read_problems(path)] == [2, 4, 6]
    assert _ids(path) == ["a", "b", "c"]


def test_missing_records_file(tmp_path):
    with pytest.raises(RecordsUnreadable) as caught:
        list(read_records(tmp_path / "missing.sealed"))
    assert "missing.sealed" in caught.value.message


@settings(max_examples=200, deadline=None)  # a loaded machine stalls file I/O; speed lives in bench/
@given(st.binary(max_size=300))
def test_scan_accounts_for_every_line_of_any_file(content):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "x.sealed")
        path.write_bytes(content)
        items = list(scan_records(path))
    lines = content.count(b"\n") + (1 if content and not content.endswith(b"\n") else 0)
    assert [item.line for item in items] == list(range(1, lines + 1))
    for item in items:
        if isinstance(item, Record):
            assert " " not in item.record_id and b"\n" not in item.record


ids = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20)
records = st.binary(min_size=1, max_size=50).map(lambda b: b"R" + bytes(0x20 + c % 95 for c in b))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(ids, records), max_size=12))
def test_append_then_read_back_any_records(entries):
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder, "state"))
        expected = {}
        for record_id, record in entries:
            stored = store.append(record_id, record)
            assert stored == (record_id not in expected)
            expected.setdefault(record_id, record)
        path = Path(folder, "state", "pending.sealed")
        read = [(r.record_id, r.record) for r in read_records(path)] if expected else []
        assert read == list(expected.items())
        assert store.count() == len(expected)


def test_threads_append_concurrently(store, folder):
    def work(t):
        for i in range(50):
            assert store.append(f"t{t}-{i}", _record(i))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    found = _ids(folder / "pending.sealed")
    assert sorted(found) == sorted(f"t{t}-{i}" for t in range(8) for i in range(50))
    assert read_problems(folder / "pending.sealed") == []
    assert store.count() == 400


def test_threads_with_their_own_stores_never_store_an_id_twice(folder):
    results = []

    def work(t):
        own = Store(folder)
        results.append(sum(own.append(f"same-{i}", _record(i)) for i in range(50)))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results) == 50
    assert sorted(_ids(folder / "pending.sealed")) == sorted(f"same-{i}" for i in range(50))


def test_processes_append_concurrently(folder):
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        stored = pool.starmap(_append_many, [(str(folder), "p0", 100, 30), (str(folder), "p1", 100, 30)])
    found = _ids(folder / "pending.sealed")
    expected = [f"p{p}-{i}" for p in range(2) for i in range(100)] + [f"shared-{i}" for i in range(30)]
    assert sorted(found) == sorted(expected)
    assert sum(stored) == len(expected)
    assert read_problems(folder / "pending.sealed") == []
    assert Store(folder).count() == len(expected)


def test_collect_moves_records_out(store, folder, tmp_path):
    for i in range(5):
        store.append(f"id{i}", _record(i))
    out = tmp_path / "collected-1.sealed"
    assert store.collect(out) == 5
    assert _ids(out) == [f"id{i}" for i in range(5)]
    assert (folder / "pending.sealed").read_bytes() == b""
    assert _ids(folder / "collected.sealed") == [f"id{i}" for i in range(5)]
    assert store.count() == 0
    store.append("id5", _record(5))
    assert store.collect(tmp_path / "collected-2.sealed") == 1
    assert _ids(tmp_path / "collected-2.sealed") == ["id5"]
    assert _ids(folder / "collected.sealed") == [f"id{i}" for i in range(6)]


def test_collect_leaves_a_torn_tail_behind(store, folder, tmp_path):
    store.append("a", _record(1))
    with open(folder / "pending.sealed", "ab") as file:
        file.write(b"b {torn")
    assert store.collect(tmp_path / "out.sealed") == 1
    assert (tmp_path / "out.sealed").read_bytes() == b"a " + _record(1) + b"\n"


def test_collect_while_a_thread_appends(store, folder, tmp_path):
    started = threading.Event()
    total = 300

    def work():
        for i in range(total):
            assert store.append(f"r{i}", _record(i))
            if i == 20:
                started.set()

    thread = threading.Thread(target=work)
    thread.start()
    assert started.wait(timeout=30)
    outs = []
    while thread.is_alive() or not outs:
        out = tmp_path / f"out-{len(outs)}.sealed"
        store.collect(out)
        outs.append(out)
    thread.join()
    last = tmp_path / "out-last.sealed"
    store.collect(last)
    outs.append(last)
    found = [record_id for out in outs for record_id in _ids(out)]
    # The first collect ran while the thread was still appending.
    assert len(_ids(outs[0])) >= 21
    assert sorted(found) == sorted(f"r{i}" for i in range(total))
    assert len(found) == len(set(found)) == total
    assert _ids(folder / "collected.sealed") == found


def test_collect_in_another_process_then_append_here(folder, tmp_path):
    here = Store(folder)
    for i in range(3):
        here.append(f"here-{i}", _record(i))
    there = Store(folder)
    assert there.collect(tmp_path / "out.sealed") == 3
    # Afterwards the file is longer than it was when `here` last looked.
    for i in range(10):
        assert there.append(f"there-{i}", _record(i))
    assert here.append("there-9", _record(9)) is False
    assert here.count() == 10
    assert here.append("here-new", _record(1))
    assert _ids(folder / "pending.sealed") == [f"there-{i}" for i in range(10)] + ["here-new"]


def test_ids_another_process_appended_are_known_after_a_collect(folder, tmp_path):
    """Worker B never read X, which worker A stored, before a collect moved X out: B still knows it."""
    a, b = Store(folder), Store(folder)
    assert b.append("b-first", _record(1))  # b has looked at the store once
    assert a.append("x", _record(2))
    assert Store(folder).collect(tmp_path / "out.sealed") == 2
    assert b.ever_stored("x")
    assert b.append("x", _record(2), max_records=0, max_bytes=0) is False  # known: no StoreFull, nothing written
    assert b.append("x", _record(2)) is False
    assert _ids(folder / "pending.sealed") == []


def test_collect_refuses_an_existing_output(store, folder, tmp_path):
    store.append("a", _record(1))
    out = tmp_path / "out.sealed"
    out.write_bytes(b"older collection\n")
    with pytest.raises(OutputExists) as caught:
        store.collect(out)
    assert caught.value.hint
    assert out.read_bytes() == b"older collection\n"
    assert store.count() == 1
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_collect_failure_leaves_no_temp_file_and_loses_nothing(store, folder, tmp_path, monkeypatch):
    store.append("a", _record(1))
    out_dir = tmp_path / "usb"
    out_dir.mkdir()

    def broken_link(src, dst):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(store_module.os, "link", broken_link)
    with pytest.raises(StoreWriteError):
        store.collect(out_dir / "out.sealed")
    monkeypatch.undo()
    assert list(out_dir.iterdir()) == []
    assert _ids(folder / "pending.sealed") == ["a"]
    assert store.collect(out_dir / "out.sealed") == 1


def test_collect_without_hard_links_falls_back_to_rename(store, tmp_path, monkeypatch):
    store.append("a", _record(1))

    def no_links(src, dst):
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(store_module.os, "link", no_links)
    assert store.collect(tmp_path / "out.sealed") == 1
    assert _ids(tmp_path / "out.sealed") == ["a"]
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_purge_leaves_no_records_behind(store, folder, tmp_path):
    store.append("a", _record(1))
    store.collect(tmp_path / "first.sealed")
    store.append("b", _record(2))
    assert store.collect(tmp_path / "second.sealed", purge=True) == 1
    assert _ids(tmp_path / "second.sealed") == ["b"]
    assert not (folder / "collected.sealed").exists()
    for path in folder.rglob("*.sealed"):
        assert path.read_bytes() == b""
    assert store.append("c", _record(3))
    assert store.count() == 1


def test_count_sees_appends_from_other_stores(folder):
    first, second = Store(folder), Store(folder)
    first.append("a", _record(1))
    assert second.count() == 1
    second.append("b", _record(2))
    assert first.count() == 2
