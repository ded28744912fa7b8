"""Debian's Firefox ESR at Tor Browser's Safest security level, driven through Marionette (no geckodriver).

`Firefox(profile_dir, extra_prefs)` writes a fresh profile whose user.js holds SAFEST_PREFS, starts
`firefox-esr --headless --marionette` on it and connects Mozilla's marionette-driver to it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import warnings
from pathlib import Path

import pytest

from .harness import stale

FIREFOX = Path("/usr/bin/firefox-esr")
INSTALL_HINT = (
    "run `bash scripts/install-system-deps.sh` (Debian's firefox-esr) and "
    "`pip install -e '.[test]'` (marionette-driver)"
)
START_TIMEOUT = 60

# Tor Browser's "Safest" level, as Tor Browser sets it (tor-browser, toolkit/components/securitylevel/
# SecurityLevel.sys.mjs): kSecuritySettings at index 1 ("1-high", the Safest level) ...
SECURITY_LEVEL_SAFEST = {
    "javascript.options.ion": False,  # JIT off
    "javascript.options.baselinejit": False,  # JIT off
    "javascript.options.native_regexp": False,  # JIT off (regular expressions)
    "mathml.disabled": True,
    "gfx.font_rendering.graphite.enabled": False,  # Graphite fonts off
    "gfx.font_rendering.opentype_svg.enabled": False,  # OpenType-SVG fonts off
    "svg.disabled": True,
    "javascript.options.asmjs": False,
    "javascript.options.wasm": False,
}
# ... and NoScript's policy for that level (the same file, noscriptSettings(2)): every site gets only
# the capabilities "frame", "other" and "noscript", so no script, no font, no media, no WebGL, no
# object. NoScript is an extension; these are the browser prefs with the same effect.
NOSCRIPT_SAFEST = {
    "javascript.enabled": False,  # capability "script" withheld
    "gfx.downloadable_fonts.enabled": False,  # capability "font" withheld: no web fonts
    "media.autoplay.default": 5,  # capability "media" withheld: no audio or video plays by itself
    "webgl.disabled": True,  # capability "webgl" withheld
}
# Tor Browser's fingerprinting defence (tor-browser, browser/app/profile/001-base-profile.js).
FINGERPRINTING = {
    "privacy.resistFingerprinting": True,
    "privacy.resistFingerprinting.letterboxing": True,  # the content area rounded to steps
}
SAFEST_PREFS = SECURITY_LEVEL_SAFEST | NOSCRIPT_SAFEST | FINGERPRINTING

# Not Tor Browser's: what keeps a test browser quiet and on loopback. Every request that is not for
# loopback goes to a SOCKS proxy on a closed port (the onion test points it at Tor's SOCKS port).
HERMETIC_PREFS = {
    "network.proxy.type": 1,
    "network.proxy.socks": "127.0.0.1",
    "network.proxy.socks_port": 9,
    "network.proxy.socks_version": 5,
    "network.proxy.socks_remote_dns": True,  # names go to the proxy, never to a resolver
    "network.proxy.allow_hijacking_localhost": False,  # loopback is reached directly
    "network.dns.disableIPv6": True,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "network.prefetch-next": False,
    "network.dns.disablePrefetch": True,
    "network.http.speculative-parallel-limit": 0,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "messaging-system.rsexperimentloader.enabled": False,
    "app.normandy.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.enabled": False,
    "browser.shell.checkDefaultBrowser": False,
    "browser.aboutwelcome.enabled": False,
    "toolkit.legacyUserProfileCustomizations.stylesheets": True,
    "marionette.port": 0,  # any free port; Firefox writes it to MarionetteActivePort in the profile
}

# What the console reports when the page's Content-Security-Policy refuses something.
CSP_PATTERN = re.compile(r"Content-Security-Policy|Content Security Policy", re.I)

CONSOLE_MESSAGES = """
return Services.console.getMessageArray().map(m => {
  if (m instanceof Ci.nsIScriptError) return [m.category || '', m.errorMessage, m.sourceName || ''];
  return ['', m.message, ''];
});
"""


def user_js(prefs: dict) -> str:
    """The prefs as a user.js file."""

    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return "".join(f'user_pref("{name}", {value(v)});\n' for name, v in prefs.items())


class Firefox:
    """One headless Firefox ESR with a fresh Safest profile, and its Marionette client."""

    def __init__(self, profile: Path, window: tuple[int, int], extra_prefs: dict | None = None):
        try:
            with warnings.catch_warnings():
                # Its helpers (mozinfo, mozdevice) import telnetlib and call distro.linux_distribution.
                warnings.simplefilter("ignore", DeprecationWarning)
                from marionette_driver.marionette import Marionette
        except ImportError:
            pytest.skip(f"marionette-driver is missing: {INSTALL_HINT}")
        if not FIREFOX.exists():
            pytest.skip(f"Debian's firefox-esr is missing ({FIREFOX}): {INSTALL_HINT}")
        profile.mkdir(parents=True, exist_ok=False)
        self.prefs = SAFEST_PREFS | HERMETIC_PREFS | (extra_prefs or {})
        (profile / "user.js").write_text(user_js(self.prefs), encoding="utf-8")
        (profile / "chrome").mkdir()
        (profile / "chrome" / "userChrome.css").write_text(":root, #main-window { min-width: 0 !important; }\n")
        self.log = open(profile.parent / f"{profile.name}.log", "wb")
        # -remote-allow-system-access: only to read Firefox's console (CSP reports) in the chrome context.
        self.process = subprocess.Popen(
            [
                str(FIREFOX),
                "--headless",
                "--marionette",
                "--no-remote",
                "-remote-allow-system-access",
                "--kiosk",
                "--profile",
                str(profile),
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # The window's size is set at start: headless Firefox will not resize below 500 px later.
            env=os.environ | {"MOZ_HEADLESS_WIDTH": str(window[0]), "MOZ_HEADLESS_HEIGHT": str(window[1])},
        )
        try:
            port = self._port(profile / "MarionetteActivePort")
            self.m = Marionette(host="127.0.0.1", port=port, socket_timeout=60)
            self.m.start_session(timeout=START_TIMEOUT)
            self.m.timeout.page_load = 60
        except BaseException:
            self.quit()
            raise

    def _port(self, path: Path) -> int:
        deadline = time.monotonic() + START_TIMEOUT
        while not (path.exists() and path.read_text().strip()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"firefox-esr did not start Marionette (exit {self.process.poll()})")
            time.sleep(0.1)
        return int(path.read_text().strip())

    def pref(self, name: str):
        """A pref's value as the running browser sees it."""
        with self.m.using_context("chrome"):
            return self.m.execute_script(
                "const [n] = arguments, p = Services.prefs;"
                "switch (p.getPrefType(n)) { case p.PREF_BOOL: return p.getBoolPref(n);"
                " case p.PREF_INT: return p.getIntPref(n); case p.PREF_STRING: return p.getStringPref(n); }"
                "return null;",
                script_args=[name],
            )

    def console(self) -> list[tuple[str, str, str]]:
        """Everything Firefox's console holds: (category, message, source) for each entry."""
        with self.m.using_context("chrome"):
            return [tuple(entry) for entry in self.m.execute_script(CONSOLE_MESSAGES)]

    def clear_console(self) -> None:
        """Forget the console's messages so far."""
        with self.m.using_context("chrome"):
            self.m.execute_script("Services.console.reset();")

    def csp_violations(self) -> list[str]:
        """The console's Content-Security-Policy complaints (category CSP, or naming the policy)."""
        return [
            f"{cat}: {msg} ({src})"
            for cat, msg, src in self.console()
            if cat.upper().startswith("CSP") or CSP_PATTERN.search(msg)
        ]

    def ready_state(self) -> str:
        """document.readyState of the page (read by Marionette, not by the page)."""
        return self.m.execute_script("return document.readyState", sandbox="system")

    def navigated(self, action, timeout: float = 60) -> None:
        """Run `action` (a click or keys that leave the page) and wait until the next page has loaded."""
        old = self.m.find_element("tag name", "html") if self.m.get_url().startswith("http") else None
        action()
        deadline = time.monotonic() + timeout
        while (old is not None and not stale(old)) or self.ready_state() != "complete":
            if time.monotonic() > deadline:
                raise TimeoutError(f"the page after {self.m.get_url()} did not load within {timeout} s")
            time.sleep(0.05)

    def viewport(self) -> tuple[int, int]:
        """The content area's size in CSS pixels (read by Marionette, not by the page)."""
        return tuple(self.m.execute_script("return [window.innerWidth, window.innerHeight]", sandbox="system"))

    def quit(self) -> None:
        """End the session and the browser."""
        if getattr(self, "m", None) is not None:
            try:
                self.m.delete_session()
            except Exception:  # noqa: BLE001 - the browser may already be gone
                pass
            self.m = None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.log.close()


