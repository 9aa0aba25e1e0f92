"""Contract pages: the list (a member its own, a supplier the ones it holds, coordinators all), one contract with its
orders, amendments, signature and evaluation, and the renewal radar."""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app import actions
from app.accounts.auth import login_required, roles_required
from app.clock import paris_today
from app.contracts import bp, models, services  # noqa: F401 - models: the tables of the feature
from app.contracts.forms import (
    KIND_LABELS,
    STATUS_LABELS,
    AmendmentForm,
    EvaluationForm,
    OrderForm,
    SignContractForm,
)
from app.domain import contracts as rules
from app.extensions import db
from app.pagination import page_number, paginate, paginate_list

RADAR_WINDOWS = (6, 12, 24, 36, 60)


@bp.get("/contracts")
@login_required
def list_contracts():
    """The contracts the user may see, filtered by status; the latest end first."""
    status = request.args.get("status") or None
    if status not in STATUS_LABELS:
        status = None
    today = paris_today()
    stmt = services.list_contracts(db.session, current_user, status=status, today=today)
    pagination = paginate(stmt, page_number())

    def page_url(page: int) -> str:
        return url_for(".list_contracts", status=status, page=page)

    return render_template(
        "contracts/list.html",
        pagination=pagination,
        page_url=page_url,
        status=status,
        statuses=STATUS_LABELS,
        kinds=KIND_LABELS,
        status_of=lambda c: services.status_of(c, today),
        title_of=services.title_of,
        pct=lambda c: rules.consumption_pct(c.ordered_amount, c.ceiling) if c.ceiling is not None else None,
    )


def _render_detail(contract, status: int = 200, **forms):
    today = paris_today()
    amendments = services.amendments_of(db.session, contract)
    state = services.status_of(contract, today)
    member_buyer = current_user.role == "buyer" and current_user.organization_id == contract.organization_id
    coordinator = current_user.role == "coordinator"
    evaluation = services.evaluation_of(db.session, contract)
    evaluation_form = forms.get("evaluation_form") or EvaluationForm(prefix="evaluation")
    if evaluation is not None and "evaluation_form" not in forms:
        for name in ("quality", "delays", "environmental"):
            getattr(evaluation_form, name).data = str(getattr(evaluation, name))
        evaluation_form.comment.data = evaluation.comment
    context = {
        "contract": contract,
        "title": services.title_of(contract),
        "lot": services.lot_of(contract),
        "state": state,
        "statuses": STATUS_LABELS,
        "kinds": KIND_LABELS,
        "orders": services.orders_of(db.session, contract),
        "amendments": amendments,
        "cumulative_pct": services.cumulative_change_pct(contract, amendments),
        "warnings": services.amendment_warnings(db.session, contract),
        "consumption": rules.consumption_pct(contract.ordered_amount, contract.ceiling)
        if contract.ceiling is not None
        else None,
        "evaluation": evaluation,
        "can_sign": (member_buyer or coordinator) and state in ("standstill", "to_sign"),
        "can_order": member_buyer and contract.kind == "framework" and state in ("signed", "running"),
        "can_amend": (member_buyer or coordinator) and state in ("signed", "running", "ended"),
        "can_evaluate": member_buyer and state in ("signed", "running", "ended"),
        "can_renew": member_buyer and state != "ended",
        "sign_form": forms.get("sign_form") or SignContractForm(prefix="sign"),
        "order_form": forms.get("order_form") or OrderForm(prefix="order"),
        "amendment_form": forms.get("amendment_form") or AmendmentForm(prefix="amendment"),
        "evaluation_form": evaluation_form,
        "error": forms.get("error"),
    }
    return render_template("contracts/detail.html", **context), status


def _back(contract_id: int, anchor: str | None = None):
    return redirect(url_for(".contract_detail", contract_id=contract_id, _anchor=anchor))


@bp.get("/contracts/<int:contract_id>")
@login_required
def contract_detail(contract_id: int):
    return _render_detail(services.get_contract(db.session, current_user, contract_id))


