"""The organisers' side: open collected files, merge duplicates, show and export pledges, match payments."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import time
import unicodedata
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import NamedTuple

from . import files, pledges, sealing
from .errors import PledgeboxError, UsageError
from .store import Damaged, Record, scan_records

# What a sealed plaintext holds (pledges.Pledge.plaintext), and what the table shows.
PLAINTEXT = ("reference", "amount", "currency", "designation", "method", "pseudonym", "contact",
             "message", "language", "day")
TABLE = ("reference", "day", "amount", "designation", "method", "pseudonym", "contact", "message")
STATUSES = ("received", "partly received", "open")

POOL_MIN_RECORDS = 2000  # below this, starting worker processes costs more than it saves
BATCH = 400  # records per task sent to a worker
PROGRESS_MIN_RECORDS = 1000
MAX_PAYMENTS_BYTES = 64 * 1024 * 1024
MAX_PROBLEMS_SHOWN = 20  # per file: a file of garbage must not flood the terminal

_AMOUNT = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,2})?")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_CANONICAL_REFERENCE = re.compile(f"[{pledges.ALPHABET}]{{5}}-[{pledges.ALPHABET}]{{5}}")


class OutputExists(PledgeboxError):
    """The output file already exists, and review never overwrites it:"""

    hint = "choose a new file name, or move the old file away first (it holds plaintext pledges)"


class OutputError(PledgeboxError):
    """The output file could not be written:"""


class NotRecords(UsageError):
    """This is an identity file, not a file of collected pledges:"""

    hint = "give identity files with --identity KEYFILE, and the files `collect` wrote as FILE"


class PaymentsUnreadable(PledgeboxError):
    """The payments file could not be read:"""

    hint = ("export the bank statement as CSV with a header row that has a reference column (e.g. "
            "'Verwendungszweck', 'Reference') and an amount column (e.g. 'Betrag', 'Amount')")


# -- terminal- and spreadsheet-safe text ----------------------------------------------------------

# Bidi controls reorder the text around them: a table cell could appear to say something else.
_BIDI = frozenset([0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)])
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\\": "\\\\"}
_JOINERS = frozenset("\u200c\u200d")  # needed in Persian words and emoji sequences


def terminal_text(text: str) -> str:
    """Text made safe to print: controls, ESC, DEL, C1, bidi overrides and the like shown as escapes."""
    if text.isascii() and text.isprintable() and "\\" not in text:
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if ch in _NAMED:
            out.append(_NAMED[ch])
        elif code < 0x20 or 0x7F <= code <= 0x9F:
            out.append(f"\\x{code:02x}")
        elif code in _BIDI or (unicodedata.category(ch) in ("Cf", "Cs", "Zl", "Zp") and ch not in _JOINERS):
            out.append(f"[U+{code:04X}]")
        else:
            out.append(ch)
    return "".join(out)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_CSV_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def csv_cell(text: str) -> str:
    """A spreadsheet-safe cell (OWASP CSV injection): a leading quote stops formulas; no raw controls."""
    text = _CSV_CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    # Spreadsheets skip leading spaces before they look for a formula.
    if text.lstrip(" ").startswith(_FORMULA_START):
        return "'" + text
    return text


# DEL, C1, the invisible format characters (bidi controls, zero-width space, BOM, tags) and lone
# surrogates (from undecodable file names), but not the joiners that Persian words and emoji need.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u180e\u200b\u200e\u200f"
                          "\u2028-\u202e\u2060-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb\U000e0000-\U000e007f]")


def json_text(document) -> str:
    """JSON with readable Unicode, but controls, C1, DEL and bidi overrides as \\u escapes."""
    text = json.dumps(document, ensure_ascii=False, indent=1)
    # These characters can only occur inside JSON strings, where \uXXXX means the same.
    return _JSON_UNSAFE.sub(_json_escape, text)


def _json_escape(match: re.Match) -> str:
    """One character as a JSON \\u escape (a surrogate pair above U+FFFF)."""
    code = ord(match.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def width(text: str) -> int:
    """How many terminal columns text takes (wide East Asian characters take two)."""
    if text.isascii():
        return len(text)
    return sum(0 if unicodedata.combining(ch) or ch in _JOINERS
               else 2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def fit(text: str, columns: int) -> str:
    """text cut to at most `columns` terminal columns, ending in … when cut."""
    if width(text) <= columns:
        return text
    out, used = [], 0
    for ch in text:
        w = width(ch)
        if used + w > columns - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


# -- opening sealed records ------------------------------------------------------------------------

class Source(NamedTuple):
    """Where a record was found: a file given to review, and its line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{terminal_text(self.file)}:{self.line}"


