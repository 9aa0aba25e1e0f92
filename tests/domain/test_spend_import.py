import csv
import datetime as dt
import io
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from app.domain.spend_import import detect_format, fingerprint, parse_spend, template_csv_bytes
from tests.factories import decp_sample_records, xlsx

DATA = Path(__file__).resolve().parents[2] / "app" / "data"
DECP = DATA / "decp_ville_de_dijon_2024_2025.csv"
VILLE_DE_DIJON = "21210231300013"


def parse(data, check_digits, filename="depenses.csv", **kw):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return parse_spend(data, filename, known_cpv=check_digits.get, **kw)


def decp_rows(**changes):
    """One row of the real sample with some fields changed, as a DECP CSV."""
    with open(DECP, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=";")
        row = next(reader)
        fields = reader.fieldnames
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, delimiter=";")
    writer.writeheader()
    writer.writerow({**row, **changes})
    return buffer.getvalue()


def messages(result):
    return [(m.row, m.column, m.render()) for m in result.errors]


# --- the real DECP sample ------------------------------------------------------------------------------------


def test_the_real_decp_sample_gives_totals_per_division_and_year_equal_to_an_independent_sum(check_digits):
    result = parse(DECP.read_bytes(), check_digits, filename=DECP.name, buyer_siret=VILLE_DE_DIJON, own_only=True)
    assert result.ok and not result.quarantined, messages(result)[:5]

    records = decp_sample_records()
    expected_division = defaultdict(Decimal)
    expected_year = defaultdict(Decimal)
    for cpv, day, amount in zip(records["codecpv"], records["datenotification"], records["amount"], strict=True):
        expected_division[cpv[:2]] += amount
        expected_year[int(day[:4])] += amount

    got_division, got_year = defaultdict(Decimal), defaultdict(Decimal)
    for row in result.rows:
        got_division[row["cpv_code"][:2]] += row["amount"]
        got_year[row["spend_date"].year] += row["amount"]
    # 273 rows: 272 contracts (one of them published as one row per supplier), one at its modified amount:
    # 88,266,733.47 summed over the rows, less the repeated row (419,009.74) and the modification (-0.01).
    assert len(result.rows) == len(records) == 272
    assert dict(got_division) == dict(expected_division)
    assert dict(got_year) == dict(expected_year)
    assert set(got_year) == {2024, 2025}
    assert sum(got_year.values()) == sum(records["amount"]) == Decimal("87847723.72")


def test_a_decp_record_is_one_line_dated_on_its_notification_at_its_declared_amount(check_digits):
    result = parse(DECP.read_bytes(), check_digits, filename=DECP.name)
    first = result.rows[0]
    assert first["spend_date"] == dt.date(2024, 1, 3)
    assert first["amount"] == Decimal("691929.16")
    assert first["cpv_code"] == "45212230" and first["supplier_siret"] == "49047296600012"
    assert first["source_ref"] == "2023VDSC149500" and first["duration_months"] == 24
    assert first["procedure"].startswith("Marché passé sans publicité")


def test_several_suppliers_stay_one_line_counted_once_with_the_others_as_co_contractors(check_digits):
    result = parse(DECP.read_bytes(), check_digits, filename=DECP.name)
    joint = [r for r in result.rows if r["source_ref"] == "2023VDPN167600"]
    assert len(joint) == 1
    assert joint[0]["supplier_siret"] == "49504606200016"
    assert joint[0]["co_contractors"] == "77877008100082 81864507900026"
    assert joint[0]["amount"] == Decimal("420957.76")
    # Seven contracts list their suppliers in columns, one as one row per supplier.
    assert sum(1 for r in result.rows if r["co_contractors"]) == 8
    assert any("several suppliers" in n.render() for n in result.notes)


def test_html_entities_in_objet_are_stored_as_the_text_they_stand_for(check_digits):
    result = parse(DECP.read_bytes(), check_digits, filename=DECP.name)
    insurance = next(r for r in result.rows if r["source_ref"] == "2023VDPA164600")
    assert "7 917 665 € TTC" in insurance["description"] and "&euro;" not in insurance["description"]
    roof = next(r for r in result.rows if "toiture terrasse" in r["description"])
    assert "<br" not in roof["description"] and "terrasse - lot 18" in roof["description"]
    assert any("HTML entities" in n.render() for n in result.notes)


