#!/usr/bin/env bash
# Install the Debian packages pledgebox's tests and tooling need.
# Idempotent: installs only what is missing; safe to run on every CI run.
#
#   tor  - the tests start a private Tor network on loopback
#          (tests/support/tornet.py): it needs /usr/bin/tor and /usr/bin/tor-gencert,
#          both in Debian's "tor" package.
#   chromium, chromium-driver
#        - the browser tests (tests/browser/) drive Debian's Chromium with
#          JavaScript off through /usr/bin/chromedriver.
#   firefox-esr
#        - tests/browser/test_firefox_safest.py and the onion test drive Debian's
#          Firefox ESR at Tor Browser's Safest level through Marionette
#          (marionette-driver from PyPI, in the test extras; no geckodriver).
#   w3m  - the text-browser tests dump every page with `w3m -dump`.
#   zbar-tools
#        - zbarimg decodes the receipt's GiroCode back to its EPC069-12 payload.
#   default-jre-headless
#        - Java for the Nu HTML Checker (vnu.jar from npm's vnu-jar).
#   nodejs, npm
#        - `npm ci` brings the browser tests' Node tools (axe-core, vnu-jar)
#          from package-lock.json into node_modules/; see the end of this file.
#   systemd
#        - `systemd-analyze verify` checks deploy/pledgebox.service
#          (tests/test_transport_headers.py; tor checks deploy/torrc there too).
#   apparmor
#        - `apparmor_parser -Q` compiles Debian's tor profile with
#          deploy/apparmor-system_tor in user space (tests/test_deploy_debian.py);
#          no AppArmor kernel needed. The tor package ships the profile itself.
#   wrk  - the load generator of `python bench/run.py` (the benchmarks, not
#          the tests): written in C, it leaves the cores to the server.
#
# The system-wide tor service that the Debian package ships is never wanted
# here (it would try to reach the public Tor network); it is kept from
# starting during the install and stopped/disabled afterwards.
#
# To add a package: append "name:command-it-provides" to PACKAGES.
set -euo pipefail

PACKAGES=(
  "tor:tor"
  "tor:tor-gencert"
  "chromium:chromium"
  "chromium-driver:chromedriver"
  "firefox-esr:firefox-esr"
  "w3m:w3m"
  "zbar-tools:zbarimg"
  "default-jre-headless:java"
  "nodejs:node"
  "npm:npm"
  "systemd:systemd-analyze"
  "wrk:wrk"
  "apparmor:apparmor_parser"
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

missing=()
for entry in "${PACKAGES[@]}"; do
  pkg="${entry%%:*}"
  cmd="${entry#*:}"
  # /usr/sbin: apparmor_parser is there, outside a normal user's PATH.
  if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then
    case " ${missing[*]-} " in
      *" $pkg "*) ;;
      *) missing+=("$pkg") ;;
    esac
  fi
done

install_node_tools() {
  # The browser tests' Node tools, exactly as locked; skipped when node_modules
  # already holds them and is newer than the lock file.
  local root
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  if [ -f "$root/node_modules/axe-core/axe.min.js" ] \
     && [ -f "$root/node_modules/vnu-jar/build/dist/vnu.jar" ] \
     && [ "$root/node_modules/.package-lock.json" -nt "$root/package-lock.json" ]; then
    echo "install-system-deps: node tools already installed"
    return 0
  fi
  echo "install-system-deps: npm ci (axe-core, vnu-jar)"
  # --ignore-scripts: vnu-jar's install script only looks for Java; the jar ships in the package.
  (cd "$root" && npm ci --ignore-scripts --no-audit --no-fund)
}

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-system-deps: nothing to install"
  install_node_tools
  exit 0
fi

echo "install-system-deps: installing ${missing[*]}"

# Keep package post-install scripts from starting services (the system tor
# daemon in particular). Only add a policy-rc.d if none exists, and remove
# only the one we added.
added_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod 755 /usr/sbin/policy-rc.d
  added_policy=1
fi
cleanup() {
  if [ -n "$added_policy" ]; then
    $SUDO rm -f /usr/sbin/policy-rc.d
  fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends "${missing[@]}"

# Make sure the system tor service is not running and does not start at boot.
case " ${missing[*]} " in
  *" tor "*)
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
      $SUDO systemctl disable --now tor.service tor@default.service >/dev/null 2>&1 || true
    elif command -v service >/dev/null 2>&1; then
      $SUDO service tor stop >/dev/null 2>&1 || true
    fi
    ;;
esac

install_node_tools
