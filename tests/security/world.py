"""The world the security tests walk: the demo (four buyer organizations, the coordinator, the admin, three
suppliers, needs, spend imports, an open call, an awarded call, a forming group), completed with what the demo lacks
so that every kind of object exists twice, once in each of two buyer organizations or for each of two suppliers:
a call of a group the first buyer's organization is not part of, a draft call, bids, questions, documents and
notifications.

`World.ids[name][variant]` gives the path argument `name` for the variant "own" (the first buyer's organization, the
first supplier, the user's own) or "other" (another organization's, another supplier's, another user's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa

from app.accounts.models import User
from app.calls import services as calls
from app.calls.demo import AWARDED_GROUP, FORMING_GROUP, OPEN_GROUP, _constitute, _needs
from app.calls.models import Call
from app.clock import utcnow
from app.demo import seed_demo
from app.groups.models import PurchaseGroup
from app.needs.models import Need
from app.notifications.services import notify
from app.organizations.models import Organization
from app.spend.models import SpendImport
from tests import factories

DEMO_PASSWORD = "mutualis-demo"  # noqa: S105 - the documented demo password
BUYER_A, BUYER_B = "achats.ub@demo.mutualis.fr", "achats.gdh@demo.mutualis.fr"
SUPPLIER_1, SUPPLIER_2 = "fournisseur1@demo.mutualis.fr", "fournisseur2@demo.mutualis.fr"
EMAILS = {
    "anonymous": None,
    "admin": "admin@demo.mutualis.fr",
    "coordinator": "coordination@demo.mutualis.fr",
    "buyer": BUYER_A,
    "supplier": SUPPLIER_1,
}
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@dataclass
class World:
    ids: dict[str, dict[str, object]] = field(default_factory=dict)
    spares: dict[str, dict[str, dict[str, object]]] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)  # call state -> id: draft, published, closed, awarded
    users: dict[str, User] = field(default_factory=dict)


def _one(session, stmt):
    found = session.scalar(stmt)
    assert found is not None, stmt
    return found


def build_world(session) -> World:
    seed_demo(session)
    users = {u.email: u for u in session.scalars(sa.select(User))}
    orgs = {o.code: o for o in session.scalars(sa.select(Organization))}
    coordinator = users[EMAILS["coordinator"]]
    group_of = {
        name: _one(session, sa.select(PurchaseGroup).where(PurchaseGroup.name == name))
        for name in (OPEN_GROUP, AWARDED_GROUP, FORMING_GROUP)
    }
    open_call = _one(session, sa.select(Call).where(Call.group_id == group_of[OPEN_GROUP].id))
    awarded_call = _one(session, sa.select(Call).where(Call.group_id == group_of[AWARDED_GROUP].id))

    # A constituted group of CHU and GDH only (not UB), with an open call: "another organization's call".
    people = {u.email.split("@")[0]: u for u in users.values()}
    other_group = _constitute(
        session,
        people,
        "Restauration (tests)",
        _needs(session, "5552", ("CHU",)) + _other_needs(session, orgs),
        ["achats.metropole", "achats.chu", "achats.gdh"],
    )
    now = utcnow()
    values = calls.CallValues(
        title="Restauration collective (tests)",
        description="Repas des sites.",
        questions_deadline=now + timedelta(days=3),
        bid_deadline=now + timedelta(days=5),
        criteria=[("price", 60), ("technical", 40)],
    )
    other_call = calls.create_call(session, coordinator, other_group, values)
    calls.publish_call(session, coordinator, other_call)
    draft_call = calls.create_call(session, coordinator, group_of[OPEN_GROUP], values)
    # A closed call: the open group's second call, bid on, then its deadline moved into the past.
    closed_call = calls.create_call(session, coordinator, group_of[OPEN_GROUP], values)
    calls.publish_call(session, coordinator, closed_call)

    supplier_1, supplier_2 = users[SUPPLIER_1], users[SUPPLIER_2]
    bids = {}
    for key, supplier in (("own", supplier_1), ("other", supplier_2)):
        for each in (open_call, other_call, closed_call):
            bids[key, each.id] = factories.bid(supplier, each, "123456.00")
        asked_on = open_call if key == "own" else other_call
        calls.ask_question(session, supplier, asked_on, f"Question de {supplier.email} ?")
    session.execute(
        sa.update(Call)
        .where(Call.id == closed_call.id)
        .values(questions_deadline=now - timedelta(days=2), bid_deadline=now - timedelta(days=1))
    )
    session.expire_all()
    calls.close_due_calls(session)
    documents = {
        key: calls.add_document(session, coordinator, each, "cahier-des-charges.pdf", PDF, _upload_folder())
        for key, each in (("own", open_call), ("other", other_call))
    }
    questions = {q.supplier_id: q for c in (open_call, other_call) for q in session.get(Call, c.id).questions}

    buyer_a, buyer_b = users[BUYER_A], users[BUYER_B]
    colleague = factories.user("buyer", email="collegue.ub@example.fr", organization_=buyer_a.organization)
    for each in (users[e] for e in EMAILS.values() if e):
        notify(session, [each], "test", "Notification de %(who)s", {"who": each.email}, None, mail=False)
    notify(session, [buyer_b], "test", "Notification de %(who)s", {"who": buyer_b.email}, None, mail=False)
    session.flush()

    def notification_of(user):
        from app.notifications.models import Notification

        return _one(session, sa.select(Notification.id).where(Notification.user_id == user.id).limit(1))

    def need_of(org, index=0):
        """A submitted need of `org` that is in no group (ids are random: the same kind of need on every database)."""
        stmt = sa.select(Need.id).where(Need.organization_id == org.id, Need.status == "submitted")
        return _one(session, stmt.order_by(Need.title, Need.id).offset(index))

    def contract_of(org):
        """The member's contract of the demo's awarded call."""
        from app.calls.models import Contract

        return _one(session, sa.select(Contract.id).where(Contract.organization_id == org.id).limit(1))

    def import_of(org):
        return _one(session, sa.select(SpendImport.id).where(SpendImport.organization_id == org.id).limit(1))

    def job_of(user):
        """A background spend import asked for by `user` (queued: its file is never read by the walk)."""
        from app.spend.models import SpendImportJob

        job = SpendImportJob(
            organization_id=user.organization_id,
            requested_by_id=user.id,
            filename="grand-fichier.csv",
            storage_key=f"walk-{user.id}",
            size=1,
        )
        session.add(job)
        session.flush()
        return job.id

    def spare_lot(group):
        from app.groups import services as groups

        member = group.memberships[0].organization.code
        shares = {member: {"annual_amount": Decimal("1000.00"), "quantity": None}}
        values = groups.LotValues(title="Lot à supprimer", cpv_code="55520000", shares=shares)
        return groups.create_lot(session, coordinator, group, values)

    own_group = group_of[OPEN_GROUP]
    world = World(users={role: users[e] for role, e in EMAILS.items() if e})
    world.calls = {
        "draft": draft_call.id,
        "published": open_call.id,
        "closed": closed_call.id,
        "awarded": awarded_call.id,
    }
    world.ids = {
        "need_id": {"own": need_of(buyer_a.organization), "other": need_of(buyer_b.organization)},
        "group_id": {"own": own_group.id, "other": other_group.id},
        "lot_id": {"own": own_group.lots[0].id, "other": other_group.lots[0].id},
        "call_id": {"own": open_call.id, "other": other_call.id},
        "bid_id": {"own": bids["own", open_call.id].id, "other": bids["other", open_call.id].id},
        "document_id": {"own": documents["own"].id, "other": documents["other"].id},
        "question_id": {"own": questions[supplier_1.supplier_id].id, "other": questions[supplier_2.supplier_id].id},
        "import_id": {"own": import_of(buyer_a.organization), "other": import_of(buyer_b.organization)},
        "contract_id": {"own": contract_of(buyer_a.organization), "other": contract_of(orgs["CHU"])},
        "job_id": {"own": job_of(buyer_a), "other": job_of(buyer_b)},
        "organization_id": {"own": buyer_a.organization_id, "other": buyer_b.organization_id},
        "user_id": {"own": colleague.id, "other": buyer_b.id},
        "notification_id": {"own": None, "other": notification_of(buyer_b)},  # "own": the logged-in user's
        "token": {"own": "x", "other": "x"},
        "code": {"own": "fr", "other": "fr"},
        "fmt": {"own": "csv", "other": "xlsx"},
        "kind": {"own": "categories", "other": "categories"},
        "filename": {"own": "css/mutualis.css", "other": "css/mutualis.css"},
    }
    # Deleting through the pages and through the API each gets objects of its own, so that the second delete still
    # finds something to delete.
    world.spares = {
        "needs.delete_need": {
            "need_id": {"own": need_of(buyer_a.organization, 1), "other": need_of(buyer_b.organization, 1)}
        },
        "groups.delete_lot": {"lot_id": {"own": spare_lot(own_group).id, "other": spare_lot(other_group).id}},
    }
    world.notification_of = notification_of
    return world


def _other_needs(session, orgs):
    """A GDH need of the same CPV class as CHU's catering need (created when the demo has none)."""
    found = _needs(session, "5552", ("GDH",))
    return found or [factories.need(orgs["GDH"], title="Restauration GDH", cpv="55520000")]


def _upload_folder() -> str:
    from flask import current_app

    return current_app.config["UPLOAD_FOLDER"]
