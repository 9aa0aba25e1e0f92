"""Field checks shared by forms, services and the API (SIRET, postcode, email, password), and how a service refuses
an imported file with bad rows."""

from __future__ import annotations

import functools
import gzip
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.fr import siret as stdnum_siret

from app.errors import ValidationFailed

if TYPE_CHECKING:
    from app.domain.tabular import Message

MIN_PASSWORD_LENGTH = 10
# The common passwords attackers try first (app/data/SOURCES.md says where the list comes from), in lower case.
COMMON_PASSWORDS = Path(__file__).resolve().parent / "data" / "common-passwords.txt.gz"
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


@functools.cache
def common_passwords() -> frozenset[str]:
    with gzip.open(COMMON_PASSWORDS, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip() for line in lines if line.strip())


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None. Length is what makes a password strong: no rule on digits, capitals
    or symbols (they make passwords harder to remember, not to guess), but no password from the common list."""
    if len(password or "") < MIN_PASSWORD_LENGTH:
        return str(_l("The password must have at least %(n)d characters.", n=MIN_PASSWORD_LENGTH))
    if password.strip().lower() in common_passwords():
        return str(_l("This password is too common: it is among the first ones attackers try. Choose another one."))
    return None


def refuse_bad_rows(errors: Iterable[Message], rows: list) -> None:
    """All or nothing: a file with bad rows is refused listing every one (row, column, reason in the user's
    language, in file order); a file without rows is refused too."""
    errors = list(errors)
    if errors:
        raise ValidationFailed(
            {},
            message=str(_l("The file has errors: nothing was imported. Fix the rows listed and import it again.")),
            rows=[
                {"row": m.row, "column": m.column, "message": _l(m.message, **m.params)}
                for m in sorted(errors, key=lambda m: (m.row or 0, m.column or ""))
            ],
        )
    if not rows:
        raise ValidationFailed({"file": [str(_l("The file has no rows to import."))]})
