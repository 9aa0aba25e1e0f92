import csv
import datetime as dt
import io
import zipfile
from decimal import Decimal

import pyarrow as pa
import pytest

from app.domain import tabular
from app.domain.tabular import (
    CellError,
    Message,
    RowReport,
    TableError,
    neutralise_formula,
    normalise_header,
    parse_bool,
    parse_date,
    parse_decimal,
    parse_int,
    read_table,
    read_table_chunks,
)
from tests.factories import xlsx

ALIASES = {
    "title": ("Intitulé", "Title", "objet"),
    "amount": ("Montant annuel HT (€)", "montant_annuel_ht", "annual_amount_eur"),
    "start": ("Date de début", "start date"),
}
REQUIRED = ("title", "amount")


def read(data, filename="needs.csv", **kwargs):
    kwargs.setdefault("required", REQUIRED)
    kwargs.setdefault("aliases", ALIASES)
    return read_table(data, filename, **kwargs)


def table_error(data, filename="needs.csv", **kwargs):
    with pytest.raises(TableError) as caught:
        read(data, filename, **kwargs)
    return caught.value


def rendered(messages):
    return " | ".join(m.render() for m in messages)


# ----------------------------------------------------------------------------- CSV


def test_semicolon_csv_with_decimal_comma_gives_string_cells_under_canonical_names():
    data = "Intitulé;Montant annuel HT (€)\nPapier A4;1 234,50\n".encode()
    table = read(data)
    assert list(table.frame.columns) == ["title", "amount"]
    assert table.frame.loc[2, "title"] == "Papier A4"
    assert table.frame.loc[2, "amount"] == "1 234,50"
    assert parse_decimal(table.frame.loc[2, "amount"]) == Decimal("1234.50")
    assert table.sheet is None
    assert table.headers == {"title": "Intitulé", "amount": "Montant annuel HT (€)"}


def test_comma_separated_csv_with_quoted_comma_is_split_on_commas():
    data = b'Title,annual_amount_eur\n"Paper, A4",1234.50\n'
    table = read(data)
    assert table.frame.loc[2].to_dict() == {"title": "Paper, A4", "amount": "1234.50"}


def test_tab_separated_csv_is_read():
    data = "Intitulé\tMontant annuel HT (€)\nPapier\t12,5\n".encode()
    assert read(data).frame.loc[2, "amount"] == "12,5"


def test_commas_inside_semicolon_rows_do_not_change_the_separator():
    data = "Intitulé;Montant annuel HT (€)\nPapier, enveloppes, stylos;1,5\n".encode()
    table = read(data)
    assert table.frame.loc[2].to_dict() == {"title": "Papier, enveloppes, stylos", "amount": "1,5"}


def test_semicolon_is_preferred_when_the_header_is_a_single_column_either_way():
    data = "Intitulé\nPapier, A4\n".encode()
    table = read(data, required=("title",))
    assert table.frame.loc[2, "title"] == "Papier, A4"


def test_excel_sep_hint_line_sets_separator_and_is_not_counted_as_a_row():
    data = "sep=,\nIntitulé,Montant annuel HT (€)\nPapier,12\n".encode()
    table = read(data)
    assert table.frame.loc[2].to_dict() == {"title": "Papier", "amount": "12"}


def test_utf8_with_bom_does_not_leak_into_the_first_header():
    data = "Intitulé;Montant annuel HT (€)\nCafé;10\n".encode("utf-8-sig")
    table = read(data)
    assert table.headers["title"] == "Intitulé"
    assert table.frame.loc[2, "title"] == "Café"


def test_utf8_without_bom_is_read():
    data = "Intitulé;Montant annuel HT (€)\nÉlectricité verte;10\n".encode()
    assert read(data).frame.loc[2, "title"] == "Électricité verte"


def test_cp1252_accents_in_header_and_value_are_decoded():
    data = "Intitulé;Montant annuel HT (€)\nPâtes et céréales;10 €\n".encode("cp1252")
    table = read(data)
    assert table.headers["title"] == "Intitulé"
    assert table.frame.loc[2, "title"] == "Pâtes et céréales"
    assert table.frame.loc[2, "amount"] == "10 €"


