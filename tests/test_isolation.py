"""The apps are built once per run; each test still starts from a clean state and requests stay apart from the test."""

from flask import g

from tests import factories
from tests.conftest import _Built


def test_a_request_does_not_see_the_tests_g(app, client, db):
    admin = factories.user("admin", email="admin@example.fr")
    db.session.commit()
    g._login_user = admin  # where Flask-Login keeps the user of the current app context
    assert client.get("/admin/users").status_code == 302


def test_a_request_does_not_see_what_the_test_has_not_committed(app, client, db):
    from tests.conftest import api_token

    factories.user("buyer", email="anne@chu.example.fr")
    db.session.commit()
    headers = api_token(client, "anne@chu.example.fr")
    factories.organization("NEW", name="Pas encore enregistrée", kind="hospital")
    listed = {item["code"] for item in client.get("/api/v1/organizations", headers=headers).get_json()["items"]}
    assert "NEW" not in listed
    db.session.commit()
    listed = {item["code"] for item in client.get("/api/v1/organizations", headers=headers).get_json()["items"]}
    assert "NEW" in listed


def test_what_a_test_changes_on_a_shared_app_is_put_back(web_app):
    with _Built(web_app).for_a_test() as app:
        app.config["MAX_CONTENT_LENGTH"] = 1
        app.config["NEW_SETTING"] = True
        app.extensions["new_extension"] = object()
    assert app.config["MAX_CONTENT_LENGTH"] != 1 and "NEW_SETTING" not in app.config
    assert "new_extension" not in app.extensions
