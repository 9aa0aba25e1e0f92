"""Reading past spend from files: a generic CSV/XLSX ledger, or DECP open data as published.

Two layouts are understood.

* A generic table (CSV or XLSX, French or English headers) with one spend line per row: date, supplier name,
  supplier SIRET, CPV code, amount excluding VAT, description, optionally the supplier's postcode and city.
* DECP records ("données essentielles de la commande publique") of every published vintage, read into the
  dataset's flattened field names by app/domain/decp.py (1.x and 2.0 JSON, underscore or dotted CSV, one column
  or one row per supplier; each contract once, at its latest amount). The dataset's placeholder `CDL` ("ne
  s'applique pas") means an empty field. A record becomes one line dated on its notification date with its full
  declared amount (a contract value, not a payment); a record with several suppliers stays one line, counted
  once, attributed to the first supplier, the others kept as co-contractors. Open data is read leniently: a
  record with a problem is quarantined (`Quarantined`: row, field, reasons) and the others go in; with
  `own_only`, a record of another buyer than the organization's SIRET is quarantined too. Only a file that
  cannot be read at all is an error.

HTML in DECP `objet`: the portal republishes the buyers' text HTML-escaped (`&euro;`, `&amp;`, `<br />`).
Mutualis stores the text a reader means: entities are unescaped and line-break tags become a space; every
other character is kept. Pages escape it again when they show it, so nothing from a file is ever rendered as
HTML.

`parse_spend` validates every row and reports every problem (a generic table's as errors, refusing the file; DECP
records' as quarantined records) with the row number the user sees (header = row 1; JSON records are numbered the
same way, the first record being row 2). It never raises for bad content.
"""

from __future__ import annotations

import hashlib
import html
import io
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from stdnum import luhn

from app.domain import decp
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
from app.domain.tabular import (
    MAX_YEAR,
    CellError,
    Message,
    TableError,
    parse_date,
    parse_decimal,
    parse_int,
    read_table_chunks,
)
from app.domain.text import N_

__all__ = [
    "DECP_FIELDS",
    "FORMATS",
    "GENERIC_COLUMNS",
    "MAX_ROWS",
    "SpendImportResult",
    "Quarantined",
    "LINE_COLUMNS",
    "SpendStream",
    "arrow_strings",
    "detect_format",
    "fingerprint",
    "frame_rows",
    "generic_column_labels",
    "lines_frame",
    "parse_spend",
    "stream_spend",
    "template_csv_bytes",
]

MAX_ROWS = 100_000  # what a web upload may hold; the command line has no row limit
MAX_ERRORS = 10_000  # problems reported in detail; beyond, a count
CHUNK_ROWS = 50_000
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

# DECP fields read (others are ignored), as app.domain.decp flattens every vintage.
DECP_FIELDS = decp.FIELDS


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
    quarantined: list[Quarantined] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


# --------------------------------------------------------------------------- format


def detect_format(data: bytes, filename: str, requested: str | None = None) -> str:
    """csv | xlsx | decp: the requested one, else DECP when the file is JSON or its header has DECP fields."""
    if requested:
        if requested not in FORMATS:
            raise ValueError(requested)
        return requested
    if filename.lower().endswith(".json") or decp.looks_like_json(data):
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
    known_cpv: Callable[[str], str | None] | Mapping[str, str],
    requested_format: str | None = None,
    buyer_siret: str | None = None,
    own_only: bool = False,
) -> SpendImportResult:
    """Read and validate a whole spend file. `known_cpv` gives the check digit of an existing code (a mapping, or a
    function returning None for an unknown code).

    `buyer_siret` is the importing organization's SIRET: DECP records naming another buyer are quarantined with
    `own_only`, else a warning.
    """
    stream = stream_spend(
        data,
        filename,
        known_cpv=known_cpv,
        requested_format=requested_format,
        buyer_siret=buyer_siret,
        own_only=own_only,
    )
    rows = [row for chunk in stream.chunks for row in frame_rows(chunk)]
    return SpendImportResult(
        format=stream.format,
        rows=rows,
        errors=stream.errors,
        notes=stream.notes,
        sheet=stream.sheet,
        quarantined=stream.quarantined,
    )


