"""HTML pages for procurement needs: list, record, edit, status changes, delete and spreadsheet import.

Every rule (who sees what, who may change what, what a valid need is) lives in app.needs.services: the views
parse the form and call the service through app.actions (commit once, or roll back and put the errors back on the
form, with the status of the refusal).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user

from app import actions
from app.accounts.auth import roles_required
from app.domain.need_import import NEED_COLUMNS, column_labels, parse_needs, template_csv_bytes
from app.domain.tabular import RowReport
from app.errors import ValidationFailed
from app.extensions import db
from app.forms import apply_errors, form_version
from app.groups.services import groups_for_need
from app.i18n import current_language
from app.needs import (
    bp,
    models,  # noqa: F401
    services,
)
from app.needs.forms import (
    STATUS_LABELS,
    DeleteForm,
    EditNeedForm,
    ImportConfirmForm,
    ImportUploadForm,
    NeedFilterForm,
    NeedForm,
    StatusForm,
)
from app.needs.models import Need
from app.organizations.services import list_buyer_organizations
from app.pagination import page_number, paginate
from app.reference.models import CpvCode
from app.reference.services import labels as cpv_labels
from app.remembered import remembered_html
from app.uploads import PendingUploads, file_bytes

PER_PAGE = 25
PREVIEW_ROWS = 50
SORTABLE = ("title", "annual_amount", "total_amount", "start_date", "status")
UPLOADS = PendingUploads("need_import", "imports")

# What the detail page offers for each status. The service (change_status) is the authority and refuses anything
# else; this table only decides which buttons to show.
STATUS_ACTIONS = {
    "draft": (("submitted", _l("Submit"), "btn-primary"),),
    "submitted": (
        ("withdrawn", _l("Withdraw"), "btn-outline-warning"),
        ("draft", _l("Back to draft"), "btn-outline-secondary"),
    ),
    "withdrawn": (
        ("submitted", _l("Submit again"), "btn-primary"),
        ("draft", _l("Back to draft"), "btn-outline-secondary"),
    ),
    "grouped": (),
}
STATUS_DONE = {
    "submitted": _l("The need is submitted to the purchasing coordinators."),
    "withdrawn": _l("The need is withdrawn."),
    "draft": _l("The need is back to draft."),
}
STATUS_BADGES = {
    "draft": "text-bg-secondary",
    "submitted": "text-bg-primary",
    "withdrawn": "text-bg-warning",
    "grouped": "text-bg-success",
}


@bp.app_context_processor
def _need_helpers():
    return {
        "need_status_label": lambda status: STATUS_LABELS.get(status, status),
        "need_status_badge": lambda status: STATUS_BADGES.get(status, "text-bg-light"),
    }


def _is_owner(need: Need) -> bool:
    """The acting buyer belongs to the need's organization (services._check_writer decides; this hides buttons)."""
    return current_user.role == "buyer" and current_user.organization_id == need.organization_id


# --- list ----------------------------------------------------------------------------------------------------


def _list_url(**changes) -> str:
    """The list URL with the current query arguments, some replaced (None removes one)."""
    args = request.args.to_dict()
    args.update(changes)
    return url_for("needs.list_needs", **{k: v for k, v in args.items() if v not in (None, "")})


@bp.get("/needs")
@roles_required("buyer", "coordinator", "admin")
def list_needs():
    reader = current_user.role in services.READER_ROLES
    form = NeedFilterForm(formdata=request.args)
    if reader:
        form.set_choices(list_buyer_organizations(db.session), with_drafts=False)
    else:
        form.set_choices([], with_drafts=True)
        del form.organization
    sort = request.args.get("sort", "start_date")
    descending = request.args.get("dir") == "desc"
    page = page_number()
    filtered = any(request.args.get(name) for name in ("organization", "cpv", "status", "start_from", "start_to", "q"))

    results = None
    if form.validate():
        filters = services.NeedFilters(
            organization=form.organization.data if reader else None,
            cpv=form.cpv.data or None,
            status=form.status.data or None,
            start_from=form.start_from.data,
            start_to=form.start_to.data,
            q=(form.q.data or "").strip() or None,
            sort=sort,
            descending=descending,
        )
        try:
            stmt = services.ordered(services.filtered_needs(current_user, filters), filters)
        except ValidationFailed as error:
            apply_errors(form, error)
        else:
            # A page of needs and the pager: rendered once per reader (role and organization: what it may see),
            # query and language, and remembered until a need or an organization changes (the `needs` topic).
            results = remembered_html(
                ("needs",),
                "needs/_results.html",
                lambda: {
                    "pagination": paginate(stmt, page, PER_PAGE),
                    "sort": sort,
                    "descending": descending,
                    "filtered": filtered,
                    "list_url": _list_url,
                    "lang": current_language(),
                },
            )
    return render_template(
        "needs/list.html",
        form=form,
        results=results,
        sort=sort,
        descending=descending,
        sortable=SORTABLE,
        filtered=filtered,
        lang=current_language(),
    )


