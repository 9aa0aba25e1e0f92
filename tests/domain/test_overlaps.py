import random
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd
import pytest

from app.domain.cpv import OVERLAP_LEVELS, PREFIX_LENGTH
from app.domain.overlaps import (
    SPLITTING_MESSAGES,
    find_overlaps,
    find_possible_overlaps,
    find_splitting_warnings,
    heatmap,
    in_window,
    needs_frame,
    total_cents,
)
from app.domain.procedures import required_procedure

WINDOW = date(2026, 1, 1)  # 12 months: [2026-01-01, 2027-01-01)


def cents(euros):
    return int(Decimal(str(euros)) * 100)


def need(id, org, cpv, annual_eur, *, months=12, start=date(2026, 6, 1), end=None, buyer_class="other"):
    return {
        "id": id,
        "organization": org,
        "buyer_class": buyer_class,
        "cpv_code": cpv,
        "annual_cents": cents(annual_eur),
        "duration_months": months,
        "start_date": start,
        "current_contract_end": end,
    }


def overlaps_of(records, level="class", window_start=WINDOW, **kwargs):
    return find_overlaps(needs_frame(records), level=level, window_start=window_start, **kwargs)


# --------------------------------------------------------------------------- grouping by CPV level

# For each level, two codes that share the prefix of that level but not the next finer one.
LEVEL_PAIRS = [
    ("division", "03100000", "03200000", "03"),
    ("group", "03110000", "03120000", "031"),
    ("class", "03111000", "03112000", "0311"),
    ("category", "03111100", "03111200", "03111"),
]


@pytest.mark.parametrize(("level", "code_a", "code_b", "shared_prefix"), LEVEL_PAIRS)
def test_two_organizations_sharing_a_prefix_at_a_level_overlap_at_that_level(level, code_a, code_b, shared_prefix):
    result = overlaps_of([need(1, "CHU", code_a, 1000), need(2, "UB", code_b, 1000)], level=level)
    assert [(o.cpv_prefix, o.level, o.organizations, o.need_ids) for o in result] == [
        (shared_prefix, level, ("CHU", "UB"), (1, 2))
    ]


@pytest.mark.parametrize(("level", "code_a", "code_b"), [(lvl, a, b) for lvl, a, b, _ in LEVEL_PAIRS[:-1]])
def test_the_same_pair_does_not_overlap_at_the_next_finer_level(level, code_a, code_b):
    finer = OVERLAP_LEVELS[OVERLAP_LEVELS.index(level) + 1]
    assert overlaps_of([need(1, "CHU", code_a, 1000), need(2, "UB", code_b, 1000)], level=finer) == []


def test_coarser_levels_merge_groups_that_finer_levels_keep_apart():
    records = [
        need(1, "CHU", "09310000", 1000),  # electricity
        need(2, "UB", "09310000", 2000),
        need(3, "CHU", "09320000", 3000),  # steam, hot water
        need(4, "DIJON", "09320000", 4000),
    ]
    by_class = overlaps_of(records, level="class")
    by_group = overlaps_of(records, level="group")
    assert {o.cpv_prefix: o.need_ids for o in by_class} == {"0931": (1, 2), "0932": (3, 4)}
    assert [(o.cpv_prefix, o.organizations, o.need_ids) for o in by_group] == [
        ("093", ("CHU", "DIJON", "UB"), (1, 2, 3, 4))
    ]


def test_one_organization_alone_is_no_overlap_even_with_several_needs():
    records = [
        need(1, "CHU", "09310000", 1000),
        need(2, "CHU", "09310000", 2000),
        need(3, "CHU", "09311000", 5),
    ]
    assert overlaps_of(records, level="division") == []


def test_only_the_prefixes_shared_by_two_organizations_are_reported():
    records = [
        need(1, "CHU", "09310000", 1000),
        need(2, "UB", "09310000", 1000),
        need(3, "CHU", "30190000", 1000),
    ]
    assert [o.cpv_prefix for o in overlaps_of(records, level="class")] == ["0931"]


def test_unknown_or_subcategory_level_is_refused():
    for level in ("subcategory", "family"):
        with pytest.raises(ValueError):
            overlaps_of([need(1, "CHU", "09310000", 1)], level=level)


# --------------------------------------------------------------------------- window