def _act(contract_id: int, form_name: str, form, action, success, anchor: str | None = None, rename=None):
    """The contract page's forms: run `action(contract)` on the validated form, back to the page's `anchor`, or the
    page again with the form and its errors."""
    contract = services.get_contract(db.session, current_user, contract_id)
    done = actions.submit(form, lambda: action(contract), success=success, rename=rename)
    if done:
        return _back(contract_id, anchor)
    return _render_detail(contract, done.status, error=done.error, **{form_name: form})


@bp.post("/contracts/<int:contract_id>/sign")
@roles_required("buyer", "coordinator")
def sign(contract_id: int):
    form = SignContractForm(prefix="sign")
    return _act(
        contract_id,
        "sign_form",
        form,
        lambda contract: services.sign_contract(db.session, current_user, contract, form.signed_on.data),
        _("The signature is recorded."),
    )


@bp.post("/contracts/<int:contract_id>/orders")
@roles_required("buyer")
def order(contract_id: int):
    form = OrderForm(prefix="order")
    return _act(
        contract_id,
        "order_form",
        form,
        lambda contract: services.record_order(
            db.session,
            current_user,
            contract,
            services.OrderValues(form.amount.data, form.description.data or "", form.ordered_on.data),
        ),
        _("The order is recorded."),
        "orders",
        rename={"amount_eur": "amount"},
    )


@bp.post("/contracts/<int:contract_id>/amendments")
@roles_required("buyer", "coordinator")
def amend(contract_id: int):
    form = AmendmentForm(prefix="amendment")
    return _act(
        contract_id,
        "amendment_form",
        form,
        lambda contract: services.amend_contract(
            db.session,
            current_user,
            contract,
            services.AmendmentValues(
                form.amount_delta.data, form.reason.data or "", form.months_delta.data or 0, form.signed_on.data
            ),
        ),
        lambda result: " ".join(
            [_("Amendment %(number)s is recorded.", number=result.amendment.number), *result.warnings]
        ),
        "amendments",
        rename={"amount_delta_eur": "amount_delta"},
    )


@bp.post("/contracts/<int:contract_id>/evaluation")
@roles_required("buyer")
def evaluate(contract_id: int):
    form = EvaluationForm(prefix="evaluation")
    return _act(
        contract_id,
        "evaluation_form",
        form,
        lambda contract: services.evaluate_supplier(
            db.session,
            current_user,
            contract,
            services.EvaluationValues(
                int(form.quality.data), int(form.delays.data), int(form.environmental.data), form.comment.data or ""
            ),
        ),
        _("Your evaluation of the supplier is recorded."),
        "evaluation",
    )


@bp.post("/contracts/<int:contract_id>/renewal-need")
@roles_required("buyer")
def renewal_need(contract_id: int):
    contract = services.get_contract(db.session, current_user, contract_id)
    done = actions.submit(
        None,
        lambda: services.create_renewal_need(db.session, current_user, contract),
        success=_("A draft need renewing this contract is created: check it and submit it."),
    )
    if done:
        return redirect(url_for("needs.need_detail", need_id=done.value.id))
    return _render_detail(contract, done.status, error=done.error)


@bp.get("/contracts/renewals")
@roles_required("buyer", "coordinator", "admin")
def renewal_radar():
    """The contracts ending within the chosen window, with the day the next procedure must start."""
    months = request.args.get("within_months", type=int) or 12
    if months not in RADAR_WINDOWS:
        months = 12
    renewals = services.expiring(db.session, current_user, months)
    pagination = paginate_list(renewals, page_number())

    def page_url(page: int) -> str:
        return url_for(".renewal_radar", within_months=months, page=page)

    return render_template(
        "contracts/radar.html",
        pagination=pagination,
        page_url=page_url,
        months=months,
        windows=RADAR_WINDOWS,
        title_of=services.title_of,
        today=paris_today(),
    )
