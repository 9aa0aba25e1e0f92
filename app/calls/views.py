"""HTML pages of pooled calls for tenders and sealed bids: preparing and publishing a call, the list of calls, the
call page with what each role may do, bids and their receipts, documents, questions, evaluation and award, and the
suppliers' subscriptions.

Every rule (who sees a call, the bid deadline by the server clock, the sealing of bids, the price formula, who may
award what) lives in app.calls.services: the views parse the forms and call the service through app.actions (commit
once, or roll back and show the error, with the status of the refusal). Sealed bids: the call page reads no bid but
the bidder's own (services.list_bids for a supplier); for anyone else it asks services.list_bids / services.ranking,
which refuse until the deadline, and shows in their place a notice that depends only on the call and the clock —
never on whether anything was submitted.
"""

from __future__ import annotations

import base64
import json
import re
from collections import defaultdict
from datetime import UTC, datetime, time, timedelta

import sqlalchemy as sa
from flask import Response, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_fresh
from sqlalchemy.orm import joinedload, selectinload

from app import actions, confirmation
from app.accounts.auth import public, roles_required
from app.calls import (
    bp,
    decp,
    models,  # noqa: F401
    services,
)
from app.calls.evaluation_table import evaluation_tables
from app.calls.forms import (
    BID_STATUS_LABELS,
    CALL_STATUS_LABELS,
    CRITERION_LABELS,
    DEFAULT_WEIGHTS,
    LOCALITY_LABELS,
    LOT_STATUS_LABELS,
    AnswerForm,
    BidForm,
    CallFilterForm,
    CallForm,
    CancelForm,
    PassphraseForm,
    QuestionForm,
    SubscriptionForm,
    UploadForm,
    score_form,
)
from app.calls.models import CALL_STATUSES, Award, Bid, Call, CallLot
from app.calls.receipt_pdf import receipt_pdf
from app.calls.services import committee, sealing
from app.calls.throttling import passphrase_throttled
from app.calls.values import call_procedure, call_total_value, small_call_lots
from app.clock import PARIS, paris_today, utcnow
from app.domain.cpv import code_of_prefix, search_prefix
from app.domain.procedures import PROCEDURE_LABELS
from app.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from app.extensions import db, login_manager
from app.forms import apply_errors, posted_int
from app.groups import services as group_services
from app.groups.models import Lot, LotShare, PurchaseGroup
from app.i18n import current_language, money
from app.impact.services import call_impacts
from app.organizations.models import Organization
from app.pagination import page_number, paginate
from app.reference.services import labels as cpv_labels
from app.uploads import file_bytes

EVALUATORS = ("coordinator", "admin", "buyer")  # who sees the bids and the ranking once the deadline has passed
SUBMIT_ATTEMPTS = 3
HOME_CALLS = 8

CALL_STATUS_BADGES = {
    "draft": "text-bg-secondary",
    "published": "text-bg-success",
    "closed": "text-bg-warning",
    "evaluated": "text-bg-info",
    "awarded": "text-bg-primary",
    "cancelled": "text-bg-dark",
    "unsuccessful": "text-bg-danger",
}
OUTCOME_BADGES = {"active": "text-bg-success", "awarded": "text-bg-primary", "unsuccessful": "text-bg-secondary"}
LOT_STATUS_BADGES = {"open": "text-bg-light border", "awarded": "text-bg-primary", "unsuccessful": "text-bg-danger"}
LOCALITY_BADGES = {"departement": "text-bg-success", "region": "text-bg-info", "elsewhere": "text-bg-light border"}
CALL_FIELDS = ("title", "description", "questions_deadline", "bid_deadline")
LOT_FIELDS = {"title": "title", "cpv_code": "cpv_code", "estimated_amount_eur": "estimated_amount"}
BID_FIELDS = {"amount_eur": "amount"}
SCORE_INPUT = re.compile(r"^score-(\d+)-\w+$", re.ASCII)  # a score input of the lot form: score-<bid id>-<criterion>
MATCHED_SHOWN = 20  # matching suppliers listed on a call page, local ones first


# --- helpers shared by the templates --------------------------------------------------------------------------------


@bp.app_template_filter("b64")
def _base64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


@bp.app_context_processor
def _call_helpers():
    return {
        "call_status_label": lambda status: CALL_STATUS_LABELS.get(status, status),
        "call_status_badge": lambda status: CALL_STATUS_BADGES.get(status, "text-bg-light"),
        "lot_status_label": lambda status: LOT_STATUS_LABELS.get(status, status),
        "lot_status_badge": lambda status: LOT_STATUS_BADGES.get(status, "text-bg-light"),
        "bid_status_label": lambda status: BID_STATUS_LABELS.get(status, status),
        "outcome_badge": lambda status: OUTCOME_BADGES.get(status, "text-bg-light border"),
        "reason_texts": services.reason_texts,
        "criterion_label": lambda name: CRITERION_LABELS.get(name, name),
        "utc_text": utc_text,
        "time_left": time_left,
        "group_calls": _group_calls,
        "supplier_open_calls": _supplier_open_calls,
        "supplier_recent_bids": _supplier_recent_bids,
        "call_total_value": call_total_value,
    }


