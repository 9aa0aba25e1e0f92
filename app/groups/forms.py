"""Forms of the pooled-purchase group pages: they only parse input; the rules live in app.groups.services.

The forms shown side by side on the group page carry a prefix ("confirm-", "sign-", "lot-"…): their HTML ids stay
unique, and a service's per-field reasons ("reason", "signed_on") still land on the field of the same name.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    HiddenField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Optional

from app.forms import DayField, FrenchDecimalField, WholeNumberField, form_id
from app.i18n import money

GROUP_STATUS_LABELS = {
    "forming": _l("Forming"),
    "constituted": _l("Constituted"),
    "closed": _l("Closed"),
    "abandoned": _l("Abandoned"),
}
MEMBER_STATUS_LABELS = {
    "invited": _l("Invited"),
    "confirmed": _l("Confirmed"),
    "declined": _l("Declined"),
    "signed": _l("Signed"),
}
# What a pending member still has to do, for the "who is pending" lists.
MEMBER_PENDING_LABELS = {
    "invited": _l("has not answered yet"),
    "confirmed": _l("has not signed yet"),
}
COST_SHARING_LABELS = {
    "pro_rata": _l("In proportion to each member's share"),
    "equal": _l("In equal parts"),
    "coordinator": _l("Borne by the coordinating organization"),
}
EXECUTION_MODE_LABELS = {
    "coordinator_signs": _l("The coordinator signs and notifies for all; each member runs its own part"),
    "each_member": _l("Each member signs and runs its own contract"),
    "coordinator_for_all": _l("The coordinator signs and runs the contracts for all the members"),
}


def organization_choices(organizations, placeholder=None) -> list[SelectChoice]:
    choices = [SelectChoice("", placeholder)] if placeholder else []
    return choices + [SelectChoice(o.code, f"{o.code} — {o.name}") for o in organizations]


def need_choices(needs) -> list[SelectChoice]:
    return [SelectChoice(str(n.id), f"{n.title} — {money(n.annual_amount)}") for n in needs]


class NewGroupForm(FlaskForm):
    name = StringField(_l("Name of the group"), render_kw={"maxlength": 200})
    scope_cpv_prefix = StringField(
        _l("Scope (CPV prefix)"),
        render_kw={"maxlength": 8, "inputmode": "numeric"},
        description=_l("2 to 8 digits, for example 0931 for electricity."),
    )
    coordinator_organization = SelectField(_l("Coordinating organization"), validate_choice=False)
    planned_publication_on = DayField(_l("Planned publication of the call"), validators=[Optional()])
    need_ids = SelectMultipleField(_l("Needs to pool"), coerce=form_id, validate_choice=False)


class EditGroupForm(FlaskForm):
    version = HiddenField()
    name = StringField(_l("Name of the group"), render_kw={"maxlength": 200})
    scope_cpv_prefix = StringField(
        _l("Scope (CPV prefix)"),
        render_kw={"maxlength": 8, "inputmode": "numeric"},
        description=_l("2 to 8 digits, for example 0931 for electricity."),
    )
    planned_publication_on = DayField(_l("Planned publication of the call"), validators=[Optional()])
    convention_duration_months = WholeNumberField(
        _l("Duration of the convention (months)"), validators=[Optional()], description=_l("From 1 to 120 months.")
    )
    cost_sharing = SelectField(
        _l("How the costs of the procedure are shared"),
        choices=[SelectChoice(code, label) for code, label in COST_SHARING_LABELS.items()],
        validate_choice=False,
    )
    execution_mode = SelectField(
        _l("Who signs and runs the contracts"),
        choices=[SelectChoice(code, label) for code, label in EXECUTION_MODE_LABELS.items()],
        validate_choice=False,
    )
    single_lot_reason = TextAreaField(
        _l("Why a single lot"),
        render_kw={"rows": 3},
        description=_l("Required when the group has exactly one lot: lots are the rule in French public procurement."),
    )

    def changes(self) -> dict:
        changes = {
            "name": self.name.data or "",
            "scope_cpv_prefix": self.scope_cpv_prefix.data or "",
            "planned_publication_on": self.planned_publication_on.data,
            "convention_duration_months": self.convention_duration_months.data,
            "cost_sharing": self.cost_sharing.data or "",
            "single_lot_reason": self.single_lot_reason.data or "",
        }
        if self.execution_mode.data:  # an empty choice keeps the mode chosen before
            changes["execution_mode"] = self.execution_mode.data
        return changes


class ConfirmForm(FlaskForm):
    """The member's needs to bring; one amount and one quantity field per need are added by `confirm_form`."""

    need_ids = SelectMultipleField(_l("Needs brought"), coerce=form_id, validate_choice=False)


