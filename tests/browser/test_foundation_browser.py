import logging
import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from app.demo import seed_demo
from app.organizations.models import SupplierCompany

pytestmark = pytest.mark.browser


def test_demo_coordinator_logs_in_and_switches_language(page, db):
    seed_demo(db.session)
    db.session.commit()
    page.goto("/login")
    page.get_by_label("Adresse électronique").fill("coordination@demo.mutualis.fr")
    page.get_by_label("Mot de passe").fill("mutualis-demo")
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Coordination des achats")
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Purchasing coordination")
    expect(page.locator("html")).to_have_attribute("lang", "en")


def test_supplier_registers_with_the_cpv_picker_and_confirms_by_mail(page, db, caplog):
    page.goto("/register")
    page.get_by_label("Raison sociale").fill("Propreté Dijonnaise")
    page.get_by_label("SIRET").fill("732 829 320 00074")
    page.get_by_label("Code postal").fill("21000")
    picker = page.locator("#trades-search")
    picker.fill("nettoyage de bureaux")
    option = page.get_by_role("option").filter(has_text="90919200")
    option.click()
    expect(page.locator(".cpv-chip")).to_have_count(1)
    page.get_by_label("Votre nom").fill("Jeanne Martin")
    page.get_by_label("Adresse électronique").fill("jeanne@proprete.example.fr")
    with caplog.at_level(logging.INFO, logger="mutualis.mail"):
        page.get_by_role("button", name=re.compile("Créer mon compte")).click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Consultez votre messagerie")
    mail = next(r.getMessage() for r in caplog.records if r.name == "mutualis.mail")
    link = re.search(r"http://\S+/register/confirm/\S+", mail).group(0)
    page.goto(link)
    page.get_by_label("Mot de passe", exact=True).fill("mot-de-passe-solide")
    page.get_by_label("Confirmez le mot de passe").fill("mot-de-passe-solide")
    page.get_by_role("button", name=re.compile("Créer mon compte")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Propreté Dijonnaise")
    company = db.session.scalar(sa.select(SupplierCompany).where(SupplierCompany.siret == "73282932000074"))
    assert [t.cpv_code for t in company.trades] == ["90919200"]


def test_the_browser_refuses_a_script_injected_into_a_page(page, db):
    page.goto("/login")
    with page.expect_console_message(lambda message: "Content Security Policy" in message.text):
        page.evaluate(
            "() => { const s = document.createElement('script'); s.textContent = 'window.injected = 1';"
            " document.body.appendChild(s); }"
        )
    assert page.evaluate("() => window.injected") is None
    page.context.csp_violations.clear()  # the refusal this test provoked
