from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from app.audit.services import KINDS


class AuditFilterForm(FlaskForm):
    """The GET filters of the audit page; app.audit.services.filters_from refuses what is not valid."""

    class Meta:
        csrf = False

    kind = SelectField(_l("Event"), validate_choice=False)
    actor = StringField(_l("Actor's email"), validators=[Optional(), Length(max=254)])
    organization = SelectField(_l("Organization"), validate_choice=False)
    since = DateField(_l("From"), validators=[Optional()])
    until = DateField(_l("Until"), validators=[Optional()])

    def set_choices(self, organizations) -> None:
        self.kind.choices = [SelectChoice("", _l("All events"))] + [
            SelectChoice(kind, label) for kind, label in KINDS.items()
        ]
        self.organization.choices = [SelectChoice("", _l("All organizations"))] + [
            SelectChoice(str(o.id), f"{o.code} — {o.name}") for o in organizations
        ]
