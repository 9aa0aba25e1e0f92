"""Forms of the procurement-need pages: they only parse input; the rules live in app.needs.services."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import (
    BooleanField,
    HiddenField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import Optional

from app.forms import DayField, FrenchDecimalField, WholeNumberField
from app.needs.models import NEED_STATUSES

STATUS_LABELS = {
    "draft": _l("Draft"),
    "submitted": _l("Submitted"),
    "withdrawn": _l("Withdrawn"),
    "grouped": _l("Grouped"),
}


class NeedForm(FlaskForm):
    """Every field of services.NeedValues; checks (required, ranges, CPV existence) are the service's."""

    title = StringField(_l("Title"), render_kw={"maxlength": 200})
    cpv_code = HiddenField(_l("CPV code"))
    description = TextAreaField(_l("Description"), render_kw={"rows": 3})
    annual_amount = FrenchDecimalField(
        _l("Yearly amount excl. VAT (€)"), description=_l("For example 12 500,00 or 12500.00.")
    )
    start_date = DayField(_l("Contract start date"), validators=[Optional()])
    duration_months = WholeNumberField(
        _l("Duration (months)"), validators=[Optional()], description=_l("From 1 to 120 months.")
    )
    renewal_count = WholeNumberField(
        _l("Number of renewals"),
        validators=[Optional()],
        description=_l("How many times the contract may be renewed, from 0 to 10."),
    )
    renewal_months = WholeNumberField(
        _l("Length of each renewal (months)"),
        validators=[Optional()],
        description=_l("Leave empty when each renewal lasts as long as the initial duration."),
    )
    options_amount = FrenchDecimalField(
        _l("Options, total excl. VAT (€)"),
        description=_l("All the options over the whole contract, in euros excluding VAT (not per year)."),
    )
    quantity = FrenchDecimalField(
        _l("Quantity per year"),
        description=_l("Energy bought in kWh, MWh, GWh or litres is estimated with physical emission factors."),
    )
    unit = StringField(
        _l("Unit"),
        render_kw={"maxlength": 50, "list": "need-units"},
        description=_l("kWh, MWh, GWh, L, m3, t or unit; another word (ream, meal) is kept as it is."),
    )
    current_contract_end = DayField(_l("End of the current contract"), validators=[Optional()])
    delivery_postcode = StringField(_l("Delivery postcode"), render_kw={"maxlength": 5, "inputmode": "numeric"})
    environmental_criterion = BooleanField(_l("Environmental award criterion"))
    social_clause = BooleanField(_l("Social clause (integration through employment)"))
    short_supply_chain = BooleanField(_l("Short supply chain / local products"))
    sustainability_notes = TextAreaField(_l("Sustainability requirements"), render_kw={"rows": 2})
    save_draft = SubmitField(_l("Save as draft"))
    submit = SubmitField(_l("Submit"))


class EditNeedForm(NeedForm):
    version = HiddenField()
    save = SubmitField(_l("Save"))


class NeedFilterForm(FlaskForm):
    """The GET filters of the list: only parsed here; services.filtered_needs refuses bad values."""

    class Meta:
        csrf = False

    organization = SelectField(_l("Organization"), validate_choice=False)
    cpv = HiddenField(_l("CPV code or category"))
    status = SelectField(_l("Status"), validate_choice=False)
    start_from = DayField(_l("Start from"), validators=[Optional()])
    start_to = DayField(_l("Start until"), validators=[Optional()])
    q = StringField(_l("Search in titles"))

    def set_choices(self, organizations, *, with_drafts: bool) -> None:
        self.organization.choices = [SelectChoice("", _l("All organizations"))] + [
            SelectChoice(o.code, f"{o.code} — {o.name}") for o in organizations
        ]
        statuses = [s for s in NEED_STATUSES if with_drafts or s != "draft"]
        self.status.choices = [SelectChoice("", _l("All statuses"))] + [
            SelectChoice(s, STATUS_LABELS[s]) for s in statuses
        ]


class StatusForm(FlaskForm):
    status = HiddenField()


class DeleteForm(FlaskForm):
    pass


class ImportUploadForm(FlaskForm):
    file = FileField(
        _l("File to import"),
        validators=[
            FileRequired(_l("Choose a file.")),
            FileAllowed(["csv", "xlsx"], _l("Only .csv and .xlsx files are accepted.")),
        ],
    )
    upload = SubmitField(_l("Check the file"))


class ImportConfirmForm(FlaskForm):
    submit_now = BooleanField(
        _l("Submit the needs to the coordinators now (otherwise they are saved as drafts)"), default=True
    )
    confirm = SubmitField(_l("Confirm the import"))