@pytest.mark.parametrize(
    ("start", "inside"),
    [
        (date(2026, 1, 1), True),  # first day in
        (date(2026, 12, 31), True),  # last day in
        (date(2027, 1, 1), False),  # the day after the window
        (date(2025, 12, 31), False),  # the day before the window
    ],
)
def test_a_start_date_at_the_window_edges(start, inside):
    records = [need(1, "CHU", "09310000", 1000, start=start), need(2, "UB", "09310000", 1000)]
    assert bool(overlaps_of(records)) is inside


def test_a_need_starting_outside_but_whose_current_contract_ends_inside_counts():
    records = [
        need(1, "CHU", "09310000", 1000, start=date(2027, 3, 1), end=date(2026, 9, 30)),
        need(2, "UB", "09310000", 1000),
    ]
    assert [o.need_ids for o in overlaps_of(records)] == [(1, 2)]


def test_a_contract_ending_the_day_after_the_window_does_not_bring_the_need_in():
    records = [
        need(1, "CHU", "09310000", 1000, start=date(2027, 3, 1), end=date(2027, 1, 1)),
        need(2, "UB", "09310000", 1000),
    ]
    assert overlaps_of(records) == []


def test_the_window_length_is_in_months():
    records = [need(1, "CHU", "09310000", 1000, start=date(2026, 7, 1)), need(2, "UB", "09310000", 1000)]
    assert overlaps_of(records, window_months=6) == []
    assert len(overlaps_of(records, window_months=7)) == 1


def test_month_arithmetic_clips_to_the_end_of_a_shorter_month():
    frame = needs_frame(
        [
            need(1, "CHU", "09310000", 1, start=date(2026, 2, 27)),
            need(2, "CHU", "09310000", 1, start=date(2026, 2, 28)),
            need(3, "CHU", "09310000", 1, start=date(2026, 1, 31)),
            need(4, "CHU", "09310000", 1, start=date(2026, 1, 30)),
        ]
    )
    # 2026-01-31 + 1 month = 2026-02-28, excluded from the half-open window.
    assert sorted(in_window(frame, date(2026, 1, 31), 1)["id"]) == [1, 3]


@pytest.mark.parametrize("months", [0, -1, 1.5])
def test_a_window_that_is_not_a_positive_number_of_months_is_refused(months):
    with pytest.raises(ValueError):
        overlaps_of([need(1, "CHU", "09310000", 1)], window_months=months)


# --------------------------------------------------------------------------- amounts


def test_a_total_over_the_duration_is_exact_to_the_cent():
    # 1 000.01 EUR a year for 7 months = 583.339166... -> 583.34
    records = [need(1, "CHU", "09310000", "1000.01", months=7), need(2, "UB", "09310000", "0.10", months=12)]
    (overlap,) = overlaps_of(records)
    assert overlap.per_organization["CHU"] == (Decimal("1000.01"), Decimal("583.34"))
    assert overlap.total_amount == Decimal("583.44")
    assert overlap.annual_amount == Decimal("1000.11")
    assert str(overlap.annual_amount) == "1000.11"


@pytest.mark.parametrize(
    ("annual", "months", "expected"),
    [(6, 1, 1), (18, 1, 2), (30, 1, 3), (5, 1, 0), (7, 1, 1), (100001, 7, 58334), (1200, 24, 2400)],
)
def test_totals_round_half_up_to_the_cent(annual, months, expected):
    # 6 cents x 1/12 = 0.5 -> 1; 30 x 1/12 = 2.5 -> 3 (half-up, not half-even).
    assert total_cents(pd.Series([annual]), pd.Series([months])).tolist() == [expected]


def test_sums_of_many_cents_stay_exact():
    records = [need(i, "CHU" if i % 2 else "UB", "09310000", "0.10") for i in range(1, 1001)]
    (overlap,) = overlaps_of(records)
    assert overlap.annual_amount == Decimal("100.00")
    assert overlap.total_amount == Decimal("100.00")


# --------------------------------------------------------------------------- procedures


