"""A planted record must not attack the organiser's machine: anyone with the public keys can seal one.

Hypothesis builds the decrypted document an attacker would choose (any keys, any JSON types, huge values,
every kind of control, bidi, zero-width and invisible character), seals it to a test key as an attacker
would, and runs `review` on it with CSV and JSON output. The oracle below is this test's own: it does not
ask pledgebox which characters are safe.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import tracemalloc
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import FAST_SCRYPT, PASSPHRASE, pledge_fields
from pledgebox import cli, plaintext, pledges, sealing

CAMPAIGN = "test-campaign"
FIELDS = plaintext.SEALED_FIELDS

# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt): characters that show as nothing.
_IGNORABLE = [
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
]


def raw_and_hidden(ch: str) -> bool:
    """A control (C0, DEL, C1), a format character (bidi, zero-width), a separator, or an invisible one."""
    return unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp") or any(
        low <= ord(ch) <= high for low, high in _IGNORABLE
    )


def _is_control(text: str) -> bool:
    """True if text holds a control character other than tab and line breaks: no form accepts one."""
    return any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\t\r\n" or ch == "\ufffd" for ch in text)


# The characters an attacker reaches for, beside everything else Unicode has.
NASTY = [
    "\x1b",
    "\x07",
    "\x00",
    "\x08",
    "\x7f",
    "\x85",
    "\x9b",
    "\u202e",
    "\u202a",
    "\u2066",
    "\u2069",
    "\u061c",
    "\u200b",
    "\u200c",
    "\u200d",
    "\u200e",
    "\u2060",
    "\ufeff",
    "\u00ad",
    "\u115f",
    "\u1160",
    "\u3164",
    "\uffa0",
    "\u034f",
    "\U0001d173",
    "\U0001d17a",
    "\u17b4",
    "\u180e",
    "\ufe0f",
    "\U000e0041",
    "\U000e0100",
    "\u2028",
    "\u2029",
    "\ue000",
    "\U000f0000",
    "=",
    "+",
    "-",
    "@",
    "\t",
    "\r",
    "\n",
    " ",
    "\u00a0",
    "\u3000",
    "\uff1d",
    "\\",
    '"',
    "'",
    ";",
    ",",
    "]0;PWNED",
    "[2J",
    "[31m",
]
TEXT = st.lists(st.one_of(st.sampled_from(NASTY), st.characters(exclude_categories=("Cs",))), max_size=40).map("".join)
# What the form lets through (no control characters but tab and line breaks): bidi, zero-width, separators.
TYPED = st.lists(
    st.one_of(
        st.sampled_from([ch for ch in NASTY if not _is_control(ch)]), st.characters(exclude_categories=("Cc", "Cs"))
    ),
    max_size=60,
).map("".join)
HUGE_TEXT = st.builds(
    lambda ch, n: ch * n, st.sampled_from(["\u202e", "\x1b[2J", "\U0001d173", "ж", "="]), st.integers(0, 3000)
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    TEXT,
    HUGE_TEXT,
    st.integers(-(10**300), 10**300),
)
ANY_JSON = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4), max_leaves=12
)


def _honest_fields(n: int) -> dict:
    """A pledge as the web app seals it."""
    return pledge_fields(reference=pledges.make_reference(b"honest%d" % n))


@st.composite
def planted_documents(draw) -> bytes:
    """A decrypted document as an attacker would write it: JSON text, or not."""
    kind = draw(st.sampled_from(["typed", "pledge-like", "any JSON", "raw bytes", "huge number", "duplicate keys"]))
    if kind == "typed":  # a valid pledge, as hostile as the form allows
        doc = _honest_fields(draw(st.integers(0, 10**6)))
        doc |= {name: draw(TYPED) for name in ("pseudonym", "contact", "message")}
        return _dumps(doc, draw(st.booleans()))
    if kind == "pledge-like":
        doc = _honest_fields(draw(st.integers(0, 10**6)))
        for name in draw(st.lists(st.sampled_from(FIELDS), max_size=4)):
            doc[name] = draw(st.one_of(TEXT, HUGE_TEXT, ANY_JSON))
        for key in draw(st.lists(TEXT, max_size=2)):
            doc[key] = draw(ANY_JSON)
        for name in draw(st.lists(st.sampled_from(FIELDS), max_size=2)):
            doc.pop(name, None)
        return _dumps(doc, draw(st.booleans()))
    if kind == "any JSON":
        return _dumps(draw(ANY_JSON), draw(st.booleans()))
    if kind == "raw bytes":
        return draw(st.binary(max_size=200))
    if kind == "huge number":
        digits = draw(st.sampled_from(["9" * 5000, "1e999999", "1e-999999", "-0", "1" + "0" * 400 + ".5"]))
        name = draw(st.sampled_from(FIELDS))
        return _dumps(_honest_fields(1), True).replace(f'"{name}":'.encode(), f'"{name}":{digits},"x":'.encode(), 1)
    doc = _honest_fields(2)  # the same key twice: JSON parsers disagree on which one counts
    name = draw(st.sampled_from(FIELDS))
    return _dumps(doc, True)[:-1] + b',"' + name.encode() + b'":' + json.dumps(draw(TEXT)).encode() + b"}"


def _dumps(doc, ensure_ascii: bool) -> bytes:
    # Lone surrogates (only from \u escapes) are written as such: an attacker's bytes need not be UTF-8.
    return json.dumps(doc, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")


def seal_as_attacker(document: bytes, recipient: sealing.Recipient, campaign: str = CAMPAIGN) -> bytes:
    """Sealed with the public key only; padded as large as the attacker likes."""
    fits = [size for size in (plaintext.PADDED_SIZE, *sealing.OLDER_SIZES) if size > len(document)]
    return sealing.seal(document, [recipient], campaign, size=min(fits) if fits else len(document) + 1)


@pytest.fixture(scope="module")
def organiser(tmp_path_factory, identities):
    """The organiser's identity file and passphrase file, made once."""
    folder = tmp_path_factory.mktemp("organiser")
    identities[0].save(folder / "me.identity", PASSPHRASE, scrypt_n=FAST_SCRYPT)
    (folder / "pass").write_bytes(PASSPHRASE)
    return folder, identities[0]


