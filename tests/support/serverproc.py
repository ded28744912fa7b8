"""The app as a real subprocess (`python app.py serve`) and a keep-alive HTTP client that pledges through it."""

from __future__ import annotations

import html
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

from helpers import FAST_SCRYPT, PASSPHRASE
from pledgebox import ROOT, cli, sealing
from pledgebox.store import read_records

START_TIMEOUT = 20.0  # seconds for a fresh interpreter to import everything and listen
LIMITS_FOR_LOAD = """
[limits]
token_min_age = 0
confirms_per_minute = 10000000
max_pending = 10000000
"""
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
_REFERENCE = re.compile(r'class="reference"[^>]*>([^<]+)<')


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerFailed(RuntimeError):
    """The server subprocess exited or never answered."""


class Server:
    """`python app.py serve --data DIR --host 127.0.0.1 --port P`, its output kept in files beside DIR."""

    def __init__(self, data: Path, *, log_dir: Path | None = None, args: tuple[str, ...] = (), preexec_fn=None):
        self.data = Path(data)
        # With --proxy-protocol every connection, the readiness probe's too, begins with a PROXY line.
        self.first_bytes = b"PROXY UNKNOWN\r\n" if "--proxy-protocol" in args else b""
        self.log_dir = Path(log_dir) if log_dir else self.data.parent
        self.args = tuple(args)
        self.preexec_fn = preexec_fn
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.runs = 0

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def host(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def start(self, timeout: float = START_TIMEOUT) -> Server:
        """Start the server (on a fresh free port unless it ran before) and wait until it answers GET /en/."""
        for _attempt in range(3):
            if not self.port or self.runs == 0:
                self.port = free_port()
            self.runs += 1
            out = open(self.log_dir / f"server-{self.port}-{self.runs}.out", "wb")
            err = open(self.log_dir / f"server-{self.port}-{self.runs}.err", "wb")
            with out, err:
                self.proc = subprocess.Popen(
                    [
                        sys.executable,
                        str(ROOT / "app.py"),
                        "serve",
                        "--data",
                        str(self.data),
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(self.port),
                        *self.args,
                    ],
                    cwd=ROOT,
                    stdout=out,
                    stderr=err,
                    stdin=subprocess.DEVNULL,
                    preexec_fn=self.preexec_fn,
                )
            if self._wait_ready(timeout):
                return self
            self.kill()
            # The port may have been taken between free_port() and bind(): try another.
            self.port = 0
        raise ServerFailed(f"the server did not start; its stderr:\n{self.output().decode(errors='replace')}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            conn = http.client.HTTPConnection(*self.host, timeout=2)
            try:
                if self.first_bytes:
                    conn.sock = socket.create_connection(self.host, timeout=2)
                    conn.sock.sendall(self.first_bytes)
                conn.request("GET", "/en/")
                if conn.getresponse().status == 200:
                    return True
            except OSError:
                pass
            finally:
                conn.close()
            time.sleep(0.05)
        return False

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM by PID, then SIGKILL if it lingers; the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return self.kill()

    def kill(self) -> int:
        """`kill -9` by PID: no chance to clean up."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        return self.proc.wait(10) if self.proc is not None else 0

    def output(self) -> bytes:
        """Everything every run of this server printed, stdout and stderr."""
        chunks = []
        for path in sorted(self.log_dir.glob("server-*.out")) + sorted(self.log_dir.glob("server-*.err")):
            chunks.append(path.read_bytes())
        return b"".join(chunks)

    def rss_kib(self) -> int:
        """Resident memory of the server process, in KiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise ServerFailed("no VmRSS")

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class PledgeRefused(Exception):
    """The server answered a pledge step with something other than success."""

    def __init__(self, step: str, status: int, body: bytes):
        super().__init__(f"{step}: HTTP {status}")
        self.step, self.status, self.body = step, status, body


class Client:
    """One visitor with one keep-alive connection, reconnecting when the server closes it."""

    def __init__(self, host: tuple[str, int], timeout: float = 30.0, headers: dict | None = None):
        self.host = host
        self.timeout = timeout
        self.headers = dict(headers or {})
        self.conn: http.client.HTTPConnection | None = None

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, dict, bytes]:
        """One request; (status, lower-cased headers, body)."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection(*self.host, timeout=self.timeout)
        try:
            self.conn.request(method, path, body=body, headers=self.headers | (headers or {}))
            resp = self.conn.getresponse()
            data = resp.read()
        except BaseException:
            self.close()
            raise
        head = {k.lower(): v for k, v in resp.getheaders()}
        if head.get("connection", "").lower() == "close":
            self.close()
        return resp.status, head, data

    def post(self, path: str, fields, headers: dict | None = None) -> tuple[int, dict, bytes]:
        """POST a URL-encoded form (a dict or a list of pairs), UTF-8 like a browser."""
        body = urlencode(fields, encoding="utf-8").encode("ascii")
        return self.request("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"} | (headers or {}))

    def check(self, lang: str, fields: dict, headers: dict | None = None) -> list[tuple[str, str]]:
        """Submit the form; the check page's hidden fields (with the token)."""
        status, _, body = self.post(f"/{lang}/pledge", fields, headers)
        if status != 200:
            raise PledgeRefused("pledge", status, body)
        return hidden_fields(body)

    def confirm(self, lang: str, hidden: list[tuple[str, str]], headers: dict | None = None) -> str:
        """Confirm a checked pledge; the reference on the receipt."""
        status, head, body = self.post(f"/{lang}/pledge/confirm", hidden, headers)
        if status != 200:
            raise PledgeRefused("confirm", status, body)
        assert head.get("cache-control") == "no-store"
        return reference_in(body)

    def pledge(self, lang: str, fields: dict, headers: dict | None = None) -> str:
        """Form, check, confirm: the reference."""
        return self.confirm(lang, self.check(lang, fields, headers), headers)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def hidden_fields(body: bytes) -> list[tuple[str, str]]:
    """The hidden form fields of a check page, unescaped."""
    found = [(html.unescape(n), html.unescape(v)) for n, v in _HIDDEN.findall(body.decode("utf-8"))]
    assert any(name == "token" for name, _ in found), "no token on the check page"
    return found


def reference_in(body: bytes) -> str:
    """The reference code on a receipt."""
    match = _REFERENCE.search(body.decode("utf-8"))
    assert match, "no reference on the receipt"
    return html.unescape(match.group(1))


def write_campaign(data: Path, text: str) -> Path:
    """Make a data folder holding campaign.toml with this text."""
    data.mkdir(parents=True, exist_ok=True)
    (data / "campaign.toml").write_text(text, encoding="utf-8")
    return data


def stored_plaintexts(data: Path, identity: sealing.Identity, out: Path) -> list[dict]:
    """What the organisers see: `collect` the data folder into out, then `review` it with identity."""
    assert cli.main(["collect", "--data", str(data), "--out", str(out)]) == 0
    keyfile, passfile, report = (out.with_name(out.name + suffix) for suffix in (".identity", ".pass", ".json"))
    identity.save(keyfile, PASSPHRASE, scrypt_n=FAST_SCRYPT)
    passfile.write_bytes(PASSPHRASE + b"\n")
    assert (
        cli.main(
            ["review", str(out), "--identity", str(keyfile), "--passphrase-file", str(passfile), "--json", str(report)]
        )
        == 0
    )
    doc = json.loads(report.read_text(encoding="utf-8"))
    assert doc["damaged"] == [] and doc["conflicts"] == [] and doc["duplicates"] == 0
    # The raw records too, opened directly: review must agree with them.
    direct = {json.loads(identity.open(item.record))["reference"] for item in read_records(out)}
    assert direct == {entry["reference"] for entry in doc["pledges"]}
    return doc["pledges"]
