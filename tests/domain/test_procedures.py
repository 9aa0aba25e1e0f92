from datetime import date, datetime
from decimal import Decimal

import pytest

from app.domain.procedures import (
    is_social_service,
    load_thresholds,
    nature_of_codes,
    nature_of_cpv,
    procedure_for_codes,
    required_procedure,
    small_lots,
    small_lots_under,
)

SUPPLIES = "supplies_services"
WORKS = "works"
SOCIAL = "social_services"


def code_for(amount, on, *, nature=SUPPLIES, buyer_class="other"):
    return required_procedure(Decimal(amount), on, nature=nature, buyer_class=buyer_class).code


# --------------------------------------------------------------------------- no-competition threshold


@pytest.mark.parametrize(
    ("amount", "expected"),
    [("39999.99", "none"), ("40000", "adapted"), ("59999.99", "adapted"), ("60000", "adapted")],
)
def test_no_competition_threshold_is_40000_on_the_day_before_1_april_2026(amount, expected):
    assert code_for(amount, date(2026, 3, 31)) == expected


@pytest.mark.parametrize(
    ("amount", "expected"),
    [("39999.99", "none"), ("40000", "none"), ("59999.99", "none"), ("60000", "adapted")],
)
def test_no_competition_threshold_is_60000_from_1_april_2026(amount, expected):
    assert code_for(amount, date(2026, 4, 1)) == expected


def test_requirement_reports_the_thresholds_and_date_of_the_rules_applied():
    before = required_procedure(Decimal("50000"), date(2026, 3, 31), nature=SUPPLIES, buyer_class="other")
    after = required_procedure(Decimal("50000"), date(2026, 4, 1), nature=SUPPLIES, buyer_class="other")
    assert (before.no_competition_threshold, before.formal_threshold) == (Decimal("40000"), Decimal("216000"))
    assert before.rule_valid_from == date(2026, 1, 1)  # the formal rule is the latest of the pair
    assert (after.no_competition_threshold, after.rule_valid_from) == (Decimal("60000"), date(2026, 4, 1))
    assert isinstance(after.no_competition_threshold, Decimal)


# --------------------------------------------------------------------------- formal threshold


@pytest.mark.parametrize(
    ("on", "buyer_class", "below", "at"),
    [
        (date(2025, 12, 31), "other", "220999.99", "221000"),
        (date(2026, 1, 1), "other", "215999.99", "216000"),
        (date(2025, 12, 31), "central", "142999.99", "143000"),
        (date(2026, 1, 1), "central", "139999.99", "140000"),
    ],
)
def test_formal_threshold_changes_on_1_january_2026_and_is_reached_at_its_exact_value(on, buyer_class, below, at):
    assert code_for(below, on, buyer_class=buyer_class) == "adapted"
    assert code_for(at, on, buyer_class=buyer_class) == "formal"


def test_2026_other_buyer_threshold_does_not_apply_on_31_december_2025():
    assert code_for("216000", date(2025, 12, 31)) == "adapted"
    assert code_for("216000", date(2026, 1, 1)) == "formal"


def test_central_buyers_reach_the_formal_procedure_sooner_than_other_buyers():
    on = date(2026, 6, 1)
    central = required_procedure(Decimal("150000"), on, nature=SUPPLIES, buyer_class="central")
    other = required_procedure(Decimal("150000"), on, nature=SUPPLIES, buyer_class="other")
    assert (central.code, central.formal_threshold) == ("formal", Decimal("140000"))
    assert (other.code, other.formal_threshold) == ("adapted", Decimal("216000"))


# --------------------------------------------------------------------------- works


@pytest.mark.parametrize(
    ("amount", "expected"),
    [("99999.99", "none"), ("100000", "adapted"), ("5403999.99", "adapted"), ("5404000", "formal")],
)
def test_works_thresholds_are_100000_and_5404000_in_2026(amount, expected):
    assert code_for(amount, date(2026, 6, 1), nature=WORKS) == expected


def test_works_formal_threshold_was_5538000_before_2026():
    assert code_for("5404000", date(2025, 12, 31), nature=WORKS) == "adapted"
    assert code_for("5538000", date(2025, 12, 31), nature=WORKS) == "formal"


@pytest.mark.parametrize("buyer_class", ["central", "other"])
def test_works_thresholds_marked_any_apply_to_both_buyer_classes(buyer_class):
    requirement = required_procedure(Decimal("1"), date(2026, 6, 1), nature=WORKS, buyer_class=buyer_class)
    assert (requirement.no_competition_threshold, requirement.formal_threshold) == (
        Decimal("100000"),
        Decimal("5404000"),
    )


