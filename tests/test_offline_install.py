"""The organisers' offline machine: a venv installed from a folder of hash-pinned wheels, with no network at all."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from pledgebox import ROOT

LOCK = ROOT / "requirements-offline.txt"
DEMO_IDENTITY = ROOT / "pledgebox" / "demo" / "identity.json"
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing answers, so any network use fails


def pins() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) from the lock file."""
    text = LOCK.read_text(encoding="utf-8").replace("\\\n", " ")
    out = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = re.match(r"^([a-z0-9-]+)==(\S+)", line).groups()
            out[name] = (version, re.findall(r"--hash=sha256:([0-9a-f]{64})", line))
    return out


def offline_env(tmp_path: Path) -> dict[str, str]:
    """An environment in which pip reads no configuration and every network access fails."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "http_", "https_", "HTTP", "NO_PROXY"))}
    return env | {
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_INDEX": "1",
        "PIP_INDEX_URL": UNREACHABLE,
        "HTTP_PROXY": UNREACHABLE,
        "HTTPS_PROXY": UNREACHABLE,
        "http_proxy": UNREACHABLE,
        "https_proxy": UNREACHABLE,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "HOME": str(tmp_path),
        "PIP_NO_CACHE_DIR": "1",
    }


def test_the_lock_pins_every_runtime_dependency_with_hashes():
    with open(ROOT / "pyproject.toml", "rb") as fh:
        project = tomllib.load(fh)["project"]
    # The runtime, and the organisers' bank extra: review reads CAMT and MT940 offline too.
    declared = [*project["dependencies"], *project["optional-dependencies"]["bank"]]
    wanted = [re.match(r"[A-Za-z0-9_.-]+", d).group().lower() for d in declared]
    locked = pins()
    for name in wanted:
        assert name in locked, f"{name} is not in requirements-offline.txt: run scripts/lock-offline.py"
    for name, (version, hashes) in locked.items():
        assert hashes and version, name
    # cryptography's own dependencies, which the offline machine cannot fetch either.
    assert {"cffi", "pycparser"} <= set(locked)


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> Path:
    """The wheel folder, made as the organisers' guide says (on a machine with a network)."""
    folder = tmp_path_factory.mktemp("usb") / "wheels"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--require-hashes",
            "--only-binary=:all:",
            "--dest",
            str(folder),
            "-r",
            str(LOCK),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode:
        pytest.fail(
            "could not download the wheels in requirements-offline.txt (this step needs the network; "
            "a hash mismatch means the lock is out of date: run scripts/lock-offline.py):\n" + done.stderr
        )
    return folder


def install_offline(python: Path, wheels: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The organisers' guide's install step: only hash-pinned wheels from the folder, no index."""
    argv = [str(python), "-m", "pip", "install", "--require-hashes", "--no-index", "--find-links", str(wheels)]
    return subprocess.run([*argv, "-r", str(LOCK)], capture_output=True, text=True, timeout=600, env=env)


def make_venv(tmp_path: Path) -> Path:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300, env=offline_env(tmp_path))
    return venv / "bin" / "python"


def test_the_project_runs_from_a_venv_installed_offline_from_the_wheel_folder(wheels, tmp_path):
    python = make_venv(tmp_path)
    env = offline_env(tmp_path)
    done = install_offline(python, wheels, env)
    assert done.returncode == 0, done.stdout + done.stderr
    # The organisers' commands, from the project's folder, with only what came from the stick.
    passfile = tmp_path / "pass"
    passfile.write_text("demo\n")
    shown = subprocess.run(
        [str(python), str(ROOT / "app.py"), "identity", "show", str(DEMO_IDENTITY), "--passphrase-file", str(passfile)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert shown.returncode == 0 and "pledgebox-recipient-v1:" in shown.stdout, shown.stderr
    sealed = tmp_path / "empty.sealed"
    sealed.write_bytes(b"")
    review = subprocess.run(
        [
            str(python),
            str(ROOT / "app.py"),
            "review",
            str(sealed),
            "--identity",
            str(DEMO_IDENTITY),
            "--passphrase-file",
            str(passfile),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert review.returncode == 0, review.stderr
    imports = subprocess.run(
        [str(python), "-c", "import pledgebox.web, pledgebox.serve, pledgebox.girocode, defusedxml.ElementTree, mt940"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=str(ROOT),
    )
    assert imports.returncode == 0, imports.stderr


def test_a_swapped_wheel_is_refused(wheels, tmp_path):
    python = make_venv(tmp_path)
    tampered = tmp_path / "tampered"
    shutil.copytree(wheels, tampered)
    [wheel] = tampered.glob("segno-*.whl")
    wheel.write_bytes(wheel.read_bytes() + b"\0")  # still a zip file; not the one that was locked
    done = install_offline(python, tampered, offline_env(tmp_path))
    assert done.returncode != 0 and "DO NOT MATCH THE HASHES" in done.stderr
    check = subprocess.run([str(python), "-c", "import segno"], capture_output=True, timeout=60)
    assert check.returncode != 0