def run_review(folder, records: list[bytes], name: str) -> tuple[str, str, str, str, int]:
    """review on a file of these records with CSV and JSON output: (stdout, stderr, csv, json, peak bytes)."""
    path = folder / f"{name}.sealed"
    path.write_bytes(b"".join(b"rid%d %s\n" % (i, record) for i, record in enumerate(records)))
    csv_path, json_path = folder / f"{name}.csv", folder / f"{name}.json"
    out, err = io.StringIO(), io.StringIO()
    tracemalloc.start()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(
                [
                    "review",
                    str(path),
                    "--identity",
                    str(folder / "me.identity"),
                    "--passphrase-file",
                    str(folder / "pass"),
                    "--csv",
                    str(csv_path),
                    "--json",
                    str(json_path),
                ]
            )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code == 0, err.getvalue()
    texts = (csv_path.read_text(encoding="utf-8-sig"), json_path.read_text(encoding="utf-8"))
    for leftover in (path, csv_path, json_path):
        leftover.unlink()
    return out.getvalue(), err.getvalue(), *texts, peak


def valid_pledge(plaintext: bytes) -> bool:
    """This test's own idea of what the web app seals: exactly its ten fields, each as the form allows."""
    try:
        doc = json.loads(plaintext.decode("utf-8"))
    except (ValueError, RecursionError):
        return False
    if not isinstance(doc, dict) or set(doc) != set(FIELDS) or not all(type(v) is str for v in doc.values()):
        return False
    if plaintext.count(b'":') != len(FIELDS):  # a key given twice (or a colon in a value: then not counted)
        return False
    ids = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
    return (
        pledges.normalize_reference(doc["reference"]) == doc["reference"]
        and re.fullmatch(r"[0-9]{1,9}\.[0-9]{2}", doc["amount"]) is not None
        and doc["currency"] == "EUR"
        and doc["language"] in ("en", "de")
        and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", doc["day"]) is not None
        and (doc["designation"] == "split" or ids.fullmatch(doc["designation"]) is not None)
        and ids.fullmatch(doc["method"]) is not None
        and not any(
            _is_control(doc[name]) or len(doc[name].replace("\r\n", "\n")) > pledges.MAX_LENGTH[name]
            for name in ("pseudonym", "contact", "message")
        )
    )


