from flask import render_template, request
from flask_login import current_user

from app.accounts.auth import roles_required
from app.audit import bp, services
from app.audit.forms import AuditFilterForm
from app.errors import ValidationFailed
from app.extensions import db
from app.forms import apply_errors, posted_int
from app.organizations.services import list_buyer_organizations


@bp.get("/audit")
@roles_required("admin")
def audit_trail():
    """The audit trail for administrators, newest first, with filters and pages."""
    form = AuditFilterForm(formdata=request.args)
    organizations = list_buyer_organizations(db.session)
    form.set_choices(organizations)
    page, status = None, 200
    if form.validate():
        values = {name: form[name].data for name in ("kind", "actor", "since", "until")}
        values["organization"] = posted_int(form.organization.data)
        try:
            filters = services.filters_from(values)
            page = services.list_events(db.session, current_user, filters, page=request.args.get("page", 1, type=int))
        except ValidationFailed as error:
            apply_errors(form, error)
            status = error.status
    else:
        status = ValidationFailed.status
    query = {key: value for key, value in request.args.items() if key != "page" and value}
    return render_template(
        "audit/list.html",
        form=form,
        page=page,
        query=query,
        kinds=services.KINDS,
        organizations={o.id: o for o in organizations},
    ), status
