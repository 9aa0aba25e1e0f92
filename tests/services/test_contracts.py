import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from app import actions
from app.accounts.models import User
from app.actors import SYSTEM
from app.calls import services as calls
from app.calls.decp import decp_export
from app.calls.models import Contract
from app.contracts import services
from app.contracts.models import ContractOrder
from app.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from app.needs.models import Need
from app.notifications.models import Notification
from tests import factories
from tests.factories import CALLS_DEADLINE as DEADLINE
from tests.schemas import decp_errors

AWARDED_ON = date(2026, 12, 10)  # the deadline's day in Paris: the award is made then
STANDSTILL_END = AWARDED_ON + timedelta(days=11)


def award(session, clock, *, kind="framework", standstill_days=None, amount="500000.00", amounts=None):
    """A formal call (600 000 € of electricity) of DM, CHU and UB, awarded at the deadline to one supplier."""
    group, orgs, coordinator = factories.constituted_group(amounts=amounts or ("20000.00", "100000.00", "80000.00"))
    supplier = factories.supplier_company(trades=("09310000",), name="Énergie locale")
    bidder = factories.user("supplier", supplier=supplier)
    call = calls.create_call(
        session,
        coordinator,
        group,
        calls.CallValues(
            title="Électricité",
            description="",
            questions_deadline=DEADLINE - timedelta(days=5),
            bid_deadline=DEADLINE,
            lots=[calls.LotInput("Électricité", "09310000-5", Decimal("600000.00"))],
            criteria=[("price", 60), ("technical", 40)],
            standstill_days=standstill_days,
            contract_kind=kind,
        ),
    )
    calls.publish_call(session, coordinator, call)
    bid = factories.bid(bidder, call, amount)
    clock.move_to(DEADLINE)
    calls.score_bid(session, coordinator, call, bid.id, {"technical": 50})
    calls.award_lot(session, coordinator, call, call.lots[0].id, bid.id)
    buyers = {
        org.code: session.scalar(sa.select(User).where(User.organization_id == org.id, User.role == "buyer"))
        for org in orgs
    }
    contracts = {c.organization.code: c for c in session.scalars(sa.select(Contract))}
    return {
        "call": call,
        "coordinator": coordinator,
        "buyers": buyers,
        "contracts": contracts,
        "bidder": bidder,
        "supplier": supplier,
    }


def signed(session, clock, world, code="CHU"):
    clock.move_to(DEADLINE + timedelta(days=12))
    contract = world["contracts"][code]
    services.sign_contract(session, world["buyers"][code], contract)
    return contract


def test_the_award_creates_one_contract_per_member_with_shares_adding_up_to_the_cent(session, clock):
    world = award(session, clock, amount="500000.00", amounts=("50000.00", "50000.00", "50000.00"))
    contracts = world["contracts"]
    # three equal thirds of 500 000.00: two cents left after rounding down go to two members
    assert sum(c.amount for c in contracts.values()) == Decimal("500000.00")
    assert sorted(c.amount for c in contracts.values()) == [
        Decimal("166666.66"),
        Decimal("166666.67"),
        Decimal("166666.67"),
    ]
    for contract in contracts.values():
        assert contract.kind == "framework" and contract.ceiling == contract.amount
        assert contract.status == "standstill" and contract.standstill_ends_on == STANDSTILL_END
        assert (contract.starts_on, contract.ends_on) == (date(2027, 9, 1), date(2030, 8, 31))
        assert contract.supplier_id == world["supplier"].id


def test_the_standstill_is_the_call_s_and_a_short_one_is_a_warning(session, clock):
    world = award(session, clock, kind="contract", standstill_days=3)
    contract = world["contracts"]["UB"]
    assert contract.standstill_ends_on == AWARDED_ON + timedelta(days=3) and contract.kind == "contract"
    warnings = calls.deadline_warnings(world["call"], "formal")
    assert any("3" in w and "11" in w for w in warnings)
    assert contract.ceiling is None


def test_signing_during_the_standstill_is_refused_with_its_end(session, clock):
    world = award(session, clock)
    contract = world["contracts"]["CHU"]
    with pytest.raises(Conflict) as refused:
        services.sign_contract(session, world["buyers"]["CHU"], contract)
    assert refused.value.code == "standstill_running"
    assert refused.value.details == {"standstill_ends_on": STANDSTILL_END.isoformat()}
    clock.move_to(DEADLINE + timedelta(days=12))
    with pytest.raises(Conflict) as dated_during:  # a signature dated during the standstill
        services.sign_contract(session, world["buyers"]["CHU"], contract, STANDSTILL_END)
    assert dated_during.value.code == "standstill_running"
    with pytest.raises(NotPermitted):  # another member's buyer
        services.sign_contract(session, world["buyers"]["UB"], contract)
    services.sign_contract(session, world["coordinator"], contract, STANDSTILL_END + timedelta(days=1))
    assert contract.status == "signed" and contract.signed_on == STANDSTILL_END + timedelta(days=1)
    assert services.status_of(contract, date(2027, 9, 1)) == "running"
    assert services.status_of(contract, date(2030, 9, 1)) == "ended"
    with pytest.raises(Conflict) as again:
        services.sign_contract(session, world["coordinator"], contract)
    assert again.value.code == "contract_already_signed"