# The valid lines of a slice, column by column (`lines_frame`): the file's row number, then the values written.
LINE_COLUMNS = (
    "row",
    "spend_date",  # ISO text, YYYY-MM-DD
    "year",
    "cpv_code",
    "amount",  # plain decimal text with two decimals, "1250.00"
    "supplier_siret",
    "supplier_name",
    "supplier_postcode",
    "supplier_city",
    "co_contractors",
    "description",
    "source_ref",
    "procedure",
    "duration_months",
    "fingerprint",  # the first FINGERPRINT_BYTES bytes of `fingerprint`'s digest, Arrow fixed-size binary
)
FINGERPRINT_BYTES = 16


def fingerprint_column(digests: bytes) -> pd.arrays.ArrowExtensionArray:
    """Lines' fingerprints, their bytes one after the other, as the `fingerprint` column of a `lines_frame`."""
    count = len(digests) // FINGERPRINT_BYTES
    array = pa.FixedSizeBinaryArray.from_buffers(pa.binary(FINGERPRINT_BYTES), count, [None, pa.py_buffer(digests)])
    return pd.arrays.ArrowExtensionArray(array)


def lines_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows as the cell checks give them (a date, a Decimal amount) in the columnar shape of `LINE_COLUMNS`, with
    Python objects (None for an empty value) in every column."""
    frame = pd.DataFrame(
        {name: [row[name] for row in rows] for name in LINE_COLUMNS}, columns=LINE_COLUMNS, dtype=object
    )
    frame["spend_date"] = pd.Series([row["spend_date"].isoformat() for row in rows], dtype=object)
    frame["amount"] = pd.Series([f"{row['amount']:.2f}" for row in rows], dtype=object)
    frame["fingerprint"] = fingerprint_column(b"".join(bytes.fromhex(row["fingerprint"]) for row in rows))
    return frame


def frame_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of a `lines_frame` as dicts, with a date and a Decimal amount (as the cell checks give them), None
    for a missing value."""
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    for row in rows:
        row["spend_date"] = date.fromisoformat(row["spend_date"])
        row["amount"] = Decimal(row["amount"])
        row["row"] = int(row["row"])
        row["year"] = int(row["year"])
        row["fingerprint"] = row["fingerprint"].hex()
    return rows


@dataclass
class SpendStream:
    """A spend file read a slice at a time. `chunks` yields the valid lines of each slice as a `lines_frame`;
    `errors` fills while they are read (no row of a refused file is worth writing, but every problem is reported,
    up to MAX_ERRORS); `notes` is complete once `chunks` is exhausted; `rows_read` counts the data rows seen.
    DECP open data is lenient: its bad records fill `quarantined` (the reader takes them after each slice) instead
    of `errors`, and every slice is yielded."""

    format: str
    errors: list[Message]
    notes: list[Message]
    sheet: str | None
    chunks: Iterator[list[dict[str, Any]]]
    rows_read: int = 0
    more_errors: int = 0
    quarantined: list[Quarantined] = field(default_factory=list)

    def add_errors(self, errors: list[Message]) -> None:
        room = MAX_ERRORS - len(self.errors)
        self.errors.extend(errors[:room])
        self.more_errors += max(0, len(errors) - room)


def stream_spend(
    source: bytes | str | Path,
    filename: str,
    *,
    known_cpv: Callable[[str], str | None] | Mapping[str, str],
    requested_format: str | None = None,
    buyer_siret: str | None = None,
    own_only: bool = False,
    chunk_rows: int = CHUNK_ROWS,
) -> SpendStream:
    """Read and validate a spend file (bytes or a path) `chunk_rows` rows at a time: memory stays bounded by the
    slice, whatever the file's length. A generic CSV is checked with vectorised pandas operations; the rows they
    cannot settle (a repair to note, an error to report) go through the same cell checks one by one."""
    with _open(source) as handle:
        head = handle.read(4096)
    try:
        fmt = detect_format(head, filename, requested_format)
    except ValueError:
        message = Message(
            None, None, N_("Unknown format “%(format)s”: use csv, xlsx or decp."), {"format": requested_format}
        )
        return SpendStream(format="csv", errors=[message], notes=[], sheet=None, chunks=iter(()))
    stream = SpendStream(format=fmt, errors=[], notes=[], sheet=None, chunks=iter(()))
    lookup = known_cpv.get if isinstance(known_cpv, Mapping) else known_cpv
    if fmt == "decp":
        stream.chunks = _decp_chunks(stream, source, filename, lookup, buyer_siret, own_only, chunk_rows)
    else:
        stream.chunks = _generic_chunks(stream, source, filename, known_cpv, lookup, chunk_rows)
    return stream


