"""The browser tests' tools: the served app, Chromium sessions, one-request page visits, keyboard helpers."""

from __future__ import annotations

import base64
import json
import tempfile
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from pledgebox import campaign
from pledgebox.config import Config
from pledgebox.i18n import catalogs

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "tests" / "output"
SCREENSHOTS = OUTPUT / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
W3M = Path("/usr/bin/w3m")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
VNU = ROOT / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
INSTALL_HINT = (
    "run `bash scripts/install-system-deps.sh` (it installs chromium, chromium-driver, w3m, Java and runs npm ci)"
)

# Content viewports: a desktop, Tor Browser's letterboxed maximum, and a small phone.
SIZES = {"desktop": (1400, 900), "letterbox": (1000, 900), "phone": (360, 740)}
LANGS = ("en", "de")
START = 1795604400.0  # 2026-11-25 12:00 Europe/Berlin: the same widget figures in every run
TOTALS = campaign.Totals(raised=Decimal("1730"), pledged=Decimal("2140"))
SETTLE = 0.25  # seconds to let a late subresource fetch (a favicon, say) show itself before counting
PAGE_TIMEOUT = 15
CSP_WORDS = ("Content Security Policy", "Refused to")

# What the donor types, and how the page must show it back.
DONOR = {
    "en": {
        "bad": "twenty",
        "good": "1,000.50",
        "shown": "€1,000.50",
        "pseudonym": "Лиса",
        "message": "For the letter evenings.",
    },
    "de": {
        "bad": "zwanzig",
        "good": "1.000,50",
        "shown": "1.000,50\u00a0€",
        "pseudonym": "Füchsin",
        "message": "Für die Briefabende – Solidarität!",
    },
}
GOAL, DAYS_LEFT, PERCENT = Decimal("2500"), 36, 69  # the test campaign on 2026-11-25, TOTALS published


def other_pages(t, lang: str) -> tuple[tuple[str, int, str], ...]:
    """(path, status, heading) of the pages besides the pledge flow: privacy, mirrors, a missing page."""
    return (
        (f"/{lang}/privacy", 200, t("privacy.title")),
        (f"/{lang}/mirror", 200, t("mirror.title")),
        (f"/{lang}/no-such-page", 404, t("site.not_found_title")),
    )


def widget_figures(t) -> tuple[str, ...]:
    """The widget's sentences for the test campaign, as WebDriver reports them (a no-break space as a plain one)."""
    return tuple(
        s.replace("\u00a0", " ")
        for s in (
            t("widget.percent", percent=PERCENT, goal=t.money(GOAL)),
            t("widget.reached", amount=t.money(TOTALS.raised)),
            t("widget.pledged", amount=t.money(TOTALS.pledged)),
            t.plural("widget.days_left", DAYS_LEFT),
        )
    )


def require(path: Path | str | None, what: str) -> Path:
    """The tool at path; when it is not installed, the test is skipped with what is missing and how to install it."""
    if path is None or not Path(path).exists():
        pytest.skip(f"{what} is missing ({path or 'not on PATH'}): {INSTALL_HINT}")
    return Path(path)


class RunningClock:
    """A clock that starts at a fixed instant and runs in real time, so the widget never changes."""

    def __init__(self, start: float):
        self.offset = start - time.monotonic()

    def __call__(self) -> float:
        return self.offset + time.monotonic()


class Counted:
    """A WSGI wrapper that notes the method and path of every request (nothing else)."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []
        self.statuses: dict[int, int] = {}  # request's index -> the status the app answered

    def __call__(self, environ, start_response):
        with self.lock:
            index = len(self.requests)
            self.requests.append((environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")))

        def noted(status, headers, *exc_info):
            self.statuses[index] = int(status[:3])
            return start_response(status, headers, *exc_info)

        return self.app(environ, noted)

    def statuses_since(self, mark: int) -> list[int | None]:
        """The statuses answered to the requests after `mark`."""
        with self.lock:
            return [self.statuses.get(i) for i in range(mark, len(self.requests))]

    def since(self, mark: int) -> list[tuple[str, str]]:
        """The requests that arrived after `mark` (a length of `requests` taken earlier)."""
        with self.lock:
            return self.requests[mark:]


@dataclass
class Served:
    """The app as production runs it, on a free loopback port."""

    base: str
    counted: Counted
    config: Config
    t: dict = field(default_factory=catalogs)

    def url(self, path: str) -> str:
        """The absolute URL of a path on the served app."""
        return self.base + path


def chromium_options(profile: Path, *, javascript: bool) -> webdriver.ChromeOptions:
    """Headless Debian Chromium: a fresh profile, no network but loopback, JavaScript as asked."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--no-default-browser-check",
        "--disable-dev-shm-usage",
        "--lang=en-US",
        f"--user-data-dir={profile}",
        # Nothing but loopback: every other name fails to resolve, and any proxied
        # request goes to a closed loopback port.
        "--proxy-server=http://127.0.0.1:9",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ):
        options.add_argument(arg)
    if not javascript:
        options.add_argument("--blink-settings=scriptEnabled=false")
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    return options