def utc_text(moment: datetime | None) -> str:
    """The instant in UTC, for the title attribute next to the Paris time: '2026-12-10 11:00:00 UTC'."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


def time_left(deadline: datetime, now: datetime | None = None) -> str:
    """'16 days 23 hours', '5 hours 12 minutes', '40 seconds'; empty once the deadline has passed."""
    seconds = int((deadline - (now or utcnow())).total_seconds())
    if seconds <= 0:
        return ""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [
        (days, ngettext("%(num)d day", "%(num)d days", days)),
        (hours, ngettext("%(num)d hour", "%(num)d hours", hours)),
        (minutes, ngettext("%(num)d minute", "%(num)d minutes", minutes)),
        (seconds, ngettext("%(num)d second", "%(num)d seconds", seconds)),
    ]
    first = next(index for index, (value, _text) in enumerate(parts) if value)
    return " ".join(text for value, text in parts[first : first + 2] if value)


def from_paris(local: datetime | None) -> datetime | None:
    """A wall-clock time typed in Paris (datetime-local input) as an aware UTC instant."""
    if local is None:
        return None
    return local.replace(tzinfo=PARIS).astimezone(UTC)


def _paris_local(moment: datetime) -> datetime:
    return moment.astimezone(PARIS).replace(tzinfo=None, second=0, microsecond=0)


def _back(call_id: int, anchor: str | None = None):
    return redirect(url_for(".call_detail", call_id=call_id, _anchor=anchor))


def _procedure_code(group: PurchaseGroup) -> str | None:
    procedure = group_services.summarize(group, today=paris_today()).procedure
    return procedure.code if procedure else None


def _group_calls(group: PurchaseGroup) -> list[tuple[Call, str]]:
    """The calls of a group the user may see, with their status by the clock (for the group page)."""
    if not current_user.is_authenticated or current_user.role not in EVALUATORS:
        return []
    stmt = (
        services.visible_calls(current_user)
        .where(Call.group_id == group.id)
        .order_by(Call.created_at.desc(), Call.id.desc())
    )
    now = utcnow()
    return [(call, services.effective_status(call, now)) for call in db.session.scalars(stmt)]


def _supplier_open_calls() -> list[Call]:
    """Open calls matching the supplier's trades and subscriptions, the nearest deadline first (home page)."""
    if not current_user.is_authenticated or current_user.role != "supplier":
        return []
    stmt = (
        services.matching_calls(current_user)
        .where(services.effective_status_column(utcnow()) == "published")
        .options(selectinload(Call.lots))
        .order_by(Call.bid_deadline, Call.id)
        .limit(HOME_CALLS)
    )
    return list(db.session.scalars(stmt))


def _supplier_recent_bids() -> tuple[list[Bid], dict]:
    """The supplier's latest bids with their outcome (home page); the full list is on "my bids and contracts"."""
    if not current_user.is_authenticated or current_user.role != "supplier":
        return [], {}
    found = services.supplier_bids(db.session, current_user)
    recent = found.bids[:HOME_CALLS]
    return recent, found.outcomes


def _load_call(call_id: int, page: bool = False) -> Call:
    """The call as the service scopes it, with its collections in one statement each (no query per row); its
    criteria come with the call, each lot's group lot with the lots. `page`: also what the call page shows of every
    lot, the shares behind its yearly amount, with the lots too (not one statement per lot); the page reads the shares'
    amounts, not their organizations."""
    options = [
        selectinload(Call.lots).joinedload(CallLot.group_lot),
        joinedload(Call.criteria),  # a few rows: joined to the call's
        selectinload(Call.documents),
        selectinload(Call.questions),
    ]
    if page:
        shares = selectinload(Call.lots).joinedload(CallLot.group_lot).joinedload(Lot.shares)
        options.append(shares.lazyload(LotShare.organization))
    return services.get_call(db.session, current_user, call_id, options)


# --- preparing a call -----------------------------------------------------------------------------------------------


def _initial_call_data(group: PurchaseGroup, procedure_code: str | None) -> dict:
    """The group's lots as editable rows, the default weights, and deadlines that give the usual minimum period."""
    rows = [
        {
            "group_lot_id": str(lot.id),
            "title": lot.title,
            "cpv_code": lot.cpv_code,
            "estimated_amount": lot.estimated_amount or None,
        }
        for lot in group.lots
    ]
    if not rows:
        summary = group_services.summarize(group, today=paris_today())
        codes = sorted({gn.need.cpv_code for gn in group.group_needs if gn.included})
        scope = code_of_prefix(group.scope_cpv_prefix) if group.scope_cpv_prefix else None
        rows = [
            {
                "title": group.name,
                "cpv_code": scope or (codes[0] if codes else ""),
                "estimated_amount": summary.total_amount or None,
            }
        ]
    days = max(services.MINIMUM_BID_DAYS.get(procedure_code or "adapted", 0), 15) + 1
    today = datetime.combine(paris_today(), time(12))
    data = {
        "title": group.name,
        "lots": rows,
        "bid_deadline": today + timedelta(days=days),
        "questions_deadline": today + timedelta(days=days - 6),
    }
    data.update({f"weight_{name}": weight for name, weight in DEFAULT_WEIGHTS.items()})
    return data


def _kept_lots(form: CallForm) -> list:
    return [entry for entry in form.lots.entries if not entry.form.remove.data and not entry.form.is_blank()]


def _show_call_errors(form: CallForm, kept: list, error: ValidationFailed, problems: dict[str, list[str]]) -> None:
    """The call form's own display of the service's reasons: `lots.<n>.<field>` on the n-th lot kept, lots and
    criteria above their tables; the call's fields, and anything else, as app.forms.apply_errors shows them."""
    rest: dict[str, list[str]] = {}
    for key, messages in error.reasons.items():
        parts = key.split(".")
        if parts[0] == "lots" and len(parts) == 3 and parts[1].isdigit() and int(parts[1]) < len(kept):
            field = kept[int(parts[1])].form[LOT_FIELDS.get(parts[2], parts[2])]
            field.errors = [*field.errors, *messages]
        elif key in ("lots", "criteria") or (parts[0] in ("lots", "criteria") and key not in CALL_FIELDS):
            problems[parts[0]].extend(messages)
        else:
            rest[key] = messages
    if rest or not error.reasons:
        apply_errors(form, ValidationFailed(rest, message=error.message))


