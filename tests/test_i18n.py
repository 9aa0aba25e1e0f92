from datetime import UTC, date, datetime
from decimal import Decimal

from app.i18n import day, instant, money
from tests import factories
from tests.conftest import login


def test_amounts_and_dates_follow_the_locale(web_app):
    with web_app.test_request_context("/"):
        from flask import session

        assert money(Decimal("1234567.89")).replace("\u202f", " ").replace("\xa0", " ") == "1 234 567,89 €"
        assert day(date(2027, 3, 1)) == "1 mars 2027"
        # instants are stored in UTC and shown in Europe/Paris (UTC+1 in winter)
        assert "12:00" in instant(datetime(2027, 3, 1, 11, 0, tzinfo=UTC))
        session["lang"] = "en"
    with web_app.test_request_context("/"):
        from flask import session

        session["lang"] = "en"
        import flask_babel

        flask_babel.refresh()
        assert money(Decimal("1234567.89")) == "€1,234,567.89"
        assert day(date(2027, 3, 1)) == "Mar 1, 2027"


def test_language_switch_changes_the_interface_and_sticks(client):
    assert "Se connecter" in client.get("/login").get_data(as_text=True)
    response = client.get("/lang/en?next=/login")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    page = client.get("/login").get_data(as_text=True)
    assert 'lang="en"' in page and "Log in to Mutualis" in page
    client.get("/lang/fr")
    assert 'lang="fr"' in client.get("/login").get_data(as_text=True)


def test_unknown_language_is_ignored(client):
    client.get("/lang/de")
    assert 'lang="fr"' in client.get("/").get_data(as_text=True)


def test_error_pages_exist_in_both_languages(client):
    assert "Page introuvable" in client.get("/no-such-page").get_data(as_text=True)
    client.get("/lang/en")
    assert "Page not found" in client.get("/no-such-page").get_data(as_text=True)


def test_role_home_pages_render_in_english_too(client, db):
    factories.user("supplier", email="s@example.fr")
    db.session.commit()
    client.get("/lang/en")
    login(client, "s@example.fr")
    page = client.get("/").get_data(as_text=True)
    assert "Your company" in page and "Trades" in page
