"""Passwords: at least 10 characters, no composition rules, and none of the common passwords attackers try first;
the remember-me cookie is not sent with cross-site requests."""

import pytest

from app.validation import password_problem
from tests import factories
from tests.conftest import change_password, csrf_from, login, post_form


@pytest.mark.parametrize("password", ["1234567890", "qwertyuiop", "QwertyUiop", "1q2w3e4r5t"])
def test_a_common_password_is_refused_even_when_long_enough(app, password):
    assert "trop courant" in password_problem(password)  # French, the platform's language outside a request


@pytest.mark.parametrize("password", ["cheval agrafe correct", "tout en minuscules", "ÉtéÀDijon2027"])
def test_a_long_uncommon_password_needs_no_digit_capital_or_symbol(app, password):
    assert password_problem(password) is None


def test_a_password_shorter_than_ten_characters_is_refused(app):
    assert "10" in password_problem("neuf-car.")


def test_a_common_password_is_refused_when_changing_the_password(client, db):
    factories.user("buyer", email="anne@chu.example.fr")
    db.session.commit()
    login(client, "anne@chu.example.fr")
    page = change_password(client, "1234567890").get_data(as_text=True)
    assert "Ce mot de passe est trop courant" in page
    assert login(client.application.test_client(), "anne@chu.example.fr", "1234567890").status_code == 401


def test_a_common_password_is_refused_when_accepting_an_invitation(client, db):
    from app.accounts.services import invite_user

    admin = factories.user("admin")
    _invitation, token = invite_user(db.session, admin, "new@example.fr", "coordinator", None)
    db.session.commit()
    page = post_form(
        client, f"/invitations/{token}", {"full_name": "Nouvelle", "password": "qwertyuiop", "confirm": "qwertyuiop"}
    ).get_data(as_text=True)
    assert "Ce mot de passe est trop courant" in page


def test_the_remember_cookie_is_not_sent_with_cross_site_requests(client, db):
    factories.user("buyer", email="anne@chu.example.fr")
    db.session.commit()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login",
        data={"email": "anne@chu.example.fr", "password": factories.PASSWORD, "remember": "y", "csrf_token": token},
    )
    remember = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("remember_token="))
    assert "SameSite=Lax" in remember and "HttpOnly" in remember