def test_utf16_unicode_text_export_from_excel_is_read():
    data = "Intitulé\tMontant annuel HT (€)\r\nCafé\t10\r\n".encode("utf-16")
    assert read(data).frame.loc[2, "title"] == "Café"


def test_undecodable_bytes_are_refused_with_a_file_level_message():
    data = b"Intitul\x81;Montant annuel HT\nPapier\x8d;10\n"
    error = table_error(data)
    assert error.messages[0].row is None
    assert "UTF-8 or Windows-1252" in rendered(error.messages)


def test_binary_content_with_nul_bytes_is_refused():
    error = table_error(b"\x00\x01\x02Intitule;Montant\n")
    assert "neither an Excel workbook" in rendered(error.messages)


def test_old_xls_format_is_refused_with_a_hint():
    error = table_error(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "needs.xls")
    assert ".xls" in rendered(error.messages)


def test_cells_are_stripped_and_every_cell_is_a_str():
    data = "Intitulé;Montant annuel HT (€);Date de début\n  Papier \u00a0;  10 ;\n".encode()
    table = read(data)
    assert table.frame.loc[2].to_dict() == {"title": "Papier", "amount": "10", "start": ""}
    assert all(isinstance(value, str) for value in table.frame.to_numpy().ravel())


def test_values_pandas_would_turn_into_nan_stay_text():
    data = b"Title;annual_amount_eur\nNA;null\nN/A;NaN\n"
    table = read(data)
    assert table.frame["title"].tolist() == ["NA", "N/A"]
    assert table.frame["amount"].tolist() == ["null", "NaN"]


def test_blank_lines_are_dropped_but_row_numbers_stay_those_of_the_spreadsheet():
    data = "Intitulé;Montant annuel HT (€)\nA;1\n\n;\nB;2\n".encode()
    table = read(data)
    assert list(table.frame.index) == [2, 5]
    assert [row for row, _ in table.records()] == [2, 5]


def test_blank_lines_before_the_header_shift_the_row_numbers():
    data = "\n\nIntitulé;Montant annuel HT (€)\nA;1\n".encode()
    assert list(read(data).frame.index) == [4]


def test_a_multiline_quoted_cell_counts_as_one_spreadsheet_row():
    data = 'Intitulé;Montant annuel HT (€)\n"Ligne 1\nLigne 2";1\nB;2\n'.encode()
    table = read(data)
    assert list(table.frame.index) == [2, 3]
    assert table.frame.loc[2, "title"] == "Ligne 1\nLigne 2"


def test_short_rows_are_padded_and_extra_cells_are_reported_in_notes():
    data = "Intitulé;Montant annuel HT (€);Date de début\nA;1\nB;2;2027-01-01;surplus\n".encode()
    table = read(data)
    assert table.frame.loc[2, "start"] == ""
    assert any(note.row == 3 for note in table.notes)


# ----------------------------------------------------------------------------- headers


@pytest.mark.parametrize(
    "header",
    [
        "Montant annuel HT (€)",
        "montant_annuel_ht",
        "annual_amount_eur",
        "MONTANT ANNUEL HT",
        "Montant  annuel ht.",
    ],
)
def test_header_variants_match_the_declared_aliases(header):
    data = f"Intitulé;{header}\nPapier;10\n".encode()
    assert list(read(data).frame.columns) == ["title", "amount"]


def test_canonical_name_is_always_accepted_as_header():
    data = b"title;amount\nPapier;10\n"
    assert list(read(data).frame.columns) == ["title", "amount"]


def test_normalise_header_folds_case_accents_and_punctuation():
    assert normalise_header("Durée (mois)") == "duree mois"
    assert normalise_header("  Montant_annuel-HT (€) ") == "montant annuel ht"


def test_unknown_extra_columns_are_dropped_and_listed_in_notes():
    data = "Intitulé;Commentaire interne;Montant annuel HT (€)\nPapier;à voir;10\n".encode()
    table = read(data)
    assert list(table.frame.columns) == ["title", "amount"]
    assert any(note.params.get("header") == "Commentaire interne" for note in table.notes)


def test_a_canonical_column_given_twice_is_refused():
    data = "Intitulé;Objet;Montant annuel HT (€)\nA;B;10\n".encode()
    error = table_error(data)
    text = rendered(error.messages)
    assert "Intitulé" in text and "Objet" in text


