"""Demo groups and calls for `flask seed-demo`: one constituted group with an open call, one awarded call,
one group still forming. Built through the real services, as the demo users would do it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.calls import services as calls
from app.calls.models import Call
from app.clock import paris_today, utcnow
from app.groups import services as groups
from app.groups.models import PurchaseGroup
from app.needs.models import Need
from app.organizations.demo import DEMO_MARK
from app.organizations.models import Organization, SupplierCompany, SupplierTrade

OPEN_GROUP = "Électricité 2027-2029" + DEMO_MARK
AWARDED_GROUP = "Nettoyage des locaux" + DEMO_MARK
FORMING_GROUP = "Gaz naturel" + DEMO_MARK


def _users(session: Session) -> dict[str, User]:
    return {u.email.split("@")[0]: u for u in session.scalars(sa.select(User).where(User.is_demo))}


def _needs(session: Session, cpv_prefix: str, codes: tuple[str, ...]) -> list[Need]:
    organizations = dict(
        session.execute(sa.select(Organization.code, Organization.id).where(Organization.code.in_(codes))).all()
    )
    found = []
    for code in codes:
        need = session.scalar(
            sa.select(Need)
            .where(
                Need.organization_id == organizations.get(code),
                Need.status == "submitted",
                Need.cpv_code.startswith(cpv_prefix),
            )
            .order_by(Need.start_date)
        )
        if need is not None:
            found.append(need)
    return found


def _constitute(session: Session, people: dict[str, User], name: str, needs: list[Need], buyers: list[str]):
    coordinator = people["coordination"]
    group = groups.form_group(
        session, coordinator, name=name, need_ids=[n.id for n in needs], scope_cpv_prefix=needs[0].cpv_code[:4]
    )
    for key in buyers:
        buyer = people[key]
        membership = group.membership_of(buyer.organization_id)
        if membership is None:
            continue
        own = [gn.need_id for gn in group.group_needs if gn.organization_id == buyer.organization_id]
        if not own:  # the coordinating organization brings one of its needs of the same class
            extra = _needs(session, needs[0].cpv_code[:4], (buyer.organization.code,))
            own = [extra[0].id] if extra else []
        groups.confirm_membership(session, buyer, group, own)
    for suggestion in groups.suggest_lots(session, group):
        shares = {
            m.organization.code: {
                "annual_amount": suggestion.shares.get(m.organization_id, Decimal("0")),
                "quantity": None,
            }
            for m in group.memberships
            if m.organization_id in suggestion.shares
        }
        groups.create_lot(
            session,
            coordinator,
            group,
            groups.LotValues(
                title=suggestion.title,
                cpv_code=suggestion.cpv_code,
                delivery_area=suggestion.delivery_area,
                shares=shares,
            ),
        )
    if len(group.lots) == 1:
        group.single_lot_reason = "Un seul réseau de distribution : le lot unique permet un seul contrat d'accès."
    # The members sign once the terms are settled (members, needs, lots): a later change would void the signatures.
    for membership in [m for m in group.memberships if m.status == "confirmed"]:
        buyer = next(people[key] for key in buyers if people[key].organization_id == membership.organization_id)
        groups.sign_convention(
            session,
            buyer,
            group,
            signed_on=paris_today() - timedelta(days=20),
            deliberation_reference=f"Délibération {buyer.organization.code}-{paris_today().year}-12",
        )
    groups.constitute_group(session, coordinator, group)
    return group


def _bidders(session: Session, prefix: str) -> list[User]:
    rows = session.scalars(
        sa.select(User)
        .join(SupplierCompany, User.supplier_id == SupplierCompany.id)
        .where(SupplierCompany.trades.any(SupplierTrade.cpv_code.startswith(prefix)))
    ).all()
    return list(rows)


def seed_demo_groups_and_calls(session: Session) -> int:
    """Returns how many groups were created (0 when they already exist)."""
    if session.scalar(sa.select(PurchaseGroup.id).where(PurchaseGroup.name == OPEN_GROUP)):
        return 0
    people = _users(session)
    if "coordination" not in people:
        return 0
    coordinator = people["coordination"]
    buyers = ["achats.metropole", "achats.chu", "achats.ub", "achats.gdh"]
    now = utcnow()

    electricity = _needs(session, "0931", ("CHU", "UB", "GDH"))
    open_group = _constitute(session, people, OPEN_GROUP, electricity, buyers)
    open_call = calls.create_call(
        session,
        coordinator,
        open_group,
        calls.CallValues(
            title="Fourniture d'électricité verte 2027-2029" + DEMO_MARK,
            description="Fourniture d'électricité des sites des membres, 100 % d'origine renouvelable.",
            questions_deadline=now + timedelta(days=3),
            bid_deadline=now + timedelta(days=5),
            criteria=[("price", 60), ("technical", 25), ("environmental", 15)],
        ),
    )
    calls.publish_call(session, coordinator, open_call)

    cleaning = _needs(session, "9091", ("CHU", "UB", "DM"))
    done_group = _constitute(session, people, AWARDED_GROUP, cleaning, buyers)
    done_call = calls.create_call(
        session,
        coordinator,
        done_group,
        calls.CallValues(
            title="Nettoyage des locaux 2026-2030" + DEMO_MARK,
            description="Nettoyage des bureaux et locaux techniques.",
            questions_deadline=now + timedelta(minutes=5),
            bid_deadline=now + timedelta(minutes=10),
            criteria=[("price", 50), ("technical", 30), ("environmental", 20)],
            contract_kind="framework",  # an accord-cadre à bons de commande: each member orders under its maximum
        ),
    )
    calls.publish_call(session, coordinator, done_call)
    bidders = _bidders(session, "9091")
    for index, supplier in enumerate(bidders[:3]):
        for lot in done_call.lots:
            amount = (lot.estimated_amount * Decimal(str(0.88 + 0.07 * index))).quantize(Decimal("0.01"))
            calls.submit_bid(
                session,
                supplier,
                done_call,
                calls.BidValues(
                    lot_id=lot.id,
                    amount=amount,
                    technical_note="Équipes locales, produits écolabellisés.",
                    environmental_note="Produits Ecolabel, véhicules électriques.",
                    delivery_distance_km=Decimal(12 + 20 * index),
                ),
            )
    # The demo call's deadline is moved into the past, as if the bid period had run its course.
    session.execute(
        sa.update(Call)
        .where(Call.id == done_call.id)
        .values(
            questions_deadline=now - timedelta(days=12),
            bid_deadline=now - timedelta(days=10),
            published_at=now - timedelta(days=40),
        )
    )
    session.expire(done_call)
    calls.close_due_calls(session)
    session.refresh(done_call)
    for lot_id, ranked in calls.ranking(session, coordinator, done_call).items():
        for position, (_r, bid) in enumerate(ranked):
            calls.score_bid(
                session,
                coordinator,
                done_call,
                bid.id,
                {"technical": 85 - 10 * position, "environmental": 70 + 5 * position},
            )
        best = calls.ranking(session, coordinator, done_call)[lot_id]
        if best:
            calls.award_lot(session, coordinator, done_call, lot_id, best[0][1].id)

    gas = _needs(session, "0912", ("CHU", "GDH", "DM"))
    groups.form_group(
        session,
        coordinator,
        name=FORMING_GROUP,
        need_ids=[n.id for n in gas],
        scope_cpv_prefix="0912",
        planned_publication_on=paris_today() + timedelta(days=60),
    )
    session.flush()
    return 3
