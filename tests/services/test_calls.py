import json
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask_babel import force_locale, gettext

from app.calls import services
from app.calls.models import Bid, Call, Contract
from app.calls.ocds import release_package
from app.calls.services import CallValues, LotInput
from app.domain.receipts import verify
from app.errors import Conflict, DomainError, NotFound, NotPermitted, ValidationFailed
from app.groups import services as group_services
from app.notifications.models import Notification
from tests import factories
from tests.factories import CALLS_DEADLINE as DEADLINE
from tests.factories import CALLS_NOW as NOW
from tests.schemas import ocds_errors


@pytest.fixture
def setup(session, clock):
    group, orgs, coordinator = factories.constituted_group()
    local = factories.supplier_company(trades=("09310000",), postcode="21000", name="Local")
    regional = factories.supplier_company(trades=("09310000",), postcode="71100", name="Régional")
    far = factories.supplier_company(trades=("09310000",), postcode="75001", name="Lointain")
    unrelated = factories.supplier_company(trades=("90910000",), postcode="21000", name="Nettoyage")
    coarse = factories.supplier_company(trades=("09000000",), postcode="21000", name="Trop général")
    users = {c.name: factories.user("supplier", supplier=c) for c in (local, regional, far, unrelated, coarse)}
    call = factories.call(coordinator, group, title="Fourniture d'électricité", description="3 ans")
    return {"group": group, "orgs": orgs, "coordinator": coordinator, "call": call, "users": users, "lot": call.lots[0]}


def submit(session, setup, who="Local", amount="500000.00", key=None):
    return factories.bid(setup["users"][who], setup["call"], amount, idempotency_key=key)


def test_a_call_needs_a_constituted_group(session, clock):
    group, orgs, coordinator = factories.constituted_group()
    group.status = "forming"
    with pytest.raises(Conflict) as caught:
        services.create_call(session, coordinator, group, CallValues("t", "", DEADLINE, DEADLINE))
    assert caught.value.code == "group_not_constituted"


def test_criteria_must_include_price_and_sum_to_100_and_deadlines_be_future(session, setup):
    group, coordinator = setup["group"], setup["coordinator"]
    with pytest.raises(ValidationFailed) as caught:
        services.create_call(
            session,
            coordinator,
            group,
            CallValues(
                "t",
                "",
                NOW - timedelta(minutes=1),
                DEADLINE,
                [LotInput("l", "09310000", Decimal("1"))],
                [("technical", 50), ("environmental", 40)],
            ),
        )
    assert set(caught.value.reasons) >= {"questions_deadline", "criteria"}
    assert len(caught.value.reasons["criteria"]) == 2  # no price, and not 100


def test_publication_notifies_matching_suppliers_local_first(session, setup):
    suppliers = services.publish_call(session, setup["coordinator"], setup["call"])
    assert [c.name for c in suppliers] == ["Local", "Régional", "Lointain"]
    notified = set(session.scalars(sa.select(Notification.user_id).where(Notification.kind == "call_published")))
    assert notified == {setup["users"][n].id for n in ("Local", "Régional", "Lointain")}


def test_subscriptions_also_match(session, setup):
    services.subscribe(session, setup["users"]["Nettoyage"], "0931")
    names = [c.name for c in services.publish_call(session, setup["coordinator"], setup["call"])]
    assert "Nettoyage" in names


def test_questions_until_their_deadline_and_answers_are_public_without_the_asker(session, setup, clock):
    services.publish_call(session, setup["coordinator"], setup["call"])
    question = services.ask_question(session, setup["users"]["Local"], setup["call"], "Le volume est-il ferme ?")
    services.answer_question(session, setup["coordinator"], setup["call"], question.id, "Non, estimatif.")
    answers = services.public_answers(setup["call"])
    assert [(q.text, q.answer) for q in answers] == [("Le volume est-il ferme ?", "Non, estimatif.")]
    clock.move_to(setup["call"].questions_deadline)
    with pytest.raises(Conflict) as caught:
        services.ask_question(session, setup["users"]["Local"], setup["call"], "Trop tard ?")
    assert caught.value.code == "questions_closed"


@pytest.mark.parametrize(("offset", "accepted"), [(-1, True), (0, False), (1, False)])
def test_the_deadline_is_enforced_by_the_server_clock(session, setup, clock, offset, accepted):
    services.publish_call(session, setup["coordinator"], setup["call"])
    clock.move_to(DEADLINE + timedelta(seconds=offset))
    if accepted:
        assert submit(session, setup).status == "active"
    else:
        with pytest.raises(Conflict) as caught:
            submit(session, setup)
        assert caught.value.code == "call_closed"


