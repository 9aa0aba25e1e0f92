import csv
import datetime as dt
import io
from decimal import Decimal

import pytest

from app.domain.need_import import (
    NEED_COLUMNS,
    column_labels,
    parse_needs,
    template_csv_bytes,
)
from app.domain.tabular import RowReport
from tests.factories import xlsx

KNOWN = {"30197630", "09310000", "03221200", "45000000"}
FR_HEADER = "Intitulé;Code CPV;Montant annuel HT (€);Date de début;Durée (mois)"


def known_cpv(code):
    return code in KNOWN


def parse(text, filename="besoins.csv", encoding="utf-8", known=known_cpv):
    data = text.encode(encoding) if isinstance(text, str) else text
    return parse_needs(data, filename, known_cpv=known)


def fr_csv(*rows, header=FR_HEADER):
    return "\n".join([header, *rows]) + "\n"


def errors_by_row(result):
    return sorted((m.row, m.column) for m in result.errors)


# ----------------------------------------------------------------------------- happy paths


def test_renewals_and_options_read_from_french_and_english_headers():
    french = parse(
        fr_csv(
            "Papier;30197630;10 000,00;15/01/2027;12;3;12;2 500,00",
            header=FR_HEADER
            + ";Nombre de reconductions;Durée d'une reconduction (mois);Montant total des options HT (€)",
        )
    )
    english = parse(
        "Title,CPV code,Annual amount excl. VAT (EUR),Start date,Duration (months),Renewals,Renewal period (months),"
        "Options total excl. VAT (EUR)\nPaper,30197630,10000.00,2027-01-15,12,3,,2500.00\n"
    )
    assert french.errors == [] and english.errors == []
    row = french.rows[0]
    assert (row["renewal_count"], row["renewal_months"], row["options_amount_eur"]) == (3, 12, Decimal("2500.00"))
    row = english.rows[0]
    assert (row["renewal_count"], row["renewal_months"], row["options_amount_eur"]) == (3, None, Decimal("2500.00"))


def test_bad_renewals_and_options_are_named_by_row_and_column():
    header = FR_HEADER + ";Nombre de reconductions;Montant total des options HT (€)"
    result = parse(fr_csv("A;30197630;1000;15/01/2027;12;11;0", "B;30197630;1000;15/01/2027;12;1;-5", header=header))
    assert errors_by_row(result) == [(2, "renewal_count"), (3, "options_amount_eur")]


def test_french_semicolon_file_gives_typed_clean_rows():
    result = parse(fr_csv("Papier d'impression;30197630;12 500,50;15/01/2027;36"))
    assert result.errors == []
    assert result.rows == [
        {
            "row": 2,
            "title": "Papier d'impression",
            "cpv_code": "30197630",
            "cpv_check_digit": None,
            "annual_amount_eur": Decimal("12500.50"),
            "start_date": dt.date(2027, 1, 15),
            "duration_months": 36,
            "renewal_count": 0,
            "renewal_months": None,
            "options_amount_eur": Decimal("0.00"),
            "description": "",
            "quantity": None,
            "unit": None,
            "current_contract_end": None,
            "delivery_postcode": None,
            "environmental_criterion": False,
            "social_clause": False,
            "short_supply_chain": False,
            "sustainability_notes": "",
        }
    ]


def test_english_headers_with_comma_separator_and_english_numbers():
    text = (
        "Title,CPV code,Annual amount,Start date,Duration,Quantity,Unit,Delivery postcode,Social clause\n"
        '"Electricity, green",09310000-5,"1,234,567.89",2027-01-01,24,1500.5,MWh,01000,yes\n'
    )
    result = parse(text)
    assert result.errors == []
    (row,) = result.rows
    assert row["title"] == "Electricity, green"
    assert (row["cpv_code"], row["cpv_check_digit"]) == ("09310000", "5")
    assert row["annual_amount_eur"] == Decimal("1234567.89")
    assert row["quantity"] == Decimal("1500.50")
    assert row["unit"] == "MWh"
    assert row["delivery_postcode"] == "01000"
    assert row["social_clause"] is True


def test_headers_match_without_accents_case_or_punctuation():
    header = "INTITULE;cpv_code;montant_annuel_ht;date debut;duree mois;circuit court;echeance du contrat actuel"
    result = parse(fr_csv("Pommes;03221200;800;01/09/2027;12;oui;31/08/2027", header=header))
    assert result.errors == []
    assert result.rows[0]["short_supply_chain"] is True
    assert result.rows[0]["current_contract_end"] == dt.date(2027, 8, 31)


def test_cp1252_file_with_accents_in_header_and_value():
    result = parse(fr_csv("Fournitures de bureau éco-conçues;30197630;1 000;01/01/2027;12"), encoding="cp1252")
    assert result.errors == []
    assert result.rows[0]["title"] == "Fournitures de bureau éco-conçues"


def test_utf8_bom_file_is_accepted():
    result = parse(fr_csv("Électricité;09310000;5000;2027-01-01;12").encode("utf-8-sig"))
    assert result.errors == []
    assert result.rows[0]["title"] == "Électricité"