class Browsers:
    """Chromium sessions made on demand, one per (JavaScript, size), each with its own fresh profile."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.drivers: dict[tuple[bool, str], webdriver.Chrome] = {}

    def get(self, size: str, *, javascript: bool = False) -> webdriver.Chrome:
        """The session for this size; the viewport is set to exactly SIZES[size]."""
        key = (javascript, size)
        if key not in self.drivers:
            require(CHROMIUM, "Debian's chromium")
            require(CHROMEDRIVER, "Debian's chromium-driver")
            profile = Path(tempfile.mkdtemp(prefix="profile-", dir=self.tmp))
            driver = webdriver.Chrome(
                options=chromium_options(profile, javascript=javascript), service=Service(str(CHROMEDRIVER))
            )
            width, height = SIZES[size]
            driver.set_window_size(width, height + 200)
            # The content area itself gets the size (headless counts browser chrome in the window).
            driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": size == "phone"},
            )
            driver.set_page_load_timeout(PAGE_TIMEOUT)
            self.drivers[key] = driver
        return self.drivers[key]

    def quit(self) -> None:
        """End every session."""
        for driver in self.drivers.values():
            driver.quit()
        self.drivers.clear()


def drain_logs(driver) -> None:
    """Forget what the browser logged so far."""
    driver.get_log("performance")
    driver.get_log("browser")


def network_requests(driver) -> tuple[list[str], list[int]]:
    """The URLs the page asked the network for since the last look (data: URIs are no fetch), and the statuses."""
    urls, statuses = [], []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            if not url.startswith("data:"):
                urls.append(url)
        elif message["method"] == "Network.responseReceived":
            if not message["params"]["response"]["url"].startswith("data:"):
                statuses.append(message["params"]["response"]["status"])
    return urls, statuses


class Visit:
    """Loads one page (by address or by a keyboard action) and checks it came in one request, cleanly."""

    def __init__(self, driver, served: Served):
        self.driver = driver
        self.served = served

    def __call__(self, action, method: str, path: str, status: int = 200) -> None:
        """Run `action` (which navigates), wait for the new page, then check requests and logs."""
        driver = self.driver
        drain_logs(driver)
        mark = len(self.served.counted.requests)
        old = driver.find_element("tag name", "html") if driver.current_url.startswith("http") else None
        action()
        if old is not None:
            WebDriverWait(driver, PAGE_TIMEOUT).until(lambda d: stale(old))
        WebDriverWait(driver, PAGE_TIMEOUT).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
        )
        time.sleep(SETTLE)
        urls, statuses = network_requests(driver)
        assert urls == [self.served.url(path)], f"{method} {path}: the browser fetched {urls}"
        assert statuses == [status], f"{method} {path}: answered {statuses}, not {status}"
        assert self.served.counted.since(mark) == [(method, path)], (
            f"{method} {path}: the server saw {self.served.counted.since(mark)}"
        )
        # Chromium notes an error status of the page itself; that one is expected, nothing else.
        own = f"{self.served.url(path)} - Failed to load resource: the server responded with a status of {status} "
        logged = [entry["message"] for entry in driver.get_log("browser") if not entry["message"].startswith(own)]
        assert not [m for m in logged if any(w in m for w in CSP_WORDS)], f"CSP violation on {path}: {logged}"
        assert not logged, f"the browser logged on {path}: {logged}"

    def get(self, path: str, status: int = 200) -> None:
        """Open a page by its address."""
        self(lambda: self.driver.get(self.served.url(path)), "GET", path, status)


def stale(element) -> bool:
    """Whether a WebDriver element is gone (its page was left)."""
    try:
        _ = element.tag_name
    except Exception:  # noqa: BLE001 - selenium and marionette raise StaleElementReference (or NoSuchElement)
        return True
    return False


def press(driver, *keys) -> None:
    """Press keys on whatever has the focus, as a person at a keyboard would."""
    ActionChains(driver).send_keys(*keys).perform()


def select_all(driver) -> None:
    """Ctrl+A in the focused field."""
    ActionChains(driver).key_down(Keys.CONTROL).send_keys("a").key_up(Keys.CONTROL).perform()


def focused(driver) -> dict:
    """What has the keyboard focus: its tag, id, name, type and value."""
    return driver.execute_script(
        "const e = document.activeElement;"
        "return {tag: e.tagName.toLowerCase(), id: e.id, name: e.getAttribute('name') || '',"
        " type: e.getAttribute('type') || '', value: e.value === undefined ? '' : e.value,"
        " text: (e.textContent || '').trim()};"
    )


def tab_to(driver, wanted, what: str, limit: int = 60) -> dict:
    """Press Tab until `wanted(focused)` holds; fail after `limit` presses."""
    for _ in range(limit):
        press(driver, Keys.TAB)
        now = focused(driver)
        if wanted(now):
            return now
    pytest.fail(f"{limit} presses of Tab never reached {what}")


def screenshot(driver, name: str, *, whole: bool = False) -> Path:
    """Save the first screen (or the whole page) as tests/output/screenshots/NAME.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    if whole:
        width, height = driver.execute_script("return [innerWidth, document.documentElement.scrollHeight]")
        shot = driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
            },
        )
        path.write_bytes(base64.b64decode(shot["data"]))
    else:
        assert driver.save_screenshot(str(path)), f"no screenshot for {name}"
    return path