def test_an_alias_declared_for_two_columns_is_a_programming_error():
    with pytest.raises(ValueError, match="both"):
        read(b"a;b\n1;2\n", aliases={"x": ("Code",), "y": ("code",)}, required=())


def test_missing_required_column_is_named_and_found_headers_are_listed():
    data = "Intitulé;Montant TTC\nPapier;12\n".encode()
    error = table_error(data)
    assert [m.column for m in error.messages] == ["amount"]
    text = rendered(error.messages)
    assert "Montant annuel HT (€)" in text
    assert "Montant TTC" in text and "Intitulé" in text


def test_every_missing_required_column_gets_its_own_message():
    error = table_error(b"Colonne;Autre\n1;2\n")
    assert sorted(m.column for m in error.messages) == ["amount", "title"]


# ----------------------------------------------------------------------------- file-level errors


def test_empty_file_is_refused():
    error = table_error(b"", "vide.csv")
    assert "vide.csv" in rendered(error.messages)
    assert "empty" in rendered(error.messages)


def test_file_of_blank_lines_is_refused_as_empty():
    assert "empty" in rendered(table_error(b"\r\n  \r\n;;\r\n").messages)


def test_header_without_data_rows_is_refused():
    error = table_error("Intitulé;Montant annuel HT (€)\n\n;\n".encode())
    assert "no data rows" in rendered(error.messages)


def test_more_rows_than_max_rows_is_refused():
    data = ("Intitulé;Montant annuel HT (€)\n" + "A;1\n" * 4).encode()
    assert len(read(data, max_rows=4).frame) == 4
    error = table_error(data, max_rows=3)
    assert error.messages[0].params["max"] == 3


def test_unreadable_zip_is_refused_as_workbook():
    error = table_error(b"PK\x03\x04 this is not really a zip", "needs.xlsx")
    assert "readable Excel workbook" in rendered(error.messages)


def test_zip_that_is_not_a_workbook_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "hi")
    assert "readable Excel workbook" in rendered(table_error(buffer.getvalue(), "needs.xlsx").messages)


# ----------------------------------------------------------------------------- XLSX


def test_xlsx_with_several_sheets_uses_the_first_one_having_the_required_columns():
    data = xlsx(
        {
            "Notice": [["Remplissez l'onglet Besoins"], ["Merci"]],
            "Besoins": [["Intitulé", "Montant annuel HT (€)"], ["Papier", 10]],
        }
    )
    table = read(data, "needs.xlsx")
    assert table.sheet == "Besoins"
    assert table.frame.loc[2].to_dict() == {"title": "Papier", "amount": "10"}


def test_xlsx_without_any_suitable_sheet_names_the_sheets():
    data = xlsx({"Feuil1": [["Nom", "Prix"], ["a", 1]], "Feuil2": [["Autre"], ["b"]]})
    error = table_error(data, "needs.xlsx")
    text = rendered(error.messages)
    assert "“Feuil1”" in text and "“Feuil2”" in text
    assert "Montant annuel HT (€)" in text


def test_xlsx_date_cells_become_iso_text_and_numbers_plain_decimal_text():
    data = xlsx(
        {
            "Besoins": [
                ["Intitulé", "Montant annuel HT (€)", "Date de début"],
                ["A", 1234.56, dt.date(2027, 1, 15)],
                ["B", 1500, dt.datetime(2027, 3, 1, 0, 0)],
                ["C", 1500.0, None],
                ["D", 1e20, None],
            ]
        }
    )
    table = read(data, "needs.xlsx")
    assert table.frame["amount"].tolist() == ["1234.56", "1500", "1500", "100000000000000000000"]
    assert table.frame["start"].tolist() == ["2027-01-15", "2027-03-01", "", ""]
    assert parse_date(table.frame.loc[2, "start"]) == dt.date(2027, 1, 15)


def _patch_sheet_xml(data, old, new):
    source = zipfile.ZipFile(io.BytesIO(data))
    target_buffer = io.BytesIO()
    with zipfile.ZipFile(target_buffer, "w") as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename.startswith("xl/worksheets/"):
                content = content.replace(old, new)
            target.writestr(item, content)
    return target_buffer.getvalue()


