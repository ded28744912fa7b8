"""File times never date a pledge: a while after it, no time under the data folder is near its moment."""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path

import pytest
import webtest

from helpers import campaign_toml, pledge_through
from pledgebox import audit, filetimes, web
from pledgebox.store import PENDING
from support.serverproc import LIMITS_FOR_LOAD, Client, Server, write_campaign

# The acceptance numbers: 75 s after a pledge, no time within 30 s after it; beats every 30 s.
QUIET, WINDOW = 75.0, 30.0


def every_time(data: Path) -> dict[str, tuple[int, int, int]]:
    """(access, modification, change) time in ns of the data folder and everything under it."""
    found = {".": _times(data)}
    for root, dirs, names in os.walk(data):
        for name in dirs + names:
            path = Path(root, name)
            found[path.relative_to(data).as_posix()] = _times(path)
    return found


def _times(path: Path) -> tuple[int, int, int]:
    st = path.lstat()
    return st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns


def assert_nothing_dates(data: Path, started: int, ended: int, window: float) -> None:
    """No time of any path falls between the pledge's start and window seconds after its end."""
    late = ended + int(window * 1e9)
    times = every_time(data)
    assert f"state/{PENDING}" in times
    dated = {path: t for path, t in times.items() if any(started <= x <= late for x in t)}
    assert not dated, f"these times date the pledge: {sorted(dated)}"
    assert all(filetimes.is_day_start(mtime / 1e9) for _, mtime, _ in times.values())


def test_a_pledge_leaves_no_time_near_it_once_a_beat_has_passed(tmp_path, cfg, clock):
    # The same property as the numbers, on a 1 s beat: wait 2.5 beats, no time within one beat.
    beat = 1.0
    client = webtest.TestApp(web.build_app(cfg, clock=clock, heartbeat=beat))
    client.get("/en/")
    started = time.time_ns()
    assert pledge_through(client, clock, message="время").status_int == 200
    ended = time.time_ns()
    assert (cfg.state_dir / PENDING).stat().st_ctime_ns >= started  # the append did date it, for now
    time.sleep(QUIET / 30 * beat)
    assert_nothing_dates(cfg.data_dir, started, ended, WINDOW / 30 * beat)
    # And audit on this live folder agrees.
    report = audit.scan(cfg.data_dir)
    assert report.clean, [str(f) for f in report.findings]


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_75_seconds_after_a_pledge_no_time_under_data_falls_within_30_seconds_of_it(tmp_path, identity, workers):
    data = write_campaign(tmp_path / "data", campaign_toml([identity]) + LIMITS_FOR_LOAD)
    with Server(data, log_dir=tmp_path, args=("--workers", str(workers))) as server:
        started = time.time_ns()
        with Client(server.host) as donor:
            donor.pledge("en", {"amount": "5", "designation": "split", "method": "cash", "message": "время"})
        ended = time.time_ns()
        time.sleep(QUIET)
        assert_nothing_dates(data, started, ended, WINDOW)
        report = audit.scan(data)
        assert report.clean, [str(f) for f in report.findings]
        server.stop()


def test_audit_finds_a_fine_time_older_than_a_beat_and_notes_a_recent_one(tmp_path, cfg, clock):
    client = webtest.TestApp(web.build_app(cfg, clock=clock, heartbeat=3600))  # no beat during this test
    pledge_through(client, clock)
    fresh = audit.scan(cfg.data_dir)
    assert not [f for f in fresh.findings if f.kind == "file-time"]
    assert any("changed within the last heartbeat" in note for note in fresh.notes)
    later = audit.scan(cfg.data_dir, now=time.time() + audit.RECENT + 1)
    assert {f.path for f in later.findings if f.kind == "file-time"} >= {f"state/{PENDING}", "state"}
    filetimes.blur(cfg.data_dir)
    assert not [f for f in audit.scan(cfg.data_dir, now=time.time() + 3600).findings if f.kind == "file-time"]


def test_blur_sets_every_time_to_the_start_of_the_day_and_leaves_symlinks_alone(tmp_path):
    outside = tmp_path / "outside"
    outside.write_text("not ours to touch")
    before = outside.stat().st_mtime_ns
    data = tmp_path / "data"
    (data / "state" / "deep").mkdir(parents=True)
    (data / "state" / "deep" / "f").write_text("x")
    (data / "link").symlink_to(outside)
    now = 1795604400.5  # 2026-11-25 11:00:00.5 UTC
    assert filetimes.blur(data, now=now) == 4  # data, state, deep, f
    for path in (data, data / "state", data / "state" / "deep", data / "state" / "deep" / "f"):
        assert path.stat().st_mtime == path.stat().st_atime == 1795564800  # 2026-11-25 00:00 UTC
    assert outside.stat().st_mtime_ns == before


def test_the_heartbeat_ends_when_its_app_is_gone(cfg, clock):
    app = web.build_app(cfg, clock=clock, heartbeat=0.2)
    webtest.TestApp(app).get("/en/")
    beat = filetimes._beats[0.2]
    assert beat.alive
    del app
    gc.collect()
    beat.thread.join(5)
    assert not beat.alive and not beat.thread.is_alive()