@dataclass
class Entry:
    """One pledge, merged from every copy of it that review was given."""

    reference: str
    day: str
    amount: Decimal
    currency: str
    designation: str
    method: str
    pseudonym: str
    contact: str
    message: str
    language: str
    campaign: str
    record_id: str
    sources: list[Source] = field(default_factory=list)
    received: Decimal = Decimal(0)

    def same_pledge(self, other: Entry) -> bool:
        """True if other holds exactly the same pledge (a copy collected twice)."""
        return all(getattr(self, name) == getattr(other, name) for name in (*PLAINTEXT, "campaign"))

    @property
    def status(self) -> str:
        """received, partly received or open, from the payments matched to it."""
        if self.received <= 0:
            return "open"
        return "received" if self.received >= self.amount else "partly received"

    def document(self, with_payments: bool) -> dict:
        """The entry as plain JSON values."""
        doc = {name: getattr(self, name) for name in PLAINTEXT} | {
            "amount": f"{self.amount:.2f}", "campaign": self.campaign,
            "sources": [{"file": s.file, "line": s.line} for s in self.sources]}
        if with_payments:
            doc |= {"received": f"{self.received:.2f}", "status": self.status}
        return doc


@dataclass(frozen=True)
class Problem:
    """A record that could not be used, and why."""

    source: Source
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {terminal_text(self.reason)}, skipped"


@dataclass(frozen=True)
class Conflict:
    """Two records that share a reference or record id but say different things."""

    what: str  # "reference" or "record id"
    value: str
    first: Source
    second: Source

    def __str__(self) -> str:
        return (f"{self.what} {terminal_text(self.value)} appears with different contents at {self.first} "
                f"and {self.second}: one may be forged or altered; both are shown")


@dataclass
class Result:
    """What review found in its files."""

    files: list[str]
    records: int = 0
    entries: list[Entry] = field(default_factory=list)
    duplicates: int = 0
    other_keys: Counter = field(default_factory=Counter)  # (key ids,) -> records
    damaged: list[Problem] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)

    @property
    def campaigns(self) -> list[str]:
        """The campaign ids of the pledges, most frequent first."""
        return [c for c, _ in Counter(e.campaign for e in self.entries).most_common()]

    @property
    def pledged(self) -> Decimal:
        """The sum of every pledge."""
        return sum((e.amount for e in self.entries), Decimal(0))


def parse_plaintext(plaintext: bytes) -> dict[str, str]:
    """The fields of an opened record; DamagedRecord if it is not a pledge as the web app seals one."""
    try:
        # Strict UTF-8 first: json.loads(bytes) would let encoded surrogates through.
        text = plaintext.decode("utf-8")
        doc = json.loads(text)
    except (ValueError, RecursionError):
        raise sealing.DamagedRecord("its contents are not JSON text") from None
    if not isinstance(doc, dict):
        raise sealing.DamagedRecord("its contents are not a pledge")
    # Only a \u escape can make a lone surrogate, which no file or terminal can take.
    escapes = "\\u" in text
    fields = {}
    for name in PLAINTEXT:
        value = doc.get(name, "")
        if not isinstance(value, str):
            raise sealing.DamagedRecord(f"its {name} is not text")
        if escapes and _SURROGATE.search(value):
            raise sealing.DamagedRecord(f"its {name} is not valid Unicode text")
        fields[name] = value
    reference = fields["reference"]
    # The web app writes references in their canonical form: then only the check character is left to test.
    if not (_CANONICAL_REFERENCE.fullmatch(reference) and pledges.luhn_check(reference[:5] + reference[6:10])
            == reference[10]):
        reference = pledges.normalize_reference(reference)
    if reference is None:
        raise sealing.DamagedRecord("its reference is not a valid reference code")
    fields["reference"] = reference
    if not _AMOUNT.fullmatch(fields["amount"]):
        raise sealing.DamagedRecord("its amount is not a number")
    if not _DAY.fullmatch(fields["day"]):
        raise sealing.DamagedRecord("its day is not a date")
    return fields


_SEALED_HEAD = re.compile(rb'\{"v":1,"c":"([a-z0-9-]{1,40})","k":')


def _campaign(record: bytes) -> str:
    """The campaign id of an opened record, read cheaply from the head that seal() writes."""
    head = _SEALED_HEAD.match(record)
    return head[1].decode("ascii") if head else sealing.record_campaign(record)