@bp.route("/groups/<int:group_id>/calls/new", methods=["GET", "POST"])
@roles_required("coordinator")
def new_call(group_id: int):
    group = group_services.get_group(db.session, current_user, group_id)
    if group.status != "constituted":
        return render_template("calls/new.html", group=group, form=None), 409 if request.method == "POST" else 200
    procedure_code = _procedure_code(group)
    if request.method == "POST":
        form = CallForm()
    else:
        form = CallForm(formdata=None, data=_initial_call_data(group, procedure_code))
    problems: dict[str, list[str]] = {"lots": [], "criteria": []}

    def create():
        kept, criteria = _kept_lots(form), form.criteria()
        missing: dict[str, list[str]] = {}
        if not kept:
            missing["lots"] = [_("A call has at least one lot.")]
        if not criteria:
            missing["criteria"] = [_("Give the weight of each criterion used; price is required.")]
        if missing:
            raise ValidationFailed(missing)
        own_lots = {lot.id for lot in group.lots}
        values = services.CallValues(
            title=form.title.data or "",
            description=form.description.data or "",
            questions_deadline=from_paris(form.questions_deadline.data),
            bid_deadline=from_paris(form.bid_deadline.data),
            lots=[
                services.LotInput(
                    title=row.form.title.data or "",
                    cpv_code=row.form.cpv_code.data or "",
                    estimated_amount=row.form.estimated_amount.data,
                    # only a lot of this group may be linked: its shares make the members' contracts
                    group_lot_id=gid if (gid := posted_int(row.form.group_lot_id.data)) in own_lots else None,
                )
                for row in kept
            ],
            criteria=criteria,
            standstill_days=form.standstill_days.data,
            contract_kind=form.contract_kind.data or "contract",
        )
        call = services.create_call(db.session, current_user, group, values)
        return call, services.deadline_warnings(call, procedure_code)

    if request.method == "POST" and form.add_lot.data:
        form.lots.append_entry()  # one more row; nothing is saved
        status = 200
    else:
        done = actions.submit(
            form,
            create,
            success=_("The draft call is created. Check it, add its documents, then publish it."),
            shown_by_page=("validation_error",),
        )
        if done:
            call, warnings = done.value
            for warning in warnings:
                flash(warning, "warning")
            return redirect(url_for(".call_detail", call_id=call.id))
        if isinstance(done.error, ValidationFailed):
            _show_call_errors(form, _kept_lots(form), done.error, problems)
        status = done.status
    lang = current_language()
    codes = [entry.form.cpv_code.data for entry in form.lots.entries if entry.form.cpv_code.data]
    known = cpv_labels(db.session, codes, lang)
    picked = {
        entry.form.cpv_code.id: f"{entry.form.cpv_code.data} — {known[entry.form.cpv_code.data]}"
        for entry in form.lots.entries
        if entry.form.cpv_code.data in known
    }
    return render_template(
        "calls/new.html",
        group=group,
        form=form,
        problems=problems,
        picked=picked,
        procedure_code=procedure_code,
        minimum_days=services.MINIMUM_BID_DAYS.get(procedure_code or "adapted", 0),
        procedure_labels=PROCEDURE_LABELS,
    ), status


# --- the list -------------------------------------------------------------------------------------------------------


def _call_places(calls: sa.Select) -> list[str]:
    """The départements of the calls of `calls`: their coordinating organizations' and their lots' delivery areas,
    in one statement for all."""
    ids = calls.with_only_columns(Call.id).order_by(None)
    coordinators = (
        sa.select(sa.func.substr(Organization.postcode, 1, 2))
        .join(PurchaseGroup, PurchaseGroup.coordinator_organization_id == Organization.id)
        .join(Call, Call.group_id == PurchaseGroup.id)
        .where(Call.id.in_(ids))
    )
    areas = (
        sa.select(sa.func.substr(Lot.delivery_area, 1, 2))
        .join(CallLot, CallLot.group_lot_id == Lot.id)
        .where(CallLot.call_id.in_(ids))
    )
    found = db.session.scalars(sa.union(coordinators, areas))
    return sorted({p for p in found if p and len(p) == 2 and p.isalnum()})


def _in_place(place: str):
    """The calls whose coordinating organization or one of whose lots' delivery areas is in the département."""
    return sa.or_(
        Call.group.has(PurchaseGroup.coordinator_organization.has(Organization.postcode.startswith(place))),
        Call.lots.any(CallLot.group_lot.has(Lot.delivery_area.startswith(place))),
    )


