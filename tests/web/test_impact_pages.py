"""The climate portfolio page, its printable report, and the impact block of the group and call pages (French)."""

import re
from decimal import Decimal
from html import unescape

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from tests import factories
from tests.api.test_impact_api import energy, groups, spend  # noqa: F401 - the same world of groups and past spend
from tests.conftest import login

NBSP = "\u00a0"
NNBSP = "\u202f"


def _text(html: str) -> str:
    """The page's visible text, spaces normalised (French number formats use no-break spaces)."""
    text = unescape(re.sub(r"<[^>]+>", " ", html)).replace(NBSP, " ").replace(NNBSP, " ")
    return re.sub(r"\s+", " ", text)


def _tonnes(html: str, element_id: str) -> Decimal:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</', html, re.S)
    assert match, element_id
    figure = re.match(r"[\d\s]+,\d", _text(match.group(1)).strip())
    assert figure, match.group(1)
    return Decimal(re.sub(r"\s", "", figure.group(0)).replace(",", "."))


def test_the_portfolio_page_lists_the_groups_and_totals_that_are_their_sum(client, groups):  # noqa: F811
    elec, gas = groups
    assert login(client, "coord@x.fr").status_code == 302
    page = client.get("/impact/portfolio")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    text = _text(html)
    assert "Portefeuille climat" in text
    rows = re.findall(r'<tr data-group="(\d+)">(.*?)</tr>', html, re.S)
    assert {int(g) for g, _row in rows} == {elec.id, gas.id}
    tonnes = []
    for _group, row in rows:
        cell = re.findall(r'<td class="text-end text-nowrap">(.*?)</td>', row, re.S)[-1]
        tonnes.append(Decimal(_text(cell).split()[0].replace(",", ".")))
    assert sorted(tonnes) == [Decimal("161.2"), Decimal("544.8")]
    assert _tonnes(html, "portfolio-tco2e") == sum(tonnes) == Decimal("706.0")
    assert "en constitution" in text  # the forming group's stage
    assert "Base Carbone" in text and "Darois" in text
    assert 'href="/impact/portfolio/report' in html


def test_the_printable_report_renders_in_french_with_sources_and_caveats(client, groups):  # noqa: F811
    assert login(client, "coord@x.fr").status_code == 302
    page = client.get("/impact/portfolio/report?year=2025")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    text = _text(html)
    assert "css/impact.css" in html  # its print stylesheet
    assert "Impact climatique et local des achats mutualisés" in text
    assert "Rapport pour le conseil métropolitain" in text
    assert "706,0" in text and "hors TVA" in text
    assert "Electricité - 2022 - mix moyen - consommation" in text
    assert "Licence Ouverte" in text and "Base Adresse Nationale" in text
    assert "Précautions" in text and "Darois" in text
    assert "data-print" in html and "js/print-button.js" in html


def test_the_report_stylesheet_hides_the_navigation_when_printed(client):
    response = client.get("/static/css/impact.css")
    css = response.get_data(as_text=True)
    response.close()
    assert "@media print" in css and "nav.navbar" in css and "display: none" in css


def test_an_unreadable_year_is_refused_with_a_message(client, groups):  # noqa: F811
    assert login(client, "coord@x.fr").status_code == 302
    response = client.get("/impact/portfolio?year=19x5")
    assert response.status_code == 302 and response.headers["Location"].endswith("/impact/portfolio")
    assert "année" in _text(client.get(response.headers["Location"]).get_data(as_text=True))


def test_the_group_page_shows_its_impact_with_help_text(client, groups, db):  # noqa: F811
    elec, _gas = groups
    assert login(client, "coord@x.fr").status_code == 302
    html = client.get(f"/groups/{elec.id}").get_data(as_text=True)
    text = _text(html)
    assert "Impact climatique et local" in text
    assert _tonnes(html, "impact-tco2e") == Decimal("161.2")
    assert "Ce que ces chiffres sont, et ne sont pas" in text
    assert "50,0 %" in text  # local share of the members' past spend


def test_the_public_call_page_shows_the_carbon_but_not_the_members_spend(client, groups, db):  # noqa: F811
    elec, _gas = groups
    coordinator = db.session.scalar(sa.select(User).where(User.email == "coord@x.fr"))
    call = factories.call(coordinator, elec, publish=True)
    db.session.commit()
    html = client.get(f"/calls/{call.id}").get_data(as_text=True)
    assert _tonnes(html, "impact-tco2e") == Decimal("161.2")
    assert 'id="impact-local"' not in html


@pytest.mark.parametrize("email", ["supplier@x.fr"])
def test_suppliers_do_not_get_the_portfolio(client, groups, email):  # noqa: F811
    assert login(client, email).status_code == 302
    assert client.get("/impact/portfolio").status_code == 403


def test_the_overlap_map_shows_each_overlaps_impact_in_one_line(client, energy):  # noqa: F811
    assert login(client, "coord@x.fr").status_code == 302
    html = client.get("/overlaps?level=class&from=2027-01-01").get_data(as_text=True)
    block = re.search(r'data-prefix="0931".*?</tbody>', html, re.S).group(0)
    line = _text(re.search(r'class="small text-muted impact-line">(.*?)</div>', block, re.S).group(1))
    assert "156,0 tCO 2 e par an (140,4 à 171,6)" in line
    assert "part locale 30,0 %" in line and "économies de 9 000 € à 36 000 € par an" in line
    assert "Ce que ces chiffres sont, et ne sont pas" in _text(html)


def test_the_group_and_call_pages_remember_their_impact_until_a_group_need_changes(
    client,
    groups,  # noqa: F811
    db,
    query_counter,
):
    """The impact of the group and call pages is remembered (fewer statements the second time) and a member's
    adjusted quantity (a write to group_need, the `groups` topic) is in the next page of both."""
    from app.groups.models import GroupNeed

    elec, _gas = groups
    coordinator = db.session.scalar(sa.select(User).where(User.email == "coord@x.fr"))
    call = factories.call(coordinator, elec, publish=True)
    db.session.commit()
    assert login(client, "coord@x.fr").status_code == 302
    pages = (f"/groups/{elec.id}", f"/calls/{call.id}")
    for page in pages:
        with query_counter() as computed:
            assert _tonnes(client.get(page).get_data(as_text=True), "impact-tco2e") == Decimal("161.2")
        with query_counter(remembered=True) as remembered:
            assert _tonnes(client.get(page).get_data(as_text=True), "impact-tco2e") == Decimal("161.2")
        assert remembered.value < computed.value, page
    brought = db.session.scalar(
        sa.select(GroupNeed).where(GroupNeed.group_id == elec.id, GroupNeed.quantity == Decimal(100))
    )
    brought.quantity = Decimal(1100)  # MWh: 4.1 GWh × 0.052
    db.session.commit()
    for page in pages:
        assert _tonnes(client.get(page).get_data(as_text=True), "impact-tco2e") == Decimal("213.2"), page
