"""Spreadsheet bombs: small XLSX files that declare millions of rows or very wide rows are refused quickly with a
clear message, before the work they would cost; the limits are parameters (the command line may pass larger ones)."""

from __future__ import annotations

import struct

import pytest

from app.domain.tabular import TableError, XlsxLimits, read_table
from tests.factories import raw_xlsx as workbook

ALIASES = {"title": ("Intitulé",), "amount": ("Montant",)}
HEADER = (
    b'<row r="1"><c r="A1" t="inlineStr"><is><t>Intitul\xc3\xa9</t></is></c>'
    b'<c r="B1" t="inlineStr"><is><t>Montant</t></is></c></row>'
)
DATA = b'<row r="2"><c r="A2" t="inlineStr"><is><t>Papier</t></is></c><c r="B2"><v>1000</v></c></row>'


def read(data: bytes, **kwargs):
    return read_table(data, "besoins.xlsx", required=("title", "amount"), aliases=ALIASES, **kwargs)


def refusal(data: bytes, **kwargs) -> str:
    with pytest.raises(TableError) as caught:
        read(data, **kwargs)
    return " | ".join(m.render() for m in caught.value.messages)


def column_letter(number: int) -> str:
    letters = ""
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def test_the_limited_workbook_itself_reads():
    table = read(workbook(HEADER + DATA, dimension="A1:B2"))
    assert table.frame.to_dict("records") == [{"title": "Papier", "amount": "1000"}]


def test_a_small_workbook_declaring_millions_of_blank_rows_is_refused_before_it_is_read():
    """The finding's first file: well under a megabyte, four million blank rows."""
    bomb = workbook(HEADER + DATA + b"<row/>" * 4_000_000)
    assert len(bomb) < 600_000
    message = refusal(bomb)
    assert "compressed" in message and "besoins.xlsx" in message and "CSV" in message


def test_a_row_declared_millions_of_rows_down_is_refused_without_reading_the_rows_between():
    bomb = workbook(HEADER + DATA + b'<row r="4000000"><c r="A4000000"><v>1</v></c></row>')
    message = refusal(bomb)
    assert "“Besoins”" in message and "250000" in message


def test_blank_rows_beyond_the_row_limit_are_refused_without_reading_further():
    rows = b"".join(b'<row r="%d"><c r="A%d" s="1"/></row>' % (n, n) for n in range(3, 5000))
    data = workbook(HEADER + DATA + rows + b'<row r="5000"><c r="A5000"><v>1</v></c></row>', level=0)
    message = refusal(data, xlsx_limits=XlsxLimits(max_sheet_rows=1000))
    assert "“Besoins”" in message and "1000" in message and "empty rows" in message
    assert len(read(data, xlsx_limits=XlsxLimits(max_sheet_rows=5000)).frame) == 2  # a larger limit reads it


def test_a_small_workbook_with_very_wide_rows_is_refused_before_it_is_read():
    """The finding's second file: under a megabyte of rows of 16,384 cells each."""
    wide = (b"<row>" + b"<c/>" * 16_384 + b"</row>") * 1_000
    data = workbook(HEADER + DATA + wide)
    assert len(data) < 1_000_000
    assert "compressed" in refusal(data)


def test_a_workbook_with_more_cells_than_the_limit_is_refused_before_it_is_parsed():
    cells = b"".join(b'<row r="%d">' % n + b'<c s="1"/>' * 10 + b"</row>" for n in range(3, 300))
    data = workbook(HEADER + DATA + cells, level=0)
    message = refusal(data, xlsx_limits=XlsxLimits(max_cells=1000))
    assert "1000" in message and "besoins.xlsx" in message
    assert len(read(data, xlsx_limits=XlsxLimits(max_cells=5000)).frame) == 1


def test_a_value_beyond_the_column_limit_is_refused_naming_the_column():
    far = column_letter(300).encode()
    data = workbook(HEADER + DATA + b'<row r="3"><c r="%s3"><v>7</v></c></row>' % far, level=0)
    message = refusal(data)
    assert "“Besoins”" in message and "IV" in message  # column 256, the last one read by default
    assert len(read(data, xlsx_limits=XlsxLimits(max_columns=300)).frame) == 2


def test_a_sheet_whose_dimension_declares_more_rows_or_columns_than_read_is_refused_at_once():
    message = refusal(workbook(HEADER + DATA, dimension="A1:B4000000", level=0))
    assert "4000000" in message and "“Besoins”" in message
    message = refusal(workbook(HEADER + DATA, dimension="A1:XFD2", level=0))
    assert "XFD" in message


def test_a_zip_declaring_a_huge_uncompressed_size_is_refused_before_opening_it():
    data = bytearray(workbook(HEADER + DATA))
    entry = data.find(b"PK\x01\x02")
    while entry != -1:  # every central directory entry claims four gigabytes once decompressed
        struct.pack_into("<I", data, entry + 24, 0xFFFFFFF0)
        entry = data.find(b"PK\x01\x02", entry + 4)
    message = refusal(bytes(data))
    assert "MB" in message and "besoins.xlsx" in message


def test_the_command_line_may_pass_larger_limits():
    far = column_letter(300).encode()
    data = workbook(HEADER + DATA + b'<row r="3"><c r="%s3"><v>7</v></c></row>' % far, dimension="A1:KN3")
    generous = XlsxLimits(max_sheet_rows=None, max_columns=16384, max_uncompressed_bytes=None, max_ratio=None)
    assert len(read(data, xlsx_limits=generous).frame) == 2