def open_record(record: bytes, identities: Sequence[sealing.Identity]) -> tuple:
    """("ok", fields) for a pledge, ("other", key ids) if sealed to other keys, or ("damaged", why)."""
    for identity in identities:
        try:
            fields = parse_plaintext(identity.open(record))
            fields["campaign"] = _campaign(record)
        except sealing.NotForThisIdentity:
            continue
        except sealing.DamagedRecord as exc:
            return ("damaged", exc.detail or exc.message)
        return ("ok", fields)
    try:
        return ("other", tuple(sealing.record_key_ids(record)))
    except sealing.DamagedRecord as exc:
        return ("damaged", exc.detail or exc.message)


def open_batch(records: Sequence[bytes], identities: Sequence[sealing.Identity]) -> list[tuple]:
    """open_record for each record."""
    return [open_record(record, identities) for record in records]


_WORKER_IDENTITIES: tuple = ()


def _init_worker(identities) -> None:
    """Runs in each forked worker: it inherited the identities in memory, nothing went through a pipe."""
    global _WORKER_IDENTITIES
    _WORKER_IDENTITIES = tuple(identities)
    # Ctrl-C is the parent's to handle; workers just stop when it shuts the pool down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _worker_batch(records: list[bytes]) -> list[tuple]:
    return open_batch(records, _WORKER_IDENTITIES)


def count_lines(path: Path) -> int:
    """The number of lines in a file, quickly (for the progress bar and the choice of processes)."""
    try:
        with open(path, "rb") as file:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: file.read(1 << 20), b""))
    except OSError:
        return 0


def default_processes(records: int) -> int:
    """One process for small inputs; every core for large ones."""
    import multiprocessing

    # Workers must be forked: that is how they get the identities without pickling secrets.
    if records < POOL_MIN_RECORDS or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores)


class Progress:
    """A progress bar on a terminal's stderr; silent when stderr is not a terminal or the job is small."""

    def __init__(self, stream, total: int, *, label: str = "opening", minimum: int | None = None,
                 clock=time.monotonic):
        minimum = PROGRESS_MIN_RECORDS if minimum is None else minimum
        isatty = getattr(stream, "isatty", None)
        self.active = bool(stream is not None and total >= minimum and isatty and isatty())
        self.stream, self.total, self.label, self.clock = stream, total, label, clock
        self.done, self._shown, self._drawn = 0, float("-inf"), 0

    def advance(self, n: int) -> None:
        """Count n more records done; redraw at most ten times a second."""
        self.done += n
        if self.active and (self.clock() - self._shown >= 0.1 or self.done >= self.total):
            self._shown = self.clock()
            share = min(1.0, self.done / self.total) if self.total else 1.0
            bar = "#" * int(share * 30)
            text = f"\r{self.label} [{bar:<30}] {share:4.0%}  {self.done:,}/{self.total:,} records"
            self._drawn = len(text)
            self.stream.write(text)
            self.stream.flush()

    def close(self) -> None:
        """Erase the bar."""
        if self.active and self._drawn:
            self.stream.write("\r" + " " * self._drawn + "\r")
            self.stream.flush()


def _batches(paths: Sequence[Path], result: Result, progress: Progress) -> Iterator[list[tuple[Source, Record]]]:
    """The records of every file in batches, without exact copies; damaged lines go to result."""
    seen: set[tuple[str, int]] = set()
    batch: list[tuple[Source, Record]] = []
    for path in paths:
        name = str(path)
        for item in scan_records(path):
            result.records += 1
            source = Source(name, item.line)
            if isinstance(item, Damaged):
                result.damaged.append(Problem(source, f"damaged ({item.reason})"))
                progress.advance(1)
                continue
            # The same line collected twice (or the same file given twice) is skipped before decryption.
            # Python's hash is keyed per process (SipHash): no file can aim for a collision, and
            # a collision would also need the same record id.
            digest = (item.record_id, hash(item.record))
            if digest in seen:
                result.duplicates += 1
                progress.advance(1)
                continue
            seen.add(digest)
            batch.append((source, item))
            if len(batch) >= BATCH:
                yield batch
                batch = []
    if batch:
        yield batch


def _results(batches: Iterable[list[tuple[Source, Record]]], identities, processes: int
             ) -> Iterator[tuple[list[tuple[Source, Record]], list[tuple]]]:
    """Each batch with its opened records, in order; in worker processes when processes > 1."""
    if processes <= 1:
        for batch in batches:
            yield batch, open_batch([record.record for _, record in batch], identities)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork: the workers inherit the identities in memory; the secrets never cross a pipe or a pickle.
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(processes, mp_context=context, initializer=_init_worker,
                             initargs=(tuple(identities),)) as pool:
        pending: deque = deque()
        iterator = iter(batches)
        try:
            while True:
                # A bounded window keeps memory flat however large the input.
                while len(pending) < 2 * processes + 1:
                    batch = next(iterator, None)
                    if batch is None:
                        break
                    pending.append((batch, pool.submit(_worker_batch, [r.record for _, r in batch])))
                if not pending:
                    return
                batch, future = pending.popleft()
                yield batch, future.result()
        finally:
            for _, future in pending:
                future.cancel()


