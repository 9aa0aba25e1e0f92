"""Which suppliers a call concerns and which calls a supplier sees: trades, subscriptions, and how local a supplier is
(the coordinating organization's département, then the region, then elsewhere)."""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.calls.models import Call, CallLot, Subscription
from app.calls.services.access import require_supplier, visible_calls
from app.db import reading_order
from app.domain.cpv import search_prefix
from app.errors import ValidationFailed
from app.organizations.models import SupplierCompany, SupplierTrade

REGION_DEPARTEMENTS = ("21", "25", "39", "58", "70", "71", "89", "90")  # Bourgogne-Franche-Comté


def _home_departement(call: Call) -> str:
    postcode = call.group.coordinator_organization.postcode or "21000"
    return postcode[:2]


def matching_suppliers_query(call: Call) -> sa.Select:
    """Suppliers with a trade in the class of a lot's CPV (class level or finer), or a subscription covering it.

    Ordered local first: the coordinating organization's département, then the region, then elsewhere; then by name.
    """
    classes = {lot.cpv_code[:4] for lot in call.lots}
    codes = [lot.cpv_code for lot in call.lots]
    by_trade = sa.select(SupplierTrade.company_id).where(
        sa.func.substr(SupplierTrade.cpv_code, 1, 4).in_(classes),
        sa.func.length(sa.func.rtrim(SupplierTrade.cpv_code, "0")) >= 4,
    )
    subscription_match = sa.or_(*[sa.literal(code).startswith(Subscription.cpv_prefix) for code in codes])
    by_subscription = sa.select(Subscription.supplier_id).where(subscription_match)
    departement = sa.func.substr(SupplierCompany.postcode, 1, 2)
    locality = sa.case((departement == _home_departement(call), 0), (departement.in_(REGION_DEPARTEMENTS), 1), else_=2)
    return (
        sa.select(SupplierCompany)
        .where(sa.or_(SupplierCompany.id.in_(by_trade), SupplierCompany.id.in_(by_subscription)))
        .order_by(locality, reading_order(SupplierCompany.name), SupplierCompany.id)
    )


def matching_suppliers(session: Session, call: Call) -> list[SupplierCompany]:
    """Every matching supplier, local ones first (see matching_suppliers_query)."""
    return list(session.scalars(matching_suppliers_query(call)))


def locality_label(call: Call, company: SupplierCompany) -> str:
    home = _home_departement(call)
    if company.postcode[:2] == home:
        return "departement"
    return "region" if company.postcode[:2] in REGION_DEPARTEMENTS else "elsewhere"


def matching_calls(actor) -> sa.Select:
    """The calls a supplier sees that match its trades or subscriptions: the reverse of `matching_suppliers`
    (a trade at class level or finer in the class of a lot's CPV, or a subscription prefix of a lot's CPV)."""
    company = require_supplier(actor)
    trade_classes = sa.select(sa.func.substr(SupplierTrade.cpv_code, 1, 4)).where(
        SupplierTrade.company_id == company.id,
        sa.func.length(sa.func.rtrim(SupplierTrade.cpv_code, "0")) >= 4,
    )
    subscribed = (
        sa.select(Subscription.cpv_prefix)
        .where(Subscription.supplier_id == company.id, CallLot.cpv_code.startswith(Subscription.cpv_prefix))
        .exists()
    )
    return visible_calls(actor).where(
        Call.lots.any(sa.or_(sa.func.substr(CallLot.cpv_code, 1, 4).in_(trade_classes), subscribed))
    )


def subscribe(session: Session, actor, cpv_prefix: str) -> Subscription:
    company = require_supplier(actor)
    prefix = search_prefix(cpv_prefix)
    if prefix is None:
        raise ValidationFailed({"cpv_prefix": [str(_l("A CPV code or prefix has 2 to 8 digits."))]})
    existing = session.get(Subscription, (company.id, prefix))
    if existing:
        return existing
    subscription = Subscription(supplier_id=company.id, cpv_prefix=prefix)
    session.add(subscription)
    session.flush()
    return subscription


def unsubscribe(session: Session, actor, cpv_prefix: str) -> None:
    company = require_supplier(actor)
    session.execute(
        sa.delete(Subscription).where(Subscription.supplier_id == company.id, Subscription.cpv_prefix == cpv_prefix)
    )


def subscriptions(session: Session, actor) -> list[Subscription]:
    company = require_supplier(actor)
    return list(
        session.scalars(
            sa.select(Subscription).where(Subscription.supplier_id == company.id).order_by(Subscription.cpv_prefix)
        )
    )
