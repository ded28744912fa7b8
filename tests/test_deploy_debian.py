"""deploy/ on a stock Debian 12 server: AppArmor lets tor reach the socket; a missing campaign is no restart loop."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pledgebox import ROOT

DEPLOY = ROOT / "deploy"
SOCKET = "/run/pledgebox/app.sock"
OVERRIDE = DEPLOY / "apparmor-system_tor"
DEBIAN_PROFILES = Path("/etc/apparmor.d")


def apparmor_parser() -> str:
    parser = shutil.which("apparmor_parser") or shutil.which("apparmor_parser", path="/usr/sbin:/sbin")
    if parser is None:
        pytest.fail("apparmor_parser is missing: run scripts/install-system-deps.sh (Debian package apparmor)")
    return parser


def compile_system_tor(tmp_path: Path, override: str) -> subprocess.CompletedProcess:
    """Compile Debian's own system_tor profile with `override` as its local part, without loading it.

    -Q (--skip-kernel-load) with -K (no cache) compiles the policy in user space only: no AppArmor
    kernel, no root needed. The profiles are copied so /etc is never touched.
    """
    if not (DEBIAN_PROFILES / "system_tor").is_file():
        pytest.fail("/etc/apparmor.d/system_tor is missing: it comes with Debian's tor package "
                    "(scripts/install-system-deps.sh)")
    base = tmp_path / "apparmor.d"
    shutil.copytree(DEBIAN_PROFILES, base, symlinks=True)
    (base / "local" / "system_tor").write_text(override, encoding="utf-8")
    return subprocess.run([apparmor_parser(), "-Q", "-K", "--base", str(base), "-I", str(base),
                           str(base / "system_tor")], capture_output=True, text=True, timeout=60)


def test_apparmor_accepts_the_override_in_debians_tor_profile(tmp_path):
    done = compile_system_tor(tmp_path, OVERRIDE.read_text(encoding="utf-8"))
    assert done.returncode == 0, done.stderr


def test_the_apparmor_check_fails_on_a_broken_override(tmp_path):
    # The check above is worth something only if a wrong rule makes it fail.
    broken = OVERRIDE.read_text(encoding="utf-8").replace(f"{SOCKET.removeprefix('/run')} rw,",
                                                          f"{SOCKET.removeprefix('/run')} connect,")
    assert broken != OVERRIDE.read_text(encoding="utf-8")
    done = compile_system_tor(tmp_path, broken)
    assert done.returncode != 0 and "error" in done.stderr


def test_the_override_lets_tor_use_the_socket_the_torrc_and_unit_name():
    rules = [line.strip() for line in OVERRIDE.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    assert rules == ["/{,var/}run/pledgebox/app.sock rw,"]
    assert f"unix:{SOCKET}" in (DEPLOY / "torrc").read_text(encoding="utf-8")
    assert f"--unix-socket {SOCKET}" in (DEPLOY / "pledgebox.service").read_text(encoding="utf-8")


def test_the_readme_installs_and_reloads_the_override_and_shows_denials():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    onion_guide = readme.split("## Run it as an onion service", 1)[1].split("\n## ", 1)[0]
    assert "deploy/apparmor-system_tor >> /etc/apparmor.d/local/system_tor" in onion_guide
    assert "apparmor_parser -r /etc/apparmor.d/system_tor" in onion_guide
    assert "journalctl -k | grep DENIED" in onion_guide
