"""axe-core's WCAG 2.0/2.1/2.2 A and AA rules on every page and state, at desktop and phone width.

axe needs JavaScript, which the site never ships: these runs use a separate Chromium session
with JavaScript on, and the test injects axe through WebDriver (the page's CSP is not involved).
The JavaScript-off session in test_donor_flow.py proves the site itself works without it.
"""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from .harness import AXE, LANGS, PAGE_TIMEOUT, require

pytestmark = pytest.mark.browser

TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
AXE_RUN = """
const done = arguments[arguments.length - 1];
axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}, resultTypes: ['violations']})
  .then(r => done({rules: r.passes.length + r.violations.length + r.incomplete.length,
                   violations: r.violations.map(v => ({
                     rule: v.id, impact: v.impact, help: v.help,
                     nodes: v.nodes.map(n => n.target.join(' ') + ' | ' + n.failureSummary)}))}))
  .catch(e => done({error: String(e)}));
"""


@pytest.fixture(scope="module")
def axe_source() -> str:
    """axe-core as npm installed it (package-lock.json pins the version)."""
    return require(AXE, "npm's axe-core").read_text(encoding="utf-8")


def audit(driver, source: str) -> list[dict]:
    """Inject axe into the loaded page and return its violations of the WCAG A/AA rules."""
    driver.execute_script(source)
    result = driver.execute_async_script(AXE_RUN, TAGS)
    assert "error" not in result, result
    assert result["rules"] > 10, f"axe ran only {result['rules']} rules"
    return result["violations"]


def submit(driver, css: str = "form button[type=submit]") -> None:
    """Click a submit button and wait for the next page."""
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.CSS_SELECTOR, css).click()
    WebDriverWait(driver, PAGE_TIMEOUT).until(lambda d: _gone(old))


def _gone(element) -> bool:
    try:
        _ = element.tag_name
    except Exception:  # noqa: BLE001 - stale once the page is replaced
        return True
    return False


@pytest.mark.parametrize("size", ("desktop", "phone"))
@pytest.mark.parametrize("lang", LANGS)
def test_no_wcag_violations(browsers, served, axe_source, lang, size):
    """Appeal, privacy, mirrors, not found, the error state, the check page (plain and with a notice), the receipt."""
    driver = browsers.get(size, javascript=True)
    driver.set_script_timeout(60)
    found: dict[str, list] = {}

    def check(state: str) -> None:
        violations = audit(driver, axe_source)
        if violations:
            found[state] = violations

    for page in ("", "privacy", "mirror", "no-such-page"):
        driver.get(served.url(f"/{lang}/{page}"))
        check(page or "appeal")
    driver.get(served.url(f"/{lang}/"))
    driver.find_element(By.ID, "amount").send_keys("12,,3")
    submit(driver, "#pledge button[type=submit]")
    assert driver.find_element(By.ID, "amount-error").is_displayed()
    check("error")
    amount = driver.find_element(By.ID, "amount")
    amount.clear()
    amount.send_keys("25")
    submit(driver, "#pledge button[type=submit]")
    check("check")
    # A spoiled token brings the check page back with a notice (and a fresh token).
    driver.execute_script("document.querySelector('input[name=token]').value = 'spoiled'")
    submit(driver)
    assert driver.find_element(By.CSS_SELECTOR, ".notice").is_displayed()
    check("check with notice")
    submit(driver)
    assert driver.find_element(By.CSS_SELECTOR, ".reference").is_displayed()
    check("receipt")

    assert not found, "axe found WCAG violations:\n" + "\n".join(
        f"  {state}: [{v['impact']}] {v['rule']}: {v['help']}\n      " + "\n      ".join(v["nodes"][:5])
        for state, violations in found.items()
        for v in violations
    )


def test_axe_would_notice(browsers, served, axe_source):
    """A control: spoil the appeal in the browser (faint text, an unlabelled field) and axe must say so."""
    driver = browsers.get("desktop", javascript=True)
    driver.set_script_timeout(60)
    driver.get(served.url("/en/"))
    driver.execute_script(
        "document.querySelector('.call').style.color = '#c8c8c8';document.querySelector('label[for=amount]').remove();"
    )
    rules = {v["rule"] for v in audit(driver, axe_source)}
    assert {"color-contrast", "label"} <= rules, rules
