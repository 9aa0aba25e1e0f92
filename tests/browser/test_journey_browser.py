"""The whole journey through the interface only, once in French and once in English: a supplier registers, buyers of
two organizations record needs (one typed, one imported from a French CSV whose first try has a bad row), the
coordinator forms a group from the overlap map, the members confirm and sign, the lots are set, the group is
constituted and its call published; a supplier asks a question and reads the answer; two suppliers bid and get their
receipts while a buyer sees nothing of the bids; the deadline passes (the server's clock is moved); the coordinator
scores, ranks and awards; the winner and the loser read the outcome; the OCDS and DECP files download.

axe-core checks every page the journey shows: no serious or critical violation. Screenshots of the main pages are
written when TEST_SCREENSHOTS_DIR is set (the README shows the French ones, kept in docs/screenshots)."""

from __future__ import annotations

import json
import logging
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import time_machine
from playwright.sync_api import expect

from app.calls.models import Bid
from tests import factories
from tests.browser.conftest import SCREENSHOTS, assert_accessible, browser_context
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser
DEBUG_DIR = os.environ.get("TEST_FAILURE_SCREENSHOTS_DIR")

# The words of each interface the journey reads or clicks; everything else is found by id.
WORDS = {
    "fr": {
        "login": "Se connecter",
        "register": "Créer mon compte fournisseur",
        "create_account": "Créer mon compte",
        "check_file": "Vérifier le fichier",
        "import_error": "contient des erreurs",
        "confirm_import": "Confirmer l’import",
        "form_group": "Constituer le groupement et inviter les membres",
        "confirm_participation": "Confirmer notre participation",
        "sign": "Signer la convention constitutive",
        "create_lots": "Créer ce lot",
        "constitute": "Constituer le groupement",
        "constituted": "Constitué",
        "prepare_call": "Préparer une consultation",
        "create_draft": "Créer la consultation en brouillon",
        "publish": "Publier la consultation",
        "open": "Ouverte aux offres",
        "ask": "Poser la question",
        "answer": "Publier la réponse",
        "submit_bid": "Déposer mon offre",
        "receipt": "Accusé de réception de l’offre",
        "sealed": "Les offres sont sous pli cacheté jusqu’au",
        "closed": "Clôturée",
        "save_scores": "Enregistrer les notes de toutes les offres",
        "award": "Attribuer",
        "awarded": "Attribuée",
        "won": "votre offre est retenue",
        "lost": "votre offre n’est pas retenue",
    },
    "en": {
        "login": "Log in",
        "register": "Create my supplier account",
        "create_account": "Create my account",
        "check_file": "Check the file",
        "import_error": "has errors",
        "confirm_import": "Confirm the import",
        "form_group": "Form the group and invite the members",
        "confirm_participation": "Confirm our participation",
        "sign": "Sign the convention",
        "create_lots": "Create this lot",
        "constitute": "Constitute the group",
        "constituted": "Constituted",
        "prepare_call": "Prepare a call",
        "create_draft": "Create the draft call",
        "publish": "Publish the call",
        "open": "Open for bids",
        "ask": "Ask the question",
        "answer": "Publish the answer",
        "submit_bid": "Submit my bid",
        "receipt": "Bid receipt",
        "sealed": "Bids are sealed until",
        "closed": "Closed",
        "save_scores": "Save the scores of every bid",
        "award": "Award",
        "awarded": "Awarded",
        "won": "your bid is awarded",
        "lost": "your bid was not retained",
    },
}

HEADER = (
    "Intitulé;Code CPV;Montant annuel HT (€);Date de début;Durée (mois);Nombre de reconductions;"
    "Durée d'une reconduction (mois);Montant total des options HT (€);Code postal de livraison\n"
)
GOOD_ROW = "Électricité des campus dijonnais;09310000;180 000,00;01/09/2027;36;0;;0;21000\n"
BAD_ROW = "Électricité du campus du Creusot;09310000;beaucoup;31/02/2027;36;0;;0;71200\n"


def said(text: str) -> re.Pattern:
    """A text as the interface says it, with either apostrophe (’ or ')."""
    return re.compile(re.escape(text).replace("’", "['’]"))


