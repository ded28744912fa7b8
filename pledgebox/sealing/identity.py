"""An organiser's private identity: opens sealed records, signs manifests, lives in a passphrase-protected file."""

from __future__ import annotations

import json
import os
import secrets
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import ed25519, mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from pledgebox import files
from pledgebox.errors import PledgeboxError

from .encoding import _b64, _b64_decode
from .keys import _ED25519, _X25519, RECIPIENT_PREFIX, SIGNER_PREFIX, Recipient, Signer
from .records import SUITE, DamagedRecord, NotForThisIdentity, SealedRecord, _info, parse_record, unpad

IDENTITY_MARK = b'"pledgebox-identity"'
_MLKEM_SEED = 64
_SECRETS = _MLKEM_SEED + _X25519 + _ED25519
_SCRYPT_R = 8
_SCRYPT_P = 1
# scrypt needs 128 * n * r bytes: 2**20 is 1 GiB, the most a hostile file may ask for.
_SCRYPT_MAX_N = 2**20
_SALT = 16
_NONCE = 12
# A real identity file is well under 1 KiB; refuse to read a huge one.
_IDENTITY_MAX_BYTES = 64 * 1024


class NotAnIdentity(PledgeboxError):
    """This is not a pledgebox identity file:"""

    hint = (
        'give the file `pledgebox keygen --out FILE` wrote (it starts with {"pledgebox-identity": 1); '
        "a pledgebox-recipient-v1 line is only its public part"
    )


class WrongPassphrase(PledgeboxError):
    """Wrong passphrase, or the identity file was altered."""

    hint = "check Caps Lock and the keyboard layout, and that this is your identity file"


class IdentityExists(PledgeboxError):
    """An identity file already exists there, and it is never overwritten:"""

    hint = "choose another file name"


class IdentityFileError(PledgeboxError):
    """The identity file could not be read or written:"""

    hint = "check the file's name and folder, and that this user may read it (keygen: write in that folder)"


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
        self.recipient = Recipient(kem.public_key().public_bytes_raw(), dh.public_key().public_bytes_raw())
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
        ciphertext = ChaCha20Poly1305(key).encrypt(nonce, self._secrets, _identity_aad(scrypt_n, salt_text, nonce_text))
        # "pledgebox-identity" comes first, so whoever opens the file sees at once what it is.
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
        data = files.read_small(
            path, _IDENTITY_MAX_BYTES, IdentityFileError, lambda: NotAnIdentity(f"{path} is far too large")
        )
        try:
            document = _identity_json(data)
        except ValueError:
            if data.strip().startswith((RECIPIENT_PREFIX.encode(), SIGNER_PREFIX.encode())):
                raise NotAnIdentity(f"{path} holds a public key, not a private identity") from None
            raise NotAnIdentity(f"{path} is not JSON") from None
        if not _is_identity(document):
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


def _identity_json(data: bytes) -> object:
    """The JSON document in an identity file's bytes, or ValueError.

    The one parser for loading and for detecting identities: every encoding json accepts (UTF-8 with or
    without a BOM, UTF-16 and UTF-32 in either byte order), any key order, escapes and whitespace.
    """
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _is_identity(document: object) -> bool:
    """True if a parsed document has the identity header (wherever it stands among the keys)."""
    return isinstance(document, dict) and "pledgebox-identity" in document


# The header's key, quoted, in every encoding the parser accepts: found anywhere in a file (a copy pasted
# into notes, a backup too long to load), it is a private identity.
_MARKS = tuple(
    IDENTITY_MARK.decode("ascii").encode(codec)
    for codec in ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
)
_SCAN_CHUNK = 1 << 20


def looks_like_identity(path: Path) -> bool:
    """True if path is a regular file that holds a private identity, however it was re-saved.

    Any file Identity.load would accept (parsed the same way), and any file holding the header's
    marker in any encoding that parser accepts.
    """
    try:
        # O_NONBLOCK: opening a FIFO must not hang the check.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        head = os.read(fd, _IDENTITY_MAX_BYTES + 1)
        if len(head) <= _IDENTITY_MAX_BYTES:
            try:
                if _is_identity(_identity_json(head)):
                    return True
            except ValueError:
                pass
        return _holds_mark(fd, head)
    except OSError:
        return False
    finally:
        os.close(fd)


def _holds_mark(fd: int, data: bytes) -> bool:
    """True if the file, starting with data already read, holds a marker anywhere (read in chunks)."""
    overlap = max(len(mark) for mark in _MARKS) - 1
    while data:
        if any(mark in data for mark in _MARKS):
            return True
        chunk = os.read(fd, _SCAN_CHUNK)
        data = data[-overlap:] + chunk if chunk else b""
    return False


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
