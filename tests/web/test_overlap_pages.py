"""The overlap map page and its CSV / XLSX exports: who sees what, exact figures, query handling, exports."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import date, datetime
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from app.clock import paris_today
from app.needs.models import Need
from app.overlaps.views import OVERLAPS_PER_PAGE
from tests import factories
from tests.conftest import english, login

# The window used by most tests: the thresholds in force on 1 January 2026 are 40,000 € (no publicity or
# competition) and 216,000 € (European threshold, supplies and services of non-central buyers).
JAN_2026 = "from=2026-01-01"
JAN_2027 = "from=2027-01-01"


@pytest.fixture
def world(db):
    chu = factories.organization("CHU", name="CHU Dijon Bourgogne")
    ub = factories.organization("UB", name="Université de Bourgogne")
    gdh = factories.organization("GDH", name="Grand Dijon Habitat")
    people = SimpleNamespace(
        chu=chu,
        ub=ub,
        gdh=gdh,
        chu_buyer=factories.user("buyer", email="anne@chu.example.fr", organization_=chu),
        coordinator=factories.user("coordinator", email="coord@dm.example.fr"),
        admin=factories.user("admin", email="admin@example.fr"),
        supplier=factories.user("supplier", email="sales@clean.example.fr"),
    )
    db.session.commit()
    return people


def make_need(organization, cpv: str, annual: str, start: date, months: int = 12, **kw) -> Need:
    """The overlap tables below in short: organization, CPV code, euros HT a year, start, months."""
    return factories.need(organization, cpv=cpv, annual=annual, start=start, months=months, postcode=None, **kw)


def catering(world) -> tuple[Need, Need]:
    """CHU 100,000 €/year for 36 months + UB 50,000 €/year for 12 months, both catering (CPV class 5552)."""
    chu = make_need(world.chu, "55520000", "100000", date(2026, 2, 1), 36, title="Restauration CHU")
    ub = make_need(world.ub, "55523100", "50000", date(2026, 3, 1), 12, title="Restauration UB")
    return chu, ub


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True)).replace("\u202f", " ").replace("\xa0", " ")


def overlap_block(page: str, prefix: str) -> str:
    """The rows of one overlap in the list (its main row and its needs)."""
    start = page.index(f'id="overlap-{prefix}"')
    end = page.find('<tbody class="overlap', start + 1)
    return page[start : end if end != -1 else page.index('id="heatmap"')]


def section(page: str, name: str) -> str:
    start = page.index(f'<section id="{name}"')
    return page[start : page.index("</section>", start)]


def shown_prefixes(page: str) -> list[str]:
    return re.findall(r'<tbody class="overlap[^"]*" id="overlap-(\d+)"', page)


def csv_rows(response) -> list[dict]:
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))


# --- who may see the map ---------------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_login_page(client, world):
    for url in ("/overlaps", "/overlaps/export.csv", "/overlaps/export.xlsx"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert "/login" in response.headers["Location"]


def test_suppliers_may_not_see_the_map_nor_export_it(client, world):
    login(client, "sales@clean.example.fr")
    for url in ("/overlaps", "/overlaps/export.csv", "/overlaps/export.xlsx"):
        assert client.get(url).status_code == 403, url


@pytest.mark.parametrize("email", ["coord@dm.example.fr", "admin@example.fr", "anne@chu.example.fr"])
def test_coordinators_admins_and_buyers_open_the_map(client, db, world, email):
    catering(world)
    db.session.commit()
    login(client, email)
    response = client.get(f"/overlaps?{JAN_2026}")
    assert response.status_code == 200
    assert shown_prefixes(text_of(response)) == ["5552"]


def test_a_buyer_sees_only_the_overlaps_of_its_organization_on_the_page_and_in_the_exports(
    client, new_client, db, world
):
    catering(world)  # CHU + UB
    make_need(world.ub, "09310000", "90000", date(2026, 2, 1), title="Électricité UB")
    make_need(world.gdh, "09310000", "80000", date(2026, 4, 1), title="Électricité GDH")  # UB + GDH, not CHU
    db.session.commit()

    english(client, "coord@dm.example.fr")
    assert sorted(shown_prefixes(text_of(client.get(f"/overlaps?{JAN_2026}")))) == ["0931", "5552"]

    buyer = new_client()
    english(buyer, "anne@chu.example.fr")
    page = text_of(buyer.get(f"/overlaps?{JAN_2026}"))
    assert shown_prefixes(page) == ["5552"]
    assert "Électricité" not in page and "0931" not in section(page, "heatmap")
    assert [row["CPV prefix"] for row in csv_rows(buyer.get(f"/overlaps/export.csv?{JAN_2026}"))] == ["5552"]
    workbook = load_workbook(io.BytesIO(buyer.get(f"/overlaps/export.xlsx?{JAN_2026}").get_data()))
    overlaps, needs = workbook.worksheets
    assert [row[0] for row in overlaps.iter_rows(min_row=2, values_only=True)] == ["5552"]
    assert {row[3] for row in needs.iter_rows(min_row=2, values_only=True)} == {"Restauration CHU", "Restauration UB"}


def test_a_buyer_gets_links_only_to_its_own_organizations_needs(client, db, world):
    chu_need, ub_need = catering(world)
    db.session.commit()
    english(client, "anne@chu.example.fr")
    page = text_of(client.get(f"/overlaps?{JAN_2026}"))
    assert f'href="/needs/{chu_need.id}"' in page
    assert f'href="/needs/{ub_need.id}"' not in page and "Restauration UB" in page
    links = heatmap_links(page)
    assert ("CHU", "5552") in links and not any(org == "UB" for org, _ in links)


# --- what the list shows -----------------------------------------------------------------------------------------


def test_the_list_shows_exact_combined_amounts_and_procedures(client, db, world):
    chu_need, ub_need = catering(world)
    db.session.commit()
    english(client, "coord@dm.example.fr")
    page = text_of(client.get(f"/overlaps?{JAN_2026}"))

    row = overlap_block(page, "5552")
    assert "Catering services" in row
    assert re.findall(r'<span class="badge org-badge">(\w+)</span>', row) == ["CHU", "UB"]
    assert '<td class="amount">€150,000.00</td>' in row  # yearly: 100,000 + 50,000
    assert '<td class="amount fw-semibold">€350,000.00</td>' in row  # total: 300,000 + 50,000
    assert re.search(r'data-procedure="formal"\s+title="Formal procedure \(European threshold\)"', row)
    assert 'title="CHU: Formal procedure (European threshold) — €300,000.00"' in row
    assert 'title="UB: Adapted procedure (MAPA) — €50,000.00"' in row
    assert "formal only together" in row
    # the detail: each need with its link, amounts and dates
    assert f'<a href="/needs/{chu_need.id}">Restauration CHU</a>' in row
    assert f'<a href="/needs/{ub_need.id}">Restauration UB</a>' in row
    assert "€300,000.00" in row and "36 months" in row and "Feb 1, 2026" in row
    assert "<details>" in row and "2 needs" in row

    summary = page[page.index('aria-label="Summary"') :]
    assert re.search(r'data-summary="count">1<', summary)
    assert re.search(r'data-summary="total">€350,000<', summary)
    assert re.search(r'data-summary="pooling">1<', summary)


def test_the_list_is_sorted_by_total_by_default_and_by_other_columns_on_request(client, db, world):
    catering(world)  # 5552: total 350,000, yearly 150,000, two organizations
    make_need(world.chu, "09310000", "150000", date(2026, 2, 1), 12)  # 0931: total 230,000, yearly 230,000,
    make_need(world.ub, "09310000", "50000", date(2026, 2, 1), 12)
    make_need(world.gdh, "09310000", "30000", date(2026, 2, 1), 12)  # ... three organizations
    db.session.commit()
    english(client, "coord@dm.example.fr")

    def order(query: str) -> list[str]:
        return shown_prefixes(text_of(client.get(f"/overlaps?{JAN_2026}&{query}")))

    assert order("") == ["5552", "0931"]
    assert order("sort=total&dir=asc") == ["0931", "5552"]
    assert order("sort=annual") == ["0931", "5552"]
    assert order("sort=organizations") == ["0931", "5552"]
    assert order("sort=prefix") == ["0931", "5552"]
    assert order("sort=prefix&dir=desc") == ["5552", "0931"]
    assert order("sort=nonsense&dir=sideways") == ["5552", "0931"]
    page = text_of(client.get(f"/overlaps?{JAN_2026}"))
    assert 'aria-sort="descending"' in page
    assert "sort=total&dir=asc" in page  # clicking the current column flips it


def test_the_level_changes_how_needs_are_grouped(client, db, world):
    catering(world)  # 55520000 and 55523100: the same class 5552, different categories 55520 / 55523
    make_need(world.chu, "09310000", "10000", date(2026, 2, 1))  # electricity and gas: division 09 only
    make_need(world.ub, "09123000", "10000", date(2026, 2, 1))
    db.session.commit()
    english(client, "coord@dm.example.fr")
    assert shown_prefixes(text_of(client.get(f"/overlaps?{JAN_2026}&level=class"))) == ["5552"]
    assert sorted(shown_prefixes(text_of(client.get(f"/overlaps?{JAN_2026}&level=division")))) == ["09", "55"]
    page = text_of(client.get(f"/overlaps?{JAN_2026}&level=category"))
    assert shown_prefixes(page) == [] and "No overlap in this window" in page


def test_the_window_leaves_out_a_need_starting_after_it(client, db, world):
    make_need(world.chu, "55520000", "100000", date(2027, 3, 1))
    make_need(world.ub, "55520000", "50000", date(2027, 9, 1))
    db.session.commit()
    english(client, "coord@dm.example.fr")
    assert shown_prefixes(text_of(client.get(f"/overlaps?{JAN_2027}&window_months=12"))) == ["5552"]
    page = text_of(client.get(f"/overlaps?{JAN_2027}&window_months=6"))
    assert shown_prefixes(page) == []
    assert "between January 1, 2027 and June 30, 2027" in page


def test_the_default_query_is_class_level_twelve_months_from_today(client, db, world):
    english(client, "coord@dm.example.fr")
    page = text_of(client.get("/overlaps"))
    assert '<option selected value="class">' in page
    assert 'name="window_months" type="number" value="12"' in page
    assert re.search(r'name="from" type="date" value="\d{4}-\d{2}-\d{2}"', page)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("level=family", "The level is division, group, class or category."),
        ("window_months=abc", "The window is a whole number of months from 1 to 60."),
        ("window_months=0", "The window is a whole number of months from 1 to 60."),
        ("from=2027-13-45", "Enter the date as YYYY-MM-DD, for example 2027-01-31."),
        ("from=2023-06-01", "No procedure thresholds are known before Jan 1, 2024: choose a later date."),
    ],
)
def test_an_invalid_query_is_explained_on_the_form(client, db, world, query, message):
    catering(world)
    db.session.commit()
    english(client, "coord@dm.example.fr")
    response = client.get(f"/overlaps?{query}")
    assert response.status_code == 200
    page = text_of(response)
    assert f'<div class="invalid-feedback">{message}</div>' in page
    assert "The query is not valid" in page and shown_prefixes(page) == []
    export = client.get(f"/overlaps/export.csv?{query}")
    assert export.status_code == 400 and message in text_of(export)


def test_an_unknown_export_format_is_not_found(client, world):
    login(client, "coord@dm.example.fr")
    assert client.get("/overlaps/export.pdf").status_code == 404


# --- heatmap, splitting warnings, rules ------------------------------------------------------------------------


def heatmap_links(page: str) -> set[tuple[str, str]]:
    links = set()
    for href in re.findall(r'href="([^"]+)"', section(page, "heatmap")):
        parts = urlsplit(href)
        assert parts.path == "/needs"
        args = parse_qs(parts.query)
        links.add((args["organization"][0], args["cpv"][0]))
    return links


def test_heatmap_cells_link_to_the_filtered_needs_list(client, db, world):
    catering(world)  # 5552: 150,000 a year
    make_need(world.chu, "09123000", "20000", date(2026, 2, 1))  # 0912: 160,000 a year, UB alone the largest
    make_need(world.ub, "09123000", "140000", date(2026, 2, 1))
    make_need(world.chu, "09310000", "10000", date(2026, 2, 1))  # CHU alone in 0931: not an overlap column
    db.session.commit()
    english(client, "coord@dm.example.fr")
    page = text_of(client.get(f"/overlaps?{JAN_2026}"))
    heatmap = section(page, "heatmap")
    assert heatmap_links(page) == {("CHU", "5552"), ("UB", "5552"), ("CHU", "0912"), ("UB", "0912")}
    assert re.findall(r'<th scope="col" class="heat-head" title="(\d+) ', heatmap) == ["0912", "5552"]  # by total
    assert "0931" not in heatmap
    assert 'title="CHU · 5552 Catering services: €100,000.00 per year"' in heatmap
    # intensity proportional to the amount: 140,000 is the largest cell (5), 100,000 -> 4, 50,000 -> 2, 20,000 -> 1
    levels = re.findall(r'<td class="heat heat-(\d)">', heatmap)
    assert sorted(levels) == ["1", "2", "4", "5"]


def test_the_page_follows_the_french_number_format_by_default(client, db, world):
    catering(world)
    db.session.commit()
    login(client, "coord@dm.example.fr")
    row = overlap_block(text_of(client.get(f"/overlaps?{JAN_2026}")), "5552")
    assert '<td class="amount fw-semibold">350 000,00 €</td>' in row


def test_splitting_warnings_are_shown_to_coordinators_and_to_the_buyers_concerned(client, new_client, db, world):
    catering(world)
    split = [make_need(world.chu, "30192000", "80000", date(2027, m, 1), title=f"Fournitures {m}") for m in (1, 5, 9)]
    db.session.commit()
    english(client, "coord@dm.example.fr")
    page = text_of(client.get(f"/overlaps?{JAN_2026}"))
    warnings = section(page, "splitting")
    assert (
        "3 needs of CPV class 3019 starting in 2027 each stay below the 216,000.00 € European threshold but "
        "together reach 240,000.00 €: they must be estimated together, which may require a formal procedure."
    ) in warnings
    assert "€240,000.00" in warnings and "€216,000.00" in warnings
    assert "Various office equipment and supplies" in warnings
    for need in split:
        assert f'<a href="/needs/{need.id}">{need.title}</a>' in warnings

    other = new_client()
    factories.user("buyer", email="paul@ub.example.fr", organization_=world.ub)
    db.session.commit()
    english(other, "paul@ub.example.fr")
    assert "No splitting warning." in section(text_of(other.get(f"/overlaps?{JAN_2026}")), "splitting")
    mine = new_client()
    english(mine, "anne@chu.example.fr")
    assert "3 needs of CPV class 3019" in section(text_of(mine.get(f"/overlaps?{JAN_2026}")), "splitting")


def test_the_rules_in_force_on_the_window_start_are_explained(client, db, world):
    english(client, "coord@dm.example.fr")
    rules = section(text_of(client.get(f"/overlaps?{JAN_2026}")), "rules")
    assert "over the whole duration of the contract" in rules and "January 1, 2026" in rules
    assert "€40,000" in rules and "€216,000" in rules and "€140,000" in rules and "€5,404,000" in rules
    later = section(text_of(client.get(f"/overlaps?{JAN_2027}")), "rules")
    assert "€60,000" in later and "€40,000" not in later and "April 1, 2026" in later


def test_coordinators_form_a_group_from_an_overlap_with_its_needs_prefilled(client, db, world):
    catering(world)
    db.session.commit()
    english(client, "coord@dm.example.fr")
    page = client.get(f"/overlaps?{JAN_2026}").get_data(as_text=True)
    link = re.search(r'href="(/groups/new\?[^"]+)"[^>]*>\s*Form a group from this overlap', page)
    assert link, "no 'form a group' action on the overlap"
    form = client.get(html.unescape(link.group(1))).get_data(as_text=True)
    for need_id in db.session.scalars(sa.select(Need.id).where(Need.status == "submitted")):
        assert re.search(rf'value="{need_id}"[^>]*checked|checked[^>]*value="{need_id}"', form), need_id


def test_buyers_get_no_form_a_group_action(client, db, world):
    catering(world)
    db.session.commit()
    english(client, "anne@chu.example.fr")
    assert "Form a group" not in client.get(f"/overlaps?{JAN_2026}").get_data(as_text=True)


# --- exports -----------------------------------------------------------------------------------------------------


def test_csv_export_in_french_uses_semicolons_decimal_commas_and_a_bom(client, db, world):
    catering(world)
    db.session.commit()
    login(client, "coord@dm.example.fr")
    response = client.get(f"/overlaps/export.csv?{JAN_2026}&level=class")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="mutualis-overlaps-class-2026-01-01.csv"'
    raw = response.get_data().decode("utf-8-sig")
    header = raw.splitlines()[0].split(";")
    assert len(header) == 11
    assert header[6:8] == ["Montant cumulé par an HT (€)", "Valeur estimée cumulée, total HT (€)"]
    [row] = list(csv.reader(io.StringIO(raw), delimiter=";"))[1:]
    assert row[0] == "5552" and row[1] == "class" and row[3] == "CHU, UB" and row[4] == "2"
    assert row[6:8] == ["150000,00", "350000,00"]
    assert row[8] == "formal"
    assert row[10] == "CHU: formal; UB: adapted"


def test_csv_export_in_english_uses_a_decimal_point_and_english_headers(client, db, world):
    chu_need, ub_need = catering(world)
    db.session.commit()
    english(client, "coord@dm.example.fr")
    [row] = csv_rows(client.get(f"/overlaps/export.csv?{JAN_2026}"))
    assert row == {
        "CPV prefix": "5552",
        "Level": "class",
        "Label": "Catering services",
        "Organizations": "CHU, UB",
        "Number of needs": "2",
        "Need ids": ", ".join(str(n) for n in sorted([chu_need.id, ub_need.id])),
        "Combined yearly amount (€ excl. VAT)": "150000.00",
        "Combined total amount (€ excl. VAT)": "350000.00",
        "Procedure together (code)": "formal",
        "Procedure together": "Formal procedure (European threshold)",
        "Procedure alone per organization": "CHU: formal; UB: adapted",
    }


def test_xlsx_export_has_numeric_euro_cells_and_a_sheet_of_needs(client, db, world):
    chu_need, ub_need = catering(world)
    db.session.commit()
    english(client, "coord@dm.example.fr")
    response = client.get(f"/overlaps/export.xlsx?{JAN_2026}&level=class")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="mutualis-overlaps-class-2026-01-01.xlsx"'
    workbook = load_workbook(io.BytesIO(response.get_data()))
    overlaps, needs = workbook.worksheets
    assert [c.value for c in overlaps[1]][:4] == ["CPV prefix", "Level", "Label", "Organizations"]
    row = overlaps[2]
    assert row[4].value == 2
    assert row[6].value == 150000 and row[7].value == 350000
    assert isinstance(row[7].value, int | float) and "€" in row[7].number_format
    assert row[10].value == "CHU: formal; UB: adapted"
    need_rows = list(needs.iter_rows(min_row=2, values_only=True))
    assert need_rows == [
        ("5552", chu_need.id, "CHU", "Restauration CHU", 100000, 300000, datetime(2026, 2, 1)),
        ("5552", ub_need.id, "UB", "Restauration UB", 50000, 50000, datetime(2026, 3, 1)),
    ]
    assert "€" in needs.cell(row=2, column=5).number_format


def test_exports_neutralise_formulas_in_text_cells(client, db, world):
    hostile = factories.organization("@DSI", name="Direction des systèmes d'information")
    make_need(world.chu, "55520000", "100000", date(2026, 2, 1), title='=HYPERLINK("http://evil.example","click")')
    make_need(hostile, "55520000", "50000", date(2026, 2, 1), title="+33 plateaux repas")
    db.session.commit()
    english(client, "coord@dm.example.fr")

    [row] = csv_rows(client.get(f"/overlaps/export.csv?{JAN_2026}"))
    assert row["Organizations"] == "'@DSI, CHU"
    assert row["Procedure alone per organization"].startswith("'@DSI: ")

    workbook = load_workbook(io.BytesIO(client.get(f"/overlaps/export.xlsx?{JAN_2026}").get_data()))
    overlaps, needs = workbook.worksheets
    assert overlaps.cell(row=2, column=4).value == "'@DSI, CHU"
    titles = {row[3] for row in needs.iter_rows(min_row=2, values_only=True)}
    assert titles == {'\'=HYPERLINK("http://evil.example","click")', "'+33 plateaux repas"}
    assert all(cell.data_type != "f" for sheet in workbook.worksheets for line in sheet.iter_rows() for cell in line)


# --- home panel and performance ---------------------------------------------------------------------------------


def test_the_coordinators_home_page_counts_the_current_overlaps(client, db, world):
    today = paris_today()
    make_need(world.chu, "55520000", "100000", today)
    make_need(world.ub, "55520000", "50000", today)
    db.session.commit()
    english(client, "coord@dm.example.fr")
    page = text_of(client.get("/"))
    assert 'data-overlap-count="1"' in page
    assert "1 CPV class is shared by several organizations in the next 12 months" in page
    assert 'href="/overlaps"' in page


def test_the_map_query_count_does_not_grow_with_the_number_of_needs(client, db, world, query_counter):
    codes = ["55520000", "09310000", "30192000", "90911200", "72500000"]
    organizations = [world.chu, world.ub, world.gdh]

    def add(count: int, offset: int) -> None:
        for n in range(offset, offset + count):
            make_need(
                organizations[n % 3],
                codes[n % 5],
                str(20000 + 1000 * n),
                date(2026, 1 + n % 12, 1),
                12 + n % 36,
                title=f"Need {n}",
            )
        db.session.commit()

    add(10, 0)
    english(client, "coord@dm.example.fr")
    client.get(f"/overlaps?{JAN_2026}")  # warm-up

    def queries() -> tuple[int, int, int]:
        """Statements of the map computed afresh, then of the map remembered, and the needs linked."""
        counts = []
        for remembered in (False, True):
            with query_counter(remembered=remembered) as count:
                response = client.get(f"/overlaps?{JAN_2026}")
            assert response.status_code == 200
            counts.append(count.value)
        return *counts, text_of(response).count("/needs/")

    few, few_remembered, links_few = queries()
    add(50, 10)
    many, many_remembered, links_many = queries()
    assert links_many > links_few > 0
    assert (many, many_remembered) == (few, few_remembered)
    # plus 5 for the impact of the overlaps shown: the emission mapping, the needs' quantities, and the members' past
    # spend summed per organization (the organizations' codes, their cells' sums, the supplier registry's locations);
    # and 1 for the CPV divisions of the needs (the overlaps are remembered per division)
    assert few_remembered < few <= 13, few


def _spread_codes(db, count: int) -> list[str]:
    from app.reference.models import CpvCode

    every = db.session.scalars(sa.select(CpvCode.code).order_by(CpvCode.code)).all()
    return every[:: len(every) // count][:count]  # spread over the whole CPV: distinct categories


WIDE = "level=category&window_months=60&from=2027-01-01"


def test_the_map_and_home_read_aggregates_a_page_at_a_time_at_10_and_1000_needs(client, db, world, query_counter):
    codes = _spread_codes(db, 250)  # not a multiple of 3: each code gets needs of several organizations
    organizations = [world.chu, world.ub, world.gdh]
    factories.bulk_needs(organizations, 10, cpvs=codes[:4])
    db.session.commit()
    english(client, "coord@dm.example.fr")
    client.get(f"/overlaps?{WIDE}")  # warm-up

    def counted(path: str) -> tuple[int, str]:
        with query_counter() as count:
            response = client.get(path)
        assert response.status_code == 200
        return count.value, text_of(response)

    few, page = counted(f"/overlaps?{WIDE}")
    home_few, _ = counted("/")
    assert 'aria-label="Pages of overlaps"' not in page
    factories.bulk_needs(organizations, 990, cpvs=codes)
    db.session.commit()
    many, page = counted(f"/overlaps?{WIDE}")
    home_many, home = counted("/")
    assert (many, home_many) == (few, home_few)
    rows = re.findall(r'id="overlap-(\d+)"', page)
    assert len(rows) == OVERLAPS_PER_PAGE
    total = int(re.search(r'data-summary="count">([\d,]+)<', page).group(1).replace(",", ""))
    assert total > OVERLAPS_PER_PAGE and f"Overlaps 1–{OVERLAPS_PER_PAGE} of {total}" in page
    assert 'aria-label="Pages of overlaps"' in page and 'aria-current="page"><span class="page-link">1<' in page
    _, second = counted(f"/overlaps?{WIDE}&page=2")
    assert not set(rows) & set(re.findall(r'id="overlap-(\d+)"', second))
    assert f"Overlaps {OVERLAPS_PER_PAGE + 1}–" in second and "per year" in second


def test_the_page_offers_a_generic_code_as_a_possible_overlap(client, db, world):
    make_need(world.chu, "30000000", "10000", date(2026, 2, 1), title="Fournitures diverses")
    make_need(world.ub, "30192000", "4000", date(2026, 3, 1), 24, title="Fournitures de bureau")
    db.session.commit()
    english(client, "coord@dm.example.fr")
    text = text_of(client.get(f"/overlaps?{JAN_2026}&level=class"))
    row = text.split('class="possible-overlap" data-prefix="3019"')[1].split("</tr>")[0]
    # 10 000 + 4 000 a year; 10 000 + 4 000 × 24/12 in total
    assert "30000000" in row and "possible" in row and "CHU, UB" in row
    assert "€14,000.00" in row and "€18,000.00" in row