def test_the_60000_supplies_threshold_does_not_apply_to_works():
    assert code_for("80000", date(2026, 4, 1), nature=WORKS) == "none"
    assert code_for("80000", date(2026, 4, 1), nature=SUPPLIES) == "adapted"


# --------------------------------------------------------------------------- errors and labels


def test_a_date_before_every_rule_is_refused_with_the_date_in_the_message():
    with pytest.raises(ValueError, match="2019-12-31"):
        required_procedure(Decimal("1000"), date(2019, 12, 31), nature=SUPPLIES, buyer_class="other")


def test_a_date_before_the_first_formal_threshold_is_refused():
    with pytest.raises(ValueError, match="formal"):
        required_procedure(Decimal("1000"), date(2023, 12, 31), nature=SUPPLIES, buyer_class="other")


def test_the_first_day_of_the_table_is_accepted():
    assert code_for("0", date(2024, 1, 1)) == "none"


def test_negative_amounts_are_refused():
    with pytest.raises(ValueError, match="negative"):
        required_procedure(Decimal("-0.01"), date(2026, 6, 1), nature=SUPPLIES, buyer_class="other")


def test_float_amounts_are_refused_to_keep_money_exact():
    with pytest.raises(TypeError):
        required_procedure(40000.0, date(2026, 6, 1), nature=SUPPLIES, buyer_class="other")


def test_integer_amounts_and_datetimes_are_accepted():
    requirement = required_procedure(60000, datetime(2026, 4, 1, 9, 30), nature=SUPPLIES, buyer_class="other")
    assert requirement.code == "adapted"


@pytest.mark.parametrize(("nature", "buyer_class"), [("goods", "other"), (SUPPLIES, "any"), (SUPPLIES, "state")])
def test_unknown_nature_or_buyer_class_is_refused(nature, buyer_class):
    with pytest.raises(ValueError):
        required_procedure(Decimal("1"), date(2026, 6, 1), nature=nature, buyer_class=buyer_class)


def test_each_procedure_code_carries_its_english_label():
    on = date(2026, 6, 1)
    labels = {
        code_for_amount.code: code_for_amount.label
        for code_for_amount in (
            required_procedure(Decimal(amount), on, nature=SUPPLIES, buyer_class="other")
            for amount in ("10", "100000", "1000000")
        )
    }
    assert labels == {
        "none": "No publicity or competition required",
        "adapted": "Adapted procedure (MAPA)",
        "formal": "Formal procedure (European threshold)",
    }


# --------------------------------------------------------------------------- CPV nature


@pytest.mark.parametrize(
    ("code", "nature"),
    [
        ("45000000", WORKS),
        ("45212100", WORKS),
        ("45210000-2", WORKS),
        ("09310000", SUPPLIES),
        ("71000000", SUPPLIES),
    ],
)
def test_nature_of_cpv_is_works_for_division_45_only(code, nature):
    assert nature_of_cpv(code) == nature


def test_nature_of_cpv_refuses_malformed_codes():
    with pytest.raises(ValueError):
        nature_of_cpv("4521")


def test_a_mix_of_works_and_supplies_uses_the_supplies_thresholds():
    on = date(2026, 6, 1)
    only_works = procedure_for_codes(Decimal("80000"), on, ["45210000", "45310000"], "other")
    mixed = procedure_for_codes(Decimal("80000"), on, ["45210000", "09310000"], "other")
    assert (only_works.code, only_works.nature) == ("none", WORKS)
    assert (mixed.code, mixed.nature) == ("adapted", SUPPLIES)
    assert nature_of_codes(["45210000", "09310000"]) == SUPPLIES


def test_procedure_for_no_codes_is_refused():
    with pytest.raises(ValueError):
        procedure_for_codes(Decimal("1"), date(2026, 6, 1), [], "other")


# --------------------------------------------------------------------------- the table as data


def test_default_table_is_read_once_and_cached():
    assert load_thresholds() is load_thresholds()


def test_shipped_table_parses_amounts_as_decimals_and_names_a_source_for_each_row():
    rules = load_thresholds().rules
    assert len(rules) == 18
    assert all(isinstance(rule.amount, Decimal) for rule in rules)
    assert all(rule.source for rule in rules)
    assert {(r.valid_from, r.nature, r.buyer_class, r.kind, r.amount) for r in rules} >= {
        (date(2026, 4, 1), SUPPLIES, "any", "no_competition", Decimal("60000")),
        (date(2024, 1, 1), WORKS, "any", "no_competition", Decimal("100000")),
        (date(2026, 1, 1), WORKS, "any", "formal", Decimal("5404000")),
    }