def test_xlsx_float_artefacts_are_not_shown():
    data = xlsx({"S": [["Intitulé", "Montant annuel HT (€)"], ["A", 1234.56], ["B", 0.3]]})
    data = _patch_sheet_xml(data, b"<v>1234.56</v>", b"<v>1234.5600000000002</v>")
    data = _patch_sheet_xml(data, b"<v>0.3</v>", b"<v>0.30000000000000004</v>")
    table = read(data, "needs.xlsx")
    assert table.frame["amount"].tolist() == ["1234.56", "0.3"]


def test_xlsx_number_with_three_decimals_is_not_mistaken_for_thousands():
    data = xlsx({"S": [["Intitulé", "Montant annuel HT (€)"], ["A", 1.234]]})
    text = read(data, "needs.xlsx").frame.loc[2, "amount"]
    assert parse_decimal(text) == Decimal("1.23")


def test_xlsx_row_numbers_count_blank_rows_and_a_header_not_on_row_one():
    data = xlsx({"S": [[None], ["Intitulé", "Montant annuel HT (€)"], ["A", 1], [None, None], ["B", 2]]})
    assert list(read(data, "needs.xlsx").frame.index) == [3, 5]


def test_xlsx_content_named_csv_is_read_as_a_workbook():
    data = xlsx({"S": [["Intitulé", "Montant annuel HT (€)"], ["A", 1]]})
    assert read(data, "needs.csv").sheet == "S"


def test_csv_content_named_xlsx_is_read_as_csv():
    table = read("Intitulé;Montant annuel HT (€)\nA;1\n".encode(), "needs.xlsx")
    assert table.sheet is None
    assert table.frame.loc[2, "title"] == "A"


def test_xlsx_header_only_is_refused():
    data = xlsx({"S": [["Intitulé", "Montant annuel HT (€)"]]})
    assert "no data rows" in rendered(table_error(data, "needs.xlsx").messages)


# ----------------------------------------------------------------------------- parse_decimal


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 234 567,89", "1234567.89"),
        ("1234567.89", "1234567.89"),
        ("1.234.567,89", "1234567.89"),
        ("1,234,567.89", "1234567.89"),
        ("1\u00a0234\u00a0567,89", "1234567.89"),
        ("1\u202f234\u202f567,89", "1234567.89"),
        ("12 500 €", "12500.00"),
        ("€12500", "12500.00"),
        ("12500 EUR", "12500.00"),
        ("1.234.567", "1234567.00"),
        ("1,234,567", "1234567.00"),
        ("42", "42.00"),
        ("12,5", "12.50"),
        ("0,125", "0.13"),
        ("1234,565", "1234.57"),
        ("1234.567", "1234.57"),
        ("-12,5", "-12.50"),
        ("\u221212,5", "-12.50"),
    ],
)
def test_parse_decimal_reads_french_and_english_forms(text, expected):
    assert parse_decimal(text) == Decimal(expected)
    assert parse_decimal(text).as_tuple().exponent == -2


@pytest.mark.parametrize("text", ["abc", "12 abc", "1,2,3", "12..5", "1e5", "1 23", "12,", ",5", "1.234,5.6", "--3"])
def test_parse_decimal_refuses_garbage(text):
    with pytest.raises(CellError) as caught:
        parse_decimal(text)
    assert caught.value.params["value"] == text


@pytest.mark.parametrize("text", ["1,234", "1.234", "999,000"])
def test_parse_decimal_refuses_a_lone_separator_before_three_digits_as_ambiguous(text):
    with pytest.raises(CellError, match="ambiguous"):
        parse_decimal(text)


def test_parse_decimal_refuses_empty_text():
    with pytest.raises(CellError):
        parse_decimal("  ")


# ------------------------------------------------------------------- parse_date, parse_int, parse_bool


@pytest.mark.parametrize(
    "text", ["2027-01-15", "15/01/2027", "15-01-2027", "15.01.2027", "15/1/2027", "2027-01-15 00:00:00"]
)
def test_parse_date_reads_iso_and_day_first_forms(text):
    assert parse_date(text) == dt.date(2027, 1, 15)


def test_parse_date_refuses_an_impossible_date():
    with pytest.raises(CellError, match="exists"):
        parse_date("31/02/2027")


