"""Administrators change roles and deactivate accounts: audited, the account's sessions end, never their own account,
never the last active administrator, never a supplier's role; a buyer needs an organization."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.accounts import services
from app.accounts.models import User
from app.audit.models import AuditEvent
from app.errors import Conflict, NotPermitted, ValidationFailed
from tests import factories
from tests.conftest import english, login, post_form


def test_an_admin_changes_a_role_through_the_users_page_and_the_change_is_audited(new_client, db):
    factories.user("admin", email="admin@example.fr")
    org = factories.organization("UB")
    buyer = factories.user("buyer", email="buyer@example.fr", organization_=org)
    db.session.commit()
    session_of_buyer = new_client()
    login(session_of_buyer, "buyer@example.fr")
    admin = english(new_client(), "admin@example.fr")
    page = admin.get("/admin/users").get_data(as_text=True)
    assert f'action="/admin/users/{buyer.id}/role"' in page
    response = post_form(admin, f"/admin/users/{buyer.id}/role", {"role": "coordinator"}, page="/admin/users")
    assert response.status_code == 302
    shown = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "buyer@example.fr is now Purchasing coordinator" in shown
    db.session.expire_all()
    assert db.session.get(User, buyer.id).role == "coordinator"
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.kind == "user.role_changed"))
    assert event.object_id == buyer.id and event.details == {"previous": "buyer", "role": "coordinator"}
    assert session_of_buyer.get("/needs").status_code == 302  # logged out: the next login carries the new role
    refused = post_form(admin, f"/admin/users/{buyer.id}/role", {"role": "supplier"}, page="/admin/users")
    assert refused.status_code == 400 and db.session.get(User, buyer.id).role == "coordinator"


def test_role_rules(session):
    admin = factories.user("admin")
    other_admin = factories.user("admin")
    coordinator = factories.user("coordinator")
    supplier = factories.user("supplier", supplier=factories.supplier_company())
    with pytest.raises(NotPermitted):
        services.set_user_role(session, admin, admin.id, "coordinator")  # not one's own
    with pytest.raises(NotPermitted):
        services.set_user_role(session, coordinator, admin.id, "coordinator")  # admins only
    with pytest.raises(ValidationFailed):
        services.set_user_role(session, admin, supplier.id, "coordinator")  # a supplier's role stays
    with pytest.raises(ValidationFailed):
        services.set_user_role(session, admin, coordinator.id, "buyer")  # no organization
    services.set_user_role(session, admin, coordinator.id, "admin")
    assert coordinator.role == "admin"
    services.set_user_role(session, other_admin, admin.id, "coordinator")  # two other admins remain
    services.set_user_role(session, coordinator, other_admin.id, "coordinator")
    with pytest.raises(NotPermitted):  # no longer an administrator
        services.set_user_role(session, admin, coordinator.id, "coordinator")
    assert coordinator.role == "admin"


def test_the_last_active_administrator_cannot_be_deactivated_or_demoted(session):
    first, second = factories.user("admin"), factories.user("admin")
    services.set_user_active(session, first, second.id, False)
    assert not second.is_active_account
    promoted = factories.user("coordinator")
    services.set_user_role(session, first, promoted.id, "admin")
    services.set_user_active(session, promoted, first.id, False)  # promoted remains
    with pytest.raises(Conflict) as caught:  # `first` is deactivated: promoted is the last active administrator
        services.set_user_active(session, first, promoted.id, False)
    assert caught.value.code == "last_admin" and promoted.is_active_account
    organization = factories.organization("UB")
    promoted.organization_id = organization.id
    with pytest.raises(Conflict) as caught:
        services.set_user_role(session, first, promoted.id, "buyer")
    assert caught.value.code == "last_admin" and promoted.role == "admin"
