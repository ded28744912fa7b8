"""Organiser keys, identity files and sealed records: the only package that imports cryptography.

keys: the public keys; records: the sealed-record format and its one parser; identity: an organiser's
private identity and its file; encoding: the one base64url codec.
"""

from __future__ import annotations

from .encoding import b64url_decode, b64url_encode, is_b64url
from .identity import (
    IDENTITY_MARK,
    Identity,
    IdentityExists,
    IdentityFileError,
    NotAnIdentity,
    WrongPassphrase,
    find_identities,
    looks_like_identity,
)
from .keys import RECIPIENT_PREFIX, SIGNER_PREFIX, BadRecipient, BadSigner, Recipient, Signer
from .records import (
    FORMAT_VERSION,
    MAX_CAMPAIGN,
    OLDER_SIZES,
    SUITE,
    DamagedRecord,
    NoRecipients,
    NotForThisIdentity,
    PlaintextTooLarge,
    SealedRecord,
    pad,
    parse_record,
    record_campaign,
    record_key_ids,
    seal,
    unique_keys,
    unpad,
)

__all__ = [
    "IDENTITY_MARK",
    "MAX_CAMPAIGN",
    "RECIPIENT_PREFIX",
    "SIGNER_PREFIX",
    "OLDER_SIZES",
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
    "is_b64url",
    "find_identities",
    "looks_like_identity",
    "pad",
    "parse_record",
    "record_campaign",
    "record_key_ids",
    "seal",
    "unique_keys",
    "unpad",
]
