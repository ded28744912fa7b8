#!/usr/bin/env python3
"""Write requirements-offline.txt: the runtime dependencies pinned, with the SHA-256 of every wheel.

The organisers' offline machine (Tails, or Debian with its externally-managed Python) installs
pledgebox's dependencies into a venv from a folder of wheels, with `pip install --require-hashes
--no-index`: a wheel that was swapped or damaged on the way is refused. This script resolves the
dependencies in pyproject.toml once, then downloads the wheels of those exact versions for every
Python and platform listed below and records each file's hash (as `pip hash` computes it).

    python3 scripts/lock-offline.py            # rewrite requirements-offline.txt
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tempfile
import tomllib
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements-offline.txt"
# Tails 6 and Debian 12 have Python 3.11; Tails 7 and Debian 13 have 3.13. All x86-64, glibc >= 2.36.
PYTHONS = ("3.11", "3.12", "3.13")
PLATFORMS = ("manylinux_2_34_x86_64", "manylinux_2_28_x86_64", "manylinux2014_x86_64")
# pip itself: for a venv made --without-pip where Debian's python3-venv (ensurepip) is missing.
EXTRA = ("pip",)
_WHEEL = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)-.+\.whl$")


# The organisers' extras: review reads CAMT and MT940 bank statements offline too.
EXTRAS = ("bank",)


def requirements() -> list[str]:
    """The runtime dependencies and the organisers' extras, as pyproject.toml declares them."""
    with open(ROOT / "pyproject.toml", "rb") as fh:
        project = tomllib.load(fh)["project"]
    extras = [req for name in EXTRAS for req in project["optional-dependencies"][name]]
    return [*project["dependencies"], *extras, *EXTRA]


def download(reqs: list[str], folder: Path, python: str) -> None:
    """Fetch binary wheels of reqs (and their dependencies) for one Python version."""
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--only-binary=:all:",
            *platforms,
            "--python-version",
            python,
            "--implementation",
            "cp",
            "--dest",
            str(folder),
            *reqs,
        ],
        check=True,
    )


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def main() -> int:
    hashes: dict[tuple[str, str], set[str]] = defaultdict(set)
    with tempfile.TemporaryDirectory() as tmp:
        pins: list[str] | None = None
        for python in PYTHONS:
            folder = Path(tmp, python)
            # The first Python resolves the versions; the others fetch exactly those.
            download(pins or requirements(), folder, python)
            found = {}
            for wheel in sorted(folder.glob("*.whl")):
                match = _WHEEL.match(wheel.name)
                name, version = normalise(match["name"]), match["version"]
                found[name] = version
                hashes[(name, version)].add(hashlib.sha256(wheel.read_bytes()).hexdigest())
            pins = pins or [f"{name}=={version}" for name, version in sorted(found.items())]
    lines = [
        "# The runtime dependencies for an offline organisers' machine, pinned with the SHA-256 of each wheel.",
        "# Written by scripts/lock-offline.py (do not edit by hand) for CPython "
        f"{', '.join(PYTHONS)} on x86-64 Linux ({', '.join(PLATFORMS)}).",
        "# Use: the organisers' guide in README.md (pip download / pip install --require-hashes --no-index).",
        "",
    ]
    for (name, version), digests in sorted(hashes.items()):
        entries = [f"{name}=={version}", *(f"    --hash=sha256:{d}" for d in sorted(digests))]
        lines.append(" \\\n".join(entries))
    LOCK.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"Wrote {LOCK.relative_to(ROOT)}: {len(hashes)} packages, {sum(map(len, hashes.values()))} wheels.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