def test_each_member_sees_its_own_contracts_suppliers_theirs_coordinators_all(session, clock):
    world = award(session, clock)
    chu, ub = world["contracts"]["CHU"], world["contracts"]["UB"]
    assert [c.id for c in session.scalars(services.list_contracts(session, world["buyers"]["CHU"]))] == [chu.id]
    with pytest.raises(NotFound):
        services.get_contract(session, world["buyers"]["CHU"], ub.id)
    assert len(session.scalars(services.list_contracts(session, world["coordinator"])).all()) == 3
    assert len(session.scalars(services.list_contracts(session, world["bidder"])).all()) == 3
    stranger = factories.user("supplier")
    assert session.scalars(services.list_contracts(session, stranger)).all() == []
    with pytest.raises(NotFound):
        services.get_contract(session, stranger, chu.id)
    filtered = services.list_contracts(session, world["coordinator"], organization="UB", status="standstill")
    assert [c.id for c in session.scalars(filtered)] == [ub.id]
    assert session.scalars(services.list_contracts(session, world["coordinator"], status="signed")).all() == []


def test_orders_need_a_signed_framework_and_stop_at_the_ceiling_with_alerts_at_80_and_100(session, clock):
    world = award(session, clock)
    contract = world["contracts"]["CHU"]  # 100 000 × 3 of 200 000 × 3 → half of 500 000
    assert contract.amount == Decimal("250000.00")
    buyer = world["buyers"]["CHU"]
    with pytest.raises(Conflict) as not_signed:
        services.record_order(session, buyer, contract, services.OrderValues(Decimal("10.00"), "Avance"))
    assert not_signed.value.code == "contract_not_signed"
    signed(session, clock, world)
    with pytest.raises(NotPermitted):
        services.record_order(session, world["coordinator"], contract, services.OrderValues(Decimal("1.00"), "x"))
    services.record_order(session, buyer, contract, services.OrderValues(Decimal("199999.99"), "Hiver"))
    assert session.scalars(sa.select(Notification).where(Notification.kind == "framework_consumed")).all() == []
    services.record_order(session, buyer, contract, services.OrderValues(Decimal("0.01"), "Appoint"))
    alerts = session.scalars(sa.select(Notification.params).where(Notification.kind == "framework_consumed")).all()
    assert {a["pct"] for a in alerts} == {"80"}
    with pytest.raises(Conflict) as over:
        services.record_order(session, buyer, contract, services.OrderValues(Decimal("50000.01"), "Trop"))
    assert over.value.code == "ceiling_exceeded" and over.value.details["available_eur"] == "50000.00"
    services.record_order(session, buyer, contract, services.OrderValues(Decimal("50000.00"), "Solde"))
    assert contract.ordered_amount == contract.ceiling == Decimal("250000.00")
    alerts = session.scalars(sa.select(Notification.params).where(Notification.kind == "framework_consumed")).all()
    assert sorted({a["pct"] for a in alerts}) == ["100", "80"]
    assert services.notify_contract_milestones(session, date(2027, 1, 1)) == 0  # nothing left to tell
    with pytest.raises(ValidationFailed):
        services.record_order(session, buyer, contract, services.OrderValues(Decimal("-1.00"), ""))


def test_a_plain_contract_takes_no_orders(session, clock):
    world = award(session, clock, kind="contract")
    contract = signed(session, clock, world)
    with pytest.raises(Conflict) as refused:
        services.record_order(session, world["buyers"]["CHU"], contract, services.OrderValues(Decimal("1.00"), "x"))
    assert refused.value.code == "not_a_framework"