@bp.get("/calls")
@public
def list_calls():
    """The calls the visitor may see: anonymous visitors and suppliers the published ones (never a draft)."""
    supplier = current_user.role == "supplier"
    outside = current_user.role in ("supplier", "anonymous")  # sees published calls only
    form = CallFilterForm(formdata=request.args)
    args = request.args
    if outside and "status" not in args:
        form.status.data = "published"  # suppliers first see the calls open for bids
    if supplier and form.matching.data:
        stmt = services.matching_calls(current_user)
    else:
        stmt = services.visible_calls(current_user)
    cpv_problem = None
    if form.cpv.data:
        prefix = search_prefix(form.cpv.data)
        if prefix is None:
            cpv_problem = _("A CPV code or prefix has 2 to 8 digits.")
        else:
            stmt = stmt.where(Call.lots.any(CallLot.cpv_code.startswith(prefix)))
    now = utcnow()
    state = services.effective_status_column(now)
    statuses = [s for s in CALL_STATUSES if not (outside and s == "draft")]
    form.set_choices(_call_places(stmt), statuses)
    if form.place.data:
        stmt = stmt.where(_in_place(form.place.data))
    if form.status.data:
        stmt = stmt.where(state == form.status.data)
    # Open calls first, the nearest deadline first; then the others, the latest deadline first.
    stmt = stmt.options(selectinload(Call.lots).selectinload(CallLot.group_lot)).order_by(
        sa.case((state == "published", 0), else_=1),
        sa.case((state == "published", Call.bid_deadline)),
        Call.bid_deadline.desc(),
        Call.id.desc(),
    )
    pagination = paginate(stmt, page_number())
    rows = [(call, services.effective_status(call, now)) for call in pagination.items]
    codes = {lot.cpv_code for call, _state in rows for lot in call.lots}

    def page_url(page: int) -> str:
        return url_for(".list_calls", **{**request.args.to_dict(), "page": page})

    return render_template(
        "calls/list.html",
        form=form,
        rows=rows,
        pagination=pagination,
        page_url=page_url,
        now=now,
        labels=cpv_labels(db.session, codes, current_language()),
        cpv_problem=cpv_problem,
        filtered=any(args.get(name) for name in ("cpv", "place", "matching", "status")),
    )


# --- the call page --------------------------------------------------------------------------------------------------


def _evaluation(call: Call) -> dict | None:
    """After the deadline, for coordinators, administrators and member buyers: the bids ranked per lot, awards and
    contracts. Before it the services refuse (bids_sealed) and the page shows the same notice whatever was submitted.
    """
    if current_user.role not in EVALUATORS:
        return None
    try:
        # closes the call once the deadline has passed; the page lists no bid document
        bids = services.list_bids(db.session, current_user, call, documents=False)
    except NotPermitted:
        return None
    except Conflict as error:  # bids_not_opened: the committee has not opened them yet
        if error.code != "bids_not_opened":
            raise
        return None
    ranked = services.ranking(db.session, current_user, call, bids)  # list_bids loaded their scores and suppliers
    awarded = [lot.id for lot in call.lots if lot.status == "awarded"]  # awarding a lot marks it: no award before
    awards = (
        {award.lot_id: award for award in db.session.scalars(sa.select(Award).where(Award.lot_id.in_(awarded)))}
        if awarded
        else {}
    )
    contracts = defaultdict(list)
    lot_of_award = {award.id: lot_id for lot_id, award in awards.items()}
    if awards:
        for contract in services.contracts_of(db.session, call):
            contracts[lot_of_award.get(contract.award_id)].append(contract)
    # Coordinators see how the members rated each bidder after earlier contracts, when they award next time.
    records = {}
    if current_user.role == "coordinator":
        from app.contracts.services import supplier_records

        records = supplier_records(db.session, {b.supplier_id for b in bids})
    return {"ranked": ranked, "awards": awards, "contracts": contracts, "records": records}


def _render_detail(call: Call, status: int = 200, **forms):
    """The call page; `forms` replaces the blank action forms by bound ones carrying the user's input and errors."""
    now = utcnow()
    role = current_user.role
    state = services.effective_status(call, now)
    lang = current_language()
    coordinator = role == "coordinator"
    supplier = role == "supplier"
    editable = state in ("draft", "published")
    criteria = list(call.criteria)
    scored = [c.name for c in criteria if c.name != "price"]
    criterion_labels = {c.name: str(CRITERION_LABELS.get(c.name, c.name)) for c in criteria}
    evaluation = _evaluation(call)
    # the procedure of the call itself: its lots, under the thresholds of the day it was (or would be) published
    procedure = call_procedure(call, paris_today())
    context: dict = {
        "call": call,
        "group": call.group,
        "state": state,
        "now": now,
        "lang": lang,
        "labels": cpv_labels(db.session, [lot.cpv_code for lot in call.lots], lang),
        "criteria": criteria,
        "scored_criteria": scored,
        "answers": services.public_answers(call),
        "coordinator": coordinator,
        "supplier": supplier,
        "editable": editable,
        "open_for_bids": call.is_open_for_bids(now),
        "questions_open": state == "published" and now < call.questions_deadline,
        "estimated_total": call_total_value(call),
        "small_lots": small_call_lots(call, procedure),
        "locality_labels": LOCALITY_LABELS,
        "locality_badges": LOCALITY_BADGES,
        "evaluation": evaluation,
        "evaluation_tables": evaluation_tables(
            call.lots,
            criteria,
            evaluation,
            can_decide=coordinator and call.status in ("closed", "evaluated"),
            criterion_labels=criterion_labels,
            input_label=_("Score out of 100"),
            score_forms=forms.get("score_forms", {}),
            language=lang,
        )
        if evaluation
        else {},
        "criterion_labels": criterion_labels,
        "decp_allowed": role in decp.READERS,
        "award_notices": services.award_notices(db.session, call),
        "impact": call_impacts(db.session, [call])[call.id],
        "impact_public": not current_user.is_authenticated or supplier,
    }
    if coordinator:
        context["warnings"] = (
            services.deadline_warnings(call, procedure.code if procedure else None, now) if editable else []
        )
        matched = paginate(services.matching_suppliers_query(call), 1, MATCHED_SHOWN) if editable else None
        context["matched"] = [(c, services.locality_label(call, c)) for c in matched.items] if matched else []
        context["matched_count"] = matched.total if matched else 0
        context["upload_form"] = forms.get("upload_form") or UploadForm(prefix="upload", formdata=None)
        context["cancel_form"] = forms.get("cancel_form") or CancelForm(prefix="cancel", formdata=None)
        bound = forms.get("answer_forms", {})
        context["answer_forms"] = {
            q.id: bound.get(q.id) or AnswerForm(prefix=f"answer-{q.id}", formdata=None, data={"answer": q.answer})
            for q in call.questions
        }
    if supplier:
        own = services.list_bids(db.session, current_user, call)
        active = {b.lot_id: b for b in own if b.status == "active"}
        context["own_bids"] = own
        context["own_outcomes"] = services.bid_outcomes(db.session, own)
        context["active_bids"] = active
        context["own_questions"] = [q for q in services.own_questions(call, current_user) if not q.answer]
        context["question_form"] = forms.get("question_form") or QuestionForm(prefix="question", formdata=None)
        bound = forms.get("bid_forms", {})
        context["bid_forms"] = {}
        for lot in call.lots:
            current = active.get(lot.id)
            data = (
                {
                    "amount": current.amount,
                    "technical_note": current.technical_note,
                    "environmental_note": current.environmental_note,
                    "delivery_distance_km": current.delivery_distance_km,
                }
                if current
                else {}
            )
            context["bid_forms"][lot.id] = bound.get(lot.id) or BidForm(
                prefix=f"bid-{lot.id}", formdata=None, data=data
            )
    return render_template("calls/detail.html", **context), status


