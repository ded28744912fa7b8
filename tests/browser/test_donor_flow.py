"""A donor's whole pledge with the keyboard alone: Chromium with JavaScript off, three window sizes, both languages."""

from __future__ import annotations

import re
import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from pledgebox.pledges import normalize_reference
from pledgebox.store import Store

from .harness import (
    CSP_WORDS,
    DONOR,
    LANGS,
    SETTLE,
    SIZES,
    Visit,
    focused,
    layout_problems,
    other_pages,
    press,
    screenshot,
    select_all,
    tab_through,
    tab_to,
    widget_figures,
)

pytestmark = pytest.mark.browser

SCREENSHOT_SIZES = ("desktop", "phone")


def text(driver, css: str) -> str:
    """The visible text of the first element matching css."""
    return driver.find_element(By.CSS_SELECTOR, css).text


def person_checks(driver, where: str) -> None:
    """Every stop shows its focus clearly; targets are at least 24×24 px; nothing runs off the side."""
    stops, problems = tab_through(driver)
    assert stops, f"{where}: nothing takes the keyboard focus"
    assert stops[0].startswith("a.skip "), f"{where}: the first stop is {stops[0]}, not the skip link"
    problems += layout_problems(driver)
    assert not problems, f"{where}: " + "; ".join(problems)


def test_javascript_is_really_off(browsers):
    """The donor session runs no script at all (a data: page, so no request reaches anyone)."""
    driver = browsers.get("desktop")
    driver.get("data:text/html,<title>before</title><script>document.title='after'</script>")
    assert driver.title == "before"


