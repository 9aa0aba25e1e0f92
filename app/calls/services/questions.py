"""Suppliers' questions on a call and the coordinator's public answers (the asker is never shown)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.calls.models import Call, Question
from app.calls.services.access import require_coordinator, require_supplier, supplier_users
from app.clock import utcnow
from app.domain.text import N_
from app.errors import Conflict, NotFound, ValidationFailed
from app.notifications.services import notify

MSG_QUESTION_ANSWERED = N_("Your question on “%(call)s” has been answered publicly.")


def ask_question(session: Session, actor, call: Call, text: str) -> Question:
    company = require_supplier(actor)
    now = utcnow()
    if call.status != "published" or now >= call.questions_deadline:
        raise Conflict("questions_closed", str(_l("Questions on this call are closed.")))
    text = (text or "").strip()
    if not text:
        raise ValidationFailed({"text": [str(_l("Write your question."))]})
    if len(text) > 4000:
        raise ValidationFailed({"text": [str(_l("At most %(n)d characters.", n=4000))]})
    question = Question(call_id=call.id, supplier_id=company.id, text=text, asked_at=now)
    call.questions.append(question)
    session.flush()
    return question


def answer_question(session: Session, actor, call: Call, question_id: int, answer: str) -> Question:
    require_coordinator(actor)
    question = session.get(Question, question_id)
    if question is None or question.call_id != call.id:
        raise NotFound(str(_l("This question does not exist.")))
    if not (answer or "").strip():
        raise ValidationFailed({"answer": [str(_l("Write the answer."))]})
    question.answer, question.answered_at, question.answered_by_id = answer.strip(), utcnow(), actor.id
    session.flush()
    notify(
        session,
        supplier_users(session, [question.supplier_id]),
        "question_answered",
        MSG_QUESTION_ANSWERED,
        {"call": call.title},
        f"/calls/{call.id}",
    )
    return question


def public_answers(call: Call) -> list[Question]:
    """Answered questions, for everyone who may see the call; the asker is never part of what is shown."""
    return [q for q in call.questions if q.answer]


def own_questions(call: Call, actor) -> list[Question]:
    if actor.role != "supplier":
        return []
    return [q for q in call.questions if q.supplier_id == actor.supplier_id]
