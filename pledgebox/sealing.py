"""Organiser keys, identity files and sealed records: the only module that imports cryptography."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import secrets
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import ed25519, mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from pledgebox import files
from pledgebox.errors import PledgeboxError

__all__ = [
    "BUCKETS",
    "FORMAT_VERSION",
    "SUITE",
    "BadRecipient",
    "BadSigner",
    "DamagedRecord",
    "Identity",
    "IdentityExists",
    "IdentityFileError",
    "NoRecipients",
    "NotAnIdentity",
    "NotForThisIdentity",
    "PlaintextTooLarge",
    "Recipient",
    "SealedRecord",
    "Signer",
    "WrongPassphrase",
    "b64url_decode",
    "b64url_encode",
    "find_identities",
    "looks_like_identity",
    "pad",
    "parse_record",
    "record_campaign",
    "record_key_ids",
    "seal",
    "unpad",
]

SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
FORMAT_VERSION = 1
# Every plaintext is padded to one of these sizes, so a record's length tells
# nothing about the length of the donor's message.
BUCKETS = (1024, 2048, 4096, 8192, 16384)

RECIPIENT_PREFIX = "pledgebox-recipient-v1:"
SIGNER_PREFIX = "pledgebox-signer-v1:"
IDENTITY_MARK = b'"pledgebox-identity"'

_MLKEM_PUBLIC = 1184
_X25519 = 32
_ED25519 = 32
_MLKEM_SEED = 64
_SECRETS = _MLKEM_SEED + _X25519 + _ED25519
_CHECKSUM = 4
_INFO_PREFIX = b"pledgebox/v1/"

_SCRYPT_R = 8
_SCRYPT_P = 1
# scrypt needs 128 * n * r bytes: 2**20 is 1 GiB, the most a hostile file may ask for.
_SCRYPT_MAX_N = 2**20
_SALT = 16
_NONCE = 12
# A real identity file is well under 1 KiB; refuse to read a huge one.
_IDENTITY_MAX_BYTES = 64 * 1024

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_KEY_ID = re.compile(r"[0-9a-f]{16}")
MAX_CAMPAIGN = 40  # characters in a campaign id, as config allows


class BadRecipient(PledgeboxError):
    """This is not a usable recipient key:"""

    hint = "copy the whole line that `pledgebox keygen` printed, starting with 'pledgebox-recipient-v1:'"


class BadSigner(PledgeboxError):
    """This is not a usable signer key:"""

    hint = "copy the whole line that `pledgebox keygen` printed, starting with 'pledgebox-signer-v1:'"


class NoRecipients(PledgeboxError):
    """There is no organiser key to seal the pledge to."""

    hint = "add at least one [[organisers]] table with a recipient to data/campaign.toml"


class PlaintextTooLarge(PledgeboxError):
    """The pledge is too large to seal:"""


class DamagedRecord(PledgeboxError):
    """The sealed record is damaged:"""


class NotForThisIdentity(PledgeboxError):
    """The sealed record is not addressed to this identity."""


class NotAnIdentity(PledgeboxError):
    """This is not a pledgebox identity file:"""


class WrongPassphrase(PledgeboxError):
    """Wrong passphrase, or the identity file was altered."""


class IdentityExists(PledgeboxError):
    """An identity file already exists there, and it is never overwritten:"""

    hint = "choose another file name"


class IdentityFileError(PledgeboxError):
    """The identity file could not be read or written:"""


def b64url_encode(data: bytes) -> str:
    """Encode as base64url without padding: the form of sealed ciphertexts, keys and tokens."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def is_b64url(text: object) -> bool:
    """True for canonical base64url without padding: the only text b64url_encode could have written."""
    if not isinstance(text, str) or not _B64URL.fullmatch(text):
        return False
    # Unused low bits in the last character would let two strings mean the same bytes.
    tail = len(text) % 4
    return tail == 0 or (tail == 2 and text[-1] in "AQgw") or (tail == 3 and text[-1] in "AEIMQUYcgkosw048")


