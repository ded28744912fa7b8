"""The campaign's settings, loaded once from data/campaign.toml into frozen dataclasses."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import ROOT, tomlfile
from .errors import ConfigError, PledgeboxError

DEFAULT_DATA = ROOT / "data"
DEMO_CAMPAIGN = ROOT / "pledgebox" / "demo" / "campaign.toml"
METHOD_KINDS = ("sepa", "cash", "crypto")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_ONION = re.compile(r"^[a-z2-7]{56}\.onion$")
# "2.500" and "2,500" mean 2500 to a German reader and 2.5 to Python: refused, never guessed.
_AMBIGUOUS = re.compile(r"[.,][0-9]{3}(?![0-9])")
TABLES = {
    "campaign": "[campaign]",
    "groups": "[[groups]]",
    "methods": "[[methods]]",
    "organisers": "[[organisers]]",
    "limits": "[limits]",
}
KEYS = {
    "campaign": ("id", "goal", "currency", "deadline", "timezone", "onion", "clearnet"),
    "groups": ("id", "name", "url"),
    "methods": ("id", "kind", "label", "beneficiary", "iban", "bic", "address"),
    "organisers": ("name", "recipient", "signer"),
}


@dataclass(frozen=True)
class Group:
    """A beneficiary group named in the appeal."""

    id: str
    name: str
    url: str


@dataclass(frozen=True)
class Method:
    """A way to pay that the organisers configured."""

    id: str
    kind: str  # one of METHOD_KINDS
    label: str = ""  # shown instead of the translated kind, e.g. "Monero"
    beneficiary: str = ""
    iban: str = ""
    bic: str = ""
    address: str = ""  # a postal address (cash) or a wallet address (crypto)


@dataclass(frozen=True)
class Organiser:
    """An organiser's public keys, as printed by `keygen`."""

    name: str
    recipient: str
    signer: str = ""


@dataclass(frozen=True)
class Limits:
    """Caps that keep a hostile client from hurting the server or the store."""

    max_amount: Decimal = Decimal("100000")
    min_amount: Decimal = Decimal("1")
    token_min_age: int = 2  # seconds: faster than a person can read the check page
    token_max_age: int = 6 * 3600  # generous: slow Tor loads, a coffee break
    confirms_per_minute: int = 600
    # Per Tor circuit (serve --proxy-protocol); the global cap above stays as a backstop.
    circuit_confirms_per_minute: int = 10
    circuit_check_pages_per_minute: int = 30
    max_pending: int = 50000
    max_pending_mb: int = 256  # the same cap in bytes: large records fill a disk faster


@dataclass(frozen=True)
class Config:
    """Everything the app needs to know about one campaign."""

    campaign_id: str
    goal: Decimal
    currency: str
    timezone: str
    deadline: date | None
    groups: tuple[Group, ...]
    methods: tuple[Method, ...]
    organisers: tuple[Organiser, ...]
    data_dir: Path
    onion: str = ""
    clearnet: str = ""  # the canonical https:// address, if any
    demo: bool = False
    limits: Limits = field(default_factory=Limits)

    @property
    def state_dir(self) -> Path:
        """The git-ignored runtime folder: sealed pledges, published totals, token secret."""
        return self.data_dir / "state"

    @property
    def tz(self) -> ZoneInfo:
        """The campaign's time zone, in which days are counted."""
        return ZoneInfo(self.timezone)

    def group(self, group_id: str) -> Group | None:
        """The group with this id, if configured."""
        return next((g for g in self.groups if g.id == group_id), None)

    def method(self, method_id: str) -> Method | None:
        """The payment method with this id, if configured."""
        return next((m for m in self.methods if m.id == method_id), None)