CSV_FORMULA = ("=", "+", "-", "@", "\t", "\r", "\n")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(planted_documents(), min_size=1, max_size=4))
def test_a_planted_record_never_reaches_the_terminal_or_a_spreadsheet_raw(organiser, plaintexts):
    folder, identity = organiser
    records = [seal_as_attacker(p, identity.recipient) for p in plaintexts]
    honest = json.dumps(_honest_fields(0)).encode()
    out, err, csv_text, json_text, peak = run_review(
        folder, [*records, seal_as_attacker(honest, identity.recipient)], "planted"
    )
    # The table, the warnings and the totals: nothing raw that drives a terminal, hides or reorders text.
    for stream in (out, err):
        bad = sorted({f"U+{ord(ch):04X}" for ch in stream if ch != "\n" and raw_and_hidden(ch)})
        assert not bad, f"review printed raw {bad}"
    # The spreadsheet: no cell starts like a formula, not even after spaces.
    for row in csv.reader(io.StringIO(csv_text, newline="")):
        for cell in row:
            assert not cell.startswith(CSV_FORMULA), repr(cell[:20])
            assert not (cell[:1].isspace() and cell.lstrip().startswith(CSV_FORMULA)), repr(cell[:20])
            assert not any(raw_and_hidden(ch) for ch in cell if ch not in "\t\r\n"), repr(cell[:20])
    # JSON: nothing raw either, and what is there reads back.
    assert not [ch for ch in json_text if ch != "\n" and raw_and_hidden(ch)]
    listed = json.loads(json_text)["pledges"]
    # Never trusted: only valid pledges are listed; every other record is named by file and line.
    valid = {i for i, p in enumerate(plaintexts) if valid_pledge(p)}
    assert {p["reference"] for p in listed} <= {json.loads(plaintexts[i])["reference"] for i in valid} | {
        _honest_fields(0)["reference"]
    }
    for i in set(range(len(plaintexts))) - valid:
        assert re.search(rf"planted\.sealed:{i + 1}\b", err), f"record {i + 1} is not named: {err}"
    # Bounded memory: a few records of at most 16 KB never cost more than a few megabytes.
    assert peak < 32 * 1024 * 1024, peak


def test_a_record_that_names_its_campaign_twice_is_refused(organiser):
    folder, identity = organiser
    honest = json.dumps(_honest_fields(3)).encode()
    sealed = seal_as_attacker(honest, identity.recipient, campaign="other-campaign")
    # The first "c" says one campaign, the last the one it was sealed under: a reader taking the first
    # would show it under the wrong campaign, one taking the last would open it.
    for twice in (
        sealed.replace(b'"c":"other-campaign"', b'"c":"test-campaign","c":"other-campaign"', 1),
        sealed.replace(b'"c":"other-campaign"', b'"c":"other-campaign","c":"test-campaign"', 1),
    ):
        with pytest.raises(sealing.DamagedRecord):
            identity.open(twice)
        out, err, csv_text, json_text, _ = run_review(folder, [twice], "twice")
        assert json.loads(json_text)["pledges"] == []
        assert re.search(r"twice\.sealed:1\b", err), err
        assert "test-campaign" not in out and "other-campaign" not in out
