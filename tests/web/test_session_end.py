"""Sessions that really end."""


from tests import factories
from tests.conftest import csrf_from

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
