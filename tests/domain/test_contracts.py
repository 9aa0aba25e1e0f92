from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain import contracts as rules


def test_shares_add_up_to_the_award_to_the_cent_with_the_largest_remainders():
    parts = rules.split_amount(Decimal("100.00"), {1: Decimal(1), 2: Decimal(1), 3: Decimal(1)})
    # 33.333… each: the cent left goes to the first of the equal remainders
    assert parts == {1: Decimal("33.34"), 2: Decimal("33.33"), 3: Decimal("33.33")}
    parts = rules.split_amount(Decimal("500000.00"), {7: Decimal(60), 3: Decimal(400), 5: Decimal(280)})
    assert parts == {7: Decimal("40540.54"), 3: Decimal("270270.27"), 5: Decimal("189189.19")}
    assert sum(parts.values()) == Decimal("500000.00")


@given(
    amount=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999999999.99"), places=2),
    weights=st.lists(
        st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1e9"), places=2), min_size=1, max_size=12
    ),
)
def test_any_split_adds_up_exactly_and_no_part_is_off_by_more_than_a_cent(amount, weights):
    keyed = dict(enumerate(weights))
    parts = rules.split_amount(amount, keyed)
    assert sum(parts.values()) == amount
    total = sum(weights)
    for key, weight in keyed.items():
        assert abs(parts[key] - amount * weight / total) < Decimal("0.01")
        assert parts[key] == parts[key].quantize(Decimal("0.01"))


def test_a_split_needs_positive_weights_and_an_amount_in_cents():
    with pytest.raises(ValueError):
        rules.split_amount(Decimal("10.00"), {})
    with pytest.raises(ValueError):
        rules.split_amount(Decimal("10.001"), {1: Decimal(1)})


def test_status_by_the_calendar():
    start, end, standstill = date(2027, 1, 1), date(2029, 12, 31), date(2026, 12, 4)
    assert rules.effective_status("standstill", date(2026, 12, 4), start, end, standstill) == "standstill"
    assert rules.effective_status("standstill", date(2026, 12, 5), start, end, standstill) == "to_sign"
    assert rules.effective_status("signed", date(2026, 12, 20), start, end, None) == "signed"
    assert rules.effective_status("signed", date(2027, 1, 1), start, end, None) == "running"
    assert rules.effective_status("signed", date(2030, 1, 1), start, end, None) == "ended"
    assert rules.effective_status("to_sign", date(2030, 1, 1), start, end, None) == "to_sign"


def test_a_short_standstill_is_a_warning_for_formal_procedures_only():
    assert rules.standstill_warnings("formal", 5) == [(rules.WARN_SHORT_STANDSTILL, {"days": 5})]
    assert rules.standstill_warnings("formal", 11) == []
    assert rules.standstill_warnings("formal", None) == []
    assert rules.standstill_warnings("adapted", 0) == []
    assert rules.standstill_end(date(2026, 11, 23), 11) == date(2026, 12, 4)


def test_consumption_alerts_fire_when_a_level_is_crossed():
    ceiling = Decimal("1000.00")
    assert rules.crossed_alerts(Decimal("700"), Decimal("799.99"), ceiling) == []
    assert rules.crossed_alerts(Decimal("700"), Decimal("800"), ceiling) == [80]
    assert rules.crossed_alerts(Decimal("800"), Decimal("900"), ceiling) == []
    assert rules.crossed_alerts(Decimal("700"), Decimal("1000"), ceiling) == [80, 100]
    assert rules.consumption_pct(Decimal("333.33"), ceiling) == Decimal("33.3")


def test_amendment_percentages_are_cumulative_against_the_initial_value():
    initial = Decimal("200000.00")
    first = rules.check_amendment(initial, [], Decimal("12000.00"), "supplies_services")
    assert first.cumulative_change_pct == Decimal("6.00") and first.warnings == []
    second = rules.check_amendment(initial, [Decimal("12000.00")], Decimal("-10000.00"), "supplies_services")
    # a decrease still counts: 12 000 + 10 000 = 22 000 changed, 11 % of the initial value; net +2 000
    assert second.cumulative_change_pct == Decimal("11.00") and second.cumulative_delta == Decimal("2000.00")
    assert [m for m, _ in second.warnings] == [rules.WARN_DE_MINIMIS]
    assert second.warnings[0][1] == {"pct": "11", "limit": "10"}
    works = rules.check_amendment(initial, [Decimal("12000.00")], Decimal("10000.00"), "works")
    assert works.cumulative_change_pct == Decimal("11.00") and works.warnings == []
    over_works = rules.check_amendment(initial, [], Decimal("30100.00"), "works")
    assert [m for m, _ in over_works.warnings] == [rules.WARN_DE_MINIMIS]


def test_amendment_warnings_for_the_european_threshold_half_the_value_and_four_years():
    check = rules.check_amendment(
        Decimal("200000.00"),
        [],
        Decimal("150000.00"),
        "supplies_services",
        eu_threshold=Decimal("143000.00"),
        kind="framework",
        months_after=60,
    )
    assert [m for m, _ in check.warnings] == [
        rules.WARN_DE_MINIMIS,
        rules.WARN_EU_THRESHOLD,
        rules.WARN_PER_MODIFICATION,
        rules.WARN_FRAMEWORK_DURATION,
    ]
    assert check.cumulative_change_pct == Decimal("75.00")


def test_radar_dates_are_worked_back_through_the_procedure_steps():
    # a formal procedure: 10 + 8 + 6 + 5 + 2 + 1 = 32 weeks before the day after the end
    dates = rules.renewal_dates(date(2028, 8, 31), "formal", today=date(2027, 1, 1))
    assert dates.required_start == date(2028, 9, 1)
    assert dates.procedure_start_by == date(2028, 9, 1) - timedelta(weeks=32)
    assert dates.procedure_start_by == date(2028, 1, 21) and not dates.late
    adapted = rules.renewal_dates(date(2027, 3, 31), "adapted", today=date(2027, 1, 1))
    assert adapted.procedure_start_by == date(2027, 4, 1) - timedelta(weeks=21) and adapted.late


def test_yearly_run_rate_from_orders_or_from_the_contract_value():
    start, end = date(2026, 1, 1), date(2028, 12, 31)
    assert rules.contract_months(start, end) == 36
    # 36 months, 90 000: 30 000 a year
    assert rules.yearly_run_rate(Decimal(0), Decimal("90000.00"), start, end, date(2027, 1, 1), "contract") == Decimal(
        "30000.00"
    )
    # 6 months elapsed, 12 000 ordered: 24 000 a year
    assert rules.yearly_run_rate(
        Decimal("12000.00"), Decimal("90000.00"), start, end, date(2026, 7, 1), "framework"
    ) == Decimal("24000.00")