def confirm_form(group_needs, *, formdata=None, chosen=None) -> ConfirmForm:
    """A ConfirmForm with `amount_<need id>` and `quantity_<need id>` for each of the member's group needs."""

    class Form(ConfirmForm):
        pass

    data = {"need_ids": list(chosen or [])}
    for gn in group_needs:
        setattr(Form, f"amount_{gn.need_id}", FrenchDecimalField(_l("Yearly amount for the group (€)")))
        setattr(Form, f"quantity_{gn.need_id}", FrenchDecimalField(_l("Quantity")))
        data[f"amount_{gn.need_id}"] = gn.annual_amount
        data[f"quantity_{gn.need_id}"] = gn.quantity
    if formdata is None:
        return Form(prefix="confirm", formdata=None, data=data)
    return Form(prefix="confirm", formdata=formdata)


class DeclineForm(FlaskForm):
    reason = TextAreaField(_l("Why does your organization decline?"), render_kw={"rows": 2})


class ProposeNeedForm(FlaskForm):
    need_id = SelectField(_l("Another submitted need of your organization"), coerce=form_id, validate_choice=False)


class SignForm(FlaskForm):
    """The page asks for both (the API records them when given: services.sign_convention)."""

    signed_on = DayField(
        _l("Date of the deliberation or decision"),
        validators=[DataRequired(_l("The date of the deliberation or decision is required."))],
    )
    deliberation_reference = StringField(
        _l("Reference of the deliberation or decision"),
        validators=[DataRequired(_l("The reference of the deliberation or decision is required."))],
        render_kw={"maxlength": 200},
        description=_l("For example: Délibération du conseil d'administration n° 2026-41."),
    )


class InviteForm(FlaskForm):
    organization = SelectField(_l("Organization"), validate_choice=False)


class AbandonForm(FlaskForm):
    reason = TextAreaField(_l("Why is the group abandoned?"), render_kw={"rows": 2})


class LotForm(FlaskForm):
    """A lot; `share_amount_<organization id>` and `share_quantity_<…>` per member are added by `lot_form`."""

    version = HiddenField()
    title = StringField(_l("Title of the lot"), render_kw={"maxlength": 200})
    cpv_code = HiddenField(_l("CPV code"))
    description = TextAreaField(_l("Description"), render_kw={"rows": 2})
    delivery_area = StringField(
        _l("Delivery area"), render_kw={"maxlength": 100}, description=_l("For example: 21 (Côte-d'Or) or Dijon.")
    )


def lot_form(memberships, *, lot=None, formdata=None, prefix="lot") -> LotForm:
    """A LotForm with a yearly amount and a quantity per member organization (declined members excluded)."""

    class Form(LotForm):
        pass

    shares = {s.organization_id: s for s in lot.shares} if lot is not None else {}
    data: dict = {}
    if lot is not None:
        data = {
            "version": lot.version,
            "title": lot.title,
            "cpv_code": lot.cpv_code,
            "description": lot.description,
            "delivery_area": lot.delivery_area,
        }
    for m in memberships:
        setattr(Form, f"share_amount_{m.organization_id}", FrenchDecimalField(_l("Yearly amount excl. VAT (€)")))
        setattr(Form, f"share_quantity_{m.organization_id}", FrenchDecimalField(_l("Quantity")))
        share = shares.get(m.organization_id)
        data[f"share_amount_{m.organization_id}"] = share.annual_amount if share else None
        data[f"share_quantity_{m.organization_id}"] = share.quantity if share else None
    if formdata is None:
        return Form(prefix=prefix, formdata=None, data=data)
    return Form(prefix=prefix, formdata=formdata)
