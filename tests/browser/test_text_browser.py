"""Every page in w3m (`w3m -dump`), both languages: title, figures, appeal and a usable form, in reading order."""

from __future__ import annotations

import html as htmllib
import re
import subprocess
from urllib.parse import urlencode

import pytest

from pledgebox.pledges import normalize_reference

from .harness import LANGS, TOTALS, W3M, require

pytestmark = pytest.mark.browser

GOAL, DAYS_LEFT, PERCENT = 2500, 36, 69  # the test campaign on 2026-11-25, TOTALS published


def flat(text: str) -> str:
    """Text with every run of white space (line breaks, no-break spaces) as one space."""
    return " ".join(text.replace("\u00a0", " ").split())


def in_order(dump: str, parts: list[str], where: str) -> None:
    """Each part appears in the dump after the one before it."""
    text, at = flat(dump), 0
    for part in parts:
        found = text.find(flat(part), at)
        assert found >= 0, f"{where}: {part!r} missing after position {at}:\n{dump}"
        at = found + len(flat(part))


@pytest.fixture
def w3m(served, tmp_path):
    """Dump a page as w3m shows it (a GET, or a POST of a form); one request to the server each time."""
    binary = require(W3M, "Debian's w3m")

    def dump(path: str, form: dict | None = None, *, html: bool = False) -> str:
        args = [str(binary), "-dump_source" if html else "-dump", "-cols", "80", "-O", "UTF-8"]
        if form is not None:
            body = tmp_path / "form.txt"
            body.write_text(urlencode(form), encoding="ascii")
            args += ["-post", str(body)]
        mark = len(served.counted.requests)
        run = subprocess.run(
            [*args, served.url(path)],
            capture_output=True,
            text=True,
            timeout=30,
            env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        )
        assert run.returncode == 0, run.stderr
        assert served.counted.since(mark) == [("POST" if form is not None else "GET", path)]
        return run.stdout

    return dump


@pytest.mark.parametrize("lang", LANGS)
def test_appeal_reads_in_order(w3m, served, lang):
    """Title, the widget's figures, the appeal, then the form with one line per label, hint, field and choice."""
    t = served.t[lang]
    dump = w3m(f"/{lang}/")
    in_order(
        dump,
        [
            t("site.skip"),
            t("site.nav_privacy"),
            t("site.other_language"),
            t("site.title"),
            t("appeal.call"),
            t("widget.label"),
            t("widget.percent", percent=PERCENT, goal=t.money(GOAL)),
            t("widget.reached", amount=t.money(TOTALS.raised)),
            t("widget.pledged", amount=t.money(TOTALS.pledged)),
            t.plural("widget.days_left", DAYS_LEFT),
            t("appeal.heading"),
            " ".join(t("appeal.p1").split()[:12]),
            t("appeal.p2"),
            "Solidarity Zone (www.instagram.com/solidarity.zone)",
            " ".join(t("appeal.p5").split()[:10]),
            t("form.heading"),
            t("form.intro"),
            t("form.amount"),
            t("form.amount_hint"),
            t("form.designation"),
            t("form.method"),
            t("form.about_you"),
            t("form.pseudonym"),
            t("form.contact"),
            t("form.message"),
            t("form.sealed_note"),
            t("form.submit"),
            t("site.footer_note"),
        ],
        f"/{lang}/",
    )
    lines = [line.strip() for line in dump.splitlines()]
    box = re.compile(r"^\[ +\]$")
    # A usable form: each label, its hint and its field on lines of their own; one choice a line.
    at = lines.index(t("form.amount"))
    assert lines[at + 1] == t("form.amount_hint") and box.match(lines[at + 2]), lines[at : at + 3]
    for choice in (
        "( ) Solidarity Zone",
        "( ) ABC Irkutsk",
        f"(*) {t('form.split')}",
        f"(*) {t('form.method_sepa')}",
        f"( ) {t('form.method_cash')}",
        "( ) Monero",
    ):
        assert choice in lines, f"{choice!r} is not a line of its own"
    at = lines.index(t("form.message"))
    assert all(box.match(line) for line in lines[at + 1 : at + 6]), lines[at : at + 6]
    assert t("form.submit") in lines


@pytest.mark.parametrize("lang", LANGS)
def test_other_pages_read(w3m, served, lang):
    """Privacy and mirrors: the title first, then every section heading."""
    t = served.t[lang]
    in_order(
        w3m(f"/{lang}/privacy"),
        [
            t("privacy.title"),
            t("privacy.intro"),
            t("privacy.seized_heading"),
            t("privacy.running_heading"),
            t("privacy.network_heading"),
            t("privacy.mirror_heading"),
            t("privacy.bank_heading"),
            t("privacy.check_heading"),
        ],
        "privacy",
    )
    in_order(
        w3m(f"/{lang}/mirror"),
        [
            t("mirror.title"),
            t("mirror.intro"),
            t("mirror.static_heading"),
            t("mirror.app_heading"),
            t("mirror.verify_heading"),
        ],
        "mirror",
    )


@pytest.mark.parametrize("lang", LANGS)
def test_pledge_in_a_text_browser(w3m, served, lang):
    """The form as w3m posts it: the error with the input kept, the check page, the receipt and its code's text."""
    t = served.t[lang]
    form = {
        "amount": "twenty",
        "designation": "split",
        "method": "sepa",
        "pseudonym": "",
        "contact": "",
        "message": "",
        "website": "",
    }
    dump = w3m(f"/{lang}/pledge", form)
    in_order(
        dump,
        [
            t("errors.summary"),
            t("errors.amount_format"),
            t("form.amount"),
            t("form.amount_hint"),
            t("errors.amount_format"),
            "[twenty",
        ],
        "error",
    )

    form |= {"amount": "25"}
    dump = w3m(f"/{lang}/pledge", form)
    in_order(dump, [t("check.title"), t("check.amount"), t.money(25), t("check.confirm")], "check")

    # The check page's hidden fields, as w3m would send them back with "Confirm".
    fields = {
        name: htmllib.unescape(value)
        for name, value in re.findall(
            r'<input type="hidden" name="([^"]+)" value="([^"]*)"', w3m(f"/{lang}/pledge", form, html=True)
        )
    }
    assert set(fields) == {"amount", "designation", "method", "pseudonym", "contact", "message", "token"}
    dump = w3m(f"/{lang}/pledge/confirm", fields)
    reference = re.search(r"\b[0-9A-Z]{5}-[0-9A-Z]{5}\b", dump).group(0)
    assert normalize_reference(reference) == reference
    in_order(
        dump,
        [
            t("receipt.title"),
            t("receipt.reference"),
            reference,
            t("receipt.how_to_pay"),
            "DE89 3704 0044 0532 0130 00",
            t("receipt.qr_caption"),
            t("receipt.qr_alt", amount=t.money(25), reference=reference),
            t("receipt.again"),
        ],
        "receipt",
    )
