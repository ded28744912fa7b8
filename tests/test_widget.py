"""The campaign widget: correct percentages, never a negative day count, per-language formats."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from pledgebox import campaign
from pledgebox.i18n import catalogs

GOAL = Decimal(2500)
DEADLINE = date(2026, 12, 31)


@pytest.mark.parametrize(
    "raised, percent, bar",
    [
        ("0", 0, "0"),
        ("1250", 50, "1250"),
        ("2499.99", 99, "2499.99"),
        ("2500", 100, "2500"),
        ("2800", 112, "2500"),
        ("-5", 0, "0"),
    ],
)
def test_percentage(raised, percent, bar):
    w = campaign.widget(GOAL, campaign.Totals(Decimal(raised)), None, date(2026, 1, 1))
    assert (w.percent, w.bar_value) == (percent, Decimal(bar))


@pytest.mark.parametrize(
    "day, days_left",
    [
        (date(2026, 11, 25), 36),
        (date(2026, 12, 30), 1),
        (date(2026, 12, 31), 0),
        (date(2027, 1, 1), -1),
        (date(2027, 9, 28), -271),
    ],
)
def test_days_left(day, days_left):
    assert campaign.widget(GOAL, campaign.Totals(), DEADLINE, day).days_left == days_left


def test_day_is_counted_in_the_campaign_time_zone():
    # 23:30 UTC on the 30th is already the 31st in Berlin: the last day.
    now = datetime(2026, 12, 30, 23, 30, tzinfo=ZoneInfo("UTC"))
    assert campaign.today(ZoneInfo("Europe/Berlin"), now) == date(2026, 12, 31)
    assert campaign.today(ZoneInfo("America/New_York"), now) == date(2026, 12, 30)


def _clock_at(day: date) -> float:
    return datetime(day.year, day.month, day.day, 12, tzinfo=ZoneInfo("Europe/Berlin")).timestamp()


@pytest.mark.parametrize(
    "lang, day, text",
    [
        ("en", date(2026, 11, 25), "36 days left"),
        ("de", date(2026, 11, 25), "Noch 36 Tage"),
        ("en", date(2026, 12, 30), "1 day left"),
        ("de", date(2026, 12, 30), "Noch 1 Tag"),
        ("en", date(2026, 12, 31), "Last day"),
        ("de", date(2026, 12, 31), "Letzter Tag"),
        ("en", date(2027, 9, 28), "Ended on 31 December 2026"),
        ("de", date(2027, 9, 28), "Beendet am 31. Dezember 2026"),
    ],
)
def test_widget_on_the_page(client, clock, lang, day, text):
    clock.now = _clock_at(day)
    body = client.get(f"/{lang}/").text
    assert text in body
    assert "-1" not in body.split("widget-h", 1)[1].split("</section>", 1)[0]


def test_never_a_negative_count(client, clock):
    clock.now = _clock_at(date(2027, 9, 28))
    body = client.get("/en/").text
    assert "-271" not in body and "271" not in body


def test_no_deadline_means_no_countdown(tmp_path, identity):
    import webtest

    from helpers import campaign_toml
    from pledgebox import config, web

    data = tmp_path / "d"
    data.mkdir()
    (data / "campaign.toml").write_text(campaign_toml([identity], deadline=None), encoding="utf-8")
    body = webtest.TestApp(web.build_app(config.load(data))).get("/en/").text
    assert "days left" not in body and "Last day" not in body and "Ended on" not in body
    assert "0% of €2,500" in body


@pytest.mark.parametrize(
    "raised, en, de",
    [
        ("0", "€0 reached in total", "Insgesamt 0\u00a0€ erreicht"),
        ("1234.5", "€1,234.50 reached in total", "Insgesamt 1.234,50\u00a0€ erreicht"),
        ("2800", "€2,800 reached in total", "Insgesamt 2.800\u00a0€ erreicht"),
    ],
)
def test_amounts_per_language(client, cfg, raised, en, de):
    campaign.write_totals(cfg.state_dir, campaign.Totals(Decimal(raised)))
    assert en in client.get("/en/").text
    assert de in client.get("/de/").text


def test_goal_formats():
    assert catalogs()["en"].money(GOAL) == "€2,500"
    assert catalogs()["de"].money(GOAL) == "2.500\u00a0€"
    assert catalogs()["en"].date(date(2026, 3, 1)) == "1 March 2026"
    assert catalogs()["de"].date(date(2026, 3, 1)) == "1. März 2026"


def test_progress_is_html_not_svg(client):
    body = client.get("/en/").text
    assert "<progress" in body and "<svg" not in body.lower()
    # The bar's text (what a text browser shows) is written as each language writes a percentage.
    assert '">0%</progress>' in body and '">0 %</progress>' in client.get("/de/").text


@pytest.mark.parametrize(
    "content",
    [
        b"[]",
        b"null",
        b'"2500"',
        b"1e999",
        b'{"raised": 2500}',
        b'{"raised": ["1"]}',
        b"[" * 100_000,
        b'{"raised": "2500", "pad": "' + b"x" * 5000 + b'"}',
        b"\xff\xfe{",
        b"",
    ],
    ids=[
        "list",
        "null",
        "string",
        "huge-number",
        "number",
        "array-value",
        "deep-nesting",
        "oversized",
        "not-utf8",
        "empty",
    ],
)
def test_a_damaged_totals_file_shows_zero_and_every_page_answers(client, cfg, content):
    # Whoever can write state/ can plant any bytes there; a page must never become a 500 (a traceback
    # per request would also time-stamp every visit in the journal).
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    (cfg.state_dir / "published.json").write_bytes(content)
    assert campaign.read_totals(cfg.state_dir) == campaign.Totals()
    for path in ("/en/", "/de/", "/en/privacy", "/de/mirror"):
        assert client.get(path).status_int == 200


def test_a_page_that_cannot_be_rendered_is_a_quiet_500(cfg, monkeypatch):
    # The fast path must hand a failure to Bottle's error page, never to the WSGI server's traceback log.
    import webtest

    from pledgebox import web

    app = web.build_app(cfg)

    def broken(*_args):
        raise RuntimeError("planted")

    monkeypatch.setattr(app.site, "page", broken)
    errors = []

    class Keep:
        def write(self, text):
            errors.append(text)

        def flush(self):
            pass

    res = webtest.TestApp(app, extra_environ={"wsgi.errors": Keep()}).get("/en/", expect_errors=True)
    assert res.status_int == 500
    assert "planted" not in res.text and not "".join(errors)
