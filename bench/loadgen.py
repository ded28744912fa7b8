"""A load generator that stays out of the way: raw keep-alive sockets, one thread per client, several processes.

Used by bench/run.py; one process is `python bench/loadgen.py SPEC.json` and prints its results as JSON.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

PROCESSES = 2  # one per core: a single Python process could not keep 64 connections busy


def read_response(sock: socket.socket, buf: bytes) -> tuple[int, bool, bytes]:
    """(status, connection closed, leftover) of one HTTP/1.1 response with a Content-Length."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the headers")
        buf += chunk
    head, _, buf = buf.partition(b"\r\n\r\n")
    lower = head.lower()
    status = int(head[9:12])
    length = 0
    for line in lower.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name == b"content-length":
            length = int(value)
    while len(buf) < length:
        chunk = sock.recv(max(65536, length - len(buf)))
        if not chunk:
            raise ConnectionError("closed in the body")
        buf += chunk
    return status, b"\r\nconnection: close" in lower, buf[length:]


def client(host: str, port: int, requests, lock: threading.Lock, start: float, end: float,
           out: list, errors: list) -> None:
    """One visitor on one keep-alive connection: (finish time, latency) of every request until `end`."""
    sock, buf = None, b""
    while True:
        with lock:
            request = next(requests, None)
        if request is None or time.time() >= end:
            break
        try:
            if sock is None:
                sock = socket.create_connection((host, port), timeout=30)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                buf = b""
            t0 = time.perf_counter()
            sock.sendall(request)
            status, closed, buf = read_response(sock, buf)
            latency = time.perf_counter() - t0
            done = time.time()
            if status != 200:
                errors.append(status)
            elif done >= start:
                out.append((done, latency))
            if closed:
                sock.close()
                sock = None
        except OSError as exc:
            errors.append(type(exc).__name__)
            if sock is not None:
                sock.close()
            sock = None
    if sock is not None:
        sock.close()


def run_process(spec: dict) -> dict:
    """Run spec['clients'] threads until spec['end']; requests come from spec['requests_file']."""
    listed = [item for item in Path(spec["requests_file"]).read_bytes().split(b"\0") if item]
    # The same GET forever, or each (one-time) confirm once.
    requests = iter(lambda: listed[0], None) if spec.get("repeat") else iter(listed)
    lock, out, errors = threading.Lock(), [], []
    threads = [threading.Thread(target=client, args=(spec["host"], spec["port"], requests, lock, spec["start"],
                                                     spec["end"], out, errors)) for _ in range(spec["clients"])]
    while time.time() < spec["start"] - spec["warmup"]:
        time.sleep(0.005)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"latencies": [lat for done, lat in out if done <= spec["end"]], "errors": errors,
            "ran_out": not spec.get("repeat") and next(requests, None) is None}


def measure(host: str, port: int, clients: int, requests: list[bytes], *, seconds: float, warmup: float = 0.5,
            repeat: bool = False, folder: Path) -> dict:
    """Drive the server from PROCESSES processes; throughput and latency percentiles over `seconds`."""
    procs = min(PROCESSES, clients)
    start = time.time() + 1.0 + warmup  # the processes start at the same moment, after their imports
    end = start + seconds
    children = []
    for p in range(procs):
        mine = requests if repeat else requests[p::procs]
        path = folder / f"requests-{p}.bin"
        path.write_bytes(b"\0".join(mine))
        spec = {"host": host, "port": port, "clients": clients // procs + (p < clients % procs),
                "requests_file": str(path), "start": start, "end": end, "warmup": warmup, "repeat": repeat}
        children.append(subprocess.Popen([sys.executable, __file__, json.dumps(spec)], stdout=subprocess.PIPE))
    latencies, errors, ran_out = [], [], False
    for child in children:
        out, _ = child.communicate(timeout=seconds + 60)
        result = json.loads(out)
        latencies += result["latencies"]
        errors += result["errors"]
        ran_out |= result["ran_out"]
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")

    return {"rate": len(latencies) / seconds, "p50": pct(0.50), "p99": pct(0.99), "count": len(latencies),
            "errors": len(errors), "error_kinds": sorted(set(map(str, errors)))[:5], "ran_out": ran_out}


if __name__ == "__main__":
    print(json.dumps(run_process(json.loads(sys.argv[1]))))