def test_concurrent_orders_never_pass_the_ceiling(app, db, clock):
    """Eight members' buyers ordering at once 40 % of the maximum each: two pass, the others get ceiling_exceeded
    (on PostgreSQL the conditional update re-reads the row a concurrent order committed)."""
    session = db.session
    world = award(session, clock)
    contract = signed(session, clock, world)
    contract_id, buyer_id = contract.id, world["buyers"]["CHU"].id
    ceiling = contract.ceiling
    session.commit()
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def order() -> None:
        with app.app_context():
            try:
                buyer = db.session.get(User, buyer_id)
                barrier.wait(timeout=30)

                def place():
                    target = services.get_contract(db.session, buyer, contract_id)
                    values = services.OrderValues((ceiling * Decimal("0.4")).quantize(Decimal("0.01")), "Commande")
                    services.record_order(db.session, buyer, target, values)

                actions.run(place, attempts=5)
                outcomes.append("ok")
            except Conflict as error:
                outcomes.append(error.code)
            except BaseException as error:  # reported by the assertions below
                outcomes.append(repr(error))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=order) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["ceiling_exceeded"] * 6 + ["ok"] * 2
    session.expire_all()
    stored = session.get(Contract, contract_id)
    assert stored.ordered_amount == (ceiling * Decimal("0.4")).quantize(Decimal("0.01")) * 2 <= ceiling
    total = session.scalar(sa.select(sa.func.sum(ContractOrder.amount)))
    assert total == stored.ordered_amount


def test_amendments_show_the_cumulative_change_and_warn_past_10_percent(session, clock):
    world = award(session, clock, kind="contract")
    contract = world["contracts"]["UB"]  # 80 000 × 3 of 600 000 → 200 000
    assert contract.amount == Decimal("200000.00")
    values = services.AmendmentValues(Decimal("12000.00"), "Sites supplémentaires (R2194-2)")
    with pytest.raises(Conflict) as not_signed:
        services.amend_contract(session, world["coordinator"], contract, values)
    assert not_signed.value.code == "contract_not_signed"
    signed(session, clock, world, "UB")
    first = services.amend_contract(session, world["buyers"]["UB"], contract, values)
    assert first.amendment.cumulative_change_pct == Decimal("6.00") and first.warnings == []
    second = services.amend_contract(
        session,
        world["coordinator"],
        contract,
        services.AmendmentValues(Decimal("10000.00"), "Prolongation", months_delta=6),
    )
    assert second.amendment.number == 2 and second.amendment.cumulative_change_pct == Decimal("11.00")
    assert len(second.warnings) == 1 and "11" in second.warnings[0] and "R2194-8" in second.warnings[0]
    assert contract.current_amount == Decimal("222000.00") and contract.ends_on == date(2031, 2, 28)
    assert services.amendment_warnings(session, contract) == second.warnings
    with pytest.raises(NotPermitted):
        services.amend_contract(session, world["buyers"]["CHU"], contract, values)
    with pytest.raises(ValidationFailed):
        services.amend_contract(session, world["coordinator"], contract, services.AmendmentValues(Decimal(0), "x"))


def test_the_radar_lists_contracts_ending_soon_with_the_day_the_procedure_must_start(session, clock):
    world = award(session, clock)
    contract = signed(session, clock, world)
    assert services.expiring(session, world["buyers"]["CHU"], 12) == []
    clock.move_to(DEADLINE.replace(year=2029, month=12, day=1))
    services.record_order(
        session, world["buyers"]["CHU"], contract, services.OrderValues(Decimal("162000.00"), "Trois hivers")
    )
    found = services.expiring(session, world["buyers"]["CHU"], 12)
    assert [r.contract.id for r in found] == [contract.id]
    renewal = found[0]
    # 162 000 ordered over 27 months (2027-09 to 2029-12): 72 000 a year, 216 000 over 36 months → formal
    assert renewal.need["annual_amount_eur"] == Decimal("72000.00") and renewal.need["duration_months"] == 36
    assert renewal.procedure == "formal" and renewal.required_start == date(2030, 9, 1)
    assert renewal.procedure_start_by == date(2030, 9, 1) - timedelta(weeks=32)
    assert len(services.expiring(session, world["coordinator"], 12)) == 3
    with pytest.raises(NotPermitted):
        services.expiring(session, world["bidder"], 12)
    need = services.create_renewal_need(session, world["buyers"]["CHU"], contract)
    stored = session.get(Need, need.id)
    assert stored.status == "draft" and stored.cpv_code == "09310000" and stored.start_date == date(2030, 9, 1)
    assert stored.annual_amount == Decimal("72000.00") and stored.current_contract_end == date(2030, 8, 31)
    with pytest.raises(NotPermitted):
        services.create_renewal_need(session, world["coordinator"], contract)


def test_contracts_ending_within_six_months_are_notified_once(session, clock):
    world = award(session, clock, kind="contract")
    signed(session, clock, world)
    assert services.notify_contract_milestones(session, date(2027, 1, 1)) == 0
    assert services.notify_contract_milestones(session, date(2030, 3, 1)) == 1
    assert services.notify_contract_milestones(session, date(2030, 3, 2)) == 0
    sent = session.scalars(sa.select(Notification).where(Notification.kind == "contract_ending")).all()
    assert {n.user_id for n in sent} >= {world["buyers"]["CHU"].id, world["coordinator"].id}


