"""The PROXY protocol's version 1 line (haproxy's proxy-protocol.txt, section 2.1), read strictly.

Tor's `HiddenServiceExportCircuitID haproxy` opens every stream to the onion service with
`PROXY TCP6 fc00:dead:beef:4dad::AAAA:BBBB ::1 SPORT VPORT\\r\\n`, the circuit's global id in
the source address's last 32 bits. Only this one line is parsed here; the HTTP that follows
is waitress's.
"""

from __future__ import annotations

import socket
from typing import NamedTuple

MAX_LINE = 107  # the spec's longest line, CRLF included ("PROXY UNKNOWN" and two full IPv6 addresses)
SIGNATURE = b"PROXY "
# Checked with bytes.translate (deleting the allowed bytes leaves nothing): fast, and in C.
_PRINTABLE = bytes(range(0x20, 0x7F))
_HEX = b"0123456789abcdefABCDEF:"
_DIGITS = b"0123456789"


class BadProxyLine(ValueError):
    """The connection did not begin with a valid PROXY v1 line."""


class Source(NamedTuple):
    """What the line says about the connection's origin (over Tor: the circuit)."""

    family: str  # "TCP4", "TCP6" or "UNKNOWN"
    address: bytes = b""  # the source address, packed (4 or 16 bytes); empty for UNKNOWN

    @property
    def key(self) -> bytes | None:
        """What identifies the origin (over Tor, the circuit id is in it), or None when the line says nothing."""
        return self.address or None


def parse(line: bytes) -> Source:
    """One line without its CRLF: `PROXY TCP4|TCP6 SRC DST SPORT DPORT` or `PROXY UNKNOWN[ anything]`."""
    if not line.startswith(SIGNATURE) or len(line) + 2 > MAX_LINE:
        raise BadProxyLine("no PROXY signature")
    if line.translate(None, _PRINTABLE):
        raise BadProxyLine("not printable ASCII")
    rest = line[len(SIGNATURE) :]
    if rest == b"UNKNOWN" or rest.startswith(b"UNKNOWN "):
        return Source("UNKNOWN")  # the spec: whatever follows UNKNOWN is ignored
    parts = rest.split(b" ")
    if len(parts) != 5 or parts[0] not in (b"TCP4", b"TCP6"):
        raise BadProxyLine("not TCP4, TCP6 or UNKNOWN with four fields")
    family, src, dst, sport, dport = parts
    address = _address(family, src)
    _address(family, dst)
    _port(sport)
    _port(dport)
    return Source(family.decode(), address)


def _address(family: bytes, text: bytes) -> bytes:
    """A packed address of the line's family; dotted quads without leading zeros, IPv6 in hex and colons only."""
    try:
        if family == b"TCP4":
            if not text or text.translate(None, _DIGITS + b"."):
                raise ValueError
            return socket.inet_pton(socket.AF_INET, text.decode())  # refuses leading zeros too
        if not text or text.translate(None, _HEX):  # no zone ("%eth0"), no embedded dotted quad
            raise ValueError
        return socket.inet_pton(socket.AF_INET6, text.decode())
    except (ValueError, OSError):
        raise BadProxyLine(f"not a {family.decode()} address") from None


def _port(text: bytes) -> int:
    """0 to 65535 in decimal, without a sign or leading zeros."""
    if not text or text.translate(None, _DIGITS) or (len(text) > 1 and text[0] == 0x30) or len(text) > 5:
        raise BadProxyLine("not a port")
    port = int(text)
    if port > 65535:
        raise BadProxyLine("not a port")
    return port


class Reader:
    """Reads the line from the first bytes of a connection, whichever way they are split across reads."""

    def __init__(self):
        self._buffer = b""

    def feed(self, data: bytes) -> tuple[Source | None, bytes]:
        """(the source, the bytes after the line) once the line is complete; (None, b"") while it is not.

        Raises BadProxyLine as soon as the bytes cannot begin a valid line: a wrong first byte is
        refused at once, not after waiting for more.
        """
        buffer = self._buffer + data
        end = buffer.find(b"\r\n", 0, MAX_LINE)
        if end < 0:
            head = buffer[: len(SIGNATURE)]
            if not SIGNATURE.startswith(head) or len(buffer) >= MAX_LINE or b"\n" in buffer or b"\r" in buffer[:-1]:
                raise BadProxyLine("no PROXY line")
            self._buffer = buffer
            return None, b""
        self._buffer = b""
        return parse(buffer[:end]), buffer[end + 2 :]