@bp.get("/calls/<int:call_id>")
@public
def call_detail(call_id: int):
    """The call page: public once published (without any bid information); drafts are 404 to whoever may not see
    them."""
    call = _load_call(call_id, page=True)
    if services.closing_due(call):
        # The first reader after the deadline closes the call, exactly once (a conditional update; the scheduler
        # does the same), as an action of its own: committed, its notifications sent after that commit. The page
        # itself is read-only and commits nothing.
        actions.run(lambda: services.ensure_closed(db.session, call))
        call = _load_call(call_id, page=True)
    return _render_detail(call)


# --- the coordinator's actions --------------------------------------------------------------------------------------


@bp.post("/calls/<int:call_id>/publish")
@roles_required("coordinator")
def publish_call(call_id: int):
    call = _load_call(call_id)
    if not confirmation.confirmed() and call.status == "draft":
        return confirmation.ask(
            _("Publish the call"),
            _("Publish the call “%(title)s”?", title=call.title),
            [
                _("The matching suppliers are notified at once, local ones first."),
                _("The lots, criteria and deadlines can no longer change afterwards."),
            ],
            _("Yes, publish the call"),
            url_for(".call_detail", call_id=call.id),
        )
    done = actions.submit(None, lambda: len(services.publish_call(db.session, current_user, call)))
    if not done:
        return _render_detail(_load_call(call_id, page=True), done.status)
    if done.value:
        message = ngettext(
            "The call is published: %(num)d matching supplier is notified.",
            "The call is published: %(num)d matching suppliers are notified.",
            done.value,
        )
    else:
        message = _("The call is published. No registered supplier matches its lots yet.")
    flash(message, "success")
    return _back(call_id)


@bp.post("/calls/<int:call_id>/cancel")
@roles_required("coordinator")
def cancel_call(call_id: int):
    call = _load_call(call_id)
    form = CancelForm(prefix="cancel")
    done = actions.submit(
        form,
        lambda: services.cancel_call(db.session, current_user, call, form.reason.data or ""),
        success=_("The call is cancelled."),
    )
    if done:
        return _back(call_id)
    return _render_detail(_load_call(call_id, page=True), done.status, cancel_form=form)


@bp.post("/calls/<int:call_id>/documents")
@roles_required("coordinator")
def upload_document(call_id: int):
    call = _load_call(call_id)
    form = UploadForm(prefix="upload")

    def add():
        upload = form.file.data
        if upload is None or not getattr(upload, "filename", ""):
            raise ValidationFailed({"file": [_("Choose a file.")]})
        return services.add_document(
            db.session, current_user, call, upload.filename, file_bytes(upload), current_app.config["UPLOAD_FOLDER"]
        )

    done = actions.submit(
        form, add, success=lambda document: _("The document “%(name)s” is added to the call.", name=document.filename)
    )
    if done:
        return _back(call_id, "documents")
    return _render_detail(_load_call(call_id, page=True), done.status, upload_form=form)


@bp.get("/calls/<int:call_id>/documents/<int:document_id>")
@public
def download_document(call_id: int, document_id: int):
    """A consultation document: free and open to all once the call is published (R2132-2)."""
    call = services.get_call(db.session, current_user, call_id)
    document, path = services.document_file(
        db.session, current_user, call, document_id, current_app.config["UPLOAD_FOLDER"]
    )
    response = send_file(path, mimetype=document.content_type, as_attachment=True, download_name=document.filename)
    return response


@bp.post("/calls/<int:call_id>/questions/<int:question_id>/answer")
@roles_required("coordinator")
def answer_question(call_id: int, question_id: int):
    call = _load_call(call_id)
    form = AnswerForm(prefix=f"answer-{question_id}")
    done = actions.submit(
        form,
        lambda: services.answer_question(db.session, current_user, call, question_id, form.answer.data or ""),
        success=_("The answer is published to every supplier, without the name of who asked."),
    )
    if done:
        return _back(call_id, "questions")
    return _render_detail(_load_call(call_id, page=True), done.status, answer_forms={question_id: form})