class Journey:
    """One person's browser: every page it shows is checked with axe-core, and the main ones are photographed."""

    def __init__(self, browser, base_url: str, lang: str, who: str):
        self.context = browser_context(browser, base_url)
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        # Confirmation steps before irreversible actions are accepted as a person would.
        self.page.on("dialog", lambda dialog: dialog.accept())
        self.lang = lang
        self.who = who
        self.words = {key: said(text) for key, text in WORDS[lang].items()}
        self.checked: list[str] = []
        self.page.goto(f"/lang/{lang}")

    def check(self, shot: str | None = None) -> None:
        """axe-core on the page as it is now; a screenshot of the viewport under `shot`."""
        self.page.wait_for_load_state("load")
        # A page written by the upload script loads again: check it once it is complete and nothing fades in.
        self.page.wait_for_function(
            "() => document.readyState === 'complete'"
            " && document.getAnimations().every(animation => animation.playState !== 'running')"
        )
        expect(self.page.locator("html")).to_have_attribute("lang", self.lang)
        assert_accessible(self.page)
        self.checked.append(self.page.url)
        if shot and SCREENSHOTS:
            # The first screenful, as a person sees the page on opening it (small files for the README).
            Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(Path(SCREENSHOTS) / f"{shot}-{self.lang}.png"))

    def log_in(self, email: str, password: str = PASSWORD) -> None:
        self.page.goto(f"/lang/{self.lang}")
        self.page.goto("/login")
        self.check("login" if self.who == "coordinator" else None)
        self.page.locator("#email").fill(email)
        self.page.locator("#password").fill(password)
        self.page.get_by_role("button", name=self.words["login"], exact=True).click()
        expect(self.page.locator("#notification-bell")).to_be_visible()
        self.check()

    def close(self) -> None:
        self.context.close()
        assert self.context.csp_violations == []


def confirmed(person: Journey) -> None:
    """The confirmation step of a decisive action (sign, constitute, publish, award): a page says what will happen,
    checked like every page, and the person confirms."""
    expect(person.page.locator("#confirm-question")).to_be_visible()
    person.check()
    person.page.locator("#confirm-form button[type=submit]").click()


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_whole_journey_through_the_interface(lang, browser, live_server, db, caplog):
    start = datetime.now(UTC).replace(microsecond=0)
    with time_machine.travel(start, tick=True) as clock:
        run_the_journey(lang, browser, live_server, db, caplog, clock, start)


