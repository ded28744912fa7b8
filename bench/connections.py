"""Benchmarks of how connections are read: the cost of tor's PROXY line (serve --proxy-protocol), and the most
trickling connections at which new visitors are still answered within a second (pledgebox/connections.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import loadgen
from common import GET_RATIO_GOAL, Table, confirm_requests, errors_note, fetch, get_requests, verdict
from support import trickle
from support.serverproc import Server, free_port

ROOT = Path(__file__).resolve().parent.parent


def proxy_line(circuit: int) -> bytes:
    """The line tor writes for a stream on this circuit (HiddenServiceExportCircuitID haproxy)."""
    source = f"fc00:dead:beef:4dad::{circuit >> 16:x}:{circuit & 0xFFFF:x}"
    return f"PROXY TCP6 {source} ::1 {circuit & 0xFFFF} 80\r\n".encode()


ROUNDS = 5  # best of five, alternating: this machine is noisy


def proxy_line_cost(table: Table, data: Path, secret: bytes, work: Path, seconds: float) -> None:
    """GETs and confirms with and without tor's PROXY line, one request per connection (as every new tor
    stream is), against a bare waitress app on new connections too. Each confirm comes from another circuit,
    so the per-circuit table is used, not just asked."""
    bare_port = free_port()
    spec = work / "bare.json"
    bare = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "bare.py"), str(spec), str(bare_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # A data folder each, alike: a confirm's cost grows a little with the store behind it.
        twin = work / "data-proxied"
        shutil.rmtree(twin, ignore_errors=True)
        shutil.copytree(data, twin)
        with Server(data, log_dir=work) as plain, Server(twin, log_dir=work, args=("--proxy-protocol",)) as proxied:
            wait_for(("127.0.0.1", bare_port))
            line = proxy_line(0x2A)
            runs = {
                "bare waitress": (bare_port, b"", bare.pid),
                "no PROXY line": (plain.port, b"", plain.pid),
                "PROXY line": (proxied.port, line, proxied.pid),
            }
            best = {}
            for _round in range(ROUNDS):
                for name, (port, first, pid) in runs.items():
                    r = loadgen.measure(
                        "127.0.0.1",
                        port,
                        8,
                        [first + get_requests(port, close=True)[0]],
                        seconds=seconds,
                        repeat=True,
                        folder=work,
                        pid=pid,
                    )
                    if name not in best or r["rate"] > best[name]["rate"]:
                        best[name] = r | {"cpu_us": min(r["cpu_us"], best.get(name, r)["cpu_us"])}
                    else:
                        best[name]["cpu_us"] = min(r["cpu_us"], best[name]["cpu_us"])
            ratio = best["PROXY line"]["rate"] / best["bare waitress"]["rate"]
            # The server's CPU per request (the least of all runs): what the rate would show on a machine
            # with no neighbours.
            cpu_ratio = best["bare waitress"]["cpu_us"] / best["PROXY line"]["cpu_us"]
            each = ", ".join(f"{name} {r['rate']:,.0f}/s ({r['cpu_us']:.0f} µs CPU each)" for name, r in best.items())
            table.add(
                "GET /en/, a new connection per request, 8 clients",
                each + f"; PROXY line/bare ratio {ratio:.2f}, by CPU {cpu_ratio:.2f} "
                f"{verdict(cpu_ratio >= GET_RATIO_GOAL)} (≥ {GET_RATIO_GOAL}){errors_note(*best.values())}",
            )
            rates = {}
            for _round in range(ROUNDS):  # alternating, as for GETs
                for name, server, first in (("no PROXY line", plain, None), ("PROXY line", proxied, proxy_line)):
                    requests = confirm_requests(
                        data, secret, server.port, int(1500 * (seconds + 1)), "cash", first=first or (lambda i: b"")
                    )
                    r = loadgen.measure(
                        "127.0.0.1", server.port, 8, requests, seconds=seconds, folder=work, pid=server.pid
                    )
                    if name not in rates or r["rate"] > rates[name]["rate"]:
                        rates[name] = r | {"cpu_us": min(r["cpu_us"], rates.get(name, r)["cpu_us"])}
                    else:
                        rates[name]["cpu_us"] = min(r["cpu_us"], rates[name]["cpu_us"])
            table.add(
                "confirm with fsync, a new connection per request, 8 clients, cash",
                ", ".join(
                    f"{name} {r['rate']:,.0f}/s p99 {r['p99']:.1f} ms ({r['cpu_us']:.0f} µs CPU each)"
                    for name, r in rates.items()
                )
                + f" (each from another circuit){errors_note(*rates.values())}",
            )
    finally:
        bare.kill()
        bare.wait(10)


def wait_for(host: tuple[str, int], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            fetch(host, "/en/", {})
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"bench: nothing answers on {host}") from None
            time.sleep(0.05)


TRICKLING = (1000, 2000, 5000, 10000)  # connections held, each sending a byte every EVERY seconds
TRICKLE_EVERY = 10.0
TRICKLE_PROBES = 20  # new visitors, one a second, after the attack is in place
TRICKLE_GOAL = 1.0  # seconds


def trickling(table: Table, data: Path, work: Path, workers: int = 1) -> None:
    """The most trickling connections (up to 10,000) at which a new GET /en/ is still answered within a second."""
    trickle.raise_fd_limit(max(TRICKLING) + 1024)
    largest = 0
    for count in TRICKLING:
        args = ("--workers", str(workers)) if workers > 1 else ()
        with (
            Server(data, log_dir=work, args=args) as server,
            trickle.Attack(server.host, count, TRICKLE_EVERY) as attack,
        ):
            waits = []
            for _ in range(TRICKLE_PROBES):
                time.sleep(1.0)
                try:
                    waits.append(trickle.visit(server.host))
                except OSError:
                    waits.append(float("inf"))
            held = attack.held()
        waits.sort()
        ok = waits[-1] < TRICKLE_GOAL
        if ok:
            largest = count
        table.add(
            f"new GET /en/ while {count:,} connections trickle a byte every {TRICKLE_EVERY:g} s"
            f"{f', --workers {workers}' if workers > 1 else ''}",
            f"median {waits[len(waits) // 2] * 1000:.0f} ms, worst of {len(waits)} "
            f"{waits[-1] * 1000:.0f} ms {verdict(ok)} (< {TRICKLE_GOAL:g} s); {held:,} held at the end",
        )
        if not ok:
            break
    table.add(
        f"most trickling connections with new GETs under {TRICKLE_GOAL:g} s"
        f"{f', --workers {workers}' if workers > 1 else ''}",
        f"{largest:,} (tried up to {max(TRICKLING):,})",
    )
