"""The web application: thin routes over pledges, sealing and the store."""

from __future__ import annotations

import sys
import threading
import time
from datetime import UTC, datetime

from bottle import Bottle, HTTPResponse, request, response

from . import campaign, circuits, filetimes, journal, pledges, sealing
from .errors import PrivateKeyInData
from .i18n import LANGS, best_language
from .mirror import ARCHIVE, BUNDLE_URL
from .pages import Pages
from .ratelimit import RateLimit
from .render import SECURITY_HEADERS, Page, accepts_gzip
from .responses import NOWHERE, Reply, current_response, dynamic, headers, read_values, send
from .store import Store, StoreFull, StoreWriteError
from .verify import served_bundle

TOTALS_CHECK_INTERVAL = 1.0  # seconds between looks at the published totals file
RETRY_AFTER = "60"


class Site:
    """What the routes share: the campaign, its pages (rendered and in memory), the store and the token keys."""

    def __init__(self, config, clock=time.time, bundle_url: str = "", bundle=None, heartbeat=filetimes.HEARTBEAT):
        self.config = config
        self.clock = clock
        self.pages = Pages(config)
        self.heartbeat = filetimes.Heartbeat(config.data_dir, heartbeat)  # started by the first request
        self.store = Store(config.state_dir)
        self.recipients = [sealing.Recipient.from_string(o.recipient) for o in config.organisers]
        self.bundle_url = bundle_url
        self.bundle = bundle  # mirror.Bundle: the checked archive the app hands out, if any
        self.limit = RateLimit(config.limits.confirms_per_minute)
        self.circuits = circuits.CircuitLimits(
            config.limits.circuit_confirms_per_minute, config.limits.circuit_check_pages_per_minute
        )
        self.secret_path = config.state_dir / "token.key"
        self._lock = threading.Lock()
        self._tokens: pledges.Tokens | None = None
        self._pages: dict[tuple, Page] = {}
        self._pages_key: tuple = ()
        self._totals_checked = float("-inf")
        self._totals_key: tuple = ()
        self._totals = campaign.Totals()
        self.store_trouble = journal.StoreTrouble(config.state_dir)

    # -- pages -------------------------------------------------------------------

    def today(self):
        """Today in the campaign's time zone, from the injectable clock."""
        return campaign.today(self.config.tz, datetime.fromtimestamp(self.clock(), self.config.tz))

    def current_bundle(self):
        """The published bundle while it has not expired (its days are UTC days), else None."""
        day = datetime.fromtimestamp(self.clock(), UTC).date()
        return self.bundle if self.bundle and not self.bundle.statement.expired(day) else None

    def totals(self) -> campaign.Totals:
        """The published totals, looked at no more than once a second."""
        now = time.monotonic()
        if now - self._totals_checked >= TOTALS_CHECK_INTERVAL:
            key = campaign.totals_version(self.config.state_dir)
            if key != self._totals_key:
                self._totals = campaign.read_totals(self.config.state_dir)
                self._totals_key = key
            self._totals_checked = now
        return self._totals

    def page(self, name: str, lang: str) -> Page:
        """A request-independent page, rendered once per language, day and published totals."""
        totals = self.totals()
        key = (self._totals_key, self.today(), self.current_bundle() is None)
        if key != self._pages_key:
            with self._lock:
                if key != self._pages_key:
                    self._pages, self._pages_key = {}, key
        cached = self._pages.get((name, lang))
        if cached is None:
            cached = self._pages[(name, lang)] = Page.of(self._render_static(name, lang, totals))
        return cached

    def _render_static(self, name: str, lang: str, totals) -> str:
        """The HTML of one request-independent page (an unknown name is the not-found page)."""
        if name == "appeal":
            w = campaign.widget(self.config.goal, totals, self.config.deadline, self.today())
            return self.pages.appeal(lang, w)
        if name == "privacy":
            return self.pages.about("privacy", lang, bundle=self.bundle_url)
        if name == "mirror":
            current = self.current_bundle()
            return self.pages.about(
                "mirror",
                lang,
                bundle=self.bundle_url if current or not self.bundle else "",
                signed=current.signed if current else None,
            )
        return self.pages.message(lang, "site.not_found_title", "site.not_found_text")

    # -- pledges -----------------------------------------------------------------

    @property
    def tokens(self) -> pledges.Tokens:
        """The confirm-token keys, loaded (or made) on the first pledge, never at import."""
        if self._tokens is None:
            with self._lock:
                if self._tokens is None:
                    secret = pledges.load_secret(self.secret_path)
                    self._tokens = pledges.Tokens(
                        secret, self.config.limits.token_min_age, self.config.limits.token_max_age
                    )
        return self._tokens

    def prepare(self, workers: int = 1) -> None:
        """Make the runtime files before serving, so none of their times records the first pledge.

        With several worker processes, also load and render here what they would each make
        again, and make the confirm rate limit one limit for all of them.
        """
        _ = self.tokens  # loads (or makes) the token key
        self.store.prepare()
        if workers > 1:
            limits = self.config.limits
            self.limit = RateLimit(limits.confirms_per_minute, shared=True)
            self.circuits = circuits.CircuitLimits(
                limits.circuit_confirms_per_minute, limits.circuit_check_pages_per_minute, shared=True
            )
            for page in STATIC_PATHS.values():
                self.page(*page)

    def allow(self, circuit: str | None, kind: int) -> bool:
        """The circuit's limit of this kind (with --proxy-protocol), then for confirms the global one."""
        if not self.circuits.allow(circuit, kind):
            return False
        return kind != circuits.CONFIRM or self.limit.allow()

    def seal_and_store(self, pledge: pledges.Pledge, nonce: bytes, issued: int) -> str:
        """Seal the pledge to every organiser key and append it durably; return its reference.

        Raises StoreFull when the uncollected records reached their cap (a known token still
        gets its reference: the store finds it before it looks at the cap).
        """
        reference = self.tokens.reference(nonce)
        # The day the check page was made: a token resubmitted after midnight seals the same bytes.
        day = campaign.today(self.config.tz, datetime.fromtimestamp(issued, self.config.tz))
        plaintext = pledge.plaintext(reference, self.config.currency, day)
        record = sealing.seal(plaintext, self.recipients, self.config.campaign_id)
        del plaintext  # the plaintext lives only in memory, only this long
        limits = self.config.limits
        self.store.append(
            self.tokens.record_id(nonce),
            record,
            max_records=limits.max_pending,
            max_bytes=limits.max_pending_mb * 1024 * 1024,
        )
        return reference

    def check(self, values: dict, lang: str, circuit: str | None = None) -> Reply:
        """The form posted: the page to check the pledge (with a one-time token), or the form again."""
        t = self.pages.catalogs[lang]
        if values["edit"]:
            return Reply(200, self.pages.form(lang, values))
        if values[pledges.HONEYPOT]:
            return Reply(400, self.pages.form(lang, values, notice=t("errors.honeypot")))
        pledge, errors = pledges.validate(values, lang, self.config, t)
        if errors:
            return Reply(400, self.pages.form(lang, values, errors))
        if not self.allow(circuit, circuits.CHECK):
            return Reply(
                429, self.pages.form(lang, values, notice=t("errors.busy_check_text")), (("Retry-After", RETRY_AFTER),)
            )
        return Reply(200, self.pages.check(lang, pledge, values, self.tokens.issue(pledge, self.clock())))

    def confirm(self, values: dict, lang: str, circuit: str | None = None) -> Reply:
        """The checked pledge posted: its receipt once it is sealed and stored, or a refusal saying why not."""
        t = self.pages.catalogs[lang]
        if values["edit"]:
            return Reply(200, self.pages.form(lang, values))
        pledge, errors = pledges.validate(values, lang, self.config, t)
        if errors or values[pledges.HONEYPOT]:
            return Reply(400, self.pages.form(lang, values, errors))
        try:
            nonce, issued = self.tokens.check(values["token"], pledge, self.clock())
        except pledges.TokenProblem as problem:
            reason = str(problem)
            token = values["token"] if reason == "too_fast" else self.tokens.issue(pledge, self.clock())
            return Reply(400, self.pages.check(lang, pledge, values, token, t(f"errors.token_{reason}")))
        try:
            reference = self.keep(pledge, nonce, issued, circuit)
        except Refused as no:
            page = self.pages.check(
                lang, pledge, values, values["token"], t(f"errors.{no.problem}_text"), t(f"errors.{no.problem}_title")
            )
            return Reply(no.status, page, (("Retry-After", no.retry_after),))
        return Reply(200, self.pages.receipt(lang, pledge, reference))

    def keep(self, pledge: pledges.Pledge, nonce: bytes, issued: int, circuit: str | None = None) -> str:
        """Seal and store a pledge whose token checked out; its reference, or Refused (busy, full, disk)."""
        try:
            # A resubmitted token (a lost answer over Tor, a double click) gets its receipt again,
            # whatever the limits say now, and uses up none of them. The store's files are read
            # only when the rate limit says no: the usual confirm takes the store's lock once.
            record_id = self.tokens.record_id(nonce)
            if (
                not self.store.seen_here(record_id)
                and not self.allow(circuit, circuits.CONFIRM)
                and not self.store.ever_stored(record_id)
            ):
                raise Refused(429, "busy", RETRY_AFTER)
            return self.seal_and_store(pledge, nonce, issued)
        except StoreFull:
            self.store_trouble.full()
            raise Refused(503, "full", "3600") from None
        except (OSError, StoreWriteError) as exc:
            # Disk full or unwritable: no receipt for a pledge that is not on disk.
            self.store_trouble.report(exc)
            raise Refused(503, "store_failed", RETRY_AFTER) from None


