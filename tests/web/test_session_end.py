"""Sessions that really end: logging out, changing the password or being deactivated ends every session, remember
cookie and API token of the user, on every device; a token can also be revoked alone."""

import sqlalchemy as sa

from app.accounts.models import User
from tests import factories
from tests.conftest import api_token, change_password, csrf_from, login, post_form

EMAIL = "anne@chu.example.fr"
REMEMBER = "remember_token"


def _login_remembered(client):
    page = client.get("/login")
    token = csrf_from(page.get_data(as_text=True))
    response = client.post(
        "/login", data={"email": EMAIL, "password": factories.PASSWORD, "remember": "y", "csrf_token": token}
    )
    assert response.status_code == 302
    assert client.get_cookie(REMEMBER) is not None
    return client


def _logout(client):
    token = csrf_from(client.get("/").get_data(as_text=True))
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302
    return response


def _logged_in(client) -> bool:
    return client.get("/account/password").status_code == 200


def _copy_cookie(source, target, name):
    cookie = source.get_cookie(name)
    target.set_cookie(name, cookie.value)


def _anne(db):
    factories.user("buyer", email=EMAIL)
    db.session.commit()


def test_logout_with_remember_me_deletes_the_remember_cookie_and_stays_logged_out(client, db):
    _anne(db)
    _login_remembered(client)
    _logout(client)
    assert client.get_cookie(REMEMBER) is None
    assert not _logged_in(client)


def test_a_session_cookie_copied_before_logout_is_void_after_it(new_client, db):
    _anne(db)
    browser, thief = new_client(), new_client()
    login(browser, EMAIL)
    _copy_cookie(browser, thief, "session")
    assert _logged_in(thief)
    _logout(browser)
    assert not _logged_in(thief)


def test_a_remember_cookie_copied_before_logout_is_void_after_it(new_client, db):
    _anne(db)
    browser, thief = new_client(), new_client()
    _login_remembered(browser)
    _copy_cookie(browser, thief, REMEMBER)  # the remember cookie alone logs a new browser in
    assert _logged_in(thief)
    thief.delete_cookie("session")
    _copy_cookie(browser, thief, REMEMBER)
    _logout(browser)
    assert not _logged_in(thief)


def test_logout_ends_the_sessions_of_the_users_other_devices(new_client, db):
    _anne(db)
    laptop, phone = new_client(), new_client()
    login(laptop, EMAIL)
    login(phone, EMAIL)
    _logout(laptop)
    assert not _logged_in(phone)


def test_logout_revokes_the_users_api_tokens(new_client, db):
    _anne(db)
    script, browser = new_client(), new_client()
    headers = api_token(script, EMAIL)
    assert script.get("/api/v1/organizations", headers=headers).status_code == 200
    login(browser, EMAIL)
    _logout(browser)
    response = script.get("/api/v1/organizations", headers=headers)
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthenticated"


def test_a_password_change_revokes_the_users_api_tokens(new_client, db):
    _anne(db)
    script, browser = new_client(), new_client()
    headers = api_token(script, EMAIL)
    login(browser, EMAIL)
    response = change_password(browser, "a-brand-new-secret")
    assert response.status_code == 302
    assert script.get("/api/v1/organizations", headers=headers).status_code == 401
    assert _logged_in(browser)  # the session that changed the password goes on


def test_deactivation_ends_sessions_and_tokens_for_good_even_after_reactivation(new_client, db):
    _anne(db)
    factories.user("admin", email="admin@example.fr")
    db.session.commit()
    anne_id = db.session.scalar(sa.select(User.id).where(User.email == EMAIL))
    script, browser, admin = new_client(), new_client(), new_client()
    headers = api_token(script, EMAIL)
    _login_remembered(browser)
    login(admin, "admin@example.fr")

    deactivated = post_form(admin, f"/admin/users/{anne_id}/deactivate", {}, page="/admin/users")
    assert deactivated.status_code == 302
    assert not _logged_in(browser)
    assert script.get("/api/v1/organizations", headers=headers).status_code == 401
    assert login(new_client(), EMAIL).status_code == 401  # the login page again: the account is closed

    assert post_form(admin, f"/admin/users/{anne_id}/reactivate", {}, page="/admin/users").status_code == 302
    assert not _logged_in(browser)
    assert script.get("/api/v1/organizations", headers=headers).status_code == 401
    assert login(new_client(), EMAIL).status_code == 302  # a new login works again


def test_only_an_admin_deactivates_and_never_their_own_account(new_client, db):
    _anne(db)
    factories.user("coordinator", email="coord@example.fr")
    admin = factories.user("admin", email="admin@example.fr")
    db.session.commit()
    anne_id = db.session.scalar(sa.select(User.id).where(User.email == EMAIL))
    coordinator, admin_client = new_client(), new_client()
    login(coordinator, "coord@example.fr")
    token = csrf_from(coordinator.get("/").get_data(as_text=True))
    assert coordinator.post(f"/admin/users/{anne_id}/deactivate", data={"csrf_token": token}).status_code == 403
    login(admin_client, "admin@example.fr")
    response = post_form(admin_client, f"/admin/users/{admin.id}/deactivate", {}, page="/admin/users")
    assert response.status_code == 403  # the users page again, with the reason
    assert "Vous ne pouvez pas désactiver votre propre compte." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, admin.id).is_active_account and db.session.get(User, anne_id).is_active_account
    missing = post_form(admin_client, "/admin/users/123/deactivate", {}, page="/admin/users")
    assert missing.status_code == 404


def test_delete_tokens_current_revokes_only_the_token_it_is_sent_with(new_client, db):
    _anne(db)
    script, other = new_client(), new_client()
    first, second = api_token(script, EMAIL), api_token(other, EMAIL)
    response = script.delete("/api/v1/tokens/current", headers=first)
    assert response.status_code == 204 and response.data == b""
    refused = script.get("/api/v1/organizations", headers=first)
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "unauthenticated"
    assert script.delete("/api/v1/tokens/current", headers=first).status_code == 401
    assert other.get("/api/v1/organizations", headers=second).status_code == 200


def test_delete_tokens_current_needs_a_bearer_token_and_is_documented(client, db):
    _anne(db)
    assert client.delete("/api/v1/tokens/current").status_code == 401
    login(client, EMAIL)  # a browser session has no token to revoke
    token = csrf_from(client.get("/").get_data(as_text=True))
    response = client.delete("/api/v1/tokens/current", headers={"X-CSRFToken": token})
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthenticated"
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "204" in spec["paths"]["/api/v1/tokens/current"]["delete"]["responses"]
