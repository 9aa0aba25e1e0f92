"""Factories for test data: plain functions that add and flush real rows."""

from __future__ import annotations

import itertools
import random

from app.accounts.models import User
from app.extensions import db
from app.organizations.demo import fake_siret
from app.organizations.models import Organization, SupplierCompany, SupplierTrade

PASSWORD = "correct-horse-battery"  # noqa: S105
_seq = itertools.count(1)
_rng = random.Random(4242)


def organization(code: str | None = None, **kw) -> Organization:
    n = next(_seq)
    org = Organization(
        code=code or f"ORG{n}",
        name=kw.pop("name", f"Organisation {n}"),
        kind=kw.pop("kind", "local_authority"),
        postcode=kw.pop("postcode", "21000"),
        **kw,
    )
    db.session.add(org)
    db.session.flush()
    return org


def supplier_company(trades=("90910000",), **kw) -> SupplierCompany:
    n = next(_seq)
    company = SupplierCompany(
        name=kw.pop("name", f"Entreprise {n}"),
        siret=kw.pop("siret", fake_siret(_rng)),
        postcode=kw.pop("postcode", "21000"),
        is_sme=kw.pop("is_sme", True),
        trades=[SupplierTrade(cpv_code=c) for c in trades],
        **kw,
    )
    db.session.add(company)
    db.session.flush()
    return company


def user(
    role: str = "buyer",
    *,
    email: str | None = None,
    organization_: Organization | None = None,
    supplier: SupplierCompany | None = None,
    password: str = PASSWORD,
) -> User:
    n = next(_seq)
    if role == "buyer" and organization_ is None:
        organization_ = organization()
    if role == "supplier" and supplier is None:
        supplier = supplier_company()
    account = User(
        email=email or f"{role}{n}@example.fr",
        full_name=f"{role.title()} {n}",
        role=role,
        organization=organization_,
        supplier=supplier,
    )
    account.set_password(password)
    db.session.add(account)
    db.session.flush()
    return account


def constituted_group(codes=("DM", "CHU", "UB"), cpv="09310000", amounts=("20000.00", "100000.00", "80000.00")):
    """A constituted group: each organization brings one need and signs. Returns (group, orgs, coordinator)."""
    from datetime import date
    from decimal import Decimal

    from app.groups import services as group_services
    from app.needs.models import Need

    orgs = [organization(code) for code in codes]
    coordinator = user("coordinator", organization_=orgs[0])
    buyers = [user("buyer", organization_=org) for org in orgs]
    needs = []
    for org, amount in zip(orgs, amounts, strict=True):
        need = Need(
            organization_id=org.id,
            title=f"Besoin {org.code}",
            cpv_code=cpv,
            annual_amount=Decimal(amount),
            start_date=date(2027, 9, 1),
            duration_months=36,
            status="submitted",
            delivery_postcode="21000",
        )
        db.session.add(need)
        needs.append(need)
    db.session.flush()
    group = group_services.form_group(db.session, coordinator, name="Groupement test", need_ids=[n.id for n in needs])
    for buyer in buyers:
        group_services.confirm_membership(db.session, buyer, group)
        group_services.sign_convention(
            db.session,
            buyer,
            group,
            signed_on=date(2026, 1, 5),
            deliberation_reference=f"DEL-{buyer.organization.code}",
        )
    group_services.constitute_group(db.session, coordinator, group)
    return group, orgs, coordinator