HEADER = "valid_from,nature,buyer_class,kind,amount_eur,source\n"
BASE_ROWS = (
    "2024-01-01,supplies_services,any,no_competition,40000,a\n"
    "2024-01-01,supplies_services,any,formal,200000,b\n"
    "2024-01-01,works,any,no_competition,100000,c\n"
    "2024-01-01,works,any,formal,5000000,d\n"
)


def write_table(tmp_path, rows):
    path = tmp_path / "thresholds.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    return path


def test_a_new_dated_row_changes_the_answer_from_its_date_without_code_change(tmp_path):
    table = load_thresholds(
        write_table(tmp_path, BASE_ROWS + "2027-01-01,supplies_services,any,no_competition,70000,e\n")
    )
    on_eve = required_procedure(Decimal("65000"), date(2026, 12, 31), nature=SUPPLIES, buyer_class="other", table=table)
    on_day = required_procedure(Decimal("65000"), date(2027, 1, 1), nature=SUPPLIES, buyer_class="other", table=table)
    assert (on_eve.code, on_day.code) == ("adapted", "none")
    assert on_day.no_competition_threshold == Decimal("70000")


def test_a_class_specific_row_supersedes_an_older_any_row_for_that_class_only(tmp_path):
    table = load_thresholds(write_table(tmp_path, BASE_ROWS + "2025-01-01,supplies_services,central,formal,150000,e\n"))
    on = date(2025, 6, 1)
    central = required_procedure(Decimal("160000"), on, nature=SUPPLIES, buyer_class="central", table=table)
    other = required_procedure(Decimal("160000"), on, nature=SUPPLIES, buyer_class="other", table=table)
    assert (central.code, other.code) == ("formal", "adapted")


def test_table_rows_may_come_in_any_order(tmp_path):
    rows = "".join(reversed(BASE_ROWS.splitlines(keepends=True)))
    table = load_thresholds(write_table(tmp_path, rows))
    assert (
        required_procedure(Decimal("40000"), date(2024, 1, 1), nature=SUPPLIES, buyer_class="other", table=table).code
        == "adapted"
    )


