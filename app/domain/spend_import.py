"""Reading past spend from files: a generic CSV/XLSX ledger, or DECP open data as published.

Two layouts are understood.

* A generic table (CSV or XLSX, French or English headers) with one spend line per row: date, supplier name,
  supplier SIRET, CPV code, amount excluding VAT, description, optionally the supplier's postcode and city.
* DECP records ("données essentielles de la commande publique") with the dataset's own flattened field names
  (`id`, `acheteur_id`, `codecpv` as XXXXXXXX-D, `montant`, `datenotification`, `dureemois`, `titulaire_id_1..3`,
  `objet`, `procedure`, ...), as a semicolon CSV or as JSON (a list of flattened records, or the nested
  `{"marches": [...]}` layout). The dataset's placeholder `CDL` ("ne s'applique pas") means an empty field.
  A record becomes one line dated on its notification date with its full declared amount (a contract value,
  not a payment); a record with several suppliers stays one line, counted once, attributed to the first
  supplier, the others kept as co-contractors.

HTML in DECP `objet`: the portal republishes the buyers' text HTML-escaped (`&euro;`, `&amp;`, `<br />`).
Mutualis stores the text a reader means: entities are unescaped and line-break tags become a space; every
other character is kept. Pages escape it again when they show it, so nothing from a file is ever rendered as
HTML.

`parse_spend` validates every row and reports every problem with the row number the user sees (header = row
1; JSON records are numbered the same way, the first record being row 2). It never raises for bad content.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from stdnum import luhn

from app.domain.cells import (
    AMOUNT_MAX,
    CPV_ZERO_RESTORED,
    MISSING,
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
from app.domain.tabular import CellError, Message, TableError, parse_date, parse_decimal, parse_int, read_table
from app.domain.text import N_

__all__ = [
    "DECP_FIELDS",
    "FORMATS",
    "GENERIC_COLUMNS",
    "MAX_ROWS",
    "SpendImportResult",
    "detect_format",
    "fingerprint",
    "generic_column_labels",
    "parse_spend",
    "template_csv_bytes",
]

MAX_ROWS = 100_000
FORMATS = ("csv", "xlsx", "decp")
DESCRIPTION_MAX = 5_000
NAME_MAX = 200
CITY_MAX = 120
PLACEHOLDER = "cdl"  # DECP: "ne s'applique pas"
MIN_DATE = date(1990, 1, 1)


SpendColumn = ImportColumn

GENERIC_COLUMNS: tuple[SpendColumn, ...] = (
    SpendColumn(
        "spend_date",
        "Date",
        "Spend date",
        ("date de la dépense", "date facture", "date de facture", "date de mandatement", "date mandat", "spend_date"),
        True,
    ),
    SpendColumn(
        "supplier_name",
        "Fournisseur",
        "Supplier name",
        ("nom du fournisseur", "raison sociale", "titulaire", "supplier", "supplier_name"),
    ),
    SpendColumn(
        "supplier_siret",
        "SIRET du fournisseur",
        "Supplier SIRET",
        ("siret", "siret fournisseur", "siret titulaire", "supplier_siret"),
    ),
    SpendColumn("cpv_code", "Code CPV", "CPV code", ("cpv", "cpv_code", "codecpv"), True),
    SpendColumn(
        "amount_eur",
        "Montant HT (€)",
        "Amount excl. VAT (EUR)",
        ("montant", "montant ht", "montant hors taxes", "amount", "amount excl vat", "amount_eur"),
        True,
    ),
    SpendColumn("description", "Objet", "Description", ("libellé", "libelle", "désignation", "designation")),
    SpendColumn(
        "supplier_postcode",
        "Code postal du fournisseur",
        "Supplier postcode",
        ("code postal", "cp fournisseur", "postcode", "supplier_postcode"),
    ),
    SpendColumn(
        "supplier_city", "Ville du fournisseur", "Supplier city", ("ville", "commune", "city", "supplier_city")
    ),
)

# DECP flattened fields read (others are ignored). Canonical name = the dataset's field name.
DECP_FIELDS = (
    "id",
    "acheteur_id",
    "nature",
    "objet",
    "codecpv",
    "procedure",
    "titulaire_id_1",
    "titulaire_typeidentifiant_1",
    "titulaire_id_2",
    "titulaire_typeidentifiant_2",
    "titulaire_id_3",
    "titulaire_typeidentifiant_3",
    "dureemois",
    "datenotification",
    "montant",
)
DECP_REQUIRED = ("codecpv", "montant", "datenotification", "titulaire_id_1")


def generic_column_labels(lang: str = "fr") -> dict[str, str]:
    return {c.name: (c.label_en if lang == "en" else c.label_fr) for c in GENERIC_COLUMNS}


@dataclass
class SpendImportResult:
    """`rows`: valid rows (spreadsheet row number under "row"); `errors`: every problem; `notes`: remarks and
    warnings that do not prevent the import. Acceptable only when `errors` is empty."""

    format: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: list[Message] = field(default_factory=list)
    notes: list[Message] = field(default_factory=list)
    sheet: str | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


# --------------------------------------------------------------------------- format


def _looks_like_json(data: bytes) -> bool:
    head = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head[:1] in (b"[", b"{")


def detect_format(data: bytes, filename: str, requested: str | None = None) -> str:
    """csv | xlsx | decp: the requested one, else DECP when the file is JSON or its header has DECP fields."""
    if requested:
        if requested not in FORMATS:
            raise ValueError(requested)
        return requested
    if filename.lower().endswith(".json") or _looks_like_json(data):
        return "decp"
    if data[:2] == b"PK":
        return "xlsx"
    first_line = data[:4096].split(b"\n", 1)[0].lower()
    if b"codecpv" in first_line and b"datenotification" in first_line:
        return "decp"
    return "csv"


def fingerprint(row: Mapping[str, Any]) -> str:
    """A stable digest of what makes a spend line itself, to recognise it in a later, overlapping file."""
    parts = (
        row["spend_date"].isoformat(),
        row["cpv_code"],
        f"{row['amount']:.2f}",
        row.get("supplier_siret") or (row.get("supplier_name") or "").upper(),
        row.get("source_ref") or "",
        row.get("description") or "",
    )
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]


def parse_spend(
    data: bytes,
    filename: str,
    *,
    known_cpv: Callable[[str], str | None],
    requested_format: str | None = None,
    buyer_siret: str | None = None,
) -> SpendImportResult:
    """Read and validate a spend file. `known_cpv(code)` returns the check digit of an existing code, else None.

    `buyer_siret` is the importing organization's SIRET: DECP records naming another buyer are a warning.
    """
    try:
        fmt = detect_format(data, filename, requested_format)
    except ValueError:
        return SpendImportResult(
            format="csv",
            errors=[
                Message(
                    None, None, N_("Unknown format “%(format)s”: use csv, xlsx or decp."), {"format": requested_format}
                )
            ],
        )
    if fmt == "decp":
        return _parse_decp(data, filename, known_cpv, buyer_siret)
    return _parse_generic(data, filename, fmt, known_cpv)


# --------------------------------------------------------------------------- shared cell checks


@dataclass
class _Fixes:
    cpv_zero: list[int] = field(default_factory=list)
    siret_zero: list[int] = field(default_factory=list)
    postcode_zero: list[int] = field(default_factory=list)
    check_digit: list[tuple[int, str, str, str]] = field(default_factory=list)
    bad_luhn: list[tuple[int, str]] = field(default_factory=list)
    html: list[int] = field(default_factory=list)
    placeholders: int = 0
    several_suppliers: list[int] = field(default_factory=list)
    other_buyers: dict[str, list[int]] = field(default_factory=dict)
    rounded: list[int] = field(default_factory=list)

    def notes(self, buyer_siret: str | None) -> list[Message]:
        notes = repair_note(self.cpv_zero, "cpv_code", CPV_ZERO_RESTORED)
        notes += repair_note(
            self.siret_zero,
            "supplier_siret",
            N_("The leading zero of %(count)s SIRET(s) was restored (spreadsheets drop it), starting at row %(row)s."),
        )
        notes += repair_note(self.postcode_zero, "supplier_postcode", POSTCODE_ZERO_RESTORED)
        for row, code, given, expected in self.check_digit[:5]:
            notes.append(
                Message(
                    row,
                    "cpv_code",
                    N_(
                        "Row %(row)s: the check digit %(given)s of CPV %(code)s should be %(expected)s; "
                        "the code is kept."
                    ),
                    {"row": row, "code": code, "given": given, "expected": expected},
                )
            )
        for row, siret in self.bad_luhn[:5]:
            notes.append(
                Message(
                    row,
                    "supplier_siret",
                    N_("Row %(row)s: the SIRET %(siret)s fails its checksum; it is kept as published."),
                    {"row": row, "siret": siret},
                )
            )
        notes += repair_note(
            self.html,
            "objet",
            N_(
                "%(count)s description(s) contained HTML entities or line-break tags (such as &euro; or <br />): "
                "they are stored as plain text (€, a space), starting at row %(row)s."
            ),
        )
        notes += repair_note(
            self.several_suppliers,
            "titulaire_id_2",
            N_(
                "%(count)s record(s) have several suppliers (joint contracts): each stays one line, counted once, "
                "attributed to the first supplier; the others are kept as co-contractors. First at row %(row)s."
            ),
        )
        for other, rows in sorted(self.other_buyers.items()):
            notes.append(
                Message(
                    rows[0],
                    "acheteur_id",
                    N_(
                        "Warning: %(count)s record(s) name the buyer %(buyer)s, not the organization's SIRET "
                        "%(own)s. They are imported for the organization chosen (a metropole may load the records "
                        "of a city whose services it shares). First at row %(row)s."
                    ),
                    {"count": len(rows), "buyer": other, "own": buyer_siret or "—", "row": rows[0]},
                )
            )
        notes += repair_note(
            self.rounded,
            "montant",
            N_("%(count)s amount(s) had more than two decimals and were rounded to the cent, starting at row %(row)s."),
        )
        if self.placeholders:
            notes.append(
                Message(
                    None,
                    None,
                    N_("%(count)s field(s) held the DECP placeholder CDL (“does not apply”) and were read as empty."),
                    {"count": self.placeholders},
                )
            )
        return notes


def _cpv(text: str, row: int, known_cpv: Callable[[str], str | None], fixes: _Fixes) -> str:
    code, zero_restored = parse_cpv(text)
    expected = known_cpv(code.code)
    if expected is None:
        raise unknown_cpv(code.code)
    if code.check_digit is not None and code.check_digit != expected:
        fixes.check_digit.append((row, code.code, code.check_digit, expected))
    if zero_restored:
        fixes.cpv_zero.append(row)
    return code.code


def _amount(value: Decimal, text: str) -> Decimal:
    return checked_range(
        value,
        text,
        zero_allowed=False,
        maximum=AMOUNT_MAX,
        too_small=N_(
            "The amount must be greater than zero (found %(value)s). Credit notes and cancellations are not "
            "imported: net them with the lines they correct."
        ),
        too_large=N_("The amount %(value)s is too large."),
    )


def _siret(text: str, row: int, fixes: _Fixes) -> str:
    value = re.sub(r"[\s.]", "", text)
    if re.fullmatch(r"\d{13}", value) and luhn.is_valid("0" + value):
        value = "0" + value
        fixes.siret_zero.append(row)
    if not re.fullmatch(r"\d{14}", value):
        raise CellError(N_("“%(value)s” is not a SIRET: 14 digits are expected."), {"value": text})
    if not luhn.is_valid(value) and not value.startswith("356000000"):  # La Poste's SIRETs use another rule
        fixes.bad_luhn.append((row, value))
    return value


def _postcode(text: str, row: int, fixes: _Fixes) -> str:
    value, zero_restored = parse_postcode(text)
    if zero_restored:
        fixes.postcode_zero.append(row)
    return value


def _text(text: str, maximum: int) -> str:
    return checked_length(re.sub(r"\s+", " ", text).strip(), maximum)


def _date(text: str) -> date:
    value = parse_date(text)
    if value < MIN_DATE:
        raise CellError(N_("“%(value)s”: spend before 1990 is not imported."), {"value": text})
    return value


def _finish(clean: dict[str, Any]) -> dict[str, Any]:
    clean["year"] = clean["spend_date"].year
    clean["fingerprint"] = fingerprint(clean)
    return clean


# --------------------------------------------------------------------------- generic table


def _parse_generic(data: bytes, filename: str, fmt: str, known_cpv: Callable[[str], str | None]) -> SpendImportResult:
    aliases = {c.name: c.accepted for c in GENERIC_COLUMNS}
    required = [c.name for c in GENERIC_COLUMNS if c.required]
    try:
        table = read_table(data, filename, required=required, aliases=aliases, max_rows=MAX_ROWS)
    except TableError as exc:
        return SpendImportResult(format=fmt, errors=list(exc.messages))
    fmt = "csv" if table.sheet is None else "xlsx"
    result = SpendImportResult(format=fmt, notes=list(table.notes), sheet=table.sheet)
    fixes = _Fixes()
    for row, cells in table.records():
        check = RowChecker(row, cells)
        clean: dict[str, Any] = {"row": row}
        clean["spend_date"] = check("spend_date", _date, required=True)
        clean["cpv_code"] = check("cpv_code", lambda text, row=row: _cpv(text, row, known_cpv, fixes), required=True)
        clean["amount_eur"] = check("amount_eur", lambda text: _amount(parse_decimal(text), text), required=True)
        clean["supplier_name"] = check("supplier_name", lambda text: _text(text, NAME_MAX))
        clean["supplier_siret"] = check("supplier_siret", lambda text, row=row: _siret(text, row, fixes))
        clean["description"] = check("description", lambda text: _text(text, DESCRIPTION_MAX))
        clean["supplier_postcode"] = check("supplier_postcode", lambda text, row=row: _postcode(text, row, fixes))
        clean["supplier_city"] = check("supplier_city", lambda text: _text(text, CITY_MAX))
        if check.errors:
            result.errors.extend(check.errors)
            continue
        clean["amount"] = clean.pop("amount_eur")
        clean["description"] = clean["description"] or ""
        clean.update(co_contractors=None, source_ref=None, procedure=None, duration_months=None)
        result.rows.append(_finish(clean))
    result.notes.extend(fixes.notes(None))
    return result


# --------------------------------------------------------------------------- DECP


def _is_placeholder(text: str) -> bool:
    return text.strip().lower() == PLACEHOLDER


def _missing(raw: Mapping[str, str], column: str) -> str:
    """Why a required DECP field is empty: left blank, or holding the placeholder CDL."""
    found = raw.get(column, "")
    if found and _is_placeholder(found):
        return N_("This field must be filled in; it holds the placeholder CDL.")
    return MISSING


_UNRECOGNISED = "Column “%(header)s” is not recognised and was ignored."
_BR = re.compile(r"<\s*br\s*/?\s*>", re.IGNORECASE)


def _objet(text: str, row: int, fixes: _Fixes) -> str:
    plain = _BR.sub(" ", text)
    plain = html.unescape(plain)
    if plain != text:
        fixes.html.append(row)
    return _text(plain, DESCRIPTION_MAX)


def _decp_amount(text: str, row: int, fixes: _Fixes) -> Decimal:
    """DECP amounts are plain numbers with a decimal point ('40000.0'); French writing is accepted too."""
    value_text = text.strip()
    try:
        value = Decimal(value_text)
        if not value.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        value = parse_decimal(value_text)
    rounded = value.quantize(Decimal("0.01"), ROUND_HALF_UP)
    if rounded != value:
        fixes.rounded.append(row)
    return _amount(rounded, text)


def _decp_records(data: bytes, filename: str) -> tuple[list[tuple[int, dict[str, str]]], list[Message]]:
    """(row number, {field: text}) for every record, from CSV or JSON; JSON values become strings."""
    if _looks_like_json(data):
        try:
            payload = json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError):
            return [], [Message(None, None, N_("The file “%(filename)s” is not valid JSON."), {"filename": filename})]
        records = _json_records(payload)
        if records is None:
            return [], [
                Message(
                    None,
                    None,
                    N_("The JSON file “%(filename)s” holds no list of DECP records (expected a list or “marches”)."),
                    {"filename": filename},
                )
            ]
        return [(number, _flatten(record)) for number, record in enumerate(records, start=2)], []
    aliases = {name: (name,) for name in DECP_FIELDS}
    try:
        table = read_table(data, filename, required=DECP_REQUIRED, aliases=aliases, max_rows=MAX_ROWS)
    except TableError as exc:
        return [], list(exc.messages)
    # The dataset has about sixty fields; the ones Mutualis does not use are not worth a remark each.
    notes = [n for n in table.notes if n.message != _UNRECOGNISED]
    ignored = len(table.notes) - len(notes)
    if ignored:
        notes.append(
            Message(None, None, N_("%(count)s other DECP field(s) are not used by Mutualis."), {"count": ignored})
        )
    return list(table.records()), notes


def _json_records(payload: Any) -> list | None:
    if isinstance(payload, dict):
        payload = payload.get("marches", payload.get("records"))
        if isinstance(payload, dict):  # the 2022 format: {"marches": {"marche": [...]}}
            payload = payload.get("marche")
    if not isinstance(payload, list) or not all(isinstance(r, dict) for r in payload):
        return None
    if len(payload) > MAX_ROWS:
        return None
    return payload


def _text_of(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value).strip()


def _flatten(record: dict) -> dict[str, str]:
    """A flattened DECP record from either the flattened or the nested (acheteur.id, titulaires[]) layout."""
    lower = {str(k).lower(): v for k, v in record.items()}
    flat = {name: _text_of(lower.get(name)) for name in DECP_FIELDS}
    if not flat["acheteur_id"] and isinstance(lower.get("acheteur"), dict):
        flat["acheteur_id"] = _text_of(lower["acheteur"].get("id"))
    flat["codecpv"] = flat["codecpv"] or _text_of(lower.get("codecpv"))
    flat["datenotification"] = flat["datenotification"] or _text_of(lower.get("datenotification"))
    titulaires = lower.get("titulaires")
    if isinstance(titulaires, list):
        for index, holder in enumerate(titulaires[:3], start=1):
            if isinstance(holder, dict) and isinstance(holder.get("titulaire"), dict):
                holder = holder["titulaire"]
            if isinstance(holder, dict) and not flat[f"titulaire_id_{index}"]:
                flat[f"titulaire_id_{index}"] = _text_of(holder.get("id"))
                flat[f"titulaire_typeidentifiant_{index}"] = _text_of(holder.get("typeIdentifiant"))
    return flat


def _parse_decp(
    data: bytes, filename: str, known_cpv: Callable[[str], str | None], buyer_siret: str | None
) -> SpendImportResult:
    result = SpendImportResult(format="decp")
    records, messages = _decp_records(data, filename)
    if not records and messages:
        result.errors.extend(messages)
        return result
    result.notes.extend(messages)
    fixes = _Fixes()
    for row, raw in records:
        cells = {}
        for name in DECP_FIELDS:
            text = raw.get(name, "")
            if text and _is_placeholder(text):
                fixes.placeholders += 1
                text = ""
            cells[name] = text.strip()
        check = RowChecker(row, cells, missing=lambda column, raw=raw: _missing(raw, column))
        clean: dict[str, Any] = {"row": row}
        clean["spend_date"] = check("datenotification", _date, required=True)
        clean["cpv_code"] = check("codecpv", lambda text, row=row: _cpv(text, row, known_cpv, fixes), required=True)
        clean["amount"] = check("montant", lambda text, row=row: _decp_amount(text, row, fixes), required=True)
        clean["description"] = check("objet", lambda text, row=row: _objet(text, row, fixes)) or ""
        clean["procedure"] = check("procedure", lambda text: _text(text, 120))
        clean["source_ref"] = check("id", lambda text: _text(text, 100))
        clean["duration_months"] = check("dureemois", _duration)
        suppliers = []
        for index in (1, 2, 3):
            identifier = cells[f"titulaire_id_{index}"]
            if not identifier:
                if index == 1:
                    check("titulaire_id_1", str, required=True)
                continue
            kind = cells[f"titulaire_typeidentifiant_{index}"].upper() or "SIRET"
            if kind == "SIRET":
                siret = check(f"titulaire_id_{index}", lambda text, row=row: _siret(text, row, fixes))
                suppliers.append(("SIRET", siret))
            else:
                suppliers.append((kind, _text(identifier, 60)))
        if check.errors:
            result.errors.extend(check.errors)
            continue
        main_kind, main_id = suppliers[0]
        clean["supplier_siret"] = main_id if main_kind == "SIRET" else None
        clean["supplier_name"] = None if main_kind == "SIRET" else f"{main_kind} {main_id}"
        clean["supplier_postcode"] = clean["supplier_city"] = None
        others = [identifier for _, identifier in suppliers[1:]]
        clean["co_contractors"] = " ".join(others)[:200] or None
        if others:
            fixes.several_suppliers.append(row)
        buyer = re.sub(r"\s", "", cells["acheteur_id"])
        if buyer and buyer_siret and buyer != buyer_siret:
            fixes.other_buyers.setdefault(buyer, []).append(row)
        result.rows.append(_finish(clean))
    result.notes.extend(fixes.notes(buyer_siret))
    return result


def _duration(text: str) -> int:
    try:
        months = parse_int(text)
    except CellError:
        value = Decimal(text) if re.fullmatch(r"\d+\.0+", text) else None
        if value is None:
            raise
        months = int(value)
    if not 0 <= months <= 1200:
        raise CellError(N_("The duration must be between 0 and 1200 months (found %(value)s)."), {"value": text})
    return months


# --------------------------------------------------------------------------- template

_EXAMPLE = {
    "fr": [
        "15/03/2025",
        "Papeterie des Ducs",
        "64285249500018",
        "30192000",
        "1 250,00",
        "Ramettes A4",
        "21000",
        "Dijon",
    ],
    "en": ["2025-03-15", "Papeterie des Ducs", "64285249500018", "30192000", "1250.00", "A4 reams", "21000", "Dijon"],
}


def template_csv_bytes(lang: str = "fr") -> bytes:
    """A CSV template (UTF-8 with BOM, `;`) with one example row."""
    import csv
    import io

    if lang not in _EXAMPLE:
        raise ValueError(f"unsupported template language {lang!r}")
    labels = generic_column_labels(lang)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([labels[c.name] for c in GENERIC_COLUMNS])
    writer.writerow(_EXAMPLE[lang])
    return buffer.getvalue().encode("utf-8-sig")
