"""Tenant isolation: what a buyer of one organization sees — every list, filter, export (CSV and XLSX) and count —
does not change when another organization's buyer works on its own needs and spend, and never names them."""

from __future__ import annotations

import io
import re

import openpyxl
import pytest

from tests import factories
from tests.conftest import api_token, login
from tests.security.world import BUYER_B, DEMO_PASSWORD, EMAILS, build_world

MARK = "CONFIDENTIEL-GDH"
# A class of purchases only the other organization (GDH) has needs in: its new needs overlap with nobody's.
OTHER_ONLY_CPV = "45453000"
SPEND_EXPORTS = [
    f"/spend/export/{kind}.{fmt}{query}"
    for kind, query in (
        ("categories", ""),
        ("categories", "?level=division"),
        ("lines", "?prefix=45"),
        ("lines", "?prefix=45&organization=GDH"),
        ("local", ""),
        ("carbon", ""),
        ("savings", ""),
    )
    for fmt in ("csv", "xlsx")
]
PAGES = [
    "/",
    "/needs",
    "/needs?organization=GDH",
    "/needs?status=draft",
    "/needs?cpv=45",
    "/groups",
    "/calls",
    "/notifications",
    "/overlaps",
    "/overlaps/export.csv",
    "/overlaps/export.xlsx",
    "/spend",
    "/spend?organization=GDH",
    "/spend/impact",
    "/spend/imports",
    *SPEND_EXPORTS,
]
API = [
    "/api/v1/needs",
    "/api/v1/needs?organization=GDH",
    "/api/v1/needs?status=draft",
    "/api/v1/needs?cpv=45",
    "/api/v1/groups",
    "/api/v1/calls",
    "/api/v1/overlaps",
    "/api/v1/overlaps?level=division",
    "/api/v1/spend/cube",
    "/api/v1/spend/cube?level=division",
    "/api/v1/spend/cube?organization=GDH",
    "/api/v1/spend/imports",
    "/api/v1/spend/carbon",
    "/api/v1/spend/local-share",
    "/api/v1/spend/pooling",
    "/api/v1/spend/savings/overlaps",
]
_VOLATILE = re.compile(rb'(csrf[-_]token"[^>]*?(?:value|content)=")[^"]+')


def _text(response) -> bytes:
    """The answer as text to compare and search: workbooks by their cell values, pages without their CSRF token."""
    body = response.get_data()
    if body[:2] == b"PK":
        workbook = openpyxl.load_workbook(io.BytesIO(body), read_only=True)
        cells = [repr(row).encode() for sheet in workbook.worksheets for row in sheet.iter_rows(values_only=True)]
        workbook.close()
        return b"\n".join(cells)
    return _VOLATILE.sub(rb"\1", body)


def _views(page_client, api_client, headers) -> dict[str, tuple[int, bytes]]:
    seen = {}
    for url in PAGES:
        response = page_client.get(url)
        seen[url] = response.status_code, _text(response)
    for url in API:
        response = api_client.get(url, headers=headers)
        seen[url] = response.status_code, _text(response)
    return seen


def _other_organization_works(new_client) -> None:
    """GDH's buyer, through the API: a draft and a submitted need, and a year of spend with a supplier of its own."""
    client = new_client()
    headers = api_token(client, BUYER_B, DEMO_PASSWORD)
    for status in ("draft", "submitted"):
        response = client.post(
            "/api/v1/needs",
            headers=headers,
            json={
                "title": f"{MARK} besoin {status}",
                "cpv_code": OTHER_ONLY_CPV,
                "annual_amount_eur": "777777.00",
                "start_date": "2027-09-01",
                "duration_months": 24,
                "status": status,
            },
        )
        assert response.status_code == 201, response.get_json()
    ledger = factories.ledger(f"15/03/2025;{MARK} SARL;;{OTHER_ONLY_CPV};424242,42;Travaux;75001")
    response = client.post("/api/v1/spend/import", headers=headers, data={"file": (io.BytesIO(ledger), "gdh-2025.csv")})
    assert response.status_code == 201, response.get_json()


@pytest.mark.parametrize("role", ["buyer", "coordinator"])
def test_another_organizations_work_changes_nothing_a_buyer_sees_and_drafts_stay_private(
    app, session, new_client, role
):
    """Buyer (UB): nothing it sees changes when GDH adds needs and spend — lists, filters naming GDH, exports,
    counts on the home page. Coordinator: GDH's draft need appears nowhere (drafts are their organization's own)."""
    build_world(session)
    session.commit()
    page_client, api_client = new_client(), new_client()
    assert login(page_client, EMAILS[role], DEMO_PASSWORD).status_code == 302
    headers = api_token(api_client, EMAILS[role], DEMO_PASSWORD)
    before = _views(page_client, api_client, headers)
    _other_organization_works(new_client)
    after = _views(page_client, api_client, headers)

    assert {url: status for url, (status, _) in after.items()} == {url: status for url, (status, _) in before.items()}
    assert all(status < 500 for status, _ in after.values())
    draft = f"{MARK} besoin draft".encode()
    assert [url for url, (_, body) in after.items() if draft in body] == []
    if role == "buyer":
        changed = [url for url in after if after[url] != before[url]]
        assert changed == []
        assert [url for url, (_, body) in after.items() if MARK.encode() in body] == []
        # A filter naming the other organization is refused, not answered with its data.
        for url in ("/api/v1/spend/cube?organization=GDH", "/spend/export/lines.xlsx?prefix=45&organization=GDH"):
            assert after[url][0] == 403, url
        # The walk read real data: the buyer's own works spend is in its export.
        assert after["/spend/export/lines.xlsx?prefix=45"][0] == 200
        assert after["/spend/export/lines.xlsx?prefix=45"][1].count(b"\n") >= 1  # a header and lines
    else:  # the coordinator reads every organization's submitted needs and spend: the walk saw them arrive
        assert any(f"{MARK} besoin submitted".encode() in body for _, body in after.values())
        assert any(f"{MARK} SARL".encode() in body for _, body in after.values())
