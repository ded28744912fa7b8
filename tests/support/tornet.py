"""A private Tor network on loopback, with a real v3 onion service, for tests.

Nothing here talks to the public Tor network or to any address off this
machine: every node listens on 127.0.0.1 only, knows only our own directory
authorities, exits accept 127.0.0.0/8 and reject everything else, and relays
resolve DNS through a resolv.conf that names 127.0.0.1 only.

Layout (all files under ``workdir``)::

    auth0..auth2   directory authorities (also relays)
    exit0, exit1   relays that may exit to 127.0.0.0/8 only
    relay0         a middle relay
    hs             the onion service: HiddenServicePort 80 -> unix:TARGET
    client         a client with a SOCKS port for the tests

Usage::

    from support.tornet import start_tor_network, fetch

    net = start_tor_network(tmp_path / "tor", Path("/tmp/x/app.sock"))
    try:
        status, headers, body = fetch(net.socks_port, f"http://{net.onion}/")
    finally:
        net.stop()

A session fixture in conftest.py could be::

    @pytest.fixture(scope="session")
    def tor_network(tmp_path_factory, app_socket):   # app_socket: server is up
        net = start_tor_network(tmp_path_factory.mktemp("tor"), app_socket)
        yield net
        net.stop()

The server behind ``target_socket`` should be listening before ``start()``
(start() ends with a real connection through the onion; pass
``probe=False`` to skip that and only wait for the descriptor upload).

Only the standard library is used.  ``tor`` and ``tor-gencert`` come from
Debian's ``tor`` package (``scripts/install-system-deps.sh``).

Running as root: tor 0.4.9 runs as root; it only logs "[warn] You are
running Tor as root. You don't need to, and you probably shouldn't."  We do
NOT use the ``User`` option: tor would then switch to debian-tor after
start-up and could no longer use the data directories we created (root's,
mode 0700 as tor demands), nor perhaps connect to the application's socket.
Run by any other user, tor just runs as that user.  The "[warn]" lines about
DirAuthority, TestingTorNetwork, SafeLogging and (on the onion service)
UseEntryGuards are expected.

Timing (2 cores): start() takes 17-30 s: ~3 s of key generation, 0-9 s
waiting for a good moment to launch (see _launch_window), ~10 s to the first
consensus, ~5 s until the descriptor is uploaded.  A GET through the onion
then takes 10-200 ms.  Tor versions: written against Debian 12's 0.4.9.

Each non-default option is there for a measured reason, explained where it
is set; without them start-up took 20-65 s and stalled now and then.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import http.client
import ipaddress
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
import urllib.parse
import weakref
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "INSTALL_HINT",
    "SocksError",
    "TorNetwork",
    "TorNetworkError",
    "TorNotInstalledError",
    "fetch",
    "socks5_connect",
    "start_tor_network",
]

INSTALL_HINT = (
    "tor is not installed: run `bash scripts/install-system-deps.sh` "
    "(Debian package `tor`, which provides /usr/bin/tor and /usr/bin/tor-gencert: "
    "apt-get update && apt-get install -y --no-install-recommends tor)"
)

# Longest path a UNIX socket address can hold (sizeof(sun_path) - NUL).
_MAX_UNIX_PATH = 107

# Options every node gets.  TestingTorNetwork relaxes the rules that keep a
# real network safe but make a one-machine network impossible (private
# addresses, distinct subnets, long schedules).  The Testing* flag votes make
# every relay Exit/HSDir/Guard at once, so no uptime is needed.  Voting every
# 20 s (4 s vote + 4 s distribution delay) keeps consensuses coming quickly;
# the first one is voted on a 10 s grid (see TorNetwork._launch_window).
_COMMON_OPTIONS = """\
TestingTorNetwork 1
AssumeReachable 1
PathsNeededToBuildCircuits 0.67
TestingDirAuthVoteExit *
TestingDirAuthVoteHSDir *
TestingDirAuthVoteGuard *
TestingMinExitFlagThreshold 0
V3AuthVotingInterval {interval}
V3AuthVoteDelay {vote_delay}
V3AuthDistDelay {dist_delay}
TestingV3AuthInitialVotingInterval {initial_interval}
TestingV3AuthInitialVoteDelay {initial_vote_delay}
TestingV3AuthInitialDistDelay {initial_dist_delay}
ShutdownWaitLength 0
SafeLogging 0
ProtocolWarnings 0
"""

# Extra options for every node with an ORPort (authorities and relays).
# DNS: tor relays read /etc/resolv.conf, whose nameserver is off-machine;
# point them at a resolv.conf naming only 127.0.0.1 and switch off the DNS
# hijacking self-test (which would resolve random public names).
_RELAY_OPTIONS = """\
Address 127.0.0.1
ServerDNSDetectHijacking 0
ServerDNSAllowBrokenConfig 1
ServerDNSResolvConfFile {resolv_conf}
"""

_EXIT_POLICY_LOOPBACK = """\
ExitRelay 1
ExitPolicyRejectPrivate 0
ExitPolicyRejectLocalInterfaces 0
ExitPolicy accept 127.0.0.0/8:*
ExitPolicy reject *:*
"""

_EXIT_POLICY_NONE = """\
ExitRelay 0
ExitPolicy reject *:*
"""

_UPLOAD_OK = re.compile(r"Uploaded hidden service descriptor \(status 200")
_BOOTSTRAPPED_100 = "Bootstrapped 100%"

# SOCKS5 reply codes, with tor's extended errors (SocksPort ... ExtendedErrors).
SOCKS5_ERRORS = {
    0x01: "general SOCKS server failure",
    0x02: "connection not allowed by ruleset (exit policy)",
    0x03: "network unreachable",
    0x04: "host unreachable",
    0x05: "connection refused (is the server behind the onion listening?)",
    0x06: "TTL expired (timed out)",
    0x07: "command not supported",
    0x08: "address type not supported",
    0xF0: "onion service descriptor can not be found",
    0xF1: "onion service descriptor is invalid",
    0xF2: "onion service introduction failed",
    0xF3: "onion service rendezvous failed",
    0xF4: "onion service missing client authorization",
    0xF5: "onion service wrong client authorization",
    0xF6: "onion service invalid address",
    0xF7: "onion service introduction timed out",
}


class TorNetworkError(RuntimeError):
    """The private Tor network could not be set up; the message has the logs."""


class TorNotInstalledError(TorNetworkError):
    """tor / tor-gencert are not on PATH."""


class SocksError(ConnectionError):
    """The SOCKS5 server (tor) refused or failed a CONNECT."""

    def __init__(self, code: int, target: str):
        self.code = code
        self.target = target
        reason = SOCKS5_ERRORS.get(code, "unknown error")
        super().__init__(f"SOCKS5 CONNECT to {target} failed: 0x{code:02X} {reason}")


# --------------------------------------------------------------------------
# SOCKS5h + HTTP client (standard library only)
# --------------------------------------------------------------------------


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("SOCKS server closed the connection mid-reply")
        buf += chunk
    return buf


def socks5_connect(
    socks_port: int,
    host: str,
    port: int,
    timeout: float = 60.0,
    socks_host: str = "127.0.0.1",
    isolation: str = "",
) -> socket.socket:
    """Open a TCP stream to ``host:port`` through a SOCKS5 proxy.

    The host name is sent to the proxy unresolved (SOCKS5 "domain name"
    address type, a.k.a. socks5h), so ``.onion`` names are resolved by tor.
    ``isolation``: a SOCKS5 user name (RFC 1929); tor's IsolateSOCKSAuth
    (on by default) then keeps streams with different names on different
    circuits, as Tor Browser does per site.
    Raises ``SocksError`` (with ``.code``) when tor refuses the request.
    """
    sock = socket.create_connection((socks_host, socks_port), timeout=timeout)
    try:
        wanted = 2 if isolation else 0  # user name and password, or no authentication
        sock.sendall(bytes([5, 1, wanted]))
        ver, method = _recv_exact(sock, 2)
        if ver != 5 or method != wanted:
            raise ConnectionError(f"SOCKS5 handshake refused (ver={ver}, method={method})")
        if isolation:
            name = isolation.encode()
            sock.sendall(bytes([1, len(name)]) + name + bytes([1]) + b"x")
            if _recv_exact(sock, 2) != b"\x01\x00":
                raise ConnectionError("SOCKS5 user name refused")
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            name = host.encode("idna")
            if len(name) > 255:
                raise ValueError(f"host name too long for SOCKS5: {host!r}") from None
            addr = b"\x03" + bytes([len(name)]) + name
        else:
            addr = (b"\x01" if ip.version == 4 else b"\x04") + ip.packed
        sock.sendall(b"\x05\x01\x00" + addr + struct.pack("!H", port))
        ver, rep, _rsv, atyp = _recv_exact(sock, 4)
        if ver != 5:
            raise ConnectionError(f"bad SOCKS5 reply version {ver}")
        # Read the bound address so the stream starts at the payload.
        if atyp == 1:
            _recv_exact(sock, 4 + 2)
        elif atyp == 4:
            _recv_exact(sock, 16 + 2)
        elif atyp == 3:
            (length,) = _recv_exact(sock, 1)
            _recv_exact(sock, length + 2)
        if rep != 0:
            raise SocksError(rep, f"{host}:{port}")
        return sock
    except BaseException:
        sock.close()
        raise


class _SocksHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, socks_port: int, timeout: float, isolation: str = ""):
        super().__init__(host, port, timeout=timeout)
        self._socks_port = socks_port
        self._isolation = isolation

    def connect(self) -> None:
        self.sock = socks5_connect(
            self._socks_port, self.host, self.port, timeout=self.timeout, isolation=self._isolation
        )


def fetch(
    socks_port: int,
    url: str,
    method: str = "GET",
    body: bytes | str | dict | None = None,
    headers: dict | None = None,
    timeout: float = 60.0,
    isolation: str = "",
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One HTTP/1.1 request through tor's SOCKS port; returns (status, headers, body).

    ``headers`` is an ``http.client.HTTPMessage``: case-insensitive
    (``headers["content-type"]``), with ``headers.get_all("set-cookie")`` for
    repeated fields.  ``body`` may be bytes, str (sent as UTF-8) or a dict
    (sent form-encoded as application/x-www-form-urlencoded).  Every request
    carries ``Connection: close``; redirects are not followed.  Only http://
    URLs are supported (an onion is already end-to-end encrypted).
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"fetch() needs an http:// URL, got {url!r}")
    port = parts.port or 80
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    hdrs = {k: v for k, v in (headers or {}).items()}
    if isinstance(body, dict):
        body = urllib.parse.urlencode(body, doseq=True).encode()
        if not any(k.lower() == "content-type" for k in hdrs):
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
    elif isinstance(body, str):
        body = body.encode("utf-8")
    if not any(k.lower() == "connection" for k in hdrs):
        hdrs["Connection"] = "close"
    if body is None and method.upper() in ("POST", "PUT", "PATCH"):
        body = b""  # makes http.client send Content-Length: 0
    conn = _SocksHTTPConnection(parts.hostname, port, socks_port, timeout, isolation)
    try:
        conn.request(method, target, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, resp.headers, data
    finally:
        conn.close()


# --------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------


@dataclass
class _Node:
    name: str
    role: str  # authority | exit | relay | hs | client
    datadir: Path
    orport: int | None = None
    dirport: int | None = None
    socksport: int | None = None
    fingerprint: str | None = None  # RSA identity, 40 hex
    v3ident: str | None = None  # authority signing-cert identity, 40 hex
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def torrc(self) -> Path:
        return self.datadir / "torrc"

    @property
    def notice_log(self) -> Path:
        return self.datadir / "notice.log"

    @property
    def info_log(self) -> Path:
        return self.datadir / "info.log"

    @property
    def stdout_log(self) -> Path:
        return self.datadir / "stdout.log"


def _free_ports(n: int) -> list[int]:
    """n distinct free TCP ports on 127.0.0.1 (held open together, then released)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _tail(path: Path, lines: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 256 * lines))
            text = f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return "(no file)"
    return "\n".join(text.splitlines()[-lines:])


