import logging
from datetime import timedelta

import sqlalchemy as sa

from app.accounts.models import Invitation, User
from app.clock import utcnow
from app.organizations.models import SupplierCompany
from tests import factories
from tests.conftest import change_password, csrf_from, login, post_form


def test_login_with_right_credentials_opens_the_role_home_page(client, db):
    factories.user("buyer", email="anne@chu.example.fr")
    db.session.commit()
    response = login(client, "anne@chu.example.fr")
    assert response.status_code == 302
    home = client.get("/").get_data(as_text=True)
    assert "Organisation" in home  # the buyer's organization name is the page heading


def test_wrong_password_and_unknown_email_get_the_same_generic_message(client, db):
    factories.user("buyer", email="anne@chu.example.fr")
    db.session.commit()
    wrong_password = login(client, "anne@chu.example.fr", "not-the-password").get_data(as_text=True)
    unknown_email = login(client, "nobody@chu.example.fr", "not-the-password").get_data(as_text=True)
    message = "Adresse électronique ou mot de passe incorrect."
    assert message in wrong_password and message in unknown_email


def test_logout_ends_the_session(client, db):
    factories.user("coordinator", email="coord@dm.example.fr")
    db.session.commit()
    login(client, "coord@dm.example.fr")
    token = csrf_from(client.get("/").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/admin/suppliers").status_code == 302  # back to the login page


def test_changing_the_password_logs_out_other_sessions(new_client, db):
    factories.user("buyer", email="anne@chu.example.fr")
    db.session.commit()
    first, second = new_client(), new_client()
    login(first, "anne@chu.example.fr")
    login(second, "anne@chu.example.fr")
    response = change_password(first, "a-brand-new-secret")
    assert response.status_code == 302
    assert first.get("/account/password").status_code == 200
    assert second.get("/account/password").status_code == 302  # its session is void now
    assert login(second, "anne@chu.example.fr", "a-brand-new-secret").status_code == 302


def test_change_password_refuses_a_wrong_current_password_and_a_short_one(client, db):
    factories.user("buyer", email="anne@chu.example.fr")
    db.session.commit()
    login(client, "anne@chu.example.fr")
    page = change_password(client, "long-enough-pw", current="wrong-one-here").get_data(as_text=True)
    assert "Le mot de passe actuel est incorrect." in page
    page = change_password(client, "short").get_data(as_text=True)
    assert "10" in page and "is-invalid" in page


def _registration(**overrides):
    data = {
        "company_name": "Nettoyage Bourguignon",
        "siret": "73282932000074",
        "postcode": "21000",
        "city": "Dijon",
        "is_sme": "y",
        "trades": "90910000,90919200",
        "full_name": "Marie Curie",
        "email": "marie@nettoyage.example.fr",
    }
    data.update(overrides)
    return data


def test_registration_refuses_an_invalid_siret_on_its_field(client, db):
    page = post_form(client, "/register", _registration(siret="73282932000075")).get_data(as_text=True)
    assert "Ce SIRET n’est pas valide" in page
    assert db.session.scalar(sa.select(sa.func.count(SupplierCompany.id))) == 0


def test_admin_invites_a_buyer_who_accepts_through_the_link(new_client, client, db, caplog):
    factories.user("admin", email="admin@example.fr")
    chu = factories.organization("CHU", name="CHU Dijon Bourgogne")
    db.session.commit()
    login(client, "admin@example.fr")
    with caplog.at_level(logging.INFO, logger="mutualis.mail"):
        response = post_form(
            client,
            "/admin/invitations/new",
            {"email": "acheteur@chu.example.fr", "role": "buyer", "organization_id": str(chu.id)},
        )
    assert response.status_code == 302
    mail = next(r.getMessage() for r in caplog.records if r.name == "mutualis.mail")
    assert "to=acheteur@chu.example.fr" in mail
    link = mail[mail.index("http://localhost/invitations/") :].split()[0]
    path = link.replace("http://localhost", "")

    invitee = new_client()
    assert (
        post_form(
            invitee, path, {"full_name": "Paul", "password": "mot-de-passe-long", "confirm": "mot-de-passe-long"}
        ).status_code
        == 302
    )
    user = db.session.scalar(sa.select(User).where(User.email == "acheteur@chu.example.fr"))
    assert user.role == "buyer" and user.organization_id == chu.id
    assert invitee.get(path).status_code == 404  # one use only


def test_expired_invitation_link_is_refused(client, db):
    from app.accounts.services import invite_user

    admin = factories.user("admin")
    invitation, token = invite_user(db.session, admin, "late@example.fr", "coordinator", None)
    invitation.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    response = client.get(f"/invitations/{token}")
    assert response.status_code == 404
    assert "expiré" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(Invitation.accepted_at)) is None


def test_login_is_rate_limited_after_repeated_failures(client, db):
    factories.user("buyer", email="anne@chu.example.fr")
    db.session.commit()
    statuses = [login(client, "anne@chu.example.fr", f"wrong-{i}").status_code for i in range(6)]
    assert statuses[:5] == [401] * 5  # the login page again, refused
    assert statuses[5] == 429
    assert "Trop de tentatives" in login(client, "anne@chu.example.fr").get_data(as_text=True)


def test_a_tampered_session_cookie_means_logged_out_not_an_error(client, db):
    factories.user("coordinator", email="coord@dm.example.fr")
    db.session.commit()
    login(client, "coord@dm.example.fr")
    cookie = client.get_cookie("session")
    client.set_cookie("session", cookie.value[:-4] + "AAAA")
    response = client.get("/admin/suppliers")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.get("/").status_code == 200


def test_forms_without_a_csrf_token_are_refused(client, db):
    factories.user("buyer", email="anne@chu.example.fr")
    db.session.commit()
    response = client.post("/login", data={"email": "anne@chu.example.fr", "password": "correct-horse-battery"})
    assert response.status_code == 400
    assert "csrf" not in response.get_data(as_text=True).lower() or "<html" in response.get_data(as_text=True)
    assert client.get("/account/password").status_code == 302  # still anonymous
    assert client.post("/register", data=_registration()).status_code == 400
    assert db.session.scalar(sa.select(sa.func.count(SupplierCompany.id))) == 0


def test_login_does_not_redirect_to_another_site(client, db):
    factories.user("buyer", email="anne@chu.example.fr")
    db.session.commit()
    page = client.get("/login?next=https://evil.example.com/")
    token = csrf_from(page.get_data(as_text=True))
    response = client.post(
        "/login?next=https://evil.example.com/",
        data={"email": "anne@chu.example.fr", "password": "correct-horse-battery", "csrf_token": token},
    )
    assert response.headers["Location"] == "/"
