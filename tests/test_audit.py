"""Metadata audit: after real pledges, nothing on disk or in the output identifies a donor; `audit` finds what would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from helpers import FAST_SCRYPT, PASSPHRASE, campaign_toml
from pledgebox import ROOT, audit, cli, filetimes, plaintext, sealing
from pledgebox.store import PENDING, read_records
from support.serverproc import LIMITS_FOR_LOAD, Client, Server, write_campaign

PLEDGES = 30
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "curl/8.5.0",
    "Lynx/2.9.0dev.12 libwww-FM/2.14 SSL-MM/1.4.1 GNUTLS/3.7.9",
)


def visitor_headers(i: int) -> dict[str, str]:
    """What a proxy or the client would say about the donor: all fake, all distinctive."""
    return {
        "X-Forwarded-For": f"203.0.113.{i + 1}, 198.51.100.{i + 1}",
        "Forwarded": f'for="[2001:db8::{i + 1:x}]";proto=https;by=192.0.2.{i + 1}',
        "X-Real-IP": f"192.0.2.{i + 101}",
        "User-Agent": f"{USER_AGENTS[i % len(USER_AGENTS)]} uamark{i:03d}",
        "Via": f"1.1 proxy{i}.example",
        "Referer": f"http://127.0.0.1/en/?ref=refmark{i:03d}",
    }


def pledge_fields(i: int) -> dict[str, str]:
    """A pledge whose every free field carries a marker; some long, some short."""
    return {
        "amount": f"{5 + i},50" if i % 2 else f"{5 + i}.50",
        "designation": ("split", "solidarity-zone", "abc-irkutsk")[i % 3],
        "method": ("sepa", "cash", "xmr")[i % 3],
        "pseudonym": f"psmark{i:03d} Ёжик",
        "contact": f"ctmark{i:03d}@example.org",
        "message": f"msmark{i:03d} Солидарность " + "длинное письмо " * (i % 4) * 40,
    }


def markers(i: int) -> list[str]:
    return [f"psmark{i:03d}", f"ctmark{i:03d}", f"msmark{i:03d}", f"uamark{i:03d}", f"refmark{i:03d}"]


def forbidden(count: int) -> list[bytes]:
    """Every byte string that must not appear anywhere: markers in several encodings, addresses, agents."""
    out = []
    for i in range(count):
        for marker in markers(i):
            out += [marker.encode(), marker.encode("utf-16-le"), marker.upper().encode()]
        out += [f"203.0.113.{i + 1}".encode(), f"198.51.100.{i + 1}".encode(), f"192.0.2.{i + 101}".encode()]
    # Each needle is long, or holds a character that base64url never uses: the sealed records are
    # base64url, and a short needle like b"Lynx" turns up in them by chance (once in about 30 runs).
    out += [
        b"2001:db8",
        b"Firefox",
        b"AppleWebKit",
        b"curl/",
        b"Lynx/",
        b"\xd0\x81\xd0\xb6\xd0\xb8\xd0\xba",
        quote("Ёжик").encode(),
        "Солидарность".encode(),
    ]
    return out


def snapshot(data: Path) -> dict[str, int]:
    """Every path under the data folder with its modification time (ns)."""
    found = {}
    for root, dirs, files in os.walk(data):
        for name in dirs + files:
            path = Path(root, name)
            found[path.relative_to(data).as_posix()] = path.lstat().st_mtime_ns
    return found


@pytest.mark.slow
def test_a_mixed_run_leaves_no_metadata_anywhere(tmp_path, identities):
    keys = identities[:2]
    data = write_campaign(tmp_path / "data", campaign_toml(keys) + LIMITS_FOR_LOAD)
    with Server(data, log_dir=tmp_path) as server:
        with Client(server.host, headers=visitor_headers(0)) as first:
            first.pledge("en", pledge_fields(0))
        after_first = snapshot(data)
        for i in range(1, PLEDGES):
            lang = "de" if i % 2 else "en"
            with Client(server.host, headers=visitor_headers(i)) as visitor:
                visitor.request("GET", f"/{lang}/", headers={"Accept-Language": "ru-RU,ru;q=0.9"})
                # Mistakes, lookups and probes that carry the markers as well.
                visitor.request("GET", f"/{lang}/{markers(i)[0]}?q={markers(i)[1]}")
                visitor.post(f"/{lang}/pledge", pledge_fields(i) | {"amount": markers(i)[2]})
                visitor.post(f"/{lang}/pledge", pledge_fields(i) | {"website": markers(i)[0]})
                visitor.pledge(lang, pledge_fields(i))
        before_last = time.time_ns()
        with Client(server.host, headers=visitor_headers(PLEDGES)) as last:
            last.pledge("en", pledge_fields(PLEDGES))
        after_last = time.time_ns()
        server.stop()
    count = PLEDGES + 1
    printed = server.output()

    # 1. No marker, address or agent in any file or in anything the server printed.
    for path in sorted(p for p in data.rglob("*") if p.is_file()):
        content = path.read_bytes()
        for needle in forbidden(count):
            assert needle not in content, f"{path.relative_to(data)} holds something it must not"
    for needle in forbidden(count):
        assert needle not in printed, "the server printed something it must not"
    assert audit.scan_bytes("output", printed) == []

    # 2. The audit command agrees, and says so with exit status 0.
    done = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "audit", "--data", str(data)], capture_output=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{count} sealed records".encode() in done.stdout

    # 3. Sealed record sizes: short and long messages, one line length, the same as the largest plaintext's.
    pending = data / "state" / PENDING
    largest = sealing.seal(b"x" * (plaintext.PADDED_SIZE - 1), [k.recipient for k in keys], "test-campaign")
    sizes = [len(item.record) for item in read_records(pending)]
    assert len(sizes) == count
    assert set(sizes) == {len(largest)}
    assert len({len(line) for line in pending.read_bytes().splitlines()}) == 1
    days = {json.loads(keys[1].open(item.record))["day"] for item in read_records(pending)}
    assert all(len(day) == 10 for day in days)

    # 4. Times: no file appeared or changed after the first pledge but the store (whose time says when the
    # last pledge came, until the next heartbeat: tests/test_file_times.py) and what a heartbeat blurred.
    after = snapshot(data)
    assert set(after) == set(after_first)
    changed = {path: t for path, t in after.items() if t != after_first[path] and not filetimes.is_day_start(t / 1e9)}
    assert set(changed) <= {f"state/{PENDING}"}
    for t in changed.values():
        assert before_last - 10**9 <= t <= after_last + 10**9


# -- the audit command on planted problems --------------------------------------------------------


@pytest.fixture
def clean_data(tmp_path, identity) -> Path:
    """A data folder as a server leaves it: campaign, token secret, lock, and sealed records."""
    data = write_campaign(tmp_path / "data", campaign_toml([identity]))
    state = data / "state"
    state.mkdir(mode=0o700)
    (state / "token.key").write_bytes(os.urandom(32))
    (state / "token.key").chmod(0o600)
    (state / ".lock").write_bytes(b"")
    (state / ".lock").chmod(0o600)
    lines = []
    for i, size in enumerate((10, 900, 1500, 3000)):
        record = sealing.seal(b"y" * size, [identity.recipient], "test-campaign")
        lines.append(b"rid%d %s\n" % (i, record))
    (state / PENDING).write_bytes(b"".join(lines))
    (state / PENDING).chmod(0o600)
    # Published as `raised` does it (0644): a correctly run server must audit clean.
    from decimal import Decimal

    from pledgebox import campaign

    campaign.write_totals(state, campaign.Totals(Decimal("120")))
    return data


def run_audit(data: Path, capsys) -> tuple[int, str]:
    code = cli.main(["audit", "--data", str(data)])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_a_clean_folder_passes(clean_data, capsys):
    code, out = run_audit(clean_data, capsys)
    assert code == 0, out
    assert "No findings" in out and "4 sealed records" in out
    assert "Tor circuit id" in out and "never writes a circuit id" in out


def test_the_public_mirror_bundle_may_be_world_readable(clean_data, capsys):
    (clean_data / "mirror").mkdir()
    (clean_data / "mirror" / "pledgebox-mirror.tar.gz").write_bytes(b"\x1f\x8b" + os.urandom(2000))
    (clean_data / "mirror" / "pledgebox-mirror.tar.gz").chmod(0o644)
    code, out = run_audit(clean_data, capsys)
    assert code == 0, out


def test_a_torn_last_record_is_a_note_not_a_finding(clean_data, capsys):
    with open(clean_data / "state" / PENDING, "ab") as file:
        file.write(b'rid9 {"v":1,"c":"test-campaign","k":[["0011')
    code, out = run_audit(clean_data, capsys)
    assert code == 0, out
    assert "incomplete last record" in out


LEAK_IP, LEAK_UA, LEAK_TIME = "203.0.113.77", "Mozilla/5.0 (X11; Linux x86_64)", "2026-11-25T12:00:01Z"


def test_planted_problems_are_each_found_without_echoing_them(clean_data, identity, capsys):
    state = clean_data / "state"
    (state / "access.log").write_text(
        f'{LEAK_IP} - - [25/Nov/2026:12:00:01 +0100] "POST /en/pledge/confirm HTTP/1.1" 200 "{LEAK_UA}"\n'
    )
    (state / "access.log").chmod(0o600)
    good = next(read_records(state / PENDING)).record
    doc = json.loads(good)
    plaintext_record = json.dumps(doc | {"message": "secretmark Свобода"}).encode()
    # Well-formed, but 6 bytes shorter than every record sealed now.
    cut = sealing.b64url_encode(sealing.b64url_decode(doc["k"][0][1])[:-6])
    short = json.dumps(doc | {"k": [[doc["k"][0][0], cut]]}, separators=(",", ":")).encode()
    with open(state / PENDING, "ab") as file:
        file.write(b"rid7 " + plaintext_record + b"\n")
        file.write(b"rid8 " + short + b"\n")
        file.write("plain pledge: secretmark 25 EUR от Ани\n".encode())
    (state / PENDING).chmod(0o644)
    (clean_data / "cache.json").write_text(json.dumps({"seen": LEAK_TIME, "from": "2001:db8::7", "at": 1795604401}))
    identity.save(clean_data / "organiser.identity", PASSPHRASE, scrypt_n=FAST_SCRYPT)
    (clean_data / "link").symlink_to("/etc/passwd")
    (clean_data / "evil\x1b[31mname").write_text("x")
    (clean_data / "evil\x1b[31mname").chmod(0o600)

    code, out = run_audit(clean_data, capsys)
    assert code == 1
    expected = [
        "state/access.log: unexpected-file",
        "state/access.log:1:1: ip-address",
        "state/access.log:1:",
        "fine-timestamp",
        "user-agent",
        "state/pending.sealed: world-readable",
        "state/pending.sealed:5:6: not-a-record",
        "state/pending.sealed:6:6: record-size",
        "state/pending.sealed:7:1: not-a-record",
        "cache.json: unexpected-file",
        "cache.json:1:",
        "organiser.identity: private-identity",
        "link: special-file",
        "evil\\x1b[31mname: unexpected-file",
    ]
    for text in expected:
        assert text in out, (text, out)
    assert out.count("ip-address") >= 2  # the IPv4 and the IPv6 address
    for leak in (LEAK_IP, LEAK_UA, LEAK_TIME, "2001:db8", "secretmark", "Свобода", "1795604401", "\x1b"):
        assert leak not in out


def test_loose_state_folder_permissions_are_found(clean_data, capsys):
    (clean_data / "state").chmod(0o755)
    code, out = run_audit(clean_data, capsys)
    assert code == 1 and "state/: world-readable" in out


def test_a_missing_folder_is_a_usage_error(tmp_path, capsys):
    code, out = run_audit(tmp_path / "nowhere", capsys)
    assert code == 2 and "pledgebox: error:" in out


def test_many_findings_are_capped_per_file_and_kind(clean_data, capsys):
    (clean_data / "state" / "dump.txt").write_text("10.1.2.3\n" * 500)
    code, out = run_audit(clean_data, capsys)
    assert code == 1
    assert out.count("ip-address (") == audit.MAX_SHOWN
    assert f"and {500 - audit.MAX_SHOWN} more ip-address" in out


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("from 203.0.113.5 via", {"ip-address"}),
        ("[2001:db8::1]:443", {"ip-address"}),
        ("::ffff:198.51.100.2", {"ip-address"}),
        # A Tor circuit id as tor's PROXY line writes it (serve --proxy-protocol never writes one).
        ("PROXY TCP6 fc00:dead:beef:4dad::0:29a ::1 666 80", {"circuit-id"}),
        ("circuit fc00:dead:beef:4dad::ffff:ffff", {"circuit-id"}),
        ("Mozilla/5.0 (Windows NT 10.0; rv:128.0)", {"user-agent"}),
        ("python-requests/2.31", {"user-agent"}),
        ("2026-11-25T17:33:10+01:00", {"fine-timestamp"}),
        ("2026-11-25 17:33", {"fine-timestamp"}),
        ("Tue, 25 Nov 2026 17:33:10 GMT", {"fine-timestamp"}),
        ("at 17:33:10", {"fine-timestamp"}),
        ('"t": 1795604400.25', {"fine-timestamp"}),
        # Not findings: the server's own address, days, versions, IBANs, amounts, references.
        ("serving on http://127.0.0.1:8080/", set()),
        ('deadline = 2026-12-31, day "2026-11-25"', set()),
        ("waitress 3.0.2, Python 3.11.7", set()),
        ("DE89370400440532013000 COBADEFFXXX", set()),
        ("1,234.50 EUR, K7M2Q-9XH4C, 12:30", set()),
    ],
)
def test_scan_table(text, kinds):
    assert {f.kind for f in audit.scan_bytes("x", text.encode())} == kinds


@pytest.mark.parametrize("size", [0, 1, 500, 1023, 1024, 3000, plaintext.PADDED_SIZE - 1])
def test_every_sealed_record_has_the_one_size_and_passes(identities, size):
    record = sealing.seal(b"z" * size, [i.recipient for i in identities], "test-campaign")
    assert audit.check_record(record) is None
    assert audit.scan_bytes("record", record) == []


@pytest.mark.parametrize("name", ["state/.pending.sealed.0123456789abcdef.tmp", "state/.id.tmp", ".x.tmp"])
def test_a_temporary_file_older_than_a_heartbeat_is_a_finding(clean_data, capsys, name):
    # A planted plaintext pledge must not hide behind the name of a file write_new is writing.
    path = clean_data / name
    path.write_text('{"reference": "K7M2Q-9XH4V", "contact": "anna@example.org", "message": "Ёжик"}', encoding="utf-8")
    path.chmod(0o600)
    old = time.time() - 3600
    os.utime(path, (old, old))
    code, out = run_audit(clean_data, capsys)  # ctime is now: a file being written
    assert "leftover-temporary" not in out
    later = time.time() + filetimes.HEARTBEAT + 10
    report = audit.scan(clean_data, now=later)
    assert [f.path for f in report.findings if f.kind == "leftover-temporary"] == [name]