def test_optional_columns_are_parsed_when_present():
    header = FR_HEADER + ";Quantité;Unité;Code postal de livraison;Critère environnemental;Exigences durables"
    result = parse(fr_csv("Papier;30197630;100;01/01/2027;12;2 500;ramette;21000;x;Label Ange bleu", header=header))
    assert result.errors == []
    row = result.rows[0]
    assert row["quantity"] == Decimal("2500.00")
    assert row["delivery_postcode"] == "21000"
    assert row["environmental_criterion"] is True
    assert row["sustainability_notes"] == "Label Ange bleu"


def test_unknown_columns_are_ignored_and_reported_as_notes():
    header = FR_HEADER + ";Service demandeur"
    result = parse(fr_csv("Papier;30197630;100;01/01/2027;12;DSI", header=header))
    assert result.errors == []
    assert any(note.params.get("header") == "Service demandeur" for note in result.notes)


def test_xlsx_with_date_cells_numbers_and_data_on_the_second_sheet():
    data = xlsx(
        {
            "Mode d'emploi": [["Remplissez l'onglet suivant"]],
            "Besoins": [
                [
                    "Intitulé",
                    "Code CPV",
                    "Montant annuel HT (€)",
                    "Date de début",
                    "Durée (mois)",
                    "Fin du contrat actuel",
                    "Code postal de livraison",
                    "Quantité",
                ],
                [
                    "Électricité",
                    9310000,
                    125000.5,
                    dt.datetime(2027, 1, 1),
                    36,
                    dt.date(2026, 12, 31),
                    1000,
                    1.5,
                ],
            ],
        }
    )
    result = parse_needs(data, "besoins.xlsx", known_cpv=known_cpv)
    assert result.errors == []
    assert result.sheet == "Besoins"
    (row,) = result.rows
    assert row["cpv_code"] == "09310000"  # the number 9310000 lost its leading zero in Excel
    assert row["annual_amount_eur"] == Decimal("125000.50")
    assert row["start_date"] == dt.date(2027, 1, 1)
    assert row["current_contract_end"] == dt.date(2026, 12, 31)
    assert row["duration_months"] == 36
    assert row["delivery_postcode"] == "01000"
    assert row["quantity"] == Decimal("1.50")
    assert {note.column for note in result.notes} >= {"cpv_code", "delivery_postcode"}


def test_known_cpv_is_asked_about_the_eight_digits_only():
    asked = []

    def spy(code):
        asked.append(code)
        return True

    result = parse(fr_csv("Papier;30197630-1;100;01/01/2027;12"), known=spy)
    assert asked == ["30197630"]
    assert result.rows[0]["cpv_check_digit"] == "1"


# ----------------------------------------------------------------------------- file-level problems


def test_empty_file_gives_a_file_level_error_and_no_rows():
    result = parse_needs(b"", "besoins.csv", known_cpv=known_cpv)
    assert result.rows == []
    assert len(result.errors) == 1 and result.errors[0].row is None
    assert not result.ok


def test_header_only_file_gives_an_error():
    result = parse(FR_HEADER + "\n")
    assert [m.row for m in result.errors] == [None]
    assert "no data rows" in result.errors[0].render()


def test_missing_column_error_names_the_column():
    header = "Intitulé;Code CPV;Date de début;Durée (mois)"
    result = parse(fr_csv("Papier;30197630;01/01/2027;12", header=header))
    assert [(m.row, m.column) for m in result.errors] == [(None, "annual_amount_eur")]
    assert "Montant annuel HT (€)" in result.errors[0].render()


def test_more_than_10000_rows_is_refused():
    rows = ["Papier;30197630;100;01/01/2027;12"] * 10_001
    result = parse(fr_csv(*rows))
    assert result.rows == []
    assert [m.row for m in result.errors] == [None]
    assert result.errors[0].params["max"] == 10_000


def test_exactly_10000_rows_are_accepted():
    rows = ["Papier;30197630;100;01/01/2027;12"] * 10_000
    result = parse(fr_csv(*rows))
    assert result.errors == []
    assert len(result.rows) == 10_000


# ----------------------------------------------------------------------------- cell problems


@pytest.mark.parametrize(
    ("cells", "column", "fragment"),
    [
        ("Papier;30197630;environ mille;01/01/2027;12", "annual_amount_eur", "not a number"),
        ("Papier;30197630;0;01/01/2027;12", "annual_amount_eur", "greater than zero"),
        ("Papier;30197630;-100;01/01/2027;12", "annual_amount_eur", "greater than zero"),
        ("Papier;30197630;100;31/02/2027;12", "start_date", "exists"),
        ("Papier;30197630;100;début 2027;12", "start_date", "not a date"),
        ("Papier;30197630;100;01/01/27;12", "start_date", "four digits"),
        ("Papier;30197630;100;01/01/2027;0", "duration_months", "between 1 and 120"),
        ("Papier;30197630;100;01/01/2027;200", "duration_months", "between 1 and 120"),
        ("Papier;30197630;100;01/01/2027;12,5", "duration_months", "whole number"),
        ("Papier;99999999;100;01/01/2027;12", "cpv_code", "does not exist"),
        ("Papier;3019-7630;100;01/01/2027;12", "cpv_code", "not a CPV code"),
        ("Papier;papier;100;01/01/2027;12", "cpv_code", "not a CPV code"),
        (";30197630;100;01/01/2027;12", "title", "must be filled in"),
        ("Papier;;100;01/01/2027;12", "cpv_code", "must be filled in"),
    ],
)
def test_a_bad_cell_is_reported_with_its_row_column_and_reason(cells, column, fragment):
    result = parse(fr_csv(cells))
    assert result.rows == []
    assert [(m.row, m.column) for m in result.errors] == [(2, column)]
    assert fragment in result.errors[0].render()