def test_a_stopped_scheduler_never_lets_a_late_bid_in(session, setup, clock):
    services.publish_call(session, setup["coordinator"], setup["call"])
    clock.move_to(DEADLINE + timedelta(hours=6))  # no job ran: the call is still "published" in the database
    assert setup["call"].status == "published"
    with pytest.raises(Conflict):
        submit(session, setup)
    assert services.effective_status(setup["call"]) == "closed"


def test_receipt_is_the_sha256_of_the_content_with_server_time(session, setup):
    services.publish_call(session, setup["coordinator"], setup["call"])
    placed = submit(session, setup, amount="480000.50")
    content = json.loads(placed.receipt_content)
    assert content["amount_eur"] == "480000.50" and content["submitted_at"] == NOW.isoformat(timespec="microseconds")
    assert verify(placed.receipt_content, placed.receipt_sha256) and len(placed.receipt_sha256) == 64


def test_a_new_bid_replaces_the_active_one_and_withdrawal_works_before_the_deadline(session, setup, clock):
    services.publish_call(session, setup["coordinator"], setup["call"])
    first = submit(session, setup, amount="500000.00")
    second = submit(session, setup, amount="490000.00")
    assert first.status == "replaced" and second.status == "active"
    services.withdraw_bid(session, setup["users"]["Local"], second.id)
    assert second.status == "withdrawn"
    with pytest.raises(NotFound):
        services.withdraw_bid(session, setup["users"]["Régional"], first.id)
    third = submit(session, setup)
    clock.move_to(DEADLINE)
    with pytest.raises(Conflict):
        services.withdraw_bid(session, setup["users"]["Local"], third.id)


def test_idempotency_key_returns_the_first_result(session, setup):
    services.publish_call(session, setup["coordinator"], setup["call"])
    first = submit(session, setup, key="retry-1")
    again = submit(session, setup, key="retry-1")
    assert again.id == first.id and again.amount == Decimal("500000.00")
    assert session.scalar(sa.select(sa.func.count(Bid.id))) == 1
    with pytest.raises(DomainError) as caught:
        submit(session, setup, amount="1.00", key="retry-1")
    assert (caught.value.status, caught.value.code) == (422, "idempotency_key_mismatch")


def test_bids_are_sealed_before_the_deadline_for_everyone_but_the_bidder(session, setup, clock):
    services.publish_call(session, setup["coordinator"], setup["call"])
    placed = submit(session, setup)
    member = factories.user("buyer", organization_=setup["orgs"][1])
    for actor in (setup["coordinator"], factories.user("admin"), member):
        with pytest.raises(NotPermitted) as caught:
            services.list_bids(session, actor, setup["call"])
        assert caught.value.code == "bids_sealed"
        with pytest.raises(NotFound):  # the same answer as for a bid that does not exist
            services.get_bid(session, actor, placed.id)
        with pytest.raises(NotPermitted):
            services.ranking(session, actor, setup["call"])
    with pytest.raises(NotFound):
        services.get_bid(session, setup["users"]["Régional"], placed.id)
    assert services.list_bids(session, setup["users"]["Régional"], setup["call"]) == []
    assert services.list_bids(session, setup["users"]["Local"], setup["call"]) == [placed]
    package = release_package(session, setup["call"], uri="http://x/ocds")
    assert "bids" not in package["releases"][0] and "tenderers" not in package["releases"][0]["tender"]
    assert "Local" not in json.dumps(package)
    notes = session.scalars(sa.select(Notification).where(Notification.kind == "bid_received")).all()
    assert [n.user_id for n in notes] == [setup["users"]["Local"].id]
    clock.move_to(DEADLINE)
    assert services.list_bids(session, setup["coordinator"], setup["call"]) == [placed]


def test_closing_is_idempotent_notifies_coordinators_and_catches_up_after_downtime(session, setup, clock):
    services.publish_call(session, setup["coordinator"], setup["call"])
    submit(session, setup)
    assert services.close_due_calls(session) == []
    clock.move_to(DEADLINE + timedelta(days=2))
    assert services.close_due_calls(session) == [setup["call"].id]
    assert services.close_due_calls(session) == []
    session.refresh(setup["call"])
    assert setup["call"].status == "closed" and setup["call"].closed_at == DEADLINE + timedelta(days=2)
    closed = session.scalars(sa.select(Notification.user_id).where(Notification.kind == "call_closed")).all()
    assert closed == [setup["coordinator"].id]


def test_reminders_three_days_before_once(session, setup, clock):
    services.publish_call(session, setup["coordinator"], setup["call"])
    assert services.send_bid_reminders(session) == 0
    clock.move_to(DEADLINE - timedelta(days=3) + timedelta(minutes=1))
    assert services.send_bid_reminders(session) == 1
    assert services.send_bid_reminders(session) == 0
    reminded = set(session.scalars(sa.select(Notification.user_id).where(Notification.kind == "call_reminder")))
    assert reminded == {setup["users"][n].id for n in ("Local", "Régional", "Lointain")}