def b64url_decode(text: str) -> bytes:
    """Decode canonical base64url without padding, or raise ValueError."""
    if not is_b64url(text):
        raise ValueError("not canonical base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64(data: bytes) -> str:
    """Encode as standard base64 with padding."""
    return base64.b64encode(data).decode("ascii")


def _b64_decode(text: object) -> bytes:
    """Decode standard base64, or raise ValueError."""
    if not isinstance(text, str):
        raise ValueError("not a string")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError("not base64") from exc


def _key_id(raw: bytes) -> str:
    """The short id of a public key: 8 bytes of its SHA-256, in hex."""
    return hashlib.sha256(raw).digest()[:8].hex()


def _fingerprint(key_id: str) -> str:
    """A key id in groups of four, for reading aloud."""
    return " ".join(key_id[i : i + 4] for i in range(0, len(key_id), 4))


def _key_string(prefix: str, raw: bytes) -> str:
    """The printable form of a public key: prefix, key, checksum."""
    return prefix + b64url_encode(raw + hashlib.sha256(raw).digest()[:_CHECKSUM])


def _parse_key_string(text: str, prefix: str, length: int, error: type[PledgeboxError]) -> bytes:
    """The raw key inside a printable key string, or the error naming what is wrong."""
    if not isinstance(text, str):
        raise error(f"expected text, got {type(text).__name__}")
    # Copying from a terminal or a TOML file often brings surrounding whitespace.
    text = text.strip()
    if not text.startswith(prefix):
        other = SIGNER_PREFIX if prefix == RECIPIENT_PREFIX else RECIPIENT_PREFIX
        if text.startswith(other):
            raise error(f"this is a {other.split('-')[1]} key, not a {prefix.split('-')[1]} key")
        if text.startswith("{"):
            raise error(
                "this looks like a private identity file: keep it secret and use the public key",
                hint="`pledgebox keygen` printed the public key when it created the identity",
            )
        raise error(f"it does not start with {prefix!r}")
    body = text[len(prefix) :]
    if not _B64URL.fullmatch(body):
        raise error("it contains characters that are not base64url: was it altered?")
    expected = (4 * (length + _CHECKSUM) + 2) // 3
    if len(body) != expected:
        raise error(
            f"it has {len(body)} characters after the prefix instead of {expected}:"
            " was it copied completely?"
        )
    try:
        data = b64url_decode(body)
    except ValueError:
        raise error("its last character is not canonical base64url: was it altered?") from None
    raw, checksum = data[:length], data[length:]
    if hashlib.sha256(raw).digest()[:_CHECKSUM] != checksum:
        raise error("checksum does not match: was it copied completely?")
    return raw


class _PublicKey:
    """What Recipient and Signer share: an id, a fingerprint and the printable form."""

    PREFIX = ""  # each subclass sets its own; the subclasses provide raw and _key_id

    @property
    def key_id(self) -> str:
        """The short id that sealed records and manifests name this key by."""
        return self._key_id

    @property
    def fingerprint(self) -> str:
        """The key id in groups of four, for comparing by eye or voice."""
        return _fingerprint(self._key_id)

    def to_string(self) -> str:
        """The printable, checksummed form for data/campaign.toml."""
        return _key_string(self.PREFIX, self.raw)

    def __str__(self) -> str:
        """The printable form."""
        return self.to_string()


@dataclass(frozen=True, repr=False)
class Recipient(_PublicKey):
    """An organiser's public key that pledges are sealed to."""

    PREFIX = RECIPIENT_PREFIX
    mlkem768: bytes
    x25519: bytes
    _public: hpke.MLKEM768X25519PublicKey = field(init=False, repr=False, compare=False)
    _key_id: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Check the key parts and build the HPKE key once, not per seal."""
        if len(self.mlkem768) != _MLKEM_PUBLIC or len(self.x25519) != _X25519:
            raise BadRecipient("the key parts have the wrong length")
        try:
            public = hpke.MLKEM768X25519PublicKey(
                mlkem.MLKEM768PublicKey.from_public_bytes(bytes(self.mlkem768)),
                x25519.X25519PublicKey.from_public_bytes(bytes(self.x25519)),
            )
        except ValueError:
            raise BadRecipient("it does not hold a valid ML-KEM-768 key") from None
        object.__setattr__(self, "_public", public)
        object.__setattr__(self, "_key_id", _key_id(self.raw))

    @property
    def raw(self) -> bytes:
        """The raw public key: ML-KEM-768 then X25519."""
        return bytes(self.mlkem768) + bytes(self.x25519)

    @classmethod
    def from_string(cls, text: str) -> Recipient:
        """Parse the printable form that keygen prints."""
        raw = _parse_key_string(text, RECIPIENT_PREFIX, _MLKEM_PUBLIC + _X25519, BadRecipient)
        return cls(raw[:_MLKEM_PUBLIC], raw[_MLKEM_PUBLIC:])


    def __repr__(self) -> str:
        """The fingerprint, not 1.2 KB of key."""
        return f"<Recipient {self.fingerprint}>"


@dataclass(frozen=True, repr=False)
class Signer(_PublicKey):
    """An organiser's public Ed25519 key that checks mirror manifests."""

    PREFIX = SIGNER_PREFIX
    ed25519: bytes
    _public: ed25519.Ed25519PublicKey = field(init=False, repr=False, compare=False)
    _key_id: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Check the key and build it once."""
        if len(self.ed25519) != _ED25519:
            raise BadSigner("the key has the wrong length")
        try:
            public = ed25519.Ed25519PublicKey.from_public_bytes(bytes(self.ed25519))
        except ValueError:
            raise BadSigner("it does not hold a valid Ed25519 key") from None
        object.__setattr__(self, "_public", public)
        object.__setattr__(self, "_key_id", _key_id(bytes(self.ed25519)))

    @property
    def raw(self) -> bytes:
        """The raw 32-byte public key."""
        return bytes(self.ed25519)

    @classmethod
    def from_string(cls, text: str) -> Signer:
        """Parse the printable form that keygen prints."""
        return cls(_parse_key_string(text, SIGNER_PREFIX, _ED25519, BadSigner))


    def verify(self, data: bytes, signature: bytes) -> bool:
        """True if signature is this key's signature of data; False otherwise."""
        try:
            self._public.verify(bytes(signature), bytes(data))
        except (InvalidSignature, TypeError, ValueError):
            return False
        return True

    def __repr__(self) -> str:
        """The fingerprint."""
        return f"<Signer {self.fingerprint}>"


def pad(plaintext: bytes) -> bytes:
    """Pad to the smallest bucket that fits, ISO/IEC 7816-4 style (0x80, then zeros)."""
    plaintext = bytes(plaintext)
    needed = len(plaintext) + 1
    for bucket in BUCKETS:
        if needed <= bucket:
            return plaintext + b"\x80" + bytes(bucket - needed)
    raise PlaintextTooLarge(f"{len(plaintext)} bytes, at most {BUCKETS[-1] - 1} are allowed")


def unpad(padded: bytes) -> bytes:
    """Remove the padding that pad added."""
    if len(padded) not in BUCKETS:
        raise DamagedRecord(f"padded length {len(padded)} is not one of the bucket sizes")
    body = bytes(padded).rstrip(b"\x00")
    if not body or body[-1] != 0x80:
        raise DamagedRecord("the padding is malformed")
    return body[:-1]


def _info(campaign_id: str) -> bytes:
    """HPKE info: binds the format version and the campaign to every ciphertext."""
    return _INFO_PREFIX + campaign_id.encode("utf-8")


def seal(plaintext: bytes, recipients: Sequence[Recipient], campaign_id: str) -> bytes:
    """Encrypt one padded plaintext separately to every recipient: one ASCII line of JSON."""
    if not isinstance(campaign_id, str):
        raise TypeError("campaign_id must be str")
    if len(campaign_id) > MAX_CAMPAIGN:
        raise ValueError(f"campaign_id has more than {MAX_CAMPAIGN} characters")
    padded = pad(plaintext)
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


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """json object_pairs_hook: a key given twice would let two readers see two different records."""
    document = dict(pairs)
    if len(document) != len(pairs):
        raise DamagedRecord("it has a key twice")
    return document


def parse_record(record: bytes) -> SealedRecord:
    """The one reader of the sealed-record format: only exactly what seal() writes, else DamagedRecord."""
    try:
        document = json.loads(record, object_pairs_hook=_unique_keys)
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
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)
                and _KEY_ID.fullmatch(entry[0])):
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


