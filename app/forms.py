"""Helpers shared by the HTML forms: the French decimal field, posted numbers and versions, putting a service's
errors back on a form or in an alert, safe redirects. The POST-action shape itself is app.actions."""

from __future__ import annotations

import decimal
import re
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from flask import flash
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, DateTimeLocalField, DecimalField, IntegerField, SelectChoice
from wtforms.widgets import TextInput

from app.domain.bounds import FIRST_DAY, LAST_DAY, MAX_AMOUNT, MAX_ID, MAX_INT, day_in_range
from app.errors import DomainError, ValidationFailed
from app.i18n import current_language

# The CPV levels a map or an overlap is computed at (the choices of their query forms, and how a page names them).
LEVEL_CHOICES = [
    SelectChoice("division", _l("Division (2 digits)")),
    SelectChoice("group", _l("Group (3 digits)")),
    SelectChoice("class", _l("Class (4 digits)")),
    SelectChoice("category", _l("Category (5 digits)")),
]
LEVEL_NAMES = {"division": _l("division"), "group": _l("group"), "class": _l("class"), "category": _l("category")}

_SPACES = re.compile(r"[\s\u00a0\u202f\u2009\u2007]+")
_CURRENCY = re.compile(r"^(?:€|eur(?:os?)?)|(?:€|eur(?:os?)?)$", re.IGNORECASE)


def normalise_decimal(text: str) -> str:
    """'1 234,50' / '1.234,50' / '1,234.50' / '12 500 €' -> '1234.50'; anything else is returned for Decimal to refuse.

    The last of ',' and '.' is the decimal mark when both appear; a lone ',' is a decimal comma.
    """
    value = _SPACES.sub("", text or "")
    value = _CURRENCY.sub("", value)
    if "," in value and "." in value:
        mark = "," if value.rfind(",") > value.rfind(".") else "."
        thousands = "." if mark == "," else ","
        value = value.replace(thousands, "").replace(mark, ".")
    elif value.count(",") == 1:
        value = value.replace(",", ".")
    return value


class FrenchDecimalField(DecimalField):
    """A Decimal typed as text, in French ('1 234,50') or English ('1234.50') notation; empty means None.

    A text input (a number input refuses '1 234,50'). The value is never rounded here: the service refuses more
    than two decimals with a clear message.
    """

    widget = TextInput()

    def __init__(self, label=None, validators=None, **kwargs):
        render_kw = {"inputmode": "decimal", "autocomplete": "off", **(kwargs.pop("render_kw", None) or {})}
        super().__init__(label, validators, places=None, render_kw=render_kw, **kwargs)

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        text = (valuelist[0] or "").strip()
        if not text:
            self.data = None
            return
        try:
            value = decimal.Decimal(normalise_decimal(text))
        except (decimal.InvalidOperation, ValueError) as exc:
            self.data = None
            raise ValueError(str(_l("Not a number: write it like 1234,50 or 1 234,50."))) from exc
        if not value.is_finite():
            self.data = None
            raise ValueError(str(_l("Not a number: write it like 1234,50 or 1 234,50.")))
        if abs(value) > MAX_AMOUNT:  # the sign is each service's rule, with its own message
            self.data = None
            raise ValueError(str(_l("Give a number no larger than 999 999 999 999,99.")))
        self.data = value

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return decimal_input_text(self.data, current_language())


def decimal_input_text(value, language: str) -> str:
    """A Decimal as a `FrenchDecimalField` shows it in its input: '1234,5' in French, '1234.5' in English."""
    if value is None:
        return ""
    text = format(value, "f")
    return text.replace(".", ",") if language == "fr" else text


def _refuse_out_of_range(field, day) -> None:
    if field.data is not None and not day_in_range(day):
        field.data = None
        raise ValueError(str(_l("Give a date from %(first)s to %(last)s.", first=FIRST_DAY.year, last=LAST_DAY.year)))


class DayField(DateField):
    """A date from 2000 to 2100 (the years the threshold table and the contracts cover)."""

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        _refuse_out_of_range(self, self.data)


class InstantField(DateTimeLocalField):
    """A local date and time (Europe/Paris) from 2000 to 2100."""

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        _refuse_out_of_range(self, self.data and self.data.date())


class WholeNumberField(IntegerField):
    """A whole number from 0 to 2**31 - 1 (what an INTEGER column holds); each form narrows it with its own rule."""

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if self.data is not None and not 0 <= self.data <= MAX_INT:
            self.data = None
            raise ValueError(str(_l("Give a whole number from 0 to %(max)s.", max=MAX_INT)))


def posted_int(raw) -> int | None:
    """A whole number posted in a form field, a hidden input or a query argument ('12'), at most an id's largest
    value (a BIGINT); None for anything else."""
    text = str(raw or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_ID)):
        return None
    value = int(text)
    return value if value <= MAX_ID else None


def form_id(value) -> int:
    """`coerce` for choice fields holding ids: 0 (none chosen) to a BIGINT's largest, else ValueError (shown on the
    field), never a number the database cannot compare."""
    parsed = value if isinstance(value, int) and 0 <= value <= MAX_ID else posted_int(value)
    if parsed is None:
        raise ValueError("not an id")  # WTForms shows its own message for a choice it cannot read
    return parsed


def form_version(raw) -> int:
    """The version the form was made from; anything unreadable counts as stale (0), never as 'skip the check'."""
    return posted_int(raw) or 0


def renamed_reasons(error: DomainError, rename: Mapping[str, str] | Callable[[str], str]) -> DomainError:
    """The service's reason keys renamed to the form's field names ('amount_eur' → 'amount'); other errors as is."""
    if not isinstance(error, ValidationFailed) or not error.reasons:
        return error
    name = (lambda key: rename.get(key, key)) if isinstance(rename, Mapping) else rename
    reasons: dict[str, list[str]] = {}
    for key, messages in error.reasons.items():
        reasons.setdefault(name(key), []).extend(messages)
    return ValidationFailed(reasons, message=error.message, rows=error.rows)


def apply_errors(
    form: FlaskForm | None,
    error: DomainError,
    rename: Mapping[str, str] | Callable[[str], str] | None = None,
) -> None:
    """The one way a page shows a service's refusal: per-field reasons on the form's fields (`rename`: the
    service's keys → the form's field names); reasons that belong to no field, and every other error, in an alert
    (a flash message shown by the page rendered next)."""
    if rename is not None:
        error = renamed_reasons(error, rename)
    if isinstance(error, ValidationFailed) and error.reasons:
        for name, messages in error.reasons.items():
            field = getattr(form, name, None) if form is not None else None
            if field is not None and hasattr(field, "errors"):
                field.errors = list(field.errors or []) + list(messages)
            else:
                for message in messages:
                    flash(message, "danger")
        return
    flash(error.message, "danger")


def safe_next(target: str | None, default: str) -> str:
    """Only same-site relative paths are followed after login (no open redirect)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target