def test_two_members_each_adapted_together_need_a_formal_procedure():
    records = [need(1, "CHU", "09310000", 150000), need(2, "UB", "09310000", 120000)]
    (overlap,) = overlaps_of(records, window_start=date(2026, 6, 1))
    assert overlap.total_amount == Decimal("270000.00")
    assert {org: p.code for org, p in overlap.procedure_alone.items()} == {"CHU": "adapted", "UB": "adapted"}
    assert overlap.procedure.code == "formal"
    assert overlap.procedure.formal_threshold == Decimal("216000")


def test_procedures_compare_the_total_over_the_duration_not_the_yearly_amount():
    # 50 000 EUR a year for 36 months = 150 000 EUR: adapted, although the yearly amount is not.
    records = [need(1, "CHU", "09310000", 50000, months=36), need(2, "UB", "09310000", 100)]
    (overlap,) = overlaps_of(records, window_start=date(2026, 6, 1))
    assert overlap.per_organization["CHU"] == (Decimal("50000.00"), Decimal("150000.00"))
    assert overlap.procedure_alone["CHU"].code == "adapted"


def test_a_stored_total_with_renewals_and_options_is_the_amount_summed():
    # CHU 50 000 a year for 12 months renewable 3 times = 200 000 (stored total); UB 60 000 for 12 months, no total
    # column value of its own: 60 000 + 10 000 of options = 70 000 as stored
    records = [
        {**need(1, "CHU", "09310000", 50000), "total_cents": cents(200000)},
        {**need(2, "UB", "09310000", 60000), "total_cents": cents(70000)},
    ]
    (overlap,) = overlaps_of(records, window_start=date(2026, 6, 1))
    assert overlap.annual_amount == Decimal("110000.00") and overlap.total_amount == Decimal("270000.00")
    assert overlap.per_organization["CHU"] == (Decimal("50000.00"), Decimal("200000.00"))
    assert overlap.procedure_alone["CHU"].code == "adapted" and overlap.procedure.code == "formal"


def test_one_central_member_makes_the_group_use_the_central_threshold():
    records = [need(1, "CHU", "09310000", 80000), need(2, "ETAT", "09310000", 70000, buyer_class="central")]
    (overlap,) = overlaps_of(records, window_start=date(2026, 6, 1))
    assert (overlap.procedure.code, overlap.procedure.buyer_class) == ("formal", "central")
    assert overlap.procedure.formal_threshold == Decimal("140000")
    # Each member keeps its own class when alone.
    assert overlap.procedure_alone["CHU"].formal_threshold == Decimal("216000")
    assert overlap.procedure_alone["ETAT"].formal_threshold == Decimal("140000")


def test_without_a_central_member_the_same_amounts_stay_adapted():
    records = [need(1, "CHU", "09310000", 80000), need(2, "UB", "09310000", 70000)]
    (overlap,) = overlaps_of(records, window_start=date(2026, 6, 1))
    assert (overlap.procedure.code, overlap.procedure.buyer_class) == ("adapted", "other")


def test_works_overlaps_use_the_works_thresholds():
    records = [need(1, "DIJON", "45210000", 3000000), need(2, "OPH", "45211000", 2500000)]
    (overlap,) = overlaps_of(records, level="class", window_start=date(2026, 6, 1))
    assert overlap.procedure.nature == "works"
    assert (overlap.procedure.code, overlap.procedure.formal_threshold) == ("formal", Decimal("5404000"))
    assert {org: p.code for org, p in overlap.procedure_alone.items()} == {
        "DIJON": "adapted",
        "OPH": "adapted",
    }


def test_the_thresholds_in_force_on_the_window_start_apply():
    records = [need(1, "CHU", "09310000", 50000), need(2, "UB", "09310000", 50000)]
    (march,) = overlaps_of(records, window_start=date(2026, 3, 1))
    (april,) = overlaps_of(records, window_start=date(2026, 4, 1))
    assert march.procedure_alone["CHU"].code == "adapted"
    assert april.procedure_alone["CHU"].code == "none"


def test_the_combined_procedure_matches_required_procedure_on_the_combined_total():
    records = [
        need(1, "CHU", "09310000", "12345.67", months=17),
        need(2, "UB", "09310000", "8000.01", months=5),
    ]
    on = date(2026, 6, 1)
    (overlap,) = overlaps_of(records, window_start=on)
    assert overlap.procedure == required_procedure(
        overlap.total_amount, on, nature="supplies_services", buyer_class="other"
    )