class Refused(Exception):
    """A confirm the rate limit or the store turned down: its status, its errors.* key and Retry-After."""

    def __init__(self, status: int, problem: str, retry_after: str):
        super().__init__(problem)
        self.status, self.problem, self.retry_after = status, problem, retry_after


STATIC_CACHE = "max-age=60"
STATIC_HEADERS = (
    ("Content-Type", "text/html; charset=utf-8"),
    *SECURITY_HEADERS,
    ("Cache-Control", STATIC_CACHE),
    ("Vary", "Accept-Encoding"),
)
STATIC_PATHS = {
    f"/{lang}/{suffix}": (name, lang)
    for lang in LANGS
    for name, suffix in (("appeal", ""), ("privacy", "privacy"), ("mirror", "mirror"))
}


class App(Bottle):
    """Bottle, with the pre-rendered pages answered before its routing.

    Most requests over Tor are a GET of one of these pages; a dict lookup and a header list made
    once keep them as fast as a bare WSGI function (bench/run.py measures the ratio). Everything
    else, including HTTPS requests that need HSTS and Onion-Location, goes through Bottle.
    """

    def __init__(self, site: Site):
        super().__init__(catchall=True)
        self.site = site
        self.config["pledgebox.site"] = site

    def __call__(self, environ, start_response):
        self.site.heartbeat.ensure()  # in each process that serves (a forked worker, any WSGI server)
        if environ.get("REQUEST_METHOD") == "GET" and environ.get("wsgi.url_scheme") == "http":
            hit = STATIC_PATHS.get(environ.get("PATH_INFO", ""))
            if hit is not None:
                try:
                    page = self.site.page(*hit)
                except Exception:  # noqa: BLE001 - waitress would log a traceback, dating the visit
                    return self.wsgi(environ, start_response)
                gz = accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING", ""))
                body = page.gzipped if gz else page.body
                start_response(
                    "200 OK",
                    [
                        *STATIC_HEADERS,
                        *((("Content-Encoding", "gzip"),) if gz else ()),
                        ("Content-Length", str(len(body))),
                    ],
                )
                return [body]
        return self.wsgi(environ, start_response)