def test_a_table_missing_a_column_is_refused(tmp_path):
    path = tmp_path / "thresholds.csv"
    path.write_text("valid_from,nature,buyer_class,kind,amount_eur\n2024-01-01,works,any,formal,1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="source"):
        load_thresholds(path)


@pytest.mark.parametrize(
    "row",
    [
        "2024-13-01,works,any,formal,1,x\n",
        "2024-01-01,works,any,formal,abc,x\n",
        "2024-01-01,works,any,formal,-5,x\n",
        "2024-01-01,goods,any,formal,1,x\n",
        "2024-01-01,works,any,maximum,1,x\n",
    ],
)
def test_a_malformed_row_is_refused_with_its_line_number(tmp_path, row):
    with pytest.raises(ValueError, match="line 6"):
        load_thresholds(write_table(tmp_path, BASE_ROWS + row))


def test_two_rules_of_the_same_kind_starting_the_same_day_are_refused(tmp_path):
    with pytest.raises(ValueError, match="both start"):
        load_thresholds(write_table(tmp_path, BASE_ROWS + "2024-01-01,supplies_services,central,formal,1,x\n"))


# --------------------------------------------------------------------------- décret n° 2025-1386, dated sources


@pytest.mark.parametrize(
    ("on", "nature", "amount", "decree"),
    [
        (date(2025, 12, 31), WORKS, Decimal("100000"), "2022-1683"),
        (date(2026, 1, 1), WORKS, Decimal("100000"), "2025-1386"),
        (date(2026, 3, 31), SUPPLIES, Decimal("40000"), "2019-1344"),
        (date(2026, 4, 1), SUPPLIES, Decimal("60000"), "2025-1386"),
    ],
)
def test_each_dispensation_threshold_names_the_decree_in_force_on_the_launch_day(on, nature, amount, decree):
    rule = load_thresholds().rule_in_force("no_competition", on, nature=nature, buyer_class="other")
    assert rule.amount == amount and f"n° {decree}" in rule.source


def test_the_2026_2027_european_thresholds_cite_the_commission_s_delegated_regulation():
    table = load_thresholds()
    new = table.rule_in_force("formal", date(2026, 1, 1), nature=SUPPLIES, buyer_class="other")
    old = table.rule_in_force("formal", date(2025, 12, 31), nature=SUPPLIES, buyer_class="other")
    assert "(UE) 2025/2152" in new.source and "(UE) 2023/2495" in old.source


# --------------------------------------------------------------------------- publicity of an adapted procedure


@pytest.mark.parametrize(
    ("amount", "code", "publication"),
    [
        ("59999.99", "none", "none"),
        ("60000", "adapted", "suited"),
        ("89999.99", "adapted", "suited"),
        ("90000", "adapted", "boamp_or_jal"),
        ("215999.99", "adapted", "boamp_or_jal"),
        ("216000", "formal", "joue"),
    ],
)
def test_an_adapted_procedure_needs_a_boamp_or_jal_notice_from_90000(amount, code, publication):
    requirement = required_procedure(Decimal(amount), date(2026, 6, 1), nature=SUPPLIES, buyer_class="other")
    assert (requirement.code, requirement.publication) == (code, publication)
    assert requirement.publicity_threshold == Decimal("90000")


def test_works_also_publish_from_90000():
    requirement = required_procedure(Decimal("100000"), date(2026, 6, 1), nature=WORKS, buyer_class="other")
    assert (requirement.code, requirement.publication) == ("adapted", "boamp_or_jal")


# --------------------------------------------------------------------------- social and other specific services


@pytest.mark.parametrize(
    ("code", "nature"),
    [("85311000", SOCIAL), ("80100000", SOCIAL), ("55520000", SOCIAL), ("79710000", SOCIAL), ("09310000", SUPPLIES)],
)
def test_annex_xiv_codes_are_social_and_other_specific_services(code, nature):
    assert nature_of_cpv(code) == nature
    assert is_social_service(code) == (nature == SOCIAL)


@pytest.mark.parametrize(
    ("amount", "code", "publication"),
    [
        ("59999.99", "none", "none"),
        ("216000", "adapted", "suited"),  # formal for other services, adapted for these
        ("749999.99", "adapted", "suited"),  # publicity left to the buyer below 750 000 (no 90 000 tier)
        ("750000", "adapted", "joue"),  # still adapted (R2123-1 3°), with a notice in the JOUE
    ],
)
def test_social_services_stay_adapted_whatever_the_value_with_a_jo_ue_notice_from_750000(amount, code, publication):
    requirement = required_procedure(Decimal(amount), date(2026, 6, 1), nature=SOCIAL, buyer_class="other")
    assert (requirement.code, requirement.publication) == (code, publication)
    assert requirement.formal_threshold == Decimal("750000")


def test_social_services_mixed_with_other_services_use_the_general_thresholds():
    assert nature_of_codes(["85311000", "85312000"]) == SOCIAL
    assert nature_of_codes(["85311000", "09310000"]) == SUPPLIES
    assert procedure_for_codes(Decimal("300000"), date(2026, 6, 1), ["85311000"], "other").code == "adapted"
    assert procedure_for_codes(Decimal("300000"), date(2026, 6, 1), ["85311000", "09310000"], "other").code == "formal"


# --------------------------------------------------------------------------- small lots (R2123-1 2°)


@pytest.mark.parametrize(
    ("nature", "amounts", "expected"),
    [
        # 1 020 000 in all: 20 % = 204 000; 50 000 + 70 000 = 120 000 fits
        (SUPPLIES, ("50000", "70000", "900000"), [True, True, False]),
        # 80 000 is not below 80 000
        (SUPPLIES, ("79999.99", "80000", "300000"), [True, False, False]),
        # 520 000 in all: 20 % = 104 000; the second 60 000 would bring 120 000
        (SUPPLIES, ("60000", "60000", "400000"), [True, False, False]),
        # works: below 1 000 000, within 20 % of 6 999 999.99
        (WORKS, ("999999.99", "1000000", "5000000"), [True, False, False]),
    ],
)
def test_small_lots_below_80000_or_1000000_within_20_percent_may_be_adapted(nature, amounts, expected):
    flags = small_lots([Decimal(a) for a in amounts], date(2026, 6, 1), nature=nature, buyer_class="other")
    assert flags == expected


@pytest.mark.parametrize(
    ("amounts", "expected"),
    [
        (("50000", "400000"), [True, False]),  # 450 000: formal, the 50 000 lot may be adapted
        (("50000", "150000"), [False, False]),  # 200 000: adapted already, no lot to single out
    ],
)
def test_small_lots_are_told_only_when_the_whole_purchase_is_formal(amounts, expected):
    on = date(2026, 6, 1)
    lots = [Decimal(a) for a in amounts]
    procedure = procedure_for_codes(sum(lots), on, ["09310000"], "other")
    assert small_lots_under(procedure, lots, on) == expected
    assert small_lots_under(None, lots, on) == [False, False]