# --- one need ------------------------------------------------------------------------------------------------


def _values(form: NeedForm) -> services.NeedValues:
    return services.NeedValues(
        title=form.title.data or "",
        cpv_code=form.cpv_code.data or "",
        annual_amount=form.annual_amount.data,
        start_date=form.start_date.data,
        duration_months=form.duration_months.data,
        renewal_count=form.renewal_count.data or 0,
        renewal_months=form.renewal_months.data,
        options_amount=form.options_amount.data if form.options_amount.data is not None else Decimal("0.00"),
        description=form.description.data or "",
        quantity=form.quantity.data,
        unit=form.unit.data or None,
        current_contract_end=form.current_contract_end.data,
        delivery_postcode=form.delivery_postcode.data or None,
        environmental_criterion=form.environmental_criterion.data,
        social_clause=form.social_clause.data,
        short_supply_chain=form.short_supply_chain.data,
        sustainability_notes=form.sustainability_notes.data or "",
    )


def _cpv_label(code: str | None) -> str:
    if not code:
        return ""
    cpv = db.session.get(CpvCode, code.split("-")[0].strip())
    return f"{cpv.full_code} — {cpv.label(current_language())}" if cpv else ""


@bp.route("/needs/new", methods=["GET", "POST"])
@roles_required("buyer")
def new_need():
    form = NeedForm()
    status = "submitted" if form.submit.data else "draft"
    done = actions.submit(
        form,
        lambda: services.create_need(db.session, current_user, _values(form), status=status),
        success=_("Need recorded and submitted to the purchasing coordinators.")
        if status == "submitted"
        else _("Need saved as a draft: submit it when it is ready."),
    )
    if done:
        return redirect(url_for(".need_detail", need_id=done.value.id))
    return render_template(
        "needs/form.html", form=form, need=None, cpv_label=_cpv_label(form.cpv_code.data)
    ), done.status


def _render_detail(need: Need, status: int = 200):
    owner = _is_owner(need)
    return render_template(
        "needs/detail.html",
        need=need,
        can_change=owner and need.status != "grouped",
        actions=STATUS_ACTIONS.get(need.status, ()) if owner else (),
        lang=current_language(),
    ), status


@bp.get("/needs/<int:need_id>")
@roles_required("buyer", "coordinator", "admin")
def need_detail(need_id: int):
    return _render_detail(services.get_need(db.session, current_user, need_id))


@bp.route("/needs/<int:need_id>/edit", methods=["GET", "POST"])
@roles_required("buyer")
def edit_need(need_id: int):
    need = services.get_need(db.session, current_user, need_id)
    if need.status == "grouped":
        flash(_("This need is in a pooled-purchase group and can no longer change."), "warning")
        return redirect(url_for(".need_detail", need_id=need.id))
    form = EditNeedForm(obj=need if request.method == "GET" else None)

    def save():
        changes = vars(_values(form))
        if form.submit.data and need.status in ("draft", "withdrawn"):
            changes["status"] = "submitted"
        return services.update_need(
            db.session, current_user, need, changes, expected_version=form_version(form.version.data)
        )

    done = actions.submit(form, save, success=_("Need saved."), shown_by_page=("stale_version",))
    if done:
        return redirect(url_for(".need_detail", need_id=need_id))
    stale = done.error.message if done.refused("stale_version") else None  # the form keeps what the user typed
    forming = [g for g in groups_for_need(db.session, need.id) if g.status == "forming"]
    return render_template(
        "needs/form.html",
        form=form,
        need=need,
        stale=stale,
        cpv_label=_cpv_label(form.cpv_code.data),
        groups_being_formed=forming,
    ), done.status


@bp.post("/needs/<int:need_id>/status")
@roles_required("buyer")
def change_need_status(need_id: int):
    need = services.get_need(db.session, current_user, need_id)
    form = StatusForm()
    status = form.status.data or ""
    done = actions.submit(
        form,
        lambda: services.change_status(db.session, current_user, need, status),
        success=str(STATUS_DONE.get(status, _("Status changed."))),
    )
    if done:
        return redirect(url_for(".need_detail", need_id=need_id))
    return _render_detail(need, done.status)


@bp.post("/needs/<int:need_id>/delete")
@roles_required("buyer")
def delete_need(need_id: int):
    need = services.get_need(db.session, current_user, need_id)
    title = need.title
    done = actions.submit(
        DeleteForm(),
        lambda: services.delete_need(db.session, current_user, need),
        success=_("The need “%(title)s” is deleted.", title=title),
    )
    if done:
        return redirect(url_for(".list_needs"))
    return _render_detail(need, done.status)


# --- import --------------------------------------------------------------------------------------------------