def test_question_reminders_for_unanswered_questions(session, setup, clock):
    services.publish_call(session, setup["coordinator"], setup["call"])
    services.ask_question(session, setup["users"]["Local"], setup["call"], "Question ?")
    assert services.send_question_reminders(session) == 1
    assert services.send_question_reminders(session) == 0
    clock.shift(timedelta(days=1, minutes=1))
    assert services.send_question_reminders(session) == 1


def test_scoring_ranking_award_and_contracts(session, setup, clock):
    services.publish_call(session, setup["coordinator"], setup["call"])
    cheap = submit(session, setup, who="Local", amount="400000.00")
    dear = submit(session, setup, who="Régional", amount="500000.00")
    low = submit(session, setup, who="Lointain", amount="150000.00")
    with pytest.raises(Conflict) as caught:
        services.score_bid(session, setup["coordinator"], setup["call"], cheap.id, {"technical": 50})
    assert caught.value.code == "call_not_closed"
    clock.move_to(DEADLINE)
    call = setup["call"]
    services.score_bid(session, setup["coordinator"], call, cheap.id, {"technical": 50, "environmental": 50})
    services.score_bid(session, setup["coordinator"], call, dear.id, {"technical": 100, "environmental": 100})
    services.score_bid(session, setup["coordinator"], call, low.id, {"technical": 10, "environmental": 0})
    with pytest.raises(ValidationFailed):
        services.score_bid(session, setup["coordinator"], call, dear.id, {"price": 100})
    assert call.status == "evaluated"
    ranked = services.ranking(session, setup["coordinator"], call)[setup["lot"].id]
    by_bid = {b.id: r for r, b in ranked}
    # price: lowest 150 000 → 60; 400 000 → 150/400×60 = 22.50; 500 000 → 18.00
    assert by_bid[low.id].points["price"] == Decimal("60.00") and by_bid[low.id].total == Decimal("63.00")
    assert by_bid[cheap.id].total == Decimal("42.50")  # 22.50 + 15 + 5
    assert by_bid[dear.id].total == Decimal("58.00")  # 18 + 30 + 10
    assert [r.rank for r, _ in ranked] == [1, 2, 3] and ranked[0][1].id == low.id
    assert low.abnormally_low and not cheap.abnormally_low
    with pytest.raises(Conflict) as caught:
        services.award_lot(session, setup["coordinator"], call, setup["lot"].id, cheap.id)
    assert caught.value.code == "not_best_offer"  # dear ranks above cheap and is not abnormally low
    services.award_lot(session, setup["coordinator"], call, setup["lot"].id, dear.id)  # low is set aside
    assert call.status == "awarded"
    contracts = session.scalars(sa.select(Contract).order_by(Contract.organization_id)).all()
    assert sum(c.amount for c in contracts) == Decimal("500000.00")
    assert {c.organization.code: c.amount for c in contracts} == {
        "DM": Decimal("50000.00"),
        "CHU": Decimal("250000.00"),
        "UB": Decimal("200000.00"),
    }
    won = session.scalars(sa.select(Notification.user_id).where(Notification.kind == "award_won")).all()
    lost = session.scalars(sa.select(Notification.params).where(Notification.kind == "award_lost")).all()
    assert won == [setup["users"]["Régional"].id] and sorted(p["rank"] for p in lost) == [1, 3]
    with pytest.raises(Conflict):
        services.award_lot(session, setup["coordinator"], call, setup["lot"].id, cheap.id)


def test_documents_are_checked_by_content(session, setup, tmp_path):
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF"
    document = services.add_document(session, setup["coordinator"], setup["call"], "cahier.pdf", pdf, str(tmp_path))
    assert document.content_type == "application/pdf" and document.size == len(pdf)
    assert (tmp_path / "calls" / document.storage_key).read_bytes() == pdf
    for name, data in (
        ("cahier.pdf", b"MZ\x90\x00 not a pdf"),
        ("script.pdf", b"<html>x</html>"),
        ("cahier.docx", pdf),
        ("vide.pdf", b""),
    ):
        with pytest.raises(ValidationFailed):
            services.add_document(session, setup["coordinator"], setup["call"], name, data, str(tmp_path))