def static(site: Site, name: str, lang: str, status: int = 200) -> bytes:
    """A pre-rendered page, gzip-compressed when the client accepts it."""
    page = site.page(name, lang)
    headers(status, (("Vary", "Accept-Encoding"),), cache=STATIC_CACHE if status == 200 else "no-store")
    if accepts_gzip(request.environ.get("HTTP_ACCEPT_ENCODING", "")):
        response.set_header("Content-Encoding", "gzip")
        return page.gzipped
    return page.body


def path_lang() -> str:
    """The language of the request's path, for error pages: one of LANGS, never reflected text."""
    segment = request.environ.get("PATH_INFO", "/").lstrip("/").split("/", 1)[0]
    return segment if segment in LANGS else "en"


def build_app(config, *, clock=time.time, bundle_url: str = "", heartbeat: float = filetimes.HEARTBEAT) -> App:
    """A fresh WSGI app for one campaign; nothing is written until the first pledge.

    Checked here, so that any WSGI server refuses to run it: no private identity under data/.
    """
    found = sealing.find_identities(config.data_dir)
    if found:
        raise PrivateKeyInData(", ".join(str(p) for p in found))
    bundle = served_bundle(config, datetime.fromtimestamp(clock(), UTC).date())
    site = Site(config, clock, bundle_url or (BUNDLE_URL if bundle else ""), bundle, heartbeat)
    app = App(site)
    app.hook("before_request")(before_request)
    page_routes(app, site, bundle)
    pledge_routes(app, site)
    for status, heading_key, text_key in (
        (400, "site.error_title", "site.error_text"),
        (404, "", ""),
        (405, "site.error_title", "errors.method_not_allowed"),
        (413, "errors.too_large_title", "errors.too_large_text"),
        (500, "site.error_title", "site.error_text"),
    ):
        app.error(status)(error_page(site, status, heading_key, text_key))
    return app


