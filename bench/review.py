"""How fast `review` opens sealed records: decrypt + parse, one process and all cores.

Run `python bench/review.py`; bench/run.py imports run() for its table.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pledgebox import pledges, review, sealing, store  # noqa: E402

RECORDS = 10_000
GOAL = 10_000  # records per second on the 2-core reference machine


def _records_file(folder: Path, identity: sealing.Identity, count: int) -> Path:
    """A collected file of `count` sealed pledges, as `collect` writes it."""
    path = folder / "bench.sealed"
    with open(path, "wb") as file:
        for i in range(count):
            plaintext = json.dumps({
                "reference": pledges.make_reference(b"bench%d" % i), "amount": "25.00", "currency": "EUR",
                "designation": "split", "method": "sepa", "pseudonym": "Аня", "contact": "",
                "message": "Солидарность — Solidarität", "language": "de", "day": "2026-11-25"},
                ensure_ascii=False).encode()
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
        (f"review: bare Identity.open loop, {count:,} records, 1 core",
         f"{bare:,.0f} records/s ({bare_cpu:,.0f}/CPU-s)"),
        (f"review: open {count:,} records, 1 process", f"{single:,.0f} records/s ({single_cpu:,.0f}/CPU-s)"),
        (f"review: open {count:,} records, {cores} processes", f"{pooled:,.0f} records/s ({pooled_cpu:,.0f}/CPU-s)"),
        (f"review: default for {count:,} records ({default} process{'es' * (default != 1)}), goal ≥ {GOAL:,}/s",
         f"{best:,.0f} records/s {'ok' if best >= GOAL else 'BELOW GOAL'}"),
    ]


def main() -> int:
    """Print the figures as a small table."""
    rows = run()
    wide = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{wide}}  {value}")
    print(f"({os.cpu_count()} cores; the machine's other load counts too)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
