"""`serve` and `raised` as an operator runs them, and importing without side effects."""

import http.client
import os
import socket
import stat
import subprocess
import sys
import time

import pytest

from helpers import FAST_SCRYPT, PASSPHRASE
from pledgebox import ROOT, cli, filetimes, serve


def run_cli(*argv):
    return subprocess.run([sys.executable, str(ROOT / "app.py"), *argv], capture_output=True, text=True, timeout=60)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError("timed out")


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def test_importing_app_creates_nothing(tmp_path):
    before = {p for p in ROOT.rglob("*") if ".git" not in p.parts and "__pycache__" not in p.parts}
    code = "import app, bottle; print(isinstance(app.app, bottle.Bottle))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert out.stdout.strip() == "True", out.stderr
    after = {p for p in ROOT.rglob("*") if ".git" not in p.parts and "__pycache__" not in p.parts}
    assert after == before
    assert list(tmp_path.iterdir()) == []


def test_raised_publishes_atomically_and_refuses_bad_amounts(data_dir, client):
    assert run_cli("raised", "1234.50", "--pledged", "2100", "--data", str(data_dir)).returncode == 0
    body = client.get("/en/").text
    assert "€1,234.50 reached in total" in body and "€2,100 pledged" in body and "49% of €2,500" in body
    published = (data_dir / "state" / "published.json").read_bytes()
    for bad in ("12,50", "-1", "abc", "1e9", "NaN", "1.234"):
        res = run_cli("raised", bad, "--data", str(data_dir))
        assert res.returncode == 2 and res.stderr.startswith("pledgebox: error: ")
        assert (data_dir / "state" / "published.json").read_bytes() == published
    assert not [p for p in (data_dir / "state").iterdir() if p.name.startswith(".published")]


