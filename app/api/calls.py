import base64
import binascii
import json
from decimal import Decimal

from flask import current_app, g, request, send_file, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_fresh
from flask_smorest import Blueprint
from sqlalchemy.orm import defaultload, selectinload

from app import actions
from app.accounts.auth import public
from app.api.auth import PUBLIC, require
from app.api.impact import impact_payload
from app.api.pagination import page_of
from app.api.schemas import (
    AnswerIn,
    AwardIn,
    AwardOut,
    BidIn,
    BidList,
    BidOut,
    BidReceipt,
    CallCreate,
    CallList,
    CallOut,
    CallQuery,
    DocumentOut,
    EnrolmentOut,
    ErrorEnvelope,
    ImportFile,
    OpeningOut,
    PassphraseIn,
    QuestionIn,
    QuestionOut,
    RankingOut,
    ScoreIn,
)
from app.calls import ocds, services
from app.calls.models import Call, CallDocument, CallLot
from app.calls.services import committee, sealing
from app.calls.throttling import passphrase_throttled
from app.calls.values import call_procedure, call_total_value
from app.clock import paris_today, utcnow
from app.domain.cpv import search_prefix
from app.errors import NotPermitted, ValidationFailed
from app.extensions import db
from app.groups import services as group_services
from app.impact.services import call_impacts
from app.uploads import file_bytes

SUBMIT_ATTEMPTS = 3

blp = Blueprint("api_calls", __name__, description="Pooled calls for tenders, questions and sealed bids")


# What call_payload reads, loaded with the calls in a fixed number of statements however many calls a page shows.
CALL_DETAILS = (
    selectinload(Call.lots),
    selectinload(Call.criteria),
    selectinload(Call.documents),
    selectinload(Call.questions),
    defaultload(Call.group).options(*group_services.GROUP_DETAILS),
)


def _sum_or_none(amounts) -> Decimal | None:
    amounts = list(amounts)
    return None if any(a is None for a in amounts) else sum(amounts, Decimal("0.00"))


def _warnings(call: Call) -> list[str]:
    """The coordinator's warnings, under the procedure of the call itself (its lots, the thresholds of the day it
    was or would be published), as on its page; nobody else's."""
    if current_user.role != "coordinator":
        return []
    procedure = call_procedure(call, paris_today())
    return services.deadline_warnings(call, procedure.code if procedure else None)


def call_payload(call: Call, impacts: dict | None = None) -> dict:
    """The call; `impacts` (call id → impact) computed for a whole page at once, else for this call."""
    if impacts is None:
        impacts = call_impacts(db.session, [call])
    public = not current_user.is_authenticated or current_user.role == "supplier"
    return {
        "id": call.id,
        "group_id": call.group_id,
        "title": call.title,
        "description": call.description,
        "status": services.effective_status(call),
        "questions_deadline": call.questions_deadline,
        "bid_deadline": call.bid_deadline,
        "published_at": call.published_at,
        "lots": call.lots,
        "annual_amount_eur": _sum_or_none(lot.annual_amount for lot in call.lots),
        "total_amount_eur": call_total_value(call),
        "criteria": [{"name": c.name, "weight": c.weight} for c in call.criteria],
        "documents": [document_payload(d) for d in call.documents],
        "answers": services.public_answers(call),
        "awards": [
            {
                "lot_id": notice.lot.id,
                "number": notice.lot.number,
                "status": notice.lot.status,
                "supplier": notice.supplier_name,
                "amount_eur": notice.amount,
                "awarded_at": notice.awarded_at,
            }
            for notice in services.award_notices(db.session, call).values()
        ],
        "warnings": _warnings(call),
        "standstill_days": call.standstill_days,
        "contract_kind": call.contract_kind,
        "opening_quorum": call.opening_quorum,
        "bids_opened": sealing.bids_opened(call) and call.status not in ("draft", "published", "cancelled"),
        "impact": impact_payload(impacts.get(call.id), public=public),
    }


