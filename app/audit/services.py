"""Appending to the audit trail and reading it.

`record(session, actor, kind, obj, **details)` is the one way in: services call it in the transaction of the action
they audit, so that an action rolled back leaves no entry. Details hold ids, lots, receipt hashes: never an amount
(a Decimal is refused), so that no bid's amount can reach the trail before its deadline. The request's address is
put on the session by the web layer (ADDRESS_KEY); the command line and the scheduler have none.

Appends are serialised, so that two transactions cannot both chain onto the same head: PostgreSQL takes a
transaction-level advisory lock, SQLite its database write lock (a write statement takes it before the head is
read). The unique `position` backs both: a fork would break it, and the action runs again (app.actions.run).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.actors import require_role
from app.audit.chain import GENESIS_HASH, entry_hash
from app.audit.models import AuditEvent
from app.clock import PARIS, utcnow
from app.db import MAX_ID, random_id
from app.errors import ValidationFailed

log = logging.getLogger("mutualis.audit")

ADDRESS_KEY = "mutualis.audit.address"
# pg_advisory_xact_lock key of the chain's head ("audit" in ASCII).
CHAIN_LOCK_KEY = 0x6175646974

# kind → label shown to administrators
KINDS = {
    "login": _l("Login"),
    "login.failed": _l("Failed login"),
    "logout": _l("Logout"),
    "password.changed": _l("Password changed"),
    "token.issued": _l("API token issued"),
    "token.revoked": _l("API token revoked"),
    "permission.refused": _l("Permission refused"),
    "user.deactivated": _l("Account deactivated"),
    "user.reactivated": _l("Account reactivated"),
    "user.role_changed": _l("Role changed"),
    "bid.submitted": _l("Bid submitted"),
    "bid.replaced": _l("Bid replaced"),
    "bid.withdrawn": _l("Bid withdrawn"),
    "call.created": _l("Call created, deadlines set"),
    "call.published": _l("Call published"),
    "call.closed": _l("Call closed"),
    "call.cancelled": _l("Call cancelled"),
    "bid.scored": _l("Scores set"),
    "committee.enrolled": _l("Opening committee member enrolled"),
    "opening.share_given": _l("Committee member gave their passphrase at the opening"),
    "opening.refused": _l("Wrong passphrase at the opening"),
    "bids.opened": _l("Bids opened, opening record drawn up"),
    "lot.awarded": _l("Lot awarded"),
    "lot.unsuccessful": _l("Lot declared unsuccessful"),
    "contract.signed": _l("Contract signed"),
    "contract.amended": _l("Contract amended"),
    "convention.signed": _l("Convention signed"),
    "needs.imported": _l("Needs imported"),
    "spend.imported": _l("Spend imported"),
    "spend.rolled_back": _l("Spend import rolled back"),
}


def _plain(value):
    """Details as JSON values; an amount (Decimal) is refused: amounts never go into the trail."""
    if isinstance(value, Decimal):
        raise TypeError("amounts are never recorded in the audit trail")
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    if isinstance(value, date):  # and datetime
        return value.isoformat()
    if value is None or isinstance(value, bool | int | str):
        return value
    raise TypeError(f"an audit detail must be a plain value, not {type(value).__name__}")


def _lock_chain(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})
    else:  # SQLite: a write statement (changing nothing) takes the database's write lock until the commit
        session.execute(sa.text("UPDATE audit_event SET position = position WHERE 1 = 0"))


def record(session: Session, actor, kind: str, obj=None, **details) -> AuditEvent:
    """Append an event: `actor` a user, the system actor or None; `obj` a model instance with an id, or a
    (type, id) pair; `details` plain values (ids, lot numbers, receipt hashes)."""
    if kind not in KINDS:
        raise ValueError(f"unknown audit event kind: {kind}")
    if obj is None:
        object_type, object_id = None, None
    elif isinstance(obj, tuple):
        object_type, object_id = obj
    else:
        object_type, object_id = obj.__tablename__, obj.id
    plain = json.loads(json.dumps(_plain(details), ensure_ascii=False))
    _lock_chain(session)
    head = session.execute(
        sa.select(AuditEvent.position, AuditEvent.entry_hash).order_by(AuditEvent.position.desc()).limit(1)
    ).first()
    event = AuditEvent(
        id=random_id(),
        position=(head.position + 1) if head else 1,
        occurred_at=utcnow(),
        actor_id=getattr(actor, "id", None),
        organization_id=getattr(actor, "organization_id", None),
        kind=kind,
        object_type=object_type,
        object_id=object_id,
        details=plain,
        address=session.info.get(ADDRESS_KEY),
        previous_hash=head.entry_hash if head else GENESIS_HASH,
    )
    event.entry_hash = entry_hash(event)
    session.add(event)
    session.flush()
    return event


def record_apart(session: Session, actor, kind: str, obj=None, **details) -> None:
    """Record an event in a transaction of its own, once the request's own work was rolled back (a refused login,
    a refused permission): the refusal itself is kept. A failure here is logged, never shown to the user."""
    try:
        record(session, actor, kind, obj, **details)
        session.commit()
    except Exception:
        session.rollback()
        log.exception("could not record the audit event %s", kind)


@dataclass
class AuditFilters:
    kind: str | None = None
    actor_id: int | None = None
    actor_email: str | None = None
    organization_id: int | None = None
    since: date | datetime | None = None  # a date: from its start in Paris
    until: date | datetime | None = None  # a date: to its end in Paris (included)


@dataclass
class AuditPage:
    events: list[AuditEvent]
    actors: dict[int, User]
    page: int
    pages: int
    total: int


PER_PAGE = 50
# The columns an administrator reads (the API's items, the page's rows).
EVENT_COLUMNS = (
    "id",
    "position",
    "occurred_at",
    "kind",
    "actor_id",
    "organization_id",
    "object_type",
    "object_id",
    "details",
    "address",
    "previous_hash",
    "entry_hash",
)


def filters_from(values: dict) -> AuditFilters:
    """Filters from a query or a form: `kind`, `actor` (a user id or an email), `organization` (an id), `since` and
    `until` (dates or instants). An unknown kind is refused, naming the field."""
    kind = (values.get("kind") or "").strip() or None
    if kind is not None and kind not in KINDS:
        raise ValidationFailed({"kind": [str(_l("Unknown event kind: %(kind)s", kind=kind))]})
    actor = str(values.get("actor") or "").strip()
    is_id = actor.isascii() and actor.isdigit()  # str.isdigit() alone also takes '²', which int() cannot read
    if is_id and not 0 < int(actor) <= MAX_ID:
        raise ValidationFailed({"actor": [str(_l("Not a user id."))]})
    return AuditFilters(
        kind=kind,
        actor_id=int(actor) if is_id else None,
        actor_email=actor if actor and not is_id else None,
        organization_id=values.get("organization") or None,
        since=values.get("since"),
        until=values.get("until"),
    )


def _instant(value: date | datetime, *, end: bool) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=PARIS)
    day = value + timedelta(days=1) if end else value
    return datetime.combine(day, time(), tzinfo=PARIS)


def filtered_events(filters: AuditFilters) -> sa.Select:
    stmt = sa.select(AuditEvent)
    if filters.kind:
        stmt = stmt.where(AuditEvent.kind == filters.kind)
    if filters.actor_id:
        stmt = stmt.where(AuditEvent.actor_id == filters.actor_id)
    if filters.actor_email:
        email = filters.actor_email.strip().lower()
        stmt = stmt.where(AuditEvent.actor_id.in_(sa.select(User.id).where(User.email == email)))
    if filters.organization_id:
        stmt = stmt.where(AuditEvent.organization_id == filters.organization_id)
    if filters.since:
        stmt = stmt.where(AuditEvent.occurred_at >= _instant(filters.since, end=False))
    if isinstance(filters.until, datetime):
        stmt = stmt.where(AuditEvent.occurred_at <= _instant(filters.until, end=True))
    elif filters.until:
        stmt = stmt.where(AuditEvent.occurred_at < _instant(filters.until, end=True))
    return stmt


def list_events(session: Session, actor, filters: AuditFilters, page: int = 1, per_page: int = PER_PAGE) -> AuditPage:
    """Administrators read the trail, newest first, a page at a time."""
    require_role(actor, ("admin",), _l("Only an administrator can read the audit trail."))
    stmt = filtered_events(filters)
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    events = list(
        session.scalars(stmt.order_by(AuditEvent.position.desc()).offset((page - 1) * per_page).limit(per_page))
    )
    ids = {event.actor_id for event in events if event.actor_id}
    actors = {user.id: user for user in session.scalars(sa.select(User).where(User.id.in_(ids)))} if ids else {}
    return AuditPage(events=events, actors=actors, page=page, pages=pages, total=total)


def chain_in_order(session: Session):
    """Every entry in chain order, read in batches (for `flask audit verify`)."""
    return session.scalars(sa.select(AuditEvent).order_by(AuditEvent.position).execution_options(yield_per=500))
