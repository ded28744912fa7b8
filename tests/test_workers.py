"""`serve --workers N`: several processes on one socket, one store, one rate limit, nothing lost."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpers import campaign_toml
from pledgebox import ROOT, ratelimit, serve
from support.serverproc import LIMITS_FOR_LOAD, Client, PledgeRefused, Server, write_campaign
from test_load import assert_all_found, run_clients

GOOD = {"amount": "25", "designation": "split", "method": "sepa", "pseudonym": "Аня", "message": "Grüße"}


def workers_of(pid: int) -> list[int]:
    """The live child processes of pid."""
    with open(f"/proc/{pid}/task/{pid}/children") as file:
        text = file.read()
    return [int(child) for child in text.split() if alive(int(child))]


def alive(pid: int) -> bool:
    """True if pid runs (a zombie waiting to be reaped counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_until(check, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def established(port: int) -> set[str]:
    """Socket inodes of the server's side of established TCP connections on 127.0.0.1:port."""
    found = set()
    with open("/proc/net/tcp") as file:
        for line in file.readlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "01" and int(local.split(":")[1], 16) == port:
                found.add(inode)
    return found


def sockets_of(pid: int) -> set[str]:
    """Inodes of the sockets pid holds open."""
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue
        if target.startswith("socket:["):
            out.add(target[8:-1])
    return out


@pytest.fixture
def load_data(tmp_path, identity):
    return write_campaign(tmp_path / "data", campaign_toml([identity]) + LIMITS_FOR_LOAD)


@pytest.mark.slow
def test_two_workers_lose_nothing_under_load(tmp_path, identity, load_data):
    with Server(load_data, log_dir=tmp_path, args=("--workers", "2")) as server:
        assert len(workers_of(server.pid)) == 2
        acknowledged = run_clients([server], 2000)
        assert server.proc.poll() is None and len(workers_of(server.pid)) == 2, "a worker died under load"
    # 32 clients keep every thread busy: still nothing printed but where it listened (not even
    # waitress's "Task queue depth" warnings, whose time stamps would say when visitors came).
    assert server.output().decode().strip().splitlines() == [
        f"pledgebox: serving on http://127.0.0.1:{server.port}/ with 2 worker processes (Ctrl+C stops)"
    ]
    assert len(acknowledged) == 2000
    assert_all_found(load_data, identity, tmp_path / "collected.sealed", acknowledged)


def test_keep_alive_connections_are_spread_evenly(tmp_path, load_data):
    with Server(load_data, log_dir=tmp_path, args=("--workers", "2")) as server:
        clients = [Client(server.host) for _ in range(8)]
        try:
            for client in clients:  # one after another, as fast as they come: the worst case
                assert client.request("GET", "/en/")[0] == 200
            mine = [len(sockets_of(pid) & established(server.port)) for pid in workers_of(server.pid)]
            assert sorted(mine) == [4, 4], mine
        finally:
            for client in clients:
                client.close()


def test_the_rate_limit_is_one_limit_for_all_workers(tmp_path, identity):
    data = write_campaign(
        tmp_path / "data", campaign_toml([identity]) + "[limits]\ntoken_min_age = 0\nconfirms_per_minute = 3\n"
    )
    with Server(data, log_dir=tmp_path, args=("--workers", "2")) as server:
        clients = [Client(server.host) for _ in range(8)]  # spread over both workers, as tested above
        try:
            checked = [client.check("en", GOOD) for client in clients]

            def confirm(i):
                try:
                    return clients[i].confirm("en", checked[i])
                except PledgeRefused as refused:
                    return refused.status

            with ThreadPoolExecutor(8) as pool:
                outcomes = list(pool.map(confirm, range(8)))
        finally:
            for client in clients:
                client.close()
    assert sum(isinstance(o, str) for o in outcomes) == 3, outcomes  # references
    assert outcomes.count(429) == 5, outcomes


def test_a_dead_worker_is_replaced_and_sigterm_stops_them_all(tmp_path, load_data):
    server = Server(load_data, log_dir=tmp_path, args=("--workers", "2")).start()
    try:
        first = workers_of(server.pid)
        os.kill(first[0], signal.SIGKILL)
        wait_until(lambda: len(workers_of(server.pid)) == 2 and first[0] not in workers_of(server.pid))
        with Client(server.host) as client:
            assert client.pledge("de", GOOD)
        everyone = workers_of(server.pid)
    finally:
        code = server.stop()
    assert code == 0
    wait_until(lambda: not any(alive(pid) for pid in everyone), timeout=5)
    err = b"".join(p.read_bytes() for p in tmp_path.glob("server-*.err")).decode()
    out = b"".join(p.read_bytes() for p in tmp_path.glob("server-*.out"))
    # Nothing about clients, pledges or the dead worker: only where it listened.
    assert out == b"" and err.strip().splitlines() == [
        f"pledgebox: serving on http://127.0.0.1:{server.port}/ with 2 worker processes (Ctrl+C stops)"
    ]


def test_workers_stop_when_the_supervisor_is_killed(tmp_path, load_data):
    server = Server(load_data, log_dir=tmp_path, args=("--workers", "3")).start()
    children = workers_of(server.pid)
    assert len(children) == 3
    server.kill()

    def refused() -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(server.host) != 0

    # A zombie's last threads may hold the socket a moment longer than its state says.
    wait_until(lambda: not any(alive(pid) for pid in children) and refused(), timeout=5)


def test_workers_on_a_unix_socket(tmp_path, load_data):
    from test_serve_and_cli import UnixHTTPConnection

    path = tmp_path / "app.sock"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "app.py"),
            "serve",
            "--data",
            str(load_data),
            "--unix-socket",
            str(path),
            "--workers",
            "2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def answers():
            if not path.exists():
                return False
            conn = UnixHTTPConnection(str(path))
            try:
                conn.request("GET", "/de/")
                return conn.getresponse().status == 200
            except OSError:
                return False
            finally:
                conn.close()

        wait_until(answers)
        assert stat.S_IMODE(path.stat().st_mode) == 0o660
        assert len(workers_of(proc.pid)) == 2
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


@pytest.mark.parametrize("value", ["0", "-1", "65", "two", "1.5"])
def test_a_bad_worker_count_is_a_clear_usage_error(value, tmp_path):
    res = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "serve", "--workers", value], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 2
    assert "give a whole number from 1 to 64" in res.stderr and "Traceback" not in res.stderr


