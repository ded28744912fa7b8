"""The donor's path: GET /en/ and confirms through a private Tor network's onion service, against a bare server.

`python bench/tor.py` (or `python bench/run.py`, which calls it when tor is installed) starts the private
Tor network of the tests (tests/support/tornet.py) in front of a UNIX socket, as in production. That socket is a
symbolic link, pointed in turn at `app.py serve --unix-socket` and at a bare waitress app serving the very
same bytes (bench/bare.py), so both are reached through the same tor processes, onion address and circuits,
in the same run. Clients speak SOCKS5 to the network's client tor over keep-alive connections, each on a
circuit of its own (SOCKS isolation by user name) up to 32 circuits, which more clients then share.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import itertools
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import run as bench  # bench/run.py: the data folder and the number of workers (it puts tests/ on sys.path)
from common import GET_HEADERS, Table, confirm_requests, verdict
from support.tornet import start_tor_network

RATIO_GOAL = 0.9
CLIENTS = (8, 64, 256)  # the confirm goals' 8 and 64, and enough streams to find tor's own ceiling
MAX_CIRCUITS = 32  # streams beyond this share circuits (the onion service allows 32 streams per circuit)
TICKS = os.sysconf("SC_CLK_TCK")
SKIPPED = "skipped, tor is not installed (bash scripts/install-system-deps.sh installs it)"


# -- a SOCKS5 load generator ------------------------------------------------------------------------


async def _socks_open(socks_port: int, onion: str, circuit: str):
    """A stream to onion:80 through tor's SOCKS port, on the circuit named `circuit` (IsolateSOCKSAuth)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", socks_port)
    writer.write(b"\x05\x01\x02")  # one method: user name and password
    assert await reader.readexactly(2) == b"\x05\x02", "tor refused SOCKS user/password"
    user = circuit.encode()
    writer.write(b"\x01" + bytes([len(user)]) + user + b"\x01x")
    assert (await reader.readexactly(2))[1] == 0
    name = onion.encode()
    writer.write(b"\x05\x01\x00\x03" + bytes([len(name)]) + name + struct.pack("!H", 80))
    _ver, rep, _rsv, atyp = await reader.readexactly(4)
    if atyp == 3:  # the bound address: a name (length first), IPv4 or IPv6, then a port
        await reader.readexactly((await reader.readexactly(1))[0] + 2)
    else:
        await reader.readexactly(18 if atyp == 4 else 6)
    if rep != 0:
        raise ConnectionError(f"SOCKS reply {rep}")
    return reader, writer