def test_other_html_is_kept_as_text_never_interpreted(check_digits):
    result = parse(decp_rows(objet="Achat <b>urgent</b> &amp; divers"), check_digits)
    assert result.rows[0]["description"] == "Achat <b>urgent</b> & divers"


def test_a_buyer_siret_other_than_the_organizations_is_a_warning_unless_only_its_own_records_go_in(check_digits):
    result = parse(DECP.read_bytes(), check_digits, filename=DECP.name, buyer_siret="24210041000010")
    assert result.ok and len(result.rows) == 272
    warning = [n for n in result.notes if n.column == "acheteur_id"]
    assert len(warning) == 1 and "272" in warning[0].render() and VILLE_DE_DIJON in warning[0].render()
    same = parse(DECP.read_bytes(), check_digits, filename=DECP.name, buyer_siret=VILLE_DE_DIJON)
    assert not [n for n in same.notes if n.column == "acheteur_id"]
    own = parse(DECP.read_bytes(), check_digits, filename=DECP.name, buyer_siret="24210041000010", own_only=True)
    assert not own.rows and len(own.quarantined) == 272
    assert {(q.field, q.buyer) for q in own.quarantined} == {("acheteur_id", VILLE_DE_DIJON)}
    assert own.quarantined[0].problems[0].render().startswith("Another buyer")


def test_the_decp_layout_is_detected_from_the_header(check_digits):
    assert detect_format(DECP.read_bytes(), "export.csv") == "decp"
    assert detect_format(b"Date;Montant\n", "x.csv") == "csv"
    assert detect_format(b'[{"id": 1}]', "x.txt") == "decp"
    assert detect_format(b"PK\x03\x04", "x.bin") == "xlsx"
    assert detect_format(b"whatever", "x.csv", "decp") == "decp"


# --- DECP bad input ------------------------------------------------------------------------------------------


def quarantined(result):
    return [(q.row, q.field) for q in result.quarantined]


def test_cdl_in_a_required_field_quarantines_the_record_naming_the_placeholder(check_digits):
    result = parse(decp_rows(codecpv="CDL", montant="CDL"), check_digits)
    assert result.ok and not result.rows
    assert quarantined(result) == [(2, "codecpv")]
    problems = result.quarantined[0].problems
    assert {(m.row, m.column) for m in problems} == {(2, "codecpv"), (2, "montant")}
    assert all("CDL" in m.render() for m in problems)


def test_cdl_in_optional_fields_reads_as_empty(check_digits):
    result = parse(decp_rows(dureemois="CDL", procedure="cdl", objet="CDL"), check_digits)
    assert result.ok
    row = result.rows[0]
    assert row["duration_months"] is None and row["procedure"] is None and row["description"] == ""
    assert any("CDL" in n.render() for n in result.notes)


@pytest.mark.parametrize("amount", ["0", "0.0", "-1250.5", "-0.01"])
def test_a_negative_or_zero_decp_amount_is_quarantined(check_digits, amount):
    result = parse(decp_rows(montant=amount), check_digits)
    assert result.ok and quarantined(result) == [(2, "montant")]
    assert "greater than zero" in result.quarantined[0].problems[0].render()
    assert result.quarantined[0].amount == amount


@pytest.mark.parametrize("code", ["99999999-9", "00000000"])
def test_an_unknown_cpv_code_is_quarantined(check_digits, code):
    result = parse(decp_rows(codecpv=code), check_digits)
    assert result.ok and quarantined(result) == [(2, "codecpv")]
    assert code[:8] in result.quarantined[0].problems[0].render()


def test_a_wrong_check_digit_is_a_warning(check_digits):
    result = parse(decp_rows(codecpv="45212230-1"), check_digits)
    assert result.ok and result.rows[0]["cpv_code"] == "45212230"
    assert any("check digit 1" in n.render() for n in result.notes)


def test_a_record_without_supplier_or_with_a_malformed_siret_is_quarantined(check_digits):
    missing = parse(decp_rows(titulaire_id_1="CDL"), check_digits)
    assert quarantined(missing) == [(2, "titulaire_id_1")]
    short = parse(decp_rows(titulaire_id_1="4904729660"), check_digits)
    assert quarantined(short) == [(2, "titulaire_id_1")]


def test_a_non_siret_supplier_identifier_is_kept_as_its_name(check_digits):
    result = parse(decp_rows(titulaire_typeidentifiant_1="TVA", titulaire_id_1="DE123456789"), check_digits)
    assert result.ok
    assert result.rows[0]["supplier_siret"] is None and result.rows[0]["supplier_name"] == "TVA DE123456789"