def test_a_shared_rate_limit_counts_every_process():
    limit = ratelimit.RateLimit(5, clock=lambda: 100.0, shared=True)
    pids = []
    for _ in range(4):
        pid = os.fork()
        if pid == 0:
            allowed = sum(limit.allow() for _ in range(5))
            os._exit(allowed)
        pids.append(pid)
    allowed = sum(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids)
    assert allowed == 5 and not limit.allow()


def test_a_rate_limit_refills_with_time():
    now = [0.0]
    limit = ratelimit.RateLimit(60, clock=lambda: now[0], shared=True)
    assert sum(limit.allow() for _ in range(100)) == 60
    now[0] += 2.0  # one a second
    assert sum(limit.allow() for _ in range(10)) == 2


def test_workers_get_fewer_threads_each_unless_told():
    assert serve.settings(host="127.0.0.1", port=1)["threads"] == serve.WAITRESS["threads"]
    assert serve.settings(host="127.0.0.1", port=1, workers=2)["threads"] == serve.WORKER_THREADS
    assert serve.settings(host="127.0.0.1", port=1, workers=2, threads=9)["threads"] == 9


def test_only_the_workers_with_fewest_connections_accept():
    balance = serve.Balance(3)
    # A slot with no worker yet never holds the others back.
    assert balance.may_accept(0, 5)
    assert balance.may_accept(1, 4) and not balance.may_accept(0, 5)
    balance.set(2, 4)
    assert balance.may_accept(1, 4) and balance.may_accept(2, 4) and not balance.may_accept(0, 5)
    balance.set(1, serve.Balance.GONE)  # its worker died: the others go on
    assert balance.may_accept(2, 4) and not balance.may_accept(0, 5)