def open_files(paths: Sequence[Path], identities: Sequence[sealing.Identity], *, progress_stream=None,
               processes: int | None = None) -> Result:
    """Open every record of the collected files with any of the identities; merge duplicates."""
    paths = [Path(p) for p in paths]
    result = Result(files=[str(p) for p in paths])
    total = sum(count_lines(p) for p in paths)
    if processes is None:
        processes = default_processes(total)
    progress = Progress(progress_stream, total)
    by_id: dict[str, Entry] = {}
    by_reference: dict[str, Entry] = {}
    try:
        for batch, opened in _results(_batches(paths, result, progress), identities, processes):
            for (source, record), (kind, value) in zip(batch, opened):
                if kind == "ok":
                    _merge(result, by_id, by_reference, source, record.record_id, value)
                elif kind == "other":
                    result.other_keys[value] += 1
                else:
                    result.damaged.append(Problem(source, f"damaged ({value})"))
            progress.advance(len(batch))
    finally:
        progress.close()
    order = {name: i for i, name in enumerate(result.files)}
    result.damaged.sort(key=lambda p: (order[p.source.file], p.source.line))
    result.entries.sort(key=lambda e: (e.day, e.reference))
    return result


def _merge(result: Result, by_id: dict, by_reference: dict, source: Source, record_id: str,
           fields: dict[str, str]) -> None:
    """Add one opened pledge, or merge it into an earlier copy of the same pledge."""
    entry = Entry(**{**fields, "amount": Decimal(fields["amount"])}, record_id=record_id, sources=[source])
    candidates = [(what, value, earlier) for what, value, earlier in
                  (("record id", record_id, by_id.get(record_id)),
                   ("reference", entry.reference, by_reference.get(entry.reference))) if earlier is not None]
    for _, _, earlier in candidates:
        if earlier.same_pledge(entry):
            earlier.sources.append(source)
            result.duplicates += 1
            return
    for what, value, earlier in candidates[:1]:
        result.conflicts.append(Conflict(what, value, earlier.sources[0], source))
    result.entries.append(entry)
    by_id.setdefault(record_id, entry)
    by_reference.setdefault(entry.reference, entry)


# -- payments --------------------------------------------------------------------------------------

_REFERENCE_WORDS = frozenset({
    "reference", "referenz", "zahlungsreferenz", "kundenreferenz", "verwendungszweck", "vwz", "remittance",
    "purpose", "description", "beschreibung", "memo", "betreff", "buchungstext", "details"})
_AMOUNT_WORDS = ("amount", "betrag", "umsatz", "haben", "credit", "gutschrift", "received", "paid", "value")
_DAY_WORDS = frozenset({"date", "datum", "buchungstag", "buchungsdatum", "valuta", "valutadatum",
                        "wertstellung", "booking", "day"})
_WORD = re.compile(r"[a-zäöüß]+")
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]+")
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})
_MONEY_NOISE = re.compile(r"[\s\u00a0\u202f\u2009'’]|€|EUR", re.IGNORECASE)


@dataclass
class Payment:
    """One incoming payment from the bank statement."""

    row: int
    amount: Decimal
    text: str  # the remittance text: every reference-like column of the row
    day: str = ""
    references: list[str] = field(default_factory=list)  # known references found in text
    note: str = ""  # for a payment without a known reference: what review made of it


@dataclass
class Payments:
    """A bank statement as review reads it."""

    path: str
    payments: list[Payment]
    columns: str  # how the columns were understood, for the report
    outgoing: int = 0  # rows with an amount of zero or less: not donations
    unreadable: list[int] = field(default_factory=list)  # rows whose amount could not be read


@dataclass
class Matching:
    """The outcome of matching payments to pledges."""

    payments: Payments
    received: Decimal  # money matched to a pledge
    unknown: list[Payment]

    @property
    def unknown_total(self) -> Decimal:
        return sum((p.amount for p in self.unknown), Decimal(0))


def _words(header: str) -> list[str]:
    return _WORD.findall(header.lower())