def test_csp_violations_would_be_seen(browsers, served):
    """A control: an inline style and an outside image added to a page show up as CSP complaints."""
    driver = browsers.get("desktop")
    Visit(driver, served).get("/en/control", 404)  # a no-store page: later visits still reach the server
    driver.execute_script(
        "document.head.append(Object.assign(document.createElement('style'), {textContent: 'p{}'}));"
        "document.body.append(Object.assign(document.createElement('img'), {src: '/favicon.ico'}));"
    )
    time.sleep(SETTLE)
    logged = [entry["message"] for entry in driver.get_log("browser")]
    assert sum(any(w in m for w in CSP_WORDS) for m in logged) >= 2, logged


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("lang", LANGS)
def test_pledge_with_the_keyboard(browsers, served, lang, size):
    """Appeal, a bad amount kept and flagged, fixed, checked, confirmed: a receipt with its GiroCode."""
    driver = browsers.get(size)
    visit = Visit(driver, served)
    t = served.t[lang]
    donor = DONOR[lang]
    shots = size in SCREENSHOT_SIZES
    stored_before = Store(served.config.state_dir).count()

    # The appeal: its title, the widget's figures, the text, the form, in one response.
    visit.get(f"/{lang}/")
    assert driver.title == t("site.title")
    assert text(driver, "h1") == t("site.title")
    widget = driver.find_element(By.CSS_SELECTOR, ".widget")
    assert widget.is_displayed() and widget.size["height"] > 50
    figures = widget.text
    for expected in widget_figures(t):
        assert expected in figures, f"{expected!r} not in the widget: {figures!r}"
    assert driver.find_element(By.CSS_SELECTOR, ".widget progress").is_displayed()
    assert t("appeal.heading") in driver.find_element(By.TAG_NAME, "main").text
    assert driver.find_element(By.ID, "pledge").is_displayed()
    if shots:
        screenshot(driver, f"appeal-{lang}-{size}")
    person_checks(driver, f"appeal ({lang}, {size})")

    # A bad amount, typed and sent with Enter.
    tab_to(driver, lambda f: f["id"] == "amount", "the amount field")
    press(driver, donor["bad"])
    visit(lambda: press(driver, Keys.ENTER), "POST", f"/{lang}/pledge", 400)
    assert driver.title.startswith(t("errors.title_prefix"))
    summary = driver.find_element(By.CSS_SELECTOR, ".summary")
    assert summary.is_displayed() and t("errors.amount_format") in summary.text
    amount = driver.find_element(By.ID, "amount")
    assert amount.get_property("value") == donor["bad"], "the amount typed was not kept"
    assert amount.get_attribute("aria-invalid") == "true"
    assert driver.find_element(By.ID, "amount-error").is_displayed()
    assert text(driver, "#amount-error") == t("errors.amount_format")
    if shots:
        screenshot(driver, f"error-{lang}-{size}")
    person_checks(driver, f"error ({lang}, {size})")

    # Fixed; a group chosen with the arrow keys; a pseudonym and a message; sent.
    tab_to(driver, lambda f: f["id"] == "amount", "the amount field")
    select_all(driver)
    press(driver, donor["good"])
    now = tab_to(driver, lambda f: f["name"] == "designation", "the designation choice")
    assert now["value"] == "split", "the pre-chosen designation should take the focus"
    press(driver, Keys.ARROW_UP)
    assert focused(driver)["value"] == "abc-irkutsk"
    now = tab_to(driver, lambda f: f["name"] == "method", "the payment choice")
    assert now["value"] == "sepa"
    tab_to(driver, lambda f: f["id"] == "pseudonym", "the pseudonym field")
    press(driver, donor["pseudonym"])
    tab_to(driver, lambda f: f["id"] == "message", "the message field")
    press(driver, donor["message"])
    now = tab_to(driver, lambda f: f["tag"] == "button", "the submit button")
    assert now["text"] == t("form.submit")
    visit(lambda: press(driver, Keys.ENTER), "POST", f"/{lang}/pledge")

    # The check page shows what will be sealed.
    assert text(driver, "h1") == t("check.title")
    facts = text(driver, "dl.facts")
    for expected in (donor["shown"], "ABC Irkutsk", t("form.method_sepa"), donor["pseudonym"], donor["message"]):
        assert expected.replace("\u00a0", " ") in facts, f"{expected!r} not on the check page: {facts!r}"
    person_checks(driver, f"check ({lang}, {size})")
    now = tab_to(driver, lambda f: f["tag"] == "button", "the confirm button")
    assert now["text"] == t("check.confirm")
    visit(lambda: press(driver, Keys.SPACE), "POST", f"/{lang}/pledge/confirm")

    # The receipt: the reference, the transfer details, the GiroCode.
    assert text(driver, "h1") == t("receipt.title")
    reference = text(driver, ".reference")
    assert re.fullmatch(r"[0-9A-Z]{5}-[0-9A-Z]{5}", reference) and normalize_reference(reference) == reference
    assert reference in text(driver, "main")
    qr = driver.find_element(By.CSS_SELECTOR, "img.qr")
    assert qr.get_attribute("src").startswith("data:image/png;base64,")
    assert qr.get_property("naturalWidth") > 0 and qr.get_property("complete"), "the GiroCode did not decode"
    assert qr.is_displayed() and qr.size["width"] >= 150
    assert reference in qr.get_attribute("alt")
    assert Store(served.config.state_dir).count() == stored_before + 1, "the pledge was not stored"
    if shots:
        screenshot(driver, f"receipt-{lang}-{size}", whole=True)
    person_checks(driver, f"receipt ({lang}, {size})")


@pytest.mark.parametrize("size", ("desktop", "phone"))
@pytest.mark.parametrize("lang", LANGS)
def test_other_pages_one_request_each(browsers, served, lang, size):
    """Privacy, mirrors and a missing page: one request each, no CSP complaint, readable by keyboard."""
    driver = browsers.get(size)
    visit = Visit(driver, served)
    t = served.t[lang]
    for path, status, heading in other_pages(t, lang):
        visit.get(path, status)
        assert text(driver, "h1") == heading
        person_checks(driver, f"{path} ({size})")
