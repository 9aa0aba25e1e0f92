"""The group's lots: suggested from the needs brought (one per CPV class and delivery département), created, changed
(refused when based on an outdated version) and deleted, each with the members' shares."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.domain import cpv as cpv_domain
from app.errors import Conflict, NotFound, ValidationFailed
from app.groups.models import GroupNeed, Lot, LotShare, PurchaseGroup
from app.groups.services.access import STATUS_LABELS, require_coordinator
from app.groups.services.convention import changes_terms
from app.groups.services.events import record_event, touch
from app.groups.services.summary import counted_needs
from app.reference.models import CpvCode


@dataclass
class LotSuggestion:
    title: str
    cpv_code: str
    delivery_area: str
    shares: dict[int, Decimal]  # organization id → yearly amount
    need_ids: list[int]


def suggest_lots(session: Session, group: PurchaseGroup, lang: str = "fr") -> list[LotSuggestion]:
    """One lot per CPV class and delivery département of the needs brought (lots are the default in French law)."""
    rows = counted_needs(group)
    buckets: dict[tuple[str, str], list[GroupNeed]] = defaultdict(list)
    for gn in rows:
        area = (gn.need.delivery_postcode or "")[:2]
        buckets[(cpv_domain.prefix(gn.need.cpv_code, "class"), area)].append(gn)
    codes = [cls.ljust(8, "0") for cls, _ in buckets]
    labels = dict(
        session.execute(
            sa.select(CpvCode.code, CpvCode.label_en if lang == "en" else CpvCode.label_fr).where(
                CpvCode.code.in_(codes)
            )
        ).all()
    )
    suggestions = []
    for (cls, area), items in sorted(buckets.items()):
        shares: dict[int, Decimal] = defaultdict(lambda: Decimal("0.00"))
        for gn in items:
            shares[gn.organization_id] += gn.annual_amount
        code = cls.ljust(8, "0")
        title = labels.get(code, code) + (f" — {area}" if area and len({a for _, a in buckets}) > 1 else "")
        suggestions.append(LotSuggestion(title, code, area, dict(shares), [gn.need_id for gn in items]))
    return suggestions


@dataclass
class LotValues:
    title: str
    cpv_code: str
    description: str = ""
    delivery_area: str = ""
    shares: dict[str, dict] = field(default_factory=dict)  # organization code → {"quantity", "annual_amount"}


def _validate_lot(session: Session, group: PurchaseGroup, values: LotValues) -> dict:
    reasons: dict[str, list[str]] = {}
    if not (values.title or "").strip():
        reasons["title"] = [str(_l("The title is required."))]
    code = None
    try:
        code = cpv_domain.parse_code(values.cpv_code).code
        if session.get(CpvCode, code) is None:
            reasons["cpv_code"] = [str(_l("Unknown CPV code: %(codes)s", codes=code))]
    except cpv_domain.InvalidCpvCode:
        reasons["cpv_code"] = [str(_l("A CPV code has 8 digits, for example 09310000 or 09310000-5."))]
    members = {m.organization.code: m for m in group.memberships if m.status != "declined"}
    shares = []
    for org_code, share in (values.shares or {}).items():
        membership = members.get(org_code)
        if membership is None:
            reasons[f"shares.{org_code}"] = [str(_l("Not a member of this group."))]
            continue
        amount, quantity = share.get("annual_amount"), share.get("quantity")
        if not isinstance(amount, Decimal) or amount < 0:
            reasons[f"shares.{org_code}.annual_amount"] = [str(_l("Amounts cannot be negative."))]
        if quantity is not None and (not isinstance(quantity, Decimal) or quantity < 0):
            reasons[f"shares.{org_code}.quantity"] = [str(_l("The quantity cannot be negative."))]
        shares.append((membership.organization_id, quantity, amount))
    if not reasons and not any(amount for _, _, amount in shares):
        reasons["shares"] = [str(_l("Give at least one member's share of the lot."))]
    if reasons:
        raise ValidationFailed(reasons)
    return {
        "title": values.title.strip(),
        "cpv_code": code,
        "description": (values.description or "").strip(),
        "delivery_area": (values.delivery_area or "").strip(),
        "shares": shares,
    }


@changes_terms
def create_lot(session: Session, actor, group: PurchaseGroup, values: LotValues) -> Lot:
    require_coordinator(actor)
    if group.status not in ("forming", "constituted"):
        raise Conflict("group_closed", str(_l("This group is %(status)s.", status=STATUS_LABELS[group.status])))
    clean = _validate_lot(session, group, values)
    number = max((lot.number for lot in group.lots), default=0) + 1
    lot = Lot(
        number=number,
        title=clean["title"],
        cpv_code=clean["cpv_code"],
        description=clean["description"],
        delivery_area=clean["delivery_area"],
        shares=[LotShare(organization_id=o, quantity=q, annual_amount=a) for o, q, a in clean["shares"]],
    )
    group.lots.append(lot)
    touch(group)
    session.flush()
    record_event(session, group, actor, "lot_created", after=_lot_snapshot(lot))
    return lot


@changes_terms
def update_lot(session: Session, actor, lot: Lot, values: LotValues, *, expected_version: int) -> Lot:
    require_coordinator(actor)
    group = lot.group
    if expected_version != lot.version:
        raise Conflict(
            "stale_version",
            str(_l("This lot was changed by someone else since you opened it.")),
            details={"current_version": lot.version, "current": _lot_snapshot(lot)},
        )
    if group.status not in ("forming", "constituted"):
        raise Conflict("group_closed", str(_l("This group is %(status)s.", status=STATUS_LABELS[group.status])))
    clean = _validate_lot(session, group, values)
    before = _lot_snapshot(lot)
    lot.title, lot.cpv_code = clean["title"], clean["cpv_code"]
    lot.description, lot.delivery_area = clean["description"], clean["delivery_area"]
    lot.shares[:] = [LotShare(organization_id=o, quantity=q, annual_amount=a) for o, q, a in clean["shares"]]
    touch(group)
    session.flush()
    record_event(session, group, actor, "lot_updated", before=before, after=_lot_snapshot(lot))
    return lot


@changes_terms
def delete_lot(session: Session, actor, lot: Lot) -> None:
    require_coordinator(actor)
    group = lot.group
    if group.status not in ("forming", "constituted"):
        raise Conflict("group_closed", str(_l("This group is %(status)s.", status=STATUS_LABELS[group.status])))
    before = _lot_snapshot(lot)
    group.lots.remove(lot)
    touch(group)
    session.flush()
    record_event(session, group, actor, "lot_deleted", before=before)


def _lot_snapshot(lot: Lot) -> dict:
    return {
        "number": lot.number,
        "title": lot.title,
        "cpv_code": lot.cpv_code,
        "delivery_area": lot.delivery_area,
        "shares": {str(s.organization_id): f"{s.annual_amount:.2f}" for s in lot.shares},
    }


def get_lot(session: Session, actor, group: PurchaseGroup, lot_id: int) -> Lot:
    lot = session.get(Lot, lot_id)
    if lot is None or lot.group_id != group.id:
        raise NotFound(str(_l("This lot does not exist.")))
    return lot