@bp.post("/calls/<int:call_id>/scores")
@roles_required("coordinator")
def score_bid(call_id: int):
    call = _load_call(call_id)
    bid_id = posted_int(request.form.get("bid_id"))
    names = [c.name for c in call.criteria if c.name != "price"]
    form = score_form(names, prefix=f"score-{bid_id}", formdata=request.form)

    def score():
        scores = {name: form[name].data for name in names if form[name].data is not None}
        if not scores:
            raise ValidationFailed({"scores": [_("Give at least one score from 0 to 100.")]})
        services.score_bid(db.session, current_user, call, bid_id or 0, scores)

    done = actions.submit(
        form, score, rename={f"scores.{name}": name for name in names}, success=_("The scores are saved.")
    )
    if done:
        return _back(call_id, "evaluation")
    return _render_detail(_load_call(call_id, page=True), done.status, score_forms={bid_id: form})


@bp.post("/calls/<int:call_id>/lots/<int:lot_id>/scores")
@roles_required("coordinator")
def score_lot(call_id: int, lot_id: int):
    """Every bid of a lot scored in one form: the inputs `score-<bid id>-<criterion>` of the lot's table, all saved
    or none."""
    call = _load_call(call_id)
    names = [c.name for c in call.criteria if c.name != "price"]
    bid_ids = sorted(
        {bid_id for key in request.form if (match := SCORE_INPUT.match(key)) and (bid_id := posted_int(match[1]))}
    )
    forms = {bid_id: score_form(names, prefix=f"score-{bid_id}", formdata=request.form) for bid_id in bid_ids}
    invalid = [bid_id for bid_id, form in forms.items() if not form.validate()]

    def score():
        if invalid:  # numbers that do not parse: shown on their fields
            raise ValidationFailed({f"scores.{bid_id}": [] for bid_id in invalid})
        given = {
            bid_id: {name: form[name].data for name in names if form[name].data is not None}
            for bid_id, form in forms.items()
        }
        return services.score_lot(db.session, current_user, call, lot_id, given)

    done = actions.submit(
        None,
        score,
        success=lambda scored: ngettext(
            "The scores of %(num)d bid are saved.", "The scores of %(num)d bids are saved.", len(scored)
        ),
        shown_by_page=("validation_error",),
    )
    if done:
        return _back(call_id, "evaluation")
    if isinstance(done.error, ValidationFailed):
        for key, messages in done.error.reasons.items():
            parts = key.split(".")
            target = forms.get(posted_int(parts[1])) if len(parts) == 3 else None
            if target is not None and parts[2] in names:
                target[parts[2]].errors = [*target[parts[2]].errors, *messages]
            elif messages:
                flash(" ".join(messages), "danger")
    return _render_detail(_load_call(call_id, page=True), done.status, score_forms=forms)


@bp.post("/calls/<int:call_id>/awards")
@roles_required("coordinator")
def award_lot(call_id: int):
    call = _load_call(call_id)
    lot_id, bid_id = posted_int(request.form.get("lot_id")), posted_int(request.form.get("bid_id"))
    lot = next((lot for lot in call.lots if lot.id == lot_id), None)
    chosen = _readable_bid(bid_id)
    if not confirmation.confirmed() and lot is not None and chosen is not None and chosen.lot_id == lot.id:
        # only a bid the coordinator may already read (after the deadline) is named; anything else goes on to the
        # service, which refuses it
        return confirmation.ask(
            _("Award the lot"),
            _(
                "Award lot %(number)d to %(supplier)s for %(amount)s excl. VAT?",
                number=lot.number,
                supplier=chosen.supplier.name,
                amount=money(chosen.amount),
            ),
            [
                _("One contract per member organization is recorded, with its share."),
                _(
                    "The other bidders are told their rank and receive the letter with the reasons and the standstill "
                    "period."
                ),
                _("An award cannot be undone."),
            ],
            _("Yes, award the lot"),
            url_for(".call_detail", call_id=call.id, _anchor="evaluation"),
        )
    done = actions.submit(
        None,
        lambda: services.award_lot(
            db.session,
            current_user,
            call,
            lot_id or 0,
            bid_id or 0,
        ),
        success=lambda award: _(
            "Lot %(number)d is awarded to %(supplier)s.", number=award.lot.number, supplier=award.bid.supplier.name
        ),
    )
    if done:
        return _back(call_id, "evaluation")
    return _render_detail(_load_call(call_id, page=True), done.status)


def _readable_bid(bid_id: int | None) -> Bid | None:
    if bid_id is None:
        return None
    try:
        return services.get_bid(db.session, current_user, bid_id)
    except NotFound:
        return None


@bp.post("/calls/<int:call_id>/lots/<int:lot_id>/unsuccessful")
@roles_required("coordinator")
def declare_unsuccessful(call_id: int, lot_id: int):
    call = _load_call(call_id)
    done = actions.submit(
        None,
        lambda: services.declare_unsuccessful(db.session, current_user, call, lot_id),
        success=_("The lot is declared unsuccessful."),
    )
    if done:
        return _back(call_id, "evaluation")
    return _render_detail(_load_call(call_id, page=True), done.status)


# --- the supplier's actions -----------------------------------------------------------------------------------------


@bp.post("/calls/<int:call_id>/questions")
@roles_required("supplier")
def ask_question(call_id: int):
    call = _load_call(call_id)
    form = QuestionForm(prefix="question")
    done = actions.submit(
        form,
        lambda: services.ask_question(db.session, current_user, call, form.text.data or ""),
        success=_("Your question is sent. The answer will be published to every supplier, without your name."),
    )
    if done:
        return _back(call_id, "questions")
    return _render_detail(_load_call(call_id, page=True), done.status, question_form=form)