def _derive(passphrase: bytes, salt: bytes, n: int) -> bytes:
    """The 32-byte key that protects an identity file."""
    return Scrypt(salt=salt, length=32, n=n, r=_SCRYPT_R, p=_SCRYPT_P).derive(passphrase)


def _identity_aad(n: int, salt: str, nonce: str) -> bytes:
    """The header fields as authenticated data, so none can be altered unnoticed."""
    header = {
        "pledgebox-identity": 1,
        "kdf": "scrypt",
        "n": n,
        "r": _SCRYPT_R,
        "p": _SCRYPT_P,
        "salt": salt,
        "nonce": nonce,
    }
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode("ascii")


class Identity:
    """An organiser's private identity: opens sealed records and signs manifests."""

    __slots__ = ("_secrets", "_hpke_private", "_signing", "recipient", "signer")

    def __init__(self, mlkem_seed: bytes, x25519_secret: bytes, ed25519_secret: bytes):
        """Build the keys from their raw secrets."""
        try:
            kem = mlkem.MLKEM768PrivateKey.from_seed_bytes(bytes(mlkem_seed))
            dh = x25519.X25519PrivateKey.from_private_bytes(bytes(x25519_secret))
            signing = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(ed25519_secret))
        except (ValueError, TypeError):
            raise NotAnIdentity("its secret keys have the wrong length") from None
        self._secrets = bytes(mlkem_seed) + bytes(x25519_secret) + bytes(ed25519_secret)
        self._hpke_private = hpke.MLKEM768X25519PrivateKey(kem, dh)
        self._signing = signing
        self.recipient = Recipient(
            kem.public_key().public_bytes_raw(), dh.public_key().public_bytes_raw()
        )
        self.signer = Signer(signing.public_key().public_bytes_raw())

    def __repr__(self) -> str:
        """The fingerprint only."""
        # Never the secrets: a repr ends up in tracebacks and logs.
        return f"<Identity {self.recipient.fingerprint}>"

    @classmethod
    def generate(cls) -> Identity:
        """A new identity with fresh random keys."""
        return cls(
            mlkem.MLKEM768PrivateKey.generate().private_bytes_raw(),
            x25519.X25519PrivateKey.generate().private_bytes_raw(),
            ed25519.Ed25519PrivateKey.generate().private_bytes_raw(),
        )

    def sign(self, data: bytes) -> bytes:
        """An Ed25519 signature of data that signer.verify accepts."""
        return self._signing.sign(bytes(data))

    def open(self, record: bytes | SealedRecord) -> bytes:
        """The plaintext of a sealed record (as written, or parsed) addressed to this identity."""
        sealed = record if isinstance(record, SealedRecord) else parse_record(record)
        ciphertext = sealed.ciphertext(self.recipient.key_id)
        if ciphertext is None:
            raise NotForThisIdentity()
        try:
            padded = SUITE.decrypt(ciphertext, self._hpke_private, info=_info(sealed.campaign))
        except (InvalidTag, ValueError):
            raise DamagedRecord("it failed authentication: it was altered or cut") from None
        return unpad(padded)

    def save(self, path: Path, passphrase: bytes, *, scrypt_n: int = 2**17) -> None:
        """Write the identity, passphrase-protected, to a new file with mode 0600."""
        path = Path(path)
        if not isinstance(passphrase, (bytes, bytearray)):
            raise TypeError("passphrase must be bytes")
        if not (1 < scrypt_n <= _SCRYPT_MAX_N) or scrypt_n & (scrypt_n - 1):
            raise ValueError(f"scrypt_n must be a power of two up to {_SCRYPT_MAX_N}")
        salt, nonce = secrets.token_bytes(_SALT), secrets.token_bytes(_NONCE)
        salt_text, nonce_text = _b64(salt), _b64(nonce)
        key = _derive(bytes(passphrase), salt, scrypt_n)
        ciphertext = ChaCha20Poly1305(key).encrypt(
            nonce, self._secrets, _identity_aad(scrypt_n, salt_text, nonce_text)
        )
        # "pledgebox-identity" comes first: looks_like_identity relies on it.
        document = {
            "pledgebox-identity": 1,
            "kdf": "scrypt",
            "n": scrypt_n,
            "r": _SCRYPT_R,
            "p": _SCRYPT_P,
            "salt": salt_text,
            "nonce": nonce_text,
            "ciphertext": _b64(ciphertext),
        }
        data = (json.dumps(document) + "\n").encode("ascii")
        files.create(path, data, IdentityExists, IdentityFileError)

    @classmethod
    def load(cls, path: Path, passphrase: bytes) -> Identity:
        """Read an identity file written by save."""
        path = Path(path)
        if not isinstance(passphrase, (bytes, bytearray)):
            raise TypeError("passphrase must be bytes")
        try:
            with open(path, "rb") as file:
                data = file.read(_IDENTITY_MAX_BYTES + 1)
        except OSError as exc:
            raise IdentityFileError(f"{path}: {exc.strerror}") from None
        if len(data) > _IDENTITY_MAX_BYTES:
            raise NotAnIdentity(f"{path} is far too large")
        try:
            document = json.loads(data)
        except ValueError:
            if data.strip().startswith((RECIPIENT_PREFIX.encode(), SIGNER_PREFIX.encode())):
                raise NotAnIdentity(f"{path} holds a public key, not a private identity") from None
            raise NotAnIdentity(f"{path} is not JSON") from None
        if not isinstance(document, dict) or "pledgebox-identity" not in document:
            raise NotAnIdentity(f"{path} has no pledgebox-identity header")
        version = document["pledgebox-identity"]
        if type(version) is not int or version != 1:
            raise NotAnIdentity(f"{path} has identity format {version!r}, this pledgebox reads 1")
        n = document.get("n")
        if (
            document.get("kdf") != "scrypt"
            or type(n) is not int
            or not (1 < n <= _SCRYPT_MAX_N)
            or n & (n - 1)
            or type(document.get("r")) is not int
            or document.get("r") != _SCRYPT_R
            or type(document.get("p")) is not int
            or document.get("p") != _SCRYPT_P
        ):
            raise NotAnIdentity(f"{path} asks for unsupported key derivation settings")
        salt_text, nonce_text = document.get("salt"), document.get("nonce")
        try:
            salt = _b64_decode(salt_text)
            nonce = _b64_decode(nonce_text)
            ciphertext = _b64_decode(document.get("ciphertext"))
        except ValueError:
            raise NotAnIdentity(f"{path} has a field that is not base64") from None
        if len(salt) < _SALT or len(nonce) != _NONCE or len(ciphertext) != _SECRETS + 16:
            raise NotAnIdentity(f"{path} has a field of the wrong length")
        key = _derive(bytes(passphrase), salt, n)
        try:
            raw = ChaCha20Poly1305(key).decrypt(nonce, ciphertext, _identity_aad(n, salt_text, nonce_text))
        except InvalidTag:
            raise WrongPassphrase() from None
        return cls(
            raw[:_MLKEM_SEED],
            raw[_MLKEM_SEED : _MLKEM_SEED + _X25519],
            raw[_MLKEM_SEED + _X25519 :],
        )


def looks_like_identity(path: Path) -> bool:
    """True if path is a regular file that starts like a private identity."""
    try:
        # O_NONBLOCK: opening a FIFO must not hang the check.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        head = os.read(fd, 64)
    except OSError:
        return False
    finally:
        os.close(fd)
    head = head.lstrip(b" \t\r\n")
    return head.startswith(b"{") and head[1:].lstrip(b" \t\r\n").startswith(IDENTITY_MARK)


def find_identities(folder: Path) -> list[Path]:
    """Every private identity file under folder, without following symlinks."""
    found = []
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in sorted(names):
            path = Path(root, name)
            # A symlink may point out of the folder; its target is not ours to read.
            if path.is_symlink():
                continue
            if looks_like_identity(path):
                found.append(path)
    return found
