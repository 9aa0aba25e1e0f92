"""Forms of the call pages: they only parse input; the rules live in app.calls.services.

Several forms share the call page: each carries a prefix ("bid-<lot id>-", "upload-", "cancel-"…) so that HTML ids
stay unique, and a service's per-field reasons ("text", "answer", "file") land on the field of the same name.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import Optional

from app.calls.models import CRITERIA
from app.forms import FrenchDecimalField, InstantField, WholeNumberField

CALL_STATUS_LABELS = {
    "draft": _l("Draft"),
    "published": _l("Open for bids"),
    "closed": _l("Closed"),
    "evaluated": _l("Evaluated"),
    "awarded": _l("Awarded"),
    "cancelled": _l("Cancelled"),
    "unsuccessful": _l("Unsuccessful"),
}
LOT_STATUS_LABELS = {
    "open": _l("Open"),
    "awarded": _l("Awarded"),
    "unsuccessful": _l("Unsuccessful"),
}
BID_STATUS_LABELS = {
    "active": _l("Active"),
    "replaced": _l("Replaced"),
    "withdrawn": _l("Withdrawn"),
    "awarded": _l("Awarded"),
    "unsuccessful": _l("Not retained"),
}
CRITERION_LABELS = {
    "price": _l("Price"),
    "technical": _l("Technical value"),
    "environmental": _l("Environmental performance"),
    "delivery": _l("Delivery"),
    "social": _l("Social and employment"),
}
LOCALITY_LABELS = {
    "departement": _l("Same département"),
    "region": _l("Same region"),
    "elsewhere": _l("Elsewhere"),
}
DEFAULT_WEIGHTS = {"price": 60, "technical": 30, "environmental": 10}
# The browser's datetime-local value first (it is also how the field renders its value).
LOCAL_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]


class LotRowForm(Form):
    """One editable lot row of the call form (a sub-form: the CSRF token is the call form's)."""

    group_lot_id = HiddenField()
    title = StringField(_l("Title of the lot"), render_kw={"maxlength": 200})
    cpv_code = HiddenField(_l("CPV code"))
    estimated_amount = FrenchDecimalField(
        _l("Total estimated value excl. VAT (€)"), description=_l("Renewals and options included, not per year.")
    )
    remove = BooleanField(_l("Remove this lot"))

    def is_blank(self) -> bool:
        return not (self.title.data or "").strip() and not self.cpv_code.data and self.estimated_amount.data is None


class CallForm(FlaskForm):
    title = StringField(_l("Title of the call"), render_kw={"maxlength": 200})
    description = TextAreaField(_l("Description"), render_kw={"rows": 4})
    questions_deadline = InstantField(
        _l("Questions until"), format=LOCAL_FORMATS, validators=[Optional()], render_kw={"step": 60}
    )
    bid_deadline = InstantField(_l("Bids until"), format=LOCAL_FORMATS, validators=[Optional()], render_kw={"step": 60})
    lots = FieldList(FormField(LotRowForm), min_entries=1)
    weight_price = WholeNumberField(CRITERION_LABELS["price"], validators=[Optional()])
    weight_technical = WholeNumberField(CRITERION_LABELS["technical"], validators=[Optional()])
    weight_environmental = WholeNumberField(CRITERION_LABELS["environmental"], validators=[Optional()])
    weight_delivery = WholeNumberField(CRITERION_LABELS["delivery"], validators=[Optional()])
    weight_social = WholeNumberField(CRITERION_LABELS["social"], validators=[Optional()])
    contract_kind = SelectField(
        _l("Contracts awarded"),
        choices=[
            SelectChoice("contract", _l("One contract per member")),
            SelectChoice("framework", _l("A framework agreement with orders per member, the award its maximum")),
        ],
        default="contract",
    )
    standstill_days = WholeNumberField(
        _l("Standstill period after the award (days)"),
        validators=[Optional()],
        description=_l("Blank: 11 days for formal procedures (R2182-1), none otherwise; a shorter one is a warning."),
    )
    add_lot = SubmitField(_l("Add a lot"))
    create = SubmitField(_l("Create the draft call"))

    def weight_fields(self):
        return [(name, self[f"weight_{name}"]) for name in CRITERIA]

    def criteria(self) -> list[tuple[str, int]]:
        """The criteria given a weight (0 or blank: not used), in the order of the published list."""
        return [(name, f.data) for name, f in self.weight_fields() if f.data not in (None, 0)]


class BidForm(FlaskForm):
    """A bid on one lot; rendered once per lot with the prefix "bid-<lot id>"."""

    amount = FrenchDecimalField(_l("Amount excl. VAT (€)"), description=_l("For example 12 500,00 or 12500.00."))
    technical_note = TextAreaField(_l("Technical note"), render_kw={"rows": 3})
    environmental_note = TextAreaField(_l("Environmental note"), render_kw={"rows": 2})
    delivery_distance_km = FrenchDecimalField(
        _l("Delivery distance (km)"), description=_l("From your site to the delivery places, on average.")
    )
    technical_proposal = FileField(_l("Technical proposal (PDF, ODT or DOCX)"), render_kw={"accept": ".pdf,.odt,.docx"})
    price_schedule = FileField(_l("Price schedule (XLSX)"), render_kw={"accept": ".xlsx"})
    declaration = FileField(
        _l("Declarations: DC1/DC2 or DUME/ESPD (PDF, ODT, DOCX or XML)"),
        render_kw={"accept": ".pdf,.odt,.docx,.xml"},
    )

    DOCUMENT_FIELDS = ("technical_proposal", "price_schedule", "declaration")


class PassphraseForm(FlaskForm):
    """A committee member's passphrase: set before publication, given again at the opening."""

    passphrase = PasswordField(
        _l("Your passphrase for this call"),
        description=_l("12 characters or more. Nobody can recover it: keep it safely until the opening."),
        render_kw={"autocomplete": "off", "maxlength": 1024},
    )


class QuestionForm(FlaskForm):
    text = TextAreaField(_l("Your question"), render_kw={"rows": 3, "maxlength": 4000})


class AnswerForm(FlaskForm):
    answer = TextAreaField(_l("Answer"), render_kw={"rows": 3})


class UploadForm(FlaskForm):
    file = FileField(_l("Document (PDF, ODT, DOCX or XLSX)"), render_kw={"accept": ".pdf,.odt,.docx,.xlsx"})


class CancelForm(FlaskForm):
    reason = TextAreaField(_l("Reason for the cancellation"), render_kw={"rows": 2})


class CallFilterForm(FlaskForm):
    """The GET filters of the list of calls."""

    class Meta:
        csrf = False

    cpv = HiddenField(_l("CPV code or category"))
    place = SelectField(_l("Département"), validate_choice=False)
    status = SelectField(_l("Status"), validate_choice=False)
    matching = BooleanField(_l("Only calls matching my trades and subscriptions"))

    def set_choices(self, places: list[str], statuses: list[str]) -> None:
        self.place.choices = [SelectChoice("", _l("All départements"))] + [SelectChoice(p, p) for p in places]
        self.status.choices = [SelectChoice("", _l("All statuses"))] + [
            SelectChoice(s, CALL_STATUS_LABELS[s]) for s in statuses
        ]


class SubscriptionForm(FlaskForm):
    cpv_prefix = HiddenField(_l("CPV code or category"))
    add = SubmitField(_l("Subscribe"))


def score_form(names, *, formdata=None, prefix: str = "", data: dict | None = None) -> FlaskForm:
    """The scores of one bid: one field per criterion but price, named after it (0 to 100); the bid's id travels
    in a plain `bid_id` input (it names the prefix "score-<bid id>")."""

    class ScoreForm(FlaskForm):
        pass

    for name in names:
        setattr(
            ScoreForm,
            name,
            FrenchDecimalField(CRITERION_LABELS.get(name, name), render_kw={"inputmode": "decimal", "size": 5}),
        )
    if formdata is None:
        return ScoreForm(formdata=None, prefix=prefix, data=data or {})
    return ScoreForm(formdata=formdata, prefix=prefix)