def _read(path: Path) -> str:
    try:
        return path.read_text("utf-8", "replace")
    except FileNotFoundError:
        return ""


def _fpr_to_b64(fpr: str) -> str:
    return base64.b64encode(binascii.unhexlify(fpr)).decode().rstrip("=")


_live_networks: weakref.WeakSet[TorNetwork] = weakref.WeakSet()


@atexit.register
def _stop_leftovers() -> None:  # pragma: no cover - safety net
    for net in list(_live_networks):
        net.stop()


class TorNetwork:
    """A private Tor network on loopback fronting ``target_socket`` with an onion.

    ``start()`` blocks until the onion answers (or raises TorNetworkError
    with every node's log tail); then ``onion``, ``url`` and ``socks_port``
    are set.  ``stop()`` ends every tor process (also run at interpreter exit,
    and each tor exits by itself if ``owner_pid`` dies).
    """

    N_AUTHORITIES = 3
    N_EXITS = 2
    N_MIDDLES = 1

    # Voting schedule (seconds).  Votes happen VOTE_DELAY + DIST_DELAY before
    # each multiple of the interval (unix time), the consensus at the multiple.
    # The initial values hold until the first consensus exists.  A 20 s
    # interval makes the onion-service time period (24 voting rounds) 8 min.
    VOTING_INTERVAL, VOTE_DELAY, DIST_DELAY = 20, 4, 4
    INITIAL_VOTING_INTERVAL, INITIAL_VOTE_DELAY, INITIAL_DIST_DELAY = 10, 2, 2
    # Relays post their descriptors ~2 s after launch; the first vote must
    # come later than that or the first consensus lacks them.
    LAUNCH_MARGIN = 5.0

    def __init__(
        self,
        workdir: Path | str,
        target_socket: Path | str,
        *,
        onion_port: int = 80,
        tor_binary: str | None = None,
        owner_pid: int | None = None,
        debug_logs: bool | None = None,
        export_circuit_id: bool = False,
    ):
        self.workdir = Path(workdir).resolve()
        self.target_socket = Path(target_socket).absolute()
        self.onion_port = onion_port
        # HiddenServiceExportCircuitID haproxy: each stream to the app begins with a PROXY line
        # naming its circuit (the app must run with `serve --proxy-protocol`).
        self.export_circuit_id = export_circuit_id
        self.owner_pid = owner_pid if owner_pid is not None else os.getpid()
        if debug_logs is None:
            debug_logs = os.environ.get("TORNET_DEBUG", "") not in ("", "0")
        self.debug_logs = debug_logs
        self._tor = tor_binary or shutil.which("tor")
        self._gencert = shutil.which("tor-gencert")
        self.nodes: list[_Node] = []
        self.onion: str | None = None
        self.socks_port: int | None = None
        self.timings: dict[str, float] = {}
        self._lock = threading.Lock()
        self._started = False

    # ----------------------------------------------------------- properties

    @property
    def url(self) -> str:
        """``http://<onion>/`` (with the port when it is not 80)."""
        if not self.onion:
            raise TorNetworkError("network not started")
        port = "" if self.onion_port == 80 else f":{self.onion_port}"
        return f"http://{self.onion}{port}/"

    @property
    def authorities(self) -> list[_Node]:
        return [n for n in self.nodes if n.role == "authority"]

    @property
    def relays(self) -> list[_Node]:
        """Every node with an ORPort (authorities included)."""
        return [n for n in self.nodes if n.orport]

    def node(self, name: str) -> _Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def fetch(self, path: str = "/", **kwargs):
        """``fetch()`` against this network's onion; ``path`` is relative to the onion root."""
        if self.socks_port is None:
            raise TorNetworkError("network not started")
        return fetch(self.socks_port, urllib.parse.urljoin(self.url, path), **kwargs)

    # ---------------------------------------------------------------- setup

    def _check_environment(self) -> None:
        if not self._tor or not self._gencert:
            missing = [n for n, p in (("tor", self._tor), ("tor-gencert", self._gencert)) if not p]
            raise TorNotInstalledError(f"{', '.join(missing)} not found on PATH. {INSTALL_HINT}")
        for what, p in (("workdir", self.workdir), ("target_socket", self.target_socket)):
            if re.search(r"[\s\"'\\]", str(p)):
                raise TorNetworkError(f"{what} path must not contain spaces, quotes or backslashes: {p}")
        if len(os.fsencode(str(self.target_socket))) > _MAX_UNIX_PATH:
            raise TorNetworkError(
                f"target_socket path is longer than {_MAX_UNIX_PATH} bytes, "
                f"which a UNIX socket address cannot hold: {self.target_socket}"
            )

    def _layout(self) -> None:
        names = (
            [(f"auth{i}", "authority") for i in range(self.N_AUTHORITIES)]
            + [(f"exit{i}", "exit") for i in range(self.N_EXITS)]
            + [(f"relay{i}", "relay") for i in range(self.N_MIDDLES)]
            + [("hs", "hs"), ("client", "client")]
        )
        n_ports = 2 * self.N_AUTHORITIES + self.N_EXITS + self.N_MIDDLES + 1
        ports = iter(_free_ports(n_ports))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.nodes = []
        for name, role in names:
            datadir = self.workdir / name
            if datadir.exists():
                shutil.rmtree(datadir)
            datadir.mkdir(mode=0o700)
            node = _Node(name=name, role=role, datadir=datadir)
            if role in ("authority", "exit", "relay"):
                node.orport = next(ports)
            if role == "authority":
                node.dirport = next(ports)
            if role == "client":
                node.socksport = next(ports)
            self.nodes.append(node)
        self.resolv_conf = self.workdir / "resolv.conf"
        self.resolv_conf.write_text("nameserver 127.0.0.1\n")

    def _run(self, argv: list[str], **kw) -> subprocess.Popen:
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)

    def _make_keys(self) -> None:
        """Authority v3 keys (tor-gencert) and every relay's RSA identity, in parallel."""
        jobs: list[tuple[str, subprocess.Popen]] = []
        for n in self.authorities:
            keys = n.datadir / "keys"
            keys.mkdir(mode=0o700)
            p = subprocess.Popen(
                [
                    self._gencert,
                    "--create-identity-key",
                    "--passphrase-fd",
                    "0",
                    "-m",
                    "12",
                    "-a",
                    f"127.0.0.1:{n.dirport}",
                    "-i",
                    str(keys / "authority_identity_key"),
                    "-s",
                    str(keys / "authority_signing_key"),
                    "-c",
                    str(keys / "authority_certificate"),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            # The passphrase protects the identity key on disk; it is thrown away.
            p.stdin.write(b"tornet-test-passphrase\n")
            p.stdin.flush()
            jobs.append((f"tor-gencert for {n.name}", p))
        for n in self.relays:
            jobs.append(
                (
                    f"tor --list-fingerprint for {n.name}",
                    self._run(
                        [
                            self._tor,
                            "--quiet",
                            "--ignore-missing-torrc",
                            "-f",
                            os.devnull,
                            "--list-fingerprint",
                            "--ORPort",
                            "1",
                            "--DataDirectory",
                            str(n.datadir),
                            "--Nickname",
                            n.name,
                        ]
                    ),
                )
            )
        failures = []
        try:
            for what, p in jobs:
                if p.stdin:
                    p.stdin.close()
                    p.stdin = None
                out, _ = p.communicate(timeout=120)
                if p.returncode != 0:
                    failures.append(f"{what} failed ({p.returncode}):\n{out.decode(errors='replace')}")
        finally:
            for _, p in jobs:  # reap everything, even after a timeout
                if p.poll() is None:
                    p.kill()
                    p.communicate()
        if failures:
            raise TorNetworkError("\n".join(failures))
        for n in self.relays:
            text = _read(n.datadir / "fingerprint").split()
            if len(text) != 2 or not re.fullmatch(r"[0-9A-F]{40}", text[1]):
                raise TorNetworkError(f"bad fingerprint file for {n.name}: {text!r}")
            n.fingerprint = text[1]
            # --list-fingerprint leaves a lock file; tor takes its own.
            (n.datadir / "lock").unlink(missing_ok=True)
        for n in self.authorities:
            m = re.search(r"^fingerprint ([0-9A-F]{40})$", _read(n.datadir / "keys" / "authority_certificate"), re.M)
            if not m:
                raise TorNetworkError(f"no fingerprint in {n.name}'s authority_certificate")
            n.v3ident = m.group(1)

    def _torrc(self, n: _Node) -> str:
        dir_authorities = "".join(
            f"DirAuthority {a.name} orport={a.orport} no-v2 v3ident={a.v3ident} 127.0.0.1:{a.dirport} {a.fingerprint}\n"
            for a in self.authorities
        )
        lines = [
            f"# {n.name} ({n.role}) - written by tests/tornet.py",
            f"DataDirectory {n.datadir}",
            f"Nickname {n.name}",
            f"__OwningControllerProcess {self.owner_pid}",
            f"Log notice file {n.notice_log}",
        ]
        if self.debug_logs:
            lines.append(f"Log info file {n.info_log}")
        elif n.role in ("hs", "client"):
            # The descriptor-upload line is info-level in the rend domain.
            lines.append(f"Log [rend]info file {n.info_log}")
        lines.append(
            _COMMON_OPTIONS.format(
                interval=self.VOTING_INTERVAL,
                vote_delay=self.VOTE_DELAY,
                dist_delay=self.DIST_DELAY,
                initial_interval=self.INITIAL_VOTING_INTERVAL,
                initial_vote_delay=self.INITIAL_VOTE_DELAY,
                initial_dist_delay=self.INITIAL_DIST_DELAY,
            ).rstrip("\n")
        )
        lines.append(dir_authorities.rstrip("\n"))
        if n.orport:
            lines.append(f"ORPort 127.0.0.1:{n.orport}")
            lines.append(_RELAY_OPTIONS.format(resolv_conf=self.resolv_conf).rstrip("\n"))
            lines.append(f"ContactInfo {n.name}@tornet.invalid")
            lines.append("SocksPort 0")
            lines.append((_EXIT_POLICY_LOOPBACK if n.role == "exit" else _EXIT_POLICY_NONE).rstrip("\n"))
        if n.role == "authority":
            lines += [
                "AuthoritativeDirectory 1",
                "V3AuthoritativeDirectory 1",
                f"DirPort 127.0.0.1:{n.dirport}",
                # Vote Stable and Fast for every relay from the start.  By
                # default Stable goes to relays with at least the median
                # uptime and Fast to those above the 25th bandwidth
                # percentile: with six new relays, a random subset that
                # changes from one consensus to the next.  Onion-service
                # circuits need Stable (and Fast) hops, and with only two or
                # three eligible relays the service kept building impossible
                # paths until a later consensus.
                "AuthDirVoteStableGuaranteeMinUptime 0 seconds",
                "AuthDirVoteStableGuaranteeMTBF 0 seconds",
                "AuthDirFastGuarantee 1 byte",
            ]
        if n.role in ("hs", "client"):
            # Fetch directory info from the authorities, as caches do.  The
            # relays' caches lag a consensus behind at start-up (the relays
            # republish their descriptors just as the first consensus comes
            # out), answer 404 for the new microdescriptors, and tor then
            # retries only every 10 s: that alone cost 10-30 s per start.
            lines += ["FetchDirInfoEarly 1", "FetchDirInfoExtraEarly 1"]
            # No entry guards (and so no vanguards-lite).  For onion-service
            # circuits tor picks the last hop first and then the guard
            # WITHOUT excluding that last hop (guards_choose_guard: "unless
            # we're vanguards"; every onion circuit counts as one).  With six
            # relays and bandwidth-weighted picks, guard == last hop kept
            # happening; the middle relay refuses such an extend ("asked me
            # to extend back to the previous hop") and the service or client
            # stalled ~25 s, until a new consensus, on 1 start in 4.  Without
            # guards the first hop is picked excluding the last hop.
            lines += ["VanguardsLiteEnabled 0", "UseEntryGuards 0"]
        if n.role == "hs":
            hsdir = n.datadir / "onion"
            hsdir.mkdir(mode=0o700, exist_ok=True)
            lines += [
                "SocksPort 0",
                f"HiddenServiceDir {hsdir}",
                f"HiddenServicePort {self.onion_port} unix:{self.target_socket}",
            ]
            if self.export_circuit_id:
                lines.append("HiddenServiceExportCircuitID haproxy")
        if n.role == "client":
            lines.append(f"SocksPort 127.0.0.1:{n.socksport} ExtendedErrors")
        return "\n".join(lines) + "\n"

    def _launch(self, n: _Node) -> None:
        n.torrc.write_text(self._torrc(n))
        with open(n.stdout_log, "ab") as out:
            n.proc = subprocess.Popen(
                [self._tor, "-f", str(n.torrc), "--ignore-missing-torrc"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=n.datadir,
                start_new_session=True,  # keep terminal ^C away; stop() ends them
            )

    def _launch_window(self) -> float:
        """Seconds to wait before launching so the first consensus lists every relay.

        The first consensus is for the next multiple T of the initial
        interval; its vote is due at V = T - vote delay - dist delay, but an
        authority launched between V and T votes at once, ~2 s after launch.
        Relays post their descriptors ~2 s after launch, so a vote less than
        LAUNCH_MARGIN after launch misses them, and the next consensus comes
        a whole (20 s) interval later.  So launch now only if V is far enough
        ahead; otherwise wait for T to pass, which leaves the next vote
        (interval - delays) = 6 s ahead.
        """
        grid = self.INITIAL_VOTING_INTERVAL
        before = self.INITIAL_VOTE_DELAY + self.INITIAL_DIST_DELAY
        now = time.time()
        next_t = (int(now // grid) + 1) * grid
        if next_t - before - now >= self.LAUNCH_MARGIN:
            return 0.0
        return next_t - now + 0.2

    # -------------------------------------------------------------- waiting

    def _check_alive(self) -> None:
        for n in self.nodes:
            if n.proc is not None and n.proc.poll() is not None:
                raise TorNetworkError(f"tor node {n.name} exited with code {n.proc.returncode}\n\n{self.logs()}")

    def _wait(self, what: str, cond, deadline: float, interval: float = 0.5):
        while True:
            self._check_alive()
            result = cond()
            if result:
                return result
            if time.monotonic() > deadline:
                raise TorNetworkError(f"timed out waiting for {what}\n\n{self.logs()}")
            time.sleep(interval)

    # Flags every relay must have before the onion service and client start.
    REQUIRED_FLAGS = frozenset({"Running", "Valid", "Fast", "Stable", "Guard", "HSDir", "V2Dir"})

    def consensus_flags(self) -> dict[str, set[str]]:
        """{base64 identity: flags} from the first reachable authority's consensus."""
        for a in self.authorities:
            # http.client, not urllib: urllib would honour http_proxy.
            conn = http.client.HTTPConnection("127.0.0.1", a.dirport, timeout=5)
            try:
                conn.request("GET", "/tor/status-vote/current/consensus")
                r = conn.getresponse()
                text = r.read().decode("ascii", "replace")
                if r.status != 200:
                    continue
            except (OSError, http.client.HTTPException):
                continue
            finally:
                conn.close()
            flags: dict[str, set[str]] = {}
            ident = None
            for line in text.splitlines():
                if line.startswith("r "):
                    ident = line.split()[2]
                elif line.startswith("s ") and ident:
                    flags[ident] = set(line.split()[1:])
                    ident = None
            return flags
        return {}

    def _all_relays_running(self) -> bool:
        flags = self.consensus_flags()
        return all(self.REQUIRED_FLAGS <= flags.get(_fpr_to_b64(n.fingerprint), set()) for n in self.relays)

    def _onion_hostname(self) -> str | None:
        text = _read(self.node("hs").datadir / "onion" / "hostname").strip()
        return text if text.endswith(".onion") else None

    def _descriptor_uploaded(self) -> bool:
        return bool(_UPLOAD_OK.search(_read(self.node("hs").info_log)))

    def _client_bootstrapped(self) -> bool:
        return _BOOTSTRAPPED_100 in _read(self.node("client").notice_log)

    def _target_listening(self) -> bool:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(2)
            s.connect(str(self.target_socket))
            return True
        except OSError:
            return False
        finally:
            s.close()

    def _probe(self) -> bool:
        try:
            s = socks5_connect(self.socks_port, self.onion, self.onion_port, timeout=30)
        except SocksError as e:
            self._last_probe_error = str(e)
            return False
        except OSError as e:
            self._last_probe_error = f"{type(e).__name__}: {e}"
            return False
        s.close()
        return True

    # ------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 180.0, probe: bool = True) -> TorNetwork:
        """Build and start the network; block until the onion is reachable.

        Raises TorNotInstalledError (with the apt hint) if tor is missing and
        TorNetworkError (with each node's log tail) on any failure or timeout;
        on error every process already started is stopped.
        """
        if self._started:
            raise TorNetworkError("network already started")
        self._check_environment()
        self._started = True
        _live_networks.add(self)
        t0 = time.monotonic()
        deadline = t0 + timeout
        self._last_probe_error = ""
        try:
            self._layout()
            self._make_keys()
            self.timings["keys"] = time.monotonic() - t0

            # Authorities and relays first; the onion service and the client
            # only once every relay is Running in the consensus (starting
            # them together races: the service may pick HSDirs from a partial
            # consensus and never publish where the client looks).
            time.sleep(self._launch_window())
            self.timings["launch"] = time.monotonic() - t0
            for n in self.relays:
                self._launch(n)
            self._wait(
                "a consensus listing every relay as " + "/".join(sorted(self.REQUIRED_FLAGS)),
                self._all_relays_running,
                deadline,
                interval=1.0,
            )
            self.timings["consensus"] = time.monotonic() - t0

            self._launch(self.node("hs"))
            self._launch(self.node("client"))
            self.socks_port = self.node("client").socksport
            self.onion = self._wait("the onion service hostname file", self._onion_hostname, deadline)
            self._wait("the onion service descriptor upload (status 200)", self._descriptor_uploaded, deadline)
            self.timings["descriptor"] = time.monotonic() - t0
            self._wait("the client to bootstrap to 100%", self._client_bootstrapped, deadline)
            self.timings["client"] = time.monotonic() - t0
            if probe:
                try:
                    self._wait(
                        "a connection to the onion through the client's SOCKS port", self._probe, deadline, interval=1.0
                    )
                except TorNetworkError as e:
                    hint = ""
                    if not self._target_listening():
                        hint = (
                            f"\nNOTHING IS LISTENING on {self.target_socket}: start the "
                            "server before start(), or pass probe=False."
                        )
                    raise TorNetworkError(f"last probe error: {self._last_probe_error}{hint}\n{e}") from None
                self.timings["onion_reachable"] = time.monotonic() - t0
            self.timings["total"] = time.monotonic() - t0
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, grace: float = 10.0) -> None:
        """Terminate every tor process (SIGTERM, wait, then SIGKILL). Idempotent."""
        with self._lock:
            procs = [n.proc for n in self.nodes if n.proc is not None]
            for p in procs:
                if p.poll() is None:
                    try:
                        p.send_signal(signal.SIGTERM)
                    except ProcessLookupError:
                        pass
            end = time.monotonic() + grace
            for p in procs:
                try:
                    p.wait(timeout=max(0.1, end - time.monotonic()))
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=10)
            _live_networks.discard(self)

    def __enter__(self) -> TorNetwork:
        if not self._started:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------ diagnosis

    def logs(self, lines: int = 25) -> str:
        """The tail of every node's logs, for failure messages."""
        out = [f"tor network in {self.workdir} (onion={self.onion}, socks_port={self.socks_port})"]
        for n in self.nodes:
            state = "not started"
            if n.proc is not None:
                rc = n.proc.poll()
                state = f"pid {n.proc.pid}, " + ("running" if rc is None else f"exited {rc}")
            out.append(f"===== {n.name} ({n.role}; {state}) =====")
            # stdout only matters when tor died before opening its log file.
            exited = n.proc is not None and n.proc.poll() is not None
            if exited or not n.notice_log.exists():
                out.append(f"--- {n.stdout_log.name}:\n{_tail(n.stdout_log, lines)}")
            out.append(f"--- {n.notice_log.name}:\n{_tail(n.notice_log, lines)}")
            if n.role in ("hs", "client") or self.debug_logs:
                out.append(f"--- {n.info_log.name}:\n{_tail(n.info_log, lines)}")
        return "\n".join(out)


def start_tor_network(
    workdir: Path | str,
    target_socket: Path | str,
    timeout: float = 180.0,
    **kwargs,
) -> TorNetwork:
    """Start a TorNetwork and return it once ``http://<onion>/`` is reachable.

    Raises TorNotInstalledError if tor is missing (never skips) and
    TorNetworkError with every node's log tail on failure or timeout.  One
    retry is made when a tor failed to bind a port that was free a moment
    earlier (another process took it).
    """
    for attempt in (1, 2):
        net = TorNetwork(workdir, target_socket, **kwargs)
        try:
            return net.start(timeout=timeout)
        except TorNotInstalledError:
            raise
        except TorNetworkError as e:
            if attempt == 1 and "Address already in use" in str(e):
                continue
            raise
    raise AssertionError("unreachable")