def bid_payloads(bids: list) -> list[dict]:
    """Bids with their outcome (status, rank, points, reasons once the lot is decided): what their reader may know."""
    found = services.bid_outcomes(db.session, bids)
    rows = []
    for bid in bids:
        outcome = found[bid.id]
        decided = outcome.status in ("awarded", "unsuccessful")
        rows.append(
            {
                "id": bid.id,
                "call_id": bid.call_id,
                "lot_id": bid.lot_id,
                "supplier": bid.supplier.name,
                "amount_eur": bid.amount,
                "technical_note": bid.technical_note,
                "environmental_note": bid.environmental_note,
                "delivery_distance_km": bid.delivery_distance_km,
                "status": outcome.status,
                "submitted_at": bid.submitted_at,
                "receipt_sha256": bid.receipt_sha256,
                "receipt_content": bid.receipt_content,
                "abnormally_low": bid.abnormally_low,
                "rank": outcome.rank,
                "ranked_bids": outcome.count,
                "scores": {s.criterion: str(s.score) for s in bid.scores} if decided else {},
                "points": {k: str(v) for k, v in outcome.points.items()},
                "total_points": str(outcome.total) if outcome.total is not None else None,
                "reasons": services.reason_texts(outcome),
                "documents": list(bid.documents),
            }
        )
    return rows


def document_payload(document: CallDocument) -> dict:
    return {
        "id": document.id,
        "filename": document.filename,
        "content_type": document.content_type,
        "size": document.size,
        "sha256": document.sha256,
        "url": f"/api/v1/calls/{document.call_id}/documents/{document.id}",
    }


def _require_fresh_credentials() -> None:
    """Bids need a fresh login: a valid bearer token (issued for a password) or a session not restored from a
    cookie."""
    if g.get("api_token") is None and not login_fresh():
        raise NotPermitted(
            str(_l("Log in again with your password to submit or withdraw a bid.")), code="fresh_login_required"
        )


def _call_by_the_clock(call_id: int) -> Call:
    """The call, closed first if its deadline has passed: the first reader after it closes it, exactly once (the
    scheduler does the same), as an action of its own (committed, its notifications after that commit). The read
    that follows commits nothing."""
    call = services.get_call(db.session, current_user, call_id)
    if services.closing_due(call):
        actions.run(lambda: services.ensure_closed(db.session, call))
    return call


@blp.post("/groups/<int:group_id>/calls")
@require("coordinator")
@blp.arguments(CallCreate)
@blp.response(201, CallOut)
@blp.alt_response(409, schema=ErrorEnvelope, description="group_not_constituted")
@actions.committed
def create_call(body, group_id):
    """Prepare a draft call for a constituted group; short bid periods give warnings, not refusals."""
    group = group_services.get_group(db.session, current_user, group_id)
    values = services.CallValues(
        title=body["title"],
        description=body["description"],
        questions_deadline=body["questions_deadline"],
        bid_deadline=body["bid_deadline"],
        lots=[
            services.LotInput(lot["title"], lot["cpv_code"], lot["estimated_amount_eur"], lot.get("description", ""))
            for lot in body["lots"]
        ],
        criteria=[(c["name"], c["weight"]) for c in body["criteria"]],
        standstill_days=body["standstill_days"],
        contract_kind=body["contract_kind"],
        opening_committee=body.get("opening_committee"),
        opening_quorum=body.get("opening_quorum"),
    )
    call = services.create_call(db.session, current_user, group, values)
    return call_payload(call)


@blp.get("/calls")
@public
@blp.doc(security=PUBLIC)
@blp.arguments(CallQuery, location="query")
@blp.response(200, CallList)
def list_calls(args):
    """Calls the caller may see: anonymous visitors and suppliers the published ones; buyers their groups';
    coordinators all. No token needed. The latest deadline first, `per_page` (1 to 200, default 50) a page, `next`
    the path of the following page."""
    stmt = services.visible_calls(current_user).order_by(Call.bid_deadline.desc(), Call.id)
    if args.get("cpv"):
        prefix = search_prefix(args["cpv"])
        if prefix is None:
            raise ValidationFailed({"cpv": [str(_l("A CPV code or prefix has 2 to 8 digits."))]})
        stmt = stmt.where(Call.lots.any(CallLot.cpv_code.startswith(prefix)))
    if args.get("status"):
        stmt = stmt.where(services.effective_status_column(utcnow()) == args["status"])
    calls, next_page = page_of(stmt.options(*CALL_DETAILS), args)
    impacts = call_impacts(db.session, calls)
    return {"items": [call_payload(c, impacts) for c in calls], "next": next_page}