def load(data_dir: Path | None = None, *, allow_demo: bool = True) -> Config:
    """Load DATA/campaign.toml, or the embedded demo campaign when there is none."""
    data_dir = Path(data_dir) if data_dir else DEFAULT_DATA
    path = data_dir / "campaign.toml"
    if path.is_file():
        return parse(tomlfile.read(path), data_dir, demo=False)
    if not allow_demo:
        raise missing(path)
    return parse(tomlfile.read(DEMO_CAMPAIGN), data_dir, demo=True)


def missing(path: Path, also: str = "") -> ConfigError:
    """The error for a campaign.toml that does not exist yet."""
    return ConfigError(
        f"{path} is missing. {also}".strip(),
        hint=f"copy data/campaign.example.toml to {path}, fill it in (the organisers' keys from "
        "`pledgebox keygen`), then start again (a service: systemctl restart pledgebox)",
    )


def check_names(doc: dict) -> None:
    """Refuse unknown tables and keys, naming the closest known one (`dealine` → `deadline`)."""

    def spell(key):
        value = doc.get(key)
        return TABLES.get(key) or (
            f"[[{key}]]" if isinstance(value, list) else f"[{key}]" if isinstance(value, dict) else key
        )

    tomlfile.refuse_unknown(doc, TABLES, "", spell)
    for name, known in KEYS.items():
        value = doc.get(name)
        for i, table in enumerate(value if isinstance(value, list) else [value]):
            if isinstance(table, dict):
                tomlfile.refuse_unknown(table, known, name if name == "campaign" else f"{name}[{i}]")
    if isinstance(doc.get("limits"), dict):
        tomlfile.refuse_unknown(doc["limits"], Limits.__dataclass_fields__, "limits")


def parse(doc: dict, data_dir: Path, *, demo: bool = False) -> Config:
    """Check a parsed campaign.toml and build the Config; every error names its key."""
    check_names(doc)
    _refuse_placeholders(doc, "")
    camp = _table(doc, "campaign")
    cid = _text(camp, "campaign.id")
    if not _ID.match(cid):
        raise ConfigError("campaign.id must be lowercase letters, digits and dashes (at most 40).")
    goal = _amount(camp.get("goal"), "campaign.goal")
    currency = str(camp.get("currency", "EUR"))
    if currency != "EUR":
        raise ConfigError("campaign.currency: only EUR is supported (SEPA and the GiroCode are in euros).")
    tzname = str(camp.get("timezone", "Europe/Berlin"))
    try:
        ZoneInfo(tzname)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"campaign.timezone: unknown time zone {tzname!r}.") from None
    deadline = camp.get("deadline")
    if deadline is not None and not isinstance(deadline, date):
        raise ConfigError("campaign.deadline must be a date like 2026-12-31 (no quotes).")
    onion, clearnet = _addresses(camp)
    groups = tuple(_group(g, i) for i, g in enumerate(_array(doc, "groups")))
    methods = tuple(_method(m, i, demo) for i, m in enumerate(_array(doc, "methods")))
    organisers = tuple(_organiser(o, i) for i, o in enumerate(doc.get("organisers", [])))
    for name, items in (("groups", groups), ("methods", methods)):
        ids = [x.id for x in items]
        twice = next((i for i in ids if ids.count(i) > 1), None)
        if twice:
            raise ConfigError(
                f"[[{name}]]: two entries have the id {twice!r}.", hint="give each its own id, or remove the copy"
            )
    if not organisers:
        raise ConfigError(
            "organisers: at least one organiser key is needed to seal pledges.",
            hint="run `python app.py keygen --out FILE` and add the line it prints",
        )
    limits = Limits(**{k: _limit(v, f"limits.{k}") for k, v in doc.get("limits", {}).items()})
    if limits.min_amount > limits.max_amount:
        raise ConfigError(
            f"limits.min_amount ({limits.min_amount}) is above limits.max_amount "
            f"({limits.max_amount}): no pledge could be made.",
            hint='make min_amount smaller than max_amount (the defaults are "1" and "100000")',
        )
    return Config(
        campaign_id=cid,
        goal=goal,
        currency=currency,
        timezone=tzname,
        deadline=deadline,
        groups=groups,
        methods=methods,
        organisers=organisers,
        data_dir=Path(data_dir),
        onion=onion,
        clearnet=clearnet,
        demo=demo,
        limits=limits,
    )


