"""Forms of the spend pages: they only parse input; the rules live in app.spend.services."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import HiddenField, SelectChoice, SelectField, StringField, SubmitField

from app.forms import LEVEL_CHOICES

FORMAT_CHOICES = [
    SelectChoice("", _l("Detect from the file")),
    SelectChoice("csv", _l("Spend table, CSV")),
    SelectChoice("xlsx", _l("Spend table, Excel (.xlsx)")),
    SelectChoice("decp", _l("DECP open data (CSV or JSON)")),
]


class MapQueryForm(FlaskForm):
    """GET form: every view of the map has a URL; the service checks the values."""

    class Meta:
        csrf = False

    level = SelectField(_l("CPV level"), choices=LEVEL_CHOICES, default="division", validate_choice=False)
    organization = SelectField(_l("Organization"), validate_choice=False)
    year = SelectField(_l("Year"), validate_choice=False)

    def set_choices(self, organizations, years, *, all_organizations: bool) -> None:
        self.organization.choices = ([SelectChoice("", _l("All organizations"))] if all_organizations else []) + [
            SelectChoice(o.code, f"{o.code} — {o.name}") for o in organizations
        ]
        self.year.choices = [SelectChoice("", _l("All years"))] + [SelectChoice(str(y), str(y)) for y in years]


class SpendUploadForm(FlaskForm):
    file = FileField(
        _l("File to import"),
        validators=[
            FileRequired(_l("Choose a file.")),
            FileAllowed(["csv", "xlsx", "json"], _l("Only .csv, .xlsx and .json files are accepted.")),
        ],
    )
    organization = SelectField(_l("Organization"), validate_choice=False)
    format = SelectField(_l("File layout"), choices=FORMAT_CHOICES, default="", validate_choice=False)
    upload = SubmitField(_l("Check the file"))

    def set_organizations(self, organizations) -> None:
        self.organization.choices = [SelectChoice("", _l("Choose…"))] + [
            SelectChoice(o.code, f"{o.code} — {o.name}") for o in organizations
        ]


class ConfirmForm(FlaskForm):
    confirm = SubmitField(_l("Confirm the import"))


class RollbackForm(FlaskForm):
    rollback = SubmitField(_l("Roll back"))


class MappingForm(FlaskForm):
    division = HiddenField()
    category_key = SelectField(_l("Emission category"), validate_choice=False)
    note = StringField(_l("Why"), render_kw={"maxlength": 1000})
    save = SubmitField(_l("Save"))