@bp.post("/calls/<int:call_id>/bids")
@roles_required("supplier")
def submit_bid(call_id: int):
    """Submit or replace the supplier's bid on one lot: a fresh login, the deadline by the server clock (409)."""
    if not login_fresh():  # a session restored from the remember-me cookie: the password first
        return login_manager.needs_refresh()
    lot_id = posted_int(request.form.get("lot_id"))
    form = BidForm(prefix=f"bid-{lot_id}")

    def submit():
        values = services.BidValues(
            lot_id=lot_id or 0,
            amount=form.amount.data,
            technical_note=form.technical_note.data or "",
            environmental_note=form.environmental_note.data or "",
            delivery_distance_km=form.delivery_distance_km.data,
            documents=[
                services.DocumentInput(kind, upload.filename, file_bytes(upload))
                for kind in given
                if (upload := getattr(form, kind).data) is not None
            ],
        )
        bid, _created = services.submit_bid(db.session, current_user, _load_call(call_id), values)
        # Read before the commit: the content is sealed in the database.
        return bid, {"amount": bid.amount, "content": bid.receipt_content}

    # A concurrent submission of the same supplier on the lot may win the race (one active bid per supplier and
    # lot): the action then runs again and replaces it.
    given = [k for k in BidForm.DOCUMENT_FIELDS if getattr(getattr(form, k).data, "filename", "")]

    def field_of(key: str) -> str:
        """The service's keys → the form's fields: documents.<i>.file is the i-th file given."""
        parts = key.split(".")
        if parts[0] == "documents" and len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(given):
            return given[int(parts[1])]
        return BID_FIELDS.get(key, key)

    done = actions.submit(
        form,
        submit,
        rename=field_of,
        success=_("Your bid is received. Keep its receipt: it proves what was received, and when."),
        attempts=SUBMIT_ATTEMPTS,
    )
    if done:
        placed, shown = done.value
        call = _load_call(call_id)
        if call.opening_quorum is not None and not call.opened_at:
            # Nobody can show this bid again before the opening: its receipt is given now, once.
            placed = services.get_bid(db.session, current_user, placed.id)
            return _render_receipt(placed, call, shown["amount"], shown["content"], inline=True)
        return redirect(url_for(".bid_receipt", bid_id=placed.id))
    return _render_detail(_load_call(call_id, page=True), done.status, bid_forms={lot_id: form})


@bp.post("/bids/<int:bid_id>/withdraw")
@roles_required("supplier")
def withdraw_bid(bid_id: int):
    if not login_fresh():
        return login_manager.needs_refresh()
    done = actions.submit(
        None,
        lambda: services.withdraw_bid(db.session, current_user, bid_id),
        success=_("Your bid is withdrawn."),
        shown_by_page=("not_found",),
    )
    if done:
        return _back(done.value.call_id, "your-bids")
    if done.refused("not_found"):  # another supplier's bid, or none: the 404 page
        raise done.error
    call_id = services.get_bid(db.session, current_user, bid_id).call_id
    return _render_detail(_load_call(call_id, page=True), done.status)


@bp.get("/bids/<int:bid_id>")
@roles_required("supplier")
def bid(bid_id: int):
    """Where the "bid received" notification leads: the receipt."""
    return redirect(url_for(".bid_receipt", bid_id=bid_id))


@bp.get("/bids/<int:bid_id>/receipt")
@roles_required("supplier")
def bid_receipt(bid_id: int):
    placed = services.get_bid(db.session, current_user, bid_id)  # another supplier's bid is not found
    call = services.get_call(db.session, current_user, placed.call_id)
    return _render_receipt(placed, call, placed.amount, placed.receipt_content)


def _render_receipt(placed: Bid, call: Call, amount, content: str | None, *, inline: bool = False):
    """The receipt page; `inline`: right after a submission to a committee's call, with the content given once."""
    return render_template(
        "calls/receipt.html",
        bid=placed,
        call=call,
        lot=placed.lot,
        amount=amount,
        content=content,
        inline=inline,
        submitted_paris=placed.submitted_at.astimezone(PARIS),
    )


