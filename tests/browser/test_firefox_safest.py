"""A donor's whole pledge in Firefox ESR at Tor Browser's Safest level, letterboxed, in both languages.

Debian's firefox-esr runs with a fresh profile holding Tor Browser's Safest prefs (tests/browser/firefox.py)
and is driven through Marionette. Every page comes in one request, uses nothing Safest turns off, and leaves
no Content-Security-Policy complaint in Firefox's console.
"""

from __future__ import annotations

import http.server
import re
import threading
import time
import urllib.request

import pytest

from pledgebox.pledges import normalize_reference
from pledgebox.store import Store

from .firefox import SAFEST_PREFS, Firefox, decode_qr, fill_pledge, safest_problems
from .harness import DONOR, LANGS, PAGE_TIMEOUT, SCREENSHOTS, SETTLE, Served, other_pages, widget_figures

pytestmark = pytest.mark.browser

# Window sizes, and the content area Tor Browser's letterboxing rounds each to (steps of 200×100 px on a
# desktop, 50×100 px below 500 px wide): the margins prove letterboxing is on.
WINDOWS = {"desktop": ((1450, 960), (1400, 900)), "phone": ((360, 740), (350, 700))}


@pytest.fixture(scope="module")
def firefoxes(tmp_path_factory):
    """A Firefox ESR with a fresh Safest profile per window size, started on first use."""
    folder = tmp_path_factory.mktemp("firefox")
    made: dict[str, Firefox] = {}

    def get(size: str) -> Firefox:
        if size not in made:
            made[size] = Firefox(folder / f"profile-{size}", WINDOWS[size][0])
        return made[size]

    yield get
    for browser in made.values():
        browser.quit()


class Visit:
    """Loads one page (by address or by an action) and checks: one request, nothing Safest lacks, no CSP complaint."""

    def __init__(self, browser: Firefox, served: Served):
        self.browser = browser
        self.served = served

    def __call__(self, action, method: str, path: str, status: int = 200) -> None:
        """Run `action` (which navigates), wait for the new page, then check the requests and the console."""
        m = self.browser.m
        self.browser.clear_console()
        mark = len(self.served.counted.requests)
        self.browser.navigated(action, PAGE_TIMEOUT)
        time.sleep(SETTLE)
        assert m.get_url() == self.served.url(path), f"{method} {path}: Firefox is at {m.get_url()}"
        assert self.served.counted.since(mark) == [(method, path)], (
            f"{method} {path}: the server saw {self.served.counted.since(mark)}"
        )
        assert self.served.counted.statuses_since(mark) == [status], f"{method} {path}: not answered {status}"
        assert not (problems := safest_problems(m)), f"{path} needs what Safest turns off: {problems}"
        assert not (csp := self.browser.csp_violations()), f"CSP violations on {path}: {csp}"

    def get(self, path: str, status: int = 200) -> None:
        """Open a page by its address."""
        self(lambda: self.browser.m.navigate(self.served.url(path)), "GET", path, status)


def text(m, css: str) -> str:
    """The visible text of the first element matching css."""
    return m.find_element("css selector", css).text