@blp.get("/calls/<int:call_id>")
@public
@blp.doc(security=PUBLIC)
@blp.response(200, CallOut)
@blp.alt_response(404, schema=ErrorEnvelope, description="not_found: no such call, or a draft the caller may not see")
def get_call(call_id):
    """The call with its lots, criteria, deadlines, documents and public answers. Nothing about bids. Published
    calls need no token."""
    return call_payload(services.get_call(db.session, current_user, call_id))


@blp.post("/calls/<int:call_id>/publish")
@require("coordinator")
@blp.response(200, CallOut)
@actions.committed
def publish(call_id):
    """Publish the call: matching suppliers are notified, local ones first."""
    call = services.get_call(db.session, current_user, call_id)
    services.publish_call(db.session, current_user, call)
    return call_payload(call)


@blp.post("/calls/<int:call_id>/documents")
@require("coordinator")
@blp.arguments(ImportFile, location="files")
@blp.response(201, DocumentOut)
@actions.committed
def add_document(files, call_id):
    """Attach a PDF, ODT, DOCX or XLSX consultation document (type checked by content)."""
    call = services.get_call(db.session, current_user, call_id)
    upload = files["file"]
    document = services.add_document(
        db.session, current_user, call, upload.filename or "", file_bytes(upload), current_app.config["UPLOAD_FOLDER"]
    )
    return document_payload(document)


@blp.get("/calls/<int:call_id>/documents/<int:document_id>")
@public
@blp.doc(security=PUBLIC)
@blp.response(200, description="the file, as a download")
def download_document(call_id, document_id):
    """A consultation document: free and open to all once the call is published (R2132-2)."""
    call = services.get_call(db.session, current_user, call_id)
    document, path = services.document_file(
        db.session, current_user, call, document_id, current_app.config["UPLOAD_FOLDER"]
    )
    response = send_file(path, mimetype=document.content_type, as_attachment=True, download_name=document.filename)
    return response


@blp.post("/calls/<int:call_id>/questions")
@require("supplier")
@blp.arguments(QuestionIn)
@blp.response(201, QuestionOut)
@blp.alt_response(409, schema=ErrorEnvelope, description="questions_closed")
@actions.committed
def ask(body, call_id):
    """Ask a question before the questions deadline; the answer is published to all, without your name."""
    call = services.get_call(db.session, current_user, call_id)
    question = services.ask_question(db.session, current_user, call, body["text"])
    return question


@blp.post("/calls/<int:call_id>/questions/<int:question_id>/answer")
@require("coordinator")
@blp.arguments(AnswerIn)
@blp.response(200, QuestionOut)
@actions.committed
def answer(body, call_id, question_id):
    call = services.get_call(db.session, current_user, call_id)
    question = services.answer_question(db.session, current_user, call, question_id, body["answer"])
    return question


@blp.post("/calls/<int:call_id>/bids")
@require("supplier")
@blp.arguments(BidIn)
@blp.response(201, BidReceipt)
@blp.alt_response(
    409,
    schema=ErrorEnvelope,
    description="call_closed (at or after the deadline, server clock); bid_withdrawn (the Idempotency-Key of a bid "
    "since withdrawn)",
)
@blp.alt_response(
    422, schema=ErrorEnvelope, description="idempotency_key_mismatch (the Idempotency-Key was used for another request)"
)
@blp.doc(
    parameters=[
        {
            "in": "header",
            "name": "Idempotency-Key",
            "schema": {"type": "string", "maxLength": 200},
            "required": False,
            "description": "a retried submission with the same key and the same body returns the first receipt; "
            "another body (or call) with the same key gets 422 idempotency_key_mismatch; a key is never replayed "
            "once its bid is withdrawn (409 bid_withdrawn) or after the deadline (409 call_closed)",
        }
    ]
)
def submit_bid(body, call_id):
    """Submit a sealed bid on one lot (it replaces your active bid on that lot). Returns the receipt."""
    _require_fresh_credentials()
    values = services.BidValues(
        lot_id=body["lot_id"],
        amount=body["amount_eur"],
        technical_note=body["technical_note"],
        environmental_note=body["environmental_note"],
        delivery_distance_km=body["delivery_distance_km"],
        documents=_documents(body["documents"]),
    )
    key = request.headers.get("Idempotency-Key")

    def submit():
        call = services.get_call(db.session, current_user, call_id)
        bid, _created = services.submit_bid(db.session, current_user, call, values, idempotency_key=key)
        # Read before the commit: the receipt's text is sealed in the database.
        return {
            "id": bid.id,
            "submitted_at": bid.submitted_at,
            "receipt_sha256": bid.receipt_sha256,
            "receipt_content": bid.receipt_content,
        }

    # A concurrent submission of the same supplier on the lot may win the race (one active bid per supplier and
    # lot): the action then runs again and replaces it.
    return actions.run(submit, attempts=SUBMIT_ATTEMPTS)


