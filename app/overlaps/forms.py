"""The query form of the overlap map: read from the URL (GET), checked by the service."""

from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField

from app.errors import ValidationFailed
from app.forms import LEVEL_CHOICES, DayField, WholeNumberField
from app.overlaps.services import MAX_WINDOW_MONTHS, OverlapQuery

DEFAULT_LEVEL = "class"
DEFAULT_WINDOW_MONTHS = 12

# The service names its reasons after the query; the form fields after the URL parameters.
REASON_FIELDS = {"level": "level", "window_months": "window_months", "from": "start"}


class OverlapQueryForm(FlaskForm):
    """GET form: no CSRF token, values come from request.args so that every view of the map has a URL."""

    class Meta:
        csrf = False

    level = SelectField(_l("CPV level"), choices=LEVEL_CHOICES, default=DEFAULT_LEVEL, validate_choice=False)
    window_months = WholeNumberField(
        _l("Window (months)"),
        default=DEFAULT_WINDOW_MONTHS,
        render_kw={"min": 1, "max": MAX_WINDOW_MONTHS, "inputmode": "numeric"},
    )
    start = DayField(_l("From"), name="from")

    def overlap_query(self, today: date) -> OverlapQuery:
        """The query the fields describe, validated; ValidationFailed (reasons keyed by field name) otherwise.

        Empty fields take their defaults. Text that is not a number or a date is refused here; the ranges and
        the level are the service's rules (OverlapQuery.validated), whose reasons are merged with these.
        """
        reasons: dict[str, list[str]] = {}
        level = (_raw(self.level) or DEFAULT_LEVEL).strip()
        months_text = _raw(self.window_months).strip()
        months: object = DEFAULT_WINDOW_MONTHS
        if months_text:
            try:
                months = int(months_text)
            except ValueError:
                months = months_text  # the service refuses it with its own message
        start_text = _raw(self.start).strip()
        start = None
        if start_text:
            try:
                start = date.fromisoformat(start_text)
            except ValueError:
                reasons["from"] = [str(_l("Enter the date as YYYY-MM-DD, for example 2027-01-31."))]
        query = OverlapQuery(level=level, window_months=months, window_start=start)
        try:
            query = query.validated(today)
        except ValidationFailed as error:
            for name, messages in error.reasons.items():
                reasons.setdefault(name, []).extend(messages)
        if reasons:
            raise ValidationFailed(reasons)
        return query

    def show_errors(self, error: ValidationFailed) -> list[str]:
        """Put the reasons on their fields; return those that belong to no field."""
        orphans = []
        for name, messages in error.reasons.items():
            field = getattr(self, REASON_FIELDS.get(name, ""), None)
            if field is None:
                orphans.extend(messages)
            else:
                field.errors = [*field.errors, *messages]
        return orphans


def _raw(field) -> str:
    return str(field.raw_data[0]) if field.raw_data else ""