def test_every_bad_decp_record_is_quarantined_with_its_spreadsheet_row_the_others_go_in(check_digits):
    text = DECP.read_text(encoding="utf-8").splitlines()
    bad = text[5].replace("2024-02-19", "2024-02-31")
    data = "\n".join([*text[:5], bad, *text[6:]]).replace(";12976.0;", ";-12976.0;")
    result = parse(data, check_digits)
    assert result.ok and quarantined(result) == [(5, "montant"), (6, "datenotification")]
    assert len(result.rows) == 270


def test_decp_json_flattened_and_nested_layouts(check_digits):
    flat = [
        {
            "id": "2025X1",
            "acheteur_id": VILLE_DE_DIJON,
            "objet": "Fournitures &amp; papier",
            "codecpv": "30192000-1",
            "montant": 1500.5,
            "datenotification": "2025-03-01",
            "titulaire_id_1": "49047296600012",
            "titulaire_typeidentifiant_1": "SIRET",
            "titulaire_id_2": "CDL",
        }
    ]
    result = parse(json.dumps(flat), check_digits, filename="decp.json")
    assert result.ok, messages(result)
    assert result.format == "decp" and result.rows[0]["amount"] == Decimal("1500.50")
    assert result.rows[0]["description"] == "Fournitures & papier" and result.rows[0]["co_contractors"] is None

    nested = {
        "marches": [
            {
                "id": "2025X2",
                "acheteur": {"id": VILLE_DE_DIJON},
                "codeCPV": "09310000-5",
                "montant": "-3",
                "dateNotification": "2025-04-01",
                "titulaires": [{"typeIdentifiant": "SIRET", "id": "49047296600012"}],
            }
        ]
    }
    bad = parse(json.dumps(nested), check_digits, filename="decp.json")
    assert bad.ok and quarantined(bad) == [(2, "montant")]


def test_a_json_file_without_records_is_one_file_error(check_digits):
    result = parse('{"hello": 1}', check_digits, filename="decp.json")
    assert len(result.errors) == 1 and result.errors[0].row is None


# --- the generic table ---------------------------------------------------------------------------------------

FR_HEADER = "Date;Fournisseur;SIRET du fournisseur;Code CPV;Montant HT (€);Objet;Code postal du fournisseur"


def test_a_french_ledger_keeps_leading_zeros_and_reads_french_numbers_and_dates(check_digits):
    text = FR_HEADER + "\n15/03/2025;Pétroles du Nord;01555060100064;09000000;1 234 567,89;Carburant;01000\n"
    result = parse(text.encode("cp1252"), check_digits)
    assert result.ok, messages(result)
    row = result.rows[0]
    assert row["spend_date"] == dt.date(2025, 3, 15) and row["year"] == 2025
    assert row["amount"] == Decimal("1234567.89")
    assert row["supplier_siret"] == "01555060100064" and row["supplier_postcode"] == "01000"
    assert row["supplier_name"] == "Pétroles du Nord" and row["description"] == "Carburant"


def test_an_english_ledger_with_a_comma_separator(check_digits):
    text = (
        "Spend date,Supplier name,CPV code,Amount excl. VAT (EUR),Description\n2025-01-31,ACME,30192000,2500.00,Paper\n"
    )
    result = parse(text, check_digits)
    assert result.ok and result.rows[0]["amount"] == Decimal("2500.00")
    assert result.rows[0]["supplier_siret"] is None and result.format == "csv"


def test_zeros_dropped_by_a_spreadsheet_are_restored_and_told(check_digits):
    text = FR_HEADER + "\n15/03/2025;X;1555060100064;9000000;100;;1000\n"
    result = parse(text, check_digits)
    assert result.ok, messages(result)
    row = result.rows[0]
    assert (row["supplier_siret"], row["cpv_code"], row["supplier_postcode"]) == ("01555060100064", "09000000", "01000")
    assert len([n for n in result.notes if "leading zero" in n.render()]) == 3