def test_a_window_before_every_threshold_rule_is_refused():
    with pytest.raises(ValueError, match="2019-06-01"):
        overlaps_of([need(1, "CHU", "09310000", 1)], window_start=date(2019, 6, 1))


# --------------------------------------------------------------------------- result shape


def test_results_are_sorted_by_total_descending_then_prefix():
    records = [
        need(1, "CHU", "09310000", 100),
        need(2, "UB", "09310000", 100),
        need(3, "CHU", "03110000", 100),
        need(4, "UB", "03110000", 100),
        need(5, "CHU", "30190000", 900),
        need(6, "UB", "30190000", 900),
    ]
    assert [o.cpv_prefix for o in overlaps_of(records)] == ["3019", "0311", "0931"]


def test_organizations_and_need_ids_are_sorted():
    records = [
        need(9, "UB", "09310000", 1),
        need(3, "CHU", "09310000", 1),
        need(5, "BAILLEUR", "09310000", 1),
    ]
    (overlap,) = overlaps_of(records)
    assert overlap.organizations == ("BAILLEUR", "CHU", "UB")
    assert overlap.need_ids == (3, 5, 9)
    assert list(overlap.per_organization) == ["BAILLEUR", "CHU", "UB"]


def test_the_label_is_looked_up_by_the_full_code_of_the_prefix():
    records = [need(1, "CHU", "09310000", 1), need(2, "UB", "09311000", 1)]
    labels = {"09310000": "Electricity"}
    assert overlaps_of(records, labels=labels)[0].label == "Electricity"
    assert overlaps_of(records, level="division", labels=labels)[0].label == ""


def test_no_needs_give_no_overlaps():
    assert overlaps_of([]) == []


def test_the_vectorised_engine_agrees_with_a_plain_python_reference():
    rng = random.Random(42)
    codes = ["03111000", "03112000", "03120000", "09310000", "09321000", "45210000", "45211000", "30190000"]
    orgs = ["CHU", "UB", "DIJON", "ETAT"]
    records = []
    for i in range(1, 400):
        org = rng.choice(orgs)
        start = date(2025, 6, 1) + timedelta(days=rng.randrange(0, 700))
        end = date(2025, 6, 1) + timedelta(days=rng.randrange(0, 700)) if rng.random() < 0.5 else None
        records.append(
            need(
                i,
                org,
                rng.choice(codes),
                Decimal(rng.randrange(0, 30_000_000)) / 100,
                months=rng.randrange(1, 49),
                start=start,
                end=end,
                buyer_class="central" if org == "ETAT" else "other",
            )
        )
    for level in ("division", "group", "class", "category"):
        expected = reference_overlaps(records, level, WINDOW, date(2027, 1, 1))
        got = {
            o.cpv_prefix: (o.organizations, o.need_ids, o.total_amount, o.annual_amount, o.procedure.code)
            for o in overlaps_of(records, level=level)
        }
        assert got == expected


def reference_overlaps(records, level, start, end):
    """Row-by-row reference: Decimal arithmetic, no pandas."""
    groups = {}
    for r in records:
        inside = start <= r["start_date"] < end or (
            r["current_contract_end"] is not None and start <= r["current_contract_end"] < end
        )
        if inside:
            groups.setdefault(r["cpv_code"][: PREFIX_LENGTH[level]], []).append(r)
    result = {}
    for prefix, members in groups.items():
        orgs = tuple(sorted({r["organization"] for r in members}))
        if len(orgs) < 2:
            continue
        total = (
            sum(
                (Decimal(r["annual_cents"] * r["duration_months"]) / 12).quantize(Decimal(1), rounding=ROUND_HALF_UP)
                for r in members
            )
            / 100
        )
        annual = Decimal(sum(r["annual_cents"] for r in members)) / 100
        central = any(r["buyer_class"] == "central" for r in members)
        nature = "works" if prefix.startswith("45") else "supplies_services"
        code = required_procedure(total, start, nature=nature, buyer_class="central" if central else "other").code
        result[prefix] = (orgs, tuple(sorted(r["id"] for r in members)), total, annual, code)
    return result


# --------------------------------------------------------------------------- needs_frame and heatmap