def _column_docs(lang: str) -> list[dict]:
    return [
        {
            "header": column.label_en if lang == "en" else column.label_fr,
            "other": column.label_fr if lang == "en" else column.label_en,
            "required": column.required,
            "help": COLUMN_HELP.get(column.name, ""),
        }
        for column in NEED_COLUMNS
    ]


COLUMN_HELP = {
    "title": _l("What is bought, in a few words (at most 200 characters)."),
    "cpv_code": _l("8 digits, optionally with the check digit: 09310000 or 09310000-5."),
    "annual_amount_eur": _l("Euros excluding VAT per year: 12500,00 or 12 500 or 12500.00."),
    "start_date": _l("DD/MM/YYYY or YYYY-MM-DD."),
    "duration_months": _l("Whole number of months, from 1 to 120."),
    "renewal_count": _l("Optional: how many times the contract may be renewed, 0 to 10 (empty: 0)."),
    "renewal_months": _l("Optional: months per renewal (empty: the initial duration)."),
    "options_amount_eur": _l("Optional: total of the options over the whole contract, euros excluding VAT."),
    "description": _l("Free text."),
    "quantity": _l("Optional: a number per year, with its unit in the next column."),
    "unit": _l("kWh, MWh, GWh, L, m3, t or unit; another word (ream, meal) is kept as it is."),
    "current_contract_end": _l("DD/MM/YYYY or YYYY-MM-DD."),
    "delivery_postcode": _l("5 digits."),
    "environmental_criterion": _l("yes/no (oui/non)."),
    "social_clause": _l("yes/no (oui/non)."),
    "short_supply_chain": _l("yes/no (oui/non)."),
    "sustainability_notes": _l("Free text."),
}


def _render_import(form: ImportUploadForm, **context):
    lang = current_language()
    return render_template(
        "needs/import.html", form=form, columns=_column_docs(lang), lang=lang, labels=column_labels(lang), **context
    )


@bp.route("/needs/import", methods=["GET", "POST"])
@roles_required("buyer")
def import_needs():
    form = ImportUploadForm()
    staged: dict = {}

    def check():
        upload = form.file.data
        staged["filename"] = filename = Path(upload.filename or "").name[-200:]
        data = file_bytes(upload)
        staged["token"] = UPLOADS.stage(data, filename=filename)["token"]
        return services.check_import(db.session, data, filename)

    done = actions.submit(form, check, shown_by_page=("validation_error",))
    if not done:
        error = done.error
        if not isinstance(error, ValidationFailed) or error.rows is None:
            if error is not None:  # e.g. a file without rows: the reason belongs to the file field
                apply_errors(form, error)
            return _render_import(form), done.status
        return _render_import(
            form,
            token=staged["token"],
            filename=staged["filename"],
            error=error.message,
            problems=error.rows,
            bad_rows=len({p["row"] for p in error.rows if p["row"] is not None}),
        ), done.status
    preview = done.value
    rows = preview.rows[:PREVIEW_ROWS]
    return _render_import(
        form,
        token=staged["token"],
        filename=staged["filename"],
        rows=rows,
        row_count=len(preview.rows),
        notes=[note.render(_) for note in preview.notes],
        sheet=preview.sheet,
        cpv=cpv_labels(db.session, {row["cpv_code"] for row in rows}, current_language()),
        confirm_form=ImportConfirmForm(formdata=None),
    )


@bp.get("/needs/import/<token>/report.csv")
@roles_required("buyer")
def import_report(token: str):
    pending, data = UPLOADS.get(token)
    known = set(db.session.scalars(sa.select(CpvCode.code)))
    result = parse_needs(data, pending["filename"], known_cpv=known.__contains__)
    lang = current_language()
    body = RowReport(result.errors).to_csv_bytes(lang=lang, translate=_, column_labels=column_labels(lang))
    name = "rapport-import.csv" if lang == "fr" else "import-report.csv"
    return current_app.response_class(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


@bp.post("/needs/import/<token>/confirm")
@roles_required("buyer")
def confirm_import(token: str):
    pending, data = UPLOADS.get(token)
    form = ImportConfirmForm()
    status = "submitted" if form.submit_now.data else "draft"
    done = actions.submit(
        form,
        lambda: services.import_needs(db.session, current_user, data, pending["filename"], status=status),
        success=lambda needs: ngettext("%(num)d need imported.", "%(num)d needs imported.", len(needs)),
    )
    if done:
        UPLOADS.discard()
        return redirect(url_for(".list_needs"))
    return _render_import(ImportUploadForm(formdata=None)), done.status


@bp.get("/needs/import/template.csv")
@roles_required("buyer")
def import_template():
    lang = request.args.get("lang") or current_language()
    if lang not in ("fr", "en"):
        lang = current_language()
    name = "modele-besoins.csv" if lang == "fr" else "needs-template.csv"
    return current_app.response_class(
        template_csv_bytes(lang),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