def test_a_worker_that_falls_behind_asleep_is_woken():
    balance = serve.Balance(2)
    wake_of_1 = balance._wake[1][0]
    balance.set(1, 2)  # worker 1 holds 2 and last looked when it was ahead: not listening
    assert balance.may_accept(0, 2)  # equal: worker 0 accepts, nobody needs waking
    with pytest.raises(BlockingIOError):
        os.read(wake_of_1, 16)
    assert not balance.may_accept(0, 3)  # worker 0 is ahead now and stops: worker 1 must listen
    assert os.read(wake_of_1, 16) == b"\0"
    assert balance.may_accept(1, 2)  # woken, it looks again and listens
    assert not balance.may_accept(0, 3)
    with pytest.raises(BlockingIOError):
        os.read(wake_of_1, 16)  # listening already: no second wake-up


def test_workers_that_keep_failing_stop_the_supervisor_with_a_clear_error():
    # waitress refuses app=None: every worker exits at once, as with a broken install.
    script = (
        "import socket, sys\n"
        "from pledgebox import serve\n"
        "from pledgebox.errors import PledgeboxError\n"
        "sock = socket.create_server(('127.0.0.1', 0))\n"
        "try:\n"
        "    serve.supervise(None, [sock], {}, 2)\n"
        "except PledgeboxError as exc:\n"
        "    print(exc.message, exc.hint, sep='\\n')\n"
        "    sys.exit(1)\n"
    )
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert "worker processes keep exiting" in done.stdout and "--workers 1" in done.stdout
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("host", ["localhost", "*", "127.0.0.1"])
def test_workers_listen_on_every_address_waitress_would(host):
    from support.serverproc import free_port

    port = free_port()
    wanted = {
        info[4][0]
        for info in socket.getaddrinfo(
            None if host == "*" else host,
            port,
            socket.AF_UNSPEC,
            socket.SOCK_STREAM,
            socket.IPPROTO_TCP,
            socket.AI_PASSIVE,
        )
    }
    socks = serve.listen({"host": host, "port": port, "backlog": 8})
    try:
        assert {sock.getsockname()[0] for sock in socks} == wanted
        assert all(sock.getsockname()[1] == port for sock in socks)
    finally:
        for sock in socks:
            sock.close()


def test_workers_serve_an_ipv6_literal_in_brackets(tmp_path, load_data):
    from support.serverproc import free_port

    with socket.socket(socket.AF_INET6) as probe:
        probe.bind(("::1", 0))  # this machine has IPv6 loopback (fails the test if not: that is a finding)
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "app.py"),
            "serve",
            "--data",
            str(load_data),
            "--host",
            "[::1]",
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def answers():
            with socket.create_connection(("::1", port), timeout=2) as conn:
                conn.sendall(b"GET /en/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                return conn.recv(12).startswith(b"HTTP/1.1 200")

        def ready():
            try:
                return answers()
            except OSError:
                return False

        wait_until(ready)
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


def test_ctrl_c_in_a_terminal_stops_every_process_quietly(tmp_path, load_data):
    from support.serverproc import free_port

    port = free_port()
    # Ctrl+C sends SIGINT to the whole foreground process group: the supervisor and every worker.
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "app.py"),
            "serve",
            "--data",
            str(load_data),
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:

        def ready():
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", port)) == 0 and len(workers_of(proc.pid)) == 2

        wait_until(ready)
        children = workers_of(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0
    wait_until(lambda: not any(alive(pid) for pid in children), timeout=5)
    assert out == b"" and err.decode().strip().splitlines() == [
        f"pledgebox: serving on http://127.0.0.1:{port}/ with 2 worker processes (Ctrl+C stops)"
    ]