def test_needs_frame_normalises_dtypes_and_drops_cpv_check_digits():
    frame = needs_frame([need(1, " CHU ", "09310000-5", "10.50", start="2026-03-01")])
    assert frame.loc[0, "cpv_code"] == "09310000"
    assert frame.loc[0, "organization"] == "CHU"
    assert frame["annual_cents"].dtype == "int64"
    assert frame.loc[0, "annual_cents"] == 1050
    assert pd.api.types.is_datetime64_any_dtype(frame["start_date"])
    assert pd.api.types.is_datetime64_any_dtype(frame["current_contract_end"])
    assert pd.isna(frame.loc[0, "current_contract_end"])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cpv_code", "0931"),
        ("cpv_code", 9310000),  # an integer lost its leading zero
        ("annual_cents", -1),
        ("duration_months", 0),
        ("buyer_class", "state"),
        ("organization", ""),
        ("start_date", None),
    ],
)
def test_needs_frame_refuses_bad_values(field, value):
    record = need(1, "CHU", "09310000", 1)
    record[field] = value
    with pytest.raises(ValueError):
        needs_frame([record])


def test_needs_frame_refuses_duplicate_ids_and_missing_columns():
    with pytest.raises(ValueError, match="unique"):
        needs_frame([need(1, "CHU", "09310000", 1), need(1, "UB", "09310000", 1)])
    record = need(1, "CHU", "09310000", 1)
    del record["cpv_code"]
    with pytest.raises(ValueError, match="cpv_code"):
        needs_frame([record])


def test_heatmap_sums_yearly_cents_per_organization_and_prefix_with_zeros_elsewhere():
    frame = needs_frame(
        [
            need(1, "UB", "09310000", "1.50"),
            need(2, "UB", "09311000", "2.25"),
            need(3, "CHU", "09320000", "10"),
        ]
    )
    table = heatmap(frame, "class")
    assert list(table.index) == ["CHU", "UB"]
    assert list(table.columns) == ["0931", "0932"]
    assert table.to_dict(orient="index") == {"CHU": {"0931": 0, "0932": 1000}, "UB": {"0931": 375, "0932": 0}}
    assert (table.dtypes == "int64").all()


def test_heatmap_columns_follow_the_level():
    frame = needs_frame([need(1, "UB", "09310000", 1), need(2, "UB", "03110000", 1)])
    assert list(heatmap(frame, "division").columns) == ["03", "09"]
    assert list(heatmap(frame, "group").columns) == ["031", "093"]


# --------------------------------------------------------------------------- splitting warnings


def test_two_small_needs_of_one_class_in_one_year_reaching_the_threshold_are_flagged():
    records = [
        need(1, "CHU", "09310000", 25000, start=date(2026, 2, 1)),
        need(2, "CHU", "09311000", 25000, start=date(2026, 9, 1)),
    ]
    (warning,) = find_splitting_warnings(needs_frame(records))
    assert (warning.organization, warning.cpv_prefix, warning.year) == ("CHU", "0931", 2026)
    assert warning.need_ids == (1, 2)
    assert warning.total_amount == Decimal("50000.00")
    assert (warning.threshold_kind, warning.threshold) == ("no_competition", Decimal("40000"))
    assert warning.message == SPLITTING_MESSAGES["no_competition"]
    assert warning.message_params["count"] == 2


def test_splitting_uses_the_rule_in_force_on_the_earliest_start_date():
    # From 2026-04-01 the threshold is 60 000: 50 000 no longer reaches it.
    records = [
        need(1, "CHU", "09310000", 25000, start=date(2026, 4, 1)),
        need(2, "CHU", "09311000", 25000, start=date(2026, 9, 1)),
    ]
    assert find_splitting_warnings(needs_frame(records)) == []


def test_needs_in_different_years_are_not_splitting():
    records = [
        need(1, "CHU", "09310000", 25000, start=date(2026, 12, 31)),
        need(2, "CHU", "09310000", 25000, start=date(2027, 1, 1)),
    ]
    assert find_splitting_warnings(needs_frame(records)) == []


def test_needs_in_different_classes_are_not_splitting():
    records = [
        need(1, "CHU", "09310000", 25000, start=date(2026, 2, 1)),
        need(2, "CHU", "09320000", 25000, start=date(2026, 2, 1)),
    ]
    assert find_splitting_warnings(needs_frame(records)) == []


