"""Importing procurement needs from a spreadsheet: the columns, their checks and a template.

`parse_needs` validates every row and reports every problem at once, with the row numbers the
user sees in the spreadsheet, so that a buyer fixes the whole file in one pass.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from app.domain.cells import (
    AMOUNT_MAX,
    CPV_ZERO_RESTORED,
    POSTCODE_ZERO_RESTORED,
    ImportColumn,
    RowChecker,
    checked_length,
    checked_range,
    parse_cpv,
    parse_postcode,
    repair_note,
    unknown_cpv,
)
from app.domain.climate import normalise_unit
from app.domain.estimate import RENEWAL_COUNT_MAX, estimated_value
from app.domain.tabular import (
    CellError,
    Message,
    TableError,
    parse_bool,
    parse_date,
    parse_decimal,
    parse_int,
    read_table,
)
from app.domain.text import N_

__all__ = [
    "MAX_ROWS",
    "NEED_COLUMNS",
    "NeedColumn",
    "NeedImportResult",
    "aliases",
    "column_labels",
    "parse_needs",
    "required_columns",
    "template_csv_bytes",
]

MAX_ROWS = 10_000
TITLE_MAX = 200
UNIT_MAX = 50
DESCRIPTION_MAX = 5_000
SUSTAINABILITY_NOTES_MAX = 2_000
DURATION_MIN, DURATION_MAX = 1, 120
QUANTITY_MAX = AMOUNT_MAX
TOTAL_TOO_LARGE = N_("The total estimated value (renewals and options included) is too large.")
NeedColumn = ImportColumn


NEED_COLUMNS: tuple[NeedColumn, ...] = (
    NeedColumn("title", "Intitulé", "Title", ("intitule", "objet", "titre", "intitulé du besoin"), True),
    NeedColumn("cpv_code", "Code CPV", "CPV code", ("cpv", "cpv_code"), True),
    NeedColumn(
        "annual_amount_eur",
        "Montant annuel HT (€)",
        "Annual amount excl. VAT (EUR)",
        ("montant annuel HT", "montant annuel", "annual amount", "annual_amount_eur"),
        True,
    ),
    NeedColumn("start_date", "Date de début", "Start date", ("date debut", "start_date"), True),
    NeedColumn(
        "duration_months",
        "Durée (mois)",
        "Duration (months)",
        ("duree mois", "durée", "duration", "duration_months"),
        True,
    ),
    NeedColumn(
        "renewal_count",
        "Nombre de reconductions",
        "Renewals",
        ("reconductions", "nombre de reconductions", "renewal count", "renewal_count"),
    ),
    NeedColumn(
        "renewal_months",
        "Durée d'une reconduction (mois)",
        "Renewal period (months)",
        ("durée de reconduction", "duree reconduction", "renewal months", "renewal_months"),
    ),
    NeedColumn(
        "options_amount_eur",
        "Montant total des options HT (€)",
        "Options total excl. VAT (EUR)",
        ("options", "montant des options", "options amount", "options_amount_eur"),
    ),
    NeedColumn("description", "Description", "Description"),
    NeedColumn("quantity", "Quantité", "Quantity"),
    NeedColumn("unit", "Unité", "Unit"),
    NeedColumn(
        "current_contract_end",
        "Fin du contrat actuel",
        "Current contract end",
        ("échéance du contrat actuel", "current_contract_end"),
    ),
    NeedColumn(
        "delivery_postcode",
        "Code postal de livraison",
        "Delivery postcode",
        ("code postal", "postcode", "delivery_postcode"),
    ),
    NeedColumn("environmental_criterion", "Critère environnemental", "Environmental criterion"),
    NeedColumn("social_clause", "Clause sociale", "Social clause"),
    NeedColumn("short_supply_chain", "Circuit court", "Short supply chain"),
    NeedColumn(
        "sustainability_notes",
        "Exigences durables",
        "Sustainability requirements",
        ("sustainability",),
    ),
)
_BY_NAME = {column.name: column for column in NEED_COLUMNS}
BOOLEAN_COLUMNS = ("environmental_criterion", "social_clause", "short_supply_chain")


def aliases() -> dict[str, tuple[str, ...]]:
    """Canonical column -> accepted headers, French label first (used in messages)."""
    return {column.name: column.accepted for column in NEED_COLUMNS}


def required_columns() -> tuple[str, ...]:
    return tuple(column.name for column in NEED_COLUMNS if column.required)


def column_labels(lang: str = "fr") -> dict[str, str]:
    """Canonical column -> header shown to users, e.g. for `RowReport.to_csv_bytes(column_labels=...)`."""
    return {c.name: (c.label_en if lang == "en" else c.label_fr) for c in NEED_COLUMNS}


@dataclass
class NeedImportResult:
    """`rows` holds the rows that passed every check (each with its spreadsheet row number under
    "row"); `errors` every problem found; `notes` remarks that do not prevent the import.
    The import is acceptable only when `errors` is empty."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: list[Message] = field(default_factory=list)
    notes: list[Message] = field(default_factory=list)
    sheet: str | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


