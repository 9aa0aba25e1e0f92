"""Procurement needs: buyers write their own organization's; coordinators and admins read submitted ones."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field, fields
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.audit.services import record
from app.clock import utcnow
from app.db import reading_order
from app.domain import cpv as cpv_domain
from app.domain.climate import normalise_unit
from app.domain.estimate import RENEWAL_COUNT_MAX, estimated_value
from app.domain.need_import import AMOUNT_MAX, DESCRIPTION_MAX, TITLE_MAX, UNIT_MAX, parse_needs
from app.domain.tabular import Message
from app.domain.text import N_
from app.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from app.groups.models import GroupNeed
from app.groups.services.convention import need_edit_watched
from app.needs.models import NEED_STATUSES, Need
from app.organizations.models import Organization
from app.reference.models import CpvCode
from app.validation import clean_postcode, refuse_bad_rows

READER_ROLES = ("coordinator", "admin")
WRITABLE_STATUSES = ("draft", "submitted")  # what a buyer may set; "grouped" belongs to groups
# The status changes a buyer may make (grouped belongs to the groups feature).
STATUS_CHANGES = {
    "draft": ("submitted",),
    "submitted": ("withdrawn", "draft"),
    "withdrawn": ("submitted", "draft"),
    "grouped": (),
}
SORTS = {
    "start_date": Need.start_date,
    "annual_amount": Need.annual_amount,
    "total_amount": Need.total_amount,
    "title": reading_order(Need.title),
    "created_at": Need.created_at,
    "status": Need.status,
}


@dataclass
class NeedValues:
    title: str
    cpv_code: str
    annual_amount: Decimal
    start_date: date
    duration_months: int
    description: str = ""
    renewal_count: int = 0
    renewal_months: int | None = None  # None: each renewal lasts duration_months
    options_amount: Decimal = Decimal("0.00")
    quantity: Decimal | None = None
    unit: str | None = None
    current_contract_end: date | None = None
    delivery_postcode: str | None = None
    environmental_criterion: bool = False
    social_clause: bool = False
    short_supply_chain: bool = False
    sustainability_notes: str = ""

    @classmethod
    def from_need(cls, need: Need) -> NeedValues:
        return cls(**{f.name: getattr(need, f.name) for f in fields(cls)})


VALUE_FIELDS = tuple(f.name for f in fields(NeedValues))


# --- who may see and change what -------------------------------------------------------------------------


def visible_needs(actor) -> sa.Select:
    """The one scope every list and look-up goes through."""
    stmt = sa.select(Need)
    if actor.role == "buyer":
        return stmt.where(Need.organization_id == actor.organization_id)
    if actor.role in READER_ROLES:
        return stmt.where(Need.status != "draft")
    raise NotPermitted(str(_l("Suppliers do not see the buyers' needs.")))


def get_need(session: Session, actor, need_id: int) -> Need:
    need = session.scalar(visible_needs(actor).where(Need.id == need_id))
    if need is None:
        raise NotFound(str(_l("This need does not exist, or you may not see it.")))
    return need


def _check_writer(actor, organization_id: int) -> None:
    if actor.role == "system":
        return
    if actor.role != "buyer" or actor.organization_id != organization_id:
        raise NotPermitted(str(_l("Only the buyers of the organization can change its needs.")))


# --- validation ----------------------------------------------------------------------------------------------


def _validate(session: Session, values: NeedValues) -> NeedValues:
    reasons: dict[str, list[str]] = {}

    def problem(name: str, message) -> None:
        reasons.setdefault(name, []).append(str(message))

    title = (values.title or "").strip()
    if not title:
        problem("title", _l("The title is required."))
    elif len(title) > TITLE_MAX:
        problem("title", _l("At most %(n)d characters.", n=TITLE_MAX))
    code = None
    try:
        parsed = cpv_domain.parse_code(values.cpv_code)
    except cpv_domain.InvalidCpvCode:
        problem("cpv_code", _l("A CPV code has 8 digits, for example 09310000 or 09310000-5."))
    else:
        code = parsed.code
        known = session.get(CpvCode, code)
        if known is None:
            problem("cpv_code", _l("Unknown CPV code: %(codes)s", codes=code))
        elif parsed.check_digit is not None and parsed.check_digit != known.check_digit:
            problem("cpv_code", _l("The check digit of %(code)s is %(digit)s.", code=code, digit=known.check_digit))
    amount = values.annual_amount
    if amount is None:
        problem("annual_amount", _l("The yearly amount is required."))
    elif not isinstance(amount, Decimal) or not amount.is_finite():
        problem("annual_amount", _l("The yearly amount must be a number."))
    elif amount <= 0:
        problem("annual_amount", _l("The yearly amount must be greater than zero."))
    elif amount > AMOUNT_MAX:
        problem("annual_amount", _l("The yearly amount is too large."))
    elif amount != amount.quantize(Decimal("0.01")):
        problem("annual_amount", _l("Amounts have at most two decimals (cents)."))
    if values.start_date is None:
        problem("start_date", _l("The start date is required."))
    months = values.duration_months
    if months is None or not isinstance(months, int) or not 1 <= months <= 120:
        problem("duration_months", _l("The duration is a whole number of months from 1 to 120."))
    renewals = 0 if values.renewal_count is None else values.renewal_count
    if not isinstance(renewals, int) or isinstance(renewals, bool) or not 0 <= renewals <= RENEWAL_COUNT_MAX:
        problem("renewal_count", _l("The number of renewals is a whole number from 0 to %(n)d.", n=RENEWAL_COUNT_MAX))
    renewal_months = values.renewal_months
    if renewal_months is not None and (
        not isinstance(renewal_months, int) or isinstance(renewal_months, bool) or not 1 <= renewal_months <= 120
    ):
        problem("renewal_months", _l("A renewal lasts a whole number of months from 1 to 120."))
    options = Decimal("0.00") if values.options_amount is None else values.options_amount
    if not isinstance(options, Decimal) or not options.is_finite():
        problem("options_amount", _l("The options amount must be a number."))
    elif options < 0:
        problem("options_amount", _l("The options amount cannot be negative."))
    elif options > AMOUNT_MAX:
        problem("options_amount", _l("The options amount is too large."))
    elif options != options.quantize(Decimal("0.01")):
        problem("options_amount", _l("Amounts have at most two decimals (cents)."))
    if not reasons and estimated_value(amount, months, renewals, renewal_months, options) > AMOUNT_MAX:
        problem("annual_amount", _l("The total estimated value (renewals and options included) is too large."))
    if values.quantity is not None and (not isinstance(values.quantity, Decimal) or values.quantity < 0):
        problem("quantity", _l("The quantity cannot be negative."))
    if values.unit and len(values.unit) > UNIT_MAX:
        problem("unit", _l("At most %(n)d characters.", n=UNIT_MAX))
    if values.description and len(values.description) > DESCRIPTION_MAX:
        problem("description", _l("At most %(n)d characters.", n=DESCRIPTION_MAX))
    postcode = (values.delivery_postcode or "").strip() or None
    if postcode:
        postcode, message = clean_postcode(postcode)
        if message:
            problem("delivery_postcode", message)
    if reasons:
        raise ValidationFailed(reasons)
    return NeedValues(
        title=title,
        cpv_code=code,
        annual_amount=amount,
        start_date=values.start_date,
        duration_months=months,
        description=(values.description or "").strip(),
        renewal_count=renewals,
        renewal_months=renewal_months if renewals else None,
        options_amount=options,
        quantity=values.quantity,
        unit=normalise_unit(values.unit),
        current_contract_end=values.current_contract_end,
        delivery_postcode=postcode,
        environmental_criterion=bool(values.environmental_criterion),
        social_clause=bool(values.social_clause),
        short_supply_chain=bool(values.short_supply_chain),
        sustainability_notes=(values.sustainability_notes or "").strip(),
    )


def _check_status(status: str) -> str:
    if status not in WRITABLE_STATUSES:
        raise ValidationFailed({"status": [str(_l("The status is draft or submitted."))]})
    return status


# --- writing -----------------------------------------------------------------------------------------------


def create_need(session: Session, actor, values: NeedValues, *, status: str = "draft", organization=None) -> Need:
    """A buyer records a need for its own organization (the system may name one, for imports)."""
    if actor.role == "buyer":
        organization_id = actor.organization_id
    elif actor.role == "system" and organization is not None:
        organization_id = organization.id
    else:
        raise NotPermitted(str(_l("Only buyers record needs, for their own organization.")))
    clean = _validate(session, values)
    need = Need(
        organization_id=organization_id,
        created_by_id=actor.id,
        status=_check_status(status),
        submitted_at=utcnow() if status == "submitted" else None,
        **vars(clean),
    )
    session.add(need)
    session.flush()
    return need


def update_need(session: Session, actor, need: Need, changes: dict, *, expected_version: int | None = None) -> Need:
    """Change some fields (and optionally the status) of a need not yet in a group."""
    _check_writer(actor, need.organization_id)
    if need.status == "grouped":
        raise Conflict("need_grouped", str(_l("This need is in a pooled-purchase group and can no longer change.")))
    if expected_version is not None and expected_version != need.version:
        raise Conflict(
            "stale_version",
            str(_l("This need was changed by someone else meanwhile. Reload it and make your change again.")),
        )
    unknown = set(changes) - set(VALUE_FIELDS) - {"status"}
    if unknown:
        raise ValidationFailed({name: [str(_l("This field cannot be changed."))] for name in sorted(unknown)})
    merged = NeedValues.from_need(need)
    for name, value in changes.items():
        if name != "status":
            setattr(merged, name, value)
    clean = _validate(session, merged)
    with need_edit_watched(session, actor, need):
        for name, value in vars(clean).items():
            if getattr(need, name) != value:
                setattr(need, name, value)
    if "status" in changes and changes["status"] != need.status:
        change_status(session, actor, need, changes["status"])
    session.flush()
    return need


def change_status(session: Session, actor, need: Need, status: str) -> Need:
    """draft → submitted → withdrawn → submitted again; a submitted need may go back to draft."""
    _check_writer(actor, need.organization_id)
    if status not in NEED_STATUSES or status not in STATUS_CHANGES[need.status]:
        raise Conflict(
            "invalid_status_change",
            str(_l("A need cannot go from %(old)s to %(new)s.", old=need.status, new=status)),
        )
    need.status = status
    if status == "submitted":
        need.submitted_at = utcnow()
    session.flush()
    return need


def delete_need(session: Session, actor, need: Need) -> None:
    _check_writer(actor, need.organization_id)
    # A need brought to a group still forming is "submitted", but the group holds it: refused too (no 500 from the
    # foreign key).
    in_a_group = session.scalar(sa.select(sa.exists().where(GroupNeed.need_id == need.id)))
    if need.status == "grouped" or in_a_group:
        raise Conflict("need_grouped", str(_l("This need is in a pooled-purchase group and cannot be deleted.")))
    session.delete(need)
    session.flush()


# --- lists ---------------------------------------------------------------------------------------------------


@dataclass
class NeedFilters:
    organization: str | None = None  # organization code
    cpv: str | None = None  # a code prefix at any level ("09", "0931", "09310000")
    status: str | None = None
    start_from: date | None = None
    start_to: date | None = None
    q: str | None = None
    sort: str = "start_date"
    descending: bool = False


def _cpv_prefix(raw: str) -> str:
    prefix = cpv_domain.search_prefix(raw)
    if prefix is None:
        raise ValidationFailed({"cpv": [str(_l("A CPV code or prefix has 2 to 8 digits."))]})
    return prefix


def filtered_needs(actor, filters: NeedFilters) -> sa.Select:
    stmt = visible_needs(actor)
    if filters.organization:
        stmt = stmt.join(Organization, Need.organization_id == Organization.id).where(
            Organization.code == filters.organization.strip().upper()
        )
    if filters.cpv:
        stmt = stmt.where(Need.cpv_code.startswith(_cpv_prefix(filters.cpv)))
    if filters.status:
        if filters.status not in NEED_STATUSES:
            raise ValidationFailed({"status": [str(_l("Unknown status."))]})
        stmt = stmt.where(Need.status == filters.status)
    if filters.start_from:
        stmt = stmt.where(Need.start_date >= filters.start_from)
    if filters.start_to:
        stmt = stmt.where(Need.start_date <= filters.start_to)
    if filters.q:
        stmt = stmt.where(Need.title.icontains(filters.q.strip(), autoescape=True))
    return stmt


def ordered(stmt: sa.Select, filters: NeedFilters) -> sa.Select:
    column = SORTS.get(filters.sort)
    if column is None:
        raise ValidationFailed({"sort": [str(_l("Unknown sort order."))]})
    return stmt.order_by(column.desc() if filters.descending else column.asc(), Need.id)


@dataclass
class CursorPage:
    items: list[Need] = field(default_factory=list)
    next_cursor: str | None = None


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"n{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if raw.startswith("n"):
            return int(raw[1:])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        pass
    raise ValidationFailed({"cursor": [str(_l("This cursor is not valid."))]})


def list_needs_page(session: Session, actor, filters: NeedFilters, *, cursor: str | None, limit: int) -> CursorPage:
    """Keyset pagination by id, for the API: each need is listed once. Ids are random, so a need added while a
    client pages through the list shows up only if its id sorts after the client's cursor."""
    stmt = filtered_needs(actor, filters)
    after = decode_cursor(cursor)
    if after is not None:
        stmt = stmt.where(Need.id > after)
    items = list(session.scalars(stmt.order_by(Need.id).limit(limit + 1)))
    more = len(items) > limit
    items = items[:limit]
    return CursorPage(items=items, next_cursor=encode_cursor(items[-1].id) if more and items else None)