def _columns(row: list[str]) -> tuple[list[int], int, int | None] | None:
    """(reference columns, amount column, day column) if row is a header row, else None."""
    names = [_words(cell) for cell in row]
    amount = None
    for word in _AMOUNT_WORDS:  # in order of preference: 'Betrag' before 'Haben'
        # The first word decides: 'Value date' is a date, not an amount.
        amount = next((i for i, words in enumerate(names)
                       if words[:1] == [word] and not _DAY_WORDS.intersection(words)), None)
        if amount is not None:
            break
    references = [i for i, words in enumerate(names) if _REFERENCE_WORDS.intersection(words) and i != amount]
    if not references or amount is None:
        return None
    day = next((i for i, words in enumerate(names) if _DAY_WORDS.intersection(words) and i != amount), None)
    return references, amount, day


def _decimal_mark(cells: Iterable[str], delimiter: str) -> str:
    """The file's decimal mark, from the amounts that are unambiguous ('1,5', '1.234,50', '12.30')."""
    votes = Counter()
    for cell in cells:
        cell = _MONEY_NOISE.sub("", cell)
        if re.search(r"[.,]", cell) is None:
            continue
        last = max(cell.rfind(","), cell.rfind("."))
        digits_after = len(cell) - last - 1
        if ("," in cell and "." in cell) or digits_after in (1, 2):
            votes[cell[last]] += 1
    if votes:
        return votes.most_common(1)[0][0]
    return "," if delimiter == ";" else "."


def parse_money(text: str, decimal_mark: str = ".") -> Decimal | None:
    """'1.234,50', '1,234.50', '-12,00', '25,00 €', '+25' → Decimal; None if it is not an amount."""
    text = _MONEY_NOISE.sub("", text)
    sign = 1
    if text and text[0] in "+-":
        sign, text = (-1 if text[0] == "-" else 1), text[1:]
    elif text.endswith("-"):  # '25,00-' in some German exports
        sign, text = -1, text[:-1]
    if not re.fullmatch(r"[0-9][0-9.,]*", text):
        return None
    if "," in text and "." in text:
        decimal = text[max(text.rfind(","), text.rfind("."))]
    elif "," in text or "." in text:
        mark = "," if "," in text else "."
        parts = text.split(mark)
        if len(parts) > 2 or (len(parts[1]) == 3 and mark != decimal_mark):
            decimal = ""  # only grouping: '1,234,567' or '1,234' in an English file
        else:
            decimal = mark
    else:
        decimal = ""
    group = {"": "", ",": ".", ".": ","}[decimal]
    whole, _, fraction = text.partition(decimal) if decimal else (text, "", "")
    if decimal and not re.fullmatch(r"[0-9]{1,2}", fraction):
        return None
    grouping = "," if not decimal and "," in whole else "." if not decimal and "." in whole else group
    if grouping and grouping in whole:
        if not re.fullmatch(rf"[0-9]{{1,3}}(?:{re.escape(grouping)}[0-9]{{3}})+", whole):
            return None
        whole = whole.replace(grouping, "")
    if not re.fullmatch(r"[0-9]+", whole):
        return None
    try:
        return sign * Decimal(f"{whole}.{fraction or '0'}").quantize(Decimal("0.01"))
    except InvalidOperation:
        return None


