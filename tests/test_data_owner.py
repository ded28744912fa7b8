"""The data folder stays the server's: commands refuse to write it as another user, and say the exact sudo command.

The tests run as root: folders are chowned to `nobody`, and commands run as root (refused) or, after
their imports, drop to nobody's uid the way `sudo -u nobody` would.
"""

from __future__ import annotations

import os
import pwd
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import webtest

from helpers import campaign_toml
from pledgebox import ROOT, audit, config, sealing, startup, web
from pledgebox.ownership import WrongUser
from pledgebox.store import Store, read_records

APP = str(ROOT / "app.py")
NOBODY = pwd.getpwnam("nobody")

if os.geteuid() != 0:
    pytest.skip(
        "these tests change files' owners and switch users: they need root (CI runs as root)", allow_module_level=True
    )

# Runs one command as another user: imports first (as root: Python itself lives under /root here),
# then drops to that user for good, then runs the command exactly as `python app.py …` would.
AS_USER = """
import os, sys, stat, shlex, json, io
from pledgebox import cli, cli_identity, store, web, audit, config, campaign, startup, ownership, serve, sealing
uid, gid = int(sys.argv[1]), int(sys.argv[2])
os.setgroups([]); os.setgid(gid); os.setuid(uid)
sys.argv = [sys.argv[3]] + sys.argv[4:]
sys.exit(cli.main())
"""


@pytest.fixture
def shared(identity):
    """A data folder nobody may enter (unlike pytest's 0700 tmp_path), owned by nobody, with one pledge."""
    top = Path(tempfile.mkdtemp(prefix="pledgebox-owner-"))
    os.chmod(top, 0o755)
    data = top / "data"
    data.mkdir()
    (data / "campaign.toml").write_text(campaign_toml([identity]), encoding="utf-8")
    store = Store(data / "state")
    store.append("rec-1", sealing.seal(b"{}", [identity.recipient], "test-campaign"))
    for path in (data, data / "state", *(data / "state").iterdir()):
        os.chown(path, NOBODY.pw_uid, NOBODY.pw_gid)
    yield data
    subprocess.run(["rm", "-rf", str(top)], check=True)


def as_root(*argv, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, APP, *map(str, argv)], capture_output=True, text=True, timeout=60, **kw)