WAITRESS_ERRORS = [
    (b"GARBAGE\r\n\r\n", 400),
    (b"POST /en/pledge HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n", 413),
    (b"GET /en/ HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", 431),
    (b"POST /en/pledge HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
]


def raw_answer(port: int, raw: bytes) -> bytes:
    """The head of the server's answer to raw bytes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(raw)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer.split(b"\r\n\r\n")[0] + b"\r\n"


def test_running_server_shows_new_totals_without_restart(data_dir):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "serve", "--data", str(data_dir), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:

        def page():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                conn.request("GET", "/en/")
                res = conn.getresponse()
                return res, res.read().decode()
            finally:
                conn.close()

        wait_for(lambda: page()[0].status == 200)
        res, body = page()
        assert "€0 reached in total" in body
        assert res.getheader("Server") is None
        # An oversized pledge gets the app's own 413 page, with every header, through waitress.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request(
                "POST",
                "/de/pledge",
                body=b"message=" + b"x" * 40000,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            big = conn.getresponse()
            assert big.status == 413 and "Zu viele Daten" in big.read().decode()
            assert big.getheader("Content-Security-Policy", "").startswith("default-src 'none'")
        finally:
            conn.close()
        # waitress's own answers to broken requests carry the same headers as the app's.
        for raw, status in WAITRESS_ERRORS:
            head = raw_answer(port, raw)
            assert head.split(b" ")[1] == str(status).encode(), head[:80]
            assert b"\r\nContent-Security-Policy: default-src 'none'" in head
            assert b"\r\nX-Frame-Options: DENY" in head and b"\r\nX-Content-Type-Options: nosniff" in head
        assert run_cli("raised", "777", "--data", str(data_dir)).returncode == 0
        started = time.monotonic()
        wait_for(lambda: "€777 reached in total" in page()[1], timeout=5)
        assert time.monotonic() - started < 3
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    # Nothing about clients is printed: only where it listened.
    assert out == b""
    assert err.decode().strip().splitlines() == [f"pledgebox: serving on http://127.0.0.1:{port}/ (Ctrl+C stops)"]


def test_unix_socket_mode_0660(data_dir, tmp_path):
    sock = tmp_path / "run" / "app.sock"
    sock.parent.mkdir()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "serve", "--data", str(data_dir), "--unix-socket", str(sock)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(sock.exists)
        assert stat.S_IMODE(sock.stat().st_mode) == 0o660

        def get():
            conn = UnixHTTPConnection(str(sock))
            try:
                conn.request("GET", "/de/", headers={"Host": "x" * 56 + ".onion"})
                res = conn.getresponse()
                return res.status == 200 and "Unterstützt" in res.read().decode()
            finally:
                conn.close()

        wait_for(get)
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_serve_refuses_a_private_identity_in_data(data_dir, identity):
    nested = data_dir / "state" / "backup"
    nested.mkdir(parents=True)
    identity.save(nested / "organiser.key", PASSPHRASE, scrypt_n=FAST_SCRYPT)
    res = run_cli("serve", "--data", str(data_dir), "--port", str(free_port()))
    assert res.returncode == 78
    assert "pledgebox: error: A private organiser identity is in the data folder" in res.stderr
    assert "organiser.key" in res.stderr and "hint:" in res.stderr


def test_demo_serves_only_on_loopback(tmp_path):
    res = run_cli("serve", "--data", str(tmp_path), "--host", "0.0.0.0")
    assert res.returncode == 78 and "demo campaign" in res.stderr and "campaign.example.toml" in res.stderr
    res = run_cli("serve", "--data", str(tmp_path), "--unix-socket", str(tmp_path / "s"))
    assert res.returncode == 78


def test_bad_config_names_the_key(tmp_path):
    (tmp_path / "campaign.toml").write_text("[campaign]\nid = 'x'\ngoal = 'lots'\n")
    res = run_cli("serve", "--data", str(tmp_path))
    assert res.returncode == 78 and "campaign.goal" in res.stderr


def test_waitress_settings_for_hostile_clients():
    kw = serve.settings(host="127.0.0.1", port=8080)
    assert kw["ident"] == "" and kw["threads"] >= 16 and kw["connection_limit"] >= 1000
    assert kw["asyncore_use_poll"] is True and kw["max_request_body_size"] <= 64 * 1024
    assert kw["channel_timeout"] <= 60
    unix = serve.settings(unix_socket="/run/x.sock")
    assert unix["unix_socket_perms"] == "660" and "host" not in unix


def test_help_has_examples_for_every_command(capsys):
    parser = cli.parser()
    commands = parser._subparsers._group_actions[0].choices
    for name, sub in commands.items():
        assert "examples:" in sub.format_help(), name
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "serve" in capsys.readouterr().out


def test_no_file_time_records_the_first_pledge(data_dir):
    # serve makes the runtime files before listening; a pledge then changes pending.sealed only.
    from support.serverproc import Client, Server

    with Server(data_dir, log_dir=data_dir.parent) as server:
        state = data_dir / "state"
        before = {p.name: p.stat() for p in [state, *state.iterdir()]}
        assert {"token.key", "pending.sealed", ".lock"} <= set(before)
        time.sleep(0.05)
        with Client(server.host) as client:
            hidden = client.check("en", {"amount": "5", "designation": "split", "method": "cash"})
            time.sleep(2.1)  # the token's minimum age
            assert client.confirm("en", hidden)
        after = {p.name: p.stat() for p in [state, *state.iterdir()]}
    assert set(after) == set(before)
    # Changed by the pledge: the store only (tests/test_file_times.py: and the heartbeat blurs even that).
    changed = {
        name
        for name in before
        if before[name].st_mtime_ns != after[name].st_mtime_ns and not filetimes.is_day_start(after[name].st_mtime)
    }
    assert changed <= {"pending.sealed"}
    assert after["pending.sealed"].st_size > before["pending.sealed"].st_size


def test_any_wsgi_server_refuses_a_private_identity_in_data(cfg, identity):
    from pledgebox import web

    identity.save(cfg.data_dir / "oops.key", PASSPHRASE, scrypt_n=FAST_SCRYPT)
    with pytest.raises(web.PrivateKeyInData):
        web.build_app(cfg)


def test_a_busy_port_is_a_clear_error_not_a_traceback(data_dir):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        res = run_cli("serve", "--data", str(data_dir), "--port", str(busy.getsockname()[1]))
    assert res.returncode == 1
    assert "pledgebox: error: Cannot listen on http://127.0.0.1:" in res.stderr and "hint:" in res.stderr
    assert "Traceback" not in res.stderr and "serving on" not in res.stderr


def test_a_closed_pipe_ends_quietly(identity, tmp_path, passfile):
    # `review … | head`: the reader goes away after a few lines; the organiser sees no traceback.
    import json as jsonlib

    from pledgebox import pledges, sealing

    lines = []
    for n in range(1500):  # a table far larger than a pipe's buffer
        doc = {
            "reference": pledges.make_reference(b"%d" % n),
            "amount": "5.00",
            "currency": "EUR",
            "designation": "split",
            "method": "cash",
            "pseudonym": "",
            "contact": "",
            "message": "x" * 40,
            "language": "en",
            "day": "2026-11-25",
        }
        record = sealing.seal(jsonlib.dumps(doc).encode(), [identity.recipient], "test-campaign")
        lines.append(b"id%d %s\n" % (n, record))
    (tmp_path / "all.sealed").write_bytes(b"".join(lines))
    identity.save(tmp_path / "me.identity", PASSPHRASE, scrypt_n=FAST_SCRYPT)
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "app.py"),
            "review",
            str(tmp_path / "all.sealed"),
            "--identity",
            str(tmp_path / "me.identity"),
            "--passphrase-file",
            str(passfile),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert b"REFERENCE" in proc.stdout.read(100)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(60) == 0 and "Traceback" not in err, err
    proc.stderr.close()
