"""CSV and XLSX exports of the overlap map: one row per overlap (and, in XLSX, a sheet of their needs).

Every text cell goes through neutralise_formula: a need titled "=HYPERLINK(...)" must stay text in Excel.
CSV follows the French spreadsheet habits: UTF-8 with BOM, ';' separator, decimal comma in French
(plain "1234567,89", no thousands separator) and a decimal point in English.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

import xlsxwriter
from flask_babel import gettext as _

from app.domain.tabular import neutralise_formula
from app.overlaps.presenters import OverlapRow, procedure_label

CSV_MIMETYPE = "text/csv; charset=utf-8"
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = {"csv": CSV_MIMETYPE, "xlsx": XLSX_MIMETYPE}


def filename(level: str, window_start: date, fmt: str) -> str:
    return f"mutualis-overlaps-{level}-{window_start.isoformat()}.{fmt}"


def _overlap_headers() -> list[str]:
    return [
        _("CPV prefix"),
        _("Level"),
        _("Label"),
        _("Organizations"),
        _("Number of needs"),
        _("Need ids"),
        _("Combined yearly amount (€ excl. VAT)"),
        _("Combined total amount (€ excl. VAT)"),
        _("Procedure together (code)"),
        _("Procedure together"),
        _("Procedure alone per organization"),
    ]


def _need_headers() -> list[str]:
    return [
        _("CPV prefix"),
        _("Need id"),
        _("Organization"),
        _("Title"),
        _("Yearly amount (€ excl. VAT)"),
        _("Total amount (€ excl. VAT)"),
        _("Start date"),
    ]


def _alone(row: OverlapRow) -> str:
    return "; ".join(f"{m.organization}: {m.procedure.code}" for m in row.members)


def _overlap_values(row: OverlapRow) -> list:
    """One overlap as cells: text already neutralised, amounts as Decimal, counts as int."""
    overlap = row.overlap
    text = neutralise_formula
    return [
        text(overlap.cpv_prefix),
        text(overlap.level),
        text(row.label),
        text(", ".join(overlap.organizations)),
        len(overlap.need_ids),
        text(", ".join(str(i) for i in overlap.need_ids)),
        overlap.annual_amount,
        overlap.total_amount,
        text(overlap.procedure.code),
        text(procedure_label(overlap.procedure)),
        text(_alone(row)),
    ]


def _csv_cell(value, lang: str) -> str:
    if isinstance(value, Decimal):
        plain = f"{value:.2f}"
        return plain.replace(".", ",") if lang == "fr" else plain
    return str(value)


def overlaps_csv(rows: Sequence[OverlapRow], lang: str) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([neutralise_formula(h) for h in _overlap_headers()])
    for row in rows:
        writer.writerow([_csv_cell(value, lang) for value in _overlap_values(row)])
    return buffer.getvalue().encode("utf-8-sig")


def overlaps_xlsx(rows: Sequence[OverlapRow], lang: str) -> bytes:
    output = io.BytesIO()
    workbook = xlsxwriter.Workbook(output, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    header = workbook.add_format({"bold": True, "bg_color": "#DCE6F1", "text_wrap": True, "valign": "top"})
    money = workbook.add_format({"num_format": '#,##0.00 "€"'})
    day = workbook.add_format({"num_format": "dd/mm/yyyy" if lang == "fr" else "yyyy-mm-dd"})

    sheet = workbook.add_worksheet(_("Overlaps")[:31])
    headers = _overlap_headers()
    sheet.write_row(0, 0, [neutralise_formula(h) for h in headers], header)
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(_overlap_values(row)):
            if isinstance(value, Decimal):
                sheet.write_number(r, c, float(value), money)
            elif isinstance(value, int):
                sheet.write_number(r, c, value)
            else:
                sheet.write_string(r, c, value)
    for c, width in enumerate((10, 10, 40, 18, 10, 24, 18, 18, 12, 34, 34)):
        sheet.set_column(c, c, width)
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, max(len(rows), 1), len(headers) - 1)

    needs_sheet = workbook.add_worksheet(_("Needs")[:31])
    need_headers = _need_headers()
    needs_sheet.write_row(0, 0, [neutralise_formula(h) for h in need_headers], header)
    r = 1
    for row in rows:
        for need in row.needs:
            needs_sheet.write_string(r, 0, neutralise_formula(row.overlap.cpv_prefix))
            needs_sheet.write_number(r, 1, need.id)
            needs_sheet.write_string(r, 2, neutralise_formula(need.organization))
            needs_sheet.write_string(r, 3, neutralise_formula(need.title))
            needs_sheet.write_number(r, 4, float(need.annual), money)
            needs_sheet.write_number(r, 5, float(need.total), money)
            if need.start_date is not None:
                needs_sheet.write_datetime(r, 6, need.start_date, day)
            r += 1
    for c, width in enumerate((10, 9, 12, 50, 18, 18, 12)):
        needs_sheet.set_column(c, c, width)
    needs_sheet.freeze_panes(1, 0)
    needs_sheet.autofilter(0, 0, max(r - 1, 1), len(need_headers) - 1)

    workbook.close()
    return output.getvalue()