def _documents(items: list[dict]) -> list:
    documents, reasons = [], {}
    for index, item in enumerate(items):
        try:
            data = base64.b64decode(item["content_base64"], validate=True)
        except (binascii.Error, ValueError):
            reasons[f"documents.{index}.content_base64"] = [str(_l("Not valid base64."))]
            continue
        documents.append(services.DocumentInput(item["kind"], item["filename"], data))
    if reasons:
        raise ValidationFailed(reasons)
    return documents


@blp.get("/calls/<int:call_id>/bids")
@require()
@blp.response(200, BidList)
@blp.alt_response(403, schema=ErrorEnvelope, description="bids_sealed before the deadline")
def list_bids(call_id):
    """A supplier sees its own bids; anyone else only after the deadline (403 bids_sealed before)."""
    call = _call_by_the_clock(call_id)
    return {"items": bid_payloads(services.list_bids(db.session, current_user, call)), "next": None}


@blp.get("/bids/<int:bid_id>")
@require()
@blp.response(200, BidOut)
@blp.alt_response(404, schema=ErrorEnvelope, description="another supplier's bid")
def get_bid(bid_id):
    """The bid; once its lot is decided, its outcome (awarded or unsuccessful), rank, scores and the reasons."""
    return bid_payloads([services.get_bid(db.session, current_user, bid_id)])[0]


@blp.get("/bids/<int:bid_id>/documents/<int:document_id>")
@require()
@blp.response(200, description="the document, as a download")
@blp.alt_response(409, schema=ErrorEnvelope, description="bids_not_opened: sealed until the opening")
def download_bid_document(bid_id, document_id):
    """A document of a bid, once the bids are opened: for its bidder and for those who evaluate the bids."""
    placed = services.get_bid(db.session, current_user, bid_id)
    document, path = sealing.bid_document_file(db.session, placed, document_id)
    return send_file(path, mimetype=document.content_type, as_attachment=True, download_name=document.filename)


@blp.delete("/bids/<int:bid_id>")
@require("supplier")
@blp.response(204)
@blp.alt_response(409, schema=ErrorEnvelope, description="call_closed")
@actions.committed
def withdraw_bid(bid_id):
    """Withdraw your bid before the deadline."""
    _require_fresh_credentials()
    services.withdraw_bid(db.session, current_user, bid_id)


@blp.post("/calls/<int:call_id>/scores")
@require("coordinator")
@blp.arguments(ScoreIn)
@blp.response(200, BidOut)
@actions.committed
def score(body, call_id):
    """Score a bid from 0 to 100 on each criterion but price (price = lowest amount / amount × weight)."""
    call = services.get_call(db.session, current_user, call_id)
    bid = services.score_bid(db.session, current_user, call, body["bid_id"], body["scores"])
    return bid_payloads([bid])[0]


@blp.get("/calls/<int:call_id>/ranking")
@require("coordinator", "admin", "buyer")
@blp.response(200, RankingOut)
def ranking(call_id):
    """Per lot, the bids ranked by their weighted points (after the deadline)."""
    call = _call_by_the_clock(call_id)
    ranked = services.ranking(db.session, current_user, call)
    records = {}
    if current_user.role == "coordinator":  # the members' evaluations of each bidder, for the next award
        from app.contracts.services import supplier_records

        records = supplier_records(db.session, {bid.supplier_id for rows in ranked.values() for _, bid in rows})
    items = []
    for lot in call.lots:
        items.append(
            {
                "lot_id": lot.id,
                "number": lot.number,
                "title": lot.title,
                "status": lot.status,
                "bids": [
                    {
                        "bid_id": bid.id,
                        "supplier": bid.supplier.name,
                        "supplier_evaluation": records.get(bid.supplier_id),
                        "rank": r.rank,
                        "amount_eur": r.amount,
                        "points": {k: str(v) for k, v in r.points.items()},
                        "total": str(r.total),
                        "complete": r.complete,
                        "abnormally_low": bid.abnormally_low,
                    }
                    for r, bid in ranked[lot.id]
                ],
            }
        )
    return {"items": items, "next": None}


