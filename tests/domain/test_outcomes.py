from datetime import UTC, date, datetime
from decimal import Decimal

from app.domain import outcomes, scoring

WEIGHTS = {"price": 60, "technical": 40}
AT = datetime(2026, 12, 1, tzinfo=UTC)


def ranked():
    return scoring.rank(
        [
            scoring.Offer(1, Decimal("100"), AT, {"technical": Decimal("50")}),
            scoring.Offer(2, Decimal("200"), AT, {"technical": Decimal("100")}),
            scoring.Offer(3, Decimal("110"), AT, {"technical": Decimal("10")}),
        ],
        WEIGHTS,
    )


def test_standstill_is_eleven_days_for_formal_procedures_only():
    assert outcomes.standstill_days("formal") == 11
    assert outcomes.standstill_days("adapted") == 0
    assert outcomes.standstill_days(None) == 0
    assert outcomes.standstill_end(date(2026, 12, 1), 11) == date(2026, 12, 12)
    assert outcomes.standstill_end(date(2026, 12, 1), 0) is None


def test_before_the_decision_only_the_bid_status_is_told():
    assert outcomes.bid_outcome(1, "active", "open", None, ranked(), WEIGHTS) == outcomes.Outcome("active")
    assert outcomes.bid_outcome(1, "withdrawn", "awarded", 1, ranked(), WEIGHTS).rank is None


def test_the_winner_is_awarded_with_its_rank_and_points():
    found = outcomes.bid_outcome(1, "active", "awarded", 1, ranked(), WEIGHTS)
    assert found.status == "awarded" and found.rank == 1 and found.count == 3 and not found.reasons
    assert found.total == Decimal("80.00")  # 60 + 20


def test_an_unsuccessful_bid_gets_its_rank_and_the_criteria_where_the_winner_did_better():
    found = outcomes.bid_outcome(2, "active", "awarded", 1, ranked(), WEIGHTS)
    assert found.status == "unsuccessful" and found.rank == 2  # 30 + 40 = 70
    assert [r.message for r in found.reasons] == [outcomes.REASON_RANK, outcomes.REASON_CRITERION]
    assert found.reasons[0].params["winner_total"] == Decimal("80.00")
    assert found.reasons[1].params["criterion"] == "price"  # it lost on price only


def test_a_better_offer_set_aside_says_so_and_an_unsuccessful_lot_says_no_offer_was_retained():
    set_aside = outcomes.bid_outcome(1, "active", "awarded", 2, ranked(), WEIGHTS)
    assert set_aside.status == "unsuccessful" and set_aside.reasons[0].message == outcomes.REASON_SET_ASIDE
    none = outcomes.bid_outcome(3, "active", "unsuccessful", None, ranked(), WEIGHTS)
    assert none.status == "unsuccessful" and [r.message for r in none.reasons] == [outcomes.REASON_LOT_UNSUCCESSFUL]
