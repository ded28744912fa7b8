"""Load from wrk (Debian's `wrk`, written in C): keep-alive clients that leave the cores to the server.

A load generator in Python spent about half of this 2-core machine on itself, so the server's
figures measured the generator as much as the server. wrk sends pre-built requests (each
one-time confirm exactly once) through bench/wrk-requests.lua and reports JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "wrk-requests.lua"
THREADS = 2  # wrk's own threads, one per core; each drives clients / THREADS connections


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    host: str,
    port: int,
    clients: int,
    requests: list[bytes],
    *,
    seconds: float,
    repeat: bool = False,
    folder: Path,
    pid: int = 0,
) -> dict:
    """Throughput and latency percentiles of `clients` keep-alive connections over `seconds`.

    repeat: send requests[0] again and again (a GET); otherwise each request at most once.
    pid: the server's process, to also count the CPU time it spent per request ("cpu_us"): unlike
    the rate, hardly changed by other programs on a busy machine.
    """
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit(
            "bench: wrk is missing; install it with `apt-get install wrk` (scripts/install-system-deps.sh does)"
        )
    threads = min(THREADS, clients)
    path = folder / "requests.bin"
    path.write_bytes(b"\0".join(requests[:1] if repeat else requests))
    cpu = cpu_seconds(pid) if pid else 0.0
    result = _run(wrk, host, port, clients, threads, seconds, path, repeat=repeat)
    cpu = cpu_seconds(pid) - cpu if pid else 0.0
    duration = result["duration_us"] / 1e6
    errors = result["errors"]
    # wrk counts a 4xx or 5xx answer as a request too: only 2xx and 3xx count here.
    return {
        "rate": (result["requests"] - errors["status"]) / duration,
        "p50": result["p50_us"] / 1000,
        "p99": result["p99_us"] / 1000,
        "count": result["requests"],
        "errors": sum(errors.values()),
        "cpu_us": cpu / max(1, result["requests"]) * 1e6,
        "error_kinds": sorted(k for k, v in errors.items() if v),
        "ran_out": bool(result["ran_out"]),
    }


def _run(
    wrk: str, host: str, port: int, clients: int, threads: int, seconds: float, path: Path, *, repeat: bool
) -> dict:
    """One wrk run; its done() callback prints one JSON line last."""
    out = subprocess.run(
        [
            wrk,
            "-t",
            str(threads),
            "-c",
            str(clients),
            "-d",
            f"{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(SCRIPT),
            f"http://{host}:{port}/",
            "--",
            str(path),
            "1" if repeat else "0",
            str(threads),
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise SystemExit(f"bench: wrk failed ({out.returncode}): {out.stderr.strip() or out.stdout[-500:]}")
    return json.loads(lines[-1])