def screenshot(browser: Firefox, name: str, *, whole: bool = False) -> None:
    """Save the first screen (or the whole page) as tests/output/screenshots/firefox-NAME.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / f"firefox-{name}.png").write_bytes(browser.m.screenshot(format="binary", full=whole))


class BrokenPage(http.server.BaseHTTPRequestHandler):
    """A page under the app's own CSP that breaks it three ways, plus a script that would retitle it."""

    csp = ""
    body = (
        b'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>before</title>'
        b'<link rel="icon" href="data:,"><link rel="stylesheet" href="/outside.css"></head>'
        b'<body><p style="color:red">styled</p><img src="/outside.png" alt="outside">'
        b"<script>document.title = 'after'</script></body></html>"
    )

    def do_GET(self):  # noqa: N802 - the name http.server calls
        self.send_response(200 if self.path == "/broken" else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Security-Policy", self.csp)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def test_safest_profile_is_in_force(firefoxes):
    """The running browser holds every Safest pref (the letterboxing itself is checked on every appeal)."""
    browser = firefoxes("desktop")
    assert {name: browser.pref(name) for name in SAFEST_PREFS} == SAFEST_PREFS


def test_csp_violations_and_scripts_would_be_seen(firefoxes, served):
    """A control: a page under the app's CSP with a style attribute, an outside stylesheet and image is caught,
    its script does not run, and the static check names the script and the style attribute."""
    browser = firefoxes("desktop")
    with urllib.request.urlopen(served.url("/en/privacy")) as res:
        BrokenPage.csp = res.headers["Content-Security-Policy"]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), BrokenPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        browser.clear_console()
        browser.m.navigate(f"http://127.0.0.1:{server.server_port}/broken")
        time.sleep(SETTLE)
        assert browser.m.title == "before", "a page script ran: JavaScript is not off"
        violations = browser.csp_violations()
        assert len(violations) >= 3, violations
        problems = safest_problems(browser.m)
        assert any("<script>" in p for p in problems) and any("style" in p for p in problems), problems
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("size", WINDOWS)
@pytest.mark.parametrize("lang", LANGS)
def test_pledge_in_firefox_at_safest(firefoxes, served, lang, size):
    """Appeal, a bad amount kept and flagged, fixed, checked, confirmed: a receipt whose GiroCode is drawn."""
    browser = firefoxes(size)
    m = browser.m
    visit = Visit(browser, served)
    t = served.t[lang]
    donor = DONOR[lang]
    stored_before = Store(served.config.state_dir).count()

    visit.get(f"/{lang}/")
    assert browser.viewport() == WINDOWS[size][1], "the content area is not letterboxed"
    assert m.title == t("site.title") and text(m, "h1") == t("site.title")
    figures = text(m, ".widget")
    assert all(f in figures for f in widget_figures(t)), f"the widget shows {figures!r}"
    assert m.find_element("css selector", ".widget progress").is_displayed()
    screenshot(browser, f"appeal-{lang}-{size}")

    # A bad amount, sent with Enter: the error summary, the message by the field, the amount kept.
    visit(lambda: m.find_element("id", "amount").send_keys(donor["bad"] + "\ue007"), "POST", f"/{lang}/pledge", 400)
    assert m.title.startswith(t("errors.title_prefix"))
    summary = m.find_element("css selector", ".summary")
    assert summary.is_displayed() and t("errors.amount_format") in summary.text
    amount = m.find_element("id", "amount")
    assert amount.get_property("value") == donor["bad"], "the amount typed was not kept"
    assert amount.get_attribute("aria-invalid") == "true"
    assert text(m, "#amount-error") == t("errors.amount_format")
    screenshot(browser, f"error-{lang}-{size}")

    # Fixed; a group, a pseudonym and a message; sent.
    fill_pledge(
        m,
        amount=donor["good"],
        designation="abc-irkutsk",
        method="sepa",
        pseudonym=donor["pseudonym"],
        message=donor["message"],
    )
    visit(lambda: m.find_element("css selector", "form#pledge button").click(), "POST", f"/{lang}/pledge")
    assert text(m, "h1") == t("check.title")
    facts = text(m, "dl.facts")
    for expected in (donor["shown"], "ABC Irkutsk", t("form.method_sepa"), donor["pseudonym"], donor["message"]):
        assert expected.replace("\u00a0", " ") in facts, f"{expected!r} not on the check page: {facts!r}"
    screenshot(browser, f"check-{lang}-{size}")
    visit(lambda: m.find_element("css selector", "main form button").click(), "POST", f"/{lang}/pledge/confirm")

    # The receipt: the reference, and the GiroCode drawn (a screenshot of the image decodes to its payload).
    assert text(m, "h1") == t("receipt.title")
    reference = text(m, ".reference")
    assert re.fullmatch(r"[0-9A-Z]{5}-[0-9A-Z]{5}", reference) and normalize_reference(reference) == reference
    qr = m.find_element("css selector", "img.qr")
    assert qr.get_attribute("src").startswith("data:image/png;base64,") and reference in qr.get_attribute("alt")
    assert qr.is_displayed() and qr.rect["width"] >= 150 and qr.rect["height"] == qr.rect["width"]
    payload = decode_qr(m.screenshot(element=qr, format="binary"))
    assert payload[0] == "BCD" and payload[-1] == reference, f"the GiroCode as drawn reads {payload}"
    assert Store(served.config.state_dir).count() == stored_before + 1, "the pledge was not stored"
    screenshot(browser, f"receipt-{lang}-{size}", whole=True)


@pytest.mark.parametrize("lang", LANGS)
def test_other_pages_in_firefox_at_safest(firefoxes, served, lang):
    """Privacy, mirrors and a missing page: one request each, nothing Safest lacks, no CSP complaint."""
    browser = firefoxes("phone")
    visit = Visit(browser, served)
    t = served.t[lang]
    for path, status, heading in other_pages(t, lang):
        visit.get(path, status)
        assert text(browser.m, "h1") == heading