async def _exchange(reader, writer, request: bytes) -> int:
    """Send one request; read its whole response; return the status."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return int(head[9:12])


async def _open(socks_port: int, onion: str, circuit: str, request: bytes):
    """A warmed-up stream (it has answered one request), trying three times: circuits can fail to build."""
    for attempt in range(3):
        try:
            reader, writer = await _socks_open(socks_port, onion, circuit)
            await _exchange(reader, writer, request)
            return reader, writer
        except (ConnectionError, asyncio.IncompleteReadError):
            if attempt == 2:
                raise
            await asyncio.sleep(1)


async def _load(socks_port: int, onion: str, clients: int, requests, seconds: float, tag: str) -> dict:
    """`clients` keep-alive streams (at most MAX_CIRCUITS circuits, shared in turn) send requests from
    `requests` (an iterator) for `seconds` once every one has answered once: the timed part's latencies (ms)."""
    circuits = min(clients, MAX_CIRCUITS)
    streams = await asyncio.gather(
        *(_open(socks_port, onion, f"{tag}-{i % circuits}", next(requests)) for i in range(clients))
    )
    latencies: list[float] = []
    result = {"errors": 0, "ran_out": False}
    deadline = time.monotonic() + seconds

    async def one(reader, writer):
        while time.monotonic() < deadline:
            try:
                request = next(requests)
            except StopIteration:
                result["ran_out"] = True
                return
            start = time.perf_counter()
            try:
                status = await _exchange(reader, writer, request)
            except (ConnectionError, asyncio.IncompleteReadError):
                result["errors"] += 1
                return
            if status == 200:
                latencies.append((time.perf_counter() - start) * 1000)
            else:
                result["errors"] += 1

    started = time.monotonic()
    await asyncio.gather(*(one(r, w) for r, w in streams))
    elapsed = time.monotonic() - started
    for _reader, writer in streams:
        writer.close()
    latencies.sort()
    pick = (lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]) if latencies else (lambda q: 0.0)
    return result | {"rate": len(latencies) / elapsed, "p50": pick(0.5), "p99": pick(0.99), "elapsed": elapsed}


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time so far of a process and its children (`serve --workers`' workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS + sum(cpu_seconds(int(child)) for child in children)


def measure(net, clients: int, requests, seconds: float, tag: str, pids: dict[str, int]) -> dict:
    """One load run, with the CPU share (of one core) each process in `pids` took during it."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    own = time.process_time()
    r = asyncio.run(_load(net.socks_port, net.onion, clients, requests, seconds, tag))
    r["cpu"] = {name: (cpu_seconds(pid) - before[name]) / r["elapsed"] for name, pid in pids.items()}
    r["cpu"]["load generator"] = (time.process_time() - own) / r["elapsed"]
    return r


# -- the two servers behind one onion -----------------------------------------------------------------


def unix_request(path: Path, raw: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """One raw HTTP request to a UNIX socket: (status, headers, body)."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(path))
        sock.sendall(raw)
        res = http.client.HTTPResponse(sock)
        res.begin()
        return res.status, res.getheaders(), res.read()


def wait_for_socket(path: Path, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 20
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"bench/tor.py: {what} did not start")
        time.sleep(0.05)


def point(link: Path, target: Path) -> None:
    """Point the onion service's socket (a symbolic link) at `target`; new streams go there."""
    tmp = link.with_suffix(".new")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    tmp.replace(link)


def bare_server(work: Path, name: str, response: tuple[int, list, bytes]) -> tuple[subprocess.Popen, Path]:
    """bench/bare.py serving `response`'s headers and body on a UNIX socket of its own."""
    status, headers, body = response
    assert status == 200, status
    spec, sock = work / f"bare-{name}.json", work / f"bare-{name}.sock"
    keep = [(k, v) for k, v in headers if k.lower() not in ("date", "server", "connection", "content-length")]
    spec.write_text(json.dumps({"headers": keep, "body": body.hex()}))
    proc = subprocess.Popen(
        [sys.executable, str(bench.ROOT / "bench" / "bare.py"), str(spec), f"unix:{sock}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_socket(sock, proc, "the bare waitress app")
    return proc, sock


def get_request(onion: str) -> bytes:
    return f"GET /en/ HTTP/1.1\r\nHost: {onion}\r\n{GET_HEADERS}\r\n".encode()


def compare(
    table,
    net,
    link: Path,
    servers: dict[str, Path],
    make_requests,
    label: str,
    seconds: float,
    pids: dict[str, dict[str, int]],
) -> None:
    """pledgebox and the bare server, alternately behind the same onion, best of two each, per client count."""
    for clients in CLIENTS:
        best: dict[str, dict] = {}
        for round_ in range(2):
            for name, sock in servers.items():
                point(link, sock)
                r = measure(net, clients, make_requests(), seconds, f"{label}-{clients}-{name}-{round_}", pids[name])
                if name not in best or r["rate"] > best[name]["rate"]:
                    best[name] = r
        app, bare = best["pledgebox"], best["bare"]
        ratio = app["rate"] / bare["rate"] if bare["rate"] else 0.0
        cpu = ", ".join(f"{n} {share:.0%}" for n, share in app["cpu"].items())
        notes = "".join(f" [{r['errors']} errors]" for r in (app, bare) if r["errors"])
        notes += " [ran out of requests: figures void]" if app["ran_out"] or bare["ran_out"] else ""
        table.add(
            f"through the onion: {label}, {clients} clients",
            f"{app['rate']:,.0f}/s p50 {app['p50']:.0f} ms p99 {app['p99']:.0f} ms; bare server "
            f"{bare['rate']:,.0f}/s p50 {bare['p50']:.0f} ms p99 {bare['p99']:.0f} ms; ratio {ratio:.2f} "
            f"{verdict(ratio >= RATIO_GOAL)} (≥ {RATIO_GOAL}){notes}",
        )
        table.add(f"  CPU during it (share of one core), {label}, {clients} clients", cpu)


def run(table, seconds: float) -> None:
    """Start the network and both servers, then compare GET /en/ and confirms through the onion."""
    with tempfile.TemporaryDirectory(prefix="pledgebox-bench-tor-") as folder:
        work = Path(folder)
        data, _identities, secret = bench.make_data(work)
        app_sock, link = work / "app.sock", work / "onion.sock"
        # As deploy/pledgebox.service runs it: one worker per core.
        server = subprocess.Popen(
            [
                sys.executable,
                str(bench.ROOT / "app.py"),
                "serve",
                "--data",
                str(data),
                "--unix-socket",
                str(app_sock),
                "--workers",
                str(bench.WORKERS),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs = [server]
        net = None
        try:
            wait_for_socket(app_sock, server, "app.py serve")
            point(link, app_sock)
            started = time.monotonic()
            net = start_tor_network(work / "tor", link)
            table.add(
                "private Tor network started",
                f"in {time.monotonic() - started:.0f} s ({len(net.nodes)} tor processes on this machine)",
            )
            onion = net.onion
            count = int(1500 * (seconds + 1))
            sample = confirm_requests(data, secret, 0, 1, "sepa", host=onion)[0]
            get_bare, get_sock = bare_server(work, "get", unix_request(app_sock, get_request(onion)))
            confirm_bare, confirm_sock = bare_server(work, "confirm", unix_request(app_sock, sample))
            procs += [get_bare, confirm_bare]
            tor = {"hs tor": net.node("hs").proc.pid, "client tor": net.node("client").proc.pid}

            def pids(bare):
                return {"pledgebox": tor | {"server": server.pid}, "bare": tor | {"server": bare.pid}}

            compare(
                table,
                net,
                link,
                {"pledgebox": app_sock, "bare": get_sock},
                lambda: itertools.repeat(get_request(onion)),
                "GET /en/",
                seconds,
                pids(get_bare),
            )
            compare(
                table,
                net,
                link,
                {"pledgebox": app_sock, "bare": confirm_sock},
                lambda: iter(confirm_requests(data, secret, 0, count, "sepa", host=onion)),
                "confirm, SEPA receipt",
                seconds,
                pids(confirm_bare),
            )
        finally:
            if net is not None:
                net.stop()
            for proc in procs:
                proc.terminate()
                proc.wait(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each load run (default 5)")
    args = parser.parse_args(argv)
    table = Table()
    if shutil.which("tor") is None:
        print(f"through the onion: {SKIPPED}")
        return 0
    run(table, args.seconds)
    table.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
