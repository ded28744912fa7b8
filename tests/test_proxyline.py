"""`serve --proxy-protocol`: the PROXY v1 line tor writes (HiddenServiceExportCircuitID haproxy), read strictly."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pledgebox import circuits
from pledgebox.proxyline import MAX_LINE, BadProxyLine, Reader, Source
from support.inprocess import InProcessServer, echo_app, read_all

# Exactly as tor 0.4.x writes it (src/core/or/connection_edge.c, export_hs_client_circuit_id, and its unit
# test): the circuit's global id 666 in the source address's last 32 bits, the virtual port last.
TOR_LINE = b"PROXY TCP6 fc00:dead:beef:4dad::0:29a ::1 666 80\r\n"
TOR_MAX = b"PROXY TCP6 fc00:dead:beef:4dad::ffff:ffff ::1 65535 80\r\n"
REQUEST = b"GET /x HTTP/1.1\r\nHost: onion\r\nConnection: close\r\n\r\n"
V6_MAX = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
LONGEST_TCP6 = f"PROXY TCP6 {V6_MAX} {V6_MAX} 65535 65535\r\n".encode()


def read(data: bytes, pieces: list[int] | None = None) -> tuple[Source | None, bytes]:
    """Feed data to a Reader in pieces of these sizes (one piece by default)."""
    reader, at = Reader(), 0
    for size in pieces or [len(data)]:
        source, rest = reader.feed(data[at : at + size])
        at += size
        if source is not None:
            return source, rest + data[at:]
    return None, b""


def test_tors_line_gives_the_circuit_id_in_the_source_address():
    source, rest = read(TOR_LINE + REQUEST)
    assert source.family == "TCP6" and rest == REQUEST
    assert int.from_bytes(source.key[-4:], "big") == 666
    assert ipaddress.IPv6Address(source.key) in ipaddress.IPv6Network("fc00:dead:beef:4dad::/64")
    assert int.from_bytes(read(TOR_MAX)[0].key[-4:], "big") == 2**32 - 1


def test_tcp4_and_unknown():
    source, rest = read(b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n" + REQUEST)
    assert source == Source("TCP4", bytes([192, 0, 2, 1])) and rest == REQUEST
    # UNKNOWN: the spec says whatever follows up to CRLF is ignored; it names no origin.
    for line in (b"PROXY UNKNOWN\r\n", b"PROXY UNKNOWN ffff::1 ::1 1 2\r\n", b"PROXY UNKNOWN whatever it is\r\n"):
        source, rest = read(line + REQUEST)
        assert source == Source("UNKNOWN") and source.key is None and rest == REQUEST


def test_the_longest_lines_the_spec_allows_and_one_byte_more():
    assert len(LONGEST_TCP6) == 104 and read(LONGEST_TCP6)[0].family == "TCP6"
    longest = b"PROXY UNKNOWN " + b"x" * (MAX_LINE - 16) + b"\r\n"
    assert len(longest) == MAX_LINE == 107 and read(longest)[0] == Source("UNKNOWN")
    too_long = b"PROXY UNKNOWN " + b"x" * (MAX_LINE - 15) + b"\r\n"
    with pytest.raises(BadProxyLine):
        read(too_long)
    # Refused as soon as 107 bytes hold no CRLF, without waiting for the rest.
    with pytest.raises(BadProxyLine):
        Reader().feed(too_long[:MAX_LINE])


@pytest.mark.parametrize(
    "line",
    [
        b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443",  # no CRLF at all (the next line is the request)
        b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\n",  # LF alone
        b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r",
        b"PROXY TCP4 192.0.2.1 198.51.100.7 56324\r\n",  # a field missing
        b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443 9\r\n",  # one too many
        b"PROXY  TCP4 192.0.2.1 198.51.100.7 56324 443\r\n",  # two spaces
        b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443 \r\n",
        b"proxy TCP4 192.0.2.1 198.51.100.7 56324 443\r\n",
        b"PROXY tcp4 192.0.2.1 198.51.100.7 56324 443\r\n",
        b"PROXY TCP5 192.0.2.1 198.51.100.7 56324 443\r\n",
        b"PROXY UDP4 192.0.2.1 198.51.100.7 56324 443\r\n",
        b"PROXY UNKNOWNX\r\n",
        b"PROXY \r\n",
        b"PROXY\r\n",
        b"PROXY TCP4 192.0.2.01 198.51.100.7 56324 443\r\n",  # a leading zero (octal?)
        b"PROXY TCP4 192.0.2.256 198.51.100.7 56324 443\r\n",
        b"PROXY TCP4 192.0.2 198.51.100.7 56324 443\r\n",
        b"PROXY TCP4 ::1 ::1 56324 443\r\n",  # the family and the addresses disagree
        b"PROXY TCP6 192.0.2.1 198.51.100.7 56324 443\r\n",
        b"PROXY TCP6 ::ffff:192.0.2.1 ::1 1 2\r\n",  # no dotted quad inside IPv6
        b"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",  # no zone
        b"PROXY TCP6 fc00:dead:beef:4dad:0:29a ::1 666 80\r\n",  # six groups without '::'
        b"PROXY TCP6 [::1] ::1 1 2\r\n",
        b"PROXY TCP4 192.0.2.1 198.51.100.7 65536 443\r\n",
        b"PROXY TCP4 192.0.2.1 198.51.100.7 056324 443\r\n",
        b"PROXY TCP4 192.0.2.1 198.51.100.7 -1 443\r\n",
        b"PROXY TCP4 192.0.2.1 198.51.100.7 +1 443\r\n",
        b"PROXY TCP4 192.0.2.1 198.51.100.7 1_0 443\r\n",
        b"PROXY TCP4 192.0.2.1 198.51.100.7 \xd9\xa1 443\r\n",  # an Arabic-Indic digit: int() would take it
        b"PROXY TCP4 192.0.2.1\x00 198.51.100.7 1 443\r\n",
        b"PROXY UNKNOWN \x00\r\n",
        b"PROXY UNKNOWN \xff\r\n",
        b"PROXY TCP4 192.0.2.1 198.51.100.7 1 2\rX\n",
        # version 2: not asked for
        b"\r\n\r\n\x00\r\nQUIT\n!\x11\x00\x0c\xc0\x00\x02\x01\xc6\x33\x64\x07\xdc\x04\x01\xbb",
        REQUEST,  # no line at all
        b"",
    ],
)
def test_garbage_and_broken_lines_are_refused(line):
    # Followed by a request, so that a missing CRLF cannot just mean "wait for more".
    with pytest.raises(BadProxyLine):
        read(line + REQUEST)


def test_a_missing_line_is_refused_at_the_first_byte():
    with pytest.raises(BadProxyLine):
        Reader().feed(b"G")
    with pytest.raises(BadProxyLine):
        Reader().feed(b"PROXX")


def test_a_truncated_line_waits_for_more():
    for end in range(len(TOR_LINE)):
        assert Reader().feed(TOR_LINE[:end]) == (None, b"")


@pytest.mark.parametrize("data", [TOR_LINE + REQUEST, b"PROXY UNKNOWN\r\n" + REQUEST, LONGEST_TCP6 + REQUEST])
def test_a_line_split_across_reads_at_every_place(data):
    whole = read(data)
    for cut in range(1, len(data)):
        assert read(data, [cut, len(data) - cut]) == whole
    assert read(data, [1] * len(data)) == whole


def test_a_line_split_at_the_crlf_keeps_the_request_whole():
    reader = Reader()
    assert reader.feed(TOR_LINE[:-1]) == (None, b"")
    source, rest = reader.feed(b"\n" + REQUEST)
    assert source.key == read(TOR_LINE)[0].key and rest == REQUEST


addresses4 = st.builds(ipaddress.IPv4Address, st.integers(0, 2**32 - 1))
addresses6 = st.builds(ipaddress.IPv6Address, st.integers(0, 2**128 - 1))
ports = st.integers(0, 65535)


@given(
    st.one_of(
        st.tuples(st.just("TCP4"), addresses4, addresses4, ports, ports),
        st.tuples(st.just("TCP6"), addresses6, addresses6, ports, ports),
    ),
    st.lists(st.integers(1, 40), max_size=8),
    st.binary(max_size=64),
)
def test_every_valid_line_is_read_whole_however_it_is_split(fields, pieces, after):
    family, src, dst, sport, dport = fields
    line = f"PROXY {family} {src} {dst} {sport} {dport}\r\n".encode()
    pieces = pieces + [len(line) + len(after)]
    assert read(line + after, pieces) == (Source(family, src.packed), after)


@given(st.binary(max_size=200), st.lists(st.integers(1, 50), max_size=8))
def test_arbitrary_first_bytes_are_refused_accepted_or_awaited_the_same_way_however_split(data, pieces):
    def outcome(sizes):
        try:
            return read(data, sizes)
        except BadProxyLine:
            return "refused"

    whole = outcome(None)
    assert outcome(pieces + [len(data)]) == whole
    if whole == (None, b""):  # still waiting: only while the bytes could begin a valid line
        assert len(data) < MAX_LINE and data.startswith(b"PROXY "[: len(data)]) or data.startswith(b"PROXY ")
    elif whole != "refused":
        line = data[: len(data) - len(whole[1])]
        assert line.endswith(b"\r\n") and len(line) <= MAX_LINE and line.count(b"\r\n") == 1


# -- through waitress: the line is removed before waitress reads HTTP; a bad one closes the connection --------


@pytest.fixture(scope="module")
def proxied():
    seen: list = []
    with InProcessServer(echo_app(seen), proxy_protocol=True) as server:
        yield server, seen


def exchange(server, data: bytes, pieces: list[int] | None = None) -> tuple[bytes, str]:
    with server.connect() as sock:
        at = 0
        for size in pieces or [len(data)]:
            sock.sendall(data[at : at + size])
            at += size
        sock.shutdown(socket.SHUT_WR)
        return read_all(sock)


def test_the_app_gets_the_request_after_the_line_and_a_label_for_the_circuit(proxied):
    server, seen = proxied
    answer, how = exchange(server, TOR_LINE + REQUEST)
    assert answer.startswith(b"HTTP/1.1 200 ") and how == "closed"
    label = circuits.label(read(TOR_LINE)[0].key)
    assert answer.endswith(f"circuit={label.hex()} body=0".encode())
    assert seen[-1] == ("/x", label, 0)
    # Byte by byte, the same.
    answer, _ = exchange(server, TOR_LINE + REQUEST, [1] * len(TOR_LINE + REQUEST))
    assert answer.endswith(f"circuit={label.hex()} body=0".encode())
    # Another circuit, another label; UNKNOWN, none.
    other, _ = exchange(server, TOR_LINE.replace(b"::0:29a", b"::0:29b") + REQUEST)
    assert other.startswith(b"HTTP/1.1 200 ") and label.hex().encode() not in other
    unknown, _ = exchange(server, b"PROXY UNKNOWN\r\n" + REQUEST)
    assert unknown.endswith(b"circuit=- body=0")


@pytest.mark.parametrize(
    "data",
    [
        REQUEST,
        b"PROXY TCP6 fc00:dead:beef:4dad::0:29a ::1 666\r\n" + REQUEST,
        b"PROXY UNKNOWN " + b"x" * 200 + b"\r\n" + REQUEST,
        TOR_LINE[:20],
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    ],
)  # a TLS hello
def test_without_a_valid_line_the_connection_is_closed_unanswered(proxied, data):
    server, seen = proxied
    before = len(seen)
    answer, how = exchange(server, data)
    assert answer == b"" and how in ("closed", "reset")
    assert len(seen) == before  # the app was never called


@settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    first=st.one_of(
        st.binary(max_size=160),
        st.builds(
            lambda a, b: a + b,
            st.sampled_from([b"PROXY ", b"PROXY TCP4 ", b"PROXY TCP6 fc00:dead:beef:4dad::", b"PROXY UNKNOWN"]),
            st.binary(max_size=120),
        ),
    )
)
def test_arbitrary_first_bytes_never_get_a_500_or_a_hang(proxied, first):
    server, seen = proxied
    before = len(seen)
    answer, how = exchange(server, first + REQUEST)
    assert how != "timeout", "the server neither answered nor closed"
    assert b" 500 " not in answer.split(b"\r\n", 1)[0]
    try:
        valid = read(first + REQUEST)[0] is not None
    except BadProxyLine:
        valid = False
    if not valid:
        assert answer == b"" and len(seen) == before