def as_nobody(*argv, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("capture_output", "stdout" not in kw)
    return subprocess.run(
        [sys.executable, "-c", AS_USER, str(NOBODY.pw_uid), str(NOBODY.pw_gid), APP, *map(str, argv)],
        text=True,
        timeout=60,
        cwd=str(ROOT),
        **kw,
    )


def hint(done: subprocess.CompletedProcess) -> str:
    lines = done.stderr.splitlines()
    assert lines[-1].startswith("pledgebox: hint: "), done.stderr
    return lines[-1].removeprefix("pledgebox: hint: ")


def test_collect_as_root_is_refused_with_the_exact_sudo_command(shared, tmp_path):
    out = tmp_path / "usb" / "pledges.sealed"
    out.parent.mkdir()
    done = as_root("collect", "--data", shared, "--out", out)
    assert done.returncode == WrongUser.exit_code == 77
    assert "belongs to nobody, and this command runs as root" in done.stderr
    # The server's user may not write the USB stick: the hint writes to stdout and lets root's shell redirect.
    expected = shlex.join([sys.executable, APP, "collect", "--data", str(shared), "--out", "-"]) + f" > {out}"
    assert hint(done) == f"run it as nobody: sudo -u nobody {expected}"
    assert not out.exists()
    assert [r.record_id for r in read_records(shared / "state" / "pending.sealed")] == ["rec-1"]
    assert all(p.stat().st_uid == NOBODY.pw_uid for p in (shared / "state").iterdir())


def test_the_hinted_collect_works_as_the_owner_and_writes_to_stdout(shared, tmp_path):
    out = tmp_path / "pledges.sealed"
    with open(out, "wb") as redirect:  # root's shell opens the file; the command runs as nobody
        done = as_nobody("collect", "--data", shared, "--out", "-", stdout=redirect, stderr=subprocess.PIPE)
    assert done.returncode == 0, done.stderr
    assert [r.record_id for r in read_records(out)] == ["rec-1"]
    assert "Collected 1 sealed record into standard output." in done.stderr
    # Every file the command wrote still belongs to the server's user.
    for path in (shared / "state").iterdir():
        assert path.stat().st_uid == NOBODY.pw_uid, path
    assert Store(shared / "state").count() == 0


def test_collect_to_stdout_with_purge_needs_a_file(shared, tmp_path):
    done = as_nobody(
        "collect", "--data", shared, "--out", "-", "--purge", stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert done.returncode == 2 and "needs standard output to be a file" in done.stderr
    assert "--purge > " in hint(done)
    assert Store(shared / "state").count() == 1 and done.stdout == ""
    out = tmp_path / "purged.sealed"
    with open(out, "wb") as redirect:
        done = as_nobody("collect", "--data", shared, "--out", "-", "--purge", stdout=redirect, stderr=subprocess.PIPE)
    assert done.returncode == 0, done.stderr
    assert [r.record_id for r in read_records(out)] == ["rec-1"]
    assert not (shared / "state" / "collected.sealed").exists()


def test_collect_to_a_closed_pipe_keeps_every_record(shared):
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = as_nobody("collect", "--data", shared, "--out", "-", stdout=writer, stderr=subprocess.PIPE)
    finally:
        os.close(writer)
    assert done.returncode == 1 and "standard output" in done.stderr
    assert Store(shared / "state").count() == 1  # nothing moved out of pending.sealed


@pytest.mark.parametrize("argv", [("raised", "25"), ("raised", "25", "--pledged", "40")])
def test_raised_as_another_user_is_refused_with_the_exact_sudo_command(shared, argv):
    done = as_root(*argv, "--data", shared)
    assert done.returncode == 77
    assert hint(done) == "run it as nobody: sudo -u nobody " + shlex.join(
        [sys.executable, APP, *argv, "--data", str(shared)]
    )
    assert not (shared / "state" / "published.json").exists()
    done = as_nobody(*argv, "--data", shared)
    assert done.returncode == 0, done.stderr
    assert (shared / "state" / "published.json").stat().st_uid == NOBODY.pw_uid


def test_serve_as_another_user_is_refused(shared, tmp_path):
    done = as_root("serve", "--data", shared, "--unix-socket", tmp_path / "app.sock")
    assert done.returncode == 77 and "sudo -u nobody" in hint(done)
    assert not (tmp_path / "app.sock").exists()
    assert not (shared / "state" / "token.key").exists()


def test_serve_refuses_runtime_files_it_cannot_write(shared, tmp_path):
    # What a root-run command left behind before these checks existed: a root-owned 0600 file.
    left = shared / "state" / "collected.sealed"
    left.write_bytes(b"")
    os.chmod(left, 0o600)
    done = as_nobody("serve", "--data", shared, "--port", "0")
    assert done.returncode == 78
    assert str(left) in done.stderr and "cannot be written by nobody" in done.stderr
    assert (
        hint(done) == f"give the files back to the server's user: chown -R nobody: {shared / 'state'}; then start again"
    )


def test_audit_flags_what_the_servers_user_cannot_write(shared, capsys):
    assert audit.scan(shared).findings == []
    left = shared / "state" / "collected.sealed"
    left.write_bytes(b"")
    os.chmod(left, 0o600)  # root's, as a root-run collect left it
    (shared / "state" / "published.json").write_text('{"raised": "1.00"}')
    os.chmod(shared / "state" / "published.json", 0o644)
    os.chown(shared / "state" / "published.json", NOBODY.pw_uid, NOBODY.pw_gid)
    findings = {(f.path, f.kind) for f in audit.scan(shared).findings}
    assert findings == {("state/collected.sealed", "not-writable")}
    os.chmod(shared / "state", 0o500)  # the folder itself: nothing can be created in it
    os.chmod(left, 0o666)
    findings = {(f.path, f.kind) for f in audit.scan(shared).findings}
    assert ("state/", "not-writable") in findings and ("state/collected.sealed", "not-writable") not in findings


def test_a_root_owned_data_folder_is_writable_for_its_root_server(data_dir):
    (data_dir / "state").mkdir()
    (data_dir / "state" / "x.sealed").write_bytes(b"")
    assert [f for f in audit.scan(data_dir).findings if f.kind == "not-writable"] == []


# -- the running server says why pledges fail, once, without donor data -----------------------------


def test_an_unwritable_store_gets_one_line_on_stderr_naming_the_cause(cfg, clock, capsys):
    client = webtest.TestApp(web.build_app(cfg, clock=clock))
    client.get("/en/")
    pending = cfg.state_dir / "pending.sealed"
    cfg.state_dir.mkdir(exist_ok=True)
    pending.mkdir()  # what no user can append to: the store cannot be written
    secret = "Zzyzx-unique-message"
    for _ in range(3):
        check = client.post(
            "/en/pledge",
            {
                "amount": "25",
                "designation": "split",
                "method": "sepa",
                "message": secret,
                "contact": "anna@example.org",
            },
        )
        clock.advance(5)
        assert check.forms[0].submit(status=503).status_int == 503
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1, err  # once, not per pledge
    assert str(pending) in lines[0] and "Is a directory" in lines[0] and "503" in lines[0]
    assert secret not in err and "anna@" not in err and "25" not in err.replace(str(pending), "")


def test_the_journal_line_comes_again_after_a_minute_or_for_another_cause(tmp_path, capsys):
    from pledgebox import journal

    now = [1000.0]
    trouble = journal.StoreTrouble(tmp_path, clock=lambda: now[0])
    full = OSError(28, "No space left on device", str(tmp_path / "pending.sealed"))
    trouble.report(full)
    now[0] += journal.EVERY - 1
    trouble.report(full)
    assert capsys.readouterr().err.count("No space left on device") == 1
    trouble.report(PermissionError(13, "Permission denied", str(tmp_path / ".lock")))
    now[0] += 1
    trouble.report(full)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "Permission denied" in err[0] and "No space left" in err[1]


# -- leftover demo pledges ------------------------------------------------------------------------


def demo_record() -> bytes:
    return sealing.seal(b"{}", [startup.demo_recipient()], "demo")


def test_serve_warns_once_naming_the_demo_key_when_the_store_holds_demo_pledges(data_dir, identity):
    store = Store(data_dir / "state")
    store.append("demo-1", demo_record())
    store.append("demo-2", demo_record())
    store.append("ours", sealing.seal(b"{}", [identity.recipient], "test-campaign"))
    [warning] = startup.foreign_records(config.load(data_dir))
    assert startup.demo_recipient().fingerprint in warning and "public demo key" in warning
    assert "Hint:" in warning


def test_no_warning_when_every_record_is_ours_or_shared_with_us(data_dir, identity, identities):
    store = Store(data_dir / "state")
    store.append("ours", sealing.seal(b"{}", [identity.recipient], "test-campaign"))
    store.append("both", sealing.seal(b"{}", [identities[1].recipient, identity.recipient], "test-campaign"))
    assert startup.foreign_records(config.load(data_dir)) == []


def test_records_for_another_key_are_named_by_fingerprint(data_dir, identities):
    Store(data_dir / "state").append("theirs", sealing.seal(b"{}", [identities[2].recipient], "test-campaign"))
    [warning] = startup.foreign_records(config.load(data_dir))
    assert identities[2].recipient.fingerprint in warning and "demo" not in warning


def test_serve_prints_the_warning_at_start(data_dir, tmp_path):
    from support.serverproc import Server

    Store(data_dir / "state").append("demo-1", demo_record())
    with Server(data_dir) as server:
        pass
    out = server.output().decode()
    assert out.count("pledgebox: warning:") == 1 and startup.demo_recipient().fingerprint in out


def test_serve_warns_about_a_deadline_before_today_at_first_start(tmp_path, identity):
    from support.serverproc import Server

    data = tmp_path / "data"
    data.mkdir()
    (data / "campaign.toml").write_text(campaign_toml([identity], deadline="2020-01-31"), encoding="utf-8")
    with Server(data) as server:
        pass
    assert "campaign.deadline 2020-01-31 is before today" in server.output().decode()
    with Server(data) as server:  # the second start: the campaign may simply have ended
        pass
    output = server.output().decode()  # both starts' output
    assert output.count("serving on") == 2 and output.count("is before today") == 1