def test_ocds_package_is_valid_against_the_official_schema(session, setup, clock):
    services.publish_call(session, setup["coordinator"], setup["call"])
    winner = submit(session, setup, who="Local")
    submit(session, setup, who="Régional", amount="550000.00")
    before = release_package(session, setup["call"], uri="https://mutualis.example/api/v1/calls/1/ocds")
    assert ocds_errors(before) == []
    clock.move_to(DEADLINE + timedelta(minutes=1))
    for placed in services.list_bids(session, setup["coordinator"], setup["call"]):
        services.score_bid(
            session, setup["coordinator"], setup["call"], placed.id, {"technical": 80, "environmental": 50}
        )
    services.award_lot(session, setup["coordinator"], setup["call"], setup["lot"].id, winner.id)
    after = release_package(session, setup["call"], uri="https://mutualis.example/api/v1/calls/1/ocds")
    assert ocds_errors(after) == []
    release = after["releases"][0]
    assert len(release["bids"]["details"]) == 2 and release["tender"]["numberOfTenderers"] == 2
    roles = {p["name"]: set(p["roles"]) for p in release["parties"]}
    assert roles["Local"] == {"tenderer", "supplier"} and "procuringEntity" in roles[setup["orgs"][0].name]
    assert release["awards"][0]["suppliers"][0]["name"] == "Local" and release["tag"] == ["award", "contract"]


def test_only_coordinators_create_and_publish(session, setup):
    with pytest.raises(NotPermitted):
        services.publish_call(session, setup["users"]["Local"], setup["call"])
    buyer = factories.user("buyer", organization_=setup["orgs"][1])
    with pytest.raises(NotPermitted):
        services.create_call(session, buyer, setup["group"], CallValues("t", "", DEADLINE, DEADLINE))
    assert session.get(Call, setup["call"].id).status == "draft"


def test_a_bid_leaves_no_trace_in_the_logs(session, setup, caplog):
    import logging

    services.publish_call(session, setup["coordinator"], setup["call"])
    with caplog.at_level(logging.DEBUG):
        placed = submit(session, setup, amount="476543.21")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "476543" not in text and placed.receipt_sha256 not in text and setup["users"]["Local"].email not in text


def test_member_contracts_split_the_award_by_each_member_s_total_like_the_convention(session, clock):
    group, orgs, coordinator = factories.constituted_group(
        need_columns=[{}, {"renewal_count": 1, "renewal_months": 12}, {"options_amount": Decimal("40000.00")}]
    )
    # DM 20 000 × 36/12 = 60 000; CHU 100 000 × (36 + 12)/12 = 400 000; UB 80 000 × 36/12 + 40 000 = 280 000
    summary = group_services.summarize(group, today=NOW.date())
    assert summary.total_amount == Decimal("740000.00") and summary.annual_amount == Decimal("200000.00")
    shares = {m.organization.code: m.share for m in summary.members}
    assert shares == {"DM": Decimal("0.0811"), "CHU": Decimal("0.5405"), "UB": Decimal("0.3784")}
    supplier = factories.supplier_company(trades=("09310000",), postcode="21000", name="Local")
    bidder = factories.user("supplier", supplier=supplier)
    call = factories.call(coordinator, group, publish=True)
    bid = factories.bid(bidder, call, "500000.00")
    clock.move_to(DEADLINE)
    services.score_bid(session, coordinator, call, bid.id, {"technical": 50, "environmental": 50})
    services.award_lot(session, coordinator, call, call.lots[0].id, bid.id)
    contracts = {c.organization.code: c.amount for c in session.scalars(sa.select(Contract))}
    # 500 000 × 60/740, × 400/740, × 280/740 — the shares of the total, not of the yearly amounts (10/50/40 %)
    assert contracts == {"DM": Decimal("40540.54"), "CHU": Decimal("270270.27"), "UB": Decimal("189189.19")}


def test_a_reminder_says_the_deadline_in_paris_time_and_the_real_time_left(session, setup, clock):
    services.publish_call(session, setup["coordinator"], setup["call"])
    clock.move_to(DEADLINE - timedelta(days=2, hours=5, minutes=30))
    assert services.send_bid_reminders(session) == 1
    reminder = session.scalars(sa.select(Notification).where(Notification.kind == "call_reminder")).first()
    paris_deadline = DEADLINE.astimezone(ZoneInfo("Europe/Paris"))
    assert paris_deadline.hour == 12 and DEADLINE.hour != 12  # the test means something only if they differ
    assert reminder.params["deadline"] == paris_deadline.strftime("%Y-%m-%d 12:00")
    assert (reminder.params["days"], reminder.params["hours"]) == (2, 5)
    with force_locale("fr"):
        text = gettext(reminder.message, **reminder.params)
    assert "heure de Paris" in text and "2 j 5 h" in text and "UTC" not in text


def test_no_reminder_is_sent_a_minute_before_the_deadline(session, setup, clock):
    """A scheduler that was down through the reminder window does not send 'days left' at the last minute."""
    services.publish_call(session, setup["coordinator"], setup["call"])
    clock.move_to(DEADLINE - timedelta(minutes=1))
    assert services.send_bid_reminders(session) == 0
    assert (
        session.scalar(sa.select(sa.func.count()).select_from(Notification).where(Notification.kind == "call_reminder"))
        == 0
    )