# -- what a person sees: focus, target size, width ------------------------------------------------

FOCUS_STATE = """
const e = document.activeElement;
if (!e || e === document.body || e === document.documentElement) return null;
const s = getComputedStyle(e), r = e.getBoundingClientRect();
let bg = 'rgba(0, 0, 0, 0)';
for (let n = e.parentElement; n; n = n.parentElement) {
  const c = getComputedStyle(n).backgroundColor;
  if (!/rgba\\(.*, 0\\)$/.test(c) && c !== 'transparent') { bg = c; break; }
}
return {element: e, what: e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : '')
          + (e.name ? '[' + e.name + ']' : '')
          + ' "' + (e.textContent || e.value || '').trim().slice(0, 30) + '"',
        style: s.outlineStyle, width: parseFloat(s.outlineWidth), color: s.outlineColor, background: bg,
        top: r.top, bottom: r.bottom, left: r.left, right: r.right, height: r.height, width_px: r.width,
        inner_w: innerWidth, inner_h: innerHeight, skip: e.classList.contains('skip')};
"""

SMALL_TARGETS = """
const out = [];
for (const e of document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea, summary')) {
  // the honeypot is skipped; the skip link is checked when focused
  if (e.closest('.hp') || e.classList.contains('skip')) continue;
  const r = e.getBoundingClientRect();
  if (r.width === 0 && r.height === 0) continue;
  // WCAG 2.5.8 exempts a link inside a sentence: its size is set by the line of text.
  const own = (e.textContent || '').trim(), around = (e.parentElement.textContent || '').trim();
  if (e.tagName === 'A' && around !== own) continue;
  if (r.width < 24 || r.height < 24) out.push(e.tagName.toLowerCase() + ' "' + own.slice(0, 30) + '" '
                                              + r.width.toFixed(1) + 'x' + r.height.toFixed(1));
}
return out;
"""


def rgb(css: str) -> tuple[float, float, float]:
    """(r, g, b) from a computed 'rgb(…)' or 'rgba(…)' colour."""
    parts = css[css.index("(") + 1 : css.index(")")].replace("/", ",").split(",")
    return tuple(float(p) for p in parts[:3])


def contrast(a: tuple, b: tuple) -> float:
    """The WCAG contrast ratio of two sRGB colours."""

    def luminance(c):
        ch = [v / 255 for v in c]
        ch = [v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4 for v in ch]
        return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2]

    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def focus_problem(state: dict) -> str:
    """Why the focused element's focus would be hard to see ('' when it is clearly shown)."""
    if state["style"] in ("none", "hidden") or state["width"] < 2:
        return f"{state['what']}: no outline ({state['style']} {state['width']}px)"
    ratio = contrast(rgb(state["color"]), rgb(state["background"]))
    if ratio < 3:
        return f"{state['what']}: outline contrast {ratio:.2f} < 3 against its background"
    if (
        state["bottom"] <= 0
        or state["top"] >= state["inner_h"]
        or state["right"] <= 0
        or state["left"] >= state["inner_w"]
    ):
        return f"{state['what']}: focused but outside the window"
    if state["skip"] and (state["height"] < 24 or state["width_px"] < 24):
        return f"{state['what']}: the skip link is only {state['width_px']:.0f}x{state['height']:.0f} px when focused"
    return ""


def tab_through(driver, limit: int = 80) -> tuple[list[str], list[str]]:
    """Tab once round the page: (each stop described, the focus problems found)."""
    stops, problems, first = [], [], None
    for _ in range(limit):
        press(driver, Keys.TAB)
        state = driver.execute_script(FOCUS_STATE)
        if state is None or (first is not None and state["element"] == first):
            return stops, problems
        if first is None:
            first = state["element"]
        stops.append(state["what"])
        if problem := focus_problem(state):
            problems.append(problem)
    pytest.fail(f"Tab did not come round within {limit} presses: {stops}")


def layout_problems(driver) -> list[str]:
    """Targets smaller than 24×24 px, and a page wider than the window."""
    problems = [f"small target: {s}" for s in driver.execute_script(SMALL_TARGETS)]
    width, inner = driver.execute_script("return [document.documentElement.scrollWidth, innerWidth]")
    if width > inner:
        problems.append(f"page is {width}px wide in a {inner}px window")
    return problems