def test_supplier_evaluations_are_averaged_for_the_next_award(session, clock):
    world = award(session, clock)
    for code, marks in (("CHU", (4, 3, 5)), ("UB", (2, 3, 4))):
        contract = signed(session, clock, world, code)
        services.evaluate_supplier(session, world["buyers"][code], contract, services.EvaluationValues(*marks))
    record = services.supplier_records(session, [world["supplier"].id])[world["supplier"].id]
    assert (record.count, record.quality, record.delays, record.environmental) == (
        2,
        Decimal("3.0"),
        Decimal("3.0"),
        Decimal("4.5"),
    )
    with pytest.raises(ValidationFailed):
        services.evaluate_supplier(
            session, world["buyers"]["CHU"], world["contracts"]["CHU"], services.EvaluationValues(6, 1, 1)
        )


def test_decp_export_publishes_amendments_as_modifications_and_stays_valid(session, clock):
    world = award(session, clock, kind="contract")
    world["call"].group.coordinator_organization.siret = "21210231300013"
    contract = signed(session, clock, world, "UB")
    services.amend_contract(session, world["coordinator"], contract, services.AmendmentValues(Decimal("12000.00"), "a"))
    services.amend_contract(
        session, world["coordinator"], contract, services.AmendmentValues(Decimal("0.00"), "b", months_delta=6)
    )
    document = decp_export(session, SYSTEM).document
    assert decp_errors(document) == []
    marche = document["marches"]["marche"][0]
    assert marche["dateNotification"] == contract.signed_on.isoformat()
    assert [m["modification"] for m in marche["modifications"]] == [
        {
            "id": 1,
            "dateNotificationModification": contract.signed_on.isoformat(),
            "datePublicationDonneesModification": contract.signed_on.isoformat(),
            "montant": 512000.0,
        },
        {
            "id": 2,
            "dateNotificationModification": contract.signed_on.isoformat(),
            "datePublicationDonneesModification": contract.signed_on.isoformat(),
            "dureeMois": marche["dureeMois"] + 6,
        },
    ]


def test_the_scheduler_job_tells_the_members_of_contracts_ending_within_six_months(app, db, clock, monkeypatch):
    import app.jobs.scheduler as scheduler_module
    from app.jobs import tasks

    world = award(db.session, clock, kind="contract")
    signed(db.session, clock, world)
    db.session.commit()
    monkeypatch.setattr(scheduler_module, "_app", app)
    assert tasks.notify_contract_milestones() == 0
    clock.move_to(DEADLINE.replace(year=2030, month=3, day=2))
    assert tasks.notify_contract_milestones() == 1
    assert tasks.notify_contract_milestones() == 0
    db.session.expire_all()
    kinds = db.session.scalars(sa.select(Notification.kind).where(Notification.user_id == world["buyers"]["CHU"].id))
    assert "contract_ending" in set(kinds)


def test_the_overlap_map_counts_the_contracts_ending_in_its_window(session, clock, client):
    from tests.conftest import api_token

    world = award(session, clock)
    counts = services.renewal_counts(session, 4, date(2030, 1, 1), 12)
    assert counts.counts == {("0931", "DM"): 1, ("0931", "CHU"): 1, ("0931", "UB"): 1}
    assert counts.for_overlap("0931", ("CHU", "UB")) == 2
    assert services.renewal_counts(session, 4, date(2027, 1, 1), 12).counts == {}
    orgs = {c.organization.code: c.organization for c in world["contracts"].values()}
    for code in ("CHU", "UB"):
        factories.need(orgs[code], cpv="09310000", start=date(2030, 9, 1))
    world["coordinator"].email = "coord@x.fr"
    session.commit()
    response = client.get(
        "/api/v1/overlaps?level=class&window_months=12&from=2030-01-01", headers=api_token(client, "coord@x.fr")
    )
    items = {o["cpv_prefix"]: o for o in response.get_json()["items"]}
    assert items["0931"]["upcoming_renewals"] == 2 and items["0931"]["organizations"] == ["CHU", "UB"]


def test_the_ocds_package_gives_each_member_contract_its_status_and_signature_date(session, clock):
    from app.calls.ocds import release_package
    from tests.schemas import ocds_errors

    world = award(session, clock)
    contract = signed(session, clock, world, "UB")
    package = release_package(session, world["call"], uri="https://mutualis.example/api/v1/calls/1/ocds")
    assert ocds_errors(package) == []
    entries = {c["id"]: c for c in package["releases"][0]["contracts"]}
    mine = entries[f"contract-{contract.id}"]
    assert mine["status"] == "active" and mine["dateSigned"].startswith(contract.signed_on.isoformat())
    other = entries[f"contract-{world['contracts']['CHU'].id}"]
    assert other["status"] == "pending" and "dateSigned" not in other