def parse_needs(data: bytes, filename: str, *, known_cpv: Callable[[str], bool]) -> NeedImportResult:
    """Read and validate a needs file; never raises for bad content, every problem is in `errors`."""
    try:
        table = read_table(data, filename, required=required_columns(), aliases=aliases(), max_rows=MAX_ROWS)
    except TableError as exc:
        return NeedImportResult(errors=list(exc.messages))

    result = NeedImportResult(notes=list(table.notes), sheet=table.sheet)
    fixes = _Fixes()
    for row_number, cells in table.records():
        clean, errors = _check_row(row_number, cells, known_cpv, fixes)
        if errors:
            result.errors.extend(errors)
        else:
            result.rows.append(clean)
    result.notes.extend(fixes.notes())
    return result


@dataclass
class _Fixes:
    """Silent repairs worth telling the user about once, not once per row."""

    cpv_zero: list[int] = field(default_factory=list)
    postcode_zero: list[int] = field(default_factory=list)

    def notes(self) -> list[Message]:
        return repair_note(self.cpv_zero, "cpv_code", CPV_ZERO_RESTORED) + repair_note(
            self.postcode_zero, "delivery_postcode", POSTCODE_ZERO_RESTORED
        )


def _check_row(
    row: int, cells: Mapping[str, str], known_cpv: Callable[[str], bool], fixes: _Fixes
) -> tuple[dict[str, Any], list[Message]]:
    check = RowChecker(row, cells)
    clean: dict[str, Any] = {"row": row}
    clean["title"] = check("title", _title, required=True)
    clean["cpv_code"] = check("cpv_code", lambda text: _cpv(text, row, known_cpv, fixes), required=True)
    clean["annual_amount_eur"] = check("annual_amount_eur", _amount, required=True)
    clean["start_date"] = check("start_date", parse_date, required=True)
    clean["duration_months"] = check("duration_months", _duration, required=True)
    clean["renewal_count"] = check("renewal_count", _renewal_count) or 0
    clean["renewal_months"] = check("renewal_months", _duration) if clean["renewal_count"] else None
    clean["options_amount_eur"] = check("options_amount_eur", _options) or Decimal("0.00")
    if not check.errors and (
        estimated_value(
            clean["annual_amount_eur"],
            clean["duration_months"],
            clean["renewal_count"],
            clean["renewal_months"],
            clean["options_amount_eur"],
        )
        > AMOUNT_MAX
    ):
        check.errors.append(Message(row, "annual_amount_eur", TOTAL_TOO_LARGE, {}))
    clean["description"] = check("description", lambda text: checked_length(text, DESCRIPTION_MAX))
    clean["quantity"] = check("quantity", _quantity)
    clean["unit"] = check("unit", lambda text: normalise_unit(checked_length(text, UNIT_MAX)))
    clean["current_contract_end"] = check("current_contract_end", parse_date)
    clean["delivery_postcode"] = check("delivery_postcode", lambda text: _postcode(text, row, fixes))
    for column in BOOLEAN_COLUMNS:
        clean[column] = bool(check(column, parse_bool))
    clean["sustainability_notes"] = check(
        "sustainability_notes", lambda text: checked_length(text, SUSTAINABILITY_NOTES_MAX)
    )
    for column in ("description", "sustainability_notes"):
        clean[column] = clean[column] or ""

    code, check_digit = clean["cpv_code"] or (None, None)
    clean["cpv_code"], clean["cpv_check_digit"] = code, check_digit
    return clean, check.errors


