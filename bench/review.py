"""How fast `review` opens sealed records (decrypt + parse, one process and all cores) and matches payments.

Run `python bench/review.py` (or `python bench/review.py payments` for the matching alone);
bench/run.py imports run() for its table.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for folder in (ROOT, ROOT / "tests"):  # tests/ for the statements the tests make (support/bankfiles.py)
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from common import sample_pledge  # noqa: E402 (bench/ is on sys.path when a bench script runs)
from pledgebox import payments, pledges, review, sealing, store  # noqa: E402
from support.bankfiles import Entry, Tx, camt  # noqa: E402

RECORDS = 10_000
GOAL = 10_000  # records per second on the 2-core reference machine
MATCH_GOAL = 2.0  # seconds to read a 10,000-transaction CAMT.053 and match it against 10,000 pledges


def _records_file(folder: Path, identity: sealing.Identity, count: int) -> Path:
    """A collected file of `count` sealed pledges, as `collect` writes it."""
    path = folder / "bench.sealed"
    with open(path, "wb") as file:
        for i in range(count):
            plaintext = sample_pledge(pledges.make_reference(b"bench%d" % i))
            record = sealing.seal(plaintext, [identity.recipient], "bench")
            file.write(b"bench-%d %s\n" % (i, record))
    return path


def _cpu() -> float:
    """CPU seconds used by this process and its finished children (the workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _rate(path: Path, identity: sealing.Identity, processes: int) -> tuple[float, float, int]:
    """Records per second (wall clock and CPU time) through review.open_files, and the pledges found."""
    cpu, start = _cpu(), time.perf_counter()
    result = review.open_files([path], [identity], processes=processes)
    elapsed, used = time.perf_counter() - start, _cpu() - cpu
    return result.records / elapsed, result.records / max(used, 1e-9), len(result.entries)


def _bare(path: Path, identity: sealing.Identity) -> tuple[float, float]:
    """Records per second (wall, CPU) of Identity.open alone in one loop: the ceiling for one core."""
    records = [r.record for r in store.read_records(path)]
    cpu, start = _cpu(), time.perf_counter()
    for record in records:
        identity.open(record)
    return len(records) / (time.perf_counter() - start), len(records) / max(_cpu() - cpu, 1e-9)


def _statement(folder: Path, count: int) -> tuple[Path, list[review.Entry], int]:
    """count pledges, a CAMT.053 paying them (in several spellings, some mistyped, some without a reference),
    and how many typos review should recognise (those with a digit: a word of letters is no reference)."""
    entries, bookings, typos = [], [], 0
    for i in range(count):
        reference = pledges.make_reference(b"bench%d" % i)
        entries.append(
            review.Entry(
                reference=reference,
                day="2026-11-25",
                amount=Decimal("25.00"),
                currency="EUR",
                designation=("split", "group-a", "group-b")[i % 3],
                method="sepa",
                pseudonym="",
                contact="",
                message="",
                language="de",
                campaign="bench",
                record_id=f"bench-{i}",
            )
        )
        code = reference.replace("-", "")
        typo = f"{code[:2]}{'X' if code[2] != 'X' else 'Y'}{code[3:]}"
        lines = {
            0: [f"Spende {reference}"],
            1: [f"spende {code.lower()} danke"],
            2: [f"SPENDE {code[:4]}", code[4:]],
            3: [f"Spende {typo}"],
            4: ["Fuer die Gefangenen"],
        }
        typos += i % 5 == 3 and any(ch.isdigit() for ch in typo)
        bookings.append(Entry("25.00", [Tx(ustrd=lines[i % 5], acct_svcr_ref=f"TX-{i}")], ref=f"E-{i}"))
    path = folder / "camt053.xml"
    path.write_bytes(camt(bookings))
    return path, entries, typos


def _matching(count: int) -> tuple[list[float], payments.Matching, int]:
    """[wall seconds to read, to match, CPU seconds for both], the matching, and the typos it should find."""
    with tempfile.TemporaryDirectory(prefix="pledgebox-bench-") as folder:
        path, entries, typos = _statement(Path(folder), count)
        cpu, start = time.process_time(), time.perf_counter()
        statement = payments.read_payments([path])
        read = time.perf_counter() - start
        matching = payments.match(entries, statement)
        return [read, time.perf_counter() - start - read, time.process_time() - cpu], matching, typos


def run_matching(count: int = RECORDS) -> list[tuple[str, str]]:
    """(figure, value) rows: reading a CAMT.053 and matching it against as many pledges, best of three."""
    (read, matched, cpu), matching, typos = min((_matching(count) for _ in range(3)), key=lambda r: sum(r[0][:2]))
    found = (len(matching.counted), len(matching.unknown), len(matching.near))
    if found != (count, count * 2 // 5, typos):
        raise SystemExit(f"matching found {found} payments, unknown, typos; expected {count, count * 2 // 5, typos}")
    total = read + matched
    return [
        (
            f"review --payments: read a {count:,}-transaction CAMT.053, match {count:,} pledges (best of 3); "
            f"goal < {MATCH_GOAL:.0f} s",
            f"{total:.2f} s (read {read:.2f} s, match {matched:.2f} s; {cpu:.2f} "
            f"CPU-s) {'ok' if total < MATCH_GOAL else 'ABOVE GOAL'}",
        )
    ]


def run(count: int = RECORDS) -> list[tuple[str, str]]:
    """(figure, value) rows: the review decrypt rate in one process and on every core."""
    identity = sealing.Identity.generate()
    cores = review.default_processes(review.POOL_MIN_RECORDS)
    with tempfile.TemporaryDirectory(prefix="pledgebox-bench-") as folder:
        path = _records_file(Path(folder), identity, count)
        bare, bare_cpu = _bare(path, identity)
        single, single_cpu, found_single = _rate(path, identity, 1)
        pooled, pooled_cpu, found_pooled = _rate(path, identity, cores)
        default = review.default_processes(count)
    if found_single != count or found_pooled != count:
        raise SystemExit(f"review found {found_single} and {found_pooled} of {count} pledges")
    best = pooled if default > 1 else single
    return [
        (
            f"review: bare Identity.open loop, {count:,} records, 1 core",
            f"{bare:,.0f} records/s ({bare_cpu:,.0f}/CPU-s)",
        ),
        (f"review: open {count:,} records, 1 process", f"{single:,.0f} records/s ({single_cpu:,.0f}/CPU-s)"),
        (f"review: open {count:,} records, {cores} processes", f"{pooled:,.0f} records/s ({pooled_cpu:,.0f}/CPU-s)"),
        (
            f"review: default for {count:,} records ({default} process{'es' * (default != 1)}), goal ≥ {GOAL:,}/s",
            f"{best:,.0f} records/s {'ok' if best >= GOAL else 'BELOW GOAL'}",
        ),
        *run_matching(count),
    ]


def main() -> int:
    """Print the figures as a small table (`payments` as the argument: only the payment matching)."""
    rows = run_matching() if sys.argv[1:] == ["payments"] else run()
    wide = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{wide}}  {value}")
    print(f"({os.cpu_count()} cores; the machine's other load counts too)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
