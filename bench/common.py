"""What bench/run.py and bench/connections.py share: the result table, the requests they send, HTTP fetches."""

from __future__ import annotations

import http.client
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

from pledgebox import config, pledges
from pledgebox.i18n import catalogs

GET_RATIO_GOAL = 0.9
GET_HEADERS = (
    "Accept: text/html,application/xhtml+xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate\r\n"
    "User-Agent: Mozilla/5.0 (Windows NT 10.0; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
)


class Table:
    """Rows of (section, figure, value), printed at the end."""

    def __init__(self):
        self.rows: list[tuple[str, str]] = []
        self.started = time.monotonic()

    def add(self, figure: str, value: str) -> None:
        self.rows.append((figure, value))
        print(f"  {figure}: {value}", file=sys.stderr, flush=True)

    def print(self) -> None:
        wide = max(len(f) for f, _ in self.rows)
        print(
            f"\npledgebox benchmarks ({os.cpu_count()} cores, Python {platform.python_version()}, "
            f"{time.monotonic() - self.started:.0f} s)\n"
        )
        print(f"{'figure':<{wide}}  value")
        print(f"{'-' * wide}  {'-' * 40}")
        for figure, value in self.rows:
            print(f"{figure:<{wide}}  {value}")


def verdict(ok: bool) -> str:
    return "ok" if ok else "BELOW GOAL"


def fetch(host, path: str, headers: dict) -> tuple[list[tuple[str, str]], bytes]:
    conn = http.client.HTTPConnection(*host, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        res = conn.getresponse()
        return res.getheaders(), res.read()
    finally:
        conn.close()


def get_requests(port: int, close: bool = False) -> list[bytes]:
    connection = "Connection: close\r\n" if close else ""
    return [f"GET /en/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{GET_HEADERS}{connection}\r\n".encode()]


def errors_note(*results) -> str:
    bad = sum(r["errors"] for r in results)
    return f" [{bad} errors: {', '.join(sum((r['error_kinds'] for r in results), []))}]" if bad else ""


def confirm_requests(
    data: Path,
    secret: bytes,
    port: int,
    count: int,
    method: str,
    first: Callable[[int], bytes] | None = None,
    host: str = "",
) -> list[bytes]:
    """`count` confirm requests, each with its own valid one-time token, as a browser would post them.

    first: each on a connection of its own, beginning with first(i) (b"" or a PROXY line).
    host: the Host header (an onion address, say); 127.0.0.1:port when empty.
    """
    cfg = config.load(data)
    t = catalogs()["en"]
    tokens = pledges.Tokens(secret, cfg.limits.token_min_age, cfg.limits.token_max_age)
    out = []
    now = time.time()
    host = host or f"127.0.0.1:{port}"
    for i in range(count):
        values = {
            "amount": f"{10 + i % 90}.50",
            "designation": ("split", "solidarity-zone")[i % 2],
            "method": method,
            "pseudonym": f"Bench {i}",
            "contact": "",
            "message": "Solidarität — солидарность",
            "website": "",
        }
        pledge, errors = pledges.validate(values, "en", cfg, t)
        assert not errors, errors
        body = urlencode(values | {"token": tokens.issue(pledge, now)}).encode()
        connection = "Connection: close\r\n" if first else ""
        out.append(
            (first(i) if first else b"")
            + f"POST /en/pledge/confirm HTTP/1.1\r\nHost: {host}\r\n{GET_HEADERS}{connection}"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
    return out


def sample_pledge(reference: str) -> bytes:
    """A typical pledge's plaintext as the web app seals it (Cyrillic and German in the free text)."""
    doc = {
        "reference": reference,
        "amount": "25.00",
        "currency": "EUR",
        "designation": "split",
        "method": "sepa",
        "pseudonym": "Аня",
        "contact": "",
        "message": "Солидарность — Solidarität",
        "language": "de",
        "day": "2026-11-25",
    }
    return json.dumps(doc, ensure_ascii=False).encode()