@bp.get("/bids/<int:bid_id>/receipt.json")
@roles_required("supplier")
def bid_receipt_download(bid_id: int):
    placed = services.get_bid(db.session, current_user, bid_id)
    if placed.receipt_content is None:  # sealed until the opening of a committee's call
        abort(404)
    response = Response(placed.receipt_content, mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="mutualis-bid-{placed.id}-receipt.json"'
    return response


@bp.get("/bids/<int:bid_id>/receipt.pdf")
@roles_required("supplier")
def bid_receipt_pdf(bid_id: int):
    """The receipt as a PDF: a readable copy, with the SHA-256 of the JSON text that is the proof."""
    placed = services.get_bid(db.session, current_user, bid_id)
    call = services.get_call(db.session, current_user, placed.call_id)
    response = Response(receipt_pdf(placed, call), mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="mutualis-bid-{placed.id}-receipt.pdf"'
    return response


@bp.get("/bids/<int:bid_id>/letter")
@roles_required("supplier")
def bid_letter(bid_id: int):
    """The letter to a supplier whose bid was not retained: the reasons, the award notice, the standstill period."""
    letter = services.rejection_letter(db.session, current_user, bid_id)
    return render_template("calls/letter.html", letter=letter)


@bp.get("/account/bids")
@roles_required("supplier")
def my_bids():
    """The supplier's bids on every call with their outcome, and the lots awarded to it."""
    found = services.supplier_bids(db.session, current_user)
    return render_template("calls/my_bids.html", found=found)


# --- the opening committee and the opening record -------------------------------------------------------------------


def _render_committee(call: Call, status: int = 200, form: PassphraseForm | None = None):
    state = committee.committee_state(call, current_user)
    phase = services.effective_status(call)
    return render_template(
        "calls/committee.html",
        call=call,
        state=state,
        phase=phase,
        form=form or PassphraseForm(prefix="committee", formdata=None),
        record=sealing.opening_record(db.session, call) if state["opened"] else None,
    ), status


@bp.get("/calls/<int:call_id>/committee")
@roles_required("coordinator", "buyer", "admin")
def committee_page(call_id: int):
    """The opening committee of a call: its members, who enrolled and who gave their passphrase at the opening; for
    a member, the passphrase form (enrolment before publication, the opening after the deadline)."""
    call = _load_call(call_id)
    if call.opening_quorum is None:
        abort(404)
    if services.closing_due(call):
        actions.run(lambda: services.ensure_closed(db.session, call))
        call = _load_call(call_id)
    return _render_committee(call)


@bp.post("/calls/<int:call_id>/committee")
@roles_required("coordinator", "buyer")
@passphrase_throttled
def committee_passphrase(call_id: int):
    """A member's passphrase: enrolment while the call is a draft, its share at the opening after the deadline."""
    call = _load_call(call_id)
    if call.opening_quorum is None:
        abort(404)
    form = PassphraseForm(prefix="committee")
    if call.status == "draft":
        done = actions.submit(
            form,
            lambda: committee.enrol(db.session, current_user, call, form.passphrase.data or ""),
            success=_("Your passphrase is set. Keep it: it will be asked at the opening of the bids."),
        )
    else:

        def opened_message(state: dict) -> str:
            if state["opened"]:
                return _("The quorum is reached: the bids are opened and the opening record is drawn up.")
            return _(
                "Your share is given (%(given)d of %(quorum)d): another member of the committee must give theirs.",
                given=state["given"],
                quorum=state["quorum"],
            )

        done = actions.submit(
            form,
            lambda: committee.give_passphrase(db.session, current_user, call, form.passphrase.data or ""),
            success=opened_message,
        )
    if done:
        return redirect(url_for(".committee_page", call_id=call_id))
    return _render_committee(_load_call(call_id), done.status, form)


@bp.get("/calls/<int:call_id>/opening-record")
@roles_required("coordinator", "buyer", "admin")
def opening_record(call_id: int):
    """The procès-verbal d'ouverture des plis, printable."""
    call = _load_call(call_id)
    if services.closing_due(call):
        actions.run(lambda: services.ensure_closed(db.session, call))
        call = _load_call(call_id)
    found = committee.get_opening_record(db.session, current_user, call)
    return render_template("calls/opening_record.html", call=call, record=found, content=json.loads(found.content))


# --- subscriptions --------------------------------------------------------------------------------------------------


@bp.route("/account/subscriptions", methods=["GET", "POST"])
@roles_required("supplier")
def subscriptions():
    form = SubscriptionForm()
    if request.method == "POST" and "remove" in request.form:
        prefix = request.form.get("remove", "")
        done = actions.submit(
            None,
            lambda: services.unsubscribe(db.session, current_user, prefix),
            success=_("You are no longer subscribed to %(prefix)s.", prefix=prefix),
        )
        if done:
            return redirect(url_for(".subscriptions"))
        status = done.status
    else:
        done = actions.submit(
            form,
            lambda: services.subscribe(db.session, current_user, form.cpv_prefix.data or ""),
            success=lambda subscription: _(
                "You will hear of the calls under %(prefix)s.", prefix=subscription.cpv_prefix
            ),
        )
        if done:
            return redirect(url_for(".subscriptions"))
        status = done.status
    lang = current_language()
    current = services.subscriptions(db.session, current_user)
    labels = cpv_labels(db.session, [code_of_prefix(s.cpv_prefix) for s in current], lang)
    return render_template(
        "calls/subscriptions.html",
        form=form,
        current=[(s, labels.get(code_of_prefix(s.cpv_prefix), "")) for s in current],
        trades=current_user.supplier.trades,
        lang=lang,
    ), status


# --- open data ------------------------------------------------------------------------------------------------------


def _optional_int(name: str) -> int | None:
    raw = request.args.get(name, "")
    if not raw.strip():
        return None
    value = posted_int(raw)  # ASCII digits only: int() refuses a superscript that isdigit() accepts
    if value is None:
        raise ValidationFailed({name: [_("Expected a whole number.")]})
    return value


@bp.get("/open-data/decp.json")
@roles_required(*decp.READERS)
def decp_download():
    """The essential data (DECP 2.0.3 JSON) of the awarded lots, as a file: of one call (`call`), of a year (`year`),
    of an organization (`organization`); buyers get their own organization's."""
    year, call_id = _optional_int("year"), _optional_int("call")
    if year is not None and not 2000 <= year <= 2200:
        raise ValidationFailed({"year": [_("Choose a year between 2000 and 2200.")]})
    organization = (request.args.get("organization") or "").strip() or None
    export = decp.decp_export(db.session, current_user, year=year, organization=organization, call_id=call_id)
    name = "-".join(["decp", *(f"{k}-{v}" for k, v in (("call", call_id), ("year", year)) if v is not None)])
    return Response(
        json.dumps(export.document, ensure_ascii=False, indent=2),
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}.json"', "X-Omitted-Lots": str(export.omitted)},
    )
