from decimal import Decimal

import pytest

from app.calls import services
from app.calls.services import LotInput
from app.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from tests import factories
from tests.factories import CALLS_DEADLINE as DEADLINE


@pytest.fixture
def awarded(session, clock, monkeypatch):
    """A published call with three bids on its lot, scored and awarded to the best; the letters caught."""
    letters = []
    monkeypatch.setattr("app.mail.queue_mail", lambda session, to, subject, body: letters.append((to, subject, body)))
    group, _orgs, coordinator = factories.constituted_group()
    users = {
        name: factories.user("supplier", supplier=factories.supplier_company(trades=("09310000",), name=name))
        for name in ("Alpha", "Bêta", "Gamma")
    }
    call = factories.call(coordinator, group, publish=True)
    bids = {
        "Alpha": factories.bid(users["Alpha"], call, "400000.00"),
        "Bêta": factories.bid(users["Bêta"], call, "450000.00"),
        "Gamma": factories.bid(users["Gamma"], call, "500000.00"),
    }
    before = services.bid_outcomes(session, list(bids.values()))
    clock.move_to(DEADLINE)
    factories.award_every_lot(coordinator, call)
    return {
        "call": call,
        "users": users,
        "bids": bids,
        "before": before,
        "letters": letters,
        "coordinator": coordinator,
    }


def test_each_bidder_learns_its_own_outcome_rank_and_reasons_once_the_lot_is_decided(session, awarded):
    assert {o.status for o in awarded["before"].values()} == {"active"}
    assert all(o.rank is None for o in awarded["before"].values())
    found = services.bid_outcomes(session, list(awarded["bids"].values()))
    alpha, beta = found[awarded["bids"]["Alpha"].id], found[awarded["bids"]["Bêta"].id]
    assert (alpha.status, alpha.rank, alpha.count) == ("awarded", 1, 3)
    assert (beta.status, beta.rank) == ("unsuccessful", 2)
    texts = services.reason_texts(beta)
    assert "2 sur 3" in texts[0] and any(t.startswith("Prix") for t in texts[1:])  # French, the default


def test_unsuccessful_bidders_get_a_letter_with_the_winner_and_the_standstill_period(session, awarded):
    letters = [mail for mail in awarded["letters"] if "/letter" in mail[2]]  # not the notifications' mails
    assert sorted(to for to, _s, _b in letters) == sorted(awarded["users"][name].email for name in ("Bêta", "Gamma"))
    body = next(b for to, _s, b in letters if to == awarded["users"]["Bêta"].email)
    plain = body.replace("\u202f", " ").replace("\xa0", " ")
    assert "Alpha" in body and "400 000,00 €" in plain  # the award notice: winner and amount, nothing of Gamma
    assert "Gamma" not in body and "500 000" not in plain
    assert "délai de suspension de 11 jours" in plain  # in French, the platform's language
    letter = services.rejection_letter(session, awarded["users"]["Bêta"], awarded["bids"]["Bêta"].id)
    assert letter.notice.supplier_name == "Alpha" and letter.notice.amount == Decimal("400000.00")
    # a 600 000 € supplies call is above the European threshold: a formal procedure, 11 days
    assert letter.standstill_days == 11
    assert (letter.standstill_end - letter.decided_on).days == 11


def test_a_letter_only_for_its_own_unsuccessful_bid(session, awarded):
    users, bids = awarded["users"], awarded["bids"]
    with pytest.raises(NotFound):
        services.rejection_letter(session, users["Alpha"], bids["Alpha"].id)  # the winner has none
    with pytest.raises(NotFound):
        services.rejection_letter(session, users["Alpha"], bids["Bêta"].id)  # another supplier's
    with pytest.raises(NotPermitted):
        services.rejection_letter(session, awarded["coordinator"], bids["Bêta"].id)


def test_my_bids_and_contracts(session, awarded):
    mine = services.supplier_bids(session, awarded["users"]["Alpha"])
    assert [b.id for b in mine.bids] == [awarded["bids"]["Alpha"].id]
    assert mine.outcomes[awarded["bids"]["Alpha"].id].status == "awarded"
    ((award, contracts),) = mine.contracts
    assert award.bid_id == awarded["bids"]["Alpha"].id
    assert sum(c.amount for c in contracts) == Decimal("400000.00")
    assert services.supplier_bids(session, awarded["users"]["Bêta"]).contracts == []