def fill_pledge(m, *, amount: str, designation: str, method: str, pseudonym: str, message: str) -> None:
    """Fill in the pledge form on the page in front of Marionette (what was in a field is replaced)."""
    for field, value in (("amount", amount), ("pseudonym", pseudonym), ("message", message)):
        element = m.find_element("id", field)
        element.clear()
        element.send_keys(value)
    for name, value in (("designation", designation), ("method", method)):
        m.find_element("css selector", f"input[name={name}][value={value}]").click()


# Elements that need what Safest turns off (or that the CSP would refuse): scripts, SVG, MathML, plugins,
# frames, media, canvas, outside style sheets, preloads, and inline style attributes.
NEEDS_MORE_THAN_SAFEST = (
    "script, noscript, svg, math, object, embed, iframe, frame, video, audio, canvas, [style], "
    "link[rel~=stylesheet], link[rel~=preload], link[rel~=prefetch], img:not([src^='data:'])"
)
INLINE_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I)
NEEDS_IN_CSS = re.compile(r"@font-face|@import|url\(", re.I)


def safest_problems(m) -> list[str]:
    """What the page in front of Marionette uses that Tor Browser's Safest level turns off."""
    problems = [
        f"<{e.tag_name}>" + (" with a style attribute" if e.get_attribute("style") is not None else "")
        for e in m.find_elements("css selector", NEEDS_MORE_THAN_SAFEST)
    ]
    if handler := INLINE_HANDLER.search(m.page_source):
        problems.append(f"an inline event handler: {handler.group(0)[:80]}")
    css = " ".join(e.get_property("textContent") for e in m.find_elements("css selector", "style"))
    problems += [f"CSS needs {found}" for found in NEEDS_IN_CSS.findall(css)]
    return problems


def decode_qr(png: bytes) -> list[str]:
    """The lines of the QR code zbarimg reads in a PNG (an empty list when it finds none)."""
    if shutil.which("zbarimg") is None:
        pytest.skip("zbarimg is missing: run `bash scripts/install-system-deps.sh` (Debian zbar-tools)")
    out = subprocess.run(["zbarimg", "-q", "--raw", "-"], input=png, capture_output=True, timeout=30)
    return out.stdout.decode("utf-8").rstrip("\n").split("\n") if out.returncode == 0 else []