@pytest.mark.parametrize("text", ["15/01/27", "15.01.27"])
def test_parse_date_refuses_two_digit_years(text):
    with pytest.raises(CellError, match="four digits"):
        parse_date(text)


@pytest.mark.parametrize("text", ["demain", "2027-13", "46402", "01/15/2027", "0027-01-15"])
def test_parse_date_refuses_other_text(text):
    with pytest.raises(CellError):
        parse_date(text)


@pytest.mark.parametrize(("text", "expected"), [("12", 12), (" 7 ", 7), ("1 000", 1000), ("-3", -3)])
def test_parse_int_reads_whole_numbers(text, expected):
    assert parse_int(text) == expected


@pytest.mark.parametrize("text", ["12,5", "douze", "1.5", "", "1 00"])
def test_parse_int_refuses_non_whole_numbers(text):
    with pytest.raises(CellError):
        parse_int(text)


@pytest.mark.parametrize("text", ["oui", "OUI", "Yes", "vrai", "true", "1", "x", "X"])
def test_parse_bool_true_forms(text):
    assert parse_bool(text) is True


@pytest.mark.parametrize("text", ["non", "No", "faux", "FALSE", "0", "", "  "])
def test_parse_bool_false_forms_including_empty(text):
    assert parse_bool(text) is False


def test_parse_bool_refuses_other_words():
    with pytest.raises(CellError) as caught:
        parse_bool("peut-être")
    assert caught.value.params == {"value": "peut-être"}


# ----------------------------------------------------------------------------- messages and report


def test_message_render_translates_the_msgid_then_fills_params():
    message = Message(3, "amount", "“%(value)s” is not a number.", {"value": "abc"})
    assert message.render() == "“abc” is not a number."
    translations = {"“%(value)s” is not a number.": "« %(value)s » n'est pas un nombre."}
    assert message.render(translations.get) == "« abc » n'est pas un nombre."


def _report_rows(data):
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))


def test_row_report_csv_has_bom_semicolons_french_headers_and_sorted_rows():
    report = RowReport()
    report.add(7, "amount", "“%(value)s” is not a number.", {"value": "abc"})
    report.add(None, None, "File remark.")
    report.add(3, "title", "Required.")
    rows = _report_rows(report.to_csv_bytes())
    assert rows == [
        ["ligne", "colonne", "erreur"],
        ["", "", "File remark."],
        ["3", "title", "Required."],
        ["7", "amount", "“abc” is not a number."],
    ]


def test_row_report_english_headers_labels_and_translation():
    report = RowReport([Message(2, "amount", "Bad.", {})])
    rows = _report_rows(
        report.to_csv_bytes(lang="en", column_labels={"amount": "Annual amount"}, translate=lambda s: s.upper())
    )
    assert rows == [["row", "column", "error"], ["2", "Annual amount", "BAD."]]


def test_row_report_custom_headers():
    rows = _report_rows(RowReport().to_csv_bytes(headers=("Zeile", "Spalte", "Fehler")))
    assert rows == [["Zeile", "Spalte", "Fehler"]]