def _open(source: bytes | str | Path):
    return io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")  # noqa: SIM115


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


def _generic_row(row: int, cells: Mapping[str, str], known_cpv, fixes: _Fixes) -> tuple[dict | None, list]:
    check = RowChecker(row, cells)
    clean: dict[str, Any] = {"row": row}
    clean["spend_date"] = check("spend_date", _date, required=True)
    clean["cpv_code"] = check("cpv_code", lambda text: _cpv(text, row, known_cpv, fixes), required=True)
    clean["amount_eur"] = check("amount_eur", lambda text: _amount(parse_decimal(text), text), required=True)
    clean["supplier_name"] = check("supplier_name", lambda text: _text(text, NAME_MAX))
    clean["supplier_siret"] = check("supplier_siret", lambda text: _siret(text, row, fixes))
    clean["description"] = check("description", lambda text: _text(text, DESCRIPTION_MAX))
    clean["supplier_postcode"] = check("supplier_postcode", lambda text: _postcode(text, row, fixes))
    clean["supplier_city"] = check("supplier_city", lambda text: _text(text, CITY_MAX))
    if check.errors:
        return None, check.errors
    clean["amount"] = clean.pop("amount_eur")
    clean["description"] = clean["description"] or ""
    clean.update(co_contractors=None, source_ref=None, procedure=None, duration_months=None)
    return _finish(clean), []


def _generic_chunks(stream: SpendStream, source, filename: str, known_cpv, lookup, chunk_rows: int):
    aliases = {c.name: c.accepted for c in GENERIC_COLUMNS}
    required = [c.name for c in GENERIC_COLUMNS if c.required]
    try:
        table = read_table_chunks(source, filename, required=required, aliases=aliases, chunk_rows=chunk_rows)
    except TableError as exc:
        stream.add_errors(list(exc.messages))
        return
    stream.format = "csv" if table.sheet is None else "xlsx"
    stream.sheet = table.sheet
    stream.notes.extend(table.notes)
    fixes = _Fixes()
    try:
        for frame in table.chunks:
            stream.rows_read += len(frame)
            for column in GENERIC_COLUMNS:
                if column.name not in frame.columns:
                    frame[column.name] = ""
            settled, iso = _settled_generic_rows(frame, known_cpv)
            lines = _generic_fast_lines(frame[settled], iso[settled])
            errors: list[Message] = []
            checked = []
            for row, cells in frame[~settled].to_dict("index").items():
                clean, problems = _generic_row(int(row), cells, lookup, fixes)
                errors.extend(problems)
                if clean is not None:
                    checked.append(clean)
            stream.add_errors(errors)
            if not stream.errors:
                if checked:
                    lines = pd.concat([lines, lines_frame(checked)], ignore_index=True)
                    lines = lines.sort_values("row", kind="stable", ignore_index=True)
                yield lines
    except TableError as exc:
        stream.add_errors(list(exc.messages))
    stream.notes.extend(fixes.notes(None))