def run_the_journey(lang, browser, live_server, db, caplog, clock, start):  # noqa: PLR0915 - one story, told in order
    w = {key: said(text) for key, text in WORDS[lang].items()}
    chu = factories.organization("CHU", name="CHU Dijon Bourgogne", siret="26210006300018", kind="hospital")
    ub = factories.organization("UB", name="Université de Bourgogne", siret="19211237300019", kind="university")
    factories.user("coordinator", email="coord@chu.example.fr", organization_=chu)
    factories.user("buyer", email="anne@chu.example.fr", organization_=chu)
    factories.user("buyer", email="paul@ub.example.fr", organization_=ub)
    rival = factories.supplier_company(
        trades=("09310000",), postcode="71100", city="Chalon-sur-Saône", name="Saône Énergie", siret="41234567800016"
    )
    factories.user("supplier", email="offres@saone.example.fr", supplier=rival)
    db.session.commit()
    people: list[Journey] = []

    def open_browser(who: str) -> Journey:
        person = Journey(browser, live_server, lang, who)
        people.append(person)
        return person

    try:
        # --- A supplier registers (the public page) and confirms by mail. ---------------------------------------
        supplier = open_browser("supplier")
        page = supplier.page
        page.goto("/register")
        supplier.check("register")
        page.locator("#company_name").fill("Énergies de Bourgogne")
        page.locator("#siret").fill("732 829 320 00074")
        page.locator("#postcode").fill("21000")
        page.locator("#city").fill("Dijon")
        page.locator("#trades-search").fill("09310000")
        page.get_by_role("option").filter(has_text="09310000").first.click()
        expect(page.locator(".cpv-chip")).to_have_count(1)
        page.locator("#full_name").fill("Jeanne Martin")
        page.locator("#email").fill("jeanne@energies.example.fr")
        with caplog.at_level(logging.INFO, logger="mutualis.mail"):
            page.get_by_role("button", name=w["register"]).click()
            expect(page.locator("h1")).to_be_visible()
            supplier.check()
        mail = next(r.getMessage() for r in caplog.records if "register/confirm" in r.getMessage())
        page.goto(re.search(r"http://\S+/register/confirm/\S+", mail).group(0))
        supplier.check()
        page.locator("#password").fill("mot-de-passe-solide")
        page.locator("#confirm").fill("mot-de-passe-solide")
        page.get_by_role("button", name=w["create_account"], exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Énergies de Bourgogne")
        supplier.check("supplier-home")

        # --- A CHU buyer types a need. ---------------------------------------------------------------------------
        anne = open_browser("buyer")
        anne.log_in("anne@chu.example.fr")
        page = anne.page
        page.goto("/needs")
        anne.check()
        page.goto("/needs/new")
        anne.check()
        page.locator("#title").fill("Électricité des sites hospitaliers")
        page.locator("#cpv_code-search").fill("09310000")
        page.get_by_role("option").filter(has_text="09310000").first.click()
        expect(page.locator("#cpv_code")).to_have_value("09310000")
        page.locator("#annual_amount").fill("420 000,00" if lang == "fr" else "420,000.00")
        page.locator("#duration_months").fill("36")
        page.locator("#start_date").fill("2027-09-01")
        page.locator("#delivery_postcode").fill("21000")
        page.locator("button[name=submit]").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Électricité des sites hospitaliers")
        anne.check("need")

        # --- A UB buyer imports a French CSV: a bad row first, then the fixed file. -------------------------------
        paul = open_browser("buyer")
        paul.log_in("paul@ub.example.fr")
        page = paul.page
        page.goto("/needs/import")
        paul.check()
        page.locator("#file").set_input_files(
            files=[{"name": "besoins.csv", "mimeType": "text/csv", "buffer": (HEADER + BAD_ROW + GOOD_ROW).encode()}]
        )
        page.get_by_role("button", name=w["check_file"]).click()
        expect(page.locator("#problems-title")).to_be_visible()
        expect(page.locator("table.import-problems tbody tr").first).to_be_visible()
        expect(page.locator("section[aria-labelledby=problems-title]")).to_contain_text(w["import_error"])
        paul.check("import-errors")
        page.locator("#file").set_input_files(
            files=[{"name": "besoins.csv", "mimeType": "text/csv", "buffer": (HEADER + GOOD_ROW).encode()}]
        )
        page.get_by_role("button", name=w["check_file"]).click()
        expect(page.locator("table.import-preview tbody tr")).to_have_count(1)
        paul.check()
        page.get_by_role("button", name=w["confirm_import"]).click()
        expect(page.locator("table.needs-table")).to_contain_text("Électricité des campus dijonnais")
        paul.check("needs-list")

        # --- The coordinator opens the overlap map and forms the group from the overlap. --------------------------
        coordinator = open_browser("coordinator")
        coordinator.log_in("coord@chu.example.fr")
        page = coordinator.page
        page.goto("/overlaps")
        coordinator.check("overlaps")
        overlap = page.locator("tbody.overlap").first
        form_group = overlap.locator("a.form-group-action")
        expect(form_group).to_be_visible()  # not inside the collapsed list of needs
        form_group.click()
        coordinator.check("group-new")
        page.locator("#name").fill("Électricité 2027-2030")
        page.get_by_role("button", name=w["form_group"]).click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Électricité 2027-2030")
        group_url = page.url
        coordinator.check()

        # --- Each member confirms its participation; the coordinator sets the lots; the members sign. -----------
        for member in (anne, paul):
            member.page.goto(group_url)
            member.check()
            member.page.get_by_role("button", name=w["confirm_participation"]).click()
            expect(member.page.locator(".alert-success").first).to_be_visible()
            member.check()
        page.reload()
        page.locator("#lots").get_by_role("button", name=w["create_lots"]).click()
        expect(page.locator(".lots-table tbody tr")).to_have_count(1)
        coordinator.check()
        # A single lot: the coordinator records why, as the code requires, before the members sign.
        page.locator("#single-lot-reason a").click()
        coordinator.check()
        page.locator("#single_lot_reason").fill(
            "Un seul fournisseur d’électricité par point de livraison : l’allotissement n’apporterait rien."
        )
        page.locator("main form button[type=submit]").last.click()
        expect(page.locator("#single-lot-reason")).to_contain_text("point de livraison")
        for member, reference in ((anne, "Délibération n° 2026-41"), (paul, "Décision du président n° 2026-118")):
            member.page.goto(group_url)
            member.page.locator("#sign-signed_on").fill((start.date() - timedelta(days=1)).isoformat())
            member.page.locator("#sign-deliberation_reference").fill(reference)
            member.page.get_by_role("button", name=w["sign"]).click()
            confirmed(member)
            expect(member.page.locator(".alert-success").first).to_be_visible()
            member.check()
        # A buyer sees its own need as a link, the other member's without one.
        expect(anne.page.locator("table.group-needs a", has_text="Électricité des sites hospitaliers")).to_have_count(1)
        expect(anne.page.locator("table.group-needs a", has_text="Électricité des campus dijonnais")).to_have_count(0)
        page.reload()
        page.get_by_role("button", name=w["constitute"], exact=True).click()
        confirmed(coordinator)
        expect(page.locator("#group-status")).to_have_text(w["constituted"])
        coordinator.check("group")

        # --- The coordinator prepares the call and publishes it. ------------------------------------------------
        page.get_by_role("link", name=w["prepare_call"]).click()
        coordinator.check("call-new")
        questions_until = (start + timedelta(days=20)).strftime("%Y-%m-%dT12:00")
        bids_until = (start + timedelta(days=40)).strftime("%Y-%m-%dT12:00")
        page.locator("#title").fill("Fourniture d’électricité 2027-2030")
        page.locator("#description").fill("Électricité des sites des deux membres, 36 mois à compter du 1er septembre.")
        page.locator("#questions_deadline").fill(questions_until)
        page.locator("#bid_deadline").fill(bids_until)
        if not page.locator("#lots-0-title").input_value():
            page.locator("#lots-0-title").fill("Électricité")
        page.locator("#lots-0-estimated_amount").fill("1 800 000,00" if lang == "fr" else "1,800,000.00")
        page.get_by_role("button", name=w["create_draft"]).click()
        expect(page.locator("#publish")).to_be_visible()
        coordinator.check()
        page.get_by_role("button", name=w["publish"]).click()
        confirmed(coordinator)
        expect(page.locator("#call-status")).to_have_text(w["open"])
        call_url = page.url
        coordinator.check("call")

        # --- A supplier asks a question; the coordinator answers; the answer appears. --------------------------
        page = supplier.page
        page.goto("/calls")
        supplier.check("calls-list")
        page.goto(call_url)
        supplier.check()
        page.locator("#question-form textarea").fill("Les sites sont-ils tous raccordés en basse tension ?")
        page.get_by_role("button", name=w["ask"]).click()
        supplier.check()
        coordinator.page.reload()
        answer = coordinator.page.locator("form.answer-form").first
        answer.locator("textarea").fill("Non : deux sites hospitaliers sont en haute tension (HTA).")
        answer.get_by_role("button", name=w["answer"]).click()
        expect(coordinator.page.locator(".qa-list")).to_contain_text("HTA")
        coordinator.check()
        page.reload()
        expect(page.locator(".qa-list")).to_contain_text("deux sites hospitaliers sont en haute tension")
        supplier.check()

        # --- Two suppliers bid and get their receipts. -------------------------------------------------------
        rival_page = open_browser("supplier")
        rival_page.log_in("offres@saone.example.fr")
        for person, amount, note in (
            (supplier, ("1 650 000,00", "1,650,000.00"), "Électricité renouvelable certifiée, suivi mensuel."),
            (rival_page, ("1 590 000,00", "1,590,000.00"), "Prix fixe sur trois ans."),
        ):
            p = person.page
            p.goto(call_url)
            form = p.locator("form.bid-form").first
            form.locator("input[name$='-amount']").fill(amount[0] if lang == "fr" else amount[1])
            form.locator("textarea[name$='-technical_note']").fill(note)
            form.get_by_role("button", name=w["submit_bid"]).click()
            expect(p.get_by_role("heading", level=1)).to_have_text(w["receipt"])
            expect(p.locator("#receipt-sha256")).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
            person.check("receipt" if person is supplier else None)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Bid)) == 2

        # --- A buyer cannot see the bids: sealed, no amount, no bidder. ---------------------------------------
        paul.page.goto(call_url)
        expect(paul.page.locator("#sealed-notice")).to_contain_text(w["sealed"])
        body = paul.page.locator("main").inner_text()
        assert "Saône Énergie" not in body and "Énergies de Bourgogne" not in body
        assert not re.search(r"1[\s\u202f.,]?[56]\d0[\s\u202f.,]?000", body)
        paul.check()

        # --- The deadline passes; the coordinator scores, ranks and awards. ------------------------------------
        # Sessions end after a while without activity: everyone logs in again, as they would weeks later.
        clock.move_to(start + timedelta(days=41))
        coordinator.log_in("coord@chu.example.fr")
        supplier.log_in("jeanne@energies.example.fr", "mot-de-passe-solide")
        rival_page.log_in("offres@saone.example.fr")
        page = coordinator.page
        page.goto(call_url)
        expect(page.locator("#call-status")).to_have_text(w["closed"])
        rows = page.locator("table.ranking tbody tr")
        expect(rows).to_have_count(2)
        coordinator.check()
        for name, technical, environmental in (("Énergies de Bourgogne", "90", "85"), ("Saône Énergie", "40", "30")):
            bid_id = page.locator("table.ranking tbody tr", has_text=name).get_attribute("data-bid")
            for criterion, score in (("technical", technical), ("environmental", environmental)):
                score_input = page.locator(f"#score-{bid_id}-{criterion}")
                if score_input.count():
                    score_input.fill(score)
        # Every bid of the lot is scored in one form.
        page.locator("form[id^=scores-lot-]").get_by_role("button", name=w["save_scores"]).click()
        expect(page.locator(".alert-success").first).to_be_visible()
        coordinator.check("call-evaluation")
        first = page.locator("table.ranking tbody tr").first
        expect(first).to_contain_text("Énergies de Bourgogne")  # best value, not the lowest price
        first.get_by_role("button", name=w["award"], exact=True).click()
        confirmed(coordinator)
        expect(page.locator(".award-line")).to_contain_text("Énergies de Bourgogne")
        coordinator.check("call-awarded")

        # --- The winner and the loser read the outcome on the call page. ---------------------------------------
        for person, outcome in ((supplier, w["won"]), (rival_page, w["lost"])):
            person.page.goto(call_url)
            notice = person.page.locator("#award-notice")
            expect(notice).to_contain_text("Énergies de Bourgogne")
            expect(notice.locator(".own-outcome")).to_have_text(outcome)
            expect(person.page.locator("table.call-lots")).to_contain_text(w["awarded"])
            person.check("call-outcome" if person is rival_page else None)

        # --- The open data: OCDS (the call's package) and DECP (the awarded contracts) download. ---------------
        ocds_href = page.locator("#ocds-link").get_attribute("href")
        ocds = page.context.request.get(ocds_href)
        assert ocds.ok
        package = ocds.json()
        assert package["releases"][0]["tender"]["title"] == "Fourniture d’électricité 2027-2030"
        with page.expect_download() as download:
            page.locator("#decp-link").click()
        decp = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
        assert "Énergies de Bourgogne" in json.dumps(decp, ensure_ascii=False) or "73282932000074" in json.dumps(decp)
    except Exception:
        for index, person in enumerate(people):
            if DEBUG_DIR:
                person.page.screenshot(path=f"{DEBUG_DIR}/journey-failed-{index}-{person.who}.png", full_page=True)
        raise
    finally:
        for person in people:
            person.close()
    assert sum(len(person.checked) for person in people) > 40