def test_every_bad_ledger_row_is_reported_with_its_column(check_digits):
    text = FR_HEADER + (
        "\n15/03/2025;A;;30192000;100;;"
        "\n31/02/2025;B;;30192000;0;;"
        "\n15/03/2025;C;123;99999999;-5;;21"
        "\n15/03/2025;D;;30192000;abc;;"
    )
    result = parse(text, check_digits)
    assert not result.rows or len(result.rows) == 1
    found = {(m.row, m.column) for m in result.errors}
    assert found == {
        (3, "spend_date"),
        (3, "amount_eur"),
        (4, "supplier_siret"),
        (4, "cpv_code"),
        (4, "amount_eur"),
        (4, "supplier_postcode"),
        (5, "amount_eur"),
    }


def test_a_ledger_without_the_required_columns_is_refused_as_a_whole(check_digits):
    result = parse("Fournisseur;Objet\nA;B\n", check_digits)
    assert result.errors and all(m.row is None for m in result.errors)


def test_an_xlsx_ledger_with_real_numbers_and_dates(check_digits):
    data = xlsx(
        {
            "Dépenses": [
                ["Date", "Fournisseur", "SIRET du fournisseur", "Code CPV", "Montant HT (€)", "Objet"],
                [dt.date(2024, 6, 30), "Papeterie", "49047296600012", "30192000", 1250.5, "Ramettes A4"],
            ]
        }
    )
    result = parse(data, check_digits, filename="d.xlsx")
    assert result.ok and result.format == "xlsx" and result.sheet == "Dépenses"
    assert result.rows[0]["amount"] == Decimal("1250.50") and result.rows[0]["spend_date"] == dt.date(2024, 6, 30)
    assert result.rows[0]["description"] == "Ramettes A4"


def test_the_template_is_a_valid_import_file(check_digits):
    for lang in ("fr", "en"):
        result = parse(template_csv_bytes(lang), check_digits)
        assert result.ok and len(result.rows) == 1, messages(result)


def test_the_fingerprint_is_stable_and_tells_lines_apart():
    row = {
        "spend_date": dt.date(2025, 1, 1),
        "cpv_code": "30192000",
        "amount": Decimal("10.00"),
        "supplier_siret": "49047296600012",
        "description": "Papier",
    }
    assert fingerprint(row) == fingerprint(dict(row)) and len(fingerprint(row)) == 32
    assert fingerprint({**row, "amount": Decimal("10.01")}) != fingerprint(row)


# --- streaming: slices, the vectorised path and the cell checks agree ----------------------------------------------


def _generic_file(rows):
    header = "Date;Fournisseur;SIRET du fournisseur;Code CPV;Montant HT (€);Objet;Code postal du fournisseur;Ville"
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(header.split(";"))
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


MIXED_ROWS = [
    # plain shapes, read by the vectorised path
    ("15/03/2025", "Papeterie des Ducs", "64285249500018", "30192000", "1250,5", "Ramettes  A4", "21000", "Dijon"),
    ("2024-01-02", "Garage Central", "", "50112000-3", "0012.50", "", "", ""),
    ("31/12/2023", "", "64285249500018", "09310000", "3", "Électricité", "97400", "Saint-Denis"),
    # shapes only the cell checks read (a repair, a grouping, another date form, a bad checksum)
    ("1/2/2025", "Papeterie des Ducs", "642 852 495 00018", "9310000", "1 250,00", "x", "1000", "Bourg"),
    ("15.03.2025", "Garage Central", "64285249500019", "30192000-1", "€ 40,00", "y", "21000", "Dijon"),
]


GENERIC_LABELS = ("spend_date", "supplier_name", "supplier_siret", "cpv_code", "amount_eur", "description")


def _named(rows):
    return [dict(zip((*GENERIC_LABELS, "supplier_postcode", "supplier_city"), r, strict=True)) for r in rows]


def _read_as_the_cell_checks_do(rows, check_digits):
    """The rows of a file holding `rows`, each checked to be what the cell checks make of its cells."""
    from app.domain.spend_import import _Fixes, _generic_row

    result = parse(_generic_file(rows), check_digits)
    assert result.ok, messages(result)
    for row, cells in zip(result.rows, _named(rows), strict=True):
        expected, problems = _generic_row(row["row"], cells, check_digits.get, _Fixes())
        assert problems == []
        assert row == expected
        assert row["fingerprint"] == fingerprint(row)
    return result.rows


def test_the_vectorised_path_reads_rows_exactly_as_the_cell_checks_do(check_digits):
    rows = _read_as_the_cell_checks_do(MIXED_ROWS, check_digits)
    assert [r["row"] for r in rows] == [2, 3, 4, 5, 6]
    assert rows[0]["amount"] == Decimal("1250.50") and rows[0]["description"] == "Ramettes A4"
    assert rows[1]["amount"] == Decimal("12.50") and rows[1]["supplier_siret"] is None


