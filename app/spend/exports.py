"""CSV and XLSX exports of the spend pages: tables of plain cells, every text cell neutralised.

A cell that starts with = + - @ (or a tab / carriage return) would run as a formula in a spreadsheet: an objet
or supplier name from an open-data file must stay text. CSV follows the French habits (UTF-8 with BOM, ';',
decimal comma in French, point in English); XLSX writes numbers as numbers and strings as strings only.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

import xlsxwriter

from app.domain.tabular import neutralise_formula

CSV_MIMETYPE = "text/csv; charset=utf-8"
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = {"csv": CSV_MIMETYPE, "xlsx": XLSX_MIMETYPE}


def _csv_cell(value, lang: str) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        plain = f"{value:.2f}"
        return plain.replace(".", ",") if lang == "fr" else plain
    if isinstance(value, float):
        plain = f"{value:.4f}"
        return plain.replace(".", ",") if lang == "fr" else plain
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y") if lang == "fr" else value.isoformat()
    if isinstance(value, int):
        return str(value)
    return neutralise_formula(str(value))


def table_csv(headers: Sequence[str], rows: Sequence[Sequence], lang: str) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([neutralise_formula(str(h)) for h in headers])
    for row in rows:
        writer.writerow([_csv_cell(value, lang) for value in row])
    return buffer.getvalue().encode("utf-8-sig")


def tables_xlsx(sheets: Sequence[tuple[str, Sequence[str], Sequence[Sequence]]], lang: str) -> bytes:
    """One worksheet per (name, headers, rows)."""
    output = io.BytesIO()
    workbook = xlsxwriter.Workbook(output, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    header = workbook.add_format({"bold": True, "bg_color": "#DCE6F1", "text_wrap": True, "valign": "top"})
    money = workbook.add_format({"num_format": '#,##0.00 "€"'})
    ratio = workbook.add_format({"num_format": "0.0%"})
    day = workbook.add_format({"num_format": "dd/mm/yyyy" if lang == "fr" else "yyyy-mm-dd"})
    for name, headers, rows in sheets:
        sheet = workbook.add_worksheet(neutralise_formula(name)[:31])
        sheet.write_row(0, 0, [neutralise_formula(str(h)) for h in headers], header)
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, Decimal):
                    sheet.write_number(r, c, float(value), money)
                elif isinstance(value, float):
                    sheet.write_number(r, c, value, ratio)
                elif isinstance(value, bool):
                    sheet.write_string(r, c, "1" if value else "0")
                elif isinstance(value, int):
                    sheet.write_number(r, c, value)
                elif isinstance(value, date):
                    sheet.write_datetime(r, c, value, day)
                else:
                    sheet.write_string(r, c, neutralise_formula(str(value)))
        sheet.set_column(0, max(len(headers) - 1, 0), 16)
        sheet.freeze_panes(1, 0)
        sheet.autofilter(0, 0, max(len(rows), 1), max(len(headers) - 1, 0))
    workbook.close()
    return output.getvalue()