def test_title_longer_than_200_characters_is_refused():
    result = parse(fr_csv("P" * 201 + ";30197630;100;01/01/2027;12"))
    assert errors_by_row(result) == [(2, "title")]
    assert parse(fr_csv("P" * 200 + ";30197630;100;01/01/2027;12")).errors == []


@pytest.mark.parametrize("postcode", ["0100A", "00100", "96000", "210000", "21-000"])
def test_invalid_postcodes_are_refused(postcode):
    header = FR_HEADER + ";Code postal de livraison"
    result = parse(fr_csv(f"Papier;30197630;100;01/01/2027;12;{postcode}", header=header))
    assert errors_by_row(result) == [(2, "delivery_postcode")]


def test_a_four_digit_postcode_gets_back_the_leading_zero_a_spreadsheet_dropped():
    header = FR_HEADER + ";Code postal de livraison"
    result = parse(fr_csv("Papier;30197630;100;01/01/2027;12;2100", header=header))
    assert result.errors == []
    assert result.rows[0]["delivery_postcode"] == "02100"
    assert [note.column for note in result.notes] == ["delivery_postcode"]


def test_bad_boolean_and_negative_quantity_are_refused():
    header = FR_HEADER + ";Quantité;Clause sociale"
    result = parse(fr_csv("Papier;30197630;100;01/01/2027;12;-3;peut-être", header=header))
    assert errors_by_row(result) == [(2, "quantity"), (2, "social_clause")]


def test_every_error_of_one_row_is_reported_not_just_the_first():
    result = parse(fr_csv(";123;abc;32/01/2027;0"))
    assert errors_by_row(result) == [
        (2, "annual_amount_eur"),
        (2, "cpv_code"),
        (2, "duration_months"),
        (2, "start_date"),
        (2, "title"),
    ]


def test_every_bad_row_is_reported_with_spreadsheet_row_numbers_after_a_blank_line():
    result = parse(
        fr_csv(
            "Bon;30197630;100;01/01/2027;12",  # row 2
            "Mauvais montant;30197630;abc;01/01/2027;12",  # row 3
            "",  # row 4, blank
            "Mauvaise date;30197630;100;2027-02-30;12",  # row 5
            "Bon aussi;09310000;100;01/01/2027;12",  # row 6
            "CPV inconnu;12345678;100;01/01/2027;12",  # row 7
        )
    )
    assert errors_by_row(result) == [(3, "annual_amount_eur"), (5, "start_date"), (7, "cpv_code")]
    assert [row["row"] for row in result.rows] == [2, 6]


def test_errors_render_in_a_report_with_user_facing_column_labels():
    result = parse(fr_csv("Papier;30197630;abc;01/01/2027;12"))
    data = RowReport(result.errors).to_csv_bytes(column_labels=column_labels("fr"))
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert rows == [["ligne", "colonne", "erreur"], ["2", "Montant annuel HT (€)", "“abc” is not a number."]]


def test_a_translation_starting_with_the_formula_value_is_neutralised_in_the_report():
    result = parse(fr_csv("Papier;30197630;=1+1;01/01/2027;12"))
    data = RowReport(result.errors).to_csv_bytes(translate=lambda _: "%(value)s : ce n'est pas un nombre")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert rows[1] == ["2", "annual_amount_eur", "'=1+1 : ce n'est pas un nombre"]


# ----------------------------------------------------------------------------- template


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_template_round_trips_through_parse_needs(lang):
    data = template_csv_bytes(lang)
    result = parse_needs(data, f"modele-{lang}.csv", known_cpv=known_cpv)
    assert result.errors == []
    assert result.notes == []
    (row,) = result.rows
    assert row["cpv_code"] == "30197630"
    assert row["annual_amount_eur"] == Decimal("12500.00")
    assert row["start_date"] == dt.date(2027, 1, 1)
    assert row["environmental_criterion"] is True


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_template_lists_every_column_in_the_requested_language(lang):
    data = template_csv_bytes(lang)
    assert data.startswith(b"\xef\xbb\xbf")
    header = next(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    expected = [c.label_en if lang == "en" else c.label_fr for c in NEED_COLUMNS]
    assert header == expected
    assert ("Intitulé" in header) == (lang == "fr")


def test_template_refuses_unknown_language():
    with pytest.raises(ValueError):
        template_csv_bytes("de")
