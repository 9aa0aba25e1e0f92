"""Carbon estimates per year (physical factors for energy, monetary ratios otherwise) and the local share by commune."""

import csv
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from app.domain import climate, impact

DATA = Path(__file__).resolve().parents[2] / "app" / "data"


@pytest.fixture(scope="module")
def reference():
    return climate.Reference(
        physical=climate.load_physical_factors(),
        energy_cpv=climate.load_energy_cpv(),
        monetary=impact.load_emission_factors(),
        mapping={d: key for d, (key, _note) in impact.load_default_mapping().items()},
    )


@pytest.fixture(scope="module")
def area():
    return impact.load_metropole()


def _shipped_factor(key: str) -> tuple[Decimal, Decimal]:
    with open(DATA / "energy_emission_factors.csv", encoding="utf-8", newline="") as handle:
        row = next(r for r in csv.DictReader(handle) if r["factor_key"] == key)
    return Decimal(row["kgco2e_per_unit"]), Decimal(row["uncertainty_pct"])


# --- hand-checked estimates ----------------------------------------------------------------------------------


def test_two_gwh_of_electricity_per_year_by_hand(reference):
    # Shipped: 0.052 kgCO2e/kWh ±10 % (Base Carbone, mix moyen consommation 2022).
    assert _shipped_factor("electricity") == (Decimal("0.052"), Decimal("10"))
    estimate = climate.estimate_line("09310000", Decimal("300000"), Decimal("2"), "GWh", reference)
    # 2 GWh = 2,000,000 kWh × 0.052 = 104,000 kg = 104.0 t; ±10 % → 93.6 to 114.4 t.
    assert (estimate.tco2e, estimate.tco2e_low, estimate.tco2e_high) == (
        Decimal("104.0"),
        Decimal("93.6"),
        Decimal("114.4"),
    )
    assert estimate.method == "physical" and estimate.sources == ("physical:electricity",)


def test_two_gwh_of_natural_gas_per_year_by_hand(reference):
    # Shipped: 0.227 kgCO2e/kWh PCI ±5 % (Base Carbone, gaz naturel mix moyen consommation).
    assert _shipped_factor("natural_gas") == (Decimal("0.227"), Decimal("5"))
    estimate = climate.estimate_line("09123000", Decimal("150000"), Decimal("2000"), "MWh", reference)
    # 2,000 MWh = 2,000,000 kWh × 0.227 = 454,000 kg = 454.0 t; ±5 % → 431.3 to 476.7 t.
    assert (estimate.tco2e, estimate.tco2e_low, estimate.tco2e_high) == (
        Decimal("454.0"),
        Decimal("431.3"),
        Decimal("476.7"),
    )


def test_units_of_one_kind_convert_and_others_fall_back_to_money(reference):
    kwh = climate.estimate_line("09310000", Decimal("1000"), Decimal("2000000"), "kwh", reference)
    assert kwh.tco2e == Decimal("104.0")
    litres = climate.estimate_line("09134100", Decimal("1000"), Decimal("2"), "m³", reference)  # diesel oil
    assert litres.kg == Decimal("2000") * Decimal("3.16") and litres.method == "physical"
    # Electricity in litres does not convert; division 09 has no monetary ratio: not estimated.
    nothing = climate.estimate_line("09310000", Decimal("1000"), Decimal("5"), "L", reference)
    assert nothing.method == "none" and nothing.kg == 0 and nothing.coverage == 0
    # Energy without a quantity: no monetary ratio for division 09 either.
    assert climate.estimate_line("09123000", Decimal("1000"), None, None, reference).method == "none"


def test_other_purchases_use_the_monetary_ratio_with_a_wide_range(reference):
    ratio = reference.monetary[reference.mapping["30"]].kg_per_keur  # office machines
    estimate = climate.estimate_line("30192000", Decimal("10000"), Decimal("500"), "unit", reference)
    assert estimate.kg == Decimal("10") * ratio
    assert estimate.low_kg == estimate.kg / 2 and estimate.high_kg == estimate.kg * Decimal("1.5")
    assert estimate.method == "monetary"


def test_totals_add_lines_and_say_mixed(reference):
    power = climate.estimate_line("09310000", Decimal("300000"), Decimal("2"), "GWh", reference)
    paper = climate.estimate_line("30197630", Decimal("20000"), None, None, reference)
    gas_unknown = climate.estimate_line("09123000", Decimal("5000"), None, None, reference)
    both = climate.total([power, paper, gas_unknown])
    assert both.method == "mixed"
    assert both.kg == power.kg + paper.kg and both.low_kg == power.low_kg + paper.low_kg
    assert both.amount == Decimal("325000") and both.estimated_amount == Decimal("320000")
    assert both.coverage == Decimal("0.9846")
    assert climate.total([]).method == "none"


def test_aggregated_lines_give_the_same_estimate_as_single_needs(reference):
    lines = [
        ("A", "09310000", "MWh", 20_000_000, Decimal("1500")),
        ("A", "09310000", "GWh", 10_000_000, Decimal("0.5")),
        ("A", "30197630", None, 1_000_000, None),
        ("B", "09123000", "kWh", 5_000_000, Decimal("2000000")),
    ]
    found = climate.estimate_lines(lines, reference)
    assert found["A"].tco2e == Decimal("104.0") + climate.tonnes(
        Decimal("10000") * reference.monetary[reference.mapping["30"]].kg_per_keur / 1000
    )
    assert found["B"].tco2e == Decimal("454.0")
    assert found["A"].method == "mixed" and found["B"].method == "physical"