def test_needs_of_different_organizations_are_not_splitting():
    records = [
        need(1, "CHU", "09310000", 25000, start=date(2026, 2, 1)),
        need(2, "UB", "09310000", 25000, start=date(2026, 2, 1)),
    ]
    assert find_splitting_warnings(needs_frame(records)) == []


def test_one_need_alone_above_the_threshold_is_not_splitting():
    assert find_splitting_warnings(needs_frame([need(1, "CHU", "09310000", 90000, start=date(2026, 2, 1))])) == []
    # Nor is it when paired with a small one: only one need is below the threshold.
    records = [
        need(1, "CHU", "09310000", 90000, start=date(2026, 2, 1)),
        need(2, "CHU", "09310000", 10000, start=date(2026, 3, 1)),
    ]
    assert find_splitting_warnings(needs_frame(records)) == []


def test_only_the_needs_below_the_threshold_are_listed_as_split():
    records = [
        need(1, "CHU", "09310000", 20000, start=date(2026, 2, 1)),
        need(2, "CHU", "09310000", 90000, start=date(2026, 3, 1)),
        need(3, "CHU", "09310000", 25000, start=date(2026, 5, 1)),
    ]
    (warning,) = find_splitting_warnings(needs_frame(records))
    assert warning.need_ids == (1, 3)
    assert warning.total_amount == Decimal("45000.00")


def test_two_small_needs_below_the_threshold_together_are_not_splitting():
    records = [
        need(1, "CHU", "09310000", 19999, start=date(2026, 2, 1)),
        need(2, "CHU", "09310000", "20000.99", start=date(2026, 3, 1)),
    ]
    assert find_splitting_warnings(needs_frame(records)) == []
    records[1]["annual_cents"] = cents(20001)  # now exactly 40 000.00
    assert len(find_splitting_warnings(needs_frame(records))) == 1


def test_only_the_highest_threshold_crossed_is_reported():
    records = [need(i, "UB", "09310000", 50000, start=date(2026, 5, 1)) for i in range(1, 6)]
    (warning,) = find_splitting_warnings(needs_frame(records))
    assert (warning.threshold_kind, warning.threshold) == ("formal", Decimal("216000"))
    assert warning.total_amount == Decimal("250000.00")
    assert warning.message == SPLITTING_MESSAGES["formal"]


def test_splitting_compares_totals_over_each_need_duration():
    # 30 000 EUR a year over 6 months is 15 000 EUR each: 30 000 together stays below 40 000.
    records = [
        need(1, "CHU", "09310000", 30000, months=6, start=date(2026, 2, 1)),
        need(2, "CHU", "09310000", 30000, months=6, start=date(2026, 3, 1)),
    ]
    assert find_splitting_warnings(needs_frame(records)) == []


def test_splitting_of_works_uses_the_works_threshold():
    records = [
        need(1, "OPH", "45210000", 60000, start=date(2026, 5, 1)),
        need(2, "OPH", "45211000", 45000, start=date(2026, 6, 1)),
    ]
    (warning,) = find_splitting_warnings(needs_frame(records))
    assert (warning.cpv_prefix, warning.threshold_kind, warning.threshold) == (
        "4521",
        "no_competition",
        Decimal("100000"),
    )


def test_splitting_of_a_central_buyer_uses_the_central_formal_threshold():
    records = [need(i, "ETAT", "09310000", 50000, start=date(2026, 5, 1), buyer_class="central") for i in (1, 2, 3)]
    (warning,) = find_splitting_warnings(needs_frame(records))
    assert (warning.threshold_kind, warning.threshold) == ("formal", Decimal("140000"))


def test_splitting_warnings_are_sorted_by_organization_year_and_class():
    records = [
        need(1, "UB", "09310000", 30000, start=date(2026, 2, 1)),
        need(2, "UB", "09310000", 30000, start=date(2026, 2, 1)),
        need(3, "CHU", "30190000", 30000, start=date(2027, 2, 1)),
        need(4, "CHU", "30190000", 50000, start=date(2027, 5, 1)),
        need(5, "CHU", "09310000", 30000, start=date(2027, 2, 1)),
        need(6, "CHU", "09310000", 50000, start=date(2027, 5, 1)),
        need(7, "CHU", "03110000", 30000, start=date(2026, 2, 1)),
        need(8, "CHU", "03110000", 30000, start=date(2026, 3, 1)),
    ]
    keys = [(w.organization, w.year, w.cpv_prefix) for w in find_splitting_warnings(needs_frame(records))]
    assert keys == [("CHU", 2026, "0311"), ("CHU", 2027, "0931"), ("CHU", 2027, "3019"), ("UB", 2026, "0931")]