def _addresses(camp: dict) -> tuple[str, str]:
    """campaign.onion (a v3 address with a correct checksum) and campaign.clearnet (https), each or empty."""
    onion = str(camp.get("onion", "")).strip().lower().removeprefix("http://").rstrip("/")
    if onion and not _ONION.match(onion):
        raise ConfigError("campaign.onion must be a v3 onion address (56 characters + .onion).")
    if onion and not onion_checksum_ok(onion):
        raise ConfigError(
            "campaign.onion has a typo: its checksum does not match.",
            hint="copy it again from the onion service's hostname file",
        )
    clearnet = str(camp.get("clearnet", "")).strip().rstrip("/")
    if clearnet and not clearnet.startswith("https://"):
        raise ConfigError("campaign.clearnet must start with https://.")
    return onion, clearnet


def onion_checksum_ok(address: str) -> bool:
    """Whether a v3 onion address carries a correct checksum (Tor's rend-spec-v3, "onion address")."""
    raw = base64.b32decode(address[:56].upper())
    pubkey, checksum, version = raw[:32], raw[32:34], raw[34:]
    return version == b"\x03" and hashlib.sha3_256(b".onion checksum" + pubkey + version).digest()[:2] == checksum


def iban_ok(iban: str) -> bool:
    """The ISO 13616 check: move the first four characters to the end, letters to numbers, mod 97 is 1."""
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}", iban):
        return False
    return int("".join(str(int(ch, 36)) for ch in iban[4:] + iban[:4])) % 97 == 1


def _refuse_placeholders(value, where: str) -> None:
    """The example file's "FILL IN" values must never reach donors."""
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_placeholders(item, f"{where}.{key}" if where else key)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _refuse_placeholders(item, f"{where}[{i}]")
    elif isinstance(value, str) and value.strip().upper().startswith("FILL IN"):
        raise ConfigError(
            f"{where} still holds the example's placeholder.",
            hint="fill it in, or remove the entry if you do not use it",
        )


def _table(doc: dict, key: str) -> dict:
    value = doc.get(key)
    if not isinstance(value, dict):
        raise ConfigError(f"[{key}] is missing.", hint=f"add the [{key}] table as data/campaign.example.toml shows it")
    return value


def _array(doc: dict, key: str) -> list:
    value = doc.get(key)
    if not isinstance(value, list) or not value:
        raise ConfigError(
            f"[[{key}]] is missing: at least one is needed.",
            hint=f"add a [[{key}]] table (two brackets) as data/campaign.example.toml shows",
        )
    return value