# --- import --------------------------------------------------------------------------------------------------


@dataclass
class ImportPreview:
    rows: list[dict]
    notes: list[Message]
    sheet: str | None


def check_import(session: Session, data: bytes, filename: str) -> ImportPreview:
    """Validate every row of a needs file; raise ValidationFailed listing every bad row, or return the rows."""
    check_digits = dict(session.execute(sa.select(CpvCode.code, CpvCode.check_digit)).all())
    result = parse_needs(data, filename, known_cpv=check_digits.__contains__)
    for row in result.rows:
        given = row.get("cpv_check_digit")
        if given and given != check_digits[row["cpv_code"]]:
            result.errors.append(
                Message(
                    row["row"],
                    "cpv_code",
                    N_("The check digit of %(code)s is %(digit)s."),
                    {"code": row["cpv_code"], "digit": check_digits[row["cpv_code"]]},
                )
            )
    refuse_bad_rows(result.errors, result.rows)
    return ImportPreview(rows=result.rows, notes=result.notes, sheet=result.sheet)


def import_needs(
    session: Session,
    actor,
    data: bytes,
    filename: str,
    *,
    organization: Organization | None = None,
    status: str = "submitted",
) -> list[Need]:
    """All or nothing: every row is checked first; nothing is written unless all are valid."""
    if actor.role == "buyer":
        organization = session.get(Organization, actor.organization_id)
    elif actor.role != "system":
        raise NotPermitted(str(_l("Only buyers import needs, for their own organization.")))
    if organization is None:
        raise ValidationFailed({"organization": [str(_l("Choose the organization the needs belong to."))]})
    _check_status(status)
    preview = check_import(session, data, filename)
    now = utcnow()
    needs = [
        Need(
            organization_id=organization.id,
            created_by_id=actor.id,
            status=status,
            submitted_at=now if status == "submitted" else None,
            **{name: row[name_in_row] for name, name_in_row in _IMPORT_FIELDS.items()},
        )
        for row in preview.rows
    ]
    session.add_all(needs)
    session.flush()
    sha = hashlib.sha256(data).hexdigest()
    record(session, actor, "needs.imported", organization, needs=len(needs), status=status, sha256=sha)
    return needs


_IMPORT_FIELDS = {
    "title": "title",
    "cpv_code": "cpv_code",
    "annual_amount": "annual_amount_eur",
    "start_date": "start_date",
    "duration_months": "duration_months",
    "renewal_count": "renewal_count",
    "renewal_months": "renewal_months",
    "options_amount": "options_amount_eur",
    "description": "description",
    "quantity": "quantity",
    "unit": "unit",
    "current_contract_end": "current_contract_end",
    "delivery_postcode": "delivery_postcode",
    "environmental_criterion": "environmental_criterion",
    "social_clause": "social_clause",
    "short_supply_chain": "short_supply_chain",
    "sustainability_notes": "sustainability_notes",
}
