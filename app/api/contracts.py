"""Contracts after the award: each member's contract, signing, orders, amendments, evaluations and the renewal
radar (API.md "Contracts after the award")."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_smorest import Blueprint

from app import actions
from app.api.auth import require
from app.api.pagination import list_page, page_of
from app.api.schemas import (
    AmendmentIn,
    AmendmentOut,
    ContractList,
    ContractOutFull,
    ContractQuery,
    ErrorEnvelope,
    EvaluationIn,
    EvaluationOut,
    ExpiringList,
    ExpiringQuery,
    NeedOut,
    OrderIn,
    OrderList,
    OrderOut,
    SignIn,
)
from app.calls.models import Contract
from app.clock import paris_today
from app.contracts import services
from app.contracts.models import ContractOrder
from app.domain import contracts as rules
from app.domain.cpv import search_prefix
from app.errors import ValidationFailed
from app.extensions import db

blp = Blueprint("api_contracts", __name__, description="Contracts after the award, orders, amendments, renewals")


def contract_payload(contract: Contract, today=None) -> dict:
    lot = services.lot_of(contract)
    ceiling = contract.ceiling
    return {
        "id": contract.id,
        "call_id": lot.call_id,
        "lot_id": lot.id,
        "title": services.title_of(contract),
        "cpv_code": lot.cpv_code,
        "organization": contract.organization.code,
        "supplier": contract.supplier.name,
        "supplier_siret": contract.supplier.siret,
        "amount_eur": contract.current_amount,
        "initial_amount_eur": contract.amount,
        "share": contract.share,
        "starts_on": contract.starts_on,
        "ends_on": contract.ends_on,
        "kind": contract.kind,
        "ceiling_eur": ceiling,
        "ordered_eur": contract.ordered_amount,
        "consumption_pct": rules.consumption_pct(contract.ordered_amount, ceiling) if ceiling is not None else None,
        "status": services.status_of(contract, today),
        "standstill_ends_on": contract.standstill_ends_on,
        "signed_on": contract.signed_on,
        "cumulative_change_pct": rules.pct_of(contract.amended_amount, contract.amount)
        if contract.amended_amount
        else 0,
    }


def order_payload(order: ContractOrder, contract: Contract) -> dict:
    return {
        "id": order.id,
        "contract_id": order.contract_id,
        "amount": order.amount,
        "description": order.description,
        "ordered_on": order.ordered_on,
        "ordered_eur": contract.ordered_amount,
        "ceiling_eur": contract.ceiling,
    }


def amendment_payload(amendment, contract: Contract, warnings: list[str]) -> dict:
    return {
        "id": amendment.id,
        "contract_id": contract.id,
        "number": amendment.number,
        "amount_delta": amendment.amount_delta,
        "months_delta": amendment.months_delta,
        "reason": amendment.reason,
        "signed_on": amendment.signed_on,
        "cumulative_change_pct": amendment.cumulative_change_pct,
        "warnings": warnings,
        "amount_eur": contract.current_amount,
        "ends_on": contract.ends_on,
    }


def full_payload(contract: Contract) -> dict:
    payload = contract_payload(contract)
    amendments = services.amendments_of(db.session, contract)
    payload["cumulative_change_pct"] = services.cumulative_change_pct(contract, amendments)
    payload["orders"] = [order_payload(o, contract) for o in services.orders_of(db.session, contract)]
    payload["amendments"] = [amendment_payload(a, contract, []) for a in amendments]
    payload["warnings"] = services.amendment_warnings(db.session, contract)
    evaluation = services.evaluation_of(db.session, contract)
    payload["evaluation"] = evaluation
    return payload


@blp.get("/contracts")
@require()
@blp.arguments(ContractQuery, location="query")
@blp.response(200, ContractList)
def list_contracts(args):
    """Contracts the caller may see: a buyer its organization's, a supplier the ones it holds, coordinators and
    admins all. Filter by `organization` (code) and `status`. The latest end first; `per_page` (1 to 200)."""
    today = paris_today()
    stmt = services.list_contracts(
        db.session, current_user, organization=args.get("organization"), status=args.get("status"), today=today
    )
    contracts, next_page = page_of(stmt, args)
    return {"items": [contract_payload(c, today) for c in contracts], "next": next_page}


@blp.get("/contracts/expiring")
@require("buyer", "coordinator", "admin")
@blp.arguments(ExpiringQuery, location="query")
@blp.response(200, ExpiringList)
def expiring(args):
    """The renewal radar: contracts ending within `within_months` (default 12), each with the prefilled need that
    would renew it and the day its procedure must start (worked back through the procedure's minimum periods);
    the earliest first."""
    prefix = None
    if args.get("cpv"):
        prefix = search_prefix(args["cpv"])
        if prefix is None:
            raise ValidationFailed({"cpv": [str(_l("A CPV code or prefix has 2 to 8 digits."))]})
    today = paris_today()
    renewals = services.expiring(
        db.session,
        current_user,
        args["within_months"],
        organization=args.get("organization"),
        cpv_prefix=prefix,
        today=today,
    )
    items = [
        {
            **contract_payload(r.contract, today),
            "renewal_need": r.need,
            "procedure": r.procedure,
            "next_contract_starts_on": r.required_start,
            "procedure_start_by": r.procedure_start_by,
            "late": r.late,
        }
        for r in renewals
    ]
    shown, next_page = list_page(items, args)
    return {"items": shown, "next": next_page}


@blp.get("/contracts/<int:contract_id>")
@require()
@blp.response(200, ContractOutFull)
@blp.alt_response(404, schema=ErrorEnvelope, description="not_found: no such contract, or another's")
def get_contract(contract_id):
    """One contract with its orders, amendments (cumulative change and warnings) and the member's evaluation."""
    return full_payload(services.get_contract(db.session, current_user, contract_id))


@blp.post("/contracts/<int:contract_id>/sign")
@require("buyer", "coordinator")
@blp.arguments(SignIn)
@blp.response(200, ContractOutFull)
@blp.alt_response(409, schema=ErrorEnvelope, description="standstill_running (details.standstill_ends_on)")
@actions.committed
def sign(body, contract_id):
    """The member's buyer or the coordinator records the signature (`signed_on`, default today)."""
    contract = services.get_contract(db.session, current_user, contract_id)
    services.sign_contract(db.session, current_user, contract, body.get("signed_on"))
    return full_payload(contract)


@blp.get("/contracts/<int:contract_id>/orders")
@require()
@blp.response(200, OrderList)
def list_orders(contract_id):
    contract = services.get_contract(db.session, current_user, contract_id)
    return {"items": [order_payload(o, contract) for o in services.orders_of(db.session, contract)], "next": None}


@blp.post("/contracts/<int:contract_id>/orders")
@require("buyer")
@blp.arguments(OrderIn)
@blp.response(201, OrderOut)
@blp.alt_response(
    409, schema=ErrorEnvelope, description="ceiling_exceeded; contract_not_signed; not_a_framework; contract_ended"
)
@actions.committed
def create_order(body, contract_id):
    """A buyer of the contract's organization records an order under its signed framework agreement; past the
    maximum → 409 ceiling_exceeded (also under concurrent orders)."""
    contract = services.get_contract(db.session, current_user, contract_id)
    values = services.OrderValues(body["amount_eur"], body["description"], body.get("ordered_on"))
    order = services.record_order(db.session, current_user, contract, values)
    return order_payload(order, contract)


@blp.post("/contracts/<int:contract_id>/amendments")
@require("buyer", "coordinator")
@blp.arguments(AmendmentIn)
@blp.response(201, AmendmentOut)
@blp.alt_response(409, schema=ErrorEnvelope, description="contract_not_signed")
@actions.committed
def amend(body, contract_id):
    """An amendment: amount change (negative for a decrease), duration change in months, reason. Answers the
    cumulative change against the initial value and the warnings (10 % supplies and services, 15 % works, the
    European threshold, 50 % for one amendment, four years for a framework agreement)."""
    contract = services.get_contract(db.session, current_user, contract_id)
    values = services.AmendmentValues(
        amount_delta=body["amount_delta_eur"],
        reason=body["reason"],
        months_delta=body["months_delta"],
        signed_on=body.get("signed_on"),
    )
    result = services.amend_contract(db.session, current_user, contract, values)
    return amendment_payload(result.amendment, contract, result.warnings)


@blp.post("/contracts/<int:contract_id>/renewal-need")
@require("buyer")
@blp.response(201, NeedOut)
@actions.committed
def renewal_need(contract_id):
    """Create the draft need that renews the contract, prefilled from it (CPV, yearly amount from the orders,
    duration, start the day after the end, delivery place)."""
    contract = services.get_contract(db.session, current_user, contract_id)
    return services.create_renewal_need(db.session, current_user, contract)


@blp.post("/contracts/<int:contract_id>/evaluation")
@require("buyer")
@blp.arguments(EvaluationIn)
@blp.response(201, EvaluationOut)
@actions.committed
def evaluate(body, contract_id):
    """The member's evaluation of the supplier (1 to 5: quality, delays, environmental commitments kept), shown to
    coordinators when they award next time; a new one replaces the member's last."""
    contract = services.get_contract(db.session, current_user, contract_id)
    return services.evaluate_supplier(db.session, current_user, contract, services.EvaluationValues(**body))