# A cell in one of these exact shapes is read the same way by the cell checks, without repair or remark: the
# vectorised path accepts it as is, every other row goes through the checks one by one. The shapes are checked on
# the texts' bytes (`_date_shapes`, `_cpv_shapes`, `_amount_shapes`, `_siret_shapes`, `_postcode_shapes`; `\d` is
# an ASCII digit); the tests compare those checks with these expressions.
_FAST_DATE = r"\d{2}/\d{2}/\d{4}|\d{4}-\d{2}-\d{2}"
_FAST_CPV = r"\d{8}(?:-\d)?"
_FAST_AMOUNT = r"\d{1,12}(?:[.,]\d{1,2})?"
# Spacing the cell checks would change (`_text` collapses every run of whitespace into one space): two spaces, or any
# whitespace character but the space, as Python's `\s` knows them.
_SPACING = "  |[\t\n\x0b\x0c\r\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
_GENERIC_NAMES = tuple(column.name for column in GENERIC_COLUMNS)
_FAST_POSTCODE = r"(?:0[1-9]|[1-8]\d|9[0-5]|97|98)\d{3}"


def arrow_strings(texts: pd.Series) -> pa.Array:
    """A column of texts (Python strings or pandas' Arrow strings; None or NaN for a missing one) as one Arrow string
    array (pandas' own Arrow strings are not copied)."""
    array = pa.array(texts, pa.string())
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _mask(flags: pa.Array, missing: bool) -> np.ndarray:
    """Arrow's booleans as numpy's, a missing text's flag (a null) being `missing`."""
    return pc.fill_null(flags, missing).to_numpy(zero_copy_only=False)


def _fixed_width(texts: pa.Array, shaped: np.ndarray, width: int) -> np.ndarray:
    """The bytes of texts as a (rows, width) array: each text where `shaped` says it is `width` ASCII characters,
    zeros (the digit 0) elsewhere. Read straight from the Arrow buffer, no Python object per text."""
    filled = pc.if_else(pa.array(shaped, pa.bool_()), texts, "0" * width)
    if not len(filled):
        return np.zeros((0, width), dtype=np.uint8)
    _, offsets, data = filled.buffers()
    bounds = np.frombuffer(offsets, dtype=np.int32)[filled.offset : filled.offset + len(filled) + 1]
    return np.frombuffer(data, dtype=np.uint8)[bounds[0] : bounds[-1]].reshape(len(filled), width)


def _digits(raw: np.ndarray, start: int, end: int) -> np.ndarray:
    """The number the ASCII digits of columns start..end of a `_fixed_width` array write."""
    number = np.zeros(len(raw), dtype=np.int64)
    for column in range(start, end):
        number = number * 10 + (raw[:, column].astype(np.int64) - 48)
    return number