@pytest.mark.parametrize("dangerous", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1"])
def test_row_report_escapes_formula_injection(dangerous):
    report = RowReport()
    report.add(2, "title", "%(value)s", {"value": dangerous})
    report.add(3, dangerous, "ok")
    rows = _report_rows(report.to_csv_bytes())
    assert rows[1][2] == "'" + dangerous
    assert rows[2][1] == "'" + dangerous


@pytest.mark.parametrize(
    ("value", "expected"),
    [("=1+1", "'=1+1"), ("+33 1", "'+33 1"), ("-5", "'-5"), ("@x", "'@x"), ("Papier", "Papier"), ("", "")],
)
def test_neutralise_formula(value, expected):
    assert neutralise_formula(value) == expected


# ----------------------------------------------------------------------------- CSV read in slices

SLICED_CSV = [
    # quoted separators and doubled quotes, padding spaces, a blank line, a row of empty cells, CRLF line ends
    'Intitulé;Montant annuel HT (€)\r\n"Papier; A4";12,50\r\n\r\n  Encre "noire"  ;3\r\n;\r\n"Dit ""vite""";4\r\n',
    # a quoted value across two lines, then more rows
    'Intitulé;Montant annuel HT (€)\n"Papier\nrecyclé";12\nEncre;3\n',
    # Excel's sep= line and blank lines before the header, a UTF-8 BOM
    "\ufeffsep=;\n\n\nIntitulé;Montant annuel HT (€)\nPapier;12\n\nEncre;3\n",
    # commas, an extra column not asked for, a last line without its line end
    "Objet,Date de début,Montant annuel HT (€),Note\nPapier,01/02/2025,12,x\nEncre,,3,y",
]


def _sliced(data, chunk_rows=2):
    table = read_table_chunks(data, "needs.csv", required=REQUIRED, aliases=ALIASES, chunk_rows=chunk_rows)
    return [(int(row), cells) for chunk in table.chunks for row, cells in chunk.to_dict("index").items()]


def _pandas_only(monkeypatch):
    def refused(*args):
        raise pa.ArrowInvalid("read by pandas")
        yield  # a generator, as the one it stands for

    monkeypatch.setattr(tabular, "_arrow_records", refused)


def _counted_by_arrow(monkeypatch) -> list[int]:
    """The sizes of the slices Arrow's reader gives, filled while a file is read."""
    given = []
    arrow_records = tabular._arrow_records

    def counted(*args):
        for chunk in arrow_records(*args):
            given.append(len(chunk))
            yield chunk

    monkeypatch.setattr(tabular, "_arrow_records", counted)
    return given


@pytest.mark.parametrize("text", SLICED_CSV)
def test_a_csv_read_in_slices_gives_the_rows_of_the_whole_file_reader(text, monkeypatch):
    for data in (text.encode("utf-8"), text.removeprefix("\ufeff").encode("cp1252")):
        whole = list(read(data).records())
        with monkeypatch.context() as patched:
            given = _counted_by_arrow(patched)
            assert _sliced(data) == _sliced(data, chunk_rows=1) == whole
            assert given and not [size for size in given if size > 2]  # read by Arrow, no slice larger than asked
        with monkeypatch.context() as patched:
            _pandas_only(patched)
            assert _sliced(data) == whole


def test_a_record_arrow_refuses_sends_the_rest_of_the_file_through_pandas(monkeypatch, tmp_path):
    rows = [f"Article {n};{n}" for n in range(1, 400)]
    rows[300] = "Article court"  # one field where the header has two: pandas reads it with an empty amount
    path = tmp_path / "needs.csv"
    path.write_text("Intitulé;Montant annuel HT (€)\n" + "\n".join(rows) + "\n", encoding="utf-8")
    given = _counted_by_arrow(monkeypatch)
    monkeypatch.setattr(tabular, "ARROW_BLOCK_BYTES", 512)  # small blocks: Arrow gives rows before the short one
    sliced = _sliced(path, chunk_rows=50)
    assert 0 < sum(given) < 300  # Arrow read the first rows, pandas the rest
    _pandas_only(monkeypatch)
    assert sliced == _sliced(path, chunk_rows=50)
    assert [row for row, _ in sliced] == list(range(2, 401))
    assert sliced[300][1]["title"] == "Article court" and sliced[301] == (
        303,
        {"title": "Article 302", "amount": "302"},
    )


def test_a_quote_left_open_makes_the_sliced_file_unreadable():
    data = 'Intitulé;Montant annuel HT (€)\nPapier;12\n"Encre;3\nStylo;4\n'.encode()
    with pytest.raises(TableError) as caught:
        _sliced(data)
    assert "cannot be read" in rendered(caught.value.messages)


def test_values_across_lines_are_read_whole_across_arrows_blocks(monkeypatch):
    rows = [f'"Article {n}\nsur deux lignes";{n}' for n in range(1, 200)]
    data = ("Intitulé;Montant annuel HT (€)\n" + "\n".join(rows) + "\n").encode()
    monkeypatch.setattr(tabular, "ARROW_BLOCK_BYTES", 256)  # many blocks, each cut inside a quoted value
    given = _counted_by_arrow(monkeypatch)
    sliced = _sliced(data, chunk_rows=50)
    assert given == [50, 50, 50, 49]  # all read by Arrow
    assert sliced == list(read(data).records())
    assert sliced[-1] == (200, {"title": "Article 199\nsur deux lignes", "amount": "199"})
