from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, SelectChoice, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional

from app.forms import form_id

KIND_CHOICES = [
    SelectChoice("hospital", _l("Hospital")),
    SelectChoice("university", _l("University")),
    SelectChoice("social_housing", _l("Social housing")),
    SelectChoice("local_authority", _l("Local authority")),
    SelectChoice("other", _l("Other")),
]


class OrganizationForm(FlaskForm):
    code = StringField(_l("Short code"), validators=[DataRequired(), Length(max=16)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    kind = SelectField(_l("Kind"), choices=KIND_CHOICES)
    siret = StringField(_l("SIRET"), validators=[Optional()])
    postcode = StringField(_l("Postcode"), validators=[Optional()])
    is_central_government = BooleanField(
        _l("Central government authority (lower European thresholds for supplies and services)")
    )
    submit = SubmitField(_l("Save"))


class InvitationForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired()])
    role = SelectField(
        _l("Role"),
        choices=[SelectChoice("buyer", _l("Buyer")), SelectChoice("coordinator", _l("Purchasing coordinator"))],
    )
    organization_id = SelectField(_l("Organization"), coerce=form_id, validate_choice=False)
    submit = SubmitField(_l("Send the invitation"))