def test_splitting_is_only_checked_against_rules_already_in_force():
    # In 2023 the table has the 40 000 no-competition threshold but no formal threshold yet.
    records = [need(i, "CHU", "09310000", 30000, start=date(2023, 5, 1)) for i in range(1, 11)]
    (warning,) = find_splitting_warnings(needs_frame(records))
    assert warning.threshold_kind == "no_competition"
    # Before 2020 no threshold of the table applies at all.
    pair = [
        need(1, "CHU", "09310000", 30000, start=date(2019, 5, 1)),
        need(2, "CHU", "09310000", 30000, start=date(2019, 6, 1)),
    ]
    assert find_splitting_warnings(needs_frame(pair)) == []
    for record in pair:
        record["start_date"] = record["start_date"].replace(year=2020)
    assert len(find_splitting_warnings(needs_frame(pair))) == 1


def test_a_need_exactly_at_the_threshold_is_not_below_it_so_it_is_not_part_of_a_split():
    records = [
        need(1, "CHU", "09310000", 40000, start=date(2026, 2, 1)),
        need(2, "CHU", "09310000", 10000, start=date(2026, 3, 1)),
    ]
    assert find_splitting_warnings(needs_frame(records)) == []


def test_an_organization_with_one_central_row_is_treated_as_central_alone():
    records = [
        need(1, "ETAT", "09310000", 100000, buyer_class="central"),
        need(2, "ETAT", "09310000", 50000, buyer_class="other"),
        need(3, "UB", "09310000", 1),
    ]
    (overlap,) = overlaps_of(records, window_start=date(2026, 6, 1))
    assert overlap.procedure_alone["ETAT"].buyer_class == "central"
    assert overlap.procedure_alone["ETAT"].code == "formal"


# --------------------------------------------------------------------------- generic codes: possible overlaps


def test_a_generic_division_code_is_offered_as_a_possible_overlap_with_specific_codes_under_it():
    records = [
        need(1, "CHU", "30000000", 10000),  # "office and computing machinery": the whole division
        need(2, "UB", "30192000", 4000, months=36),  # office supplies
        need(3, "UB", "30192100", 1000),  # erasers, same class 3019
        need(4, "GDH", "30213000", 6000),  # personal computers, class 3021
        need(5, "CHU", "30197000", 500),  # the generic need's own organisation: never its own possible overlap
        need(6, "DM", "09310000", 99000),  # another division: not under 30000000
    ]
    found = find_possible_overlaps(needs_frame(records), level="class", window_start=date(2026, 6, 1))
    assert [(p.generic_code, p.cpv_prefix, p.organizations) for p in found] == [
        ("30000000", "3019", ("CHU", "UB")),
        ("30000000", "3021", ("CHU", "GDH")),
    ]
    office = found[0]
    assert (office.need_ids, office.generic_need_ids, office.possible) == ((2, 3), (1,), True)
    # per year 4 000 + 1 000 + 10 000; total 4 000 × 36/12 + 1 000 + 10 000
    assert (office.annual_amount, office.total_amount) == (Decimal("15000.00"), Decimal("23000.00"))
    # the certain overlaps do not change: class 3019 holds UB and CHU's specific 30197000 need only
    assert {o.cpv_prefix for o in overlaps_of(records, window_start=date(2026, 6, 1))} == {"3019"}


def test_a_code_as_fine_as_the_level_is_not_generic():
    records = [need(1, "CHU", "30190000", 10000), need(2, "UB", "30192000", 4000)]
    assert find_possible_overlaps(needs_frame(records), level="class", window_start=date(2026, 6, 1)) == []
    (finer,) = find_possible_overlaps(needs_frame(records), level="category", window_start=date(2026, 6, 1))
    assert (finer.generic_code, finer.cpv_prefix) == ("30190000", "30192")
