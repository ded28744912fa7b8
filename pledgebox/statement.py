"""A mirror's signed statement: the campaign and addresses a copy is for, its version and its days.

MIRROR.json holds one JSON object in RFC 8785 canonical form (keys sorted, no spaces, strings and
integers only), MIRROR.sig the base64 Ed25519 signature of DOMAIN + those exact bytes. A copy is
valid from the day it was built until the day before it expires; a version only grows, so a host
can refuse an older copy (a replay that would freeze the totals it shows).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta

from . import sealing
from .errors import PledgeboxError
from .safetext import terminal

FILE = "MIRROR.json"
SIGNATURE = "MIRROR.sig"
FORMAT = "pledgebox-mirror-statement-v1"
# Signed before the statement, so a signature made for anything else can never pass as one.
DOMAIN = b"pledgebox-mirror-statement-v1\n"
DEFAULT_DAYS = 30
MAX_DAYS = 366
MAX_VERSION = 2**53 - 1  # exact in every JSON reader
MAX_BYTES = 4096
_SIGNATURE_FILE = re.compile(rb"[A-Za-z0-9+/]{85}[AQgw]==\n")  # 64 bytes in base64, one newline
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_ONION = re.compile(r"[a-z2-7]{56}\.onion")
_HEX = re.compile(r"[0-9a-f]{64}")


class BadStatement(PledgeboxError):
    """The copy's signed statement (MIRROR.json) is not usable:"""

    hint = "do not host this copy; get the bundle again from the organisers' site"


class Expired(PledgeboxError):
    """This copy has expired:"""

    hint = "get the current copy (python app.py mirror pull …), or ask the organisers to build a new one"


class WrongAddress(PledgeboxError):
    """This copy was made for another campaign or address:"""

    hint = (
        "its form would send pledges elsewhere: do not host it; check the address "
        "with the organisers, and get the copy from their onion service"
    )


def utc_today() -> date:
    """Today in UTC: the statement's days are UTC days, wherever it is checked."""
    return datetime.now(UTC).date()


@dataclass(frozen=True)
class Statement:
    """What the organisers sign about one copy."""

    campaign: str
    onion: str
    clearnet: str  # "" when the campaign has no clearnet address
    version: int
    built: str  # YYYY-MM-DD, UTC
    expires: str  # YYYY-MM-DD: the first day the copy is no longer valid
    manifest_sha256: str
    signed_by: str  # the organiser's name in campaign.toml
    format: str = FORMAT

    def to_bytes(self) -> bytes:
        """The canonical JSON form (RFC 8785 for strings and integers): the bytes that are signed."""
        text = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return text.encode("utf-8")

    def expired(self, today: date) -> bool:
        """Whether the copy is no longer valid on `today`."""
        return today >= date.fromisoformat(self.expires)

    def check(self, today: date, *, onion: str = "", campaign: str = "") -> None:
        """Refuse an expired copy, or one for another onion address or campaign, when those are given."""
        if self.expired(today):
            raise Expired(f"version {self.version} expired on {self.expires} (today is {today.isoformat()}, UTC)")
        if onion and onion != self.onion:
            raise WrongAddress(f"it is for {self.onion}, not {onion}")
        if campaign and campaign != self.campaign:
            raise WrongAddress(f"it is for the campaign {terminal(self.campaign)}, not {terminal(campaign)}")


def make(config, *, version: int, built: date, days: int, manifest_sha256: str, signed_by: str) -> Statement:
    """The statement for a copy of this campaign built on `built`, valid for `days` days."""
    if not 1 <= version <= MAX_VERSION:
        raise BadStatement(f"the version must be a whole number from 1 to {MAX_VERSION}")
    if not 1 <= days <= MAX_DAYS:
        raise BadStatement(
            f"a copy is valid for 1 to {MAX_DAYS} days, not {days}",
            hint="use --expires-in DAYS with DAYS from 1 to 366",
        )
    return Statement(
        campaign=config.campaign_id,
        onion=config.onion,
        clearnet=config.clearnet,
        version=version,
        built=built.isoformat(),
        expires=(built + timedelta(days=days)).isoformat(),
        manifest_sha256=manifest_sha256,
        signed_by=signed_by,
    )


def sign(statement: Statement, identity: sealing.Identity) -> bytes:
    """MIRROR.sig: the base64 Ed25519 signature of DOMAIN + the statement's bytes, and a newline."""
    return base64.b64encode(identity.sign(DOMAIN + statement.to_bytes())) + b"\n"


def signed_by(raw: bytes, signature_file: bytes, signers: list[sealing.Signer]) -> sealing.Signer | None:
    """The first signer whose signature MIRROR.sig holds for exactly these bytes, or None."""
    if not _SIGNATURE_FILE.fullmatch(signature_file):
        return None
    signature = base64.b64decode(signature_file[:-1], validate=True)
    return next((s for s in signers if s.verify(DOMAIN + raw, signature)), None)


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise BadStatement("it names a field twice")
    return dict(pairs)


def _no_constant(name):
    raise BadStatement(f"it holds {name}, which is not JSON")


def parse(raw: bytes) -> Statement:
    """The statement in MIRROR.json, refusing anything but the canonical form `make` writes."""
    if len(raw) > MAX_BYTES:
        raise BadStatement(f"it is longer than {MAX_BYTES} bytes")
    try:
        doc = json.loads(
            raw.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_float=_no_float, parse_constant=_no_constant
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadStatement(f"it is not JSON ({exc})") from None
    fields = set(Statement.__dataclass_fields__)
    if not isinstance(doc, dict) or set(doc) != fields:
        raise BadStatement(f"it must hold exactly the fields {', '.join(sorted(fields))}")
    if doc["format"] != FORMAT:
        raise BadStatement(f"its format is not {FORMAT}", hint="update pledgebox, or get the copy again")
    _check_fields(doc)
    statement = Statement(**doc)
    if statement.to_bytes() != raw:
        raise BadStatement("it is not in canonical form (key order, spaces or escapes differ)")
    return statement


def _no_float(text):
    raise BadStatement(f"it holds the number {text[:20]}, and only whole numbers are allowed")


def _check_fields(doc: dict) -> None:
    """Every field of the statement of the type and shape `make` writes."""
    texts = ("campaign", "onion", "clearnet", "built", "expires", "manifest_sha256", "signed_by", "format")
    if any(not isinstance(doc[k], str) or len(doc[k]) > 200 for k in texts):
        raise BadStatement("a field that must be text (at most 200 characters) is not")
    if type(doc["version"]) is not int or not 1 <= doc["version"] <= MAX_VERSION:
        raise BadStatement(f"its version must be a whole number from 1 to {MAX_VERSION}")
    if not _ONION.fullmatch(doc["onion"]) or (doc["clearnet"] and not doc["clearnet"].startswith("https://")):
        raise BadStatement("its onion or clearnet address is malformed")
    if not _HEX.fullmatch(doc["manifest_sha256"]):
        raise BadStatement("its manifest digest is malformed")
    try:
        if not (_DAY.fullmatch(doc["built"]) and _DAY.fullmatch(doc["expires"])):
            raise ValueError
        built, expires = date.fromisoformat(doc["built"]), date.fromisoformat(doc["expires"])
    except ValueError:
        raise BadStatement("its build or expiry day is not a date (YYYY-MM-DD)") from None
    if not built < expires <= built + timedelta(days=MAX_DAYS):
        raise BadStatement("its expiry day is not within a year after its build day")
