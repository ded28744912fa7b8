"""The campaign's pages as HTML, for the live site and its static mirrors alike (no server state here)."""

from __future__ import annotations

import dataclasses

from . import girocode, pledges, sealing
from .i18n import catalogs
from .render import Templates, display_url

TWINNED = ("appeal", "privacy", "mirror")  # pages the language switch links to in the other language


def site_links(lang: str) -> dict[str, str]:
    """The live site's paths in one language; a mirror passes its own relative ones instead."""
    return {
        "appeal": f"/{lang}/",
        "privacy": f"/{lang}/privacy",
        "mirror": f"/{lang}/mirror",
        "pledge": f"/{lang}/pledge",
        "confirm": f"/{lang}/pledge/confirm",
    }


class Pages:
    """One campaign's catalogs and templates, and what each page shows."""

    def __init__(self, config):
        self.config = config
        self.catalogs = catalogs()
        self.templates = Templates()
        self.fingerprints = [
            (o.name, sealing.Recipient.from_string(o.recipient).fingerprint) for o in config.organisers
        ]
        self.signers = [
            (o.name, o.signer, sealing.Signer.from_string(o.signer).fingerprint) for o in config.organisers if o.signer
        ]

    def render(self, name: str, lang: str, page: str = "appeal", *, links=site_links, **values) -> str:
        """Render one template with everything every page needs; links(lang) gives the paths to link to."""
        t = self.catalogs[lang]
        twin = links(t.other)[page if page in TWINNED else "appeal"]
        return self.templates.render(
            name,
            t=t,
            lang=lang,
            url=links(lang),
            twin=twin,
            demo=self.config.demo,
            fingerprints=self.fingerprints,
            currency=self.config.currency,
            **values,
        )

    def appeal(self, lang: str, w, *, links=site_links, **values) -> str:
        """The appeal with a fresh form; w is the widget, None where its figures would go stale."""
        return self.render(
            "appeal",
            lang,
            links=links,
            paragraphs=self.paragraphs(lang),
            w=w,
            defaults=self.form_defaults(),
            **self.form_context(lang),
            **values,
        )

    def about(self, name: str, lang: str, *, bundle: str, links=site_links, **values) -> str:
        """The privacy or mirror page (bundle: where the mirror archive is offered, if anywhere)."""
        return self.render(name, lang, page=name, links=links, signers=self.signers, bundle=bundle, **values)

    def message(self, lang: str, heading_key: str, text_key: str) -> str:
        """A page with one heading and one paragraph, e.g. an error."""
        t = self.catalogs[lang]
        return self.render("message", lang, heading=t(heading_key), text=t(text_key))

    def form(self, lang: str, values: dict, errors: dict | None = None, notice: str = "") -> str:
        """The form alone, refilled with what the donor typed, with each error by its field."""
        return self.render(
            "form_page", lang, v=pledges.printable(values), e=errors or {}, notice=notice, **self.form_context(lang)
        )

    def check(self, lang: str, pledge, values: dict, token: str, notice: str = "", notice_title: str = "") -> str:
        """The 'check your pledge' page, carrying the fields back with a one-time token."""
        method = self.config.method(pledge.method)
        return self.render(
            "check",
            lang,
            pledge=pledge,
            v=values,
            token=token,
            notice=notice,
            notice_title=notice_title,
            fields=pledges.FIELDS,
            designation=self.designation_name(pledge.designation, lang),
            method=self.method_name(method, lang),
        )

    def receipt(self, lang: str, pledge, reference: str) -> str:
        """The receipt: the reference and how to pay, with a GiroCode for SEPA."""
        method = self.config.method(pledge.method)
        if self.config.demo:
            # The demo's payment details are visible placeholders, in the page's language.
            shown = self.catalogs[lang]("receipt.demo_placeholder")
            method = dataclasses.replace(method, beneficiary=shown, address=shown)
        qr, qr_size, iban = "", 0, ""
        if method.kind == "sepa":
            iban = " ".join(method.iban[i : i + 4] for i in range(0, len(method.iban), 4))
            qr, qr_size = girocode.data_uri(method.beneficiary, method.iban, pledge.amount, reference, method.bic)
        return self.render(
            "receipt",
            lang,
            pledge=pledge,
            reference=reference,
            method=method,
            iban=iban,
            qr=qr,
            qr_size=qr_size,
            designation=self.designation_name(pledge.designation, lang),
        )

    def paragraphs(self, lang: str) -> list[list[tuple[str, str]]]:
        """The appeal's paragraphs as (text, href) runs; {link:ID} becomes the group's link."""
        t = self.catalogs[lang]
        out = []
        for i in range(1, 6):
            runs, text = [], t(f"appeal.p{i}")
            while "{link:" in text:
                before, _, rest = text.partition("{link:")
                gid, _, text = rest.partition("}")
                group = self.config.group(gid)
                runs.append((before, ""))
                runs.append(display_url(group.url)[::-1] if group else (group_name_fallback(gid), ""))
            runs.append((text, ""))
            out.append(runs)
        return out

    def form_context(self, lang: str) -> dict:
        """The choices the form offers, translated."""
        t = self.catalogs[lang]
        designations = [(g.id, g.name) for g in self.config.groups] + [(pledges.SPLIT, t("form.split"))]
        return {
            "designations": designations,
            "methods": [(m.id, self.method_name(m, lang)) for m in self.config.methods],
            "max_length": pledges.MAX_LENGTH,
        }

    def form_defaults(self) -> dict:
        """A fresh form: split between the groups, the first payment method."""
        return {"designation": pledges.SPLIT, "method": self.config.methods[0].id}

    def method_name(self, method, lang: str) -> str:
        """'SEPA bank transfer', 'Bargeld per Post', or the crypto label."""
        return self.catalogs[lang](f"form.method_{method.kind}", label=method.label)

    def designation_name(self, designation: str, lang: str) -> str:
        """A group's name, or 'split between both groups'."""
        group = self.config.group(designation)
        return group.name if group else self.catalogs[lang]("form.split")


def group_name_fallback(gid: str) -> str:
    """Show a group id readably when the config does not name it."""
    return gid.replace("-", " ").title()