def _text(table: dict, key: str, *, required: bool = True) -> str:
    leaf = key.rsplit(".", 1)[-1]
    value = table.get(leaf, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise ConfigError(
            f"{key} is missing, empty or not text.",
            hint=f'write it in quotes, e.g. {leaf} = "…" (see data/campaign.example.toml)',
        )
    return value.strip()


def warnings(cfg: Config, day: date, *, first_start: bool) -> list[str]:
    """What is allowed but most likely a slip, for the server to say once at start."""
    found = []
    if first_start and cfg.deadline is not None and cfg.deadline < day:
        found.append(
            f"campaign.deadline {cfg.deadline} is before today ({day}): the site shows the campaign "
            "as ended. If that is a typo, correct the year in campaign.toml and restart."
        )
    return found


def _amount(value, key: str) -> Decimal:
    """An amount in euros: "2500", "2500.50" or a whole number; never one that reads two ways."""
    example = 'write it in quotes with a dot for cents only, e.g. "2500" or "2500.50"'
    if isinstance(value, float):
        # TOML has already turned 2.500 into 2.5: what was written cannot be known, so it is refused.
        raise ConfigError(
            f"{key} = {value} is a bare decimal number, which can hide a thousands separator (2.500 is read as 2.5).",
            hint=example,
        )
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ConfigError(f'{key} must be an amount like "2500".', hint=example)
    text = str(value).strip()
    if _AMBIGUOUS.search(text):
        raise ConfigError(
            f"{key} = {text!r} is ambiguous: it could mean {text.replace(',', '').replace('.', '')} "
            f"or a number with decimals.",
            hint=f'write whole euros without separators, e.g. "{_whole(text)}"; cents after a dot: "2500.50"',
        )
    try:
        amount = Decimal(text)
    except (InvalidOperation, ValueError):
        raise ConfigError(f'{key} must be an amount like "2500".', hint=example) from None
    if not amount.is_finite() or amount <= 0:
        raise ConfigError(f"{key} must be more than zero.", hint=example)
    return amount


def _whole(text: str) -> str:
    """ "2.500" → "2500": the reading a German-speaking organiser most likely meant."""
    digits = re.sub(r"[.,]", "", text)
    return digits if digits.isdigit() else "2500"


def _limit(value, key: str):
    default = Limits.__dataclass_fields__[key.split(".")[-1]].default
    if isinstance(default, Decimal):
        return _amount(value, key)
    if not isinstance(value, int) or value < 0:
        raise ConfigError(f"{key} must be a whole number, 0 or more.")
    return value


def _group(doc: dict, i: int) -> Group:
    where = f"groups[{i}]"
    gid = _text(doc, f"{where}.id")
    if not _ID.match(gid) or gid == "split":
        raise ConfigError(f"{where}.id must be lowercase letters, digits and dashes, not 'split'.")
    url = _text(doc, f"{where}.url")
    if not url.startswith("https://"):
        raise ConfigError(f"{where}.url must start with https://.")
    return Group(gid, _text(doc, f"{where}.name"), url)


def _method(doc: dict, i: int, demo: bool = False) -> Method:
    where = f"methods[{i}]"
    mid = _text(doc, f"{where}.id")
    if not _ID.match(mid):
        raise ConfigError(f"{where}.id must be lowercase letters, digits and dashes.")
    kind = _text(doc, f"{where}.kind")
    if kind not in METHOD_KINDS:
        raise ConfigError(f"{where}.kind must be one of {', '.join(METHOD_KINDS)}.")
    fields = {k: str(doc.get(k, "")).strip() for k in ("label", "beneficiary", "iban", "bic", "address")}
    if kind == "sepa":
        for key in ("beneficiary", "iban"):
            if not fields[key]:
                raise ConfigError(f"{where}.{key} is needed for a SEPA transfer.")
        fields["iban"] = fields["iban"].replace(" ", "").upper()
        if not demo and not iban_ok(fields["iban"]):
            raise ConfigError(f"{where}.iban is not a valid IBAN (its check digits do not match).")
    elif not fields["address"]:
        raise ConfigError(f"{where}.address is needed for {kind}.")
    if kind == "crypto" and not fields["label"]:
        raise ConfigError(f'{where}.label is needed for crypto (e.g. "Monero").')
    return Method(mid, kind, **fields)


def _organiser(doc: dict, i: int) -> Organiser:
    from . import sealing  # sealing validates the key strings; only it knows their format

    where = f"organisers[{i}]"
    organiser = Organiser(
        _text(doc, f"{where}.name"), _text(doc, f"{where}.recipient"), _text(doc, f"{where}.signer", required=False)
    )
    for key, kind in (("recipient", sealing.Recipient), ("signer", sealing.Signer)):
        value = getattr(organiser, key)
        if value or key == "recipient":
            try:
                kind.from_string(value)
            except PledgeboxError as exc:
                raise ConfigError(
                    f"{where}.{key}: {exc.message}", hint="paste the line `python app.py keygen` printed, unchanged"
                ) from None
    return organiser
