"""The clock of a call: its status by the server clock, closing at the deadline (exactly once, by the scheduler or by
the first request after it), reminders, and warnings about short bid periods."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import format_decimal, ngettext
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.audit.services import record
from app.calls.models import Bid, Call, Question
from app.calls.services import sealing
from app.calls.services.access import supplier_users
from app.calls.services.matching import matching_suppliers
from app.clock import PARIS, utcnow
from app.domain import contracts as contract_rules
from app.domain import scoring
from app.domain.procedures import PROCEDURE_LABELS
from app.domain.text import N_
from app.notifications.services import coordinators_of, notify

REMINDER_BEFORE_DEADLINE = timedelta(days=3)
# Less than this before the deadline a reminder is useless (nobody prepares a bid in an hour): it is not sent, as
# when the scheduler was down through the reminder window or the call was published with less time to bid.
REMINDER_MINIMUM_LEFT = timedelta(hours=1)
# Minimum bid periods shown as warnings to the coordinator (not refusals): an open call for tenders gives
# at least 35 days from the contract notice (code de la commande publique, R2161-2); for an adapted
# procedure the law asks for a "reasonable" period, which Mutualis takes as 15 days by default.
MINIMUM_BID_DAYS = {"formal": 35, "adapted": 15, "none": 0}

MSG_CALL_REMINDER = N_("Bids on “%(call)s” close on %(deadline)s (Paris time): %(days)d d %(hours)d h left to bid.")
MSG_CALL_CLOSED = N_("The call “%(call)s” is closed: the bids can now be opened and evaluated.")
MSG_QUESTIONS_WAITING = N_("%(count)s question(s) on “%(call)s” wait for an answer.")


def effective_status(call: Call, now: datetime | None = None) -> str:
    """What the call is by the clock: a published call past its deadline is closed, whatever the scheduler did."""
    now = now or utcnow()
    if call.status == "published" and call.deadline_passed(now):
        return "closed"
    return call.status


def effective_status_column(now: datetime):
    """effective_status as an SQL expression, to filter and sort lists of calls in the database."""
    return sa.case((sa.and_(Call.status == "published", Call.bid_deadline <= now), "closed"), else_=Call.status)


def deadline_warnings(call: Call, procedure_code: str | None, now: datetime | None = None) -> list[str]:
    """Warnings (not refusals) when the bid period or the standstill period is shorter than the usual minimum for
    the procedure."""
    standstill = [
        str(_l(message, **params))
        for message, params in contract_rules.standstill_warnings(procedure_code, call.standstill_days)
    ]
    return _bid_period_warnings(call, procedure_code, now) + standstill


def _bid_period_warnings(call: Call, procedure_code: str | None, now: datetime | None) -> list[str]:
    now = now or utcnow()
    start = call.published_at or now
    minimum = MINIMUM_BID_DAYS.get(procedure_code or "adapted", 0)
    days = (call.bid_deadline - start).total_seconds() / 86400
    if minimum and days < minimum:
        shown = max(round(days, 1), 0.0)
        return [
            str(
                ngettext(
                    "The bid period is %(days)s day; this procedure (%(procedure)s) usually gives at least "
                    "%(minimum)d days.",
                    "The bid period is %(days)s days; this procedure (%(procedure)s) usually gives at least "
                    "%(minimum)d days.",
                    plural_selector(shown),
                    days=format_decimal(shown, format="#,##0.0"),
                    procedure=_l(PROCEDURE_LABELS.get(procedure_code or "adapted", "")),
                    minimum=minimum,
                )
            )
        ]
    return []


def plural_selector(value: float) -> int:
    """The integer that picks the right plural of a decimal quantity in French and English alike: French keeps the
    singular below 2 ('0,5 jour', '1,5 jour'), English below or above 1 takes the plural ('0.5 days'); 0 does both."""
    if value == 1:
        return 1
    return 0 if value < 2 else int(value)


def _close(session: Session, call_id: int, now: datetime, by: str, process: str | None = None) -> bool:
    """Conditional update: the call closes exactly once, whoever (`by`: scheduler or request) gets there first."""
    result = session.execute(
        sa.update(Call)
        .where(Call.id == call_id, Call.status == "published", Call.bid_deadline <= now)
        .values(status="closed", closed_at=now, version=Call.version + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    call = session.get(Call, call_id)
    session.refresh(call)
    where = {"process": process} if process else {}
    record(session, None, "call.closed", call, by=by, deadline=call.bid_deadline, **where)
    sealing.open_automatically(session, call)  # without committee; a committee opens its call's bids itself
    if sealing.bids_opened(call):
        _flag_abnormally_low(session, call)
    notify(
        session,
        coordinators_of(session, None),
        "call_closed",
        MSG_CALL_CLOSED,
        {"call": call.title},
        f"/calls/{call.id}",
    )
    return True


def closing_due(call: Call, now: datetime | None = None) -> bool:
    """Published and past its deadline, not closed yet: the scheduler, or the first request after it, closes it."""
    return call.status == "published" and call.deadline_passed(now or utcnow())


def ensure_closed(session: Session, call: Call) -> None:
    if closing_due(call):
        _close(session, call.id, utcnow(), by="request")


def close_due_calls(session: Session, now: datetime | None = None, *, process: str | None = None) -> list[int]:
    """Close every published call whose deadline has passed (all overdue ones at once after a downtime); `process`:
    the scheduler process that does it, named in the audit trail."""
    now = now or utcnow()
    due = list(session.scalars(sa.select(Call.id).where(Call.status == "published", Call.bid_deadline <= now)))
    closed = [call_id for call_id in due if _close(session, call_id, now, by="scheduler", process=process)]
    for call_id in sealing.open_pending_calls(session):  # an opening that failed at closing, its key now back
        _flag_abnormally_low(session, session.get(Call, call_id))
    return closed


def _flag_abnormally_low(session: Session, call: Call) -> None:
    for lot in call.lots:
        bids = list(session.scalars(sa.select(Bid).where(Bid.lot_id == lot.id, Bid.status == "active")))
        for bid in bids:
            others = [b.amount for b in bids if b.id != bid.id]
            bid.abnormally_low = scoring.abnormally_low(bid.amount, others, lot.estimated_amount)
        if not bids:
            lot.status = "unsuccessful"
    session.flush()


def send_bid_reminders(session: Session, now: datetime | None = None) -> int:
    """Three days before the deadline, remind the matching suppliers (once per call)."""
    now = now or utcnow()
    due = list(
        session.scalars(
            sa.select(Call).where(
                Call.status == "published",
                Call.bid_reminder_sent_at.is_(None),
                Call.bid_deadline >= now + REMINDER_MINIMUM_LEFT,
                Call.bid_deadline <= now + REMINDER_BEFORE_DEADLINE,
            )
        )
    )
    sent = 0
    for call in due:
        claimed = session.execute(
            sa.update(Call)
            .where(Call.id == call.id, Call.bid_reminder_sent_at.is_(None))
            .values(bid_reminder_sent_at=now, version=Call.version + 1)
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed != 1:
            continue
        params = reminder_params(call, now)
        users = supplier_users(session, [c.id for c in matching_suppliers(session, call)])
        notify(session, users, "call_reminder", MSG_CALL_REMINDER, params, f"/calls/{call.id}")
        sent += 1
    return sent


def reminder_params(call: Call, now: datetime) -> dict:
    """The reminder's deadline as it reads in Paris (the wall clock of French buyers and suppliers, summer time
    included) and the real time left, in whole days and hours."""
    left = max(int((call.bid_deadline - now).total_seconds()) // 3600, 0)
    return {
        "call": call.title,
        "deadline": call.bid_deadline.astimezone(PARIS).strftime("%Y-%m-%d %H:%M"),
        "days": left // 24,
        "hours": left % 24,
    }


def send_question_reminders(session: Session, now: datetime | None = None) -> int:
    """Tell the coordinators, at most once a day per call, about questions still unanswered."""
    now = now or utcnow()
    rows = session.execute(
        sa.select(Call.id, sa.func.count(Question.id))
        .join(Question, Question.call_id == Call.id)
        .where(
            Call.status == "published",
            Question.answer.is_(None),
            sa.or_(
                Call.questions_reminder_sent_at.is_(None), Call.questions_reminder_sent_at <= now - timedelta(days=1)
            ),
        )
        .group_by(Call.id)
    ).all()
    for call_id, count in rows:
        call = session.get(Call, call_id)
        call.questions_reminder_sent_at = now
        notify(
            session,
            coordinators_of(session, None),
            "questions_waiting",
            MSG_QUESTIONS_WAITING,
            {"count": count, "call": call.title},
            f"/calls/{call.id}",
        )
    session.flush()
    return len(rows)
