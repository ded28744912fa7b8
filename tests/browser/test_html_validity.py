"""The Nu HTML Checker (vnu.jar from npm, run with the machine's Java) on every page and state: zero errors."""

from __future__ import annotations

import html as htmllib
import json
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from urllib.parse import urlencode

import pytest

from pledgebox.pledges import MAX_BODY

from .harness import LANGS, VNU, require

pytestmark = pytest.mark.browser

PLEDGE = {
    "amount": "25",
    "designation": "split",
    "method": "sepa",
    "pseudonym": "",
    "contact": "",
    "message": "",
    "website": "",
}


def fetch(url: str, form: dict | None = None, body: bytes | None = None) -> tuple[int, str]:
    """(status, HTML) of a GET, or of a POST of a form or raw body; error statuses are answers too."""
    data = urlencode(form).encode() if form is not None else body
    request = urllib.request.Request(url, data=data)
    if data is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode("utf-8")


def hidden_fields(html: str) -> dict[str, str]:
    """The hidden inputs a check page carries back."""
    return {
        name: htmllib.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html)
    }


def states(served, lang: str) -> dict[str, tuple[int, str]]:
    """Every page and state in one language: name -> (status, HTML)."""
    url = lambda path: served.url(f"/{lang}{path}")  # noqa: E731
    out = {
        name: fetch(url(path))
        for name, path in (
            ("appeal", "/"),
            ("privacy", "/privacy"),
            ("mirror", "/mirror"),
            ("not-found", "/no-such-page"),
        )
    }
    out["error-amount"] = fetch(url("/pledge"), PLEDGE | {"amount": "twenty"})
    out["error-every-field"] = fetch(
        url("/pledge"),
        PLEDGE
        | {
            "amount": "",
            "designation": "nobody",
            "method": "gold",
            "pseudonym": "x" * 81,
            "contact": "z" * 201,
            "message": "y" * 2001,
        },
    )
    out["honeypot"] = fetch(url("/pledge"), PLEDGE | {"website": "http://spam.example"})
    for method in ("sepa", "cash", "xmr"):
        status, check = fetch(
            url("/pledge"),
            PLEDGE | {"method": method, "pseudonym": "Лиса & <Fuchs>", "message": "Zeile 1\nZeile 2 – Grüße"},
        )
        assert status == 200, check
        fields = hidden_fields(check)
        if method == "sepa":
            out["check"] = (status, check)
            out["check-notice"] = fetch(url("/pledge/confirm"), fields | {"token": "spoiled"})
            out["edit"] = fetch(url("/pledge"), fields | {"edit": "1"})
        out[f"receipt-{method}"] = fetch(url("/pledge/confirm"), fields)
    return out


def test_every_page_is_valid_html(served, tmp_path):
    """All pages and states, both languages, saved and checked in one vnu run."""
    java = require(shutil.which("java"), "Java")
    jar = require(VNU, "npm's vnu-jar")
    expected = {
        "appeal": 200,
        "privacy": 200,
        "mirror": 200,
        "not-found": 404,
        "error-amount": 400,
        "error-every-field": 400,
        "honeypot": 400,
        "check": 200,
        "check-notice": 400,
        "edit": 200,
        "receipt-sepa": 200,
        "receipt-cash": 200,
        "receipt-xmr": 200,
    }
    files = []
    for lang in LANGS:
        for name, (status, html) in states(served, lang).items():
            assert status == expected[name], f"{lang} {name}: status {status}"
            path = tmp_path / f"{lang}-{name}.html"
            path.write_text(html, encoding="utf-8")
            files.append(path)
    assert len(files) == 2 * len(expected)
    run = subprocess.run(
        [java, "-jar", str(jar), "--errors-only", "--format", "json", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    messages = json.loads(run.stderr or '{"messages": []}')["messages"]
    report = "\n".join(f"  {m['url'].rsplit('/', 1)[-1]}:{m.get('lastLine', '?')}: {m['message']}" for m in messages)
    assert not messages and run.returncode == 0, f"vnu found errors:\n{report}"


@pytest.mark.parametrize("lang", LANGS)
def test_too_large_body_gets_its_page_under_waitress(served, lang):
    """An oversized form gets the translated 413 page from waitress too (not a 500), and it is valid HTML."""
    status, html = fetch(served.url(f"/{lang}/pledge"), body=b"amount=" + b"9" * (MAX_BODY + 10))
    assert status == 413, f"{status}: waitress refuses a WSGI app's hop-by-hop header (Connection) with a 500"
    assert served.t[lang]("errors.too_large_title") in html
