"""The organisers' side: open collected files with their identities, and merge copies of the same pledge."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from . import pledges, sealing
from .errors import UsageError
from .safetext import terminal
from .store import Damaged, Record, scan_records

# What a sealed plaintext holds (pledges.Pledge.plaintext).
PLAINTEXT = pledges.SEALED_FIELDS

POOL_MIN_RECORDS = 2000  # below this, starting worker processes costs more than it saves
BATCH = 400  # records per task sent to a worker
PROGRESS_MIN_RECORDS = 1000


class NotRecords(UsageError):
    """This is an identity file, not a file of collected pledges:"""

    hint = "give identity files with --identity KEYFILE, and the files `collect` wrote as FILE"


# -- opening sealed records ------------------------------------------------------------------------


class Source(NamedTuple):
    """Where a record was found: a file given to review, and its line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{terminal(self.file)}:{self.line}"


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
    tolerance: Decimal = Decimal(0)  # what may be missing (bank fees) for the pledge to count as received

    def same_pledge(self, other: Entry) -> bool:
        """True if other holds exactly the same pledge (a copy collected twice)."""
        return all(getattr(self, name) == getattr(other, name) for name in (*PLAINTEXT, "campaign"))

    @property
    def status(self) -> str:
        """received, partly received or open, from the payments matched to it."""
        if self.received <= 0:
            return "open"
        return "received" if self.received >= self.amount - self.tolerance else "partly received"

    @property
    def short(self) -> Decimal:
        """How much less than pledged arrived for a pledge counted as received (bank fees), else 0."""
        return max(self.amount - self.received, Decimal(0)) if self.status == "received" else Decimal(0)

    def document(self, with_payments: bool) -> dict:
        """The entry as plain JSON values."""
        doc = {name: getattr(self, name) for name in PLAINTEXT} | {
            "amount": f"{self.amount:.2f}",
            "campaign": self.campaign,
            "sources": [{"file": s.file, "line": s.line} for s in self.sources],
        }
        if with_payments:
            doc |= {"received": f"{self.received:.2f}", "status": self.status, "short": f"{self.short:.2f}"}
        return doc


@dataclass(frozen=True)
class Problem:
    """A record that could not be used, and why."""

    source: Source
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {terminal(self.reason)}, skipped"


@dataclass(frozen=True)
class Conflict:
    """Two records that share a reference or record id but say different things."""

    what: str  # "reference" or "record id"
    value: str
    first: Source
    second: Source

    def __str__(self) -> str:
        return (
            f"{self.what} {terminal(self.value)} appears with different contents at {self.first} "
            f"and {self.second}: one may be forged or altered; both are shown"
        )


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
        doc = json.loads(plaintext.decode("utf-8"), object_pairs_hook=sealing.unique_keys)
    except (ValueError, RecursionError):
        raise sealing.DamagedRecord("its contents are not JSON text") from None
    problem = pledges.sealed_problem(doc)
    if problem:
        raise sealing.DamagedRecord(problem)
    return doc


def open_record(record: bytes, identities: Sequence[sealing.Identity]) -> tuple:
    """("ok", fields) for a pledge, ("other", key ids) if sealed to other keys, or ("damaged", why)."""
    try:
        # Parsed once: the campaign shown is the one the ciphertext was opened under.
        sealed = sealing.parse_record(record)
        for identity in identities:
            try:
                fields = parse_plaintext(identity.open(sealed))
            except sealing.NotForThisIdentity:
                continue
            return ("ok", fields | {"campaign": sealed.campaign})
    except sealing.DamagedRecord as exc:
        return ("damaged", exc.detail or exc.message)
    return ("other", sealed.key_ids)


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

    def __init__(self, stream, total: int, *, label: str = "opening", minimum: int | None = None, clock=time.monotonic):
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


def _results(
    batches: Iterable[list[tuple[Source, Record]]], identities, processes: int
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
    with ProcessPoolExecutor(
        processes, mp_context=context, initializer=_init_worker, initargs=(tuple(identities),)
    ) as pool:
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


def open_files(
    paths: Sequence[Path], identities: Sequence[sealing.Identity], *, progress_stream=None, processes: int | None = None
) -> Result:
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
            for (source, record), (kind, value) in zip(batch, opened, strict=True):
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


def _merge(
    result: Result, by_id: dict, by_reference: dict, source: Source, record_id: str, fields: dict[str, str]
) -> None:
    """Add one opened pledge, or merge it into an earlier copy of the same pledge."""
    entry = Entry(**{**fields, "amount": Decimal(fields["amount"])}, record_id=record_id, sources=[source])
    candidates = [
        (what, value, earlier)
        for what, value, earlier in (
            ("record id", record_id, by_id.get(record_id)),
            ("reference", entry.reference, by_reference.get(entry.reference)),
        )
        if earlier is not None
    ]
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
