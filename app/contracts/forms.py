"""Forms of the contract pages: they only parse input; the rules live in app.contracts.services."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, NumberRange, Optional

from app.forms import DayField, FrenchDecimalField

STATUS_LABELS = {
    "standstill": _l("Standstill period"),
    "to_sign": _l("To sign"),
    "signed": _l("Signed"),
    "running": _l("Running"),
    "ended": _l("Ended"),
}
KIND_LABELS = {
    "contract": _l("Contract"),
    "framework": _l("Framework agreement with orders"),
}
MARKS = [SelectChoice(str(n), str(n)) for n in range(1, 6)]


class SignContractForm(FlaskForm):
    signed_on = DayField(_l("Date of signature (notification to the supplier)"), validators=[Optional()])


class OrderForm(FlaskForm):
    amount = FrenchDecimalField(_l("Amount excl. VAT (€ HT)"), validators=[DataRequired(_l("The amount is required."))])
    description = StringField(
        _l("What is ordered"),
        validators=[DataRequired(_l("Say what is ordered."))],
        render_kw={"maxlength": 500},
    )
    ordered_on = DayField(_l("Order date"), validators=[Optional()])


class AmendmentForm(FlaskForm):
    amount_delta = FrenchDecimalField(
        _l("Change of the amount excl. VAT (€ HT, negative for a decrease)"),
        validators=[DataRequired(_l("The change of amount is required (0 when only the duration changes)."))],
    )
    months_delta = IntegerField(
        _l("Change of the duration (months)"),
        default=0,
        validators=[Optional(), NumberRange(-120, 120, _l("A change from -120 to 120 months."))],
    )
    reason = TextAreaField(
        _l("Reason and ground (R2194-1 to R2194-10)"),
        validators=[DataRequired(_l("Say why the contract is amended (the ground of R2194-1 to R2194-10)."))],
        render_kw={"rows": 2, "maxlength": 4000},
    )
    signed_on = DayField(_l("Date of signature of the amendment"), validators=[Optional()])


class EvaluationForm(FlaskForm):
    quality = SelectField(_l("Quality of the services or supplies"), choices=MARKS, default="3")
    delays = SelectField(_l("Delays kept"), choices=MARKS, default="3")
    environmental = SelectField(_l("Environmental commitments kept"), choices=MARKS, default="3")
    comment = TextAreaField(_l("Comment"), render_kw={"rows": 2, "maxlength": 4000})
