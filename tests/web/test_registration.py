"""Supplier registration tells nobody whether an email or a SIRET is known: the page always answers "check your mail",
and the mail says what happened to the mailbox's owner only. The account exists once its email is confirmed; the
registration, password and invitation forms are throttled."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from app.accounts.models import User
from app.clock import utcnow
from app.organizations.models import SupplierCompany
from tests import factories
from tests.conftest import change_password, csrf_from, login, make_app, post_form

NEW_EMAIL = "marie@nettoyage.example.fr"
NEW_SIRET = "73282932000074"
LINK = re.compile(r"http://localhost(/register/confirm/[\w.-]+)")


def registration(**overrides) -> dict:
    data = {
        "company_name": "Nettoyage Bourguignon",
        "siret": NEW_SIRET,
        "postcode": "21000",
        "city": "Dijon",
        "is_sme": "y",
        "trades": "90910000,90919200",
        "full_name": "Marie Curie",
        "email": NEW_EMAIL,
    }
    data.update(overrides)
    return data


def mails(caplog) -> list[tuple[str, str]]:
    """(recipient, whole message) of every mail written to the log."""
    found = []
    for record in caplog.records:
        if record.name == "mutualis.mail":
            text = record.getMessage()
            found.append((re.search(r"to=(\S+)", text).group(1), text))
    return found


def register(client, caplog, **overrides):
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="mutualis.mail"):
        response = post_form(client, "/register", registration(**overrides))
    return response, mails(caplog)


def visible_text(html: str) -> str:
    html = re.sub(r'name="csrf[-_]token"[^>]*>', "", html)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


@pytest.fixture
def known(db):
    """An existing supplier account (its own company) and another registered company."""
    factories.user("supplier", email="deja@inscrit.example.fr")
    company = factories.supplier_company(siret="35600000000048", name="Société existante")
    factories.user("supplier", email="gerant@existante.example.fr", supplier=company)
    db.session.commit()


def test_registration_answers_the_same_whether_the_email_or_the_siret_is_known(new_client, known, caplog, db):
    answers = []
    for overrides in ({}, {"email": "deja@inscrit.example.fr"}, {"siret": "35600000000048"}):
        client = new_client()
        response, _sent = register(client, caplog, **overrides)
        assert response.status_code == 302
        page = client.get(response.headers["Location"])
        answers.append((response.headers["Location"], page.status_code, visible_text(page.get_data(as_text=True))))
    assert answers[0] == answers[1] == answers[2]
    assert "Consultez votre messagerie" in answers[0][2]
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 2  # nothing is created before the confirmation


def test_the_owner_of_a_known_email_is_told_by_mail(client, known, caplog):
    _response, sent = register(client, caplog, email="deja@inscrit.example.fr")
    assert [to for to, _text in sent] == ["deja@inscrit.example.fr"]
    assert "vous avez déjà un compte" in sent[0][1] and "/login" in sent[0][1]
    assert not LINK.search(sent[0][1])


def test_the_users_of_a_known_company_and_the_registrant_are_told_by_mail(client, known, caplog):
    _response, sent = register(client, caplog, siret="35600000000048")
    assert sorted(to for to, _text in sent) == ["gerant@existante.example.fr", NEW_EMAIL]
    told = dict(sent)
    assert "35600000000048" in told["gerant@existante.example.fr"] and NEW_EMAIL in told["gerant@existante.example.fr"]
    assert "déjà inscrite" in told[NEW_EMAIL] and not LINK.search(told[NEW_EMAIL])


def test_a_new_supplier_confirms_its_email_chooses_a_password_and_is_logged_in(client, caplog, db):
    _response, sent = register(client, caplog)
    assert [to for to, _text in sent] == [NEW_EMAIL]
    path = LINK.search(sent[0][1]).group(1)
    assert "Marie Curie" in client.get(path).get_data(as_text=True)
    response = post_form(client, path, {"password": "un-mot-de-passe", "confirm": "un-mot-de-passe"})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    company = db.session.scalar(sa.select(SupplierCompany).where(SupplierCompany.siret == NEW_SIRET))
    assert company is not None and company.is_sme and company.city == "Dijon"
    assert [t.cpv_code for t in company.trades] == ["90910000", "90919200"]
    user = db.session.scalar(sa.select(User).where(User.email == NEW_EMAIL))
    assert user.role == "supplier" and user.supplier_id == company.id and user.full_name == "Marie Curie"
    assert client.get("/account/password").status_code == 200  # logged in


def test_the_confirmation_link_refuses_a_short_or_common_password_then_works_once(new_client, client, caplog, db):
    _response, sent = register(client, caplog)
    path = LINK.search(sent[0][1]).group(1)
    page = post_form(client, path, {"password": "1234567890", "confirm": "1234567890"}).get_data(as_text=True)
    assert "trop courant" in page
    page = post_form(client, path, {"password": "court", "confirm": "court"}).get_data(as_text=True)
    assert "au moins 10 caractères" in page
    assert post_form(client, path, {"password": "un-mot-de-passe", "confirm": "un-mot-de-passe"}).status_code == 302
    again = new_client().get(path)
    assert again.status_code == 404 and "déjà été utilisé" in again.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(SupplierCompany.id))) == 1


def test_an_expired_or_altered_confirmation_link_is_refused(new_client, client, caplog):
    _response, sent = register(client, caplog)
    path = LINK.search(sent[0][1]).group(1)
    altered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    assert new_client().get(altered).status_code == 404
    with time_machine.travel(utcnow() + timedelta(hours=49), tick=False):
        expired = new_client().get(path)
    assert expired.status_code == 404 and "expiré" in expired.get_data(as_text=True)


def test_format_errors_are_still_shown_on_the_form(client, caplog):
    response, sent = register(client, caplog, siret="73282932000075", trades="99999999")
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and sent == []
    assert "n’est pas valide" in page
    assert "Code CPV inconnu : 99999999" in page


@pytest.fixture
def behind_proxy(db):
    return make_app(TRUSTED_PROXIES=1)


def _from(app, address: str):
    client = app.test_client()
    client.environ_base["HTTP_X_FORWARDED_FOR"] = address
    return client


def test_registrations_are_throttled_per_address_and_per_email(behind_proxy, caplog):
    client = _from(behind_proxy, "198.51.100.7")
    statuses = [register(client, caplog, email=f"m{i}@example.fr")[0].status_code for i in range(6)]
    assert statuses == [302] * 5 + [429]
    victim = [register(_from(behind_proxy, f"203.0.113.{i}"), caplog)[0].status_code for i in range(4)]
    assert victim == [302] * 3 + [429]  # no flood of mail to one address from many places


def test_wrong_current_passwords_are_throttled_per_account(client, db):
    factories.user("buyer", email="anne@chu.example.fr")
    db.session.commit()
    login(client, "anne@chu.example.fr")
    statuses = [change_password(client, "un-mot-de-passe", current=f"faux-{i}").status_code for i in range(6)]
    assert statuses == [400] * 5 + [429]


def test_invitation_links_and_acceptances_are_throttled(behind_proxy, db):
    from app.accounts.services import invite_user

    admin = factories.user("admin")
    _invitation, token = invite_user(db.session, admin, "new@example.fr", "coordinator", None)
    db.session.commit()
    prober = _from(behind_proxy, "203.0.113.5")
    assert [prober.get(f"/invitations/guess-{i}").status_code for i in range(6)] == [404] * 5 + [429]
    invitee = _from(behind_proxy, "198.51.100.9")
    page = invitee.get(f"/invitations/{token}")
    data = {"full_name": "N", "password": "un-mot-de-passe", "confirm": "autre-chose-ici"}
    data["csrf_token"] = csrf_from(page.get_data(as_text=True))
    statuses = [invitee.post(f"/invitations/{token}", data=data).status_code for _ in range(6)]
    assert statuses == [400] * 5 + [429]


def test_a_registration_confirmed_once_more_after_its_page_was_checked_is_refused_by_the_service(db):
    """The net under two confirmations of one link at once: register_supplier itself refuses values whose email or
    company was registered meanwhile (the page's own check ran before), with already_registered and nothing added."""
    from app import actions
    from app.accounts import services
    from app.errors import Conflict

    values = services.SupplierRegistration(
        email=NEW_EMAIL,
        full_name="Marie Curie",
        company_name="Nettoyage Bourguignon",
        siret=NEW_SIRET,
        postcode="21000",
        city="Dijon",
        is_sme=True,
        trades=["90910000"],
    )
    checked = services.check_supplier_registration(db.session, values).values
    actions.run(lambda: services.register_supplier(db.session, checked, "a long enough passphrase"))
    with pytest.raises(Conflict) as refused:
        actions.run(lambda: services.register_supplier(db.session, checked, "another long passphrase"))
    assert refused.value.code == "already_registered"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User).where(User.email == NEW_EMAIL)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SupplierCompany)) == 1