LANG = "/<lang:re:{}>".format("|".join(LANGS))  # the language segment of every page's route


def before_request() -> None:
    """Keep tracebacks nowhere, tame Content-Type, and refuse a too large body before it is read."""
    # Bottle writes a traceback to wsgi.errors on a crash; a traceback can quote request
    # data, so it goes nowhere and the 500 handler prints only the exception's type.
    request.environ["wsgi.errors"] = NOWHERE
    # Bottle's header parser crashes on a parameter without '=' ("text/plain;x"), and the
    # app reads no parameter (the form is URL-encoded UTF-8): keep only the media type.
    ctype = request.environ.get("CONTENT_TYPE", "")
    if ";" in ctype:
        request.environ["CONTENT_TYPE"] = ctype.split(";", 1)[0].strip()
    # Checked before Bottle reads the body, so a huge upload gets a fast answer.
    try:
        length = int(request.environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = pledges.MAX_BODY + 1
    if length > pledges.MAX_BODY:
        site = request.app.config["pledgebox.site"]
        html = site.pages.message(path_lang(), "errors.too_large_title", "errors.too_large_text")
        raise HTTPResponse(dynamic(413, html), **current_response())


def page_routes(app: App, site: Site, bundle) -> None:
    """The language redirects, the pages (through Bottle when not answered before it) and the bundle, if any."""

    @app.get("/")
    def root():
        lang = best_language(request.environ.get("HTTP_ACCEPT_LANGUAGE", ""))
        headers(303, (("Location", f"/{lang}/"), ("Vary", "Accept-Language")))
        return b""

    @app.get(LANG)
    def no_slash(lang):
        headers(303, (("Location", f"/{lang}/"),))
        return b""

    @app.get(LANG + "/")
    def appeal(lang):
        return static(site, "appeal", lang)

    @app.get(LANG + "/privacy")
    def privacy(lang):
        return static(site, "privacy", lang)

    @app.get(LANG + "/mirror")
    def mirror(lang):
        return static(site, "mirror", lang)

    if bundle:

        @app.get(BUNDLE_URL)
        def mirror_bundle():
            if site.current_bundle() is None:  # expired since the server started
                return static(site, "not_found", path_lang(), 404)
            headers(200, (("Content-Disposition", f'attachment; filename="{ARCHIVE}"'),), cache="max-age=300")
            response.content_type = "application/gzip"
            return bundle.raw


def pledge_routes(app: App, site: Site) -> None:
    """The form's two steps: check, then confirm."""

    @app.get(LANG + "/pledge")
    @app.get(LANG + "/pledge/confirm")
    def pledge_get(lang):
        # A reload or a shared link lands on the form instead of an error.
        headers(303, (("Location", f"/{lang}/#pledge"),))
        return b""

    @app.post(LANG + "/pledge")
    def pledge(lang):
        return send(site.check(read_values(), lang, request.environ.get(circuits.ENVIRON_KEY)))

    @app.post(LANG + "/pledge/confirm")
    def confirm(lang):
        return send(site.confirm(read_values(), lang, request.environ.get(circuits.ENVIRON_KEY)))


def error_page(site: Site, status: int, heading_key: str, text_key: str):
    """The handler for one error status: a translated page, in the language of the path."""

    def handler(_error):
        lang = path_lang()
        if status == 404:
            return static(site, "not_found", lang, 404)
        if status == 500:
            print(f"pledgebox: internal error ({type(_error.exception).__name__})", file=sys.stderr, flush=True)
        extra = (("Allow", _error.headers.get("Allow", "")),) if status == 405 and _error.headers else ()
        return dynamic(status, site.pages.message(lang, heading_key, text_key), *extra)

    return handler
