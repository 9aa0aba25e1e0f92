import re
from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace

from app.i18n import Formats, day, instant, money, number
from tests import factories
from tests.conftest import login


def test_amounts_and_dates_follow_the_locale(web_app):
    with web_app.test_request_context("/"):
        from flask import session

        assert money(Decimal("1234567.89")).replace("\u202f", " ").replace("\xa0", " ") == "1 234 567,89 €"
        assert day(date(2027, 3, 1)) == "1er mars 2027"
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


def test_formats_bound_to_the_request_format_as_the_filters(web_app):
    """`Formats` (a table's figures formatted in the view) writes what the filters write, in either language."""
    import flask_babel
    from flask import session

    noon = datetime(2027, 3, 1, 11, 0, tzinfo=UTC)
    for lang in ("fr", "en"):
        with web_app.test_request_context("/"):
            session["lang"] = lang
            flask_babel.refresh()
            formats = Formats()
            for amount in (Decimal("1234567.89"), Decimal("0.5"), 12, None, ""):
                assert formats.money(amount) == money(amount) and formats.money(amount, False) == money(amount, False)
            for value, places in ((Decimal("12.345"), 2), (Decimal("7.5"), None), (1500, 1), (None, 2)):
                assert formats.number(value, places) == number(value, places)
            for moment in (noon, None):
                assert formats.instant(moment) == instant(moment)
                assert formats.instant(moment, seconds=True) == instant(moment, seconds=True)
            shown = formats.money(Decimal("1234.5")).replace("\xa0", " ").replace("\u202f", " ")
            assert shown == {"fr": "1 234,50 €", "en": "€1,234.50"}[lang]


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


def test_french_typography_of_dates_sirets_sizes_and_deadlines(web_app):
    from app.calls.services.deadlines import deadline_warnings
    from app.i18n import filesize, siret

    with web_app.test_request_context("/"):
        assert day(date(2027, 4, 1)) == "1er avr. 2027" and day(date(2027, 4, 1), "long") == "1er avril 2027"
        assert day(date(2027, 4, 2), "long") == "2 avril 2027"
        assert siret("12345678900012") == "123\u00a0456\u00a0789\u00a000012"
        assert siret("123 456 789 00012") == siret("12345678900012") and siret("ABC") == "ABC"
        assert filesize(12_595).replace("\u202f", " ") == "12,3 Ko"
        assert filesize(3 * 1024 * 1024) == "3,0 Mo"
        # instants without seconds, in Paris time
        assert instant(datetime(2026, 12, 10, 11, 0, tzinfo=UTC)) == "10 déc. 2026, 12:00"
        call = SimpleNamespace(
            published_at=None, bid_deadline=datetime(2026, 12, 10, 11, 0, tzinfo=UTC), standstill_days=None
        )
        [warning] = deadline_warnings(call, "formal", datetime(2026, 12, 10, 11, 0, tzinfo=UTC))
        assert "0,0 jour ;" in warning.replace("\u202f", " ") and "0,0 jours" not in warning
        [warning] = deadline_warnings(call, "formal", datetime(2026, 12, 7, 11, 0, tzinfo=UTC))
        assert "3,0 jours" in warning
    with web_app.test_request_context("/"):
        from flask import session

        session["lang"] = "en"
        import flask_babel

        flask_babel.refresh()
        assert day(date(2027, 4, 1)) == "Apr 1, 2027" and filesize(12_595) == "12.3 KB"
        assert instant(datetime(2026, 12, 10, 11, 0, tzinfo=UTC)) == "Dec 10, 2026, 12:00\u202fPM"
        [warning] = deadline_warnings(call, "formal", datetime(2026, 12, 10, 11, 0, tzinfo=UTC))
        assert "is 0.0 days;" in warning
        [warning] = deadline_warnings(call, "formal", datetime(2026, 12, 9, 11, 0, tzinfo=UTC))
        assert "is 1.0 day;" in warning


def test_the_french_catalog_uses_one_apostrophe_and_french_quotes():
    """Typographic apostrophes (l’Université, n’est) and « » quotes in every French message, never ' or “ ”."""
    from pathlib import Path

    from babel.messages.pofile import read_po

    catalog = Path(__file__).resolve().parents[1] / "app" / "translations" / "fr" / "LC_MESSAGES" / "messages.po"
    with catalog.open("rb") as handle:
        messages = [m for m in read_po(handle) if m.id]
    texts = [t for m in messages for t in (m.string if isinstance(m.string, tuple) else (m.string,))]
    assert not [t for t in texts if re.search(r"[A-Za-zÀ-ÿ]'[A-Za-zÀ-ÿ0-9]", t)]
    assert not [t for t in texts if "“" in t or "”" in t]
