"""Field checks shared by forms, services and the API (SIRET, postcode, email, password)."""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.fr import siret as stdnum_siret

MIN_PASSWORD_LENGTH = 10
_POSTCODE = re.compile(r"^\d{5}$")


def clean_siret(raw: str) -> tuple[str | None, str | None]:
    """(compact SIRET, None) or (None, reason)."""
    try:
        return stdnum_siret.validate(raw or ""), None
    except StdnumError:
        compact = stdnum_siret.compact(raw or "")
        if not compact.isdigit() or len(compact) != 14:
            return None, str(_l("A SIRET has 14 digits."))
        return None, str(_l("This SIRET is not valid (check digit)."))


def clean_postcode(raw: str) -> tuple[str | None, str | None]:
    value = (raw or "").strip()
    if not _POSTCODE.match(value):
        return None, str(_l("A French postcode has 5 digits."))
    return value, None


def clean_email(raw: str) -> tuple[str | None, str | None]:
    try:
        return validate_email((raw or "").strip(), check_deliverability=False).normalized.lower(), None
    except EmailNotValidError:
        return None, str(_l("This email address is not valid."))


def password_problem(password: str) -> str | None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        return str(_l("The password must have at least %(n)d characters.", n=MIN_PASSWORD_LENGTH))
    return None
