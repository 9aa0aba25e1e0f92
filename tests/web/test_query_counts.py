"""Every main page and API list sends as many SQL statements with 1,000 rows as with 10: lists are paginated, the
maps read aggregates, and what each row shows is loaded with the rows (no statement per row)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests import factories
from tests.conftest import api_token, english

GROUP_CPV = "09310000"


@pytest.fixture
def world(db, clock):
    clock.move_to(factories.CALLS_NOW)
    orgs = [factories.organization(code) for code in ("DM", "CHU", "UB")]
    people = SimpleNamespace(
        orgs=orgs,
        coordinator=factories.user("coordinator", email="coord@x.fr", organization_=orgs[0]),
        buyer=factories.user("buyer", email="chu@x.fr", organization_=orgs[1]),
        admin=factories.user("admin", email="admin@x.fr"),
        supplier=factories.user("supplier", email="sup@x.fr", supplier=factories.supplier_company(trades=(GROUP_CPV,))),
        group_id=None,
        call_id=None,
    )
    db.session.commit()
    return people


def grow(db, world, count: int) -> None:
    """`count` more of every kind of row the pages list: needs, groups (with members, needs and lots), calls,
    suppliers with their users, spend cells."""
    factories.bulk_needs(world.orgs, count, cpvs=(GROUP_CPV, "90911200", "55520000", "30192000"))
    groups = factories.bulk_groups(world.orgs, count, cpv=GROUP_CPV)
    calls = factories.bulk_calls(groups, count, cpv=GROUP_CPV)
    factories.bulk_suppliers(count, trades=(GROUP_CPV,))
    factories.bulk_spend_cells(world.orgs, count)
    db.session.commit()
    world.group_id = world.group_id or groups[0]
    world.call_id = world.call_id or calls[0]


PAGES = [
    ("coord@x.fr", "/"),
    ("chu@x.fr", "/"),
    ("admin@x.fr", "/"),
    ("sup@x.fr", "/"),
    ("coord@x.fr", "/needs"),
    ("chu@x.fr", "/needs"),
    ("coord@x.fr", "/overlaps?level=class&window_months=60&from=2027-01-01"),
    ("coord@x.fr", "/spend?level=category"),
    ("coord@x.fr", "/spend/impact?level=category"),
    ("coord@x.fr", "/groups/{group}"),
    ("coord@x.fr", "/groups"),
    ("chu@x.fr", "/groups"),
    ("coord@x.fr", "/calls/{call}"),
    ("coord@x.fr", "/calls"),
    ("sup@x.fr", "/calls"),
    ("coord@x.fr", "/admin/suppliers"),
    ("admin@x.fr", "/admin/users"),
]

API_LISTS = [
    ("coord@x.fr", "/api/v1/needs"),
    ("chu@x.fr", "/api/v1/needs"),
    ("coord@x.fr", "/api/v1/groups"),
    ("coord@x.fr", "/api/v1/calls"),
    ("sup@x.fr", "/api/v1/calls"),
    ("coord@x.fr", "/api/v1/overlaps?level=class&window_months=60&from=2027-01-01"),
    ("coord@x.fr", "/api/v1/spend/cube?level=category"),
    ("coord@x.fr", "/api/v1/spend/pooling?level=category"),
    ("coord@x.fr", "/api/v1/spend/local-share"),
    ("coord@x.fr", "/api/v1/spend/carbon"),
]


def _counted(client, query_counter, path: str, headers=None) -> tuple[int, str]:
    with query_counter() as count:
        response = client.get(path, headers=headers or {})
    assert response.status_code == 200, (path, response.status_code)
    return count.value, response.get_data(as_text=True)


@pytest.mark.parametrize("email,path", PAGES)
def test_a_page_sends_as_many_statements_at_1000_rows_as_at_10(client, db, world, query_counter, email, path):
    grow(db, world, 10)
    english(client, email)
    url = path.format(group=world.group_id, call=world.call_id)
    client.get(url)  # warm-up (translations, first-use caches)
    few, _ = _counted(client, query_counter, url)
    grow(db, world, 990)
    many, body = _counted(client, query_counter, url)
    assert many == few, f"{url} as {email}: {few} statements at 10 rows, {many} at 1,000"
    assert len(body) < 400_000, len(body)  # a page of rows, not every row (up to 2 MB before)


@pytest.mark.parametrize("email,path", API_LISTS)
def test_an_api_list_sends_as_many_statements_at_1000_rows_as_at_10(client, db, world, query_counter, email, path):
    grow(db, world, 10)
    headers = api_token(client, email)
    few, _ = _counted(client, query_counter, path, headers)
    grow(db, world, 990)
    many, _ = _counted(client, query_counter, path, headers)
    assert many == few, f"{path} as {email}: {few} statements at 10 rows, {many} at 1,000"


@pytest.mark.parametrize("path", ["/needs", "/groups", "/calls", "/overlaps", "/admin/suppliers"])
def test_a_page_number_out_of_range_is_no_error(client, world, path):
    english(client, "coord@x.fr")
    for page in ("0", "-3", "x", "99999999999999999999999"):
        assert client.get(f"{path}?page={page}").status_code == 200, (path, page)


@pytest.mark.parametrize("email", ["coord@x.fr", "chu@x.fr"])
def test_the_impact_portfolio_sends_as_many_statements_for_forty_groups_as_for_four(
    client, db, world, query_counter, email
):
    """The portfolio lists every group (not paginated): their members, needs, lots and impacts are read with them."""
    grow(db, world, 4)
    english(client, email)
    client.get("/impact/portfolio")  # warm-up
    few, body = _counted(client, query_counter, "/impact/portfolio")
    assert body.count("<tr data-group=") == 4
    grow(db, world, 36)
    many, body = _counted(client, query_counter, "/impact/portfolio")
    assert body.count("<tr data-group=") == 40
    assert many == few, f"/impact/portfolio as {email}: {few} statements for 4 groups, {many} for 40"