def _sized(texts: pa.Array, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Which texts are `width` bytes long, and the bytes of those (`_fixed_width`, zeros for the others)."""
    fits = _mask(pc.equal(pc.binary_length(texts), width), False)
    return fits, _fixed_width(texts, fits, width)


def _all_digits(raw: np.ndarray, columns) -> np.ndarray:
    """Whether the bytes of these columns of a `_fixed_width` array are all ASCII digits."""
    chosen = raw[:, columns]
    return ((chosen >= ord("0")) & (chosen <= ord("9"))).all(axis=1)


def _date_shapes(texts: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which texts are a `_FAST_DATE` (DD/MM/YYYY or YYYY-MM-DD), which of those are French, and their bytes."""
    fits, raw = _sized(texts, 10)
    french = fits & (raw[:, 2] == ord("/")) & (raw[:, 5] == ord("/")) & _all_digits(raw, [0, 1, 3, 4, 6, 7, 8, 9])
    iso = fits & (raw[:, 4] == ord("-")) & (raw[:, 7] == ord("-")) & _all_digits(raw, [0, 1, 2, 3, 5, 6, 8, 9])
    return french | iso, french, raw


def _cpv_shapes(codes: pa.Array) -> np.ndarray:
    """Which codes are a `_FAST_CPV`: eight digits, with or without a dash and a check digit."""
    eight, raw = _sized(codes, 8)
    ten, dashed = _sized(codes, 10)
    return (eight & _all_digits(raw, slice(0, 8))) | (
        ten & _all_digits(dashed, [0, 1, 2, 3, 4, 5, 6, 7, 9]) & (dashed[:, 8] == ord("-"))
    )


def _siret_shapes(sirets: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Which SIRETs are fourteen digits, and their bytes."""
    fits, raw = _sized(sirets, 14)
    return fits & _all_digits(raw, slice(0, 14)), raw


def _postcode_shapes(postcodes: pa.Array) -> np.ndarray:
    """Which postcodes are a `_FAST_POSTCODE`: five digits, of a department 01 to 95, 97 or 98."""
    fits, raw = _sized(postcodes, 5)
    department = _digits(raw, 0, 2)
    known = ((department >= 1) & (department <= 95)) | (department == 97) | (department == 98)
    return fits & _all_digits(raw, slice(0, 5)) & known


_AMOUNT_WIDTH = 15  # the longest `_FAST_AMOUNT`: twelve digits, a separator, two decimals


def _amount_bytes(amounts: pa.Array, fits: np.ndarray) -> np.ndarray:
    """The bytes of amounts padded on the left with zeros to `_AMOUNT_WIDTH` (where `fits`: at most that long)."""
    return _fixed_width(pc.utf8_lpad(amounts, _AMOUNT_WIDTH, "0"), fits, _AMOUNT_WIDTH)


def _separators(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whether an `_amount_bytes` amount has its decimal separator third from the end (two decimals), or second."""
    last = raw[:, -3:-1]
    separator = (last == ord(".")) | (last == ord(","))
    return separator[:, 0], separator[:, 1]


def _amount_shapes(amounts: pa.Array) -> np.ndarray:
    """Which amounts are a `_FAST_AMOUNT` (one to twelve digits, then a point or a comma and one or two decimals, or
    not) holding a digit other than 0."""
    length = pc.binary_length(amounts).to_numpy(zero_copy_only=False)
    fits = (length >= 1) & (length <= _AMOUNT_WIDTH) & _mask(pc.string_is_ascii(amounts), False)
    raw = _amount_bytes(amounts, fits)
    two, one = _separators(raw)
    whole = _all_digits(raw, slice(0, _AMOUNT_WIDTH)) & (length <= 12)
    two &= _all_digits(raw, [*range(_AMOUNT_WIDTH - 3), -2, -1]) & (length >= 4)
    one &= _all_digits(raw, [*range(_AMOUNT_WIDTH - 2), -1]) & (length >= 3) & (length <= 14)
    nonzero = ((raw >= ord("1")) & (raw <= ord("9"))).any(axis=1)
    return fits & (whole | two | one) & nonzero


def _luhn_valid(raw: np.ndarray) -> np.ndarray:
    """Luhn check of the rows of a (rows, 14) `_fixed_width` array of digits."""
    digits = raw.astype(np.int64) - 48
    doubled = digits[:, 0::2] * 2
    doubled = np.where(doubled > 9, doubled - 9, doubled)
    return (doubled.sum(axis=1) + digits[:, 1::2].sum(axis=1)) % 10 == 0


def _expected_check_digits(codes: pa.Array, known_cpv) -> pa.Array:
    """The check digit of each code's first eight digits, null for a code the nomenclature lacks: asked once per
    distinct code of the slice (`known_cpv` a mapping or a function), then spread by Arrow."""
    eight = pc.utf8_slice_codeunits(codes, 0, 8)
    distinct = pc.unique(eight)
    lookup = known_cpv.get if isinstance(known_cpv, Mapping) else known_cpv
    digits = pa.array([lookup(code) for code in distinct.to_pylist()], pa.string())
    return pc.take(digits, pc.index_in(eight, value_set=distinct))


def _settled_generic_rows(frame: pd.DataFrame, known_cpv) -> tuple[pd.Series, pd.Series]:
    """Which rows of a generic slice the vectorised path reads: every cell in a plain shape, the code known with a
    matching check digit, the SIRET passing its checksum, the texts within their lengths; and the rows' dates as ISO
    text (those of the rows it reads). Computed by Arrow's kernels and numpy on whole columns."""
    column = {name: arrow_strings(frame[name]) for name in _GENERIC_NAMES}
    iso, settled = _calendar_dates(column["spend_date"], frame["spend_date"])
    codes = column["cpv_code"]
    expected = _expected_check_digits(codes, known_cpv)
    given = pc.utf8_slice_codeunits(codes, 9, 10)
    known = pc.and_kleene(pc.is_valid(expected), pc.or_(pc.equal(given, ""), pc.equal(given, expected)))
    settled &= _cpv_shapes(codes) & _mask(known, False)
    settled &= _amount_shapes(column["amount_eur"])
    sirets = column["supplier_siret"]
    plain, raw = _siret_shapes(sirets)
    settled &= _empty(sirets) | (plain & _luhn_valid(raw))
    postcodes = column["supplier_postcode"]
    settled &= _empty(postcodes) | _postcode_shapes(postcodes)
    for name, maximum in (("supplier_name", NAME_MAX), ("description", DESCRIPTION_MAX), ("supplier_city", CITY_MAX)):
        text = column[name]
        settled &= ~_mask(pc.match_substring_regex(text, _SPACING), False)
        settled &= _mask(pc.less_equal(pc.utf8_length(text), maximum), True)
    return pd.Series(settled, index=frame.index), iso


def _empty(texts: pa.Array) -> np.ndarray:
    """Whether each text is empty (or missing)."""
    return _mask(pc.equal(pc.binary_length(texts), 0), True)


_MONTH_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
# Where each byte of an ISO date (YYYY-MM-DD) lies in a French one (DD/MM/YYYY); the separators are set apart.
_FROM_FRENCH = [6, 7, 8, 9, 2, 3, 4, 5, 0, 1]
_LOWEST_DAY = MIN_DATE.year * 10_000 + MIN_DATE.month * 100 + MIN_DATE.day


def _calendar_dates(texts: pa.Array, column: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Texts (those of `column`) in a `_FAST_DATE` shape as ISO dates (made by moving their bytes), and whether each
    is a day the calendar has from MIN_DATE to the end of MAX_YEAR (False for any other text: a day 0 or past the
    month's end, a month 0 or past 12, the 29th of February of a common year)."""
    shaped, french, raw = _date_shapes(texts)
    iso = np.where(french[:, None], raw[:, _FROM_FRENCH], raw)
    iso[:, [4, 7]] = ord("-")
    year, month, day = _digits(iso, 0, 4), _digits(iso, 5, 7), _digits(iso, 8, 10)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    days = _MONTH_DAYS[np.clip(month, 1, 12) - 1] + ((month == 2) & leap)
    real = shaped & (month >= 1) & (month <= 12) & (day >= 1) & (day <= days)
    real &= (year * 10_000 + month * 100 + day >= _LOWEST_DAY) & (year <= MAX_YEAR)
    offsets = np.arange(0, 10 * len(iso) + 1, 10, dtype=np.int32)
    text = pa.Array.from_buffers(pa.string(), len(iso), [None, pa.py_buffer(offsets), pa.py_buffer(iso.tobytes())])
    return pd.Series(_pandas_strings(text, column), index=column.index), real


def _pandas_strings(texts: pa.Array, like: pd.Series, empty_missing: bool = False) -> pd.api.extensions.ExtensionArray:
    """Arrow strings as the array a column of `like`'s kind holds (pandas' own Arrow strings: no copy), an empty
    text missing when `empty_missing` (a null, as the file's own string column holds it)."""
    if empty_missing:
        texts = pc.if_else(pa.array(_empty(texts)), pa.scalar(None, pa.string()), texts)
    dtype = like.dtype
    if hasattr(dtype, "__from_arrow__"):
        return dtype.__from_arrow__(texts)
    return pd.array(texts.to_numpy(zero_copy_only=False), dtype=object)


_TWO_DIGITS = pa.array([f"{number:02d}" for number in range(100)], pa.string())


def _plain_amounts(texts: pa.Array) -> pa.Array:
    """Amounts in the `_FAST_AMOUNT` shape as the cell checks write them: no leading zero, a point, two decimals.
    Read as numbers from their bytes (`_amount_bytes`): the separator, if any, is third or second from the end."""
    raw = _amount_bytes(texts, np.ones(len(texts), dtype=bool))
    two, one = _separators(raw)
    digits = raw.astype(np.int64) - 48
    powers = 10 ** np.arange(_AMOUNT_WIDTH - 1, -1, -1, dtype=np.int64)
    whole = np.select([two, one], [digits[:, :-3] @ powers[3:], digits[:, :-2] @ powers[2:]], digits @ powers)
    cents = np.select([two, one], [digits[:, -2] * 10 + digits[:, -1], digits[:, -1] * 10], 0)
    return pc.binary_join_element_wise(pc.cast(pa.array(whole), pa.string()), pc.take(_TWO_DIGITS, cents), ".")


def _upper_names(names: pa.Array) -> pa.Array:
    """Names upper-cased as Python's str.upper does (`fingerprint`): by Arrow for the ASCII ones, by Python for the
    others (where Unicode's full case mapping differs from Arrow's simple one: ß, ligatures)."""
    upper = pc.ascii_upper(names)
    other = ~_mask(pc.string_is_ascii(names), True)
    if not other.any():
        return upper
    replaced = pa.array([name.upper() for name in names.filter(pa.array(other)).to_pylist()], pa.string())
    return pc.replace_with_mask(upper, pa.array(other), replaced)


def _digests(values: pa.BinaryArray | pa.ChunkedArray) -> bytes:
    """The fingerprints of values (the first FINGERPRINT_BYTES bytes of their SHA-256), one after the other, each
    hashed where it lies in the Arrow buffer (a view of its bytes: no copy, no bytes object per value)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    buffers = values.buffers()
    data = memoryview(buffers[2] if buffers[2] is not None else b"")
    bounds = np.frombuffer(buffers[1], dtype=np.int32)[values.offset : values.offset + len(values) + 1].tolist()
    sha256 = hashlib.sha256
    digests = b"".join([sha256(data[start:end]).digest() for start, end in zip(bounds[:-1], bounds[1:], strict=True)])
    # each digest cut to its fingerprint by numpy, rather than one more bytes object per value
    return np.frombuffer(digests, dtype=np.uint8).reshape(-1, 32)[:, :FINGERPRINT_BYTES].tobytes()


def _generic_fast_lines(frame: pd.DataFrame, iso: pd.Series) -> pd.DataFrame:
    """The clean lines of a slice that `_settled_generic_rows` accepted (with their dates as ISO text), computed on
    whole columns (a `lines_frame`, with the same values as the cell checks give). The texts stay in the Arrow
    strings pandas read them into (an empty value missing, where the cell checks give None): no Python object per
    cell on the way to the block."""
    if frame.empty:
        return lines_frame([])
    column = {name: arrow_strings(frame[name]) for name in _GENERIC_NAMES}
    dates = arrow_strings(iso)
    codes = pc.utf8_slice_codeunits(column["cpv_code"], 0, 8)
    amounts = _plain_amounts(column["amount_eur"])
    names, sirets, descriptions = column["supplier_name"], column["supplier_siret"], column["description"]
    keys = pc.if_else(pa.array(_empty(sirets)), _upper_names(names), sirets)
    # what `fingerprint` digests, joined by Arrow (the source reference, empty here, between the key and the
    # description), its UTF-8 bytes straight from the Arrow buffer (no str.encode per line)
    joined = pc.binary_join_element_wise(dates, codes, amounts, keys, "", descriptions, "\x1f")
    digests = _digests(joined.cast(pa.binary()))
    nothing = np.full(len(frame), None, dtype=object)
    like = frame["cpv_code"]
    return pd.DataFrame(
        {
            "row": frame.index.to_numpy(dtype=np.int64),
            "spend_date": _pandas_strings(dates, like),
            "year": pc.cast(pc.utf8_slice_codeunits(dates, 0, 4), pa.int64()).to_numpy(),
            "cpv_code": _pandas_strings(codes, like),
            "amount": _pandas_strings(amounts, like),
            "supplier_siret": _pandas_strings(sirets, like, empty_missing=True),
            "supplier_name": _pandas_strings(names, like, empty_missing=True),
            "supplier_postcode": _pandas_strings(column["supplier_postcode"], like, empty_missing=True),
            "supplier_city": _pandas_strings(column["supplier_city"], like, empty_missing=True),
            "co_contractors": nothing,
            "description": _pandas_strings(descriptions, like),
            "source_ref": nothing,
            "procedure": nothing,
            "duration_months": nothing,
            "fingerprint": fingerprint_column(digests),
        },
        columns=LINE_COLUMNS,
    )


# --------------------------------------------------------------------------- DECP


def _is_placeholder(text: str) -> bool:
    return text.strip().lower() == PLACEHOLDER


def _missing(raw: Mapping[str, str], column: str) -> str:
    """Why a required DECP field is empty: left blank, or holding the placeholder CDL."""
    found = raw.get(column, "")
    if found and _is_placeholder(found):
        return N_("This field must be filled in; it holds the placeholder CDL.")
    return MISSING


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


@dataclass(frozen=True)
class Quarantined:
    """A DECP record left out of a lenient import: its row, the problems found (the first one's column is the
    field shown), the record's id, buyer and amount as published (the latest one), to reconcile with the file."""

    row: int
    problems: tuple[Message, ...]
    source_ref: str
    buyer: str
    amount: str

    @property
    def field(self) -> str | None:
        return self.problems[0].column


def _decp_chunks(stream: SpendStream, source, filename: str, known_cpv, buyer_siret, own_only: bool, chunk_rows: int):
    """Open data is read leniently: a record with a problem is quarantined (`stream.quarantined`), the others are
    yielded; only a file that cannot be read at all is an error. With `own_only`, a record naming a buyer other
    than `buyer_siret` (or any buyer when the organization has no SIRET) is quarantined as another buyer's."""
    fixes = _Fixes()
    try:
        slices, notes = decp.read_records(source, filename, chunk_rows)
        stream.notes.extend(notes)
        for records in slices:
            stream.rows_read += len(records)
            rows = []
            for row, raw in records:
                problems = _other_buyer(row, raw, buyer_siret) if own_only else []
                clean = None
                if not problems:
                    try:
                        clean, problems = _decp_row(row, raw, known_cpv, buyer_siret, fixes)
                    except (CellError, ValueError, ArithmeticError):
                        problems = [Message(row, None, N_("This record cannot be read."), {})]
                if clean is None:
                    stream.quarantined.append(
                        Quarantined(
                            row,
                            tuple(problems),
                            raw.get("id", "")[:100],
                            raw.get("acheteur_id", "")[:20],
                            raw.get("montant", "")[:40],
                        )
                    )
                else:
                    rows.append(clean)
            yield lines_frame(rows)
    except TableError as exc:
        stream.add_errors(list(exc.messages))
    stream.notes.extend(fixes.notes(buyer_siret))


def _other_buyer(row: int, raw: Mapping[str, str], buyer_siret: str | None) -> list[Message]:
    buyer = re.sub(r"\s", "", raw.get("acheteur_id", ""))
    if buyer_siret and buyer == buyer_siret:
        return []
    return [
        Message(
            row,
            "acheteur_id",
            N_("Another buyer: this record names the buyer %(buyer)s, not the organization's SIRET %(own)s."),
            {"buyer": buyer or "—", "own": buyer_siret or "—"},
        )
    ]


def _decp_row(row: int, raw: Mapping[str, str], known_cpv, buyer_siret, fixes: _Fixes) -> tuple[dict | None, list]:
    cells = {}
    for name in DECP_FIELDS:
        text = raw.get(name, "")
        if text and _is_placeholder(text):
            fixes.placeholders += 1
            text = ""
        cells[name] = text.strip()
    check = RowChecker(row, cells, missing=lambda column: _missing(raw, column))
    clean: dict[str, Any] = {"row": row}
    clean["spend_date"] = check("datenotification", _date, required=True)
    clean["cpv_code"] = check("codecpv", lambda text: _cpv(text, row, known_cpv, fixes), required=True)
    clean["amount"] = check("montant", lambda text: _decp_amount(text, row, fixes), required=True)
    clean["description"] = check("objet", lambda text: _objet(text, row, fixes)) or ""
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
            siret = check(f"titulaire_id_{index}", lambda text: _siret(text, row, fixes))
            suppliers.append(("SIRET", siret))
        else:
            suppliers.append((kind, check(f"titulaire_id_{index}", lambda text: _text(text, 60))))
    if check.errors:
        return None, check.errors
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
    return _finish(clean), []


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
