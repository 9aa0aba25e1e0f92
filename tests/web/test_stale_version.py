"""Two writers on one `version`: one succeeds, the other gets 409 stale_version (never a 500), with the current
values where the page or the API shows them — one after the other, and at the same time in two real sessions."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from app import actions
from app.errors import Conflict
from app.extensions import db as _db
from app.groups import services as group_services
from app.groups.models import PurchaseGroup
from app.needs import services as need_services
from app.needs.models import Need
from tests import factories
from tests.conftest import api_token, csrf_from, english


@pytest.fixture
def group(db):
    """A forming group of two organizations, its coordinator coord@x.fr (who is also DM's buyer's colleague)."""
    dm, chu = factories.organization("DM"), factories.organization("CHU")
    coordinator = factories.user("coordinator", email="coord@x.fr", organization_=dm)
    factories.user("coordinator", email="other@x.fr", organization_=dm)
    factories.user("buyer", email="anne@chu.fr", organization_=chu)
    needs = [factories.need(dm, annual="20000.00"), factories.need(chu, annual="100000.00")]
    formed = group_services.form_group(db.session, coordinator, name="Électricité", need_ids=[n.id for n in needs])
    db.session.commit()
    return formed.id


def test_api_two_patches_with_the_same_version_one_200_one_409_with_the_current_values(new_client, db, group):
    first, second = (api_token(new_client(), email) for email in ("coord@x.fr", "other@x.fr"))
    version = new_client().get(f"/api/v1/groups/{group}", headers=first).get_json()["version"]
    saved = new_client().patch(
        f"/api/v1/groups/{group}", json={"version": version, "name": "Électricité 2027"}, headers=first
    )
    assert saved.status_code == 200 and saved.get_json()["version"] == version + 1
    stale = new_client().patch(
        f"/api/v1/groups/{group}", json={"version": version, "name": "Électricité verte"}, headers=second
    )
    assert stale.status_code == 409
    error = stale.get_json()["error"]
    assert error["code"] == "stale_version"
    assert error["details"]["current_version"] == version + 1 and error["details"]["current"]["name"] == (
        "Électricité 2027"
    )
    db.session.expire_all()
    assert db.session.get(PurchaseGroup, group).name == "Électricité 2027"


def test_api_two_need_patches_with_the_same_version_one_200_one_409(new_client, db):
    org = factories.organization("CHU")
    factories.user("buyer", email="anne@chu.fr", organization_=org)
    need_id = factories.need(org, status="draft").id
    db.session.commit()
    headers = api_token(new_client(), "anne@chu.fr")
    version = new_client().get(f"/api/v1/needs/{need_id}", headers=headers).get_json()["version"]
    assert (
        new_client()
        .patch(f"/api/v1/needs/{need_id}", json={"version": version, "title": "A"}, headers=headers)
        .status_code
        == 200
    )
    stale = new_client().patch(f"/api/v1/needs/{need_id}", json={"version": version, "title": "B"}, headers=headers)
    assert stale.status_code == 409 and stale.get_json()["error"]["code"] == "stale_version"
    db.session.expire_all()
    assert db.session.get(Need, need_id).title == "A"


def test_pages_two_edits_from_the_same_version_one_saved_one_stale_screen(new_client, db, group):
    first, second = english(new_client(), "coord@x.fr"), english(new_client(), "other@x.fr")
    pages = [client.get(f"/groups/{group}/edit").get_data(as_text=True) for client in (first, second)]
    version = db.session.get(PurchaseGroup, group).version

    def save(client, page: str, name: str):
        data = {"csrf_token": csrf_from(page), "version": str(version), "name": name, "cost_sharing": "pro_rata"}
        data["convention_duration_months"] = "48"
        return client.post(f"/groups/{group}/edit", data=data)

    assert save(first, pages[0], "Électricité 2027").status_code == 302
    stale = save(second, pages[1], "Électricité verte")
    assert stale.status_code == 409
    text = stale.get_data(as_text=True)
    assert "This group was changed by someone else since you opened it." in text
    assert "Électricité 2027" in text and 'value="Électricité verte"' in text  # theirs beside what was typed
    db.session.expire_all()
    assert db.session.get(PurchaseGroup, group).name == "Électricité 2027"


def _two_writers_at_once(app, write, attempts: int):
    """Run `write(session)` in two threads, each with its own app context and session: both read the row before
    either writes (a barrier), then both write through actions.run. Returns each thread's result or error."""
    barrier = threading.Barrier(2, timeout=30)
    results: list = [None, None]

    def writer(index: int):
        read_once = [False]

        def action():  # only the first run waits for the other writer: a second run reads the current data
            wait = None if read_once[0] else barrier.wait
            read_once[0] = True
            return write(_db.session, index, wait=wait)

        with app.app_context():
            try:
                results[index] = actions.run(action, attempts=attempts)
            except Exception as error:  # what the second writer gets
                results[index] = error
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return results


@pytest.mark.parametrize("attempts", [2, 1], ids=["the service's own conflict", "the mapped StaleDataError"])
def test_two_concurrent_sessions_on_one_version_one_saves_the_other_gets_stale_version(app, db, group, attempts):
    """Both read version N and pass the service's version check; the second UPDATE finds the row at N+1 (on
    PostgreSQL it waits for the first commit): StaleDataError at the flush. actions.run maps it — after one more
    run on the current data (the service then refuses with the current values) or at once."""
    names = ("Électricité 2027", "Électricité verte")
    emails = ("coord@x.fr", "other@x.fr")

    def write(session, index, wait):
        actor = session.scalar(sa.select(factories.User).where(factories.User.email == emails[index]))
        current = group_services.get_group(session, actor, group)
        if wait:
            wait()  # both have read version 1 before either writes
        group_services.update_group(session, actor, current, {"name": names[index]}, expected_version=1)
        return current.name

    results = _two_writers_at_once(app, write, attempts)
    saved = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(saved) == 1 and len(refused) == 1, results
    assert isinstance(refused[0], Conflict) and refused[0].code == "stale_version" and refused[0].status == 409
    if attempts == 2:
        assert refused[0].details["current"]["name"] == saved[0]
    db.session.expire_all()
    stored = db.session.get(PurchaseGroup, group)
    assert stored.name == saved[0] and stored.version == 2


def test_two_concurrent_need_edits_one_saves_the_other_gets_stale_version(app, db):
    org = factories.organization("CHU")
    factories.user("buyer", email="anne@chu.fr", organization_=org)
    factories.user("buyer", email="paul@chu.fr", organization_=org)
    need_id = factories.need(org, status="draft").id
    db.session.commit()
    emails = ("anne@chu.fr", "paul@chu.fr")

    def write(session, index, wait):
        actor = session.scalar(sa.select(factories.User).where(factories.User.email == emails[index]))
        need = need_services.get_need(session, actor, need_id)
        if wait:
            wait()
        need_services.update_need(session, actor, need, {"title": f"Title {index}"}, expected_version=1)
        return need.title

    results = _two_writers_at_once(app, write, 2)
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "str"], results
    refused = next(r for r in results if isinstance(r, Conflict))
    assert refused.code == "stale_version"
    db.session.expire_all()
    stored = db.session.get(Need, need_id)
    assert stored.version == 2 and stored.title == next(r for r in results if isinstance(r, str))
