"""Sealed records: the one format (compact JSON, one HPKE ciphertext per organiser key) and its one parser."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import hpke

from pledgebox.errors import PledgeboxError
from pledgebox.plaintext import PADDED_SIZE

from .encoding import b64url_decode, b64url_encode, is_b64url
from .keys import Recipient

SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
FORMAT_VERSION = 1
# Sizes of records sealed by earlier versions, still opened (audit flags them on a server). Before the one
# size (plaintext.PADDED_SIZE), plaintexts were padded to the smallest of five buckets that fitted. A changed
# field limit changes the one size: add the old one here, or records sealed before will not open.
OLDER_SIZES = (1024, 2048, 4096, 8192, 16384)
_INFO_PREFIX = b"pledgebox/v1/"
_KEY_ID = re.compile(r"[0-9a-f]{16}")
MAX_CAMPAIGN = 40  # characters in a campaign id, as config allows


class NoRecipients(PledgeboxError):
    """There is no organiser key to seal the pledge to."""

    hint = "add at least one [[organisers]] table with a recipient to data/campaign.toml"


class PlaintextTooLarge(PledgeboxError):
    """The pledge is too large to seal:"""

    hint = "shorten the text: the form's limits keep every pledge well below this size"


class DamagedRecord(PledgeboxError):
    """The sealed record is damaged:"""

    hint = (
        "copy the .sealed file again from the server or the USB stick (an incomplete copy is the usual cause); "
        "review skips such a record and opens the others"
    )


class NotForThisIdentity(PledgeboxError):
    """The sealed record is not addressed to this identity."""

    hint = "open it with the identity of an organiser whose key was in campaign.toml when it was sealed"


def pad(plaintext: bytes, size: int = PADDED_SIZE) -> bytes:
    """Pad to exactly size bytes (the one size unless told), ISO/IEC 7816-4 style (0x80, then zeros)."""
    plaintext = bytes(plaintext)
    needed = len(plaintext) + 1
    if needed > size:
        raise PlaintextTooLarge(f"{len(plaintext)} bytes, at most {size - 1} are allowed")
    return plaintext + b"\x80" + bytes(size - needed)


def unpad(padded: bytes) -> bytes:
    """Remove the padding that pad added (the one size, or the size of a record sealed by an earlier version)."""
    if len(padded) != PADDED_SIZE and len(padded) not in OLDER_SIZES:
        raise DamagedRecord(f"padded length {len(padded)} is not the record size {PADDED_SIZE}")
    padded = bytes(padded)
    # The last 0x80, then only zeros: found from the end in C (rstrip took as long as the decryption's tag).
    mark = padded.rfind(b"\x80")
    if mark < 0 or padded[mark + 1 :] != bytes(len(padded) - mark - 1):
        raise DamagedRecord("the padding is malformed")
    return padded[:mark]


def _info(campaign_id: str) -> bytes:
    """HPKE info: binds the format version and the campaign to every ciphertext."""
    return _INFO_PREFIX + campaign_id.encode("utf-8")


def seal(plaintext: bytes, recipients: Sequence[Recipient], campaign_id: str, *, size: int = PADDED_SIZE) -> bytes:
    """Encrypt one padded plaintext separately to every recipient: one ASCII line of JSON.

    size: what the plaintext is padded to (the one size unless told); only tests that seal as an attacker
    would choose another.
    """
    if not isinstance(campaign_id, str):
        raise TypeError("campaign_id must be str")
    if len(campaign_id) > MAX_CAMPAIGN:
        raise ValueError(f"campaign_id has more than {MAX_CAMPAIGN} characters")
    padded = pad(plaintext, size)
    info = _info(campaign_id)
    keys = []
    seen = set()
    for recipient in recipients:
        # The same key listed twice would only make the record longer.
        if recipient.key_id in seen:
            continue
        seen.add(recipient.key_id)
        keys.append([recipient.key_id, b64url_encode(SUITE.encrypt(padded, recipient._public, info=info))])
    if not keys:
        raise NoRecipients()
    return _serialize(campaign_id, keys)


@dataclass(frozen=True)
class SealedRecord:
    """A parsed sealed record: the campaign it claims and, per key id, its ciphertext (checked base64url)."""

    campaign: str
    entries: tuple[tuple[str, str], ...]

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The key ids the record is addressed to."""
        return tuple(key_id for key_id, _ in self.entries)

    @property
    def sizes(self) -> tuple[int, ...]:
        """The length in bytes of each ciphertext."""
        return tuple(len(text) * 3 // 4 for _, text in self.entries)

    def ciphertext(self, key_id: str) -> bytes | None:
        """The ciphertext for the key with this id, None if the record is not addressed to it."""
        # Decoded only for the key that opens it: the others need not cost a thing.
        return next((b64url_decode(text) for kid, text in self.entries if kid == key_id), None)


def unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """json object_pairs_hook: a key given twice would let two readers see two different documents."""
    document = dict(pairs)
    if len(document) != len(pairs):
        raise DamagedRecord("it has a key twice")
    return document


def parse_record(record: bytes) -> SealedRecord:
    """The one reader of the sealed-record format: only exactly what seal() writes, else DamagedRecord."""
    try:
        document = json.loads(record, object_pairs_hook=unique_keys)
    except (ValueError, TypeError, RecursionError):
        raise DamagedRecord("it is not JSON") from None
    if not isinstance(document, dict):
        raise DamagedRecord("it is not a JSON object")
    version = document.get("v")
    if type(version) is not int:
        raise DamagedRecord("it has no format version")
    if version != FORMAT_VERSION:
        raise DamagedRecord(f"format version {version} is not supported by this pledgebox")
    campaign, entries = document.get("c"), document.get("k")
    if not isinstance(campaign, str) or not isinstance(entries, list) or not entries:
        raise DamagedRecord("its campaign or key list is missing")
    if len(campaign) > MAX_CAMPAIGN:
        raise DamagedRecord("its campaign id is too long")
    for entry in entries:
        if not (
            isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str) and _KEY_ID.fullmatch(entry[0])
        ):
            raise DamagedRecord("its key list is malformed")
        if not is_b64url(entry[1]):
            raise DamagedRecord("its ciphertext is not base64url")
    if len({key_id for key_id, _ in entries}) != len(entries):
        raise DamagedRecord("it names a key twice")
    # Anything seal() would not have written (other keys, spaces, escapes, order) is not a record of ours.
    if _serialize(campaign, entries) != record:
        raise DamagedRecord("it is not in the form pledgebox writes")
    return SealedRecord(campaign, tuple((key_id, text) for key_id, text in entries))


def _serialize(campaign: str, entries: Sequence[Sequence[str]]) -> bytes:
    """A sealed record's one form: compact JSON, ASCII only, keys v, c, k in this order."""
    # Key ids and ciphertexts need no escaping (hex and base64url): only the campaign goes through json.
    keys = ",".join(f'["{key_id}","{text}"]' for key_id, text in entries)
    return f'{{"v":{FORMAT_VERSION},"c":{json.dumps(campaign)},"k":[{keys}]}}'.encode("ascii")


def record_key_ids(record: bytes) -> list[str]:
    """The key ids a sealed record is addressed to."""
    return list(parse_record(record).key_ids)


def record_campaign(record: bytes) -> str:
    """The campaign id a sealed record claims (authenticated only when opened)."""
    return parse_record(record).campaign