def _decode(data: bytes) -> str:
    """Bank exports are UTF-8 (maybe with a BOM) or Windows-1252."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def read_payments(path: Path) -> Payments:
    """Read a bank statement exported as CSV: a header row, then one row per booking."""
    path = Path(path)
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_PAYMENTS_BYTES + 1)
    except OSError as exc:
        raise PaymentsUnreadable(f"{path}: {exc.strerror}") from None
    if len(data) > MAX_PAYMENTS_BYTES:
        raise PaymentsUnreadable(f"{path} is larger than {MAX_PAYMENTS_BYTES // 2**20} MiB")
    text = _decode(data)
    readings = []
    for delimiter in (";", ",", "\t"):
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
        # Some banks put account details above the header: look at the first rows.
        index, found = next(((i, f) for i, row in enumerate(rows[:30]) if (f := _columns(row))), (0, None))
        if found:
            readings.append((len(rows[index]), delimiter, index, rows, found))
    if not readings:
        raise PaymentsUnreadable(f"{path}: no header row with a reference column and an amount column")
    # The delimiter that splits the header into the most columns is the file's.
    _, delimiter, index, rows, (reference_columns, amount_column, day_column) = max(readings, key=lambda r: r[0])
    header = rows[index]
    body = [(number, row) for number, row in enumerate(rows[index + 1:], start=index + 2) if any(row)]
    mark = _decimal_mark((row[amount_column] for _, row in body if amount_column < len(row)), delimiter)
    result = Payments(str(path), [], columns=(
        f"amount from {header[amount_column]!r}, references from "
        + ", ".join(repr(header[i]) for i in reference_columns)
        + f"; {'decimal comma' if mark == ',' else 'decimal point'}"))
    for number, row in body:
        cell = row[amount_column] if amount_column < len(row) else ""
        amount = parse_money(cell, mark)
        if amount is None:
            result.unreadable.append(number)
            continue
        if amount <= 0:
            result.outgoing += 1
            continue
        remittance = " ".join(row[i] for i in reference_columns if i < len(row))
        day = row[day_column] if day_column is not None and day_column < len(row) else ""
        result.payments.append(Payment(number, amount, remittance, day))
    return result


def find_references(text: str, known: dict[str, str]) -> list[str]:
    """The known references inside a remittance text: any case, any separators, anywhere."""
    # Banks break long remittance lines and donors add spaces or dashes: compare without them.
    compact = _NOT_ALNUM.sub("", text).upper().translate(_READ_AS)
    size = pledges.REFERENCE_DATA + 1
    found = []
    for start in range(len(compact) - size + 1):
        reference = known.get(compact[start:start + size])
        if reference and reference not in found:
            found.append(reference)
    return found


def _near(code: str, known: dict[str, str]) -> str | None:
    """A known reference one typo away from code (one character wrong, or two neighbours swapped)."""
    for compact, reference in known.items():
        diff = [i for i in range(len(code)) if code[i] != compact[i]]
        if len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                              and code[diff[0]] == compact[diff[1]] and code[diff[1]] == compact[diff[0]]):
            return reference
    return None


def explain_unknown(text: str, known: dict[str, str]) -> str:
    """What a remittance text without a known reference seems to hold."""
    tokens = _NOT_ALNUM.split(text.upper())
    size = pledges.REFERENCE_DATA + 1
    for i in range(len(tokens)):
        joined = ""
        for token in tokens[i:i + 4]:
            joined += token
            if len(joined) >= size:
                break
        if len(joined) != size or not any(ch.isdigit() for ch in joined):
            continue
        code = joined.translate(_READ_AS)
        reference = pledges.normalize_reference(code)
        if reference:
            return f"reference {reference} is not among the pledges"
        near = _near(code, known)
        if near:
            return f"{code[:5]}-{code[5:]} has a wrong check character: a typo of {near}?"
    return "no reference found"


def match(entries: Sequence[Entry], payments: Payments) -> Matching:
    """Mark each pledge with the money received for its reference; list payments nobody pledged."""
    by_reference: dict[str, Entry] = {}
    for entry in entries:
        entry.received = Decimal(0)
        by_reference.setdefault(entry.reference, entry)
    known = {reference.replace("-", ""): reference for reference in by_reference}
    received, unknown = Decimal(0), []
    for payment in payments.payments:
        payment.references = find_references(payment.text, known)
        if not payment.references:
            payment.note = explain_unknown(payment.text, known)
            unknown.append(payment)
            continue
        received += payment.amount
        # One transfer for several pledges: fill each in turn, the rest goes to the last.
        left = payment.amount
        for i, reference in enumerate(payment.references):
            entry = by_reference[reference]
            share = left if i == len(payment.references) - 1 else min(left, max(entry.amount - entry.received, 0))
            entry.received += share
            left -= share
    return Matching(payments, received, unknown)


# -- output ----------------------------------------------------------------------------------------

def write_private(path: Path, text: str, *, encoding: str = "utf-8") -> None:
    """Create path (mode 0600, never replacing a file) holding text; leave nothing on failure."""
    try:
        files.create_private(path, text.encode(encoding))
    except FileExistsError:
        raise OutputExists(str(path)) from None
    except OSError as exc:
        raise OutputError(f"{path}: {exc.strerror}") from None


def csv_text(result: Result, matching: Matching | None = None) -> str:
    """The pledges as CSV for a spreadsheet, every cell neutralised against formulas."""
    columns = [*TABLE[:3], "currency", *TABLE[3:], "language", "campaign", "copies"]
    if matching:
        columns += ["received", "status"]
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(columns)
    for entry in result.entries:
        values = {**entry.document(matching is not None), "copies": str(len(entry.sources))}
        writer.writerow([csv_cell(values[name]) for name in columns])
    return buffer.getvalue()


def json_document(result: Result, matching: Matching | None = None) -> dict:
    """The pledges, totals and problems as one JSON document for scripts."""
    doc = {
        "pledgebox-review": 1,
        "files": result.files,
        "pledges": [entry.document(matching is not None) for entry in result.entries],
        "totals": {kind: {key: {"pledges": n, "amount": f"{amount:.2f}", "received": f"{received:.2f}"}
                          for key, (n, amount, received) in rows.items()}
                   for kind, rows in totals(result.entries).items()},
        "records": result.records,
        "duplicates": result.duplicates,
        "other_keys": [{"key_ids": list(ids), "records": n} for ids, n in result.other_keys.items()],
        "damaged": [{"file": p.source.file, "line": p.source.line, "reason": p.reason} for p in result.damaged],
        "conflicts": [{"kind": c.what, "value": c.value, "first": {"file": c.first.file, "line": c.first.line},
                       "second": {"file": c.second.file, "line": c.second.line}} for c in result.conflicts],
    }
    if matching:
        doc["payments"] = {
            "file": matching.payments.path,
            "received": f"{matching.received:.2f}",
            "unknown": [{"row": p.row, "day": p.day, "amount": f"{p.amount:.2f}", "text": p.text, "note": p.note}
                        for p in matching.unknown],
        }
    return doc


def totals(entries: Sequence[Entry]) -> dict[str, dict[str, tuple[int, Decimal, Decimal]]]:
    """Count, amount and received per designation, per method, and over all."""
    out: dict[str, dict[str, list]] = {"designation": {}, "method": {}, "all": {}}
    for entry in entries:
        for kind, key in (("designation", entry.designation), ("method", entry.method), ("all", "all")):
            row = out[kind].setdefault(key, [0, Decimal(0), Decimal(0)])
            row[0] += 1
            row[1] += entry.amount
            row[2] += entry.received
    return {kind: {key: tuple(rows[key]) for key in sorted(rows)} for kind, rows in out.items()}


# Maximum widths of the narrow text columns; the message takes what is left of the terminal.
_CAPS = {"designation": 20, "method": 12, "pseudonym": 20, "contact": 28}


def money(amount: Decimal) -> str:
    """1234.5 → '1,234.50'."""
    return f"{amount:,.2f}"


def table(entries: Sequence[Entry], *, payments: bool = False, columns: int | None = None,
          wide: bool = False) -> list[str]:
    """The pledges as a readable, terminal-safe table: one line per pledge."""
    names = list(TABLE) + (["received", "status"] if payments else [])
    rows = []
    for entry in entries:
        cells = {name: terminal_text(str(getattr(entry, name))) for name in TABLE}
        cells["amount"] = money(entry.amount)
        if payments:
            cells |= {"received": money(entry.received), "status": entry.status}
        rows.append(cells)
    widths = {name: max([width(name)] + [width(r[name]) for r in rows]) for name in names}
    if not wide:
        for name, cap in _CAPS.items():
            widths[name] = min(widths[name], max(cap, width(name)))
        total = columns or shutil.get_terminal_size((120, 24)).columns
        others = sum(widths[n] + 2 for n in names if n != "message")
        widths["message"] = min(widths["message"], max(20, total - others))
    right = {"amount", "received"}
    order = [n for n in names if n != "message"] + ["message"]

    def line(cells: dict[str, str]) -> str:
        parts = []
        for name in order:
            text = cells[name] if wide else fit(cells[name], widths[name])
            pad = " " * max(0, widths[name] - width(text))
            parts.append(pad + text if name in right else text + pad)
        return "  ".join(parts).rstrip()

    lines = [line({n: n.upper() for n in names})]
    lines += [line(r) for r in rows]
    return lines


def totals_lines(entries: Sequence[Entry], *, payments: bool = False) -> list[str]:
    """Totals per designation and per method, terminal-safe."""
    sums = totals(entries)
    head = f"{'':24}{'pledges':>9}{'amount':>14}" + (f"{'received':>14}" if payments else "")
    lines = []
    for kind, title in (("designation", "By designation"), ("method", "By method")):
        lines.append(f"{title:24}{head[24:]}")
        for key, (n, amount, received) in sums[kind].items():
            extra = f"{money(received):>14}" if payments else ""
            lines.append(f"  {fit(terminal_text(key), 21):22}{n:>9}{money(amount):>14}{extra}")
    n, amount, received = sums["all"].get("all", (0, Decimal(0), Decimal(0)))
    extra = f"{money(received):>14}" if payments else ""
    lines.append(f"{'All':24}{n:>9}{money(amount):>14}{extra}")
    return lines


def report(result: Result, matching: Matching | None, out, err, *, wide: bool = False) -> None:
    """Print the table, the totals and the summary to out; problems as warnings to err."""
    payments = matching is not None
    columns = shutil.get_terminal_size((120, 24)).columns
    if result.entries:
        for text in table(result.entries, payments=payments, columns=columns, wide=wide):
            print(text, file=out)
        print(file=out)
        for text in totals_lines(result.entries, payments=payments):
            print(text, file=out)
        print(file=out)
    _warnings(result, err)
    summary = (f"{count(len(result.files), 'file')}, {count(result.records, 'record')}: "
               f"{count(len(result.entries), 'pledge')}")
    details = [(result.duplicates, "duplicates merged"), (sum(result.other_keys.values()), "sealed to other keys"),
               (len(result.damaged), "damaged and skipped"), (len(result.conflicts), "conflicting")]
    summary += "".join(f", {n} {what}" for n, what in details if n)
    currencies = {e.currency for e in result.entries}
    print(summary + ".", file=out)
    print(f"Pledged: {money(result.pledged)} {'/'.join(sorted(currencies)) or 'EUR'}.", file=out)
    if matching:
        _payments_report(result, matching, out, err)


def count(n: int, noun: str) -> str:
    """'1 record', '2 records'."""
    return f"{n} {noun}{'s' * (n != 1)}"


def _warnings(result: Result, err) -> None:
    """Damaged records, other keys and conflicts, as `pledgebox: warning: …` lines."""
    shown: Counter = Counter()
    for problem in result.damaged:
        shown[problem.source.file] += 1
        if shown[problem.source.file] <= MAX_PROBLEMS_SHOWN:
            print(f"pledgebox: warning: {problem}", file=err)
    for name, n in shown.items():
        if n > MAX_PROBLEMS_SHOWN:
            print(f"pledgebox: warning: {terminal_text(name)}: {n - MAX_PROBLEMS_SHOWN} more damaged "
                  "records skipped (the JSON output lists them all)", file=err)
    for ids, n in sorted(result.other_keys.items()):
        keys = ", ".join(" ".join(k[i:i + 4] for i in range(0, len(k), 4)) for k in ids)
        print(f"pledgebox: warning: {n} record{'s' * (n != 1)} sealed only to other keys ({keys}): "
              "give the matching --identity to open them", file=err)
    for conflict in result.conflicts:
        print(f"pledgebox: warning: {conflict}", file=err)
    campaigns = result.campaigns
    if len(campaigns) > 1:
        print("pledgebox: warning: the pledges come from several campaigns: "
              + ", ".join(terminal_text(c) for c in campaigns), file=err)
    if result.records and not result.entries and result.other_keys:
        print("pledgebox: hint: none of the records is sealed to the identity given: is it the right one?",
              file=err)


def _payments_report(result: Result, matching: Matching, out, err) -> None:
    """Which pledges are paid, which payments are unknown, and the command that publishes the total."""
    payments = matching.payments
    counts = Counter(entry.status for entry in result.entries)
    matched = len(payments.payments) - len(matching.unknown)
    print(file=out)
    print(f"Payments from {terminal_text(payments.path)} ({terminal_text(payments.columns)}): "
          f"{len(payments.payments)} incoming, {matched} matched to pledges.", file=out)
    if payments.outgoing:
        print(f"  {count(payments.outgoing, 'row')} with an amount of zero or less "
              f"{'was' if payments.outgoing == 1 else 'were'} left out (outgoing).", file=out)
    if payments.unreadable:
        rows = ", ".join(str(n) for n in payments.unreadable[:10]) + (" …" if len(payments.unreadable) > 10 else "")
        print(f"pledgebox: warning: {terminal_text(payments.path)}: the amount of rows {rows} could not be read, "
              "they were left out", file=err)
    if matching.unknown:
        print(f"{count(len(matching.unknown), 'payment')} ({money(matching.unknown_total)}) "
              f"{'has' if len(matching.unknown) == 1 else 'have'} no known reference:",
              file=out)
        for p in matching.unknown:
            print(f"  row {p.row:<5} {fit(terminal_text(p.day), 10):10} {money(p.amount):>12}  {p.note}  "
                  f"\"{fit(terminal_text(p.text), 60)}\"", file=out)
    print(f"Received: {money(matching.received)} of {money(result.pledged)} pledged: "
          + ", ".join(f"{counts.get(s, 0)} {s}" for s in STATUSES) + ".", file=out)
    print("To publish the amount received, run on the server:", file=out)
    print(f"  python app.py raised {matching.received:.2f}", file=out)
    print(f"  (or, to show the amount pledged as well: python app.py raised {matching.received:.2f} "
          f"--pledged {result.pledged:.2f})", file=out)
