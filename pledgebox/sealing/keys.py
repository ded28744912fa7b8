"""Organisers' public keys: recipients that pledges are sealed to, signers that check mirror manifests."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import ed25519, mlkem, x25519

from pledgebox.errors import PledgeboxError

from .encoding import _B64URL, b64url_decode, b64url_encode

RECIPIENT_PREFIX = "pledgebox-recipient-v1:"
SIGNER_PREFIX = "pledgebox-signer-v1:"

_MLKEM_PUBLIC = 1184
_X25519 = 32
_ED25519 = 32
_CHECKSUM = 4


class BadRecipient(PledgeboxError):
    """This is not a usable recipient key:"""

    hint = "copy the whole line that `pledgebox keygen` printed, starting with 'pledgebox-recipient-v1:'"


class BadSigner(PledgeboxError):
    """This is not a usable signer key:"""

    hint = "copy the whole line that `pledgebox keygen` printed, starting with 'pledgebox-signer-v1:'"


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
        raise error(f"it has {len(body)} characters after the prefix instead of {expected}: was it copied completely?")
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