@blp.post("/calls/<int:call_id>/awards")
@require("coordinator")
@blp.arguments(AwardIn)
@blp.response(201, AwardOut)
@actions.committed
def award(body, call_id):
    """Award a lot to its best-ranked bid; one contract record per member organization with its share."""
    call = services.get_call(db.session, current_user, call_id)
    made = services.award_lot(db.session, current_user, call, body["lot_id"], body["bid_id"])
    contracts = [c for c in services.contracts_of(db.session, call) if c.award_id == made.id]
    return {
        "id": made.id,
        "lot_id": made.lot_id,
        "bid_id": made.bid_id,
        "awarded_at": made.awarded_at,
        "contracts": contracts,
    }


@blp.post("/calls/<int:call_id>/committee/enrol")
@require("coordinator", "buyer")
@blp.arguments(PassphraseIn)
@blp.response(200, EnrolmentOut)
@blp.alt_response(409, schema=ErrorEnvelope, description="call_not_draft: enrolment closes at publication")
@passphrase_throttled
@actions.committed
def enrol(body, call_id):
    """A member of the call's opening committee sets its passphrase (12 characters or more), before publication.
    Setting it again replaces it. Keep it: nobody can recover it; two other members can open without it."""
    call = services.get_call(db.session, current_user, call_id)
    member = committee.enrol(db.session, current_user, call, body["passphrase"])
    return {"call_id": call.id, "position": member.position, "enrolled_at": member.enrolled_at}


@blp.post("/calls/<int:call_id>/opening")
@require("coordinator", "buyer")
@blp.arguments(PassphraseIn)
@blp.response(200, OpeningOut)
@blp.alt_response(409, schema=ErrorEnvelope, description="call_not_closed (before the deadline); bids_already_opened")
@passphrase_throttled
@actions.committed
def opening(body, call_id):
    """After the deadline, a committee member gives its passphrase; when the quorum is reached the bids are
    decrypted and the opening record is drawn up. A wrong passphrase → 400 validation_error, nothing else said."""
    call = services.get_call(db.session, current_user, call_id)
    state = committee.give_passphrase(db.session, current_user, call, body["passphrase"])
    path = f"/api/v1/calls/{call.id}/opening-record" if state["opened"] else None
    return {**state, "opening_record": path}


@blp.get("/calls/<int:call_id>/opening-record")
@require("coordinator", "admin", "buyer")
@blp.response(200, description="the opening record (procès-verbal d'ouverture des plis) as JSON, with its SHA-256")
@blp.alt_response(409, schema=ErrorEnvelope, description="bids_not_opened")
def opening_record(call_id):
    """The opening record: the call, its lots, every active bid once (bidder, time of receipt, amount excluding
    VAT, receipt hash, documents), who opened and when."""
    call = _call_by_the_clock(call_id)
    found = committee.get_opening_record(db.session, current_user, call)
    return {"sha256": found.sha256, "record": json.loads(found.content)}


@blp.get("/calls/<int:call_id>/ocds")
@public
@blp.doc(security=PUBLIC)
@blp.response(
    200,
    description="an OCDS 1.1 release package: the tender, its lots, documents and answered questions; bids and "
    "tenderers only once every lot is decided; awards and one contracts[] entry per member organization once made",
)
@blp.alt_response(404, schema=ErrorEnvelope, description="not_found: no such call, or a draft the caller may not see")
def ocds_package(call_id):
    """The call as an OCDS 1.1 release package, for open-data portals. Published calls need no token."""
    call = services.get_call(db.session, current_user, call_id)
    return ocds.release_package(
        db.session,
        call,
        uri=url_for("api_calls.ocds_package", call_id=call.id, _external=True),
        ocid_prefix=current_app.config["OCDS_OCID_PREFIX"],
    )