PLAIN_ROWS = [
    # every amount shape the vectorised path reads, and names upper-cased for the fingerprint (no SIRET) where
    # Unicode's full case mapping differs from the simple one (ß, a ligature) or stays the same (accents)
    ("01/01/1990", "Straße Bau", "", "30192000", "0,07", "", "", ""),
    ("2200-12-31", "ﬁnances Conseil", "", "30192000-1", "000000000001.2", "é", "01000", "Bourg"),
    ("29/02/2024", "Société Générale", "", "09310000", "999999999999,99", "", "97400", ""),
    ("2024-02-29", "garage central", "", "09310000", "7", "x y", "", "Dijon"),
    ("10/10/2010", "Garage", "64285249500018", "09310000", "10.5", "", "", ""),
    ("10/10/2010", "Garage", "64285249500018", "09310000", "100", "", "", ""),
]


def test_the_vectorised_path_reads_every_plain_amount_and_name_as_the_cell_checks_do(check_digits):
    import pandas as pd

    from app.domain.spend_import import _settled_generic_rows

    settled, _ = _settled_generic_rows(pd.DataFrame(_named(PLAIN_ROWS)), check_digits)
    assert settled.tolist() == [True] * len(PLAIN_ROWS)  # all of them read by the vectorised path
    rows = _read_as_the_cell_checks_do(PLAIN_ROWS, check_digits)
    assert [str(r["amount"]) for r in rows] == ["0.07", "1.20", "999999999999.99", "7.00", "10.50", "100.00"]


def test_a_file_read_in_small_slices_gives_the_same_rows_errors_and_notes(check_digits):
    from app.domain.spend_import import frame_rows, stream_spend

    bad = ("32/01/2025", "X", "", "30192000", "-5", "", "", "")
    data = _generic_file(MIXED_ROWS * 3 + [bad])
    whole = parse(data, check_digits)
    stream = stream_spend(data, "depenses.csv", known_cpv=check_digits, chunk_rows=4)
    rows = [row for chunk in stream.chunks for row in frame_rows(chunk)]
    # Slices are handed out until the first error; from then on the file is only checked (the importer rolls
    # back what it wrote), so the slice holding the bad row is never handed out.
    assert [r["row"] for r in rows] == list(range(2, 14))
    assert [(m.row, m.column) for m in stream.errors] == [(m.row, m.column) for m in whole.errors]
    assert [(m.row, m.column) for m in stream.errors] == [(17, "spend_date"), (17, "amount_eur")]
    assert stream.rows_read == 16

    good = _generic_file(MIXED_ROWS * 3)
    stream = stream_spend(good, "depenses.csv", known_cpv=check_digits, chunk_rows=4)
    sliced = [row for chunk in stream.chunks for row in frame_rows(chunk)]
    assert sliced == parse(good, check_digits).rows
    assert [n.render() for n in stream.notes] == [n.render() for n in parse(good, check_digits).notes]


def test_a_large_file_streams_from_disk_without_a_row_limit(check_digits, tmp_path):
    from app.domain.spend_import import MAX_ROWS, stream_spend

    path = tmp_path / "depenses.csv"
    rows = [
        ("15/03/2025", "Papeterie des Ducs", "64285249500018", "30192000", f"{n},00", "", "", "")
        for n in range(1, MAX_ROWS + 2)
    ]
    path.write_bytes(_generic_file(rows))
    stream = stream_spend(path, path.name, known_cpv=check_digits, chunk_rows=20_000)
    sizes = [len(chunk) for chunk in stream.chunks]
    assert stream.errors == []
    assert sum(sizes) == MAX_ROWS + 1 and max(sizes) == 20_000


def test_every_whitespace_the_cell_checks_collapse_sends_a_row_to_them(check_digits):
    import re

    spaces = [chr(c) for c in range(0x3001) if re.match(r"\s", chr(c)) and chr(c) != " "]
    rows = [("15/03/2025", f"Papeterie{space}des Ducs", "", "30192000", "10", "", "", "") for space in spaces]
    result = parse(
        _generic_file(rows + [("15/03/2025", "Papeterie  des Ducs", "", "30192000", "10", "", "", "")]), check_digits
    )
    assert result.ok, messages(result)
    assert {row["supplier_name"] for row in result.rows} == {"Papeterie des Ducs"}


