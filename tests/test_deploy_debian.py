"""deploy/ on a stock Debian 12 server: AppArmor lets tor reach the socket; a missing campaign is no restart loop."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pledgebox import ROOT
from pledgebox.errors import ConfigError

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
        pytest.fail(
            "/etc/apparmor.d/system_tor is missing: it comes with Debian's tor package (scripts/install-system-deps.sh)"
        )
    base = tmp_path / "apparmor.d"
    shutil.copytree(DEBIAN_PROFILES, base, symlinks=True)
    (base / "local" / "system_tor").write_text(override, encoding="utf-8")
    return subprocess.run(
        [apparmor_parser(), "-Q", "-K", "--base", str(base), "-I", str(base), str(base / "system_tor")],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_apparmor_accepts_the_override_in_debians_tor_profile(tmp_path):
    done = compile_system_tor(tmp_path, OVERRIDE.read_text(encoding="utf-8"))
    assert done.returncode == 0, done.stderr


def test_the_apparmor_check_fails_on_a_broken_override(tmp_path):
    # The check above is worth something only if a wrong rule makes it fail.
    broken = OVERRIDE.read_text(encoding="utf-8").replace(
        f"{SOCKET.removeprefix('/run')} rw,", f"{SOCKET.removeprefix('/run')} connect,"
    )
    assert broken != OVERRIDE.read_text(encoding="utf-8")
    done = compile_system_tor(tmp_path, broken)
    assert done.returncode != 0 and "error" in done.stderr


def test_the_override_lets_tor_use_the_socket_the_torrc_and_unit_name():
    rules = [
        line.strip()
        for line in OVERRIDE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert rules == ["/{,var/}run/pledgebox/app.sock rw,"]
    assert f"unix:{SOCKET}" in (DEPLOY / "torrc").read_text(encoding="utf-8")
    assert f"--unix-socket {SOCKET}" in (DEPLOY / "pledgebox.service").read_text(encoding="utf-8")


def test_the_readme_installs_and_reloads_the_override_and_shows_denials():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    onion_guide = readme.split("## Run it as an onion service", 1)[1].split("\n## ", 1)[0]
    assert "deploy/apparmor-system_tor >> /etc/apparmor.d/local/system_tor" in onion_guide
    assert "apparmor_parser -r /etc/apparmor.d/system_tor" in onion_guide
    assert "journalctl -k | grep DENIED" in onion_guide


# -- a campaign that is missing or wrong stops the service instead of a restart loop --------------


def unit_directives() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in (DEPLOY / "pledgebox.service").read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def serve_as_the_unit_does(data: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """`app.py serve` with the unit's arguments, on a socket in tmp_path."""
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "app.py"),
            "serve",
            "--data",
            str(data),
            "--unix-socket",
            str(tmp_path / "app.sock"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "campaign, says",
    [
        (None, "campaign.toml is missing"),
        ('[campaign]\nid = "x"\ngoal = \u201c2500\u201d\n', "line 3, column 8"),
        ("[campaign]\ndealine = 2026-12-31\n", "did you mean deadline?"),
    ],
)
def test_a_missing_or_wrong_campaign_exits_with_the_status_the_unit_does_not_restart_on(tmp_path, campaign, says):
    data = tmp_path / "data"
    data.mkdir()
    if campaign is not None:
        (data / "campaign.toml").write_text(campaign, encoding="utf-8")
    done = serve_as_the_unit_does(data, tmp_path)
    assert done.returncode == ConfigError.exit_code == 78, done.stderr
    assert unit_directives()["RestartPreventExitStatus"] == [str(ConfigError.exit_code)]
    assert unit_directives()["Restart"] == ["on-failure"]
    # The journal's last lines say what is wrong and what to do.
    lines = done.stderr.splitlines()
    assert lines[0].startswith("pledgebox: error: ") and says in done.stderr
    assert lines[-1].startswith("pledgebox: hint: ")
    assert not (tmp_path / "app.sock").exists()


def test_the_missing_campaign_hint_names_the_file_and_the_restart(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    done = serve_as_the_unit_does(data, tmp_path)
    hint = done.stderr.splitlines()[-1]
    assert f"copy data/campaign.example.toml to {data / 'campaign.toml'}" in hint
    assert "systemctl restart pledgebox" in hint
