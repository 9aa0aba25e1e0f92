import re
from decimal import Decimal

import pytest
import sqlalchemy as sa

from app.calls.models import Contract
from app.demo import seed_demo
from app.needs.models import Need
from app.organizations.models import Organization
from tests.conftest import login, post_form

PASSWORD = "mutualis-demo"


@pytest.fixture
def demo(db):
    seed_demo(db.session)
    db.session.commit()
    orgs = {o.id: o.code for o in db.session.scalars(sa.select(Organization))}
    return {orgs[c.organization_id]: c.id for c in db.session.scalars(sa.select(Contract))}


def as_user(client, who):
    client.get("/lang/en")
    assert login(client, f"{who}@demo.mutualis.fr", PASSWORD).status_code == 302
    return client


def test_a_member_sees_its_contracts_with_the_consumption_of_the_maximum(client, demo):
    as_user(client, "achats.metropole")
    page = client.get("/contracts").get_data(as_text=True)
    assert f'data-contract="{demo["DM"]}"' in page and f'data-contract="{demo["UB"]}"' not in page
    assert "excluding VAT (HT)" in page
    detail = client.get(f"/contracts/{demo['DM']}")
    text = detail.get_data(as_text=True)
    assert detail.status_code == 200 and "Framework agreement" in text and "More than 80 %" in text
    assert client.get(f"/contracts/{demo['UB']}").status_code == 404


def test_an_order_past_the_maximum_is_refused_on_the_page_and_one_within_is_recorded(client, db, demo):
    as_user(client, "achats.ub")
    url = f"/contracts/{demo['UB']}/orders"
    contract = db.session.get(Contract, demo["UB"])
    before = contract.ordered_amount
    left = contract.ceiling - before
    too_much = f"{left + Decimal('1.00'):.2f}".replace(".", ",")
    refused = post_form(client, url, {"order-amount": too_much, "order-description": "Trop"}, page=url[:-7])
    assert refused.status_code == 409 and "past the maximum" in refused.get_data(as_text=True)
    done = post_form(client, url, {"order-amount": "1 000,00", "order-description": "Vitres"}, page=url[:-7])
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.get(Contract, demo["UB"]).ordered_amount == before + Decimal("1000.00")


def test_the_coordinator_records_an_amendment_and_sees_its_warning(client, db, demo):
    as_user(client, "coordination")
    url = f"/contracts/{demo['CHU']}/amendments"
    initial = db.session.get(Contract, demo["CHU"]).amount
    delta = f"{(initial * Decimal('0.2')).quantize(Decimal('0.01')):.2f}".replace(".", ",")
    done = post_form(
        client, url, {"amendment-amount_delta": delta, "amendment-reason": "Nouveaux sites"}, page=url[:-11]
    )
    assert done.status_code == 302
    page = client.get(f"/contracts/{demo['CHU']}").get_data(as_text=True)
    assert "R2194-8" in page and "20 %" in page


def test_the_radar_leads_to_a_prefilled_draft_need(client, db, demo):
    as_user(client, "achats.chu")
    radar = client.get("/contracts/renewals?within_months=60")
    assert radar.status_code == 200
    assert f'data-contract="{demo["CHU"]}"' in radar.get_data(as_text=True)
    done = post_form(client, f"/contracts/{demo['CHU']}/renewal-need", {}, page=f"/contracts/{demo['CHU']}")
    assert done.status_code == 302 and "/needs/" in done.headers["Location"]
    need = db.session.scalar(sa.select(Need).where(Need.status == "draft", Need.title.startswith("Renewal")))
    assert need is not None and need.cpv_code.startswith("9091")


def test_the_holder_lists_its_contracts_and_another_supplier_none(client, db, demo):
    from app.accounts.models import User

    holder_id = db.session.get(Contract, demo["UB"]).supplier_id
    holder = db.session.scalar(sa.select(User).where(User.supplier_id == holder_id))
    as_user(client, holder.email.split("@")[0])
    page = client.get("/contracts").get_data(as_text=True)
    assert all(f'data-contract="{cid}"' in page for cid in demo.values())
    assert client.get("/contracts/renewals").status_code == 403


def _contracts_cell(page: str, prefix: str) -> int:
    row = page.split(f'data-prefix="{prefix}"', 1)[1].split("</tr>", 1)[0]
    cell = row.split('mutualis-contracts">', 1)[1].split("</td>", 1)[0]
    return int(re.sub(r"\D", "", cell))


def test_the_spend_map_shows_the_mutualis_contracts_beside_the_imported_spend(client, new_client, db, demo):
    as_user(client, "coordination")
    page = client.get("/spend?level=division").get_data(as_text=True)
    total = sum((c.current_amount for c in db.session.scalars(sa.select(Contract))), Decimal(0))
    assert "Mutualis contracts (total)" in page
    assert _contracts_cell(page, "90") == round(total)
    mine = as_user(new_client(), "achats.ub").get("/spend?level=division").get_data(as_text=True)
    assert _contracts_cell(mine, "90") == round(db.session.get(Contract, demo["UB"]).current_amount)


def test_the_call_page_sets_the_kind_of_contracts_and_the_standstill(client, db, clock):
    from app.calls.models import Call
    from tests import factories
    from tests.conftest import english

    group, orgs, coordinator = factories.constituted_group()
    coordinator.email = "coord@x.fr"
    db.session.commit()
    english(client, "coord@x.fr")
    url = f"/groups/{group.id}/calls/new"
    assert "Standstill period after the award" in client.get(url).get_data(as_text=True)
    response = post_form(
        client,
        url,
        {
            "title": "Électricité",
            "questions_deadline": "2026-12-05T12:00",
            "bid_deadline": "2026-12-10T12:00",
            "lots-0-title": "Électricité",
            "lots-0-cpv_code": "09310000",
            "lots-0-estimated_amount": "600 000,00",
            "weight_price": "60",
            "weight_technical": "40",
            "contract_kind": "framework",
            "standstill_days": "5",
            "create": "Create the draft call",
        },
    )
    assert response.status_code == 302
    call = db.session.scalar(sa.select(Call))
    assert (call.contract_kind, call.standstill_days) == ("framework", 5)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "R2182-1" in page