def test_ids_drawn_in_bulk_are_distinct_and_within_the_range_clients_read_exactly():
    from app.db import MAX_ID, random_ids

    ids = random_ids(20_000)
    assert len(ids) == len(set(ids)) == 20_000
    assert all(type(i) is int and 1 <= i <= MAX_ID for i in ids)
    assert random_ids(0) == []
    assert max(ids) > MAX_ID // 2  # drawn over the whole range, not from a small counter


def test_the_vectorised_path_takes_the_days_the_calendar_has_and_leaves_the_others_to_the_cell_checks(check_digits):
    import pandas as pd

    from app.domain.spend_import import _settled_generic_rows

    days = ["29/02/2024", "2000-02-29", "31/12/2200", "01/01/1990", "29/02/2023", "29/02/1900", "31/04/2025"]
    days += ["2024-02-30", "00/01/2020", "15/13/2024", "31/12/1989", "01/01/2201"]
    rows = [(day, "Papeterie", "", "30192000", "10", "", "", "") for day in days]
    settled, iso = _settled_generic_rows(pd.DataFrame(_named(rows)), check_digits)
    assert settled.tolist() == [True] * 4 + [False] * 8
    assert iso[settled].tolist() == ["2024-02-29", "2000-02-29", "2200-12-31", "1990-01-01"]
    result = parse(_generic_file(rows[:4]), check_digits)
    assert result.ok and [r["spend_date"].isoformat() for r in result.rows] == iso[settled].tolist()
    refused = parse(_generic_file(rows[4:]), check_digits)  # the others: refused by the cell checks, on their date
    assert sorted((m.row, m.column) for m in refused.errors) == [(row, "spend_date") for row in range(2, 10)]


def test_the_shapes_the_vectorised_path_checks_on_bytes_are_exactly_its_regular_expressions():
    import random
    import re

    import pyarrow as pa

    from app.domain import spend_import as si

    rng = random.Random(3)
    alphabet = "0123456789" * 3 + "/-.,: a\u00e9\u0661"  # digits, separators, a letter, an accent, an Arabic digit
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 16))) for _ in range(20_000)]
    # near misses of each shape: one character of a valid text changed
    valid = ["15/03/2025", "2025-03-15", "30192000", "30192000-1", "1250,50", "12.5", "7", "64285249500018", "21000"]
    for text in valid:
        for position in range(len(text)):
            for other in "0/-.,a\u0661":
                texts.append(text[:position] + other + text[position + 1 :])
        texts.extend([text + "0", text[1:], "0" + text, " " + text, text + "\n"])
    array = pa.array(texts)

    def expected(pattern):
        return [re.fullmatch(pattern, text, re.ASCII) is not None for text in texts]

    assert si._date_shapes(array)[0].tolist() == expected(si._FAST_DATE)
    assert si._cpv_shapes(array).tolist() == expected(si._FAST_CPV)
    assert si._siret_shapes(array)[0].tolist() == expected(r"\d{14}")
    assert si._postcode_shapes(array).tolist() == expected(si._FAST_POSTCODE)
    shaped = expected(si._FAST_AMOUNT)
    amounts = [fits and re.search("[1-9]", text) is not None for fits, text in zip(shaped, texts, strict=True)]
    assert si._amount_shapes(array).tolist() == amounts
    assert sum(amounts) > 1_000 and sum(expected(si._FAST_DATE)) > 10  # both sides of each check are exercised


def test_fingerprints_are_hashed_from_the_arrow_buffer_of_a_slice_or_of_several_chunks():
    import hashlib

    import pyarrow as pa

    from app.domain.spend_import import FINGERPRINT_BYTES, _digests

    def expected(*values):
        return b"".join(hashlib.sha256(value).digest()[:FINGERPRINT_BYTES] for value in values)

    values = pa.array([b"a", "été".encode(), b"", b"d"], pa.binary())
    assert _digests(values) == expected(b"a", "été".encode(), b"", b"d")
    assert _digests(values.slice(1, 2)) == expected("été".encode(), b"")  # a view starting inside the buffer
    assert _digests(pa.chunked_array([values.slice(3), values.slice(0, 1)])) == expected(b"d", b"a")
    assert _digests(pa.array([], pa.binary())) == b""