def test_a_unit_spelled_two_ways_is_one_line_summed_once(reference):
    found = climate.estimate_lines(
        [
            ("A", "09310000", "MWh", 100_000_00, Decimal("1000")),
            ("A", "09310000", " mwh ", 50_000_00, Decimal("500.50")),
            ("A", "09310000", "MWh", 25_000_00, Decimal("250")),
        ],
        reference,
    )
    summed = climate.estimate_line("09310000", Decimal("175000"), Decimal("1750.50"), "MWh", reference)
    assert found == {"A": summed}
    assert found["A"].sources == ("physical:electricity",) and found["A"].method == "physical"


def test_lines_with_and_without_a_quantity_are_estimated_apart(reference):
    """A need without a quantity is not estimated from another need's quantity of the same code and unit: the lines
    are summed per "has a quantity" too (energy has no monetary ratio: the amount without a quantity is uncovered)."""
    found = climate.estimate_lines(
        [
            ("A", "09310000", "MWh", 100_000_00, Decimal("1000")),
            ("A", "09310000", "MWh", 40_000_00, None),
            ("A", "09310000", None, 10_000_00, None),
        ],
        reference,
    )
    physical = climate.estimate_line("09310000", Decimal("100000"), Decimal("1000"), "MWh", reference)
    assert found["A"] == physical + climate.Estimate(amount=Decimal("50000"))
    assert found["A"].coverage == Decimal("0.6667") and found["A"].method == "physical"


def test_sources_name_the_factor_its_vintage_and_uncertainty(reference):
    estimate = climate.estimate_line("09310000", Decimal("1"), Decimal("1"), "MWh", reference)
    (text,) = climate.source_texts(estimate, reference)
    assert "Electricité - 2022 - mix moyen - consommation" in text and "0.052" in text and "±10 %" in text


@pytest.mark.parametrize(
    ("text", "unit"),
    [("mwh", "MWh"), (" GWh ", "GWh"), ("m³", "m3"), ("litres", "L"), ("ream", "ream"), ("", None), (None, None)],
)
def test_units_are_normalised(text, unit):
    assert climate.normalise_unit(text) == unit


# --- local share by commune ----------------------------------------------------------------------------------


def test_the_official_list_has_the_23_communes_with_insee_codes_and_postcodes():
    with open(DATA / "cote_dor_communes_postcodes.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len({r["insee_code"] for r in rows}) == 698  # every commune of Côte-d'Or
    members = {r["insee_code"]: (r["commune"], r["postcode"]) for r in rows if r["dijon_metropole"] == "yes"}
    assert len(members) == 23
    assert members["21231"] == ("Dijon", "21000")
    assert members["21278"] == ("Fontaine-lès-Dijon", "21121")
    assert members["21481"] == ("Perrigny-lès-Dijon", "21160")
    darois = [r for r in rows if r["commune"] == "Darois"]
    assert [(r["insee_code"], r["postcode"], r["dijon_metropole"]) for r in darois] == [("21227", "21121", "no")]
    with open(DATA / "dijon_metropole_communes.csv", encoding="utf-8", newline="") as handle:
        short = {r["insee_code"]: (r["commune"], r["postcode"]) for r in csv.DictReader(handle)}
    assert short == members


@pytest.mark.parametrize(
    ("postcode", "city", "bucket", "uncertain", "insee"),
    [
        ("21121", "Fontaine-lès-Dijon", "metropole", False, "21278"),
        ("21121", "FONTAINE LES DIJON", "metropole", False, "21278"),
        ("21121", "Darois", "departement", False, None),
        ("21121", None, "departement", True, None),
        ("21121", "Somewhere", "departement", True, None),
        ("21000", None, "metropole", False, "21231"),
        ("21240", "", "metropole", False, "21617"),
        ("21600", None, "metropole", False, None),  # three member communes, none named: inside all the same
        ("21160", "Couchey", "departement", False, None),
        ("21200", "Beaune", "departement", False, None),
    ],
)
def test_a_shared_postcode_is_resolved_by_commune_and_uncertain_otherwise(
    area, postcode, city, bucket, uncertain, insee
):
    assert impact.locate(postcode, city, area) == impact.Location(bucket, uncertain, insee)


def test_local_figures_per_key_count_uncertain_spend_outside_the_metropole(area):
    rows = pd.DataFrame(
        {
            "key": ["g", "g", "g", "g", "h"],
            "postcode": ["21121", "21121", "21121", "75008", None],
            "city": ["Fontaine-lès-Dijon", "Darois", None, "Paris", None],
            "cents": [300_00, 100_00, 100_00, 500_00, 50_00],
        }
    )
    found = impact.local_figures(rows["key"], rows["postcode"], rows["city"], rows["cents"], area)
    assert found["g"] == impact.LocalFigure(Decimal(300), Decimal(100), Decimal(1000), Decimal(1000))
    assert found["g"].local_pct == Decimal("30.0") and found["g"].uncertain_pct == Decimal("10.0")
    assert found["h"].local_pct is None  # nothing located