def test_award_notices_tell_the_winner_and_amount(session, awarded):
    (notice,) = services.award_notices(session, awarded["call"]).values()
    assert notice.supplier_name == "Alpha" and notice.amount == Decimal("400000.00")


def test_a_lot_declared_unsuccessful_gives_every_bidder_a_letter_without_standstill(session, clock, monkeypatch):
    letters = []
    monkeypatch.setattr("app.mail.queue_mail", lambda session, to, subject, body: letters.append((to, body)))
    group, _orgs, coordinator = factories.constituted_group()
    supplier = factories.user("supplier", supplier=factories.supplier_company(trades=("09310000",), name="Delta"))
    call = factories.call(coordinator, group, publish=True)
    placed = factories.bid(supplier, call, "900000.00")
    clock.move_to(DEADLINE)
    services.declare_unsuccessful(session, coordinator, call, call.lots[0].id)
    letter = services.rejection_letter(session, supplier, placed.id)
    assert letter.notice.supplier_name is None and letter.standstill_end is None
    assert letter.outcome.status == "unsuccessful" and letter.outcome.rank == 1
    assert [to for to, body in letters if "/letter" in body] == [supplier.email]


def test_scores_of_a_whole_lot_are_saved_together_or_not_at_all(session, clock):
    group, _orgs, coordinator = factories.constituted_group()
    suppliers = [
        factories.user("supplier", supplier=factories.supplier_company(trades=("09310000",), name=name))
        for name in ("Un", "Deux")
    ]
    call = factories.call(coordinator, group, publish=True)
    first, second = (factories.bid(s, call, "500000.00") for s in suppliers)
    clock.move_to(DEADLINE)
    lot_id = call.lots[0].id
    with pytest.raises(ValidationFailed) as caught:
        services.score_lot(session, coordinator, call, lot_id, {first.id: {"technical": 50}, 12345: {"technical": 1}})
    assert set(caught.value.reasons) == {"scores.12345"} and not first.scores
    with pytest.raises(ValidationFailed) as caught:
        services.score_lot(session, coordinator, call, lot_id, {first.id: {"technical": 50}, second.id: {"price": 9}})
    assert set(caught.value.reasons) == {f"scores.{second.id}.price"} and not first.scores
    scored = services.score_lot(
        session,
        coordinator,
        call,
        lot_id,
        {first.id: {"technical": 50, "environmental": 10}, second.id: {"technical": 70, "environmental": 20}},
    )
    assert {b.id for b in scored} == {first.id, second.id} and call.status == "evaluated"
    with pytest.raises(NotPermitted):
        services.score_lot(session, suppliers[0], call, lot_id, {first.id: {"technical": 100}})


def test_a_decided_lot_is_not_scored_again_while_the_call_goes_on(session, clock, monkeypatch):
    monkeypatch.setattr("app.mail.queue_mail", lambda *args: None)
    group, _orgs, coordinator = factories.constituted_group()
    supplier = factories.user("supplier", supplier=factories.supplier_company(trades=("09310000",)))
    lots = [LotInput(f"Lot {n}", "09310000-5", Decimal("300000.00")) for n in (1, 2)]
    call = factories.call(coordinator, group, lots=lots, publish=True)
    first = factories.bid(supplier, call, "250000.00", lot_id=call.lots[0].id)
    factories.bid(supplier, call, "260000.00", lot_id=call.lots[1].id)
    clock.move_to(DEADLINE)
    services.score_lot(session, coordinator, call, call.lots[0].id, {first.id: {"technical": 50, "environmental": 50}})
    services.award_lot(session, coordinator, call, call.lots[0].id, first.id)
    assert call.status != "awarded"  # lot 2 is still open
    with pytest.raises(Conflict) as caught:
        services.score_bid(session, coordinator, call, first.id, {"technical": 100})
    assert caught.value.code == "lot_already_decided"
    with pytest.raises(Conflict):
        services.score_lot(session, coordinator, call, call.lots[0].id, {first.id: {"technical": 100}})