def _title(text: str) -> str:
    return checked_length(re.sub(r"\s+", " ", text), TITLE_MAX)


def _cpv(text: str, row: int, known_cpv: Callable[[str], bool], fixes: _Fixes) -> tuple[str, str | None]:
    """(8 digits, check digit or None); the check digit itself is left for the app to verify."""
    code, zero_restored = parse_cpv(text)
    if not known_cpv(code.code):
        raise unknown_cpv(code.code)
    if zero_restored:
        fixes.cpv_zero.append(row)
    return code.code, code.check_digit


def _decimal_cell(*, zero_allowed: bool, too_small: str, too_large: str) -> Callable[[str], Decimal]:
    def parse(text: str) -> Decimal:
        return checked_range(
            parse_decimal(text),
            text,
            zero_allowed=zero_allowed,
            maximum=AMOUNT_MAX,
            too_small=too_small,
            too_large=too_large,
        )

    return parse


def _int_cell(low: int, high: int, message: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = parse_int(text)
        if not low <= value <= high:
            raise CellError(message, {"min": low, "max": high, "value": value})
        return value

    return parse


_amount = _decimal_cell(
    zero_allowed=False,
    too_small=N_("The annual amount must be greater than zero (found %(value)s)."),
    too_large=N_("The annual amount %(value)s is too large."),
)
_options = _decimal_cell(
    zero_allowed=True,
    too_small=N_("The options amount cannot be negative (found %(value)s)."),
    too_large=N_("The options amount %(value)s is too large."),
)
_quantity = _decimal_cell(
    zero_allowed=True,
    too_small=N_("The quantity cannot be negative (found %(value)s)."),
    too_large=N_("The quantity %(value)s is too large."),
)
_renewal_count = _int_cell(
    0, RENEWAL_COUNT_MAX, N_("The number of renewals must be between 0 and %(max)s (found %(value)s).")
)
_duration = _int_cell(
    DURATION_MIN, DURATION_MAX, N_("The duration must be between %(min)s and %(max)s months (found %(value)s).")
)


def _postcode(text: str, row: int, fixes: _Fixes) -> str:
    value, zero_restored = parse_postcode(text)
    if zero_restored:
        fixes.postcode_zero.append(row)
    return value


# --------------------------------------------------------------------------- template

_EXAMPLE = {
    "fr": {
        "title": "Fourniture de papier d'impression recyclé",
        "cpv_code": "30197630",
        "annual_amount_eur": "12500,00",
        "start_date": "01/01/2027",
        "duration_months": "12",
        "renewal_count": "3",
        "renewal_months": "12",
        "options_amount_eur": "2500,00",
        "description": "Ramettes A4 80 g, livraison mensuelle",
        "quantity": "2500",
        "unit": "ramette",
        "current_contract_end": "31/12/2026",
        "delivery_postcode": "21000",
        "environmental_criterion": "oui",
        "social_clause": "non",
        "short_supply_chain": "non",
        "sustainability_notes": "Papier recyclé certifié Ange bleu ou équivalent",
    },
    "en": {
        "title": "Supply of recycled printing paper",
        "cpv_code": "30197630",
        "annual_amount_eur": "12500.00",
        "start_date": "2027-01-01",
        "duration_months": "12",
        "renewal_count": "3",
        "renewal_months": "12",
        "options_amount_eur": "2500.00",
        "description": "A4 80 g reams, monthly delivery",
        "quantity": "2500",
        "unit": "ream",
        "current_contract_end": "2026-12-31",
        "delivery_postcode": "21000",
        "environmental_criterion": "yes",
        "social_clause": "no",
        "short_supply_chain": "no",
        "sustainability_notes": "Recycled paper certified Blue Angel or equivalent",
    },
}


def template_csv_bytes(lang: str = "fr") -> bytes:
    """A CSV template (UTF-8 with BOM, `;`-separated so Excel opens it in columns) with one example row."""
    if lang not in _EXAMPLE:
        raise ValueError(f"unsupported template language {lang!r}")
    labels = column_labels(lang)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([labels[column.name] for column in NEED_COLUMNS])
    writer.writerow([_EXAMPLE[lang][column.name] for column in NEED_COLUMNS])
    return buffer.getvalue().encode("utf-8-sig")
